//! Kernel-level IPv6 tests: vnets wired back to back on the test network
//! ([`vimage_net::testnet`]), driven through the syscall door: link-local
//! autoconfiguration and DAD, neighbour resolution, ping across a router,
//! hop-limit expiry, fragments, bad packets, teardown, and a fuzz run.

#![cfg_attr(not(feature = "vimage"), allow(dead_code, unused_imports))]

use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;

use vimage_abi::netinet6_in6::*;
use vimage_abi::syscall::Request;
use vimage_abi::sysctl::SysctlValue;
use vimage_abi::Errno;

use super::icmp6::*;
use super::in6::{in6_addrs, in6_update_ifa, In6Ifaddr};
use super::ip6_input::ip6_input;
use super::ip6_output::ip6_build;
use crate::ip::{IPPROTO_DSTOPTS, IPPROTO_ICMPV6, IPPROTO_UDP};
use crate::testnet::{Host, Net};
use vimage_kern::uipc_socket::MSG_DONTWAIT;
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::ifunit;
use vimage_net::route::{rt_add, RtGateway};

const PF_INET6: i32 = vimage_abi::netinet6_in6::AF_INET6 as i32;

fn mac(n: u8) -> [u8; 6] {
    [0x40, 0x00, 0xaa, 0xaa, 0x00, n]
}

/// The link-local address the tutorial's MAC 40:00:aa:aa:00:NN gets.
fn ll(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0x4200, 0xaaff, 0xfeaa, u16::from(n))
}

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// What these tests do through the syscall door, over IPv6.
trait Net6 {
    fn sock(&self, h: &mut Host, ty: i32, proto: i32) -> i32;
    fn addr(&self, h: &mut Host, ifname: &str, a: &str, plen: u8) -> Result<(), Errno>;
    fn nd6_dump(&self, h: &mut Host) -> Vec<Nd6Dump>;
    fn icmp6stat(&self, h: &mut Host) -> Icmp6Stat;
    fn ip6stat(&self, h: &mut Host) -> Ip6Stat;
    fn icmp_sock(&self, h: &mut Host) -> i32;
    fn send_echo(&self, h: &mut Host, fd: i32, to: &str, scope: u32, seq: u16, len: usize);
    fn recv_all(&self, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, Ip6RecvInfo)>;
}

impl Net6 for Net {
    fn sock(&self, h: &mut Host, ty: i32, proto: i32) -> i32 {
        self.socket(h, PF_INET6, ty, proto)
    }

    /// `ifconfig IF inet6 ADDR prefixlen PLEN`.
    fn addr(&self, h: &mut Host, ifname: &str, a: &str, plen: u8) -> Result<(), Errno> {
        let r = In6AliasReq::new(ifname, a6(a), plen);
        self.ioctl(h, PF_INET6, SIOCAIFADDR_IN6, r.to_bytes().unwrap())
            .map(|_| ())
    }

    fn nd6_dump(&self, h: &mut Host) -> Vec<Nd6Dump> {
        match self.sysctl(h, "net.inet6.icmp6.nd6_dump", None) {
            SysctlValue::Opaque(_, b) => Nd6Dump::decode_list(&b).unwrap(),
            v => panic!("{v:?}"),
        }
    }

    fn icmp6stat(&self, h: &mut Host) -> Icmp6Stat {
        match self.sysctl(h, "net.inet6.icmp6.stats", None) {
            SysctlValue::Opaque(_, b) => Icmp6Stat::from_bytes(&b).unwrap(),
            v => panic!("{v:?}"),
        }
    }

    fn ip6stat(&self, h: &mut Host) -> Ip6Stat {
        match self.sysctl(h, "net.inet6.ip6.stats", None) {
            SysctlValue::Opaque(_, b) => Ip6Stat::from_bytes(&b).unwrap(),
            v => panic!("{v:?}"),
        }
    }

    /// A raw ICMPv6 socket that reports hop limits.
    fn icmp_sock(&self, h: &mut Host) -> i32 {
        let fd = self.sock(h, SOCK_RAW, IPPROTO_ICMPV6 as i32);
        self.call(
            h,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IPV6,
                name: IPV6_RECVHOPLIMIT,
                val: 1i32.to_le_bytes().to_vec(),
            },
        )
        .expect("IPV6_RECVHOPLIMIT");
        fd
    }

    fn send_echo(&self, h: &mut Host, fd: i32, to: &str, scope: u32, seq: u16, len: usize) {
        let mut m = vec![ICMP6_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34];
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend((0..len).map(|i| i as u8));
        let sa = SockaddrIn6::new(a6(to), scope);
        self.call(
            h,
            Request::Sendto {
                fd,
                flags: 0,
                addr: Some(sa.to_bytes().to_vec()),
                data: m,
            },
        )
        .expect("sendto");
    }

    /// Every message queued on `fd`: (data, info).
    fn recv_all(&self, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, Ip6RecvInfo)> {
        self.drain(h, fd)
            .into_iter()
            .map(|(d, a)| (d, Ip6RecvInfo::from_bytes(&a).unwrap()))
            .collect()
    }
}

/// What these tests do inside a host's IPv6 stack.
trait Host6 {
    fn flags_of(&self, ifname: &str, a: &Ipv6Addr) -> Option<u32>;
    fn route(&self, dst: &str, plen: u8, gw: &str, ifname: &str);
    fn inject(&self, ifname: &str, pkt: &[u8]);
}

