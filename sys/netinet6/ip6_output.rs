//! IPv6 output (FreeBSD's netinet6/ip6_output.c): route the packet, loop it
//! back when it is for this host, fragment it to the path MTU, and hand it to
//! the link layer through neighbour discovery ([`super::nd6::nd6_output`]).

use std::net::Ipv6Addr;
use std::sync::Arc;
use vimage_abi::Errno;

use super::in6::{in6_mcast_member, in6_route, inc, ip6_randomid, vnet_inet6, In6Route};
use super::ip6::{Ipv6FragHeader, Ipv6FragRepr, Ipv6Packet, Ipv6Repr, IP6_FRAG_LEN, IP6_HDR_LEN};
use crate::ip::{IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING};
use std::sync::atomic::Ordering;
use vimage_abi::net_if::IFF_LOOPBACK;
use vimage_net::ethernet::ETHERTYPE_IPV6;
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::Mbuf;
use vimage_net::pfil::{pfil_run_hooks, PfilAf, PfilDir};
use vimage_net::r#if::ifnet_byindex;

/// Largest IPv6 packet without a jumbo payload option.
pub const IPV6_MAXPACKET: usize = 65535;

/// What the sender asks of `ip6_output` beyond the packet.
#[derive(Clone, Debug, Default)]
pub struct Ip6OutOpts {
    /// Zone (interface index) of a scoped destination, or the interface a
    /// multicast packet leaves by.
    pub scope: u32,
    /// Fail with EMSGSIZE instead of fragmenting (`IPV6_DONTFRAG`).
    pub dontfrag: bool,
}

/// A whole IPv6 packet: fixed header from `src` to `dst` and `payload`.
pub fn ip6_build(src: Ipv6Addr, dst: Ipv6Addr, nxt: u8, hlim: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; IP6_HDR_LEN + payload.len()];
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: nxt,
        payload_len: payload.len(),
        hop_limit: hlim,
        traffic_class: 0,
        flow_label: 0,
    };
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]));
    b[IP6_HDR_LEN..].copy_from_slice(payload);
    b
}

/// `ip6_output` for a packet this host originates: its header is complete
/// (source chosen).  EHOSTUNREACH without a route, ENETDOWN when the interface
/// is down, EMSGSIZE when too big and not to be fragmented.
pub fn ip6_output(pkt: Vec<u8>, opts: &Ip6OutOpts) -> Result<(), Errno> {
    ip6_output_mloop(pkt, opts, false)
}

/// [`ip6_output`] of a socket with multicast options: a packet to a group
/// leaves by interface `opts.scope` when one is given (`IPV6_MULTICAST_IF`,
/// or the destination's zone), else the route's; with `mloop`
/// (`IPV6_MULTICAST_LOOP`) a copy goes to this host's members of the group
/// on that interface (`ip6_mloopback`).  Link-local and interface-local
/// groups never leave a loopback interface.
pub fn ip6_output_mloop(pkt: Vec<u8>, opts: &Ip6OutOpts, mloop: bool) -> Result<(), Errno> {
    let st = vnet_inet6();
    let (dst, len) = {
        let p = Ipv6Packet::new_checked(&pkt[..])?;
        (p.dst_addr(), pkt.len())
    };
    if len > IPV6_MAXPACKET + IP6_HDR_LEN {
        inc(&st.ip6stat.ip6s_odropped);
        return Err(Errno::EMSGSIZE);
    }
    let rt = if dst.is_multicast() && opts.scope != 0 {
        // The multicast interface is the way out, whatever the table says.
        ifnet_byindex(opts.scope)
            .map(|ifp| In6Route {
                mtu: ifp.mtu.load(Ordering::Relaxed),
                ifp,
                nexthop: dst,
                ifa: None,
            })
            .ok_or(Errno::ENXIO)
    } else {
        in6_route(&dst, opts.scope)
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            inc(&st.ip6stat.ip6s_noroute);
            return Err(e);
        }
    };
    inc(&st.ip6stat.ip6s_localout);
    if dst.is_multicast() {
        if mloop && in6_mcast_member(&rt.ifp, &dst) {
            ip6_mloopback(&rt.ifp, &pkt);
        }
        if rt.ifp.flags() & IFF_LOOPBACK != 0 {
            return Ok(());
        }
        // A group packet goes to the group (its MAC is mapped), never to
        // a gateway a default route names.
        return ip6_output_ifp(pkt, &rt.ifp, dst, rt.mtu as usize, opts.dontfrag);
    }
    ip6_output_ifp(pkt, &rt.ifp, rt.nexthop, rt.mtu as usize, opts.dontfrag)
}

/// `ip6_mloopback`: a copy of group packet `pkt` is input on `ifp`, as if
/// it came back from the link, for the local members there.
fn ip6_mloopback(ifp: &Arc<Ifnet>, pkt: &[u8]) {
    let _ = ifp
        .inq
        .enqueue_proto(ifp.clone(), ETHERTYPE_IPV6, Mbuf::from_slice(pkt));
}

