//! Kernel-level IPv4 tests: vnets wired back to back on the test network
//! ([`vimage_net::testnet`]), driven through the syscall door.

#![cfg_attr(not(feature = "vimage"), allow(dead_code, unused_imports))]

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use vimage_abi::net_if::*;
use vimage_abi::netinet_in::*;
use vimage_abi::syscall::Request;
use vimage_abi::sysctl::SysctlValue;
use vimage_abi::Errno;

use super::in_rt::{in_rt_add, InGateway, RTF_GATEWAY, RTF_STATIC};
use super::ip::{in_cksum, Ipv4Packet};
use super::ip_icmp::*;
use super::r#in::{in_aifaddr, in_control};
use super::VnetInet;
use crate::testnet::{Host, Net};
use vimage_kern::kern_syscall::Td;
use vimage_kern::uipc_socket::FdTable;
use vimage_kern::vnet::{CurvnetGuard, VNET_MOD_INET};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::if_input;

/// The MAC 40:0a:0b:0c:0d:NN.
fn mac(n: u8) -> [u8; 6] {
    [0x40, 0x0a, 0x0b, 0x0c, 0x0d, n]
}

/// What these tests look at and set in a host's IPv4 stack.
trait InetHost {
    fn inet(&self) -> Arc<VnetInet>;
    fn route(&self, dst: &str, plen: u8, gw: &str);
    fn stat(&self, name: &str) -> u64;
}

impl InetHost for Host {
    fn inet(&self) -> Arc<VnetInet> {
        self.vnet().state::<VnetInet>(VNET_MOD_INET).expect("inet")
    }
    fn route(&self, dst: &str, plen: u8, gw: &str) {
        let gw: Ipv4Addr = gw.parse().unwrap();
        self.with(|| {
            let rt = super::in_rt::in_rtalloc(gw).expect("gateway on link");
            in_rt_add(
                dst.parse().unwrap(),
                plen,
                InGateway::Inet(gw),
                &rt.ifp,
                rt.ifa,
                RTF_GATEWAY | RTF_STATIC,
            )
        })
        .expect("route");
    }
    fn stat(&self, name: &str) -> u64 {
        let i = self.inet();
        [
            i.ipstat.snapshot(),
            i.icmpstat.snapshot(),
            i.udpstat.snapshot(),
            i.arpstat.snapshot(),
        ]
        .iter()
        .find_map(|s| s.get(name))
        .unwrap_or(0)
    }
}

fn socket(n: &Net, h: &mut Host, ty: i32, proto: i32) -> i32 {
    n.socket(h, PF_INET, ty, proto)
}

fn sin(a: &str, port: u16) -> Vec<u8> {
    SockaddrIn::new(a.parse().unwrap(), port)
        .to_bytes()
        .to_vec()
}

fn echo(seq: u16, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let r = IcmpRepr::EchoRequest {
        ident: 0x4242,
        seq_no: seq,
        data: &data,
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut IcmpPacket::new_unchecked(&mut b[..]));
    b
}

fn sendto(
    n: &Net,
    h: &mut Host,
    fd: i32,
    data: Vec<u8>,
    to: &str,
    port: u16,
) -> Result<usize, Errno> {
    n.call(
        h,
        Request::Sendto {
            fd,
            flags: 0,
            addr: Some(sin(to, port)),
            data,
        },
    )
    .map(|r| r.val as usize)
}

/// Every datagram waiting on `fd`: (bytes, source address).
fn drain(n: &Net, h: &mut Host, fd: i32) -> Vec<(Vec<u8>, SockaddrIn)> {
    n.drain(h, fd)
        .into_iter()
        .map(|(d, a)| (d, SockaddrIn::from_bytes(&a).expect("sockaddr")))
        .collect()
}

/// (type, code, TTL of the carrying datagram, source) of each ICMP datagram.
fn icmp_summary(v: &[(Vec<u8>, SockaddrIn)]) -> Vec<(u8, u8, u8, Ipv4Addr)> {
    v.iter()
        .map(|(d, from)| {
            let ip = Ipv4Packet::new_unchecked(&d[..]);
            let hl = ip.header_len();
            (d[hl], d[hl + 1], ip.ttl(), from.addr)
        })
        .collect()
}

