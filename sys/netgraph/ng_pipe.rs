//! `pipe`: link emulation between hooks `upper` and `lower` (IMUNES style):
//! bandwidth, propagation delay, bit error rate, duplication and queue limits,
//! configured per direction (`downstream` = upper→lower, `upstream` =
//! lower→upper).  Time comes from the space ([`NgCtx::now_ns`]); delayed frames
//! leave on timers, so everything runs on fake time in tests.

use std::any::Any;
use std::collections::VecDeque;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};
use crate::ng_stats::{counters, u64_fields, StatsCmd};

/// Type cookie of `pipe`.
pub const NGM_PIPE_COOKIE: u32 = 200_708_191;
/// Command: statistics.
pub const NGM_PIPE_GET_STATS: u32 = 1;
/// Command: clear statistics.
pub const NGM_PIPE_CLR_STATS: u32 = 2;
/// Command: statistics, then clear them.
pub const NGM_PIPE_GETCLR_STATS: u32 = 3;
const STATS_CMDS: [u32; 3] = [
    NGM_PIPE_GET_STATS,
    NGM_PIPE_CLR_STATS,
    NGM_PIPE_GETCLR_STATS,
];
/// Command: run-time queue state.
pub const NGM_PIPE_GET_RUN: u32 = 4;
/// Command: get the configuration.
pub const NGM_PIPE_GET_CFG: u32 = 5;
/// Command: set the configuration.
pub const NGM_PIPE_SET_CFG: u32 = 6;

/// Default inbound queue limit (frames) when `queuelen` is unset.
pub const DEFAULT_QIN_LIMIT: usize = 50;
/// Bound on the delay line when `delaylen` is unset (memory safety).
pub const MAX_QOUT: usize = 100_000;

macro_rules! f {
    ($n:expr, $t:ident) => {
        NgField {
            name: $n,
            ty: NgParseType::$t,
        }
    };
}
/// Per-direction configuration (`struct ng_pipe_hookcfg`).
const HOOKCFG: &[NgField] = &[
    f!("bandwidth", U64),
    f!("BER", U64),
    f!("queuelen", U32),
    f!("delaylen", U32),
    f!("duplicate", U32),
    f!("fifo", U32),
    f!("drr", U32),
    f!("wfq", U32),
    f!("droptail", U32),
    f!("drophead", U32),
];
/// Per-direction counters (`struct ng_pipe_hookstat`), in `Pipe::stats` order.
const HOOKSTAT: &[NgField] = u64_fields!(
    "fwd_octets",
    "fwd_frames",
    "in_disc_octets",
    "in_disc_frames",
    "out_disc_octets",
    "out_disc_frames",
);
/// Per-direction queue state (`struct ng_pipe_hookrun`).
const HOOKRUN: &[NgField] = &[
    f!("fifo_queues", U32),
    f!("qin_octets", U32),
    f!("qin_frames", U32),
    f!("qout_octets", U32),
    f!("qout_frames", U32),
];
/// A struct of the `first` members, then `downstream` and `upstream` of layout
/// `fields`.
macro_rules! updown {
    ($fields:expr $(, $first:expr)*) => {
        NgParseType::Struct(&[
            $($first,)*
            NgField {
                name: "downstream",
                ty: NgParseType::Struct($fields),
            },
            NgField {
                name: "upstream",
                ty: NgParseType::Struct($fields),
            },
        ])
    };
}

/// ASCII layout of the configuration (`struct ng_pipe_cfg`).
pub static PIPE_CFG_TYPE: NgParseType = updown!(
    HOOKCFG,
    f!("bandwidth", U64),
    f!("delay", U64),
    f!("header_offset", U32),
    f!("overhead", U32)
);
/// ASCII layout of one direction's counters.
pub static PIPE_HOOKSTAT_TYPE: NgParseType = NgParseType::Struct(HOOKSTAT);
/// ASCII layout of the statistics.
pub static PIPE_STATS_TYPE: NgParseType = updown!(HOOKSTAT);
/// ASCII layout of the run-time state.
pub static PIPE_RUN_TYPE: NgParseType = updown!(HOOKRUN);

