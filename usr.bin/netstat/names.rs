//! The databases netstat consults for names, and its small text helpers.
//!
//! Port names come from a built-in copy of FreeBSD's `/etc/services` entries for
//! the common ports (the host's file names some ports differently), network
//! names from FreeBSD's default `/etc/networks`, host names from `/etc/hosts`
//! (no resolver: an address without an entry prints numerically).

use std::net::{IpAddr, Ipv4Addr};

/// `(port, TCP name, UDP name)` as FreeBSD's `/etc/services` has them.
const SERVICES: &[(u16, Option<&str>, Option<&str>)] = &[
    (7, Some("echo"), Some("echo")),
    (9, Some("discard"), Some("discard")),
    (13, Some("daytime"), Some("daytime")),
    (19, Some("chargen"), Some("chargen")),
    (20, Some("ftp-data"), Some("ftp-data")),
    (21, Some("ftp"), Some("ftp")),
    (22, Some("ssh"), Some("ssh")),
    (23, Some("telnet"), Some("telnet")),
    (25, Some("smtp"), Some("smtp")),
    (37, Some("time"), Some("time")),
    (42, Some("nameserver"), Some("nameserver")),
    (43, Some("nicname"), Some("nicname")),
    (53, Some("domain"), Some("domain")),
    (67, Some("bootps"), Some("bootps")),
    (68, Some("bootpc"), Some("bootpc")),
    (69, Some("tftp"), Some("tftp")),
    (70, Some("gopher"), Some("gopher")),
    (79, Some("finger"), Some("finger")),
    (80, Some("http"), Some("http")),
    (110, Some("pop3"), Some("pop3")),
    (111, Some("sunrpc"), Some("sunrpc")),
    (113, Some("auth"), Some("auth")),
    (119, Some("nntp"), Some("nntp")),
    (123, Some("ntp"), Some("ntp")),
    (137, Some("netbios-ns"), Some("netbios-ns")),
    (138, Some("netbios-dgm"), Some("netbios-dgm")),
    (139, Some("netbios-ssn"), Some("netbios-ssn")),
    (143, Some("imap"), Some("imap")),
    (161, Some("snmp"), Some("snmp")),
    (162, Some("snmptrap"), Some("snmptrap")),
    (177, Some("xdmcp"), Some("xdmcp")),
    (179, Some("bgp"), Some("bgp")),
    (389, Some("ldap"), Some("ldap")),
    (443, Some("https"), Some("https")),
    (500, Some("isakmp"), Some("isakmp")),
    (512, Some("exec"), Some("biff")),
    (513, Some("login"), Some("who")),
    (514, Some("cmd"), Some("syslog")),
    (515, Some("printer"), Some("printer")),
    (517, Some("talk"), Some("talk")),
    (518, Some("ntalk"), Some("ntalk")),
    (520, Some("efs"), Some("router")),
    (521, Some("ripng"), Some("ripng")),
    (525, Some("timed"), Some("timed")),
    (546, Some("dhcpv6-client"), Some("dhcpv6-client")),
    (547, Some("dhcpv6-server"), Some("dhcpv6-server")),
    (2049, Some("nfsd"), Some("nfsd")),
    (2601, Some("zebra"), None),
    (2602, Some("ripd"), None),
    (2603, Some("ripngd"), None),
    (2604, Some("ospfd"), None),
    (2605, Some("bgpd"), None),
    (33434, Some("traceroute"), Some("traceroute")),
];

/// `getservbyport(port, proto)`: the service name of `port` for `proto`
/// (`tcp`/`udp`, also `tcp6`/`udp6`).
pub fn service(port: u16, proto: &str) -> Option<&'static str> {
    let e = SERVICES.iter().find(|e| e.0 == port)?;
    match proto {
        "tcp" | "tcp6" => e.1,
        "udp" | "udp6" => e.2,
        _ => None,
    }
}

