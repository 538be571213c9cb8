//! `bridge`: a learning Ethernet bridge over hooks `link0`..`link31`, with loop
//! detection (a host that hops links faster than `minStableAge` mutes the link
//! for `loopTimeout` seconds), host ageing on a one-second timer, and a
//! persistent mode.

use std::any::Any;
use std::collections::HashMap;

use vimage_abi::netgraph::NgMesg;
use vimage_abi::Errno;

use crate::ng_base::{HookName, Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};
use crate::ng_stats::{encode_counters, u64_fields, StatsCmd};

/// Type cookie of `bridge`.
pub const NGM_BRIDGE_COOKIE: u32 = 967_239_368;
/// Most links.
pub const NG_BRIDGE_MAX_LINKS: usize = 32;
/// Most hosts remembered: a flood of forged source addresses cannot grow the
/// table without bound; beyond it new hosts are not learned (their frames are
/// still forwarded, by flooding) until ageing makes room.
pub const NG_BRIDGE_MAX_HOSTS: usize = 16_384;
/// Default `loopTimeout` (s).
pub const DEFAULT_LOOP_TIMEOUT: u32 = 60;
/// Default `maxStaleness` (s).
pub const DEFAULT_MAX_STALENESS: u32 = 15 * 60;
/// Default `minStableAge` (s).
pub const DEFAULT_MIN_STABLE_AGE: u32 = 1;
/// Command: set the configuration.
pub const NGM_BRIDGE_SET_CONFIG: u32 = 1;
/// Command: get the configuration.
pub const NGM_BRIDGE_GET_CONFIG: u32 = 2;
/// Command: forget all hosts.
pub const NGM_BRIDGE_RESET: u32 = 3;
/// Command: link statistics.
pub const NGM_BRIDGE_GET_STATS: u32 = 4;
/// Command: clear link statistics.
pub const NGM_BRIDGE_CLR_STATS: u32 = 5;
/// Command: link statistics, then clear them.
pub const NGM_BRIDGE_GETCLR_STATS: u32 = 6;
const STATS_CMDS: [u32; 3] = [
    NGM_BRIDGE_GET_STATS,
    NGM_BRIDGE_CLR_STATS,
    NGM_BRIDGE_GETCLR_STATS,
];
/// Command: the host table.
pub const NGM_BRIDGE_GET_TABLE: u32 = 7;
/// Command: stay alive without hooks.
pub const NGM_BRIDGE_SET_PERSISTENT: u32 = 8;

const SEC: u64 = 1_000_000_000;
const ETHER_HDR_LEN: usize = 14;

/// ASCII layout of the configuration.
pub static BRIDGE_CONFIG_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "ipfw",
        ty: NgParseType::FixedArray(&NgParseType::U8, NG_BRIDGE_MAX_LINKS),
    },
    NgField {
        name: "debugLevel",
        ty: NgParseType::U8,
    },
    NgField {
        name: "loopTimeout",
        ty: NgParseType::U32,
    },
    NgField {
        name: "maxStaleness",
        ty: NgParseType::U32,
    },
    NgField {
        name: "minStableAge",
        ty: NgParseType::U32,
    },
]);

/// ASCII layout of link statistics.
pub static BRIDGE_STATS_TYPE: NgParseType = NgParseType::Struct(u64_fields!(
    "recvOctets",
    "recvPackets",
    "recvMulticast",
    "recvBroadcast",
    "recvUnknown",
    "recvRunts",
    "recvInvalid",
    "xmitOctets",
    "xmitPackets",
    "xmitMulticasts",
    "xmitBroadcasts",
    "loopDrops",
    "loopDetects",
    "memoryFailures",
));
static HOST_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "addr",
        ty: NgParseType::Ether,
    },
    NgField {
        name: "linkNum",
        ty: NgParseType::U16,
    },
    NgField {
        name: "age",
        ty: NgParseType::U16,
    },
    NgField {
        name: "staleness",
        ty: NgParseType::U16,
    },
]);
/// ASCII layout of the host table.
pub static BRIDGE_HOSTARY_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "numHosts",
        ty: NgParseType::U32,
    },
    NgField {
        name: "hosts",
        ty: NgParseType::VarArray(&HOST_TYPE, "numHosts"),
    },
]);