impl Host6 for Host {
    fn flags_of(&self, ifname: &str, a: &Ipv6Addr) -> Option<u32> {
        self.with(|| {
            let ifp = ifunit(ifname)?;
            in6_addrs(&ifp)
                .iter()
                .find(|x| x.addr == *a)
                .map(|x| x.flags)
        })
    }
    /// A static route `dst/plen` via `gw` on `ifname`.
    fn route(&self, dst: &str, plen: u8, gw: &str, ifname: &str) {
        self.with(|| {
            let ifp = ifunit(ifname).expect("ifp");
            rt_add(
                a6(dst).into(),
                plen,
                RtGateway::Inet(a6(gw).into()),
                &ifp,
                None,
                vimage_abi::route::RTF_GATEWAY | vimage_abi::route::RTF_STATIC,
            )
        })
        .expect("route");
    }
    /// Hand a raw IPv6 packet to the stack as if it arrived on `ifname`.
    fn inject(&self, ifname: &str, pkt: &[u8]) {
        self.with(|| {
            let ifp = ifunit(ifname).expect("ifp");
            ip6_input(&ifp, Mbuf::from_slice(pkt));
        });
    }
}

fn echo_reply_seqs(got: &[(Vec<u8>, Ip6RecvInfo)]) -> Vec<u16> {
    got.iter()
        .filter(|(d, _)| d.first() == Some(&ICMP6_ECHO_REPLY))
        .map(|(d, _)| u16::from_be_bytes([d[6], d[7]]))
        .collect()
}

#[test]
fn loopback_up_gets_localhost_and_fe80_1() {
    let n = Net::boot();
    let mut h = n.host("default");
    n.up(&mut h, "lo0");
    let got = h.with(|| in6_addrs(&ifunit("lo0").unwrap()));
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].addr, got[0].plen, got[0].flags),
        (a6("::1"), 128, 0)
    );
    assert_eq!(
        (got[1].addr, got[1].plen, got[1].flags),
        (a6("fe80::1"), 64, 0)
    );
    // Reported like the tutorial's lo0: fe80::1%lo0 prefixlen 64 scopeid 0x1.
    let info = h.with(|| ifunit("lo0").unwrap().info());
    assert_eq!(info.addrs[1].scope, 1);
    assert_eq!(info.addrs[0].scope, 0);
    // Ping ourselves over the loopback.
    let fd = n.icmp_sock(&mut h);
    n.send_echo(&mut h, fd, "::1", 0, 7, 8);
    let got = n.recv_all(&mut h, fd);
    // The raw socket sees its own request and the reply.
    assert_eq!(echo_reply_seqs(&got), vec![7]);
    let reply = got.iter().find(|(d, _)| d[0] == ICMP6_ECHO_REPLY).unwrap();
    assert_eq!(reply.1.hoplimit, Some(64));
    assert_eq!(reply.1.from.unwrap().addr, a6("::1"));
    n.send_echo(&mut h, fd, "fe80::1", 1, 8, 8);
    assert_eq!(echo_reply_seqs(&n.recv_all(&mut h, fd)), vec![8]);
    // A scoped destination needs its zone.
    let r = n.call(
        &mut h,
        Request::Sendto {
            fd,
            flags: 0,
            addr: Some(SockaddrIn6::new(a6("fe80::1"), 0).to_bytes().to_vec()),
            data: vec![128, 0, 0, 0, 0, 0, 0, 0],
        },
    );
    assert_eq!(r.err(), Some(Errno::EINVAL));
    // Raw sockets are found by protocol: another protocol's sees nothing,
    // and a closed one leaves the table.
    let other = n.sock(&mut h, SOCK_RAW, 253);
    n.send_echo(&mut h, fd, "::1", 0, 9, 8);
    assert_eq!(echo_reply_seqs(&n.recv_all(&mut h, fd)), vec![9]);
    assert!(n.recv_all(&mut h, other).is_empty());
    assert_eq!(h.with(|| super::in6::vnet_inet6().rip6.list().len()), 2);
    n.call(&mut h, Request::Close { fd: other }).unwrap();
    assert_eq!(h.with(|| super::in6::vnet_inet6().rip6.list().len()), 1);
}

#[test]
fn address_ioctls_and_their_errors() {
    let n = Net::boot();
    let mut h = n.host("default");
    n.up(&mut h, "lo0");
    assert_eq!(n.addr(&mut h, "nosuch0", "a::1", 64), Err(Errno::ENXIO));
    assert_eq!(n.addr(&mut h, "lo0", "ff02::1", 64), Err(Errno::EINVAL));
    assert_eq!(n.addr(&mut h, "lo0", "fe80::2", 48), Err(Errno::EINVAL));
    n.addr(&mut h, "lo0", "a:9::1", 64).unwrap();
    let f = h.flags_of("lo0", &a6("a:9::1"));
    assert_eq!(f, Some(0), "no DAD on the loopback");
    // SIOCGIFAFLAG_IN6, SIOCDIFADDR_IN6; deleting twice is EADDRNOTAVAIL.
    let q = In6IfReq::with_addr("lo0", SockaddrIn6::new(a6("a:9::1"), 0));
    let r = n
        .ioctl(&mut h, PF_INET6, SIOCGIFAFLAG_IN6, q.to_bytes().unwrap())
        .unwrap();
    assert_eq!(In6IfReq::from_bytes(&r).unwrap().flags6(), 0);
    n.ioctl(&mut h, PF_INET6, SIOCDIFADDR_IN6, q.to_bytes().unwrap())
        .unwrap();
    assert_eq!(
        n.ioctl(&mut h, PF_INET6, SIOCDIFADDR_IN6, q.to_bytes().unwrap()),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        n.ioctl(&mut h, PF_INET6, SIOCAIFADDR_IN6, vec![0; 10]),
        Err(Errno::EINVAL),
        "size does not match the command"
    );
    // Sysctls are per vnet and bounded.
    assert_eq!(
        n.sysctl(
            &mut h,
            "net.inet6.ip6.forwarding",
            Some(SysctlValue::Int(1))
        ),
        SysctlValue::Int(0)
    );
    assert_eq!(
        n.sysctl(&mut h, "net.inet6.ip6.forwarding", None),
        SysctlValue::Int(1)
    );
    assert_eq!(
        n.sysctl(&mut h, "net.inet6.ip6.hlim", None),
        SysctlValue::Int(64)
    );
}

