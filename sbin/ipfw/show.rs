//! How ipfw(8) prints a rule (`show_ipfw`) and a dynamic rule
//! (`show_dyn_ipfw`): `00100 allow ip from any to any`, counters right
//! aligned to the widest when asked, missing pieces of the body filled in
//! (`ip`, `from any`, `to any`), options in the order stored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libvimage::netdb::{getprotobynumber, getservbyport};
use vimage_abi::ip_fw::*;

use crate::parse::TCP_FLAG_NAMES;

/// How to print (the command line's `-a`, `-t`, `-T`, `-S`, `-N`, and the
/// list's column widths and time base).
#[derive(Clone, Debug, Default)]
pub struct ShowOpts {
    /// Width of the packet counter column (0 with the byte width: none).
    pub pcwidth: usize,
    /// Width of the byte counter column.
    pub bcwidth: usize,
    /// 1: `-t` (dates), 2: `-T` (seconds since the epoch).
    pub time: u8,
    /// `-S`: sets, and rules of disabled sets.
    pub show_sets: bool,
    /// `-N`: host and service names.
    pub resolve: bool,
    /// The disabled sets.
    pub set_disable: u32,
    /// Seconds since the epoch when the list was taken (for `-t`/`-T`).
    pub wall_now: i64,
    /// The kernel's uptime then (rule time stamps count from its boot).
    pub kern_now: u32,
}

const HAVE_PROTO: u32 = 0x1;
const HAVE_SRCIP: u32 = 0x2;
const HAVE_DSTIP: u32 = 0x4;
const HAVE_PROTO4: u32 = 0x8;
const HAVE_PROTO6: u32 = 0x10;
const HAVE_OPTIONS: u32 = 0x8000;
const HAVE_IP: u32 = HAVE_PROTO | HAVE_SRCIP | HAVE_DSTIP;

/// `ctime(3)` of `t` without its newline, in local time.
pub fn ctime(t: i64) -> String {
    // SAFETY: localtime_r and strftime write into the buffers given, sized
    // here; `tm` is plain data.
    unsafe {
        let tt = t as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return t.to_string();
        }
        let mut buf = [0u8; 64];
        let fmt = c"%a %b %e %H:%M:%S %Y";
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// The printing state of one rule.
struct Show<'a> {
    out: String,
    flags: u32,
    o: &'a ShowOpts,
    proto: u8,
}

