//! traceroute(8): send UDP probes with growing TTLs (`IP_TTL`) to ports 33435 and
//! up, and read the ICMP time-exceeded and unreachable messages they cause from a
//! raw ICMP socket; print one line per hop as FreeBSD's traceroute does.
//!
//! Options: `-f first_ttl`, `-m max_ttl`, `-n`, `-p port`, `-q nqueries`,
//! `-s src_addr`, `-w waittime`, and an optional packet length.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libvimage::{err, errx, timeval_bytes, Errno, Sys, SOL_SOCKET, SO_RCVTIMEO};
use vimage_abi::netinet_in::{
    SockaddrIn, IPPROTO_ICMP, IPPROTO_IP, IP_TTL, PF_INET, SOCK_DGRAM, SOCK_RAW,
};
use vimage_abi::sysctl::SysctlValue;

const ICMP_UNREACH: u8 = 3;
const ICMP_TIMXCEED: u8 = 11;
const ICMP_TIMXCEED_INTRANS: u8 = 0;
const ICMP_UNREACH_PORT: u8 = 3;
/// IP + UDP headers.
const HDRS: usize = 28;
/// `struct outdata`: sequence, TTL, send time — 40-byte probes in all.
const OUTDATA: usize = 12;

fn usage() -> ! {
    eprintln!(
        "Usage: traceroute [-adDeFInrSvx] [-f first_ttl] [-g gateway] [-i iface]\n\t[-m max_ttl] [-p port] [-P proto] [-q nqueries] [-s src_addr]\n\t[-t tos] [-w waittime] [-A as_server] [-z pausemsecs] host [packetlen]"
    );
    std::process::exit(1)
}

struct Opts {
    first_ttl: u8,
    max_ttl: Option<u8>,
    numeric: bool,
    port: u16,
    nprobes: u32,
    src: Option<Ipv4Addr>,
    wait: Duration,
    host: String,
    packlen: Option<usize>,
}

fn resolve(h: &str) -> Option<Ipv4Addr> {
    if h == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    h.parse().ok()
}

fn num<T: std::str::FromStr + PartialOrd>(v: &str, what: &str, lo: T, hi: T) -> T {
    match v.parse::<T>() {
        Ok(n) if n >= lo && n <= hi => n,
        _ => errx(1, format!("{what} \"{v}\"")),
    }
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        first_ttl: 1,
        max_ttl: None,
        numeric: false,
        port: 32768 + 666,
        nprobes: 3,
        src: None,
        wait: Duration::from_secs(5),
        host: String::new(),
        packlen: None,
    };
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i].len() > 1 {
        let a = args[i].clone();
        for (pos, c) in a[1..].char_indices() {
            let takes = matches!(
                c,
                'f' | 'm' | 'p' | 'q' | 's' | 'w' | 'g' | 'i' | 'P' | 't' | 'A' | 'z' | 'M'
            );
            let val = if takes {
                let rest = &a[1 + pos + c.len_utf8()..];
                Some(if rest.is_empty() {
                    i += 1;
                    args.get(i).cloned().unwrap_or_else(|| usage())
                } else {
                    rest.to_string()
                })
            } else {
                None
            };
            match (c, val) {
                ('f', Some(v)) => o.first_ttl = num(&v, "invalid first ttl", 1, 255),
                ('m', Some(v)) => o.max_ttl = Some(num(&v, "invalid max ttl", 1, 255)),
                ('p', Some(v)) => o.port = num(&v, "invalid port", 1, 65535),
                ('q', Some(v)) => o.nprobes = num(&v, "invalid nprobes", 1, 65535),
                ('w', Some(v)) => o.wait = Duration::from_secs(num(&v, "invalid wait", 1, 86400)),
                ('s', Some(v)) => {
                    o.src =
                        Some(resolve(&v).unwrap_or_else(|| errx(1, format!("unknown host {v}"))))
                }
                ('g' | 'i' | 'P' | 't' | 'A' | 'z' | 'M', Some(_)) => {}
                ('n', None) => o.numeric = true,
                ('a' | 'd' | 'D' | 'e' | 'F' | 'r' | 'S' | 'v' | 'x', None) => {}
                _ => usage(),
            }
            if takes {
                break;
            }
        }
        i += 1;
    }
    match &args[i..] {
        [h] => o.host = h.clone(),
        [h, l] => {
            o.host = h.clone();
            o.packlen = Some(num(l, "invalid packet length", HDRS, 32768));
        }
        _ => usage(),
    }
    o
}

