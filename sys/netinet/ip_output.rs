//! IPv4 output (FreeBSD's sys/netinet/ip_output.c): route the datagram, choose
//! its source address, fragment it to the interface MTU, hand it to the link
//! layer.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use vimage_abi::net_if::{IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, IFF_UP};
use vimage_abi::Errno;

use super::in_rt::in_rtalloc;
use super::ip::{Ipv4Packet, PseudoHdr, IP_DF, IP_HDR_LEN, IP_MF, IP_OFFMASK};
use super::ip_var::inc;
use super::r#in::{ifa_ifwithaddr, in_broadcast, in_find, in_first_addr};
use vimage_kern::vnet::CurvnetGuard;
use vimage_net::if_ethersubr::{if_output, looutput};
use vimage_net::if_var::Ifnet;
use vimage_net::mbuf::{Mbuf, CSUM_DATA_VALID, CSUM_DELAY_DATA, CSUM_TSO};
use vimage_net::pfil::{pfil_run_hooks, PfilAf, PfilDir};
use vimage_net::r#if::{if_findmulti, vnet_net};

/// The datagram is being forwarded: keep its identification and source.
pub const IP_FORWARDING: u32 = 0x1;
/// The caller built the whole header (`IP_HDRINCL`): keep a non-zero id.
pub const IP_RAWOUTPUT: u32 = 0x2;
/// Broadcasts are allowed (`SO_BROADCAST`).
pub const IP_ALLOWBROADCAST: u32 = 0x20;

/// Identification for the next datagram of curvnet.
pub fn ip_newid() -> u16 {
    super::VNET_INET.with(|inet| {
        let id = inet.ip_id.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            inet.ip_id.fetch_add(1, Ordering::Relaxed)
        } else {
            id
        }
    })
}

/// Build a datagram: a 20-byte header for `proto` from `src` to `dst` in front of
/// `payload` (identification and checksum are filled by [`ip_output`]).
pub fn ip_build(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, tos: u8, payload: &[u8]) -> Mbuf {
    ip_prepend(Mbuf::from_slice(payload), src, dst, proto, ttl, tos)
}

/// [`ip_build`] around a payload already in `m` (no copy while it has headroom).
pub fn ip_prepend(mut m: Mbuf, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, tos: u8) -> Mbuf {
    let plen = m.len();
    let h = m.prepend(IP_HDR_LEN);
    let total = (IP_HDR_LEN + plen).min(usize::from(u16::MAX)) as u16;
    let mut p = Ipv4Packet::new_unchecked(h);
    p.set_version(4);
    p.set_header_len(IP_HDR_LEN);
    p.set_tos(tos);
    p.set_total_len(total);
    p.set_ttl(ttl);
    p.set_protocol(proto);
    p.set_src_addr(src);
    p.set_dst_addr(dst);
    m
}

/// Where a datagram to `dst` goes: the interface, the next hop, the source
/// address to use, the MTU.
struct Hop {
    ifp: Arc<Ifnet>,
    nexthop: Ipv4Addr,
    src: Option<Ipv4Addr>,
    mtu: usize,
    local: bool,
}