impl Show<'_> {
    /// `show_prerequisites`: before something that needs them, the parts of
    /// `PROTO from SRC to DST` not printed yet, unless options have begun.
    fn prereq(&mut self, want: u32) {
        if self.flags & HAVE_OPTIONS == 0 {
            if self.flags & HAVE_PROTO == 0 && want & HAVE_PROTO != 0 {
                self.out.push_str(if self.flags & HAVE_PROTO4 != 0 {
                    " ip4"
                } else if self.flags & HAVE_PROTO6 != 0 {
                    " ip6"
                } else {
                    " ip"
                });
            }
            if self.flags & HAVE_SRCIP == 0 && want & HAVE_SRCIP != 0 {
                self.out.push_str(" from any");
            }
            if self.flags & HAVE_DSTIP == 0 && want & HAVE_DSTIP != 0 {
                self.out.push_str(" to any");
            }
        }
        self.flags |= want;
    }

    fn host(&self, a: IpAddr) -> Option<String> {
        if !self.o.resolve {
            return None;
        }
        libvimage::netdb::Hosts::read()
            .name_of(a)
            .map(str::to_string)
    }

    /// `print_ip`: `any`, `me`, `A`, `A/len`, `A:mask`, lists, sets.
    fn ip(&mut self, i: &Insn, label: &str) {
        self.out.push_str(if i.not { " not" } else { "" });
        self.out.push_str(label);
        self.out.push(' ');
        match &i.cmd {
            Cmd::IpSrcMe | Cmd::IpDstMe => self.out.push_str("me"),
            Cmd::Ip6SrcMe | Cmd::Ip6DstMe => self.out.push_str("me6"),
            Cmd::IpSrc(a) | Cmd::IpDst(a) => {
                let s = self.host((*a).into()).unwrap_or_else(|| a.to_string());
                self.out.push_str(&s);
            }
            Cmd::IpSrcMask(l) | Cmd::IpDstMask(l) => {
                let v: Vec<String> = l.iter().map(|(a, m)| self.masked4(*a, *m)).collect();
                self.out.push_str(&v.join(","));
            }
            Cmd::Ip6Src(a) | Cmd::Ip6Dst(a) => {
                let s = self.host((*a).into()).unwrap_or_else(|| a.to_string());
                self.out.push_str(&s);
            }
            Cmd::Ip6SrcMask(l) | Cmd::Ip6DstMask(l) => {
                let v: Vec<String> = l.iter().map(|(a, m)| masked6(*a, *m)).collect();
                self.out.push_str(&v.join(","));
            }
            Cmd::IpSrcSet(s) | Cmd::IpDstSet(s) => self.out.push_str(&addr_set(s)),
            Cmd::IpSrcLookup { table, value } | Cmd::IpDstLookup { table, value } => {
                self.out.push_str(&format!("table({table}"));
                if let Some(v) = value {
                    self.out.push_str(&format!(",{v}"));
                }
                self.out.push(')');
            }
            _ => {}
        }
    }

    fn masked4(&self, a: Ipv4Addr, m: Ipv4Addr) -> String {
        let m = u32::from(m);
        if m == 0 {
            return "any".into();
        }
        let len = m.leading_ones();
        if m.count_ones() != len {
            return format!("{a}:{}", Ipv4Addr::from(m));
        }
        if len == 32 {
            return self.host(a.into()).unwrap_or_else(|| a.to_string());
        }
        format!("{a}/{len}")
    }

    fn port(&self, p: u16) -> String {
        if self.o.resolve {
            let name = match getprotobynumber(self.proto) {
                Some(n @ ("tcp" | "udp")) => getservbyport(p, n),
                _ => getservbyport(p, "tcp").or_else(|| getservbyport(p, "udp")),
            };
            if let Some(n) = name {
                return n.to_string();
            }
        }
        p.to_string()
    }

    /// `print_newports`.
    fn ports(&mut self, i: &Insn, label: &str) {
        let (Cmd::SrcPort(l) | Cmd::DstPort(l)) = &i.cmd else {
            return;
        };
        self.out.push_str(label);
        if i.not {
            self.out.push_str(" not");
        }
        let v: Vec<String> = l
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    self.port(*lo)
                } else {
                    format!("{}-{}", self.port(*lo), self.port(*hi))
                }
            })
            .collect();
        self.out.push(' ');
        self.out.push_str(&v.join(","));
    }

    /// An option (anything after the addresses); `or_block`: inside a
    /// `{ ... or ... }` already.
    fn option(&mut self, i: &Insn, or_block: bool) {
        // `ip4`/`ip6` standing for the protocol are printed there.
        if !i.or && !i.not {
            match i.cmd {
                Cmd::Ip6 if self.flags & HAVE_PROTO6 != 0 => return,
                Cmd::Ip4 if self.flags & HAVE_PROTO4 != 0 => return,
                _ => {}
            }
        }
        if let Cmd::Comment(_) = i.cmd {
            return;
        }
        self.prereq(HAVE_IP);
        self.flags |= HAVE_OPTIONS;
        if i.or && !or_block {
            self.out.push_str(" {");
        }
        if i.not && i.cmd != Cmd::In {
            self.out.push_str(" not");
        }
        let s = match &i.cmd {
            Cmd::Frag => " frag".to_string(),
            Cmd::In => if i.not { " out" } else { " in" }.to_string(),
            Cmd::Recv(x) | Cmd::Xmit(x) | Cmd::Via(x) => {
                let w = match i.cmd {
                    Cmd::Recv(_) => "recv",
                    Cmd::Xmit(_) => "xmit",
                    _ => "via",
                };
                match x {
                    IfSpec::Name { name, .. } => format!(" {w} {name}"),
                    IfSpec::Addr(a) => format!(" {w} {a}"),
                }
            }
            Cmd::Estab => " established".into(),
            Cmd::TcpFlags { set, clear } => tcpflags(*set, *clear),
            Cmd::IcmpTypes(m) => {
                let v: Vec<String> = (0..32)
                    .filter(|t| m & (1 << t) != 0)
                    .map(|t: u32| t.to_string())
                    .collect();
                format!(" icmptypes {}", v.join(","))
            }
            Cmd::KeepState => " keep-state".into(),
            Cmd::Layer2 => " layer2".into(),
            Cmd::MacAddr2 { addr, mask } => format!(
                " MAC{}{}",
                print_mac(&addr[..6], &mask[..6]),
                print_mac(&addr[6..], &mask[6..])
            ),
            Cmd::MacType(l) => {
                let v: Vec<String> = l
                    .iter()
                    .map(|(lo, hi)| {
                        if lo == hi {
                            ether_type(*lo)
                        } else {
                            format!("{}-{}", ether_type(*lo), ether_type(*hi))
                        }
                    })
                    .collect();
                format!(" mac-type {}", v.join(","))
            }
            Cmd::Ip6 => " ip6".into(),
            Cmd::Ip4 => " ip4".into(),
            c => format!(" [opcode {} len {}]", c.opcode(), i.words()),
        };
        self.out.push_str(&s);
    }
}