macro_rules! cmd {
    ($c:expr, $n:expr, $a:expr, $r:expr) => {
        NgCmd {
            cookie: NGM_BRIDGE_COOKIE,
            cmd: $c,
            name: $n,
            arg: $a,
            resp: $r,
        }
    };
}
static CMDS: &[NgCmd] = &[
    cmd!(
        NGM_BRIDGE_SET_CONFIG,
        "setconfig",
        Some(&BRIDGE_CONFIG_TYPE),
        None
    ),
    cmd!(
        NGM_BRIDGE_GET_CONFIG,
        "getconfig",
        None,
        Some(&BRIDGE_CONFIG_TYPE)
    ),
    cmd!(NGM_BRIDGE_RESET, "reset", None, None),
    cmd!(
        NGM_BRIDGE_GET_STATS,
        "getstats",
        Some(&NgParseType::U32),
        Some(&BRIDGE_STATS_TYPE)
    ),
    cmd!(
        NGM_BRIDGE_CLR_STATS,
        "clrstats",
        Some(&NgParseType::U32),
        None
    ),
    cmd!(
        NGM_BRIDGE_GETCLR_STATS,
        "getclrstats",
        Some(&NgParseType::U32),
        Some(&BRIDGE_STATS_TYPE)
    ),
    cmd!(
        NGM_BRIDGE_GET_TABLE,
        "gettable",
        None,
        Some(&BRIDGE_HOSTARY_TYPE)
    ),
    cmd!(NGM_BRIDGE_SET_PERSISTENT, "setpersistent", None, None),
];

/// The `bridge` node type.
pub struct BridgeType;