fn route(dst: Ipv4Addr, src: Ipv4Addr) -> Result<Hop, Errno> {
    // One of our own addresses (not on a loopback): through lo0, as
    // FreeBSD's ARP entry for an own address points there
    // (`net.link.ether.inet.useloopback`), so packet filters see it leave
    // and arrive "via lo0" and lo0 counts it.  While lo0 is down (a new
    // vimage's) it is looped back on the address's interface instead, as
    // FreeBSD's lo0 would take it up or not.
    if let Some(ifp) = ifa_ifwithaddr(dst) {
        if ifp.flags() & IFF_LOOPBACK == 0 {
            let ifp = vimage_net::if_loop::loif()
                .filter(|lo| lo.flags() & IFF_UP != 0)
                .unwrap_or(ifp);
            return Ok(Hop {
                mtu: ifp.mtu.load(Ordering::Relaxed) as usize,
                ifp,
                nexthop: dst,
                src: Some(dst),
                local: true,
            });
        }
    }
    if dst == Ipv4Addr::BROADCAST {
        // The limited broadcast leaves the interface of the source address, or
        // the first broadcast interface that is up and has one.
        let ifp = if src.is_unspecified() {
            None
        } else {
            ifa_ifwithaddr(src)
        };
        let ifp = ifp.or_else(|| {
            vnet_net().list().into_iter().find(|i| {
                i.flags() & (IFF_BROADCAST | IFF_UP) == IFF_BROADCAST | IFF_UP
                    && in_first_addr(i).is_some()
            })
        });
        if let Some(ifp) = ifp {
            return Ok(Hop {
                mtu: ifp.mtu.load(Ordering::Relaxed) as usize,
                src: in_first_addr(&ifp),
                ifp,
                nexthop: dst,
                local: false,
            });
        }
    }
    let rt = in_rtalloc(dst).ok_or(Errno::EHOSTUNREACH)?;
    // The route's own address if it is still on the interface, else the
    // interface's address on the next hop's subnet, else its first.
    let nh = rt.nexthop(dst);
    let src = rt
        .ifa
        .and_then(|a| in_find(&rt.ifp, |x| (x.addr == a).then_some(a)))
        .or_else(|| in_find(&rt.ifp, |x| x.contains(nh).then_some(x.addr)))
        .or_else(|| in_first_addr(&rt.ifp));
    Ok(Hop {
        nexthop: rt.nexthop(dst),
        mtu: rt.mtu as usize,
        ifp: rt.ifp,
        src,
        local: false,
    })
}

/// The MTU of curvnet's path to `dst` and the `if_hwassist` of its interface
/// (`tcp_maxmtu`): the route's, or loopback's for one of our own addresses,
/// as FreeBSD routes those via lo0.
pub fn ip_pathmtu(dst: Ipv4Addr) -> Option<(u32, u32)> {
    let h = route(dst, Ipv4Addr::UNSPECIFIED).ok()?;
    Some(if h.local {
        (vimage_net::if_loop::LOMTU, vimage_net::if_loop::LO_HWASSIST)
    } else {
        (h.mtu as u32, h.ifp.hwassist.load(Ordering::Relaxed))
    })
}

/// The source address curvnet would use towards `dst` (`in_pcbladdr`):
/// `EHOSTUNREACH` without a route, `EADDRNOTAVAIL` without an address on the way.
pub fn ip_srcaddr(dst: Ipv4Addr) -> Result<Ipv4Addr, Errno> {
    route(dst, Ipv4Addr::UNSPECIFIED)?
        .src
        .ok_or(Errno::EADDRNOTAVAIL)
}

/// Queue `m` to curvnet's IP input as if it arrived on `ifp` (a datagram to one
/// of our own addresses).
fn ip_loopback(ifp: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), Errno> {
    if m.csum_flags & CSUM_DELAY_DATA != 0 {
        m.csum_flags = CSUM_DATA_VALID;
    }
    let inq = ifp.inq.clone();
    let ifp = ifp.clone();
    let vnet = ifp.vnet();
    let ok = inq.enqueue(move || {
        if vnet.is_alive() {
            let _cv = CurvnetGuard::set(&vnet);
            super::ip_input::ip_input(&ifp, m);
        }
    });
    if ok {
        Ok(())
    } else {
        Err(Errno::ENOBUFS)
    }
}

/// What a socket's multicast options ask of [`ip_output_opt`] for a datagram
/// to a group (the part of `struct ip_moptions` output reads).
#[derive(Clone, Debug, Default)]
pub struct IpMcastOut {
    /// `imo_multicast_ifp`: the interface to leave by (`None`: the route's).
    pub ifp: Option<Arc<Ifnet>>,
    /// `imo_multicast_loop`: a copy goes to this host's members of the group
    /// on that interface.
    pub loop_: bool,
}