/// `print_mac`: ` any`, or the address with `/len` (a shorter prefix
/// mask) or `&mask` (any other).
fn print_mac(addr: &[u8], mask: &[u8]) -> String {
    let m = mask.iter().fold(0u64, |m, b| (m << 8) | u64::from(*b)) << 16;
    let len = m.leading_ones();
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if m == 0 {
        return " any".into();
    }
    if m.count_ones() != len {
        return format!(" {}&{}", hex(addr), hex(mask));
    }
    if len < 48 {
        return format!(" {}/{len}", hex(addr));
    }
    format!(" {}", hex(addr))
}

/// An ethertype by its first name in ipfw(8)'s table, else `0x%04x`.
fn ether_type(t: u16) -> String {
    crate::parse::ETHER_TYPES
        .iter()
        .find(|(_, v)| *v == t)
        .map_or_else(|| format!("0x{t:04x}"), |(n, _)| n.to_string())
}

/// `print_flags` for `tcpflags`, `setup` for SYN without ACK.
fn tcpflags(set: u8, clear: u8) -> String {
    if set == TH_SYN && clear == TH_ACK {
        return " setup".into();
    }
    let mut v = Vec::new();
    for (name, bit) in TCP_FLAG_NAMES {
        if set & bit != 0 {
            v.push(name.to_string());
        }
        if clear & bit != 0 {
            v.push(format!("!{name}"));
        }
    }
    format!(" tcpflags {}", v.join(","))
}

fn masked6(a: Ipv6Addr, m: Ipv6Addr) -> String {
    let m = u128::from(m);
    let len = m.leading_ones();
    if m.count_ones() != len {
        return format!("{a}/{}", Ipv6Addr::from(m));
    }
    if len == 128 {
        return a.to_string();
    }
    format!("{a}/{len}")
}

/// An address set as given: `A/len{x,y-z}` (runs of three or more hosts
/// as ranges).
fn addr_set(s: &AddrSet) -> String {
    let size = u32::from(s.size);
    let plen = 32 - size.trailing_zeros();
    let base = u32::from(s.base) & !(size - 1);
    let low = base & 0xff;
    let mut out = format!("{}/{plen}", Ipv4Addr::from(base));
    let bit = |i: u32| {
        s.map
            .get((i / 32) as usize)
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    };
    let mut sep = '{';
    let mut i = 0;
    while i < size {
        if bit(i) {
            let mut j = i + 1;
            while j < size && bit(j) {
                j += 1;
            }
            out.push(sep);
            out.push_str(&(i + low).to_string());
            if j > i + 2 {
                out.push_str(&format!("-{}", j - 1 + low));
                i = j - 1;
            }
            sep = ',';
        }
        i += 1;
    }
    out.push('}');
    out
}

