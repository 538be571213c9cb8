//! `echo`: every frame goes back out the hook it came in on, and every control
//! message that is not itself a response goes back to its sender as a response
//! carrying the same command and arguments.  Any hook name is accepted; the node
//! goes away with its last hook.

use std::any::Any;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCtx, NgNode, NgType, NodeId};

/// Type cookie of `echo`.
pub const NGM_ECHO_COOKIE: u32 = 884_298_942;

/// The `echo` node type.
pub struct EchoType;

impl NgType for EchoType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "echo"
    }
    fn cookie(&self) -> u32 {
        NGM_ECHO_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Echo))
    }
}

struct Echo;

impl NgNode for Echo {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, _name: &str) -> Result<(), Errno> {
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        // The framework answers with our data, the request's header and NGF_RESP;
        // responses are not echoed (two echo nodes would bounce them forever).
        Ok((!msg.is_resp()).then(|| msg.data.clone()))
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let _ = ctx.send_data(hook, frame);
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, _hook: &str) {
        if ctx.num_hooks() == 0 {
            ctx.shutdown_self();
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use vimage_abi::netgraph::*;

    #[test]
    fn frames_and_messages_come_back() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "echo", "e", "x").unwrap();
        connect(&mut s, me, ".", "e", "f", "y").unwrap();
        s.send_data(me, "e", vec![1, 2, 3]).unwrap();
        s.send_data(me, "f", vec![4]).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "e"), vec![vec![1, 2, 3]]);
        assert_eq!(frames(&out, me, "f"), vec![vec![4]]);
        // Any non-generic request comes back as a response with the same header.
        let r = msg(&mut s, me, "e", 12345, 77, vec![9, 8]).unwrap();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_resp());
        assert_eq!(
            (r[0].header.typecookie, r[0].header.cmd, r[0].header.token),
            (12345, 77, 7)
        );
        assert_eq!(r[0].data, vec![9, 8]);
        // textstatus reaches the node too; generic commands stay the framework's.
        let r = generic(&mut s, me, "e", NGM_TEXT_STATUS, b"hi\0".to_vec()).unwrap();
        assert_eq!(r[0].data, b"hi\0");
        let r = generic(&mut s, me, "e", NGM_NODEINFO, vec![]).unwrap();
        assert_eq!(NodeInfo::from_bytes(&r[0].data).unwrap().type_name, "echo");
        // A response is not echoed.
        let mut resp = NgMesg::new(12345, 77, "", 1, vec![]);
        resp.header.flags = NGF_RESP;
        s.send_msg(me, "e", resp).unwrap();
        assert!(s.take_output().is_empty());
        // Gone with the last hook.
        s.rmhook(me, "e");
        assert_eq!(s.count_type("echo"), 1);
        s.rmhook(me, "f");
        assert_eq!(s.count_type("echo"), 0);
    }

    #[test]
    fn two_echoes_do_not_loop_on_messages() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "echo", "a", "x").unwrap();
        mkpeer(&mut s, me, "a", "echo", "y", "z").unwrap();
        let a = s.hook_peer(me, "a").unwrap().0;
        let b = s.hook_peer(a, "y").unwrap().0;
        // b answers a; a does not answer the answer.
        s.send_msg(a, &format!("[{b:x}]:"), NgMesg::new(5, 5, "", 0, vec![]))
            .unwrap();
        assert!(!s.has_work());
        assert!(s.take_output().is_empty());
    }
}