/// FreeBSD's default `/etc/networks`: network numbers and their names.
const NETWORKS: &[(u32, &str)] = &[
    (127, "your-net"),
    (0x7f_0001, "subnet1"),
    (0x7f_0002, "subnet2"),
];

/// `getnetbyaddr(net, AF_INET)`.
pub fn network(net: u32) -> Option<&'static str> {
    NETWORKS.iter().find(|e| e.0 == net).map(|e| e.1)
}

/// `/etc/hosts` reverse lookup (`gethostbyaddr` without a resolver): the first
/// name of the address's line, up to its first dot.
pub fn host_name(a: IpAddr) -> Option<String> {
    let t = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts_lookup(&t, a)
}

/// [`host_name`] over the text of a hosts file.
pub fn hosts_lookup(text: &str, a: IpAddr) -> Option<String> {
    text.lines().find_map(|l| {
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

/// `IN_CLASSx_NSHIFT` of a classful mask, 0 for any other mask (`NSHIFT`).
pub fn nshift(mask: u32) -> u32 {
    match mask {
        0xff00_0000 => 24,
        0xffff_0000 => 16,
        0xffff_ff00 => 8,
        _ => 0,
    }
}

/// `inet_lnaof`: the host part of an address by its class.
pub fn inet_lnaof(a: Ipv4Addr) -> u32 {
    let i = u32::from(a);
    if i & 0x8000_0000 == 0 {
        i & 0x00ff_ffff
    } else if i & 0xc000_0000 == 0x8000_0000 {
        i & 0x0000_ffff
    } else {
        i & 0x0000_00ff
    }
}

/// `netname`: a network number with its mask; `numeric` is `-n`.  A name from
/// the networks database replaces the number; `/LEN` follows unless the mask is
/// 0, or (without `-n`) a classful /8, /16 or /24; a non-contiguous mask prints
/// as `&0xMASK`.
pub fn netname(net: Ipv4Addr, mask: u32, numeric: bool) -> String {
    let i = u32::from(net);
    let mut s = None;
    if !numeric && i != 0 {
        s = network(i >> nshift(mask)).map(str::to_string);
    }
    let mut s = s.unwrap_or_else(|| net.to_string());
    if mask != 0 && (numeric || nshift(mask) == 0) {
        let len = mask.leading_ones();
        if mask.checked_shl(len).unwrap_or(0) == 0 {
            s.push_str(&format!("/{len}"));
        } else {
            s.push_str(&format!("&0x{mask:x}"));
        }
    }
    s
}

/// `plural`: `s` unless exactly one.
pub fn plural(n: u64) -> &'static str {
    if n != 1 {
        "s"
    } else {
        ""
    }
}

/// `plurales`: `es` unless exactly one.
pub fn plurales(n: u64) -> &'static str {
    if n != 1 {
        "es"
    } else {
        ""
    }
}

/// `pluralies`: `ies` unless exactly one, then `y`.
pub fn pluralies(n: u64) -> &'static str {
    if n != 1 {
        "ies"
    } else {
        "y"
    }
}

/// One argument to [`cfmt`].
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A number (`%lu`, `%ju`, `%llu`, `%u`, `%d`).
    N(u64),
    /// A string (`%s`).
    S(&'a str),
}

/// The few `printf` conversions netstat's messages use: `%lu`-style numbers,
/// `%s` and `%%`, each taking the next argument in turn.
pub fn cfmt(fmt: &str, args: &[Arg<'_>]) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        loop {
            match chars.next() {
                Some('%') => {
                    out.push('%');
                    break;
                }
                Some('l' | 'j' | 'h' | 'q') => continue,
                Some('u' | 'd' | 's') => {
                    match args.next() {
                        Some(Arg::N(n)) => out.push_str(&n.to_string()),
                        Some(Arg::S(s)) => out.push_str(s),
                        None => {}
                    }
                    break;
                }
                Some(o) => {
                    out.push('%');
                    out.push(o);
                    break;
                }
                None => break,
            }
        }
    }
    out
}