#[test]
fn loopback_addresses_and_their_routes() {
    let n = Net::boot();
    let h = n.host("default");
    h.with(|| {
        let lo = vimage_net::r#if::ifunit("lo0").unwrap();
        // No mask: the classful one.
        in_aifaddr(&lo, INADDR_LOOPBACK, None, None).unwrap();
        assert_eq!(lo.flags() & IFF_UP, IFF_UP);
        let a = super::r#in::in_addrs(&lo);
        assert_eq!(a[0].plen, 8);
        assert_eq!(a[0].dst, None);
        use std::net::IpAddr;
        use vimage_net::route::rt_lookup_exact;
        let host = rt_lookup_exact(IpAddr::V4(INADDR_LOOPBACK), 32).expect("host route");
        assert_eq!(
            host.flags & (RTF_GATEWAY | vimage_abi::route::RTF_HOST),
            vimage_abi::route::RTF_HOST
        );
        let mc = rt_lookup_exact("224.0.0.0".parse().unwrap(), 4).expect("multicast route");
        assert_eq!(mc.flags & RTF_STATIC, RTF_STATIC);
        // SIOCGIFADDR / SIOCGIFNETMASK through in_control.
        let r = in_control(SIOCGIFNETMASK, &IfReq::new("lo0").to_bytes().unwrap()).unwrap();
        let r = IfReq::from_bytes(&r).unwrap();
        assert_eq!(
            SockaddrIn::field(&r.data).unwrap(),
            Some(Ipv4Addr::new(255, 0, 0, 0))
        );
        // Delete what is not there; delete the first address; nothing left.
        let mut ifr = IfReq::new("lo0");
        ifr.data = SockaddrIn::new(Ipv4Addr::new(127, 0, 0, 2), 0).to_bytes();
        assert_eq!(
            in_control(SIOCDIFADDR, &ifr.to_bytes().unwrap()),
            Err(Errno::EADDRNOTAVAIL)
        );
        in_control(SIOCDIFADDR, &IfReq::new("lo0").to_bytes().unwrap()).unwrap();
        assert!(rt_lookup_exact(IpAddr::V4(INADDR_LOOPBACK), 32).is_none());
        assert_eq!(
            in_control(SIOCGIFADDR, &IfReq::new("lo0").to_bytes().unwrap()),
            Err(Errno::EADDRNOTAVAIL)
        );
        // Unknown interface.
        let bad = InAliasReq {
            name: "nope0".into(),
            addr: Some(INADDR_LOOPBACK),
            ..Default::default()
        };
        assert_eq!(
            in_control(SIOCAIFADDR, &bad.to_bytes().unwrap()),
            Err(Errno::ENXIO)
        );
    });
}

/// Raw sockets get the datagrams of their protocol only (a protocol-0 socket
/// every protocol's), filtered by their bound and connected addresses.
#[test]
fn raw_sockets_are_found_by_protocol_and_address() {
    let n = Net::boot();
    let mut h = n.host("default");
    h.with(|| {
        let lo = vimage_net::r#if::ifunit("lo0").unwrap();
        in_aifaddr(&lo, INADDR_LOOPBACK, None, None).unwrap();
    });
    let mine = socket(&n, &mut h, SOCK_RAW, 253);
    let other = socket(&n, &mut h, SOCK_RAW, 254);
    let any = socket(&n, &mut h, SOCK_RAW, 0);
    let elsewhere = socket(&n, &mut h, SOCK_RAW, 253);
    n.call(
        &mut h,
        Request::Connect {
            fd: elsewhere,
            addr: sin("127.0.0.9", 0),
        },
    )
    .unwrap();
    // A datagram of protocol 253 over lo0: no protocol of ours takes it,
    // so the raw sockets are offered it.
    sendto(&n, &mut h, mine, b"hi".to_vec(), "127.0.0.1", 0).unwrap();
    let got = drain(&n, &mut h, mine);
    assert_eq!(got.len(), 1, "its protocol's socket has a copy");
    assert_eq!(Ipv4Packet::new_unchecked(&got[0].0[..]).protocol(), 253);
    assert_eq!(drain(&n, &mut h, any).len(), 1, "so has every protocol's");
    assert!(
        drain(&n, &mut h, other).is_empty(),
        "another protocol's has not"
    );
    assert!(
        drain(&n, &mut h, elsewhere).is_empty(),
        "connected elsewhere"
    );
    let rows = InPcbInfo::decode_list(&h.with(crate::raw_ip::rip_pcblist)).unwrap();
    assert_eq!(rows.len(), 4);
    n.call(&mut h, Request::Close { fd: other }).unwrap();
    let rows = InPcbInfo::decode_list(&h.with(crate::raw_ip::rip_pcblist)).unwrap();
    assert_eq!(rows.len(), 3);
}

#[test]
fn ping_own_addresses_through_loopback() {
    let n = Net::boot();
    let mut h = n.host("default");
    h.with(|| {
        let lo = vimage_net::r#if::ifunit("lo0").unwrap();
        in_aifaddr(&lo, INADDR_LOOPBACK, None, None).unwrap();
    });
    let fd = socket(&n, &mut h, SOCK_RAW, IPPROTO_ICMP);
    sendto(&n, &mut h, fd, echo(0, 56), "127.0.0.1", 0).unwrap();
    let got = drain(&n, &mut h, fd);
    // The raw ICMP socket sees the reply only: a request that was answered
    // is not offered to raw sockets (icmp_input's `reflect`).
    let s = icmp_summary(&got);
    assert_eq!(s, vec![(ICMP_ECHOREPLY, 0, 64, INADDR_LOOPBACK)]);
    assert_eq!(h.stat("icps_reflect"), 1);
    // So a reply of 40,000 bytes fits beside nothing (ping -s 40000); it
    // came back in fragments over lo0 and was reassembled.
    sendto(&n, &mut h, fd, echo(2, 40_000), "127.0.0.1", 0).unwrap();
    let got = drain(&n, &mut h, fd);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.len(), 20 + 8 + 40_000);
    assert_eq!(icmp_summary(&got)[0].0, ICMP_ECHOREPLY);
    // Nothing routes 10/8 here.
    assert_eq!(
        sendto(&n, &mut h, fd, echo(1, 56), "10.9.9.9", 0),
        Err(Errno::EHOSTUNREACH)
    );
    assert_eq!(h.stat("ips_noroute"), 1);
}

