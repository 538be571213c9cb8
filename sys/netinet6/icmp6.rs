//! ICMPv6 (`struct icmp6_hdr`, RFC 4443): echo, destination unreachable, packet
//! too big, time exceeded and parameter problem; neighbour discovery bodies are
//! in [`super::nd6`].
//!
//! [`Icmp6Packet`] views a whole message (the upper-layer part of an IPv6
//! packet); its checksum covers the IPv6 pseudo header and the whole buffer.

use std::net::Ipv6Addr;
use vimage_abi::Errno;

use super::ip6::{ip6_upper, Ipv6Packet, Ipv6Upper, IP6_HDR_LEN, IPV6_MMTU};
use super::nd6::{nd_header_len, NdiscRepr};
use crate::ip::{
    cksum_add, cksum_sum, in6_pseudo, rd16, rd32, sub, sub_mut, wr16, wr32, IPPROTO_ICMPV6,
};

/// Destination unreachable.
pub const ICMP6_DST_UNREACH: u8 = 1;
/// Packet too big.
pub const ICMP6_PACKET_TOO_BIG: u8 = 2;
/// Time exceeded.
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
/// Parameter problem.
pub const ICMP6_PARAM_PROB: u8 = 4;
/// Echo request.
pub const ICMP6_ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const ICMP6_ECHO_REPLY: u8 = 129;
/// MLD query.
pub const MLD_LISTENER_QUERY: u8 = 130;
/// MLD report.
pub const MLD_LISTENER_REPORT: u8 = 131;
/// MLD done.
pub const MLD_LISTENER_DONE: u8 = 132;
/// Router solicitation.
pub const ND_ROUTER_SOLICIT: u8 = 133;
/// Router advertisement.
pub const ND_ROUTER_ADVERT: u8 = 134;
/// Neighbour solicitation.
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbour advertisement.
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
/// Redirect.
pub const ND_REDIRECT: u8 = 137;

/// Unreachable: no route.
pub const ICMP6_DST_UNREACH_NOROUTE: u8 = 0;
/// Unreachable: administratively prohibited.
pub const ICMP6_DST_UNREACH_ADMIN: u8 = 1;
/// Unreachable: beyond the scope of the source address.
pub const ICMP6_DST_UNREACH_BEYONDSCOPE: u8 = 2;
/// Unreachable: address unreachable.
pub const ICMP6_DST_UNREACH_ADDR: u8 = 3;
/// Unreachable: port unreachable.
pub const ICMP6_DST_UNREACH_NOPORT: u8 = 4;
/// Unreachable: source address failed ingress/egress policy.
pub const ICMP6_DST_UNREACH_POLICY: u8 = 5;
/// Unreachable: reject route to destination.
pub const ICMP6_DST_UNREACH_REJECT: u8 = 6;
/// Time exceeded: hop limit reached 0 in transit.
pub const ICMP6_TIME_EXCEED_TRANSIT: u8 = 0;
/// Time exceeded: reassembly timed out.
pub const ICMP6_TIME_EXCEED_REASSEMBLY: u8 = 1;
/// Parameter problem: erroneous header field.
pub const ICMP6_PARAMPROB_HEADER: u8 = 0;
/// Parameter problem: unrecognized next header.
pub const ICMP6_PARAMPROB_NEXTHEADER: u8 = 1;
/// Parameter problem: unrecognized option.
pub const ICMP6_PARAMPROB_OPTION: u8 = 2;

/// `sizeof(struct icmp6_hdr)`.
pub const ICMP6_HDR_LEN: usize = 8;
/// `ICMPV6_PLD_MAXLEN`: the most of an offending packet an error may quote, so
/// that the error fits the minimum MTU.
pub const ICMPV6_PLD_MAXLEN: usize = IPV6_MMTU - IP6_HDR_LEN - ICMP6_HDR_LEN;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SUM: usize = 2;
    pub const DATA32: usize = 4;
    pub const ID: usize = 4;
    pub const SEQ: usize = 6;
    pub const BODY: usize = 8;
}