/// Where a datagram to group `dst` leaves: the socket's chosen interface,
/// else the route's; the next hop is the group itself (its MAC is mapped),
/// the source the interface's first address.  `ENETUNREACH` for an
/// interface without `IFF_MULTICAST`, as FreeBSD.
fn route_mcast(dst: Ipv4Addr, src: Ipv4Addr, ifp: Option<&Arc<Ifnet>>) -> Result<Hop, Errno> {
    let ifp = match ifp {
        Some(i) => i.clone(),
        None => in_rtalloc(dst).ok_or(Errno::ENETUNREACH)?.ifp,
    };
    if ifp.flags() & IFF_MULTICAST == 0 {
        return Err(Errno::ENETUNREACH);
    }
    let src = if src.is_unspecified() {
        in_first_addr(&ifp)
    } else {
        Some(src)
    };
    Ok(Hop {
        mtu: ifp.mtu.load(Ordering::Relaxed) as usize,
        ifp,
        nexthop: dst,
        src,
        local: false,
    })
}

/// The source address curvnet would use for a datagram to group `dst`
/// leaving by `ifp` (or the route's interface): `in_pcbladdr` with the
/// socket's `IP_MULTICAST_IF`.
pub fn ip_srcaddr_mcast(dst: Ipv4Addr, ifp: Option<&Arc<Ifnet>>) -> Result<Ipv4Addr, Errno> {
    route_mcast(dst, Ipv4Addr::UNSPECIFIED, ifp)?
        .src
        .ok_or(Errno::EADDRNOTAVAIL)
}

/// `ip_mloopback`: a copy of the multicast datagram `m` (header complete)
/// goes to curvnet's input as if it arrived on `ifp`, for the local
/// members of its group there.
fn ip_mloopback(ifp: &Arc<Ifnet>, m: &Mbuf) {
    let mut c = Mbuf::from_slice(m.data());
    c.csum_flags = m.csum_flags;
    c.csum_data = m.csum_data;
    let _ = ip_loopback(ifp, c);
}

/// `ip_output`: send the datagram in `m` (a complete IPv4 header and payload).
/// Sets identification (unless forwarding, or a raw header that has one), fills
/// an unspecified source from the route, and fragments to the MTU.  Errors:
/// `EHOSTUNREACH` (no route), `EACCES` (broadcast without `SO_BROADCAST`),
/// `EMSGSIZE` (too big with DF), `ENETDOWN`, `EHOSTDOWN` (ARP gave up),
/// `EACCES` (a packet filter refused it).  A datagram to a group leaves
/// by the route's interface and loops back to local members.
pub fn ip_output(m: Mbuf, flags: u32) -> Result<(), Errno> {
    ip_output_opt(m, flags, None)
}