#[cfg(feature = "vimage")]
mod multi {
    use super::*;

    /// n0 — n1 (router) — n2, as in the tutorial's Exercise 1.
    struct Topo {
        n0: Host,
        n1: Host,
        n2: Host,
        e00: Arc<Ifnet>,
        e20: Arc<Ifnet>,
        // Last: the kernel halts after the hosts' sockets closed.
        n: Net,
    }

    fn topo() -> Topo {
        let n = Net::boot();
        let n0 = n.host("n0");
        let n1 = n.host("n1");
        let n2 = n.host("n2");
        let (e00, e10) = n.wire(&n0, "eth0", mac(1), &n1, "eth0", mac(2)).ends();
        let (e11, e20) = n.wire(&n1, "eth1", mac(3), &n2, "eth0", mac(4)).ends();
        n0.addr(&e00, "10.0.0.20/24");
        n1.addr(&e10, "10.0.0.1/24");
        n1.addr(&e11, "10.0.1.1/24");
        n2.addr(&e20, "10.0.1.20/24");
        n0.route("0.0.0.0", 0, "10.0.0.1");
        n2.route("0.0.0.0", 0, "10.0.1.1");
        n1.inet().ipforwarding.store(1, Ordering::Relaxed);
        Topo {
            n,
            n0,
            n1,
            n2,
            e00,
            e20,
        }
    }

