//! Fuzz-style robustness: every decoder gets seeded pseudo-random input
//! (fresh bytes and mutations of valid requests) and must not panic.
//! Deterministic, so a failure reproduces; `LIBLINUX_FUZZ_ROUNDS` raises the
//! number of rounds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vimage_abi::testrand::Rng;

use liblinux::linux as l;
use liblinux::*;
use vimage_abi::net_if::{IfAddrInfo, IfInfo, IfStats};
use vimage_abi::route::{DumpGateway, RouteEntryInfo};
use vimage_abi::Errno;

/// What these tests draw beyond the shared generator.
trait Draw {
    fn i32(&mut self) -> i32;
    fn mutate(&mut self, b: Vec<u8>) -> Vec<u8>;
}

impl Draw for Rng {
    fn i32(&mut self) -> i32 {
        // Mostly small numbers (where the tables are), sometimes anything.
        match self.below(4) {
            0 => self.next() as i32,
            1 => -(self.below(300) as i32),
            _ => self.below(300) as i32,
        }
    }
    fn mutate(&mut self, mut b: Vec<u8>) -> Vec<u8> {
        for _ in 0..=self.below(4) {
            match self.below(4) {
                0 if !b.is_empty() => {
                    let i = self.below(b.len());
                    b[i] = self.next() as u8;
                }
                1 if !b.is_empty() => {
                    let n = self.below(b.len());
                    b.truncate(n);
                }
                2 => {
                    let extra = self.bytes(24);
                    b.extend(extra);
                }
                _ if b.len() >= 4 => {
                    // Lengths are where parsers go wrong.
                    let i = self.below(b.len() - 3);
                    let v = [0u32, 1, 3, 4, 15, 16, 17, 0xffff, u32::MAX][self.below(9)];
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
                _ => {}
            }
        }
        b
    }
}

fn rounds() -> usize {
    std::env::var("LIBLINUX_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

fn random_ifs(r: &mut Rng) -> Vec<IfInfo> {
    (0..r.below(4))
        .map(|i| IfInfo {
            index: if r.below(4) == 0 {
                r.next() as u32
            } else {
                i as u32 + 1
            },
            name: ["lo0", "eth0", "ng0", "a:b", "", "0123456789abcdefgh", "é"][r.below(7)].into(),
            flags: r.next() as u32,
            metric: r.next() as u32,
            mtu: r.next() as u32,
            iftype: [6u8, 0x18, 0x35, 0x87, 0][r.below(5)],
            lladdr: r.bytes(20),
            status: vec![],
            addrs: (0..r.below(4))
                .map(|_| {
                    let fam = [2u8, 28, 18, 0][r.below(4)];
                    let n = [4usize, 16, 0, 5][r.below(4)];
                    IfAddrInfo {
                        family: fam,
                        addr: (0..n).map(|_| r.next() as u8).collect(),
                        mask: r.bytes(17),
                        dst: r.bytes(17),
                        scope: r.next() as u32,
                        flags: r.next() as u32,
                    }
                })
                .collect(),
            stats: IfStats {
                ipackets: r.next(),
                obytes: r.next(),
                ..IfStats::default()
            },
        })
        .collect()
}

fn random_ip(r: &mut Rng) -> IpAddr {
    if r.below(2) == 0 {
        IpAddr::V4(Ipv4Addr::from(r.next() as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(
            u128::from(r.next()) << 64 | u128::from(r.next()),
        ))
    }
}

fn random_routes(r: &mut Rng) -> Vec<RouteEntryInfo> {
    (0..r.below(4))
        .map(|_| {
            let dst = random_ip(r);
            RouteEntryInfo {
                dst,
                plen: r.below(140) as u8,
                gateway: if r.below(2) == 0 {
                    DumpGateway::Link(r.next() as u32)
                } else if r.below(2) == 0 {
                    DumpGateway::Inet(dst)
                } else {
                    DumpGateway::Inet(random_ip(r))
                },
                ifindex: r.below(5) as u32,
                ifname: "eth0".into(),
                flags: r.next() as u32,
                refs: 0,
                used: 0,
                expire: 0,
                mtu: r.next() as u32,
            }
        })
        .collect()
}

/// Valid requests to mutate: glibc's dumps, a link by name, a route dump.
fn netlink_seeds() -> Vec<Vec<u8>> {
    let req = |ty: u16, flags: u16, payload: &[u8]| {
        let mut b = ((16 + payload.len()) as u32).to_le_bytes().to_vec();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        b
    };
    let dump = l::NLM_F_REQUEST | l::NLM_F_DUMP;
    let mut by_name = vec![0u8; 16];
    by_name.extend_from_slice(&[9, 0, 3, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0]);
    vec![
        req(l::RTM_GETLINK, dump, &[0, 0, 0, 0]),
        req(l::RTM_GETADDR, dump, &[0, 0, 0, 0]),
        req(
            l::RTM_GETADDR,
            dump | l::NLM_F_ACK,
            &[10, 0, 0, 0, 0, 0, 0, 0],
        ),
        req(l::RTM_GETROUTE, dump, &[2; 12]),
        req(l::RTM_GETLINK, l::NLM_F_REQUEST | l::NLM_F_ACK, &by_name),
        [
            req(l::RTM_GETLINK, dump, &[0; 4]),
            req(l::RTM_NEWADDR, 5, &[0; 8]),
        ]
        .concat(),
    ]
}

fn sockaddr_seeds() -> Vec<Vec<u8>> {
    let mut v4 = vec![2, 0, 0, 80, 10, 0, 0, 1];
    v4.resize(16, 0);
    let mut v6 = vec![10, 0, 0, 80, 0, 0, 0, 1];
    v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&[2, 0, 0, 0]);
    let k4 = vimage_abi::netinet_in::SockaddrIn::new(Ipv4Addr::LOCALHOST, 9).to_bytes();
    let k6 = vimage_abi::netinet6_in6::Ip6RecvInfo {
        from: Some(vimage_abi::netinet6_in6::SockaddrIn6::new(
            Ipv6Addr::LOCALHOST,
            1,
        )),
        hoplimit: Some(64),
        pktinfo: Some((Ipv6Addr::LOCALHOST, 1)),
    }
    .to_bytes();
    vec![v4, v6, k4.to_vec(), k6]
}

const KINDS: &[OptKind] = &[
    OptKind::Int,
    OptKind::IntOrByte,
    OptKind::Bool,
    OptKind::BufSize,
    OptKind::Linger,
    OptKind::Timeval,
    OptKind::Error,
    OptKind::Icmp6Filter,
    OptKind::Domain,
    OptKind::Protocol,
    OptKind::McastIf,
    OptKind::IpMreq,
    OptKind::McastTtl,
    OptKind::Ipv6Mreq,
];

const IOCTL_KINDS: &[IoctlKind] = &[
    IoctlKind::FionRead,
    IoctlKind::FionBio,
    IoctlKind::OutQ,
    IoctlKind::IfConf,
    IoctlKind::IfName,
    IoctlKind::IfIndex,
    IoctlKind::IfFlags,
    IoctlKind::IfAddr,
    IoctlKind::IfDstAddr,
    IoctlKind::IfBrdAddr,
    IoctlKind::IfNetmask,
    IoctlKind::IfMtu,
    IoctlKind::IfMetric,
    IoctlKind::IfHwAddr,
    IoctlKind::IfTxQLen,
    IoctlKind::Other,
];

#[test]
fn decoders_never_panic() {
    let mut r = Rng::from_seed(0x5eed_1234_abcd_0001);
    let nl = netlink_seeds();
    let sa = sockaddr_seeds();
    for _ in 0..rounds() {
        // Addresses.
        let b = if r.below(2) == 0 {
            r.bytes(40)
        } else {
            let s = sa[r.below(sa.len())].clone();
            r.mutate(s)
        };
        let _ = sockaddr_to_kernel(&b);
        let _ = sockaddr_to_kernel_on([2, 10, 1, 0][r.below(4)], &b);
        let _ = sockaddr_to_linux(&b);
        let _ = recv_addr_to_linux(&b);
        if let Ok(k) = sockaddr_to_kernel(&b) {
            // What we hand the kernel decodes, and comes back the same length.
            let back = sockaddr_to_linux(&k).expect("round trip");
            assert!(back.len() == 16 || back.len() == 28);
        }

        // Options, flags, numbers.
        let kind = KINDS[r.below(KINDS.len())];
        let v = r.bytes(40);
        let _ = opt_value_to_kernel(kind, &v);
        let _ = opt_value_to_linux(kind, &v);
        let _ = sockopt_to_kernel(r.i32(), r.i32());
        let _ = socket_type(r.i32());
        let _ = socket_protocol(r.i32(), r.i32());
        let _ = family_to_kernel(r.i32());
        let _ = msg_flags_to_kernel(r.next() as i32);
        let _ = msg_flags_to_linux(r.next() as i32);
        let _ = errno_to_linux(Errno(r.i32()));
        let _ = errno_from_linux(r.i32());
        let _ = ioctl_kind(r.next() as u32);
        let _ = if_flags_to_linux(r.next() as u32);

        // Interfaces: ifreq and ifconf.
        let ifs = random_ifs(&mut r);
        let mut req = [0u8; 40];
        for (i, x) in r.bytes(40).into_iter().enumerate() {
            req[i] = x;
        }
        if r.below(2) == 0 {
            let name = ["eth0", "lo0", "a", "eth0:1"][r.below(4)];
            req[..16].fill(0);
            req[..name.len()].copy_from_slice(name.as_bytes());
        }
        let _ = ifreq_answer(IOCTL_KINDS[r.below(IOCTL_KINDS.len())], &req, &ifs);
        let conf = ifconf_answer(&ifs, r.below(200));
        assert_eq!(conf.len() % 40, 0);

        // rtnetlink.
        let q = if r.below(3) == 0 {
            r.bytes(80)
        } else {
            let s = nl[r.below(nl.len())].clone();
            r.mutate(s)
        };
        let routes = random_routes(&mut r);
        let out = netlink::respond(&q, &ifs, &routes, r.next() as u32);
        for m in &out {
            // Every reply is a whole, aligned message.
            assert!(m.len() >= 16 && m.len() % 4 == 0);
            assert_eq!(
                u32::from_le_bytes([m[0], m[1], m[2], m[3]]) as usize,
                m.len()
            );
        }
        let _ = netlink::batch(&out, r.below(400));
        // The walk the supervisor serves message by message, and refusals.
        let mut total = 0;
        for m in netlink::messages(&q) {
            assert!(m.len() >= 16 && total + m.len() <= q.len());
            total += (m.len() + 3) & !3;
        }
        for m in netlink::refuse(&q, 1, 5) {
            assert!(m.len() >= 16 && m.len() % 4 == 0);
        }
    }
}
