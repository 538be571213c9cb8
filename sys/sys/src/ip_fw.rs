//! The IP firewall's control ABI (FreeBSD's netinet/ip_fw.h, ipfw2): the
//! socket options ipfw(8) sets and gets on a raw IP socket, and the rule
//! encoding both sides share.
//!
//! A rule travels as a fixed header and a compact list of instructions in
//! the spirit of ipfw2's `struct ip_fw` and `ipfw_insn` (the layout is our
//! own, little-endian and host independent):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | rule number (1..65535; 0 asks the kernel to pick one) |
//! | 2 | 1 | set (0..31) |
//! | 3 | 1 | reserved, 0 |
//! | 4 | 2 | `act_ofs`: where the action part starts, in 32-bit words |
//! | 6 | 2 | `cmd_len`: instruction words |
//! | 8 | 8 | packets matched |
//! | 16 | 8 | bytes matched |
//! | 24 | 4 | last match, kernel uptime seconds (0: never) |
//! | 28 | 4 | reserved, 0 |
//! | 32 | 4·`cmd_len` | instructions |
//!
//! An instruction is one word — opcode, length (low 6 bits, in words, this
//! word included; [`F_NOT`] and [`F_OR`] above them) and a 16-bit argument —
//! followed by its operand words.  The match instructions come first, then
//! the action part: an optional `log`, then exactly one action, last.  The
//! opcode numbers are ipfw2's.  Every decoder here checks sizes, operands
//! and that layout, and answers anything else with `EINVAL`; nothing a
//! tenant hands the kernel can make it panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{Reader, Writer};
use crate::Errno;

/// `IP_FW_TABLE_ADD`: add an entry to a lookup table (setsockopt).
pub const IP_FW_TABLE_ADD: i32 = 40;
/// `IP_FW_TABLE_DEL`: delete a table entry (setsockopt).
pub const IP_FW_TABLE_DEL: i32 = 41;
/// `IP_FW_TABLE_FLUSH`: empty a table (setsockopt).
pub const IP_FW_TABLE_FLUSH: i32 = 42;
/// `IP_FW_TABLE_GETSIZE`: entries in a table (getsockopt).
pub const IP_FW_TABLE_GETSIZE: i32 = 43;
/// `IP_FW_TABLE_LIST`: a table's entries (getsockopt).
pub const IP_FW_TABLE_LIST: i32 = 44;
/// `IP_FW_ADD`: add a rule; a getsockopt whose buffer carries the rule in
/// and the rule as stored (its number filled in) out.
pub const IP_FW_ADD: i32 = 50;
/// `IP_FW_DEL`: delete rules or sets, move or swap sets, or (two words)
/// disable and enable sets (setsockopt).
pub const IP_FW_DEL: i32 = 51;
/// `IP_FW_FLUSH`: delete every rule but the reserved set's (setsockopt).
pub const IP_FW_FLUSH: i32 = 52;
/// `IP_FW_ZERO`: clear counters, of all rules or of one number (setsockopt).
pub const IP_FW_ZERO: i32 = 53;
/// `IP_FW_GET`: every rule and dynamic rule (getsockopt), see [`IpFwGet`].
pub const IP_FW_GET: i32 = 54;
/// `IP_FW_RESETLOG`: reset logging counts (setsockopt).
pub const IP_FW_RESETLOG: i32 = 55;

/// `IPFW_DEFAULT_RULE`: the last rule of every chain, never deleted.
pub const IPFW_DEFAULT_RULE: u16 = 65535;
/// `RESVD_SET`: the set of the default rule, untouched by flush and sets.
pub const RESVD_SET: u8 = 31;
/// `RULE_MAXSIZE`: largest rule accepted, header included, in bytes.
pub const IPFW_RULE_MAXSIZE: usize = 1024;
/// Size of the rule header.
pub const IPFW_RULE_HDR: usize = 32;
/// Most instruction words in one rule.
pub const IPFW_CMD_MAXLEN: usize = (IPFW_RULE_MAXSIZE - IPFW_RULE_HDR) / 4;
/// Longest rule comment (`// ...`), in bytes (ipfw(8)'s limit).
pub const IPFW_COMMENT_MAX: usize = 80;
/// `IPFW_TABLES_MAX`: lookup tables 0..128 per vnet.
pub const IPFW_TABLES_MAX: u16 = 128;
/// `IFNAMSIZ` as an interface instruction holds names.
const IFNAMSIZ: usize = crate::IFNAMSIZ;

/// Negate the instruction's result (`not`).
pub const F_NOT: u8 = 0x80;
/// "Or" with the next instruction (`{ a or b }`).
pub const F_OR: u8 = 0x40;
/// The length bits of an instruction's length byte.
pub const F_LEN_MASK: u8 = 0x3f;

/// `arg1` of a reject that answers a TCP segment with a RST (`reset`).
pub const ICMP_REJECT_RST: u16 = 0x100;
/// `ICMP_UNREACH_HOST`: what `reject` sends.
pub const ICMP_UNREACH_HOST: u16 = 1;

/// TCP flag bits as `tcpflags` names them (`th_flags`).
pub const TH_FIN: u8 = 0x01;
/// SYN.
pub const TH_SYN: u8 = 0x02;
/// RST.
pub const TH_RST: u8 = 0x04;
/// PSH.
pub const TH_PUSH: u8 = 0x08;
/// ACK.
pub const TH_ACK: u8 = 0x10;
/// URG.
pub const TH_URG: u8 = 0x20;

