//! TCP and UDP through the socket API, end to end with our nc and tcpbench:
//! the default vimage and n1 joined by two eifaces wired back to back
//! (10.0.0.1 and 10.0.0.2).  Servers run in the default vimage as direct
//! children of the test (so the test can kill them), clients in n1 through
//! `vimage n1 TOOL`.
//!
//! Every tool runs from our build directory by absolute path; all traffic
//! stays inside the private kernel.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Boot, make n1, wire default:ngeth0 (10.0.0.1) to n1:eth0 (10.0.0.2).
fn setup(tag: &str) -> Option<Vk> {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return None;
    }
    for t in ["nc", "tcpbench"] {
        if !bindir().join(t).exists() {
            eprintln!("skipping: {t} not built (cargo build --workspace)");
            return None;
        }
    }
    let vk = Vk::boot(tag);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth1"]), "eth0@n1\n");
    vk.ok("ifconfig", &["ngeth0", "link", "40:a:b:c:d:01"]);
    vk.ok("ifconfig", &["ngeth0", "10.0.0.1/24"]);
    let v = |args: &[&str]| {
        let mut a = vec!["n1", "ifconfig"];
        a.extend_from_slice(args);
        let p = tool("ifconfig");
        a[1] = &p;
        let (c, o, e) = vk.run("vimage", &a);
        assert_eq!(c, 0, "{e}{o}");
    };
    v(&["eth0", "link", "40:a:b:c:d:02"]);
    v(&["eth0", "10.0.0.2/24"]);
    Some(vk)
}

