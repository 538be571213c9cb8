//! IPv4 scenarios against a booted kernel, typed as a user types them: the
//! tutorial's Exercise 1 end to end (three vimages, four eifaces wired two by
//! two, addresses, a default route, a router, ping and traceroute across), and
//! the tools' error messages.
//!
//! Every tool runs from our build directory by absolute path, also inside
//! vimages, so no host ping/traceroute/arp is ever involved; all traffic stays
//! inside the private kernel.

mod common;
use common::*;

/// `route add default GW` in `v`: route(8) when it is built, else nothing (the
/// caller then checks only what does not need the default route).
fn default_route(vk: &Vk, v: &str, gw: &str) -> bool {
    if !bindir().join("route").exists() {
        eprintln!("route(8) not built: skipping the default route in {v}");
        return false;
    }
    let out = vok(vk, v, "route", &["add", "default", gw]);
    assert_eq!(out, format!("add net default: gateway {gw}\n"));
    true
}

#[test]
fn exercise1_configure_and_check_connectivity() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("inet-ex1");
    for v in ["n0", "n1", "n2"] {
        vk.ok("vimage", &["-c", v]);
    }
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
    // n1 is the tutorial's host (10.0.0.20, default via 10.0.0.1); n0 routes
    // between its link and n2's.
    assert_eq!(vk.ok("vimage", &["-i", "n0", "ngeth0"]), "eth0@n0\n");
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth1"]), "eth0@n1\n");
    assert_eq!(vk.ok("vimage", &["-i", "n0", "ngeth2"]), "eth1@n0\n");
    assert_eq!(vk.ok("vimage", &["-i", "n2", "ngeth3"]), "eth0@n2\n");
    // "Exercise 1: configure virtual nodes", before configuration.
    assert_eq!(
        vok(&vk, "n1", "ifconfig", &[]),
        "lo0: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n\
         eth0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
         \tether 00:00:00:00:00:00\n"
    );
    // n1, step by step as in the tutorial.
    vok(&vk, "n1", "ifconfig", &["lo0", "localhost"]);
    vok(&vk, "n1", "ifconfig", &["eth0", "link", "40:a:b:c:d:01"]);
    vok(&vk, "n1", "ifconfig", &["eth0", "10.0.0.20/24"]);
    let routed = default_route(&vk, "n1", "10.0.0.1");
    vok(&vk, "n1", "hostname", &["n1"]);
    // The router.
    vok(&vk, "n0", "ifconfig", &["lo0", "localhost"]);
    vok(&vk, "n0", "ifconfig", &["eth0", "link", "40:a:b:c:d:00"]);
    vok(&vk, "n0", "ifconfig", &["eth0", "10.0.0.1/24"]);
    vok(&vk, "n0", "ifconfig", &["eth1", "link", "40:a:b:c:d:02"]);
    vok(
        &vk,
        "n0",
        "ifconfig",
        &["eth1", "inet", "10.0.1.1", "netmask", "0xffffff00"],
    );
    assert_eq!(
        vok(&vk, "n0", "sysctl", &["net.inet.ip.forwarding=1"]),
        "net.inet.ip.forwarding: 0 -> 1\n"
    );
    vok(&vk, "n0", "hostname", &["n0"]);
    // The far host.
    vok(&vk, "n2", "ifconfig", &["lo0", "localhost"]);
    vok(&vk, "n2", "ifconfig", &["eth0", "link", "40:a:b:c:d:03"]);
    vok(
        &vk,
        "n2",
        "ifconfig",
        &["eth0", "10.0.1.20", "netmask", "255.255.255.0"],
    );
    default_route(&vk, "n2", "10.0.1.1");
    vok(&vk, "n2", "hostname", &["n2"]);

    // n1's interfaces, laid out as FreeBSD 7 prints them: coming up with
    // their first address, they got their IPv6 link-local addresses too
    // (the tutorial's e0_n1 listing), once duplicate address detection is
    // over no longer `tentative`.
    let six = cfg!(feature = "inet6");
    let mut want = String::from(
        "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n\
         \tinet 127.0.0.1 netmask 0xff000000 \n",
    );
    if six {
        want.push_str(
            "\tinet6 ::1 prefixlen 128 \n\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1 \n",
        );
    }
    want.push_str(
        "eth0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
         \tether 40:0a:0b:0c:0d:01\n\
         \tinet 10.0.0.20 netmask 0xffffff00 broadcast 10.0.0.255\n",
    );
    if six {
        want.push_str("\tinet6 fe80::420a:bff:fe0c:d01%eth0 prefixlen 64 scopeid 0x2 \n");
    }
    assert_eq!(settled(&vk, "n1", &[]), want);
    let mut want = String::from(
        "eth1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
         \tether 40:0a:0b:0c:0d:02\n\
         \tinet 10.0.1.1 netmask 0xffffff00 broadcast 10.0.1.255\n",
    );
    if six {
        want.push_str("\tinet6 fe80::420a:bff:fe0c:d02%eth1 prefixlen 64 scopeid 0x3 \n");
    }
    assert_eq!(settled(&vk, "n0", &["eth1"]), want);
    assert_eq!(
        vok(&vk, "n0", "ifconfig", &["-l", "inet"]),
        "lo0 eth0 eth1\n"
    );

    // On the link: the router answers with TTL 64.
    let out = vok(&vk, "n1", "ping", &["-c", "2", "10.0.0.1"]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "PING 10.0.0.1 (10.0.0.1): 56 data bytes");
    assert!(
        l[1].starts_with("64 bytes from 10.0.0.1: icmp_seq=0 ttl=64 time="),
        "{out}"
    );
    assert!(
        l[2].starts_with("64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time="),
        "{out}"
    );
    assert_eq!(l[3], "");
    assert_eq!(l[4], "--- 10.0.0.1 ping statistics ---");
    assert_eq!(
        l[5],
        "2 packets transmitted, 2 packets received, 0.0% packet loss"
    );
    assert!(
        l[6].starts_with("round-trip min/avg/max/stddev = "),
        "{out}"
    );
    assert!(l[6].ends_with(" ms"), "{out}");
    // Both ends learned each other.
    let arp = vok(&vk, "n1", "arp", &["-a"]);
    assert!(
        arp.starts_with("? (10.0.0.1) at 40:0a:0b:0c:0d:00 on eth0 expires in 1")
            && arp.ends_with(" seconds [ethernet]\n"),
        "{arp}"
    );
    let arp = vok(&vk, "n0", "arp", &["-an"]);
    assert!(
        arp.contains("? (10.0.0.20) at 40:0a:0b:0c:0d:01 on eth0 expires in "),
        "{arp}"
    );

    if routed {
        // Across the router: TTL 63.
        let out = vok(&vk, "n1", "ping", &["-c", "3", "10.0.1.20"]);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[0], "PING 10.0.1.20 (10.0.1.20): 56 data bytes");
        for (i, line) in l[1..4].iter().enumerate() {
            let want = format!("64 bytes from 10.0.1.20: icmp_seq={i} ttl=63 time=");
            assert!(line.starts_with(&want) && line.ends_with(" ms"), "{out}");
        }
        assert_eq!(l[5], "--- 10.0.1.20 ping statistics ---");
        assert_eq!(
            l[6],
            "3 packets transmitted, 3 packets received, 0.0% packet loss"
        );
        // traceroute: the router, then the host (header on stderr).
        let (c, out, err) = vrun(&vk, "n1", "traceroute", &["10.0.1.20"]);
        assert_eq!(c, 0, "{err}");
        assert_eq!(
            err,
            "traceroute to 10.0.1.20 (10.0.1.20), 64 hops max, 40 byte packets\n"
        );
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l.len(), 2, "{out}");
        assert!(l[0].starts_with(" 1  10.0.0.1 (10.0.0.1)  "), "{out}");
        assert!(l[1].starts_with(" 2  10.0.1.20 (10.0.1.20)  "), "{out}");
        for x in &l {
            assert_eq!(x.matches(" ms").count(), 3, "{out}");
        }
        let out = vok(&vk, "n1", "traceroute", &["-n", "-q", "1", "10.0.1.20"]);
        assert!(out.starts_with(" 1  10.0.0.1  "), "{out}");
        // n1's routing table in the tutorial's layout (Use and Expire
        // masked: they count); its ARP entry for the router is a `UHLW` host
        // route with the MAC as gateway, as in 7.x.
        if bindir().join("netstat").exists() {
            let out = vok(&vk, "n1", "netstat", &["-rnf", "inet"]);
            let mask = |l: &str| {
                let mut w: Vec<&str> = l.split_whitespace().collect();
                if w.len() >= 6 && w[3].parse::<u64>().is_ok() {
                    w[4] = "N";
                }
                if w.len() == 7 && w[6].parse::<u64>().is_ok() {
                    w[6] = "E";
                }
                w.join(" ")
            };
            let got: Vec<String> = out.lines().map(mask).collect();
            assert_eq!(
                got,
                [
                    "Routing tables",
                    "",
                    "Internet:",
                    "Destination Gateway Flags Refs Use Netif Expire",
                    "default 10.0.0.1 UGS 0 N eth0",
                    "10.0.0.0/24 link#2 UC 0 N eth0",
                    "10.0.0.1 40:0a:0b:0c:0d:00 UHLW 1 N eth0 E",
                    "127.0.0.1 127.0.0.1 UH 0 N lo0",
                    "224.0.0.0/4 127.0.0.1 UGS 0 N lo0",
                ],
                "{out}"
            );
        }
        // The router's counters moved.
        let s = vok(&vk, "n0", "sysctl", &["-n", "net.inet.ip.forwarding"]);
        assert_eq!(s, "1\n");
    }
    // Without forwarding the router drops what is not its own.
    vok(&vk, "n0", "sysctl", &["net.inet.ip.forwarding=0"]);
    if routed {
        let (c, out, _) = vrun(&vk, "n1", "ping", &["-c", "1", "-W", "300", "10.0.1.20"]);
        assert_eq!(c, 2, "{out}");
        assert!(out.contains("1 packets transmitted, 0 packets received, 100.0% packet loss"));
    }
    for v in ["n0", "n1", "n2"] {
        vk.ok("vimage", &["-d", v]);
    }
    vk.halt();
}

