//! Internet sockets and IPv4 statistics (FreeBSD's `inet.c`): the `Active
//! Internet connections` listing of one protocol's control blocks (`protopr`),
//! the `ADDR.PORT` columns (`inetprint`), and the `tcp:`, `udp:`, `ip:` and
//! `icmp:` blocks of `netstat -s`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vimage_abi::netinet_in::InPcbInfo;

use crate::inet6::inet6print;
use crate::names::{cut, inet_lnaof, pad_cut};
use crate::stats::Item::{self, *};
use crate::{Af, Opts};
use libvimage::netdb::{getnetbyaddr, getservbyport};

/// `inp_vflag`: an IPv4 block.
pub const INP_IPV4: u8 = 0x1;
/// `inp_vflag`: an IPv6 block.
pub const INP_IPV6: u8 = 0x2;

/// TCP states by `t_state` (`tcpstates[]`).
pub const TCPSTATES: [&str; 11] = [
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RCVD",
    "ESTABLISHED",
    "CLOSE_WAIT",
    "FIN_WAIT_1",
    "CLOSING",
    "LAST_ACK",
    "FIN_WAIT_2",
    "TIME_WAIT",
];

/// One protocol control block as netstat lists it (the parts of `struct
/// xinpcb` / `xtcpcb` it prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcb {
    /// `xso_protocol`: the socket's protocol (the raw protocol for raw sockets).
    pub proto: u8,
    /// `inp_vflag`: [`INP_IPV4`], [`INP_IPV6`] or both.
    pub vflag: u8,
    /// Local address (unspecified: wildcard).
    pub laddr: IpAddr,
    /// Local port (0: none).
    pub lport: u16,
    /// Foreign address (unspecified: not connected).
    pub faddr: IpAddr,
    /// Foreign port.
    pub fport: u16,
    /// Bytes in the receive buffer (`Recv-Q`).
    pub rcv_cc: u32,
    /// Bytes in the send buffer (`Send-Q`).
    pub snd_cc: u32,
    /// `INP_ANONPORT`: the kernel chose the local port.
    pub anonport: bool,
    /// TCP only: `t_state`.
    pub tcp_state: Option<u8>,
}

impl Pcb {
    /// A block of `net.inet.{tcp,udp,raw}.pcblist`; `anon` says
    /// whether a local port is one the kernel hands out by itself.
    pub fn from_inpcb(p: &InPcbInfo, anon: impl Fn(u16) -> bool) -> Pcb {
        let (vflag, laddr, faddr) = match &p.inet6 {
            None => (INP_IPV4, IpAddr::V4(p.laddr), IpAddr::V4(p.faddr)),
            Some(a) => (
                if a.v4_too {
                    INP_IPV4 | INP_IPV6
                } else {
                    INP_IPV6
                },
                IpAddr::V6(a.laddr),
                IpAddr::V6(a.faddr),
            ),
        };
        Pcb {
            proto: p.proto,
            vflag,
            laddr,
            lport: p.lport,
            faddr,
            fport: p.fport,
            rcv_cc: p.rcv_cc,
            snd_cc: p.snd_cc,
            anonport: p.lport != 0 && anon(p.lport),
            tcp_state: p.tcp_state,
        }
    }
}

/// `inet_netof`: the network part of an address by its class.
fn inet_netof(a: Ipv4Addr) -> u32 {
    let i = u32::from(a);
    if i & 0x8000_0000 == 0 {
        i >> 24
    } else if i & 0xc000_0000 == 0x8000_0000 {
        i >> 16
    } else {
        i >> 8
    }
}

/// `inetname`: `*` for the wildcard, else a network or host name (without
/// `-n`) or the dotted quad.
pub fn inetname(o: &Opts, a: Ipv4Addr) -> String {
    if a.is_unspecified() {
        return "*".into();
    }
    if !o.numeric {
        if inet_lnaof(a) == 0 {
            if let Some(n) = getnetbyaddr(inet_netof(a)) {
                return n.into();
            }
        }
        if let Some(h) = (o.resolve)(IpAddr::V4(a)) {
            return h;
        }
    }
    a.to_string()
}

