//! The interface table (FreeBSD 7's `intpr` in `if.c`): `netstat -i [-bdnW]
//! [-f family] [-I interface]`, from `net.link.iflist` and its counters.
//!
//! Each interface gets a `<Link#N>` row with its link address and counters,
//! then one row per protocol address.  The kernel keeps no per-address
//! counters, so address rows repeat the interface's packet and byte counts and
//! show `-` for errors, collisions and drops, as FreeBSD does for counters an
//! address does not keep.  IPv6 link-local addresses print with their scope
//! embedded in the second word (`fe80:2::1`), as FreeBSD 7's KAME-era `-i` did.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vimage_abi::net_if::{IfAddrInfo, IfInfo, AF_INET, AF_INET6, IFF_UP};

use crate::names::{netname, pad_cut};
use crate::{Af, Opts};

/// The column header.
pub fn header(o: &Opts) -> String {
    let mut h = if o.wide {
        format!("{:<7.7}", "Name")
    } else {
        format!("{:<5.5}", "Name")
    };
    h.push_str(&format!(
        " {:>5.5} {:<13.13} {:<17.17} {:>8.8} {:>5.5}",
        "Mtu", "Network", "Address", "Ipkts", "Ierrs"
    ));
    if o.bflag {
        h.push_str(&format!(" {:>10.10}", "Ibytes"));
    }
    h.push_str(&format!(" {:>8.8} {:>5.5}", "Opkts", "Oerrs"));
    if o.bflag {
        h.push_str(&format!(" {:>10.10}", "Obytes"));
    }
    h.push_str(&format!(" {:>5}", "Coll"));
    if o.dflag {
        h.push_str(" Drop");
    }
    h.push('\n');
    h
}

/// `show_stat`: a counter right-aligned in `width` followed by a space, or `-`
/// in its place when the row does not keep it.
fn stat(v: u64, width: usize, shown: bool) -> String {
    if shown {
        format!("{v:>width$} ")
    } else {
        format!("{:>width$} ", "-")
    }
}

/// The counter columns of one row; `link` is whether it is the interface's
/// own (link-layer) row.
fn counters(o: &Opts, i: &IfInfo, link: bool) -> String {
    let s = &i.stats;
    let mut out = stat(s.ipackets, 8, true);
    out.push_str(&stat(s.ierrors, 5, link));
    if o.bflag {
        out.push_str(&stat(s.ibytes, 10, true));
    }
    out.push_str(&stat(s.opackets, 8, true));
    out.push_str(&stat(s.oerrors, 5, link));
    if o.bflag {
        out.push_str(&stat(s.obytes, 10, true));
    }
    let coll = stat(s.collisions, 5, link);
    out.push_str(coll.trim_end_matches(' '));
    if o.dflag {
        out.push(' ');
        out.push_str(stat(s.iqdrops, 4, link).trim_end_matches(' '));
    }
    out
}

/// An IPv6 address with a link-local scope embedded in its second word, the
/// way FreeBSD 7's kernel kept it.
fn kame_embed(a: Ipv6Addr, scope: u32) -> Ipv6Addr {
    let mut s = a.segments();
    let ll = s[0] & 0xffc0 == 0xfe80 || s[0] & 0xff0f == 0xff02 || s[0] & 0xff0f == 0xff01;
    if ll && scope != 0 && s[1] == 0 {
        s[1] = scope as u16;
    }
    Ipv6Addr::from(s)
}

/// The Network and Address columns of a protocol address, or `None` for a
/// family the table does not show.
fn addr_columns(o: &Opts, a: &IfAddrInfo) -> Option<(String, String)> {
    match a.family {
        AF_INET => {
            let b: [u8; 4] = a.addr.get(..4)?.try_into().ok()?;
            let m: [u8; 4] = a.mask.get(..4)?.try_into().unwrap_or([0; 4]);
            let addr = u32::from_be_bytes(b);
            let mask = u32::from_be_bytes(m);
            let net = netname(Ipv4Addr::from(addr & mask), mask, o.numeric);
            let host = Ipv4Addr::from(addr);
            let name = if o.numeric {
                None
            } else {
                (o.resolve)(IpAddr::V4(host))
            };
            Some((net, name.unwrap_or_else(|| host.to_string())))
        }
        AF_INET6 => {
            let b: [u8; 16] = a.addr.get(..16)?.try_into().ok()?;
            let addr = kame_embed(Ipv6Addr::from(b), a.scope);
            let plen: u32 = a.mask.iter().map(|x| x.count_ones()).sum();
            // netname6: the address itself, named without -n, with /LEN with -n.
            let net = if o.numeric {
                format!("{addr}/{plen}")
            } else {
                (o.resolve)(IpAddr::V6(Ipv6Addr::from(b))).unwrap_or_else(|| addr.to_string())
            };
            Some((net, addr.to_string()))
        }
        _ => None,
    }
}

