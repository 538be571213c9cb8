//! route(8) and netstat -r scenarios against a booted kernel: the tutorial's
//! `route add default 10.0.0.1` and `netstat -rnf inet`, errors as FreeBSD
//! prints them, route get, monitor, flush, and tables private to each vimage.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const HEADER: &str = "Destination      Gateway          Flags    Refs      Use  Netif  Expire";

/// A kernel with an Ethernet interface `edsc0` at 10.0.0.20/24.
fn with_edsc(tag: &str) -> Vk {
    let vk = Vk::boot(tag);
    vk.ok("ifconfig", &["lo0", "inet", "127.0.0.1/8"]);
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("ifconfig", &["edsc", "create"]);
    vk.ok("ifconfig", &["edsc0", "inet", "10.0.0.20/24", "up"]);
    vk
}

/// The IPv4 rows of `netstat -rnf inet` (after the header).
fn rows(vk: &Vk, pre: &[&str]) -> Vec<String> {
    let mut args: Vec<&str> = pre.to_vec();
    let tool = if pre.is_empty() { "netstat" } else { "vimage" };
    if !pre.is_empty() {
        args.push("netstat");
    }
    args.extend(["-rnf", "inet"]);
    let out = vk.ok(tool, &args);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("Routing tables"), "{out}");
    assert_eq!(l.next(), Some(""), "{out}");
    assert_eq!(l.next(), Some("Internet:"), "{out}");
    assert_eq!(l.next(), Some(HEADER), "{out}");
    l.map(str::to_string).collect()
}

#[test]
fn add_default_and_the_tutorial_table_layout() {
    let vk = with_edsc("rt-add");
    let (c, o, e) = vk.run("route", &["add", "default", "10.0.0.1"]);
    assert_eq!(
        (c, o.as_str(), e.as_str()),
        (0, "add net default: gateway 10.0.0.1\n", "")
    );
    assert_eq!(
        vk.ok(
            "route",
            &[
                "add",
                "-net",
                "192.168.200.0/24",
                "10.0.0.2",
                "-proto1",
                "-nostatic"
            ]
        ),
        "add net 192.168.200.0: gateway 10.0.0.2\n"
    );
    assert_eq!(
        vk.ok("route", &["add", "-host", "10.0.3.9", "10.0.0.3"]),
        "add host 10.0.3.9: gateway 10.0.0.3\n"
    );
    let r = rows(&vk, &[]);
    for want in [
        "default           10.0.0.1        UGS       0         0    edsc0",
        "10.0.0.0/24       link#2          UC        0         0    edsc0",
        "10.0.3.9          10.0.0.3        UGHS      0         0    edsc0",
        "192.168.200.0/24  10.0.0.2        UG1       0         0    edsc0",
    ] {
        assert!(r.iter().any(|x| x == want), "missing {want:?} in {r:#?}");
    }
    // Walk order: by address.
    let pos = |p: &str| r.iter().position(|x| x.starts_with(p)).unwrap();
    assert!(pos("default") < pos("10.0.0.0/24"));
    assert!(pos("10.0.0.0/24") < pos("10.0.3.9"));
    assert!(pos("10.0.3.9") < pos("192.168.200.0/24"));
    // Without -n, /24 goes unsaid.
    let plain = vk.ok("netstat", &["-r", "-f", "inet"]);
    assert!(plain.contains("\n10.0.0.0          link#2"), "{plain}");
}

