//! The packet fuzz target's corpus, replayed on stable (`make test`).
//!
//! `sys/fuzz` holds the cargo-fuzz target `packet`, whose entry point lives in
//! `sys/fuzz/src/packet.rs`; this test includes that very file and runs it over
//! every file of `sys/fuzz/corpus/packet/` and over seeded mutations of each
//! (`FUZZ_REPLAY_MUTATIONS`, `FUZZ_SEED`).
//!
//! The seeds come from [`seeds`], which drives a live stack to learn what it
//! answers (a SYN-ACK's sequence number) and builds the next packet from it:
//! `FUZZ_WRITE_CORPUS=1 cargo test -p vimage-conf --test corpus_replay` writes
//! them; cargo-fuzz adds what it finds (named by hash).
//!
//! The corpus speaks IPv6 too, so it needs `options INET6`.

#![cfg(feature = "inet6")]

#[path = "../../fuzz/src/packet.rs"]
mod packet;
#[path = "../../sys/fuzz/src/replay.rs"]
mod replay;

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::{Stack, IP4, IP4_VLAN, IP6, MAC, PEER4, PEER6, PEER_MAC, TCP_PORT, UDP_PORT};

fn dir() -> std::path::PathBuf {
    replay::path(env!("CARGO_MANIFEST_DIR"), "../fuzz/corpus/packet")
}

// ---------------------------------------------------------------- packets

const TH_FIN: u8 = 0x01;
const TH_SYN: u8 = 0x02;
const TH_RST: u8 = 0x04;
const TH_PUSH: u8 = 0x08;
const TH_ACK: u8 = 0x10;

/// An IPv4 packet (checksums filled in).
fn ip4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[ttl, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    packet::fix_checksums(&mut p);
    p
}

/// An IPv6 packet (transport checksum filled in).
fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hlim: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, hlim]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    packet::fix_checksums(&mut p);
    p
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    u
}

#[allow(clippy::too_many_arguments)]
fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push((((20 + opts.len()) / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t.extend_from_slice(data);
    t
}

/// MSS 1460, window scale 7, SACK permitted, timestamps: what a SYN carries.
const SYN_OPTS: &[u8] = &[
    2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
];

fn icmp_echo(ty: u8, seq: u16, len: usize) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0, 0x42, 0x42];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend((0..len).map(|i| i as u8));
    b
}

fn arp(op: u16, spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0, 1, 8, 0, 6, 4];
    b.extend_from_slice(&op.to_be_bytes());
    b.extend_from_slice(&PEER_MAC);
    b.extend_from_slice(&spa.octets());
    b.extend_from_slice(&tha);
    b.extend_from_slice(&tpa.octets());
    b
}

/// Neighbor solicitation for `target` with our source link-layer option.
fn ns(target: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&PEER_MAC);
    b
}

/// Neighbor advertisement for `target` (solicited, override).
fn na(target: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&PEER_MAC);
    b
}

/// Router advertisement with a prefix.
fn ra() -> Vec<u8> {
    let mut b = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&PEER_MAC);
    b.extend_from_slice(&[3, 4, 64, 0xc0]);
    b.extend_from_slice(&[0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0]);
    b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0).octets());
    b.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
    b
}

fn ll(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
}

// ---------------------------------------------------------------- records

/// Ops of [`packet::Stack::record`].
const RAW: u8 = 0;
/// An IP packet to our MAC with checksums fixed.
const IP: u8 = 1 | 8;
const TIME: u8 = 2;
const SOCK: u8 = 3;
/// With [`IP`] or [`RAW`]: tagged for VLAN 5, on eth0.
const VLAN: u8 = 0x40;

/// A seed under construction: records run on a live stack as they are added.
struct Seed {
    s: Stack,
    bytes: Vec<u8>,
}

impl Seed {
    fn new() -> Self {
        Seed {
            s: Stack::new(),
            bytes: Vec::new(),
        }
    }
    fn rec(&mut self, op: u8, body: &[u8]) -> Vec<Vec<u8>> {
        self.bytes.push(op);
        self.bytes
            .extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(body);
        self.s.record(op, body)
    }
    fn ip(&mut self, p: Vec<u8>) -> Vec<Vec<u8>> {
        self.rec(IP, &p)
    }
    fn time(&mut self, ms: u32) {
        self.rec(TIME, &ms.to_le_bytes()[..3]);
    }
    fn sock(&mut self, sel: u8, arg: &[u8]) -> Vec<Vec<u8>> {
        let mut b = vec![sel];
        b.extend_from_slice(arg);
        self.rec(SOCK, &b)
    }
    fn done(mut self) -> Vec<u8> {
        self.s.finish();
        self.bytes
    }
}

