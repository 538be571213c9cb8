//! `tee`: frames pass between `left` and `right`; copies of each direction go out
//! `left2right` / `right2left`.  On shutdown `left` and `right` peers are joined.

use std::any::Any;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};
use crate::ng_stats::{counters, u64_fields, StatsCmd};

/// Type cookie of `tee`.
pub const NGM_TEE_COOKIE: u32 = 916_107_047;
/// Command: statistics per hook.
pub const NGM_TEE_GET_STATS: u32 = 1;
/// Command: clear statistics.
pub const NGM_TEE_CLR_STATS: u32 = 2;
/// Command: statistics, then clear them.
pub const NGM_TEE_GETCLR_STATS: u32 = 3;
const STATS_CMDS: [u32; 3] = [NGM_TEE_GET_STATS, NGM_TEE_CLR_STATS, NGM_TEE_GETCLR_STATS];

/// Counters of one hook, in the order of [`TEE_HOOKSTAT_TYPE`].
const HOOKSTAT: &[NgField] = u64_fields!("inOctets", "inFrames", "outOctets", "outFrames");
/// ASCII layout of one hook's counters.
pub static TEE_HOOKSTAT_TYPE: NgParseType = NgParseType::Struct(HOOKSTAT);
/// ASCII layout of the `getstats` reply.
pub static TEE_STATS_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "right",
        ty: NgParseType::Struct(HOOKSTAT),
    },
    NgField {
        name: "left",
        ty: NgParseType::Struct(HOOKSTAT),
    },
    NgField {
        name: "right2left",
        ty: NgParseType::Struct(HOOKSTAT),
    },
    NgField {
        name: "left2right",
        ty: NgParseType::Struct(HOOKSTAT),
    },
]);

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_TEE_COOKIE,
        cmd: NGM_TEE_GET_STATS,
        name: "getstats",
        arg: None,
        resp: Some(&TEE_STATS_TYPE),
    },
    NgCmd {
        cookie: NGM_TEE_COOKIE,
        cmd: NGM_TEE_CLR_STATS,
        name: "clrstats",
        arg: None,
        resp: None,
    },
    NgCmd {
        cookie: NGM_TEE_COOKIE,
        cmd: NGM_TEE_GETCLR_STATS,
        name: "getclrstats",
        arg: None,
        resp: Some(&TEE_STATS_TYPE),
    },
];

const HOOKS: [&str; 4] = ["right", "left", "right2left", "left2right"];

/// The `tee` node type.
pub struct TeeType;

impl NgType for TeeType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "tee"
    }
    fn cookie(&self) -> u32 {
        NGM_TEE_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Tee::default()))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

const IN_OCTETS: usize = 0;
const IN_FRAMES: usize = 1;
const OUT_OCTETS: usize = 2;
const OUT_FRAMES: usize = 3;

/// Counters of the four hooks, indexed like [`HOOKS`], each in [`HOOKSTAT`] order.
type Stats = [[u64; 4]; 4];

#[derive(Default)]
struct Tee {
    stats: Stats,
}

fn idx(hook: &str) -> Option<usize> {
    HOOKS.iter().position(|h| *h == hook)
}

fn encode_stats(stats: &Stats) -> Result<Vec<u8>, Errno> {
    let members = HOOKS
        .iter()
        .zip(stats)
        .map(|(h, s)| (*h, counters(&TEE_HOOKSTAT_TYPE, s)))
        .collect();
    ng_parse::encode(&TEE_STATS_TYPE, &NgValue::record(members))
}

impl Tee {
    fn out(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let len = frame.len() as u64;
        if ctx.send_data(hook, frame).is_ok() {
            if let Some(i) = idx(hook) {
                self.stats[i][OUT_OCTETS] += len;
                self.stats[i][OUT_FRAMES] += 1;
            }
        }
    }
}

impl NgNode for Tee {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        let i = idx(name).ok_or(Errno::EINVAL)?;
        self.stats[i] = [0; 4];
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_TEE_COOKIE {
            return Err(Errno::EINVAL);
        }
        let op = StatsCmd::of(msg.header.cmd, STATS_CMDS).ok_or(Errno::EINVAL)?;
        op.apply(&mut self.stats, encode_stats)
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        if let Some(i) = idx(hook) {
            self.stats[i][IN_OCTETS] += frame.len() as u64;
            self.stats[i][IN_FRAMES] += 1;
        }
        let (dup, dest) = match hook {
            "left" => (Some("left2right"), "right"),
            "right" => (Some("right2left"), "left"),
            "left2right" => (None, "right"),
            "right2left" => (None, "left"),
            _ => return,
        };
        if let Some(d) = dup {
            if ctx.has_hook(d) {
                self.out(ctx, d, frame.clone());
            }
        }
        self.out(ctx, dest, frame);
    }
    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, _hook: &str) {
        if !ctx.has_hook("left") && !ctx.has_hook("right") {
            ctx.shutdown_self();
        }
    }
    fn close(&mut self, ctx: &mut NgCtx<'_>) {
        ctx.bypass("left", "right");
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
    fn copies_stats_and_bypass() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "tee", "l", "left").unwrap();
        name(&mut s, me, "l", "t").unwrap();
        connect(&mut s, me, ".", "t:", "r", "right").unwrap();
        connect(&mut s, me, ".", "t:", "l2r", "left2right").unwrap();
        assert_eq!(
            connect(&mut s, me, ".", "t:", "x", "middle").unwrap_err(),
            Errno::EINVAL
        );
        s.send_data(me, "l", vec![1, 2]).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "r"), vec![vec![1, 2]]);
        assert_eq!(frames(&out, me, "l2r"), vec![vec![1, 2]]);
        s.send_data(me, "r", vec![3]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "l"), vec![vec![3]]);
        s.send_data(me, "l2r", vec![4]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "r"), vec![vec![4]]);
        let st = ascii(&mut s, me, "t:", "getstats", "").unwrap().unwrap();
        assert_eq!(
            st,
            "{ right={ inOctets=1 inFrames=1 outOctets=3 outFrames=2 } left={ inOctets=2 inFrames=1 \
             outOctets=1 outFrames=1 } left2right={ inOctets=1 inFrames=1 outOctets=2 outFrames=1 } }"
        );
        ascii(&mut s, me, "t:", "clrstats", "").unwrap();
        assert_eq!(
            ascii(&mut s, me, "t:", "getstats", "").unwrap().unwrap(),
            "{ }"
        );
        // Shutdown joins left's and right's peers directly.
        s.shutdown_node(s.find_node("t").unwrap()).unwrap();
        assert_eq!(s.hook_peer(me, "l"), Some((me, "r".into())));
        s.send_data(me, "l", vec![5]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "r"), vec![vec![5]]);
    }
}
