//! ICMP for IPv4 (`struct icmp`, RFC 792): echo, destination unreachable, redirect,
//! time exceeded and parameter problem.
//!
//! [`IcmpPacket`] views a whole ICMP message (the IPv4 payload); its checksum
//! covers the whole buffer.  Error messages carry a *quote*: the offending
//! datagram's IP header and at least its first 8 payload bytes ([`IcmpQuote`]).

use std::net::Ipv4Addr;
use vimage_abi::Errno;

use super::ip::{in_cksum, rd16, rd32, rd_v4, sub, sub_mut, wr16, wr32, Ipv4Packet, IP_HDR_LEN};

/// Echo reply.
pub const ICMP_ECHOREPLY: u8 = 0;
/// Destination unreachable.
pub const ICMP_UNREACH: u8 = 3;
/// Source quench (obsolete).
pub const ICMP_SOURCEQUENCH: u8 = 4;
/// Redirect.
pub const ICMP_REDIRECT: u8 = 5;
/// Echo request.
pub const ICMP_ECHO: u8 = 8;
/// Time exceeded.
pub const ICMP_TIMXCEED: u8 = 11;
/// Parameter problem.
pub const ICMP_PARAMPROB: u8 = 12;

/// Unreachable: bad net.
pub const ICMP_UNREACH_NET: u8 = 0;
/// Unreachable: bad host.
pub const ICMP_UNREACH_HOST: u8 = 1;
/// Unreachable: bad protocol.
pub const ICMP_UNREACH_PROTOCOL: u8 = 2;
/// Unreachable: bad port.
pub const ICMP_UNREACH_PORT: u8 = 3;
/// Unreachable: DF set and fragmentation needed (carries the next-hop MTU).
pub const ICMP_UNREACH_NEEDFRAG: u8 = 4;
/// Unreachable: source route failed.
pub const ICMP_UNREACH_SRCFAIL: u8 = 5;
/// Unreachable: unknown net.
pub const ICMP_UNREACH_NET_UNKNOWN: u8 = 6;
/// Unreachable: unknown host.
pub const ICMP_UNREACH_HOST_UNKNOWN: u8 = 7;
/// Unreachable: source host isolated.
pub const ICMP_UNREACH_ISOLATED: u8 = 8;
/// Unreachable: net administratively prohibited.
pub const ICMP_UNREACH_NET_PROHIB: u8 = 9;
/// Unreachable: host administratively prohibited.
pub const ICMP_UNREACH_HOST_PROHIB: u8 = 10;
/// Unreachable: bad TOS for net.
pub const ICMP_UNREACH_TOSNET: u8 = 11;
/// Unreachable: bad TOS for host.
pub const ICMP_UNREACH_TOSHOST: u8 = 12;
/// Unreachable: administratively prohibited by filter.
pub const ICMP_UNREACH_FILTER_PROHIB: u8 = 13;
/// Unreachable: host precedence violation.
pub const ICMP_UNREACH_HOST_PRECEDENCE: u8 = 14;
/// Unreachable: precedence cutoff.
pub const ICMP_UNREACH_PRECEDENCE_CUTOFF: u8 = 15;
/// Redirect for a network.
pub const ICMP_REDIRECT_NET: u8 = 0;
/// Redirect for a host.
pub const ICMP_REDIRECT_HOST: u8 = 1;
/// Redirect for TOS and network.
pub const ICMP_REDIRECT_TOSNET: u8 = 2;
/// Redirect for TOS and host.
pub const ICMP_REDIRECT_TOSHOST: u8 = 3;
/// Time exceeded: TTL reached 0 in transit.
pub const ICMP_TIMXCEED_INTRANS: u8 = 0;
/// Time exceeded: reassembly timed out.
pub const ICMP_TIMXCEED_REASS: u8 = 1;
/// Parameter problem: the pointer marks the error.
pub const ICMP_PARAMPROB_ERRATPTR: u8 = 0;
/// Parameter problem: a required option is missing.
pub const ICMP_PARAMPROB_OPTABSENT: u8 = 1;
/// Parameter problem: bad length.
pub const ICMP_PARAMPROB_LENGTH: u8 = 2;

