//! The IPv4 header (`struct ip`, RFC 791) and the Internet checksum (RFC 1071) that
//! every protocol shares, with the IPv4 and IPv6 pseudo-header sums.
//!
//! [`Ipv4Packet`] is a zero-copy view: [`Ipv4Packet::new_checked`] validates the
//! lengths once, after which no accessor can panic.  [`Ipv4Repr`] is the parsed
//! header; it keeps no options (they are skipped on parse, never emitted).

use std::net::{Ipv4Addr, Ipv6Addr};
use vimage_abi::Errno;

/// IP version number of IPv4.
pub const IPVERSION: u8 = 4;
/// `sizeof(struct ip)`: an IPv4 header without options.
pub const IP_HDR_LEN: usize = 20;
/// The longest IPv4 header (IHL 15).
pub const IP_MAX_HDR_LEN: usize = 60;
/// Largest IPv4 datagram.
pub const IP_MAXPACKET: usize = 65535;
/// Largest TTL.
pub const MAXTTL: u8 = 255;
/// `ip_off`: reserved flag.
pub const IP_RF: u16 = 0x8000;
/// `ip_off`: don't fragment.
pub const IP_DF: u16 = 0x4000;
/// `ip_off`: more fragments.
pub const IP_MF: u16 = 0x2000;
/// `ip_off`: the fragment offset, in 8-byte units.
pub const IP_OFFMASK: u16 = 0x1fff;

/// IPv6 hop-by-hop options header.
pub const IPPROTO_HOPOPTS: u8 = 0;
/// ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IGMP.
pub const IPPROTO_IGMP: u8 = 2;
/// IPv4 in IP.
pub const IPPROTO_IPV4: u8 = 4;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 in IP.
pub const IPPROTO_IPV6: u8 = 41;
/// IPv6 routing header.
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 fragment header.
pub const IPPROTO_FRAGMENT: u8 = 44;
/// ESP.
pub const IPPROTO_ESP: u8 = 50;
/// AH.
pub const IPPROTO_AH: u8 = 51;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// IPv6: no next header.
pub const IPPROTO_NONE: u8 = 59;
/// IPv6 destination options header.
pub const IPPROTO_DSTOPTS: u8 = 60;

// ---------------------------------------------------------------- byte access

// Reads never panic (a short buffer reads as zeros); writes index directly, so
// emitting into a buffer shorter than `buffer_len()` is a caller bug that panics.

pub(crate) fn rd16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

pub(crate) fn rd32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

pub(crate) fn rd_v4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(rd32(b, at))
}

#[cfg_attr(not(feature = "inet6"), allow(dead_code))]
pub(crate) fn rd_v6(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at.saturating_add(16)) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
}

/// `b[from..to]`, or empty when out of range.
pub(crate) fn sub(b: &[u8], from: usize, to: usize) -> &[u8] {
    b.get(from..to).unwrap_or(&[])
}

/// `b[from..to]` mutable, or empty when out of range.
pub(crate) fn sub_mut(b: &mut [u8], from: usize, to: usize) -> &mut [u8] {
    b.get_mut(from..to).unwrap_or(&mut [])
}

pub(crate) fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub(crate) fn wr32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------- checksum

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement sum of `data` read as big-endian 16-bit words, folded to 16
/// bits and not complemented; an odd last byte is padded with a zero.  Sums of
/// several pieces combine with [`cksum_add`] (all but the last must be even-sized).
pub fn cksum_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// One's-complement addition of two partial sums.
pub fn cksum_add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The Internet checksum of `data` (`in_cksum`): the complement of its sum.  A
/// block that carries its own correct checksum gives 0.
pub fn in_cksum(data: &[u8]) -> u16 {
    !cksum_sum(data)
}

/// Partial sum of the IPv4 pseudo header (`in_pseudo`): addresses, protocol and
/// the upper-layer length.
pub fn in_pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u16 {
    let s = u64::from(u32::from(src));
    let d = u64::from(u32::from(dst));
    let l = len as u64;
    fold((s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u64::from(proto) + l)
}

/// Partial sum of the IPv6 pseudo header (RFC 8200 8.1): addresses, the 32-bit
/// upper-layer length and the next header value.
pub fn in6_pseudo(src: &Ipv6Addr, dst: &Ipv6Addr, nxt: u8, len: usize) -> u16 {
    let a = cksum_add(cksum_sum(&src.octets()), cksum_sum(&dst.octets()));
    let l = (len as u64) & 0xffff_ffff;
    fold(u64::from(a) + l + u64::from(nxt))
}

/// The addresses a transport checksum covers (the pseudo header's address part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PseudoHdr {
    /// An IPv4 source and destination.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// An IPv6 source and destination.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
    },
}

