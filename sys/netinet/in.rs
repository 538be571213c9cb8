//! IPv4 interface addresses (FreeBSD's sys/netinet/in.c): `in_control` for
//! `SIOCAIFADDR` / `SIOCDIFADDR` / `SIOCGIF*ADDR`, the interface routes each
//! address brings, and the address predicates the rest of IPv4 asks
//! (`in_localaddr`, `in_broadcast`, `ifa_ifwithaddr`).
//!
//! Addresses live on the interface (`ifp.addrs`, shared with IPv6), in the order
//! they were added; an address on an Ethernet interface that is up is announced
//! with a gratuitous ARP.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use vimage_abi::net_if::*;
use vimage_abi::netinet_in::*;
use vimage_abi::Errno;

use super::in_rt::{
    in_rt_add, in_rt_delete, in_rt_newaddr, InGateway, RTF_CLONING, RTF_GATEWAY, RTF_HOST,
    RTF_STATIC, RTF_UP,
};
use vimage_net::if_var::{IfAddr, Ifnet};
use vimage_net::r#if::{ifunit, vnet_net};

/// One IPv4 address of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InIfaddr {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub plen: u8,
    /// Broadcast (broadcast links) or destination (point-to-point) address.
    pub dst: Option<Ipv4Addr>,
}

impl InIfaddr {
    /// The network number (`ia_subnet`).
    pub fn net(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(in_plen2mask(self.plen)))
    }
    /// Whether `a` is on this address's subnet.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let m = u32::from(in_plen2mask(self.plen));
        u32::from(a) & m == u32::from(self.addr) & m
    }
}

fn to_in(a: &IfAddr) -> Option<InIfaddr> {
    match a.addr {
        IpAddr::V4(addr) => Some(InIfaddr {
            addr,
            plen: a.plen,
            dst: match a.dst {
                Some(IpAddr::V4(d)) => Some(d),
                _ => None,
            },
        }),
        IpAddr::V6(_) => None,
    }
}

/// The first of `ifp`'s IPv4 addresses for which `f` answers, visited in order
/// under the list's read lock (no copies: this is on every packet's path).
pub fn in_find<R>(ifp: &Ifnet, mut f: impl FnMut(&InIfaddr) -> Option<R>) -> Option<R> {
    let g = ifp.addrs.read().ok()?;
    g.iter().filter_map(to_in).find_map(|ia| f(&ia))
}

/// The IPv4 addresses of `ifp`, in order.
pub fn in_addrs(ifp: &Ifnet) -> Vec<InIfaddr> {
    ifp.addrs
        .read()
        .map(|g| g.iter().filter_map(to_in).collect())
        .unwrap_or_default()
}

/// The first IPv4 address of `ifp` (`IFP_TO_IA`).
pub fn in_first_addr(ifp: &Ifnet) -> Option<Ipv4Addr> {
    in_find(ifp, |a| Some(a.addr))
}

/// Every (interface, address) pair of curvnet (`in_ifaddrhead`).
pub fn in_ifaddrs() -> Vec<(Arc<Ifnet>, InIfaddr)> {
    let mut v = Vec::new();
    for ifp in vnet_net().list() {
        for a in in_addrs(&ifp) {
            v.push((ifp.clone(), a));
        }
    }
    v
}

/// The interface holding address `a` in curvnet (`ifa_ifwithaddr`): one
/// lookup in the address hash.
pub fn ifa_ifwithaddr(a: Ipv4Addr) -> Option<Arc<Ifnet>> {
    super::VNET_INET.try_with(|inet| {
        let g = inet.ifaddrhash.read().ok()?;
        let ifp = g.get(&a)?.upgrade();
        ifp
    })?
}

/// Whether `a` is one of curvnet's own addresses.
pub fn in_localaddr(a: Ipv4Addr) -> bool {
    super::VNET_INET
        .try_with(|inet| inet.ifaddrhash.read().is_ok_and(|g| g.contains_key(&a)))
        .unwrap_or(false)
}

/// Enter (`Some`) or remove (`None`) address `a` in curvnet's address hash.
fn in_ifaddrhash_set(a: Ipv4Addr, ifp: Option<&Arc<Ifnet>>) {
    super::VNET_INET.try_with(|inet| {
        let Ok(mut g) = inet.ifaddrhash.write() else {
            return;
        };
        match ifp {
            Some(ifp) => {
                g.insert(a, Arc::downgrade(ifp));
            }
            None => {
                g.remove(&a);
            }
        };
    });
}