macro_rules! cmd {
    ($c:expr, $n:expr, $a:expr, $r:expr) => {
        NgCmd {
            cookie: NGM_PIPE_COOKIE,
            cmd: $c,
            name: $n,
            arg: $a,
            resp: $r,
        }
    };
}
static CMDS: &[NgCmd] = &[
    cmd!(NGM_PIPE_GET_STATS, "getstats", None, Some(&PIPE_STATS_TYPE)),
    cmd!(NGM_PIPE_CLR_STATS, "clrstats", None, None),
    cmd!(
        NGM_PIPE_GETCLR_STATS,
        "getclrstats",
        None,
        Some(&PIPE_STATS_TYPE)
    ),
    cmd!(NGM_PIPE_GET_RUN, "getrun", None, Some(&PIPE_RUN_TYPE)),
    cmd!(NGM_PIPE_GET_CFG, "getcfg", None, Some(&PIPE_CFG_TYPE)),
    cmd!(NGM_PIPE_SET_CFG, "setcfg", Some(&PIPE_CFG_TYPE), None),
];

/// The `pipe` node type.
pub struct PipeType;

impl NgType for PipeType {
    fn name(&self) -> &'static str {
        "pipe"
    }
    fn cookie(&self) -> u32 {
        NGM_PIPE_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Pipe::default()))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Disc {
    #[default]
    Fifo,
    Wfq,
    Drr,
}

#[derive(Default)]
struct Dir {
    bandwidth: u64,
    ber: u64,
    qin_limit: u32,
    qout_limit: u32,
    duplicate: u32,
    disc: Disc,
    drr_quantum: u32,
    drophead: bool,
    /// Departure times and sizes of frames still being serialised.
    qin: VecDeque<(u64, usize)>,
    /// When the transmitter is free again.
    busy_until: u64,
    /// Frames waiting for their delivery time, with the hops they had crossed.
    qout: VecDeque<(u64, u32, Mbuf)>,
}

const FWD_OCTETS: usize = 0;
const FWD_FRAMES: usize = 1;
const IN_DISC_OCTETS: usize = 2;
const IN_DISC_FRAMES: usize = 3;
const OUT_DISC_OCTETS: usize = 4;
const OUT_DISC_FRAMES: usize = 5;

#[derive(Default)]
struct Pipe {
    delay_us: u64,
    header_offset: u32,
    overhead: u32,
    /// 0: downstream (frames from `upper`), 1: upstream (frames from `lower`).
    dirs: [Dir; 2],
    /// Counters per direction (indexed like `dirs`), in [`HOOKSTAT`] order.
    stats: Stats,
}

type Stats = [[u64; 6]; 2];

fn encode_stats(stats: &Stats) -> Result<Vec<u8>, Errno> {
    let v = NgValue::record(vec![
        ("downstream", counters(&PIPE_HOOKSTAT_TYPE, &stats[0])),
        ("upstream", counters(&PIPE_HOOKSTAT_TYPE, &stats[1])),
    ]);
    ng_parse::encode(&PIPE_STATS_TYPE, &v)
}

/// Direction index of the hook a frame arrives on, and the hook it leaves by.
fn dir_of(hook: &str) -> Option<(usize, &'static str)> {
    match hook {
        "upper" => Some((0, "lower")),
        "lower" => Some((1, "upper")),
        _ => None,
    }
}

/// Uniform in [0, 1) from the space's generator.
fn unit(ctx: &mut NgCtx<'_>) -> f64 {
    (ctx.random() >> 11) as f64 / (1u64 << 53) as f64
}

