//! IPv6 scenarios against a booted kernel, typed as a user types them: two
//! vimages joined by eifaces, `ifconfig eth0 up` giving the tutorial's
//! link-local line, ping6 over link-local and global addresses, ndp, traceroute6,
//! and the tools' error messages.  Every tool runs from our build directory.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// Two vimages n0 and n1 whose eth0s (40:00:aa:aa:00:03 and :04) are wired
/// back to back, loopbacks and interfaces up, link-local addresses out of DAD.
fn pair(tag: &str) -> Vk {
    let vk = Vk::boot(tag);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    for (n, e, m) in [("n0", "ngeth0", "03"), ("n1", "ngeth1", "04")] {
        vk.ok("vimage", &["-c", n]);
        assert_eq!(vk.ok("vimage", &["-i", n, e]), format!("eth0@{n}\n"));
        vk.ok(
            "vimage",
            &[
                n,
                "ifconfig",
                "eth0",
                "link",
                &format!("40:00:aa:aa:00:{m}"),
            ],
        );
        vk.ok("vimage", &[n, "ifconfig", "lo0", "up"]);
        vk.ok("vimage", &[n, "ifconfig", "eth0", "up"]);
    }
    settle(&vk, "n0");
    settle(&vk, "n1");
    vk
}

/// Wait until no address of vimage `n` is tentative (DAD takes a second).
fn settle(vk: &Vk, n: &str) {
    let t0 = Instant::now();
    while vk.ok("vimage", &[n, "ifconfig"]).contains("tentative") {
        assert!(t0.elapsed() < Duration::from_secs(10), "DAD never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lines of `out` with trailing blanks cut (ifconfig ends tokens in a space).
fn lines(out: &str) -> Vec<String> {
    out.lines().map(|l| l.trim_end().to_string()).collect()
}

#[test]
fn ifconfig_up_shows_the_tutorial_link_local_lines() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = pair("in6-ifc");
    let out = vk.ok("vimage", &["n0", "ifconfig"]);
    assert_eq!(
        lines(&out),
        [
            "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384",
            "\tinet6 ::1 prefixlen 128",
            "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1",
            "eth0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500",
            "\tether 40:00:aa:aa:00:03",
            "\tinet6 fe80::4200:aaff:feaa:3%eth0 prefixlen 64 scopeid 0x2",
        ],
        "{out}"
    );
    // FreeBSD ends every token of an inet6 line with a blank.
    assert!(out.contains("\tinet6 fe80::4200:aaff:feaa:3%eth0 prefixlen 64 scopeid 0x2 \n"));
    // A global address, shown after the link-local one; removing it twice.
    vk.ok(
        "vimage",
        &[
            "n0",
            "ifconfig",
            "eth0",
            "inet6",
            "a:1::2",
            "prefixlen",
            "64",
        ],
    );
    settle(&vk, "n0");
    let out = vk.ok("vimage", &["n0", "ifconfig", "eth0", "inet6"]);
    assert_eq!(
        lines(&out)[1..],
        [
            "\tinet6 fe80::4200:aaff:feaa:3%eth0 prefixlen 64 scopeid 0x2",
            "\tinet6 a:1::2 prefixlen 64",
        ],
        "{out}"
    );
    vk.ok(
        "vimage",
        &["n0", "ifconfig", "eth0", "inet6", "a:1::2", "-alias"],
    );
    let (c, _, e) = vk.run(
        "vimage",
        &["n0", "ifconfig", "eth0", "inet6", "a:1::2", "-alias"],
    );
    assert_eq!(c, 1);
    assert_eq!(
        e.trim_end(),
        "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address"
    );
    let (c, _, e) = vk.run("vimage", &["n0", "ifconfig", "eth0", "inet6", "zz::1"]);
    assert_eq!((c, e.trim_end()), (1, "ifconfig: zz::1: bad value"));
    vk.halt();
}

#[test]
fn ping6_ndp_and_traceroute6_between_two_vimages() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = pair("in6-ping");
    let out = vk.ok(
        "vimage",
        &["n0", "ping6", "-c", "2", "fe80::4200:aaff:feaa:4%eth0"],
    );
    let l = lines(&out);
    assert_eq!(
        l[0],
        "PING6(56=40+8+8 bytes) fe80::4200:aaff:feaa:3%eth0 --> fe80::4200:aaff:feaa:4%eth0"
    );
    for (i, seq) in [(1, 0), (2, 1)] {
        let p = format!("16 bytes from fe80::4200:aaff:feaa:4%eth0, icmp_seq={seq} hlim=64 time=");
        assert!(l[i].starts_with(&p) && l[i].ends_with(" ms"), "{out}");
    }
    assert_eq!(l[3], "");
    assert_eq!(l[4], "--- fe80::4200:aaff:feaa:4%eth0 ping6 statistics ---");
    assert_eq!(
        l[5],
        "2 packets transmitted, 2 packets received, 0.0% packet loss"
    );
    assert!(
        l[6].starts_with("round-trip min/avg/max/std-dev = "),
        "{out}"
    );
    // Global addresses on the link.
    vk.ok("vimage", &["n0", "ifconfig", "eth0", "inet6", "a:1::1/64"]);
    vk.ok(
        "vimage",
        &[
            "n1",
            "ifconfig",
            "eth0",
            "inet6",
            "a:1::2",
            "prefixlen",
            "64",
        ],
    );
    settle(&vk, "n0");
    settle(&vk, "n1");
    let out = vk.ok("vimage", &["n1", "ping6", "-c", "1", "-h", "7", "a:1::1"]);
    assert!(
        out.starts_with("PING6(56=40+8+8 bytes) a:1::2 --> a:1::1\n"),
        "{out}"
    );
    assert!(
        out.contains("16 bytes from a:1::1, icmp_seq=0 hlim=64 time="),
        "{out}"
    );
    // ndp -a in n0: the neighbours learned, our own addresses permanent.
    let out = vk.ok("vimage", &["n0", "ndp", "-an"]);
    let l = lines(&out);
    assert_eq!(
        l[0],
        "Neighbor                             Linklayer Address  Netif Expire    S Flags"
    );
    assert!(
        l.iter()
            .any(|r| r
                == "a:1::1                               40:00:aa:aa:00:03   eth0 permanent R"),
        "{out}"
    );
    assert!(
        l.iter().any(
            |r| r.starts_with("fe80::4200:aaff:feaa:4%eth0          40:00:aa:aa:00:04   eth0 ")
        ),
        "{out}"
    );
    let out = vk.ok("vimage", &["n0", "ndp", "-d", "a:1::2"]);
    assert_eq!(out, "a:1::2 (a:1::2) deleted\n");
    let (c, o, _) = vk.run("vimage", &["n0", "ndp", "a:1::2"]);
    assert_eq!(c, 1);
    assert!(o.ends_with("a:1::2 (a:1::2) -- no entry\n"), "{o}");
    // traceroute6 to the neighbour: one hop, port unreachable.
    let (c, o, e) = vk.run("vimage", &["n0", "traceroute6", "-n", "-q", "2", "a:1::2"]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(
        e.trim_end(),
        "traceroute6 to a:1::2 (a:1::2) from a:1::1, 64 hops max, 12 byte packets"
    );
    let l = lines(&o);
    assert_eq!(l.len(), 1, "{o}");
    assert!(
        l[0].starts_with(" 1  a:1::2  ") && l[0].ends_with(" ms"),
        "{o}"
    );
    vk.halt();
}

#[test]
fn ping6_errors_are_freebsds() {
    let vk = Vk::boot("in6-err");
    let (c, _, e) = vk.run("ping6", &[]);
    assert_eq!(c, 1);
    assert!(e.starts_with("usage: ping6 [-DdfHmnNoqrRtvwW]"), "{e}");
    vk.fails(
        "ping6",
        &["-c", "0", "::1"],
        "ping6: illegal number of packets -- 0",
    );
    vk.fails(
        "ping6",
        &["-h", "300", "::1"],
        "ping6: illegal hoplimit -- 300",
    );
    vk.fails(
        "ping6",
        &["nosuchhost"],
        "ping6: hostname nor servname provided, or not known",
    );
    // lo0 is down at boot: nothing routes to ::1 ... and a:9::9 has no route.
    vk.ok("ifconfig", &["lo0", "up"]);
    vk.fails("ping6", &["a:9::9"], "ping6: UDP connect: No route to host");
    let out = vk.ok("ping6", &["-c", "1", "::1"]);
    assert!(
        out.starts_with("PING6(56=40+8+8 bytes) ::1 --> ::1\n"),
        "{out}"
    );
    assert!(
        out.contains("16 bytes from ::1, icmp_seq=0 hlim=64 time="),
        "{out}"
    );
    let (c, o, _) = vk.run("ndp", &["-x"]);
    assert_eq!(c, 1);
    assert!(o.starts_with("usage: ndp [-nt] hostname\n"), "{o}");
    vk.halt();
}

#[test]
fn ping6_and_traceroute6_across_a_router_vimage() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("in6-rtr");
    for _ in 0..4 {
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
    for n in ["h0", "r", "h1"] {
        vk.ok("vimage", &["-c", n]);
        vk.ok("vimage", &[n, "ifconfig", "lo0", "up"]);
    }
    for (n, e) in [
        ("h0", "ngeth0"),
        ("r", "ngeth1"),
        ("r", "ngeth2"),
        ("h1", "ngeth3"),
    ] {
        vk.ok("vimage", &["-i", n, e]);
    }
    for (n, i, m, a) in [
        ("h0", "eth0", "10", "a:1::2"),
        ("r", "eth0", "11", "a:1::1"),
        ("r", "eth1", "12", "a:2::1"),
        ("h1", "eth0", "13", "a:2::2"),
    ] {
        vk.ok(
            "vimage",
            &[n, "ifconfig", i, "link", &format!("40:00:aa:aa:00:{m}")],
        );
        vk.ok("vimage", &[n, "ifconfig", i, "up"]);
        vk.ok("vimage", &[n, "ifconfig", i, "inet6", a, "prefixlen", "64"]);
    }
    for n in ["h0", "r", "h1"] {
        settle(&vk, n);
    }
    vk.ok(
        "vimage",
        &["h0", "route", "add", "-inet6", "default", "a:1::1"],
    );
    vk.ok(
        "vimage",
        &["h1", "route", "add", "-inet6", "default", "a:2::1"],
    );
    // Not a router yet: nothing comes back (ping6 then waits 10 s, so it
    // runs in the background while the rest goes on).
    let lonely = vk
        .cmd("vimage")
        .args(["h0", "ping6", "-c", "1", "a:2::2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ping6");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        vk.ok("vimage", &["r", "sysctl", "net.inet6.ip6.forwarding=1"]),
        "net.inet6.ip6.forwarding: 0 -> 1\n"
    );
    let out = vk.ok("vimage", &["h0", "ping6", "-c", "1", "a:2::2"]);
    assert!(
        out.starts_with("PING6(56=40+8+8 bytes) a:1::2 --> a:2::2\n"),
        "{out}"
    );
    assert!(
        out.contains("16 bytes from a:2::2, icmp_seq=0 hlim=63 time="),
        "{out}"
    );
    // With -v the router's time exceeded shows.
    let expiring = vk
        .cmd("vimage")
        .args(["h0", "ping6", "-v", "-c", "1", "-h", "1", "a:2::2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ping6");
    // Two hops to h1.
    let (c, o, e) = vk.run("vimage", &["h0", "traceroute6", "-n", "-q", "1", "a:2::2"]);
    assert_eq!(c, 0, "{e}");
    let l = lines(&o);
    assert_eq!(l.len(), 2, "{o}");
    assert!(
        l[0].starts_with(" 1  a:1::1  ") && l[0].ends_with(" ms"),
        "{o}"
    );
    assert!(
        l[1].starts_with(" 2  a:2::2  ") && l[1].ends_with(" ms"),
        "{o}"
    );
    // The router's neighbours on both sides.
    let out = vk.ok("vimage", &["r", "ndp", "-an"]);
    assert!(out.contains("\na:1::2 "), "{out}");
    assert!(out.contains("\na:2::2 "), "{out}");
    let o = lonely.wait_with_output().expect("ping6");
    let o = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.contains("1 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{o}"
    );
    let o = expiring.wait_with_output().expect("ping6");
    let o = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.contains("bytes from a:1::1: Time to live exceeded"),
        "{o}"
    );
    vk.halt();
}