/// The ipfw2 opcode numbers this implementation knows (`enum
/// ipfw_opcodes`).
pub mod op {
    /// Does nothing; carries a rule's comment.
    pub const O_NOP: u8 = 0;
    /// Source is one IPv4 address.
    pub const O_IP_SRC: u8 = 1;
    /// Source is in a list of address/mask pairs.
    pub const O_IP_SRC_MASK: u8 = 2;
    /// Source is one of our addresses (`me`).
    pub const O_IP_SRC_ME: u8 = 3;
    /// Source is in an address set (`A/24{1,5,10-20}`).
    pub const O_IP_SRC_SET: u8 = 4;
    /// Destination is one IPv4 address.
    pub const O_IP_DST: u8 = 5;
    /// Destination is in a list of address/mask pairs.
    pub const O_IP_DST_MASK: u8 = 6;
    /// Destination is one of our addresses.
    pub const O_IP_DST_ME: u8 = 7;
    /// Destination is in an address set.
    pub const O_IP_DST_SET: u8 = 8;
    /// Source port in a list of ranges.
    pub const O_IP_SRCPORT: u8 = 9;
    /// Destination port in a list of ranges.
    pub const O_IP_DSTPORT: u8 = 10;
    /// Protocol number (`arg1`).
    pub const O_PROTO: u8 = 11;
    /// Destination and source MAC address under a mask (layer 2 only).
    pub const O_MACADDR2: u8 = 12;
    /// Ethertype in a list of ranges (layer 2 only).
    pub const O_MAC_TYPE: u8 = 13;
    /// A packet seen at layer 2 (`ether_demux`, `ether_output_frame`).
    pub const O_LAYER2: u8 = 14;
    /// Incoming (with [`super::F_NOT`]: outgoing).
    pub const O_IN: u8 = 15;
    /// A fragment other than the first.
    pub const O_FRAG: u8 = 16;
    /// Received by an interface.
    pub const O_RECV: u8 = 17;
    /// Sent by an interface.
    pub const O_XMIT: u8 = 18;
    /// Received or sent by an interface.
    pub const O_VIA: u8 = 19;
    /// TCP, not a bare SYN (`established`).
    pub const O_ESTAB: u8 = 29;
    /// TCP flags set and clear (`arg1` = set | clear << 8).
    pub const O_TCPFLAGS: u8 = 30;
    /// ICMP types (a bitmap of types 0..31).
    pub const O_ICMPTYPE: u8 = 34;
    /// Look the packet up in the dynamic rules (made for `keep-state`).
    pub const O_PROBE_STATE: u8 = 38;
    /// Make a dynamic rule for the packet's flow.
    pub const O_KEEP_STATE: u8 = 39;
    /// Log the packet (`log [logamount N]`).
    pub const O_LOG: u8 = 42;
    /// Action: look the packet up in the dynamic rules.
    pub const O_CHECK_STATE: u8 = 44;
    /// Action: let it pass.
    pub const O_ACCEPT: u8 = 45;
    /// Action: drop it.
    pub const O_DENY: u8 = 46;
    /// Action: drop it and send an ICMP unreachable (or a TCP RST).
    pub const O_REJECT: u8 = 47;
    /// Action: count it and go on.
    pub const O_COUNT: u8 = 48;
    /// Action: go on at the first rule numbered at least `arg1`.
    pub const O_SKIPTO: u8 = 49;
    /// Source is in lookup table `arg1` (with a value word: with that value).
    pub const O_IP_SRC_LOOKUP: u8 = 58;
    /// Destination is in lookup table `arg1`.
    pub const O_IP_DST_LOOKUP: u8 = 59;
    /// Source is one IPv6 address.
    pub const O_IP6_SRC: u8 = 65;
    /// Source is one of our IPv6 addresses (`me6`).
    pub const O_IP6_SRC_ME: u8 = 66;
    /// Source is in a list of IPv6 address/mask pairs.
    pub const O_IP6_SRC_MASK: u8 = 67;
    /// Destination is one IPv6 address.
    pub const O_IP6_DST: u8 = 68;
    /// Destination is one of our IPv6 addresses.
    pub const O_IP6_DST_ME: u8 = 69;
    /// Destination is in a list of IPv6 address/mask pairs.
    pub const O_IP6_DST_MASK: u8 = 70;
    /// The packet is IPv6 (`ip6`).
    pub const O_IP6: u8 = 74;
    /// The packet is IPv4 (`ip4`).
    pub const O_IP4: u8 = 77;
}
use op::*;

/// An interface an instruction names: by name (a shell pattern when
/// `glob`), or by one of its IPv4 addresses (`ipfw_insn_if`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfSpec {
    /// By name, at most 15 bytes.
    Name {
        /// The name or pattern.
        name: String,
        /// Whether it holds `*`, `?` or `[` (matched as fnmatch(3) does).
        glob: bool,
    },
    /// By address.
    Addr(Ipv4Addr),
}

/// An address set (`A/24{1,5,10-20}`): a base and a bitmap of hosts above it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSet {
    /// The base address (its low `32 - log2(size)` bits may be set).
    pub base: Ipv4Addr,
    /// Hosts in the set: a power of two, 2..=256.
    pub size: u16,
    /// One bit per host above `base & !(size - 1)`, `size` bits rounded up
    /// to whole words.
    pub map: Vec<u32>,
}

impl AddrSet {
    /// Whether `a` is in the set.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let size = u32::from(self.size);
        let base = u32::from(self.base) & !(size - 1);
        let a = u32::from(a);
        if a & !(size - 1) != base {
            return false;
        }
        let i = (a - base) as usize;
        self.map
            .get(i / 32)
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    }
}

/// What one instruction says (its operands decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `// comment` (an `O_NOP` carrying text).
    Comment(String),
    /// `from A`.
    IpSrc(Ipv4Addr),
    /// `to A`.
    IpDst(Ipv4Addr),
    /// `from A/len,B:mask,...`: (address, mask) pairs, address masked.
    IpSrcMask(Vec<(Ipv4Addr, Ipv4Addr)>),
    /// `to A/len,...`.
    IpDstMask(Vec<(Ipv4Addr, Ipv4Addr)>),
    /// `from me`.
    IpSrcMe,
    /// `to me`.
    IpDstMe,
    /// `from A/24{...}`.
    IpSrcSet(AddrSet),
    /// `to A/24{...}`.
    IpDstSet(AddrSet),
    /// `from table(N[,V])`: in lookup table `table` (with value `value`).
    IpSrcLookup {
        /// The table, below [`IPFW_TABLES_MAX`].
        table: u16,
        /// The value the entry must have, if given.
        value: Option<u32>,
    },
    /// `to table(N[,V])`.
    IpDstLookup {
        /// The table.
        table: u16,
        /// The value, if given.
        value: Option<u32>,
    },
    /// Source ports: inclusive ranges.
    SrcPort(Vec<(u16, u16)>),
    /// Destination ports: inclusive ranges.
    DstPort(Vec<(u16, u16)>),
    /// Protocol number.
    Proto(u8),
    /// `MAC dst src` (`mac`): the destination then the source address,
    /// each under its mask (an address is stored masked).
    MacAddr2 {
        /// Destination (bytes 0..6) and source (6..12).
        addr: [u8; 12],
        /// Their masks, same layout; all zero: `any`.
        mask: [u8; 12],
    },
    /// `mac-type`: ethertypes, inclusive ranges.
    MacType(Vec<(u16, u16)>),
    /// `layer2`.
    Layer2,
    /// `in` (`out` is `in` negated).
    In,
    /// `frag`.
    Frag,
    /// `recv IF`.
    Recv(IfSpec),
    /// `xmit IF`.
    Xmit(IfSpec),
    /// `via IF`.
    Via(IfSpec),
    /// `established`.
    Estab,
    /// `tcpflags` (`setup` is SYN set, ACK clear).
    TcpFlags {
        /// Flags that must be set.
        set: u8,
        /// Flags that must be clear.
        clear: u8,
    },
    /// `icmptypes`: a bitmap of types 0..31.
    IcmpTypes(u32),
    /// The implicit first instruction of a `keep-state` rule.
    ProbeState,
    /// `keep-state`.
    KeepState,
    /// `ip4`.
    Ip4,
    /// `ip6`.
    Ip6,
    /// `from A6`.
    Ip6Src(Ipv6Addr),
    /// `to A6`.
    Ip6Dst(Ipv6Addr),
    /// `from A6/len,...`.
    Ip6SrcMask(Vec<(Ipv6Addr, Ipv6Addr)>),
    /// `to A6/len,...`.
    Ip6DstMask(Vec<(Ipv6Addr, Ipv6Addr)>),
    /// `from me6`.
    Ip6SrcMe,
    /// `to me6`.
    Ip6DstMe,
    /// `log [logamount N]`: at most `max_log` lines (0: as many as
    /// `net.inet.ip.fw.verbose_limit` allows), `log_left` of them left.
    Log {
        /// The limit.
        max_log: u32,
        /// Lines left before the limit.
        log_left: u32,
    },
    /// Action `check-state`.
    CheckState,
    /// Action `allow` (`accept`, `pass`, `permit`).
    Accept,
    /// Action `deny` (`drop`).
    Deny,
    /// Action `reject` (code [`ICMP_UNREACH_HOST`]), `unreach CODE`, or
    /// `reset` ([`ICMP_REJECT_RST`]).
    Reject(u16),
    /// Action `count`.
    Count,
    /// Action `skipto N`.
    Skipto(u16),
}