impl Dir {
    fn apply(&mut self, v: &NgValue) {
        let bw = v.u64_at("bandwidth");
        if bw == u64::MAX {
            self.bandwidth = 0;
            self.disc = Disc::Fifo;
        } else if (100..=1_000_000_000).contains(&bw) {
            self.bandwidth = bw;
        }
        let ber = v.u64_at("BER");
        if ber == u64::MAX {
            self.ber = 0;
        } else if (1..=1_000_000_000_000).contains(&ber) {
            self.ber = ber;
        }
        let u = |k: &str| v.u64_at(k) as u32;
        match u("queuelen") {
            u32::MAX => self.qin_limit = 0,
            n if n >= 5 => self.qin_limit = n,
            _ => {}
        }
        match u("delaylen") {
            u32::MAX => self.qout_limit = 0,
            n if n >= 5 => self.qout_limit = n,
            _ => {}
        }
        match u("duplicate") {
            u32::MAX => self.duplicate = 0,
            n @ 1..=50 => self.duplicate = n,
            _ => {}
        }
        if u("fifo") != 0 {
            self.disc = Disc::Fifo;
        } else if u("wfq") != 0 {
            self.disc = Disc::Wfq;
        } else if u("drr") != 0 {
            self.disc = Disc::Drr;
            let q = u("drr");
            self.drr_quantum = if q >= 32 && q != u32::MAX { q } else { 2048 };
        }
        if u("droptail") != 0 {
            self.drophead = false;
        } else if u("drophead") != 0 {
            self.drophead = true;
        }
    }

    fn cfg_value(&self) -> NgValue {
        let i = |x: u64| NgValue::num(x);
        NgValue::record(vec![
            ("bandwidth", i(self.bandwidth)),
            ("BER", i(self.ber)),
            ("queuelen", i(self.qin_limit as u64)),
            ("delaylen", i(self.qout_limit as u64)),
            ("duplicate", i(self.duplicate as u64)),
            ("fifo", i((self.disc == Disc::Fifo) as u64)),
            (
                "drr",
                i(if self.disc == Disc::Drr {
                    self.drr_quantum as u64
                } else {
                    0
                }),
            ),
            ("wfq", i((self.disc == Disc::Wfq) as u64)),
            ("droptail", i((!self.drophead) as u64)),
            ("drophead", i(self.drophead as u64)),
        ])
    }

    fn run_value(&self, now: u64) -> NgValue {
        let qin: Vec<_> = self.qin.iter().filter(|(t, _)| *t > now).collect();
        let qin_octets: usize = qin.iter().map(|(_, l)| *l).sum();
        let qout_octets: usize = self.qout.iter().map(|(_, _, f)| f.len()).sum();
        let i = |x: usize| NgValue::Int(x.min(u32::MAX as usize) as i128);
        NgValue::record(vec![
            ("fifo_queues", i((!qin.is_empty()) as usize)),
            ("qin_octets", i(qin_octets)),
            ("qin_frames", i(qin.len())),
            ("qout_octets", i(qout_octets)),
            ("qout_frames", i(self.qout.len())),
        ])
    }
}

impl Pipe {
    fn passthrough(&self, d: usize) -> bool {
        let x = &self.dirs[d];
        x.bandwidth == 0 && self.delay_us == 0 && x.ber == 0 && x.duplicate == 0
    }

    fn forward(&mut self, ctx: &mut NgCtx<'_>, d: usize, out: &str, frame: Mbuf) {
        let len = frame.len() as u64;
        let st = &mut self.stats[d];
        if ctx.send_data(out, frame).is_ok() {
            st[FWD_OCTETS] += len;
            st[FWD_FRAMES] += 1;
        } else {
            st[OUT_DISC_OCTETS] += len;
            st[OUT_DISC_FRAMES] += 1;
        }
    }