#[cfg(feature = "vimage")]
#[test]
fn link_local_autoconf_dad_and_neighbour_resolution() {
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    // fe80::4200:aaff:feaa:3 appears at once, tentative until DAD ends.
    assert_eq!(a.flags_of("eth0", &ll(3)), Some(IN6_IFF_TENTATIVE));
    let info = a.with(|| ifunit("eth0").unwrap().info());
    assert_eq!(info.addrs[0].scope, info.index);
    n.advance_ms(999);
    assert_eq!(a.flags_of("eth0", &ll(3)), Some(IN6_IFF_TENTATIVE));
    n.advance_ms(1);
    assert_eq!(a.flags_of("eth0", &ll(3)), Some(0));
    n.up(&mut b, "eth0");
    n.advance_ms(1000);
    assert_eq!(b.flags_of("eth0", &ll(4)), Some(0));
    // Echo to the neighbour's link-local address: NS, NA, echo, reply.
    let fd = n.icmp_sock(&mut a);
    let idx = a.with(|| ifunit("eth0").unwrap().index.load(Ordering::Relaxed));
    n.send_echo(&mut a, fd, &ll(4).to_string(), idx, 0, 8);
    let got = n.recv_all(&mut a, fd);
    // getsockname of a socket connected to the neighbour: the source the
    // kernel picks (what ping6 prints).
    let c = n.icmp_sock(&mut a);
    n.call(
        &mut a,
        Request::Connect {
            fd: c,
            addr: SockaddrIn6::new(ll(4), idx).to_bytes().to_vec(),
        },
    )
    .unwrap();
    let r = n.call(&mut a, Request::Getsockname { fd: c }).unwrap();
    assert_eq!(
        SockaddrIn6::from_bytes(&r.addr).unwrap(),
        SockaddrIn6::new(ll(3), idx)
    );
    assert_eq!(echo_reply_seqs(&got), vec![0]);
    let r = got.iter().find(|(d, _)| d[0] == ICMP6_ECHO_REPLY).unwrap();
    assert_eq!(r.1.from, Some(SockaddrIn6::new(ll(4), idx)));
    assert_eq!(r.1.hoplimit, Some(64));
    // a learned b from the NA (reachable); b learned a from the NS (stale).
    let da = n.nd6_dump(&mut a);
    let e = da.iter().find(|e| e.addr == ll(4)).unwrap();
    assert_eq!(
        (e.state, e.lladdr.clone(), e.permanent),
        (ND6_LLINFO_REACHABLE, mac(4).to_vec(), false)
    );
    assert!(da.iter().any(|e| e.addr == ll(3) && e.permanent));
    let db = n.nd6_dump(&mut b);
    let e = db.iter().find(|e| e.addr == ll(3)).unwrap();
    // b used the entry to answer: stale -> delay.
    assert_eq!(e.state, ND6_LLINFO_DELAY);
    // After the delay b probes with a unicast NS; a's NA makes it reachable.
    n.advance_ms(5000);
    let db = n.nd6_dump(&mut b);
    let e = db.iter().find(|e| e.addr == ll(3)).unwrap();
    assert_eq!(e.state, ND6_LLINFO_REACHABLE);
    // Reachability lapses after 30 s without confirmation.
    n.advance_ms(30_000);
    let e = n
        .nd6_dump(&mut b)
        .into_iter()
        .find(|e| e.addr == ll(3))
        .unwrap();
    assert_eq!(e.state, ND6_LLINFO_STALE);
    // SIOCGNBRINFO_IN6 sees the same entry.
    let q = In6NbrInfo {
        ifname: "eth0".into(),
        addr: ll(3),
        asked: 0,
        isrouter: 0,
        state: 0,
        expire: 0,
    };
    let r = n
        .ioctl(&mut b, PF_INET6, SIOCGNBRINFO_IN6, q.to_bytes().unwrap())
        .unwrap();
    assert_eq!(In6NbrInfo::from_bytes(&r).unwrap().state, ND6_LLINFO_STALE);
    let st = n.icmp6stat(&mut a);
    assert!(st.outhist[ND_NEIGHBOR_SOLICIT as usize] >= 2);
    assert_eq!(st.inhist[ND_NEIGHBOR_ADVERT as usize], 1);
}