/// Whether `a` is a broadcast address on `ifp` (`in_broadcast`): all ones, all
/// zeros, or the subnet broadcast or network address of one of its addresses on a
/// broadcast link.
pub fn in_broadcast(a: Ipv4Addr, ifp: &Ifnet) -> bool {
    if a == Ipv4Addr::BROADCAST || a == Ipv4Addr::UNSPECIFIED {
        return true;
    }
    if ifp.flags() & IFF_BROADCAST == 0 {
        return false;
    }
    in_find(ifp, |ia| {
        (ia.plen < 31 && (Some(a) == ia.dst || (ia.contains(a) && (a == ia.net())))).then_some(())
    })
    .is_some()
}

/// Whether `a` is a broadcast address on any interface of curvnet.
pub fn in_broadcast_any(a: Ipv4Addr) -> bool {
    if a == Ipv4Addr::BROADCAST {
        return true;
    }
    let net = vnet_net();
    let list = net.ifnet.read();
    list.is_ok_and(|l| l.iter().any(|i| in_broadcast(a, i)))
}

/// Whether the ioctl is an IPv4 address ioctl [`in_control`] handles.
pub fn in_control_handles(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCAIFADDR | SIOCDIFADDR | SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR | SIOCDARP
    )
}

/// `in_control`: the IPv4 address ioctls on curvnet.  Returns the copied-out
/// parameter.
pub fn in_control(cmd: u32, data: &[u8]) -> Result<Vec<u8>, Errno> {
    match cmd {
        SIOCAIFADDR => {
            let r = InAliasReq::from_bytes(data)?;
            let ifp = ifunit(&r.name).ok_or(Errno::ENXIO)?;
            let addr = r.addr.ok_or(Errno::EINVAL)?;
            in_aifaddr(&ifp, addr, r.mask, r.broadaddr)?;
            r.to_bytes()
        }
        SIOCDARP => {
            let r = ArpReq::from_bytes(data)?;
            let a = r.addr.ok_or(Errno::EINVAL)?;
            super::if_ether::arp_delete(a, &r.ifname)?;
            r.to_bytes()
        }
        _ => {
            let mut ifr = IfReq::from_bytes(data)?;
            let ifp = ifunit(&ifr.name).ok_or(Errno::ENXIO)?;
            if cmd == SIOCDIFADDR {
                let a = SockaddrIn::field(&ifr.data)?.filter(|a| !a.is_unspecified());
                in_difaddr(&ifp, a)?;
                return ifr.to_bytes();
            }
            let ia = in_addrs(&ifp)
                .into_iter()
                .next()
                .ok_or(Errno::EADDRNOTAVAIL)?;
            let v = match cmd {
                SIOCGIFADDR => ia.addr,
                SIOCGIFNETMASK => in_plen2mask(ia.plen),
                SIOCGIFBRDADDR => {
                    if ifp.flags() & IFF_BROADCAST == 0 {
                        return Err(Errno::EINVAL);
                    }
                    ia.dst.unwrap_or(Ipv4Addr::UNSPECIFIED)
                }
                _ => return Err(Errno::ENOTTY),
            };
            ifr.data = SockaddrIn::new(v, 0).to_bytes();
            ifr.to_bytes()
        }
    }
}

/// The routes an address brings: (destination, prefix length, gateway, flags).
fn ifa_routes(ifp: &Ifnet, ia: &InIfaddr) -> Vec<(Ipv4Addr, u8, InGateway, u32)> {
    let f = ifp.flags();
    if f & IFF_LOOPBACK != 0 {
        let mut v = vec![(ia.addr, 32, InGateway::Inet(ia.addr), RTF_UP | RTF_HOST)];
        if ia.addr == INADDR_LOOPBACK {
            v.push((
                Ipv4Addr::new(224, 0, 0, 0),
                4,
                InGateway::Inet(ia.addr),
                RTF_UP | RTF_GATEWAY | RTF_STATIC,
            ));
        }
        v
    } else if f & IFF_POINTOPOINT != 0 {
        match ia.dst {
            Some(d) => vec![(d, 32, InGateway::Inet(ia.addr), RTF_UP | RTF_HOST)],
            None => vec![],
        }
    } else {
        let cl = if f & IFF_BROADCAST != 0 {
            RTF_CLONING
        } else {
            0
        };
        vec![(ia.net(), ia.plen, InGateway::Link, RTF_UP | cl)]
    }
}