/// Print the hop address (once per change) as traceroute does.
fn print_from(o: &Opts, from: Ipv4Addr) {
    if o.numeric {
        print!(" {from}");
    } else {
        print!(" {from} ({from})");
    }
}

fn main() {
    let o = parse_args();
    let Some(dst) = resolve(&o.host) else {
        errx(1, format!("unknown host {}", o.host))
    };
    let mut s = Sys::open_or_exit();
    let max_ttl = o
        .max_ttl
        .unwrap_or_else(|| match s.sysctl("net.inet.ip.ttl") {
            Ok(r) => match r.value {
                SysctlValue::Int(n) => n.clamp(1, 255) as u8,
                _ => 64,
            },
            Err(_) => 64,
        });
    if o.first_ttl > max_ttl {
        errx(
            1,
            format!(
                "first ttl ({}) may not be greater than max ttl ({max_ttl})",
                o.first_ttl
            ),
        )
    }
    let packlen = o.packlen.unwrap_or(HDRS + OUTDATA);
    let datalen = packlen.saturating_sub(HDRS);
    let rcv = s
        .socket(PF_INET, SOCK_RAW, IPPROTO_ICMP)
        .unwrap_or_else(|e| err(1, "icmp socket", e));
    let snd = s
        .socket(PF_INET, SOCK_DGRAM, 0)
        .unwrap_or_else(|e| err(1, "socket", e));
    // The source port identifies our probes: FreeBSD's `ident`, or any.
    let ident = (std::process::id() as u16) | 0x8000;
    let src = o.src.unwrap_or(Ipv4Addr::UNSPECIFIED);
    // 0: bound to an ephemeral port we cannot name; match any source port.
    let lport = if s.bind(snd, &SockaddrIn::new(src, ident).to_bytes()).is_ok() {
        ident
    } else {
        if let Err(e) = s.bind(snd, &SockaddrIn::new(src, 0).to_bytes()) {
            err(1, "bind", e)
        }
        0
    };
    let from_txt = o.src.map(|a| format!(" from {a}")).unwrap_or_default();
    eprintln!(
        "traceroute to {} ({dst}){from_txt}, {max_ttl} hops max, {packlen} byte packets",
        o.host
    );
    let t0 = Instant::now();
    let mut seq: u32 = 0;
    let mut cur_timeo = Duration::ZERO;
    for ttl in o.first_ttl..=max_ttl {
        use std::io::Write;
        print!("{ttl:2} ");
        let _ = std::io::stdout().flush();
        let mut last: Option<Ipv4Addr> = None;
        let mut got_there = false;
        let mut unreachable = 0;
        for _ in 0..o.nprobes {
            seq += 1;
            let dport = o.port.wrapping_add(seq as u16);
            let mut data = vec![0u8; datalen];
            if data.len() >= 2 {
                data[0] = seq as u8;
                data[1] = ttl;
            }
            if data.len() >= OUTDATA {
                let e = t0.elapsed();
                data[4..8].copy_from_slice(&(e.as_secs() as u32).to_be_bytes());
                data[8..12].copy_from_slice(&e.subsec_micros().to_be_bytes());
            }
            if let Err(e) = s.setsockopt(snd, IPPROTO_IP, IP_TTL, &i32::from(ttl).to_le_bytes()) {
                err(1, "setsockopt IP_TTL", e)
            }
            let sent = Instant::now();
            let to = SockaddrIn::new(dst, dport).to_bytes();
            if let Err(e) = s.sendto(snd, &data, 0, Some(&to)) {
                let _ = std::io::stdout().flush();
                eprintln!("traceroute: sendto: {}", libvimage::strerror(e));
            }
            let deadline = sent + o.wait;
            let mut answered = false;
            while Instant::now() < deadline {
                let slice = deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200))
                    .max(Duration::from_millis(1));
                if slice != cur_timeo {
                    let _ = s.setsockopt(rcv, SOL_SOCKET, SO_RCVTIMEO, &timeval_bytes(slice));
                    cur_timeo = slice;
                }
                let (buf, addr) = match s.recvfrom(rcv, 65535, 0) {
                    Ok(r) => r,
                    Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                    Err(e) => err(1, "recvfrom", e),
                };
                let rtt = sent.elapsed().as_secs_f64() * 1000.0;
                let from = SockaddrIn::from_bytes(&addr)
                    .map(|a| a.addr)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                let Some(code) = packet_ok(&buf, dst, lport, dport) else {
                    continue;
                };
                if last != Some(from) {
                    if last.is_some() {
                        print!("\n   ");
                    }
                    print_from(&o, from);
                    last = Some(from);
                }
                print!("  {rtt:.3} ms");
                let reply_ttl = buf.get(8).copied().unwrap_or(0);
                match code {
                    Hop::Transit => {}
                    Hop::There => {
                        got_there = true;
                        if reply_ttl <= 1 {
                            print!(" !");
                        }
                    }
                    Hop::Unreach(c) => {
                        unreachable += 1;
                        let t = match c {
                            0 => "!N".to_string(),
                            1 => "!H".to_string(),
                            2 => {
                                got_there = true;
                                "!P".to_string()
                            }
                            4 => "!F".to_string(),
                            5 => "!S".to_string(),
                            6 => "!U".to_string(),
                            7 => "!W".to_string(),
                            8 => "!I".to_string(),
                            9 => "!A".to_string(),
                            10 => "!Z".to_string(),
                            11 => "!Q".to_string(),
                            12 => "!T".to_string(),
                            13 => "!X".to_string(),
                            14 => "!V".to_string(),
                            15 => "!C".to_string(),
                            c => format!("!<{c}>"),
                        };
                        print!(" {t}");
                    }
                }
                answered = true;
                break;
            }
            if !answered {
                print!(" *");
            }
            let _ = std::io::stdout().flush();
        }
        println!();
        if got_there || (unreachable > 0 && unreachable >= o.nprobes.saturating_sub(1)) {
            break;
        }
    }
}