/// `%-W.Ws`: `s` cut to `w` characters and padded to `w`.
pub fn pad_cut(s: &str, w: usize) -> String {
    format!("{:<w$}", cut(s, w))
}

/// `%.Ws`: `s` cut to `w` characters.
pub fn cut(s: &str, w: usize) -> String {
    s.chars().take(w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_freebsds() {
        assert_eq!(service(520, "udp"), Some("router"));
        assert_eq!(service(520, "tcp"), Some("efs"));
        assert_eq!(service(53, "udp"), Some("domain"));
        assert_eq!(service(22, "tcp"), Some("ssh"));
        assert_eq!(service(123, "udp6"), Some("ntp"));
        assert_eq!(service(161, "udp"), Some("snmp"));
        assert_eq!(service(33434, "udp"), Some("traceroute"));
        assert_eq!(service(514, "udp"), Some("syslog"));
        assert_eq!(service(2602, "udp"), None);
        assert_eq!(service(33435, "udp"), None);
        assert_eq!(service(53, "icmp"), None);
    }

    #[test]
    fn networks_and_hosts() {
        assert_eq!(network(127), Some("your-net"));
        assert_eq!(network(10), None);
        let hosts = "# comment\n127.0.0.1\tlocalhost localhost.my.domain\n\
                     ::1 localhost\n10.0.0.1 router.example.org r1 # gw\n";
        let h = |a: &str| hosts_lookup(hosts, a.parse().unwrap());
        assert_eq!(h("127.0.0.1").as_deref(), Some("localhost"));
        assert_eq!(h("::1").as_deref(), Some("localhost"));
        assert_eq!(h("10.0.0.1").as_deref(), Some("router"));
        assert_eq!(h("10.0.0.2"), None);
    }

    #[test]
    fn netnames() {
        let n = |a: &str, m: u32, num: bool| netname(a.parse().unwrap(), m, num);
        assert_eq!(n("10.0.1.0", 0xffff_ff00, true), "10.0.1.0/24");
        assert_eq!(n("10.0.1.0", 0xffff_ff00, false), "10.0.1.0");
        assert_eq!(n("10.0.1.128", 0xffff_ff80, false), "10.0.1.128/25");
        assert_eq!(n("127.0.0.0", 0xff00_0000, false), "your-net");
        assert_eq!(n("127.0.0.0", 0xff00_0000, true), "127.0.0.0/8");
        assert_eq!(n("127.0.0.0", 0xfe00_0000, false), "127.0.0.0/7");
        assert_eq!(n("10.0.0.0", 0xff00_ff00, true), "10.0.0.0&0xff00ff00");
        assert_eq!(n("0.0.0.0", 0, true), "0.0.0.0");
    }

    #[test]
    fn lnaof_by_class() {
        let l = |a: &str| inet_lnaof(a.parse().unwrap());
        assert_eq!(l("10.0.0.0"), 0);
        assert_eq!(l("10.0.1.0"), 0x100);
        assert_eq!(l("172.16.0.0"), 0);
        assert_eq!(l("192.168.1.0"), 0);
        assert_eq!(l("192.168.1.7"), 7);
        assert_eq!(l("0.0.0.0"), 0);
    }

    #[test]
    fn plurals_and_printf() {
        assert_eq!((plural(0), plural(1), plural(2)), ("s", "", "s"));
        assert_eq!((plurales(1), plurales(3)), ("", "es"));
        assert_eq!((pluralies(1), pluralies(0)), ("y", "ies"));
        assert_eq!(
            cfmt(
                "\t%lu packet%s (%ju byte%s) 100%%\n",
                &[Arg::N(1), Arg::S(""), Arg::N(42), Arg::S("s")]
            ),
            "\t1 packet (42 bytes) 100%\n"
        );
        assert_eq!(cfmt("%d-%u-%x", &[Arg::N(3), Arg::N(4)]), "3-4-%x");
        assert_eq!(pad_cut("abcdef", 4), "abcd");
        assert_eq!(pad_cut("ab", 4), "ab  ");
    }
}