#[test]
fn address_configuration_and_errors() {
    let vk = Vk::boot("inet-ifconfig");
    vk.ok("ifconfig", &["lo0", "localhost"]);
    vk.ok("ifconfig", &["lo0", "127.0.0.2/8", "alias"]);
    assert_eq!(
        vk.ok("ifconfig", &["lo0"]),
        "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n\
         \tinet6 ::1 prefixlen 128 \n\
         \tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1 \n\
         \tinet 127.0.0.1 netmask 0xff000000 \n\
         \tinet 127.0.0.2 netmask 0xff000000 \n"
    );
    vk.fails(
        "ifconfig",
        &["lo0", "127.0.0.9", "-alias"],
        "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address",
    );
    vk.ok("ifconfig", &["lo0", "127.0.0.2", "-alias"]);
    vk.fails(
        "ifconfig",
        &["lo0", "10.0.0.300"],
        "ifconfig: 10.0.0.300: bad value",
    );
    vk.fails(
        "ifconfig",
        &["lo0", "10.0.0.1/33"],
        "ifconfig: 10.0.0.1/33: bad value (width too large)",
    );
    vk.fails(
        "ifconfig",
        &["lo0", "10.0.0.1/x"],
        "ifconfig: 10.0.0.1/x: bad value (width invalid)",
    );
    vk.fails(
        "ifconfig",
        &["lo0", "10.0.0.1", "netmask"],
        "ifconfig: 'netmask' requires argument",
    );
    vk.fails(
        "ifconfig",
        &["nope0", "10.0.0.1"],
        "ifconfig: interface nope0 does not exist",
    );
    // Our own address answers through the loopback.
    let out = vk.ok("ping", &["-c", "1", "-q", "127.0.0.1"]);
    assert!(
        out.contains("1 packets transmitted, 1 packets received, 0.0% packet loss"),
        "{out}"
    );
    // No route: sendto fails, ping goes on, nothing comes back.
    let (c, out, err) = vk.run("ping", &["-c", "1", "-W", "100", "10.99.0.1"]);
    assert_eq!(c, 2);
    assert_eq!(err, "ping: sendto: No route to host\n");
    assert!(out.starts_with("PING 10.99.0.1 (10.99.0.1): 56 data bytes\n"));
    vk.fails(
        "ping",
        &["-c", "0", "127.0.0.1"],
        "ping: invalid count of packets to transmit: `0'",
    );
    let (c, _, err) = vk.run("ping", &["no.such.host"]);
    assert_eq!(
        (c, err.as_str()),
        (68, "ping: cannot resolve no.such.host: Unknown host\n")
    );
    let (c, _, _) = vk.run("ping", &[]);
    assert_eq!(c, 64);
    assert_eq!(vk.ok("arp", &["-a"]), "");
    let (c, out, _) = vk.run("arp", &["127.0.0.5"]);
    assert_eq!(
        (c, out.as_str()),
        (1, "127.0.0.5 (127.0.0.5) -- no entry\n")
    );
    vk.halt();
}

#[test]
fn ping_prints_its_statistics_on_sigint() {
    let vk = Vk::boot("inet-sigint");
    vk.ok("ifconfig", &["lo0", "localhost"]);
    let child = vk
        .cmd("ping")
        .arg("127.0.0.1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ping");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling our own child by its pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l[0], "PING 127.0.0.1 (127.0.0.1): 56 data bytes");
    assert!(l.len() >= 6, "{text}");
    let n = l.len();
    assert_eq!(l[n - 4], "");
    assert_eq!(l[n - 3], "--- 127.0.0.1 ping statistics ---");
    assert!(
        l[n - 2].ends_with(" packets received, 0.0% packet loss"),
        "{text}"
    );
    assert!(
        l[n - 1].starts_with("round-trip min/avg/max/stddev = "),
        "{text}"
    );
    vk.halt();
}

/// `ifconfig ARGS` in vimage `v` once duplicate address detection is over
/// (no address `tentative`, within a few seconds).
fn settled(vk: &Vk, v: &str, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut got = vok(vk, v, "ifconfig", args);
    while got.contains("tentative") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        got = vok(vk, v, "ifconfig", args);
    }
    got
}