/// What an ICMP message says about one of our probes.
enum Hop {
    /// Time exceeded in transit: an intermediate hop.
    Transit,
    /// Port unreachable from the destination: we got there.
    There,
    /// Another unreachable code.
    Unreach(u8),
}

/// Whether `buf` (an IP datagram from the raw socket) is an ICMP error about
/// the probe from `lport` to `dst:dport`, and what it says.
fn packet_ok(buf: &[u8], dst: Ipv4Addr, lport: u16, dport: u16) -> Option<Hop> {
    let hl = usize::from(*buf.first()? & 0x0f) * 4;
    let icmp = buf.get(hl..)?;
    let (t, c) = (*icmp.first()?, *icmp.get(1)?);
    if t != ICMP_TIMXCEED && t != ICMP_UNREACH {
        return None;
    }
    let q = icmp.get(8..)?;
    let qhl = usize::from(*q.first()? & 0x0f) * 4;
    let udp = q.get(qhl..qhl + 4)?;
    let qdst = Ipv4Addr::new(*q.get(16)?, *q.get(17)?, *q.get(18)?, *q.get(19)?);
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let qdport = u16::from_be_bytes([udp[2], udp[3]]);
    if *q.get(9)? != 17 || qdst != dst || qdport != dport || (lport != 0 && sport != lport) {
        return None;
    }
    Some(match (t, c) {
        (ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS) => Hop::Transit,
        (ICMP_TIMXCEED, _) => return None,
        (_, ICMP_UNREACH_PORT) => Hop::There,
        (_, c) => Hop::Unreach(c),
    })
}
