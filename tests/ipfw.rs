//! The firewall against a booted kernel, typed as a user types it: the
//! tutorial's Exercise 2 firewall steps (two vimages on a bridge, `kldload
//! ipfw`, `ping: sendto: Permission denied`, `ipfw list`, `ipfw add 100
//! accept ...`), one chain per vimage, and ipfw(8)'s other commands, output
//! and errors.
//!
//! Every tool runs from our build directory by absolute path, also inside
//! vimages.

mod common;
use common::*;

/// Exercise 2's topology: n1 and n2, an eiface each (`e0`), both on one
/// bridge; n1 is 10.0.1.10, n2 10.0.1.11.
fn exercise2(tag: &str) -> Vk {
    let vk = Vk::boot(tag);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "ngeth0:", "bridge", "ether", "link2"]);
    vk.ok("ngctl", &["name", "ngeth0:ether", "bridge0"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth1:", "bridge0:", "ether", "link3"],
    );
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0", "e0"]), "e0@n1\n");
    assert_eq!(vk.ok("vimage", &["-i", "n2", "ngeth1", "e0"]), "e0@n2\n");
    for (v, n) in [("n1", "01"), ("n2", "02")] {
        vok(&vk, v, "ifconfig", &["lo0", "localhost"]);
        vok(
            &vk,
            v,
            "ifconfig",
            &["e0", "link", &format!("40:a:b:c:d:{n}")],
        );
    }
    vok(&vk, "n1", "ifconfig", &["e0", "10.0.1.10/24"]);
    vok(&vk, "n2", "ifconfig", &["e0", "10.0.1.11/24"]);
    vk
}

/// One ping from n1 to n2: (exit status, stdout, stderr).
fn ping(vk: &Vk) -> (i32, String, String) {
    vrun(vk, "n1", "ping", &["-c", "1", "-W", "500", "10.0.1.11"])
}

#[test]
fn exercise2_firewall_per_vimage() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = exercise2("ipfw-ex2");
    let (c, out, _) = ping(&vk);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("1 packets transmitted, 1 packets received, 0.0% packet loss"));
    // No firewall yet: its socket options are not there.
    let (c, _, err) = vrun(&vk, "n1", "ipfw", &["list"]);
    assert_eq!(
        (c, err.as_str()),
        (71, "ipfw: getsockopt(IP_FW_GET): Protocol not available\n")
    );

    // tpx32# kldload ipfw
    vk.ok("kldload", &["ipfw"]);
    // tpx32# vimage n1 ping 10.0.1.11
    let (c, out, err) = ping(&vk);
    assert_eq!(err, "ping: sendto: Permission denied\n");
    assert_eq!(c, 2);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "PING 10.0.1.11 (10.0.1.11): 56 data bytes");
    assert_eq!(l[2], "--- 10.0.1.11 ping statistics ---");
    assert_eq!(
        l[3],
        "1 packets transmitted, 0 packets received, 100.0% packet loss"
    );
    // tpx32# vimage n1 ipfw list
    assert_eq!(
        vok(&vk, "n1", "ipfw", &["list"]),
        "65535 deny ip from any to any\n"
    );
    // tpx32# vimage n1 ipfw add 100 accept ip from any to any
    assert_eq!(
        vok(
            &vk,
            "n1",
            "ipfw",
            &["add", "100", "accept", "ip", "from", "any", "to", "any"]
        ),
        "00100 allow ip from any to any\n"
    );
    // Only n1's chain changed: n2 and default still have the default rule
    // alone.
    for v in ["n2", "default"] {
        assert_eq!(
            vok(&vk, v, "ipfw", &["list"]),
            "65535 deny ip from any to any\n",
            "{v}"
        );
    }
    // n1 may send now; n2's own chain still drops what arrives, silently.
    let (c, out, err) = ping(&vk);
    assert_eq!((c, err.as_str()), (2, ""), "{out}");
    assert!(out.contains("1 packets transmitted, 0 packets received"));
    // n2 lets it in too: ping works again.
    assert_eq!(
        vok(
            &vk,
            "n2",
            "ipfw",
            &["add", "allow", "ip", "from", "any", "to", "any"]
        ),
        "00100 allow ip from any to any\n"
    );
    let (c, out, err) = ping(&vk);
    assert_eq!((c, err.as_str()), (0, ""), "{out}");
    assert!(out.contains("1 packets received, 0.0% packet loss"));
    // The counters: n1's rule saw the requests going out (the refused one
    // never reached the rules' allow) and the reply coming in.
    let show = vok(&vk, "n1", "ipfw", &["show"]);
    let l: Vec<&str> = show.lines().collect();
    assert_eq!(l.len(), 2, "{show}");
    assert_eq!(l[0], "00100 3 252 allow ip from any to any");
    assert_eq!(l[1], "65535 1  84 deny ip from any to any");
    // A vimage made after loading starts with the default rule alone.
    vk.ok("vimage", &["-c", "n3"]);
    assert_eq!(
        vok(&vk, "n3", "ipfw", &["list"]),
        "65535 deny ip from any to any\n"
    );
    // The load line is on the kernel console.
    let console = vk.halt();
    let line = if cfg!(feature = "inet6") {
        "ipfw2 (+ipv6) initialized, divert loadable, nat loadable, rule-based forwarding disabled, default to deny, logging disabled"
    } else {
        "ipfw2 initialized, divert loadable, nat loadable, rule-based forwarding disabled, default to deny, logging disabled"
    };
    assert!(console.lines().any(|l| l == line), "{console}");
}

