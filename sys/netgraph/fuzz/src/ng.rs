//! Netgraph messages on hostile input: the ASCII form as `ngctl msg` sends it,
//! and binary control messages, frames and time on a live space.
//!
//! Every input starts from the same space ([`space`]): a socket node named
//! `ngctl` (the process's control socket) with one node of each pure type on
//! its hooks ([`GRAPH`]).  Checked, besides "nothing panics":
//!
//! * ASCII the parser accepts round-trips (parse → encode → decode → format →
//!   parse gives the same binary, and formatting is a fixpoint); bytes the
//!   decoder accepts re-encode and convert to ASCII and back;
//! * a node's reply decodes with the reply layout its type declares (else
//!   `ngctl msg` could not print it);
//! * after every operation the space's invariants hold
//!   ([`NgSpace::check_invariants`]).

use vimage_abi::netgraph::*;
use vimage_abi::Errno;
use vimage_netgraph::ng_base::NG_GENERIC_CMDS;
use vimage_netgraph::ng_parse::{self, NgParseType};
use vimage_netgraph::{NgCmd, NgOutput, NgSpace, NgTypeList, NodeId};

/// The nodes every input starts with: (hook of `ngctl`, type, the node's hook).
/// Each node is also named after its hook on `ngctl` (`br:`, `tee:`, …).
pub const GRAPH: &[(&str, &str, &str)] = &[
    ("br", "bridge", "link0"),
    ("tee", "tee", "left"),
    ("o2m", "one2many", "one"),
    ("pipe", "pipe", "upper"),
    ("vlan", "vlan", "downstream"),
    ("hub", "hub", "a"),
    ("echo", "echo", "a"),
    ("hole", "hole", "a"),
];

/// Most records one [`mesg`] input runs.
pub const MAX_RECORDS: usize = 64;

/// A fresh space: `ngctl` and [`GRAPH`], on a fixed seed and clock, with the
/// queue and run budgets small (a hub looped on itself never ends by itself).
pub fn space() -> (NgSpace, NodeId) {
    let mut s = NgSpace::new(NgTypeList::with_builtin(), 1);
    s.set_seed(1);
    s.set_now(1_000_000_000);
    s.set_queue_limit(64);
    s.set_run_budget(500);
    let me = s.make_node("socket").expect("socket type");
    s.name_node(me, "ngctl").expect("fresh name");
    for (hook, ty, peer) in GRAPH {
        let id = s.make_node(ty).expect("builtin type");
        s.connect(me, hook, id, peer).expect("fresh hooks");
        s.name_node(id, hook).expect("fresh name");
    }
    s.take_output();
    (s, me)
}

/// The commands node `id` understands: its type's, then the generic ones.
fn cmds_of(s: &NgSpace, id: NodeId) -> Vec<&'static NgCmd> {
    let mut v: Vec<&'static NgCmd> = Vec::new();
    if let Some(t) = s.node_info(id).and_then(|i| s.types().find(&i.type_name)) {
        v.extend(t.cmdlist().iter());
    }
    v.extend(NG_GENERIC_CMDS.iter());
    v
}

/// Parse `text` as `ty`; if accepted, check the round trips.
pub fn check_text(what: &str, ty: &NgParseType, text: &str) {
    let v = match ng_parse::parse(ty, text) {
        Err(e) => {
            assert_eq!(e, Errno::EINVAL, "{what}: {text:?}");
            return;
        }
        Ok(v) => v,
    };
    // Encoding may still refuse (a NUL inside a string, a string too long).
    let b = match ng_parse::encode(ty, &v) {
        Err(e) => {
            assert_eq!(e, Errno::EINVAL, "{what}: {text:?}");
            return;
        }
        Ok(b) => b,
    };
    assert_eq!(
        ng_parse::ascii_to_binary(ty, text).as_deref(),
        Ok(&b[..]),
        "{what}: {text:?}"
    );
    let d = ng_parse::decode(ty, &b)
        .unwrap_or_else(|e| panic!("{what}: encoding of {text:?} does not decode: {e:?}"));
    assert_eq!(
        ng_parse::encode(ty, &d).as_deref(),
        Ok(&b[..]),
        "{what}: {text:?}: encode(decode(x)) != x"
    );
    let t2 = ng_parse::format(ty, &d);
    let v2 = ng_parse::parse(ty, &t2)
        .unwrap_or_else(|e| panic!("{what}: {text:?} formats as {t2:?}, which fails: {e:?}"));
    assert_eq!(
        ng_parse::encode(ty, &v2).as_deref(),
        Ok(&b[..]),
        "{what}: {text:?} -> {t2:?} changes the binary"
    );
    assert_eq!(
        ng_parse::format(ty, &v2),
        t2,
        "{what}: {text:?}: format is not a fixpoint"
    );
}

