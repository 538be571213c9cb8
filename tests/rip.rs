//! RIP in vimages: three routers in a line (eifaces wired back to back),
//! `routed` (and `route6d`) in each with lab timers; the far ends learn each
//! other's networks (`UG1` in `netstat -rn`, ping passes), a daemon killed
//! with SIGTERM withdraws its routes, a silently broken link times out.

mod common;

use common::{tool, vok, vrun, Vk};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Lab timers: updates every 1.5 s, routes expire after 9 s.
const LAB: &str = "timescale=20";

/// n1 (eth0) — (eth0) n2 (eth1) — (eth0) n3 (eth1: a stub network).
/// Link n2–n3 is ngeth2:–ngeth3: in the default vimage's netgraph.
fn line(vk: &Vk, v6: bool) {
    for _ in 0..5 {
        vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    }
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    vk.ok(
        "ngctl",
        &["connect", "ngeth2:", "ngeth3:", "ether", "ether"],
    );
    for n in ["n1", "n2", "n3"] {
        vk.ok("vimage", &["-c", n]);
    }
    for (v, i) in [
        ("n1", "ngeth0"),
        ("n2", "ngeth1"),
        ("n2", "ngeth2"),
        ("n3", "ngeth3"),
        ("n3", "ngeth4"),
    ] {
        vk.ok("vimage", &["-i", v, i]);
    }
    let addrs = [
        ("n1", "eth0", "01", "10.0.1.1/24", "a:1::1/64"),
        ("n2", "eth0", "02", "10.0.1.2/24", "a:1::2/64"),
        ("n2", "eth1", "03", "10.0.2.1/24", "a:2::1/64"),
        ("n3", "eth0", "04", "10.0.2.2/24", "a:2::2/64"),
        ("n3", "eth1", "05", "10.0.3.1/24", "a:3::1/64"),
    ];
    for (v, i, mac, a4, a6) in addrs {
        vok(
            vk,
            v,
            "ifconfig",
            &[i, "link", &format!("40:a:b:c:d:{mac}")],
        );
        if v6 {
            vok(vk, v, "ifconfig", &[i, "inet6", a6, "up"]);
        } else {
            vok(vk, v, "ifconfig", &[i, a4]);
        }
    }
    let fwd = if v6 {
        "net.inet6.ip6.forwarding=1"
    } else {
        "net.inet.ip.forwarding=1"
    };
    for n in ["n1", "n2", "n3"] {
        vok(vk, n, "sysctl", &[fwd]);
    }
}

/// `vimage V DAEMON ARGS…` in the foreground, as a child to signal.
fn daemon_fg(vk: &Vk, v: &str, daemon: &str, args: &[&str]) -> Child {
    let p = tool(daemon);
    vk.cmd("vimage")
        .arg(v)
        .arg(&p)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn daemon")
}

/// SIGTERM to a foreground daemon (vimage passes it on), and its end.
fn term(mut c: Child) {
    // SAFETY: kill(2) of our own child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let t0 = Instant::now();
    while c.try_wait().expect("wait").is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `netstat -rn` of the family in `v`.
fn routes(vk: &Vk, v: &str, v6: bool) -> String {
    vok(
        vk,
        v,
        "netstat",
        &["-rnf", if v6 { "inet6" } else { "inet" }],
    )
}

/// The line of `netstat -rn` in `v` for destination `dst`.
fn route_line(vk: &Vk, v: &str, v6: bool, dst: &str) -> Option<String> {
    routes(vk, v, v6)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(dst))
        .map(str::to_string)
}

/// Wait up to `secs` for `f`; the time it took.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        if f() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A learned route: gateway `gw` (prefix of it), flags `UG1`.
fn learned(l: &Option<String>, gw: &str) -> bool {
    l.as_ref().is_some_and(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1).is_some_and(|g| g.starts_with(gw)) && f.get(2) == Some(&"UG1")
    })
}

