//! RIPng messages (RFC 2080 §2.1): [`Packet`] and [`Rte`] views over byte
//! buffers and the checked [`RipngRepr`].
//!
//! ```text
//!  command  version(1)  must be zero       header, 4 bytes
//!  IPv6 prefix (16 bytes)                  then entries of 20 bytes
//!  route tag  prefix length  metric
//! ```
//!
//! An entry of metric `0xFF` is a next-hop entry: its prefix field is the
//! next hop (`::` for the sender) of the routes that follow it.

use std::net::Ipv6Addr;

use crate::{Command, Error};

/// UDP port of RIPng (`ripng` in /etc/services).
pub const RIPNG_PORT: u16 = 521;
/// The all-RIP-routers group.
pub const RIPNG_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 9);
/// Header length.
pub const HEADER_LEN: usize = 4;
/// Entry length.
pub const ENTRY_LEN: usize = 20;
/// The only version.
pub const VERSION: u8 = 1;
/// Metric of a next-hop entry.
pub const NEXT_HOP_METRIC: u8 = 0xff;
/// Metric meaning unreachable.
pub const INFINITY: u8 = 16;
/// Most entries in a message: what fits a 1500-byte MTU after the IPv6 and
/// UDP headers ((1500 - 40 - 8 - 4) / 20), as route6d caps the MTU.
pub const MAX_ENTRIES: usize = 72;

/// A RIPng message over a buffer.
#[derive(Clone, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view of a header and whole entries, at most [`MAX_ENTRIES`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` / `TooManyEntries`.
    pub fn check_len(&self) -> Result<(), Error> {
        let n = self.buffer.as_ref().len();
        if n < HEADER_LEN || !(n - HEADER_LEN).is_multiple_of(ENTRY_LEN) {
            return Err(Error::Truncated);
        }
        if (n - HEADER_LEN) / ENTRY_LEN > MAX_ENTRIES {
            return Err(Error::TooManyEntries);
        }
        Ok(())
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Command.
    pub fn command(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Version.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The must-be-zero bytes.
    pub fn reserved(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        (self.buffer.as_ref().len() - HEADER_LEN) / ENTRY_LEN
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> RteView<&[u8]> {
        let at = HEADER_LEN + i * ENTRY_LEN;
        RteView::new_unchecked(&self.buffer.as_ref()[at..at + ENTRY_LEN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the command.
    pub fn set_command(&mut self, c: u8) {
        self.buffer.as_mut()[0] = c;
    }
    /// Set the version.
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v;
    }
    /// Zero the reserved bytes.
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[2..4].fill(0);
    }
    /// Entry `i`, writable.
    pub fn entry_mut(&mut self, i: usize) -> RteView<&mut [u8]> {
        let at = HEADER_LEN + i * ENTRY_LEN;
        RteView::new_unchecked(&mut self.buffer.as_mut()[at..at + ENTRY_LEN])
    }
}

/// One 20-byte entry.
#[derive(Clone, Debug)]
pub struct RteView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RteView<T> {
    /// A view without checks.
    pub fn new_unchecked(buffer: T) -> RteView<T> {
        RteView { buffer }
    }
    /// A view of at least [`ENTRY_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<RteView<T>, Error> {
        if buffer.as_ref().len() < ENTRY_LEN {
            return Err(Error::Truncated);
        }
        Ok(RteView { buffer })
    }
    /// The prefix (or next hop).
    pub fn prefix(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[..16]);
        Ipv6Addr::from(a)
    }
    /// Route tag.
    pub fn route_tag(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[16], b[17]])
    }
    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.buffer.as_ref()[18]
    }
    /// Metric.
    pub fn metric(&self) -> u8 {
        self.buffer.as_ref()[19]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RteView<T> {
    /// Set the prefix.
    pub fn set_prefix(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[..16].copy_from_slice(&a.octets());
    }
    /// Set the tag.
    pub fn set_route_tag(&mut self, t: u16) {
        self.buffer.as_mut()[16..18].copy_from_slice(&t.to_be_bytes());
    }
    /// Set the prefix length.
    pub fn set_prefix_len(&mut self, l: u8) {
        self.buffer.as_mut()[18] = l;
    }
    /// Set the metric.
    pub fn set_metric(&mut self, m: u8) {
        self.buffer.as_mut()[19] = m;
    }
}

/// A parsed entry (a route, or a next hop when `metric` is 0xFF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rte {
    /// Prefix, or next hop.
    pub prefix: Ipv6Addr,
    /// Route tag.
    pub tag: u16,
    /// Prefix length (0..=128).
    pub plen: u8,
    /// 1..=16, or [`NEXT_HOP_METRIC`].
    pub metric: u8,
}

