//! Deterministic fuzzing of ipfw(8)'s rule compiler, in the style of the
//! kernel's seeded fuzz tests (`vimage_kern::fuzz`): `FUZZ_SEED` varies the
//! runs, `FUZZ_ITERS` their length.
//!
//! * Any words at all: the compiler never panics, and what it accepts is a
//!   rule the kernel's decoder accepts (it encodes, and decodes to itself)
//!   and that prints.
//! * Rules written in the usual order (`ACTION PROTO from A [P] to B [P]
//!   OPTIONS`): printed as `ipfw list` prints them, they compile back to
//!   the same rule.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ipfw::parse::{compile_rule, Env, Fail};
use ipfw::show::{show_ipfw, ShowOpts};
use vimage_abi::ip_fw::IpFwRule;
use vimage_kern::fuzz::{rounds, Rng};

struct NoNames;
impl Env for NoNames {
    fn host4(&mut self, n: &str) -> Option<Ipv4Addr> {
        (n == "localhost").then_some(Ipv4Addr::LOCALHOST)
    }
    fn host6(&mut self, _: &str) -> Option<Ipv6Addr> {
        None
    }
    fn verbose_limit(&mut self) -> Result<u32, Fail> {
        Ok(3)
    }
}

fn pick<'a>(r: &mut Rng, v: &[&'a str]) -> &'a str {
    v[r.below(v.len())]
}

/// Words of the grammar and near misses, for token soup.
const VOCAB: &[&str] = &[
    "add",
    "100",
    "0",
    "65535",
    "70000",
    "set",
    "3",
    "32",
    "allow",
    "accept",
    "deny",
    "reject",
    "reset",
    "unreach",
    "port",
    "count",
    "skipto",
    "check-state",
    "log",
    "logamount",
    "5",
    "-1",
    "ip",
    "tcp",
    "udp",
    "icmp",
    "ip4",
    "ip6",
    "ipv6-icmp",
    "6",
    "0x11",
    "from",
    "to",
    "any",
    "me",
    "me6",
    "not",
    "!in",
    "or",
    "{",
    "}",
    "(",
    ")",
    "{1.1.1.1",
    "10.0.0.0/24",
    "10.0.0.0/24{1,2-5}",
    "1.2.3.4:255.0.255.0",
    "1.2.3.4,5.6.7.8",
    "fe80::/10",
    "::1",
    "1.2.3.4/33",
    "0.0.0.0/0",
    "22",
    "1000-2000",
    "25,80",
    "ssh",
    "http-",
    "a\\-b",
    "in",
    "out",
    "via",
    "recv",
    "xmit",
    "e0",
    "eth*",
    "10.0.0.1",
    "established",
    "setup",
    "tcpflags",
    "syn,!ack",
    "icmptypes",
    "0,8",
    "99",
    "keep-state",
    "frag",
    "proto",
    "src-ip",
    "dst-ip",
    "src-port",
    "dst-port",
    "src-ip6",
    "//",
    "comment",
    "mac",
    "prob",
    "0.5",
    "",
    ",",
    "-",
    "{}",
    "1.2.3.4{",
    "10.0.0.0/24{300}",
    "10.0.0.0/20{1}",
    "table(1)",
    "table(2,3)",
    "table(500)",
    "table(",
];

fn soup(r: &mut Rng) -> Vec<String> {
    (0..r.below(14))
        .map(|_| {
            if r.below(10) == 0 {
                (0..r.below(8))
                    .map(|_| (b' ' + (r.byte() % 95)) as char)
                    .collect()
            } else {
                pick(r, VOCAB).to_string()
            }
        })
        .collect()
}

fn addr4(r: &mut Rng) -> String {
    match r.below(7) {
        0 => "any".into(),
        1 => "me".into(),
        2 => format!("10.{}.{}.{}", r.byte(), r.byte(), r.byte()),
        3 => format!("10.{}.{}.0/{}", r.byte(), r.byte(), 1 + r.below(31)),
        4 => format!(
            "10.0.{}.0/24{{{},{}-{}}}",
            r.byte(),
            r.below(10),
            20,
            20 + r.below(200)
        ),
        5 => format!("1.{}.0.0,2.2.2.{}", r.byte(), r.byte()),
        6 if r.below(2) == 0 => format!("table({},{})", r.below(128), r.byte()),
        _ => format!("{{ 1.1.1.{} or 2.2.2.0/24 }}", r.byte()),
    }
}