#[test]
fn routed_learns_withdraws_and_times_out() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE (three vimages)");
        return;
    }
    let vk = Vk::boot("rip4");
    line(&vk, false);
    // n1's routed is a real daemon: the command returns at once.
    let t0 = Instant::now();
    let st = vk
        .cmd("vimage")
        .args(["n1", &tool("routed"), "-s", "-P", LAB])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("routed");
    assert!(st.success());
    assert!(t0.elapsed() < Duration::from_secs(5));
    let trace = std::env::temp_dir().join(format!("rip4-n2-{}.trace", std::process::id()));
    let tr = trace.display().to_string();
    let n2 = daemon_fg(
        &vk,
        "n2",
        "routed",
        &["-s", "-d", "-t", "-T", &tr, "-P", LAB],
    );
    let n3 = daemon_fg(&vk, "n3", "routed", &["-s", "-d", "-P", LAB]);
    wait_for(20, "n1 learns n3's stub network", || {
        learned(&route_line(&vk, "n1", false, "10.0.3.0/24"), "10.0.1.2")
    });
    wait_for(20, "n3 learns n1's network", || {
        learned(&route_line(&vk, "n3", false, "10.0.1.0/24"), "10.0.2.1")
    });
    assert!(learned(
        &route_line(&vk, "n1", false, "10.0.2.0/24"),
        "10.0.1.2"
    ));
    // Connected networks stay the kernel's.
    let l = route_line(&vk, "n1", false, "10.0.1.0/24").expect("connected");
    assert!(l.contains("link#"), "{l}");
    vok(&vk, "n1", "ping", &["-c", "2", "10.0.3.1"]);
    // The daemon's socket on the `router` port.
    let socks = vok(&vk, "n2", "netstat", &["-anf", "inet"]);
    assert!(socks.contains("*.520"), "{socks}");
    // SIGTERM: n3 withdraws from its kernel at once and poisons its routes:
    // n1 loses the stub network in a few seconds, not after a timeout.
    term(n3);
    assert_eq!(route_line(&vk, "n3", false, "10.0.1.0/24"), None);
    let took = wait_for(8, "n1 drops n3's stub network", || {
        route_line(&vk, "n1", false, "10.0.3.0/24").is_none()
    });
    assert!(took < Duration::from_secs(8));
    // Back again.  An interface that goes down is noticed (routing socket
    // or rescan) and its network withdrawn; up again, it comes back.
    let n3 = daemon_fg(&vk, "n3", "routed", &["-s", "-d", "-P", LAB]);
    wait_for(20, "n1 relearns n3's stub network", || {
        learned(&route_line(&vk, "n1", false, "10.0.3.0/24"), "10.0.1.2")
    });
    vok(&vk, "n3", "ifconfig", &["eth1", "down"]);
    wait_for(15, "n1 drops the stub network that went down", || {
        route_line(&vk, "n1", false, "10.0.3.0/24").is_none()
    });
    vok(&vk, "n3", "ifconfig", &["eth1", "up"]);
    wait_for(20, "n1 learns it again", || {
        learned(&route_line(&vk, "n1", false, "10.0.3.0/24"), "10.0.1.2")
    });
    // Garbage on the RIP port does not hurt a daemon.
    for junk in [
        "x",
        r"\002\002\000\000",
        r"\002\011\000\000garbagegarbagegarbag",
        r"\002\002\000\000\000\002\000\000\012\000\000\000\377\377\377\000\000\000\000\000\000\000\000\021",
    ] {
        let sh = format!("printf '{junk}' | {} -u -w 1 10.0.1.2 520", tool("nc"));
        let _ = vrun(&vk, "n1", "/bin/sh", &["-c", &sh]);
    }
    assert!(learned(
        &route_line(&vk, "n1", false, "10.0.3.0/24"),
        "10.0.1.2"
    ));
    let t = std::fs::read_to_string(&trace).expect("trace");
    for why in ["truncated message", "bad version", "bad metric"] {
        assert!(t.contains("bad packet from 10.0.1.1:"), "{t}");
        assert!(t.contains(why), "{why}: {t}");
    }
    let _ = std::fs::remove_file(&trace);
    // A static route of n3's kernel (`route add`) is advertised, and
    // withdrawn when it is deleted.
    vok(&vk, "n3", "route", &["add", "10.0.9.0/24", "10.0.3.7"]);
    wait_for(15, "n1 learns n3's static route", || {
        learned(&route_line(&vk, "n1", false, "10.0.9.0/24"), "10.0.1.2")
    });
    let l = route_line(&vk, "n3", false, "10.0.9.0/24").expect("static");
    assert!(l.contains("UGS"), "{l}");
    vok(&vk, "n3", "route", &["delete", "10.0.9.0/24"]);
    wait_for(15, "n1 drops it", || {
        route_line(&vk, "n1", false, "10.0.9.0/24").is_none()
    });
    // Then the n2–n3 cable is pulled without a word: n2's route times out
    // (9 s) and n1 follows.
    vk.ok("ngctl", &["rmhook", "ngeth2:", "ether"]);
    let took = wait_for(40, "the route through the broken link times out", || {
        route_line(&vk, "n1", false, "10.0.3.0/24").is_none()
    });
    assert!(took >= Duration::from_secs(4), "{took:?}");
    let (c, _, _) = vrun(&vk, "n1", "ping", &["-c", "1", "-t", "2", "10.0.3.1"]);
    assert_ne!(c, 0);
    term(n3);
    let mut n2 = n2;
    assert!(n2.try_wait().expect("wait").is_none(), "n2's routed died");
    term(n2);
    vk.halt();
}