/// `print_reject_code`.
fn unreach(code: u16) -> String {
    match ICMP_UNREACH_CODES.get(usize::from(code)) {
        Some(n) => format!("unreach {n}"),
        None => format!("unreach {code}"),
    }
}

/// `show_ipfw`: one rule's line (with its newline); `None` for a rule of a
/// disabled set when sets are not shown.
pub fn show_ipfw(r: &IpFwRule, o: &ShowOpts) -> Option<String> {
    let mut s = Show {
        out: String::new(),
        flags: 0,
        o,
        proto: 0,
    };
    if o.set_disable & (1 << (r.set & 31)) != 0 {
        if !o.show_sets {
            return None;
        }
        s.out.push_str("# DISABLED ");
    }
    s.out.push_str(&format!("{:05} ", r.rulenum));
    if o.pcwidth > 0 || o.bcwidth > 0 {
        s.out.push_str(&format!(
            "{:>pw$} {:>bw$} ",
            r.pcnt,
            r.bcnt,
            pw = o.pcwidth,
            bw = o.bcwidth
        ));
    }
    let epoch = |ts: u32| o.wall_now - i64::from(o.kern_now.saturating_sub(ts));
    match o.time {
        2 => {
            if r.timestamp != 0 {
                s.out.push_str(&format!("{:>10} ", epoch(r.timestamp)));
            } else {
                s.out.push_str(&format!("{:>10} ", ""));
            }
        }
        1 => {
            if r.timestamp != 0 {
                s.out.push_str(&ctime(epoch(r.timestamp)));
                s.out.push(' ');
            } else {
                // As wide as a date, without the space after one.
                let w = ctime(0).len();
                s.out.push_str(&" ".repeat(w));
            }
        }
        _ => {}
    }
    if o.show_sets {
        s.out.push_str(&format!("set {} ", r.set));
    }
    // The action (and log).
    let mut log = None;
    for i in &r.act {
        let a = match &i.cmd {
            Cmd::CheckState => {
                // Nothing else is printed.
                s.flags = HAVE_IP;
                "check-state".to_string()
            }
            Cmd::Accept => "allow".into(),
            Cmd::Count => "count".into(),
            Cmd::Deny => "deny".into(),
            Cmd::Reject(ICMP_REJECT_RST) => "reset".into(),
            Cmd::Reject(ICMP_UNREACH_HOST) => "reject".into(),
            Cmd::Reject(c) => unreach(*c),
            Cmd::Skipto(n) => format!("skipto {n}"),
            Cmd::Log { max_log, .. } => {
                log = Some(*max_log);
                continue;
            }
            c => format!("** unrecognized action {} len {}", c.opcode(), i.words()),
        };
        s.out.push_str(&a);
    }
    match log {
        Some(0) => s.out.push_str(" log"),
        Some(n) => s.out.push_str(&format!(" log logamount {n}")),
        None => {}
    }
    // `ip4`/`ip6` as the protocol.
    for i in &r.cmd {
        if i.or || i.not {
            continue;
        }
        match i.cmd {
            Cmd::Ip4 => {
                s.flags |= HAVE_PROTO4;
                break;
            }
            Cmd::Ip6 => {
                s.flags |= HAVE_PROTO6;
                break;
            }
            _ => {}
        }
    }
    // The body.
    let mut comment = None;
    let mut or_block = false;
    for i in &r.cmd {
        match &i.cmd {
            Cmd::ProbeState => continue,
            Cmd::IpSrc(_)
            | Cmd::IpSrcMask(_)
            | Cmd::IpSrcMe
            | Cmd::IpSrcSet(_)
            | Cmd::IpSrcLookup { .. }
            | Cmd::Ip6Src(_)
            | Cmd::Ip6SrcMask(_)
            | Cmd::Ip6SrcMe => {
                s.prereq(HAVE_PROTO);
                let opt = s.flags & HAVE_OPTIONS != 0;
                if s.flags & HAVE_SRCIP == 0 {
                    s.out.push_str(" from");
                }
                if i.or && !or_block {
                    s.out.push_str(" {");
                }
                let v6 = matches!(i.cmd, Cmd::Ip6Src(_) | Cmd::Ip6SrcMask(_) | Cmd::Ip6SrcMe);
                let label = match (opt, v6) {
                    (false, _) => "",
                    (true, false) => " src-ip",
                    (true, true) => " src-ip6",
                };
                s.ip(i, label);
                s.flags |= HAVE_SRCIP;
            }
            Cmd::IpDst(_)
            | Cmd::IpDstMask(_)
            | Cmd::IpDstMe
            | Cmd::IpDstSet(_)
            | Cmd::IpDstLookup { .. }
            | Cmd::Ip6Dst(_)
            | Cmd::Ip6DstMask(_)
            | Cmd::Ip6DstMe => {
                s.prereq(HAVE_PROTO | HAVE_SRCIP);
                let opt = s.flags & HAVE_OPTIONS != 0;
                if s.flags & HAVE_DSTIP == 0 {
                    s.out.push_str(" to");
                }
                if i.or && !or_block {
                    s.out.push_str(" {");
                }
                let v6 = matches!(i.cmd, Cmd::Ip6Dst(_) | Cmd::Ip6DstMask(_) | Cmd::Ip6DstMe);
                let label = match (opt, v6) {
                    (false, _) => "",
                    (true, false) => " dst-ip",
                    (true, true) => " dst-ip6",
                };
                s.ip(i, label);
                s.flags |= HAVE_DSTIP;
            }
            Cmd::SrcPort(_) | Cmd::DstPort(_) => {
                let dst = matches!(i.cmd, Cmd::DstPort(_));
                s.prereq(if dst {
                    HAVE_IP
                } else {
                    HAVE_PROTO | HAVE_SRCIP
                });
                if i.or && !or_block {
                    s.out.push_str(" {");
                }
                // Right after its address a port list stands alone; among
                // the options it says which it is.
                let label = match (s.flags & HAVE_OPTIONS != 0, dst) {
                    (false, _) => "",
                    (true, true) => " dst-port",
                    (true, false) => " src-port",
                };
                s.ports(i, label);
            }
            Cmd::Proto(p) => {
                if i.or && !or_block {
                    s.out.push_str(" {");
                }
                if i.not {
                    s.out.push_str(" not");
                }
                s.proto = *p;
                if s.flags & (HAVE_PROTO4 | HAVE_PROTO6) != 0 && s.flags & HAVE_PROTO == 0 {
                    s.prereq(HAVE_IP);
                    s.flags |= HAVE_OPTIONS;
                }
                if s.flags & HAVE_OPTIONS != 0 {
                    s.out.push_str(" proto");
                }
                match getprotobynumber(*p) {
                    Some(n) => s.out.push_str(&format!(" {n}")),
                    None => s.out.push_str(&format!(" {p}")),
                }
                s.flags |= HAVE_PROTO;
            }
            Cmd::Comment(t) => {
                comment = Some(t.clone());
                continue;
            }
            _ => {
                // `ip4`/`ip6` standing for the protocol were printed there.
                let as_proto = (i.cmd == Cmd::Ip4 && s.flags & HAVE_PROTO4 != 0)
                    || (i.cmd == Cmd::Ip6 && s.flags & HAVE_PROTO6 != 0);
                if !i.or && !i.not && as_proto {
                    continue;
                }
                s.option(i, or_block);
            }
        }
        if i.or {
            s.out.push_str(" or");
            or_block = true;
        } else if or_block {
            s.out.push_str(" }");
            or_block = false;
        }
    }
    s.prereq(HAVE_IP);
    if let Some(c) = comment {
        s.out.push_str(&format!(" // {c}"));
    }
    s.out.push('\n');
    Some(s.out)
}