    fn enqueue(&mut self, ctx: &mut NgCtx<'_>, d: usize, out: &str, frame: Mbuf) {
        let now = ctx.now_ns();
        let overhead = self.overhead as u64;
        let delay_ns = self.delay_us.saturating_mul(1000);
        let len = frame.len();
        // Bit errors: the frame survives with probability (1 - 1/BER)^(8 * bytes).
        let ber = self.dirs[d].ber;
        let lost = ber != 0 && {
            let bits = 8.0 * (len as f64 + overhead as f64);
            let p_ok = (1.0 - 1.0 / ber as f64).powf(bits);
            unit(ctx) >= p_ok
        };
        let dir = &mut self.dirs[d];
        let st = &mut self.stats[d];
        while dir.qin.front().is_some_and(|(t, _)| *t <= now) {
            dir.qin.pop_front();
        }
        let limit = if dir.qin_limit == 0 {
            DEFAULT_QIN_LIMIT
        } else {
            dir.qin_limit as usize
        };
        if dir.bandwidth != 0 && dir.qin.len() >= limit {
            st[IN_DISC_OCTETS] += len as u64;
            st[IN_DISC_FRAMES] += 1;
            return;
        }
        let depart = if dir.bandwidth != 0 {
            let bits = (len as u64 + overhead) * 8;
            let tx = (bits as u128 * 1_000_000_000 / dir.bandwidth as u128) as u64;
            let t = dir.busy_until.max(now).saturating_add(tx);
            dir.busy_until = t;
            dir.qin.push_back((t, len));
            t
        } else {
            now
        };
        if lost {
            st[OUT_DISC_OCTETS] += len as u64;
            st[OUT_DISC_FRAMES] += 1;
            return;
        }
        let due = depart.saturating_add(delay_ns);
        if due <= now && dir.qout.is_empty() {
            self.forward(ctx, d, out, frame);
            return;
        }
        let qlimit = if dir.qout_limit == 0 {
            MAX_QOUT
        } else {
            dir.qout_limit as usize
        };
        if dir.qout.len() >= qlimit {
            st[OUT_DISC_OCTETS] += len as u64;
            st[OUT_DISC_FRAMES] += 1;
            return;
        }
        dir.qout.push_back((due, ctx.hops(), frame));
        ctx.set_timer(due, d as u64);
    }
}