/// Send `pkt` out of `ifp` to `nexthop`, fragmenting it to `mtu` unless
/// `dontfrag` (forwarding passes `true`: routers never fragment).  EACCES
/// when a packet filter refuses it.
pub fn ip6_output_ifp(
    pkt: Vec<u8>,
    ifp: &Arc<Ifnet>,
    nexthop: Ipv6Addr,
    mtu: usize,
    dontfrag: bool,
) -> Result<(), Errno> {
    let st = vnet_inet6();
    // pfil(9): the vnet's packet filters (ipfw) see the packet about to
    // leave by `ifp`, whole (before fragmentation), sent or forwarded; one
    // they refuse is not sent and the sender gets EACCES.
    if pfil_run_hooks(PfilAf::Inet6, &pkt, PfilDir::Out, ifp).is_drop() {
        return Err(Errno::EACCES);
    }
    if pkt.len() <= mtu {
        return super::nd6::nd6_output(ifp, nexthop, Mbuf::from_slice(&pkt));
    }
    if dontfrag {
        inc(&st.ip6stat.ip6s_cantfrag);
        return Err(Errno::EMSGSIZE);
    }
    let frags = match ip6_fragment(&pkt, mtu) {
        Ok(f) => f,
        Err(e) => {
            inc(&st.ip6stat.ip6s_cantfrag);
            return Err(e);
        }
    };
    inc(&st.ip6stat.ip6s_fragmented);
    for f in frags {
        inc(&st.ip6stat.ip6s_ofragments);
        super::nd6::nd6_output(ifp, nexthop, Mbuf::from_slice(&f))?;
    }
    Ok(())
}

/// The length of the unfragmentable part of `pkt` (header, hop-by-hop and
/// routing headers) and the offset of the next-header byte that ends it.
fn unfragmentable(pkt: &[u8]) -> Result<(usize, usize), Errno> {
    let mut nxt = pkt.get(6).copied().ok_or(Errno::EINVAL)?;
    let mut nxt_at = 6;
    let mut off = IP6_HDR_LEN;
    while nxt == IPPROTO_HOPOPTS || nxt == IPPROTO_ROUTING {
        let h = pkt.get(off..off + 2).ok_or(Errno::EINVAL)?;
        let hl = (usize::from(h[1]) + 1) * 8;
        if off + hl > pkt.len() {
            return Err(Errno::EINVAL);
        }
        nxt = h[0];
        nxt_at = off;
        off += hl;
    }
    Ok((off, nxt_at))
}

/// Cut `pkt` into fragments of at most `mtu` bytes (RFC 8200 4.5): each
/// carries the unfragmentable part, a fragment header with one identification,
/// and a multiple of 8 bytes of the rest (the last one what remains).
pub fn ip6_fragment(pkt: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let (ulen, nxt_at) = unfragmentable(pkt)?;
    let room = mtu
        .checked_sub(ulen + IP6_FRAG_LEN)
        .ok_or(Errno::EMSGSIZE)?
        & !7;
    if room < 8 {
        return Err(Errno::EMSGSIZE);
    }
    let orig_nxt = pkt[nxt_at];
    let ident = ip6_randomid();
    let body = &pkt[ulen..];
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < body.len() {
        let n = room.min(body.len() - off);
        let more = off + n < body.len();
        let mut f = Vec::with_capacity(ulen + IP6_FRAG_LEN + n);
        f.extend_from_slice(&pkt[..ulen]);
        f[nxt_at] = IPPROTO_FRAGMENT;
        let plen = (ulen - IP6_HDR_LEN + IP6_FRAG_LEN + n) as u16;
        f[4..6].copy_from_slice(&plen.to_be_bytes());
        let mut fh = [0u8; IP6_FRAG_LEN];
        Ipv6FragRepr {
            next_header: orig_nxt,
            frag_offset: off as u16,
            more_frags: more,
            ident,
        }
        .emit(&mut Ipv6FragHeader::new_unchecked(&mut fh[..]));
        f.extend_from_slice(&fh);
        f.extend_from_slice(&body[off..off + n]);
        out.push(f);
        off += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IPPROTO_UDP;

    #[test]
    fn fragments_fit_and_cover_the_payload() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let p = ip6_build(
            "a:1::1".parse().unwrap(),
            "a:2::2".parse().unwrap(),
            IPPROTO_UDP,
            64,
            &payload,
        );
        let reg = vimage_kern::vnet::ModRegistry::new();
        let _l = vimage_kern::kern_syscall::test_lock();
        reg.register(&[
            &vimage_net::r#if::VNET_NET_MODINFO,
            &vimage_net::route::VNET_ROUTE_MODINFO,
            &super::super::in6::VNET_INET6_MODINFO,
        ])
        .unwrap();
        let v = reg.vnet_alloc("t").unwrap();
        let frags = {
            let _cv = vimage_kern::CurvnetGuard::set(&v);
            ip6_fragment(&p, 1280).unwrap()
        };
        assert_eq!(frags.len(), 3);
        let mut got = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1280);
            let ip = Ipv6Packet::new_checked(&f[..]).unwrap();
            assert_eq!(ip.next_header(), IPPROTO_FRAGMENT);
            let fh = Ipv6FragHeader::new_checked(ip.payload()).unwrap();
            let r = Ipv6FragRepr::parse(&fh).unwrap();
            assert_eq!(r.next_header, IPPROTO_UDP);
            assert_eq!(usize::from(r.frag_offset), got.len());
            assert_eq!(r.more_frags, i < 2);
            got.extend_from_slice(fh.payload());
        }
        assert_eq!(got, payload);
        assert_eq!(ip6_fragment(&p, 40), Err(Errno::EMSGSIZE));
        reg.vnet_destroy(&v);
    }
}
