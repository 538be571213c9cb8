//! `one2many`: frames from `one` go out one (round robin) or all of the
//! `manyN` links; frames from any `manyN` go out `one`.

use std::any::Any;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{HookName, Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};
use crate::ng_stats::{encode_counters, u64_fields, StatsCmd};

/// Type cookie of `one2many`.
pub const NGM_ONE2MANY_COOKIE: u32 = 1_100_897_444;
/// Most `manyN` links.
pub const NG_ONE2MANY_MAX_LINKS: usize = 64;
/// Command: set the configuration.
pub const NGM_ONE2MANY_SET_CONFIG: u32 = 0;
/// Command: get the configuration.
pub const NGM_ONE2MANY_GET_CONFIG: u32 = 1;
/// Command: statistics of a link (-1: `one`).
pub const NGM_ONE2MANY_GET_STATS: u32 = 2;
/// Command: clear statistics of a link.
pub const NGM_ONE2MANY_CLR_STATS: u32 = 3;
/// Command: statistics, then clear them.
pub const NGM_ONE2MANY_GETCLR_STATS: u32 = 4;
const STATS_CMDS: [u32; 3] = [
    NGM_ONE2MANY_GET_STATS,
    NGM_ONE2MANY_CLR_STATS,
    NGM_ONE2MANY_GETCLR_STATS,
];
/// Transmit algorithm: round robin.
pub const NG_ONE2MANY_XMIT_ROUNDROBIN: u32 = 1;
/// Transmit algorithm: every link.
pub const NG_ONE2MANY_XMIT_ALL: u32 = 2;
/// Failure detection: manual (enabledLinks).
pub const NG_ONE2MANY_FAIL_MANUAL: u32 = 1;
/// Failure detection: link notifications.
pub const NG_ONE2MANY_FAIL_NOTIFY: u32 = 2;

/// ASCII layout of the configuration.
pub static ONE2MANY_CONFIG_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "xmitAlg",
        ty: NgParseType::U32,
    },
    NgField {
        name: "failAlg",
        ty: NgParseType::U32,
    },
    NgField {
        name: "enabledLinks",
        ty: NgParseType::FixedArray(&NgParseType::U8, NG_ONE2MANY_MAX_LINKS),
    },
]);
/// ASCII layout of link statistics.
pub static ONE2MANY_STATS_TYPE: NgParseType = NgParseType::Struct(u64_fields!(
    "recvOctets",
    "recvPackets",
    "xmitOctets",
    "xmitPackets",
    "memoryFailures",
));

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_ONE2MANY_COOKIE,
        cmd: NGM_ONE2MANY_SET_CONFIG,
        name: "setconfig",
        arg: Some(&ONE2MANY_CONFIG_TYPE),
        resp: None,
    },
    NgCmd {
        cookie: NGM_ONE2MANY_COOKIE,
        cmd: NGM_ONE2MANY_GET_CONFIG,
        name: "getconfig",
        arg: None,
        resp: Some(&ONE2MANY_CONFIG_TYPE),
    },
    NgCmd {
        cookie: NGM_ONE2MANY_COOKIE,
        cmd: NGM_ONE2MANY_GET_STATS,
        name: "getstats",
        arg: Some(&NgParseType::I32),
        resp: Some(&ONE2MANY_STATS_TYPE),
    },
    NgCmd {
        cookie: NGM_ONE2MANY_COOKIE,
        cmd: NGM_ONE2MANY_CLR_STATS,
        name: "clrstats",
        arg: Some(&NgParseType::I32),
        resp: None,
    },
    NgCmd {
        cookie: NGM_ONE2MANY_COOKIE,
        cmd: NGM_ONE2MANY_GETCLR_STATS,
        name: "getclrstats",
        arg: Some(&NgParseType::I32),
        resp: Some(&ONE2MANY_STATS_TYPE),
    },
];

/// The `one2many` node type.
pub struct One2ManyType;

