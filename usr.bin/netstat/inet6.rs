//! IPv6 (FreeBSD's `inet6.c`): the `ip6:` and `icmp6:` blocks of `netstat -s`
//! from `net.inet6.ip6.stats` / `net.inet6.icmp6.stats`, and the IPv6
//! `ADDR.PORT` column of the connection listing.

use std::net::{IpAddr, Ipv6Addr};

use vimage_abi::netinet6_in6::{Icmp6Stat, Icmp6StatCounters, Ip6Stat};

use crate::names::{cut, pad_cut};
use crate::stats::Counters;
use crate::stats::Item::{self, *};
use crate::Opts;
use libvimage::netdb::getservbyport;

/// `inet6name`: `*` for the unspecified address, else a host name (without
/// `-n`) or the numeric form.
pub fn inet6name(o: &Opts, a: Ipv6Addr) -> String {
    if a.is_unspecified() {
        return "*".into();
    }
    if !o.numeric {
        if let Some(h) = (o.resolve)(IpAddr::V6(a)) {
            return h;
        }
    }
    a.to_string()
}

/// `inet6print`: one IPv6 `ADDR.PORT` column with its trailing space.
pub fn inet6print(o: &Opts, a: Ipv6Addr, port: u16, proto: &str, num_port: bool) -> String {
    let name = inet6name(o, a);
    let mut line = format!("{}.", cut(&name, if o.wide { 39 } else { 16 }));
    let sp = if !num_port && port != 0 {
        getservbyport(port, proto)
    } else {
        None
    };
    match (sp, port) {
        (Some(s), _) => line.push_str(&cut(s, 15)),
        (None, 0) => line.push('*'),
        (None, p) => line.push_str(&p.to_string()),
    }
    format!("{} ", pad_cut(&line, if o.wide { 45 } else { 22 }))
}

/// The counters of `net.inet6.ip6.stats` by field name.
pub fn ip6_counters(s: &Ip6Stat) -> Counters {
    Counters::from_fields(Ip6Stat::FIELDS, &s.values())
}

/// The counters and histogram slots of `net.inet6.icmp6.stats`.
pub fn icmp6_counters(s: &Icmp6Stat) -> Counters {
    let mut c = Counters::from_fields(Icmp6StatCounters::FIELDS, &s.c.values());
    c.add_hist("icp6s_outhist", &s.outhist);
    c.add_hist("icp6s_inhist", &s.inhist);
    c
}

/// `ip6_stats` (`struct ip6stat`).
pub const IP6_STATS: &[Item] = &[
    P("ip6s_total", "\t%llu total packet%s received\n"),
    P1a("ip6s_toosmall", "\t%llu with size smaller than minimum\n"),
    P1a("ip6s_tooshort", "\t%llu with data size < data length\n"),
    P1a("ip6s_badoptions", "\t%llu with bad options\n"),
    P1a("ip6s_badvers", "\t%llu with incorrect version number\n"),
    P("ip6s_fragments", "\t%llu fragment%s received\n"),
    P(
        "ip6s_fragdropped",
        "\t%llu fragment%s dropped (dup or out of space)\n",
    ),
    P(
        "ip6s_fragtimeout",
        "\t%llu fragment%s dropped after timeout\n",
    ),
    P(
        "ip6s_fragoverflow",
        "\t%llu fragment%s that exceeded limit\n",
    ),
    P("ip6s_reassembled", "\t%llu packet%s reassembled ok\n"),
    P("ip6s_delivered", "\t%llu packet%s for this host\n"),
    P("ip6s_forward", "\t%llu packet%s forwarded\n"),
    P("ip6s_cantforward", "\t%llu packet%s not forwardable\n"),
    P("ip6s_redirectsent", "\t%llu redirect%s sent\n"),
    P("ip6s_localout", "\t%llu packet%s sent from this host\n"),
    P(
        "ip6s_rawout",
        "\t%llu packet%s sent with fabricated ip header\n",
    ),
    P(
        "ip6s_odropped",
        "\t%llu output packet%s dropped due to no bufs, etc.\n",
    ),
    P(
        "ip6s_noroute",
        "\t%llu output packet%s discarded due to no route\n",
    ),
    P("ip6s_fragmented", "\t%llu output datagram%s fragmented\n"),
    P("ip6s_ofragments", "\t%llu fragment%s created\n"),
    P(
        "ip6s_cantfrag",
        "\t%llu datagram%s that can't be fragmented\n",
    ),
    P(
        "ip6s_badscope",
        "\t%llu packet%s that violated scope rules\n",
    ),
    P(
        "ip6s_notmember",
        "\t%llu multicast packet%s which we don't join\n",
    ),
    P(
        "ip6s_exthdrtoolong",
        "\t%llu packet%s whose headers are not continuous\n",
    ),
    P(
        "ip6s_nogif",
        "\t%llu tunneling packet%s that can't find gif\n",
    ),
    P(
        "ip6s_toomanyhdr",
        "\t%llu packet%s discarded because of too many headers\n",
    ),
    P(
        "ip6s_sources_none",
        "\t%llu failure%s of source address selection\n",
    ),
];

