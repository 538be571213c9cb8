//! The firewall proper (FreeBSD's netinet/ip_fw2.c): each vnet's rule chain
//! and tunables ([`VnetIpfw`]), the rule evaluation a packet goes through
//! ([`ipfw_chk`]) and the dynamic rules `keep-state` makes.
//!
//! A chain is a sorted list of rules ending with the default rule 65535.
//! Packets read it without holding a lock while they walk it: a writer
//! (a tool adding or deleting rules through the raw socket) builds a new
//! list and swaps it in, and the rules themselves are shared between the old
//! and the new list, so their counters survive.  Evaluation is ipfw2's: the
//! first rule whose match instructions all hold decides with its action;
//! `count` and `skipto` update the rule and go on; `check-state` and the
//! probe a `keep-state` rule starts with send a packet of a known flow
//! straight to the action of the rule that made the flow's dynamic rule.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use vimage_abi::ip_fw::*;
use vimage_abi::Errno;
use vimage_kern::vnet::{VnetKey, VNET_MOD_IPFW};
use vimage_net::if_var::Ifnet;
use vimage_net::pfil::PfilDir;

/// The IPFW module's key: curvnet's firewall, borrowed.
pub static VNET_IPFW: VnetKey<VnetIpfw> = VnetKey::new(VNET_MOD_IPFW);

/// Most bytes of encoded static rules a vnet may hold (a tenant's bound,
/// and what keeps an `IP_FW_GET` answer within one door frame); adding past
/// it is `ENOSPC`, as FreeBSD answers when a rule cannot be allocated.
pub const IPFW_STATIC_BUDGET: usize = 384 * 1024;
/// Largest `net.inet.ip.fw.dyn_max` (dynamic rules per vnet).
pub const IPFW_DYN_MAX_LIMIT: i64 = 8192;
/// Log lines a vnet may print per second, whatever its rules ask (the
/// kernel console is shared by every tenant).
pub const IPFW_LOG_RATE: u32 = 100;

/// IP protocol numbers the evaluation looks into.
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// A rule in a chain: the decoded instructions, the counters packets update
/// without a lock, and the set (which set commands move without rebuilding
/// the chain).
#[derive(Debug)]
pub struct Rule {
    /// Its number.
    pub rulenum: u16,
    set: AtomicU8,
    /// Match instructions.
    pub cmd: Vec<Insn>,
    /// Action part (optional log, action).
    pub act: Vec<Insn>,
    pcnt: AtomicU64,
    bcnt: AtomicU64,
    timestamp: AtomicU32,
    /// `log_left` of the rule's log instruction.
    log_left: AtomicU32,
    /// `max_log` of the rule's log instruction (0: none, or unlimited).
    max_log: u32,
    /// Encoded size (what the vnet's budget counts).
    size: usize,
}

impl Rule {
    /// A rule as an `IP_FW_ADD` brought it: counters zeroed, the log
    /// allowance full (`check_ipfw_struct`).
    pub fn new(r: &IpFwRule) -> Rule {
        let max_log = match r.log().map(|i| &i.cmd) {
            Some(Cmd::Log { max_log, .. }) => *max_log,
            _ => 0,
        };
        Rule {
            rulenum: r.rulenum,
            set: AtomicU8::new(r.set),
            cmd: r.cmd.clone(),
            act: r.act.clone(),
            pcnt: AtomicU64::new(0),
            bcnt: AtomicU64::new(0),
            timestamp: AtomicU32::new(0),
            log_left: AtomicU32::new(max_log),
            max_log,
            size: r.size(),
        }
    }

    /// Its set.
    pub fn set(&self) -> u8 {
        self.set.load(Ordering::Relaxed)
    }

    /// (packets, bytes, time stamp).
    pub fn counters(&self) -> (u64, u64, u32) {
        (
            self.pcnt.load(Ordering::Relaxed),
            self.bcnt.load(Ordering::Relaxed),
            self.timestamp.load(Ordering::Relaxed),
        )
    }

    /// The rule as `IP_FW_GET` reports it.
    pub fn to_abi(&self) -> IpFwRule {
        let (pcnt, bcnt, timestamp) = self.counters();
        let left = self.log_left.load(Ordering::Relaxed);
        let act = self
            .act
            .iter()
            .map(|i| match i.cmd {
                Cmd::Log { max_log, .. } => Insn {
                    cmd: Cmd::Log {
                        max_log,
                        log_left: left,
                    },
                    ..i.clone()
                },
                _ => i.clone(),
            })
            .collect();
        IpFwRule {
            rulenum: self.rulenum,
            set: self.set(),
            pcnt,
            bcnt,
            timestamp,
            cmd: self.cmd.clone(),
            act,
        }
    }

    /// The action (the last instruction).
    fn action(&self) -> &Cmd {
        self.act.last().map_or(&Cmd::Deny, |i| &i.cmd)
    }

    /// A packet of `len` bytes matched it at uptime second `now`.
    fn count(&self, len: u64, now: u32) {
        self.pcnt.fetch_add(1, Ordering::Relaxed);
        self.bcnt.fetch_add(len, Ordering::Relaxed);
        self.timestamp.store(now, Ordering::Relaxed);
    }

    /// `clear_counters`: the counters and time stamp (unless `log_only`) and
    /// the log allowance.
    fn clear(&self, log_only: bool) {
        if !log_only {
            self.pcnt.store(0, Ordering::Relaxed);
            self.bcnt.store(0, Ordering::Relaxed);
            self.timestamp.store(0, Ordering::Relaxed);
        }
        self.log_left.store(self.max_log, Ordering::Relaxed);
    }
}

/// The default rule, `65535 deny ip from any to any` in the reserved set.
fn default_rule() -> Arc<Rule> {
    Arc::new(Rule::new(&IpFwRule {
        rulenum: IPFW_DEFAULT_RULE,
        set: RESVD_SET,
        act: vec![Insn::new(Cmd::Deny)],
        ..IpFwRule::default()
    }))
}

