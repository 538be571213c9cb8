//! `tee`: frames pass between `left` and `right`; copies of each direction go out
//! `left2right` / `right2left`.  On shutdown `left` and `right` peers are joined.

use std::any::Any;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};

/// Type cookie of `tee`.
pub const NGM_TEE_COOKIE: u32 = 916_107_047;
/// Command: statistics per hook.
pub const NGM_TEE_GET_STATS: u32 = 1;
/// Command: clear statistics.
pub const NGM_TEE_CLR_STATS: u32 = 2;
/// Command: statistics, then clear them.
pub const NGM_TEE_GETCLR_STATS: u32 = 3;

macro_rules! u64f {
    ($($n:expr),*) => { &[$(NgField { name: $n, ty: NgParseType::U64 }),*] };
}

/// ASCII layout of the `getstats` reply.
pub static TEE_STATS_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "right",
        ty: NgParseType::Struct(u64f!("inOctets", "inFrames", "outOctets", "outFrames")),
    },
    NgField {
        name: "left",
        ty: NgParseType::Struct(u64f!("inOctets", "inFrames", "outOctets", "outFrames")),
    },
    NgField {
        name: "right2left",
        ty: NgParseType::Struct(u64f!("inOctets", "inFrames", "outOctets", "outFrames")),
    },
    NgField {
        name: "left2right",
        ty: NgParseType::Struct(u64f!("inOctets", "inFrames", "outOctets", "outFrames")),
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

#[derive(Default, Clone, Copy)]
struct HookStats {
    in_octets: u64,
    in_frames: u64,
    out_octets: u64,
    out_frames: u64,
}

#[derive(Default)]
struct Tee {
    /// Indexed like [`HOOKS`].
    stats: [HookStats; 4],
}

fn idx(hook: &str) -> Option<usize> {
    HOOKS.iter().position(|h| *h == hook)
}

impl Tee {
    fn out(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Vec<u8>) {
        let len = frame.len() as u64;
        if ctx.send_data(hook, frame).is_ok() {
            if let Some(i) = idx(hook) {
                self.stats[i].out_octets += len;
                self.stats[i].out_frames += 1;
            }
        }
    }
    fn stats_reply(&self) -> Result<Vec<u8>, Errno> {
        let members = HOOKS
            .iter()
            .zip(self.stats.iter())
            .map(|(h, s)| {
                (
                    *h,
                    NgValue::record(vec![
                        ("inOctets", NgValue::Int(s.in_octets as i128)),
                        ("inFrames", NgValue::Int(s.in_frames as i128)),
                        ("outOctets", NgValue::Int(s.out_octets as i128)),
                        ("outFrames", NgValue::Int(s.out_frames as i128)),
                    ]),
                )
            })
            .collect();
        ng_parse::encode(&TEE_STATS_TYPE, &NgValue::record(members))
    }
}

impl NgNode for Tee {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        let i = idx(name).ok_or(Errno::EINVAL)?;
        self.stats[i] = HookStats::default();
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
        match msg.header.cmd {
            NGM_TEE_GET_STATS => Ok(Some(self.stats_reply()?)),
            NGM_TEE_CLR_STATS => {
                self.stats = Default::default();
                Ok(None)
            }
            NGM_TEE_GETCLR_STATS => {
                let r = self.stats_reply()?;
                self.stats = Default::default();
                Ok(Some(r))
            }
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Vec<u8>) {
        if let Some(i) = idx(hook) {
            self.stats[i].in_octets += frame.len() as u64;
            self.stats[i].in_frames += 1;
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