impl PseudoHdr {
    /// Partial sum of the pseudo header for protocol `proto` and length `len`.
    pub fn sum(&self, proto: u8, len: usize) -> u16 {
        match self {
            PseudoHdr::V4 { src, dst } => in_pseudo(*src, *dst, proto, len),
            PseudoHdr::V6 { src, dst } => in6_pseudo(src, dst, proto, len),
        }
    }
    /// Whether the addresses are IPv6.
    pub fn is_v6(&self) -> bool {
        matches!(self, PseudoHdr::V6 { .. })
    }
    /// The checksum field value for `data` (whose checksum field must be zero):
    /// the complement of pseudo header plus data.
    pub fn checksum(&self, proto: u8, data: &[u8]) -> u16 {
        !cksum_add(self.sum(proto, data.len()), cksum_sum(data))
    }
    /// Whether `data` (with its checksum field in place) sums correctly.
    pub fn verify(&self, proto: u8, data: &[u8]) -> bool {
        cksum_add(self.sum(proto, data.len()), cksum_sum(data)) == 0xffff
    }
}

// ---------------------------------------------------------------- struct ip

mod field {
    pub const VHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LEN: usize = 2;
    pub const ID: usize = 4;
    pub const OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const SUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A zero-copy view of an IPv4 header and its datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap `buffer`, checking the header and total lengths ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `EINVAL` unless 20 ≤ header length ≤ total length ≤ buffer length.  The
    /// buffer may be longer than the datagram (link-layer padding).
    pub fn check_len(&self) -> Result<(), Errno> {
        let len = self.buffer.as_ref().len();
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        if len < IP_HDR_LEN || hl < IP_HDR_LEN || hl > tl || tl > len {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.b().get(at).copied().unwrap_or(0)
    }

    /// IP version (4).
    pub fn version(&self) -> u8 {
        self.byte(field::VHL) >> 4
    }
    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::VHL) & 0x0f) * 4
    }
    /// Type of service.
    pub fn tos(&self) -> u8 {
        self.byte(field::TOS)
    }
    /// Total length of the datagram, header included.
    pub fn total_len(&self) -> u16 {
        rd16(self.b(), field::LEN)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        rd16(self.b(), field::ID)
    }
    /// The raw `ip_off` word (flags and offset).
    pub fn flags_offset(&self) -> u16 {
        rd16(self.b(), field::OFF)
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & IP_DF != 0
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & IP_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & IP_OFFMASK) << 3
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.byte(field::TTL)
    }
    /// Upper-layer protocol (`IPPROTO_*`).
    pub fn protocol(&self) -> u8 {
        self.byte(field::PROTO)
    }
    /// Header checksum.
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::SUM)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        rd_v4(self.b(), field::SRC)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        rd_v4(self.b(), field::DST)
    }
    /// The option bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        sub(self.b(), IP_HDR_LEN, self.header_len())
    }
    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        let hl = self.header_len();
        hl >= IP_HDR_LEN && self.b().len() >= hl && in_cksum(sub(self.b(), 0, hl)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The datagram's payload: from the end of the header to the total length.
    pub fn payload(&self) -> &'a [u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        sub(self.buffer.as_ref(), hl, tl)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Set the version (4 bits).
    pub fn set_version(&mut self, v: u8) {
        let b = self.bm();
        b[field::VHL] = (b[field::VHL] & 0x0f) | (v << 4);
    }
    /// Set the header length in bytes (a multiple of 4, at most 60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.bm();
        b[field::VHL] = (b[field::VHL] & 0xf0) | ((len / 4) as u8 & 0x0f);
    }
    /// Set the type of service.
    pub fn set_tos(&mut self, v: u8) {
        self.bm()[field::TOS] = v;
    }
    /// Set the total length.
    pub fn set_total_len(&mut self, v: u16) {
        wr16(self.bm(), field::LEN, v);
    }
    /// Set the identification.
    pub fn set_ident(&mut self, v: u16) {
        wr16(self.bm(), field::ID, v);
    }
    /// Set the raw `ip_off` word.
    pub fn set_flags_offset(&mut self, v: u16) {
        wr16(self.bm(), field::OFF, v);
    }
    /// Set or clear don't-fragment.
    pub fn set_dont_frag(&mut self, on: bool) {
        let w = self.flags_offset() & !IP_DF;
        self.set_flags_offset(w | if on { IP_DF } else { 0 });
    }
    /// Set or clear more-fragments.
    pub fn set_more_frags(&mut self, on: bool) {
        let w = self.flags_offset() & !IP_MF;
        self.set_flags_offset(w | if on { IP_MF } else { 0 });
    }
    /// Set the fragment offset in bytes (a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let w = self.flags_offset() & !IP_OFFMASK;
        self.set_flags_offset(w | ((bytes >> 3) & IP_OFFMASK));
    }
    /// Set the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        self.bm()[field::TTL] = v;
    }
    /// Set the protocol.
    pub fn set_protocol(&mut self, v: u8) {
        self.bm()[field::PROTO] = v;
    }
    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.bm(), field::SUM, v);
    }
    /// Set the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.bm()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }
    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.bm()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }
    /// Compute and store the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = in_cksum(sub(self.b(), 0, hl));
        self.set_checksum(c);
    }
    /// The option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        sub_mut(self.bm(), IP_HDR_LEN, hl)
    }
    /// The payload, mutable (header length to total length).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        sub_mut(self.bm(), hl, tl)
    }
}