#[cfg(feature = "vimage")]
#[test]
fn duplicate_address_detection_marks_the_second_user() {
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::1", 64).unwrap();
    n.advance_ms(1000);
    assert_eq!(a.flags_of("eth0", &a6("a:1::1")), Some(0));
    // b wants the same address: a defends it, b marks it duplicated.
    n.addr(&mut b, "eth0", "a:1::1", 64).unwrap();
    assert_eq!(b.flags_of("eth0", &a6("a:1::1")), Some(IN6_IFF_DUPLICATED));
    assert_eq!(n.icmp6stat(&mut b).c.icp6s_dupaddr, 1);
    n.advance_ms(2000);
    assert_eq!(b.flags_of("eth0", &a6("a:1::1")), Some(IN6_IFF_DUPLICATED));
    assert_eq!(a.flags_of("eth0", &a6("a:1::1")), Some(0));
    // Two nodes checking one address: the one that hears the other's probe
    // while still tentative gives it up (a's probe went out before b had it).
    n.addr(&mut a, "eth0", "a:1::7", 64).unwrap();
    n.addr(&mut b, "eth0", "a:1::7", 64).unwrap();
    assert_eq!(a.flags_of("eth0", &a6("a:1::7")), Some(IN6_IFF_DUPLICATED));
    n.advance_ms(1000);
    assert_eq!(b.flags_of("eth0", &a6("a:1::7")), Some(0));
    // NODAD skips the check.
    let mut r = In6AliasReq::new("eth0", a6("a:1::9"), 64);
    r.flags = IN6_IFF_NODAD;
    n.ioctl(&mut b, PF_INET6, SIOCAIFADDR_IN6, r.to_bytes().unwrap())
        .unwrap();
    assert_eq!(b.flags_of("eth0", &a6("a:1::9")), Some(0));
}

/// a (eth0 a:1::2) — (eth0 a:1::1) r (eth1 a:2::1) — (eth0 a:2::2) b, with
/// default routes through r.
#[cfg(feature = "vimage")]
fn three_hosts(n: &Net) -> (Host, Host, Host) {
    let mut a = n.host("a");
    let mut r = n.host("r");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &r, "eth0", mac(4));
    n.wire(&r, "eth1", mac(5), &b, "eth0", mac(6));
    n.up(&mut a, "eth0");
    n.up(&mut r, "eth0");
    n.up(&mut r, "eth1");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    n.addr(&mut r, "eth0", "a:1::1", 64).unwrap();
    n.addr(&mut r, "eth1", "a:2::1", 64).unwrap();
    n.addr(&mut b, "eth0", "a:2::2", 64).unwrap();
    n.advance_ms(1000);
    a.route("::", 0, "a:1::1", "eth0");
    b.route("::", 0, "a:2::1", "eth0");
    (a, r, b)
}

#[cfg(feature = "vimage")]
#[test]
fn ping_across_a_router_needs_forwarding() {
    let n = Net::boot();
    let (mut a, mut r, mut b) = three_hosts(&n);
    let fd = n.icmp_sock(&mut a);
    n.send_echo(&mut a, fd, "a:2::2", 0, 1, 8);
    assert!(echo_reply_seqs(&n.recv_all(&mut a, fd)).is_empty());
    assert_eq!(n.ip6stat(&mut r).ip6s_cantforward, 1);
    n.sysctl(
        &mut r,
        "net.inet6.ip6.forwarding",
        Some(SysctlValue::Int(1)),
    );
    n.send_echo(&mut a, fd, "a:2::2", 0, 2, 8);
    let got = n.recv_all(&mut a, fd);
    assert_eq!(echo_reply_seqs(&got), vec![2]);
    let rep = got.iter().find(|(d, _)| d[0] == ICMP6_ECHO_REPLY).unwrap();
    assert_eq!(rep.1.hoplimit, Some(63), "one router on the way back");
    assert_eq!(rep.1.from.unwrap().addr, a6("a:2::2"));
    assert_eq!(n.ip6stat(&mut r).ip6s_forward, 2);
    // b saw the request with one hop less; its reply came from a:2::2.
    assert_eq!(n.icmp6stat(&mut b).c.icp6s_reflect, 1);
    // A destination with no route: unreachable, no route.
    r.with(|| {
        let _ = vimage_net::route::rt_delete(a6("a:2::").into(), 64);
    });
    let mut m = vec![ICMP6_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 3];
    m.extend_from_slice(&[0; 8]);
    n.call(
        &mut a,
        Request::Sendto {
            fd,
            flags: 0,
            addr: Some(SockaddrIn6::new(a6("a:2::2"), 0).to_bytes().to_vec()),
            data: m,
        },
    )
    .unwrap();
    let got = n.recv_all(&mut a, fd);
    let err = got.iter().find(|(d, _)| d[0] == ICMP6_DST_UNREACH).unwrap();
    assert_eq!(err.0[1], ICMP6_DST_UNREACH_NOROUTE);
    assert_eq!(err.1.from.unwrap().addr, a6("a:1::1"));
}

#[cfg(feature = "vimage")]
#[test]
fn hop_limit_expiry_gets_time_exceeded_from_the_router() {
    let n = Net::boot();
    let (mut a, mut r, _b) = three_hosts(&n);
    n.sysctl(
        &mut r,
        "net.inet6.ip6.forwarding",
        Some(SysctlValue::Int(1)),
    );
    let fd = n.icmp_sock(&mut a);
    n.call(
        &mut a,
        Request::Setsockopt {
            fd,
            level: IPPROTO_IPV6,
            name: IPV6_UNICAST_HOPS,
            val: 1i32.to_le_bytes().to_vec(),
        },
    )
    .unwrap();
    n.send_echo(&mut a, fd, "a:2::2", 0, 9, 8);
    let got = n.recv_all(&mut a, fd);
    let te = got
        .iter()
        .find(|(d, _)| d[0] == ICMP6_TIME_EXCEEDED)
        .expect("time exceeded");
    assert_eq!(te.0[1], ICMP6_TIME_EXCEED_TRANSIT);
    assert_eq!(te.1.from.unwrap().addr, a6("a:1::1"));
    // The quote holds our request: hop limit 1, to b.
    let q = Icmp6Quote::parse(&te.0[8..]).unwrap();
    assert_eq!(q.dst_addr, a6("a:2::2"));
    assert_eq!(te.0[8 + 7], 1);
    assert_eq!(n.icmp6stat(&mut r).outhist[ICMP6_TIME_EXCEEDED as usize], 1);
    // Not about errors: a time exceeded that itself expires is dropped silently.
    let st0 = n.icmp6stat(&mut r).c.icp6s_canterror;
    let err = icmp6_build(
        a6("a:1::2"),
        a6("a:2::2"),
        1,
        &Icmp6Repr::DstUnreach {
            code: 0,
            quote: &ip6_build(a6("a:2::2"), a6("a:1::2"), 59, 5, &[]),
        },
    );
    r.inject("eth0", &err);
    assert_eq!(n.icmp6stat(&mut r).c.icp6s_canterror, st0 + 1);
}

