//! netstat(1) routing tables: `netstat -r [-anW] [-f inet|inet6]`, laid out as
//! in the tutorial's FreeBSD 7 transcript (`Routing tables`, `Internet:`, the
//! `Destination Gateway Flags Refs Use Netif Expire` columns) and `Internet6:`.
//! The routes come from the caller's vimage through `net.route.dump`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libvimage::{err, errx, Sys};
use vimage_abi::net_if::IfInfo;
use vimage_abi::route::*;
use vimage_abi::sysctl::SysctlValue;

/// Flag letters in netstat's order (`bits[]` of FreeBSD 7's route.c).
const BITS: &[(u32, char)] = &[
    (RTF_UP, 'U'),
    (RTF_GATEWAY, 'G'),
    (RTF_HOST, 'H'),
    (RTF_REJECT, 'R'),
    (RTF_DYNAMIC, 'D'),
    (RTF_MODIFIED, 'M'),
    (RTF_DONE, 'd'),
    (RTF_CLONING, 'C'),
    (RTF_XRESOLVE, 'X'),
    (RTF_LLINFO, 'L'),
    (RTF_STATIC, 'S'),
    (RTF_PROTO1, '1'),
    (RTF_PROTO2, '2'),
    (RTF_WASCLONED, 'W'),
    (RTF_PRCLONING, 'c'),
    (RTF_PROTO3, '3'),
    (RTF_BLACKHOLE, 'B'),
    (RTF_BROADCAST, 'b'),
];

/// The tutorial's IPv4 header (non-wide).
const INET_HEADER: &str = "Destination      Gateway          Flags    Refs      Use  Netif  Expire";

/// `p_flags`: the letters of the bits set.
fn flags_str(f: u32) -> String {
    BITS.iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// An address family named by `-f`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    Inet,
    Inet6,
    Other,
}

struct Opts {
    rflag: bool,
    numeric: bool,
    wide: bool,
    all: bool,
    /// `-f`: the one family to show (None: all).
    af: Option<Fam>,
}

fn usage() -> ! {
    eprintln!("usage: netstat -r [-anW] [-f address_family]");
    std::process::exit(1)
}

/// /etc/hosts reverse lookup (`gethostbyaddr` without a resolver).
fn host_name(a: IpAddr) -> Option<String> {
    let t = std::fs::read_to_string("/etc/hosts").ok()?;
    t.lines().find_map(|l| {
        let l = l.split('#').next()?;
        let mut w = l.split_whitespace();
        let x: IpAddr = w.next()?.parse().ok()?;
        if x != a {
            return None;
        }
        // trimdomain: the short name.
        w.next()
            .map(|n| n.split('.').next().unwrap_or(n).to_string())
    })
}

struct Netstat {
    o: Opts,
    ifs: Vec<IfInfo>,
}

