//! Deterministic fuzzing of netgraph: the ASCII parser and binary codec of
//! `ng_parse` for every layout the node types use, and whole netgraph spaces
//! driven by random sequences of generic messages, type messages and frames.
//!
//! A seeded xorshift generator stands in for a fuzzing engine (no nightly
//! toolchain, no extra crates).  `FUZZ_ITERS` sets the rounds per test (the
//! defaults take a few seconds in a debug build); `FUZZ_SEED` changes the seed;
//! `FUZZ_TRACE` prints every space operation with its time (`--nocapture`).
//!
//! Checked:
//! * nothing panics, and every error is an errno (`EINVAL` for the codec);
//! * accepted text round-trips: parse → encode → decode → format → parse gives
//!   the same binary, and formatting is a fixpoint;
//! * bytes the decoder accepts re-encode and convert to text and back;
//! * after every operation on a space, [`NgSpace::check_invariants`] holds
//!   (hooks point back, names match nodes, no half-dead node), the node lists
//!   agree with the space, and the per-type counts sum to the node count.

// Only the round-trip check of the fuzz targets is used here.
#[path = "../fuzz/src/ng.rs"]
#[allow(dead_code)]
mod ng;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vimage_abi::testrand::Rng;

use vimage_abi::netgraph::*;
use vimage_abi::Errno;
use vimage_netgraph::ng_base::NG_GENERIC_CMDS;
use vimage_netgraph::ng_parse::{self, NgParseType};
use vimage_netgraph::{builtin_types, NgCmd, NgOutput, NgSpace, NgTypeList, NodeId};

// ---------------------------------------------------------------- harness

/// What these tests draw beyond the shared generator.
trait Draw {
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T;
}

