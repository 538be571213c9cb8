//! netstat(1) scenarios against a booted kernel: the interface table's counters
//! moving with traffic, `netstat -s` echo counts, and the `Active Internet
//! connections` listing of sockets a process holds open — in the default
//! vimage over loopback, and between two vimages joined by eifaces, where
//! n1's `netstat -af inet` is the tutorial's transcript.
//!
//! No tool of ours keeps a UDP socket bound for long, so the sockets are held
//! by this test binary itself, re-run as a helper (the ignored test
//! `socket_holder`), inside the vimage under test when there is one.  Every
//! tool runs from our build directory by path; nothing on the host is used.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};

use libvimage::Sys;
use vimage_abi::netinet_in::{SockaddrIn, IPPROTO_ICMP, PF_INET, SOCK_DGRAM, SOCK_RAW};

/// netstat in vimage `v` (`None`: the caller's, the default vimage).
fn netstat(vk: &Vk, v: Option<&str>, args: &[&str]) -> String {
    match v {
        Some(v) => vok(vk, v, "netstat", args),
        None => vk.ok("netstat", args),
    }
}

/// Not a scenario: the helper process the scenarios start.  It opens the
/// sockets `$NETSTAT_HOLDER` lists (comma separated: `udp:ADDR:PORT` bound,
/// `udp:ADDR:PORT>ADDR:PORT` bound and connected, `icmp` a raw ICMP socket),
/// says `ready`, and holds them until its stdin closes.
#[test]
#[ignore]
fn socket_holder() {
    let Ok(spec) = std::env::var("NETSTAT_HOLDER") else {
        return;
    };
    let mut s = Sys::open().expect("kernel");
    let sin = |a: &str| -> Vec<u8> {
        let (h, p) = a.rsplit_once(':').expect("ADDR:PORT");
        SockaddrIn::new(h.parse().expect("addr"), p.parse().expect("port"))
            .to_bytes()
            .to_vec()
    };
    for item in spec.split(',') {
        if item == "icmp" {
            s.socket(PF_INET, SOCK_RAW, IPPROTO_ICMP)
                .expect("raw socket");
            continue;
        }
        let a = item.strip_prefix("udp:").expect("udp:…");
        let fd = s.socket(PF_INET, SOCK_DGRAM, 0).expect("udp socket");
        let (l, f) = match a.split_once('>') {
            Some((l, f)) => (l, Some(f)),
            None => (a, None),
        };
        s.bind(fd, &sin(l)).expect("bind");
        if let Some(f) = f {
            s.connect(fd, &sin(f)).expect("connect");
        }
    }
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let mut line = String::new();
    while std::io::stdin()
        .read_line(&mut line)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        line.clear();
    }
}

/// A running [`socket_holder`]; its sockets close when this is dropped.
struct Holder(Child);