/// `inetprint`: one `ADDR.PORT` column with its trailing space.  The port is
/// numeric when `num_port`, else by service name of `proto` when it has one;
/// `*` when 0.
pub fn inetprint(o: &Opts, a: Ipv4Addr, port: u16, proto: &str, num_port: bool) -> String {
    let name = inetname(o, a);
    let mut line = if o.wide {
        format!("{name}.")
    } else {
        format!("{}.", cut(&name, 16))
    };
    let sp = if !num_port && port != 0 {
        getservbyport(port, proto)
    } else {
        None
    };
    match (sp, port) {
        (Some(s), _) => line.push_str(&format!("{} ", cut(s, 15))),
        (None, 0) => line.push_str("* "),
        (None, p) => line.push_str(&format!("{p} ")),
    }
    if o.wide {
        format!("{line:<22} ")
    } else {
        format!("{} ", pad_cut(&line, 22))
    }
}

/// The address columns of one block: local port by name unless `-n` or the
/// kernel chose it; the foreign port by name only when `-n` is off and either
/// the local port is anonymous or both ports are the same.
fn addresses(o: &Opts, p: &Pcb, name: &str) -> String {
    let (lnum, fnum) = if o.numeric {
        (true, true)
    } else if p.anonport {
        (true, false)
    } else {
        (false, p.lport != p.fport)
    };
    let one = |a: IpAddr, port: u16, num: bool| match a {
        IpAddr::V4(a) => inetprint(o, a, port, name, num),
        IpAddr::V6(a) => inet6print(o, a, port, name, num),
    };
    if p.vflag & INP_IPV4 != 0 {
        let v4 = |a: IpAddr| match a {
            IpAddr::V4(a) => IpAddr::V4(a),
            IpAddr::V6(a) => IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
        };
        one(v4(p.laddr), p.lport, lnum) + &one(v4(p.faddr), p.fport, fnum)
    } else if p.vflag & INP_IPV6 != 0 {
        let v6 = |a: IpAddr| match a {
            IpAddr::V6(a) => IpAddr::V6(a),
            IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        };
        one(v6(p.laddr), p.lport, lnum) + &one(v6(p.faddr), p.fport, fnum)
    } else {
        String::new()
    }
}

/// Whether a block's local address is a wildcard (a server without `-a`).
fn is_server(p: &Pcb, af: Af) -> bool {
    let v4_any = || match p.laddr {
        IpAddr::V4(a) => inet_lnaof(a) == 0,
        IpAddr::V6(_) => false,
    };
    let v6_any = || match p.laddr {
        IpAddr::V6(a) => a == Ipv6Addr::UNSPECIFIED,
        IpAddr::V4(_) => false,
    };
    p.tcp_state == Some(1)
        || match af {
            Af::Inet => v4_any(),
            Af::Inet6 => v6_any(),
            _ => (p.vflag & INP_IPV4 != 0 && v4_any()) || (p.vflag & INP_IPV6 != 0 && v6_any()),
        }
}

/// `protopr`: the rows of protocol `proto` (named `name`) among `pcbs`, for
/// address family `af`.  The title and column header go before the first row
/// of the whole listing (`first`).
pub fn protopr(o: &Opts, pcbs: &[Pcb], name: &str, af: Af, proto: u8, first: &mut bool) -> String {
    let mut out = String::new();
    for p in pcbs {
        if p.proto != proto {
            continue;
        }
        let skip_af = match af {
            Af::Inet => p.vflag & INP_IPV4 == 0,
            Af::Inet6 => p.vflag & INP_IPV6 == 0,
            _ => p.vflag & (INP_IPV4 | INP_IPV6) == 0,
        };
        if skip_af || (!o.aflag && is_server(p, af)) {
            continue;
        }
        if *first {
            out.push_str("Active Internet connections");
            if o.aflag {
                out.push_str(" (including servers)");
            }
            out.push('\n');
            out.push_str(&format!(
                "{:<5.5} {:<6.6} {:<6.6}  {:<22.22} {:<22.22} {}\n",
                "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "(state)"
            ));
            *first = false;
        }
        let vchar = match (p.vflag & INP_IPV4 != 0, p.vflag & INP_IPV6 != 0) {
            (true, true) => "46",
            (false, true) => "6 ",
            (true, false) => "4 ",
            (false, false) => "  ",
        };
        out.push_str(&format!("{}{} ", pad_cut(name, 3), vchar));
        out.push_str(&format!("{:>6} {:>6} ", p.rcv_cc, p.snd_cc));
        out.push_str(&addresses(o, p, name));
        if let Some(st) = p.tcp_state {
            match TCPSTATES.get(usize::from(st)) {
                Some(s) => out.push_str(s),
                None => out.push_str(&st.to_string()),
            }
        }
        out.push('\n');
    }
    out
}

