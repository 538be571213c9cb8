//! RIPv1/RIPv2 messages (RFC 2453 §3.6, §4; keyed MD5 of RFC 2082), in the
//! style of smoltcp's wire module: [`Packet`] and [`RouteEntry`] are typed
//! views over byte buffers (a checked constructor, accessors, setters), and
//! [`RipRepr`] is the parsed, validated message that emits itself back.
//!
//! ```text
//!  0        1        2                 4
//!  command  version  must be zero         header, 4 bytes
//!  address family    route tag            then 1..=25 entries of 20 bytes
//!  IPv4 address
//!  subnet mask
//!  next hop
//!  metric (1..=16)
//! ```
//!
//! An authentication entry (family `0xFFFF`) may come first in a RIPv2
//! message: a simple password (type 2) or keyed MD5 (type 3, whose digest
//! rides in a trailing entry of family `0xFFFF`, type 1).

use std::net::Ipv4Addr;

use crate::md5::md5;
use crate::{Command, Error};

/// UDP port of RIP (`router` in /etc/services).
pub const RIP_PORT: u16 = 520;
/// The RIPv2 multicast group (RFC 2453 §4.5).
pub const RIP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 9);
/// Header length.
pub const HEADER_LEN: usize = 4;
/// Length of one route entry.
pub const ENTRY_LEN: usize = 20;
/// Most route entries (authentication ones included) in a message.
pub const MAX_ENTRIES: usize = 25;
/// Largest message accepted: routed's buffer, room for an MD5 trailer.
pub const MAX_PACKET: usize = 512;
/// Address family of an IPv4 route entry.
pub const AF_INET: u16 = 2;
/// Address family of a whole-table request's entry.
pub const AF_UNSPEC: u16 = 0;
/// Address family of an authentication entry.
pub const AF_AUTH: u16 = 0xffff;
/// Authentication type: simple password.
pub const AUTH_SIMPLE: u16 = 2;
/// Authentication type: keyed MD5.
pub const AUTH_MD5: u16 = 3;
/// Type of the keyed-MD5 trailer entry.
pub const AUTH_TRAILER: u16 = 1;
/// Metric meaning unreachable.
pub const INFINITY: u32 = 16;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A RIP message over a buffer.
#[derive(Clone, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (accessors may panic on a short buffer).
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view whose length was checked: a header, whole entries, at most
    /// [`MAX_PACKET`] bytes.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` when shorter than a header or not whole entries;
    /// `TooManyEntries` past [`MAX_PACKET`].
    pub fn check_len(&self) -> Result<(), Error> {
        let n = self.buffer.as_ref().len();
        if n < HEADER_LEN || !(n - HEADER_LEN).is_multiple_of(ENTRY_LEN) {
            return Err(Error::Truncated);
        }
        if n > MAX_PACKET {
            return Err(Error::TooManyEntries);
        }
        Ok(())
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The command byte.
    pub fn command(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The two must-be-zero bytes.
    pub fn reserved(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Entries in the message (authentication entries included).
    pub fn entry_count(&self) -> usize {
        (self.buffer.as_ref().len() - HEADER_LEN) / ENTRY_LEN
    }

    /// Entry `i` (< [`Packet::entry_count`]).
    pub fn entry(&self, i: usize) -> RouteEntry<&[u8]> {
        let at = HEADER_LEN + i * ENTRY_LEN;
        RouteEntry::new_unchecked(&self.buffer.as_ref()[at..at + ENTRY_LEN])
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

    /// Zero the must-be-zero bytes.
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[2..4].fill(0);
    }

    /// Entry `i`, writable.
    pub fn entry_mut(&mut self, i: usize) -> RouteEntry<&mut [u8]> {
        let at = HEADER_LEN + i * ENTRY_LEN;
        RouteEntry::new_unchecked(&mut self.buffer.as_mut()[at..at + ENTRY_LEN])
    }
}

/// One 20-byte entry: a route, or an authentication entry (then
/// `route_tag` is the authentication type).
#[derive(Clone, Debug)]
pub struct RouteEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouteEntry<T> {
    /// A view without checks.
    pub fn new_unchecked(buffer: T) -> RouteEntry<T> {
        RouteEntry { buffer }
    }

    /// A view of at least [`ENTRY_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<RouteEntry<T>, Error> {
        if buffer.as_ref().len() < ENTRY_LEN {
            return Err(Error::Truncated);
        }
        Ok(RouteEntry { buffer })
    }

    /// Address family identifier.
    pub fn family(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Route tag (the authentication type in an authentication entry).
    pub fn route_tag(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Destination.
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), 4))
    }

    /// Subnet mask.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), 8))
    }

    /// Next hop.
    pub fn next_hop(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), 12))
    }

    /// Metric.
    pub fn metric(&self) -> u32 {
        be32(self.buffer.as_ref(), 16)
    }

    /// The 16 bytes after family and type (an authentication entry's data).
    pub fn auth_data(&self) -> &[u8] {
        &self.buffer.as_ref()[4..20]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RouteEntry<T> {
    /// Set the address family.
    pub fn set_family(&mut self, v: u16) {
        self.buffer.as_mut()[0..2].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the route tag (authentication type).
    pub fn set_route_tag(&mut self, v: u16) {
        self.buffer.as_mut()[2..4].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the destination.
    pub fn set_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[4..8].copy_from_slice(&a.octets());
    }
    /// Set the subnet mask.
    pub fn set_mask(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[8..12].copy_from_slice(&a.octets());
    }
    /// Set the next hop.
    pub fn set_next_hop(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[12..16].copy_from_slice(&a.octets());
    }
    /// Set the metric.
    pub fn set_metric(&mut self, m: u32) {
        self.buffer.as_mut()[16..20].copy_from_slice(&m.to_be_bytes());
    }
    /// The 16 authentication data bytes, writable.
    pub fn auth_data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[4..20]
    }
}

/// A route entry, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rte {
    /// Address family ([`AF_INET`], or [`AF_UNSPEC`] in a whole-table request).
    pub family: u16,
    /// Route tag.
    pub tag: u16,
    /// Destination.
    pub addr: Ipv4Addr,
    /// Subnet mask (0: none given, RIPv1).
    pub mask: Ipv4Addr,
    /// Next hop (0: the sender).
    pub next_hop: Ipv4Addr,
    /// Metric, 1..=16.
    pub metric: u32,
}