impl Cmd {
    /// Whether this is an action (it ends a rule).
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            Cmd::CheckState
                | Cmd::Accept
                | Cmd::Deny
                | Cmd::Reject(_)
                | Cmd::Count
                | Cmd::Skipto(_)
        )
    }
    /// The ipfw2 opcode.
    pub fn opcode(&self) -> u8 {
        match self {
            Cmd::Comment(_) => O_NOP,
            Cmd::IpSrc(_) => O_IP_SRC,
            Cmd::IpDst(_) => O_IP_DST,
            Cmd::IpSrcMask(_) => O_IP_SRC_MASK,
            Cmd::IpDstMask(_) => O_IP_DST_MASK,
            Cmd::IpSrcMe => O_IP_SRC_ME,
            Cmd::IpDstMe => O_IP_DST_ME,
            Cmd::IpSrcSet(_) => O_IP_SRC_SET,
            Cmd::IpDstSet(_) => O_IP_DST_SET,
            Cmd::IpSrcLookup { .. } => O_IP_SRC_LOOKUP,
            Cmd::IpDstLookup { .. } => O_IP_DST_LOOKUP,
            Cmd::SrcPort(_) => O_IP_SRCPORT,
            Cmd::DstPort(_) => O_IP_DSTPORT,
            Cmd::Proto(_) => O_PROTO,
            Cmd::MacAddr2 { .. } => O_MACADDR2,
            Cmd::MacType(_) => O_MAC_TYPE,
            Cmd::Layer2 => O_LAYER2,
            Cmd::In => O_IN,
            Cmd::Frag => O_FRAG,
            Cmd::Recv(_) => O_RECV,
            Cmd::Xmit(_) => O_XMIT,
            Cmd::Via(_) => O_VIA,
            Cmd::Estab => O_ESTAB,
            Cmd::TcpFlags { .. } => O_TCPFLAGS,
            Cmd::IcmpTypes(_) => O_ICMPTYPE,
            Cmd::ProbeState => O_PROBE_STATE,
            Cmd::KeepState => O_KEEP_STATE,
            Cmd::Ip4 => O_IP4,
            Cmd::Ip6 => O_IP6,
            Cmd::Ip6Src(_) => O_IP6_SRC,
            Cmd::Ip6Dst(_) => O_IP6_DST,
            Cmd::Ip6SrcMask(_) => O_IP6_SRC_MASK,
            Cmd::Ip6DstMask(_) => O_IP6_DST_MASK,
            Cmd::Ip6SrcMe => O_IP6_SRC_ME,
            Cmd::Ip6DstMe => O_IP6_DST_ME,
            Cmd::Log { .. } => O_LOG,
            Cmd::CheckState => O_CHECK_STATE,
            Cmd::Accept => O_ACCEPT,
            Cmd::Deny => O_DENY,
            Cmd::Reject(_) => O_REJECT,
            Cmd::Count => O_COUNT,
            Cmd::Skipto(_) => O_SKIPTO,
        }
    }
}

/// One instruction: what it says, negated or not, "or"ed with the next or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// The test or action.
    pub cmd: Cmd,
    /// [`F_NOT`].
    pub not: bool,
    /// [`F_OR`].
    pub or: bool,
}

impl Insn {
    /// A plain instruction.
    pub fn new(cmd: Cmd) -> Insn {
        Insn {
            cmd,
            not: false,
            or: false,
        }
    }
}

/// A rule (`struct ip_fw`) with its instructions decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpFwRule {
    /// Its number (0 in an `IP_FW_ADD`: the kernel picks one).
    pub rulenum: u16,
    /// Its set, 0..=31.
    pub set: u8,
    /// Packets matched.
    pub pcnt: u64,
    /// Bytes matched.
    pub bcnt: u64,
    /// Last match, kernel uptime seconds; 0: never.
    pub timestamp: u32,
    /// Match instructions, in order.
    pub cmd: Vec<Insn>,
    /// The action part: an optional [`Cmd::Log`], then one action.
    pub act: Vec<Insn>,
}

/// Put an IPv4 address in a word as its octets.
fn w_ip4(w: &mut Writer, a: Ipv4Addr) {
    w.raw(&a.octets());
}