/// `icmpnames[]`: ICMP types 0..=40 as the histograms name them.
pub fn icmpname(t: usize) -> String {
    let named = match t {
        0 => "echo reply",
        3 => "destination unreachable",
        4 => "source quench",
        5 => "routing redirect",
        8 => "echo",
        9 => "router advertisement",
        10 => "router solicitation",
        11 => "time exceeded",
        12 => "parameter problem",
        13 => "time stamp",
        14 => "time stamp reply",
        15 => "information request",
        16 => "information request reply",
        17 => "address mask request",
        18 => "address mask reply",
        30 => "icmp traceroute",
        31 => "datagram conversion error",
        32 => "mobile host redirect",
        33 => "IPv6 where-are-you",
        34 => "IPv6 i-am-here",
        35 => "mobile registration req",
        36 => "mobile registration reply",
        37 => "domain name request",
        38 => "domain name reply",
        39 => "icmp SKIP",
        40 => "icmp photuris",
        _ => return format!("#{t}"),
    };
    named.into()
}

/// `tcp_stats` (`struct tcpstat`).
pub const TCP_STATS: &[Item] = &[
    P("tcps_sndtotal", "\t%lu packet%s sent\n"),
    P2(
        "tcps_sndpack",
        "tcps_sndbyte",
        "\t\t%lu data packet%s (%lu byte%s)\n",
    ),
    P2(
        "tcps_sndrexmitpack",
        "tcps_sndrexmitbyte",
        "\t\t%lu data packet%s (%lu byte%s) retransmitted\n",
    ),
    P(
        "tcps_sndrexmitbad",
        "\t\t%lu data packet%s unnecessarily retransmitted\n",
    ),
    P(
        "tcps_mturesent",
        "\t\t%lu resend%s initiated by MTU discovery\n",
    ),
    P2a(
        "tcps_sndacks",
        "tcps_delack",
        "\t\t%lu ack-only packet%s (%lu delayed)\n",
    ),
    P("tcps_sndurg", "\t\t%lu URG only packet%s\n"),
    P("tcps_sndprobe", "\t\t%lu window probe packet%s\n"),
    P("tcps_sndwinup", "\t\t%lu window update packet%s\n"),
    P("tcps_sndctrl", "\t\t%lu control packet%s\n"),
    P("tcps_rcvtotal", "\t%lu packet%s received\n"),
    P2(
        "tcps_rcvackpack",
        "tcps_rcvackbyte",
        "\t\t%lu ack%s (for %lu byte%s)\n",
    ),
    P("tcps_rcvdupack", "\t\t%lu duplicate ack%s\n"),
    P("tcps_rcvacktoomuch", "\t\t%lu ack%s for unsent data\n"),
    P2(
        "tcps_rcvpack",
        "tcps_rcvbyte",
        "\t\t%lu packet%s (%lu byte%s) received in-sequence\n",
    ),
    P2(
        "tcps_rcvduppack",
        "tcps_rcvdupbyte",
        "\t\t%lu completely duplicate packet%s (%lu byte%s)\n",
    ),
    P("tcps_pawsdrop", "\t\t%lu old duplicate packet%s\n"),
    P2(
        "tcps_rcvpartduppack",
        "tcps_rcvpartdupbyte",
        "\t\t%lu packet%s with some dup. data (%lu byte%s duped)\n",
    ),
    P2(
        "tcps_rcvoopack",
        "tcps_rcvoobyte",
        "\t\t%lu out-of-order packet%s (%lu byte%s)\n",
    ),
    P2(
        "tcps_rcvpackafterwin",
        "tcps_rcvbyteafterwin",
        "\t\t%lu packet%s (%lu byte%s) of data after window\n",
    ),
    P("tcps_rcvwinprobe", "\t\t%lu window probe%s\n"),
    P("tcps_rcvwinupd", "\t\t%lu window update packet%s\n"),
    P(
        "tcps_rcvafterclose",
        "\t\t%lu packet%s received after close\n",
    ),
    P("tcps_rcvbadsum", "\t\t%lu discarded for bad checksum%s\n"),
    P(
        "tcps_rcvbadoff",
        "\t\t%lu discarded for bad header offset field%s\n",
    ),
    P1a(
        "tcps_rcvshort",
        "\t\t%lu discarded because packet too short\n",
    ),
    P1a(
        "tcps_rcvmemdrop",
        "\t\t%lu discarded due to memory problems\n",
    ),
    P("tcps_connattempt", "\t%lu connection request%s\n"),
    P("tcps_accepts", "\t%lu connection accept%s\n"),
    P("tcps_badsyn", "\t%lu bad connection attempt%s\n"),
    P("tcps_listendrop", "\t%lu listen queue overflow%s\n"),
    P(
        "tcps_connects",
        "\t%lu connection%s established (including accepts)\n",
    ),
    P2(
        "tcps_closed",
        "tcps_drops",
        "\t%lu connection%s closed (including %lu drop%s)\n",
    ),
    P("tcps_conndrops", "\t%lu embryonic connection%s dropped\n"),
    P2(
        "tcps_rttupdated",
        "tcps_segstimed",
        "\t%lu segment%s updated rtt (of %lu attempt%s)\n",
    ),
    P("tcps_rexmttimeo", "\t%lu retransmit timeout%s\n"),
    P(
        "tcps_timeoutdrop",
        "\t\t%lu connection%s dropped by rexmit timeout\n",
    ),
    P("tcps_persisttimeo", "\t%lu persist timeout%s\n"),
    P(
        "tcps_persistdrop",
        "\t\t%lu connection%s dropped by persist timeout\n",
    ),
    P("tcps_keeptimeo", "\t%lu keepalive timeout%s\n"),
    P("tcps_keepprobe", "\t\t%lu keepalive probe%s sent\n"),
    P(
        "tcps_keepdrops",
        "\t\t%lu connection%s dropped by keepalive\n",
    ),
    P("tcps_predack", "\t%lu correct ACK header prediction%s\n"),
    P(
        "tcps_preddat",
        "\t%lu correct data packet header prediction%s\n",
    ),
    P3("tcps_sc_added", "\t%lu syncache entr%s added\n"),
    P1a("tcps_sc_retransmitted", "\t\t%lu retransmitted\n"),
    P1a("tcps_sc_dupsyn", "\t\t%lu dupsyn\n"),
    P1a("tcps_sc_dropped", "\t\t%lu dropped\n"),
    P1a("tcps_sc_completed", "\t\t%lu completed\n"),
    P1a("tcps_sc_reset", "\t\t%lu reset\n"),
    P1a("tcps_sc_stale", "\t\t%lu stale\n"),
    P1a("tcps_sc_aborted", "\t\t%lu aborted\n"),
    P1a("tcps_sc_badack", "\t\t%lu badack\n"),
    P1a("tcps_sc_unreach", "\t\t%lu unreach\n"),
];

