//! ICMP for IPv4 (FreeBSD's sys/netinet/ip_icmp.c logic; the wire format is in
//! [`super::ip_icmp`]): answer echo requests, pass everything to raw sockets,
//! tell UDP about errors, and send errors about datagrams we cannot deliver
//! (`icmp_error`) — never about an ICMP error, a broadcast or a later fragment,
//! and at most `net.inet.icmp.icmplim` a second.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::ip::{Ipv4Packet, IPPROTO_ICMP, IP_HDR_LEN, IP_OFFMASK};
use super::ip_icmp::*;
use super::ip_output::{ip_build, ip_output};
use super::ip_var::inc;
use super::r#in::{in_broadcast, in_broadcast_any, in_first_addr, in_localaddr};
use vimage_kern::kern_timeout::getnow_ns;
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;

/// Bytes of the offending datagram's payload an error quotes (`icmp_quotelen`).
pub const ICMP_QUOTELEN: usize = 8;

/// Whether an ICMP type is an error (not a query or answer).
fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        ICMP_UNREACH | ICMP_SOURCEQUENCH | ICMP_REDIRECT | ICMP_TIMXCEED | ICMP_PARAMPROB
    )
}

/// One more response this second, if `icmplim` allows (`badport_bandlim`).
fn icmp_ratelimit_ok() -> bool {
    super::VNET_INET.with(|inet| {
        let lim = inet.icmplim.load(Ordering::Relaxed);
        if lim <= 0 {
            return true;
        }
        let sec = getnow_ns() / 1_000_000_000;
        let Ok(mut g) = inet.icmp_rate.lock() else {
            return false;
        };
        if g.0 != sec {
            *g = (sec, 0);
        }
        if g.1 >= lim as u64 {
            inc(&inet.icmpstat.st.icps_ratelimited);
            return false;
        }
        g.1 += 1;
        true
    })
}

