//! The IPv6 header (`struct ip6_hdr`, RFC 8200), the fragment header
//! (`struct ip6_frag`), the generic extension header (`struct ip6_ext`: hop-by-hop
//! and destination options, routing) and the walk to the upper-layer protocol.
//!
//! IPv6 headers carry no checksum; upper layers sum over [`crate::ip::in6_pseudo`].

use std::net::Ipv6Addr;
use vimage_abi::Errno;

use crate::ip::{
    rd16, rd32, rd_v6, sub, sub_mut, wr16, wr32, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT,
    IPPROTO_HOPOPTS, IPPROTO_ROUTING,
};

/// IP version number of IPv6.
pub const IPV6_VERSION: u8 = 6;
/// `sizeof(struct ip6_hdr)`.
pub const IP6_HDR_LEN: usize = 40;
/// Minimum link MTU (RFC 8200 section 5).
pub const IPV6_MMTU: usize = 1280;
/// Largest hop limit.
pub const IPV6_MAXHLIM: u8 = 255;
/// Default hop limit.
pub const IPV6_DEFHLIM: u8 = 64;
/// `sizeof(struct ip6_frag)`.
pub const IP6_FRAG_LEN: usize = 8;
/// `ip6f_offlg`: the offset, already in bytes.
pub const IP6F_OFF_MASK: u16 = 0xfff8;
/// `ip6f_offlg`: reserved bits.
pub const IP6F_RESERVED_MASK: u16 = 0x0006;
/// `ip6f_offlg`: more fragments.
pub const IP6F_MORE_FRAG: u16 = 0x0001;
/// Option: one byte of padding.
pub const IP6OPT_PAD1: u8 = 0;
/// Option: N bytes of padding.
pub const IP6OPT_PADN: u8 = 1;
/// Option: router alert (hop-by-hop).
pub const IP6OPT_ROUTER_ALERT: u8 = 5;
/// Option: jumbo payload (hop-by-hop).
pub const IP6OPT_JUMBO: u8 = 0xc2;

mod field {
    pub const VFC: usize = 0;
    pub const PLEN: usize = 4;
    pub const NXT: usize = 6;
    pub const HLIM: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A zero-copy view of an IPv6 header and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }
    /// Wrap `buffer`, checking the payload length ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` unless the buffer holds the header and the payload length; it
    /// may be longer (link padding).  Jumbograms (length 0) are not supported:
    /// they read as an empty payload.
    pub fn check_len(&self) -> Result<(), Errno> {
        let n = self.buffer.as_ref().len();
        if n < IP6_HDR_LEN || IP6_HDR_LEN + usize::from(self.payload_len()) > n {
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
    /// IP version (6).
    pub fn version(&self) -> u8 {
        (rd32(self.b(), field::VFC) >> 28) as u8
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (rd32(self.b(), field::VFC) >> 20) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        rd32(self.b(), field::VFC) & 0x000f_ffff
    }
    /// Payload length (extension headers included).
    pub fn payload_len(&self) -> u16 {
        rd16(self.b(), field::PLEN)
    }
    /// Next header (`IPPROTO_*`).
    pub fn next_header(&self) -> u8 {
        self.b().get(field::NXT).copied().unwrap_or(0)
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b().get(field::HLIM).copied().unwrap_or(0)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        rd_v6(self.b(), field::SRC)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        rd_v6(self.b(), field::DST)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// The payload: extension headers and upper layer, up to the payload length.
    pub fn payload(&self) -> &'a [u8] {
        let end = IP6_HDR_LEN + usize::from(self.payload_len());
        sub(self.buffer.as_ref(), IP6_HDR_LEN, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    fn set_vfc(&mut self, version: u8, tclass: u8, flow: u32) {
        let w = (u32::from(version) << 28) | (u32::from(tclass) << 20) | (flow & 0x000f_ffff);
        wr32(self.bm(), field::VFC, w);
    }
    /// Set the version.
    pub fn set_version(&mut self, v: u8) {
        let (t, f) = (self.traffic_class(), self.flow_label());
        self.set_vfc(v, t, f);
    }
    /// Set the traffic class.
    pub fn set_traffic_class(&mut self, t: u8) {
        let (v, f) = (self.version(), self.flow_label());
        self.set_vfc(v, t, f);
    }
    /// Set the flow label (low 20 bits used).
    pub fn set_flow_label(&mut self, f: u32) {
        let (v, t) = (self.version(), self.traffic_class());
        self.set_vfc(v, t, f);
    }
    /// Set the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        wr16(self.bm(), field::PLEN, v);
    }
    /// Set the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.bm()[field::NXT] = v;
    }
    /// Set the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.bm()[field::HLIM] = v;
    }
    /// Set the source address.
    pub fn set_src_addr(&mut self, a: &Ipv6Addr) {
        self.bm()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }
    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: &Ipv6Addr) {
        self.bm()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }
    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = IP6_HDR_LEN + usize::from(self.payload_len());
        sub_mut(self.bm(), IP6_HDR_LEN, end)
    }
}

