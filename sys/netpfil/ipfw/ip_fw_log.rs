//! The firewall's log lines (FreeBSD's `ipfw_log`): what a `log` rule
//! prints on the kernel console when `net.inet.ip.fw.verbose` is set, as
//! `ipfw: 100 Deny ICMP:8.0 10.0.1.10 10.0.1.11 out via e0`.
//!
//! The console is vkernel's standard output, shared by every vimage, so
//! besides each rule's `logamount` a vnet prints at most
//! [`crate::ip_fw2::IPFW_LOG_RATE`] lines a second.

#[cfg(not(test))]
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use vimage_abi::ip_fw::{Cmd, ICMP_REJECT_RST, ICMP_UNREACH_HOST};
use vimage_net::if_var::Ifnet;
use vimage_net::pfil::PfilDir;

use crate::ip_fw2::Pkt;

/// Print one line on the kernel console (a closed console loses it; the
/// kernel goes on).
pub fn console(line: &str) {
    // Unit tests: through the harness's capture.
    #[cfg(test)]
    println!("{line}");
    #[cfg(not(test))]
    {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    }
}

/// How a log line names the action.
fn action_name(c: &Cmd) -> String {
    match c {
        Cmd::Deny => "Deny".into(),
        Cmd::Reject(ICMP_REJECT_RST) => "Reset".into(),
        Cmd::Reject(ICMP_UNREACH_HOST) => "Reject".into(),
        Cmd::Reject(code) => format!("Unreach {code}"),
        Cmd::Accept => "Accept".into(),
        Cmd::Count => "Count".into(),
        Cmd::Skipto(n) => format!("SkipTo {n}"),
        Cmd::CheckState => "Check-State".into(),
        _ => "UNKNOWN".into(),
    }
}

/// An address as a log line shows it (IPv6 in brackets).
fn addr(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// The log line of packet `p` meeting rule `rulenum` with action `act`.
pub fn log_line(rulenum: u16, act: &Cmd, p: &Pkt<'_>, dir: PfilDir, ifname: &str) -> String {
    let (s, d) = (addr(&p.src), addr(&p.dst));
    let proto = match p.proto {
        // A layer-2 frame without IP.
        _ if !p.ip => "MAC".to_string(),
        6 | 17 if p.offset == 0 => {
            let n = if p.proto == 6 { "TCP" } else { "UDP" };
            format!("{n} {s}:{} {d}:{}", p.sport, p.dport)
        }
        6 => format!("TCP {s} {d}"),
        17 => format!("UDP {s} {d}"),
        1 | 58 if p.offset == 0 => {
            let n = if p.proto == 1 { "ICMP" } else { "ICMPv6" };
            let (t, c) = p.icmp.unwrap_or((0, 0));
            format!("{n}:{t}.{c} {s} {d}")
        }
        1 => format!("ICMP {s} {d}"),
        n => format!("P:{n} {s} {d}"),
    };
    let frag = if !p.v6 && (p.offset != 0 || p.more_frags) {
        format!(
            " (frag {}:{}@{}{})",
            p.ip_id,
            p.len.saturating_sub(p.hlen as u64),
            u32::from(p.offset) * 8,
            if p.more_frags { "+" } else { "" }
        )
    } else {
        String::new()
    };
    let way = match dir {
        PfilDir::In => "in",
        PfilDir::Out => "out",
    };
    format!(
        "ipfw: {rulenum} {} {proto} {way} via {ifname}{frag}",
        action_name(act)
    )
}

/// `ipfw_log`: print the packet's line.
pub fn ipfw_log(rulenum: u16, act: &Cmd, p: &Pkt<'_>, dir: PfilDir, ifp: &Arc<Ifnet>) {
    console(&log_line(rulenum, act, p, dir, &ifp.name()));
}
