//! traceroute(8): send UDP probes with growing TTLs (`IP_TTL`) to ports 33435 and
//! up, and read the ICMP time-exceeded and unreachable messages they cause from a
//! raw ICMP socket; print one line per hop as FreeBSD's traceroute does.
//!
//! Options: `-f first_ttl`, `-m max_ttl`, `-n`, `-p port`, `-q nqueries`,
//! `-s src_addr`, `-w waittime`, and an optional packet length.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libvimage::{err, errx, getopt, resolve4, timeval_bytes, Errno, Sys, SOL_SOCKET, SO_RCVTIMEO};
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

fn num<T: std::str::FromStr + PartialOrd>(v: &str, what: &str, lo: T, hi: T) -> T {
    match v.parse::<T>() {
        Ok(n) if n >= lo && n <= hi => n,
        _ => errx(1, format!("{what} \"{v}\"")),
    }
}

fn parse_args() -> Opts {
    let a = getopt("A:adDeFf:g:i:M:m:nP:p:q:rSs:t:vw:xz:", usage);
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
    for (c, v) in a.opts {
        match c {
            'f' => o.first_ttl = num(&v, "invalid first ttl", 1, 255),
            'm' => o.max_ttl = Some(num(&v, "invalid max ttl", 1, 255)),
            'p' => o.port = num(&v, "invalid port", 1, 65535),
            'q' => o.nprobes = num(&v, "invalid nprobes", 1, 65535),
            'w' => o.wait = Duration::from_secs(num(&v, "invalid wait", 1, 86400)),
            's' => {
                o.src = Some(resolve4(&v).unwrap_or_else(|| errx(1, format!("unknown host {v}"))))
            }
            'n' => o.numeric = true,
            // -adDeFrSvx, -A -g -i -M -P -t -z with their arguments: accepted,
            // no effect here.
            _ => {}
        }
    }
    match a.operands.as_slice() {
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
    libvimage::sigpipe_default();
    let mut t = Trace::open(parse_args());
    for ttl in t.o.first_ttl..=t.max_ttl {
        if t.hop(ttl) {
            break;
        }
    }
}

/// One run: the options, the kernel, the probe and ICMP sockets.
struct Trace {
    o: Opts,
    s: Sys,
    dst: Ipv4Addr,
    max_ttl: u8,
    datalen: usize,
    /// The raw ICMP socket the answers come in on.
    rcv: i32,
    /// The UDP socket the probes leave from.
    snd: i32,
    /// Its port (0: one we cannot name, so any matches).
    lport: u16,
    t0: Instant,
    seq: u32,
    cur_timeo: Duration,
}

impl Trace {
    /// Resolve the host, open and bind the sockets, print the header.
    fn open(o: Opts) -> Trace {
        let Some(dst) = resolve4(&o.host) else {
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
        let rcv = s
            .socket(PF_INET, SOCK_RAW, IPPROTO_ICMP)
            .unwrap_or_else(|e| err(1, "icmp socket", e));
        let snd = s
            .socket(PF_INET, SOCK_DGRAM, 0)
            .unwrap_or_else(|e| err(1, "socket", e));
        // The source port identifies our probes: FreeBSD's `ident`, or any.
        let ident = (std::process::id() as u16) | 0x8000;
        let src = o.src.unwrap_or(Ipv4Addr::UNSPECIFIED);
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
        Trace {
            o,
            s,
            dst,
            max_ttl,
            datalen: packlen.saturating_sub(HDRS),
            rcv,
            snd,
            lport,
            t0: Instant::now(),
            seq: 0,
            cur_timeo: Duration::ZERO,
        }
    }

    /// The line for hop `ttl`; true when the trace ends there.
    fn hop(&mut self, ttl: u8) -> bool {
        use std::io::Write;
        print!("{ttl:2} ");
        let _ = std::io::stdout().flush();
        let mut last: Option<Ipv4Addr> = None;
        let mut got_there = false;
        let mut unreachable = 0;
        for _ in 0..self.o.nprobes {
            match self.probe(ttl) {
                None => print!(" *"),
                Some((from, rtt, code, reply_ttl)) => {
                    if last != Some(from) {
                        if last.is_some() {
                            print!("\n   ");
                        }
                        print_from(&self.o, from);
                        last = Some(from);
                    }
                    print!("  {rtt:.3} ms");
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
                            got_there |= c == 2;
                            print!(" {}", unreach_mark(c));
                        }
                    }
                }
            }
            let _ = std::io::stdout().flush();
        }
        println!();
        got_there || (unreachable > 0 && unreachable >= self.o.nprobes.saturating_sub(1))
    }

    /// Send one probe with TTL `ttl` and wait for the ICMP message about it:
    /// who sent it, the round trip in ms, what it says, and its TTL.
    fn probe(&mut self, ttl: u8) -> Option<(Ipv4Addr, f64, Hop, u8)> {
        let (s, o) = (&mut self.s, &self.o);
        self.seq += 1;
        let seq = self.seq;
        let dport = o.port.wrapping_add(seq as u16);
        let mut data = vec![0u8; self.datalen];
        if data.len() >= 2 {
            data[0] = seq as u8;
            data[1] = ttl;
        }
        if data.len() >= OUTDATA {
            let e = self.t0.elapsed();
            data[4..8].copy_from_slice(&(e.as_secs() as u32).to_be_bytes());
            data[8..12].copy_from_slice(&e.subsec_micros().to_be_bytes());
        }
        if let Err(e) = s.setsockopt(self.snd, IPPROTO_IP, IP_TTL, &i32::from(ttl).to_le_bytes()) {
            err(1, "setsockopt IP_TTL", e)
        }
        let sent = Instant::now();
        let to = SockaddrIn::new(self.dst, dport).to_bytes();
        if let Err(e) = s.sendto(self.snd, &data, 0, Some(&to)) {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            eprintln!("traceroute: sendto: {}", libvimage::strerror(e));
        }
        let deadline = sent + o.wait;
        while Instant::now() < deadline {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200))
                .max(Duration::from_millis(1));
            if slice != self.cur_timeo {
                let _ = s.setsockopt(self.rcv, SOL_SOCKET, SO_RCVTIMEO, &timeval_bytes(slice));
                self.cur_timeo = slice;
            }
            let (buf, addr) = match s.recvfrom(self.rcv, 65535, 0) {
                Ok(r) => r,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                Err(e) => err(1, "recvfrom", e),
            };
            let rtt = sent.elapsed().as_secs_f64() * 1000.0;
            let from = SockaddrIn::from_bytes(&addr)
                .map(|a| a.addr)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Some(code) = packet_ok(&buf, self.dst, self.lport, dport) {
                return Some((from, rtt, code, buf.get(8).copied().unwrap_or(0)));
            }
        }
        None
    }
}

/// The mark after an unreachable's time (`!N`, `!H`, ...).
fn unreach_mark(code: u8) -> String {
    match code {
        0 => "!N".to_string(),
        1 => "!H".to_string(),
        2 => "!P".to_string(),
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