impl Netstat {
    fn ifname(&self, index: u32) -> String {
        self.ifs
            .iter()
            .find(|i| i.index == index)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| index.to_string())
    }

    /// `routename`: a host address.
    fn routename(&self, a: IpAddr, scope: u32) -> String {
        match a {
            IpAddr::V4(v) => {
                if !self.o.numeric {
                    if let Some(n) = host_name(a) {
                        return n;
                    }
                }
                v.to_string()
            }
            IpAddr::V6(v) => self.name6(v, scope),
        }
    }

    fn name6(&self, v: Ipv6Addr, scope: u32) -> String {
        if !self.o.numeric {
            if let Some(n) = host_name(IpAddr::V6(v)) {
                return n;
            }
        }
        let s = v.segments();
        if (s[0] & 0xffc0 == 0xfe80 || s[0] == 0xff02) && scope != 0 {
            format!("{v}%{}", self.ifname(scope))
        } else {
            v.to_string()
        }
    }

    /// `netname`: a network with its prefix (the numeric form with -n; without
    /// it /8, /16 and /24 go unsaid).
    fn netname(&self, a: Ipv4Addr, plen: u8) -> String {
        let mut s = a.to_string();
        if plen != 0 && (self.o.numeric || !matches!(plen, 8 | 16 | 24)) {
            s.push_str(&format!("/{plen}"));
        }
        s
    }

    fn dst_str(&self, e: &RouteEntryInfo) -> String {
        match e.dst {
            IpAddr::V4(a) => {
                if a.is_unspecified() && e.plen == 0 {
                    "default".into()
                } else if e.flags & RTF_HOST != 0 {
                    self.routename(e.dst, 0)
                } else {
                    self.netname(a, e.plen)
                }
            }
            IpAddr::V6(a) => {
                if a.is_unspecified() && e.plen == 0 {
                    "default".into()
                } else if e.flags & RTF_HOST != 0 || e.plen == 128 {
                    self.name6(a, e.ifindex)
                } else {
                    let mut s = self.name6(a, e.ifindex);
                    if self.o.numeric {
                        s.push_str(&format!("/{}", e.plen));
                    }
                    s
                }
            }
        }
    }

    fn gw_str(&self, e: &RouteEntryInfo) -> String {
        match &e.gateway {
            DumpGateway::Link(i) => format!("link#{i}"),
            DumpGateway::Inet(a) => self.routename(*a, e.ifindex),
        }
    }

    /// `pr_family` + `pr_rthdr` + the rows of one family.
    fn print_family(&self, v6: bool, routes: &[&RouteEntryInfo]) {
        println!();
        println!("{}", if v6 { "Internet6:" } else { "Internet:" });
        let rows: Vec<(String, String, &RouteEntryInfo)> = routes
            .iter()
            .map(|e| (self.dst_str(e), self.gw_str(e), *e))
            .collect();
        if self.o.wide {
            let wd = rows
                .iter()
                .map(|r| r.0.len())
                .max()
                .unwrap_or(0)
                .max(if v6 { 39 } else { 18 });
            let wg = rows
                .iter()
                .map(|r| r.1.len())
                .max()
                .unwrap_or(0)
                .max(if v6 { 31 } else { 18 });
            let wi = if v6 { 8 } else { 6 };
            println!(
                "{:<wd$} {:<wg$} {:<6} {:>6} {:>8} {:>6} {:>wi$} {:>6}",
                "Destination", "Gateway", "Flags", "Refs", "Use", "Mtu", "Netif", "Expire"
            );
            for (d, g, e) in rows {
                let mtu = if e.mtu != 0 {
                    e.mtu.to_string()
                } else {
                    String::new()
                };
                let mut l = format!(
                    "{:<wd$} {:<wg$} {:<6} {:>6} {:>8} {:>6} {:>wi$}",
                    d,
                    g,
                    trunc(&flags_str(e.flags), 6),
                    e.refs,
                    e.used,
                    mtu,
                    e.ifname
                );
                if e.expire != 0 {
                    l.push_str(&format!(" {:>6}", e.expire));
                }
                println!("{l}");
            }
            return;
        }
        if v6 {
            let (wd, wg) = if self.o.numeric { (33, 29) } else { (18, 18) };
            println!(
                "{:<wd$} {:<wg$} {:<6}  {:>8} {:>6}",
                "Destination", "Gateway", "Flags", "Netif", "Expire"
            );
            for (d, g, e) in rows {
                let (d, g) = if self.o.numeric {
                    (d, g)
                } else {
                    (trunc(&d, wd), trunc(&g, wg))
                };
                let mut l = format!(
                    "{:<wd$} {:<wg$} {:<6} {:>8}",
                    d,
                    g,
                    trunc(&flags_str(e.flags), 6),
                    trunc(&e.ifname, 8)
                );
                if e.expire != 0 {
                    l.push_str(&format!(" {:>6}", e.expire));
                }
                println!("{l}");
            }
            return;
        }
        println!("{INET_HEADER}");
        for (d, g, e) in rows {
            let (d, g) = if self.o.numeric {
                (d, g)
            } else {
                (trunc(&d, 17), trunc(&g, 15))
            };
            let mut l = format!(
                "{:<17} {:<15} {:<6} {:>4} {:>9}    ",
                d,
                g,
                trunc(&flags_str(e.flags), 6),
                e.refs,
                e.used
            );
            if e.expire != 0 {
                l.push_str(&format!("{:<5} {:>6}", e.ifname, e.expire));
            } else {
                l.push_str(&e.ifname);
            }
            println!("{l}");
        }
    }
}

fn trunc(s: &str, w: usize) -> String {
    s.chars().take(w).collect()
}

fn main() {
    let mut o = Opts {
        rflag: false,
        numeric: false,
        wide: false,
        all: false,
        af: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(f) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            usage();
        };
        let mut chars = f.chars();
        while let Some(c) = chars.next() {
            match c {
                'r' => o.rflag = true,
                'n' => o.numeric = true,
                'W' => o.wide = true,
                'a' => o.all = true,
                'f' => {
                    let rest: String = chars.by_ref().collect();
                    let v = if rest.is_empty() {
                        args.next().unwrap_or_else(|| usage())
                    } else {
                        rest
                    };
                    o.af = Some(match v.as_str() {
                        "inet" => Fam::Inet,
                        "inet6" => Fam::Inet6,
                        // Families without a routing table here.
                        "unix" | "local" | "link" | "netgraph" | "ng" => Fam::Other,
                        _ => errx(1, format!("{v}: unknown address family")),
                    });
                }
                _ => usage(),
            }
        }
    }
    if !o.rflag {
        errx(1, "only the routing tables (-r) are available");
    }
    let _ = o.all;
    let mut s = Sys::open_or_exit();
    let dump = match s.sysctl(NET_ROUTE_DUMP) {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => {
                RouteDump::from_bytes(&b).unwrap_or_else(|e| err(1, "sysctl: net.route.dump", e))
            }
            _ => errx(1, "sysctl: net.route.dump: bad reply"),
        },
        Err(e) => err(1, "sysctl: net.route.dump", e),
    };
    let ifs = match s.sysctl("net.link.iflist") {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => IfInfo::decode_list(&b).unwrap_or_default(),
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    let n = Netstat { o, ifs };
    println!("Routing tables");
    for v6 in [false, true] {
        let fam = if v6 { Fam::Inet6 } else { Fam::Inet };
        let wanted = n.o.af.map(|f| f == fam);
        if wanted == Some(false) {
            continue;
        }
        let routes: Vec<&RouteEntryInfo> = dump
            .routes
            .iter()
            .filter(|e| e.dst.is_ipv6() == v6)
            .collect();
        if routes.is_empty() && wanted.is_none() {
            continue;
        }
        n.print_family(v6, &routes);
    }
}
