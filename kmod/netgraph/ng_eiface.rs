//! ng_eiface.ko: a virtual Ethernet interface as a netgraph node (FreeBSD's
//! sys/netgraph/ng_eiface.c).
//!
//! Each node makes an ifnet `ngethN` (lowest N free in its vnet) and is named like
//! it.  Frames the stack sends on the interface leave through hook `ether`; frames
//! arriving on `ether` are the interface's input.  The node stays in the vnet it
//! was made in while its ifnet may be moved to another (`vimage -i`): that is how
//! the tutorial wires vimages together.  Shutting the node down destroys the ifnet.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, Weak};

use vimage_abi::net_if::{IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER};
use vimage_abi::netgraph::NG_TEXTRESPONSE;
use vimage_abi::Errno;
use vimage_kern::vnet::Vnet;
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::{Mbuf, CSUM_DELAY_DATA, CSUM_TSO};
use vimage_net::r#if::if_rename;
use vimage_netgraph::ng_parse::NgParseType;
use vimage_netgraph::{NgCmd, NgCtx, NgMesg, NgNode, NgType, NodeId};

use super::ng_base::ng_run;
use super::{c_string, from_c_string, node_ifnet, node_ifnet_gone};

/// `NGM_EIFACE_COOKIE`.
pub const NGM_EIFACE_COOKIE: u32 = 948_105_892;
/// Get the interface name.
pub const NGM_EIFACE_GET_IFNAME: u32 = 1;
/// Get the interface's addresses.
pub const NGM_EIFACE_GET_IFADDRS: u32 = 2;
/// Set the Ethernet address.
pub const NGM_EIFACE_SET: u32 = 3;
/// Rename the interface (vimage extension: tools that build topologies name the
/// interfaces they make).
pub const NGM_EIFACE_SET_IFNAME: u32 = 4;
/// The hook.
pub const NG_EIFACE_HOOK_ETHER: &str = "ether";

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_EIFACE_COOKIE,
        cmd: NGM_EIFACE_GET_IFNAME,
        name: "getifname",
        arg: None,
        resp: Some(&NgParseType::String),
    },
    NgCmd {
        cookie: NGM_EIFACE_COOKIE,
        cmd: NGM_EIFACE_GET_IFADDRS,
        name: "getifaddrs",
        arg: None,
        resp: None,
    },
    NgCmd {
        cookie: NGM_EIFACE_COOKIE,
        cmd: NGM_EIFACE_SET,
        name: "set",
        arg: Some(&NgParseType::Ether),
        resp: None,
    },
    NgCmd {
        cookie: NGM_EIFACE_COOKIE,
        cmd: NGM_EIFACE_SET_IFNAME,
        name: "setifname",
        arg: Some(&NgParseType::String),
        resp: None,
    },
];

/// The `eiface` type.
pub struct EifaceType;

/// The interface side: frames the stack sends go out the node's hook.
struct EifaceDriver {
    home: Weak<Vnet>,
    node: NodeId,
    /// The interface of the eiface our hook is wired straight to, if it is
    /// one: set and cleared by the node as the hook connects and goes.
    wire: RwLock<Weak<Ifnet>>,
}

impl EifaceDriver {
    fn of(ifp: &Ifnet) -> Option<&EifaceDriver> {
        ifp.driver.as_any().downcast_ref::<EifaceDriver>()
    }
    fn set_wire(&self, peer: Weak<Ifnet>) {
        if let Ok(mut g) = self.wire.write() {
            *g = peer;
        }
    }
}

