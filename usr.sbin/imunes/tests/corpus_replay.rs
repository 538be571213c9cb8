//! The imunes fuzz target's corpus, replayed on stable (`make test`).
//!
//! `usr.sbin/imunes/fuzz` holds the cargo-fuzz target `imn` whose entry point
//! lives in `usr.sbin/imunes/fuzz/src/imn.rs`; this test includes that very
//! file and runs it over every file of `fuzz/corpus/imn/` and over seeded
//! mutations of each (`FUZZ_REPLAY_MUTATIONS`, `FUZZ_SEED`), with the shared
//! replay helper of `sys/sys/fuzz`.  The corpus holds imunes-examples' files
//! (see tests/data/SOURCES.txt) and the hand-made seeds below
//! (`FUZZ_WRITE_CORPUS=1 cargo test -p imunes --test corpus_replay` writes
//! them); cargo-fuzz adds what it finds.

#[path = "../fuzz/src/imn.rs"]
mod imn;
#[path = "../../../sys/sys/fuzz/src/replay.rs"]
mod replay;

/// Small files for the corners: pseudo nodes, JSON, errors of each kind.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let s = |n: &str, t: &str| (n.to_string(), t.as_bytes().to_vec());
    vec![
        s(
            "seed-pseudo",
            "node n1 { type pc interface-peer {eth0 p1} }\n\
             node n2 { type router model static network-config {\n\tinterface eth0\n\t ip address 10.0.0.1/24\n\t!\n\tip route 10.9.0.0/16 10.0.0.2\n\t!\n} interface-peer {eth0 p2} }\n\
             node p1 { type pseudo interface-peer {0 n1} mirror p2 }\n\
             node p2 { type pseudo interface-peer {0 n2} mirror p1 }\n\
             link l0 { nodes {n1 p1} bandwidth 1000 delay 5 ber 100 duplicate 5 mirror l1 }\n\
             link l1 { nodes {p2 n2} mirror l0 }\n",
        ),
        s(
            "seed-pseudo-cycle",
            "node p1 { type pseudo mirror p2 }\nnode p2 { type pseudo mirror p1 }\n\
             node p3 { type pseudo mirror p4 }\nnode p4 { type pseudo mirror p3 }\n\
             link l0 { nodes {p1 p3} }\nlink l1 { nodes {p2 p4} }\n",
        ),
        s(
            "seed-hub-parallel",
            "node n0 { type hub interface-peer {e0 n1} interface-peer {e1 n1} interface-peer {e2 n2} }\n\
             node n1 { type host network-config {\n\tinterface eth0\n\t ipv6 address fc00::1/64\n\t mtu 9000\n\t shutdown\n\t!\n} \
             interface-peer {eth0 n0} interface-peer {eth1 n0} }\n\
             node n2 { type pc auto_default_routes enabled interface-peer {eth0 n0} }\n\
             link l0 { nodes {n0 n1} direct 1 }\nlink l1 { nodes {n1 n0} }\nlink l2 { nodes {n2 n0} }\n",
        ),
        s(
            "seed-json-router",
            "{\"nodes\": {\"n0\": {\"type\": \"router\", \"name\": \"r0\", \"model\": \"frr\", \
             \"router_config\": \"rip 1 ripng 1\", \"croutes4\": [\"10.1.0.0/16 10.0.0.2\"], \
             \"croutes6\": [\"::/0 fc00::2\"], \"ifaces\": {\"ifc0\": {\"type\": \"lo\", \"name\": \"lo0\"}, \
             \"ifc1\": {\"type\": \"phys\", \"name\": \"eth0\", \"link\": \"l0\", \"ipv4_addrs\": [\"10.0.0.1/24\"], \
             \"ipv6_addrs\": [\"fc00::1/64\"], \"mac\": \"42:00:aa:00:00:05\"}}}, \
             \"n1\": {\"type\": \"pc\", \"ifaces\": {\"ifc1\": {\"name\": \"eth0\", \"link\": \"l0\"}}}}, \
             \"links\": {\"l0\": {\"peers\": \"n0 n1\", \"peers_ifaces\": \"ifc1 ifc1\", \"bandwidth\": \"2048000\", \
             \"delay\": \"10000\", \"ber\": \"0\", \"duplicate\": \"0\", \"direct\": \"0\"}}}\n",
        ),
        s("seed-unknown-type", "node n0 {\n type toaster\n}\n"),
        s("seed-unknown-class", "widget w0 {}\n"),
        s("seed-quotes", "node \"n0\" { type \"lanswitch\" network-config \"\thostname \\\"sw\\\"\" }\n"),
        s("seed-json-deep", "{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n"),
    ]
}

#[test]
fn imn_corpus_replays() {
    let dir = replay::path(env!("CARGO_MANIFEST_DIR"), "fuzz/corpus/imn");
    let seeds = seeds();
    replay::write_seeds(&dir, &seeds);
    for (_, b) in &seeds {
        imn::imn(b);
    }
    let n = replay::replay(&dir, 7, replay::mutations(300), imn::imn);
    assert!(n >= 300, "{n}");
}