    #[test]
    fn arp_resolves_then_expires() {
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        sendto(&t.n, &mut t.n0, fd, echo(0, 56), "10.0.0.1", 0).unwrap();
        let s = icmp_summary(&drain(&t.n, &mut t.n0, fd));
        assert_eq!(s, vec![(ICMP_ECHOREPLY, 0, 64, Ipv4Addr::new(10, 0, 0, 1))]);
        // Both sides learned the other: n0 from the reply, n1 from the request.
        let dump = t.n0.with(crate::if_ether::arp_dump);
        let e = ArpEntryInfo::decode_list(&dump).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].addr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(e[0].lladdr, vec![0x40, 0x0a, 0x0b, 0x0c, 0x0d, 2]);
        assert_eq!(e[0].expire, 1200);
        assert_eq!(e[0].ifname, "eth0");
        assert_eq!(t.n1.inet().arp.len(), 1);
        assert_eq!(t.n0.stat("txrequests"), 2, "gratuitous + one request");
        // A second ping needs no request.
        sendto(&t.n, &mut t.n0, fd, echo(1, 56), "10.0.0.1", 0).unwrap();
        assert_eq!(t.n0.stat("txrequests"), 2);
        t.n.advance_ms(1_199_000);
        assert_eq!(t.n0.inet().arp.len(), 1);
        t.n.advance_ms(2_000);
        assert!(t.n0.inet().arp.is_empty());
        assert_eq!(t.n0.stat("timeouts"), 1);
        // arp -d on an entry that is gone.
        let r =
            t.n0.with(|| crate::if_ether::arp_delete(Ipv4Addr::new(10, 0, 0, 1), ""));
        assert_eq!(r, Err(Errno::ENOENT));
    }

    #[test]
    fn interface_up_announces_its_addresses() {
        let t = topo();
        let before = t.n0.stat("txrequests");
        let flags = |up: bool| {
            let mut r = IfReq::new("eth0");
            r.set_flags(if up { IFF_UP } else { 0 });
            r.to_bytes().unwrap()
        };
        t.n0.with(|| vimage_net::r#if::ifioctl(SIOCSIFFLAGS, &flags(false)))
            .unwrap();
        // Down: nothing leaves.
        let mut n0 = Host {
            td: Td {
                pid: 1,
                vimage: t.n0.td.vimage.clone(),
                fds: FdTable::default(),
                intr: Arc::new(|| false),
            },
        };
        let fd = socket(&t.n, &mut n0, SOCK_RAW, IPPROTO_ICMP);
        assert_eq!(
            sendto(&t.n, &mut n0, fd, echo(0, 8), "10.0.0.1", 0),
            Err(Errno::ENETDOWN)
        );
        t.n0.with(|| vimage_net::r#if::ifioctl(SIOCSIFFLAGS, &flags(true)))
            .unwrap();
        assert_eq!(t.n0.stat("txrequests"), before + 1);
        // The router heard a gratuitous ARP for someone else's address.
        assert!(t.n1.stat("ignored") >= 1);
        t.n.call(&mut n0, Request::Close { fd }).unwrap();
    }

    /// pfil(9) hooks: an input drop is silent and counted, an output drop
    /// fails the sender's call with EACCES, and a forwarded datagram refused
    /// on its way out draws no ICMP error.
    #[test]
    fn packet_filter_hooks_drop_input_silently_and_refuse_output() {
        use vimage_net::pfil::*;
        fn no_icmp(p: &PfilPacket<'_>) -> PfilVerdict {
            if Ipv4Packet::new_unchecked(p.data).protocol() == 1 {
                PfilVerdict::Drop
            } else {
                PfilVerdict::Pass
            }
        }
        let hook = PfilHook {
            name: "test",
            func: no_icmp,
            flags: PFIL_IN,
        };
        let out = PfilHook {
            flags: PFIL_OUT,
            ..hook
        };
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        let heads = |h: &Host| {
            h.with(|| {
                vimage_net::r#if::VNET_NET.with(|n| {
                    let i = &n.pfil.inet;
                    (
                        i.dropped_in.load(Ordering::Relaxed),
                        i.dropped_out.load(Ordering::Relaxed),
                    )
                })
            })
        };
        // The router drops the echo request as it arrives.
        t.n1.with(|| pfil_add_hook(PfilAf::Inet, hook)).unwrap();
        sendto(&t.n, &mut t.n0, fd, echo(0, 56), "10.0.0.1", 0).unwrap();
        assert!(drain(&t.n, &mut t.n0, fd).is_empty());
        assert_eq!(heads(&t.n1), (1, 0));
        assert_eq!(t.n1.stat("delivered"), 0);
        t.n1.with(|| pfil_remove_hook(PfilAf::Inet, "test"))
            .unwrap();
        sendto(&t.n, &mut t.n0, fd, echo(1, 56), "10.0.0.1", 0).unwrap();
        assert_eq!(drain(&t.n, &mut t.n0, fd).len(), 1);
        // The sender's own filter refuses it on the way out.
        t.n0.with(|| pfil_add_hook(PfilAf::Inet, out)).unwrap();
        assert_eq!(
            sendto(&t.n, &mut t.n0, fd, echo(2, 56), "10.0.0.1", 0),
            Err(Errno::EACCES)
        );
        assert_eq!(heads(&t.n0), (0, 1));
        t.n0.with(|| pfil_remove_hook(PfilAf::Inet, "test"))
            .unwrap();
        // Forwarded, refused leaving the router: lost without an error.
        t.n1.with(|| pfil_add_hook(PfilAf::Inet, out)).unwrap();
        sendto(&t.n, &mut t.n0, fd, echo(3, 56), "10.0.1.20", 0).unwrap();
        assert!(drain(&t.n, &mut t.n0, fd).is_empty());
        assert_eq!(heads(&t.n1), (1, 1));
        assert_eq!(t.n2.stat("total"), 0);
        t.n.call(&mut t.n0, Request::Close { fd }).unwrap();
    }

    #[test]
    fn unanswered_arp_holds_one_packet_then_host_is_down() {
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        // Nobody has 10.0.0.99: requests once a second, five in all.
        for i in 0..5 {
            sendto(&t.n, &mut t.n0, fd, echo(i, 56), "10.0.0.99", 0).unwrap();
            t.n.advance_ms(1_000);
        }
        assert_eq!(
            sendto(&t.n, &mut t.n0, fd, echo(9, 56), "10.0.0.99", 0),
            Err(Errno::EHOSTDOWN)
        );
        assert_eq!(t.n0.stat("txrequests"), 1 + 5);
        // Only the latest packet is held; the earlier ones count as dropped.
        assert!(t.n0.stat("dropped") >= 4);
        let e = ArpEntryInfo::decode_list(&t.n0.with(crate::if_ether::arp_dump)).unwrap();
        assert!(e[0].lladdr.is_empty());
        // The incomplete entry goes after 20 s.
        t.n.advance_ms(20_000);
        assert!(t.n0.inet().arp.is_empty());
        // n1 heard requests for someone else.
        assert!(t.n1.stat("ignored") >= 5);
    }

    #[test]
    fn ping_through_a_router_and_ttl_expiry() {
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        sendto(&t.n, &mut t.n0, fd, echo(0, 56), "10.0.1.20", 0).unwrap();
        let s = icmp_summary(&drain(&t.n, &mut t.n0, fd));
        assert_eq!(
            s,
            vec![(ICMP_ECHOREPLY, 0, 63, Ipv4Addr::new(10, 0, 1, 20))]
        );
        assert_eq!(t.n1.stat("ips_forward"), 2);
        // TTL 1: the router answers with time exceeded, quoting our datagram.
        let ttl1 = 1i32.to_le_bytes().to_vec();
        t.n.call(
            &mut t.n0,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IP,
                name: IP_TTL,
                val: ttl1,
            },
        )
        .unwrap();
        sendto(&t.n, &mut t.n0, fd, echo(1, 56), "10.0.1.20", 0).unwrap();
        let got = drain(&t.n, &mut t.n0, fd);
        let s = icmp_summary(&got);
        assert_eq!(
            s,
            vec![(
                ICMP_TIMXCEED,
                ICMP_TIMXCEED_INTRANS,
                64,
                Ipv4Addr::new(10, 0, 0, 1)
            )]
        );
        let d = &got[0].0;
        let q = IcmpQuote::parse(&d[28..]).unwrap();
        assert_eq!(q.dst_addr, Ipv4Addr::new(10, 0, 1, 20));
        assert_eq!(q.data.len(), 8);
        assert_eq!(t.n1.stat("ips_timeexceeded"), 1);
        // Forwarding off: dropped and counted, no answer.
        let mut n1 = Host {
            td: Td {
                pid: 1,
                vimage: t.n1.td.vimage.clone(),
                fds: FdTable::default(),
                intr: Arc::new(|| false),
            },
        };
        assert_eq!(
            t.n.sysctl(&mut n1, "net.inet.ip.forwarding", Some(SysctlValue::Int(0))),
            SysctlValue::Int(1)
        );
        let ttl = 64i32.to_le_bytes().to_vec();
        t.n.call(
            &mut t.n0,
            Request::Setsockopt {
                fd,
                level: IPPROTO_IP,
                name: IP_TTL,
                val: ttl,
            },
        )
        .unwrap();
        sendto(&t.n, &mut t.n0, fd, echo(2, 56), "10.0.1.20", 0).unwrap();
        assert!(drain(&t.n, &mut t.n0, fd).is_empty());
        assert_eq!(t.n1.stat("ips_cantforward"), 1);
        // No route in the router: host unreachable back to the sender.
        t.n.sysctl(&mut n1, "net.inet.ip.forwarding", Some(SysctlValue::Int(1)));
        sendto(&t.n, &mut t.n0, fd, echo(3, 56), "192.0.2.1", 0).unwrap();
        let s = icmp_summary(&drain(&t.n, &mut t.n0, fd));
        assert_eq!(
            s,
            vec![(
                ICMP_UNREACH,
                ICMP_UNREACH_HOST,
                64,
                Ipv4Addr::new(10, 0, 0, 1)
            )]
        );
    }

    #[test]
    fn forwarding_back_out_the_same_link_sends_a_redirect() {
        let mut t = topo();
        // The router sends 192.0.2/24 back to n0's own link.
        t.n1.route("192.0.2.0", 24, "10.0.0.20");
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        sendto(&t.n, &mut t.n0, fd, echo(0, 8), "192.0.2.1", 0).unwrap();
        let got = drain(&t.n, &mut t.n0, fd);
        let s = icmp_summary(&got);
        assert!(
            s.contains(&(
                ICMP_REDIRECT,
                ICMP_REDIRECT_HOST,
                64,
                Ipv4Addr::new(10, 0, 0, 1)
            )),
            "{s:?}"
        );
        let r = got.iter().find(|(d, _)| d[20] == ICMP_REDIRECT).unwrap();
        assert_eq!(&r.0[24..28], &[10, 0, 0, 20], "the better first hop");
        assert_eq!(t.n1.stat("ips_redirectsent"), 1);
        // n0 is no router: the datagram sent back to it is dropped.
        assert_eq!(t.n0.stat("ips_cantforward"), 1);
    }

    #[test]
    fn udp_datagrams_and_port_unreachable() {
        let mut t = topo();
        let srv = socket(&t.n, &mut t.n2, SOCK_DGRAM, 0);
        t.n.call(
            &mut t.n2,
            Request::Bind {
                fd: srv,
                addr: sin("0.0.0.0", 7777),
            },
        )
        .unwrap();
        // A second bind of the port fails.
        let dup = socket(&t.n, &mut t.n2, SOCK_DGRAM, 0);
        assert_eq!(
            t.n.call(
                &mut t.n2,
                Request::Bind {
                    fd: dup,
                    addr: sin("10.0.1.20", 7777)
                }
            )
            .err(),
            Some(Errno::EADDRINUSE)
        );
        assert_eq!(
            t.n.call(
                &mut t.n2,
                Request::Bind {
                    fd: dup,
                    addr: sin("10.9.9.9", 0)
                }
            )
            .err(),
            Some(Errno::EADDRNOTAVAIL)
        );
        let cli = socket(&t.n, &mut t.n0, SOCK_DGRAM, 0);
        assert_eq!(
            sendto(&t.n, &mut t.n0, cli, b"hello".to_vec(), "10.0.1.20", 7777),
            Ok(5)
        );
        let got = drain(&t.n, &mut t.n2, srv);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"hello");
        assert_eq!(got[0].1.addr, Ipv4Addr::new(10, 0, 0, 20));
        assert_eq!(got[0].1.port, 49152, "first ephemeral port");
        // The server answers to the source it saw.
        sendto(&t.n, &mut t.n2, srv, b"world".to_vec(), "10.0.0.20", 49152).unwrap();
        let back = drain(&t.n, &mut t.n0, cli);
        assert_eq!(back[0].0, b"world");
        assert_eq!(
            back[0].1,
            SockaddrIn::new(Ipv4Addr::new(10, 0, 1, 20), 7777)
        );
        // A closed port: ICMP port unreachable, seen by a raw ICMP socket; a
        // connected socket learns ECONNREFUSED on its next send.
        let raw = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        let c2 = socket(&t.n, &mut t.n0, SOCK_DGRAM, 0);
        t.n.call(
            &mut t.n0,
            Request::Connect {
                fd: c2,
                addr: sin("10.0.1.20", 9),
            },
        )
        .unwrap();
        t.n.call(
            &mut t.n0,
            Request::Sendto {
                fd: c2,
                flags: 0,
                addr: None,
                data: b"x".to_vec(),
            },
        )
        .unwrap();
        let s = icmp_summary(&drain(&t.n, &mut t.n0, raw));
        assert_eq!(
            s,
            vec![(
                ICMP_UNREACH,
                ICMP_UNREACH_PORT,
                63,
                Ipv4Addr::new(10, 0, 1, 20)
            )]
        );
        assert_eq!(t.n2.stat("udps_noport"), 1);
        assert_eq!(
            t.n.call(
                &mut t.n0,
                Request::Sendto {
                    fd: c2,
                    flags: 0,
                    addr: None,
                    data: b"x".to_vec()
                }
            )
            .err(),
            Some(Errno::ECONNREFUSED)
        );
        // getsockname / getpeername: the bound wildcard server; the connected
        // client with the source address connect chose; ENOTCONN unconnected.
        let name = |h: &mut Host, fd: i32, peer: bool| {
            let req = if peer {
                Request::Getpeername { fd }
            } else {
                Request::Getsockname { fd }
            };
            t.n.call(h, req)
                .map(|r| SockaddrIn::from_bytes(&r.addr).unwrap())
        };
        assert_eq!(
            name(&mut t.n2, srv, false),
            Ok(SockaddrIn::new(Ipv4Addr::UNSPECIFIED, 7777))
        );
        assert_eq!(name(&mut t.n2, srv, true), Err(Errno::ENOTCONN));
        assert_eq!(
            name(&mut t.n0, c2, true),
            Ok(SockaddrIn::new(Ipv4Addr::new(10, 0, 1, 20), 9))
        );
        let me = name(&mut t.n0, c2, false).unwrap();
        assert_eq!(me.addr, Ipv4Addr::new(10, 0, 0, 20));
        assert_ne!(me.port, 0);
        // An unbound socket: the wildcard, port 0.
        let fresh = socket(&t.n, &mut t.n0, SOCK_DGRAM, 0);
        assert_eq!(
            name(&mut t.n0, fresh, false),
            Ok(SockaddrIn::new(Ipv4Addr::UNSPECIFIED, 0))
        );
        // pcblist shows the bound server.
        let list = t.n2.with(crate::udp_usrreq::udp_pcblist);
        let l = InPcbInfo::decode_list(&list).unwrap();
        assert!(l
            .iter()
            .any(|p| p.lport == 7777 && p.laddr.is_unspecified()));
    }

    #[test]
    fn fragmentation_and_reassembly() {
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        // ARP holds one packet per destination: resolve first, as a first
        // fragmented datagram would lose all but its last fragment.
        sendto(&t.n, &mut t.n0, fd, echo(9, 8), "10.0.1.20", 0).unwrap();
        assert_eq!(drain(&t.n, &mut t.n0, fd).len(), 1);
        sendto(&t.n, &mut t.n0, fd, echo(0, 4000), "10.0.1.20", 0).unwrap();
        let got = drain(&t.n, &mut t.n0, fd);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), 20 + 8 + 4000);
        assert_eq!(&got[0].0[28..], &echo(0, 4000)[8..]);
        assert_eq!(t.n0.stat("ips_fragmented"), 1);
        assert_eq!(t.n0.stat("ips_ofragments"), 3);
        assert_eq!(t.n2.stat("ips_reassembled"), 1);
        assert_eq!(t.n0.stat("ips_reassembled"), 1);
        // The router forwarded the fragments without reassembling them.
        assert_eq!(t.n1.stat("ips_forward"), 2 + 6);
        // DF and too big: EMSGSIZE at the sender (hdrincl raw socket).
        let raw = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_RAW);
        let body = echo(1, 2000);
        let m = crate::ip_output::ip_build(
            Ipv4Addr::UNSPECIFIED,
            "10.0.1.20".parse().unwrap(),
            1,
            64,
            0,
            &body,
        );
        let mut d = m.data().to_vec();
        Ipv4Packet::new_unchecked(&mut d[..]).set_dont_frag(true);
        assert_eq!(
            sendto(&t.n, &mut t.n0, raw, d, "10.0.1.20", 0),
            Err(Errno::EMSGSIZE)
        );
        // A lone fragment waits, then times out.
        let m = crate::ip_output::ip_build(
            "10.0.1.20".parse().unwrap(),
            "10.0.0.20".parse().unwrap(),
            17,
            64,
            0,
            &[0u8; 16],
        );
        let mut d = m.data().to_vec();
        {
            let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
            p.set_ident(777);
            p.set_more_frags(true);
            p.fill_checksum();
        }
        t.n0.with(|| crate::ip_input::ip_input(&t.e00, Mbuf::from_slice(&d)));
        assert_eq!(t.n0.inet().reass.len(), 1);
        t.n.advance_ms(31_000);
        assert!(t.n0.inet().reass.is_empty());
        assert_eq!(t.n0.stat("ips_fragtimeout"), 1);
    }

    #[test]
    fn bad_datagrams_are_dropped_and_counted() {
        let t = topo();
        let good = {
            let m = crate::ip_output::ip_build(
                "10.0.1.1".parse().unwrap(),
                "10.0.1.20".parse().unwrap(),
                1,
                64,
                0,
                &echo(0, 8),
            );
            let mut d = m.data().to_vec();
            Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
            d
        };
        let inject = |d: Vec<u8>| {
            t.n2.with(|| crate::ip_input::ip_input(&t.e20, Mbuf::from_vec(d)));
        };
        inject(good.clone());
        assert_eq!(t.n2.stat("ips_delivered"), 1);
        let mut bad = good.clone();
        bad[10] ^= 0xff;
        inject(bad);
        assert_eq!(t.n2.stat("ips_badsum"), 1);
        let mut bad = good.clone();
        bad[0] = 0x65;
        inject(bad);
        assert_eq!(t.n2.stat("ips_badvers"), 1);
        inject(good[..12].to_vec());
        assert_eq!(t.n2.stat("ips_toosmall"), 1);
        let mut bad = good.clone();
        bad[2..4].copy_from_slice(&100u16.to_be_bytes());
        bad[10..12].copy_from_slice(&[0, 0]);
        let c = in_cksum(&bad[..20]);
        bad[10..12].copy_from_slice(&c.to_be_bytes());
        inject(bad);
        assert_eq!(t.n2.stat("ips_tooshort"), 1);
        // A bad ICMP checksum.
        let mut bad = good.clone();
        bad[22] ^= 1;
        inject(bad);
        assert_eq!(t.n2.stat("icps_checksum"), 1);
        // From the loopback net, off the wire.
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&[127, 0, 0, 1]);
        bad[10..12].copy_from_slice(&[0, 0]);
        let c = in_cksum(&bad[..20]);
        bad[10..12].copy_from_slice(&c.to_be_bytes());
        inject(bad);
        assert_eq!(t.n2.stat("ips_badaddr"), 1);
        assert_eq!(t.n2.stat("ips_total"), 7);
    }

    #[test]
    fn interface_leaving_takes_its_addresses_routes_and_arp_entries() {
        let mut t = topo();
        let fd = socket(&t.n, &mut t.n0, SOCK_RAW, IPPROTO_ICMP);
        sendto(&t.n, &mut t.n0, fd, echo(0, 56), "10.0.0.1", 0).unwrap();
        assert_eq!(t.n0.inet().arp.len(), 1);
        let v0 = t.n0.vnet();
        // Down into a new vimage (interfaces do not move up but to go back).
        let away = t.n.k.vi_create(t.n.k.vimage0(), "away").unwrap();
        vimage_net::r#if::if_vmove(&t.e00, &away.vnet, Some("moved0"), false).unwrap();
        assert!(t.n0.inet().arp.is_empty());
        assert!(t.e00.addr_list().is_empty());
        let _cv = CurvnetGuard::set(&v0);
        assert!(crate::in_rt::in_rtalloc("10.0.0.1".parse().unwrap()).is_none());
        drop(_cv);
        // Destroying a vimage with pending ARP entries, held packets and
        // timers is clean; its callouts find it gone.
        t.n.call(&mut t.n0, Request::Close { fd }).unwrap();
        let raw = socket(&t.n, &mut t.n2, SOCK_RAW, IPPROTO_ICMP);
        sendto(&t.n, &mut t.n2, raw, echo(0, 56), "10.0.1.77", 0).unwrap();
        t.n.call(&mut t.n2, Request::Close { fd: raw }).unwrap();
        assert_eq!(t.n2.inet().arp.len(), 1);
        let v2 = t.n2.td.vimage.clone();
        t.n.k.vi_free(&v2);
        t.n.advance_ms(60_000);
    }
}