fn r_ip4(r: &mut Reader<'_>) -> Result<Ipv4Addr, Errno> {
    let b = r.take(4)?;
    Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn r_ip6(r: &mut Reader<'_>) -> Result<Ipv6Addr, Errno> {
    let b = r.take(16)?;
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ok(Ipv6Addr::from(o))
}

impl Insn {
    /// Operand words this instruction needs.
    fn operand_words(&self) -> usize {
        match &self.cmd {
            Cmd::Comment(s) => (s.len() + 1).div_ceil(4),
            Cmd::IpSrc(_) | Cmd::IpDst(_) | Cmd::IcmpTypes(_) => 1,
            Cmd::IpSrcMask(l) | Cmd::IpDstMask(l) => 2 * l.len(),
            Cmd::IpSrcSet(s) | Cmd::IpDstSet(s) => 1 + s.map.len(),
            Cmd::IpSrcLookup { value, .. } | Cmd::IpDstLookup { value, .. } => {
                usize::from(value.is_some())
            }
            Cmd::SrcPort(p) | Cmd::DstPort(p) | Cmd::MacType(p) => p.len(),
            Cmd::MacAddr2 { .. } => 6,
            Cmd::Recv(_) | Cmd::Xmit(_) | Cmd::Via(_) => 1 + IFNAMSIZ / 4,
            Cmd::Ip6Src(_) | Cmd::Ip6Dst(_) => 4,
            Cmd::Ip6SrcMask(l) | Cmd::Ip6DstMask(l) => 8 * l.len(),
            Cmd::Log { .. } => 2,
            _ => 0,
        }
    }

    /// The instruction's size in words, header included.
    pub fn words(&self) -> usize {
        1 + self.operand_words()
    }

    fn arg1(&self) -> u16 {
        match &self.cmd {
            Cmd::Proto(p) => u16::from(*p),
            Cmd::TcpFlags { set, clear } => u16::from(*set) | (u16::from(*clear) << 8),
            Cmd::Reject(c) => *c,
            Cmd::Skipto(n) => *n,
            Cmd::IpSrcSet(s) | Cmd::IpDstSet(s) => s.size,
            Cmd::IpSrcLookup { table, .. } | Cmd::IpDstLookup { table, .. } => *table,
            _ => 0,
        }
    }

    /// Append the encoding (the caller checked the size fits).
    fn encode(&self, w: &mut Writer) {
        let mut len = (self.words() as u8) & F_LEN_MASK;
        if self.not {
            len |= F_NOT;
        }
        if self.or {
            len |= F_OR;
        }
        w.u8(self.cmd.opcode()).u8(len).u16(self.arg1());
        match &self.cmd {
            Cmd::Comment(s) => {
                let mut b = s.as_bytes().to_vec();
                b.resize(4 * self.operand_words(), 0);
                w.raw(&b);
            }
            Cmd::IpSrc(a) | Cmd::IpDst(a) => w_ip4(w, *a),
            Cmd::IcmpTypes(m) => {
                w.u32(*m);
            }
            Cmd::IpSrcMask(l) | Cmd::IpDstMask(l) => {
                for (a, m) in l {
                    w_ip4(w, *a);
                    w_ip4(w, *m);
                }
            }
            Cmd::IpSrcSet(s) | Cmd::IpDstSet(s) => {
                w_ip4(w, s.base);
                for m in &s.map {
                    w.u32(*m);
                }
            }
            Cmd::SrcPort(p) | Cmd::DstPort(p) | Cmd::MacType(p) => {
                for (lo, hi) in p {
                    w.u16(*lo).u16(*hi);
                }
            }
            Cmd::MacAddr2 { addr, mask } => {
                w.raw(addr).raw(mask);
            }
            Cmd::IpSrcLookup { value, .. } | Cmd::IpDstLookup { value, .. } => {
                if let Some(v) = value {
                    w.u32(*v);
                }
            }
            Cmd::Recv(i) | Cmd::Xmit(i) | Cmd::Via(i) => {
                let mut name = [0u8; IFNAMSIZ];
                match i {
                    IfSpec::Name { name: n, glob } => {
                        w.u32(u32::from(*glob));
                        let b = n.as_bytes();
                        name[..b.len().min(IFNAMSIZ - 1)]
                            .copy_from_slice(&b[..b.len().min(IFNAMSIZ - 1)]);
                    }
                    IfSpec::Addr(a) => w_ip4(w, *a),
                }
                w.raw(&name);
            }
            Cmd::Ip6Src(a) | Cmd::Ip6Dst(a) => {
                w.raw(&a.octets());
            }
            Cmd::Ip6SrcMask(l) | Cmd::Ip6DstMask(l) => {
                for (a, m) in l {
                    w.raw(&a.octets()).raw(&m.octets());
                }
            }
            Cmd::Log { max_log, log_left } => {
                w.u32(*max_log).u32(*log_left);
            }
            _ => {}
        }
    }

    /// Decode one instruction of `len` words (header included) from `r`,
    /// which stands after its header; `EINVAL` for a wrong size or operand.
    fn decode(
        opcode: u8,
        flags: u8,
        arg1: u16,
        len: usize,
        r: &mut Reader<'_>,
    ) -> Result<Insn, Errno> {
        let n = len - 1;
        let exact = |want: usize| {
            if n == want {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            }
        };
        let no_arg = || {
            if arg1 == 0 {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            }
        };
        let cmd = match opcode {
            O_NOP => {
                // A comment: text, a NUL, NUL padding to the word.
                let b = r.take(4 * n)?;
                let end = b.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
                // Canonical: no more padding than the NUL needs.
                if end > IPFW_COMMENT_MAX
                    || b[end..].iter().any(|&c| c != 0)
                    || (end + 1).div_ceil(4) != n
                {
                    return Err(Errno::EINVAL);
                }
                no_arg()?;
                let s = std::str::from_utf8(&b[..end]).map_err(|_| Errno::EINVAL)?;
                Cmd::Comment(s.to_string())
            }
            O_IP_SRC | O_IP_DST => {
                exact(1)?;
                no_arg()?;
                let a = r_ip4(r)?;
                if opcode == O_IP_SRC {
                    Cmd::IpSrc(a)
                } else {
                    Cmd::IpDst(a)
                }
            }
            O_IP_SRC_MASK | O_IP_DST_MASK => {
                if n == 0 || !n.is_multiple_of(2) {
                    return Err(Errno::EINVAL);
                }
                no_arg()?;
                let mut l = Vec::with_capacity(n / 2);
                for _ in 0..n / 2 {
                    let (a, m) = (r_ip4(r)?, r_ip4(r)?);
                    // Canonical: the address is masked.
                    if u32::from(a) & !u32::from(m) != 0 {
                        return Err(Errno::EINVAL);
                    }
                    l.push((a, m));
                }
                if opcode == O_IP_SRC_MASK {
                    Cmd::IpSrcMask(l)
                } else {
                    Cmd::IpDstMask(l)
                }
            }
            O_IP_SRC_SET | O_IP_DST_SET => {
                if !(2..=256).contains(&arg1) || !arg1.is_power_of_two() {
                    return Err(Errno::EINVAL);
                }
                let words = usize::from(arg1).div_ceil(32);
                exact(1 + words)?;
                let base = r_ip4(r)?;
                let mut map = Vec::with_capacity(words);
                for _ in 0..words {
                    map.push(r.u32()?);
                }
                if arg1 < 32 && map[0] >> arg1 != 0 {
                    return Err(Errno::EINVAL);
                }
                let s = AddrSet {
                    base,
                    size: arg1,
                    map,
                };
                if opcode == O_IP_SRC_SET {
                    Cmd::IpSrcSet(s)
                } else {
                    Cmd::IpDstSet(s)
                }
            }
            O_IP_SRCPORT | O_IP_DSTPORT | O_MAC_TYPE => {
                if n == 0 {
                    return Err(Errno::EINVAL);
                }
                no_arg()?;
                let mut p = Vec::with_capacity(n);
                for _ in 0..n {
                    let (lo, hi) = (r.u16()?, r.u16()?);
                    p.push((lo, hi));
                }
                match opcode {
                    O_IP_SRCPORT => Cmd::SrcPort(p),
                    O_IP_DSTPORT => Cmd::DstPort(p),
                    _ => Cmd::MacType(p),
                }
            }
            O_MACADDR2 => {
                exact(6)?;
                no_arg()?;
                let mut addr = [0u8; 12];
                let mut mask = [0u8; 12];
                addr.copy_from_slice(r.take(12)?);
                mask.copy_from_slice(r.take(12)?);
                // Canonical: the addresses are masked (as ipfw(8) stores them).
                if addr.iter().zip(&mask).any(|(a, m)| a & !m != 0) {
                    return Err(Errno::EINVAL);
                }
                Cmd::MacAddr2 { addr, mask }
            }
            O_IP_SRC_LOOKUP | O_IP_DST_LOOKUP => {
                if n > 1 || arg1 >= IPFW_TABLES_MAX {
                    return Err(Errno::EINVAL);
                }
                let value = if n == 1 { Some(r.u32()?) } else { None };
                if opcode == O_IP_SRC_LOOKUP {
                    Cmd::IpSrcLookup { table: arg1, value }
                } else {
                    Cmd::IpDstLookup { table: arg1, value }
                }
            }
            O_PROTO => {
                exact(0)?;
                Cmd::Proto(u8::try_from(arg1).map_err(|_| Errno::EINVAL)?)
            }
            O_RECV | O_XMIT | O_VIA => {
                exact(1 + IFNAMSIZ / 4)?;
                no_arg()?;
                let p = r.take(4)?;
                let name = r.take(IFNAMSIZ)?;
                let end = name.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
                if name[end..].iter().any(|&c| c != 0) {
                    return Err(Errno::EINVAL);
                }
                let spec = if end == 0 {
                    IfSpec::Addr(Ipv4Addr::new(p[0], p[1], p[2], p[3]))
                } else {
                    let glob = match u32::from_le_bytes([p[0], p[1], p[2], p[3]]) {
                        0 => false,
                        1 => true,
                        _ => return Err(Errno::EINVAL),
                    };
                    let name = std::str::from_utf8(&name[..end]).map_err(|_| Errno::EINVAL)?;
                    IfSpec::Name {
                        name: name.to_string(),
                        glob,
                    }
                };
                match opcode {
                    O_RECV => Cmd::Recv(spec),
                    O_XMIT => Cmd::Xmit(spec),
                    _ => Cmd::Via(spec),
                }
            }
            O_TCPFLAGS => {
                exact(0)?;
                Cmd::TcpFlags {
                    set: arg1 as u8,
                    clear: (arg1 >> 8) as u8,
                }
            }
            O_ICMPTYPE => {
                exact(1)?;
                no_arg()?;
                Cmd::IcmpTypes(r.u32()?)
            }
            O_IP6_SRC | O_IP6_DST => {
                exact(4)?;
                no_arg()?;
                let a = r_ip6(r)?;
                if opcode == O_IP6_SRC {
                    Cmd::Ip6Src(a)
                } else {
                    Cmd::Ip6Dst(a)
                }
            }
            O_IP6_SRC_MASK | O_IP6_DST_MASK => {
                if n == 0 || !n.is_multiple_of(8) {
                    return Err(Errno::EINVAL);
                }
                no_arg()?;
                let mut l = Vec::with_capacity(n / 8);
                for _ in 0..n / 8 {
                    let (a, m) = (r_ip6(r)?, r_ip6(r)?);
                    if u128::from(a) & !u128::from(m) != 0 {
                        return Err(Errno::EINVAL);
                    }
                    l.push((a, m));
                }
                if opcode == O_IP6_SRC_MASK {
                    Cmd::Ip6SrcMask(l)
                } else {
                    Cmd::Ip6DstMask(l)
                }
            }
            O_LOG => {
                exact(2)?;
                no_arg()?;
                Cmd::Log {
                    max_log: r.u32()?,
                    log_left: r.u32()?,
                }
            }
            O_REJECT => {
                exact(0)?;
                if arg1 > 0xff && arg1 != ICMP_REJECT_RST {
                    return Err(Errno::EINVAL);
                }
                Cmd::Reject(arg1)
            }
            O_SKIPTO => {
                exact(0)?;
                Cmd::Skipto(arg1)
            }
            _ => {
                exact(0)?;
                no_arg()?;
                match opcode {
                    O_IP_SRC_ME => Cmd::IpSrcMe,
                    O_IP_DST_ME => Cmd::IpDstMe,
                    O_IN => Cmd::In,
                    O_FRAG => Cmd::Frag,
                    O_LAYER2 => Cmd::Layer2,
                    O_ESTAB => Cmd::Estab,
                    O_PROBE_STATE => Cmd::ProbeState,
                    O_KEEP_STATE => Cmd::KeepState,
                    O_IP4 => Cmd::Ip4,
                    O_IP6 => Cmd::Ip6,
                    O_IP6_SRC_ME => Cmd::Ip6SrcMe,
                    O_IP6_DST_ME => Cmd::Ip6DstMe,
                    O_CHECK_STATE => Cmd::CheckState,
                    O_ACCEPT => Cmd::Accept,
                    O_DENY => Cmd::Deny,
                    O_COUNT => Cmd::Count,
                    _ => return Err(Errno::EINVAL),
                }
            }
        };
        Ok(Insn {
            cmd,
            not: flags & F_NOT != 0,
            or: flags & F_OR != 0,
        })
    }
}

impl IpFwRule {
    /// Instruction words (`cmd_len`).
    pub fn cmd_len(&self) -> usize {
        self.cmd.iter().chain(&self.act).map(Insn::words).sum()
    }

    /// `RULESIZE`: the encoded size in bytes.
    pub fn size(&self) -> usize {
        IPFW_RULE_HDR + 4 * self.cmd_len()
    }

    /// The action: the last instruction of the action part.
    pub fn action(&self) -> Option<&Cmd> {
        self.act.last().map(|i| &i.cmd)
    }

    /// The `log` instruction, if any.
    pub fn log(&self) -> Option<&Insn> {
        self.act.iter().find(|i| matches!(i.cmd, Cmd::Log { .. }))
    }

    /// Check the layout: every match instruction before the action part,
    /// an optional log then exactly one action, no negated or "or"ed
    /// action, no "or" running into the actions, the size within
    /// [`IPFW_RULE_MAXSIZE`], every instruction short enough for its length
    /// field, a set in 0..=31.
    pub fn validate(&self) -> Result<(), Errno> {
        if self.set > RESVD_SET || self.size() > IPFW_RULE_MAXSIZE {
            return Err(Errno::EINVAL);
        }
        if self
            .cmd
            .iter()
            .chain(&self.act)
            .any(|i| i.words() > usize::from(F_LEN_MASK))
        {
            return Err(Errno::EINVAL);
        }
        if self
            .cmd
            .iter()
            .any(|i| i.cmd.is_action() || matches!(i.cmd, Cmd::Log { .. }))
        {
            return Err(Errno::EINVAL);
        }
        if self.cmd.last().is_some_and(|i| i.or) {
            return Err(Errno::EINVAL);
        }
        match self.act.as_slice() {
            [a]
            | [Insn {
                cmd: Cmd::Log { .. },
                not: false,
                or: false,
            }, a]
                if a.cmd.is_action() && !a.not && !a.or => {}
            _ => return Err(Errno::EINVAL),
        }
        // A comment carries text of bounded length without NULs.
        for i in &self.cmd {
            if let Cmd::Comment(s) = &i.cmd {
                if s.len() > IPFW_COMMENT_MAX || s.contains('\0') {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::Recv(IfSpec::Name { name, .. })
            | Cmd::Xmit(IfSpec::Name { name, .. })
            | Cmd::Via(IfSpec::Name { name, .. }) = &i.cmd
            {
                if name.is_empty() || name.len() >= IFNAMSIZ || name.contains('\0') {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::IpSrcMask(l) | Cmd::IpDstMask(l) = &i.cmd {
                if l.is_empty() || l.iter().any(|(a, m)| u32::from(*a) & !u32::from(*m) != 0) {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::Ip6SrcMask(l) | Cmd::Ip6DstMask(l) = &i.cmd {
                if l.is_empty() || l.iter().any(|(a, m)| u128::from(*a) & !u128::from(*m) != 0) {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::SrcPort(p) | Cmd::DstPort(p) = &i.cmd {
                if p.is_empty() {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::IpSrcLookup { table, .. } | Cmd::IpDstLookup { table, .. } = &i.cmd {
                if *table >= IPFW_TABLES_MAX {
                    return Err(Errno::EINVAL);
                }
            }
            if let Cmd::IpSrcSet(s) | Cmd::IpDstSet(s) = &i.cmd {
                let words = usize::from(s.size).div_ceil(32);
                if !(2..=256).contains(&s.size)
                    || !s.size.is_power_of_two()
                    || s.map.len() != words
                    || (s.size < 32 && s.map[0] >> s.size != 0)
                {
                    return Err(Errno::EINVAL);
                }
            }
        }
        if let Some(Cmd::Reject(c)) = self.action() {
            if *c > 0xff && *c != ICMP_REJECT_RST {
                return Err(Errno::EINVAL);
            }
        }
        Ok(())
    }

    /// The encoding (see the module); `EINVAL` if [`IpFwRule::validate`]
    /// refuses the rule.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        self.validate()?;
        let act_ofs: usize = self.cmd.iter().map(Insn::words).sum();
        let mut w = Writer::new();
        w.u16(self.rulenum)
            .u8(self.set)
            .u8(0)
            .u16(act_ofs as u16)
            .u16(self.cmd_len() as u16)
            .u64(self.pcnt)
            .u64(self.bcnt)
            .u32(self.timestamp)
            .u32(0);
        for i in self.cmd.iter().chain(&self.act) {
            i.encode(&mut w);
        }
        Ok(w.finish())
    }

    /// Decode one rule from the front of `r` (at most
    /// [`IPFW_RULE_MAXSIZE`] bytes of it).
    pub fn decode(r: &mut Reader<'_>) -> Result<IpFwRule, Errno> {
        let rulenum = r.u16()?;
        let set = r.u8()?;
        if r.u8()? != 0 {
            return Err(Errno::EINVAL);
        }
        let act_ofs = usize::from(r.u16()?);
        let cmd_len = usize::from(r.u16()?);
        let pcnt = r.u64()?;
        let bcnt = r.u64()?;
        let timestamp = r.u32()?;
        if r.u32()? != 0 {
            return Err(Errno::EINVAL);
        }
        if cmd_len > IPFW_CMD_MAXLEN || act_ofs >= cmd_len {
            return Err(Errno::EINVAL);
        }
        let body = r.take(4 * cmd_len)?;
        let mut br = Reader::new(body);
        let (mut cmd, mut act) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < cmd_len {
            let opcode = br.u8()?;
            let flags = br.u8()?;
            let arg1 = br.u16()?;
            let len = usize::from(flags & F_LEN_MASK);
            if len == 0 || at + len > cmd_len || (at < act_ofs && at + len > act_ofs) {
                return Err(Errno::EINVAL);
            }
            let i = Insn::decode(opcode, flags & !F_LEN_MASK, arg1, len, &mut br)?;
            if at < act_ofs {
                cmd.push(i);
            } else {
                act.push(i);
            }
            at += len;
        }
        let rule = IpFwRule {
            rulenum,
            set,
            pcnt,
            bcnt,
            timestamp,
            cmd,
            act,
        };
        rule.validate()?;
        Ok(rule)
    }

    /// Decode exactly one rule (an `IP_FW_ADD` buffer).
    pub fn from_bytes(b: &[u8]) -> Result<IpFwRule, Errno> {
        if b.len() > IPFW_RULE_MAXSIZE {
            return Err(Errno::EINVAL);
        }
        let mut r = Reader::new(b);
        let rule = IpFwRule::decode(&mut r)?;
        r.end()?;
        Ok(rule)
    }
}

/// One dynamic rule as `IP_FW_GET` reports it (`ipfw_dyn_rule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFwDyn {
    /// The number of the rule that made it.
    pub rulenum: u16,
    /// That rule's set.
    pub set: u8,
    /// Its kind: [`op::O_KEEP_STATE`].
    pub dyn_type: u8,
    /// Seconds until it expires (0: expired, not yet reclaimed).
    pub expire: u32,
    /// Packets matched.
    pub pcnt: u64,
    /// Bytes matched.
    pub bcnt: u64,
    /// Protocol.
    pub proto: u8,
    /// Source address (as first seen) and port.
    pub src: (std::net::IpAddr, u16),
    /// Destination address and port.
    pub dst: (std::net::IpAddr, u16),
}

/// Size of one encoded [`IpFwDyn`].
pub const IPFW_DYN_SIZE: usize = 64;

fn w_ip(w: &mut Writer, a: std::net::IpAddr) {
    let mut b = [0u8; 16];
    match a {
        std::net::IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    w.raw(&b);
}

impl IpFwDyn {
    fn encode(&self, w: &mut Writer) {
        let v6 = self.src.0.is_ipv6();
        w.u16(self.rulenum)
            .u8(self.set)
            .u8(self.dyn_type)
            .u32(self.expire)
            .u64(self.pcnt)
            .u64(self.bcnt)
            .u8(self.proto)
            .u8(if v6 { 6 } else { 4 })
            .u16(self.src.1)
            .u16(self.dst.1)
            .u16(0);
        w_ip(w, self.src.0);
        w_ip(w, self.dst.0);
    }

    fn decode(r: &mut Reader<'_>) -> Result<IpFwDyn, Errno> {
        let rulenum = r.u16()?;
        let set = r.u8()?;
        let dyn_type = r.u8()?;
        let expire = r.u32()?;
        let pcnt = r.u64()?;
        let bcnt = r.u64()?;
        let proto = r.u8()?;
        let af = r.u8()?;
        let sport = r.u16()?;
        let dport = r.u16()?;
        if r.u16()? != 0 || set > RESVD_SET || dyn_type != O_KEEP_STATE {
            return Err(Errno::EINVAL);
        }
        let mut addr = || -> Result<std::net::IpAddr, Errno> {
            let b = r.take(16)?;
            match af {
                4 if b[4..].iter().all(|&c| c == 0) => {
                    Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]).into())
                }
                6 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(b);
                    Ok(Ipv6Addr::from(o).into())
                }
                _ => Err(Errno::EINVAL),
            }
        };
        let (src, dst) = (addr()?, addr()?);
        Ok(IpFwDyn {
            rulenum,
            set,
            dyn_type,
            expire,
            pcnt,
            bcnt,
            proto,
            src: (src, sport),
            dst: (dst, dport),
        })
    }
}

/// What `IP_FW_GET` answers: the set state, the kernel's uptime (so the
/// tool can turn rule time stamps into dates), every static rule in order
/// (the default rule last) and every dynamic rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpFwGet {
    /// Disabled sets, one bit each.
    pub set_disable: u32,
    /// Kernel uptime in seconds when the list was taken.
    pub now: u32,
    /// The static rules.
    pub rules: Vec<IpFwRule>,
    /// The dynamic rules.
    pub dyn_rules: Vec<IpFwDyn>,
}

impl IpFwGet {
    /// The encoding: a 16-byte header (`set_disable`, `now`, rule count,
    /// dynamic rule count), the rules, the dynamic rules.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut w = Writer::new();
        w.u32(self.set_disable)
            .u32(self.now)
            .u32(self.rules.len() as u32)
            .u32(self.dyn_rules.len() as u32);
        for r in &self.rules {
            w.raw(&r.to_bytes()?);
        }
        for d in &self.dyn_rules {
            // Both ends of a flow are of one family.
            if d.src.0.is_ipv6() != d.dst.0.is_ipv6() || d.set > RESVD_SET {
                return Err(Errno::EINVAL);
            }
            d.encode(&mut w);
        }
        Ok(w.finish())
    }

    /// Decode a reply; counts are checked against the bytes there are.
    pub fn from_bytes(b: &[u8]) -> Result<IpFwGet, Errno> {
        let mut r = Reader::new(b);
        let set_disable = r.u32()?;
        let now = r.u32()?;
        let nrules = r.u32()? as usize;
        let ndyn = r.u32()? as usize;
        if nrules > r.remaining() / IPFW_RULE_HDR {
            return Err(Errno::EINVAL);
        }
        let mut rules = Vec::with_capacity(nrules);
        for _ in 0..nrules {
            rules.push(IpFwRule::decode(&mut r)?);
        }
        if ndyn != r.remaining() / IPFW_DYN_SIZE || !r.remaining().is_multiple_of(IPFW_DYN_SIZE) {
            return Err(Errno::EINVAL);
        }
        let mut dyn_rules = Vec::with_capacity(ndyn);
        for _ in 0..ndyn {
            dyn_rules.push(IpFwDyn::decode(&mut r)?);
        }
        r.end()?;
        Ok(IpFwGet {
            set_disable,
            now,
            rules,
            dyn_rules,
        })
    }
}

/// The argument of `IP_FW_DEL` (one word, or two for set masks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpFwDel {
    /// One word: low 16 bits a rule (or set) number, bits 16..24 a new set,
    /// the top byte the command (0 delete rule, 1 delete set, 2 move rule
    /// to set, 3 move set to set, 4 swap sets, 5 delete rule in set).
    Cmd(u32),
    /// Two words: sets to disable, sets to enable.
    Sets(u32, u32),
}

impl IpFwDel {
    /// The encoding.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            IpFwDel::Cmd(a) => w.u32(a),
            IpFwDel::Sets(d, e) => w.u32(d).u32(e),
        };
        w.finish()
    }
    /// Decode: 4 or 8 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<IpFwDel, Errno> {
        let mut r = Reader::new(b);
        let d = match b.len() {
            4 => IpFwDel::Cmd(r.u32()?),
            8 => IpFwDel::Sets(r.u32()?, r.u32()?),
            _ => return Err(Errno::EINVAL),
        };
        r.end()?;
        Ok(d)
    }
}

