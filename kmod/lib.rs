//! Loadable modules (FreeBSD's sys/modules): each is compiled into vkernel and
//! becomes active with `kldload NAME` (or when something needs it).  The
//! firewall (`ipfw`) lives in its own crate, `vimage-ipfw`, and is listed here.

pub mod if_edsc;
pub mod if_vlan;
pub mod netgraph;

use std::sync::Arc;
use vimage_kern::kern_linker::KldModule;

/// Every module vkernel can load, for its linker catalog.
pub fn catalog() -> Vec<Arc<dyn KldModule>> {
    let mut v: Vec<Arc<dyn KldModule>> = vec![
        Arc::new(if_edsc::EdscModule),
        Arc::new(if_vlan::VlanModule),
        // `ipfw.ko`: the firewall, its own crate above IPv4 and IPv6.
        Arc::new(vimage_ipfw::IpfwModule),
    ];
    v.extend(netgraph::catalog());
    v
}