impl Draw for Rng {
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Rounds per test: `FUZZ_ITERS`, else `default`.
fn iters(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Every command of every builtin type, and the generic ones, with the type name.
fn all_cmds() -> Vec<(&'static str, &'static NgCmd)> {
    let mut v: Vec<(&'static str, &'static NgCmd)> =
        NG_GENERIC_CMDS.iter().map(|c| ("generic", c)).collect();
    for t in builtin_types() {
        v.extend(t.cmdlist().iter().map(|c| (t.name(), c)));
    }
    v
}

/// Every distinct layout used by a command argument or response.
fn all_layouts() -> Vec<(String, &'static NgParseType)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (t, c) in all_cmds() {
        for (dir, l) in [("arg", c.arg), ("resp", c.resp)] {
            if let Some(l) = l {
                if seen.insert(l as *const NgParseType) {
                    out.push((format!("{t} {} {dir}", c.name), l));
                }
            }
        }
    }
    // Layouts of the kernel's own types (ksocket) that no builtin command uses.
    out.push(("sockaddr_in".into(), &NgParseType::SockaddrIn));
    out
}

/// Hand-written inputs, by command name: what ngctl users and IMUNES send.
const SEEDS: &[(&str, &str)] = &[
    (
        "setconfig",
        "{ ipfw=[ 1 0 1 ] debugLevel=2 loopTimeout=60 maxStaleness=900 minStableAge=1 }",
    ),
    (
        "setconfig",
        "{ loopTimeout=2 maxStaleness=5 minStableAge=1 }",
    ),
    ("setconfig", "{ xmitAlg=2 failAlg=1 enabledLinks=[ 1 1 ] }"),
    (
        "setconfig",
        "{ xmitAlg=1 failAlg=2 enabledLinks=[ 3=1 0 1 63=1 ] }",
    ),
    (
        "setcfg",
        "{bandwidth=-1 delay=-1 upstream={BER=-1 duplicate=-1} downstream={BER=-1 duplicate=-1}}",
    ),
    ("setcfg", "{bandwidth=10000000}"),
    ("setcfg", "{delay=5000}"),
    ("setcfg", "{upstream={BER=1000000}}"),
    (
        "setcfg",
        "{ bandwidth=1000 downstream={ queuelen=5 drr=0x40 } }",
    ),
    (
        "setcfg",
        "{ header_offset=14 overhead=-1 upstream={ wfq=1 drophead=1 delaylen=010 } }",
    ),
    ("addfilter", "{ hook=\"vl101\" vlan=101 }"),
    ("addfilter", "{ vlan=0xfff hook=v2 }"),
    ("delfilter", "\"vl101\""),
    ("getstats", "0"),
    ("getstats", "-1"),
    ("clrstats", "0x1f"),
    ("getstats", "\"link0\""),
    ("getclrstats", "in"),
    ("mkpeer", "{ type=\"hub\" ourhook=\"x\" peerhook=\"y\" }"),
    ("mkpeer", "{ peerhook=link0 type=bridge ourhook=\"a\\tb\" }"),
    (
        "connect",
        "{ path=\"br0:\" ourhook=\"upper\" peerhook=\"link1\" }",
    ),
    ("connect", "{ path=\"[1f]:a.b\" ourhook=x }"),
    ("name", "{ name=\"br0\" }"),
    ("name", "{ name=\"\\101\\x42\" }"),
    ("rmhook", "{ hook=\"link0\" }"),
    ("textconfig", "\"a b c\""),
];

// ---------------------------------------------------------------- text generation

fn int_bits(ty: &NgParseType) -> Option<(u32, bool)> {
    use NgParseType::*;
    Some(match ty {
        I8 => (8, true),
        I16 => (16, true),
        I32 => (32, true),
        I64 => (64, true),
        U8 => (8, false),
        U16 => (16, false),
        U32 | X32 => (32, false),
        U64 => (64, false),
        _ => return None,
    })
}

fn gen_int(r: &mut Rng, bits: u32, signed: bool) -> String {
    let max: i128 = if signed {
        (1i128 << (bits - 1)) - 1
    } else {
        (1i128 << bits) - 1
    };
    let min: i128 = -(1i128 << (bits - 1));
    let v: i128 = match r.below(10) {
        0 => 0,
        1 => -1,
        2 => max,
        3 => min,
        4 => max + 1,
        5 => min - 1,
        6 | 7 => r.below(300) as i128,
        _ => (r.next() as i128) & max,
    };
    let (neg, a) = (v < 0, v.unsigned_abs());
    let sign = if neg { "-" } else { "" };
    match r.below(6) {
        0 => format!("{sign}0x{a:x}"),
        1 => format!("{sign}0X{a:X}"),
        2 if a != 0 => format!("{sign}0{a:o}"),
        3 if !neg => format!("+{a}"),
        _ => format!("{sign}{a}"),
    }
}

fn gen_string(r: &mut Rng, max: usize) -> String {
    let n = r.below(max + 2);
    if r.one_in(3) {
        // A bare word.
        let w: String = (0..n.max(1))
            .map(|_| *r.pick(b"abcxyz019_-/,") as char)
            .collect();
        return w;
    }
    let mut s = String::from("\"");
    for _ in 0..n {
        match r.below(12) {
            0 => s.push_str(r.pick::<&str>(&["\\n", "\\t", "\\\"", "\\\\", "\\r", "\\v", "\\f"])),
            1 => s.push_str(&format!("\\{:o}", r.below(256))),
            2 => s.push_str(&format!("\\x{:x}", r.below(256))),
            3 => s.push(*r.pick(&['é', 'ж', '€', ' ', '{', '}', '[', ']', '=', ':'])),
            _ => s.push((b'a' + r.below(26) as u8) as char),
        }
    }
    s.push('"');
    s
}

fn gen_ws(r: &mut Rng) -> &'static str {
    r.pick::<&str>(&[" ", " ", " ", "  ", "\n", "\t", ""])
}

