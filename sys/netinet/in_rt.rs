//! IPv4's view of the routing table: the few calls the IPv4 code makes (look up a
//! destination, add and delete interface routes, announce addresses), kept in one
//! place so the rest of netinet does not depend on the table's representation.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use vimage_abi::Errno;

use vimage_net::if_var::Ifnet;

pub use vimage_abi::route::{RTF_CLONING, RTF_GATEWAY, RTF_HOST, RTF_STATIC, RTF_UP};

/// Where a route sends packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InGateway {
    /// Directly attached: the destination itself is the next hop.
    Link,
    /// Through this router (or, for loopback host routes, this address).
    Inet(Ipv4Addr),
}

/// The result of a route lookup.
#[derive(Clone, Debug)]
pub struct InRoute {
    /// Outgoing interface.
    pub ifp: Arc<Ifnet>,
    /// Next hop when the route is through a gateway (`RTF_GATEWAY`).
    pub gateway: Option<Ipv4Addr>,
    /// The interface address the route belongs to (source address selection).
    pub ifa: Option<Ipv4Addr>,
    /// `RTF_*`.
    pub flags: u32,
    /// Path MTU (the route's, else the interface's).
    pub mtu: u32,
}

impl InRoute {
    /// The next hop for `dst` on this route.
    pub fn nexthop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        match self.gateway {
            Some(g) if self.flags & RTF_GATEWAY != 0 => g,
            _ => dst,
        }
    }
}

/// Longest-prefix match for `dst` in curvnet (`rtalloc`); counts a use.
pub fn in_rtalloc(dst: Ipv4Addr) -> Option<InRoute> {
    let rt = vimage_net::route::rtalloc(IpAddr::V4(dst))?;
    let gateway = match &rt.gateway {
        vimage_net::route::RtGateway::Inet(IpAddr::V4(g)) => Some(*g),
        _ => None,
    };
    let ifa = match rt.ifa {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    Some(InRoute {
        ifp: rt.ifp.clone(),
        gateway,
        ifa,
        flags: rt.flags,
        mtu: rt.path_mtu(),
    })
}

/// Add a route to `dst/plen` out `ifp` (`rtinit` / `rtrequest(RTM_ADD)`).
pub fn in_rt_add(
    dst: Ipv4Addr,
    plen: u8,
    gw: InGateway,
    ifp: &Arc<Ifnet>,
    ifa: Option<Ipv4Addr>,
    flags: u32,
) -> Result<(), Errno> {
    use vimage_net::route::{rt_add, RtGateway};
    let g = match gw {
        InGateway::Link => RtGateway::Link {
            ifindex: ifp.index.load(std::sync::atomic::Ordering::Relaxed),
        },
        InGateway::Inet(a) => RtGateway::Inet(IpAddr::V4(a)),
    };
    rt_add(IpAddr::V4(dst), plen, g, ifp, ifa.map(IpAddr::V4), flags).map(|_| ())
}

/// Delete the route to `dst/plen` (`ESRCH` if absent).
pub fn in_rt_delete(dst: Ipv4Addr, plen: u8) -> Result<(), Errno> {
    vimage_net::route::rt_delete(IpAddr::V4(dst), plen).map(|_| ())
}

/// Forget every route out `ifp` (the routing module's own interface-detach hook
/// does the same; this covers an interface that only loses its addresses).
pub fn in_rt_purge_ifp(ifp: &Arc<Ifnet>) {
    vimage_net::route::rt_purge_ifp(ifp);
}

/// Announce an address added to (`add`) or removed from `ifp` on routing sockets.
pub fn in_rt_newaddr(add: bool, ifp: &Arc<Ifnet>, addr: Ipv4Addr, plen: u8) {
    use vimage_abi::route::{RTM_DELADDR, RTM_NEWADDR};
    let cmd = if add { RTM_NEWADDR } else { RTM_DELADDR };
    vimage_net::route::rt_newaddrmsg(cmd, ifp, IpAddr::V4(addr), plen);
}
