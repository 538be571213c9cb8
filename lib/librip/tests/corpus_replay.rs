//! The RIP fuzz targets' corpora, replayed on stable (`make test`).
//!
//! `sys/fuzz` holds the cargo-fuzz targets `rip` and `ripng`, whose entry
//! points live in `sys/fuzz/src/rip.rs`; this test includes that very file
//! and runs it over every file of `sys/fuzz/corpus/rip/` and
//! `sys/fuzz/corpus/ripng/` and over seeded mutations of each
//! (`FUZZ_REPLAY_MUTATIONS`, `FUZZ_SEED`).  The seeds are [`rip_seeds`] and
//! [`ripng_seeds`]: `FUZZ_WRITE_CORPUS=1 cargo test -p librip --test
//! corpus_replay` writes them.

#[path = "../../../sys/sys/fuzz/src/replay.rs"]
mod replay;
#[path = "../../../sys/fuzz/src/rip.rs"]
mod rip;

use std::net::{Ipv4Addr, Ipv6Addr};

use librip::ripng::{self, RipngRepr};
use librip::wire::{Auth, AuthKey, RipRepr, Rte, AF_UNSPEC};
use librip::Command;

fn dir(target: &str) -> std::path::PathBuf {
    replay::path(
        env!("CARGO_MANIFEST_DIR"),
        &format!("../../sys/fuzz/corpus/{target}"),
    )
}

fn rip_msg(command: Command, version: u8, entries: Vec<Rte>) -> RipRepr {
    RipRepr {
        command,
        version,
        auth: Auth::None,
        entries,
    }
}

fn routes(n: usize) -> Vec<Rte> {
    (0..n)
        .map(|i| {
            Rte::route(
                Ipv4Addr::new(10, 1 + (i / 250) as u8, (i % 250) as u8, 0),
                24,
                1 + (i % 16) as u32,
            )
        })
        .collect()
}

/// Valid RIPv1/v2 datagrams of every kind.
fn rip_seeds() -> Vec<(String, Vec<u8>)> {
    let all = Rte {
        family: AF_UNSPEC,
        tag: 0,
        addr: Ipv4Addr::UNSPECIFIED,
        mask: Ipv4Addr::UNSPECIFIED,
        next_hop: Ipv4Addr::UNSPECIFIED,
        metric: 16,
    };
    let mut nh = Rte::route(Ipv4Addr::new(10, 9, 0, 0), 16, 2);
    nh.next_hop = Ipv4Addr::new(10, 0, 0, 3);
    nh.tag = 7;
    let mut v1 = Rte::route(Ipv4Addr::new(10, 0, 0, 0), 8, 1);
    v1.mask = Ipv4Addr::UNSPECIFIED;
    let none = AuthKey::None;
    let pw = AuthKey::password("secret", None).expect("key");
    let md5 = AuthKey::password("fuzz", Some(1)).expect("key");
    vec![
        (
            "seed-request-all".into(),
            rip_msg(Command::Request, 2, vec![all]).to_bytes(&none, 0),
        ),
        (
            "seed-request-some".into(),
            rip_msg(Command::Request, 2, routes(3)).to_bytes(&none, 0),
        ),
        (
            "seed-response".into(),
            rip_msg(Command::Response, 2, vec![routes(1)[0], nh]).to_bytes(&none, 0),
        ),
        (
            "seed-response-full".into(),
            rip_msg(Command::Response, 2, routes(25)).to_bytes(&none, 0),
        ),
        (
            "seed-response-v1".into(),
            rip_msg(Command::Response, 1, vec![v1]).to_bytes(&none, 0),
        ),
        (
            "seed-response-passwd".into(),
            rip_msg(Command::Response, 2, routes(4)).to_bytes(&pw, 0),
        ),
        (
            "seed-response-md5".into(),
            rip_msg(Command::Response, 2, routes(4)).to_bytes(&md5, 9),
        ),
        (
            "seed-withdraw".into(),
            rip_msg(
                Command::Response,
                2,
                vec![Rte::route(Ipv4Addr::new(10, 5, 0, 0), 16, 16)],
            )
            .to_bytes(&none, 0),
        ),
    ]
}

/// Valid RIPng datagrams.
fn ripng_seeds() -> Vec<(String, Vec<u8>)> {
    let p = |i: u16| Ipv6Addr::new(0xa, i, 0, 0, 0, 0, 0, 0);
    let msg = |command, entries| RipngRepr { command, entries }.to_bytes();
    vec![
        (
            "seed-request-all".into(),
            msg(
                Command::Request,
                vec![ripng::Rte::route(Ipv6Addr::UNSPECIFIED, 0, 16)],
            ),
        ),
        (
            "seed-response".into(),
            msg(
                Command::Response,
                vec![
                    ripng::Rte::route(p(1), 64, 1),
                    ripng::Rte::route(
                        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9),
                        0,
                        ripng::NEXT_HOP_METRIC,
                    ),
                    ripng::Rte::route(p(2), 48, 3),
                    ripng::Rte::route(p(3), 64, 16),
                ],
            ),
        ),
        (
            "seed-response-full".into(),
            msg(
                Command::Response,
                (0..ripng::MAX_ENTRIES as u16)
                    .map(|i| ripng::Rte::route(p(i), 64, 1 + (i % 16) as u8))
                    .collect(),
            ),
        ),
        (
            "seed-request-some".into(),
            msg(Command::Request, vec![ripng::Rte::route(p(5), 64, 0)]),
        ),
    ]
}

#[test]
fn rip_corpus() {
    let seeds = rip_seeds();
    replay::write_seeds(&dir("rip"), &seeds);
    for (_, s) in &seeds {
        rip::run_rip(s);
    }
    let n = replay::replay(&dir("rip"), 11, replay::mutations(64), rip::run_rip);
    assert!(n >= seeds.len());
}

#[test]
fn ripng_corpus() {
    let seeds = ripng_seeds();
    replay::write_seeds(&dir("ripng"), &seeds);
    for (_, s) in &seeds {
        rip::run_ripng(s);
    }
    let n = replay::replay(&dir("ripng"), 12, replay::mutations(64), rip::run_ripng);
    assert!(n >= seeds.len());
}
