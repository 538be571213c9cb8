//! The routing tables (`netstat -r [-anW] [-f inet|inet6]`), laid out as in the
//! tutorial's FreeBSD 7 transcript (`Routing tables`, `Internet:`, the
//! `Destination Gateway Flags Refs Use Netif Expire` columns) and `Internet6:`.
//! The routes come from the caller's vimage through `net.route.dump`.

use std::net::{IpAddr, Ipv6Addr};

use vimage_abi::net_if::IfInfo;
use vimage_abi::route::*;

use crate::names::{cut, netname};
use crate::{Af, Opts};

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

/// The routing tables of one vimage with the names of its interfaces.
pub struct Routes<'a> {
    o: &'a Opts,
    ifs: &'a [IfInfo],
}

impl<'a> Routes<'a> {
    /// Tables printed with options `o`; `ifs` names scoped addresses.
    pub fn new(o: &'a Opts, ifs: &'a [IfInfo]) -> Self {
        Routes { o, ifs }
    }

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
                    if let Some(n) = (self.o.resolve)(a) {
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
            if let Some(n) = (self.o.resolve)(IpAddr::V6(v)) {
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

    fn dst_str(&self, e: &RouteEntryInfo) -> String {
        match e.dst {
            IpAddr::V4(a) => {
                if a.is_unspecified() && e.plen == 0 {
                    "default".into()
                } else if e.flags & RTF_HOST != 0 {
                    self.routename(e.dst, 0)
                } else {
                    let plen = u32::from(e.plen.min(32));
                    let mask = u32::MAX.checked_shl(32 - plen).unwrap_or(0);
                    netname(a, mask, self.o.numeric)
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
            DumpGateway::Ether(m) => m
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        }
    }

    /// `routepr`: `Routing tables` and the table of each family in `dump`.
    pub fn routepr(&self, dump: &RouteDump) -> String {
        let mut out = String::from("Routing tables\n");
        for v6 in [false, true] {
            let fam = if v6 { Af::Inet6 } else { Af::Inet };
            let wanted = (self.o.af != Af::Unspec).then_some(self.o.af == fam);
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
            out.push_str(&self.family(v6, &routes));
        }
        out
    }

    /// `pr_family` + `pr_rthdr` + the rows of one family.
    fn family(&self, v6: bool, routes: &[&RouteEntryInfo]) -> String {
        let mut out = String::new();
        out.push('\n');
        out.push_str(if v6 { "Internet6:\n" } else { "Internet:\n" });
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
            out.push_str(&format!(
                "{:<wd$} {:<wg$} {:<6} {:>6} {:>8} {:>6} {:>wi$} {:>6}\n",
                "Destination", "Gateway", "Flags", "Refs", "Use", "Mtu", "Netif", "Expire"
            ));
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
                    cut(&flags_str(e.flags), 6),
                    e.refs,
                    e.used,
                    mtu,
                    e.ifname
                );
                if e.expire != 0 {
                    l.push_str(&format!(" {:>6}", e.expire));
                }
                out.push_str(&l);
                out.push('\n');
            }
            return out;
        }
        if v6 {
            let (wd, wg) = if self.o.numeric { (33, 29) } else { (18, 18) };
            out.push_str(&format!(
                "{:<wd$} {:<wg$} {:<6}  {:>8} {:>6}\n",
                "Destination", "Gateway", "Flags", "Netif", "Expire"
            ));
            for (d, g, e) in rows {
                let (d, g) = if self.o.numeric {
                    (d, g)
                } else {
                    (cut(&d, wd), cut(&g, wg))
                };
                let mut l = format!(
                    "{:<wd$} {:<wg$} {:<6} {:>8}",
                    d,
                    g,
                    cut(&flags_str(e.flags), 6),
                    cut(&e.ifname, 8)
                );
                if e.expire != 0 {
                    l.push_str(&format!(" {:>6}", e.expire));
                }
                out.push_str(&l);
                out.push('\n');
            }
            return out;
        }
        out.push_str(INET_HEADER);
        out.push('\n');
        for (d, g, e) in rows {
            let (d, g) = if self.o.numeric {
                (d, g)
            } else {
                (cut(&d, 17), cut(&g, 15))
            };
            let mut l = format!(
                "{:<17} {:<15} {:<6} {:>4} {:>9}    ",
                d,
                g,
                cut(&flags_str(e.flags), 6),
                e.refs,
                e.used
            );
            if e.expire != 0 {
                l.push_str(&format!("{:<5} {:>6}", e.ifname, e.expire));
            } else {
                l.push_str(&e.ifname);
            }
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_letters_in_order() {
        assert_eq!(flags_str(RTF_UP | RTF_GATEWAY | RTF_STATIC), "UGS");
        assert_eq!(flags_str(RTF_UP | RTF_CLONING), "UC");
        assert_eq!(flags_str(RTF_UP | RTF_GATEWAY | RTF_PROTO1), "UG1");
        assert_eq!(
            flags_str(RTF_UP | RTF_HOST | RTF_LLINFO | RTF_WASCLONED),
            "UHLW"
        );
        assert_eq!(flags_str(0), "");
    }
}
