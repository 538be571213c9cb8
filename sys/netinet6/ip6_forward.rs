//! IPv6 forwarding (FreeBSD's netinet6/ip6_forward.c), when
//! `net.inet6.ip6.forwarding` is 1: the hop limit goes down by one (a packet
//! that would leave with none gets a time exceeded), the route decides the
//! next hop (none: destination unreachable), link-local traffic never leaves
//! its link (beyond scope), and a packet too big for the next link is refused
//! with packet too big (routers do not fragment).

use std::net::Ipv6Addr;
use std::sync::Arc;
use vimage_abi::net_if::IFF_LOOPBACK;

use super::icmp6::{
    icmp6_error, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_BEYONDSCOPE, ICMP6_DST_UNREACH_NOROUTE,
    ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT,
};
use super::in6::{in6_is_linklocal, in6_is_scoped, in6_route, inc, vnet_inet6};
use super::ip6::{Ipv6Packet, IP6_HDR_LEN};
use vimage_net::if_var::Ifnet;

/// Hop limit decrement per hop.
pub const IPV6_HLIMDEC: u8 = 1;

/// `ip6_forward`: send on `pkt`, which arrived on `ifp` (zone `zone`) for
/// another host.
pub fn ip6_forward(ifp: &Arc<Ifnet>, zone: u32, mut pkt: Vec<u8>) {
    let st = vnet_inet6();
    let (src, dst, hlim) = {
        let p = Ipv6Packet::new_unchecked(&pkt[..]);
        (p.src_addr(), p.dst_addr(), p.hop_limit())
    };
    // Neither from nor to nowhere, nor across the edge of a link-local zone.
    if src.is_unspecified() || in6_is_scoped(&dst) || src == Ipv6Addr::LOCALHOST {
        inc(&st.ip6stat.ip6s_cantforward);
        return;
    }
    if hlim <= IPV6_HLIMDEC {
        inc(&st.ip6stat.ip6s_cantforward);
        icmp6_error(
            ifp,
            zone,
            &pkt,
            ICMP6_TIME_EXCEEDED,
            ICMP6_TIME_EXCEED_TRANSIT,
            0,
        );
        return;
    }
    let rt = match in6_route(&dst, 0) {
        Ok(rt) if rt.ifp.flags() & IFF_LOOPBACK == 0 => rt,
        _ => {
            inc(&st.ip6stat.ip6s_noroute);
            inc(&st.ip6stat.ip6s_cantforward);
            icmp6_error(
                ifp,
                zone,
                &pkt,
                ICMP6_DST_UNREACH,
                ICMP6_DST_UNREACH_NOROUTE,
                0,
            );
            return;
        }
    };
    if in6_is_linklocal(&src) && !Arc::ptr_eq(&rt.ifp, ifp) {
        inc(&st.ip6stat.ip6s_badscope);
        inc(&st.ip6stat.ip6s_cantforward);
        icmp6_error(
            ifp,
            zone,
            &pkt,
            ICMP6_DST_UNREACH,
            ICMP6_DST_UNREACH_BEYONDSCOPE,
            0,
        );
        return;
    }
    let mtu = (rt.mtu as usize).max(IP6_HDR_LEN);
    if pkt.len() > mtu {
        inc(&st.ip6stat.ip6s_cantfrag);
        icmp6_error(ifp, zone, &pkt, ICMP6_PACKET_TOO_BIG, 0, mtu as u32);
        return;
    }
    pkt[7] = hlim - IPV6_HLIMDEC;
    inc(&st.ip6stat.ip6s_forward);
    if super::ip6_output::ip6_output_ifp(pkt, &rt.ifp, rt.nexthop, mtu, true).is_err() {
        inc(&st.ip6stat.ip6s_odropped);
    }
}
