//! The netgraph fuzz targets' corpora, replayed on stable (`make test`).
//!
//! `sys/netgraph/fuzz` holds cargo-fuzz targets (`ng_ascii`, `ng_mesg`) whose
//! entry points live in `sys/netgraph/fuzz/src/ng.rs`; this test includes that
//! very file and runs it over every file of `sys/netgraph/fuzz/corpus/<target>/`
//! and over seeded mutations of each (`FUZZ_REPLAY_MUTATIONS`, `FUZZ_SEED`).
//!
//! The seeds come from [`ascii_seeds`] and [`mesg_seeds`]:
//! `FUZZ_WRITE_CORPUS=1 cargo test -p vimage-netgraph --test corpus_replay`
//! writes them; cargo-fuzz adds what it finds (named by hash).

#[path = "../fuzz/src/ng.rs"]
mod ng;
#[path = "../../sys/fuzz/src/replay.rs"]
mod replay;

use vimage_abi::netgraph::*;
use vimage_netgraph::ng_parse::{self, NgValue};

fn dir(target: &str) -> std::path::PathBuf {
    replay::path(env!("CARGO_MANIFEST_DIR"), &format!("fuzz/corpus/{target}"))
}

/// Arguments people type, by command name (ngctl users, IMUNES).
const TYPED: &[(&str, &str)] = &[
    (
        "setconfig",
        "{ ipfw=[ 1 0 1 ] debugLevel=2 loopTimeout=60 maxStaleness=900 minStableAge=1 }",
    ),
    (
        "setconfig",
        "{ xmitAlg=1 failAlg=2 enabledLinks=[ 3=1 0 1 63=1 ] }",
    ),
    (
        "setcfg",
        "{ bandwidth=1000 delay=5000 upstream={ BER=1000000 queuelen=5 duplicate=50 } }",
    ),
    (
        "setcfg",
        "{ header_offset=14 overhead=-1 downstream={ wfq=1 drophead=1 fifo=0x1 } }",
    ),
    ("addfilter", "{ hook=\"vl101\" vlan=101 }"),
    ("delfilter", "\"vl101\""),
    ("getstats", "0"),
    ("getstats", "\"link0\""),
    ("clrstats", "0x1f"),
    ("mkpeer", "{ type=\"hub\" ourhook=\"x\" peerhook=\"y\" }"),
    (
        "connect",
        "{ path=\"tee:\" ourhook=\"link1\" peerhook=\"right\" }",
    ),
    ("name", "{ name=\"\\101\\x42\" }"),
    ("rmhook", "{ hook=\"a\" }"),
    ("textconfig", "\"a b c\""),
];

/// Every command of every node in the starting graph, with its arguments'
/// default value in ASCII; then the typed ones.
fn commands() -> Vec<(String, String, String)> {
    let (s, _) = ng::space();
    let mut v = Vec::new();
    let mut paths = vec![(".".to_string(), "socket")];
    paths.extend(ng::GRAPH.iter().map(|(h, t, _)| (format!("{h}:"), *t)));
    for (path, ty) in paths {
        let t = s.types().find(ty).expect("builtin");
        let cmds = t.cmdlist().iter();
        for c in cmds.chain(vimage_netgraph::ng_base::NG_GENERIC_CMDS.iter()) {
            // Generic commands once, at the socket node and the bridge.
            let own = t.cmdlist().iter().any(|x| std::ptr::eq(x, c));
            if !own && path != "." && path != "br:" {
                continue;
            }
            if matches!(c.name, "shutdown" | "ascii2binary" | "binary2ascii") && path != "br:" {
                continue;
            }
            let args = c
                .arg
                .map(|a| ng_parse::format(a, &NgValue::default_of(a)))
                .unwrap_or_default();
            v.push((path.clone(), c.name.to_string(), args.clone()));
            for (name, typed) in TYPED {
                if *name == c.name {
                    v.push((path.clone(), c.name.to_string(), typed.to_string()));
                }
            }
        }
    }
    v
}

