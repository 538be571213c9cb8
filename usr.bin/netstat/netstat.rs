//! netstat(1): show the network status of the caller's vimage, as FreeBSD 7
//! prints it.
//!
//! * `netstat [-anW] [-f family | -p protocol]`: the `Active Internet
//!   connections` listing of the UDP and raw sockets (`net.inet.udp.pcblist`,
//!   `net.inet.raw.pcblist`; TCP's `net.inet.tcp.pcblist` when the kernel has
//!   one).  Without `-a` sockets bound to a wildcard address are left out.
//! * `netstat -i | -I interface [-bdnW] [-f family]`: the interface table with
//!   the kernel's counters (`net.link.iflist`).
//! * `netstat -s [-s] [-z] [-f family | -p protocol]`: protocol statistics
//!   (`net.inet.{ip,icmp,udp}.stats`, `net.inet6.{ip6,icmp6}.stats`); `-s -s`
//!   leaves out zero counters.
//! * `netstat -r [-anW] [-f family]`: the routing tables (`net.route.dump`).
//!
//! Everything comes from the kernel through sysctls; names come from built-in
//! copies of FreeBSD's services and networks databases and from `/etc/hosts`
//! (never from DNS).  See [`names`].

mod r#if;
mod inet;
mod inet6;
mod names;
mod route;
mod stats;

use std::io::Write;
use std::net::IpAddr;

use libvimage::getopt::Getopt;
use libvimage::{err, errx, warn, Errno, Sys};
use vimage_abi::net_if::IfInfo;
use vimage_abi::netinet6_in6::{Icmp6Stat, Ip6Stat};
use vimage_abi::netinet_in::{InPcbInfo, ProtoStats};
use vimage_abi::route::{RouteDump, NET_ROUTE_DUMP};
use vimage_abi::sysctl::SysctlValue;

use inet::Pcb;
use stats::{Counters, Item};

/// An address family named by `-f` (`AF_UNSPEC` when none was).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Af {
    /// No `-f`: every family.
    #[default]
    Unspec,
    /// `inet`.
    Inet,
    /// `inet6`.
    Inet6,
    /// `unix` / `local`.
    Unix,
    /// `link`.
    Link,
    /// A family this kernel has nothing of (`ipx`, `atalk`, `netgraph`, ...).
    Other,
}

/// The command line.
#[derive(Clone, Debug)]
pub struct Opts {
    /// `-a`: include servers (and, with `-i`, nothing more here).
    pub aflag: bool,
    /// `-b`: byte counters in the interface table.
    pub bflag: bool,
    /// `-d`: the drop counter in the interface table.
    pub dflag: bool,
    /// `-i` / `-I`: the interface table.
    pub iflag: bool,
    /// `-n`: numeric addresses and ports.
    pub numeric: bool,
    /// `-r`: the routing tables.
    pub rflag: bool,
    /// `-s`, counted: statistics (twice: without zero counters).
    pub sflag: u32,
    /// `-W`: wide columns, nothing cut.
    pub wide: bool,
    /// `-z`: zero the statistics as they are read.
    pub zflag: bool,
    /// `-f`.
    pub af: Af,
    /// `-I`: the one interface to show.
    pub interface: Option<String>,
    /// `-p`: the one protocol to show.
    pub proto: Option<String>,
    /// Host name lookup (`gethostbyaddr`); [`names::host_name`] outside tests.
    pub resolve: fn(IpAddr) -> Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            aflag: false,
            bflag: false,
            dflag: false,
            iflag: false,
            numeric: false,
            rflag: false,
            sflag: 0,
            wide: false,
            zflag: false,
            af: Af::Unspec,
            interface: None,
            proto: None,
            resolve: names::host_name,
        }
    }
}