/// `ICMP_MINLEN`: the fixed 8-byte header.
pub const ICMP_MINLEN: usize = 8;
/// `ICMP_ADVLENMIN`: an error message quoting a bare IP header and 8 bytes.
pub const ICMP_ADVLENMIN: usize = ICMP_MINLEN + IP_HDR_LEN + 8;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SUM: usize = 2;
    pub const ID: usize = 4;
    pub const SEQ: usize = 6;
    pub const PPTR: usize = 4;
    pub const GWADDR: usize = 4;
    pub const NEXTMTU: usize = 6;
    pub const DATA: usize = 8;
}

/// A zero-copy view of an ICMP message (the whole buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }
    /// Wrap `buffer`; `EINVAL` if shorter than the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` if the buffer cannot hold the 8-byte header.
    pub fn check_len(&self) -> Result<(), Errno> {
        if self.buffer.as_ref().len() < ICMP_MINLEN {
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
    /// Message type (`ICMP_*`).
    pub fn msg_type(&self) -> u8 {
        self.byte(field::TYPE)
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.byte(field::CODE)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::SUM)
    }
    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        rd16(self.b(), field::ID)
    }
    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        rd16(self.b(), field::SEQ)
    }
    /// Redirect: the better gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        rd_v4(self.b(), field::GWADDR)
    }
    /// Parameter problem: offset of the bad octet in the quote.
    pub fn pointer(&self) -> u8 {
        self.byte(field::PPTR)
    }
    /// Needfrag: the next-hop MTU (RFC 1191; 0 from old routers).
    pub fn next_hop_mtu(&self) -> u16 {
        rd16(self.b(), field::NEXTMTU)
    }
    /// Bytes 4..8 as one word (the type-specific "rest of header").
    pub fn rest(&self) -> u32 {
        rd32(self.b(), field::ID)
    }
    /// Whether the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        in_cksum(self.b()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> IcmpPacket<&'a T> {
    /// Everything after the 8-byte header (echo data, or the quote).
    pub fn data(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        sub(b, field::DATA, b.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Set the type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.bm()[field::TYPE] = v;
    }
    /// Set the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.bm()[field::CODE] = v;
    }
    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        wr16(self.bm(), field::SUM, v);
    }
    /// Set the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        wr16(self.bm(), field::ID, v);
    }
    /// Set the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        wr16(self.bm(), field::SEQ, v);
    }
    /// Set bytes 4..8 as one word.
    pub fn set_rest(&mut self, v: u32) {
        wr32(self.bm(), field::ID, v);
    }
    /// Set the redirect gateway.
    pub fn set_gateway(&mut self, a: Ipv4Addr) {
        self.set_rest(u32::from(a));
    }
    /// Set the parameter-problem pointer (clears the rest of the word).
    pub fn set_pointer(&mut self, p: u8) {
        self.set_rest(u32::from(p) << 24);
    }
    /// Set the needfrag next-hop MTU (clears the unused half).
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        self.set_rest(u32::from(mtu));
    }
    /// Everything after the header, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let b = self.bm();
        let n = b.len();
        sub_mut(b, field::DATA, n)
    }
    /// Compute and store the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = in_cksum(self.b());
        self.set_checksum(c);
    }
}

/// The part of the offending datagram an ICMP error quotes, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpQuote<'a> {
    /// The quoted header's source (our own address, for errors about our packets).
    pub src_addr: Ipv4Addr,
    /// The quoted header's destination.
    pub dst_addr: Ipv4Addr,
    /// The quoted header's protocol.
    pub protocol: u8,
    /// The quoted IP header, options included.
    pub header: &'a [u8],
    /// The quoted payload: at least 8 bytes (ports, for TCP and UDP).
    pub data: &'a [u8],
}