impl NgType for BridgeType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "bridge"
    }
    fn cookie(&self) -> u32 {
        NGM_BRIDGE_COOKIE
    }
    fn constructor(&self, ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        ctx.set_timer(ctx.now_ns().saturating_add(SEC), 0);
        Ok(Box::new(Bridge {
            ipfw: [0; NG_BRIDGE_MAX_LINKS],
            debug_level: 0,
            loop_timeout: DEFAULT_LOOP_TIMEOUT,
            max_staleness: DEFAULT_MAX_STALENESS,
            min_stable_age: DEFAULT_MIN_STABLE_AGE,
            links: std::array::from_fn(|_| None),
            hosts: HashMap::new(),
            persistent: false,
            last_tick: ctx.now_ns(),
        }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

#[derive(Default, Clone)]
struct Link {
    /// Seconds left muted after a loop was detected.
    loop_count: u32,
    stats: [u64; 14],
}

#[derive(Clone, Copy)]
struct Host {
    link: usize,
    age: u16,
    staleness: u16,
}

struct Bridge {
    ipfw: [u8; NG_BRIDGE_MAX_LINKS],
    debug_level: u8,
    loop_timeout: u32,
    max_staleness: u32,
    min_stable_age: u32,
    links: [Option<Link>; NG_BRIDGE_MAX_LINKS],
    hosts: HashMap<[u8; 6], Host>,
    persistent: bool,
    /// Time of the last ageing tick.
    last_tick: u64,
}

// Indices into Link::stats, in BRIDGE_STATS_TYPE order.
const RECV_OCTETS: usize = 0;
const RECV_PACKETS: usize = 1;
const RECV_MULTICAST: usize = 2;
const RECV_BROADCAST: usize = 3;
const RECV_UNKNOWN: usize = 4;
const RECV_RUNTS: usize = 5;
const RECV_INVALID: usize = 6;
const XMIT_OCTETS: usize = 7;
const XMIT_PACKETS: usize = 8;
const XMIT_MULTICASTS: usize = 9;
const XMIT_BROADCASTS: usize = 10;
const LOOP_DROPS: usize = 11;
const LOOP_DETECTS: usize = 12;
const MEMORY_FAILURES: usize = 13;

/// Link number of hook `linkN` (no leading zeros).
fn link_num(name: &str) -> Option<usize> {
    let n = name.strip_prefix("link")?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) || !n.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let i: usize = n.parse().ok()?;
    (i < NG_BRIDGE_MAX_LINKS).then_some(i)
}

impl Bridge {
    fn link_arg(&self, msg: &NgMesg) -> Result<usize, Errno> {
        let n = ng_parse::decode(&NgParseType::U32, &msg.data)?
            .int()
            .unwrap_or(-1);
        let n = usize::try_from(n).map_err(|_| Errno::EINVAL)?;
        if n >= NG_BRIDGE_MAX_LINKS {
            return Err(Errno::EINVAL);
        }
        if self.links[n].is_none() {
            return Err(Errno::ENOTCONN);
        }
        Ok(n)
    }

    fn xmit(&mut self, ctx: &mut NgCtx<'_>, n: usize, frame: Mbuf, mcast: bool, bcast: bool) {
        let len = frame.len() as u64;
        let ok = ctx.send_data(&HookName::new("link", n), frame).is_ok();
        if let Some(l) = self.links[n].as_mut() {
            if ok {
                l.stats[XMIT_OCTETS] += len;
                l.stats[XMIT_PACKETS] += 1;
                if bcast {
                    l.stats[XMIT_BROADCASTS] += 1;
                } else if mcast {
                    l.stats[XMIT_MULTICASTS] += 1;
                }
            } else {
                l.stats[MEMORY_FAILURES] += 1;
            }
        }
    }
}

impl NgNode for Bridge {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno> {
        let n = link_num(name).ok_or(Errno::EINVAL)?;
        if self.links[n].is_some() {
            return Err(Errno::EISCONN);
        }
        self.links[n] = Some(Link::default());
        Ok(())
    }

    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_BRIDGE_COOKIE {
            return Err(Errno::EINVAL);
        }
        if let Some(op) = StatsCmd::of(msg.header.cmd, STATS_CMDS) {
            let n = self.link_arg(msg)?;
            let l = self.links[n].as_mut().ok_or(Errno::ENOTCONN)?;
            return op.apply(&mut l.stats, |s| encode_counters(&BRIDGE_STATS_TYPE, s));
        }
        match msg.header.cmd {
            NGM_BRIDGE_GET_CONFIG => {
                let v = NgValue::record(vec![
                    ("ipfw", NgValue::u8_array(&self.ipfw)),
                    ("debugLevel", NgValue::num(self.debug_level)),
                    ("loopTimeout", NgValue::num(self.loop_timeout)),
                    ("maxStaleness", NgValue::num(self.max_staleness)),
                    ("minStableAge", NgValue::num(self.min_stable_age)),
                ]);
                Ok(Some(ng_parse::encode(&BRIDGE_CONFIG_TYPE, &v)?))
            }
            NGM_BRIDGE_SET_CONFIG => {
                let v = ng_parse::decode(&BRIDGE_CONFIG_TYPE, &msg.data)?;
                v.u8s_at("ipfw", &mut self.ipfw);
                self.debug_level = v.u64_at("debugLevel") as u8;
                self.loop_timeout = v.u64_at("loopTimeout") as u32;
                self.max_staleness = v.u64_at("maxStaleness") as u32;
                self.min_stable_age = v.u64_at("minStableAge") as u32;
                Ok(None)
            }
            NGM_BRIDGE_RESET => {
                self.hosts.clear();
                for l in self.links.iter_mut().flatten() {
                    l.loop_count = 0;
                }
                Ok(None)
            }
            NGM_BRIDGE_GET_TABLE => {
                let mut hosts: Vec<_> = self.hosts.iter().collect();
                hosts.sort_by_key(|(a, _)| **a);
                let items = hosts
                    .into_iter()
                    .map(|(a, h)| {
                        NgValue::record(vec![
                            ("addr", NgValue::Ether(*a)),
                            ("linkNum", NgValue::Int(h.link as i128)),
                            ("age", NgValue::Int(h.age as i128)),
                            ("staleness", NgValue::Int(h.staleness as i128)),
                        ])
                    })
                    .collect::<Vec<_>>();
                let v = NgValue::record(vec![
                    ("numHosts", NgValue::Int(items.len() as i128)),
                    ("hosts", NgValue::Array(items)),
                ]);
                Ok(Some(ng_parse::encode(&BRIDGE_HOSTARY_TYPE, &v)?))
            }
            NGM_BRIDGE_SET_PERSISTENT => {
                self.persistent = true;
                Ok(None)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, frame: Mbuf) {
        let Some(n) = link_num(hook) else { return };
        let min_stable = self.min_stable_age;
        let loop_timeout = self.loop_timeout;
        let Some(link) = self.links[n].as_mut() else {
            return;
        };
        link.stats[RECV_OCTETS] += frame.len() as u64;
        link.stats[RECV_PACKETS] += 1;
        if frame.len() < ETHER_HDR_LEN {
            link.stats[RECV_RUNTS] += 1;
            return;
        }
        if link.loop_count != 0 {
            link.stats[LOOP_DROPS] += 1;
            return;
        }
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame.data()[0..6]);
        let mut src = [0u8; 6];
        src.copy_from_slice(&frame.data()[6..12]);
        if src[0] & 1 != 0 {
            link.stats[RECV_INVALID] += 1;
            return;
        }
        let bcast = dst == [0xff; 6];
        let mcast = dst[0] & 1 != 0;
        if bcast {
            link.stats[RECV_BROADCAST] += 1;
        } else if mcast {
            link.stats[RECV_MULTICAST] += 1;
        }
        // Learn the source.
        let room = self.hosts.len() < NG_BRIDGE_MAX_HOSTS;
        match self.hosts.get_mut(&src) {
            Some(h) if h.link != n => {
                if u32::from(h.age) < min_stable {
                    // The host moved too fast: a loop.  Mute this link.
                    if let Some(l) = self.links[n].as_mut() {
                        l.loop_count = loop_timeout;
                        l.stats[LOOP_DETECTS] += 1;
                    }
                    return;
                }
                h.link = n;
                h.age = 0;
                h.staleness = 0;
            }
            Some(h) => h.staleness = 0,
            None if room => {
                self.hosts.insert(
                    src,
                    Host {
                        link: n,
                        age: 0,
                        staleness: 0,
                    },
                );
            }
            None => {}
        }
        if !mcast {
            if let Some(h) = self.hosts.get(&dst).copied() {
                if h.link != n && self.links[h.link].is_some() {
                    self.xmit(ctx, h.link, frame, false, false);
                }
                return;
            }
            if let Some(l) = self.links[n].as_mut() {
                l.stats[RECV_UNKNOWN] += 1;
            }
        }
        for o in 0..NG_BRIDGE_MAX_LINKS {
            if o != n && self.links[o].is_some() {
                self.xmit(ctx, o, frame.clone(), mcast, bcast);
            }
        }
    }

    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, hook: &str) {
        if let Some(n) = link_num(hook) {
            self.links[n] = None;
            self.hosts.retain(|_, h| h.link != n);
        }
        if ctx.num_hooks() == 0 && !self.persistent {
            ctx.shutdown_self();
        }
    }

    fn timeout(&mut self, ctx: &mut NgCtx<'_>, _tag: u64) {
        // Whole seconds since the last tick (the kernel may call late).
        let secs = ((ctx.now_ns().saturating_sub(self.last_tick)) / SEC).max(1);
        self.last_tick = self.last_tick.saturating_add(secs * SEC);
        let ticks = u16::try_from(secs).unwrap_or(u16::MAX);
        let max = self.max_staleness;
        self.hosts.retain(|_, h| {
            h.age = h.age.saturating_add(ticks);
            h.staleness = h.staleness.saturating_add(ticks);
            u32::from(h.staleness) < max
        });
        for l in self.links.iter_mut().flatten() {
            l.loop_count = l
                .loop_count
                .saturating_sub(secs.min(u32::MAX as u64) as u32);
        }
        // At the end of time (u64 ns) there is no next tick to wait for.
        if let Some(next) = self.last_tick.checked_add(SEC) {
            ctx.set_timer(next, 0);
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

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00, 1, 2, 3, 4]);
        f
    }
    const A: [u8; 6] = [0x40, 0xa, 0xb, 0xc, 0xd, 1];
    const B: [u8; 6] = [0x40, 0xa, 0xb, 0xc, 0xd, 2];
    const C: [u8; 6] = [0x40, 0xa, 0xb, 0xc, 0xd, 3];

    #[test]
    fn three_links_learn_and_flood() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        name(&mut s, me, "l0", "br").unwrap();
        connect(&mut s, me, ".", "br:", "l1", "link1").unwrap();
        connect(&mut s, me, ".", "br:", "l2", "link2").unwrap();
        assert_eq!(
            connect(&mut s, me, ".", "br:", "x", "link32").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            connect(&mut s, me, ".", "br:", "x", "link01").unwrap_err(),
            Errno::EINVAL
        );
        // Unknown destination: flooded to the two other links.
        s.send_data(me, "l0", frame(B, A)).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "l1").len(), 1);
        assert_eq!(frames(&out, me, "l2").len(), 1);
        assert!(frames(&out, me, "l0").is_empty());
        // B answers A: A is known on link0 only.
        s.send_data(me, "l1", frame(A, B)).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "l0").len(), 1);
        assert!(frames(&out, me, "l2").is_empty());
        // Broadcast floods.
        s.send_data(me, "l2", frame([0xff; 6], C)).unwrap();
        let out = s.take_output();
        assert_eq!(
            (frames(&out, me, "l0").len(), frames(&out, me, "l1").len()),
            (1, 1)
        );
        let t = ascii(&mut s, me, "br:", "gettable", "").unwrap().unwrap();
        assert!(t.starts_with("{ numHosts=3 hosts=[ { addr=40:0a:0b:0c:0d:01 } { addr=40:0a:0b:0c:0d:02 linkNum=1 }"), "{t}");
        let st = ascii(&mut s, me, "br:", "getstats", "0").unwrap().unwrap();
        assert_eq!(st, "{ recvOctets=18 recvPackets=1 recvUnknown=1 xmitOctets=36 xmitPackets=2 xmitBroadcasts=1 }");
        assert_eq!(
            ascii(&mut s, me, "br:", "getstats", "7").unwrap_err(),
            Errno::ENOTCONN
        );
        assert_eq!(
            ascii(&mut s, me, "br:", "getstats", "32").unwrap_err(),
            Errno::EINVAL
        );
        // Runts are counted and dropped.
        s.send_data(me, "l0", vec![1, 2, 3]).unwrap();
        assert!(s.take_output().is_empty());
    }

    #[test]
    fn the_host_table_is_bounded() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        connect(&mut s, me, ".", "l0", "l1", "link1").unwrap();
        // A storm of forged sources: the table stops at its limit.
        for i in 0..(NG_BRIDGE_MAX_HOSTS as u32 + 100) {
            let b = i.to_be_bytes();
            s.send_data(me, "l0", frame(B, [0x02, 0, b[0], b[1], b[2], b[3]]))
                .unwrap();
            s.take_output();
        }
        let t = ascii(&mut s, me, "l0", "gettable", "").unwrap().unwrap();
        assert!(
            t.starts_with(&format!("{{ numHosts={NG_BRIDGE_MAX_HOSTS} ")),
            "{}",
            &t[..40]
        );
        // An unlearned host's frames still get through (flooded).
        s.send_data(me, "l0", frame(B, C)).unwrap();
        assert_eq!(frames(&s.take_output(), me, "l1").len(), 1);
    }

    #[test]
    fn loop_detection_and_ageing() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        connect(&mut s, me, ".", "l0", "l1", "link1").unwrap();
        s.send_data(me, "l0", frame(B, A)).unwrap();
        // A shows up on link1 at once: loop; link1 muted.
        s.send_data(me, "l1", frame(B, A)).unwrap();
        s.take_output();
        s.send_data(me, "l1", frame(A, C)).unwrap();
        assert!(s.take_output().is_empty());
        let st = ascii(&mut s, me, "l0", "getstats", "1").unwrap().unwrap();
        assert!(st.contains("loopDrops=1 loopDetects=1"), "{st}");
        // After loopTimeout seconds the link works again; stale hosts go.
        ascii(
            &mut s,
            me,
            "l0",
            "setconfig",
            "{ loopTimeout=2 maxStaleness=5 minStableAge=1 }",
        )
        .unwrap();
        let cfg = ascii(&mut s, me, "l0", "getconfig", "").unwrap().unwrap();
        assert_eq!(cfg, "{ loopTimeout=2 maxStaleness=5 minStableAge=1 }");
        s.run_timers(60 * SEC);
        s.send_data(me, "l1", frame(A, C)).unwrap();
        assert_eq!(frames(&s.take_output(), me, "l0").len(), 1);
        s.run_timers(70 * SEC);
        let t = ascii(&mut s, me, "l0", "gettable", "").unwrap().unwrap();
        assert_eq!(t, "{ }");
    }

    #[test]
    fn ageing_survives_the_end_of_time() {
        // Found by fuzzing: the next tick overflowed u64 near the largest time
        // (a panic in debug builds), and a saturated tick would re-fire forever.
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        s.send_data(me, "l0", frame(B, A)).unwrap();
        s.run_timers(u64::MAX - 1);
        s.run_timers(u64::MAX);
        assert_eq!(s.next_timer(), None);
        mkpeer(&mut s, me, ".", "bridge", "l1", "link0").unwrap();
        s.run_timers(u64::MAX);
        assert_eq!(s.next_timer(), None);
        assert_eq!(s.count_type("bridge"), 2);
    }

    #[test]
    fn persistence() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        s.rmhook(me, "l0");
        assert_eq!(s.count_type("bridge"), 0);
        mkpeer(&mut s, me, ".", "bridge", "l0", "link0").unwrap();
        ascii(&mut s, me, "l0", "setpersistent", "").unwrap();
        s.rmhook(me, "l0");
        assert_eq!(s.count_type("bridge"), 1);
    }
}