/// `udp_stats` (`struct udpstat`); `delivered` is what input neither dropped
/// nor refused.
pub const UDP_STATS: &[Item] = &[
    P("udps_ipackets", "\t%lu datagram%s received\n"),
    P1a("udps_hdrops", "\t%lu with incomplete header\n"),
    P1a("udps_badlen", "\t%lu with bad data length field\n"),
    P1a("udps_badsum", "\t%lu with bad checksum\n"),
    P1a("udps_nosum", "\t%lu with no checksum\n"),
    P1a("udps_noport", "\t%lu dropped due to no socket\n"),
    P(
        "udps_noportbcast",
        "\t%lu broadcast/multicast datagram%s undelivered\n",
    ),
    P1a(
        "udps_fullsock",
        "\t%lu dropped due to full socket buffers\n",
    ),
    P1a("udpps_pcbhashmiss", "\t%lu not for hashed pcb\n"),
    Less(
        "\t%lu delivered\n",
        "udps_ipackets",
        &[
            "udps_hdrops",
            "udps_badlen",
            "udps_badsum",
            "udps_noport",
            "udps_noportbcast",
            "udps_fullsock",
        ],
    ),
    P("udps_opackets", "\t%lu datagram%s output\n"),
    P(
        "udps_filtermcast",
        "\t%lu time%s multicast source filter matched\n",
    ),
];