/// Where a protocol's statistics come from.
#[derive(Clone, Copy)]
enum Stats {
    /// No statistics routine.
    None,
    /// Named counters (`ProtoStats`) at a sysctl, printed through a table.
    Named(&'static str, &'static [Item]),
    /// `net.inet6.ip6.stats`.
    Ip6,
    /// `net.inet6.icmp6.stats`.
    Icmp6,
}

/// One entry of netstat's protocol switch (`struct protox`).
struct Protox {
    /// `pr_name`.
    name: &'static str,
    /// `pr_protocol`: whose control blocks the listing shows.
    proto: u8,
    /// The control block list's sysctl (`None`: no PCB routine).
    pcblist: Option<&'static str>,
    /// The statistics routine.
    stats: Stats,
}

const UDP_PCBLIST: &str = "net.inet.udp.pcblist";
const TCP_PCBLIST: &str = "net.inet.tcp.pcblist";
const RAW_PCBLIST: &str = "net.inet.raw.pcblist";

/// `protox[]`: the IPv4 protocols in FreeBSD's order.
const PROTOX: &[Protox] = &[
    Protox {
        name: "tcp",
        proto: 6,
        pcblist: Some(TCP_PCBLIST),
        stats: Stats::Named("net.inet.tcp.stats", inet::TCP_STATS),
    },
    Protox {
        name: "udp",
        proto: 17,
        pcblist: Some(UDP_PCBLIST),
        stats: Stats::Named("net.inet.udp.stats", inet::UDP_STATS),
    },
    Protox {
        name: "divert",
        proto: 254,
        pcblist: Some("net.inet.divert.pcblist"),
        stats: Stats::None,
    },
    Protox {
        name: "ip",
        proto: 255,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Named("net.inet.ip.stats", inet::IP_STATS),
    },
    Protox {
        name: "icmp",
        proto: 1,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Named("net.inet.icmp.stats", inet::ICMP_STATS),
    },
    Protox {
        name: "igmp",
        proto: 2,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Named("net.inet.igmp.stats", &[]),
    },
    Protox {
        name: "rsvp",
        proto: 46,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::None,
    },
    Protox {
        name: "pim",
        proto: 103,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Named("net.inet.pim.stats", &[]),
    },
    Protox {
        name: "carp",
        proto: 0,
        pcblist: None,
        stats: Stats::Named("net.inet.carp.stats", &[]),
    },
    Protox {
        name: "pfsync",
        proto: 0,
        pcblist: None,
        stats: Stats::Named("net.inet.pfsync.stats", &[]),
    },
];

/// `ip6protox[]`: the IPv6 protocols.
const IP6PROTOX: &[Protox] = &[
    Protox {
        name: "tcp",
        proto: 6,
        pcblist: Some(TCP_PCBLIST),
        stats: Stats::Named("net.inet.tcp.stats", inet::TCP_STATS),
    },
    Protox {
        name: "udp",
        proto: 17,
        pcblist: Some(UDP_PCBLIST),
        stats: Stats::Named("net.inet.udp.stats", inet::UDP_STATS),
    },
    Protox {
        name: "ip6",
        proto: 255,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Ip6,
    },
    Protox {
        name: "icmp6",
        proto: 58,
        pcblist: Some(RAW_PCBLIST),
        stats: Stats::Icmp6,
    },
    Protox {
        name: "pim6",
        proto: 0,
        pcblist: None,
        stats: Stats::Named("net.inet6.pim.stats", &[]),
    },
    Protox {
        name: "rip6",
        proto: 0,
        pcblist: None,
        stats: Stats::Named("net.inet6.ip6.rip6stats", &[]),
    },
];

fn usage() -> ! {
    eprintln!(
        "usage: netstat [-anW] [-f protocol_family | -p protocol]\n\
         \x20      netstat -i | -I interface [-abdnW] [-f address_family]\n\
         \x20      netstat -s [-s] [-z] [-f protocol_family | -p protocol]\n\
         \x20      netstat -r [-anW] [-f address_family]"
    );
    std::process::exit(1)
}

