//! The syscall door's decoders on hostile bytes.
//!
//! [`frame`] is what vkernel does with a connection's byte stream: cut it into
//! frames ([`read_frame_into`], one reused buffer), view `sendto` in place
//! ([`SendtoView::parse`]), decode everything else ([`Request::from_bytes`]),
//! then decode each request's payload as the kernel will (sysctl values, ioctl
//! structures, socket addresses, socket options (the firewall's rules
//! among them), routing-socket and netgraph messages).  The same stream is also read as the tools read the kernel's
//! replies ([`Reply::read_frame`]).
//!
//! [`payload`] reaches one decoder directly: the first byte picks it, the rest
//! is its input.
//!
//! Checked, besides "nothing panics": what a decoder accepts re-encodes, the
//! re-encoding decodes to the same value and encodes to the same bytes again;
//! a request frame re-encodes to exactly the bytes it came from (the door's
//! format has one encoding per value); the in-place `sendto` view agrees with
//! the owned decoder.

use std::fmt::Debug;
use std::io::Cursor;

use vimage_abi::ip_fw::{
    ipfw_table_arg, ipfw_table_list, ipfw_zero_arg, IpFwDel, IpFwGet, IpFwRule, IpFwTableEntry,
};
use vimage_abi::net_if::{IfInfo, IfMaddrInfo, IfReq, IFREQ_SIZE};
use vimage_abi::net_if_vlan_var::{VlanReq, VLANREQ_SIZE};
use vimage_abi::netgraph::*;
use vimage_abi::netinet6_in6::*;
use vimage_abi::netinet_in::*;
use vimage_abi::route::{parse_addrs, sa_size, RouteDump, RtMsg, RtSockMsg, Sockaddr};
use vimage_abi::socket::{TcpInfo, XFile};
use vimage_abi::syscall::{read_frame_into, KldStat, Reply, Request, SendtoView};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::ViReq;
use vimage_abi::wire::{get_cstr, Reader, Writer};
use vimage_abi::Errno;

/// Decode `b`; if accepted, the value re-encodes, and the re-encoding decodes
/// to the same value and encodes to the same bytes again.
pub fn round_trip<T, D, E>(what: &str, b: &[u8], decode: D, encode: E) -> Option<T>
where
    T: PartialEq + Debug,
    D: Fn(&[u8]) -> Result<T, Errno>,
    E: Fn(&T) -> Result<Vec<u8>, Errno>,
{
    let v = decode(b).ok()?;
    let b2 = encode(&v).unwrap_or_else(|e| panic!("{what}: decoded {v:?} does not encode: {e:?}"));
    let v2 = decode(&b2).unwrap_or_else(|e| panic!("{what}: re-encoding of {v:?} fails: {e:?}"));
    assert_eq!(v2, v, "{what}: decode(encode(decode(x))) != decode(x)");
    assert_eq!(encode(&v2).ok(), Some(b2), "{what}: encoding is not stable");
    Some(v)
}

/// [`round_trip`] for a decoder that keeps header fields the encoder
/// recomputes (a routing message's `rtm_msglen` and `rtm_addrs`): the first
/// re-encoding is a fixed point of decode-then-encode.
pub fn fixed_point<T, D, E>(what: &str, b: &[u8], decode: D, encode: E) -> Option<T>
where
    T: PartialEq + Debug,
    D: Fn(&[u8]) -> Result<T, Errno>,
    E: Fn(&T) -> Result<Vec<u8>, Errno>,
{
    let v = decode(b).ok()?;
    let b2 = encode(&v).unwrap_or_else(|e| panic!("{what}: decoded {v:?} does not encode: {e:?}"));
    round_trip(what, &b2, &decode, &encode)
        .unwrap_or_else(|| panic!("{what}: re-encoding of {v:?} does not decode"));
    Some(v)
}