/// A zero-copy view of an ICMPv6 message (the whole buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmp6Packet<T> {
    /// Wrap `buffer` without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmp6Packet { buffer }
    }
    /// Wrap `buffer`, checking its length for the type ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Errno> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `EINVAL` if shorter than 8 bytes, or than the fixed part of an ND message.
    pub fn check_len(&self) -> Result<(), Errno> {
        let n = self.b().len();
        if n < ICMP6_HDR_LEN || n < nd_header_len(self.msg_type()) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub(crate) fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Message type (`ICMP6_*`, `ND_*`).
    pub fn msg_type(&self) -> u8 {
        self.b().first().copied().unwrap_or(0)
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.b().get(field::CODE).copied().unwrap_or(0)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        rd16(self.b(), field::SUM)
    }
    /// Bytes 4..8 as one word (MTU, pointer, or echo id and sequence).
    pub fn data32(&self) -> u32 {
        rd32(self.b(), field::DATA32)
    }
    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        rd16(self.b(), field::ID)
    }
    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        rd16(self.b(), field::SEQ)
    }
    /// Packet too big: the next-hop MTU.
    pub fn mtu(&self) -> u32 {
        self.data32()
    }
    /// Parameter problem: offset of the error in the quote.
    pub fn pointer(&self) -> u32 {
        self.data32()
    }
    /// Whether the checksum is right for a message from `src` to `dst`.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.b();
        cksum_add(in6_pseudo(src, dst, IPPROTO_ICMPV6, b.len()), cksum_sum(b)) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmp6Packet<&'a T> {
    /// Everything after the 8-byte header (echo data, quote, or ND body).
    pub fn data(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        sub(b, field::BODY, b.len())
    }
    /// The whole message with this view's lifetime.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmp6Packet<T> {
    pub(crate) fn bm(&mut self) -> &mut [u8] {
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
    /// Set bytes 4..8 as one word.
    pub fn set_data32(&mut self, v: u32) {
        wr32(self.bm(), field::DATA32, v);
    }
    /// Set the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        wr16(self.bm(), field::ID, v);
    }
    /// Set the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        wr16(self.bm(), field::SEQ, v);
    }
    /// Everything after the header, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let b = self.bm();
        let n = b.len();
        sub_mut(b, field::BODY, n)
    }
    /// Compute and store the checksum for a message from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let b = self.b();
        let c = !cksum_add(in6_pseudo(src, dst, IPPROTO_ICMPV6, b.len()), cksum_sum(b));
        self.set_checksum(c);
    }
}

/// The part of the offending packet an ICMPv6 error quotes, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp6Quote<'a> {
    /// The quoted source (our own address, for errors about our packets).
    pub src_addr: Ipv6Addr,
    /// The quoted destination.
    pub dst_addr: Ipv6Addr,
    /// The quoted header's next header.
    pub next_header: u8,
    /// What follows the quoted fixed header (possibly cut short).
    pub payload: &'a [u8],
}