/// A parsed IPv6 fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parse a checked packet: `EINVAL` unless the version is 6.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv6Packet<&T>) -> Result<Ipv6Repr, Errno> {
        packet.check_len()?;
        if packet.version() != IPV6_VERSION {
            return Err(Errno::EINVAL);
        }
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }
    /// Header length (40).
    pub fn buffer_len(&self) -> usize {
        IP6_HDR_LEN
    }
    /// Write the fixed header (`payload_len` must fit in 16 bits); the payload is
    /// the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_vfc(IPV6_VERSION, self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(&self.src_addr);
        packet.set_dst_addr(&self.dst_addr);
    }
}

// ---------------------------------------------------------------- fragment header

/// A zero-copy view of a fragment header and the fragment after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragHeader { buffer }
    }
    /// Wrap `buffer`; `EINVAL` if shorter than 8 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }
    /// `EINVAL` if the buffer cannot hold the 8-byte header.
    pub fn check_len(&self) -> Result<(), Errno> {
        if self.buffer.as_ref().len() < IP6_FRAG_LEN {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Next header of the fragmentable part.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }
    /// The raw `ip6f_offlg` word.
    pub fn offlg(&self) -> u16 {
        rd16(self.buffer.as_ref(), 2)
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        self.offlg() & IP6F_OFF_MASK
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.offlg() & IP6F_MORE_FRAG != 0
    }
    /// Identification.
    pub fn ident(&self) -> u32 {
        rd32(self.buffer.as_ref(), 4)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6FragHeader<&'a T> {
    /// The fragment data after the header.
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        sub(b, IP6_FRAG_LEN, b.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragHeader<T> {
    /// Set the next header (and clear the reserved byte).
    pub fn set_next_header(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[0] = v;
        b[1] = 0;
    }
    /// Set the offset in bytes (a multiple of 8) and the more-fragments flag.
    pub fn set_offset_more(&mut self, offset: u16, more: bool) {
        let w = (offset & IP6F_OFF_MASK) | if more { IP6F_MORE_FRAG } else { 0 };
        wr16(self.buffer.as_mut(), 2, w);
    }
    /// Set the identification.
    pub fn set_ident(&mut self, v: u32) {
        wr32(self.buffer.as_mut(), 4, v);
    }
    /// The fragment data, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let b = self.buffer.as_mut();
        let n = b.len();
        sub_mut(b, IP6_FRAG_LEN, n)
    }
}

/// A parsed fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6FragRepr {
    /// Next header of the fragmentable part.
    pub next_header: u8,
    /// Offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6FragRepr {
    /// Parse a checked header (the reserved bits are ignored).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(h: &Ipv6FragHeader<&T>) -> Result<Self, Errno> {
        h.check_len()?;
        Ok(Ipv6FragRepr {
            next_header: h.next_header(),
            frag_offset: h.frag_offset(),
            more_frags: h.more_frags(),
            ident: h.ident(),
        })
    }
    /// Header length (8).
    pub fn buffer_len(&self) -> usize {
        IP6_FRAG_LEN
    }
    /// Write the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut Ipv6FragHeader<T>) {
        h.set_next_header(self.next_header);
        h.set_offset_more(self.frag_offset, self.more_frags);
        h.set_ident(self.ident);
    }
}

// ---------------------------------------------------------------- struct ip6_ext