#[cfg(feature = "vimage")]
#[test]
fn big_echoes_are_fragmented_and_reassembled_and_stale_pieces_time_out() {
    let n = Net::boot();
    let (mut a, mut r, mut b) = three_hosts(&n);
    n.sysctl(
        &mut r,
        "net.inet6.ip6.forwarding",
        Some(SysctlValue::Int(1)),
    );
    let fd = n.icmp_sock(&mut a);
    // One packet waits per unresolved neighbour (the last one): warm the
    // neighbour caches on the way first.
    n.send_echo(&mut a, fd, "a:2::2", 0, 3, 8);
    assert_eq!(echo_reply_seqs(&n.recv_all(&mut a, fd)), vec![3]);
    n.send_echo(&mut a, fd, "a:2::2", 0, 4, 3000);
    let got = n.recv_all(&mut a, fd);
    let rep = got
        .iter()
        .find(|(d, _)| d[0] == ICMP6_ECHO_REPLY)
        .expect("reply");
    assert_eq!(rep.0.len(), 8 + 3000);
    assert!(rep.0[8..].iter().enumerate().all(|(i, &x)| x == i as u8));
    assert_eq!(n.ip6stat(&mut b).ip6s_reassembled, 1);
    assert_eq!(n.ip6stat(&mut a).ip6s_reassembled, 1);
    assert_eq!(n.ip6stat(&mut a).ip6s_fragmented, 1);
    // Too big for the router's next link and not to be fragmented by it.
    r.with(|| ifunit("eth1").unwrap().mtu.store(1280, Ordering::Relaxed));
    a.with(|| {
        let p = ip6_build(a6("a:1::2"), a6("a:2::2"), 59, 64, &[0u8; 1400]);
        let _ = super::ip6_output::ip6_output(p, &Default::default());
    });
    let got = n.recv_all(&mut a, fd);
    let ptb = got
        .iter()
        .find(|(d, _)| d[0] == ICMP6_PACKET_TOO_BIG)
        .expect("packet too big");
    assert_eq!(
        u32::from_be_bytes([ptb.0[4], ptb.0[5], ptb.0[6], ptb.0[7]]),
        1280
    );
    // A first fragment alone: after 60 s, time exceeded in reassembly.
    let mut body = vec![ICMP6_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
    body.extend_from_slice(&[0u8; 1400]);
    let whole = ip6_build(a6("a:2::2"), a6("a:1::2"), IPPROTO_ICMPV6, 64, &body);
    let frags = a.with(|| super::ip6_output::ip6_fragment(&whole, 1280).unwrap());
    let f0 = n.ip6stat(&mut a).ip6s_fragments;
    a.inject("eth0", &frags[0]);
    assert_eq!(n.ip6stat(&mut a).ip6s_fragments, f0 + 1);
    n.advance_ms(60_000);
    assert_eq!(n.ip6stat(&mut a).ip6s_fragtimeout, 1);
    assert_eq!(
        n.icmp6stat(&mut a).outhist[ICMP6_TIME_EXCEEDED as usize],
        1,
        "reassembly timeout reported"
    );
    // Overlapping pieces drop the datagram.
    let before = n.ip6stat(&mut a).ip6s_fragdropped;
    a.inject("eth0", &frags[0]);
    a.inject("eth0", &frags[0]);
    assert_eq!(n.ip6stat(&mut a).ip6s_fragdropped, before + 2);
}

#[cfg(feature = "vimage")]
#[test]
fn unanswered_resolution_gives_up_with_address_unreachable() {
    let n = Net::boot();
    let mut a = n.host("a");
    let b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "lo0");
    n.up(&mut a, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    n.advance_ms(1000);
    let fd = n.icmp_sock(&mut a);
    // Only the last packet waits for the neighbour.
    n.send_echo(&mut a, fd, "a:1::99", 0, 1, 8);
    n.send_echo(&mut a, fd, "a:1::99", 0, 2, 8);
    let d = n.nd6_dump(&mut a);
    let e = d.iter().find(|e| e.addr == a6("a:1::99")).unwrap();
    assert_eq!(
        (e.state, e.lladdr.len(), e.asked),
        (ND6_LLINFO_INCOMPLETE, 0, 1)
    );
    n.advance_ms(1000);
    n.advance_ms(1000);
    assert_eq!(
        n.nd6_dump(&mut a)
            .iter()
            .find(|e| e.addr == a6("a:1::99"))
            .unwrap()
            .asked,
        3
    );
    n.advance_ms(1000);
    assert!(!n.nd6_dump(&mut a).iter().any(|e| e.addr == a6("a:1::99")));
    let got = n.recv_all(&mut a, fd);
    let un: Vec<_> = got
        .iter()
        .filter(|(d, _)| d[0] == ICMP6_DST_UNREACH)
        .collect();
    assert_eq!(un.len(), 1, "one packet was held");
    assert_eq!(un[0].0[1], ICMP6_DST_UNREACH_ADDR);
    // It quotes the last request (sequence 2).
    assert_eq!(&un[0].0[8 + 40 + 6..8 + 40 + 8], &[0, 2]);
    // Three multicast solicitations went out (plus the DAD ones).
    let st = n.icmp6stat(&mut a);
    assert_eq!(st.outhist[ND_NEIGHBOR_SOLICIT as usize], 3 + 2);
}

/// Bad packets are dropped and counted; those RFC 8200 asks about are answered.
#[cfg(feature = "vimage")]
#[test]
fn bad_packets_are_dropped_and_counted() {
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    n.addr(&mut b, "eth0", "a:1::3", 64).unwrap();
    n.advance_ms(1000);
    let me = a6("a:1::2");
    let peer = a6("a:1::3");
    let s0 = n.ip6stat(&mut a);
    a.inject("eth0", &[0x60; 20]);
    let mut v4 = ip6_build(peer, me, 59, 64, &[]);
    v4[0] = 0x45;
    a.inject("eth0", &v4);
    let mut long = ip6_build(peer, me, 59, 64, &[0; 8]);
    long[5] = 200;
    a.inject("eth0", &long);
    let s1 = n.ip6stat(&mut a);
    assert_eq!(s1.ip6s_tooshort, s0.ip6s_tooshort + 2);
    assert_eq!(s1.ip6s_badvers, s0.ip6s_badvers + 1);
    // Neighbour discovery from beyond the link (hop limit not 255).
    let ns = |hlim: u8| {
        icmp6_build(
            peer,
            me,
            hlim,
            &Icmp6Repr::Ndisc(super::nd6::NdiscRepr::NeighborSolicit {
                target: me,
                lladdr: Some(vimage_net::ethernet::EtherAddr([0x40, 0, 0xaa, 0xaa, 0, 4])),
            }),
        )
    };
    a.inject("eth0", &ns(64));
    let na = icmp6_build(
        peer,
        me,
        254,
        &Icmp6Repr::Ndisc(super::nd6::NdiscRepr::NeighborAdvert {
            flags: super::nd6::ND_NA_FLAG_SOLICITED,
            target: peer,
            lladdr: None,
        }),
    );
    a.inject("eth0", &na);
    let c = n.icmp6stat(&mut a).c;
    assert_eq!((c.icp6s_badns, c.icp6s_badna), (1, 1));
    // The well-formed NS is answered and learned from.
    a.inject("eth0", &ns(255));
    assert!(n.nd6_dump(&mut a).iter().any(|e| e.addr == peer));
    // Bad checksum.
    let mut e = icmp6_build(
        peer,
        me,
        64,
        &Icmp6Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"x",
        },
    );
    e[42] ^= 0xff;
    a.inject("eth0", &e);
    assert_eq!(n.icmp6stat(&mut a).c.icp6s_checksum, 1);
    // A truncated destination options header (says 16 bytes, has 8).
    let t = ip6_build(peer, me, IPPROTO_DSTOPTS, 64, &[59, 1, 1, 4, 0, 0, 0, 0]);
    a.inject("eth0", &t);
    assert_eq!(n.ip6stat(&mut a).ip6s_toosmall, s0.ip6s_toosmall + 1);
    // An unknown option whose type says "discard and complain".
    let opt = ip6_build(peer, me, IPPROTO_DSTOPTS, 64, &[59, 0, 0x80, 4, 0, 0, 0, 0]);
    let out0 = n.icmp6stat(&mut a).outhist[ICMP6_PARAM_PROB as usize];
    a.inject("eth0", &opt);
    assert_eq!(
        n.icmp6stat(&mut a).outhist[ICMP6_PARAM_PROB as usize],
        out0 + 1
    );
    // An unknown next header: parameter problem pointing at it.
    let fd = n.icmp_sock(&mut b);
    let unk = ip6_build(peer, me, 253, 64, &[0; 8]);
    a.inject("eth0", &unk);
    assert_eq!(n.ip6stat(&mut a).ip6s_noproto, 1);
    let got = n.recv_all(&mut b, fd);
    let pp = got
        .iter()
        .find(|(d, _)| d[0] == ICMP6_PARAM_PROB && d[1] == ICMP6_PARAMPROB_NEXTHEADER)
        .expect("parameter problem");
    assert_eq!(u32::from_be_bytes([pp.0[4], pp.0[5], pp.0[6], pp.0[7]]), 6);
    // UDP to a port nobody listens on: port unreachable.
    let mut u = vec![0x80, 0x00, 0x82, 0x9a, 0, 12, 0, 0, 1, 2, 3, 4];
    let c = crate::ip::PseudoHdr::V6 { src: peer, dst: me }.checksum(IPPROTO_UDP, &u);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    a.inject("eth0", &ip6_build(peer, me, IPPROTO_UDP, 64, &u));
    let got = n.recv_all(&mut b, fd);
    assert!(got
        .iter()
        .any(|(d, _)| d[0] == ICMP6_DST_UNREACH && d[1] == ICMP6_DST_UNREACH_NOPORT));
    // Multicast not joined.
    let nm = n.ip6stat(&mut a).ip6s_notmember;
    let mc = ip6_build(peer, a6("ff02::1:2"), 59, 64, &[]);
    a.inject("eth0", &mc);
    assert_eq!(n.ip6stat(&mut a).ip6s_notmember, nm + 1);
    // Loopback addresses never arrive from outside.
    a.inject("eth0", &ip6_build(a6("::1"), me, 59, 64, &[]));
    assert_eq!(n.ip6stat(&mut a).ip6s_badscope, 1);
    // Nor is anything for an address still in DAD taken in.
    n.addr(&mut a, "eth0", "a:1::8", 64).unwrap();
    let d0 = n.ip6stat(&mut a).ip6s_delivered;
    a.inject("eth0", &ip6_build(peer, a6("a:1::8"), 59, 64, &[]));
    assert_eq!(n.ip6stat(&mut a).ip6s_delivered, d0);
}

