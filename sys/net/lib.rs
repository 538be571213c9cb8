//! vkernel's network layer (FreeBSD's sys/net): interfaces, cloners and
//! loopback, Ethernet framing, routing tables and routing sockets, netisr,
//! and the packet filter hooks a firewall plugs into (pfil).
//!
//! It sits on the kernel core ([`vimage_kern`]) and knows no address
//! family's protocols: IPv4 and IPv6 plug their input routines, address
//! resolution and interface hooks in when their modules attach.  What this
//! layer contributes to a kernel is [`OPT_NET`].

use std::sync::Arc;

use vimage_abi::Errno;
use vimage_kern::kern_conf::KernOption;
use vimage_kern::uipc_socket::Domain;
use vimage_kern::vnet::ModRegistry;

pub mod ethernet;
pub mod r#if;
pub mod if_clone;
pub mod if_ethersubr;
pub mod if_loop;
pub mod if_var;
pub mod if_vlan_var;
/// Packet buffers (`sys/mbuf.h`), in their own crate so netgraph carries them too.
pub use vimage_mbuf as mbuf;
pub mod netisr;
pub mod pfil;
pub mod radix;
pub mod route;
pub mod rtsock;

/// The network layer as a kernel option: the NET, loopback and routing
/// modules, the `lo` cloner, the routing domain, the interface sysctls and
/// ioctls (`'i'`), and moving interfaces between vnets.
pub static OPT_NET: KernOption = KernOption {
    name: "NET",
    modules: &[
        &r#if::VNET_NET_MODINFO,
        &if_loop::VNET_LOIF_MODINFO,
        &route::VNET_ROUTE_MODINFO,
    ],
    attach: Some(net_attach),
    domains: net_domains,
    sysctls: &[r#if::if_sysctl_init, route::sysctl_init],
    ioctls: &[(b'i', r#if::ifioctl)],
    ifmove: Some(r#if::vnet_ifmove),
    klds: &["if_lo"],
};

fn net_attach(reg: &Arc<ModRegistry>) -> Result<(), Errno> {
    if_clone::if_clone_attach(reg, Arc::new(if_loop::LoCloner))
}

fn net_domains() -> Vec<Arc<dyn Domain>> {
    vec![Arc::new(rtsock::RouteDomain)]
}