/// `icmp6names[]`: ICMPv6 types as the histograms name them.
pub fn icmp6name(t: usize) -> String {
    let named = match t {
        1 => "unreach",
        2 => "packet too big",
        3 => "time exceed",
        4 => "parameter problem",
        128 => "echo",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "MLDv1 listener report",
        132 => "MLDv1 listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        138 => "router renumbering",
        139 => "node information request",
        140 => "node information reply",
        141 => "inverse neighbor solicitation",
        142 => "inverse neighbor advertisement",
        143 => "MLDv2 listener report",
        _ => return format!("#{t}"),
    };
    named.into()
}

/// `icmp6_stats` (`struct icmp6stat`).
pub const ICMP6_STATS: &[Item] = &[
    P("icp6s_error", "\t%llu call%s to icmp6_error\n"),
    P(
        "icp6s_canterror",
        "\t%llu error%s not generated in response to an icmp6 message\n",
    ),
    P(
        "icp6s_toofreq",
        "\t%llu error%s not generated because of rate limitation\n",
    ),
    Hist("icp6s_outhist", "\tOutput histogram:\n", icmp6name),
    P("icp6s_badcode", "\t%llu message%s with bad code fields\n"),
    P("icp6s_tooshort", "\t%llu message%s < minimum length\n"),
    P("icp6s_checksum", "\t%llu bad checksum%s\n"),
    P("icp6s_badlen", "\t%llu message%s with bad length\n"),
    Hist("icp6s_inhist", "\tInput histogram:\n", icmp6name),
    P("icp6s_reflect", "\t%llu message response%s generated\n"),
    P(
        "icp6s_nd_toomanyopt",
        "\t%llu message%s with too many ND options\n",
    ),
    P("icp6s_nd_badopt", "\t%llu message%s with bad ND options\n"),
    P(
        "icp6s_badns",
        "\t%llu bad neighbor solicitation message%s\n",
    ),
    P(
        "icp6s_badna",
        "\t%llu bad neighbor advertisement message%s\n",
    ),
    P("icp6s_badrs", "\t%llu bad router solicitation message%s\n"),
    P("icp6s_badra", "\t%llu bad router advertisement message%s\n"),
    P("icp6s_badredirect", "\t%llu bad redirect message%s\n"),
    P("icp6s_pmtuchg", "\t%llu path MTU change%s\n"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::render;

    #[test]
    fn ip6_block_in_freebsd_order() {
        let s = Ip6Stat {
            ip6s_total: 4,
            ip6s_delivered: 3,
            ip6s_localout: 1,
            ip6s_noproto: 7,
            ..Default::default()
        };
        let all = render("ip6", IP6_STATS, &ip6_counters(&s), 1);
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines[0], "ip6:");
        assert_eq!(lines[1], "\t4 total packets received");
        assert_eq!(lines[2], "\t0 with size smaller than minimum");
        assert!(all.contains("\n\t3 packets for this host\n\t0 packets forwarded\n"));
        assert!(all.ends_with("\t0 packets discarded because of too many headers\n"));
        // Counters FreeBSD does not print, and those this kernel lacks, are absent.
        assert!(!all.contains('7') && !all.contains("mbuf") && !all.contains("gif"));
        assert_eq!(
            render("ip6", IP6_STATS, &ip6_counters(&s), 2),
            "ip6:\n\t4 total packets received\n\t3 packets for this host\n\
             \t1 packet sent from this host\n"
        );
    }

    #[test]
    fn icmp6_block_with_histograms() {
        let mut s = Icmp6Stat::default();
        s.c.icp6s_reflect = 1;
        s.outhist[129] = 1;
        s.outhist[135] = 2;
        s.inhist[128] = 1;
        s.inhist[136] = 2;
        assert_eq!(
            render("icmp6", ICMP6_STATS, &icmp6_counters(&s), 2),
            "icmp6:\n\tOutput histogram:\n\t\techo reply: 1\n\t\tneighbor solicitation: 2\n\
             \tInput histogram:\n\t\techo: 1\n\t\tneighbor advertisement: 2\n\
             \t1 message response generated\n"
        );
        let all = render("icmp6", ICMP6_STATS, &icmp6_counters(&s), 1);
        assert!(all.starts_with("icmp6:\n\t0 calls to icmp6_error\n"));
        assert!(all.ends_with("\t0 bad redirect messages\n"));
        assert_eq!(icmp6name(1), "unreach");
        assert_eq!(icmp6name(200), "#200");
    }

    #[test]
    fn inet6_columns() {
        let o = Opts {
            numeric: true,
            ..Opts::default()
        };
        let a: Ipv6Addr = "fe80::4200:aaff:feaa:3".parse().unwrap();
        assert_eq!(
            inet6print(&o, a, 521, "udp6", true),
            "fe80::4200:aaff:.521   "
        );
        assert_eq!(
            inet6print(&Opts::default(), Ipv6Addr::UNSPECIFIED, 521, "udp6", false),
            "*.ripng                "
        );
        assert_eq!(
            inet6print(&o, Ipv6Addr::UNSPECIFIED, 0, "ip6", false),
            "*.*                    "
        );
        let w = Opts { wide: true, ..o };
        assert_eq!(
            inet6print(&w, a, 521, "udp6", true),
            format!("{:<45} ", "fe80::4200:aaff:feaa:3.521")
        );
    }
}