/// Random, mostly valid ASCII for `ty`.
fn gen_text(r: &mut Rng, ty: &NgParseType, depth: usize) -> String {
    use NgParseType::*;
    if let Some((bits, signed)) = int_bits(ty) {
        return gen_int(r, bits, signed);
    }
    match ty {
        FixedString(n) => gen_string(r, (*n).min(40)),
        String => gen_string(r, 40),
        Ether => (0..6)
            .map(|_| {
                let b = r.below(256);
                if r.one_in(2) {
                    format!("{b:x}")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect::<Vec<_>>()
            .join(":"),
        IpAddr => (0..4)
            .map(|_| {
                let top = if r.one_in(20) { 300 } else { 256 };
                r.below(top).to_string()
            })
            .collect::<Vec<_>>()
            .join("."),
        SockaddrIn => {
            let top = if r.one_in(20) { 70_000 } else { 65_536 };
            format!(
                "inet/{}.{}.{}.{}:{}",
                r.below(256),
                r.below(256),
                r.below(256),
                r.below(256),
                r.below(top)
            )
        }
        Struct(fields) => {
            let mut s = std::string::String::from("{");
            if depth < 6 {
                for _ in 0..r.below(fields.len() + 2) {
                    let f = r.pick(fields);
                    s.push_str(gen_ws(r));
                    s.push_str(f.name);
                    s.push('=');
                    s.push_str(&gen_text(r, &f.ty, depth + 1));
                }
            }
            s.push_str(gen_ws(r));
            s.push('}');
            s
        }
        FixedArray(e, n) => gen_array(r, e, Some(*n), depth),
        VarArray(e, _) => gen_array(r, e, None, depth),
        I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 | X32 => unreachable!("integers above"),
    }
}

fn gen_array(r: &mut Rng, e: &NgParseType, n: Option<usize>, depth: usize) -> String {
    let mut s = String::from("[");
    let count = if depth < 6 { r.below(5) } else { 0 };
    for _ in 0..count {
        s.push_str(gen_ws(r));
        if r.one_in(4) {
            let limit = n.unwrap_or(6);
            s.push_str(&format!("{}=", r.below(limit + 1)));
        }
        s.push_str(&gen_text(r, e, depth + 1));
    }
    s.push_str(gen_ws(r));
    s.push(']');
    s
}

fn mutate_text(r: &mut Rng, t: &str) -> String {
    const ALPHA: &[u8] = b"{}[]= \"\\0123456789abcdefxX:.-+n\t";
    let mut b = t.as_bytes().to_vec();
    for _ in 0..1 + r.below(4) {
        let i = r.below(b.len() + 1);
        match r.below(6) {
            0 if i < b.len() => {
                b.remove(i);
            }
            1 if i < b.len() => b[i] = *r.pick(ALPHA),
            2 => b.insert(i, *r.pick(ALPHA)),
            3 if i < b.len() => {
                let j = i + r.below(b.len() - i);
                let chunk = b[i..=j].to_vec();
                b.splice(i..i, chunk);
            }
            4 => b.truncate(i),
            _ => b.insert(i, r.next() as u8 & 0x7f),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------- codec checks

/// Parse `text` as `ty`; if accepted, check the round trips (the fuzz
/// target's own check, shared).
fn check_text(what: &str, ty: &NgParseType, text: &str) {
    if catch_unwind(AssertUnwindSafe(|| ng_parse::parse(ty, text))).is_err() {
        panic!("{what}: parse panicked on {text:?}");
    }
    ng::check_text(what, ty, text);
}

/// Decode `b` as `ty`; if accepted, check it re-encodes and converts to ASCII and back.
fn check_bytes(what: &str, ty: &NgParseType, b: &[u8]) {
    let d = catch_unwind(AssertUnwindSafe(|| ng_parse::decode(ty, b)))
        .unwrap_or_else(|_| panic!("{what}: decode panicked on {b:02x?}"));
    let d = match d {
        Err(e) => {
            // A sockaddr of another family is EAFNOSUPPORT, as in ng_ksocket.
            assert!(
                e == Errno::EINVAL || e == Errno::EAFNOSUPPORT,
                "{what}: {e:?} on {b:02x?}"
            );
            return;
        }
        Ok(d) => d,
    };
    let canon = ng_parse::encode(ty, &d)
        .unwrap_or_else(|e| panic!("{what}: decoded {b:02x?} does not re-encode: {e:?}"));
    assert_eq!(canon.len(), b.len(), "{what}: {b:02x?}");
    assert_eq!(ng_parse::decode(ty, &canon).as_ref(), Ok(&d), "{what}");
    let text = ng_parse::binary_to_ascii(ty, b).expect("decoded once");
    assert_eq!(
        ng_parse::ascii_to_binary(ty, &text),
        Ok(canon),
        "{what}: {b:02x?} -> {text:?}"
    );
}

fn mutate_bytes(r: &mut Rng, b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    for _ in 0..1 + r.below(3) {
        match r.below(5) {
            0 => {
                let n = r.below(v.len() + 1);
                v.truncate(n);
            }
            1 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
            2 if v.len() >= 4 => {
                let i = r.below(v.len() / 4) * 4;
                let x = *r.pick(&[0u32, 1, 3, 0xffff, u32::MAX, 65536, 65537]);
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            3 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] = *r.pick(&[0, 0xff, b'a', 0x80]);
            }
            _ => v.extend(r.bytes(8)),
        }
    }
    v
}

#[test]
fn fuzz_ng_parse_text() {
    let layouts = all_layouts();
    let cmds = all_cmds();
    let mut r = Rng::new(1);
    // The hand-written seeds parse where they belong.
    for (cmd, text) in SEEDS {
        let fits = cmds
            .iter()
            .filter(|(_, c)| c.name == *cmd)
            .filter_map(|(_, c)| c.arg)
            .any(|ty| ng_parse::ascii_to_binary(ty, text).is_ok());
        assert!(fits, "seed for {cmd} is rejected everywhere: {text}");
    }
    for _ in 0..iters(1500) {
        for (what, ty) in &layouts {
            let text = if r.one_in(3) {
                let seeds: Vec<&str> = cmds
                    .iter()
                    .filter(|(_, c)| c.arg.is_some_and(|a| std::ptr::eq(a, *ty)))
                    .flat_map(|(_, c)| SEEDS.iter().filter(|(n, _)| *n == c.name))
                    .map(|(_, t)| *t)
                    .collect();
                if seeds.is_empty() {
                    gen_text(&mut r, ty, 0)
                } else {
                    r.pick(&seeds).to_string()
                }
            } else {
                gen_text(&mut r, ty, 0)
            };
            check_text(what, ty, &text);
            for _ in 0..3 {
                let m = mutate_text(&mut r, &text);
                check_text(what, ty, &m);
            }
        }
    }
}

#[test]
fn fuzz_ng_parse_binary() {
    let layouts = all_layouts();
    let mut r = Rng::new(2);
    for _ in 0..iters(1500) {
        for (what, ty) in &layouts {
            // A valid encoding from valid text, when the generator hits one.
            let text = gen_text(&mut r, ty, 0);
            let b = ng_parse::ascii_to_binary(ty, &text)
                .unwrap_or_else(|_| r.bytes(ng_parse::fixed_size(ty).unwrap_or(64) + 8));
            check_bytes(what, ty, &b);
            for _ in 0..3 {
                let m = mutate_bytes(&mut r, &b);
                check_bytes(what, ty, &m);
            }
        }
    }
}

/// What `strtoll(w, &end, 0)` accepts when the whole word must be used: one
/// optional sign, then `0x` and hex digits, `0` and octal digits, or decimal.
fn reference_int(w: &str) -> Option<i128> {
    let (neg, body) = match w.as_bytes().first()? {
        b'-' => (true, &w[1..]),
        b'+' => (false, &w[1..]),
        _ => (false, w),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, h)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.len() > 40 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

#[test]
fn fuzz_ng_parse_int_against_strtoll() {
    let mut r = Rng::new(3);
    let parts = [
        "-",
        "+",
        "0",
        "0x",
        "0X",
        "1",
        "7",
        "8",
        "9",
        "f",
        "F",
        "g",
        "x",
        "--",
        "-+",
        " ",
        "170141183460469231731687303715884105728",
        "170141183460469231731687303715884105727",
        "18446744073709551615",
        "7fffffffffffffffffffffffffffffff",
        "80000000000000000000000000000000",
    ];
    for _ in 0..iters(1500) * 20 {
        let w: String = (0..1 + r.below(4)).map(|_| *r.pick(&parts)).collect();
        let got = catch_unwind(|| ng_parse::parse_int(&w))
            .unwrap_or_else(|_| panic!("parse_int panicked on {w:?}"));
        assert_eq!(got.ok(), reference_int(&w), "parse_int({w:?})");
        for ty in [&NgParseType::U64, &NgParseType::I8, &NgParseType::X32] {
            check_text("int", ty, &w);
        }
    }
}

// ---------------------------------------------------------------- whole spaces

/// Hook names worth trying: what each type accepts, and what none accepts.
const HOOKS: &[&str] = &[
    "a",
    "b",
    "c",
    "x",
    "link0",
    "link1",
    "link2",
    "link31",
    "link32",
    "link01",
    "left",
    "right",
    "left2right",
    "right2left",
    "one",
    "many0",
    "many1",
    "many2",
    "many64",
    "upper",
    "lower",
    "downstream",
    "nomatch",
    "vl1",
    "vl2",
    "ether",
    "",
    "a.b",
    "a:b",
    "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
];
/// Node names worth trying, valid and not.
const NAMES: &[&str] = &[
    "n0", "n1", "n2", "br0", "ngctl", "", "[1]", "a.b", "a:b", "[x",
];
const MACS: [[u8; 6]; 6] = [
    [0x40, 0, 0, 0, 0, 1],
    [0x40, 0, 0, 0, 0, 2],
    [0x40, 0, 0, 0, 0, 3],
    [0x42, 0, 0, 0, 0, 4],
    [0xff; 6],
    [0x01, 0, 0x5e, 0, 0, 1],
];

/// One fuzzed space, driven by a socket node as ngctl would.
struct SpaceFuzz {
    s: NgSpace,
    me: NodeId,
    r: Rng,
    token: u32,
    log: Vec<String>,
}

impl SpaceFuzz {
    fn new(salt: u64) -> Self {
        let mut s = NgSpace::new(NgTypeList::with_builtin(), salt);
        // Forwarding loops (hubs joined twice, ...) are legal and never end on
        // their own: keep what each call spends on them small.
        s.set_queue_limit(64);
        s.set_run_budget(500);
        let me = s.make_node("socket").expect("socket type");
        s.name_node(me, "ngctl").expect("fresh name");
        SpaceFuzz {
            s,
            me,
            r: Rng::new(100 + salt),
            token: 0,
            log: Vec::new(),
        }
    }

    /// Our socket node, recreated if a fuzzed shutdown took it away.
    fn me(&mut self) -> NodeId {
        if self.s.node_info(self.me).is_none() {
            self.me = self.s.make_node("socket").expect("socket type");
        }
        self.me
    }

    fn random_node(&mut self) -> Option<NodeId> {
        let ids = self.s.node_ids();
        (!ids.is_empty()).then(|| *self.r.pick(&ids))
    }

    /// An address for some node, in one of the forms ngctl accepts (or not).
    fn address(&mut self) -> String {
        let Some(id) = self.random_node() else {
            return ".".into();
        };
        match self.r.below(12) {
            0 => ".".into(),
            1 => {
                // A hook path from our socket node.
                let me = self.me();
                match self.hooks_of(me).as_slice() {
                    [] => ".".into(),
                    hs => self.r.pick(hs).clone(),
                }
            }
            2 => {
                let hooks = self.hooks_of(id);
                let h = if hooks.is_empty() {
                    self.r.pick(HOOKS).to_string()
                } else {
                    self.r.pick(&hooks).clone()
                };
                format!("[{id:x}]:{h}")
            }
            3 => match self.s.node_info(id) {
                Some(i) if !i.name.is_empty() => format!("{}:", i.name),
                _ => format!("[{id:x}]:"),
            },
            4 => self
                .r
                .pick(&[
                    "nosuch:",
                    "[0]:",
                    "a..b",
                    ":",
                    "..",
                    "[ffffffff]:",
                    "",
                    "[1f]",
                ])
                .to_string(),
            _ => format!("[{id:x}]:"),
        }
    }

    /// A hook name for a node of type `ty`: mostly one the type accepts.
    fn hook_for(&mut self, ty: &str) -> String {
        let own: &[&str] = match ty {
            "bridge" => &["link0", "link1", "link2", "link3", "link31"],
            "tee" => &["left", "right", "left2right", "right2left"],
            "one2many" => &["one", "many0", "many1", "many2", "many63"],
            "pipe" => &["upper", "lower"],
            "vlan" => &["downstream", "nomatch", "vl1", "vl2", "vl3"],
            _ => &["a", "b", "c", "x", "y"],
        };
        if self.r.one_in(5) {
            self.r.pick(HOOKS).to_string()
        } else {
            self.r.pick(own).to_string()
        }
    }

    /// A hook name for the node at `path` (as far as it resolves now).
    fn hook_at(&mut self, path: &str) -> String {
        let me = self.me();
        match self
            .s
            .resolve(me, path)
            .ok()
            .and_then(|id| self.s.node_info(id))
        {
            Some(i) => self.hook_for(&i.type_name),
            None => self.hook_name(),
        }
    }

    /// Hooks of node `id` (through `listhooks`, as ngctl show does).
    fn hooks_of(&mut self, id: NodeId) -> Vec<String> {
        let me = self.me();
        let Ok(replies) = self.generic(me, &format!("[{id:x}]:"), NGM_LISTHOOKS, vec![]) else {
            return Vec::new();
        };
        let Some(rep) = replies.first() else {
            return Vec::new();
        };
        let hl = HookList::from_bytes(&rep.data).expect("listhooks reply decodes");
        assert_eq!(hl.nodeinfo.id, id);
        for l in &hl.links {
            assert_eq!(
                self.s.hook_peer(id, &l.ourhook),
                Some((l.nodeinfo.id, l.peerhook.clone())),
                "listhooks of [{id:x}]"
            );
        }
        hl.links.into_iter().map(|l| l.ourhook).collect()
    }

    /// Send a message from `from` and collect the replies that reached it.
    fn send(&mut self, from: NodeId, path: &str, msg: NgMesg) -> Result<Vec<NgMesg>, Errno> {
        let r = self.s.send_msg(from, path, msg);
        let out = self.s.take_output();
        r.map(|()| {
            out.into_iter()
                .filter_map(|o| match o {
                    NgOutput::Msg { node, msg, .. } if node == from && msg.is_resp() => Some(msg),
                    _ => None,
                })
                .collect()
        })
    }

    fn generic(
        &mut self,
        from: NodeId,
        path: &str,
        cmd: u32,
        data: Vec<u8>,
    ) -> Result<Vec<NgMesg>, Errno> {
        self.token = self.token.wrapping_add(1);
        let m = NgMesg::new(NGM_GENERIC_COOKIE, cmd, "", self.token, data);
        self.send(from, path, m)
    }

    fn hook_name(&mut self) -> String {
        self.r.pick(HOOKS).to_string()
    }

    fn frame(&mut self) -> Vec<u8> {
        if self.r.one_in(4) {
            return self.r.bytes(24);
        }
        let mut f = self.r.pick(&MACS).to_vec();
        let src = *self.r.pick(&MACS[..4]);
        f.extend_from_slice(&src);
        if self.r.one_in(3) {
            f.extend_from_slice(&[0x81, 0x00, 0, self.r.below(4) as u8]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let body = self.r.bytes(40);
        f.extend(body);
        f
    }

    /// One random operation.
    fn step(&mut self) -> String {
        let me = self.me();
        match self.r.below(20) {
            0..=3 => {
                let types = self.s.types().names();
                let t = if self.r.one_in(10) {
                    "nosuch"
                } else {
                    *self.r.pick(&types)
                };
                let from = if self.r.one_in(3) {
                    self.address()
                } else {
                    ".".into()
                };
                let (h, p) = (self.hook_at(&from), self.hook_for(t));
                let a = NgmMkpeer {
                    type_name: t.into(),
                    ourhook: h.clone(),
                    peerhook: p.clone(),
                };
                let r = a.to_bytes().map(|b| self.generic(me, &from, NGM_MKPEER, b));
                format!("mkpeer {from} {t} {h} {p}: {r:?}")
            }
            4..=6 => {
                let (from, to) = (self.address(), self.address());
                let h = self.hook_at(&from);
                // `to` is relative to `from`.
                let p = match self.s.resolve(me, &from) {
                    Ok(f) => match self
                        .s
                        .resolve(f, &to)
                        .ok()
                        .and_then(|t| self.s.node_info(t))
                    {
                        Some(i) => self.hook_for(&i.type_name),
                        None => self.hook_name(),
                    },
                    Err(_) => self.hook_name(),
                };
                let a = NgmConnect {
                    path: to.clone(),
                    ourhook: h.clone(),
                    peerhook: p.clone(),
                };
                let r = a
                    .to_bytes()
                    .map(|b| self.generic(me, &from, NGM_CONNECT, b));
                format!("connect {from} {to} {h} {p}: {r:?}")
            }
            7 => {
                let (at, n) = (self.address(), self.r.pick(NAMES).to_string());
                let r = NgmName { name: n.clone() }
                    .to_bytes()
                    .map(|b| self.generic(me, &at, NGM_NAME, b));
                format!("name {at} {n}: {r:?}")
            }
            8 => {
                let Some(id) = self.random_node() else {
                    return "rmhook: no node".into();
                };
                let hooks = self.hooks_of(id);
                let h = if hooks.is_empty() || self.r.one_in(5) {
                    self.hook_name()
                } else {
                    self.r.pick(&hooks).clone()
                };
                let r = NgmRmhook { ourhook: h.clone() }
                    .to_bytes()
                    .map(|b| self.generic(me, &format!("[{id:x}]:"), NGM_RMHOOK, b));
                format!("rmhook [{id:x}]: {h}: {r:?}")
            }
            9 => {
                let at = self.address();
                let r = self.generic(me, &at, NGM_SHUTDOWN, vec![]);
                format!("shutdown {at}: {r:?}")
            }
            10 => self.lists(),
            11 | 12 => self.type_msg_ascii(),
            13 => self.type_msg_binary(),
            14..=16 => {
                let Some(mut id) = self.random_node() else {
                    return "data: no node".into();
                };
                let mut hooks = self.hooks_of(id);
                for _ in 0..3 {
                    if !hooks.is_empty() {
                        break;
                    }
                    id = self.random_node().unwrap_or(id);
                    hooks = self.hooks_of(id);
                }
                if hooks.is_empty() {
                    let r = self.s.send_data(id, "nohook", vec![1]);
                    return format!("data [{id:x}]:nohook: {r:?}");
                }
                let h = self.r.pick(&hooks).clone();
                let mut n = 0;
                for _ in 0..1 + self.r.below(4) {
                    let f = self.frame();
                    n += usize::from(self.s.send_data(id, &h, f).is_ok());
                }
                self.s.take_output();
                format!("data [{id:x}]:{h} x{n}")
            }
            17 => {
                let dt = *self
                    .r
                    .pick(&[1_000_000, 1_000_000_000, 10_000_000_000, 1 << 40]);
                let t = if self.r.one_in(50) {
                    u64::MAX - self.r.below(3) as u64
                } else {
                    self.s.now_ns().saturating_add(dt)
                };
                self.s.run_timers(t);
                self.s.take_output();
                format!("time {t}")
            }
            18 => {
                let types = self.s.types().names();
                let t = *self.r.pick(&types);
                let r = self.s.make_node(t);
                format!("make_node {t}: {r:?}")
            }
            _ => {
                let n = 1 + self.r.below(100);
                self.s.set_queue_limit(n);
                let ran = self.s.run();
                format!("queue limit {n}, ran {ran}")
            }
        }
    }

    /// The list messages, checked against the space.
    fn lists(&mut self) -> String {
        let me = self.me();
        let r = self
            .generic(me, ".", NGM_LISTNODES, vec![])
            .expect("listnodes");
        let l = NameList::from_bytes(&r[0].data).expect("namelist decodes");
        assert_eq!(l.nodes.len(), self.s.node_count(), "listnodes");
        let r = self
            .generic(me, ".", NGM_LISTNAMES, vec![])
            .expect("listnames");
        let named = NameList::from_bytes(&r[0].data).expect("namelist decodes");
        for n in &named.nodes {
            assert_eq!(self.s.find_node(&n.name), Some(n.id), "listnames {n:?}");
        }
        let r = self
            .generic(me, ".", NGM_LISTTYPES, vec![])
            .expect("listtypes");
        let tl = TypeList::from_bytes(&r[0].data).expect("typelist decodes");
        let total: u32 = tl.types.iter().map(|t| t.numnodes).sum();
        assert_eq!(total as usize, self.s.node_count(), "listtypes");
        let at = self.address();
        let info = self.generic(me, &at, NGM_NODEINFO, vec![]);
        if let Ok(r) = &info {
            let i = NodeInfo::from_bytes(&r[0].data).expect("nodeinfo decodes");
            assert_eq!(self.s.node_info(i.id).as_ref(), Some(&i));
            assert_eq!(self.hooks_of(i.id).len(), i.hooks as usize);
        }
        format!("lists; nodeinfo {at}: {:?}", info.map(|_| ()))
    }

    /// A type command in ASCII, the libnetgraph way: ascii2binary at the target,
    /// the binary message, binary2ascii of the reply.
    fn type_msg_ascii(&mut self) -> String {
        let me = self.me();
        let Some(id) = self.random_node() else {
            return "msg: no node".into();
        };
        let ty = self.s.node_info(id).expect("listed").type_name;
        let cmds = self.s.types().find(&ty).expect("installed").cmdlist();
        let cmd = if cmds.is_empty() || self.r.one_in(4) {
            self.r.pick(NG_GENERIC_CMDS)
        } else {
            self.r.pick(cmds)
        };
        let args = match cmd.arg {
            Some(a) if self.r.one_in(4) => {
                let t = gen_text(&mut self.r, a, 0);
                mutate_text(&mut self.r, &t)
            }
            Some(a) => gen_text(&mut self.r, a, 0),
            None => String::new(),
        };
        let path = format!("[{id:x}]:");
        let mut text = args.clone().into_bytes();
        text.push(0);
        let req = NgMesg::new(0, 0, cmd.name, 0, text);
        let res = (|| -> Result<Option<String>, Errno> {
            let r = self.generic(me, &path, NGM_ASCII2BINARY, req.to_bytes()?)?;
            let bin = NgMesg::from_bytes(&r.first().ok_or(Errno::EIO)?.data)?;
            assert_eq!(bin.header.cmdstr, cmd.name);
            let replies = self.send(me, &path, bin)?;
            let Some(rep) = replies.into_iter().next() else {
                return Ok(None);
            };
            // The reply converts to ASCII at a live node of the same type.
            if self.s.node_info(id).is_none() {
                return Ok(None);
            }
            let r = self.generic(me, &path, NGM_BINARY2ASCII, rep.to_bytes()?)?;
            let txt = NgMesg::from_bytes(&r.first().ok_or(Errno::EIO)?.data)?;
            Ok(Some(String::from_utf8_lossy(&txt.data).into_owned()))
        })();
        format!("msg {path} {} {args:?}: {res:?}", cmd.name)
    }

    /// A random binary message (right or wrong cookie, command, flags, length).
    fn type_msg_binary(&mut self) -> String {
        let me = self.me();
        let Some(id) = self.random_node() else {
            return "binmsg: no node".into();
        };
        let ty = self.s.node_info(id).expect("listed").type_name;
        let t = self.s.types().find(&ty).expect("installed");
        let cmds = t.cmdlist();
        let (cookie, cmd, data) = if !cmds.is_empty() && !self.r.one_in(3) {
            let c = self.r.pick(cmds);
            let data = match c.arg {
                Some(a) if !self.r.one_in(4) => {
                    let text = gen_text(&mut self.r, a, 0);
                    ng_parse::ascii_to_binary(a, &text).unwrap_or_default()
                }
                _ => self.r.bytes(40),
            };
            let data = if self.r.one_in(4) {
                mutate_bytes(&mut self.r, &data)
            } else {
                data
            };
            (c.cookie, c.cmd, data)
        } else {
            let cookie = *self
                .r
                .pick(&[t.cookie(), NGM_GENERIC_COOKIE, NGM_FLOW_COOKIE, 7]);
            (cookie, self.r.below(16) as u32, self.r.bytes(80))
        };
        self.token = self.token.wrapping_add(1);
        let mut m = NgMesg::new(cookie, cmd, "", self.token, data);
        if self.r.one_in(6) {
            m.header.flags = NGF_RESP;
        }
        let path = format!("[{id:x}]:");
        let r = self.send(me, &path, m).map(|v| v.len());
        format!("binmsg {path} {cookie}/{cmd}: {r:?}")
    }

    /// The invariants that must hold between any two operations.
    fn check(&mut self) {
        if let Err(e) = self.s.check_invariants() {
            panic!("invariant broken: {e}");
        }
        let ids = self.s.node_ids();
        assert_eq!(ids.len(), self.s.node_count());
        let types = self.s.types().names();
        let by_type: usize = types.iter().map(|t| self.s.count_type(t)).sum();
        assert_eq!(by_type, self.s.node_count(), "count_type sums");
        for id in ids {
            let i = self.s.node_info(id).expect("listed node has info");
            if !i.name.is_empty() {
                assert_eq!(self.s.find_node(&i.name), Some(id));
                assert_eq!(self.s.resolve(0, &format!("{}:", i.name)), Ok(id));
            }
            assert_eq!(self.s.resolve(0, &format!("[{id:x}]:")), Ok(id));
        }
    }
}

#[test]
fn fuzz_space() {
    let rounds = iters(1500) * 6;
    let per_space = 300;
    for seq in 0..rounds.div_ceil(per_space) as u64 {
        let mut f = SpaceFuzz::new(seq);
        for _ in 0..per_space.min(rounds) {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let t0 = std::time::Instant::now();
                let what = f.step();
                if std::env::var("FUZZ_TRACE").is_ok() {
                    eprintln!("{:?} {what}", t0.elapsed());
                }
                f.log.push(what);
                f.s.take_output();
                f.check();
            }));
            if r.is_err() {
                let from = f.log.len().saturating_sub(40);
                panic!(
                    "space {seq}, step {}: last operations:\n{}",
                    f.log.len(),
                    f.log[from..].join("\n")
                );
            }
        }
    }
}