impl NgNode for Pipe {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        dir_of(name).map(|_| ()).ok_or(Errno::EINVAL)
    }

    fn rcvmsg(
        &mut self,
        ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_PIPE_COOKIE {
            return Err(Errno::EINVAL);
        }
        if let Some(op) = StatsCmd::of(msg.header.cmd, STATS_CMDS) {
            return op.apply(&mut self.stats, encode_stats);
        }
        match msg.header.cmd {
            NGM_PIPE_GET_RUN => {
                let now = ctx.now_ns();
                let v = NgValue::record(vec![
                    ("downstream", self.dirs[0].run_value(now)),
                    ("upstream", self.dirs[1].run_value(now)),
                ]);
                Ok(Some(ng_parse::encode(&PIPE_RUN_TYPE, &v)?))
            }
            NGM_PIPE_GET_CFG => {
                let bw = if self.dirs[0].bandwidth == self.dirs[1].bandwidth {
                    self.dirs[0].bandwidth
                } else {
                    0
                };
                let i = |x: u64| NgValue::num(x);
                let v = NgValue::record(vec![
                    ("bandwidth", i(bw)),
                    ("delay", i(self.delay_us)),
                    ("header_offset", i(self.header_offset as u64)),
                    ("overhead", i(self.overhead as u64)),
                    ("downstream", self.dirs[0].cfg_value()),
                    ("upstream", self.dirs[1].cfg_value()),
                ]);
                Ok(Some(ng_parse::encode(&PIPE_CFG_TYPE, &v)?))
            }
            NGM_PIPE_SET_CFG => {
                let v = ng_parse::decode(&PIPE_CFG_TYPE, &msg.data)?;
                match v.u64_at("delay") {
                    u64::MAX => self.delay_us = 0,
                    n @ 1..=9_999_999 => self.delay_us = n,
                    _ => {}
                }
                match v.u64_at("bandwidth") {
                    u64::MAX => {
                        for d in self.dirs.iter_mut() {
                            d.bandwidth = 0;
                        }
                        self.overhead = 0;
                    }
                    n @ 100..=1_000_000_000 => {
                        for d in self.dirs.iter_mut() {
                            d.bandwidth = n;
                        }
                        self.overhead = if n >= 10_000_000 { 24 } else { 10 };
                    }
                    _ => {}
                }
                match v.u64_at("overhead") as u32 {
                    u32::MAX => self.overhead = 0,
                    n @ 1..=255 => self.overhead = n,
                    _ => {}
                }
                match v.u64_at("header_offset") as u32 {
                    u32::MAX => self.header_offset = 0,
                    n @ 1..=63 => self.header_offset = n,
                    _ => {}
                }
                if let Some(x) = v.get("downstream") {
                    self.dirs[0].apply(x);
                }
                if let Some(x) = v.get("upstream") {
                    self.dirs[1].apply(x);
                }
                Ok(None)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let Some((d, out)) = dir_of(hook) else { return };
        if self.passthrough(d) {
            self.forward(ctx, d, out, frame);
            return;
        }
        let dup = self.dirs[d].duplicate;
        if dup != 0 && ctx.random() % 100 < dup as u64 {
            self.enqueue(ctx, d, out, frame.clone());
        }
        self.enqueue(ctx, d, out, frame);
    }

    fn timeout(&mut self, ctx: &mut NgCtx<'_>, tag: u64) {
        let d = (tag as usize).min(1);
        let out = if d == 0 { "lower" } else { "upper" };
        let now = ctx.now_ns();
        while self.dirs[d].qout.front().is_some_and(|(t, _, _)| *t <= now) {
            if let Some((_, hops, f)) = self.dirs[d].qout.pop_front() {
                // The frame goes on with the hops it had when it came in.
                ctx.set_hops(hops);
                self.forward(ctx, d, out, f);
            }
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
    use crate::NgSpace;

    const MS: u64 = 1_000_000;

    fn setup() -> (NgSpace, NodeId) {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "pipe", "u", "upper").unwrap();
        name(&mut s, me, "u", "p").unwrap();
        connect(&mut s, me, ".", "p:", "l", "lower").unwrap();
        assert_eq!(
            connect(&mut s, me, ".", "p:", "x", "middle").unwrap_err(),
            Errno::EINVAL
        );
        (s, me)
    }

    #[test]
    fn imunes_reset_and_passthrough() {
        let (mut s, me) = setup();
        let r = ascii(&mut s, me, "p:", "setcfg",
            "{bandwidth=-1 delay=-1 upstream={BER=-1 duplicate=-1} downstream={BER=-1 duplicate=-1}}").unwrap();
        assert_eq!(r, None);
        assert_eq!(
            ascii(&mut s, me, "p:", "getcfg", "").unwrap().unwrap(),
            "{ downstream={ fifo=1 droptail=1 } upstream={ fifo=1 droptail=1 } }"
        );
        s.send_data(me, "u", vec![1; 100]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "l").len(), 1);
        assert_eq!(
            ascii(&mut s, me, "p:", "setcfg", "{ bogus=1 }").unwrap_err(),
            Errno::EINVAL
        );
        // wrong arglen
        assert_eq!(
            msg(
                &mut s,
                me,
                "p:",
                NGM_PIPE_COOKIE,
                NGM_PIPE_SET_CFG,
                vec![0; 8]
            )
            .unwrap_err(),
            Errno::EINVAL
        );
    }

    #[test]
    fn delay_and_bandwidth_on_fake_time() {
        let (mut s, me) = setup();
        ascii(
            &mut s,
            me,
            "p:",
            "setcfg",
            "{ bandwidth=1000000 delay=5000 }",
        )
        .unwrap();
        let cfg = ascii(&mut s, me, "p:", "getcfg", "").unwrap().unwrap();
        assert!(
            cfg.starts_with(
                "{ bandwidth=1000000 delay=5000 overhead=10 downstream={ bandwidth=1000000"
            ),
            "{cfg}"
        );
        s.set_now(1000 * MS);
        // 115 bytes + 10 overhead = 1000 bits at 1 Mbit/s = 1 ms, then 5 ms delay.
        s.send_data(me, "u", vec![0; 115]).unwrap();
        s.send_data(me, "u", vec![0; 115]).unwrap();
        assert!(s.take_output().is_empty());
        assert_eq!(s.next_timer(), Some(1006 * MS));
        s.run_timers(1005 * MS);
        assert!(s.take_output().is_empty());
        s.run_timers(1006 * MS);
        assert_eq!(frames(&s.take_output(), me, "l").len(), 1);
        s.run_timers(1007 * MS);
        assert_eq!(frames(&s.take_output(), me, "l").len(), 1);
        // the other direction is configured too
        s.send_data(me, "l", vec![0; 115]).unwrap();
        s.run_timers(1020 * MS);
        assert_eq!(frames(&s.take_output(), me, "u").len(), 1);
        let st = ascii(&mut s, me, "p:", "getstats", "").unwrap().unwrap();
        assert_eq!(st, "{ downstream={ fwd_octets=230 fwd_frames=2 } upstream={ fwd_octets=115 fwd_frames=1 } }");
    }

    #[test]
    fn queue_limit_drops() {
        let (mut s, me) = setup();
        ascii(
            &mut s,
            me,
            "p:",
            "setcfg",
            "{ bandwidth=1000 downstream={ queuelen=5 } }",
        )
        .unwrap();
        for _ in 0..10 {
            s.send_data(me, "u", vec![0; 100]).unwrap();
        }
        let run = ascii(&mut s, me, "p:", "getrun", "").unwrap().unwrap();
        assert!(run.contains("qin_frames=5"), "{run}");
        s.run_timers(10_000 * 1000 * MS);
        assert_eq!(frames(&s.take_output(), me, "l").len(), 5);
        let st = ascii(&mut s, me, "p:", "getclrstats", "").unwrap().unwrap();
        assert!(st.contains("in_disc_octets=500 in_disc_frames=5"), "{st}");
    }

    #[test]
    fn ber_link_failure_and_duplicates() {
        let (mut s, me) = setup();
        s.set_seed(42);
        ascii(
            &mut s,
            me,
            "p:",
            "setcfg",
            "{ upstream={ BER=1 } downstream={ duplicate=50 } }",
        )
        .unwrap();
        for _ in 0..200 {
            s.send_data(me, "l", vec![0; 60]).unwrap();
            s.send_data(me, "u", vec![0; 60]).unwrap();
        }
        let out = s.take_output();
        assert!(frames(&out, me, "u").is_empty(), "BER=1 loses everything");
        let n = frames(&out, me, "l").len();
        assert!((250..350).contains(&n), "about 50% duplicated: {n}");
        // moderate BER: some frames lost, not all
        ascii(&mut s, me, "p:", "setcfg", "{ upstream={ BER=10000 } }").unwrap();
        for _ in 0..200 {
            s.send_data(me, "l", vec![0; 125]).unwrap();
        }
        let n = frames(&s.take_output(), me, "u").len();
        assert!((100..190).contains(&n), "survival about 90%: {n}");
        // reset: back to pass-through
        ascii(
            &mut s,
            me,
            "p:",
            "setcfg",
            "{ upstream={ BER=-1 } downstream={ duplicate=-1 } }",
        )
        .unwrap();
        s.send_data(me, "l", vec![0; 125]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "u").len(), 1);
    }

    #[test]
    fn shuts_down_without_hooks() {
        let (mut s, me) = setup();
        s.rmhook(me, "u");
        assert_eq!(s.count_type("pipe"), 1);
        s.rmhook(me, "l");
        assert_eq!(s.count_type("pipe"), 0);
    }
}