#[test]
fn errors_are_freebsds() {
    let vk = with_edsc("rt-err");
    let (c, _, e) = vk.run("route", &["-n", "get", "9.9.9.9"]);
    assert_eq!(
        (c, e.as_str()),
        (1, "route: writing to routing socket: No such process\n")
    );
    vk.ok("route", &["add", "default", "10.0.0.1"]);
    let (c, o, e) = vk.run("route", &["add", "default", "10.0.0.1"]);
    assert_eq!(c, 1);
    assert_eq!(e, "route: writing to routing socket: File exists\n");
    assert_eq!(
        o,
        "add net default: gateway 10.0.0.1: route already in table\n"
    );
    let (c, o, e) = vk.run("route", &["add", "10.9.0.0/16", "192.168.1.1"]);
    assert_eq!(c, 1);
    assert_eq!(
        e,
        "route: writing to routing socket: Network is unreachable\n"
    );
    assert_eq!(
        o,
        "add net 10.9.0.0: gateway 192.168.1.1: Network is unreachable\n"
    );
    let (c, o, e) = vk.run("route", &["delete", "1.2.3.4"]);
    assert_eq!(c, 1);
    assert_eq!(e, "route: writing to routing socket: No such process\n");
    assert_eq!(o, "delete host 1.2.3.4: not in table\n");
    let (c, o, e) = vk.run("route", &["-q", "delete", "1.2.3.4"]);
    assert_eq!((c, o.as_str()), (1, ""));
    assert!(e.contains("No such process"));
    let (c, _, e) = vk.run("route", &["frobnicate"]);
    assert_eq!(c, 64);
    assert_eq!(
        e,
        "route: bad keyword: frobnicate\nusage: route [-dnqtv] command [[modifiers] args]\n"
    );
    let (c, _, e) = vk.run("route", &["add", "1.2.3.4", "no.such.host"]);
    assert_eq!(c, 68);
    assert_eq!(e, "route: bad address: no.such.host\n");
    let (c, _, e) = vk.run("route", &["add", "1.2.3.4", "10.0.0.1", "-mtu"]);
    assert_eq!(c, 64);
    assert!(e.starts_with("route: bad keyword: mtu\n"), "{e}");
}

#[test]
fn get_delete_change_and_interface_routes() {
    let vk = with_edsc("rt-get");
    vk.ok("route", &["add", "default", "10.0.0.1"]);
    assert_eq!(
        vk.ok("route", &["-n", "get", "8.8.8.8"]),
        "   route to: 8.8.8.8\n\
         destination: default\n       mask: default\n    gateway: 10.0.0.1\n  \
         interface: edsc0\n      flags: <UP,GATEWAY,DONE,STATIC>\n \
         recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n       \
         0         0         0         0         0         0      1500         0 \n"
    );
    let out = vk.ok("route", &["-n", "get", "10.0.0.77"]);
    assert!(
        out.contains("destination: 10.0.0.0\n       mask: 255.255.255.0\n  interface: edsc0\n"),
        "{out}"
    );
    assert!(!out.contains("gateway:"), "{out}");
    assert_eq!(
        vk.ok("route", &["change", "default", "10.0.0.2"]),
        "change net default: gateway 10.0.0.2\n"
    );
    assert!(vk
        .ok("route", &["-n", "get", "default"])
        .contains("    gateway: 10.0.0.2\n"));
    // -interface: by name and by one of our addresses; no G flag.
    assert_eq!(
        vk.ok(
            "route",
            &["add", "-net", "10.5.0.0/16", "-interface", "lo0"]
        ),
        "add net 10.5.0.0: gateway lo0\n"
    );
    assert_eq!(
        vk.ok("route", &["add", "10.6.0.0/16", "-iface", "10.0.0.20"]),
        "add net 10.6.0.0: gateway 10.0.0.20\n"
    );
    let r = rows(&vk, &[]);
    assert!(
        r.contains(&"10.5.0.0/16       link#1          US        0         0    lo0".to_string()),
        "{r:#?}"
    );
    assert!(
        r.contains(&"10.6.0.0/16       link#2          US        0         0    edsc0".to_string()),
        "{r:#?}"
    );
    // -blackhole and -reject show as B and R.
    vk.ok("route", &["add", "10.7.0.0/16", "127.0.0.1", "-blackhole"]);
    vk.ok("route", &["add", "11.0.0.0", "127.0.0.1", "-reject"]);
    let r = rows(&vk, &[]);
    assert!(
        r.iter()
            .any(|x| x.starts_with("10.7.0.0/16       127.0.0.1       UGSB ")),
        "{r:#?}"
    );
    // 11.0.0.0 is a classful net: /8.
    assert!(
        r.iter()
            .any(|x| x.starts_with("11.0.0.0/8        127.0.0.1       UGRS ")),
        "{r:#?}"
    );
    assert_eq!(
        vk.ok("route", &["delete", "default"]),
        "delete net default\n"
    );
    assert_eq!(
        vk.ok("route", &["delete", "10.5.0.0/16"]),
        "delete net 10.5.0.0\n"
    );
    // flush: every gateway route goes, interface routes stay.
    let out = vk.ok("route", &["-n", "flush"]);
    assert!(
        out.contains("10.7                 127.0.0.1            done\n"),
        "{out}"
    );
    let r = rows(&vk, &[]);
    assert!(r.iter().all(|x| !x.contains("UG")), "{r:#?}");
    assert!(r.iter().any(|x| x.starts_with("10.0.0.0/24 ")), "{r:#?}");
}