/// A parsed IPv4 header (options not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Type of service.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments follow.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parse a checked packet: `EINVAL` unless the version is 4 and the header
    /// checksum is right.  Options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>) -> Result<Ipv4Repr, Errno> {
        packet.check_len()?;
        if packet.version() != IPVERSION || !packet.verify_checksum() {
            return Err(Errno::EINVAL);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// Header length this emits (20: no options).
    pub fn buffer_len(&self) -> usize {
        IP_HDR_LEN
    }

    /// Write the header (no options) and its checksum; the total length is
    /// `20 + payload_len`, which must fit in 16 bits.  The payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        packet.bm()[field::VHL] = (IPVERSION << 4) | (IP_HDR_LEN / 4) as u8;
        packet.set_tos(self.tos);
        packet.set_total_len((IP_HDR_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        let mut off = (self.frag_offset >> 3) & IP_OFFMASK;
        if self.dont_frag {
            off |= IP_DF;
        }
        if self.more_frags {
            off |= IP_MF;
        }
        packet.set_flags_offset(off);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    /// The worked example of RFC 1071 section 3.
    #[test]
    fn rfc1071_example() {
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(cksum_sum(&b), 0xddf2);
        assert_eq!(in_cksum(&b), 0x220d);
        // Pieces combine, and an odd tail is padded.
        assert_eq!(cksum_add(cksum_sum(&b[..4]), cksum_sum(&b[4..])), 0xddf2);
        assert_eq!(cksum_sum(&[0xab]), 0xab00);
        assert_eq!(cksum_sum(&[]), 0);
    }

    /// An ICMP echo request captured on Linux `lo` (IP part of the frame).
    const ECHO_V4: &str = "4500002c1a054000400122ca7f0000017f000001\
                           08003a2a1234000176696d6167652d70696e672d30313233";

    #[test]
    fn captured_header_checksum() {
        let b = hex(ECHO_V4);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0x22ca);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 44);
        assert_eq!(p.ident(), 0x1a05);
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IPPROTO_ICMP);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.payload().len(), 24);
        let r = Ipv4Repr::parse(&p).unwrap();
        let mut out = vec![0u8; r.buffer_len() + r.payload_len];
        let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.payload_mut().copy_from_slice(p.payload());
        assert_eq!(out, b);
        // The common textbook header: 192.168.0.1 -> 192.168.0.199, sum 0xb861.
        let t = hex("450000730000400040110000c0a80001c0a800c7");
        assert_eq!(in_cksum(&t), 0xb861);
    }

    #[test]
    fn pseudo_sums() {
        // UDP "hello udp" 127.0.0.1:56192 -> 127.0.0.1:5353, sum computed by hand:
        // the captured datagram had only the pseudo-header part (offload on lo).
        let mut udp = hex("db8014e90011000068656c6c6f20756470");
        let ph = PseudoHdr::V4 {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
        };
        let c = ph.checksum(IPPROTO_UDP, &udp);
        wr16(&mut udp, 6, c);
        assert!(ph.verify(IPPROTO_UDP, &udp));
        // Linux left the bare pseudo-header sum in the captured field: 0xfe24.
        assert_eq!(
            in_pseudo(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, IPPROTO_UDP, 17),
            0xfe24
        );
        // A captured ICMPv6 echo request ::1 -> ::1 verifies over the v6 pseudo header.
        let icmp6 = hex("800090e24321000776696d6167652d70696e672d30313233");
        let ph6 = PseudoHdr::V6 {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
        };
        assert!(ph6.verify(IPPROTO_ICMPV6, &icmp6));
        assert!(ph6.is_v6() && !ph.is_v6());
    }

    #[test]
    fn round_trip_fragment() {
        let r = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IPPROTO_UDP,
            payload_len: 16,
            ttl: 1,
            tos: 0x10,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 1480,
        };
        let mut b = vec![0u8; r.buffer_len() + r.payload_len];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with a 4-byte router-alert option.
        let mut b = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(28);
        p.set_ttl(64);
        p.set_protocol(IPPROTO_IGMP);
        p.options_mut().copy_from_slice(&[0x94, 0x04, 0, 0]);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn malformed() {
        let good = hex(ECHO_V4);
        let mut b = good.clone();
        b[0] = 0x44; // IHL 4
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Errno::EINVAL));
        b = good.clone();
        b[0] = 0x65; // version 6
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), Err(Errno::EINVAL));
        b = good.clone();
        b[11] ^= 1; // checksum
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p), Err(Errno::EINVAL));
        b = good.clone();
        wr16(&mut b, 2, 19); // total length under the header
        assert!(Ipv4Packet::new_checked(&b[..]).is_err());
        b = good.clone();
        wr16(&mut b, 2, 45); // total length past the buffer
        assert!(Ipv4Packet::new_checked(&b[..]).is_err());
        // Trailing link padding is allowed and not part of the payload.
        b = good.clone();
        b.extend_from_slice(&[0; 6]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 24);
    }

    #[test]
    fn truncation() {
        let good = hex(ECHO_V4);
        for n in 0..good.len() {
            let p = Ipv4Packet::new_checked(&good[..n]);
            assert!(p.is_err(), "prefix {n} accepted");
            // Unchecked views over short buffers read zeros, never panic.
            let u = Ipv4Packet::new_unchecked(&good[..n]);
            let _ = (u.src_addr(), u.dst_addr(), u.options(), u.payload());
            let _ = u.verify_checksum();
        }
    }

    /// Run a buffer through view and repr; whether it parsed.
    fn exercise(b: &[u8]) -> bool {
        let Ok(p) = Ipv4Packet::new_checked(b) else {
            return false;
        };
        let _ = (
            p.options(),
            p.payload(),
            p.verify_checksum(),
            p.frag_offset(),
        );
        let Ok(r) = Ipv4Repr::parse(&p) else {
            return false;
        };
        let mut out = vec![0u8; r.buffer_len() + r.payload_len];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        let q = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&q).unwrap(), r);
        true
    }

    #[test]
    fn fuzz() {
        let good = hex(ECHO_V4);
        let mut rng = Rng::new(0x1b4);
        let mut parsed = 0;
        for _ in 0..rounds() {
            let mut v = mutate(&mut rng, &good, &[(0, 1), (2, 2), (6, 2)]);
            if rng.below(2) == 0 && v.len() >= IP_HDR_LEN {
                // Often keep the checksum right so parsing goes deeper.
                let hl = (usize::from(v[0] & 0x0f) * 4).min(v.len());
                wr16(&mut v, field::SUM, 0);
                let c = in_cksum(&v[..hl]);
                wr16(&mut v, field::SUM, c);
            }
            parsed += usize::from(exercise(&v));
            let _ = cksum_sum(&v);
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