/// The sequence number and source port of the first TCP segment with
/// `flags` among `out`.
fn seg_of(out: &[Vec<u8>], flags: u8) -> (u32, u16) {
    for f in out {
        let (et, p) = (u16::from_be_bytes([f[12], f[13]]), &f[14..]);
        let t = match et {
            0x0800 if p[9] == 6 => &p[usize::from(p[0] & 0xf) * 4..],
            0x86dd if p[6] == 6 => &p[40..],
            _ => continue,
        };
        if t[13] & (TH_SYN | TH_ACK | TH_RST | TH_FIN) == flags {
            return (
                u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
                u16::from_be_bytes([t[0], t[1]]),
            );
        }
    }
    panic!("no segment with flags {flags:#x} in {} frames", out.len())
}

/// One input per path through the input code, as a host would see them.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let us = IP4[0];
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, s: Seed| v.push((name.into(), s.done()));

    // ARP: a request for us (which also teaches us the peer), a reply, a
    // request for someone else, gratuitous ARP.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    add("arp-request", s);
    let mut s = Seed::new();
    s.rec(IP, &arp(2, PEER4, MAC[0], us));
    add("arp-reply", s);
    let mut s = Seed::new();
    s.rec(
        IP | 0x10,
        &arp(1, PEER4, [0; 6], Ipv4Addr::new(10, 0, 0, 99)),
    );
    s.rec(IP | 0x10, &arp(1, PEER4, [0; 6], PEER4));
    add("arp-other-gratuitous", s);

    // Raw Ethernet: a whole frame as it comes off the wire, a runt, an
    // unknown ethertype, a VLAN tag.
    let mut f = MAC[0].to_vec();
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(ip4(PEER4, us, 1, 64, 0, &icmp_echo(8, 1, 56)));
    let mut s = Seed::new();
    s.rec(RAW, &f);
    s.rec(RAW, &f[..20]);
    let mut g = f.clone();
    g[12..14].copy_from_slice(&[0x88, 0xb5]);
    s.rec(RAW, &g);
    let mut g = f[..12].to_vec();
    g.extend_from_slice(&[0x81, 0, 0, 5]);
    g.extend_from_slice(&f[12..]);
    s.rec(RAW, &g);
    add("ether-raw", s);

    // ICMP: echo to us, to the subnet broadcast, a timestamp request, an
    // unknown type; an error quoting a datagram we sent.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    s.ip(ip4(PEER4, us, 1, 64, 0, &icmp_echo(8, 1, 56)));
    s.rec(
        IP | 0x10,
        &ip4(
            PEER4,
            Ipv4Addr::new(10, 0, 0, 255),
            1,
            64,
            0,
            &icmp_echo(8, 2, 8),
        ),
    );
    s.ip(ip4(
        PEER4,
        us,
        1,
        64,
        0,
        &[13, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    s.ip(ip4(PEER4, us, 1, 64, 0, &[200, 1, 0, 0, 0, 0, 0, 0]));
    s.sock(0, &[]);
    add("icmp-echo", s);
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    let out = s.sock(5, &[0, b'x', b'y']);
    let sent = out
        .iter()
        .find(|f| f[12..14] == [0x08, 0x00])
        .expect("our datagram")[14..]
        .to_vec();
    for (ty, code) in [(11u8, 0u8), (3, 3), (3, 4), (4, 0), (5, 1)] {
        let mut e = vec![ty, code, 0, 0, 0, 0, 0x05, 0xdc];
        e.extend_from_slice(&sent[..28]);
        s.ip(ip4(PEER4, us, 1, 64, 0, &e));
    }
    s.sock(0, &[]);
    add("icmp-errors", s);

    // UDP: to the bound port, to a closed one (port unreachable), to the
    // broadcast address, a zero checksum.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    s.ip(ip4(PEER4, us, 17, 64, 0, &udp(1234, UDP_PORT, b"fuzz!")));
    s.ip(ip4(PEER4, us, 17, 64, 0, &udp(1234, 9, b"closed")));
    s.rec(
        IP | 0x10,
        &ip4(
            PEER4,
            Ipv4Addr::new(10, 0, 0, 255),
            17,
            64,
            0,
            &udp(1234, UDP_PORT, b"b"),
        ),
    );
    s.sock(0, &[]);
    add("udp", s);

    // Multicast (routing daemons' way): join RIP's group on eth0 and send
    // to it (looped back to the joined socket), a member datagram from the
    // peer, loopback off, a leave; RIPng's group joined on eth0 and sent to.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    let rip = [224, 0, 0, 9, 10, 0, 0, 20];
    s.sock(5, &[&[0x42][..], &rip].concat());
    s.rec(
        IP | 0x20,
        &ip4(
            PEER4,
            Ipv4Addr::new(224, 0, 0, 9),
            17,
            1,
            0,
            &udp(520, UDP_PORT, b"rip"),
        ),
    );
    s.sock(5, &[0x42 | 4 << 2, 0]);
    s.sock(5, &[&[0x42 | 1 << 2][..], &rip].concat());
    let mut mreq6 = vec![0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    mreq6.extend_from_slice(&2u32.to_le_bytes());
    s.sock(5, &[&[0x43 | 5 << 2][..], &mreq6].concat());
    s.sock(0, &[]);
    add("multicast", s);

    // IPv4 options, reassembly (in order, out of order, overlapping, never
    // completed), an unknown protocol.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    let whole = ip4(PEER4, us, 1, 64, 0, &icmp_echo(8, 7, 64));
    let body = &whole[20..];
    s.ip(ip4(PEER4, us, 1, 64, 0x2000, &body[..24]));
    s.ip(ip4(PEER4, us, 1, 64, 3, &body[24..]));
    s.ip(ip4(PEER4, us, 1, 64, 3, &body[24..]));
    s.ip(ip4(PEER4, us, 1, 64, 0x2000, &body[..32]));
    s.ip(ip4(PEER4, us, 1, 64, 0x2001, &body[8..40]));
    s.ip(ip4(PEER4, us, 17, 64, 0x2000, &udp(1, UDP_PORT, &[0; 16])));
    s.time(31_000);
    s.ip(ip4(PEER4, us, 99, 64, 0, b"unknown protocol"));
    let mut opt = ip4(PEER4, us, 1, 64, 0, &icmp_echo(8, 8, 8));
    opt[0] = 0x46;
    opt.splice(20..20, [7, 4, 4, 0]);
    opt[3] += 4;
    s.ip(opt);
    add("ip-frag-opts", s);

    // Forwarding: to the other link (ARP there), TTL running out, to no route.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    s.ip(ip4(
        PEER4,
        Ipv4Addr::new(10, 0, 1, 99),
        17,
        64,
        0,
        &udp(1, 2, b"fwd"),
    ));
    s.rec(IP | 4, &arp(2, Ipv4Addr::new(10, 0, 1, 99), MAC[1], IP4[1]));
    s.ip(ip4(
        PEER4,
        Ipv4Addr::new(10, 0, 1, 99),
        17,
        1,
        0,
        &udp(1, 2, b"ttl"),
    ));
    s.ip(ip4(
        PEER4,
        Ipv4Addr::new(192, 0, 2, 1),
        1,
        64,
        0,
        &icmp_echo(8, 3, 8),
    ));
    s.time(2_000);
    add("ip-forward", s);

    // TCP over IPv4: handshake to the listener, data both ways, accept, close
    // from each side; a RST; a SYN to a closed port.
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    let out = s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40000, TCP_PORT[0], 1000, 0, TH_SYN, SYN_OPTS, &[]),
    ));
    let (iss, _) = seg_of(&out, TH_SYN | TH_ACK);
    let a = iss.wrapping_add(1);
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40000, TCP_PORT[0], 1001, a, TH_ACK, &[], &[]),
    ));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(
            40000,
            TCP_PORT[0],
            1001,
            a,
            TH_ACK | TH_PUSH,
            &[],
            b"GET / HTTP/1.0\r\n\r\n",
        ),
    ));
    s.sock(1, &[]);
    s.sock(0, &[]);
    let out = s.sock(2, &[0, b'o', b'k']);
    assert!(out.iter().any(|f| f.ends_with(b"ok")), "accepted and sent");
    s.time(300);
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(
            40000,
            TCP_PORT[0],
            1019,
            a.wrapping_add(2),
            TH_ACK | TH_FIN,
            &[],
            &[],
        ),
    ));
    s.sock(3, &[0, 3]);
    s.time(1_000);
    add("tcp-server", s);
    let mut s = Seed::new();
    s.rec(IP, &arp(1, PEER4, [0; 6], us));
    let out = s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40001, TCP_PORT[0], 5000, 0, TH_SYN, &[], &[]),
    ));
    let (iss, _) = seg_of(&out, TH_SYN | TH_ACK);
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(
            40001,
            TCP_PORT[0],
            5001,
            iss.wrapping_add(1),
            TH_ACK,
            &[],
            &[],
        ),
    ));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40001, TCP_PORT[0], 5001, 0, TH_RST, &[], &[]),
    ));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40002, 23, 1, 0, TH_SYN, &[], &[]),
    ));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(40003, TCP_PORT[0], 1, 1, TH_ACK, &[], b"stray"),
    ));
    add("tcp-rst", s);

    // TCP client: connect out (ARP first), SYN-ACK, data, the peer's FIN.
    let mut s = Seed::new();
    s.sock(4, &[0, 0, 80]);
    let out = s.rec(IP, &arp(2, PEER4, MAC[0], us));
    let (iss, port) = seg_of(&out, TH_SYN);
    let a = iss.wrapping_add(1);
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(80, port, 7000, a, TH_SYN | TH_ACK, SYN_OPTS, &[]),
    ));
    let out = s.sock(2, &[0, b'h', b'i']);
    assert!(out.iter().any(|f| f.ends_with(b"hi")), "connected and sent");
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(
            80,
            port,
            7001,
            a.wrapping_add(2),
            TH_ACK | TH_PUSH,
            &[],
            b"hello",
        ),
    ));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(80, port, 7006, a.wrapping_add(2), TH_ACK | TH_FIN, &[], &[]),
    ));
    s.sock(0, &[]);
    s.time(5_000);
    add("tcp-client", s);

    // IPv6: neighbour discovery (NS for us, NA, RA), echo, UDP, an error.
    let mut s = Seed::new();
    s.ip(ip6(PEER6, IP6[0], 58, 255, &ns(IP6[0])));
    s.ip(ip6(PEER6, IP6[0], 58, 64, &icmp_echo(128, 1, 56)));
    s.ip(ip6(PEER6, IP6[0], 17, 64, &udp(1234, UDP_PORT, b"fuzz6")));
    s.ip(ip6(PEER6, IP6[0], 17, 64, &udp(1234, 9, b"closed")));
    s.sock(0, &[]);
    add("ip6-nd-echo-udp", s);
    let mut s = Seed::new();
    s.rec(
        IP | 0x20,
        &ip6(ll(1), "ff02::1".parse().unwrap(), 58, 255, &ra()),
    );
    s.rec(
        IP | 0x20,
        &ip6(
            ll(1),
            "ff02::1:ff00:20".parse().unwrap(),
            58,
            255,
            &ns(IP6[0]),
        ),
    );
    s.ip(ip6(ll(1), IP6[0], 58, 255, &na(ll(1))));
    s.rec(
        IP | 0x20,
        &ip6(
            ll(1),
            "ff02::1".parse().unwrap(),
            58,
            64,
            &icmp_echo(128, 2, 8),
        ),
    );
    s.time(40_000);
    add("ip6-ra-multicast", s);
    let mut s = Seed::new();
    s.ip(ip6(PEER6, IP6[0], 58, 255, &ns(IP6[0])));
    let out = s.sock(5, &[1, b'q']);
    let sent = out
        .iter()
        .find(|f| f[12..14] == [0x86, 0xdd] && f[14 + 6] == 17)
        .map(|f| f[14..].to_vec())
        .unwrap_or_else(|| ip6(IP6[0], PEER6, 17, 64, &udp(UDP_PORT, UDP_PORT, b"q")));
    for (ty, code) in [(1u8, 4u8), (2, 0), (3, 0), (4, 1)] {
        let mut e = vec![ty, code, 0, 0, 0, 0, 0x05, 0x00];
        e.extend_from_slice(&sent[..48.min(sent.len())]);
        s.ip(ip6(PEER6, IP6[0], 58, 64, &e));
    }
    add("ip6-errors", s);

    // IPv6 fragments (in order, duplicate, never completed), extension
    // headers, forwarding (hop limit 1, to the other link, no route).
    let mut s = Seed::new();
    s.ip(ip6(PEER6, IP6[0], 58, 255, &ns(IP6[0])));
    let body = {
        let p = ip6(PEER6, IP6[0], 58, 64, &icmp_echo(128, 9, 64));
        p[40..].to_vec()
    };
    let frag = |off: u16, m: bool, b: &[u8]| {
        let mut h = vec![58, 0];
        h.extend_from_slice(&(off << 3 | u16::from(m)).to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 7]);
        h.extend_from_slice(b);
        ip6(PEER6, IP6[0], 44, 64, &h)
    };
    s.ip(frag(0, true, &body[..32]));
    s.ip(frag(4, false, &body[32..]));
    s.ip(frag(4, false, &body[32..]));
    s.ip(frag(0, true, &body[..16]));
    s.time(61_000);
    let mut hbh = vec![58, 0, 1, 4, 0, 0, 0, 0];
    hbh.extend_from_slice(&icmp_echo(128, 10, 8));
    s.ip(ip6(PEER6, IP6[0], 0, 64, &hbh));
    let mut dst = vec![17, 0, 0xc2, 4, 0, 0, 0, 0];
    dst.extend_from_slice(&udp(1, UDP_PORT, b"d"));
    s.ip(ip6(PEER6, IP6[0], 60, 64, &dst));
    add("ip6-frag-ext", s);
    let mut s = Seed::new();
    s.ip(ip6(PEER6, IP6[0], 58, 255, &ns(IP6[0])));
    let far: Ipv6Addr = "2001:db8:1::99".parse().unwrap();
    s.ip(ip6(PEER6, far, 17, 64, &udp(1, 2, b"fwd6")));
    s.rec(IP | 4, &ip6(far, IP6[1], 58, 255, &na(far)));
    s.ip(ip6(PEER6, far, 17, 1, &udp(1, 2, b"hlim")));
    s.ip(ip6(
        PEER6,
        "2001:db8:9::1".parse().unwrap(),
        17,
        64,
        &udp(1, 2, b"noroute"),
    ));
    s.time(2_000);
    add("ip6-forward", s);

    // TCP over IPv6 to the listener.
    let mut s = Seed::new();
    s.ip(ip6(PEER6, IP6[0], 58, 255, &ns(IP6[0])));
    let out = s.ip(ip6(
        PEER6,
        IP6[0],
        6,
        64,
        &tcp(40000, TCP_PORT[1], 1000, 0, TH_SYN, SYN_OPTS, &[]),
    ));
    let (iss, _) = seg_of(&out, TH_SYN | TH_ACK);
    let a = iss.wrapping_add(1);
    s.ip(ip6(
        PEER6,
        IP6[0],
        6,
        64,
        &tcp(40000, TCP_PORT[1], 1001, a, TH_ACK, &[], &[]),
    ));
    s.ip(ip6(
        PEER6,
        IP6[0],
        6,
        64,
        &tcp(40000, TCP_PORT[1], 1001, a, TH_ACK | TH_PUSH, &[], b"six"),
    ));
    s.sock(1, &[]);
    s.sock(0, &[]);
    let out = s.sock(2, &[0, b'!']);
    assert!(out.iter().any(|f| f.ends_with(b"!")), "accepted and sent");
    s.ip(ip6(
        PEER6,
        IP6[0],
        6,
        64,
        &tcp(
            40000,
            TCP_PORT[1],
            1004,
            a.wrapping_add(1),
            TH_ACK | TH_FIN,
            &[],
            &[],
        ),
    ));
    s.sock(3, &[0, 3]);
    add("tcp6-server", s);

    // A vlan on eth0: ARP and an echo tagged for VLAN 5, answered tagged.
    let mut s = Seed::new();
    s.rec(
        IP | VLAN,
        &arp(1, Ipv4Addr::new(10, 0, 5, 1), [0; 6], IP4_VLAN),
    );
    s.rec(
        IP | VLAN,
        &ip4(
            Ipv4Addr::new(10, 0, 5, 1),
            IP4_VLAN,
            1,
            64,
            0,
            &icmp_echo(8, 1, 56),
        ),
    );
    add("vlan-arp-echo", s);

    // The firewall: a frame from the MAC rule 200 refuses at layer 2, a
    // datagram from the network rule 800 refuses (and logs), UDP and TCP
    // to port 9 answered by `unreach port` and `reset`.
    let mut s = Seed::new();
    let mut f = MAC[0].to_vec();
    f.extend_from_slice(&[0x40, 0, 0, 0, 0, 0x66]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(ip4(PEER4, us, 1, 64, 0, &icmp_echo(8, 1, 56)));
    s.rec(RAW, &f);
    s.ip(ip4(
        Ipv4Addr::new(10, 0, 9, 1),
        us,
        1,
        64,
        0,
        &icmp_echo(8, 2, 8),
    ));
    s.ip(ip4(PEER4, us, 17, 64, 0, &udp(1234, 9, b"x")));
    s.ip(ip4(
        PEER4,
        us,
        6,
        64,
        0,
        &tcp(1234, 9, 1, 0, TH_SYN, &[], &[]),
    ));
    add("ipfw-deny-reject", s);

    // Time alone, and nothing at all.
    let mut s = Seed::new();
    s.time(0xff_ffff);
    add("time", s);
    add("empty", Seed::new());
    v
}

