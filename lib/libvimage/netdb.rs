//! The name databases, without a resolver: port names from a built-in copy
//! of FreeBSD's `/etc/services` entries for the common ports (the host's file
//! names some ports differently), protocol names from its `/etc/protocols`,
//! network names from FreeBSD's default
//! `/etc/networks`, host names and addresses from `/etc/hosts`.

use std::net::IpAddr;

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
pub fn getservbyport(port: u16, proto: &str) -> Option<&'static str> {
    let e = SERVICES.iter().find(|e| e.0 == port)?;
    match proto {
        "tcp" | "tcp6" => e.1,
        "udp" | "udp6" => e.2,
        _ => None,
    }
}

/// `getservbyname(name, proto)`: the port of service `name` for `proto`
/// (`tcp`/`udp`; `None`: either).
pub fn getservbyname(name: &str, proto: Option<&str>) -> Option<u16> {
    SERVICES
        .iter()
        .find(|e| match proto {
            Some("tcp") => e.1 == Some(name),
            Some("udp") => e.2 == Some(name),
            Some(_) => false,
            None => e.1 == Some(name) || e.2 == Some(name),
        })
        .map(|e| e.0)
}

/// `(number, name)` as FreeBSD's `/etc/protocols` has the common ones.
const PROTOCOLS: &[(u8, &str)] = &[
    (0, "ip"),
    (1, "icmp"),
    (2, "igmp"),
    (3, "ggp"),
    (4, "ipencap"),
    (6, "tcp"),
    (8, "egp"),
    (12, "pup"),
    (17, "udp"),
    (22, "xns-idp"),
    (27, "rdp"),
    (29, "iso-tp4"),
    (36, "xtp"),
    (37, "ddp"),
    (41, "ipv6"),
    (43, "ipv6-route"),
    (44, "ipv6-frag"),
    (45, "idrp"),
    (46, "rsvp"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (59, "ipv6-nonxt"),
    (60, "ipv6-opts"),
    (89, "ospf"),
    (94, "ipip"),
    (97, "etherip"),
    (98, "encap"),
    (103, "pim"),
    (108, "ipcomp"),
    (112, "carp"),
    (132, "sctp"),
    (240, "pfsync"),
];

/// `getprotobyname(name)`: the protocol number of `name`.
pub fn getprotobyname(name: &str) -> Option<u8> {
    PROTOCOLS.iter().find(|e| e.1 == name).map(|e| e.0)
}

/// `getprotobynumber(n)`: the name of protocol `n`.
pub fn getprotobynumber(n: u8) -> Option<&'static str> {
    PROTOCOLS.iter().find(|e| e.0 == n).map(|e| e.1)
}

/// FreeBSD's default `/etc/networks`: network numbers and their names.
const NETWORKS: &[(u32, &str)] = &[
    (127, "your-net"),
    (0x7f_0001, "subnet1"),
    (0x7f_0002, "subnet2"),
];

/// `getnetbyaddr(net, AF_INET)`.
pub fn getnetbyaddr(net: u32) -> Option<&'static str> {
    NETWORKS.iter().find(|e| e.0 == net).map(|e| e.1)
}

/// The lines of a hosts file: each address with its names (canonical first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts(Vec<(IpAddr, Vec<String>)>);

impl Hosts {
    /// `/etc/hosts` (none if it cannot be read).
    pub fn read() -> Hosts {
        Hosts::parse(&std::fs::read_to_string("/etc/hosts").unwrap_or_default())
    }

    /// The entries of hosts-file text (`#` starts a comment).
    pub fn parse(text: &str) -> Hosts {
        Hosts(
            text.lines()
                .filter_map(|l| {
                    let mut w = l.split('#').next()?.split_whitespace();
                    let a = w.next()?.parse().ok()?;
                    let names: Vec<String> = w.map(str::to_string).collect();
                    (!names.is_empty()).then_some((a, names))
                })
                .collect(),
        )
    }

    /// `gethostbyaddr`: the canonical name of the first entry for `a`.
    pub fn name_of(&self, a: IpAddr) -> Option<&str> {
        self.0
            .iter()
            .find(|(x, _)| *x == a)
            .map(|(_, n)| n[0].as_str())
    }

    /// `gethostbyname` for one family: the address of the first entry
    /// (IPv6 if `v6`) that has the name `name`.
    pub fn addr_of(&self, name: &str, v6: bool) -> Option<IpAddr> {
        self.0
            .iter()
            .find(|(a, n)| a.is_ipv6() == v6 && n.iter().any(|x| x == name))
            .map(|(a, _)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_freebsds() {
        assert_eq!(getservbyport(520, "udp"), Some("router"));
        assert_eq!(getservbyport(520, "tcp"), Some("efs"));
        assert_eq!(getservbyport(53, "udp"), Some("domain"));
        assert_eq!(getservbyport(22, "tcp"), Some("ssh"));
        assert_eq!(getservbyport(123, "udp6"), Some("ntp"));
        assert_eq!(getservbyport(161, "udp"), Some("snmp"));
        assert_eq!(getservbyport(33434, "udp"), Some("traceroute"));
        assert_eq!(getservbyport(514, "udp"), Some("syslog"));
        assert_eq!(getservbyport(2602, "udp"), None);
        assert_eq!(getservbyport(33435, "udp"), None);
        assert_eq!(getservbyport(53, "icmp"), None);
    }

    #[test]
    fn networks_and_hosts() {
        assert_eq!(getnetbyaddr(127), Some("your-net"));
        assert_eq!(getnetbyaddr(10), None);
        let h = Hosts::parse(
            "# comment\n127.0.0.1\tlocalhost localhost.my.domain\n\
             ::1 localhost\n10.0.0.1 router.example.org r1 # gw\n10.0.0.9\n",
        );
        let name = |a: &str| h.name_of(a.parse().unwrap());
        assert_eq!(name("127.0.0.1"), Some("localhost"));
        assert_eq!(name("::1"), Some("localhost"));
        assert_eq!(name("10.0.0.1"), Some("router.example.org"));
        assert_eq!(name("10.0.0.2"), None);
        assert_eq!(name("10.0.0.9"), None);
        assert_eq!(h.addr_of("r1", false), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(h.addr_of("localhost", true), Some("::1".parse().unwrap()));
        assert_eq!(h.addr_of("gw", false), None);
    }
}