/// Decode `b` as `ty`; if accepted, check it re-encodes and converts to ASCII
/// and back.  Returns whether it decoded.
pub fn check_bytes(what: &str, ty: &NgParseType, b: &[u8]) -> bool {
    let d = match ng_parse::decode(ty, b) {
        Err(e) => {
            // A sockaddr of another family is EAFNOSUPPORT, as in ng_ksocket.
            assert!(
                e == Errno::EINVAL || e == Errno::EAFNOSUPPORT,
                "{what}: {e:?} on {b:02x?}"
            );
            return false;
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
    true
}

/// The space as one input drives it.
struct Run {
    s: NgSpace,
    me: NodeId,
    token: u32,
}

impl Run {
    fn new() -> Self {
        let (s, me) = space();
        Run { s, me, token: 0 }
    }

    /// Our socket node, recreated if a message shut it down.
    fn me(&mut self) -> NodeId {
        if self.s.node_info(self.me).is_none() {
            self.me = self.s.make_node("socket").expect("socket type");
        }
        self.me
    }

    /// Send `msg` from our node to `path`; the replies that came back, after
    /// checking each against the reply layout of its sender's command.
    fn send(&mut self, path: &str, msg: NgMesg) -> Result<Vec<NgMesg>, Errno> {
        let me = self.me();
        let r = self.s.send_msg(me, path, msg);
        let out = self.s.take_output();
        self.check();
        let mut replies = Vec::new();
        for o in out {
            let NgOutput::Msg { node, from, msg } = o else {
                continue;
            };
            if node != me || !msg.is_resp() {
                continue;
            }
            // A socket node relays what its process wrote, replies included;
            // an echo node sends back whatever it was sent.
            let relayed = match self.s.node_info(from) {
                Some(i) => i.type_name == "socket" || i.type_name == "echo",
                None => true,
            };
            if relayed {
                replies.push(msg);
                continue;
            }
            let h = &msg.header;
            let cmd = cmds_of(&self.s, from)
                .into_iter()
                .find(|c| c.cookie == h.typecookie && c.cmd == h.cmd);
            if let Some(NgCmd {
                resp: Some(l),
                name,
                ..
            }) = cmd
            {
                assert!(
                    check_bytes(name, l, &msg.data),
                    "reply to {name} from [{from:x}] does not decode: {:02x?}",
                    msg.data
                );
            }
            replies.push(msg);
        }
        r.map(|()| replies)
    }

    fn generic(&mut self, path: &str, cmd: u32, data: Vec<u8>) -> Result<Vec<NgMesg>, Errno> {
        self.token = self.token.wrapping_add(1);
        self.send(
            path,
            NgMesg::new(NGM_GENERIC_COOKIE, cmd, "", self.token, data),
        )
    }

    /// `ngctl msg path cmd args` as libnetgraph does it: ascii2binary at the
    /// target, the binary message, binary2ascii of the reply.
    fn ngctl_msg(&mut self, path: &str, cmd: &str, args: &str) -> Result<(), Errno> {
        let mut text = args.as_bytes().to_vec();
        text.push(0);
        let req = NgMesg::new(0, 0, cmd, 0, text).to_bytes()?;
        let r = self.generic(path, NGM_ASCII2BINARY, req)?;
        let bin = NgMesg::from_bytes(&r.first().ok_or(Errno::EIO)?.data)?;
        let replies = self.send(path, bin)?;
        let Some(rep) = replies.into_iter().next() else {
            return Ok(());
        };
        let r = self.generic(path, NGM_BINARY2ASCII, rep.to_bytes()?)?;
        let txt = NgMesg::from_bytes(&r.first().ok_or(Errno::EIO)?.data)?;
        assert_eq!(txt.data.last(), Some(&0), "binary2ascii text unterminated");
        Ok(())
    }

    /// The path a record's selector names: `.`, one of our hooks, or a node
    /// by ID.
    fn path(&mut self, k: usize) -> String {
        if k == 0 {
            return ".".into();
        }
        if let Some((hook, _, _)) = GRAPH.get(k - 1) {
            return (*hook).into();
        }
        let ids = self.s.node_ids();
        match ids.get((k - 1 - GRAPH.len()) % ids.len().max(1)) {
            Some(id) => format!("[{id:x}]:"),
            None => ".".into(),
        }
    }

    fn check(&self) {
        if let Err(e) = self.s.check_invariants() {
            panic!("invariant broken: {e}");
        }
        let types = self.s.types().names();
        let by_type: usize = types.iter().map(|t| self.s.count_type(t)).sum();
        assert_eq!(by_type, self.s.node_count(), "count_type sums");
    }
}

/// `ngctl msg PATH CMD ARGS` as text (`br: setconfig { loopTimeout=2 }`,
/// `tee getstats`, `. listnodes`): the arguments through the command's layouts
/// on their own, then the libnetgraph round trip on the live space.
pub fn ascii(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.trim_start();
    let (path, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim_start();
    let (cmd, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut run = Run::new();
    let me = run.me();
    if let Ok(id) = run.s.resolve(me, path) {
        for c in cmds_of(&run.s, id).into_iter().filter(|c| c.name == cmd) {
            for (dir, l) in [("arg", c.arg), ("resp", c.resp)] {
                if let Some(l) = l {
                    check_text(&format!("{cmd} {dir}"), l, args);
                }
            }
        }
    }
    let _ = run.ngctl_msg(path, cmd, args);
    run.check();
}

/// A sequence of records, each `[op][len: u16 le][len bytes]` (the last may be
/// short).  `op >> 6` is what to do and `op & 0x3f` where:
///
/// * 0: a binary control message ([`NgMesg::from_bytes`]) to the path;
/// * 1: the bytes as a frame on one of our hooks;
/// * 2: time moves by the first four bytes (little-endian) in milliseconds;
/// * 3: the bytes as `CMD ARGS` in ASCII to the path (`ngctl msg`).
pub fn mesg(data: &[u8]) {
    let mut run = Run::new();
    let mut rest = data;
    for _ in 0..MAX_RECORDS {
        let Some((&op, r)) = rest.split_first() else {
            break;
        };
        let n = match r {
            [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
            _ => 0,
        };
        let r = r.get(2..).unwrap_or(&[]);
        let (body, next) = r.split_at(n.min(r.len()));
        rest = next;
        let at = usize::from(op & 0x3f);
        match op >> 6 {
            0 => {
                if let Ok(m) = NgMesg::from_bytes(body) {
                    let p = run.path(at);
                    let _ = run.send(&p, m);
                }
            }
            1 => {
                let me = run.me();
                let (hook, _, _) = GRAPH[at % GRAPH.len()];
                let _ = run.s.send_data(me, hook, body.to_vec());
                run.s.take_output();
            }
            2 => {
                let mut ms = [0u8; 4];
                for (x, y) in ms.iter_mut().zip(body) {
                    *x = *y;
                }
                let dt = u64::from(u32::from_le_bytes(ms)) * 1_000_000;
                let t = run.s.now_ns().saturating_add(dt);
                run.s.run_timers(t);
                run.s.take_output();
            }
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim_start();
                let (cmd, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
                let p = run.path(at);
                let _ = run.ngctl_msg(&p, cmd, args);
            }
        }
        run.check();
    }
}