/// `show_dyn_ipfw`: one dynamic rule's line.
pub fn show_dyn(d: &IpFwDyn, o: &ShowOpts) -> String {
    let mut out = format!("{:05}", d.rulenum);
    if o.pcwidth > 0 || o.bcwidth > 0 {
        out.push_str(&format!(
            " {:>pw$} {:>bw$} ({}s)",
            d.pcnt,
            d.bcnt,
            d.expire,
            pw = o.pcwidth,
            bw = o.bcwidth
        ));
    }
    out.push_str(" STATE");
    match getprotobynumber(d.proto) {
        Some(n) => out.push_str(&format!(" {n}")),
        None => out.push_str(&format!(" proto {}", d.proto)),
    }
    out.push_str(&format!(
        " {} {} <-> {} {}\n",
        d.src.0, d.src.1, d.dst.0, d.dst.1
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{compile_rule, Env, Fail};

    struct NoNames;
    impl Env for NoNames {
        fn host4(&mut self, _: &str) -> Option<Ipv4Addr> {
            None
        }
        fn host6(&mut self, _: &str) -> Option<Ipv6Addr> {
            None
        }
        fn verbose_limit(&mut self) -> Result<u32, Fail> {
            Ok(0)
        }
    }

    /// Compile `add` words and print the rule back.
    fn round(s: &str) -> String {
        let w: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        let r = compile_rule(&w, &mut NoNames).unwrap();
        show_ipfw(&r, &ShowOpts::default()).unwrap()
    }

    #[test]
    fn rules_print_as_freebsd_lists_them() {
        for (given, shown) in [
            (
                "100 accept ip from any to any",
                "00100 allow ip from any to any",
            ),
            (
                "100 pass all from any to any",
                "00100 allow ip from any to any",
            ),
            (
                "200 deny icmp from any to any icmptypes 8",
                "00200 deny icmp from any to any icmptypes 8",
            ),
            (
                "300 permit tcp from any to me 22 setup keep-state",
                "00300 allow tcp from any to me 22 setup keep-state",
            ),
            (
                "400 allow ip from 10.0.1.0/24 to any via e0",
                "00400 allow ip from 10.0.1.0/24 to any via e0",
            ),
            ("deny in", "00000 deny ip from any to any in"),
            (
                "100 deny out xmit eth0",
                "00100 deny ip from any to any out xmit eth0",
            ),
            (
                "1 allow udp from 10.1.1.1,1.2.3.0:255.255.0.255 53 to not me 1000-2000,7",
                "00001 allow udp from 10.1.1.1,1.2.0.0:255.255.0.255 53 to not me 1000-2000,7",
            ),
            (
                "5 unreach port udp from any to any 53",
                "00005 unreach port udp from any to any 53",
            ),
            (
                "5 unreach 99 ip from any to any",
                "00005 unreach 99 ip from any to any",
            ),
            (
                "5 reject tcp from any to any",
                "00005 reject tcp from any to any",
            ),
            (
                "5 reset tcp from any to any",
                "00005 reset tcp from any to any",
            ),
            (
                "6 skipto 1000 ip from any to any",
                "00006 skipto 1000 ip from any to any",
            ),
            ("7 check-state", "00007 check-state"),
            (
                "20 allow ip from any to any mac-type arp,0x800,0x9999-0xa000 layer2",
                "00020 allow ip from any to any mac-type arp,ip,0x9999-0xa000 layer2",
            ),
            (
                "21 deny layer2 not MAC any 02:00:00:00:00:09",
                "00021 deny ip from any to any layer2 not MAC any 02:00:00:00:00:09",
            ),
            (
                "22 count mac 01:00:5e:7f:ff:ff/25 02:00:00:00:00:00&ff:00:00:00:00:01",
                "00022 count ip from any to any MAC 01:00:5e:00:00:00/25 02:00:00:00:00:00&ff:00:00:00:00:01",
            ),
            (
                "8 count log logamount 10 ip from any to any // why not",
                "00008 count log logamount 10 ip from any to any // why not",
            ),
            (
                "9 allow ip4 from any to any",
                "00009 allow ip4 from any to any",
            ),
            (
                "10 allow ip from { 1.1.1.1 or 2.2.2.2 } to any",
                "00010 allow ip from { 1.1.1.1 or 2.2.2.2 } to any",
            ),
            (
                "11 allow tcp from any to any tcpflags syn,!ack,fin established frag",
                "00011 allow tcp from any to any tcpflags fin,syn,!ack established frag",
            ),
            (
                "12 allow ip from 10.0.0.0/24{1,2,3,7} to any",
                "00012 allow ip from 10.0.0.0/24{1-3,7} to any",
            ),
            (
                "13 allow tcp from any to any in dst-port 80",
                "00013 allow tcp from any to any in dst-port 80",
            ),
            // A protocol given as an option is stored as the protocol.
            (
                "14 deny ip from any to any proto udp",
                "00014 deny udp from any to any",
            ),
            (
                "15 allow ip6 from fe80::/10 to ff02::1",
                "00015 allow ip6 from fe80::/10 to ff02::1",
            ),
            (
                "16 allow ipv6-icmp from any to any",
                "00016 allow ipv6-icmp from any to any",
            ),
            (
                "17 allow ip from any to any recv 10.0.0.1",
                "00017 allow ip from any to any recv 10.0.0.1",
            ),
            (
                "18 deny ip from table(3) to not table(4,7)",
                "00018 deny ip from table(3) to not table(4,7)",
            ),
        ] {
            assert_eq!(round(given), format!("{shown}\n"), "{given}");
        }
    }

    #[test]
    fn counters_align_and_disabled_sets_hide() {
        let w: Vec<String> = "100 allow ip from any to any"
            .split(' ')
            .map(str::to_string)
            .collect();
        let mut r = compile_rule(&w, &mut NoNames).unwrap();
        r.pcnt = 2;
        r.bcnt = 168;
        let o = ShowOpts {
            pcwidth: 1,
            bcwidth: 3,
            ..ShowOpts::default()
        };
        assert_eq!(
            show_ipfw(&r, &o).unwrap(),
            "00100 2 168 allow ip from any to any\n"
        );
        let o = ShowOpts {
            pcwidth: 3,
            bcwidth: 5,
            set_disable: 1,
            ..ShowOpts::default()
        };
        assert_eq!(show_ipfw(&r, &o), None);
        let o = ShowOpts {
            show_sets: true,
            ..o
        };
        assert_eq!(
            show_ipfw(&r, &o).unwrap(),
            "# DISABLED 00100   2   168 set 0 allow ip from any to any\n"
        );
        let d = IpFwDyn {
            rulenum: 300,
            set: 0,
            dyn_type: op::O_KEEP_STATE,
            expire: 295,
            pcnt: 3,
            bcnt: 180,
            proto: 6,
            src: (Ipv4Addr::new(10, 0, 1, 10).into(), 1234),
            dst: (Ipv4Addr::new(10, 0, 1, 11).into(), 22),
        };
        assert_eq!(
            show_dyn(&d, &ShowOpts::default()),
            "00300 STATE tcp 10.0.1.10 1234 <-> 10.0.1.11 22\n"
        );
        let o = ShowOpts {
            pcwidth: 1,
            bcwidth: 3,
            ..ShowOpts::default()
        };
        assert_eq!(
            show_dyn(&d, &o),
            "00300 3 180 (295s) STATE tcp 10.0.1.10 1234 <-> 10.0.1.11 22\n"
        );
    }
}