/// [`ip_output`] with a socket's multicast options `mo` for a datagram to
/// a group (`ip_output`'s `imo`): the interface it leaves by, and whether
/// it loops back to this host's members there (`IP_MULTICAST_LOOP`, on
/// without options).  A group datagram never leaves a loopback interface
/// twice, nor with TTL 0 (it is then only looped back).
pub fn ip_output_opt(mut m: Mbuf, flags: u32, mo: Option<&IpMcastOut>) -> Result<(), Errno> {
    super::VNET_INET.with(|inet| {
        let (dst, src, hl, id) = {
            let p = Ipv4Packet::new_checked(m.data()).map_err(|_| Errno::EINVAL)?;
            (p.dst_addr(), p.src_addr(), p.header_len(), p.ident())
        };
        if flags & IP_FORWARDING == 0 {
            inc(&inet.ipstat.ips_localout);
            if flags & IP_RAWOUTPUT == 0 || id == 0 {
                let nid = ip_newid();
                Ipv4Packet::new_unchecked(m.data_mut()).set_ident(nid);
            }
        }
        let mcast = dst.is_multicast();
        let hop = match if mcast {
            route_mcast(dst, src, mo.and_then(|o| o.ifp.as_ref()))
        } else {
            route(dst, src)
        } {
            Ok(h) => h,
            Err(e) => {
                inc(&inet.ipstat.ips_noroute);
                return Err(e);
            }
        };
        if in_broadcast(dst, &hop.ifp) && flags & (IP_ALLOWBROADCAST | IP_FORWARDING) == 0 {
            return Err(Errno::EACCES);
        }
        if src.is_unspecified() {
            let s = hop.src.ok_or(Errno::EADDRNOTAVAIL)?;
            Ipv4Packet::new_unchecked(m.data_mut()).set_src_addr(s);
        }
        if hop.ifp.flags() & IFF_UP == 0 && !hop.local {
            inc(&inet.ipstat.ips_odropped);
            return Err(Errno::ENETDOWN);
        }
        Ipv4Packet::new_unchecked(m.data_mut()).fill_checksum();
        if mcast {
            // Local members of the group on the way out get their copy
            // (this host forwards no multicast: no mrouter to offer it to).
            if mo.is_none_or(|o| o.loop_) && if_findmulti(&hop.ifp, IpAddr::V4(dst)) {
                ip_mloopback(&hop.ifp, &m);
            }
            let ttl = Ipv4Packet::new_unchecked(m.data()).ttl();
            if ttl == 0 || hop.ifp.flags() & IFF_LOOPBACK != 0 {
                return Ok(());
            }
        }
        // pfil(9): the vnet's packet filters (ipfw) see the datagram about
        // to leave by `hop.ifp`, whole (before fragmentation); one they
        // refuse is not sent and the sender gets EACCES, as FreeBSD's
        // ip_output returns the filter's error.
        if pfil_run_hooks(PfilAf::Inet, m.data(), PfilDir::Out, &hop.ifp).is_drop() {
            return Err(Errno::EACCES);
        }
        if hop.local {
            // Looped to an own address, whole: whatever was left undone (the
            // transport checksum, segmentation) is never needed, as the data
            // never leaves memory.  Through lo0 (counted there) when it is
            // up, else on the address's interface (ip_loopback tells the
            // input side the data is valid).
            return if hop.ifp.flags() & IFF_LOOPBACK != 0 {
                looutput(&hop.ifp, m)
            } else {
                ip_loopback(&hop.ifp, m)
            };
        }
        let hwassist = hop.ifp.hwassist.load(Ordering::Relaxed);
        if m.csum_flags & CSUM_TSO != 0 && hwassist & CSUM_TSO == 0 {
            // A TSO segment routed out an interface without the offload (the
            // route changed under the connection, or it is being forwarded):
            // cut it here, as the interface would have.
            let mut segs = Vec::new();
            super::tcp_tso::tcp_tso_segment(m, &mut segs);
            for s in segs {
                ip_output_hop(inet, &hop, s, hl, hwassist)?;
            }
            return Ok(());
        }
        ip_output_hop(inet, &hop, m, hl, hwassist)
    })
}