/// Frames for the fuzz run: valid ones for every input path of a host at
/// 10.0.0.20 on eth0 (ARP request and reply, echo, UDP to an open and a closed
/// port, a broadcast, two fragments, an ICMP error about us).
fn fuzz_templates(me: [u8; 6]) -> Vec<(u16, Vec<u8>)> {
    use super::ip_output::ip_build;
    let peer = Ipv4Addr::new(10, 0, 0, 1);
    let us = Ipv4Addr::new(10, 0, 0, 20);
    let ip = |src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]| {
        let m = ip_build(src, dst, proto, 64, 0, payload);
        let mut d = m.data().to_vec();
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.set_ident(0x1234);
        p.fill_checksum();
        d
    };
    let udp = |dport: u16, dst: Ipv4Addr| {
        let mut u = vec![0u8; 8 + 5];
        let mut p = super::udp::UdpPacket::new_unchecked(&mut u[..]);
        p.set_src_port(1234);
        p.set_dst_port(dport);
        p.set_len(13);
        p.payload_mut().copy_from_slice(b"fuzz!");
        p.fill_checksum(&super::ip::PseudoHdr::V4 { src: peer, dst });
        u
    };
    let arp = |op: super::if_ether::ArpOp, tpa: Ipv4Addr| {
        let r = super::if_ether::ArpRepr {
            op,
            sha: vimage_net::ethernet::EtherAddr([0x40, 0, 0, 0, 0, 1]),
            spa: peer,
            tha: vimage_net::ethernet::EtherAddr(me),
            tpa,
        };
        let mut b = vec![0u8; 28];
        r.emit(&mut super::if_ether::ArpPacket::new_unchecked(&mut b[..]));
        b
    };
    let whole = ip(peer, us, 1, &echo(7, 64));
    let mut f1 = whole[..20 + 24].to_vec();
    let mut f2 = [&whole[..20], &whole[20 + 24..]].concat();
    {
        let mut p = Ipv4Packet::new_unchecked(&mut f1[..]);
        p.set_total_len(44);
        p.set_more_frags(true);
        p.fill_checksum();
        let mut p = Ipv4Packet::new_unchecked(&mut f2[..]);
        let l = p.total_len() - 24;
        p.set_total_len(l);
        p.set_frag_offset(24);
        p.fill_checksum();
    }
    let sent = ip(us, Ipv4Addr::new(10, 0, 1, 20), 17, &udp(33435, us));
    let mut err = vec![ICMP_TIMXCEED, 0, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&sent[..28]);
    let c = in_cksum(&err);
    err[2..4].copy_from_slice(&c.to_be_bytes());
    vec![
        (0x0806, arp(super::if_ether::ArpOp::Request, us)),
        (0x0806, arp(super::if_ether::ArpOp::Reply, us)),
        (
            0x0806,
            arp(super::if_ether::ArpOp::Request, Ipv4Addr::new(10, 0, 0, 99)),
        ),
        (0x0800, ip(peer, us, 1, &echo(1, 56))),
        (0x0800, ip(peer, us, 17, &udp(7777, us))),
        (0x0800, ip(peer, us, 17, &udp(9, us))),
        (
            0x0800,
            ip(
                peer,
                Ipv4Addr::new(10, 0, 0, 255),
                17,
                &udp(7777, Ipv4Addr::new(10, 0, 0, 255)),
            ),
        ),
        (0x0800, f1),
        (0x0800, f2),
        (0x0800, ip(peer, us, 1, &err)),
        (0x0800, ip(peer, us, 99, b"unknown protocol")),
        (0x0800, ip(peer, Ipv4Addr::new(10, 0, 7, 7), 1, &echo(2, 8))),
    ]
}