impl<'a> Icmp6Quote<'a> {
    /// Check a quote: `EINVAL` if shorter than an IPv6 header.  The quoted
    /// version and payload length are not checked (the quote may be cut).
    pub fn parse(quote: &'a [u8]) -> Result<Icmp6Quote<'a>, Errno> {
        if quote.len() < IP6_HDR_LEN {
            return Err(Errno::EINVAL);
        }
        let ip = Ipv6Packet::new_unchecked(quote);
        Ok(Icmp6Quote {
            src_addr: ip.src_addr(),
            dst_addr: ip.dst_addr(),
            next_header: ip.next_header(),
            payload: sub(quote, IP6_HDR_LEN, quote.len()),
        })
    }
    /// The quoted upper-layer protocol and its bytes, past any extension headers
    /// ([`ip6_upper`]).
    pub fn upper(&self) -> Result<(u8, &'a [u8]), Errno> {
        let Ipv6Upper {
            next_header,
            offset,
        } = ip6_upper(self.next_header, self.payload)?;
        Ok((next_header, sub(self.payload, offset, self.payload.len())))
    }
    /// The quote to put in an error about `packet` (a whole IPv6 packet): as much
    /// as fits the minimum MTU ([`ICMPV6_PLD_MAXLEN`]), link padding excluded.
    pub fn of(packet: &[u8]) -> &[u8] {
        let ip = Ipv6Packet::new_unchecked(packet);
        let end = (IP6_HDR_LEN + usize::from(ip.payload_len()))
            .min(packet.len())
            .min(ICMPV6_PLD_MAXLEN);
        sub(packet, 0, end)
    }
}

/// A parsed ICMPv6 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Icmp6Repr<'a> {
    /// `ICMP6_ECHO_REQUEST`.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// `ICMP6_ECHO_REPLY`.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// `ICMP6_DST_UNREACH` with an `ICMP6_DST_UNREACH_*` code.
    DstUnreach {
        /// Code (0..=6).
        code: u8,
        /// The offending packet's leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP6_PACKET_TOO_BIG`.
    PacketTooBig {
        /// The next-hop MTU.
        mtu: u32,
        /// The offending packet's leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP6_TIME_EXCEEDED` with an `ICMP6_TIME_EXCEED_*` code.
    TimeExceeded {
        /// Code (0..=1).
        code: u8,
        /// The offending packet's leading bytes.
        quote: &'a [u8],
    },
    /// `ICMP6_PARAM_PROB` with an `ICMP6_PARAMPROB_*` code.
    ParamProblem {
        /// Code (0..=2).
        code: u8,
        /// Offset of the error in the quote.
        pointer: u32,
        /// The offending packet's leading bytes.
        quote: &'a [u8],
    },
    /// Router/neighbour solicitation or advertisement.
    Ndisc(NdiscRepr),
    /// Any other type, kept raw (MLD, redirect, ...); never parsed for the types above.
    Other {
        /// Type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// Bytes 4..8.
        data32: u32,
        /// Everything after the header.
        data: &'a [u8],
    },
}

impl<'a> Icmp6Repr<'a> {
    /// Parse a checked message from `src` to `dst`: `EINVAL` on a bad checksum, an
    /// unknown code of an error type, a quote shorter than an IPv6 header, or a
    /// malformed ND message ([`NdiscRepr::parse`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Icmp6Packet<&'a T>,
    ) -> Result<Self, Errno> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Errno::EINVAL);
        }
        let code = packet.msg_code();
        let data = packet.data();
        let quote = |max_code: u8| -> Result<&'a [u8], Errno> {
            if code > max_code {
                return Err(Errno::EINVAL);
            }
            Icmp6Quote::parse(data)?;
            Ok(data)
        };
        Ok(match packet.msg_type() {
            ICMP6_ECHO_REQUEST => Icmp6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            ICMP6_ECHO_REPLY => Icmp6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            ICMP6_DST_UNREACH => Icmp6Repr::DstUnreach {
                code,
                quote: quote(ICMP6_DST_UNREACH_REJECT)?,
            },
            // The code is sent as 0 and ignored on receipt (RFC 4443 3.2).
            ICMP6_PACKET_TOO_BIG => Icmp6Repr::PacketTooBig {
                mtu: packet.mtu(),
                quote: quote(u8::MAX)?,
            },
            ICMP6_TIME_EXCEEDED => Icmp6Repr::TimeExceeded {
                code,
                quote: quote(ICMP6_TIME_EXCEED_REASSEMBLY)?,
            },
            ICMP6_PARAM_PROB => Icmp6Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
                quote: quote(ICMP6_PARAMPROB_OPTION)?,
            },
            ND_ROUTER_SOLICIT | ND_ROUTER_ADVERT | ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT => {
                Icmp6Repr::Ndisc(NdiscRepr::parse(packet)?)
            }
            msg_type => Icmp6Repr::Other {
                msg_type,
                code,
                data32: packet.data32(),
                data,
            },
        })
    }

    /// Message length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmp6Repr::EchoRequest { data, .. }
            | Icmp6Repr::EchoReply { data, .. }
            | Icmp6Repr::Other { data, .. } => ICMP6_HDR_LEN + data.len(),
            Icmp6Repr::DstUnreach { quote, .. }
            | Icmp6Repr::PacketTooBig { quote, .. }
            | Icmp6Repr::TimeExceeded { quote, .. }
            | Icmp6Repr::ParamProblem { quote, .. } => ICMP6_HDR_LEN + quote.len(),
            Icmp6Repr::Ndisc(nd) => nd.buffer_len(),
        }
    }

    /// Write the whole message and its checksum for `src` → `dst`; the packet's
    /// buffer must be exactly [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmp6Packet<T>,
    ) {
        let echo = |i: u16, s: u16| u32::from(i) << 16 | u32::from(s);
        let (t, c, w, body): (u8, u8, u32, &[u8]) = match self {
            Icmp6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (ICMP6_ECHO_REQUEST, 0, echo(*ident, *seq_no), data),
            Icmp6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (ICMP6_ECHO_REPLY, 0, echo(*ident, *seq_no), data),
            Icmp6Repr::DstUnreach { code, quote } => (ICMP6_DST_UNREACH, *code, 0, quote),
            Icmp6Repr::PacketTooBig { mtu, quote } => (ICMP6_PACKET_TOO_BIG, 0, *mtu, quote),
            Icmp6Repr::TimeExceeded { code, quote } => (ICMP6_TIME_EXCEEDED, *code, 0, quote),
            Icmp6Repr::ParamProblem {
                code,
                pointer,
                quote,
            } => (ICMP6_PARAM_PROB, *code, *pointer, quote),
            Icmp6Repr::Other {
                msg_type,
                code,
                data32,
                data,
            } => (*msg_type, *code, *data32, data),
            Icmp6Repr::Ndisc(nd) => {
                nd.emit(packet);
                packet.fill_checksum(src, dst);
                return;
            }
        };
        packet.set_msg_type(t);
        packet.set_msg_code(c);
        packet.set_data32(w);
        packet.bm()[field::BODY..field::BODY + body.len()].copy_from_slice(body);
        packet.fill_checksum(src, dst);
    }
}