impl Rte {
    /// A route entry of family [`AF_INET`].
    pub fn route(addr: Ipv4Addr, plen: u8, metric: u32) -> Rte {
        Rte {
            family: AF_INET,
            tag: 0,
            addr,
            mask: plen_mask(plen),
            next_hop: Ipv4Addr::UNSPECIFIED,
            metric,
        }
    }

    /// The prefix length of the mask (`None`: no mask or not contiguous).
    pub fn plen(&self) -> Option<u8> {
        mask_plen(self.mask)
    }
}

/// The mask of a prefix length (clamped to 32).
pub fn plen_mask(plen: u8) -> Ipv4Addr {
    let p = u32::from(plen.min(32));
    Ipv4Addr::from(if p == 0 { 0 } else { u32::MAX << (32 - p) })
}

/// The prefix length of a contiguous, non-zero mask.
pub fn mask_plen(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let n = v.leading_ones();
    (v != 0 && v.checked_shl(n).unwrap_or(0) == 0).then_some(n as u8)
}

/// Authentication of a RIPv2 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// None.
    None,
    /// Simple password (16 bytes, NUL padded).
    Simple([u8; 16]),
    /// Keyed MD5: key id, sequence number, and (once parsed) the digest.
    Md5 {
        /// Key id.
        key_id: u8,
        /// Non-decreasing sequence number.
        seq: u32,
        /// The digest found in the trailer (zero when emitting).
        digest: [u8; 16],
    },
}

