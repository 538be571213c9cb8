//! `hub`: every frame received on a hook is copied out all other hooks.

use std::any::Any;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};

/// Type cookie of `hub`.
pub const NGM_HUB_COOKIE: u32 = 1_082_189_597;
/// Command: keep the node when its last hook goes.
pub const NGM_HUB_SET_PERSISTENT: u32 = 1;

static CMDS: &[NgCmd] = &[NgCmd {
    cookie: NGM_HUB_COOKIE,
    cmd: NGM_HUB_SET_PERSISTENT,
    name: "setpersistent",
    arg: None,
    resp: None,
}];

/// The `hub` node type.
pub struct HubType;

impl NgType for HubType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "hub"
    }
    fn cookie(&self) -> u32 {
        NGM_HUB_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Hub { persistent: false }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

struct Hub {
    persistent: bool,
}

impl NgNode for Hub {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, _name: &str) -> Result<(), Errno> {
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        match (msg.header.typecookie, msg.header.cmd) {
            (NGM_HUB_COOKIE, NGM_HUB_SET_PERSISTENT) => {
                self.persistent = true;
                Ok(None)
            }
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        for h in ctx.hooks() {
            if h != hook {
                let _ = ctx.send_data(&h, frame.clone());
            }
        }
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, _hook: &str) {
        if ctx.num_hooks() == 0 && !self.persistent {
            ctx.shutdown_self();
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn floods_to_other_hooks() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "a", "x").unwrap();
        connect(&mut s, me, ".", "a", "b", "anything").unwrap();
        connect(&mut s, me, ".", "a", "c", "link7").unwrap();
        s.send_data(me, "b", vec![1]).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "a"), vec![vec![1]]);
        assert_eq!(frames(&out, me, "c"), vec![vec![1]]);
        assert!(frames(&out, me, "b").is_empty());
    }
}