/// A connection's byte stream, as the door reads it.
pub fn frame(data: &[u8]) {
    let mut rd = Cursor::new(data);
    let mut buf = Vec::new();
    // At most a few frames: each is a full decode of everything inside.
    for _ in 0..16 {
        match read_frame_into(&mut rd, &mut buf) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        assert!(buf.len() <= data.len(), "a frame longer than the stream");
        let view = SendtoView::parse(&buf);
        match Request::from_bytes(&buf) {
            Ok(q) => {
                assert_eq!(q.to_bytes(), buf, "request re-encodes differently");
                if let Some(v) = &view {
                    let Request::Sendto {
                        fd,
                        flags,
                        addr,
                        data,
                    } = &q
                    else {
                        panic!("sendto view of a {q:?}");
                    };
                    assert_eq!(
                        (v.fd, v.flags, v.addr, v.data),
                        (*fd, *flags, addr.as_deref(), &data[..])
                    );
                }
                request_payloads(&q);
            }
            Err(e) => {
                assert_eq!(e, Errno::EINVAL);
                assert!(
                    view.is_none(),
                    "sendto view of a frame that does not decode"
                );
            }
        }
    }
    // The same bytes as a reply stream (what the tools decode).
    let mut rd = Cursor::new(data);
    for _ in 0..16 {
        match Reply::read_frame(&mut rd) {
            Ok(Some(r)) => {
                assert_eq!(Reply::from_bytes(&r.to_bytes()), Ok(r.clone()));
                reply_payloads(&r.data);
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// The decoders the kernel runs on one request's payloads.
fn request_payloads(q: &Request) {
    match q {
        Request::Sysctl { new: Some(b), .. } => sysctl_value(b),
        Request::Ioctl { data, .. } => ioctl(data),
        Request::Bind { addr, .. } | Request::Connect { addr, .. } => sockaddr(addr),
        Request::Sendto { addr, data, .. } => {
            if let Some(a) = addr {
                sockaddr(a);
            }
            // A routing socket's write, a netgraph control socket's message.
            rtsock(data);
            ng_mesg(data);
        }
        Request::Setsockopt { val, .. } | Request::Getsockopt { val, .. } => sockopt(val),
        _ => {}
    }
}

/// What a tool decodes out of a reply's data.
fn reply_payloads(b: &[u8]) {
    round_trip("SysctlReply", b, SysctlReply::from_bytes, |s| {
        Ok(s.to_bytes())
    });
    round_trip("KldStat", b, KldStat::from_bytes, |k| Ok(k.to_bytes()));
}

/// `sysctl(new)`: a value as [`SysctlValue::encode`] writes it.
fn sysctl_value(b: &[u8]) {
    round_trip(
        "SysctlValue",
        b,
        |b| {
            let mut r = Reader::new(b);
            let v = SysctlValue::decode(&mut r)?;
            r.end()?;
            Ok(v)
        },
        |v| {
            let mut w = Writer::new();
            v.encode(&mut w);
            Ok(w.finish())
        },
    );
}

/// Every ioctl parameter structure the kernel decodes.
fn ioctl(b: &[u8]) {
    if let Some(r) = round_trip("IfReq", b, IfReq::from_bytes, IfReq::to_bytes) {
        let _ = (r.flags(), r.int(), r.lladdr(), r.union_name());
        let _ = SockaddrIn::field(&r.data);
        let _ = SockaddrIn::from_bytes(&r.data);
    }
    round_trip(
        "InAliasReq",
        b,
        InAliasReq::from_bytes,
        InAliasReq::to_bytes,
    );
    round_trip("ArpReq", b, ArpReq::from_bytes, ArpReq::to_bytes);
    round_trip(
        "In6AliasReq",
        b,
        In6AliasReq::from_bytes,
        In6AliasReq::to_bytes,
    );
    if let Some(r) = round_trip("In6IfReq", b, In6IfReq::from_bytes, In6IfReq::to_bytes) {
        let _ = (r.addr(), r.flags6());
    }
    round_trip(
        "In6NbrInfo",
        b,
        In6NbrInfo::from_bytes,
        In6NbrInfo::to_bytes,
    );
    round_trip("ViReq", b, ViReq::from_bytes, ViReq::to_bytes);
    // An ifreq with the vlanreq its ifr_data carries (SIOCSETVLAN,
    // SIOCGETVLAN, SIOCIFCREATE2 with parameters).
    if b.len() == IFREQ_SIZE + VLANREQ_SIZE {
        let _ = IfReq::from_bytes(&b[..IFREQ_SIZE]);
        round_trip(
            "VlanReq",
            &b[IFREQ_SIZE..],
            VlanReq::from_bytes,
            VlanReq::to_bytes,
        );
    }
}

/// `bind`/`connect`/`sendto` addresses of every family.
fn sockaddr(b: &[u8]) {
    round_trip("SockaddrIn", b, SockaddrIn::from_bytes, |s| {
        Ok(s.to_bytes().to_vec())
    });
    round_trip("SockaddrIn6", b, SockaddrIn6::from_bytes, |s| {
        Ok(s.to_bytes().to_vec())
    });
    round_trip(
        "SockaddrNg",
        b,
        SockaddrNg::from_bytes,
        SockaddrNg::to_bytes,
    );
    let _ = SockaddrIn::field(b);
}

/// `setsockopt` values with a structure.
fn sockopt(b: &[u8]) {
    round_trip("Icmp6Filter", b, Icmp6Filter::from_bytes, |f| {
        Ok(f.to_bytes())
    });
    if let Some(t) = TcpInfo::from_bytes(b) {
        assert_eq!(TcpInfo::from_bytes(&t.to_bytes()), Some(t));
    }
    round_trip("Ip6RecvInfo", b, Ip6RecvInfo::from_bytes, |i| {
        Ok(i.to_bytes())
    });
    // Multicast: group requests of both families, IPv4's receive records.
    round_trip("IpMreq", b, IpMreq::from_bytes, |m| Ok(m.to_bytes()));
    round_trip("Ipv6Mreq", b, Ipv6Mreq::from_bytes, |m| Ok(m.to_bytes()));
    round_trip(
        "InRecvInfo",
        b,
        InRecvInfo::from_bytes,
        |i| Ok(i.to_bytes()),
    );
    // The firewall's options (a raw socket's IP_FW_*).
    round_trip("IpFwRule", b, IpFwRule::from_bytes, IpFwRule::to_bytes);
    round_trip("IpFwGet", b, IpFwGet::from_bytes, IpFwGet::to_bytes);
    round_trip("IpFwDel", b, IpFwDel::from_bytes, |d| Ok(d.to_bytes()));
    round_trip("IpFwTableEntry", b, IpFwTableEntry::from_bytes, |e| {
        Ok(e.to_bytes())
    });
    let _ = ipfw_zero_arg(b);
    let _ = ipfw_table_arg(b);
    round_trip("ipfw_table_list", b, ipfw_table_list, |l| {
        Ok(l.iter().flat_map(IpFwTableEntry::to_bytes).collect())
    });
}

/// A routing-socket write.
fn rtsock(b: &[u8]) {
    if let Some(RtSockMsg::Route(r)) =
        fixed_point("RtSockMsg", b, RtSockMsg::decode, RtSockMsg::to_bytes)
    {
        for s in r.sa.iter().flatten() {
            let _ = (s.mask_plen(false), s.mask_plen(true), s.ip(), s.family());
        }
    }
    let _ = RtMsg::from_bytes(b);
    if let Ok((s, used)) = Sockaddr::decode(b) {
        assert!(
            used <= b.len().max(8),
            "sockaddr used {used} of {}",
            b.len()
        );
        let img = s.to_bytes().expect("a decoded sockaddr encodes");
        let mut padded = img.clone();
        padded.resize(sa_size(s.sa_len()), 0);
        let (s2, _) = Sockaddr::decode(&padded).expect("re-decodes");
        assert_eq!(s2.to_bytes(), Ok(img));
        let _ = (s.mask_plen(false), s.mask_plen(true));
    }
    if let Some((&bits, rest)) = b.split_first() {
        let _ = parse_addrs(rest, i32::from(bits));
    }
}

/// A netgraph control message and the generic arguments inside it.
fn ng_mesg(b: &[u8]) {
    round_trip(
        "NgMesgHeader",
        b,
        NgMesgHeader::from_bytes,
        NgMesgHeader::to_bytes,
    );
    if let Some(m) = round_trip("NgMesg", b, NgMesg::from_bytes, NgMesg::to_bytes) {
        let _ = m.is_resp();
        ng_args(&m.data);
    }
}

/// The generic messages' arguments and replies.
fn ng_args(b: &[u8]) {
    round_trip("NgmMkpeer", b, NgmMkpeer::from_bytes, NgmMkpeer::to_bytes);
    round_trip(
        "NgmConnect",
        b,
        NgmConnect::from_bytes,
        NgmConnect::to_bytes,
    );
    round_trip("NgmName", b, NgmName::from_bytes, NgmName::to_bytes);
    round_trip("NgmRmhook", b, NgmRmhook::from_bytes, NgmRmhook::to_bytes);
    round_trip("NodeInfo", b, NodeInfo::from_bytes, NodeInfo::to_bytes);
    round_trip("HookList", b, HookList::from_bytes, HookList::to_bytes);
    round_trip("NameList", b, NameList::from_bytes, NameList::to_bytes);
    round_trip("TypeList", b, TypeList::from_bytes, TypeList::to_bytes);
    // ASCII2BINARY/BINARY2ASCII carry a message inside the message.
    if let Ok(inner) = NgMesg::from_bytes(b) {
        let _ = inner.to_bytes();
    }
    let _ = get_fixed(b);
}

/// The lists and counters the kernel's sysctls hand to the tools.
fn lists(b: &[u8]) {
    round_trip("IfInfo list", b, IfInfo::decode_list, |l| {
        Ok(IfInfo::encode_list(l))
    });
    round_trip("IfMaddrInfo list", b, IfMaddrInfo::decode_list, |l| {
        Ok(IfMaddrInfo::encode_list(l))
    });
    round_trip("ArpEntryInfo list", b, ArpEntryInfo::decode_list, |l| {
        Ok(ArpEntryInfo::encode_list(l))
    });
    // Three encodings (v1, v2, v3) decode to the same list; v3 carries every
    // field (the state and the IPv6 part), so it round-trips any of them.
    if let Ok(l) = InPcbInfo::decode_list(b) {
        assert_eq!(
            InPcbInfo::decode_list(&InPcbInfo::encode_list_v3(&l)).as_ref(),
            Ok(&l)
        );
    }
    round_trip("Nd6Dump list", b, Nd6Dump::decode_list, |l| {
        Ok(Nd6Dump::encode_list(l))
    });
    round_trip("XFile list", b, XFile::decode_list, |l| {
        Ok(XFile::encode_list(l))
    });
    round_trip("RouteDump", b, RouteDump::from_bytes, |d| Ok(d.to_bytes()));
}

/// Protocol statistics (netstat -s).
fn stats(b: &[u8]) {
    round_trip(
        "ProtoStats",
        b,
        ProtoStats::from_bytes,
        |s| Ok(s.to_bytes()),
    );
    round_trip("Ip6Stat", b, Ip6Stat::from_bytes, |s| Ok(s.to_bytes()));
    round_trip("Icmp6Stat", b, Icmp6Stat::from_bytes, |s| Ok(s.to_bytes()));
    if let Ok(v) = stats_decode(b) {
        assert_eq!(stats_decode(&stats_encode(&v)), Ok(v));
    }
}

/// Decoders the payload target can pick (the first input byte, modulo this).
pub const PAYLOAD_KINDS: u8 = 12;

/// One decoder, picked by the first byte.
pub fn payload(data: &[u8]) {
    let Some((&sel, b)) = data.split_first() else {
        return;
    };
    match sel % PAYLOAD_KINDS {
        0 => {
            if let Ok(q) = Request::from_bytes(b) {
                assert_eq!(q.to_bytes(), b, "request re-encodes differently");
                request_payloads(&q);
            }
            let _ = SendtoView::parse(b);
        }
        1 => {
            if let Some(r) = round_trip("Reply", b, Reply::from_bytes, |r| Ok(r.to_bytes())) {
                reply_payloads(&r.data);
            }
            reply_payloads(b);
        }
        2 => sysctl_value(b),
        3 => ioctl(b),
        4 => sockaddr(b),
        5 => sockopt(b),
        6 => rtsock(b),
        7 => ng_mesg(b),
        8 => ng_args(b),
        9 => lists(b),
        10 => stats(b),
        _ => {
            let _ = get_cstr(b);
            let _ = get_fixed(b);
            if b.len() >= 16 {
                let mut a = [0u8; 16];
                a.copy_from_slice(&b[..16]);
                let m = std::net::Ipv6Addr::from(a);
                let _ = in6_mask2len(&m);
            }
        }
    }
}