/// ipfw(8)'s other commands in one kernel's default vimage: numbering,
/// deletion and its errors, zero, flush, sets, keep-state with `-d`, rule
/// files, IPv6, sysctls, and unloading.
/// Traffic to one of a vimage's own addresses on an Ethernet interface
/// goes through lo0, as FreeBSD's does (its ARP entry points at the
/// loopback): rc.firewall's `allow ip from any to any via lo0` lets it
/// pass, and it never counts as "via e0".
#[test]
fn own_address_traffic_goes_via_lo0() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = exercise2("ipfw-own");
    vk.ok("kldload", &["ipfw"]);
    let ipfw = |args: &[&str]| vok(&vk, "n1", "ipfw", args);
    ipfw(&[
        "-q", "add", "100", "allow", "ip", "from", "any", "to", "any", "via", "lo0",
    ]);
    ipfw(&[
        "-q", "add", "200", "count", "ip", "from", "any", "to", "any", "via", "e0",
    ]);
    // (Ipkts, Opkts) of one of n1's interfaces, from netstat -i.
    let pkts = |ifname: &str| -> (u64, u64) {
        let out = vok(&vk, "n1", "netstat", &["-i", "-n", "-I", ifname]);
        let f: Vec<u64> = out
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        // Mtu, Ipkts, Ierrs, Opkts, …
        (f[1], f[3])
    };
    let (e0, lo0) = (pkts("e0"), pkts("lo0"));
    let (c, out, err) = vrun(&vk, "n1", "ping", &["-c", "1", "-W", "500", "10.0.1.10"]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(
        out.contains("1 packets transmitted, 1 packets received"),
        "{out}"
    );
    // The request out and in, the reply out and in, all on lo0.
    assert_eq!(
        ipfw(&["show", "100", "200"]),
        "00100 4 336 allow ip from any to any via lo0\n00200 0   0 count ip from any to any via e0\n"
    );
    // Counted on lo0 in netstat -i too, not on e0.
    assert_eq!(pkts("e0"), e0);
    assert_eq!(pkts("lo0"), (lo0.0 + 2, lo0.1 + 2));
}

