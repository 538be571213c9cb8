//! Between the wire formats and the router's [`Message`]s: what the daemons
//! send and accept (versions, authentication, next hops, RIPv1's missing
//! masks, how many routes go in one datagram).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::parms::classful_plen;
use crate::ripng::{self, RipngRepr};
use crate::router::{Entry, IfConfig, Message, Prefix, INFINITY};
use crate::wire::{self, Auth, AuthKey, Packet, RipRepr, Rte, AF_INET, AF_UNSPEC};
use crate::{Command, Error};

/// How routed speaks RIPv1/v2.
#[derive(Clone, Debug)]
pub struct RipCodec {
    /// Version sent (2; 1 with `ripv1_out`).
    pub version_out: u8,
    /// Keys: the global one (`None`) and per-interface ones.
    pub keys: Vec<(Option<String>, AuthKey)>,
    /// `-A`: refuse authenticated messages when no key is configured.
    pub strict_auth: bool,
    /// `no_ripv1_in`.
    pub no_v1_in: bool,
    /// `no_ripv2_in`.
    pub no_v2_in: bool,
    /// Keyed-MD5 sequence number.
    pub seq: u32,
}

impl Default for RipCodec {
    fn default() -> Self {
        RipCodec {
            version_out: 2,
            keys: Vec::new(),
            strict_auth: false,
            no_v1_in: false,
            no_v2_in: false,
            seq: 0,
        }
    }
}

impl RipCodec {
    /// The key of interface `name` (its own, else the global one).
    pub fn key(&self, name: &str) -> AuthKey {
        self.keys
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name))
            .or_else(|| self.keys.iter().find(|(n, _)| n.is_none()))
            .map_or(AuthKey::None, |(_, k)| k.clone())
    }

    /// The message of datagram `b` received on `ifc`.
    pub fn decode(&self, b: &[u8], ifc: &IfConfig) -> Result<Message, Error> {
        let r = RipRepr::parse(&Packet::new_checked(b)?)?;
        let key = self.key(&ifc.name);
        r.verify(b, &key)?;
        if key == AuthKey::None && self.strict_auth && r.auth != Auth::None {
            return Err(Error::BadAuth);
        }
        if (r.version == 1 && self.no_v1_in) || (r.version == 2 && self.no_v2_in) {
            return Err(Error::BadVersion);
        }
        if r.is_whole_table_request() {
            return Ok(Message::RequestAll);
        }
        let entries = r
            .entries
            .iter()
            .filter(|e| e.family == AF_INET)
            .map(|e| Entry {
                prefix: Prefix::new(IpAddr::V4(e.addr), v1_plen(e, ifc)),
                metric: e.metric.min(u32::from(INFINITY)) as u8,
                tag: e.tag,
                next_hop: (!e.next_hop.is_unspecified()).then_some(IpAddr::V4(e.next_hop)),
            })
            .collect();
        Ok(match r.command {
            Command::Request => Message::Request(entries),
            Command::Response => Message::Response(entries),
        })
    }

    /// The datagrams of `msg` for `ifc`.
    pub fn encode(&mut self, msg: &Message, ifc: &IfConfig) -> Vec<Vec<u8>> {
        let key = if self.version_out == 2 {
            self.key(&ifc.name)
        } else {
            AuthKey::None
        };
        let room = match key {
            AuthKey::None => wire::MAX_ENTRIES,
            AuthKey::Simple(_) => wire::MAX_ENTRIES - 1,
            AuthKey::Md5 { .. } => wire::MAX_ENTRIES - 2,
        };
        let v1 = self.version_out == 1;
        let (command, rtes): (Command, Vec<Rte>) = match msg {
            Message::RequestAll => (
                Command::Request,
                vec![Rte {
                    family: AF_UNSPEC,
                    tag: 0,
                    addr: Ipv4Addr::UNSPECIFIED,
                    mask: Ipv4Addr::UNSPECIFIED,
                    next_hop: Ipv4Addr::UNSPECIFIED,
                    metric: u32::from(INFINITY),
                }],
            ),
            Message::Request(e) | Message::Response(e) => {
                let c = if matches!(msg, Message::Request(_)) {
                    Command::Request
                } else {
                    Command::Response
                };
                let v = e
                    .iter()
                    .filter_map(|x| {
                        let IpAddr::V4(a) = x.prefix.addr() else {
                            return None;
                        };
                        let mut r = Rte::route(a, x.prefix.plen(), u32::from(x.metric));
                        if v1 {
                            r.mask = Ipv4Addr::UNSPECIFIED;
                        } else {
                            r.tag = x.tag;
                            if let Some(IpAddr::V4(n)) = x.next_hop {
                                r.next_hop = n;
                            }
                        }
                        Some(r)
                    })
                    .collect();
                (c, v)
            }
        };
        self.seq = self.seq.wrapping_add(1);
        rtes.chunks(room)
            .map(|c| {
                RipRepr {
                    command,
                    version: self.version_out,
                    auth: Auth::None,
                    entries: c.to_vec(),
                }
                .to_bytes(&key, self.seq)
            })
            .collect()
    }
}

