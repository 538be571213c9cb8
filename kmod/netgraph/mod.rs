//! Netgraph in the kernel: the framework module, netgraph sockets, and the node
//! types that touch interfaces (FreeBSD's sys/netgraph), each a loadable module.
//! The pure node types come from `vimage-netgraph` and are wrapped as modules
//! `ng_hub`, `ng_bridge`, … here.

pub mod ng_base;
pub mod ng_eiface;
pub mod ng_ether;
pub mod ng_iface;
pub mod ng_ksocket;
pub mod ng_socket;

use std::sync::Arc;
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;

/// Make the interface of an interface node (eiface, iface) in curvnet: the lowest
/// `prefixN` free as an interface name and as a node name, attached, with the node
/// named like it.  `driver` gets the node's vnet and ID.
pub(crate) fn node_ifnet(
    ctx: &mut vimage_netgraph::NgCtx<'_>,
    prefix: &str,
    iftype: u8,
    flags: u32,
    lladdr: Vec<u8>,
    driver: impl FnOnce(
        std::sync::Weak<vimage_kern::Vnet>,
        vimage_netgraph::NodeId,
    ) -> Box<dyn vimage_net::if_var::IfDriver>,
) -> Result<Arc<vimage_net::if_var::Ifnet>, Errno> {
    use vimage_net::r#if::{if_attach, if_free_unit_where};
    let vnet = vimage_kern::curvnet();
    let unit = if_free_unit_where(prefix, |n| !ctx.name_in_use(n));
    let name = format!("{prefix}{unit}");
    let ifp = vimage_net::if_var::Ifnet::new(
        &vnet,
        &name,
        prefix,
        iftype,
        flags,
        1500,
        lladdr,
        driver(Arc::downgrade(&vnet), ctx.node_id()),
    );
    if_attach(&ifp)?;
    let _ = ctx.name_self(&name);
    Ok(ifp)
}

/// Shutdown of an interface node: its interface goes with it.
pub(crate) fn node_ifnet_gone(ifp: &Arc<vimage_net::if_var::Ifnet>) {
    vimage_net::r#if::if_detach(ifp);
    ifp.driver.detached(ifp);
}

/// A NUL-terminated string reply.
pub(crate) fn c_string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The string up to the first NUL of an argument of at most `max` bytes.
pub(crate) fn from_c_string(b: &[u8], max: usize) -> Result<String, Errno> {
    if b.len() > max {
        return Err(Errno::EINVAL);
    }
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..n])
        .map(str::to_owned)
        .map_err(|_| Errno::EINVAL)
}

/// Every netgraph module for the linker catalog.
pub fn catalog() -> Vec<Arc<dyn KldModule>> {
    let mut v: Vec<Arc<dyn KldModule>> = vec![
        Arc::new(ng_base::NetgraphModule),
        Arc::new(ng_socket::NgSocketModule),
        Arc::new(ng_ether::NgEtherModule),
        Arc::new(ng_ksocket::NgKsocketModule),
        Arc::new(ng_base::NgTypeModule {
            file: "ng_eiface".into(),
            ty: Arc::new(ng_eiface::EifaceType),
        }),
        Arc::new(ng_base::NgTypeModule {
            file: "ng_iface".into(),
            ty: Arc::new(ng_iface::IfaceType),
        }),
    ];
    for t in vimage_netgraph::builtin_types() {
        if t.name() == "socket" {
            continue;
        }
        let file = format!("ng_{}", t.name());
        v.push(Arc::new(ng_base::NgTypeModule { file, ty: t }));
    }
    v
}

#[cfg(test)]
mod tests;
