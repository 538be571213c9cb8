//! ng_socket.ko: netgraph sockets (FreeBSD's sys/netgraph/ng_socket.c), how a
//! process joins its vnet's graph.
//!
//! A control socket (`NG_CONTROL`) creates a `socket` node; `bind` names it,
//! `sendto` delivers an `ng_mesg` to an address, `recvfrom` returns replies and
//! unsolicited messages with the sender as `[id]:`.  A data socket (`NG_DATA`) is
//! `connect`ed to that node by ID and moves frames through its hooks, addressed by
//! hook name.  The node goes when the last of its sockets closes — including when
//! the process dies and the kernel closes its descriptors.

use std::sync::Arc;

use vimage_abi::netgraph::*;
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::uipc_socket::{Domain, ProtoSocket, SockBuf};
use vimage_kern::vnet::Vnet;
use vimage_kern::{curvnet, Kernel};
use vimage_netgraph::ng_socket::SocketType;
use vimage_netgraph::NodeId;

use super::ng_base::{count_type_everywhere, ng_global, ng_with, require_netgraph, vnet_netgraph};

/// `SOCK_DGRAM`.
const SOCK_DGRAM: i32 = 2;

/// The `PF_NETGRAPH` protocol family.
pub struct NgDomain;

impl Domain for NgDomain {
    fn family(&self) -> i32 {
        PF_NETGRAPH
    }
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno> {
        if ty != SOCK_DGRAM {
            return Err(Errno::EPROTOTYPE);
        }
        let vnet = curvnet();
        let rcv = Arc::new(SockBuf::default());
        match proto {
            NG_CONTROL => {
                let node = ng_with(&vnet, |s| s.make_node(NG_SOCKET_NODE_TYPE))??;
                let st = vnet_netgraph(&vnet).ok_or(Errno::ENXIO)?;
                st.socks
                    .lock()
                    .map_err(|_| Errno::EDOOFUS)?
                    .entry(node)
                    .or_default()
                    .ctl = Some(rcv.clone());
                Ok(Box::new(NgPcb {
                    vnet,
                    control: true,
                    node: Some(node),
                    rcv,
                }))
            }
            NG_DATA => Ok(Box::new(NgPcb {
                vnet,
                control: false,
                node: None,
                rcv,
            })),
            _ => Err(Errno::EPROTONOSUPPORT),
        }
    }
}

/// One netgraph socket (`struct ngpcb`).
struct NgPcb {
    vnet: Arc<Vnet>,
    control: bool,
    node: Option<NodeId>,
    rcv: Arc<SockBuf>,
}

impl NgPcb {
    fn node(&self) -> Result<NodeId, Errno> {
        self.node.ok_or(Errno::ENOTCONN)
    }
}

fn addr_of(b: &[u8]) -> Result<String, Errno> {
    let a = SockaddrNg::from_bytes(b)?;
    if a.data.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok(a.data)
}

/// If `msg` is a mkpeer of a type not loaded, load `ng_TYPE` first (as FreeBSD's
/// ng_socket does), outside any space lock.  Loading a module acts on the whole
/// kernel, so only the default vimage may (as only it may `kldload`): inside
/// any other vimage a type not loaded is a type that does not exist, `ENOENT`
/// as the linker gives for a module it cannot find.  A failed load is the
/// mkpeer's error (`ENOENT` for `nosuchtype`, as FreeBSD's `ngctl mkpeer`).
fn autoload_for(vnet: &Arc<Vnet>, msg: &NgMesg) -> Result<(), Errno> {
    if msg.header.typecookie != NGM_GENERIC_COOKIE || msg.header.cmd != NGM_MKPEER {
        return Ok(());
    }
    let Ok(mp) = NgmMkpeer::from_bytes(&msg.data) else {
        // Malformed: the framework answers it.
        return Ok(());
    };
    let Some(g) = ng_global(vnet) else {
        return Ok(());
    };
    if g.types.find(&mp.type_name).is_some() {
        return Ok(());
    }
    let k = g.kernel.upgrade().ok_or(Errno::ENXIO)?;
    if !Arc::ptr_eq(&k.vimage0().vnet, vnet) {
        return Err(Errno::ENOENT);
    }
    if mp.type_name.is_empty()
        || !mp
            .type_name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        // No module file can have such a name.
        return Err(Errno::ENOENT);
    }
    match k.kldload(&format!("ng_{}", mp.type_name)) {
        // Loaded meanwhile by someone else: fine.
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    if g.types.find(&mp.type_name).is_none() {
        // The module did not provide the type (FreeBSD unloads it again).
        return Err(Errno::ENXIO);
    }
    Ok(())
}