impl<'a> IcmpQuote<'a> {
    /// Check a quote: `EINVAL` unless it is an IPv4 header (IHL ≥ 5) followed by
    /// at least 8 bytes.  The quoted total length and checksum are not checked.
    pub fn parse(quote: &'a [u8]) -> Result<IcmpQuote<'a>, Errno> {
        let ip = Ipv4Packet::new_unchecked(quote);
        let hl = ip.header_len();
        if quote.len() < IP_HDR_LEN || ip.version() != 4 || hl < IP_HDR_LEN {
            return Err(Errno::EINVAL);
        }
        if quote.len() < hl + 8 {
            return Err(Errno::EINVAL);
        }
        Ok(IcmpQuote {
            src_addr: ip.src_addr(),
            dst_addr: ip.dst_addr(),
            protocol: ip.protocol(),
            header: sub(quote, 0, hl),
            data: sub(quote, hl, quote.len()),
        })
    }

    /// The quote to put in an error about `datagram` (a whole IPv4 datagram): its
    /// header and the first 8 payload bytes, cut to what the datagram holds.
    pub fn of(datagram: &[u8]) -> &[u8] {
        let ip = Ipv4Packet::new_unchecked(datagram);
        let end = (ip.header_len() + 8)
            .min(usize::from(ip.total_len()))
            .min(datagram.len());
        sub(datagram, 0, end)
    }
}

/// A parsed ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    /// `ICMP_ECHO`.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// `ICMP_ECHOREPLY`.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// `ICMP_UNREACH` with an `ICMP_UNREACH_*` code.
    DstUnreach {
        /// Code (0..=15).
        code: u8,
        /// Next-hop MTU for `ICMP_UNREACH_NEEDFRAG`, else 0.
        next_hop_mtu: u16,
        /// The offending datagram's header and leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP_REDIRECT` with an `ICMP_REDIRECT_*` code.
    Redirect {
        /// Code (0..=3).
        code: u8,
        /// The gateway to use instead.
        gateway: Ipv4Addr,
        /// The offending datagram's header and leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP_TIMXCEED` with an `ICMP_TIMXCEED_*` code.
    TimeExceeded {
        /// Code (0..=1).
        code: u8,
        /// The offending datagram's header and leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP_PARAMPROB` with an `ICMP_PARAMPROB_*` code.
    ParamProblem {
        /// Code (0..=2).
        code: u8,
        /// Offset of the bad octet in the quote.
        pointer: u8,
        /// The offending datagram's header and leading bytes.
        quote: &'a [u8],
    },
    /// Any other type, kept raw (for raw sockets); never parsed for the types above.
    Other {
        /// Type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// Bytes 4..8.
        rest: u32,
        /// Everything after the header.
        data: &'a [u8],
    },
}

impl<'a> IcmpRepr<'a> {
    /// Parse a checked message: `EINVAL` on a bad checksum, an unknown code of a
    /// known error type, or a malformed quote ([`IcmpQuote::parse`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &IcmpPacket<&'a T>) -> Result<Self, Errno> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Errno::EINVAL);
        }
        let code = packet.msg_code();
        let data = packet.data();
        let quote = |max_code: u8| -> Result<&'a [u8], Errno> {
            if code > max_code {
                return Err(Errno::EINVAL);
            }
            IcmpQuote::parse(data)?;
            Ok(data)
        };
        Ok(match packet.msg_type() {
            ICMP_ECHO => IcmpRepr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            ICMP_ECHOREPLY => IcmpRepr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            ICMP_UNREACH => IcmpRepr::DstUnreach {
                code,
                next_hop_mtu: if code == ICMP_UNREACH_NEEDFRAG {
                    packet.next_hop_mtu()
                } else {
                    0
                },
                quote: quote(ICMP_UNREACH_PRECEDENCE_CUTOFF)?,
            },
            ICMP_REDIRECT => IcmpRepr::Redirect {
                code,
                gateway: packet.gateway(),
                quote: quote(ICMP_REDIRECT_TOSHOST)?,
            },
            ICMP_TIMXCEED => IcmpRepr::TimeExceeded {
                code,
                quote: quote(ICMP_TIMXCEED_REASS)?,
            },
            ICMP_PARAMPROB => IcmpRepr::ParamProblem {
                code,
                pointer: packet.pointer(),
                quote: quote(ICMP_PARAMPROB_LENGTH)?,
            },
            msg_type => IcmpRepr::Other {
                msg_type,
                code,
                rest: packet.rest(),
                data,
            },
        })
    }

