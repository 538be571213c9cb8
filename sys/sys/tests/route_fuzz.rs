//! Deterministic fuzzing of the routing-socket decoders (vimage_abi::route).
//!
//! A seeded xorshift generator builds random messages (every sockaddr kind, odd
//! lengths), encodes them and feeds the decoders the encodings, truncations, bit
//! flips and random bytes.  Checked: nothing panics; a canonical encoding decodes
//! to what it came from; whatever decodes re-encodes to bytes that decode to the
//! same value and encode to the same bytes again.  `FUZZ_ITERS` sets the rounds,
//! `FUZZ_SEED` the seed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use vimage_abi::testrand::Rng;

use vimage_abi::route::*;
use vimage_abi::Errno;

/// What these tests draw beyond the shared generator.
trait Draw {
    fn name(&mut self, max: usize) -> String;
    fn ip(&mut self) -> IpAddr;
    fn sockaddr(&mut self) -> Sockaddr;
    fn rtmsg(&mut self) -> RtMsg;
    fn sample(&mut self) -> Vec<u8>;
    fn mutate(&mut self, b: &[u8]) -> Vec<u8>;
}

impl Draw for Rng {
    fn name(&mut self, max: usize) -> String {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
    fn ip(&mut self) -> IpAddr {
        if self.below(2) == 0 {
            IpAddr::V4(Ipv4Addr::from(self.next() as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(
                u128::from(self.next()) << 64 | u128::from(self.next()),
            ))
        }
    }
    fn sockaddr(&mut self) -> Sockaddr {
        match self.below(6) {
            0 => Sockaddr::Inet(Ipv4Addr::from(self.next() as u32)),
            1 => Sockaddr::Inet6 {
                addr: Ipv6Addr::from(u128::from(self.next()) << 64),
                scope_id: self.below(4) as u32,
            },
            2 => {
                let name = self.name(15);
                let lladdr = self.bytes(8);
                Sockaddr::Link(SockaddrDl {
                    len: (8 + name.len() + lladdr.len()).max(54) as u8,
                    index: self.below(5) as u16,
                    iftype: 6,
                    name,
                    lladdr,
                    sel: Vec::new(),
                })
            }
            3 => Sockaddr::netmask(self.below(2) == 1, self.below(129) as u8),
            4 => Sockaddr::user_netmask(self.below(2) == 1, self.below(129) as u8),
            _ => {
                let data = self.bytes(30);
                Sockaddr::Raw {
                    len: (data.len() + 2) as u8,
                    // Not a family the decoder gives its own variant.
                    family: [0u8, 1, 17, 0xff][self.below(4)],
                    data,
                }
            }
        }
    }
    fn rtmsg(&mut self) -> RtMsg {
        let mut m = RtMsg::new(1 + self.below(11) as u8);
        m.hdr.flags = self.next() as i32;
        m.hdr.pid = self.next() as i32;
        m.hdr.seq = self.next() as i32;
        m.hdr.errno = self.below(100) as i32;
        m.hdr.index = self.next() as u16;
        m.hdr.inits = self.next();
        m.hdr.rmx.mtu = self.next();
        m.hdr.rmx.expire = self.next();
        for s in m.sa.iter_mut() {
            if self.below(2) == 0 {
                *s = Some(self.sockaddr());
            }
        }
        m
    }
    fn sample(&mut self) -> Vec<u8> {
        let r = match self.below(5) {
            0 | 1 => self.rtmsg().to_bytes(),
            2 => {
                let mut sa: [Option<Sockaddr>; RTAX_MAX] = Default::default();
                sa[5] = Some(Sockaddr::from_ip(self.ip()));
                sa[2] = Some(Sockaddr::netmask(false, self.below(33) as u8));
                IfaMsg {
                    rtm_type: RTM_NEWADDR,
                    flags: self.next() as i32,
                    index: self.next() as u16,
                    metric: self.next() as i32,
                    sa,
                }
                .to_bytes()
            }
            3 => IfMsg {
                flags: self.next() as i32,
                index: self.next() as u16,
                iftype: self.next() as u8,
                link_state: self.below(3) as u8,
                mtu: self.next(),
                metric: self.next(),
                sa: Default::default(),
            }
            .to_bytes(),
            _ => IfAnnounceMsg {
                index: self.next() as u16,
                name: self.name(15),
                what: self.below(2) as u16,
            }
            .to_bytes(),
        };
        r.expect("generated messages encode")
    }
    fn mutate(&mut self, b: &[u8]) -> Vec<u8> {
        let mut v = b.to_vec();
        for _ in 0..1 + self.below(4) {
            match self.below(6) {
                0 => {
                    let n = self.below(v.len() + 1);
                    v.truncate(n);
                }
                1 | 2 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] ^= 1 << self.below(8);
                }
                3 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] = [0u8, 1, 2, 7, 8, 16, 18, 28, 54, 0xff][self.below(10)];
                }
                4 if !v.is_empty() => {
                    // Damage a sockaddr length past the header.
                    let i = self.below(v.len());
                    v[i] = self.next() as u8;
                }
                _ => v.extend(self.bytes(16)),
            }
        }
        v
    }
}