/// Spawn `tool args` in the default vimage with piped stdio.
fn spawn(vk: &Vk, t: &str, args: &[&str]) -> Child {
    vk.cmd(t)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Spawn `vimage n1 tool args` with piped stdio.
fn spawn_n1(vk: &Vk, t: &str, args: &[&str]) -> Child {
    let p = tool(t);
    let mut a = vec!["n1", p.as_str()];
    a.extend_from_slice(args);
    spawn(vk, "vimage", &a)
}

/// Wait until something listens on TCP `port` in the default vimage.
fn wait_listen(vk: &Vk, port: u16) {
    let want = format!("*.{port} ");
    let t0 = Instant::now();
    loop {
        let (_, o, _) = vk.run("netstat", &["-an", "-p", "tcp"]);
        if o.contains(&want) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no listener: {o}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A line from `r`, or a panic after 10 seconds.
fn read_line(r: impl Read + Send + 'static) -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut b = BufReader::new(r);
        loop {
            let mut l = String::new();
            match b.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let l = rx.recv_timeout(Duration::from_secs(10)).expect("a line");
    (l, rx)
}

/// Wait for `c` to exit (at most 10 s); its status code.
fn wait_exit(c: &mut Child) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = c.try_wait() {
            return st.code().unwrap_or(-1);
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = c.kill();
            panic!("process did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nc_between_vimages_data_both_ways() {
    let Some(vk) = setup("tcp-nc") else { return };
    let mut srv = spawn(&vk, "nc", &["-l", "9000"]);
    wait_listen(&vk, 9000);
    let mut cli = spawn_n1(&vk, "nc", &["-N", "10.0.0.1", "9000"]);
    let mut cin = cli.stdin.take().expect("stdin");
    let mut sin = srv.stdin.take().expect("stdin");
    cin.write_all(b"from n1\n").unwrap();
    let (l, _srx) = read_line(srv.stdout.take().expect("stdout"));
    assert_eq!(l, "from n1\n");
    sin.write_all(b"from default\n").unwrap();
    let (l, _crx) = read_line(cli.stdout.take().expect("stdout"));
    assert_eq!(l, "from default\n");
    // EOF on the client's stdin: -N shuts the connection down for writing,
    // the server sees EOF and closes, the client sees EOF: both exit 0.
    drop(cin);
    assert_eq!(wait_exit(&mut srv), 0);
    assert_eq!(wait_exit(&mut cli), 0);
    drop(sin);
}

#[test]
fn peer_killed_mid_connection_is_seen_as_eof() {
    let Some(vk) = setup("tcp-kill") else { return };
    let mut srv = spawn(&vk, "nc", &["-l", "9001"]);
    wait_listen(&vk, 9001);
    let mut cli = spawn_n1(&vk, "nc", &["10.0.0.1", "9001"]);
    let mut cin = cli.stdin.take().expect("stdin");
    cin.write_all(b"ping\n").unwrap();
    let (l, _srx) = read_line(srv.stdout.take().expect("stdout"));
    assert_eq!(l, "ping\n");
    // The server process dies holding the connection (stdin still open).
    srv.kill().expect("kill");
    let _ = srv.wait();
    // The kernel closed its socket: the client's read ends, it exits.
    assert_eq!(wait_exit(&mut cli), 0);
    drop(cin);
    // No socket of the dead process is left in the default vimage.
    let (_, o, _) = vk.run("netstat", &["-an", "-p", "tcp"]);
    assert!(!o.contains("*.9001 "), "{o}");
}

#[test]
fn nc_scan_and_udp() {
    let Some(vk) = setup("tcp-scan") else { return };
    let mut srv = spawn(&vk, "nc", &["-l", "9002"]);
    wait_listen(&vk, 9002);
    let p = tool("nc");
    let (c, o, e) = vk.run("vimage", &["n1", &p, "-v", "-z", "10.0.0.1", "9002"]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(o, "");
    assert_eq!(e, "Connection to 10.0.0.1 9002 port [tcp/*] succeeded!\n");
    let (c, _, e) = vk.run(
        "vimage",
        &["n1", &p, "-v", "-w", "2", "-z", "10.0.0.1", "9003"],
    );
    assert_eq!(c, 1);
    assert_eq!(
        e,
        "nc: connect to 10.0.0.1 port 9003 (tcp) failed: Connection refused\n"
    );
    let _ = srv.kill();
    let _ = srv.wait();

    // UDP: the listener takes the first sender's datagrams.
    let mut us = spawn(&vk, "nc", &["-u", "-l", "9004"]);
    std::thread::sleep(Duration::from_millis(300));
    let (c, _, e) = vk.run_stdin(
        "vimage",
        &["n1", &p, "-u", "-w", "1", "10.0.0.1", "9004"],
        "over udp\n",
    );
    assert_eq!(c, 0, "{e}");
    let (l, _rx) = read_line(us.stdout.take().expect("stdout"));
    assert_eq!(l, "over udp\n");
    let _ = us.kill();
    let _ = us.wait();
}

#[test]
fn tcpbench_between_vimages_for_two_seconds() {
    let Some(vk) = setup("tcp-bench") else { return };
    let mut srv = spawn(&vk, "tcpbench", &["-s"]);
    wait_listen(&vk, 12345);
    let p = tool("tcpbench");
    let t0 = Instant::now();
    let (c, o, e) = vk.run("vimage", &["n1", &p, "-t", "2", "10.0.0.1"]);
    assert_eq!(c, 0, "{e}{o}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    let l: Vec<&str> = o.lines().collect();
    assert_eq!(l[0], "  elapsed_ms          bytes         mbps   bwidth ");
    let ticks: Vec<&&str> = l.iter().filter(|x| x.ends_with("% ")).collect();
    assert!(!ticks.is_empty(), "{o}");
    for t in &ticks {
        let f: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{t}");
        assert!(f[1].parse::<u64>().unwrap() > 0, "{o}");
        assert!(f[2].parse::<f64>().unwrap() > 0.0, "{o}");
        assert_eq!(f[3], "100.00%");
    }
    assert!(o.contains("--- tcpbench client statistics ---\n"), "{o}");
    let sent = l
        .iter()
        .find(|x| x.contains(" bytes sent over "))
        .expect("summary");
    assert!(sent.split(' ').next().unwrap().parse::<u64>().unwrap() > 0);
    assert!(o.contains("bandwidth min/avg/max/std-dev = "), "{o}");
    let _ = srv.kill();
    let mut se = String::new();
    let _ = srv.wait();
    if let Some(mut x) = srv.stderr.take() {
        let _ = x.read_to_string(&mut se);
    }
    assert!(
        se.starts_with("Accepted connection from 10.0.0.2, fd = "),
        "{se}"
    );
}

#[test]
fn tcpbench_usage_keeps_its_indentation() {
    let vk = Vk::boot("tcpbench-usage");
    let (c, _, e) = vk.run("tcpbench", &["-Z"]);
    assert_eq!(c, 1);
    assert_eq!(
        e,
        "tcpbench: illegal option -- Z\n\
         usage: tcpbench -l\n       \
         tcpbench [-46] [-B buf] [-n connections] [-p port] [-r interval]\n                \
         [-t secs] hostname\n       \
         tcpbench -s [-46] [-B buf] [-p port] [-r interval] [hostname]\n"
    );
}