#[cfg(feature = "vimage")]
#[test]
fn destroying_a_vimage_with_ipv6_state_live() {
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    // Sockets open, a DAD pending, a resolution holding a packet, fragments
    // waiting: then the vimage goes.
    let fd = n.icmp_sock(&mut a);
    n.advance_ms(1000);
    n.send_echo(&mut a, fd, "a:1::77", 0, 1, 8);
    let mut body = vec![ICMP6_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
    body.extend_from_slice(&[0u8; 1400]);
    let whole = ip6_build(a6("a:1::5"), a6("a:1::2"), IPPROTO_ICMPV6, 64, &body);
    let frags = a.with(|| super::ip6_output::ip6_fragment(&whole, 1280).unwrap());
    a.inject("eth0", &frags[0]);
    n.addr(&mut b, "eth0", "a:1::3", 64).unwrap();
    // The processes exit (their sockets close); the stack state stays.
    a.td.fds.close_all();
    b.td.fds.close_all();
    n.k.vi_destroy(n.k.vimage0(), "b").unwrap();
    n.k.vi_destroy(n.k.vimage0(), "a").unwrap();
    // Timers of the dead vnets fire into nothing.
    for _ in 0..70 {
        n.advance_ms(1000);
    }
    assert!(a.td.vimage.is_dead());
}

/// Random and mutated packets through ip6_input, ICMPv6 and ND: nothing
/// panics (FUZZ_ITERS / FUZZ_SEED vary the run).
#[cfg(feature = "vimage")]
#[test]
fn fuzz_ip6_input_icmp6_nd6() {
    use vimage_kern::fuzz::{mutate, rounds, Rng};
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    n.sysctl(
        &mut a,
        "net.inet6.ip6.forwarding",
        Some(SysctlValue::Int(1)),
    );
    n.sysctl(
        &mut a,
        "net.inet6.icmp6.errppslimit",
        Some(SysctlValue::Int(-1)),
    );
    n.advance_ms(1000);
    let me = a6("a:1::2");
    let peer = ll(4);
    let lla = vimage_net::ethernet::EtherAddr([0x40, 0, 0xaa, 0xaa, 0, 4]);
    let seeds: Vec<Vec<u8>> = vec![
        icmp6_build(
            peer,
            me,
            64,
            &Icmp6Repr::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: b"abcdefgh",
            },
        ),
        icmp6_build(
            peer,
            in6_solicited(&me),
            255,
            &Icmp6Repr::Ndisc(super::nd6::NdiscRepr::NeighborSolicit {
                target: me,
                lladdr: Some(lla),
            }),
        ),
        icmp6_build(
            peer,
            me,
            255,
            &Icmp6Repr::Ndisc(super::nd6::NdiscRepr::NeighborAdvert {
                flags: super::nd6::ND_NA_FLAG_SOLICITED | super::nd6::ND_NA_FLAG_OVERRIDE,
                target: peer,
                lladdr: Some(lla),
            }),
        ),
        ip6_build(
            peer,
            me,
            IPPROTO_DSTOPTS,
            64,
            &[58, 0, 1, 4, 0, 0, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0],
        ),
        ip6_build(peer, a6("a:9::9"), 59, 2, &[]),
        ip6_build(
            peer,
            me,
            44,
            64,
            &[58, 0, 0, 1, 0, 0, 0, 9, 128, 0, 0, 0, 0, 0, 0, 0],
        ),
        ip6_build(peer, me, 0, 64, &[59, 0, 5, 2, 0, 0, 1, 0]),
    ];
    let len_fields: &[(usize, usize)] = &[(4, 2), (41, 1), (43, 1)];
    let mut rng = Rng::new(0x1f6);
    let iters = rounds() / 10;
    for i in 0..iters {
        let s = &seeds[rng.below(seeds.len())];
        let mut p: Vec<u8> = if rng.below(10) == 0 {
            (0..rng.below(200)).map(|_| rng.byte()).collect()
        } else {
            mutate(&mut rng, s, len_fields)
        };
        // Half the time make the mutant consistent enough to get past the
        // header and checksum checks: right payload length, version 6, a
        // valid ICMPv6 sum.
        if p.len() >= 48 && rng.below(2) == 0 {
            p[0] = 0x60 | (p[0] & 0x0f);
            let plen = (p.len() - 40) as u16;
            p[4..6].copy_from_slice(&plen.to_be_bytes());
            if p[6] == IPPROTO_ICMPV6 {
                let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
                let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
                p[42] = 0;
                p[43] = 0;
                let c = crate::ip::PseudoHdr::V6 { src, dst }.checksum(IPPROTO_ICMPV6, &p[40..]);
                p[42..44].copy_from_slice(&c.to_be_bytes());
            }
        }
        a.inject("eth0", &p);
        if i % 512 == 0 {
            n.advance_ms(700);
        }
    }
    // The run reached the upper layers, not only the first checks.
    let st = n.icmp6stat(&mut a);
    let ip = n.ip6stat(&mut a);
    assert!(iters < 1000 || (st.c.icp6s_reflect > 0 && ip.ip6s_delivered > iters as u64 / 20));
    assert!(iters < 1000 || st.inhist[ND_NEIGHBOR_SOLICIT as usize] > 0);
    eprintln!(
        "fuzz: {iters} packets, {} delivered, {} echo replies, {} forwarded",
        ip.ip6s_delivered, st.c.icp6s_reflect, ip.ip6s_forward
    );
    // The stack still works.
    let fd = n.icmp_sock(&mut b);
    n.addr(&mut b, "eth0", "a:1::3", 64).unwrap();
    n.advance_ms(1000);
    n.send_echo(&mut b, fd, "a:1::2", 0, 5, 8);
    assert_eq!(echo_reply_seqs(&n.recv_all(&mut b, fd)), vec![5]);
}

