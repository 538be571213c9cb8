//! Loadable modules (FreeBSD's sys/modules): each is compiled into vkernel and
//! becomes active with `kldload NAME` (or when something needs it).

pub mod if_edsc;
pub mod if_vlan;
pub mod netgraph;

use std::sync::Arc;
use vimage_kern::kern_linker::KldModule;

/// Every module vkernel can load, for its linker catalog.
pub fn catalog() -> Vec<Arc<dyn KldModule>> {
    let mut v: Vec<Arc<dyn KldModule>> =
        vec![Arc::new(if_edsc::EdscModule), Arc::new(if_vlan::VlanModule)];
    v.extend(netgraph::catalog());
    v
}
