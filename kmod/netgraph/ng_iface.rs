//! ng_iface.ko: a point-to-point interface as a netgraph node (FreeBSD's
//! sys/netgraph/ng_iface.c).
//!
//! Each node makes an ifnet `ngN` (lowest N free in its vnet).  Packets carry no
//! link header: one hook per protocol family (`inet`, `inet6`, …) carries that
//! family's packets to and from the interface.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use vimage_abi::net_if::{
    IFF_BROADCAST, IFF_MULTICAST, IFF_POINTOPOINT, IFF_SIMPLEX, IFT_PROPVIRTUAL,
};
use vimage_abi::Errno;
use vimage_kern::vnet::Vnet;
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::{ETHERTYPE_IP, ETHERTYPE_IPV6};
use vimage_netgraph::ng_parse::NgParseType;
use vimage_netgraph::{NgCmd, NgCtx, NgMesg, NgNode, NgType, NodeId};

use super::ng_base::ng_run;
use super::{c_string, node_ifnet, node_ifnet_gone};

/// `NGM_IFACE_COOKIE`.
pub const NGM_IFACE_COOKIE: u32 = 1_108_312_559;
/// Get the interface name.
pub const NGM_IFACE_GET_IFNAME: u32 = 1;
/// Make the interface point-to-point.
pub const NGM_IFACE_POINT2POINT: u32 = 2;
/// Make the interface broadcast.
pub const NGM_IFACE_BROADCAST: u32 = 3;
/// Get the interface index.
pub const NGM_IFACE_GET_IFINDEX: u32 = 4;

/// Hook names and the protocol each carries (ethertype key of the netisr table;
/// families this kernel has no stack for are accepted and dropped).
const HOOKS: &[(&str, u16)] = &[
    ("inet", ETHERTYPE_IP),
    ("inet6", ETHERTYPE_IPV6),
    ("atalk", 0x809b),
    ("ipx", 0x8137),
    ("atm", 0),
    ("natm", 0),
];

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_IFACE_COOKIE,
        cmd: NGM_IFACE_GET_IFNAME,
        name: "getifname",
        arg: None,
        resp: Some(&NgParseType::String),
    },
    NgCmd {
        cookie: NGM_IFACE_COOKIE,
        cmd: NGM_IFACE_POINT2POINT,
        name: "point2point",
        arg: None,
        resp: None,
    },
    NgCmd {
        cookie: NGM_IFACE_COOKIE,
        cmd: NGM_IFACE_BROADCAST,
        name: "broadcast",
        arg: None,
        resp: None,
    },
    NgCmd {
        cookie: NGM_IFACE_COOKIE,
        cmd: NGM_IFACE_GET_IFINDEX,
        name: "getifindex",
        arg: None,
        resp: Some(&NgParseType::U32),
    },
];

/// The `iface` type.
pub struct IfaceType;

struct IfaceDriver {
    home: Weak<Vnet>,
    node: NodeId,
}

impl IfDriver for IfaceDriver {
    fn transmit(&self, _ifp: &Arc<Ifnet>, m: Mbuf) -> Result<(), Errno> {
        // The packet's own version field says which family's hook it leaves by.
        let hook = match m.data().first().map(|b| b >> 4) {
            Some(4) => "inet",
            Some(6) => "inet6",
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        let home = self.home.upgrade().ok_or(Errno::ENETDOWN)?;
        let node = self.node;
        let pkt = m.into_vec();
        ng_run(&home, move |s| {
            let _ = s.send_data(node, hook, pkt);
        });
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One iface node.
pub struct IfaceNode {
    /// Its interface.
    pub ifp: Arc<Ifnet>,
}

impl NgType for IfaceType {
    fn name(&self) -> &'static str {
        "iface"
    }
    fn cookie(&self) -> u32 {
        NGM_IFACE_COOKIE
    }
    fn constructor(&self, ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        let ifp = node_ifnet(
            ctx,
            "ng",
            IFT_PROPVIRTUAL,
            IFF_POINTOPOINT | IFF_SIMPLEX | IFF_MULTICAST,
            Vec::new(),
            |home, node| Box::new(IfaceDriver { home, node }),
        )?;
        Ok(Box::new(IfaceNode { ifp }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

impl NgNode for IfaceNode {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        if HOOKS.iter().any(|(h, _)| *h == name) {
            Ok(())
        } else {
            Err(Errno::EPFNOSUPPORT)
        }
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_IFACE_COOKIE {
            return Err(Errno::EINVAL);
        }
        let f = &self.ifp.flags;
        match msg.header.cmd {
            NGM_IFACE_GET_IFNAME => Ok(Some(c_string(&self.ifp.name()))),
            NGM_IFACE_POINT2POINT => {
                f.fetch_and(!IFF_BROADCAST, Ordering::Relaxed);
                f.fetch_or(IFF_POINTOPOINT, Ordering::Relaxed);
                Ok(None)
            }
            NGM_IFACE_BROADCAST => {
                f.fetch_and(!IFF_POINTOPOINT, Ordering::Relaxed);
                f.fetch_or(IFF_BROADCAST, Ordering::Relaxed);
                Ok(None)
            }
            NGM_IFACE_GET_IFINDEX => Ok(Some(
                self.ifp
                    .index
                    .load(Ordering::Relaxed)
                    .to_ne_bytes()
                    .to_vec(),
            )),
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, hook: &str, pkt: Mbuf) {
        let Some(&(_, proto)) = HOOKS.iter().find(|(h, _)| *h == hook) else {
            return;
        };
        if proto == 0 {
            return;
        }
        let ifp = self.ifp.clone();
        let inq = ifp.inq.clone();
        inq.enqueue_proto(ifp, proto, pkt);
    }
    fn shutdown(&mut self, _ctx: &mut NgCtx<'_>) -> bool {
        node_ifnet_gone(&self.ifp);
        true
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