/// Option letters FreeBSD's netstat knows that this one does not implement.
const UNSUPPORTED: &str = "ABghLlmMNqStTuwx";

/// `getopt(argc, argv, "abdf:iI:np:rsWz")` (and the [`UNSUPPORTED`] letters)
/// with FreeBSD's diagnostics.
fn parse_args<S: AsRef<str>>(args: &[S]) -> Opts {
    let a = Getopt::new(&format!("abdf:iI:np:rsWz{UNSUPPORTED}")).parse_or_usage(args, usage);
    let mut o = Opts::default();
    for (c, v) in a.opts {
        match c {
            'a' => o.aflag = true,
            'b' => o.bflag = true,
            'd' => o.dflag = true,
            'i' => o.iflag = true,
            'n' => o.numeric = true,
            'r' => o.rflag = true,
            's' => o.sflag += 1,
            'W' => o.wide = true,
            'z' => o.zflag = true,
            'f' => {
                o.af = match v.as_str() {
                    "inet" => Af::Inet,
                    "inet6" => Af::Inet6,
                    "unix" | "local" => Af::Unix,
                    "link" => Af::Link,
                    "ipx" | "pfkey" | "atalk" | "ng" | "netgraph" => Af::Other,
                    _ => errx(1, format!("{v}: unknown address family")),
                }
            }
            'I' => {
                o.interface = Some(v);
                o.iflag = true;
            }
            'p' => {
                if name2protox(&v).is_none() {
                    errx(1, format!("{v}: unknown or uninstrumented protocol"));
                }
                o.proto = Some(v);
            }
            _ => usage(), // UNSUPPORTED
        }
    }
    if !a.operands.is_empty() {
        usage();
    }
    o
}

/// `name2protox`: the protocol called `name`, IPv4 table first.
fn name2protox(name: &str) -> Option<&'static Protox> {
    PROTOX
        .iter()
        .chain(IP6PROTOX.iter())
        .find(|p| p.name == name)
}

/// The kernel, for one run.
struct Kern {
    sys: Sys,
}

impl Kern {
    /// An opaque sysctl's bytes.
    fn opaque(&mut self, name: &str) -> Result<Vec<u8>, Errno> {
        self.sys.sysctl_opaque(name)
    }