impl ProtoSocket for NgPcb {
    fn bind(&mut self, addr: &[u8]) -> Result<(), Errno> {
        if !self.control {
            return Err(Errno::EINVAL);
        }
        let name = addr_of(addr)?;
        let node = self.node()?;
        ng_with(&self.vnet, |s| s.name_node(node, &name))?
    }

    fn connect(&mut self, addr: &[u8]) -> Result<(), Errno> {
        if self.control {
            return Err(Errno::EINVAL);
        }
        if self.node.is_some() {
            return Err(Errno::EISCONN);
        }
        let path = addr_of(addr)?;
        let st = vnet_netgraph(&self.vnet).ok_or(Errno::ENXIO)?;
        let node = ng_with(&self.vnet, |s| {
            let id = s.resolve(0, &path)?;
            match s.node_info(id) {
                Some(i) if i.type_name == NG_SOCKET_NODE_TYPE => Ok(id),
                Some(_) => Err(Errno::EINVAL),
                None => Err(Errno::ENOENT),
            }
        })??;
        let mut socks = st.socks.lock().map_err(|_| Errno::EDOOFUS)?;
        let ends = socks.get_mut(&node).ok_or(Errno::EINVAL)?;
        if ends.data.is_some() {
            return Err(Errno::EADDRINUSE);
        }
        ends.data = Some(self.rcv.clone());
        self.node = Some(node);
        Ok(())
    }

    fn sendto(&mut self, data: &[u8], addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        let node = self.node()?;
        let to = addr_of(addr.ok_or(Errno::EDESTADDRREQ)?)?;
        if self.control {
            let msg = NgMesg::from_bytes(data)?;
            autoload_for(&self.vnet, &msg)?;
            ng_with(&self.vnet, |s| s.send_msg(node, &to, msg))??;
        } else {
            let frame = data.to_vec();
            ng_with(&self.vnet, |s| s.send_data(node, &to, frame))??;
        }
        Ok(data.len())
    }

    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        Some(self.rcv.clone())
    }

    fn close(&mut self) {
        self.rcv.cantrcvmore();
        let Some(node) = self.node.take() else { return };
        let Some(st) = vnet_netgraph(&self.vnet) else {
            return;
        };
        let last = match st.socks.lock() {
            Ok(mut socks) => {
                let gone = socks.get_mut(&node).is_some_and(|e| {
                    if self.control {
                        e.ctl = None;
                    } else {
                        e.data = None;
                    }
                    e.ctl.is_none() && e.data.is_none()
                });
                if gone {
                    socks.remove(&node);
                }
                gone
            }
            Err(_) => false,
        };
        if last {
            let _ = ng_with(&self.vnet, |s| {
                // Only if it is still our socket node (it may have been shut down
                // by a message and its ID is never reused).
                if s.node_info(node)
                    .is_some_and(|i| i.type_name == NG_SOCKET_NODE_TYPE)
                {
                    let _ = s.shutdown_node(node);
                }
            });
        }
    }
}

/// `ng_socket.ko`: the `socket` node type and the `PF_NETGRAPH` domain.
pub struct NgSocketModule;

impl KldModule for NgSocketModule {
    fn name(&self) -> &str {
        "ng_socket"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        g.types.register(Arc::new(SocketType))?;
        k.domain_add(Arc::new(NgDomain));
        Ok(())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        let g = require_netgraph(k)?;
        let n = count_type_everywhere(k, NG_SOCKET_NODE_TYPE);
        g.types.unregister(NG_SOCKET_NODE_TYPE, n)?;
        k.domain_remove(PF_NETGRAPH);
        Ok(())
    }
}