impl IfDriver for EifaceDriver {
    fn transmit(&self, _ifp: &Arc<Ifnet>, mut m: Mbuf) -> Result<(), Errno> {
        // Two eifaces joined hook to hook (the tutorial's wiring of two
        // vimages) are a wire: the frame goes straight into the peer
        // interface's input queue, as the peer node's rcvdata would put it,
        // without taking the graph's lock.  So vimages joined this way
        // forward in parallel on different CPUs, though all the nodes live
        // in one graph.  Anything else in between (a tee, a bridge, a
        // socket) goes through the graph.
        let wire = self.wire.read().ok().and_then(|g| g.upgrade());
        if let Some(peer) = wire {
            m.offload_input();
            let inq = peer.inq.clone();
            inq.enqueue_frame(peer, m);
            return Ok(());
        }
        let home = self.home.upgrade().ok_or(Errno::ENETDOWN)?;
        let node = self.node;
        // No hook connected: the frame is lost on the unplugged wire.
        ng_run(&home, move |s| {
            let _ = s.send_data(node, NG_EIFACE_HOOK_ETHER, m);
        });
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One eiface node.
pub struct EifaceNode {
    /// Its interface.
    pub ifp: Arc<Ifnet>,
}

impl NgType for EifaceType {
    /// Frames from another eiface are taken whole: the stack behind accepts
    /// TSO segments and unchecked checksums (see [`EifaceNode::rcvdata`]).
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "eiface"
    }
    fn cookie(&self) -> u32 {
        NGM_EIFACE_COOKIE
    }
    fn constructor(&self, ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        // Runs with curvnet set to the space's vnet.
        let ifp = node_ifnet(
            ctx,
            "ngeth",
            IFT_ETHER,
            IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
            vec![0; 6],
            |home, node| {
                Box::new(EifaceDriver {
                    home,
                    node,
                    wire: RwLock::new(Weak::new()),
                })
            },
        )?;
        // Frames stay in memory up to a node that finishes them, so the
        // stack leaves transport checksums and segmentation to us.
        ifp.hwassist
            .store(CSUM_DELAY_DATA | CSUM_TSO, Ordering::Relaxed);
        Ok(Box::new(EifaceNode { ifp }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

impl NgNode for EifaceNode {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        if name != NG_EIFACE_HOOK_ETHER {
            return Err(Errno::EPFNOSUPPORT);
        }
        Ok(())
    }
    /// Wired straight to another eiface: each sends to the other directly.
    fn connect(&mut self, ctx: &mut NgCtx<'_>, hook: &str) -> Result<(), Errno> {
        let peer = ctx.with_peer(hook, |p| {
            p.as_any_mut()
                .downcast_mut::<EifaceNode>()
                .map(|e| Arc::downgrade(&e.ifp))
        });
        if let (Some(Some(peer)), Some(d)) = (peer, EifaceDriver::of(&self.ifp)) {
            d.set_wire(peer);
        }
        Ok(())
    }
    fn disconnect(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str) {
        if let Some(d) = EifaceDriver::of(&self.ifp) {
            d.set_wire(Weak::new());
        }
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_EIFACE_COOKIE {
            return Err(Errno::EINVAL);
        }
        match msg.header.cmd {
            NGM_EIFACE_GET_IFNAME => Ok(Some(c_string(&self.ifp.name()))),
            // No protocol addresses are kept on the interface yet: an empty list.
            NGM_EIFACE_GET_IFADDRS => Ok(Some(Vec::new())),
            NGM_EIFACE_SET => {
                let a: [u8; 6] = msg.data.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
                if a[0] & 1 != 0 {
                    return Err(Errno::EINVAL);
                }
                if let Ok(mut g) = self.ifp.lladdr.write() {
                    *g = a.to_vec();
                }
                Ok(None)
            }
            NGM_EIFACE_SET_IFNAME => {
                let n = from_c_string(&msg.data, NG_TEXTRESPONSE)?;
                if_rename(&self.ifp, &n)?;
                Ok(None)
            }
            _ => Err(Errno::EINVAL),
        }
    }
    /// A frame for the interface: offloaded work is accepted as a peer
    /// interface left it ([`Mbuf::offload_input`]).
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str, mut frame: Mbuf) {
        frame.offload_input();
        // In order through the interface's input queue, whichever thread
        // delivered it.
        let ifp = self.ifp.clone();
        let inq = ifp.inq.clone();
        inq.enqueue_frame(ifp, frame);
    }
    fn shutdown(&mut self, _ctx: &mut NgCtx<'_>) -> bool {
        if let Some(d) = EifaceDriver::of(&self.ifp) {
            d.set_wire(Weak::new());
        }
        node_ifnet_gone(&self.ifp);
        true
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