/// A chain: rules sorted by number (rules of one number in the order they
/// came), the default rule last.
pub type Chain = Arc<Vec<Arc<Rule>>>;

/// One flow's dynamic rule (`ipfw_dyn_rule`).
#[derive(Debug)]
struct DynRule {
    /// The flow as its first packet went: (proto, src, sport, dst, dport).
    id: FlowId,
    /// The rule that made it; its action is what the flow's packets get.
    parent: Arc<Rule>,
    /// Uptime second it expires at.
    expire: u64,
    pcnt: u64,
    bcnt: u64,
    /// TCP flags seen: the forward direction's low byte, the reverse's high.
    state: u32,
    ack_fwd: u32,
    ack_rev: u32,
}

/// A flow as a packet shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowId {
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

impl FlowId {
    /// The same flow seen from its other end.
    fn reverse(self) -> FlowId {
        FlowId {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
    /// One key for both directions: the lesser end first.
    fn key(self) -> FlowId {
        if (self.src, self.sport) <= (self.dst, self.dport) {
            self
        } else {
            self.reverse()
        }
    }
}

/// A vnet's dynamic rules.
#[derive(Debug, Default)]
struct DynTable {
    map: HashMap<FlowId, DynRule>,
    /// Uptime second of the last sweep of expired rules.
    swept: u64,
    /// The hash size in use (`curr_dyn_buckets`), fixed while rules exist.
    buckets: i64,
}

impl DynTable {
    /// Drop the expired rules (`remove_dyn_rule(NULL, ...)`).
    fn sweep(&mut self, now: u64) {
        self.map.retain(|_, d| d.expire > now);
        self.swept = now;
    }
}

/// The IPFW module's per-vnet state: the chain, the sets, the tunables
/// (`net.inet.ip.fw.*`), the dynamic rules.
pub struct VnetIpfw {
    chain: RwLock<Chain>,
    /// Serializes writers (readers never wait for it).
    writer: Mutex<()>,
    /// Disabled sets, one bit each (`set_disable`).
    pub set_disable: AtomicU32,
    /// `net.inet.ip.fw.enable`: filter IPv4.
    pub fw_enable: AtomicI64,
    /// `net.inet6.ip6.fw.enable`: filter IPv6.
    pub fw6_enable: AtomicI64,
    /// `net.inet.ip.fw.one_pass`: reinjected packets skip the rest (nothing
    /// reinjects packets here: no dummynet, divert or netgraph action).
    pub one_pass: AtomicI64,
    /// `net.inet.ip.fw.autoinc_step`: numbering step of `add` without a
    /// number (clamped to 1..=1000 when used).
    pub autoinc_step: AtomicI64,
    /// `net.inet.ip.fw.verbose`: `log` rules print to the console.
    pub verbose: AtomicI64,
    /// `net.inet.ip.fw.verbose_limit`: lines per rule (0: no limit), what
    /// `log` without `logamount` gets.
    pub verbose_limit: AtomicI64,
    /// `net.inet.ip.fw.dyn_buckets`: hash size asked for dynamic rules.
    pub dyn_buckets: AtomicI64,
    /// `net.inet.ip.fw.dyn_max`: most dynamic rules.
    pub dyn_max: AtomicI64,
    /// `net.inet.ip.fw.dyn_ack_lifetime`: established TCP flows, s.
    pub dyn_ack_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_syn_lifetime`: opening TCP flows, s.
    pub dyn_syn_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_fin_lifetime`: TCP flows closed both ways, s.
    pub dyn_fin_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_rst_lifetime`: reset TCP flows, s.
    pub dyn_rst_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_udp_lifetime`: UDP flows, s.
    pub dyn_udp_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_short_lifetime`: other flows, s.
    pub dyn_short_lifetime: AtomicI64,
    /// `net.inet.ip.fw.dyn_keepalive`: keep expiring TCP flows alive
    /// (accepted; no keepalives are sent here).
    pub dyn_keepalive: AtomicI64,
    /// `net.inet6.ip6.fw.deny_unknown_exthdrs` (accepted; every extension
    /// header is walked or ends the walk).
    pub deny_unknown_exthdrs: AtomicI64,
    dyn_rules: Mutex<DynTable>,
    /// The lookup tables (`table(N)`).
    pub tables: crate::ip_fw_table::Tables,
    /// Log lines printed in the current second: (second, lines).
    log_rate: Mutex<(u64, u32)>,
}

impl VnetIpfw {
    /// A vnet's firewall as loading makes it: the default rule alone,
    /// filtering on, FreeBSD 7's defaults.
    pub fn new() -> VnetIpfw {
        VnetIpfw {
            chain: RwLock::new(Arc::new(vec![default_rule()])),
            writer: Mutex::new(()),
            set_disable: AtomicU32::new(0),
            fw_enable: AtomicI64::new(1),
            fw6_enable: AtomicI64::new(1),
            one_pass: AtomicI64::new(1),
            autoinc_step: AtomicI64::new(100),
            verbose: AtomicI64::new(0),
            verbose_limit: AtomicI64::new(0),
            dyn_buckets: AtomicI64::new(256),
            dyn_max: AtomicI64::new(4096),
            dyn_ack_lifetime: AtomicI64::new(300),
            dyn_syn_lifetime: AtomicI64::new(20),
            dyn_fin_lifetime: AtomicI64::new(1),
            dyn_rst_lifetime: AtomicI64::new(1),
            dyn_udp_lifetime: AtomicI64::new(10),
            dyn_short_lifetime: AtomicI64::new(5),
            dyn_keepalive: AtomicI64::new(1),
            deny_unknown_exthdrs: AtomicI64::new(1),
            dyn_rules: Mutex::new(DynTable {
                buckets: 256,
                ..DynTable::default()
            }),
            tables: crate::ip_fw_table::Tables::default(),
            log_rate: Mutex::new((0, 0)),
        }
    }

    /// The chain now (a reference count, no lock held afterwards).
    pub fn chain(&self) -> Chain {
        self.chain
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replace the chain with `f(current)` under the writer lock.
    fn write<R>(
        &self,
        f: impl FnOnce(&Chain) -> Result<(Vec<Arc<Rule>>, R), Errno>,
    ) -> Result<R, Errno> {
        let _w = self.writer.lock().map_err(|_| Errno::EDOOFUS)?;
        let cur = self.chain();
        let (next, r) = f(&cur)?;
        if let Ok(mut g) = self.chain.write() {
            *g = Arc::new(next);
        }
        Ok(r)
    }

    /// `static_count`: rules in the chain, the default included.
    pub fn static_count(&self) -> usize {
        self.chain().len()
    }

    /// `dyn_count`: dynamic rules.
    pub fn dyn_count(&self) -> usize {
        self.dyn_rules.lock().map(|d| d.map.len()).unwrap_or(0)
    }

    /// `curr_dyn_buckets`.
    pub fn curr_dyn_buckets(&self) -> i64 {
        self.dyn_rules.lock().map(|d| d.buckets).unwrap_or(0)
    }

    /// `add_rule`: insert `r` after the rules of its number (number 0: the
    /// highest number below the default rule plus `autoinc_step`, or that
    /// number again if the step would reach the default rule); the rule as
    /// stored.  `EINVAL` for the default rule's number, `ENOSPC` past the
    /// vnet's budget.
    pub fn add_rule(&self, r: &IpFwRule) -> Result<IpFwRule, Errno> {
        if r.rulenum == IPFW_DEFAULT_RULE {
            return Err(Errno::EINVAL);
        }
        let step = self.autoinc_step.load(Ordering::Relaxed).clamp(1, 1000) as u32;
        self.write(|cur| {
            let used: usize = cur.iter().map(|x| x.size).sum();
            if used + r.size() > IPFW_STATIC_BUDGET {
                return Err(Errno::ENOSPC);
            }
            let mut rule = Rule::new(r);
            if rule.rulenum == 0 {
                let last = cur
                    .iter()
                    .map(|x| x.rulenum)
                    .filter(|n| *n != IPFW_DEFAULT_RULE)
                    .max()
                    .unwrap_or(0);
                let n = u32::from(last);
                rule.rulenum = if n < u32::from(IPFW_DEFAULT_RULE) - step {
                    (n + step) as u16
                } else {
                    last
                };
            }
            let at = cur
                .iter()
                .position(|x| x.rulenum > rule.rulenum)
                .unwrap_or(cur.len());
            let stored = rule.to_abi();
            let mut next: Vec<Arc<Rule>> = cur.iter().cloned().collect();
            next.insert(at, Arc::new(rule));
            Ok((next, stored))
        })
    }

    /// Drop the dynamic rules made by any of `gone` (or all, with `None`).
    fn remove_dyn(&self, gone: Option<&[Arc<Rule>]>) {
        if let Ok(mut d) = self.dyn_rules.lock() {
            match gone {
                None => d.map.clear(),
                Some(g) => d
                    .map
                    .retain(|_, x| !g.iter().any(|r| Arc::ptr_eq(r, &x.parent))),
            }
        }
    }

    /// `del_entry` (`IP_FW_DEL` with one word): the top byte is the command
    /// — 0 delete the rules numbered N, 1 delete set N, 2 move rule N to set
    /// S, 3 move set N to set S, 4 swap sets N and S, 5 delete rule N of set
    /// S — with N in the low 16 bits and S in bits 16..24.  `EINVAL` for a
    /// bad command, set or number, or no rule N to delete.
    pub fn del_entry(&self, arg: u32) -> Result<(), Errno> {
        let num = (arg & 0xffff) as u16;
        let cmd = (arg >> 24) as u8;
        let new_set = ((arg >> 16) & 0xff) as u8;
        if cmd > 5 || new_set > RESVD_SET {
            return Err(Errno::EINVAL);
        }
        if matches!(cmd, 0 | 2 | 5) {
            if num == IPFW_DEFAULT_RULE {
                return Err(Errno::EINVAL);
            }
        } else if num > u16::from(RESVD_SET) {
            return Err(Errno::EINVAL);
        }
        let gone = self.write(|cur| {
            let movable = |r: &Rule| r.rulenum != IPFW_DEFAULT_RULE;
            let del = |pred: &dyn Fn(&Rule) -> bool| {
                let (gone, keep): (Vec<Arc<Rule>>, Vec<Arc<Rule>>) =
                    cur.iter().cloned().partition(|r| movable(r) && pred(r));
                (keep, gone)
            };
            match cmd {
                0 | 5 => {
                    if !cur.iter().any(|r| r.rulenum == num) {
                        return Err(Errno::EINVAL);
                    }
                    Ok(if cmd == 0 {
                        del(&|r| r.rulenum == num)
                    } else {
                        del(&|r| r.rulenum == num && r.set() == new_set)
                    })
                }
                1 => Ok(del(&|r| u16::from(r.set()) == num)),
                _ => {
                    for r in cur.iter().filter(|r| movable(r)) {
                        let s = r.set();
                        let to = match cmd {
                            2 if r.rulenum == num => Some(new_set),
                            3 if u16::from(s) == num => Some(new_set),
                            4 if u16::from(s) == num => Some(new_set),
                            4 if s == new_set => Some(num as u8),
                            _ => None,
                        };
                        if let Some(to) = to {
                            r.set.store(to, Ordering::Relaxed);
                        }
                    }
                    Ok((cur.iter().cloned().collect(), Vec::new()))
                }
            }
        })?;
        if !gone.is_empty() {
            self.remove_dyn(Some(&gone));
        }
        Ok(())
    }

    /// `IP_FW_DEL` with two words: disable the sets of `disable`, enable
    /// those of `enable`; the reserved set stays enabled.
    pub fn set_sets(&self, disable: u32, enable: u32) {
        let cur = self.set_disable.load(Ordering::Relaxed);
        let next = (cur | disable) & !enable & !(1 << RESVD_SET);
        self.set_disable.store(next, Ordering::Relaxed);
    }

    /// `IP_FW_FLUSH`: every rule but the reserved set's, and every dynamic
    /// rule.
    pub fn flush(&self) {
        let _ = self.write(|cur| {
            Ok((
                cur.iter()
                    .filter(|r| r.set() == RESVD_SET)
                    .cloned()
                    .collect(),
                (),
            ))
        });
        self.remove_dyn(None);
    }

    /// `zero_entry` (`IP_FW_ZERO`, `IP_FW_RESETLOG` with `log_only`): rule
    /// number 0 is every rule; bits 16..24 a set and a top byte of 1 limit
    /// it to that set.  `EINVAL` for a bad command or set, or no rule of that
    /// number.
    pub fn zero_entry(&self, arg: u32, log_only: bool) -> Result<(), Errno> {
        let num = (arg & 0xffff) as u16;
        let set = ((arg >> 16) & 0xff) as u8;
        let cmd = (arg >> 24) as u8;
        if cmd > 1 || (cmd == 1 && set > RESVD_SET) {
            return Err(Errno::EINVAL);
        }
        let chain = self.chain();
        let in_set = |r: &Rule| cmd == 0 || r.set() == set;
        if num == 0 {
            chain
                .iter()
                .filter(|r| in_set(r))
                .for_each(|r| r.clear(log_only));
        } else {
            if !chain.iter().any(|r| r.rulenum == num) {
                return Err(Errno::EINVAL);
            }
            chain
                .iter()
                .filter(|r| r.rulenum == num && in_set(r))
                .for_each(|r| r.clear(log_only));
        }
        if self.verbose.load(Ordering::Relaxed) != 0 {
            let msg = match (num, log_only) {
                (0, false) => "ipfw: Accounting cleared.".to_string(),
                (0, true) => "ipfw: All logging counts reset.".to_string(),
                (n, false) => format!("ipfw: Entry {n} cleared."),
                (n, true) => format!("ipfw: Entry {n} logging count reset."),
            };
            crate::ip_fw_log::console(&msg);
        }
        Ok(())
    }

    /// What `IP_FW_GET` answers: the sets, the time, every rule, every
    /// dynamic rule with the seconds it has left.
    pub fn getrules(&self) -> IpFwGet {
        let now = now_s();
        let rules = self.chain().iter().map(|r| r.to_abi()).collect();
        let dyn_rules = self
            .dyn_rules
            .lock()
            .map(|d| {
                let mut v: Vec<IpFwDyn> = d
                    .map
                    .values()
                    .map(|x| IpFwDyn {
                        rulenum: x.parent.rulenum,
                        set: x.parent.set(),
                        dyn_type: op::O_KEEP_STATE,
                        expire: x.expire.saturating_sub(now) as u32,
                        pcnt: x.pcnt,
                        bcnt: x.bcnt,
                        proto: x.id.proto,
                        src: (x.id.src, x.id.sport),
                        dst: (x.id.dst, x.id.dport),
                    })
                    .collect();
                v.sort_by_key(|x| x.rulenum);
                v
            })
            .unwrap_or_default();
        IpFwGet {
            set_disable: self.set_disable.load(Ordering::Relaxed),
            now: now as u32,
            rules,
            dyn_rules,
        }
    }
}

impl Default for VnetIpfw {
    fn default() -> Self {
        Self::new()
    }
}

/// Kernel uptime in whole seconds, at least 1 (0 means "never" in a rule's
/// time stamp).
pub fn now_s() -> u64 {
    (vimage_kern::kern_timeout::getnow_ns() / 1_000_000_000).max(1)
}

// ---------------------------------------------------------------------------
// The packet

/// What the evaluation knows of a packet (`struct ip_fw_args` and the
/// fields `ipfw_chk` pulls up).
#[derive(Clone, Copy, Debug)]
pub struct Pkt<'a> {
    /// The datagram from its IP header (empty for a frame that carries no
    /// IP).
    pub data: &'a [u8],
    /// Whether there is an IP datagram at all: a layer-2 frame of another
    /// ethertype (ARP…) has none, and no IP-level test matches it.
    pub ip: bool,
    /// The Ethernet header of a packet seen at layer 2 (`args->eh`).
    pub eh: Option<EtherHdr>,
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Length counted in the byte counters (`ip_len`).
    pub len: u64,
    /// Fragment offset in 8-byte units; not 0: no upper-layer header here.
    pub offset: u16,
    /// More fragments follow (IPv4 `IP_MF`, IPv6 M flag).
    pub more_frags: bool,
    /// Source and destination port (TCP and UDP, first fragment).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP flags, sequence and acknowledgment numbers, data length.
    pub tcp: Option<(u8, u32, u32, u32)>,
    /// ICMP (or ICMPv6) type and code.
    pub icmp: Option<(u8, u8)>,
    /// IPv4 identification (for log lines of fragments).
    pub ip_id: u16,
    /// Where the upper-layer header starts.
    pub hlen: usize,
}

/// The Ethernet header of a frame the firewall sees at layer 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherHdr {
    /// Destination then source address, as on the wire.
    pub addrs: [u8; 12],
    /// Ethertype.
    pub etype: u16,
}

/// Ethertypes carrying IPv4 and IPv6.
const ETHERTYPE_IP: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

impl<'a> Pkt<'a> {
    /// A frame seen at layer 2 (`ether_ipfw_chk`): the Ethernet header,
    /// then the IPv4 or IPv6 datagram it carries pulled up as at layer 3;
    /// any other ethertype has no IP fields.  `None`: too short for its
    /// headers (denied, as a failed pullup is).
    pub fn parse_frame(frame: &'a [u8]) -> Option<Pkt<'a>> {
        let hdr = frame.get(..14)?;
        let mut addrs = [0u8; 12];
        addrs.copy_from_slice(&hdr[..12]);
        let etype = u16::from_be_bytes([hdr[12], hdr[13]]);
        let body = &frame[14..];
        let mut p = match etype {
            ETHERTYPE_IP => Self::parse(body, false)?,
            ETHERTYPE_IPV6 => Self::parse(body, true)?,
            _ => Pkt {
                data: &body[..0],
                ip: false,
                eh: None,
                v6: false,
                src: Ipv4Addr::UNSPECIFIED.into(),
                dst: Ipv4Addr::UNSPECIFIED.into(),
                proto: 0,
                len: body.len() as u64,
                offset: 0,
                more_frags: false,
                sport: 0,
                dport: 0,
                tcp: None,
                icmp: None,
                ip_id: 0,
                hlen: 0,
            },
        };
        p.eh = Some(EtherHdr { addrs, etype });
        Some(p)
    }

    /// Pull the fields up from `data` (an IPv4 datagram, or IPv6 with
    /// `v6`); `None` when a header the rules would look at is cut short
    /// (FreeBSD denies such a packet: "pullup failed").
    pub fn parse(data: &'a [u8], v6: bool) -> Option<Pkt<'a>> {
        let mut p = if v6 {
            Self::parse6(data)?
        } else {
            Self::parse4(data)?
        };
        if p.offset == 0 {
            let ulp = data.get(p.hlen..)?;
            match p.proto {
                IPPROTO_TCP => {
                    if ulp.len() < 20 {
                        return None;
                    }
                    p.sport = u16::from_be_bytes([ulp[0], ulp[1]]);
                    p.dport = u16::from_be_bytes([ulp[2], ulp[3]]);
                    let seq = u32::from_be_bytes([ulp[4], ulp[5], ulp[6], ulp[7]]);
                    let ack = u32::from_be_bytes([ulp[8], ulp[9], ulp[10], ulp[11]]);
                    let off = usize::from(ulp[12] >> 4) * 4;
                    let dlen = ulp.len().saturating_sub(off) as u32;
                    p.tcp = Some((ulp[13], seq, ack, dlen));
                }
                IPPROTO_UDP => {
                    if ulp.len() < 8 {
                        return None;
                    }
                    p.sport = u16::from_be_bytes([ulp[0], ulp[1]]);
                    p.dport = u16::from_be_bytes([ulp[2], ulp[3]]);
                }
                IPPROTO_ICMP | IPPROTO_ICMPV6 => {
                    if ulp.len() < 4 {
                        return None;
                    }
                    p.icmp = Some((ulp[0], ulp[1]));
                }
                _ => {}
            }
        }
        Some(p)
    }

    fn parse4(d: &'a [u8]) -> Option<Pkt<'a>> {
        let hl = usize::from(d.first()? & 0x0f) * 4;
        if hl < 20 || d.len() < hl || d[0] >> 4 != 4 {
            return None;
        }
        let off = u16::from_be_bytes([d[6], d[7]]);
        Some(Pkt {
            data: d,
            ip: true,
            eh: None,
            v6: false,
            src: Ipv4Addr::new(d[12], d[13], d[14], d[15]).into(),
            dst: Ipv4Addr::new(d[16], d[17], d[18], d[19]).into(),
            proto: d[9],
            len: d.len() as u64,
            offset: off & 0x1fff,
            more_frags: off & 0x2000 != 0,
            sport: 0,
            dport: 0,
            tcp: None,
            icmp: None,
            ip_id: u16::from_be_bytes([d[4], d[5]]),
            hlen: hl,
        })
    }

    fn parse6(d: &'a [u8]) -> Option<Pkt<'a>> {
        if d.len() < 40 || d[0] >> 4 != 6 {
            return None;
        }
        let a = |o: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[o..o + 16]);
            Ipv6Addr::from(b)
        };
        let mut p = Pkt {
            data: d,
            ip: true,
            eh: None,
            v6: true,
            src: a(8).into(),
            dst: a(24).into(),
            proto: d[6],
            len: d.len() as u64,
            offset: 0,
            more_frags: false,
            sport: 0,
            dport: 0,
            tcp: None,
            icmp: None,
            ip_id: 0,
            hlen: 40,
        };
        // Walk the extension headers to the upper layer (a bounded walk).
        for _ in 0..32 {
            match p.proto {
                0 | 43 | 60 => {
                    let h = d.get(p.hlen..p.hlen + 2)?;
                    p.proto = h[0];
                    p.hlen += (usize::from(h[1]) + 1) * 8;
                }
                44 => {
                    let h = d.get(p.hlen..p.hlen + 8)?;
                    p.proto = h[0];
                    let fo = u16::from_be_bytes([h[2], h[3]]);
                    p.offset = fo >> 3;
                    p.more_frags = fo & 1 != 0;
                    p.hlen += 8;
                    if p.offset != 0 {
                        break;
                    }
                }
                51 => {
                    let h = d.get(p.hlen..p.hlen + 2)?;
                    p.proto = h[0];
                    p.hlen += (usize::from(h[1]) + 2) * 4;
                }
                _ => break,
            }
        }
        if p.hlen > d.len() {
            return None;
        }
        Some(p)
    }

    fn flow(&self) -> FlowId {
        FlowId {
            proto: self.proto,
            src: self.src,
            sport: self.sport,
            dst: self.dst,
            dport: self.dport,
        }
    }

    fn is_tcp(&self) -> bool {
        self.proto == IPPROTO_TCP && self.offset == 0 && self.tcp.is_some()
    }
}

/// fnmatch(3) without flags, for interface patterns (`via eth*`): `*`, `?`,
/// `[...]` classes with ranges and `!`, `\` escapes.
pub fn fnmatch(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    // Classic backtracking on the last star: linear in practice.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p, pi, s[si]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == s[si]).then_some(pi + 2),
            Some(c) => (*c == s[si]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(n) => {
                pi = n;
                si += 1;
            }
            None => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Match `c` against the class starting at `p[at] == '['`; the index after
/// the class if it matches.  An unterminated class is a literal `[`.
fn class(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut i = at + 1;
    let neg = matches!(p.get(i), Some('!'));
    if neg {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let x = *p.get(i)?;
        if x == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let hi = p[i + 2];
            hit |= (x..=hi).contains(&c);
            i += 3;
        } else {
            hit |= x == c;
            i += 1;
        }
    }
    (hit != neg).then_some(i + 1)
}

/// `iface_match`: the interface by name (or pattern) or by one of its
/// IPv4 addresses.
fn iface_match(ifp: Option<&Arc<Ifnet>>, spec: &IfSpec) -> bool {
    let Some(ifp) = ifp else {
        return false;
    };
    match spec {
        IfSpec::Name { name, glob: true } => fnmatch(name, &ifp.name()),
        IfSpec::Name { name, glob: false } => *name == ifp.name(),
        IfSpec::Addr(a) => vimage_inet::r#in::in_addrs(ifp)
            .iter()
            .any(|x| x.addr == *a),
    }
}

/// Whether `a` is one of curvnet's IPv6 addresses (`me6`).
fn me6(a: &IpAddr) -> bool {
    #[cfg(feature = "inet6")]
    if let IpAddr::V6(a) = a {
        return vimage_inet::netinet6::in6::in6_ifawithaddr(a, 0).is_some();
    }
    let _ = a;
    false
}

/// One match instruction on the packet (without its `not`), with the
/// vnet's tables `tables`.
fn match_cmd(
    c: &Cmd,
    p: &Pkt<'_>,
    dir: PfilDir,
    ifp: &Arc<Ifnet>,
    tables: &crate::ip_fw_table::Tables,
) -> bool {
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    };
    let v6 = |a: &IpAddr| match a {
        IpAddr::V6(a) => Some(*a),
        IpAddr::V4(_) => None,
    };
    let ports = |l: &[(u16, u16)], x: u16| {
        matches!(p.proto, IPPROTO_TCP | IPPROTO_UDP)
            && p.offset == 0
            && l.iter().any(|(lo, hi)| (*lo..=*hi).contains(&x))
    };
    let masked4 = |l: &[(Ipv4Addr, Ipv4Addr)], a: Option<Ipv4Addr>| {
        a.is_some_and(|a| {
            l.iter()
                .any(|(x, m)| u32::from(a) & u32::from(*m) == u32::from(*x))
        })
    };
    let masked6 = |l: &[(Ipv6Addr, Ipv6Addr)], a: Option<Ipv6Addr>| {
        a.is_some_and(|a| {
            l.iter()
                .any(|(x, m)| u128::from(a) & u128::from(*m) == u128::from(*x))
        })
    };
    let (rcvif, oif) = match dir {
        PfilDir::In => (Some(ifp), None),
        PfilDir::Out => (None, Some(ifp)),
    };
    if !p.ip && needs_ip(c) {
        return false;
    }
    match c {
        Cmd::Comment(_) => true,
        Cmd::Layer2 => p.eh.is_some(),
        Cmd::MacAddr2 { addr, mask } => p.eh.is_some_and(|eh| {
            eh.addrs
                .iter()
                .zip(mask)
                .zip(addr)
                .all(|((b, m), a)| b & m == *a)
        }),
        Cmd::MacType(l) => {
            p.eh.is_some_and(|eh| l.iter().any(|(lo, hi)| (*lo..=*hi).contains(&eh.etype)))
        }
        Cmd::IpSrc(a) => v4(&p.src) == Some(*a),
        Cmd::IpDst(a) => v4(&p.dst) == Some(*a),
        Cmd::IpSrcMask(l) => masked4(l, v4(&p.src)),
        Cmd::IpDstMask(l) => masked4(l, v4(&p.dst)),
        Cmd::IpSrcMe => v4(&p.src).is_some_and(vimage_inet::r#in::in_localaddr),
        Cmd::IpDstMe => v4(&p.dst).is_some_and(vimage_inet::r#in::in_localaddr),
        Cmd::IpSrcSet(s) => v4(&p.src).is_some_and(|a| s.contains(a)),
        Cmd::IpDstSet(s) => v4(&p.dst).is_some_and(|a| s.contains(a)),
        Cmd::IpSrcLookup { table, value } | Cmd::IpDstLookup { table, value } => {
            let a = if matches!(c, Cmd::IpSrcLookup { .. }) {
                v4(&p.src)
            } else {
                v4(&p.dst)
            };
            a.and_then(|a| tables.lookup(*table, a))
                .is_some_and(|v| value.is_none_or(|want| v == want))
        }
        Cmd::SrcPort(l) => ports(l, p.sport),
        Cmd::DstPort(l) => ports(l, p.dport),
        Cmd::Proto(n) => p.proto == *n,
        Cmd::In => dir == PfilDir::In,
        Cmd::Frag => p.offset != 0,
        Cmd::Recv(s) => iface_match(rcvif, s),
        Cmd::Xmit(s) => iface_match(oif, s),
        Cmd::Via(s) => iface_match(oif.or(rcvif), s),
        Cmd::Estab => {
            p.is_tcp()
                && p.tcp
                    .is_some_and(|t| t.0 & (TH_RST | TH_ACK | TH_SYN) != TH_SYN)
        }
        Cmd::TcpFlags { set, clear } => {
            p.is_tcp() && p.tcp.is_some_and(|t| t.0 & clear == 0 && t.0 & set == *set)
        }
        Cmd::IcmpTypes(m) => {
            !p.v6
                && p.proto == IPPROTO_ICMP
                && p.icmp.is_some_and(|(t, _)| t < 32 && m & (1 << t) != 0)
        }
        Cmd::Ip4 => p.ip && !p.v6,
        Cmd::Ip6 => p.v6,
        Cmd::Ip6Src(a) => v6(&p.src) == Some(*a),
        Cmd::Ip6Dst(a) => v6(&p.dst) == Some(*a),
        Cmd::Ip6SrcMask(l) => masked6(l, v6(&p.src)),
        Cmd::Ip6DstMask(l) => masked6(l, v6(&p.dst)),
        Cmd::Ip6SrcMe => p.v6 && me6(&p.src),
        Cmd::Ip6DstMe => p.v6 && me6(&p.dst),
        // Evaluated by ipfw_chk itself.
        Cmd::ProbeState | Cmd::KeepState | Cmd::Log { .. } => true,
        Cmd::CheckState
        | Cmd::Accept
        | Cmd::Deny
        | Cmd::Reject(_)
        | Cmd::Count
        | Cmd::Skipto(_) => true,
    }
}

/// Whether test `c` looks at the IP datagram (and so never matches a
/// layer-2 frame that carries none, as ipfw2's tests check `is_ipv4`).
fn needs_ip(c: &Cmd) -> bool {
    !matches!(
        c,
        Cmd::Comment(_)
            | Cmd::Layer2
            | Cmd::MacAddr2 { .. }
            | Cmd::MacType(_)
            | Cmd::In
            | Cmd::Recv(_)
            | Cmd::Xmit(_)
            | Cmd::Via(_)
            | Cmd::ProbeState
            | Cmd::KeepState
            | Cmd::Log { .. }
    ) && !c.is_action()
}

/// What the evaluation decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwVerdict {
    /// `IP_FW_PASS`.
    Pass,
    /// `IP_FW_DENY` (a reject's notice already sent).
    Deny,
}

impl VnetIpfw {
    /// `lookup_dyn_rule`: the flow's dynamic rule, with its counters and
    /// TCP state brought up to date by this packet and its lifetime
    /// renewed; expired rules met on the way are dropped.
    fn lookup_dyn(&self, p: &Pkt<'_>, now: u64) -> Option<Arc<Rule>> {
        let id = p.flow();
        let mut d = self.dyn_rules.lock().ok()?;
        if d.swept + 1 < now {
            d.sweep(now);
        }
        let key = id.key();
        let q = d.map.get_mut(&key)?;
        if q.expire <= now {
            d.map.remove(&key);
            return None;
        }
        let forward = q.id == id;
        if !forward && q.id != id.reverse() {
            return None;
        }
        q.pcnt += 1;
        q.bcnt += p.len;
        self.dyn_update(q, p, forward, now);
        Some(q.parent.clone())
    }

    /// The state machine of a flow's lifetime (`lookup_dyn_rule_locked`'s
    /// second half): TCP flows by the flags seen each way, UDP and others by
    /// their own lifetimes.
    fn dyn_update(&self, q: &mut DynRule, p: &Pkt<'_>, forward: bool, now: u64) {
        let life = |a: &AtomicI64| now + a.load(Ordering::Relaxed).max(0) as u64;
        const BOTH_SYN: u32 = (TH_SYN as u32) | ((TH_SYN as u32) << 8);
        const BOTH_FIN: u32 = (TH_FIN as u32) | ((TH_FIN as u32) << 8);
        match p.tcp {
            Some((flags, _, ack, _)) if p.proto == IPPROTO_TCP => {
                let f = u32::from(flags & (TH_FIN | TH_SYN | TH_RST));
                q.state |= if forward { f } else { f << 8 };
                let st = q.state;
                if st == u32::from(TH_SYN) {
                    q.expire = life(&self.dyn_syn_lifetime);
                } else if st == BOTH_SYN
                    || st == BOTH_SYN | u32::from(TH_FIN)
                    || st == BOTH_SYN | (u32::from(TH_FIN) << 8)
                {
                    // Established: out-of-sequence acknowledgments do not
                    // renew the flow.
                    let seen = if forward {
                        &mut q.ack_fwd
                    } else {
                        &mut q.ack_rev
                    };
                    if *seen == 0 || (ack.wrapping_sub(*seen) as i32) >= 0 {
                        *seen = ack;
                        q.expire = life(&self.dyn_ack_lifetime);
                    }
                } else if st == BOTH_SYN | BOTH_FIN {
                    q.expire = life(&self.dyn_fin_lifetime);
                } else {
                    q.expire = life(&self.dyn_rst_lifetime);
                }
            }
            _ if p.proto == IPPROTO_UDP => q.expire = life(&self.dyn_udp_lifetime),
            _ => q.expire = life(&self.dyn_short_lifetime),
        }
    }

    /// `install_state`: a dynamic rule for the packet's flow, made by
    /// `parent`; false when the table is full even after dropping the
    /// expired rules (the packet is then denied).
    fn install_state(&self, parent: &Arc<Rule>, p: &Pkt<'_>, now: u64) -> bool {
        let Ok(mut d) = self.dyn_rules.lock() else {
            return false;
        };
        let id = p.flow();
        let key = id.key();
        if d.map.get(&key).is_some_and(|q| q.expire > now) {
            // Already there (a probe found nothing only because it ran
            // before another packet of the flow made it): nothing to do.
            return true;
        }
        let max = self
            .dyn_max
            .load(Ordering::Relaxed)
            .clamp(0, IPFW_DYN_MAX_LIMIT) as usize;
        if d.map.len() >= max {
            d.sweep(now);
            if d.map.len() >= max {
                return false;
            }
        }
        if d.map.is_empty() {
            d.buckets = self.dyn_buckets.load(Ordering::Relaxed);
        }
        let mut q = DynRule {
            id,
            parent: parent.clone(),
            expire: now + self.dyn_syn_lifetime.load(Ordering::Relaxed).max(0) as u64,
            pcnt: 0,
            bcnt: 0,
            state: 0,
            ack_fwd: 0,
            ack_rev: 0,
        };
        // The packet that made it counts as its first (lifetime by its flags).
        self.dyn_update(&mut q, p, true, now);
        d.map.insert(key, q);
        true
    }

    /// Whether one more log line fits in this second's allowance.
    pub(crate) fn log_ok(&self, now: u64) -> bool {
        let Ok(mut g) = self.log_rate.lock() else {
            return false;
        };
        if g.0 != now {
            *g = (now, 0);
        }
        g.1 += 1;
        g.1 <= IPFW_LOG_RATE
    }

    /// A `log` instruction of `f` reached: print the packet when verbose,
    /// within the rule's allowance.
    fn log(&self, f: &Rule, p: &Pkt<'_>, dir: PfilDir, ifp: &Arc<Ifnet>, now: u64) {
        if self.verbose.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut limit_reached = None;
        if f.max_log != 0 {
            let left = f.log_left.load(Ordering::Relaxed);
            if left == 0 {
                return;
            }
            f.log_left.store(left - 1, Ordering::Relaxed);
            if left == 1 {
                limit_reached = Some(f.max_log);
            }
        }
        if !self.log_ok(now) {
            return;
        }
        crate::ip_fw_log::ipfw_log(f.rulenum, f.action(), p, dir, ifp);
        if let Some(n) = limit_reached {
            crate::ip_fw_log::console(&format!("ipfw: limit {n} reached on entry {}", f.rulenum));
        }
    }
}

/// `ipfw_chk`: run the packet in `data` (IPv6 with `v6`) through curvnet's
/// chain `st`, as it goes `dir` by `ifp`.  A rule whose action is `reject`,
/// `unreach` or `reset` sends its notice from here.
pub fn ipfw_chk(st: &VnetIpfw, data: &[u8], v6: bool, dir: PfilDir, ifp: &Arc<Ifnet>) -> FwVerdict {
    let Some(p) = Pkt::parse(data, v6) else {
        // A header the rules need is cut short: FreeBSD denies it.
        return FwVerdict::Deny;
    };
    ipfw_chk_pkt(st, &p, dir, ifp)
}

/// `ipfw_chk` for an Ethernet frame seen at layer 2 (`ether_ipfw_chk`).
pub fn ipfw_chk_frame(st: &VnetIpfw, frame: &[u8], dir: PfilDir, ifp: &Arc<Ifnet>) -> FwVerdict {
    let Some(p) = Pkt::parse_frame(frame) else {
        return FwVerdict::Deny;
    };
    ipfw_chk_pkt(st, &p, dir, ifp)
}

/// Run packet `p` through the chain.
fn ipfw_chk_pkt(st: &VnetIpfw, p: &Pkt<'_>, dir: PfilDir, ifp: &Arc<Ifnet>) -> FwVerdict {
    let p = *p;
    let chain = st.chain();
    let now = now_s();
    let now32 = now as u32;
    let set_disable = st.set_disable.load(Ordering::Relaxed);
    // The dynamic rules are looked up once per packet, at the first probe.
    let mut looked_up = false;
    let mut i = 0;
    'rules: while i < chain.len() {
        let f = &chain[i];
        if set_disable & (1 << (f.set() & 31)) != 0 {
            i += 1;
            continue;
        }
        // The match part.
        let mut skip_or = false;
        let mut target: Option<Arc<Rule>> = None;
        for insn in &f.cmd {
            if skip_or {
                if !insn.or {
                    skip_or = false;
                }
                continue;
            }
            let m = match &insn.cmd {
                Cmd::ProbeState if !looked_up => {
                    looked_up = true;
                    if let Some(parent) = st.lookup_dyn(&p, now) {
                        target = Some(parent);
                        break;
                    }
                    true
                }
                Cmd::KeepState => {
                    if !st.install_state(f, &p, now) {
                        f.count(p.len, now32);
                        return FwVerdict::Deny;
                    }
                    true
                }
                c => match_cmd(c, &p, dir, ifp, &st.tables) != insn.not,
            };
            if m {
                if insn.or {
                    skip_or = true;
                }
            } else if !insn.or {
                i += 1;
                continue 'rules;
            }
        }
        // The action part, of this rule or of the rule a flow belongs to.
        let mut g: Arc<Rule> = target.unwrap_or_else(|| f.clone());
        loop {
            let mut jump = None;
            for insn in &g.act {
                match insn.cmd {
                    Cmd::Log { .. } => st.log(&g, &p, dir, ifp, now),
                    Cmd::Accept => {
                        g.count(p.len, now32);
                        return FwVerdict::Pass;
                    }
                    Cmd::Deny => {
                        g.count(p.len, now32);
                        return FwVerdict::Deny;
                    }
                    Cmd::Reject(code) => {
                        g.count(p.len, now32);
                        crate::ip_fw_pfil::send_reject(&p, code, dir, ifp);
                        return FwVerdict::Deny;
                    }
                    Cmd::Count => {
                        g.count(p.len, now32);
                        i = position(&chain, &g).map_or(i, |x| x) + 1;
                        continue 'rules;
                    }
                    Cmd::Skipto(n) => {
                        g.count(p.len, now32);
                        // The first rule after this one numbered at least
                        // `n`; none: simply the next.
                        let me = position(&chain, &g).unwrap_or(i);
                        i = chain
                            .iter()
                            .enumerate()
                            .skip(me + 1)
                            .find(|(_, r)| r.rulenum >= n)
                            .map_or(me + 1, |(x, _)| x);
                        continue 'rules;
                    }
                    Cmd::CheckState => {
                        if !looked_up {
                            looked_up = true;
                            jump = st.lookup_dyn(&p, now);
                            if jump.is_some() {
                                break;
                            }
                        }
                        i += 1;
                        continue 'rules;
                    }
                    _ => {}
                }
            }
            // A check-state found the flow: the action of its rule (once:
            // the lookup is done now).  No action at all cannot happen
            // (decoding refuses such a rule); it would go on to the next.
            match jump {
                Some(parent) => g = parent,
                None => {
                    i += 1;
                    continue 'rules;
                }
            }
        }
    }
    // Past the default rule: cannot happen with a well-formed chain.
    FwVerdict::Deny
}

/// Where rule `r` is in `chain` (it may have gone since a flow recorded it).
fn position(chain: &[Arc<Rule>], r: &Arc<Rule>) -> Option<usize> {
    chain.iter().position(|x| Arc::ptr_eq(x, r))
}