/// The end of [`ip_output`] for one datagram with its header done: the
/// transport checksum unless the interface takes it over, then out whole, as
/// a TSO segment, or in fragments.
fn ip_output_hop(
    inet: &super::VnetInet,
    hop: &Hop,
    mut m: Mbuf,
    hl: usize,
    hwassist: u32,
) -> Result<(), Errno> {
    if m.csum_flags & CSUM_DELAY_DATA != 0 {
        // The transport left its checksum to us (`CSUM_TCP`).  An interface
        // whose frames stay in this host's memory (a loopback, an eiface:
        // `if_hwassist`) takes it over; the input side is told the data is
        // valid, or the node where the frame leaves memory computes it.
        let offload = hwassist & CSUM_DELAY_DATA != 0
            || (hop.ifp.flags() & IFF_LOOPBACK != 0 && m.len() <= hop.mtu);
        if !offload {
            in_delayed_cksum(&mut m, hl);
        }
    }
    if m.len() <= hop.mtu || (m.csum_flags & CSUM_TSO != 0 && hwassist & CSUM_TSO != 0) {
        return if_output(&hop.ifp, m, IpAddr::V4(hop.nexthop));
    }
    if Ipv4Packet::new_unchecked(m.data()).dont_frag() {
        inc(&inet.ipstat.ips_cantfrag);
        return Err(Errno::EMSGSIZE);
    }
    let frags = ip_fragment(&m, hl, hop.mtu)?;
    inc(&inet.ipstat.ips_fragmented);
    for f in frags {
        inc(&inet.ipstat.ips_ofragments);
        if_output(&hop.ifp, f, IpAddr::V4(hop.nexthop))?;
    }
    Ok(())
}

/// `in_delayed_cksum`: compute the transport checksum the protocol left to
/// output (its field `m.csum_data` bytes into the payload after the `hl`-byte
/// IP header) and clear the request.
pub fn in_delayed_cksum(m: &mut Mbuf, hl: usize) {
    let off = m.csum_data as usize;
    m.csum_flags &= !CSUM_DELAY_DATA;
    let d = m.data_mut();
    let Ok(p) = Ipv4Packet::new_checked(&d[..]) else {
        return;
    };
    let (src, dst, proto) = (p.src_addr(), p.dst_addr(), p.protocol());
    let end = usize::from(p.total_len()).min(d.len());
    let Some(seg) = d.get_mut(hl..end) else {
        return;
    };
    if off + 2 > seg.len() {
        return;
    }
    seg[off..off + 2].fill(0);
    let c = PseudoHdr::V4 { src, dst }.checksum(proto, seg);
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// Cut datagram `m` (header length `hl`) into fragments of at most `mtu` bytes
/// (`ip_fragment`).  The first keeps the options; the others carry the bare
/// header.  A datagram that is itself a fragment keeps its offset and MF.
pub fn ip_fragment(m: &Mbuf, hl: usize, mtu: usize) -> Result<Vec<Mbuf>, Errno> {
    let d = m.data();
    let p = Ipv4Packet::new_checked(d).map_err(|_| Errno::EINVAL)?;
    let total = usize::from(p.total_len());
    let payload = &d[hl..total];
    let first_room = mtu.saturating_sub(hl) & !7;
    let other_room = mtu.saturating_sub(IP_HDR_LEN) & !7;
    if first_room < 8 || other_room < 8 {
        return Err(Errno::EMSGSIZE);
    }
    let orig_off = usize::from(p.flags_offset() & IP_OFFMASK) * 8;
    let orig_mf = p.flags_offset() & IP_MF != 0;
    let df = p.flags_offset() & IP_DF;
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let first = off == 0;
        let room = if first { first_room } else { other_room };
        let n = room.min(payload.len() - off);
        let last = off + n == payload.len();
        let h = if first { hl } else { IP_HDR_LEN };
        let mut f = Mbuf::from_slice(&payload[off..off + n]);
        let hb = f.prepend(h);
        hb[..IP_HDR_LEN].copy_from_slice(&d[..IP_HDR_LEN]);
        if first {
            hb[IP_HDR_LEN..hl].copy_from_slice(&d[IP_HDR_LEN..hl]);
        }
        let mut q = Ipv4Packet::new_unchecked(hb);
        q.set_header_len(h);
        q.set_total_len((h + n) as u16);
        let mf = if last { orig_mf } else { true };
        let fo = (((orig_off + off) / 8) as u16 & IP_OFFMASK) | df | if mf { IP_MF } else { 0 };
        q.set_flags_offset(fo);
        q.fill_checksum();
        out.push(f);
        off += n;
    }
    Ok(out)
}
