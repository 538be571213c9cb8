//! `make demo`'s first part, the tutorial's Demo 1 (`scripts/demo1.sh`), run
//! as `make demo` runs it but on this build and a private socket: the
//! slides' topology comes up, RIP converges, the first traceroute from n4
//! to n3 takes three hops through n0, breaking the n1–n0 pipe makes it take
//! four through n2, restoring it brings the short way back, and the
//! teardown leaves nothing.  As root the outside link (an attached veth) is
//! part of it.

mod common;
use common::*;

use std::process::Command;

/// The hop lines (` 1  10.0.4.1  …`) of each traceroute in `out`, by their
/// addresses.
fn routes(out: &str) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = Vec::new();
    for l in out.lines() {
        if l.starts_with("traceroute to ") || l.starts_with("traceroute6 to ") {
            v.push(Vec::new());
        } else if let (Some(cur), Some(hop)) = (v.last_mut(), l.split_whitespace().nth(1)) {
            if l.starts_with(' ') && hop.parse::<std::net::IpAddr>().is_ok() {
                cur.push(hop.to_string());
            }
        }
    }
    v
}

#[test]
fn make_demo_plays_demo_1() {
    if !cfg!(feature = "vimage") || !cfg!(feature = "inet6") {
        eprintln!("skipping: Demo 1 needs options VIMAGE and INET6");
        return;
    }
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sock = std::env::temp_dir().join(format!("vk-demo1-{}.sock", std::process::id()));
    let rundir = std::env::temp_dir().join(format!("vk-demo1-run-{}", std::process::id()));
    let out = Command::new("sh")
        .arg(top.join("scripts/demo1.sh"))
        .arg(bindir())
        .env("VIMAGE_SOCKET", &sock)
        .env("IMUNES_RUNDIR", &rundir)
        .output()
        .expect("sh scripts/demo1.sh");
    let _ = std::fs::remove_dir_all(&rundir);
    let so = String::from_utf8_lossy(&out.stdout);
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo1.sh failed:\n{so}\n{se}");
    for want in [
        "Experiment ID = e0",
        "\"e0_n1\":",
        "n1# ps -ax",
        "Name: e0_n1-n0 ",
        "2 packets transmitted, 2 packets received, 0.0% packet loss",
        "Terminated experiment ID = e0",
        "There are 1 total nodes:",
    ] {
        assert!(so.contains(want), "{want:?} missing:\n{so}");
    }
    // n1's routes as the slides show them: learned ones UG1.
    assert!(
        so.lines()
            .any(|l| l.starts_with("10.0.3.0/24") && l.contains("UG1")),
        "{so}"
    );
    let r = routes(&so);
    let short = ["10.0.4.1", "10.0.1.1", "10.0.3.2"];
    let long = ["10.0.4.1", "10.0.2.2", "10.0.0.1", "10.0.3.2"];
    assert!(r.len() >= 4, "{so}");
    assert_eq!(r[0], short, "first traceroute:\n{so}");
    assert_eq!(r[1], ["a:4::1", "a:1::1", "a:3::2"], "traceroute6:\n{so}");
    assert_eq!(r[2], long, "after the break:\n{so}");
    assert_eq!(r[3], short, "restored:\n{so}");
    // As root the outside world joined: Linux's ping reached n4.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 && !so.contains("# skipped:") {
        assert!(so.contains("2 packets transmitted, 2 received"), "{so}");
        assert_eq!(
            r.get(4).map(|h| h.last().cloned()),
            Some(Some("192.168.200.2".into())),
            "{so}"
        );
    }
}