    fn body(&self) -> &'a [u8] {
        match *self {
            IcmpRepr::EchoRequest { data, .. }
            | IcmpRepr::EchoReply { data, .. }
            | IcmpRepr::Other { data, .. } => data,
            IcmpRepr::DstUnreach { quote, .. }
            | IcmpRepr::Redirect { quote, .. }
            | IcmpRepr::TimeExceeded { quote, .. }
            | IcmpRepr::ParamProblem { quote, .. } => quote,
        }
    }

    /// Message length: 8 plus data or quote.
    pub fn buffer_len(&self) -> usize {
        ICMP_MINLEN + self.body().len()
    }

    /// Write the whole message and its checksum; the packet's buffer must be
    /// exactly [`Self::buffer_len`] bytes (the checksum covers all of it).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IcmpPacket<T>) {
        let (t, c, rest) = match *self {
            IcmpRepr::EchoRequest { ident, seq_no, .. } => {
                (ICMP_ECHO, 0, u32::from(ident) << 16 | u32::from(seq_no))
            }
            IcmpRepr::EchoReply { ident, seq_no, .. } => (
                ICMP_ECHOREPLY,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
            ),
            IcmpRepr::DstUnreach {
                code, next_hop_mtu, ..
            } => (ICMP_UNREACH, code, u32::from(next_hop_mtu)),
            IcmpRepr::Redirect { code, gateway, .. } => (ICMP_REDIRECT, code, u32::from(gateway)),
            IcmpRepr::TimeExceeded { code, .. } => (ICMP_TIMXCEED, code, 0),
            IcmpRepr::ParamProblem { code, pointer, .. } => {
                (ICMP_PARAMPROB, code, u32::from(pointer) << 24)
            }
            IcmpRepr::Other {
                msg_type,
                code,
                rest,
                ..
            } => (msg_type, code, rest),
        };
        packet.set_msg_type(t);
        packet.set_msg_code(c);
        packet.set_rest(rest);
        let body = self.body();
        packet.bm()[field::DATA..field::DATA + body.len()].copy_from_slice(body);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{Ipv4Repr, IPPROTO_UDP};
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    /// Linux's echo reply to our request, captured on `lo` (ICMP part).
    const ECHO_REPLY: &str = "0000422a1234000176696d6167652d70696e672d30313233";
    /// Linux's port unreachable for a UDP datagram to 127.0.0.1:5353, from `lo`.
    const PORT_UNREACH: &str = "03031c4b00000000\
                                45000025376e4000401105587f0000017f000001\
                                a43b14e90011fe2468656c6c6f20756470";

    fn emit(r: &IcmpRepr) -> Vec<u8> {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut IcmpPacket::new_unchecked(&mut out[..]));
        out
    }

    #[test]
    fn captured_echo_reply() {
        let b = hex(ECHO_REPLY);
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0x422a);
        let r = IcmpRepr::parse(&p).unwrap();
        assert_eq!(
            r,
            IcmpRepr::EchoReply {
                ident: 0x1234,
                seq_no: 1,
                data: b"vimage-ping-0123"
            }
        );
        assert_eq!(emit(&r), b);
        // The request differs only in type, so its checksum is 0x0800 lower.
        let req = IcmpRepr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"vimage-ping-0123",
        };
        assert_eq!(
            IcmpPacket::new_unchecked(&emit(&req)[..]).checksum(),
            0x3a2a
        );
    }

    #[test]
    fn captured_port_unreach() {
        let b = hex(PORT_UNREACH);
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        let r = IcmpRepr::parse(&p).unwrap();
        let IcmpRepr::DstUnreach {
            code,
            next_hop_mtu,
            quote,
        } = r
        else {
            panic!("{r:?}");
        };
        assert_eq!((code, next_hop_mtu), (ICMP_UNREACH_PORT, 0));
        let q = IcmpQuote::parse(quote).unwrap();
        assert_eq!(q.protocol, IPPROTO_UDP);
        assert_eq!(q.dst_addr, Ipv4Addr::LOCALHOST);
        assert_eq!(q.header.len(), 20);
        assert_eq!(q.data[2..4], [0x14, 0xe9]); // destination port 5353
        assert_eq!(emit(&r), b);
        // What we would quote of that datagram: header + 8 bytes.
        assert_eq!(IcmpQuote::of(quote), &quote[..28]);
        assert_eq!(IcmpQuote::of(&quote[..24]), &quote[..24]);
    }

    fn sample_quote() -> Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 1, 1),
            protocol: IPPROTO_UDP,
            payload_len: 8,
            ttl: 1,
            tos: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let mut b = vec![0u8; 28];
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]));
        b[20..].copy_from_slice(&[0x80, 0x00, 0x82, 0x9a, 0, 8, 0, 0]);
        b
    }

    fn all_kinds(q: &[u8]) -> Vec<IcmpRepr<'_>> {
        vec![
            IcmpRepr::EchoRequest {
                ident: 1,
                seq_no: 0xffff,
                data: b"",
            },
            IcmpRepr::EchoReply {
                ident: 0xabcd,
                seq_no: 2,
                data: b"odd",
            },
            IcmpRepr::DstUnreach {
                code: ICMP_UNREACH_NEEDFRAG,
                next_hop_mtu: 1400,
                quote: q,
            },
            IcmpRepr::DstUnreach {
                code: ICMP_UNREACH_HOST,
                next_hop_mtu: 0,
                quote: q,
            },
            IcmpRepr::Redirect {
                code: ICMP_REDIRECT_HOST,
                gateway: Ipv4Addr::new(10, 0, 0, 254),
                quote: q,
            },
            IcmpRepr::TimeExceeded {
                code: ICMP_TIMXCEED_INTRANS,
                quote: q,
            },
            IcmpRepr::ParamProblem {
                code: ICMP_PARAMPROB_ERRATPTR,
                pointer: 9,
                quote: q,
            },
            IcmpRepr::Other {
                msg_type: 13,
                code: 0,
                rest: 0x0001_0002,
                data: &[0; 12],
            },
        ]
    }

    #[test]
    fn round_trip_every_kind() {
        let q = sample_quote();
        for r in all_kinds(&q) {
            let b = emit(&r);
            let p = IcmpPacket::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(IcmpRepr::parse(&p), Ok(r));
        }
    }

    #[test]
    fn malformed() {
        let q = sample_quote();
        let mut b = emit(&IcmpRepr::TimeExceeded { code: 0, quote: &q });
        // Bad checksum.
        b[2] ^= 0x80;
        assert_eq!(
            IcmpRepr::parse(&IcmpPacket::new_checked(&b[..]).unwrap()),
            Err(Errno::EINVAL)
        );
        // Unknown code, bad quote (short, IHL 4, IPv6): checksum fixed each time.
        let cases: [(usize, u8); 3] = [(1, 2), (8, 0x44), (8, 0x65)];
        for (at, val) in cases {
            let mut b = emit(&IcmpRepr::TimeExceeded { code: 0, quote: &q });
            b[at] = val;
            let mut p = IcmpPacket::new_unchecked(&mut b[..]);
            p.fill_checksum();
            let p = IcmpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(IcmpRepr::parse(&p), Err(Errno::EINVAL), "byte {at}");
        }
        let short = emit(&IcmpRepr::Other {
            msg_type: ICMP_UNREACH,
            code: 0,
            rest: 0,
            data: &q[..27],
        });
        let p = IcmpPacket::new_checked(&short[..]).unwrap();
        assert_eq!(IcmpRepr::parse(&p), Err(Errno::EINVAL));
    }

    #[test]
    fn truncation() {
        let q = sample_quote();
        for r in all_kinds(&q) {
            let b = emit(&r);
            for n in 0..b.len() {
                let Ok(p) = IcmpPacket::new_checked(&b[..n]) else {
                    assert!(n < ICMP_MINLEN);
                    continue;
                };
                // A cut message fails its checksum (or, for a cut of zero bytes of
                // sum, parses to something that re-emits consistently).
                if let Ok(r2) = IcmpRepr::parse(&p) {
                    assert_eq!(emit(&r2), b[..n]);
                }
            }
        }
    }

    #[test]
    fn fuzz() {
        let q = sample_quote();
        let seeds: Vec<Vec<u8>> = all_kinds(&q)
            .iter()
            .map(emit)
            .chain([hex(ECHO_REPLY), hex(PORT_UNREACH)])
            .collect();
        let mut rng = Rng::new(0x1c);
        let mut parsed = 0;
        for i in 0..rounds() {
            let good = &seeds[i % seeds.len()];
            let mut v = mutate(&mut rng, good, &[(0, 1), (1, 1), (8, 1), (10, 2)]);
            if rng.below(2) == 0 && v.len() >= ICMP_MINLEN {
                IcmpPacket::new_unchecked(&mut v[..]).fill_checksum();
            }
            let Ok(p) = IcmpPacket::new_checked(&v[..]) else {
                continue;
            };
            let _ = (p.gateway(), p.pointer(), p.next_hop_mtu(), p.data());
            let _ = IcmpQuote::parse(p.data());
            let _ = IcmpQuote::of(p.data());
            if let Ok(r) = IcmpRepr::parse(&p) {
                parsed += 1;
                let out = emit(&r);
                let p2 = IcmpPacket::new_checked(&out[..]).unwrap();
                assert_eq!(IcmpRepr::parse(&p2), Ok(r));
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