impl Rte {
    /// A route entry.
    pub fn route(prefix: Ipv6Addr, plen: u8, metric: u8) -> Rte {
        Rte {
            prefix,
            tag: 0,
            plen,
            metric,
        }
    }
    /// Whether it is a next-hop entry.
    pub fn is_next_hop(&self) -> bool {
        self.metric == NEXT_HOP_METRIC
    }
}

/// A parsed and checked RIPng message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RipngRepr {
    /// Request or response.
    pub command: Command,
    /// Entries, next-hop entries included, in order.
    pub entries: Vec<Rte>,
}

impl RipngRepr {
    /// Parse and check: version 1, reserved bytes zero, command request or
    /// response, prefix lengths ≤ 128, metrics 1..=16 or 0xFF (a next hop,
    /// only in responses, with tag and length 0, link-local or `::`), at
    /// least one and at most [`MAX_ENTRIES`] entries.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<RipngRepr, Error> {
        p.check_len()?;
        let command = Command::from_u8(p.command()).ok_or(Error::BadCommand)?;
        if p.version() != VERSION {
            return Err(Error::BadVersion);
        }
        if p.reserved() != 0 {
            return Err(Error::NonZero);
        }
        let n = p.entry_count();
        if n == 0 {
            return Err(Error::Truncated);
        }
        let mut entries = Vec::with_capacity(n);
        for i in 0..n {
            let e = p.entry(i);
            let r = Rte {
                prefix: e.prefix(),
                tag: e.route_tag(),
                plen: e.prefix_len(),
                metric: e.metric(),
            };
            if r.is_next_hop() {
                let ll = r.prefix.segments()[0] & 0xffc0 == 0xfe80;
                if command != Command::Response
                    || r.tag != 0
                    || r.plen != 0
                    || !(ll || r.prefix.is_unspecified())
                {
                    return Err(Error::BadNextHop);
                }
            } else {
                if r.plen > 128 {
                    return Err(Error::BadPrefix);
                }
                if r.metric > INFINITY || (r.metric == 0 && command == Command::Response) {
                    return Err(Error::BadMetric);
                }
            }
            entries.push(r);
        }
        Ok(RipngRepr { command, entries })
    }

    /// Whether this is a request for the whole table (one `::/0` entry of
    /// metric 16).
    pub fn is_whole_table_request(&self) -> bool {
        self.command == Command::Request
            && self.entries.len() == 1
            && self.entries[0].prefix.is_unspecified()
            && self.entries[0].plen == 0
            && self.entries[0].metric == INFINITY
    }

    /// The routes with the next hop each applies to (`None`: the sender).
    pub fn routes(&self) -> Vec<(Rte, Option<Ipv6Addr>)> {
        let mut nh = None;
        let mut v = Vec::new();
        for e in &self.entries {
            if e.is_next_hop() {
                nh = (!e.prefix.is_unspecified()).then_some(e.prefix);
            } else {
                v.push((*e, nh));
            }
        }
        v
    }

    /// Bytes [`RipngRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.entries.len() * ENTRY_LEN
    }

    /// Write into `p` ([`RipngRepr::buffer_len`] bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_command(self.command as u8);
        p.set_version(VERSION);
        p.clear_reserved();
        for (i, r) in self.entries.iter().enumerate() {
            let mut e = p.entry_mut(i);
            e.set_prefix(r.prefix);
            e.set_route_tag(r.tag);
            e.set_prefix_len(r.plen);
            e.set_metric(r.metric);
        }
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = Packet::new_unchecked(vec![0u8; self.buffer_len()]);
        self.emit(&mut p);
        p.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn response() -> RipngRepr {
        RipngRepr {
            command: Command::Response,
            entries: vec![
                Rte::route(a("a:1::"), 64, 1),
                Rte::route(a("fe80::1"), 0, NEXT_HOP_METRIC),
                Rte {
                    tag: 3,
                    ..Rte::route(a("a:2::"), 64, 16)
                },
            ],
        }
    }

    fn parse(b: &[u8]) -> Result<RipngRepr, Error> {
        RipngRepr::parse(&Packet::new_checked(b)?)
    }

    #[test]
    fn views_and_round_trip() {
        let r = response();
        let b = r.to_bytes();
        assert_eq!(b.len(), 64);
        assert_eq!(&b[..4], &[2, 1, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        let e = p.entry(2);
        assert_eq!((e.prefix(), e.route_tag()), (a("a:2::"), 3));
        assert_eq!((e.prefix_len(), e.metric()), (64, 16));
        assert_eq!(&b[20..24], &[0, 0, 64, 1]);
        let got = parse(&b).unwrap();
        assert_eq!(got, r);
        assert_eq!(got.to_bytes(), b);
        let routes = got.routes();
        assert_eq!(routes[0].1, None);
        assert_eq!(routes[1].1, Some(a("fe80::1")));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = response().to_bytes();
        assert_eq!(parse(&good[..2]), Err(Error::Truncated));
        assert_eq!(parse(&good[..4]), Err(Error::Truncated));
        assert_eq!(parse(&good[..23]), Err(Error::Truncated));
        let mut b = good.clone();
        b[1] = 2;
        assert_eq!(parse(&b), Err(Error::BadVersion));
        let mut b = good.clone();
        b[0] = 0;
        assert_eq!(parse(&b), Err(Error::BadCommand));
        let mut b = good.clone();
        b[3] = 1;
        assert_eq!(parse(&b), Err(Error::NonZero));
        let mut b = good.clone();
        b[23] = 17;
        assert_eq!(parse(&b), Err(Error::BadMetric));
        let mut b = good.clone();
        b[22] = 129;
        assert_eq!(parse(&b), Err(Error::BadPrefix));
        // A next hop that is not link-local, or with a prefix length.
        let mut b = good.clone();
        b[24] = 0x20;
        assert_eq!(parse(&b), Err(Error::BadNextHop));
        let mut b = good.clone();
        b[42] = 64;
        assert_eq!(parse(&b), Err(Error::BadNextHop));
        let flood = RipngRepr {
            command: Command::Response,
            entries: vec![Rte::route(a("a::"), 16, 1); MAX_ENTRIES + 1],
        };
        assert_eq!(parse(&flood.to_bytes()), Err(Error::TooManyEntries));
        let ok = RipngRepr {
            command: Command::Response,
            entries: vec![Rte::route(a("a::"), 16, 1); MAX_ENTRIES],
        };
        assert!(parse(&ok.to_bytes()).is_ok());
    }

    #[test]
    fn whole_table_request() {
        let r = RipngRepr {
            command: Command::Request,
            entries: vec![Rte::route(Ipv6Addr::UNSPECIFIED, 0, INFINITY)],
        };
        let got = parse(&r.to_bytes()).unwrap();
        assert!(got.is_whole_table_request());
        assert!(!response().is_whole_table_request());
    }
}