/// Add (or change) address `addr` on `ifp` (`SIOCAIFADDR`): without a mask an
/// existing address keeps its own and a new one gets the classful mask; the
/// broadcast address defaults to the subnet's.  The interface comes up; its
/// interface route is added (`EEXIST` if that prefix is already routed); an
/// Ethernet interface announces the address with a gratuitous ARP.
pub fn in_aifaddr(
    ifp: &Arc<Ifnet>,
    addr: Ipv4Addr,
    mask: Option<Ipv4Addr>,
    broadaddr: Option<Ipv4Addr>,
) -> Result<(), Errno> {
    if addr.is_multicast() || addr == Ipv4Addr::BROADCAST {
        return Err(Errno::EINVAL);
    }
    let existing = in_addrs(ifp).into_iter().find(|a| a.addr == addr);
    let plen = match mask.filter(|m| !m.is_unspecified() || existing.is_none()) {
        Some(m) => in_mask2plen(m).ok_or(Errno::EINVAL)?,
        None => existing
            .as_ref()
            .map(|e| e.plen)
            .unwrap_or_else(|| in_classful_plen(addr)),
    };
    if existing.is_none() {
        if let Some(other) = ifa_ifwithaddr(addr) {
            if !Arc::ptr_eq(&other, ifp) {
                return Err(Errno::EEXIST);
            }
        }
    }
    let mut ia = InIfaddr {
        addr,
        plen,
        dst: None,
    };
    let f = ifp.flags();
    if f & IFF_BROADCAST != 0 {
        ia.dst = Some(
            broadaddr
                .filter(|b| !b.is_unspecified())
                .unwrap_or_else(|| {
                    Ipv4Addr::from(u32::from(addr) | !u32::from(in_plen2mask(plen)))
                }),
        );
    } else if f & IFF_POINTOPOINT != 0 {
        ia.dst = broadaddr.filter(|b| !b.is_unspecified());
    }
    if let Some(old) = existing {
        // Changing an address: scrub the old one's routes first (`in_ifscrub`).
        in_ifscrub(ifp, &old);
        remove_ifaddr(ifp, old.addr);
    }
    let added = ifa_routes(ifp, &ia);
    let mut done: Vec<(Ipv4Addr, u8)> = Vec::new();
    for (dst, len, gw, flags) in added {
        match in_rt_add(dst, len, gw, ifp, Some(addr), flags) {
            Ok(()) => done.push((dst, len)),
            // The loopback's multicast route is static: a second lo0 address
            // finds it in place.
            Err(Errno::EEXIST) if flags & RTF_STATIC != 0 => {}
            Err(e) => {
                for (d, l) in done {
                    let _ = in_rt_delete(d, l);
                }
                return Err(e);
            }
        }
    }
    if let Ok(mut g) = ifp.addrs.write() {
        g.push(IfAddr {
            addr: IpAddr::V4(addr),
            plen,
            dst: ia.dst.map(IpAddr::V4),
            flags: 0,
        });
    }
    in_ifaddrhash_set(addr, Some(ifp));
    in_rt_newaddr(true, ifp, addr, plen);
    // The driver's SIOCSIFADDR: the interface comes up, and a down one
    // tells the protocols (its IPv6 link-local address appears, ARP
    // announces this address with the others); one already up announces
    // just this one.
    if !vimage_net::r#if::if_up(ifp) && (ifp.iftype == IFT_ETHER || ifp.iftype == IFT_L2VLAN) {
        super::if_ether::arp_ifinit(ifp, addr);
    }
    Ok(())
}

fn remove_ifaddr(ifp: &Ifnet, addr: Ipv4Addr) {
    if let Ok(mut g) = ifp.addrs.write() {
        g.retain(|a| a.addr != IpAddr::V4(addr));
    }
    in_ifaddrhash_set(addr, None);
}

/// Remove the routes and ARP entries an address brought (`in_ifscrub`).
fn in_ifscrub(ifp: &Arc<Ifnet>, ia: &InIfaddr) {
    for (dst, len, _, flags) in ifa_routes(ifp, ia) {
        if flags & RTF_STATIC != 0 {
            continue;
        }
        let _ = in_rt_delete(dst, len);
    }
    super::if_ether::arp_purge(ifp, Some((ia.net(), ia.plen)));
}

/// Delete address `a` from `ifp`, or its first IPv4 address when `a` is `None`
/// (`SIOCDIFADDR`); `EADDRNOTAVAIL` if there is no such address.
pub fn in_difaddr(ifp: &Arc<Ifnet>, a: Option<Ipv4Addr>) -> Result<(), Errno> {
    let list = in_addrs(ifp);
    let ia = match a {
        Some(a) => list.into_iter().find(|x| x.addr == a),
        None => list.into_iter().next(),
    }
    .ok_or(Errno::EADDRNOTAVAIL)?;
    remove_ifaddr(ifp, ia.addr);
    in_ifscrub(ifp, &ia);
    in_rt_newaddr(false, ifp, ia.addr, ia.plen);
    Ok(())
}

/// The INET module's interface-detach hook: the interface leaves curvnet (moved
/// to another vimage or destroyed), so its IPv4 addresses, their routes and its
/// ARP entries go.
pub fn in_ifdetach(ifp: &Arc<Ifnet>) {
    for ia in in_addrs(ifp) {
        let _ = in_difaddr(ifp, Some(ia.addr));
    }
    super::if_ether::arp_purge(ifp, None);
    super::in_rt::in_rt_purge_ifp(ifp);
}