/// A key to check or sign messages with (`passwd=` / `md5_passwd=` of routed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKey {
    /// No authentication.
    None,
    /// Simple password.
    Simple([u8; 16]),
    /// Keyed MD5 with key id.
    Md5 {
        /// Key id.
        key_id: u8,
        /// The secret.
        key: [u8; 16],
    },
}

impl AuthKey {
    /// A key from a password string (at most 16 bytes; longer is `BadAuth`).
    pub fn password(s: &str, md5: Option<u8>) -> Result<AuthKey, Error> {
        if s.len() > 16 {
            return Err(Error::BadAuth);
        }
        let mut k = [0u8; 16];
        k[..s.len()].copy_from_slice(s.as_bytes());
        Ok(match md5 {
            Some(key_id) => AuthKey::Md5 { key_id, key: k },
            None => AuthKey::Simple(k),
        })
    }
}

/// A parsed and checked RIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RipRepr {
    /// Request or response.
    pub command: Command,
    /// 1 or 2.
    pub version: u8,
    /// Authentication (RIPv2 only).
    pub auth: Auth,
    /// Route entries (without authentication entries).
    pub entries: Vec<Rte>,
}

impl RipRepr {
    /// Parse and check a message: header, version 1 or 2, command request or
    /// response, must-be-zero fields of RIPv1, families, metrics 1..=16 (a
    /// whole-table request is one family-0 entry of metric 16), at most 25
    /// entries, and the shape of an authentication entry and MD5 trailer.
    /// It does not check passwords: see [`RipRepr::verify`].
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<RipRepr, Error> {
        p.check_len()?;
        let command = Command::from_u8(p.command()).ok_or(Error::BadCommand)?;
        let version = p.version();
        if version != 1 && version != 2 {
            return Err(Error::BadVersion);
        }
        if version == 1 && p.reserved() != 0 {
            return Err(Error::NonZero);
        }
        let n = p.entry_count();
        if n == 0 {
            return Err(Error::Truncated);
        }
        let mut auth = Auth::None;
        let mut first = 0;
        let mut last = n;
        let e0 = p.entry(0);
        if e0.family() == AF_AUTH {
            if version != 2 {
                return Err(Error::BadFamily);
            }
            first = 1;
            match e0.route_tag() {
                AUTH_SIMPLE => {
                    let mut pw = [0u8; 16];
                    pw.copy_from_slice(e0.auth_data());
                    auth = Auth::Simple(pw);
                }
                AUTH_MD5 => {
                    let d = e0.auth_data();
                    let off = usize::from(be16(d, 0));
                    let key_id = d[2];
                    let alen = d[3];
                    let seq = be32(d, 4);
                    let total = p.buffer.as_ref().len();
                    if alen != 16
                        || off < HEADER_LEN + ENTRY_LEN
                        || !(off - HEADER_LEN).is_multiple_of(ENTRY_LEN)
                        || off + ENTRY_LEN != total
                    {
                        return Err(Error::BadAuth);
                    }
                    let t = RouteEntry::new_unchecked(&p.buffer.as_ref()[off..total]);
                    if t.family() != AF_AUTH || t.route_tag() != AUTH_TRAILER {
                        return Err(Error::BadAuth);
                    }
                    let mut digest = [0u8; 16];
                    digest.copy_from_slice(t.auth_data());
                    auth = Auth::Md5 {
                        key_id,
                        seq,
                        digest,
                    };
                    last = n - 1;
                }
                _ => return Err(Error::BadAuth),
            }
        }
        if last - first > MAX_ENTRIES - usize::from(first > 0) {
            return Err(Error::TooManyEntries);
        }
        let mut entries = Vec::with_capacity(last - first);
        for i in first..last {
            let e = p.entry(i);
            let rte = Rte {
                family: e.family(),
                tag: e.route_tag(),
                addr: e.addr(),
                mask: e.mask(),
                next_hop: e.next_hop(),
                metric: e.metric(),
            };
            if version == 1
                && (rte.tag != 0
                    || rte.mask != Ipv4Addr::UNSPECIFIED
                    || rte.next_hop != Ipv4Addr::UNSPECIFIED)
            {
                return Err(Error::NonZero);
            }
            if rte.metric > INFINITY {
                return Err(Error::BadMetric);
            }
            match rte.family {
                AF_INET => {
                    if rte.metric == 0 && command == Command::Response {
                        return Err(Error::BadMetric);
                    }
                }
                AF_UNSPEC
                    if command == Command::Request
                        && last - first == 1
                        && rte.metric == INFINITY => {}
                AF_AUTH => return Err(Error::BadAuth),
                _ => return Err(Error::BadFamily),
            }
            entries.push(rte);
        }
        Ok(RipRepr {
            command,
            version,
            auth,
            entries,
        })
    }