/// A zero-copy view of a hop-by-hop, destination options or routing header: next
/// header, length in 8-byte units beyond the first 8, then options or data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6ExtHeader { buffer }
    }
    /// Wrap `buffer`; `EINVAL` unless it holds the whole header its length says.
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }
    /// `EINVAL` if the buffer is shorter than [`Self::header_len`].
    pub fn check_len(&self) -> Result<(), Errno> {
        let n = self.buffer.as_ref().len();
        if n < 2 || self.header_len() > n {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }
    /// Whole header length in bytes: (length field + 1) × 8.
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref().get(1).copied().unwrap_or(0)) + 1) * 8
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6ExtHeader<&'a T> {
    /// The bytes after next-header and length (options, or routing data).
    pub fn data(&self) -> &'a [u8] {
        sub(self.buffer.as_ref(), 2, self.header_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6ExtHeader<T> {
    /// Set the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }
    /// Set the header length in bytes (a multiple of 8, at least 8, at most 2048).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[1] = (len / 8).saturating_sub(1) as u8;
    }
    /// The options or data, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        sub_mut(self.buffer.as_mut(), 2, hl)
    }
}

/// A parsed generic extension header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6ExtRepr<'a> {
    /// Next header.
    pub next_header: u8,
    /// Options or data (6 + 8k bytes when parsed; zero-padded on emit).
    pub data: &'a [u8],
}

impl<'a> Ipv6ExtRepr<'a> {
    /// Parse a checked header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(h: &Ipv6ExtHeader<&'a T>) -> Result<Self, Errno> {
        h.check_len()?;
        Ok(Ipv6ExtRepr {
            next_header: h.next_header(),
            data: h.data(),
        })
    }
    /// Header length: 2 + data, rounded up to 8 (data at most 2046 bytes).
    pub fn buffer_len(&self) -> usize {
        (2 + self.data.len()).div_ceil(8) * 8
    }
    /// Write the header; padding is zeros (Pad1 options).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut Ipv6ExtHeader<T>) {
        h.set_next_header(self.next_header);
        h.set_header_len(self.buffer_len());
        let d = h.data_mut();
        d.fill(0);
        d[..self.data.len()].copy_from_slice(self.data);
    }
}

/// One option of a hop-by-hop or destination options header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Opt<'a> {
    /// Option type (`IP6OPT_*`); its top two bits say what to do if unknown.
    pub opt_type: u8,
    /// Option data (empty for Pad1).
    pub data: &'a [u8],
}

/// Walk of the TLV options in an options header's data: yields every option,
/// padding included; an option running past the end yields one `EINVAL` and
/// ends the walk.
#[derive(Clone, Debug)]
pub struct Ipv6Opts<'a> {
    rest: &'a [u8],
}

impl<'a> Ipv6Opts<'a> {
    /// Walk `data` (e.g. [`Ipv6ExtHeader::data`]).
    pub fn new(data: &'a [u8]) -> Self {
        Ipv6Opts { rest: data }
    }
}

impl<'a> Iterator for Ipv6Opts<'a> {
    type Item = Result<Ipv6Opt<'a>, Errno>;
    fn next(&mut self) -> Option<Self::Item> {
        let (&opt_type, after) = self.rest.split_first()?;
        if opt_type == IP6OPT_PAD1 {
            self.rest = after;
            return Some(Ok(Ipv6Opt {
                opt_type,
                data: &[],
            }));
        }
        let len = match after.first() {
            Some(&l) => usize::from(l),
            None => {
                self.rest = &[];
                return Some(Err(Errno::EINVAL));
            }
        };
        match self.rest.get(2..2 + len) {
            Some(data) => {
                self.rest = sub(self.rest, 2 + len, self.rest.len());
                Some(Ok(Ipv6Opt { opt_type, data }))
            }
            None => {
                self.rest = &[];
                Some(Err(Errno::EINVAL))
            }
        }
    }
}

// ---------------------------------------------------------------- the walk

/// Where the header chain of an IPv6 payload ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Upper {
    /// The protocol found there: an upper layer, `IPPROTO_NONE`, or
    /// `IPPROTO_FRAGMENT` (the walk stops at a fragment header: reassemble, then
    /// walk the reassembled data from the fragment header's next header).
    pub next_header: u8,
    /// Its offset in the payload.
    pub offset: usize,
}