/// The prefix length of an entry: its mask, or for RIPv1 (no mask) the
/// interface's if the address is inside the interface's network, a host
/// route if it has bits past its class, else its class.
fn v1_plen(e: &Rte, ifc: &IfConfig) -> u8 {
    if let Some(l) = e.plen() {
        return l;
    }
    if e.addr.is_unspecified() {
        return 0;
    }
    let a = IpAddr::V4(e.addr);
    for (x, l) in &ifc.addrs {
        if x.is_ipv4() && Prefix::new(*x, classful_plen(e.addr)).contains(a) {
            return if Prefix::new(a, *l).addr() == a {
                *l
            } else {
                32
            };
        }
    }
    let c = classful_plen(e.addr);
    if Prefix::new(a, c).addr() == a {
        c
    } else {
        32
    }
}

/// The message of a RIPng datagram that arrived with hop limit `hoplimit`
/// (responses must come with 255, when the kernel tells).
pub fn ripng_decode(b: &[u8], hoplimit: Option<i32>) -> Result<Message, Error> {
    let r = RipngRepr::parse(&ripng::Packet::new_checked(b)?)?;
    if r.is_whole_table_request() {
        return Ok(Message::RequestAll);
    }
    if r.command == Command::Response && hoplimit.is_some_and(|h| h != 255) {
        return Err(Error::BadHopLimit);
    }
    let entries = r
        .routes()
        .into_iter()
        .map(|(e, nh)| Entry {
            prefix: Prefix::new(IpAddr::V6(e.prefix), e.plen),
            metric: e.metric,
            tag: e.tag,
            next_hop: nh.map(IpAddr::V6),
        })
        .collect();
    Ok(match r.command {
        Command::Request => Message::Request(entries),
        Command::Response => Message::Response(entries),
    })
}