#[test]
fn ipfw_commands_output_and_errors() {
    let vk = Vk::boot("ipfw-cmds");
    vk.ok("kldload", &["ipfw"]);
    let ipfw = |args: &[&str]| vk.run("ipfw", args);
    let ok = |args: &[&str]| vk.ok("ipfw", args);
    // Loopback is filtered too: the default rule refuses our own ping.
    let (c, _, err) = vk.run("ping", &["-c", "1", "-W", "200", "127.0.0.1"]);
    assert_eq!((c, err.as_str()), (2, "ping: sendto: Permission denied\n"));
    // Numbers: given, then the step after the highest; the facts' rules.
    assert_eq!(
        ok(&["add", "100", "allow", "ip", "from", "any", "to", "any", "via", "lo0"]),
        "00100 allow ip from any to any via lo0\n"
    );
    assert_eq!(
        ok(&[
            "add",
            "deny",
            "icmp",
            "from",
            "any",
            "to",
            "any",
            "icmptypes",
            "8"
        ]),
        "00200 deny icmp from any to any icmptypes 8\n"
    );
    // One argument holding the whole command works as well.
    assert_eq!(
        ok(&["add allow tcp from any to me 22 setup keep-state"]),
        "00300 allow tcp from any to me 22 setup keep-state\n"
    );
    assert_eq!(
        ok(&[
            "-q",
            "add",
            "400",
            "allow",
            "ip",
            "from",
            "10.0.1.7/24",
            "to",
            "any",
            "via",
            "e0"
        ]),
        ""
    );
    assert_eq!(
        ok(&["list"]),
        "00100 allow ip from any to any via lo0\n\
         00200 deny icmp from any to any icmptypes 8\n\
         00300 allow tcp from any to me 22 setup keep-state\n\
         00400 allow ip from 10.0.1.0/24 to any via e0\n\
         65535 deny ip from any to any\n"
    );
    // Over lo0 our ping passes rule 100 four times: the request out and
    // in, the reply out and in; the default rule counted the one refused.
    vk.ok("ping", &["-c", "1", "127.0.0.1"]);
    assert_eq!(
        ok(&["show", "100", "65535"]),
        "00100 4 336 allow ip from any to any via lo0\n65535 1  84 deny ip from any to any\n"
    );
    // The columns are as wide as the widest of all rules, listed or not.
    assert_eq!(
        ok(&["-a", "list", "200-300"]),
        "00200 0   0 deny icmp from any to any icmptypes 8\n\
         00300 0   0 allow tcp from any to me 22 setup keep-state\n"
    );
    // Errors: FreeBSD's messages and exit codes.
    let (c, _, e) = ipfw(&["delete", "150"]);
    assert_eq!(
        (c, e.as_str()),
        (
            69,
            "ipfw: rule 150: setsockopt(IP_FW_DEL): Invalid argument\n"
        )
    );
    let (c, _, e) = ipfw(&["delete", "65535"]);
    assert_eq!(
        (c, e.as_str()),
        (
            69,
            "ipfw: rule 65535: setsockopt(IP_FW_DEL): Invalid argument\n"
        )
    );
    let (c, o, e) = ipfw(&["list", "150"]);
    assert_eq!(
        (c, o.as_str(), e.as_str()),
        (69, "", "ipfw: rule 150 does not exist\n")
    );
    let (c, _, e) = ipfw(&["add", "100", "frobnicate", "ip", "from", "any", "to", "any"]);
    assert_eq!((c, e.as_str()), (65, "ipfw: invalid action frobnicate\n\n"));
    let (c, _, e) = ipfw(&["add", "allow", "ip", "to", "any"]);
    assert_eq!((c, e.as_str()), (64, "ipfw: missing ``from''\n"));
    let (c, _, e) = ipfw(&["add", "allow", "ip", "from", "any", "to", "any", "bogus"]);
    assert_eq!(
        (c, e.as_str()),
        (64, "ipfw: unrecognised option [-1] bogus\n\n")
    );
    let (c, _, e) = ipfw(&[]);
    assert_eq!(
        (c, e.as_str()),
        (
            64,
            "usage: ipfw [options]\ndo \"ipfw -h\" or see ipfw manpage for details\n"
        )
    );
    let (c, _, e) = ipfw(&["frob"]);
    assert_eq!((c, e.as_str()), (64, "ipfw: bad command `frob'\n"));
    // Delete, zero, resetlog.
    assert_eq!(ok(&["delete", "400"]), "");
    assert_eq!(ok(&["zero"]), "Accounting cleared.\n");
    assert_eq!(ok(&["zero", "100"]), "Entry 100 cleared.\n");
    assert_eq!(ok(&["resetlog"]), "Logging counts reset.\n");
    let (c, _, e) = ipfw(&["zero", "7"]);
    assert_eq!(
        (c, e.as_str()),
        (
            69,
            "ipfw: rule 7: setsockopt(IP_FW_ZERO): Invalid argument\n"
        )
    );
    assert_eq!(
        ok(&["show", "100"]),
        "00100 0 0 allow ip from any to any via lo0\n"
    );
    // Sets.
    assert_eq!(ok(&["set", "move", "rule", "200", "to", "3"]), "");
    assert_eq!(ok(&["set", "disable", "3"]), "");
    assert_eq!(
        ok(&["set", "show"]),
        "disable 3 enable 0 1 2 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30\n"
    );
    assert!(!ok(&["list"]).contains("00200"));
    assert!(ok(&["-S", "list", "200"]).starts_with("# DISABLED 00200 set 3 deny icmp"));
    assert_eq!(ok(&["set", "enable", "3"]), "");
    // Dynamic rules: a TCP connection to port 22 would make one; ICMP with
    // keep-state does here.
    ok(&[
        "add",
        "250",
        "allow",
        "icmp",
        "from",
        "any",
        "to",
        "any",
        "keep-state",
    ]);
    ok(&["delete", "200", "100"]);
    vk.ok("ping", &["-c", "1", "127.0.0.1"]);
    let d = ok(&["-d", "list", "250"]);
    assert!(
        d.starts_with(
            "00250 allow icmp from any to any keep-state\n## Dynamic rules:\n00250 STATE icmp 127.0.0.1 0 <-> 127.0.0.1 0\n"
        ),
        "{d}"
    );
    // A rule file: one command a line, comments and blanks skipped; a bad
    // line ends the run with its number.
    let f = std::env::temp_dir().join(format!("ipfw-rules-{}", std::process::id()));
    std::fs::write(
        &f,
        "# rules\nadd 500 count ip from any to any\n\nadd 600 frob\nadd 700 count ip from any to any\n",
    )
    .unwrap();
    let (c, o, e) = ipfw(&["-q", f.to_str().unwrap()]);
    let _ = std::fs::remove_file(&f);
    assert_eq!(
        (c, o.as_str(), e.as_str()),
        (65, "", "Line 4: invalid action frob\n\n")
    );
    assert_eq!(ok(&["list", "500-700"]), "00500 count ip from any to any\n");
    // Lookup tables.
    assert_eq!(ok(&["table", "1", "add", "10.0.0.0/8", "5"]), "");
    assert_eq!(ok(&["table", "1", "add", "127.0.0.1"]), "");
    let (c, _, e) = ipfw(&["table", "1", "add", "10.0.0.0/8"]);
    assert_eq!(
        (c, e.as_str()),
        (71, "ipfw: setsockopt(IP_FW_TABLE_ADD): File exists\n")
    );
    assert_eq!(
        ok(&["table", "1", "list"]),
        "10.0.0.0/8 5\n127.0.0.1/32 0\n"
    );
    assert_eq!(
        ok(&[
            "add",
            "50",
            "count",
            "ip",
            "from",
            "table(1)",
            "to",
            "not",
            "table(1,5)"
        ]),
        "00050 count ip from table(1) to not table(1,5)\n"
    );
    vk.ok("ping", &["-c", "1", "127.0.0.1"]);
    assert!(ok(&["show", "50"]).starts_with("00050 4 336 count"));
    ok(&["delete", "50"]);
    assert_eq!(ok(&["table", "1", "flush"]), "");
    assert_eq!(ok(&["table", "1", "list"]), "");
    // The sysctls, per vnet.
    assert_eq!(
        vk.ok(
            "sysctl",
            &["net.inet.ip.fw.static_count", "net.inet.ip.fw.autoinc_step"]
        ),
        "net.inet.ip.fw.static_count: 4\nnet.inet.ip.fw.autoinc_step: 100\n"
    );
    // IPv6 is matched by `ip` rules: the default rule refuses ping6 to ::1.
    if cfg!(feature = "inet6") {
        let (c, _, e) = vk.run("ping6", &["-c", "1", "::1"]);
        assert_ne!(c, 0);
        assert!(e.starts_with("ping6: sendmsg: Permission denied"), "{e}");
    }
    // Flush: no question when stdin is not a terminal; the default stays.
    let (c, o, _) = vk.run_stdin("ipfw", &["flush"], "");
    assert_eq!((c, o.as_str()), (0, "Flushed all rules.\n"));
    assert_eq!(ok(&["list"]), "65535 deny ip from any to any\n");
    // Unloaded, the options are gone again.
    vk.ok("kldunload", &["ipfw"]);
    let (c, _, e) = ipfw(&["list"]);
    assert_eq!(
        (c, e.as_str()),
        (71, "ipfw: getsockopt(IP_FW_GET): Protocol not available\n")
    );
    vk.ok("ping", &["-c", "1", "127.0.0.1"]);
    let console = vk.halt();
    assert!(console.contains("IP firewall unloaded\n"), "{console}");
}