#[test]
fn monitor_reports_changes() {
    let vk = with_edsc("rt-mon");
    let mut ch = vk
        .cmd("route")
        .args(["-n", "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("monitor");
    let out = ch.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // The monitor's socket exists once it is reading: retry until it hears.
    let mut got = Vec::new();
    'outer: for _ in 0..50 {
        let _ = vk.run("route", &["add", "10.1.0.0/16", "10.0.0.2"]);
        let _ = vk.run("route", &["delete", "10.1.0.0/16"]);
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(l);
            if got.iter().any(|x| x.starts_with("RTM_DELETE")) && got.len() > 12 {
                break 'outer;
            }
        }
    }
    let _ = ch.kill();
    let _ = ch.wait();
    let text = got.join("\n");
    assert!(text.contains("got message of size 192 on "), "{text}");
    assert!(
        text.contains("RTM_ADD: Add Route: len 192, pid: "),
        "{text}"
    );
    assert!(text.contains(", seq 1, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\nlocks:  inits: \nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.1.0.0 10.0.0.2 (0) 0 ffff"), "{text}");
    assert!(
        text.contains("RTM_DELETE: Delete Route: len 192, pid: "),
        "{text}"
    );
}

#[cfg(feature = "vimage")]
#[test]
fn exercise1_routes_are_per_vimage() {
    let vk = with_edsc("rt-vi");
    vk.ok("route", &["add", "default", "10.0.0.1"]);
    vk.ok("vimage", &["-c", "n1"]);
    assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc0"]), "eth0@n1\n");
    // The interface left: the default vimage forgot its routes.
    assert!(rows(&vk, &[]).iter().all(|x| !x.contains("edsc0")));
    vk.ok("vimage", &["n1", "ifconfig", "eth0", "10.0.0.20/24", "up"]);
    assert_eq!(
        vk.ok("vimage", &["n1", "route", "add", "default", "10.0.0.1"]),
        "add net default: gateway 10.0.0.1\n"
    );
    assert_eq!(
        rows(&vk, &["n1"]),
        [
            "default           10.0.0.1        UGS       0         0    eth0",
            "10.0.0.0/24       link#2          UC        0         0    eth0",
        ]
    );
    // Nothing of n1's shows in the default vimage.
    assert!(rows(&vk, &[]).iter().all(|x| !x.starts_with("default")));
    vk.ok("vimage", &["-d", "n1"]);
}

#[test]
fn inet6_routes_and_the_internet6_table() {
    let vk = with_edsc("rt-v6");
    assert_eq!(
        vk.ok(
            "route",
            &["add", "-inet6", "2001:db8:5::/48", "-interface", "edsc0"]
        ),
        "add net 2001:db8:5::/48: gateway edsc0\n"
    );
    // A global prefix with zero low 64 bits is a /64.
    assert_eq!(
        vk.ok(
            "route",
            &["add", "-inet6", "2001:db8:6::", "-iface", "edsc0"]
        ),
        "add net 2001:db8:6::: gateway edsc0\n"
    );
    let out = vk.ok("netstat", &["-rnf", "inet6"]);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("Routing tables"));
    assert_eq!(l.next(), Some(""));
    assert_eq!(l.next(), Some("Internet6:"));
    assert_eq!(
        l.next(),
        Some("Destination                       Gateway                       Flags      Netif Expire")
    );
    let rows: Vec<&str> = l.collect();
    for want in [
        "2001:db8:5::/48                   link#2                        US        edsc0",
        "2001:db8:6::/64                   link#2                        US        edsc0",
    ] {
        assert!(rows.contains(&want), "missing {want:?} in {out}");
    }
    let get = vk.ok("route", &["-n", "get", "-inet6", "2001:db8:5::1"]);
    assert_eq!(
        get.lines().take(5).collect::<Vec<_>>(),
        [
            "   route to: 2001:db8:5::1",
            "destination: 2001:db8:5::",
            "       mask: ffff:ffff:ffff::",
            "  interface: edsc0",
            "      flags: <UP,DONE,STATIC>",
        ]
    );
    assert_eq!(
        vk.ok("route", &["delete", "-inet6", "2001:db8:5::/48"]),
        "delete net 2001:db8:5::/48\n"
    );
    let (c, o, _) = vk.run("route", &["delete", "-inet6", "2001:db8:5::/48"]);
    assert_eq!(
        (c, o.as_str()),
        (1, "delete net 2001:db8:5::/48: not in table\n")
    );
}
