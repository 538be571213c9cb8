//! Netgraph for vkernel: a sans-IO graph of nodes joined by hooks, one
//! independent [`NgSpace`] per vnet, plus the node types that need no interface.
//!
//! How the kernel drives it:
//! * create one kernel-wide [`NgTypeList`] ([`NgTypeList::with_builtin`]) and
//!   register its own types (ether, eiface, iface, ksocket, or its own socket)
//!   through [`NgType`];
//! * keep one [`NgSpace`] per vnet ([`NgSpace::new`]);
//! * a control socket makes a `socket` node ([`NgSpace::make_node`]), names it
//!   ([`NgSpace::name_node`]) and sends messages with [`NgSpace::send_msg`]; data
//!   sockets use [`NgSpace::send_data`];
//! * replies, unsolicited messages and frames for socket nodes (or interface
//!   nodes) come back from [`NgSpace::take_output`];
//! * time: [`NgSpace::next_timer`] / [`NgSpace::run_timers`];
//! * type removal: sum [`NgSpace::count_type`] over spaces and call
//!   [`NgTypeList::unregister`].

use std::sync::Arc;

pub mod ng_base;
pub mod ng_bridge;
pub mod ng_echo;
pub mod ng_hole;
pub mod ng_hub;
pub mod ng_one2many;
pub mod ng_parse;
pub mod ng_pipe;
pub mod ng_socket;
pub mod ng_stats;
pub mod ng_tee;
pub mod ng_vlan;

pub use ng_base::{
    Mbuf, NgCmd, NgCtx, NgNode, NgOutput, NgSpace, NgStats, NgType, NgTypeList, NodeId,
};
pub use vimage_abi::netgraph::NgMesg;

/// The pure node types of this crate, one instance each.
pub fn builtin_types() -> Vec<Arc<dyn NgType>> {
    vec![
        Arc::new(ng_socket::SocketType),
        Arc::new(ng_hub::HubType),
        Arc::new(ng_tee::TeeType),
        Arc::new(ng_one2many::One2ManyType),
        Arc::new(ng_bridge::BridgeType),
        Arc::new(ng_pipe::PipeType),
        Arc::new(ng_vlan::VlanType),
        Arc::new(ng_echo::EchoType),
        Arc::new(ng_hole::HoleType),
    ]
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers that play the part of ngctl and the socket layer.
    use super::*;
    use vimage_abi::netgraph::*;
    use vimage_abi::Errno;

    /// A space with the builtin types and a socket node named `ngctl`.
    pub fn space() -> (NgSpace, NodeId) {
        let mut s = NgSpace::new(NgTypeList::with_builtin(), 1);
        let me = s.make_node("socket").unwrap();
        s.name_node(me, "ngctl").unwrap();
        (s, me)
    }

    /// Send a binary message and return the replies that came back to `me`.
    pub fn msg(
        s: &mut NgSpace,
        me: NodeId,
        path: &str,
        cookie: u32,
        cmd: u32,
        data: Vec<u8>,
    ) -> Result<Vec<NgMesg>, Errno> {
        s.send_msg(me, path, NgMesg::new(cookie, cmd, "", 7, data))?;
        Ok(s.take_output()
            .into_iter()
            .filter_map(|o| match o {
                NgOutput::Msg { node, msg, .. } if node == me => Some(msg),
                _ => None,
            })
            .collect())
    }

    /// One generic request.
    pub fn generic(
        s: &mut NgSpace,
        me: NodeId,
        path: &str,
        cmd: u32,
        data: Vec<u8>,
    ) -> Result<Vec<NgMesg>, Errno> {
        msg(s, me, path, NGM_GENERIC_COOKIE, cmd, data)
    }

    /// `ngctl mkpeer path type hook peerhook`.
    pub fn mkpeer(
        s: &mut NgSpace,
        me: NodeId,
        path: &str,
        t: &str,
        h: &str,
        p: &str,
    ) -> Result<(), Errno> {
        let a = NgmMkpeer {
            type_name: t.into(),
            ourhook: h.into(),
            peerhook: p.into(),
        };
        generic(s, me, path, NGM_MKPEER, a.to_bytes()?).map(|_| ())
    }

    /// `ngctl connect path relpath hook peerhook`.
    pub fn connect(
        s: &mut NgSpace,
        me: NodeId,
        path: &str,
        rel: &str,
        h: &str,
        p: &str,
    ) -> Result<(), Errno> {
        let a = NgmConnect {
            path: rel.into(),
            ourhook: h.into(),
            peerhook: p.into(),
        };
        generic(s, me, path, NGM_CONNECT, a.to_bytes()?).map(|_| ())
    }

    /// `ngctl name path name`.
    pub fn name(s: &mut NgSpace, me: NodeId, path: &str, n: &str) -> Result<(), Errno> {
        let a = NgmName { name: n.into() };
        generic(s, me, path, NGM_NAME, a.to_bytes()?).map(|_| ())
    }

    /// `ngctl msg path cmd args` the way libnetgraph does it: ascii2binary at the
    /// target, send the binary, convert the reply back with binary2ascii.
    pub fn ascii(
        s: &mut NgSpace,
        me: NodeId,
        path: &str,
        cmd: &str,
        args: &str,
    ) -> Result<Option<String>, Errno> {
        let mut text = args.as_bytes().to_vec();
        text.push(0);
        let req = NgMesg::new(0, 0, cmd, 0, text).to_bytes()?;
        let r = generic(s, me, path, NGM_ASCII2BINARY, req)?;
        let bin = NgMesg::from_bytes(&r[0].data)?;
        let replies = msg(s, me, path, bin.header.typecookie, bin.header.cmd, bin.data)?;
        let Some(rep) = replies.into_iter().next() else {
            return Ok(None);
        };
        let r = generic(s, me, path, NGM_BINARY2ASCII, rep.to_bytes()?)?;
        let txt = NgMesg::from_bytes(&r[0].data)?;
        let n = txt
            .data
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(txt.data.len());
        Ok(Some(String::from_utf8_lossy(&txt.data[..n]).into_owned()))
    }

    /// All frames that reached node `me` on `hook`.
    pub fn frames(out: &[NgOutput], me: NodeId, hook: &str) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|o| match o {
                NgOutput::Data {
                    node,
                    hook: h,
                    frame,
                } if *node == me && h == hook => Some(frame.data().to_vec()),
                _ => None,
            })
            .collect()
    }
}
