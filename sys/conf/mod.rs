//! Kernel configurations (FreeBSD's `sys/conf` and `sys/amd64/conf/GENERIC`):
//! which modules a kernel is built with.  The kernel proper (`kern`) boots
//! whatever its configuration lists: it registers the vnet modules, the
//! interface cloners, the protocol domains and their sysctl subtrees it is
//! given, and never names a protocol itself.

use std::sync::Arc;

use vimage_abi::Errno;

use crate::kern::kern_sysctl::SysctlTree;
use crate::kern::uipc_socket::Domain;
use crate::kern::vnet::{ModRegistry, VnetModInfo};

/// One kernel configuration.
pub struct KernConf {
    /// Its name (`GENERIC`).
    pub name: &'static str,
    /// Vnet modules, registered at boot in this order (`VNET_SYSINIT`).
    pub modules: &'static [&'static VnetModInfo],
    /// Interface cloners and other kernel-wide registrations, once per boot.
    pub attach: fn(&Arc<ModRegistry>) -> Result<(), Errno>,
    /// Protocol domains (`DOMAIN_SET`).
    pub domains: fn() -> Vec<Arc<dyn Domain>>,
    /// Sysctl subtrees of the modules, added at boot (`SYSCTL_NODE`s).
    pub sysctls: &'static [fn(&SysctlTree)],
    /// Names `kldstat` lists as compiled in.
    pub klds: &'static [&'static str],
}

/// The default configuration: interfaces with lo0, IPv4 with TCP, UDP, ICMP
/// and raw sockets, routing sockets, and IPv6 when built with `options INET6`
/// (the `inet6` feature).
pub static GENERIC: KernConf = KernConf {
    name: "GENERIC",
    modules: &[
        &crate::net::r#if::VNET_NET_MODINFO,
        &crate::net::if_loop::VNET_LOIF_MODINFO,
        &crate::netinet::VNET_INET_MODINFO,
        &crate::net::route::VNET_ROUTE_MODINFO,
        #[cfg(feature = "inet6")]
        &crate::netinet6::VNET_INET6_MODINFO,
        &crate::netinet::tcp_var::VNET_TCP_MODINFO,
    ],
    attach: generic_attach,
    domains: generic_domains,
    sysctls: &[
        crate::netinet::sysctl_init,
        crate::net::route::sysctl_init,
        #[cfg(feature = "inet6")]
        crate::netinet6::sysctl_init,
    ],
    klds: &["kernel", "if_lo", "inet", "vnet"],
};

fn generic_attach(reg: &Arc<ModRegistry>) -> Result<(), Errno> {
    reg.if_clone_attach(Arc::new(crate::net::if_loop::LoCloner))
}

fn generic_domains() -> Vec<Arc<dyn Domain>> {
    vec![
        Arc::new(crate::netinet::in_proto::InetDomain),
        #[cfg(feature = "inet6")]
        Arc::new(crate::netinet6::raw_ip6::In6Domain),
        Arc::new(crate::net::rtsock::RouteDomain),
    ]
}