#[test]
fn route6d_learns_and_withdraws() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE (three vimages)");
        return;
    }
    let vk = Vk::boot("rip6");
    line(&vk, true);
    let d: Vec<Child> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| daemon_fg(&vk, n, "route6d", &["-d", "-P", LAB]))
        .collect();
    wait_for(30, "n1 learns a:3::/64", || {
        learned(&route_line(&vk, "n1", true, "a:3::/64"), "fe80::")
    });
    wait_for(30, "n3 learns a:1::/64", || {
        learned(&route_line(&vk, "n3", true, "a:1::/64"), "fe80::")
    });
    let l = route_line(&vk, "n1", true, "a:3::/64").expect("route");
    assert!(l.contains("%eth0"), "{l}");
    vok(&vk, "n1", "ping6", &["-c", "2", "a:3::1"]);
    let mut d = d.into_iter();
    let (n1, n2, n3) = (d.next(), d.next(), d.next());
    term(n3.expect("n3"));
    assert_eq!(route_line(&vk, "n3", true, "a:1::/64"), None);
    wait_for(8, "n1 drops a:3::/64", || {
        route_line(&vk, "n1", true, "a:3::/64").is_none()
    });
    term(n2.expect("n2"));
    term(n1.expect("n1"));
    vk.halt();
}

#[test]
fn options_are_checked_as_freebsd_does() {
    let vk = Vk::boot("ripopt");
    let (c, _, e) = vk.run("routed", &["-x"]);
    assert_eq!(c, 1);
    assert!(
        e.starts_with("routed: illegal option -- x\nusage: routed"),
        "{e}"
    );
    let (c, _, e) = vk.run("routed", &["-P", "bogus"]);
    assert_eq!((c, e.trim_end()), (1, "routed: bad parameter \"bogus\""));
    let (c, _, e) = vk.run("route6d", &["-L", "a::/16,eth0"]);
    assert_eq!(c, 1);
    assert!(e.contains("not supported"), "{e}");
    let (c, _, e) = vk.run("route6d", &["extra"]);
    assert_eq!(c, 1);
    assert!(e.starts_with("usage: route6d"), "{e}");
    vk.halt();
}