/// `ip_stats` (`struct ipstat`).
pub const IP_STATS: &[Item] = &[
    P("ips_total", "\t%lu total packet%s received\n"),
    P("ips_badsum", "\t%lu bad header checksum%s\n"),
    P1a("ips_toosmall", "\t%lu with size smaller than minimum\n"),
    P1a("ips_tooshort", "\t%lu with data size < data length\n"),
    P1a("ips_toolong", "\t%lu with ip length > max ip packet size\n"),
    P1a("ips_badhlen", "\t%lu with header length < data size\n"),
    P1a("ips_badlen", "\t%lu with data length < header length\n"),
    P1a("ips_badoptions", "\t%lu with bad options\n"),
    P1a("ips_badvers", "\t%lu with incorrect version number\n"),
    P("ips_fragments", "\t%lu fragment%s received\n"),
    P(
        "ips_fragdropped",
        "\t%lu fragment%s dropped (dup or out of space)\n",
    ),
    P(
        "ips_fragtimeout",
        "\t%lu fragment%s dropped after timeout\n",
    ),
    P("ips_reassembled", "\t%lu packet%s reassembled ok\n"),
    P("ips_delivered", "\t%lu packet%s for this host\n"),
    P(
        "ips_noproto",
        "\t%lu packet%s for unknown/unsupported protocol\n",
    ),
    P("ips_forward", "\t%lu packet%s forwarded"),
    P("ips_fastforward", " (%lu packet%s fast forwarded)"),
    Newline("ips_forward"),
    P("ips_cantforward", "\t%lu packet%s not forwardable\n"),
    P(
        "ips_notmember",
        "\t%lu packet%s received for unknown multicast group\n",
    ),
    P("ips_redirectsent", "\t%lu redirect%s sent\n"),
    P("ips_localout", "\t%lu packet%s sent from this host\n"),
    P(
        "ips_rawout",
        "\t%lu packet%s sent with fabricated ip header\n",
    ),
    P(
        "ips_odropped",
        "\t%lu output packet%s dropped due to no bufs, etc.\n",
    ),
    P(
        "ips_noroute",
        "\t%lu output packet%s discarded due to no route\n",
    ),
    P("ips_fragmented", "\t%lu output datagram%s fragmented\n"),
    P("ips_ofragments", "\t%lu fragment%s created\n"),
    P(
        "ips_cantfrag",
        "\t%lu datagram%s that can't be fragmented\n",
    ),
    P(
        "ips_nogif",
        "\t%lu tunneling packet%s that can't find gif\n",
    ),
    P(
        "ips_badaddr",
        "\t%lu datagram%s with bad address in header\n",
    ),
];

/// `icmp_stats` (`struct icmpstat`); the histograms are the kernel's
/// `icps_outhist.N` / `icps_inhist.N` slots.
pub const ICMP_STATS: &[Item] = &[
    P("icps_error", "\t%lu call%s to icmp_error\n"),
    P(
        "icps_oldicmp",
        "\t%lu error%s not generated in response to an icmp message\n",
    ),
    Hist("icps_outhist", "\tOutput histogram:\n", icmpname),
    P("icps_badcode", "\t%lu message%s with bad code fields\n"),
    P(
        "icps_tooshort",
        "\t%lu message%s less than the minimum length\n",
    ),
    P("icps_checksum", "\t%lu message%s with bad checksum\n"),
    P("icps_badlen", "\t%lu message%s with bad length\n"),
    P1a("icps_bmcastecho", "\t%lu multicast echo requests ignored\n"),
    P1a(
        "icps_bmcasttstamp",
        "\t%lu multicast timestamp requests ignored\n",
    ),
    Hist("icps_inhist", "\tInput histogram:\n", icmpname),
    P("icps_reflect", "\t%lu message response%s generated\n"),
    Pes("icps_badaddr", "\t%lu invalid return address%s\n"),
    P("icps_noroute", "\t%lu no return route%s\n"),
];