    /// Whether this is a request for the whole table (one family-0 entry,
    /// metric 16).
    pub fn is_whole_table_request(&self) -> bool {
        self.command == Command::Request
            && self.entries.len() == 1
            && self.entries[0].family == AF_UNSPEC
            && self.entries[0].metric == INFINITY
    }

    /// Check the authentication of message `bytes` (the one parsed into
    /// `self`) against `key`: with no key, any message passes (routed
    /// ignores authentication it is not configured for); with a key, the
    /// password or the MD5 digest must match.
    pub fn verify(&self, bytes: &[u8], key: &AuthKey) -> Result<(), Error> {
        match (key, &self.auth) {
            (AuthKey::None, _) => Ok(()),
            (AuthKey::Simple(k), Auth::Simple(pw)) if k == pw => Ok(()),
            (
                AuthKey::Md5 { key_id, key },
                Auth::Md5 {
                    key_id: id, digest, ..
                },
            ) if key_id == id => {
                if bytes.len() < ENTRY_LEN {
                    return Err(Error::BadAuth);
                }
                let cut = bytes.len() - ENTRY_LEN + 4;
                let mut m = bytes[..cut].to_vec();
                m.extend_from_slice(key);
                if &md5(&m) == digest {
                    Ok(())
                } else {
                    Err(Error::BadAuth)
                }
            }
            _ => Err(Error::BadAuth),
        }
    }

    /// Bytes [`RipRepr::emit`] writes with authentication `key`.
    pub fn buffer_len(&self, key: &AuthKey) -> usize {
        let extra = match key {
            AuthKey::None => 0,
            AuthKey::Simple(_) => 1,
            AuthKey::Md5 { .. } => 2,
        };
        HEADER_LEN + (self.entries.len() + extra) * ENTRY_LEN
    }

