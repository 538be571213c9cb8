//! sockstat(1) and `netstat -an` TCP states against a booted kernel, over the
//! default vimage's loopback: our `nc -l` listening shows as `LISTEN` in
//! netstat and as an `nc` row in `sockstat -4 -l`; once our `nc` client
//! connects, both ends show `ESTABLISHED` and `sockstat -4 -c` lists them with
//! their addresses; when the client goes, its end lingers in `TIME_WAIT`.  Every tool runs from our build directory by path.

mod common;
use common::*;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Spawn `tool args` with piped stdio.
fn spawn(vk: &Vk, t: &str, args: &[&str]) -> Child {
    vk.cmd(t)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Run `tool args` until its output satisfies `ok` (at most 10 s); that output.
fn until(vk: &Vk, t: &str, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let o = vk.ok(t, args);
        if ok(&o) {
            return o;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{t} {args:?} never matched:\n{o}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop a child the test started.
fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn listen_then_established_in_netstat_and_sockstat() {
    for t in ["nc", "sockstat", "netstat"] {
        if !bindir().join(t).exists() {
            eprintln!("skipping: {t} not built (cargo build --workspace)");
            return;
        }
    }
    let vk = Vk::boot("sockstat");
    vk.ok("ifconfig", &["lo0", "127.0.0.1/8"]);
    let srv = spawn(&vk, "nc", &["-l", "9100"]);
    let pid = srv.id().to_string();
    let listen_row = "tcp4       0      0 *.9100                 *.*                    LISTEN";
    let o = until(&vk, "netstat", &["-an"], |o| o.contains(listen_row));
    assert!(
        o.starts_with(
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n"
        ),
        "{o}"
    );
    // Without -a the listener is a server and not shown.
    assert!(!vk.ok("netstat", &["-n"]).contains("LISTEN"));

    let o = vk.ok("sockstat", &["-4", "-l"]);
    let mut lines = o.lines();
    assert_eq!(
        lines.next(),
        Some("USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS      ")
    );
    let row: Vec<&str> = lines
        .find(|l| l.contains("*:9100"))
        .unwrap_or_else(|| panic!("no listener row:\n{o}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        row[1..],
        ["nc", pid.as_str(), row[3], "tcp4", "*:9100", "*:*"]
    );
    // Connected only, IPv6 only: not there.
    assert!(!vk.ok("sockstat", &["-4", "-c"]).contains(":9100"));
    assert!(!vk.ok("sockstat", &["-6"]).contains(":9100"));
    // Bad option: usage, exit 1.
    let (c, _, e) = vk.run("sockstat", &["-x"]);
    assert_eq!(c, 1);
    assert!(
        e.ends_with("usage: sockstat [-46clu] [-p ports] [-P protocols]\n"),
        "{e}"
    );
    // -p and -P: by port (local or foreign) and by protocol.
    assert!(vk.ok("sockstat", &["-p", "9000-9200"]).contains("*:9100"));
    assert!(!vk.ok("sockstat", &["-p", "22,80"]).contains("*:9100"));
    assert!(vk.ok("sockstat", &["-P", "tcp"]).contains("*:9100"));
    assert!(!vk.ok("sockstat", &["-Pudp"]).contains("*:9100"));
    let (c, _, e) = vk.run("sockstat", &["-P", "icmp"]);
    assert_eq!(
        (c, e.lines().next()),
        (1, Some("sockstat: unknown protocol: icmp"))
    );

    let cli = spawn(&vk, "nc", &["127.0.0.1", "9100"]);
    let o = until(&vk, "netstat", &["-an", "-p", "tcp"], |o| {
        o.matches("ESTABLISHED").count() == 2
    });
    let est: Vec<&str> = o.lines().filter(|l| l.contains("ESTABLISHED")).collect();
    assert!(
        est.iter()
            .any(|l| l.starts_with("tcp4       0      0 127.0.0.1.9100         127.0.0.1.")),
        "{o}"
    );
    let o = until(&vk, "sockstat", &["-4", "-c"], |o| {
        o.lines().filter(|l| l.contains("127.0.0.1:9100")).count() == 2
    });
    let cpid = cli.id().to_string();
    assert!(
        o.lines().any(|l| l.contains(&format!(" {cpid} "))
            && l.contains("tcp4")
            && l.split_whitespace().last() == Some("127.0.0.1:9100")),
        "{o}"
    );
    assert!(
        o.lines().any(|l| l.contains(&format!(" {pid} "))
            && l.split_whitespace().nth(5) == Some("127.0.0.1:9100")),
        "{o}"
    );
    // The client closes first: its end waits in TIME_WAIT, owned by no one.
    stop(cli);
    until(&vk, "netstat", &["-an", "-p", "tcp"], |o| {
        o.lines()
            .any(|l| l.contains(" 127.0.0.1.9100 ") && l.ends_with("TIME_WAIT"))
    });
    stop(srv);
    vk.halt();
}