/// The line `icmp_stats` ends with when the kernel has `net.inet.icmp.maskrepl`.
pub fn maskrepl_line(enabled: bool) -> String {
    format!(
        "\tICMP address mask responses are {}abled\n",
        if enabled { "en" } else { "dis" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{render, Counters};

    fn opts() -> Opts {
        Opts {
            resolve: |a| match a {
                IpAddr::V4(v) if v == Ipv4Addr::new(10, 0, 0, 1) => Some("gw".into()),
                _ => None,
            },
            ..Opts::default()
        }
    }

    fn udp(l: &str, lp: u16, f: &str, fp: u16) -> Pcb {
        Pcb::from_inpcb(
            &InPcbInfo {
                proto: 17,
                laddr: l.parse().unwrap(),
                lport: lp,
                faddr: f.parse().unwrap(),
                fport: fp,
                rcv_cc: 0,
                snd_cc: 0,
                tcp_state: None,
                inet6: None,
            },
            |p| p >= 49152,
        )
    }

    #[test]
    fn the_tutorial_line() {
        let o = Opts {
            aflag: true,
            ..opts()
        };
        let mut first = true;
        let out = protopr(
            &o,
            &[udp("0.0.0.0", 520, "0.0.0.0", 0)],
            "udp",
            Af::Inet,
            17,
            &mut first,
        );
        assert_eq!(
            out,
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n\
             udp4       0      0 *.router               *.*                    \n"
        );
        assert!(!first);
        // The same words as the tutorial's transcript.
        let words: Vec<&str> = out.split_whitespace().collect();
        let tutorial = "Active Internet connections (including servers)\n\
            Proto Recv-Q Send-Q Local Address           Foreign Address         (state)\n\
            udp4   0      0 *.router                *.*";
        assert_eq!(words, tutorial.split_whitespace().collect::<Vec<_>>());
        // A second protocol adds rows, not another header.
        let more = protopr(
            &o,
            &[udp("0.0.0.0", 53, "0.0.0.0", 0)],
            "udp",
            Af::Inet,
            17,
            &mut first,
        );
        assert_eq!(
            more,
            "udp4       0      0 *.domain               *.*                    \n"
        );
    }

    #[test]
    fn tcp_rows_carry_the_state() {
        let o = Opts {
            aflag: true,
            numeric: true,
            ..opts()
        };
        let tcp = |l: &str, lp: u16, f: &str, fp: u16, st: u8, rq: u32, sq: u32| {
            Pcb::from_inpcb(
                &InPcbInfo {
                    proto: 6,
                    laddr: l.parse().unwrap(),
                    lport: lp,
                    faddr: f.parse().unwrap(),
                    fport: fp,
                    rcv_cc: rq,
                    snd_cc: sq,
                    tcp_state: Some(st),
                    inet6: None,
                },
                |p| p >= 49152,
            )
        };
        let pcbs = [
            tcp("10.0.0.1", 5001, "10.0.0.2", 49152, 4, 0, 0),
            tcp("0.0.0.0", 22, "0.0.0.0", 0, 1, 0, 0),
            tcp("10.0.0.1", 49153, "10.0.0.2", 80, 2, 0, 1),
            tcp("10.0.0.1", 5001, "10.0.0.3", 49154, 10, 17, 0),
        ];
        let mut first = true;
        let out = protopr(&o, &pcbs, "tcp", Af::Unspec, 6, &mut first);
        assert_eq!(
            out,
            "Active Internet connections (including servers)\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n\
             tcp4       0      0 10.0.0.1.5001          10.0.0.2.49152         ESTABLISHED\n\
             tcp4       0      0 *.22                   *.*                    LISTEN\n\
             tcp4       0      1 10.0.0.1.49153         10.0.0.2.80            SYN_SENT\n\
             tcp4      17      0 10.0.0.1.5001          10.0.0.3.49154         TIME_WAIT\n"
        );
        // Without -a the listener is a server and left out.
        let mut first = true;
        let out = protopr(&opts(), &pcbs[1..2], "tcp", Af::Inet, 6, &mut first);
        assert_eq!(out, "");
        // Every state by name; unknown states by number.
        for (i, name) in TCPSTATES.iter().enumerate() {
            let p = tcp("10.0.0.1", 1, "10.0.0.2", 2, i as u8, 0, 0);
            let mut first = false;
            let row = protopr(&o, &[p], "tcp", Af::Inet, 6, &mut first);
            assert!(row.ends_with(&format!(" {name}\n")), "{row:?}");
        }
        let p = tcp("10.0.0.1", 1, "10.0.0.2", 2, 42, 0, 0);
        let mut first = false;
        assert!(protopr(&o, &[p], "tcp", Af::Inet, 6, &mut first).ends_with(" 42\n"));
    }

    #[test]
    fn servers_only_with_a() {
        let o = opts();
        let pcbs = [
            udp("0.0.0.0", 520, "0.0.0.0", 0),
            udp("10.0.0.20", 5000, "10.0.0.1", 53),
            udp("10.0.0.0", 7, "0.0.0.0", 0),
        ];
        let mut first = true;
        let out = protopr(&o, &pcbs, "udp", Af::Unspec, 17, &mut first);
        assert_eq!(
            out,
            "Active Internet connections\n\
             Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n\
             udp4       0      0 10.0.0.20.5000         gw.53                  \n"
        );
        // Nothing to show: not even the title.
        let mut first = true;
        assert_eq!(protopr(&o, &pcbs[..1], "udp", Af::Inet, 17, &mut first), "");
        assert!(first);
        // Another protocol's blocks are not this one's.
        assert_eq!(protopr(&o, &pcbs, "icmp", Af::Inet, 1, &mut first), "");
        // IPv4 blocks are not listed for -f inet6.
        let o = Opts {
            aflag: true,
            ..opts()
        };
        assert_eq!(protopr(&o, &pcbs, "udp", Af::Inet6, 17, &mut first), "");
    }

    #[test]
    fn port_names_follow_anonymous_ports_and_n() {
        let o = opts();
        let row = |p: Pcb, o: &Opts| {
            let mut first = false;
            protopr(o, &[p], "udp", Af::Inet, 17, &mut first)
        };
        // A kernel-chosen local port stays numeric; the foreign one gets its name.
        assert_eq!(
            row(udp("10.0.0.20", 49153, "10.0.0.1", 53), &o),
            "udp4       0      0 10.0.0.20.49153        gw.domain              \n"
        );
        // Same port on both ends: both named.
        assert_eq!(
            row(udp("10.0.0.20", 123, "10.0.0.1", 123), &o),
            "udp4       0      0 10.0.0.20.ntp          gw.ntp                 \n"
        );
        let n = Opts {
            numeric: true,
            ..opts()
        };
        assert_eq!(
            row(udp("10.0.0.20", 123, "10.0.0.1", 123), &n),
            "udp4       0      0 10.0.0.20.123          10.0.0.1.123           \n"
        );
    }

    #[test]
    fn raw_rows_queues_and_truncation() {
        let o = Opts {
            aflag: true,
            numeric: true,
            ..opts()
        };
        let mut icmp = udp("0.0.0.0", 0, "0.0.0.0", 0);
        icmp.proto = 1;
        icmp.rcv_cc = 84;
        icmp.snd_cc = 1234567;
        let mut first = false;
        assert_eq!(
            protopr(&o, &[icmp], "icmp", Af::Inet, 1, &mut first),
            "icm4      84 1234567 *.*                    *.*                    \n"
        );
        // Addresses and ports fill 22 columns at most; -W does not cut.
        let long = udp("192.168.200.100", 65535, "192.168.200.101", 65534);
        assert_eq!(
            protopr(
                &o,
                std::slice::from_ref(&long),
                "udp",
                Af::Inet,
                17,
                &mut first
            ),
            "udp4       0      0 192.168.200.100.65535  192.168.200.101.65534  \n"
        );
        let w = Opts { wide: true, ..o };
        let mut p = long;
        p.tcp_state = Some(4);
        assert_eq!(
            protopr(&w, &[p], "tcp", Af::Inet, 17, &mut first),
            "tcp4       0      0 192.168.200.100.65535  192.168.200.101.65534  ESTABLISHED\n"
        );
    }

    #[test]
    fn inetname_forms() {
        let o = opts();
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(inetname(&o, a("0.0.0.0")), "*");
        assert_eq!(inetname(&o, a("10.0.0.1")), "gw");
        assert_eq!(inetname(&o, a("127.0.0.0")), "your-net");
        assert_eq!(inetname(&o, a("10.0.0.2")), "10.0.0.2");
        let n = Opts {
            numeric: true,
            ..opts()
        };
        assert_eq!(inetname(&n, a("10.0.0.1")), "10.0.0.1");
        assert_eq!(
            inetprint(&n, a("10.0.0.1"), 0, "ip", false),
            "10.0.0.1.*             "
        );
    }

    #[test]
    fn ip_icmp_udp_blocks() {
        let k = Counters(
            [
                ("ips_total", 5),
                ("ips_delivered", 4),
                ("ips_forward", 1),
                ("ips_localout", 1),
                ("ips_timeexceeded", 9),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), *v))
            .collect(),
        );
        assert_eq!(
            render("ip", IP_STATS, &k, 2),
            "ip:\n\t5 total packets received\n\t4 packets for this host\n\
             \t1 packet forwarded\n\t1 packet sent from this host\n"
        );
        let mut k = Counters(vec![
            ("icps_error".into(), 0),
            ("icps_reflect".into(), 2),
            ("icps_badaddr".into(), 1),
        ]);
        let mut out = [0u64; 41];
        out[0] = 2;
        let mut inh = [0u64; 41];
        inh[8] = 2;
        inh[19] = 1;
        k.add_hist("icps_outhist", &out);
        k.add_hist("icps_inhist", &inh);
        assert_eq!(
            render("icmp", ICMP_STATS, &k, 1),
            "icmp:\n\t0 calls to icmp_error\n\tOutput histogram:\n\t\techo reply: 2\n\
             \tInput histogram:\n\t\techo: 2\n\t\t#19: 1\n\t2 message responses generated\n\
             \t1 invalid return address\n"
        );
        let names = [
            "udps_ipackets",
            "udps_hdrops",
            "udps_badsum",
            "udps_nosum",
            "udps_badlen",
            "udps_noport",
            "udps_noportbcast",
            "udps_fullsock",
            "udps_opackets",
        ];
        let k = Counters::from_fields(&names, &[10, 0, 1, 0, 0, 3, 2, 0, 1]);
        assert_eq!(
            render("udp", UDP_STATS, &k, 1),
            "udp:\n\t10 datagrams received\n\t0 with incomplete header\n\
             \t0 with bad data length field\n\t1 with bad checksum\n\t0 with no checksum\n\
             \t3 dropped due to no socket\n\t2 broadcast/multicast datagrams undelivered\n\
             \t0 dropped due to full socket buffers\n\t4 delivered\n\t1 datagram output\n"
        );
        assert_eq!(
            maskrepl_line(false),
            "\tICMP address mask responses are disabled\n"
        );
        assert_eq!(icmpname(11), "time exceeded");
        assert_eq!(icmpname(41), "#41");
    }

    #[test]
    fn tcp_block_when_the_kernel_has_one() {
        let k = Counters::from_fields(
            &[
                "tcps_sndtotal",
                "tcps_sndpack",
                "tcps_sndbyte",
                "tcps_sc_added",
            ],
            &[3, 1, 512, 1],
        );
        assert_eq!(
            render("tcp", TCP_STATS, &k, 1),
            "tcp:\n\t3 packets sent\n\t\t1 data packet (512 bytes)\n\t1 syncache entry added\n"
        );
    }
}