// ===========================================================================
// ICMPv6 proper (FreeBSD's netinet6/icmp6.c): input, echo replies, errors
// about other packets (never about ICMPv6 errors, rate limited), and the
// hand-off of neighbour discovery to nd6.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use super::in6::{in6_ifawithaddr, in6_route, in6_selectsrc, inc, vnet_inet6};
use super::ip6_input::Ip6In;
use super::ip6_output::{ip6_build, ip6_output, Ip6OutOpts};
use super::nd6::NdIn;
use vimage_kern::kern_timeout::getnow_ns;
use vimage_net::if_var::Ifnet;

/// A whole IPv6 packet from `src` to `dst` carrying `repr` (checksum filled).
pub fn icmp6_build(src: Ipv6Addr, dst: Ipv6Addr, hlim: u8, repr: &Icmp6Repr<'_>) -> Vec<u8> {
    let mut body = vec![0u8; repr.buffer_len()];
    repr.emit(&src, &dst, &mut Icmp6Packet::new_unchecked(&mut body[..]));
    ip6_build(src, dst, IPPROTO_ICMPV6, hlim, &body)
}

/// `icmp6_input`: the ICMPv6 message at `off` of the packet `inp` describes.
/// Bad ones (too short, bad checksum or code, malformed ND) are counted and
/// dropped; echo requests are answered; ND goes to nd6; every good message is
/// then offered to the raw ICMPv6 sockets.
pub fn icmp6_input(inp: &Ip6In<'_>, off: usize) {
    let st = vnet_inet6();
    let data = sub(inp.pkt, off, inp.pkt.len());
    let Ok(p) = Icmp6Packet::new_checked(data) else {
        inc(&st.icmp6stat.icp6s_tooshort);
        return;
    };
    if !p.verify_checksum(&inp.src, &inp.dst) {
        inc(&st.icmp6stat.icp6s_checksum);
        return;
    }
    let t = p.msg_type();
    let code = p.msg_code();
    inc(&st.icmp6_inhist[usize::from(t)]);
    let ndin = NdIn {
        src: inp.src,
        dst: inp.dst,
        hlim: inp.hlim,
    };
    match t {
        ICMP6_ECHO_REQUEST => {
            if code != 0 {
                inc(&st.icmp6stat.icp6s_badcode);
                return;
            }
            icmp6_reflect_echo(inp, p.echo_ident(), p.echo_seq_no(), p.data());
        }
        ICMP6_ECHO_REPLY if code != 0 => {
            inc(&st.icmp6stat.icp6s_badcode);
            return;
        }
        ICMP6_DST_UNREACH | ICMP6_PACKET_TOO_BIG | ICMP6_TIME_EXCEEDED | ICMP6_PARAM_PROB
            if data.len() < ICMP6_HDR_LEN + IP6_HDR_LEN =>
        {
            inc(&st.icmp6stat.icp6s_tooshort);
            return;
        }
        ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT | ND_ROUTER_SOLICIT | ND_ROUTER_ADVERT => {
            let Ok(nd) = NdiscRepr::parse(&p) else {
                match t {
                    ND_NEIGHBOR_SOLICIT => inc(&st.icmp6stat.icp6s_badns),
                    ND_NEIGHBOR_ADVERT => inc(&st.icmp6stat.icp6s_badna),
                    ND_ROUTER_SOLICIT => inc(&st.icmp6stat.icp6s_badrs),
                    _ => inc(&st.icmp6stat.icp6s_badra),
                }
                return;
            };
            match nd {
                NdiscRepr::NeighborSolicit { target, lladdr } => {
                    super::nd6::nd6_ns_input(inp.ifp, &ndin, target, lladdr)
                }
                NdiscRepr::NeighborAdvert {
                    flags,
                    target,
                    lladdr,
                } => super::nd6::nd6_na_input(inp.ifp, &ndin, flags, target, lladdr),
                _ => super::nd6::nd6_rtr_input(t, &ndin),
            }
        }
        ND_REDIRECT => super::nd6::nd6_rtr_input(t, &ndin),
        _ => {}
    }
    super::raw_ip6::rip6_input(inp, off, IPPROTO_ICMPV6);
}