/// The source address of a message answering a datagram that was sent to
/// `dst` and arrived on `ifp` (`icmp_reflect`): `dst` itself if it is ours, else
/// the receiving interface's address, else whatever the route gives.
fn reflect_src(dst: Ipv4Addr, ifp: Option<&Arc<Ifnet>>) -> Ipv4Addr {
    if in_localaddr(dst) {
        return dst;
    }
    ifp.and_then(|i| in_first_addr(i))
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// Send ICMP message `body` (type, code, rest and data, checksum filled here)
/// from `src` (unspecified: chosen by the route) to `dst`.
fn icmp_send(src: Ipv4Addr, dst: Ipv4Addr, mut body: Vec<u8>) {
    super::VNET_INET.with(|inet| {
        if body.len() < ICMP_MINLEN {
            return;
        }
        let ty = body[0];
        {
            let mut p = IcmpPacket::new_unchecked(&mut body[..]);
            p.fill_checksum();
        }
        let m = ip_build(src, dst, IPPROTO_ICMP, inet.defttl(), 0, &body);
        if ip_output(m, 0).is_ok() {
            inet.icmpstat.outhist.inc(ty);
        } else {
            inc(&inet.icmpstat.st.icps_noroute);
        }
    })
}

/// `icmp_error`: report datagram `orig` (from its IP header) back to its sender
/// with `ty`/`code` (`mtu` for "fragmentation needed").
pub fn icmp_error(orig: &[u8], ifp: Option<&Arc<Ifnet>>, ty: u8, code: u8, mtu: u16) {
    let Some(inet) = super::try_vnet_inet() else {
        return;
    };
    let st = &inet.icmpstat.st;
    inc(&st.icps_error);
    let p = Ipv4Packet::new_unchecked(orig);
    let hl = p.header_len();
    if orig.len() < IP_HDR_LEN || hl < IP_HDR_LEN || orig.len() < hl {
        inc(&st.icps_oldshort);
        return;
    }
    if p.flags_offset() & IP_OFFMASK != 0 {
        return;
    }
    if p.protocol() == IPPROTO_ICMP && ty != ICMP_REDIRECT {
        // Never an error about an error.
        match orig.get(hl) {
            Some(t) if !is_error_type(*t) => {}
            _ => {
                inc(&st.icps_oldicmp);
                return;
            }
        }
    }
    let (src, dst) = (p.src_addr(), p.dst_addr());
    if dst.is_multicast()
        || in_broadcast_any(dst)
        || ifp.is_some_and(|i| in_broadcast(dst, i))
        || src.is_unspecified()
        || src.is_multicast()
        || in_broadcast_any(src)
    {
        return;
    }
    if !icmp_ratelimit_ok() {
        return;
    }
    let quote = IcmpQuote::of(orig);
    let quote = &quote[..quote.len().min(hl + ICMP_QUOTELEN)];
    let mut body = vec![0u8; ICMP_MINLEN + quote.len()];
    body[0] = ty;
    body[1] = code;
    if ty == ICMP_UNREACH && code == ICMP_UNREACH_NEEDFRAG {
        body[6..8].copy_from_slice(&mtu.to_be_bytes());
    }
    body[ICMP_MINLEN..].copy_from_slice(quote);
    icmp_send(reflect_src(dst, ifp), src, body);
}

/// Tell the sender of `orig` (which arrived on `ifp`) to use `gw` for its
/// destination (`ICMP_REDIRECT_HOST`).
pub fn icmp_redirect(orig: &[u8], ifp: &Arc<Ifnet>, gw: Ipv4Addr) {
    let p = Ipv4Packet::new_unchecked(orig);
    let hl = p.header_len();
    if orig.len() < hl || hl < IP_HDR_LEN || !icmp_ratelimit_ok() {
        return;
    }
    let quote = IcmpQuote::of(orig);
    let quote = &quote[..quote.len().min(hl + ICMP_QUOTELEN)];
    let mut body = vec![0u8; ICMP_MINLEN + quote.len()];
    body[0] = ICMP_REDIRECT;
    body[1] = ICMP_REDIRECT_HOST;
    body[4..8].copy_from_slice(&gw.octets());
    body[ICMP_MINLEN..].copy_from_slice(quote);
    let src = in_first_addr(ifp).unwrap_or(Ipv4Addr::UNSPECIFIED);
    icmp_send(src, p.src_addr(), body);
}

/// `icmp_input`: `m` is a whole datagram whose header is `hl` bytes.
pub fn icmp_input(ifp: &Arc<Ifnet>, m: Mbuf, hl: usize) {
    super::VNET_INET.with(|inet| {
        let st = &inet.icmpstat.st;
        let d = m.data();
        let icmp = d.get(hl..).unwrap_or(&[]);
        if icmp.len() < ICMP_MINLEN {
            inc(&st.icps_tooshort);
            return;
        }
        let pkt = IcmpPacket::new_unchecked(icmp);
        if !pkt.verify_checksum() {
            inc(&st.icps_checksum);
            return;
        }
        let ty = pkt.msg_type();
        inet.icmpstat.inhist.inc(ty);
        let ip = Ipv4Packet::new_unchecked(d);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        match ty {
            ICMP_ECHO | ICMP_TSTAMP => {
                let bcast = dst.is_multicast() || in_broadcast(dst, ifp);
                if bcast && inet.icmp_bmcastecho.load(Ordering::Relaxed) == 0 {
                    if ty == ICMP_ECHO {
                        inc(&st.icps_bmcastecho);
                    } else {
                        inc(&st.icps_bmcasttstamp);
                    }
                } else if src.is_unspecified() || src.is_multicast() || in_broadcast_any(src) {
                    inc(&st.icps_badaddr);
                } else if !icmp_ratelimit_ok() {
                    // badport_bandlim: dropped, not offered to raw sockets.
                    return;
                } else {
                    let mut body = icmp.to_vec();
                    if ty == ICMP_ECHO {
                        body[0] = ICMP_ECHOREPLY;
                    } else if body.len() >= ICMP_TSLEN {
                        // Receive and transmit timestamps: ms since midnight UT.
                        body[0] = ICMP_TSTAMPREPLY;
                        let ms = ((getnow_ns() / 1_000_000) % 86_400_000) as u32;
                        body[12..16].copy_from_slice(&ms.to_be_bytes());
                        body[16..20].copy_from_slice(&ms.to_be_bytes());
                        body.truncate(ICMP_TSLEN);
                    } else {
                        inc(&st.icps_badlen);
                        super::raw_ip::rip_input(ifp, &m);
                        return;
                    }
                    body[2] = 0;
                    body[3] = 0;
                    inc(&st.icps_reflect);
                    let from = if bcast {
                        in_first_addr(ifp).unwrap_or(Ipv4Addr::UNSPECIFIED)
                    } else {
                        reflect_src(dst, Some(ifp))
                    };
                    icmp_send(from, src, body);
                    // Turned into the reply: a request that was answered is not
                    // also offered to raw sockets (ping's own socket would hold
                    // it beside the reply and a large reply would not fit).
                    return;
                }
            }
            ICMP_UNREACH | ICMP_TIMXCEED | ICMP_PARAMPROB | ICMP_SOURCEQUENCH => {
                let code_ok = match ty {
                    ICMP_UNREACH => pkt.msg_code() <= ICMP_UNREACH_PRECEDENCE_CUTOFF,
                    ICMP_TIMXCEED => pkt.msg_code() <= ICMP_TIMXCEED_REASS,
                    ICMP_PARAMPROB => pkt.msg_code() <= ICMP_PARAMPROB_LENGTH,
                    _ => true,
                };
                if !code_ok {
                    inc(&st.icps_badcode);
                } else if let Ok(q) = IcmpQuote::parse(pkt.data()) {
                    super::udp_usrreq::udp_ctlinput(ty, pkt.msg_code(), &q);
                    super::tcp_subr::tcp_ctlinput(ty, pkt.msg_code(), &q);
                } else {
                    inc(&st.icps_badlen);
                }
            }
            _ => {}
        }
        super::raw_ip::rip_input(ifp, &m);
    })
}

/// ICMP timestamp request.
pub const ICMP_TSTAMP: u8 = 13;
/// ICMP timestamp reply.
pub const ICMP_TSTAMPREPLY: u8 = 14;
/// Length of a timestamp message.
pub const ICMP_TSLEN: usize = 20;