    /// An integer sysctl.
    fn int(&mut self, name: &str) -> Option<i64> {
        match self.sys.sysctl(name).ok()?.value {
            SysctlValue::Int(v) => Some(v),
            SysctlValue::UInt(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A statistics sysctl, zeroed after reading when `zero` (`-z`); `None`
    /// when the kernel has no such counters (silently) or refused (warned).
    fn stats(&mut self, name: &str, zero: bool) -> Option<Vec<u8>> {
        let r = match self.sys.sysctl(name) {
            Ok(r) => r,
            Err(Errno::ENOENT) => return None,
            Err(e) => {
                warn(format!("sysctl: {name}"), e);
                return None;
            }
        };
        let SysctlValue::Opaque(fmt, b) = r.value else {
            warn(format!("sysctl: {name}"), Errno::EINVAL);
            return None;
        };
        if zero {
            let zeros = match ProtoStats::from_bytes(&b) {
                Ok(p) => ProtoStats(p.0.into_iter().map(|(n, _)| (n, 0)).collect()).to_bytes(),
                Err(_) => vec![0; b.len()],
            };
            if let Err(e) = self.sys.sysctl_set(name, &SysctlValue::Opaque(fmt, zeros)) {
                warn(format!("sysctl: {name}"), e);
                return None;
            }
        }
        Some(b)
    }

    /// `pcblist_sysctl`: the blocks at `mib`; nothing (silently) when the
    /// kernel has no such list.
    fn pcblist(&mut self, mib: &str) -> Option<Vec<Pcb>> {
        let b = match self.opaque(mib) {
            Ok(b) => b,
            Err(Errno::ENOENT) => return None,
            Err(e) => {
                warn(format!("sysctl: {mib}"), e);
                return None;
            }
        };
        let list = match InPcbInfo::decode_list(&b) {
            Ok(l) => l,
            Err(e) => {
                warn(format!("sysctl: {mib}"), e);
                return None;
            }
        };
        // INP_ANONPORT: the kernel chose ports from its ephemeral range.
        let first = self.int("net.inet.ip.portrange.first").unwrap_or(49152);
        let last = self.int("net.inet.ip.portrange.last").unwrap_or(65535);
        let (lo, hi) = (first.min(last), first.max(last));
        let anon = |p: u16| (lo..=hi).contains(&i64::from(p));
        Some(list.iter().map(|p| Pcb::from_inpcb(p, anon)).collect())
    }

    /// The interfaces of the caller's vimage.
    fn iflist(&mut self) -> Vec<IfInfo> {
        self.sys
            .iflist()
            .unwrap_or_else(|e| err(1, "sysctl: net.link.iflist", e))
    }
}

/// Write to stdout; a closed pipe ends the program quietly.
fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

/// The state of one run through the protocol switch.
struct Run {
    k: Kern,
    o: Opts,
    /// `tcp_done` / `udp_done`: TCP and UDP lists cover both families.
    tcp_done: bool,
    udp_done: bool,
    /// The listing's header is still to be printed.
    first: bool,
}

impl Run {
    /// `printproto`: one protocol's listing or statistics block.
    fn printproto(&mut self, tp: &Protox) {
        let pflag = self.o.proto.is_some();
        if self.o.sflag > 0 {
            if matches!(tp.stats, Stats::None) {
                if pflag {
                    emit(&format!("{}: no stats routine\n", tp.name));
                }
                return;
            }
            if self.done(tp) {
                return;
            }
            self.stats(tp);
        } else {
            let Some(mib) = tp.pcblist else {
                if pflag {
                    emit(&format!("{}: no PCB routine\n", tp.name));
                }
                return;
            };
            if self.done(tp) {
                return;
            }
            let Some(pcbs) = self.k.pcblist(mib) else {
                return;
            };
            let s = inet::protopr(
                &self.o,
                &pcbs,
                tp.name,
                self.o.af,
                tp.proto,
                &mut self.first,
            );
            emit(&s);
        }
    }

    /// Whether TCP or UDP was already shown (and mark it shown).
    fn done(&mut self, tp: &Protox) -> bool {
        let flag = match tp.name {
            "tcp" => &mut self.tcp_done,
            "udp" => &mut self.udp_done,
            _ => return false,
        };
        std::mem::replace(flag, true)
    }

    /// One statistics block.
    fn stats(&mut self, tp: &Protox) {
        let s = self.o.sflag;
        match tp.stats {
            Stats::None => {}
            Stats::Named(mib, items) => {
                let Some(b) = self.k.stats(mib, self.o.zflag) else {
                    return;
                };
                let c = match ProtoStats::from_bytes(&b) {
                    Ok(p) => Counters(p.0),
                    Err(e) => return warn(format!("sysctl: {mib}"), e),
                };
                let mut out = stats::render(tp.name, items, &c, s);
                if tp.name == "icmp" {
                    if let Some(v) = self.k.int("net.inet.icmp.maskrepl") {
                        out.push_str(&inet::maskrepl_line(v != 0));
                    }
                }
                emit(&out);
            }
            Stats::Ip6 => {
                let mib = "net.inet6.ip6.stats";
                let Some(b) = self.k.stats(mib, false) else {
                    return;
                };
                match Ip6Stat::from_bytes(&b) {
                    Ok(st) => emit(&stats::render(
                        tp.name,
                        inet6::IP6_STATS,
                        &inet6::ip6_counters(&st),
                        s,
                    )),
                    Err(e) => warn(format!("sysctl: {mib}"), e),
                }
            }
            Stats::Icmp6 => {
                let mib = "net.inet6.icmp6.stats";
                let Some(b) = self.k.stats(mib, false) else {
                    return;
                };
                match Icmp6Stat::from_bytes(&b) {
                    Ok(st) => emit(&stats::render(
                        tp.name,
                        inet6::ICMP6_STATS,
                        &inet6::icmp6_counters(&st),
                        s,
                    )),
                    Err(e) => warn(format!("sysctl: {mib}"), e),
                }
            }
        }
    }
}

fn main() {
    libvimage::sigpipe_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse_args(&args);
    if o.iflag && o.sflag > 0 {
        // Per-interface protocol statistics are not kept by this kernel.
        usage();
    }
    let mut k = Kern {
        sys: Sys::open_or_exit(),
    };
    if o.iflag {
        let ifs = k.iflist();
        emit(&r#if::intpr(&o, &ifs));
    } else if o.rflag {
        routes(&mut k, &o);
    } else {
        protocols(k, o);
    }
}

/// `netstat -r`: the routing tables (`-rs`: their statistics).
fn routes(k: &mut Kern, o: &Opts) {
    if o.sflag > 0 {
        emit("rtstat: symbol not in namelist\n");
        return;
    }
    let dump = match k.opaque(NET_ROUTE_DUMP) {
        Ok(b) => RouteDump::from_bytes(&b)
            .unwrap_or_else(|e| err(1, format!("sysctl: {NET_ROUTE_DUMP}"), e)),
        Err(e) => err(1, format!("sysctl: {NET_ROUTE_DUMP}"), e),
    };
    let ifs = k.sys.iflist().unwrap_or_default();
    emit(&route::Routes::new(o, &ifs).routepr(&dump));
}

/// The sockets (`-s`: the statistics) of the protocols `-p` and `-f` pick.
fn protocols(k: Kern, o: Opts) {
    let proto = o.proto.clone();
    let af = o.af;
    let mut run = Run {
        k,
        o,
        tcp_done: false,
        udp_done: false,
        first: true,
    };
    if let Some(tp) = proto.as_deref().and_then(name2protox) {
        run.printproto(tp);
        return;
    }
    if matches!(af, Af::Inet | Af::Unspec) {
        for tp in PROTOX {
            run.printproto(tp);
        }
    }
    if matches!(af, Af::Inet6 | Af::Unspec) {
        for tp in IP6PROTOX {
            run.printproto(tp);
        }
    }
    // Active UNIX domain sockets: this kernel has no local-domain sockets.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_combine_like_getopt() {
        let o = parse_args(&args(&["-anf", "inet"]));
        assert!(o.aflag && o.numeric && o.af == Af::Inet);
        let o = parse_args(&args(&["-rnfinet6"]));
        assert!(o.rflag && o.numeric && o.af == Af::Inet6);
        let o = parse_args(&args(&["-ss", "-z", "-p", "icmp"]));
        assert_eq!(
            (o.sflag, o.zflag, o.proto.as_deref()),
            (2, true, Some("icmp"))
        );
        let o = parse_args(&args(&["-Ieth0", "-bdW"]));
        assert!(o.iflag && o.bflag && o.dflag && o.wide);
        assert_eq!(o.interface.as_deref(), Some("eth0"));
        let o = parse_args(&args(&["-i", "-f", "link"]));
        assert!(o.iflag && o.af == Af::Link);
    }

    #[test]
    fn protocol_switch() {
        assert_eq!(name2protox("udp").map(|p| p.proto), Some(17));
        assert_eq!(name2protox("icmp6").map(|p| p.proto), Some(58));
        assert_eq!(name2protox("ip").map(|p| p.proto), Some(255));
        assert!(name2protox("xyz").is_none());
        // IPv4 order as FreeBSD lists it.
        let names: Vec<&str> = PROTOX.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            ["tcp", "udp", "divert", "ip", "icmp", "igmp", "rsvp", "pim", "carp", "pfsync"]
        );
    }
}