/// Deterministic fuzzing of a live vnet (seeded xorshift; `FUZZ_SEED`,
/// `FUZZ_ITERS`): valid and mutated frames of every kind enter through
/// `if_input` (Ethernet demux, ARP, IP, ICMP, UDP, reassembly, raw sockets),
/// sometimes with their IP checksum repaired so mutations reach the upper
/// layers; time moves so timers fire.  Nothing may panic and the counters
/// must show every path was taken.
#[test]
fn fuzz_a_live_vnet() {
    use vimage_kern::fuzz::{mutate, rounds, Rng};
    let n = Net::boot();
    let mut h = n.host("default");
    let mac = [0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x14];
    let eth0 = n.unwired(&h, "eth0", mac);
    h.addr(&eth0, "10.0.0.20/24");
    h.inet().ipforwarding.store(1, Ordering::Relaxed);
    let udp = socket(&n, &mut h, SOCK_DGRAM, 0);
    n.call(
        &mut h,
        Request::Bind {
            fd: udp,
            addr: sin("0.0.0.0", 7777),
        },
    )
    .unwrap();
    let raw = socket(&n, &mut h, SOCK_RAW, IPPROTO_ICMP);
    let templates = fuzz_templates(mac);
    let mut rng = Rng::new(0x1e7_4e7);
    let iters = (rounds() / 5).max(1000);
    for i in 0..iters {
        let (et, body) = &templates[rng.below(templates.len())];
        let mut frame = Vec::with_capacity(14 + body.len());
        let dst = match rng.below(4) {
            0 => [0xff; 6],
            1 => [rng.byte(), rng.byte(), 0, 0, 0, 1],
            _ => mac,
        };
        frame.extend_from_slice(&dst);
        frame.extend_from_slice(&[0x40, 0, 0, 0, 0, 1]);
        let et = if rng.below(50) == 0 {
            rng.next() as u16
        } else {
            *et
        };
        frame.extend_from_slice(&et.to_be_bytes());
        let mut b = if rng.below(4) == 0 {
            body.clone()
        } else {
            mutate(&mut rng, body, &[(2, 2), (0, 1), (6, 2), (24, 2)])
        };
        if et == 0x0800 && b.len() >= 20 && rng.below(2) == 0 {
            // Repair the header checksum so the mutation reaches further in.
            let hl = (usize::from(b[0] & 0x0f) * 4).clamp(20, b.len());
            b[10..12].copy_from_slice(&[0, 0]);
            let c = in_cksum(&b[..hl]);
            b[10..12].copy_from_slice(&c.to_be_bytes());
        }
        frame.extend_from_slice(&b);
        h.with(|| if_input(&eth0, Mbuf::from_vec(frame)));
        if i % 500 == 0 {
            n.advance_ms(7_000);
            drain(&n, &mut h, udp);
            drain(&n, &mut h, raw);
        }
    }
    n.advance_ms(3_600_000);
    for name in [
        "ips_total",
        "ips_badsum",
        "ips_delivered",
        "ips_reassembled",
        "ips_fragments",
        "ips_forward",
        "ips_noproto",
        "icps_reflect",
        "icps_checksum",
        "udps_ipackets",
        "udps_noport",
        "received",
        "rxrequests",
        "txreplies",
        "ignored",
        "bad",
    ] {
        assert!(h.stat(name) > 0, "{name} never moved");
    }
    // The vnet still works after the storm.
    assert!(h.inet().reass.is_empty());
    n.call(&mut h, Request::Close { fd: udp }).unwrap();
    n.call(&mut h, Request::Close { fd: raw }).unwrap();
}