/// Layer 2 filtering (`sysctl net.link.ether.ipfw=1`): n1's rules also see
/// Ethernet frames, ARP included, with `layer2`, `mac-type` and `MAC`; off,
/// they see IP datagrams only.  The switch is n1's alone.
#[test]
fn layer2_filtering_per_vimage() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = exercise2("ipfw-l2");
    vk.ok("kldload", &["ipfw"]);
    for v in ["n1", "n2"] {
        vok(
            &vk,
            v,
            "ipfw",
            &[
                "-q", "add", "1000", "allow", "ip", "from", "any", "to", "any",
            ],
        );
    }
    assert_eq!(ping(&vk).0, 0);
    // Frames from n2's MAC are refused at layer 2 only: at layer 3 the
    // rule cannot match (no MAC header), so with the switch off nothing
    // changes.
    assert_eq!(
        vok(
            &vk,
            "n1",
            "ipfw",
            &["add", "100", "deny", "MAC", "any", "40:a:b:c:d:2", "layer2"]
        ),
        "00100 deny ip from any to any MAC any 40:0a:0b:0c:0d:02 layer2\n"
    );
    assert_eq!(ping(&vk).0, 0);
    assert_eq!(
        vok(&vk, "n1", "sysctl", &["net.link.ether.ipfw=1"]),
        "net.link.ether.ipfw: 0 -> 1\n"
    );
    // A boolean: anything else is refused.
    let (c, _, e) = vrun(&vk, "n1", "sysctl", &["net.link.ether.ipfw=2"]);
    assert_eq!(c, 1);
    assert!(e.ends_with("Invalid argument\n"), "{e}");
    // n2's own switch stayed off.
    assert_eq!(
        vok(&vk, "n2", "sysctl", &["-n", "net.link.ether.ipfw"]),
        "0\n"
    );
    let (c, out, _) = ping(&vk);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("1 packets transmitted, 0 packets received"));
    let show = vok(&vk, "n1", "ipfw", &["show", "100"]);
    assert_ne!(show.split_whitespace().nth(1), Some("0"), "{show}");
    // ARP is a frame without IP: `mac-type arp` takes it, IP tests never do.
    vok(&vk, "n1", "ipfw", &["delete", "100"]);
    vok(&vk, "n1", "arp", &["-d", "10.0.1.11"]);
    assert_eq!(
        vok(
            &vk,
            "n1",
            "ipfw",
            &["add", "200", "deny", "ip", "from", "any", "to", "any", "mac-type", "arp"]
        ),
        "00200 deny ip from any to any mac-type arp\n"
    );
    vok(
        &vk,
        "n1",
        "ipfw",
        &[
            "add", "300", "deny", "udp", "from", "any", "to", "any", "layer2",
        ],
    );
    let (c, _, _) = ping(&vk);
    assert_eq!(c, 2);
    let show = vok(&vk, "n1", "ipfw", &["show", "200", "300"]);
    let l: Vec<&str> = show.lines().collect();
    let pkts = |l: &str| l.split_whitespace().nth(1).unwrap_or("").to_string();
    assert_ne!(pkts(l[0]), "0", "{show}");
    assert_eq!(pkts(l[1]), "0", "{show}");
    // Switched off again: ARP passes, ping works.
    vok(&vk, "n1", "sysctl", &["net.link.ether.ipfw=0"]);
    assert_eq!(ping(&vk).0, 0);
    vk.halt();
}