impl NgType for One2ManyType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "one2many"
    }
    fn cookie(&self) -> u32 {
        NGM_ONE2MANY_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(One2Many {
            xmit_alg: NG_ONE2MANY_XMIT_ROUNDROBIN,
            fail_alg: NG_ONE2MANY_FAIL_MANUAL,
            enabled: [1; NG_ONE2MANY_MAX_LINKS],
            stats: [Stats::default(); NG_ONE2MANY_MAX_LINKS + 1],
            next: 0,
        }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

/// Counters of one link, in [`ONE2MANY_STATS_TYPE`] order.
type Stats = [u64; 5];
const RECV_OCTETS: usize = 0;
const RECV_PACKETS: usize = 1;
const XMIT_OCTETS: usize = 2;
const XMIT_PACKETS: usize = 3;
const MEMORY_FAILURES: usize = 4;

struct One2Many {
    xmit_alg: u32,
    fail_alg: u32,
    enabled: [u8; NG_ONE2MANY_MAX_LINKS],
    /// Index 0..64 are manyN, 64 is `one`.
    stats: [Stats; NG_ONE2MANY_MAX_LINKS + 1],
    next: usize,
}

const ONE: usize = NG_ONE2MANY_MAX_LINKS;

/// The link index of a hook name (`one` → 64, `manyN` → N).
fn link_of(name: &str) -> Option<usize> {
    if name == "one" {
        return Some(ONE);
    }
    let n = name.strip_prefix("many")?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) || !n.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let i: usize = n.parse().ok()?;
    (i < NG_ONE2MANY_MAX_LINKS).then_some(i)
}

impl One2Many {
    fn link_index(msg: &NgMesg) -> Result<usize, Errno> {
        let v = ng_parse::decode(&NgParseType::I32, &msg.data)?;
        match v.int() {
            Some(-1) => Ok(ONE),
            Some(i) if (0..NG_ONE2MANY_MAX_LINKS as i128).contains(&i) => Ok(i as usize),
            _ => Err(Errno::EINVAL),
        }
    }
    fn xmit(&mut self, ctx: &mut NgCtx<'_>, i: usize, frame: Mbuf) {
        let many = HookName::new("many", i);
        let hook: &str = if i == ONE { "one" } else { &many };
        let len = frame.len() as u64;
        match ctx.send_data(hook, frame) {
            Ok(()) => {
                self.stats[i][XMIT_OCTETS] += len;
                self.stats[i][XMIT_PACKETS] += 1;
            }
            Err(_) => self.stats[i][MEMORY_FAILURES] += 1,
        }
    }
}

impl NgNode for One2Many {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        let i = link_of(name).ok_or(Errno::EINVAL)?;
        self.stats[i] = Stats::default();
        Ok(())
    }
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_ONE2MANY_COOKIE {
            return Err(Errno::EINVAL);
        }
        if let Some(op) = StatsCmd::of(msg.header.cmd, STATS_CMDS) {
            let i = Self::link_index(msg)?;
            return op.apply(&mut self.stats[i], |s| {
                encode_counters(&ONE2MANY_STATS_TYPE, s)
            });
        }
        match msg.header.cmd {
            NGM_ONE2MANY_SET_CONFIG => {
                let v = ng_parse::decode(&ONE2MANY_CONFIG_TYPE, &msg.data)?;
                let x = v.u64_at("xmitAlg") as u32;
                let f = v.u64_at("failAlg") as u32;
                if !(NG_ONE2MANY_XMIT_ROUNDROBIN..=NG_ONE2MANY_XMIT_ALL).contains(&x)
                    || !(NG_ONE2MANY_FAIL_MANUAL..=NG_ONE2MANY_FAIL_NOTIFY).contains(&f)
                {
                    return Err(Errno::EINVAL);
                }
                self.xmit_alg = x;
                self.fail_alg = f;
                v.u8s_at("enabledLinks", &mut self.enabled);
                Ok(None)
            }
            NGM_ONE2MANY_GET_CONFIG => {
                let v = NgValue::record(vec![
                    ("xmitAlg", NgValue::num(self.xmit_alg)),
                    ("failAlg", NgValue::num(self.fail_alg)),
                    ("enabledLinks", NgValue::u8_array(&self.enabled)),
                ]);
                Ok(Some(ng_parse::encode(&ONE2MANY_CONFIG_TYPE, &v)?))
            }
            _ => Err(Errno::EINVAL),
        }
    }
    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let Some(i) = link_of(hook) else { return };
        self.stats[i][RECV_OCTETS] += frame.len() as u64;
        self.stats[i][RECV_PACKETS] += 1;
        if i != ONE {
            self.xmit(ctx, ONE, frame);
            return;
        }
        let active: Vec<usize> = (0..NG_ONE2MANY_MAX_LINKS)
            .filter(|&l| self.enabled[l] != 0 && ctx.has_hook(&HookName::new("many", l)))
            .collect();
        if active.is_empty() {
            return;
        }
        if self.xmit_alg == NG_ONE2MANY_XMIT_ALL {
            for l in active {
                self.xmit(ctx, l, frame.clone());
            }
        } else {
            let l = active[self.next % active.len()];
            self.next = self.next.wrapping_add(1);
            self.xmit(ctx, l, frame);
        }
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

    #[test]
    fn round_robin_all_and_stats() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "one2many", "o", "one").unwrap();
        name(&mut s, me, "o", "m").unwrap();
        connect(&mut s, me, ".", "m:", "a", "many0").unwrap();
        connect(&mut s, me, ".", "m:", "b", "many1").unwrap();
        for bad in ["many64", "many01", "two"] {
            assert_eq!(
                connect(&mut s, me, ".", "m:", "x", bad).unwrap_err(),
                Errno::EINVAL
            );
        }
        for i in 0..4u8 {
            s.send_data(me, "o", vec![i]).unwrap();
        }
        let out = s.take_output();
        assert_eq!(frames(&out, me, "a"), vec![vec![0], vec![2]]);
        assert_eq!(frames(&out, me, "b"), vec![vec![1], vec![3]]);
        s.send_data(me, "b", vec![9]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "o"), vec![vec![9]]);
        ascii(
            &mut s,
            me,
            "m:",
            "setconfig",
            "{ xmitAlg=2 failAlg=1 enabledLinks=[ 1 1 ] }",
        )
        .unwrap();
        s.send_data(me, "o", vec![7]).unwrap();
        let out = s.take_output();
        assert_eq!(
            (frames(&out, me, "a").len(), frames(&out, me, "b").len()),
            (1, 1)
        );
        let cfg = ascii(&mut s, me, "m:", "getconfig", "").unwrap().unwrap();
        assert!(
            cfg.starts_with("{ xmitAlg=2 failAlg=1 enabledLinks=[ 1 1 "),
            "{cfg}"
        );
        assert_eq!(
            ascii(&mut s, me, "m:", "setconfig", "{ xmitAlg=9 failAlg=1 }").unwrap_err(),
            Errno::EINVAL
        );
        let st = ascii(&mut s, me, "m:", "getstats", "-1").unwrap().unwrap();
        assert_eq!(
            st,
            "{ recvOctets=5 recvPackets=5 xmitOctets=1 xmitPackets=1 }"
        );
        assert_eq!(
            ascii(&mut s, me, "m:", "getstats", "64").unwrap_err(),
            Errno::EINVAL
        );
        s.rmhook(me, "a");
        s.rmhook(me, "b");
        s.rmhook(me, "o");
        assert_eq!(s.count_type("one2many"), 0);
    }
}