/// Walk hop-by-hop, destination options and routing headers from `first` (the
/// IPv6 header's next header) over `payload`.  `EINVAL` if a header is cut short,
/// or a hop-by-hop header is not first.
pub fn ip6_upper(first: u8, payload: &[u8]) -> Result<Ipv6Upper, Errno> {
    let mut nxt = first;
    let mut off = 0usize;
    loop {
        match nxt {
            IPPROTO_HOPOPTS if off != 0 => return Err(Errno::EINVAL),
            IPPROTO_HOPOPTS | IPPROTO_DSTOPTS | IPPROTO_ROUTING => {
                let h = Ipv6ExtHeader::new_checked(sub(payload, off, payload.len()))?;
                nxt = h.next_header();
                off += h.header_len();
            }
            IPPROTO_FRAGMENT => {
                Ipv6FragHeader::new_checked(sub(payload, off, payload.len()))?;
                return Ok(Ipv6Upper {
                    next_header: nxt,
                    offset: off,
                });
            }
            _ => {
                return Ok(Ipv6Upper {
                    next_header: nxt,
                    offset: off,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_TCP, IPPROTO_UDP};
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    /// An ICMPv6 echo request ::1 -> ::1 captured on Linux `lo`.
    const ECHO6: &str = "600a0f1600183a40\
                         00000000000000000000000000000001\
                         00000000000000000000000000000001\
                         800090e24321000776696d6167652d70696e672d30313233";

    #[test]
    fn captured_header() {
        let b = hex(ECHO6);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(r.flow_label, 0xa0f16);
        assert_eq!(r.traffic_class, 0);
        assert_eq!(r.next_header, IPPROTO_ICMPV6);
        assert_eq!(r.hop_limit, 64);
        assert_eq!(r.payload_len, 24);
        assert_eq!(r.src_addr, Ipv6Addr::LOCALHOST);
        assert_eq!(p.payload().len(), 24);
        let mut out = vec![0u8; r.buffer_len() + r.payload_len];
        let mut q = Ipv6Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.payload_mut().copy_from_slice(p.payload());
        assert_eq!(out, b);
    }

    #[test]
    fn header_fields_and_round_trip() {
        let r = Ipv6Repr {
            src_addr: "fe80::420a:bff:fe0c:d01".parse().unwrap(),
            dst_addr: "ff02::1:ff0c:d02".parse().unwrap(),
            next_header: IPPROTO_UDP,
            payload_len: 0,
            hop_limit: 255,
            traffic_class: 0xb8,
            flow_label: 0xfffff,
        };
        let mut out = [0u8; 40];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[..4], [0x6b, 0x8f, 0xff, 0xff]);
        let p = Ipv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), Ok(r));
        let mut q = Ipv6Packet::new_unchecked(&mut out[..]);
        q.set_traffic_class(1);
        q.set_flow_label(2);
        q.set_version(6);
        assert_eq!(out[..4], [0x60, 0x10, 0x00, 0x02]);
        out[0] = 0x40;
        let p = Ipv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), Err(Errno::EINVAL));
    }

    #[test]
    fn fragment_round_trip() {
        for (off, more) in [(0, true), (1448, true), (0xfff8, false)] {
            let r = Ipv6FragRepr {
                next_header: IPPROTO_UDP,
                frag_offset: off,
                more_frags: more,
                ident: 0xdead_beef,
            };
            let mut out = vec![0xffu8; r.buffer_len() + 3];
            let mut h = Ipv6FragHeader::new_unchecked(&mut out[..]);
            r.emit(&mut h);
            h.payload_mut().copy_from_slice(b"abc");
            let h = Ipv6FragHeader::new_checked(&out[..]).unwrap();
            assert_eq!(Ipv6FragRepr::parse(&h), Ok(r));
            assert_eq!(h.payload(), b"abc");
            assert_eq!(out[1], 0);
        }
        // 1448 bytes, M set: offlg 0x05a9.
        let h = hex("11 00 05a9 00000001");
        let r = Ipv6FragRepr::parse(&Ipv6FragHeader::new_checked(&h[..]).unwrap()).unwrap();
        assert_eq!((r.frag_offset, r.more_frags, r.ident), (1448, true, 1));
        assert!(Ipv6FragHeader::new_checked(&h[..7]).is_err());
    }

    #[test]
    fn ext_round_trip_and_options() {
        // Hop-by-hop with a router alert (MLD) and a PadN.
        let data = [IP6OPT_ROUTER_ALERT, 2, 0, 0, IP6OPT_PADN, 0];
        let r = Ipv6ExtRepr {
            next_header: IPPROTO_ICMPV6,
            data: &data,
        };
        assert_eq!(r.buffer_len(), 8);
        let mut out = vec![0u8; 8];
        r.emit(&mut Ipv6ExtHeader::new_unchecked(&mut out[..]));
        assert_eq!(out, [58, 0, 5, 2, 0, 0, 1, 0]);
        let h = Ipv6ExtHeader::new_checked(&out[..]).unwrap();
        assert_eq!(Ipv6ExtRepr::parse(&h), Ok(r));
        let opts: Vec<_> = Ipv6Opts::new(h.data()).map(|o| o.unwrap()).collect();
        assert_eq!(opts.len(), 2);
        assert_eq!(opts[0].opt_type, IP6OPT_ROUTER_ALERT);
        assert_eq!(opts[0].data, &[0, 0]);
        // Short data is padded with Pad1s and comes back 6 + 8k long.
        let r = Ipv6ExtRepr {
            next_header: IPPROTO_TCP,
            data: &[IP6OPT_PADN, 7, 0, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(r.buffer_len(), 16);
        let mut out = [0xaau8; 16];
        r.emit(&mut Ipv6ExtHeader::new_unchecked(&mut out[..]));
        let h = Ipv6ExtHeader::new_checked(&out[..]).unwrap();
        assert_eq!(h.data().len(), 14);
        let o: Vec<_> = Ipv6Opts::new(h.data()).collect();
        assert_eq!(o.len(), 6); // PadN and five Pad1s
        assert!(o.iter().all(|x| x.is_ok()));
        // Overruns.
        assert_eq!(
            Ipv6Opts::new(&[1, 5, 0]).collect::<Vec<_>>(),
            [Err(Errno::EINVAL)]
        );
        assert_eq!(
            Ipv6Opts::new(&[5]).collect::<Vec<_>>(),
            [Err(Errno::EINVAL)]
        );
        assert!(Ipv6ExtHeader::new_checked(&[0u8, 1, 0, 0, 0, 0, 0, 0][..]).is_err());
    }

    /// hop-by-hop (8) → dstopts (16) → routing (8) → fragment → UDP.
    fn chain() -> Vec<u8> {
        let mut v = vec![IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0];
        v.extend([IPPROTO_ROUTING, 1]);
        v.extend([0u8; 14]);
        v.extend([IPPROTO_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
        v.extend([IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 9]);
        v.extend([0u8; 8]);
        v
    }

    /// An MLDv2 report Linux sent on a veth when the link came up: a hop-by-hop
    /// header (router alert, PadN) before the ICMPv6 message.
    const MLD2: &str = "6000000000240001\
        00000000000000000000000000000000\
        ff020000000000000000000000000016\
        3a00050200000100\
        8f00627d0000000104000000ff0200000000000000000001ff0c0d01";

    #[test]
    fn captured_hop_by_hop() {
        let b = hex(MLD2);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_header(), IPPROTO_HOPOPTS);
        let up = ip6_upper(p.next_header(), p.payload()).unwrap();
        assert_eq!(
            up,
            Ipv6Upper {
                next_header: IPPROTO_ICMPV6,
                offset: 8
            }
        );
        let h = Ipv6ExtHeader::new_checked(p.payload()).unwrap();
        let opts: Vec<_> = Ipv6Opts::new(h.data()).map(|o| o.unwrap()).collect();
        assert_eq!(opts.len(), 2);
        assert_eq!(
            (opts[0].opt_type, opts[0].data),
            (IP6OPT_ROUTER_ALERT, &[0, 0][..])
        );
        assert_eq!((opts[1].opt_type, opts[1].data), (IP6OPT_PADN, &[][..]));
        let r = Ipv6ExtRepr::parse(&h).unwrap();
        let mut out = [0u8; 8];
        r.emit(&mut Ipv6ExtHeader::new_unchecked(&mut out[..]));
        assert_eq!(out[..], p.payload()[..8]);
    }

    #[test]
    fn walk() {
        let c = chain();
        assert_eq!(
            ip6_upper(IPPROTO_HOPOPTS, &c),
            Ok(Ipv6Upper {
                next_header: IPPROTO_FRAGMENT,
                offset: 32
            })
        );
        // After reassembly: from the fragment header's next header.
        let frag = Ipv6FragHeader::new_checked(&c[32..]).unwrap();
        assert_eq!(
            ip6_upper(frag.next_header(), frag.payload()),
            Ok(Ipv6Upper {
                next_header: IPPROTO_UDP,
                offset: 0
            })
        );
        assert_eq!(ip6_upper(IPPROTO_TCP, &[]).map(|u| u.offset), Ok(0));
        assert_eq!(
            ip6_upper(IPPROTO_DSTOPTS, &[IPPROTO_NONE, 0, 1, 4, 0, 0, 0, 0]),
            Ok(Ipv6Upper {
                next_header: IPPROTO_NONE,
                offset: 8
            })
        );
        // A hop-by-hop header after the first.
        let hbh_late = [IPPROTO_HOPOPTS, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(ip6_upper(IPPROTO_DSTOPTS, &hbh_late), Err(Errno::EINVAL));
        // Every prefix of the chain: an error, or a stop inside the prefix.
        for n in 0..c.len() {
            match ip6_upper(IPPROTO_HOPOPTS, &c[..n]) {
                Ok(u) => assert!(u.offset + IP6_FRAG_LEN <= n),
                Err(e) => assert_eq!(e, Errno::EINVAL),
            }
        }
    }

    #[test]
    fn truncation() {
        let b = hex(ECHO6);
        for n in 0..b.len() {
            assert_eq!(Ipv6Packet::new_checked(&b[..n]), Err(Errno::EINVAL));
            let u = Ipv6Packet::new_unchecked(&b[..n]);
            let _ = (u.src_addr(), u.dst_addr(), u.payload(), u.flow_label());
        }
        let mut b = b.clone();
        b.extend([0; 4]); // link padding is not payload
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 24);
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(0x6);
        let pkt = hex(ECHO6);
        let c = chain();
        let mut parsed = 0;
        for i in 0..rounds() {
            if i % 2 == 0 {
                let v = mutate(&mut rng, &pkt, &[(0, 1), (4, 2), (6, 1)]);
                let Ok(p) = Ipv6Packet::new_checked(&v[..]) else {
                    continue;
                };
                let _ = ip6_upper(p.next_header(), p.payload());
                if let Ok(r) = Ipv6Repr::parse(&p) {
                    parsed += 1;
                    let mut out = vec![0u8; r.buffer_len() + r.payload_len];
                    r.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
                    let q = Ipv6Packet::new_checked(&out[..]).unwrap();
                    assert_eq!(Ipv6Repr::parse(&q), Ok(r));
                }
            } else {
                let v = mutate(&mut rng, &c, &[(0, 1), (1, 1), (9, 1), (24, 1), (26, 2)]);
                let first = [IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING][i % 3];
                if let Ok(u) = ip6_upper(first, &v) {
                    parsed += 1;
                    assert!(u.offset <= v.len());
                }
                if let Ok(h) = Ipv6ExtHeader::new_checked(&v[..]) {
                    for o in Ipv6Opts::new(h.data()) {
                        let _ = o.map(|o| o.data.len());
                    }
                    let r = Ipv6ExtRepr::parse(&h).unwrap();
                    let mut out = vec![0u8; r.buffer_len()];
                    r.emit(&mut Ipv6ExtHeader::new_unchecked(&mut out[..]));
                    assert_eq!(out[..], v[..h.header_len()]);
                }
                if let Ok(h) = Ipv6FragHeader::new_checked(&v[..]) {
                    let r = Ipv6FragRepr::parse(&h).unwrap();
                    let mut out = [0u8; 8];
                    r.emit(&mut Ipv6FragHeader::new_unchecked(&mut out[..]));
                    let h2 = Ipv6FragHeader::new_checked(&out[..]).unwrap();
                    assert_eq!(Ipv6FragRepr::parse(&h2), Ok(r));
                }
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
