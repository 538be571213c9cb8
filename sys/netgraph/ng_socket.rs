//! The framework side of `socket` nodes: the node a process's netgraph control
//! and data sockets attach to.  It relays every message and frame that reaches it
//! to the kernel through the space's outbox ([`NgOutput`]); the kernel's socket
//! layer turns those into `recvfrom` results.  It lingers after its last hook
//! goes unless told `NGM_SOCK_CMD_NOLINGER`.

use std::any::Any;

use vimage_abi::netgraph::*;
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgOutput, NgType, NodeId};

/// The `socket` node type.
pub struct SocketType;

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_SOCKET_COOKIE,
        cmd: NGM_SOCK_CMD_NOLINGER,
        name: "nolinger",
        arg: None,
        resp: None,
    },
    NgCmd {
        cookie: NGM_SOCKET_COOKIE,
        cmd: NGM_SOCK_CMD_LINGER,
        name: "linger",
        arg: None,
        resp: None,
    },
];

impl NgType for SocketType {
    fn name(&self) -> &'static str {
        NG_SOCKET_NODE_TYPE
    }
    fn cookie(&self) -> u32 {
        NGM_SOCKET_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(SocketNode { nolinger: false }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

/// State of one socket node.
#[derive(Debug, Default)]
pub struct SocketNode {
    /// Shut down when the last hook goes.
    pub nolinger: bool,
}

impl NgNode for SocketNode {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, _name: &str) -> Result<(), Errno> {
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if !msg.is_resp() && msg.header.typecookie == NGM_SOCKET_COOKIE {
            match msg.header.cmd {
                NGM_SOCK_CMD_NOLINGER => {
                    self.nolinger = true;
                    if ctx.num_hooks() == 0 {
                        ctx.shutdown_self();
                    }
                }
                NGM_SOCK_CMD_LINGER => self.nolinger = false,
                _ => return Err(Errno::EINVAL),
            }
            return Ok(None);
        }
        let node = ctx.node_id();
        ctx.emit(NgOutput::Msg {
            node,
            from,
            msg: msg.clone(),
        });
        Ok(None)
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let node = ctx.node_id();
        ctx.emit(NgOutput::Data {
            node,
            hook: hook.to_owned(),
            frame,
        });
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, _hook: &str) {
        if self.nolinger && ctx.num_hooks() == 0 {
            ctx.shutdown_self();
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