    /// Write the message into `p` (of [`RipRepr::buffer_len`] bytes),
    /// authenticated with `key` (RIPv2; `seq` is the MD5 sequence number).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>, key: &AuthKey, seq: u32) {
        p.set_command(self.command as u8);
        p.set_version(self.version);
        p.clear_reserved();
        let mut i = 0;
        match key {
            AuthKey::None => {}
            AuthKey::Simple(pw) => {
                let mut e = p.entry_mut(0);
                e.set_family(AF_AUTH);
                e.set_route_tag(AUTH_SIMPLE);
                e.auth_data_mut().copy_from_slice(pw);
                i = 1;
            }
            AuthKey::Md5 { key_id, .. } => {
                let off = (HEADER_LEN + (self.entries.len() + 1) * ENTRY_LEN) as u16;
                let mut e = p.entry_mut(0);
                e.set_family(AF_AUTH);
                e.set_route_tag(AUTH_MD5);
                let d = e.auth_data_mut();
                d.fill(0);
                d[0..2].copy_from_slice(&off.to_be_bytes());
                d[2] = *key_id;
                d[3] = 16;
                d[4..8].copy_from_slice(&seq.to_be_bytes());
                i = 1;
            }
        }
        for r in &self.entries {
            let mut e = p.entry_mut(i);
            e.set_family(r.family);
            e.set_route_tag(r.tag);
            e.set_addr(r.addr);
            e.set_mask(r.mask);
            e.set_next_hop(r.next_hop);
            e.set_metric(r.metric);
            i += 1;
        }
        if let AuthKey::Md5 { key, .. } = key {
            let mut t = p.entry_mut(i);
            t.set_family(AF_AUTH);
            t.set_route_tag(AUTH_TRAILER);
            t.auth_data_mut().copy_from_slice(key);
            let b = p.buffer.as_ref();
            let d = md5(b);
            p.entry_mut(i).auth_data_mut().copy_from_slice(&d);
        }
    }

    /// The message as bytes.
    pub fn to_bytes(&self, key: &AuthKey, seq: u32) -> Vec<u8> {
        let mut p = Packet::new_unchecked(vec![0u8; self.buffer_len(key)]);
        self.emit(&mut p, key, seq);
        p.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn response() -> RipRepr {
        RipRepr {
            command: Command::Response,
            version: 2,
            auth: Auth::None,
            entries: vec![
                Rte::route(a("10.0.1.0"), 24, 1),
                Rte {
                    tag: 7,
                    next_hop: a("10.0.0.9"),
                    ..Rte::route(a("10.9.0.0"), 16, 16)
                },
            ],
        }
    }

    #[test]
    fn header_and_entry_views() {
        let b = response().to_bytes(&AuthKey::None, 0);
        assert_eq!(b.len(), 44);
        assert_eq!(&b[..4], &[2, 2, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.command(), p.version(), p.entry_count()), (2, 2, 2));
        let e = p.entry(1);
        assert_eq!((e.family(), e.route_tag()), (AF_INET, 7));
        assert_eq!((e.addr(), e.mask()), (a("10.9.0.0"), a("255.255.0.0")));
        assert_eq!((e.next_hop(), e.metric()), (a("10.0.0.9"), 16));
        assert_eq!(
            &b[24..44],
            &[0, 2, 0, 7, 10, 9, 0, 0, 255, 255, 0, 0, 10, 0, 0, 9, 0, 0, 0, 16]
        );
    }

    #[test]
    fn round_trip_plain_simple_md5() {
        let r = response();
        for key in [
            AuthKey::None,
            AuthKey::password("secret", None).unwrap(),
            AuthKey::password("md5key", Some(5)).unwrap(),
        ] {
            let b = r.to_bytes(&key, 42);
            assert_eq!(b.len(), r.buffer_len(&key));
            let p = Packet::new_checked(&b[..]).unwrap();
            let got = RipRepr::parse(&p).unwrap();
            assert_eq!(got.entries, r.entries);
            got.verify(&b, &key).unwrap();
            match (&key, &got.auth) {
                (AuthKey::None, Auth::None) => {}
                (AuthKey::Simple(k), Auth::Simple(pw)) => assert_eq!(k, pw),
                (AuthKey::Md5 { key_id, .. }, Auth::Md5 { key_id: i, seq, .. }) => {
                    assert_eq!((key_id, *seq), (i, 42))
                }
                x => panic!("{x:?}"),
            }
            // Emitting the parsed message again gives the same bytes.
            let again = RipRepr {
                auth: Auth::None,
                ..got
            };
            assert_eq!(again.to_bytes(&key, 42), b);
        }
    }

    #[test]
    fn bad_auth_is_refused() {
        let r = response();
        let good = AuthKey::password("secret", None).unwrap();
        let b = r.to_bytes(&good, 0);
        let got = RipRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        let other = AuthKey::password("guess", None).unwrap();
        assert_eq!(got.verify(&b, &other), Err(Error::BadAuth));
        // An unauthenticated message where a key is configured.
        let plain = r.to_bytes(&AuthKey::None, 0);
        let got = RipRepr::parse(&Packet::new_checked(&plain[..]).unwrap()).unwrap();
        assert_eq!(got.verify(&plain, &good), Err(Error::BadAuth));
        assert_eq!(got.verify(&plain, &AuthKey::None), Ok(()));
        // MD5: a flipped bit in a route, or another key.
        let k = AuthKey::password("k", Some(1)).unwrap();
        let mut b = r.to_bytes(&k, 3);
        let got = RipRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(
            got.verify(&b, &AuthKey::password("x", Some(1)).unwrap()),
            Err(Error::BadAuth)
        );
        assert_eq!(
            got.verify(&b, &AuthKey::password("k", Some(2)).unwrap()),
            Err(Error::BadAuth)
        );
        b[30] ^= 1;
        let got = RipRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(got.verify(&b, &k), Err(Error::BadAuth));
        // An unknown auth type, a trailer offset that does not fit.
        let mut b = r.to_bytes(&good, 0);
        b[7] = 9;
        assert_eq!(
            RipRepr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(Error::BadAuth)
        );
        let mut b = r.to_bytes(&k, 0);
        b[8] = 0;
        b[9] = 24;
        assert_eq!(
            RipRepr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(Error::BadAuth)
        );
    }

    fn parse(b: &[u8]) -> Result<RipRepr, Error> {
        RipRepr::parse(&Packet::new_checked(b)?)
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = response().to_bytes(&AuthKey::None, 0);
        assert!(parse(&good).is_ok());
        // Short: no header, a cut entry, a header alone.
        assert_eq!(parse(&good[..3]), Err(Error::Truncated));
        assert_eq!(parse(&good[..30]), Err(Error::Truncated));
        assert_eq!(parse(&good[..4]), Err(Error::Truncated));
        let mut b = good.clone();
        b[1] = 0;
        assert_eq!(parse(&b), Err(Error::BadVersion));
        b[1] = 3;
        assert_eq!(parse(&b), Err(Error::BadVersion));
        let mut b = good.clone();
        b[0] = 9;
        assert_eq!(parse(&b), Err(Error::BadCommand));
        let mut b = good.clone();
        b[5] = 7;
        assert_eq!(parse(&b), Err(Error::BadFamily));
        let mut b = good.clone();
        b[23] = 17;
        assert_eq!(parse(&b), Err(Error::BadMetric));
        b[23] = 0;
        assert_eq!(parse(&b), Err(Error::BadMetric));
        // RIPv1 with a mask or non-zero header bytes.
        let mut b = good.clone();
        b[1] = 1;
        assert_eq!(parse(&b), Err(Error::NonZero));
        // A flood: 26 entries.
        let flood = RipRepr {
            entries: vec![Rte::route(a("10.0.0.0"), 8, 1); 26],
            ..response()
        };
        let b = flood.to_bytes(&AuthKey::None, 0);
        assert_eq!(parse(&b), Err(Error::TooManyEntries));
        let mut big = b.clone();
        big.extend_from_slice(&[0; 20 * 10]);
        assert_eq!(parse(&big), Err(Error::TooManyEntries));
        // An authentication entry in the middle.
        let mut b = good.clone();
        b[24] = 0xff;
        b[25] = 0xff;
        assert_eq!(parse(&b), Err(Error::BadAuth));
    }

    #[test]
    fn whole_table_request() {
        let r = RipRepr {
            command: Command::Request,
            version: 2,
            auth: Auth::None,
            entries: vec![Rte {
                family: AF_UNSPEC,
                tag: 0,
                addr: Ipv4Addr::UNSPECIFIED,
                mask: Ipv4Addr::UNSPECIFIED,
                next_hop: Ipv4Addr::UNSPECIFIED,
                metric: INFINITY,
            }],
        };
        let b = r.to_bytes(&AuthKey::None, 0);
        let got = parse(&b).unwrap();
        assert!(got.is_whole_table_request());
        // Family 0 is only for that request.
        let mut b2 = b.clone();
        b2[0] = 2;
        assert_eq!(parse(&b2), Err(Error::BadFamily));
    }

    #[test]
    fn masks() {
        assert_eq!(plen_mask(24), a("255.255.255.0"));
        assert_eq!(plen_mask(0), a("0.0.0.0"));
        assert_eq!(mask_plen(a("255.255.255.252")), Some(30));
        assert_eq!(mask_plen(a("255.0.255.0")), None);
        assert_eq!(mask_plen(a("0.0.0.0")), None);
        assert_eq!(Rte::route(a("1.0.0.0"), 8, 1).plen(), Some(8));
    }
}