/// The RIPng datagrams of `msg`.
pub fn ripng_encode(msg: &Message) -> Vec<Vec<u8>> {
    let (command, rtes): (Command, Vec<ripng::Rte>) = match msg {
        Message::RequestAll => (
            Command::Request,
            vec![ripng::Rte::route(Ipv6Addr::UNSPECIFIED, 0, INFINITY)],
        ),
        Message::Request(e) | Message::Response(e) => (
            if matches!(msg, Message::Request(_)) {
                Command::Request
            } else {
                Command::Response
            },
            e.iter()
                .filter_map(|x| match x.prefix.addr() {
                    IpAddr::V6(a) => Some(ripng::Rte {
                        prefix: a,
                        tag: x.tag,
                        plen: x.prefix.plen(),
                        metric: x.metric,
                    }),
                    IpAddr::V4(_) => None,
                })
                .collect(),
        ),
    };
    rtes.chunks(ripng::MAX_ENTRIES)
        .map(|c| {
            RipngRepr {
                command,
                entries: c.to_vec(),
            }
            .to_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn eth0() -> IfConfig {
        IfConfig::new(1, "eth0", vec![(v4("10.0.0.1"), 24)])
    }

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                prefix: Prefix::new(v4(&format!("10.{}.{}.0", i / 200 + 1, i % 200)), 24),
                metric: 1 + (i % 16) as u8,
                tag: i as u16,
                next_hop: None,
            })
            .collect()
    }

    #[test]
    fn messages_round_trip_in_as_many_datagrams_as_needed() {
        for key in [
            None,
            Some(AuthKey::password("pw", None).unwrap()),
            Some(AuthKey::password("pw", Some(3)).unwrap()),
        ] {
            let mut c = RipCodec::default();
            if let Some(k) = key {
                c.keys.push((None, k));
            }
            let m = Message::Response(entries(60));
            let dgrams = c.encode(&m, &eth0());
            let mut back = Vec::new();
            for d in &dgrams {
                assert!(d.len() <= wire::MAX_PACKET);
                match c.decode(d, &eth0()).unwrap() {
                    Message::Response(e) => back.extend(e),
                    x => panic!("{x:?}"),
                }
            }
            assert_eq!(Message::Response(back), m);
        }
        let c = RipCodec::default();
        let mut c2 = c.clone();
        let req = c2.encode(&Message::RequestAll, &eth0());
        assert_eq!(c.decode(&req[0], &eth0()), Ok(Message::RequestAll));
    }

    #[test]
    fn authentication_and_versions_are_enforced() {
        let mut signed = RipCodec::default();
        signed
            .keys
            .push((Some("eth0".into()), AuthKey::password("pw", None).unwrap()));
        let plain = RipCodec::default();
        let m = Message::Response(entries(2));
        let unsigned = plain.clone().encode(&m, &eth0());
        assert_eq!(signed.decode(&unsigned[0], &eth0()), Err(Error::BadAuth));
        let s = signed.encode(&m, &eth0());
        // Without a key, authentication is ignored, unless -A.
        assert!(plain.decode(&s[0], &eth0()).is_ok());
        let strict = RipCodec {
            strict_auth: true,
            ..RipCodec::default()
        };
        assert_eq!(strict.decode(&s[0], &eth0()), Err(Error::BadAuth));
        let v1 = RipCodec {
            version_out: 1,
            ..RipCodec::default()
        };
        let d = v1.clone().encode(&m, &eth0());
        let no1 = RipCodec {
            no_v1_in: true,
            ..RipCodec::default()
        };
        assert_eq!(no1.decode(&d[0], &eth0()), Err(Error::BadVersion));
        // RIPv1 routes get their masks from the class or the interface.
        let Message::Response(e) = plain.decode(&d[0], &eth0()).unwrap() else {
            panic!()
        };
        assert_eq!(e[0].prefix, Prefix::new(v4("10.1.0.0"), 24));
    }

    #[test]
    fn ripng_round_trip_and_hop_limit() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        let m = Message::Response(
            (0..100)
                .map(|i| Entry {
                    prefix: Prefix::new(v6(&format!("a:{i:x}::")), 64),
                    metric: 2,
                    tag: 0,
                    next_hop: None,
                })
                .collect(),
        );
        let d = ripng_encode(&m);
        assert_eq!(d.len(), 2);
        let mut back = Vec::new();
        for x in &d {
            let Message::Response(e) = ripng_decode(x, Some(255)).unwrap() else {
                panic!()
            };
            back.extend(e);
        }
        assert_eq!(Message::Response(back), m);
        assert_eq!(ripng_decode(&d[0], Some(64)), Err(Error::BadHopLimit));
        let r = ripng_encode(&Message::RequestAll);
        assert_eq!(ripng_decode(&r[0], Some(1)), Ok(Message::RequestAll));
    }
}