/// The optional argument of `IP_FW_ZERO` and `IP_FW_RESETLOG`: none (every
/// rule) or one word: the rule number, bits 16..24 a set, top byte 1 when
/// only that set counts.
pub fn ipfw_zero_arg(b: &[u8]) -> Result<u32, Errno> {
    match b.len() {
        0 => Ok(0),
        4 => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => Err(Errno::EINVAL),
    }
}

/// One table entry (`ipfw_table_entry`): `addr/masklen` with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFwTableEntry {
    /// Table number.
    pub tbl: u16,
    /// Address (masked by `masklen`).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub masklen: u8,
    /// Value (`tablearg`).
    pub value: u32,
}

/// Size of an encoded [`IpFwTableEntry`].
pub const IPFW_TABLE_ENTRY_SIZE: usize = 12;

/// The argument of `IP_FW_TABLE_FLUSH`, `IP_FW_TABLE_GETSIZE` (answered
/// with a `u32` count) and `IP_FW_TABLE_LIST` (answered with the entries
/// one after another, by address): the table number, a `u16` below
/// [`IPFW_TABLES_MAX`].
pub fn ipfw_table_arg(b: &[u8]) -> Result<u16, Errno> {
    match b {
        [l, h] => {
            let t = u16::from_le_bytes([*l, *h]);
            if t < IPFW_TABLES_MAX {
                Ok(t)
            } else {
                Err(Errno::EINVAL)
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Decode an `IP_FW_TABLE_LIST` answer.
pub fn ipfw_table_list(b: &[u8]) -> Result<Vec<IpFwTableEntry>, Errno> {
    if !b.len().is_multiple_of(IPFW_TABLE_ENTRY_SIZE) {
        return Err(Errno::EINVAL);
    }
    b.chunks_exact(IPFW_TABLE_ENTRY_SIZE)
        .map(IpFwTableEntry::from_bytes)
        .collect()
}

impl IpFwTableEntry {
    /// The encoding: address, value, table, prefix length, a pad byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w_ip4(&mut w, self.addr);
        w.u32(self.value).u16(self.tbl).u8(self.masklen).u8(0);
        w.finish()
    }
    /// Decode one entry (prefix length above 32: `EINVAL`).
    pub fn decode(r: &mut Reader<'_>) -> Result<IpFwTableEntry, Errno> {
        let addr = r_ip4(r)?;
        let value = r.u32()?;
        let tbl = r.u16()?;
        let masklen = r.u8()?;
        if r.u8()? != 0 || masklen > 32 || tbl >= IPFW_TABLES_MAX {
            return Err(Errno::EINVAL);
        }
        Ok(IpFwTableEntry {
            tbl,
            addr,
            masklen,
            value,
        })
    }
    /// Decode exactly one entry.
    pub fn from_bytes(b: &[u8]) -> Result<IpFwTableEntry, Errno> {
        let mut r = Reader::new(b);
        let e = IpFwTableEntry::decode(&mut r)?;
        r.end()?;
        Ok(e)
    }
}

/// Names of the ICMP unreachable codes `unreach CODE` takes, by code.
pub const ICMP_UNREACH_CODES: [&str; 16] = [
    "net",
    "host",
    "protocol",
    "port",
    "needfrag",
    "srcfail",
    "net-unknown",
    "host-unknown",
    "isolated",
    "net-prohib",
    "host-prohib",
    "tosnet",
    "toshost",
    "filter-prohib",
    "host-precedence",
    "precedence-cutoff",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cmd: Vec<Insn>, act: Vec<Insn>) -> IpFwRule {
        IpFwRule {
            rulenum: 300,
            set: 2,
            pcnt: 7,
            bcnt: 588,
            timestamp: 9,
            cmd,
            act,
        }
    }

    #[test]
    fn the_facts_examples_have_ipfw2s_sizes_and_round_trip() {
        // `allow ip from any to any`: one action word.
        let r = rule(vec![], vec![Insn::new(Cmd::Accept)]);
        assert_eq!(r.cmd_len(), 1);
        assert_eq!(r.size(), IPFW_RULE_HDR + 4);
        // `allow tcp from any to me 22 setup keep-state`: act_ofs 7.
        let r = rule(
            vec![
                Insn::new(Cmd::ProbeState),
                Insn::new(Cmd::Proto(6)),
                Insn::new(Cmd::IpDstMe),
                Insn::new(Cmd::DstPort(vec![(22, 22)])),
                Insn::new(Cmd::TcpFlags {
                    set: TH_SYN,
                    clear: TH_ACK,
                }),
                Insn::new(Cmd::KeepState),
            ],
            vec![Insn::new(Cmd::Accept)],
        );
        let b = r.to_bytes().unwrap();
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 7);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 8);
        assert_eq!(IpFwRule::from_bytes(&b).unwrap(), r);
        // Every kind of operand.
        let r = rule(
            vec![
                Insn::new(Cmd::Comment("web".into())),
                Insn {
                    cmd: Cmd::IpSrcMask(vec![(
                        Ipv4Addr::new(10, 0, 1, 0),
                        Ipv4Addr::new(255, 255, 255, 0),
                    )]),
                    not: true,
                    or: true,
                },
                Insn::new(Cmd::IpSrc(Ipv4Addr::new(1, 2, 3, 4))),
                Insn::new(Cmd::IpDstSet(AddrSet {
                    base: Ipv4Addr::new(10, 0, 0, 0),
                    size: 128,
                    map: vec![1, 0, 0, 0x8000_0000],
                })),
                Insn::new(Cmd::Via(IfSpec::Name {
                    name: "e*".into(),
                    glob: true,
                })),
                Insn::new(Cmd::Recv(IfSpec::Addr(Ipv4Addr::new(10, 0, 0, 1)))),
                Insn::new(Cmd::Ip6Src("fe80::1".parse().unwrap())),
                Insn::new(Cmd::Ip6DstMask(vec![(
                    "2001:db8::".parse().unwrap(),
                    "ffff:ffff::".parse().unwrap(),
                )])),
                Insn::new(Cmd::IcmpTypes(1 << 8)),
                Insn::new(Cmd::IpSrcLookup {
                    table: 3,
                    value: Some(42),
                }),
                Insn::new(Cmd::IpDstLookup {
                    table: 127,
                    value: None,
                }),
                Insn::new(Cmd::Layer2),
                Insn::new(Cmd::MacType(vec![(0x0800, 0x0800), (0x0806, 0x0806)])),
                Insn::new(Cmd::MacAddr2 {
                    addr: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0],
                    mask: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0],
                }),
            ],
            vec![
                Insn::new(Cmd::Log {
                    max_log: 5,
                    log_left: 5,
                }),
                Insn::new(Cmd::Reject(3)),
            ],
        );
        let b = r.to_bytes().unwrap();
        assert_eq!(IpFwRule::from_bytes(&b).unwrap(), r);
        // ipfw2's sizes for the layer-2 instructions: MAC 7 words,
        // layer2 1, mac-type 1 + one per range.
        let w = |c: Cmd| Insn::new(c).words();
        let any = Cmd::MacAddr2 {
            addr: [0; 12],
            mask: [0; 12],
        };
        assert_eq!(w(any), 7);
        assert_eq!(w(Cmd::Layer2), 1);
        assert_eq!(w(Cmd::MacType(vec![(1, 1), (2, 3)])), 3);
        // An address outside its mask is not canonical.
        let mut bad = rule(
            vec![Insn::new(Cmd::MacAddr2 {
                addr: [0; 12],
                mask: [0; 12],
            })],
            vec![Insn::new(Cmd::Deny)],
        )
        .to_bytes()
        .unwrap();
        bad[IPFW_RULE_HDR + 4] = 1;
        assert_eq!(IpFwRule::from_bytes(&bad), Err(Errno::EINVAL));
    }

    #[test]
    fn malformed_rules_are_einval() {
        let ok = rule(vec![Insn::new(Cmd::Proto(1))], vec![Insn::new(Cmd::Deny)]);
        let b = ok.to_bytes().unwrap();
        assert!(IpFwRule::from_bytes(&b).is_ok());
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = b.clone();
            f(&mut v);
            assert_eq!(IpFwRule::from_bytes(&v), Err(Errno::EINVAL), "{v:?}");
        };
        bad(&|v| v.truncate(v.len() - 1));
        bad(&|v| v.push(0));
        bad(&|v| v[4] = 2); // act_ofs past the end
        bad(&|v| v[4] = 0); // the proto word read as an action
        bad(&|v| v[33] = 0); // an instruction of length 0
        bad(&|v| v[33] = 2); // running into the action part
        bad(&|v| v[32] = 99); // unknown opcode
        bad(&|v| v[36] = O_IN); // no action: a match last
        bad(&|v| v[37] |= F_NOT); // negated action
        bad(&|v| v[3] = 1); // reserved
        bad(&|v| v[2] = 32); // set
                             // An "or" with nothing after it.
        let or = rule(
            vec![Insn {
                cmd: Cmd::Proto(1),
                not: false,
                or: true,
            }],
            vec![Insn::new(Cmd::Deny)],
        );
        assert_eq!(or.to_bytes(), Err(Errno::EINVAL));
        // Two actions.
        let two = rule(vec![], vec![Insn::new(Cmd::Deny), Insn::new(Cmd::Accept)]);
        assert_eq!(two.to_bytes(), Err(Errno::EINVAL));
        // Too big.
        let big = rule(
            vec![Insn::new(Cmd::DstPort(vec![(1, 1); 60])); 5],
            vec![Insn::new(Cmd::Deny)],
        );
        assert_eq!(big.to_bytes(), Err(Errno::EINVAL));
    }

    #[test]
    fn get_replies_and_arguments_round_trip() {
        let g = IpFwGet {
            set_disable: 1 << 3,
            now: 100,
            rules: vec![
                rule(vec![], vec![Insn::new(Cmd::Accept)]),
                IpFwRule {
                    rulenum: IPFW_DEFAULT_RULE,
                    set: RESVD_SET,
                    act: vec![Insn::new(Cmd::Deny)],
                    ..IpFwRule::default()
                },
            ],
            dyn_rules: vec![IpFwDyn {
                rulenum: 300,
                set: 2,
                dyn_type: O_KEEP_STATE,
                expire: 299,
                pcnt: 3,
                bcnt: 180,
                proto: 6,
                src: (Ipv4Addr::new(10, 0, 1, 10).into(), 1234),
                dst: (Ipv4Addr::new(10, 0, 1, 11).into(), 22),
            }],
        };
        let b = g.to_bytes().unwrap();
        assert_eq!(IpFwGet::from_bytes(&b).unwrap(), g);
        assert!(IpFwGet::from_bytes(&b[..b.len() - 1]).is_err());
        for d in [IpFwDel::Cmd(100), IpFwDel::Sets(1, 2)] {
            assert_eq!(IpFwDel::from_bytes(&d.to_bytes()), Ok(d));
        }
        assert!(IpFwDel::from_bytes(&[0; 5]).is_err());
        let e = IpFwTableEntry {
            tbl: 1,
            addr: Ipv4Addr::new(10, 0, 0, 0),
            masklen: 8,
            value: 42,
        };
        assert_eq!(e.to_bytes().len(), IPFW_TABLE_ENTRY_SIZE);
        assert_eq!(IpFwTableEntry::from_bytes(&e.to_bytes()), Ok(e));
    }
}