impl Holder {
    /// Start one with `spec`, in vimage `v` or the default one, and wait until
    /// its sockets are open.
    fn start(vk: &Vk, v: Option<&str>, spec: &str) -> Holder {
        let exe = std::env::current_exe().expect("test binary");
        let exe = exe.display().to_string();
        let helper = [
            exe.as_str(),
            "--exact",
            "socket_holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ];
        let mut c = match v {
            Some(v) => {
                let mut c = vk.cmd("vimage");
                c.arg(v).args(helper);
                c
            }
            None => {
                let mut c = vk.cmd(&exe);
                c.args(&helper[1..]);
                c
            }
        };
        let mut ch = c
            .env("NETSTAT_HOLDER", spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn socket holder");
        let out = ch.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("ready") => break,
                Some(Ok(_)) => {}
                _ => panic!("socket holder {spec:?} failed"),
            }
        }
        // Take the rest of what it prints, so it never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Holder(ch)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// The counters of interface `name`'s `<Link#N>` row of `netstat -i[b]`:
/// (Ipkts, Opkts) or, with `-b`, (Ibytes, Obytes).
fn link_counts(table: &str, name: &str) -> (u64, u64) {
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")) && l.contains("<Link#"))
        .unwrap_or_else(|| panic!("no link row for {name} in\n{table}"));
    let w: Vec<u64> = row
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // MTU, then the counters in column order.
    match w.len() {
        6 => (w[1], w[3]),
        8 => (w[3], w[6]),
        _ => panic!("unexpected row {row:?}"),
    }
}

const IF_HEADER: &str =
    "Name    Mtu Network       Address              Ipkts Ierrs    Opkts Oerrs  Coll";
const INET_HEADER: &str =
    "Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)";

#[test]
fn loopback_counters_sockets_and_stats() {
    let vk = Vk::boot("ns-lo");
    vk.ok("ifconfig", &["lo0", "localhost"]);
    let before = netstat(&vk, None, &["-in"]);
    let l: Vec<&str> = before.lines().collect();
    assert_eq!(l[0], IF_HEADER);
    assert_eq!(
        l[1],
        "lo0   16384 <Link#1>                               0     0        0     0     0"
    );
    assert!(
        before.contains(
            "\nlo0   16384 127.0.0.0/8   127.0.0.1                0     -        0     -     -\n"
        ),
        "{before}"
    );
    // Nothing open yet: no listing at all.
    assert_eq!(netstat(&vk, None, &["-an", "-f", "inet"]), "");

    // A server on the RIP port, a connected client, a raw ICMP socket.
    let h = Holder::start(
        &vk,
        None,
        "udp:0.0.0.0:520,udp:127.0.0.1:5000>127.0.0.1:53,icmp",
    );
    assert_eq!(
        netstat(&vk, None, &["-an", "-f", "inet"]),
        format!(
            "Active Internet connections (including servers)\n{INET_HEADER}\n\
             udp4       0      0 *.520                  *.*                    \n\
             udp4       0      0 127.0.0.1.5000         127.0.0.1.53           \n\
             icm4       0      0 *.*                    *.*                    \n"
        )
    );
    // Without -a, only the connection; -p picks one protocol.
    assert_eq!(
        netstat(&vk, None, &["-n", "-f", "inet"]),
        format!(
            "Active Internet connections\n{INET_HEADER}\n\
             udp4       0      0 127.0.0.1.5000         127.0.0.1.53           \n"
        )
    );
    assert_eq!(
        netstat(&vk, None, &["-an", "-p", "icmp"]),
        format!(
            "Active Internet connections (including servers)\n{INET_HEADER}\n\
             icm4       0      0 *.*                    *.*                    \n"
        )
    );
    // Port names without -n (the addresses here are wildcards: no host names).
    let named = netstat(&vk, None, &["-a", "-p", "udp"]);
    assert!(
        named.contains("\nudp4       0      0 *.router               *.*                    \n"),
        "{named}"
    );
    assert_eq!(netstat(&vk, None, &["-an", "-f", "inet6"]), "");

    // One datagram for the server: traceroute's probe to port 519 + 1.
    let tr = vk.run(
        "traceroute",
        &[
            "-n",
            "-q",
            "1",
            "-m",
            "1",
            "-w",
            "1",
            "-p",
            "519",
            "127.0.0.1",
        ],
    );
    assert_eq!(tr.0, 0, "{tr:?}");
    let listing = netstat(&vk, None, &["-an", "-p", "udp"]);
    let server = listing
        .lines()
        .find(|l| l.contains("*.520"))
        .unwrap_or_else(|| panic!("{listing}"));
    let recvq: u32 = server[5..12].trim().parse().expect("Recv-Q");
    assert!(recvq >= 12, "{server}");
    assert!(server.starts_with("udp4 ") && server.ends_with(" *.*                    "));
    assert_eq!(
        netstat(&vk, None, &["-s", "-p", "udp"]),
        "udp:\n\t1 datagram received\n\t0 with incomplete header\n\
         \t0 with bad data length field\n\t0 with bad checksum\n\t0 with no checksum\n\
         \t0 dropped due to no socket\n\t0 broadcast/multicast datagrams undelivered\n\
         \t0 dropped due to full socket buffers\n\t1 delivered\n\t1 datagram output\n"
    );

    // Echo requests over loopback: the ICMP histograms count them.
    vk.ok("ping", &["-c", "2", "127.0.0.1"]);
    assert_eq!(
        netstat(&vk, None, &["-ss", "-p", "icmp"]),
        "icmp:\n\tOutput histogram:\n\t\techo reply: 2\n\tInput histogram:\n\
         \t\techo reply: 2\n\t\techo: 2\n\t2 message responses generated\n"
    );
    let icmp = netstat(&vk, None, &["-s", "-p", "icmp"]);
    assert!(
        icmp.starts_with("icmp:\n\t0 calls to icmp_error\n\t0 errors not generated"),
        "{icmp}"
    );
    assert!(icmp.ends_with("\t0 invalid return addresses\n\t0 no return routes\n"));
    let ip = netstat(&vk, None, &["-ss", "-p", "ip"]);
    assert!(ip.starts_with("ip:\n\t5 total packets received\n"), "{ip}");
    // -s without -p: every protocol the kernel counts, FreeBSD's order.
    let all = netstat(&vk, None, &["-s"]);
    let blocks: Vec<&str> = all.lines().filter(|l| !l.starts_with('\t')).collect();
    assert_eq!(blocks, ["tcp:", "udp:", "ip:", "icmp:", "ip6:", "icmp6:"]);
    assert_eq!(
        netstat(&vk, None, &["-s", "-f", "inet"])
            .lines()
            .filter(|l| !l.starts_with('\t'))
            .collect::<Vec<_>>(),
        ["tcp:", "udp:", "ip:", "icmp:"]
    );

    // lo0 saw every packet twice: out and back in.
    let after = netstat(&vk, None, &["-in"]);
    let (i, o) = link_counts(&after, "lo0");
    assert!(i >= 5 && i == o, "{after}");
    let (ib, ob) = link_counts(&netstat(&vk, None, &["-inb"]), "lo0");
    assert!(ib > i * 20 && ib == ob);
    drop(h);
    assert_eq!(netstat(&vk, None, &["-an", "-f", "inet"]), "");
    vk.halt();
}

#[test]
fn two_vimages_ping_and_the_tutorial_listing() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ns-vi");
    for v in ["n0", "n1"] {
        vk.ok("vimage", &["-c", v]);
    }
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    assert_eq!(vk.ok("vimage", &["-i", "n0", "ngeth0"]), "eth0@n0\n");
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth1"]), "eth0@n1\n");
    // Before configuration: eth0 is down, its name starred (and cut to 5).
    let t = netstat(&vk, Some("n1"), &["-i"]);
    assert!(
        t.contains(
            "\neth0*  1500 <Link#2>      00:00:00:00:00:00        0     0        0     0     0\n"
        ),
        "{t}"
    );
    vok(&vk, "n0", "ifconfig", &["eth0", "link", "40:a:b:c:d:00"]);
    vok(&vk, "n0", "ifconfig", &["eth0", "10.0.0.1/24"]);
    vok(&vk, "n1", "ifconfig", &["lo0", "localhost"]);
    vok(&vk, "n1", "ifconfig", &["eth0", "link", "40:a:b:c:d:01"]);
    vok(&vk, "n1", "ifconfig", &["eth0", "10.0.0.20/24"]);

    let before = netstat(&vk, Some("n1"), &["-in", "-I", "eth0"]);
    let l: Vec<&str> = before.lines().collect();
    assert_eq!(l[0], IF_HEADER);
    assert!(
        l[1].starts_with("eth0   1500 <Link#2>      40:0a:0b:0c:0d:01 "),
        "{before}"
    );
    assert!(
        l[2].starts_with("eth0   1500 10.0.0.0/24   10.0.0.20   "),
        "{before}"
    );
    assert!(l[2].ends_with("     -     -"), "{before}");
    let (i0, o0) = link_counts(&before, "eth0");
    let (n0_i0, _) = link_counts(&netstat(&vk, Some("n0"), &["-in"]), "eth0");

    let out = vok(&vk, "n1", "ping", &["-c", "3", "10.0.0.1"]);
    assert!(
        out.contains("3 packets transmitted, 3 packets received"),
        "{out}"
    );
    let after = netstat(&vk, Some("n1"), &["-in", "-I", "eth0"]);
    let (i1, o1) = link_counts(&after, "eth0");
    assert!(i1 >= i0 + 3 && o1 >= o0 + 3, "{before}{after}");
    let (n0_i1, _) = link_counts(&netstat(&vk, Some("n0"), &["-in"]), "eth0");
    assert!(n0_i1 >= n0_i0 + 3);
    // The address row carries the same packet counts.
    let a: Vec<&str> = after
        .lines()
        .nth(2)
        .expect("address row")
        .split_whitespace()
        .collect();
    assert_eq!(
        a[4..],
        [i1.to_string().as_str(), "-", &o1.to_string(), "-", "-"]
    );
    let (ib, ob) = link_counts(&netstat(&vk, Some("n1"), &["-inb"]), "eth0");
    assert!(ib >= 3 * 98 && ob >= 3 * 98, "{ib} {ob}");

    // The router side answered three echoes; the pinger got three replies.
    assert_eq!(
        netstat(&vk, Some("n0"), &["-s", "-p", "icmp"]),
        "icmp:\n\t0 calls to icmp_error\n\
         \t0 errors not generated in response to an icmp message\n\
         \tOutput histogram:\n\t\techo reply: 3\n\
         \t0 messages with bad code fields\n\t0 messages less than the minimum length\n\
         \t0 messages with bad checksum\n\t0 messages with bad length\n\
         \t0 multicast echo requests ignored\n\t0 multicast timestamp requests ignored\n\
         \tInput histogram:\n\t\techo: 3\n\
         \t3 message responses generated\n\t0 invalid return addresses\n\t0 no return routes\n"
    );
    assert_eq!(
        netstat(&vk, Some("n1"), &["-ss", "-p", "icmp"]),
        "icmp:\n\tInput histogram:\n\t\techo reply: 3\n"
    );

    // n1 runs a RIP speaker: the tutorial's `netstat -af inet`.
    let h = Holder::start(&vk, Some("n1"), "udp:0.0.0.0:520");
    assert_eq!(
        netstat(&vk, Some("n1"), &["-af", "inet"]),
        format!(
            "Active Internet connections (including servers)\n{INET_HEADER}\n\
             udp4       0      0 *.router               *.*                    \n"
        )
    );
    // The tutorial's transcript, word for word.
    let words: Vec<String> = netstat(&vk, Some("n1"), &["-af", "inet"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        words.join(" "),
        "Active Internet connections (including servers) Proto Recv-Q Send-Q \
         Local Address Foreign Address (state) udp4 0 0 *.router *.*"
    );
    // Sockets belong to their vimage.
    assert_eq!(netstat(&vk, Some("n0"), &["-an"]), "");
    assert_eq!(netstat(&vk, None, &["-an", "-f", "inet"]), "");
    // A probe from n0 lands in the server's queue.
    vok(
        &vk,
        "n0",
        "traceroute",
        &[
            "-n",
            "-q",
            "1",
            "-m",
            "1",
            "-w",
            "1",
            "-p",
            "519",
            "10.0.0.20",
        ],
    );
    let q = netstat(&vk, Some("n1"), &["-anf", "inet"]);
    let row = q.lines().nth(2).expect("row");
    assert!(row.starts_with("udp4 ") && row.contains(" *.520 "), "{q}");
    assert_ne!(row[5..12].trim(), "0", "{q}");
    let udp = netstat(&vk, Some("n1"), &["-ss", "-p", "udp"]);
    assert_eq!(udp, "udp:\n\t1 datagram received\n\t1 delivered\n");
    drop(h);
    assert_eq!(netstat(&vk, Some("n1"), &["-an"]), "");
    for v in ["n0", "n1"] {
        vk.ok("vimage", &["-d", v]);
    }
    vk.halt();
}

#[test]
fn options_and_errors_are_freebsds() {
    let vk = Vk::boot("ns-err");
    let usage = "usage: netstat [-anW] [-f protocol_family | -p protocol]\n       \
                 netstat -i | -I interface [-abdnW] [-f address_family]\n       \
                 netstat -s [-s] [-z] [-f protocol_family | -p protocol]\n       \
                 netstat -r [-anW] [-f address_family]";
    vk.fails(
        "netstat",
        &["-f", "foo"],
        "netstat: foo: unknown address family",
    );
    vk.fails(
        "netstat",
        &["-p", "foo"],
        "netstat: foo: unknown or uninstrumented protocol",
    );
    vk.fails(
        "netstat",
        &["-y"],
        &format!("netstat: illegal option -- y\n{usage}"),
    );
    vk.fails(
        "netstat",
        &["-f"],
        &format!("netstat: option requires an argument -- f\n{usage}"),
    );
    vk.fails("netstat", &["-x"], usage);
    vk.fails("netstat", &["-a", "extra"], usage);
    // Protocols without a routine here, as FreeBSD reports them with -p.
    assert_eq!(
        vk.ok("netstat", &["-s", "-p", "rsvp"]),
        "rsvp: no stats routine\n"
    );
    assert_eq!(vk.ok("netstat", &["-p", "carp"]), "carp: no PCB routine\n");
    // Counters this kernel does not keep: nothing, silently.
    assert_eq!(vk.ok("netstat", &["-s", "-p", "igmp"]), "");
    // TCP is counted: its block starts as FreeBSD's does.
    assert!(vk
        .ok("netstat", &["-s", "-p", "tcp"])
        .starts_with("tcp:\n\t0 packets sent\n\t\t0 data packets (0 bytes)\n"));
    // The kernel's statistics cannot be zeroed.
    let (c, o, e) = vk.run("netstat", &["-s", "-z", "-p", "udp"]);
    assert_eq!(
        (c, o.as_str(), e.trim_end()),
        (
            0,
            "",
            "netstat: sysctl: net.inet.udp.stats: Operation not permitted"
        )
    );
    assert_eq!(
        vk.ok("netstat", &["-rs"]),
        "rtstat: symbol not in namelist\n"
    );
    // An interface that does not exist: the header alone.
    assert_eq!(vk.ok("netstat", &["-I", "em9"]), format!("{IF_HEADER}\n"));
    // -f link keeps the link rows; -W widens the name column.
    assert_eq!(
        vk.ok("netstat", &["-iW", "-f", "link"]),
        "Name      Mtu Network       Address              Ipkts Ierrs    Opkts Oerrs  Coll\n\
         lo0     16384 <Link#1>                               0     0        0     0     0\n"
    );
    vk.halt();
}