fn ascii_seeds() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, cmd, args) in commands() {
        let base = format!("{}-{cmd}", path.trim_end_matches(':').replace('.', "dot"));
        let mut name = base.clone();
        let mut k = 1;
        while v.iter().any(|(n, _)| *n == name) {
            k += 1;
            name = format!("{base}-{k}");
        }
        let text = if args.is_empty() {
            format!("{path} {cmd}")
        } else {
            format!("{path} {cmd} {args}")
        };
        v.push((name, text.into_bytes()));
    }
    // Edge cases: hook paths, IDs, no such node or command, bad syntax.
    for (n, t) in [
        ("edge-hookpath", "br getconfig"),
        ("edge-id", "[1]: listhooks"),
        ("edge-nosuchnode", "nosuch: getstats"),
        ("edge-nosuchcmd", "br: nosuch"),
        ("edge-unclosed", "br: setconfig { loopTimeout=2"),
        (
            "edge-deep",
            "o2m: setconfig { enabledLinks=[ [ [ [ 1 ] ] ] ] }",
        ),
        ("edge-badstring", "vlan: delfilter \"\\777"),
        ("edge-bigint", "tee: getstats 0x1ffffffffffffffff"),
    ] {
        v.push((n.into(), t.as_bytes().to_vec()));
    }
    v
}

/// One [`ng::mesg`] record.
fn rec(op: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![op];
    v.extend_from_slice(&(body.len() as u16).to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// The selector of a path: 0 is `.`, then our hooks in [`ng::GRAPH`] order.
fn at(hook: &str) -> u8 {
    if hook == "." {
        return 0;
    }
    1 + ng::GRAPH
        .iter()
        .position(|(h, _, _)| *h == hook)
        .expect("hook") as u8
}

fn msg(to: &str, cookie: u32, cmd: u32, data: Vec<u8>) -> Vec<u8> {
    rec(
        at(to),
        &NgMesg::new(cookie, cmd, "", 1, data).to_bytes().unwrap(),
    )
}

fn frame(dst: [u8; 6], src: u8, vlan: Option<u16>) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&[0x40, 0, 0, 0, 0, src]);
    if let Some(t) = vlan {
        f.extend_from_slice(&[0x81, 0]);
        f.extend_from_slice(&t.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45; 46]);
    f
}

fn data(hook: &str, f: Vec<u8>) -> Vec<u8> {
    rec(0x40 | (at(hook) - 1), &f)
}

fn time(ms: u32) -> Vec<u8> {
    rec(0x80, &ms.to_le_bytes())
}

fn ascii(to: &str, text: &str) -> Vec<u8> {
    rec(0xc0 | at(to), text.as_bytes())
}