fn ports(r: &mut Rng) -> String {
    match r.below(3) {
        0 => format!("{}", r.below(65536)),
        1 => format!("{}-{}", r.below(1000), 1000 + r.below(60000)),
        _ => format!("{},{}", r.below(65536), r.below(65536)),
    }
}

/// A rule in the usual order, as words.
fn structured(r: &mut Rng) -> String {
    let mut s = String::new();
    if r.below(2) == 0 {
        s += &format!("{} ", 1 + r.below(65534));
    }
    if r.below(4) == 0 {
        s += &format!("set {} ", r.below(31));
    }
    s += pick(
        r,
        &[
            "allow",
            "deny",
            "reject",
            "reset",
            "count",
            "unreach port",
            "unreach 77",
            "skipto 500",
        ],
    );
    if r.below(4) == 0 {
        s += " log logamount 9";
    }
    let six = r.below(5) == 0;
    let proto = if six {
        "ip6"
    } else {
        pick(r, &["ip", "tcp", "udp", "icmp", "ip4", "ospf"])
    };
    s += &format!(" {proto} from ");
    let has_ports = matches!(proto, "tcp" | "udp");
    if six {
        s += pick(r, &["any", "me6", "fe80::1", "2001:db8::/32"]);
    } else {
        s += &addr4(r);
    }
    if has_ports && r.below(3) == 0 {
        s += &format!(" {}", ports(r));
    }
    s += " to ";
    if six {
        s += pick(r, &["any", "me6", "ff02::1", "::/1"]);
    } else {
        // `not` before a block or `any` is not the grammar (FreeBSD's
        // ipfw refuses the first, carries the second over).
        let a = addr4(r);
        if r.below(3) == 0 && a != "any" && !a.starts_with('{') {
            s += "not ";
        }
        s += &a;
    }
    if has_ports && r.below(2) == 0 {
        s += &format!(" {}", ports(r));
    }
    let opts = [
        "in",
        "out",
        "via e0",
        "recv eth*",
        "xmit 10.0.0.1",
        "frag",
        "not frag",
        "keep-state",
    ];
    for _ in 0..r.below(4) {
        let o = pick(r, &opts);
        if o == "keep-state" && s.contains("keep-state") {
            continue;
        }
        s += &format!(" {o}");
    }
    if proto == "tcp" {
        s += pick(r, &["", " setup", " established", " tcpflags syn,!ack,urg"]);
    }
    if proto == "icmp" && r.below(2) == 0 {
        s += " icmptypes 0,3,8";
    }
    if r.below(5) == 0 {
        s += " // a note";
    }
    s
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn check_accepted(what: &str, r: &IpFwRule) {
    let b = r
        .to_bytes()
        .unwrap_or_else(|e| panic!("{what}: compiled rule does not encode: {e:?} {r:?}"));
    assert_eq!(IpFwRule::from_bytes(&b).as_ref(), Ok(r), "{what}");
    let _ = show_ipfw(r, &ShowOpts::default());
}

#[test]
fn token_soup_never_panics_and_compiles_to_valid_rules() {
    let mut r = Rng::new(0x1f_1f);
    for _ in 0..rounds() / 10 {
        let w = soup(&mut r);
        let res = catch_unwind(AssertUnwindSafe(|| compile_rule(&w, &mut NoNames)))
            .unwrap_or_else(|_| panic!("compiler panicked on {w:?}"));
        match res {
            Ok(rule) => check_accepted(&format!("{w:?}"), &rule),
            Err(f) => assert!((1..=78).contains(&f.code), "{w:?}: {f:?}"),
        }
    }
}

#[test]
fn printed_rules_compile_back_to_themselves() {
    let mut r = Rng::new(0x1f_2f);
    for _ in 0..rounds() / 20 {
        let text = structured(&mut r);
        let rule =
            compile_rule(&words(&text), &mut NoNames).unwrap_or_else(|f| panic!("{text}: {f:?}"));
        check_accepted(&text, &rule);
        // As `ipfw -S list` prints it, with the set.
        let o = ShowOpts {
            show_sets: true,
            ..ShowOpts::default()
        };
        let shown = show_ipfw(&rule, &o).expect("shown with -S");
        let again = compile_rule(&words(&shown), &mut NoNames)
            .unwrap_or_else(|f| panic!("{text} printed as {shown}: {f:?}"));
        assert_eq!(again, rule, "{text}\n printed as {shown}");
    }
}