/// `intpr`: the whole table for the interfaces `ifs`.
pub fn intpr(o: &Opts, ifs: &[IfInfo]) -> String {
    let mut out = header(o);
    for i in ifs {
        if o.interface.as_deref().is_some_and(|n| n != i.name) {
            continue;
        }
        let mut name = i.name.clone();
        if i.flags & IFF_UP == 0 {
            name.push('*');
        }
        let lead = if o.wide {
            format!("{} {:>5} ", pad_cut(&name, 7), i.mtu)
        } else {
            format!("{} {:>5} ", pad_cut(&name, 5), i.mtu)
        };
        if matches!(o.af, Af::Unspec | Af::Link) {
            let mut row = lead.clone();
            row.push_str(&format!("{} ", pad_cut(&format!("<Link#{}>", i.index), 13)));
            let mut m = 14;
            for (k, b) in i.lladdr.iter().enumerate() {
                let sep = if k + 1 < i.lladdr.len() { ':' } else { ' ' };
                row.push_str(&format!("{b:02x}{sep}"));
                m += 3;
            }
            row.push_str(&" ".repeat(32usize.saturating_sub(m)));
            row.push_str(&counters(o, i, true));
            out.push_str(&row);
            out.push('\n');
        }
        for a in &i.addrs {
            let fam = match a.family {
                AF_INET => Af::Inet,
                AF_INET6 => Af::Inet6,
                _ => Af::Other,
            };
            if o.af != Af::Unspec && o.af != fam {
                continue;
            }
            let Some((net, host)) = addr_columns(o, a) else {
                continue;
            };
            out.push_str(&lead);
            out.push_str(&format!("{} {} ", pad_cut(&net, 13), pad_cut(&host, 17)));
            out.push_str(&counters(o, i, false));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vimage_abi::net_if::{IfStats, IFT_ETHER, IFT_LOOP};

    fn ifs() -> Vec<IfInfo> {
        vec![
            IfInfo {
                index: 1,
                name: "lo0".into(),
                flags: 0x8049,
                metric: 0,
                mtu: 16384,
                iftype: IFT_LOOP,
                lladdr: vec![],
                status: vec![],
                addrs: vec![
                    IfAddrInfo {
                        family: AF_INET6,
                        addr: "::1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                        mask: vec![0xff; 16],
                        dst: vec![],
                        scope: 0,
                        flags: 0,
                    },
                    IfAddrInfo {
                        family: AF_INET6,
                        addr: "fe80::1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                        mask: [vec![0xff; 8], vec![0; 8]].concat(),
                        dst: vec![],
                        scope: 1,
                        flags: 0,
                    },
                    IfAddrInfo {
                        family: AF_INET,
                        addr: vec![127, 0, 0, 1],
                        mask: vec![255, 0, 0, 0],
                        dst: vec![],
                        scope: 0,
                        flags: 0,
                    },
                ],
                stats: IfStats {
                    ipackets: 12,
                    opackets: 12,
                    ibytes: 1008,
                    obytes: 1008,
                    ..Default::default()
                },
            },
            IfInfo {
                index: 2,
                name: "eth0".into(),
                flags: 0x8843,
                metric: 0,
                mtu: 1500,
                iftype: IFT_ETHER,
                lladdr: vec![0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x01],
                status: vec![],
                addrs: vec![IfAddrInfo {
                    family: AF_INET,
                    addr: vec![10, 0, 0, 20],
                    mask: vec![255, 255, 255, 0],
                    dst: vec![10, 0, 0, 255],
                    scope: 0,
                    flags: 0,
                }],
                stats: IfStats {
                    ipackets: 5,
                    ierrors: 1,
                    opackets: 6,
                    oerrors: 0,
                    ibytes: 550,
                    obytes: 600,
                    iqdrops: 2,
                    collisions: 0,
                },
            },
            IfInfo {
                index: 3,
                name: "ngeth1".into(),
                flags: 0x8802,
                metric: 0,
                mtu: 1500,
                iftype: IFT_ETHER,
                lladdr: vec![0; 6],
                status: vec![],
                addrs: vec![],
                stats: IfStats::default(),
            },
        ]
    }

    fn numeric() -> Opts {
        Opts {
            numeric: true,
            ..Opts::default()
        }
    }

    #[test]
    fn the_freebsd7_table() {
        assert_eq!(
            intpr(&numeric(), &ifs()),
            "Name    Mtu Network       Address              Ipkts Ierrs    Opkts Oerrs  Coll\n\
             lo0   16384 <Link#1>                              12     0       12     0     0\n\
             lo0   16384 ::1/128       ::1                     12     -       12     -     -\n\
             lo0   16384 fe80:1::1/64  fe80:1::1               12     -       12     -     -\n\
             lo0   16384 127.0.0.0/8   127.0.0.1               12     -       12     -     -\n\
             eth0   1500 <Link#2>      40:0a:0b:0c:0d:01        5     1        6     0     0\n\
             eth0   1500 10.0.0.0/24   10.0.0.20                5     -        6     -     -\n\
             ngeth  1500 <Link#3>      00:00:00:00:00:00        0     0        0     0     0\n"
        );
    }

    #[test]
    fn names_without_n() {
        let o = Opts {
            resolve: |a| {
                (a == IpAddr::from([127, 0, 0, 1]) || a == IpAddr::from(Ipv6Addr::LOCALHOST))
                    .then(|| "localhost".to_string())
            },
            ..Opts::default()
        };
        let t = intpr(&o, &ifs()[..2]);
        let l: Vec<&str> = t.lines().collect();
        assert_eq!(
            l[2],
            "lo0   16384 localhost     ::1                     12     -       12     -     -"
        );
        assert_eq!(
            l[3],
            "lo0   16384 fe80:1::1     fe80:1::1               12     -       12     -     -"
        );
        assert_eq!(
            l[4],
            "lo0   16384 your-net      localhost               12     -       12     -     -"
        );
        assert_eq!(
            l[6],
            "eth0   1500 10.0.0.0      10.0.0.20                5     -        6     -     -"
        );
    }

    #[test]
    fn bytes_drops_wide_family_and_one_interface() {
        let o = Opts {
            bflag: true,
            dflag: true,
            af: Af::Inet,
            interface: Some("eth0".into()),
            ..numeric()
        };
        assert_eq!(
            intpr(&o, &ifs()),
            "Name    Mtu Network       Address              Ipkts Ierrs     Ibytes    Opkts Oerrs     Obytes  Coll Drop\n\
             eth0   1500 10.0.0.0/24   10.0.0.20                5     -        550        6     -        600     -    -\n"
        );
        let o = Opts {
            wide: true,
            af: Af::Link,
            ..numeric()
        };
        let t = intpr(&o, &ifs());
        let l: Vec<&str> = t.lines().collect();
        assert_eq!(
            l[0],
            "Name      Mtu Network       Address              Ipkts Ierrs    Opkts Oerrs  Coll"
        );
        assert_eq!(
            l[3],
            "ngeth1*  1500 <Link#3>      00:00:00:00:00:00        0     0        0     0     0"
        );
        assert_eq!(l.len(), 4);
        let o = Opts {
            dflag: true,
            interface: Some("eth0".into()),
            af: Af::Link,
            ..numeric()
        };
        assert_eq!(
            intpr(&o, &ifs()).lines().nth(1),
            Some("eth0   1500 <Link#2>      40:0a:0b:0c:0d:01        5     1        6     0     0    2")
        );
        // An interface that does not exist: the header alone.
        let o = Opts {
            interface: Some("em9".into()),
            ..numeric()
        };
        assert_eq!(intpr(&o, &ifs()), header(&o));
    }
}