fn mesg_seeds() -> Vec<(String, Vec<u8>)> {
    let g = NGM_GENERIC_COOKIE;
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("listnodes".into(), msg(".", g, NGM_LISTNODES, vec![])),
        ("listtypes".into(), msg(".", g, NGM_LISTTYPES, vec![])),
        ("listnames".into(), msg(".", g, NGM_LISTNAMES, vec![])),
        ("textstatus".into(), msg("br", g, NGM_TEXT_STATUS, vec![])),
    ];
    for (hook, _, _) in ng::GRAPH {
        v.push((
            format!("nodeinfo-{hook}"),
            msg(hook, g, NGM_NODEINFO, vec![]),
        ));
        v.push((
            format!("listhooks-{hook}"),
            msg(hook, g, NGM_LISTHOOKS, vec![]),
        ));
    }
    let mkpeer = NgmMkpeer {
        type_name: "hub".into(),
        ourhook: "x".into(),
        peerhook: "y".into(),
    };
    let connect = NgmConnect {
        path: "tee:".into(),
        ourhook: "link1".into(),
        peerhook: "right".into(),
    };
    v.push((
        "mkpeer-connect-list".into(),
        [
            msg(".", g, NGM_MKPEER, mkpeer.to_bytes().unwrap()),
            msg("br", g, NGM_CONNECT, connect.to_bytes().unwrap()),
            msg(
                "hub",
                g,
                NGM_NAME,
                NgmName { name: "h2".into() }.to_bytes().unwrap(),
            ),
            msg(".", g, NGM_LISTNODES, vec![]),
        ]
        .concat(),
    ));
    v.push((
        "rmhook-shutdown".into(),
        [
            msg(
                "tee",
                g,
                NGM_RMHOOK,
                NgmRmhook {
                    ourhook: "left".into(),
                }
                .to_bytes()
                .unwrap(),
            ),
            msg("br", g, NGM_SHUTDOWN, vec![]),
            msg(".", g, NGM_LISTNODES, vec![]),
        ]
        .concat(),
    ));
    // Every type command with its default argument, in binary.
    let (s, _) = ng::space();
    for (hook, ty, _) in ng::GRAPH {
        let t = s.types().find(ty).expect("builtin");
        for c in t.cmdlist() {
            let arg = c
                .arg
                .map(|a| ng_parse::encode(a, &NgValue::default_of(a)).unwrap())
                .unwrap_or_default();
            v.push((
                format!("bin-{hook}-{}", c.name),
                msg(hook, c.cookie, c.cmd, arg),
            ));
        }
    }
    // Frames, time, ASCII.
    let bcast = [0xff; 6];
    let uni = [0x40, 0, 0, 0, 0, 9];
    v.push((
        "bridge-learn".into(),
        [
            data("br", frame(bcast, 1, None)),
            ascii("br", "gettable"),
            time(5000),
            ascii("br", "getstats 0"),
        ]
        .concat(),
    ));
    v.push((
        "pipe-delay".into(),
        [
            ascii("pipe", "setcfg { delay=5000 bandwidth=64000 }"),
            data("pipe", frame(uni, 2, None)),
            data("pipe", frame(uni, 2, None)),
            time(20),
            time(2000),
            ascii("pipe", "getclrstats"),
        ]
        .concat(),
    ));
    v.push((
        "vlan-filter".into(),
        [
            ascii("vlan", "addfilter { vlan=5 hook=\"v5\" }"),
            data("vlan", frame(uni, 3, Some(5))),
            data("vlan", frame(uni, 3, Some(6))),
            ascii("vlan", "gettable"),
        ]
        .concat(),
    ));
    v.push((
        "one2many-links".into(),
        [
            ascii(
                "o2m",
                "mkpeer { type=\"hub\" ourhook=\"many0\" peerhook=\"a\" }",
            ),
            ascii("o2m", "setconfig { xmitAlg=1 enabledLinks=[ 1 1 ] }"),
            data("o2m", frame(bcast, 4, None)),
            ascii("o2m", "getstats 0"),
        ]
        .concat(),
    ));
    v.push((
        "tee-echo-hub".into(),
        [
            data("tee", frame(bcast, 5, None)),
            data("echo", frame(uni, 5, None)),
            data("hub", frame(uni, 5, None)),
            data("hole", frame(uni, 5, None)),
            ascii("tee", "getclrstats"),
            ascii("hole", "getstats \"a\""),
        ]
        .concat(),
    ));
    v.push((
        "hub-loop".into(),
        [
            ascii(
                "hub",
                "mkpeer { type=\"hub\" ourhook=\"b\" peerhook=\"c\" }",
            ),
            ascii(
                "hub",
                "connect { path=\"hub:b\" ourhook=\"d\" peerhook=\"e\" }",
            ),
            data("hub", frame(bcast, 6, None)),
            time(1),
        ]
        .concat(),
    ));
    // Edge cases: a header only, a short record, a response flag, a nested
    // binary2ascii, an unknown cookie.
    let mut resp = NgMesg::new(g, NGM_NODEINFO, "", 1, vec![]);
    resp.header.flags = NGF_RESP;
    v.push(("edge-resp".into(), rec(0, &resp.to_bytes().unwrap())));
    v.push(("edge-short".into(), vec![0, 0xff, 0xff, 1, 2]));
    let inner = NgMesg::new(g, NGM_MKPEER, "", 1, mkpeer.to_bytes().unwrap());
    v.push((
        "edge-binary2ascii".into(),
        msg("br", g, NGM_BINARY2ASCII, inner.to_bytes().unwrap()),
    ));
    v.push(("edge-cookie".into(), msg("br", 7, 1, vec![1, 2, 3])));
    v
}

#[test]
fn ng_ascii_corpus() {
    let seeds = ascii_seeds();
    replay::write_seeds(&dir("ng_ascii"), &seeds);
    for (_, s) in &seeds {
        ng::ascii(s);
    }
    let n = replay::replay(&dir("ng_ascii"), 3, replay::mutations(16), ng::ascii);
    assert!(n > 1000);
}

#[test]
fn ng_mesg_corpus() {
    let seeds = mesg_seeds();
    replay::write_seeds(&dir("ng_mesg"), &seeds);
    for (_, s) in &seeds {
        ng::mesg(s);
    }
    let n = replay::replay(&dir("ng_mesg"), 4, replay::mutations(16), ng::mesg);
    assert!(n > 1000);
}
