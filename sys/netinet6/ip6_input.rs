//! IPv6 input (FreeBSD's netinet6/ip6_input.c and dest6.c, route6.c): check
//! the header, process hop-by-hop options, decide whether the packet is for
//! this host (or forward it), then walk the extension headers to the upper
//! layer: destination options, routing (only with no segments left),
//! fragments (reassembled in [`super::frag6`]), ICMPv6, UDP, raw sockets.
//!
//! Malformed packets are dropped and counted in `ip6stat`; the ones RFC 8200
//! says to answer get an ICMPv6 parameter problem.

use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use vimage_abi::net_if::IFF_LOOPBACK;

use super::icmp6::{
    icmp6_error, icmp6_input, ICMP6_PARAMPROB_HEADER, ICMP6_PARAMPROB_NEXTHEADER,
    ICMP6_PARAMPROB_OPTION, ICMP6_PARAM_PROB,
};
use super::in6::{
    in6_ifawithaddr, in6_is_linklocal, in6_is_v4mapped, in6_localaddr, in6_mcast_member, inc,
    try_vnet_inet6,
};
use super::ip6::{
    Ipv6ExtHeader, Ipv6Packet, IP6OPT_PAD1, IP6OPT_PADN, IP6OPT_ROUTER_ALERT, IP6_HDR_LEN,
    IPV6_VERSION,
};
use crate::ip::{
    IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6, IPPROTO_NONE,
    IPPROTO_ROUTING, IPPROTO_UDP,
};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;
use vimage_net::pfil::{pfil_run_hooks, PfilAf, PfilDir};

/// Most extension headers walked in one packet before it is dropped.
pub const IP6_HDR_NESTLIMIT: usize = 32;

/// A packet on its way up, as the upper layers see it.
#[derive(Clone, Copy, Debug)]
pub struct Ip6In<'a> {
    /// The interface it arrived on.
    pub ifp: &'a Arc<Ifnet>,
    /// Zone (interface index) of its link-local addresses: the arrival
    /// interface, or for a packet looped back to one of our link-local
    /// addresses, the interface that address belongs to.
    pub zone: u32,
    /// The whole packet (header included; reassembled if it came in pieces).
    pub pkt: &'a [u8],
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit it arrived with.
    pub hlim: u8,
}

/// What an options header asks for.
enum OptVerdict {
    Pass,
    Drop,
    /// Drop and send a parameter problem (code, pointer).
    Problem(u8, u32),
}

/// Walk the options of the hop-by-hop or destination options header at `off`
/// (RFC 8200 4.2): padding and router alert are understood; an unknown option's
/// two high bits say skip, drop, or drop and complain (not to multicast for 11).
fn ip6_process_opts(pkt: &[u8], off: usize, len: usize, hbh: bool, mcast: bool) -> OptVerdict {
    let end = off + len;
    let mut i = off + 2;
    while i < end {
        let t = pkt[i];
        if t == IP6OPT_PAD1 {
            i += 1;
            continue;
        }
        let Some(&l) = pkt.get(i + 1).filter(|_| i + 1 < end) else {
            return OptVerdict::Problem(ICMP6_PARAMPROB_HEADER, i as u32);
        };
        let l = usize::from(l);
        if i + 2 + l > end {
            return OptVerdict::Problem(ICMP6_PARAMPROB_HEADER, (i + 1) as u32);
        }
        match t {
            IP6OPT_PADN => {}
            IP6OPT_ROUTER_ALERT if hbh && l == 2 => {}
            _ => match t >> 6 {
                0 => {}
                1 => return OptVerdict::Drop,
                2 => return OptVerdict::Problem(ICMP6_PARAMPROB_OPTION, i as u32),
                _ if mcast => return OptVerdict::Drop,
                _ => return OptVerdict::Problem(ICMP6_PARAMPROB_OPTION, i as u32),
            },
        }
        i += 2 + l;
    }
    OptVerdict::Pass
}