/// Answer an echo request (`icmp6_reflect`): from the address it was sent to
/// (or, for a multicast destination, one chosen for the asker), with the
/// default hop limit, echoing identifier, sequence number and data.
fn icmp6_reflect_echo(inp: &Ip6In<'_>, ident: u16, seq_no: u16, data: &[u8]) {
    let st = vnet_inet6();
    if inp.src.is_multicast() || inp.src.is_unspecified() {
        return;
    }
    let src = if inp.dst.is_multicast() {
        match in6_selectsrc(&inp.src, inp.ifp) {
            Ok(s) => s,
            Err(_) => return,
        }
    } else {
        inp.dst
    };
    let pkt = icmp6_build(
        src,
        inp.src,
        st.defhlim(),
        &Icmp6Repr::EchoReply {
            ident,
            seq_no,
            data,
        },
    );
    inc(&st.icmp6stat.icp6s_reflect);
    inc(&st.icmp6_outhist[usize::from(ICMP6_ECHO_REPLY)]);
    let _ = ip6_output(
        pkt,
        &Ip6OutOpts {
            scope: inp.zone,
            dontfrag: false,
        },
    );
}

/// Whether an error may go out now (`icmp6_ratelimit`: at most
/// `net.inet6.icmp6.errppslimit` per second; negative: no limit).
fn icmp6_ratelimit_ok() -> bool {
    let st = vnet_inet6();
    let lim = st.icmp6errppslim.load(AtomicOrdering::Relaxed);
    if lim < 0 {
        return true;
    }
    let sec = getnow_ns() / 1_000_000_000;
    let Ok(mut g) = st.errrate.lock() else {
        return false;
    };
    if g.0 != sec {
        *g = (sec, 0);
    }
    if g.1 >= lim {
        return false;
    }
    g.1 += 1;
    true
}