#[test]
fn packet_seeds_are_deterministic() {
    // The seeds rely on the stack answering the same way every time (the
    // SYN-ACK's sequence number): the same input twice gives the same frames.
    let all = seeds();
    let (_, b) = all.iter().find(|(n, _)| n == "tcp-server").expect("seed");
    let frames = |b: &[u8]| {
        let mut s = Stack::new();
        let v: Vec<Vec<Vec<u8>>> = packet::records(b)
            .into_iter()
            .map(|(op, body)| s.record(op, body))
            .collect();
        s.finish();
        v
    };
    assert_eq!(frames(b), frames(b));
}

/// The harness's vlan and firewall are really there: a tagged echo is
/// answered tagged; what the rules refuse gets no answer, or the notice
/// they send.
#[test]
fn the_harness_has_a_vlan_and_a_firewall() {
    let mut s = Stack::new();
    let peer = Ipv4Addr::new(10, 0, 5, 1);
    let out = s.record(IP | VLAN, &arp(1, peer, [0; 6], IP4_VLAN));
    assert!(out
        .iter()
        .any(|f| f[12..16] == [0x81, 0, 0, 5] && f[16..18] == [8, 6]));
    let out = s.record(
        IP | VLAN,
        &ip4(peer, IP4_VLAN, 1, 64, 0, &icmp_echo(8, 1, 56)),
    );
    let tagged_reply = |f: &Vec<u8>| f[12..16] == [0x81, 0, 0, 5] && f.get(18 + 20) == Some(&0);
    assert!(out.iter().any(tagged_reply), "{out:?}");
    // Rule 200: refused at layer 2, by source MAC.
    s.record(IP, &arp(2, PEER4, MAC[0], IP4[0]));
    let echo = ip4(PEER4, IP4[0], 1, 64, 0, &icmp_echo(8, 1, 56));
    let mut f = MAC[0].to_vec();
    f.extend_from_slice(&[0x40, 0, 0, 0, 0, 0x66]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&echo);
    assert!(s.record(RAW, &f).is_empty());
    assert!(!s.record(IP, &echo).is_empty());
    // Rule 800: refused at layer 3, by source network.
    let from9 = ip4(
        Ipv4Addr::new(10, 0, 9, 1),
        IP4[0],
        1,
        64,
        0,
        &icmp_echo(8, 2, 8),
    );
    assert!(s.record(IP, &from9).is_empty());
    // A SYN to port 9 gets its RST (rule 600's `reset`, or the closed
    // port's had the rule not been there).
    let out = s.record(
        IP,
        &ip4(
            PEER4,
            IP4[0],
            6,
            64,
            0,
            &tcp(1234, 9, 1, 0, TH_SYN, &[], &[]),
        ),
    );
    assert!(out
        .iter()
        .any(|f| f[14 + 9] == 6 && f[14 + 20 + 13] & TH_RST != 0));
    s.finish();
}

#[test]
fn packet_corpus() {
    let seeds = seeds();
    replay::write_seeds(&dir(), &seeds);
    for (_, s) in &seeds {
        packet::run(s);
    }
    let n = replay::replay(&dir(), 5, replay::mutations(8), packet::run);
    assert!(n >= seeds.len());
}