fn in6_solicited(a: &Ipv6Addr) -> Ipv6Addr {
    super::in6::in6_solicited_node(a)
}

#[test]
fn update_ifa_without_dad_on_point_to_point_links() {
    // The non-VIMAGE build has one vnet: still exercise address handling there.
    let n = Net::boot();
    let h = n.host("default");
    h.with(|| {
        let lo = ifunit("lo0").unwrap();
        in6_update_ifa(
            &lo,
            In6Ifaddr {
                addr: a6("a:5::1"),
                plen: 128,
                dst: None,
                flags: 0,
            },
        )
        .unwrap();
        assert_eq!(in6_addrs(&lo).len(), 1);
    });
}

#[cfg(feature = "vimage")]
#[test]
fn udp_over_ipv6_between_two_vimages() {
    let n = Net::boot();
    let mut a = n.host("a");
    let mut b = n.host("b");
    n.wire(&a, "eth0", mac(3), &b, "eth0", mac(4));
    n.up(&mut a, "eth0");
    n.up(&mut b, "eth0");
    n.addr(&mut a, "eth0", "a:1::2", 64).unwrap();
    n.addr(&mut b, "eth0", "a:1::3", 64).unwrap();
    n.advance_ms(1000);
    let sa = |a: &str, port: u16| {
        let mut s = SockaddrIn6::new(a6(a), 0);
        s.port = port;
        s.to_bytes().to_vec()
    };
    let srv = n.sock(&mut b, SOCK_DGRAM, 0);
    n.call(
        &mut b,
        Request::Bind {
            fd: srv,
            addr: sa("::", 7777),
        },
    )
    .unwrap();
    let dup = n.sock(&mut b, SOCK_DGRAM, 0);
    assert_eq!(
        n.call(
            &mut b,
            Request::Bind {
                fd: dup,
                addr: sa("::", 7777)
            }
        )
        .err(),
        Some(Errno::EADDRINUSE)
    );
    assert_eq!(
        n.call(
            &mut b,
            Request::Bind {
                fd: dup,
                addr: sa("a:1::9", 0)
            }
        )
        .err(),
        Some(Errno::EADDRNOTAVAIL)
    );
    let cli = n.sock(&mut a, SOCK_DGRAM, 0);
    n.call(
        &mut a,
        Request::Connect {
            fd: cli,
            addr: sa("a:1::3", 7777),
        },
    )
    .unwrap();
    let me = n.call(&mut a, Request::Getsockname { fd: cli }).unwrap();
    let me = SockaddrIn6::from_bytes(&me.addr).unwrap();
    assert_eq!(me.addr, a6("a:1::2"));
    assert_eq!(me.port, 49152, "first ephemeral port");
    n.call(
        &mut a,
        Request::Sendto {
            fd: cli,
            flags: 0,
            addr: None,
            data: b"hello six".to_vec(),
        },
    )
    .unwrap();
    let r = n
        .call(
            &mut b,
            Request::Recvfrom {
                fd: srv,
                len: 100,
                flags: MSG_DONTWAIT,
            },
        )
        .unwrap();
    assert_eq!(r.data, b"hello six");
    let from = SockaddrIn6::from_bytes(&r.addr).unwrap();
    assert_eq!((from.addr, from.port), (a6("a:1::2"), 49152));
    // The answer reaches the connected client.
    n.call(
        &mut b,
        Request::Sendto {
            fd: srv,
            flags: 0,
            addr: Some(r.addr.clone()),
            data: b"back".to_vec(),
        },
    )
    .unwrap();
    let r = n
        .call(
            &mut a,
            Request::Recvfrom {
                fd: cli,
                len: 100,
                flags: MSG_DONTWAIT,
            },
        )
        .unwrap();
    assert_eq!(r.data, b"back");
    // Connected sockets refuse another destination; a closed port answers
    // port unreachable (seen by a raw ICMPv6 socket).
    assert_eq!(
        n.call(
            &mut a,
            Request::Sendto {
                fd: cli,
                flags: 0,
                addr: Some(sa("a:1::3", 9)),
                data: vec![1],
            },
        )
        .err(),
        Some(Errno::EISCONN)
    );
    let raw = n.icmp_sock(&mut a);
    let other = n.sock(&mut a, SOCK_DGRAM, 0);
    n.call(
        &mut a,
        Request::Sendto {
            fd: other,
            flags: 0,
            addr: Some(sa("a:1::3", 9)),
            data: vec![1],
        },
    )
    .unwrap();
    let got = n.recv_all(&mut a, raw);
    assert!(got
        .iter()
        .any(|(d, _)| d[0] == ICMP6_DST_UNREACH && d[1] == ICMP6_DST_UNREACH_NOPORT));
}
