//! `hole`: a sink.  Frames on any hook are counted per hook and discarded;
//! `getstats` / `clrstats` / `getclrstats` take a hook name and report or clear
//! that hook's `{ frames octets }`.  The node goes away with its last hook.

use std::any::Any;

use vimage_abi::netgraph::{NgMesg, NG_HOOKSIZ};
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgParseType, NgValue};
use crate::ng_stats::{encode_counters, u64_fields, StatsCmd};

/// Type cookie of `hole`.
pub const NGM_HOLE_COOKIE: u32 = 915_433_206;
/// Command: a hook's statistics.
pub const NGM_HOLE_GET_STATS: u32 = 1;
/// Command: clear a hook's statistics.
pub const NGM_HOLE_CLR_STATS: u32 = 2;
/// Command: a hook's statistics, then clear them.
pub const NGM_HOLE_GETCLR_STATS: u32 = 3;
const STATS_CMDS: [u32; 3] = [
    NGM_HOLE_GET_STATS,
    NGM_HOLE_CLR_STATS,
    NGM_HOLE_GETCLR_STATS,
];

/// ASCII layout of one hook's statistics (`struct ng_hole_hookstat`).
pub static HOLE_HOOKSTAT_TYPE: NgParseType = NgParseType::Struct(u64_fields!("frames", "octets"));
/// ASCII layout of the argument: a hook name buffer.
static HOOKBUF: NgParseType = NgParseType::FixedString(NG_HOOKSIZ);

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_HOLE_COOKIE,
        cmd: NGM_HOLE_GET_STATS,
        name: "getstats",
        arg: Some(&HOOKBUF),
        resp: Some(&HOLE_HOOKSTAT_TYPE),
    },
    NgCmd {
        cookie: NGM_HOLE_COOKIE,
        cmd: NGM_HOLE_CLR_STATS,
        name: "clrstats",
        arg: Some(&HOOKBUF),
        resp: None,
    },
    NgCmd {
        cookie: NGM_HOLE_COOKIE,
        cmd: NGM_HOLE_GETCLR_STATS,
        name: "getclrstats",
        arg: Some(&HOOKBUF),
        resp: Some(&HOLE_HOOKSTAT_TYPE),
    },
];

/// The `hole` node type.
pub struct HoleType;

impl NgType for HoleType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "hole"
    }
    fn cookie(&self) -> u32 {
        NGM_HOLE_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Hole { hooks: Vec::new() }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

/// `frames`, `octets`, in [`HOLE_HOOKSTAT_TYPE`] order.
type Stats = [u64; 2];
const FRAMES: usize = 0;
const OCTETS: usize = 1;

struct Hole {
    /// Counters per hook, in creation order.
    hooks: Vec<(String, Stats)>,
}

impl Hole {
    fn stats_mut(&mut self, hook: &str) -> Option<&mut Stats> {
        self.hooks
            .iter_mut()
            .find(|(h, _)| h == hook)
            .map(|(_, s)| s)
    }
}

impl NgNode for Hole {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        self.hooks.retain(|(h, _)| h != name);
        self.hooks.push((name.to_owned(), Stats::default()));
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_HOLE_COOKIE {
            return Err(Errno::EINVAL);
        }
        let op = StatsCmd::of(msg.header.cmd, STATS_CMDS).ok_or(Errno::EINVAL)?;
        // The argument is exactly one hook name buffer.
        let NgValue::Str(name) = ng_parse::decode(&HOOKBUF, &msg.data)? else {
            return Err(Errno::EINVAL);
        };
        let name = String::from_utf8(name).map_err(|_| Errno::ENOENT)?;
        let stats = self.stats_mut(&name).ok_or(Errno::ENOENT)?;
        op.apply(stats, |s| encode_counters(&HOLE_HOOKSTAT_TYPE, s))
    }
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        if let Some(s) = self.stats_mut(hook) {
            s[FRAMES] += 1;
            s[OCTETS] += frame.len() as u64;
        }
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, hook: &str) {
        self.hooks.retain(|(h, _)| h != hook);
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

    #[test]
    fn discards_and_counts_per_hook() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hole", "h", "in").unwrap();
        name(&mut s, me, "h", "bh").unwrap();
        connect(&mut s, me, ".", "bh:", "g", "other").unwrap();
        s.send_data(me, "h", vec![0; 100]).unwrap();
        s.send_data(me, "h", vec![0; 28]).unwrap();
        s.send_data(me, "g", vec![1]).unwrap();
        assert!(s.take_output().is_empty(), "nothing comes back");
        assert_eq!(
            ascii(&mut s, me, "bh:", "getstats", "\"in\"")
                .unwrap()
                .unwrap(),
            "{ frames=2 octets=128 }"
        );
        assert_eq!(
            ascii(&mut s, me, "bh:", "getclrstats", "other")
                .unwrap()
                .unwrap(),
            "{ frames=1 octets=1 }"
        );
        assert_eq!(
            ascii(&mut s, me, "bh:", "getstats", "other")
                .unwrap()
                .unwrap(),
            "{ }"
        );
        assert_eq!(ascii(&mut s, me, "bh:", "clrstats", "in").unwrap(), None);
        assert_eq!(
            ascii(&mut s, me, "bh:", "getstats", "in").unwrap().unwrap(),
            "{ }"
        );
        // Errors: no such hook, wrong argument size, unknown command or cookie.
        assert_eq!(
            ascii(&mut s, me, "bh:", "getstats", "nosuch").unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            msg(
                &mut s,
                me,
                "bh:",
                NGM_HOLE_COOKIE,
                NGM_HOLE_GET_STATS,
                b"in\0".to_vec()
            )
            .unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            msg(&mut s, me, "bh:", NGM_HOLE_COOKIE, 9, vec![0; NG_HOOKSIZ]).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            msg(
                &mut s,
                me,
                "bh:",
                1,
                NGM_HOLE_GET_STATS,
                vec![0; NG_HOOKSIZ]
            )
            .unwrap_err(),
            Errno::EINVAL
        );
        // Gone with the last hook.
        s.rmhook(me, "h");
        assert_eq!(s.count_type("hole"), 1);
        s.rmhook(me, "g");
        assert_eq!(s.count_type("hole"), 0);
    }
}