fn iters(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Decode, and if it decodes, check the encode/decode fixed point.
fn check(b: &[u8]) {
    let out = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(v) = RtSockMsg::decode(b) {
            let b2 = v.to_bytes().expect("a decoded message encodes");
            let v2 = RtSockMsg::decode(&b2).expect("an encoded message decodes");
            let b3 = v2.to_bytes().expect("encodes again");
            assert_eq!(b2, b3, "encoding is not stable");
            assert_eq!(RtSockMsg::decode(&b3).as_ref(), Ok(&v2));
        } else if let Err(e) = RtSockMsg::decode(b) {
            assert!(e == Errno::EINVAL || e == Errno::EPROTONOSUPPORT, "{e:?}");
        }
        if let Ok((s, used)) = Sockaddr::decode(b) {
            assert!(used <= b.len().max(8));
            let img = s.to_bytes().expect("a decoded sockaddr encodes");
            let mut padded = img.clone();
            padded.resize(sa_size(s.sa_len()), 0);
            let (s2, _) = Sockaddr::decode(&padded).expect("re-decodes");
            assert_eq!(s2.to_bytes(), Ok(img));
            let _ = s.mask_plen(false);
            let _ = s.mask_plen(true);
        }
        if let Ok(d) = RouteDump::from_bytes(b) {
            assert_eq!(RouteDump::from_bytes(&d.to_bytes()), Ok(d));
        }
    }));
    if out.is_err() {
        let hex: String = b.iter().map(|c| format!("{c:02x}")).collect();
        panic!("decoder check failed on {hex}");
    }
}

#[test]
fn canonical_messages_round_trip() {
    let mut r = Rng::new(1);
    for _ in 0..iters(20_000) {
        let m = r.rtmsg();
        let b = m.to_bytes().unwrap();
        let back = RtMsg::from_bytes(&b).unwrap();
        assert_eq!(back.sa, m.sa);
        let mut h = back.hdr;
        h.msglen = 0;
        h.addrs = 0;
        assert_eq!(h, m.hdr);
        assert_eq!(back.to_bytes().unwrap(), b);
    }
}

#[test]
fn mutated_messages_never_panic() {
    let mut r = Rng::new(2);
    for _ in 0..iters(50_000) {
        let b = r.sample();
        check(&b);
        let m = r.mutate(&b);
        check(&m);
        let junk = r.bytes(200);
        check(&junk);
    }
}

#[test]
fn route_dumps_round_trip_and_survive_mutation() {
    let mut r = Rng::new(3);
    for _ in 0..iters(10_000) {
        let n = r.below(5);
        let routes = (0..n)
            .map(|_| {
                let dst = r.ip();
                let w = if dst.is_ipv6() { 129 } else { 33 };
                RouteEntryInfo {
                    dst,
                    plen: r.below(w) as u8,
                    gateway: if r.below(2) == 0 {
                        DumpGateway::Link(r.next() as u32)
                    } else {
                        DumpGateway::Inet(r.ip())
                    },
                    ifindex: r.next() as u32,
                    ifname: r.name(15),
                    flags: r.next() as u32,
                    refs: r.next() as u32,
                    used: r.next(),
                    expire: r.next(),
                    mtu: r.next() as u32,
                }
            })
            .collect();
        let d = RouteDump { routes };
        let b = d.to_bytes();
        assert_eq!(RouteDump::from_bytes(&b), Ok(d));
        check(&r.mutate(&b));
    }
}