/// `icmp6_error`: tell the source of `orig` (a whole IPv6 packet that arrived on
/// `ifp`, zone `zone`) about a problem with it (RFC 4443 2.4): never about an
/// ICMPv6 error or redirect, nor to a multicast or unspecified source, nor
/// about a multicast destination except packet-too-big and unknown options;
/// at most `errppslimit` a second.  The quote is as much of `orig` as fits the
/// minimum MTU.
pub fn icmp6_error(ifp: &Arc<Ifnet>, zone: u32, orig: &[u8], t: u8, code: u8, param: u32) {
    let st = vnet_inet6();
    inc(&st.icmp6stat.icp6s_error);
    if orig.len() < IP6_HDR_LEN {
        return;
    }
    let ip = Ipv6Packet::new_unchecked(orig);
    let (osrc, odst) = (ip.src_addr(), ip.dst_addr());
    if odst.is_multicast()
        && !(t == ICMP6_PACKET_TOO_BIG || (t == ICMP6_PARAM_PROB && code == ICMP6_PARAMPROB_OPTION))
    {
        return;
    }
    if osrc.is_unspecified() || osrc.is_multicast() {
        return;
    }
    let payload = sub(orig, IP6_HDR_LEN, orig.len());
    if let Ok(Ipv6Upper {
        next_header: IPPROTO_ICMPV6,
        offset,
    }) = ip6_upper(ip.next_header(), payload)
    {
        let it = payload.get(offset).copied().unwrap_or(0);
        if it < 128 || it == ND_REDIRECT {
            inc(&st.icmp6stat.icp6s_canterror);
            return;
        }
    }
    if !icmp6_ratelimit_ok() {
        inc(&st.icmp6stat.icp6s_toofreq);
        return;
    }
    let scope = if super::in6::in6_is_scoped(&osrc) {
        zone
    } else {
        0
    };
    let src = match in6_ifawithaddr(&odst, zone) {
        Some((_, ia)) if !odst.is_multicast() && ia.ready() => odst,
        _ => {
            let Ok(rt) = in6_route(&osrc, scope) else {
                return;
            };
            let out = if rt.ifp.flags() & vimage_abi::net_if::IFF_LOOPBACK != 0 {
                ifp.clone()
            } else {
                rt.ifp
            };
            match in6_selectsrc(&osrc, &out) {
                Ok(s) => s,
                Err(_) => return,
            }
        }
    };
    let quote = Icmp6Quote::of(orig);
    let repr = match t {
        ICMP6_DST_UNREACH => Icmp6Repr::DstUnreach { code, quote },
        ICMP6_PACKET_TOO_BIG => Icmp6Repr::PacketTooBig { mtu: param, quote },
        ICMP6_TIME_EXCEEDED => Icmp6Repr::TimeExceeded { code, quote },
        ICMP6_PARAM_PROB => Icmp6Repr::ParamProblem {
            code,
            pointer: param,
            quote,
        },
        _ => return,
    };
    let pkt = icmp6_build(src, osrc, st.defhlim(), &repr);
    inc(&st.icmp6_outhist[usize::from(t)]);
    let _ = ip6_output(
        pkt,
        &Ip6OutOpts {
            scope,
            dontfrag: false,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{IPPROTO_DSTOPTS, IPPROTO_UDP};
    use crate::netinet6::ip6::Ipv6Repr;
    use vimage_kern::fuzz::{hex, mutate, rounds, Rng};

    const LO: Ipv6Addr = Ipv6Addr::LOCALHOST;

    /// Echo request ::1 -> ::1 sent through a raw socket on Linux, which filled
    /// in the checksum; captured on `lo`.
    const ECHO_REQ: &str = "800090e24321000776696d6167652d70696e672d30313233";
    /// Linux's echo reply to it.
    const ECHO_REP: &str = "81008fe24321000776696d6167652d70696e672d30313233";
    /// Linux's port unreachable for a UDP datagram to [::1]:5353.
    const PORT_UNREACH: &str = "0104ce3300000000\
        600eef6100121140\
        00000000000000000000000000000001\
        00000000000000000000000000000001\
        90d814e90012002568656c6c6f2075647036";

    /// An MLDv2 report from fe80::420a:bff:fe0c:d01 to ff02::16 (after a
    /// hop-by-hop header), captured on a Linux veth: kept raw as `Other`.
    const MLD2: &str = "8f000ae50000000104000000ff0200000000000000000001ff0c0d01";

    #[test]
    fn captured_mld_as_other() {
        let src: Ipv6Addr = "fe80::420a:bff:fe0c:d01".parse().unwrap();
        let dst: Ipv6Addr = "ff02::16".parse().unwrap();
        let b = hex(MLD2);
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        let r = Icmp6Repr::parse(&src, &dst, &p).unwrap();
        let Icmp6Repr::Other {
            msg_type, data32, ..
        } = r
        else {
            panic!("{r:?}");
        };
        assert_eq!((msg_type, data32), (143, 1));
        assert_eq!(emit(&r, &src, &dst), b);
    }

    fn emit(r: &Icmp6Repr, src: &Ipv6Addr, dst: &Ipv6Addr) -> Vec<u8> {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(src, dst, &mut Icmp6Packet::new_unchecked(&mut out[..]));
        out
    }

    #[test]
    fn captured_echo() {
        for (h, reply) in [(ECHO_REQ, false), (ECHO_REP, true)] {
            let b = hex(h);
            let p = Icmp6Packet::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum(&LO, &LO));
            let r = Icmp6Repr::parse(&LO, &LO, &p).unwrap();
            let (ident, seq_no, data) = (0x4321, 7, &b"vimage-ping-0123"[..]);
            let want = if reply {
                Icmp6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                }
            } else {
                Icmp6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }
            };
            assert_eq!(r, want);
            assert_eq!(emit(&r, &LO, &LO), b);
            // Another address breaks the sum.
            let other: Ipv6Addr = "::2".parse().unwrap();
            assert_eq!(Icmp6Repr::parse(&other, &LO, &p), Err(Errno::EINVAL));
        }
    }

    #[test]
    fn captured_port_unreach() {
        let b = hex(PORT_UNREACH);
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        let r = Icmp6Repr::parse(&LO, &LO, &p).unwrap();
        let Icmp6Repr::DstUnreach { code, quote } = r else {
            panic!("{r:?}");
        };
        assert_eq!(code, ICMP6_DST_UNREACH_NOPORT);
        let q = Icmp6Quote::parse(quote).unwrap();
        assert_eq!((q.src_addr, q.next_header), (LO, IPPROTO_UDP));
        let (proto, upper) = q.upper().unwrap();
        assert_eq!(proto, IPPROTO_UDP);
        assert_eq!(upper[2..4], [0x14, 0xe9]);
        assert_eq!(emit(&r, &LO, &LO), b);
        assert_eq!(Icmp6Quote::of(quote), quote);
    }

    fn sample_quote() -> Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8:1::1".parse().unwrap(),
            next_header: IPPROTO_DSTOPTS,
            payload_len: 1400,
            hop_limit: 1,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut b = vec![0u8; 40 + 1400];
        ip.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]));
        b[40] = IPPROTO_UDP; // a destination options header, then UDP
        b[48..56].copy_from_slice(&[0x80, 0x00, 0x00, 0x35, 0x05, 0x70, 0, 0]);
        b
    }

    fn all_kinds(q: &[u8]) -> Vec<Icmp6Repr<'_>> {
        vec![
            Icmp6Repr::EchoRequest {
                ident: 0,
                seq_no: 0,
                data: b"",
            },
            Icmp6Repr::EchoReply {
                ident: 0xffff,
                seq_no: 9,
                data: b"odd",
            },
            Icmp6Repr::DstUnreach {
                code: ICMP6_DST_UNREACH_ADDR,
                quote: q,
            },
            Icmp6Repr::PacketTooBig {
                mtu: 1280,
                quote: q,
            },
            Icmp6Repr::TimeExceeded {
                code: ICMP6_TIME_EXCEED_TRANSIT,
                quote: q,
            },
            Icmp6Repr::ParamProblem {
                code: ICMP6_PARAMPROB_NEXTHEADER,
                pointer: 40,
                quote: q,
            },
            Icmp6Repr::Other {
                msg_type: MLD_LISTENER_REPORT,
                code: 0,
                data32: 0,
                data: &[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb],
            },
        ]
    }

    #[test]
    fn round_trip_every_kind() {
        let full = sample_quote();
        let q = Icmp6Quote::of(&full);
        assert_eq!(q.len(), ICMPV6_PLD_MAXLEN);
        let quoted = Icmp6Quote::parse(q).unwrap();
        assert_eq!(quoted.upper().unwrap().0, IPPROTO_UDP);
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::1".parse().unwrap();
        for r in all_kinds(q) {
            let b = emit(&r, &src, &dst);
            assert!(b.len() <= IPV6_MMTU - IP6_HDR_LEN);
            let p = Icmp6Packet::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum(&src, &dst));
            assert_eq!(Icmp6Repr::parse(&src, &dst, &p), Ok(r));
        }
    }

    #[test]
    fn malformed() {
        let q = sample_quote();
        let base = Icmp6Repr::DstUnreach {
            code: 0,
            quote: &q[..40],
        };
        // Unknown code; a quote one byte short of an IPv6 header.
        let mut b = emit(&base, &LO, &LO);
        b[1] = 7;
        Icmp6Packet::new_unchecked(&mut b[..]).fill_checksum(&LO, &LO);
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmp6Repr::parse(&LO, &LO, &p), Err(Errno::EINVAL));
        let short = Icmp6Repr::Other {
            msg_type: ICMP6_TIME_EXCEEDED,
            code: 0,
            data32: 0,
            data: &q[..39],
        };
        let b = emit(&short, &LO, &LO);
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmp6Repr::parse(&LO, &LO, &p), Err(Errno::EINVAL));
        // Bad checksum.
        let mut b = emit(&base, &LO, &LO);
        b[3] ^= 1;
        let p = Icmp6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmp6Repr::parse(&LO, &LO, &p), Err(Errno::EINVAL));
        // An ND type too short for its fixed part.
        let ns = [ND_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Icmp6Packet::new_checked(&ns[..]), Err(Errno::EINVAL));
    }

    #[test]
    fn truncation() {
        let q = sample_quote();
        let mut seeds: Vec<Vec<u8>> = all_kinds(&q[..64])
            .iter()
            .map(|r| emit(r, &LO, &LO))
            .collect();
        seeds.push(hex(PORT_UNREACH));
        for b in seeds {
            for n in 0..b.len() {
                let Ok(p) = Icmp6Packet::new_checked(&b[..n]) else {
                    assert!(n < ICMP6_HDR_LEN);
                    continue;
                };
                if let Ok(r) = Icmp6Repr::parse(&LO, &LO, &p) {
                    assert_eq!(emit(&r, &LO, &LO), b[..n]);
                }
            }
        }
    }

    #[test]
    fn fuzz() {
        let q = sample_quote();
        let mut seeds: Vec<Vec<u8>> = all_kinds(&q[..72])
            .iter()
            .map(|r| emit(r, &LO, &LO))
            .collect();
        seeds.extend([hex(ECHO_REQ), hex(PORT_UNREACH)]);
        let mut rng = Rng::new(0x3a);
        let mut parsed = 0;
        for i in 0..rounds() {
            let good = &seeds[i % seeds.len()];
            let mut v = mutate(&mut rng, good, &[(0, 1), (1, 1), (12, 2), (14, 1)]);
            if rng.below(4) != 0 && v.len() >= ICMP6_HDR_LEN {
                Icmp6Packet::new_unchecked(&mut v[..]).fill_checksum(&LO, &LO);
            }
            let Ok(p) = Icmp6Packet::new_checked(&v[..]) else {
                continue;
            };
            if let Ok(qq) = Icmp6Quote::parse(p.data()) {
                let _ = qq.upper();
            }
            let _ = Icmp6Quote::of(p.data());
            if let Ok(r) = Icmp6Repr::parse(&LO, &LO, &p) {
                parsed += 1;
                let out = emit(&r, &LO, &LO);
                let p2 = Icmp6Packet::new_checked(&out[..]).unwrap();
                assert_eq!(Icmp6Repr::parse(&LO, &LO, &p2), Ok(r));
            }
        }
        assert!(parsed > rounds() / 20, "only {parsed} parsed");
    }
}