/// `ip6_input`: an IPv6 packet arrived on `ifp` (link header stripped), with
/// curvnet set to the interface's vnet.
pub fn ip6_input(ifp: &Arc<Ifnet>, m: Mbuf) {
    let Some(st) = try_vnet_inet6() else { return };
    inc(&st.ip6stat.ip6s_total);
    let mut pkt = m.into_vec();
    if pkt.len() < IP6_HDR_LEN {
        inc(&st.ip6stat.ip6s_tooshort);
        ifp.counters.ierrors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let (src, dst, nxt, hlim, plen) = {
        let p = Ipv6Packet::new_unchecked(&pkt[..]);
        if p.version() != IPV6_VERSION {
            inc(&st.ip6stat.ip6s_badvers);
            ifp.counters.ierrors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        (
            p.src_addr(),
            p.dst_addr(),
            p.next_header(),
            p.hop_limit(),
            usize::from(p.payload_len()),
        )
    };
    if IP6_HDR_LEN + plen > pkt.len() || (plen == 0 && nxt == IPPROTO_HOPOPTS) {
        // Cut short, or a jumbogram (not supported).
        inc(&st.ip6stat.ip6s_tooshort);
        ifp.counters.ierrors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Link-layer padding goes.
    pkt.truncate(IP6_HDR_LEN + plen);
    let lo = ifp.flags() & IFF_LOOPBACK != 0;
    if src.is_multicast()
        || dst.is_unspecified()
        || in6_is_v4mapped(&src)
        || in6_is_v4mapped(&dst)
        || (!lo && (src == Ipv6Addr::LOCALHOST || dst == Ipv6Addr::LOCALHOST))
        || (!lo && dst.segments()[0] & 0xff0f == 0xff01)
    {
        inc(&st.ip6stat.ip6s_badscope);
        return;
    }
    // pfil(9): the vnet's packet filters (ipfw) see the packet before its
    // options are processed and it is delivered or forwarded; one they drop
    // goes silently (counted in the pfil head).
    if pfil_run_hooks(PfilAf::Inet6, &pkt, PfilDir::In, ifp).is_drop() {
        return;
    }
    let ifindex = ifp.index.load(Ordering::Relaxed);
    let zone = if lo && in6_is_linklocal(&dst) {
        in6_ifawithaddr(&dst, 0)
            .map(|(i, _)| i.index.load(Ordering::Relaxed))
            .unwrap_or(ifindex)
    } else {
        ifindex
    };
    let mut off = IP6_HDR_LEN;
    let mut nxt = nxt;
    let mut nxt_at = 6usize;
    if nxt == IPPROTO_HOPOPTS {
        let Ok(h) = Ipv6ExtHeader::new_checked(pkt.get(off..).unwrap_or(&[])) else {
            inc(&st.ip6stat.ip6s_toosmall);
            return;
        };
        let hl = h.header_len();
        match ip6_process_opts(&pkt, off, hl, true, dst.is_multicast()) {
            OptVerdict::Pass => {}
            OptVerdict::Drop => {
                inc(&st.ip6stat.ip6s_badoptions);
                return;
            }
            OptVerdict::Problem(code, ptr) => {
                inc(&st.ip6stat.ip6s_badoptions);
                icmp6_error(ifp, zone, &pkt, ICMP6_PARAM_PROB, code, ptr);
                return;
            }
        }
        nxt = h.next_header();
        nxt_at = off;
        off += hl;
    }
    if dst.is_multicast() {
        if !in6_mcast_member(ifp, &dst) {
            inc(&st.ip6stat.ip6s_notmember);
            return;
        }
    } else {
        match in6_localaddr(&dst, ifp) {
            Some((_, ia)) if ia.ready() => {}
            Some(_) => {
                // To an address still in DAD (or duplicated): not ours yet.
                return;
            }
            None => {
                if !st.forwarding() {
                    inc(&st.ip6stat.ip6s_cantforward);
                    return;
                }
                super::ip6_forward::ip6_forward(ifp, zone, pkt);
                return;
            }
        }
    }
    ip6_deliver(ifp, zone, pkt, off, nxt, nxt_at, src, dst, hlim);
}

/// Walk the extension headers from `off` (protocol `nxt`, named by the byte at
/// `nxt_at`) and hand the packet to its upper layer.
#[allow(clippy::too_many_arguments)]
fn ip6_deliver(
    ifp: &Arc<Ifnet>,
    zone: u32,
    mut pkt: Vec<u8>,
    mut off: usize,
    mut nxt: u8,
    mut nxt_at: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hlim: u8,
) {
    let Some(st) = try_vnet_inet6() else { return };
    for _ in 0..IP6_HDR_NESTLIMIT {
        match nxt {
            IPPROTO_HOPOPTS => {
                // Only right after the IPv6 header.
                inc(&st.ip6stat.ip6s_badoptions);
                icmp6_error(
                    ifp,
                    zone,
                    &pkt,
                    ICMP6_PARAM_PROB,
                    ICMP6_PARAMPROB_NEXTHEADER,
                    nxt_at as u32,
                );
                return;
            }
            IPPROTO_DSTOPTS | IPPROTO_ROUTING => {
                let Ok(h) = Ipv6ExtHeader::new_checked(pkt.get(off..).unwrap_or(&[])) else {
                    inc(&st.ip6stat.ip6s_toosmall);
                    return;
                };
                let hl = h.header_len();
                let next = h.next_header();
                if nxt == IPPROTO_DSTOPTS {
                    match ip6_process_opts(&pkt, off, hl, false, dst.is_multicast()) {
                        OptVerdict::Pass => {}
                        OptVerdict::Drop => {
                            inc(&st.ip6stat.ip6s_badoptions);
                            return;
                        }
                        OptVerdict::Problem(code, ptr) => {
                            inc(&st.ip6stat.ip6s_badoptions);
                            icmp6_error(ifp, zone, &pkt, ICMP6_PARAM_PROB, code, ptr);
                            return;
                        }
                    }
                } else if pkt.get(off + 3).copied().unwrap_or(0) != 0 {
                    // Segments left: this host would have to route it on; no
                    // routing header type is supported (type 0 is deprecated,
                    // RFC 5095).
                    icmp6_error(
                        ifp,
                        zone,
                        &pkt,
                        ICMP6_PARAM_PROB,
                        ICMP6_PARAMPROB_HEADER,
                        (off + 2) as u32,
                    );
                    return;
                }
                nxt_at = off;
                nxt = next;
                off += hl;
            }
            IPPROTO_FRAGMENT => {
                let Some((whole, n)) = super::frag6::frag6_input(ifp, zone, &pkt, off, nxt_at)
                else {
                    return;
                };
                pkt = whole;
                nxt = n;
            }
            IPPROTO_NONE => {
                inc(&st.ip6stat.ip6s_delivered);
                return;
            }
            _ => {
                let inp = Ip6In {
                    ifp,
                    zone,
                    pkt: &pkt,
                    src,
                    dst,
                    hlim,
                };
                match nxt {
                    IPPROTO_ICMPV6 => {
                        inc(&st.ip6stat.ip6s_delivered);
                        icmp6_input(&inp, off);
                    }
                    IPPROTO_UDP => {
                        inc(&st.ip6stat.ip6s_delivered);
                        super::udp6_usrreq::udp6_input(&inp, off);
                    }
                    crate::ip::IPPROTO_TCP => {
                        inc(&st.ip6stat.ip6s_delivered);
                        crate::tcp_input::tcp6_input(&inp, off);
                    }
                    _ => {
                        if super::raw_ip6::rip6_input(&inp, off, nxt) > 0 {
                            inc(&st.ip6stat.ip6s_delivered);
                        } else {
                            inc(&st.ip6stat.ip6s_noproto);
                            icmp6_error(
                                ifp,
                                zone,
                                &pkt,
                                ICMP6_PARAM_PROB,
                                ICMP6_PARAMPROB_NEXTHEADER,
                                nxt_at as u32,
                            );
                        }
                    }
                }
                return;
            }
        }
    }
    inc(&st.ip6stat.ip6s_toomanyhdr);
}
