//! Link-layer output (FreeBSD's sys/net/if_ethersubr.c `ether_output`, and
//! `if_simloop` of if_loop.c): a packet the stack sends to a next hop gets the
//! link header its interface needs and leaves through `ifp.output`.
//!
//! * Ethernet: the destination MAC of a multicast group is mapped; any other
//!   comes from the resolver the address family set in the vnet
//!   (`VnetNet::arpresolve`, `VnetNet::nd6_resolve`: ARP and the broadcast
//!   address for IPv4, neighbour discovery for IPv6); then the Ethernet header
//!   is prepended.
//! * Loopback: the packet is queued back to the same vnet's input for its family
//!   (deferred through netisr, never recursing).
//! * Point-to-point interfaces take the bare packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use vimage_abi::net_if::{IFF_UP, IFT_ETHER, IFT_L2VLAN, IFT_LOOP};
use vimage_abi::Errno;

use super::ethernet::{EtherAddr, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHER_HDR_LEN};
use super::if_var::Ifnet;
use super::mbuf::Mbuf;

/// IPv4 address resolution for Ethernet output (`arpresolve`, and the
/// interface's broadcast addresses): as [`Nd6ResolveFn`].
pub type ArpResolveFn = fn(&Arc<Ifnet>, Ipv4Addr, Mbuf) -> Result<Option<(EtherAddr, Mbuf)>, Errno>;

/// IPv6 neighbour resolution for Ethernet output: given the interface, the
/// next hop and the packet, either the MAC to send to (and the packet back), or
/// `None` when the packet was queued while resolution goes on.  An error is
/// what the sender sees (`EHOSTDOWN`…).
pub type Nd6ResolveFn = fn(&Arc<Ifnet>, Ipv6Addr, Mbuf) -> Result<Option<(EtherAddr, Mbuf)>, Errno>;

/// Send `m` (a network-layer packet) out `ifp` towards `nexthop`, adding the
/// link header the interface type needs (`ifp->if_output`).
pub fn if_output(ifp: &Arc<Ifnet>, m: Mbuf, nexthop: IpAddr) -> Result<(), Errno> {
    match ifp.iftype {
        IFT_LOOP => looutput(ifp, m),
        IFT_ETHER | IFT_L2VLAN => ether_output(ifp, m, nexthop),
        _ => {
            if ifp.flags() & IFF_UP == 0 {
                return Err(Errno::ENETDOWN);
            }
            ifp.output(m)
        }
    }
}

/// Loop `m` back to the input of `ifp`'s own vnet (`looutput` / `if_simloop`),
/// through netisr so the sender's call returns first.
pub fn looutput(ifp: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), Errno> {
    if ifp.flags() & IFF_UP == 0 {
        return Err(Errno::ENETDOWN);
    }
    // lo's `if_hwassist`/`IFCAP_RXCSUM` ([`LO_HWASSIST`]): a transport
    // checksum ip_output left undone is valid on the way back in, and a TSO
    // segment is taken whole, as the data never left memory.
    //
    // [`LO_HWASSIST`]: super::if_loop::LO_HWASSIST
    m.offload_input();
    let proto = match m.data().first().map(|b| b >> 4) {
        Some(4) => ETHERTYPE_IP,
        Some(6) => ETHERTYPE_IPV6,
        _ => return Err(Errno::EAFNOSUPPORT),
    };
    ifp.counters.opackets.fetch_add(1, Ordering::Relaxed);
    ifp.counters
        .obytes
        .fetch_add(m.len() as u64, Ordering::Relaxed);
    let inq = ifp.inq.clone();
    let ifp = ifp.clone();
    if !inq.enqueue_proto(ifp, proto, m) {
        return Err(Errno::ENOBUFS);
    }
    Ok(())
}

/// `ether_output`: resolve the destination MAC of `nexthop` and send.  A packet
/// waiting for ARP or neighbour discovery counts as sent.
pub fn ether_output(ifp: &Arc<Ifnet>, m: Mbuf, nexthop: IpAddr) -> Result<(), Errno> {
    if ifp.flags() & IFF_UP == 0 {
        return Err(Errno::ENETDOWN);
    }
    let (dst, m, ty) = match nexthop {
        IpAddr::V4(a) => {
            if a.is_multicast() {
                (EtherAddr::from_ipv4_multicast(a), m, ETHERTYPE_IP)
            } else {
                let f = super::r#if::VNET_NET.with(|n| n.arpresolve.get().copied());
                let Some(f) = f else {
                    return Err(Errno::EAFNOSUPPORT);
                };
                match f(ifp, a, m)? {
                    Some((mac, m)) => (mac, m, ETHERTYPE_IP),
                    None => return Ok(()),
                }
            }
        }
        IpAddr::V6(a) => {
            if a.is_multicast() {
                (EtherAddr::from_ipv6_multicast(&a), m, ETHERTYPE_IPV6)
            } else {
                let f = super::r#if::VNET_NET.with(|n| n.nd6_resolve.get().copied());
                let Some(f) = f else {
                    return Err(Errno::EAFNOSUPPORT);
                };
                match f(ifp, a, m)? {
                    Some((mac, m)) => (mac, m, ETHERTYPE_IPV6),
                    None => return Ok(()),
                }
            }
        }
    };
    ether_output_frame(ifp, m, dst, ty)
}

/// Prepend an Ethernet header (`dst`, the interface's address, `ethertype`) and
/// hand the frame to the interface.
pub fn ether_output_frame(
    ifp: &Arc<Ifnet>,
    mut m: Mbuf,
    dst: EtherAddr,
    ethertype: u16,
) -> Result<(), Errno> {
    let src = ifp.lladdr();
    let h = m.prepend(ETHER_HDR_LEN);
    h[0..6].copy_from_slice(dst.as_bytes());
    if src.len() == 6 {
        h[6..12].copy_from_slice(&src);
    }
    h[12..14].copy_from_slice(&ethertype.to_be_bytes());
    // Layer 2 filtering on the way out (`ether_output_frame`'s
    // `ether_ipfw_chk`): a refused frame fails the sender with EACCES.
    if !super::r#if::ether_pfil_pass(ifp, &m, super::pfil::PfilDir::Out) {
        return Err(Errno::EACCES);
    }
    ifp.output(m)
}
