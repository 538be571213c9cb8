//! ping(8): send ICMP ECHO_REQUEST datagrams to a host through a raw ICMP socket
//! and print the replies, ICMP errors about our requests, and FreeBSD's
//! statistics block (at the end, on SIGINT, or when `-t` expires).
//!
//! Options: `-c count`, `-i wait`, `-m ttl`, `-n`, `-o`, `-q`, `-Q`, `-S src_addr`,
//! `-s packetsize`, `-t timeout`, `-v`, `-W waittime`.  Exit status: 0 if any
//! reply came, 2 if none, 64 usage, 68 unknown host.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libvimage::{err, errx, getopt, is_root, resolve4, warn, Errno, RecvSlice, Sys};
use vimage_abi::netinet_in::{SockaddrIn, IPPROTO_ICMP, IPPROTO_IP, IP_TTL, PF_INET, SOCK_RAW};

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_UNREACH: u8 = 3;
const ICMP_SOURCEQUENCH: u8 = 4;
const ICMP_REDIRECT: u8 = 5;
const ICMP_ECHO: u8 = 8;
const ICMP_TIMXCEED: u8 = 11;
const ICMP_PARAMPROB: u8 = 12;
const ICMP_MINLEN: usize = 8;
/// `sizeof(struct tv32)`: the send time at the start of the data.
const TIMEVAL_LEN: usize = 8;
const DEFDATALEN: usize = 56;
const MAXWAIT_MS: u64 = 10_000;
const MAXALARM: u64 = 3600;
const MAXPAYLOAD: usize = 65535 - 20 - ICMP_MINLEN;
const EX_USAGE: i32 = 64;
const EX_NOHOST: i32 = 68;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn stopit(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!(
        "usage: ping [-AaDdfnoQqRrv] [-c count] [-G sweepmaxsize] [-g sweepminsize]
            [-h sweepincrsize] [-i wait] [-l preload] [-M mask | time] [-m ttl]
            [-p pattern] [-S src_addr] [-s packetsize] [-t timeout]
            [-W waittime] [-z tos] host
       ping [-AaDdfLnoQqRrv] [-c count] [-I iface] [-i wait] [-l preload]
            [-M mask | time] [-m ttl] [-p pattern] [-S src_addr]
            [-s packetsize] [-T ttl] [-t timeout] [-W waittime]
            [-z tos] mcast-group"
    );
    std::process::exit(EX_USAGE)
}

struct Opts {
    count: u64,
    interval: Duration,
    ttl: Option<i32>,
    numeric: bool,
    once: bool,
    quiet: bool,
    quiet_errors: bool,
    verbose: bool,
    src: Option<Ipv4Addr>,
    datalen: usize,
    timeout: Option<Duration>,
    waittime: Duration,
    host: String,
}

fn parse_args() -> Opts {
    let a = getopt("AaDdLc:i:l:m:nop:QqRrS:s:t:vW:z:", usage);
    let mut o = Opts {
        count: 0,
        interval: Duration::from_secs(1),
        ttl: None,
        numeric: false,
        once: false,
        quiet: false,
        quiet_errors: false,
        verbose: false,
        src: None,
        datalen: DEFDATALEN,
        timeout: None,
        waittime: Duration::from_millis(MAXWAIT_MS),
        host: String::new(),
    };
    for (c, v) in a.opts {
        match c {
            'c' => {
                o.count = match v.parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => errx(
                        EX_USAGE,
                        format!("invalid count of packets to transmit: `{v}'"),
                    ),
                }
            }
            'i' => {
                let t: f64 = match v.parse() {
                    Ok(t) if t > 0.0 && f64::is_finite(t) => t,
                    _ => errx(EX_USAGE, format!("invalid timing interval: `{v}'")),
                };
                if t < 1.0 && !is_root() {
                    err(EX_USAGE, "-i interval too short", Errno::EPERM)
                }
                o.interval = Duration::from_secs_f64(t);
            }
            'm' => {
                o.ttl = match v.parse::<i32>() {
                    Ok(t) if (0..=255).contains(&t) => Some(t),
                    _ => errx(EX_USAGE, format!("invalid TTL: `{v}'")),
                }
            }
            'S' => {
                o.src = Some(resolve4(&v).unwrap_or_else(|| {
                    errx(EX_NOHOST, format!("cannot resolve {v}: Unknown host"))
                }))
            }
            's' => {
                let n: usize = v
                    .parse()
                    .unwrap_or_else(|_| errx(EX_USAGE, format!("invalid packet size: `{v}'")));
                if n > MAXPAYLOAD {
                    errx(
                        EX_USAGE,
                        format!("packet size too large: {n} > {MAXPAYLOAD}"),
                    )
                }
                if n > DEFDATALEN && !is_root() {
                    err(
                        EX_USAGE,
                        format!("packet size too large: {n} > {DEFDATALEN}"),
                        Errno::EPERM,
                    )
                }
                o.datalen = n;
            }
            't' => match v.parse::<u64>() {
                Ok(t) if (1..=MAXALARM).contains(&t) => o.timeout = Some(Duration::from_secs(t)),
                Ok(t) if t > MAXALARM => {
                    errx(EX_USAGE, format!("invalid timeout: `{v}' > {MAXALARM}"))
                }
                _ => errx(EX_USAGE, format!("invalid timeout: `{v}'")),
            },
            'W' => match v.parse::<u64>() {
                Ok(t) => o.waittime = Duration::from_millis(t),
                Err(_) => errx(EX_USAGE, format!("invalid timing interval: `{v}'")),
            },
            'n' => o.numeric = true,
            'o' => o.once = true,
            'q' => o.quiet = true,
            'Q' => o.quiet_errors = true,
            'v' => o.verbose = true,
            // -AaDdLRr, -l preload, -p pattern, -z tos: accepted, no effect here.
            _ => {}
        }
    }
    let [host] = a.operands.as_slice() else {
        usage()
    };
    o.host = host.clone();
    o
}

/// `pr_iph`: an IP header as FreeBSD's ping dumps it.
fn pr_iph(ip: &[u8]) {
    if ip.len() < 20 {
        return;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let be = |i: usize| u16::from_be_bytes([ip[i], ip[i + 1]]);
    println!("Vr HL TOS  Len   ID Flg  off TTL Pro  cks      Src      Dst");
    let mut l = format!(
        " {:1x}  {:1x}  {:02x} {:04x} {:04x}",
        ip[0] >> 4,
        ip[0] & 0x0f,
        ip[1],
        be(2),
        be(4)
    );
    l.push_str(&format!(
        "   {:1x} {:04x}",
        (be(6) & 0xe000) >> 13,
        be(6) & 0x1fff
    ));
    l.push_str(&format!("  {:02x}  {:02x} {:04x}", ip[8], ip[9], be(10)));
    l.push_str(&format!(
        " {} ",
        Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])
    ));
    l.push_str(&format!(
        " {} ",
        Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])
    ));
    for b in ip.iter().take(hl.min(ip.len())).skip(20) {
        l.push_str(&format!("{b:02x}"));
    }
    println!("{l}");
}

/// `pr_retip`: the quoted header and, for TCP and UDP, its ports.
fn pr_retip(ip: &[u8]) {
    pr_iph(ip);
    if ip.len() < 20 {
        return;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    if let Some(p) = ip.get(hl..hl + 4) {
        let (s, d) = (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        );
        match ip[9] {
            6 => println!("TCP: from port {s}, to port {d} (decimal)"),
            17 => println!("UDP: from port {s}, to port {d} (decimal)"),
            _ => {}
        }
    }
}

/// `pr_icmph`: the text for an ICMP message, then its quote for errors.
fn pr_icmph(icmp: &[u8]) {
    let (t, c) = (icmp[0], icmp[1]);
    let quote = icmp.get(ICMP_MINLEN..).unwrap_or(&[]);
    match t {
        ICMP_ECHOREPLY => println!("Echo Reply"),
        ICMP_UNREACH => {
            match c {
                0 => println!("Destination Net Unreachable"),
                1 => println!("Destination Host Unreachable"),
                2 => println!("Destination Protocol Unreachable"),
                3 => println!("Destination Port Unreachable"),
                4 => println!(
                    "frag needed and DF set (MTU {})",
                    u16::from_be_bytes([icmp[6], icmp[7]])
                ),
                5 => println!("Source Route Failed"),
                6 => println!("Destination Net Unknown"),
                7 => println!("Destination Host Unknown"),
                8 => println!("Source Host Isolated"),
                9 => println!("Destination Network Administratively Prohibited"),
                10 => println!("Destination Host Administratively Prohibited"),
                11 => println!("Destination Network Unreachable at this TOS"),
                12 => println!("Destination Host Unreachable at this TOS"),
                13 => println!("Communication prohibited by filter"),
                14 => println!("Host Precedence Violation"),
                15 => println!("Precedence Cutoff"),
                _ => println!("Dest Unreachable, Bad Code: {c}"),
            }
            pr_retip(quote);
        }
        ICMP_SOURCEQUENCH => {
            println!("Source Quench");
            pr_retip(quote);
        }
        ICMP_REDIRECT => {
            let gw = Ipv4Addr::new(icmp[4], icmp[5], icmp[6], icmp[7]);
            match c {
                0 => println!("Redirect Network(New addr: {gw})"),
                1 => println!("Redirect Host(New addr: {gw})"),
                2 => println!("Redirect Type of Service and Network(New addr: {gw})"),
                3 => println!("Redirect Type of Service and Host(New addr: {gw})"),
                _ => println!("Redirect, Bad Code: {c}(New addr: {gw})"),
            }
            pr_retip(quote);
        }
        ICMP_ECHO => println!("Echo Request"),
        ICMP_TIMXCEED => {
            match c {
                0 => println!("Time to live exceeded"),
                1 => println!("Frag reassembly time exceeded"),
                _ => println!("Time exceeded, Bad Code: {c}"),
            }
            pr_retip(quote);
        }
        ICMP_PARAMPROB => {
            println!("Parameter problem: pointer = 0x{:02x}", icmp[4]);
            pr_retip(quote);
        }
        13 => println!("Timestamp"),
        14 => println!("Timestamp Reply"),
        15 => println!("Information Request"),
        16 => println!("Information Reply"),
        17 => println!("Address Mask Request"),
        18 => println!("Address Mask Reply"),
        _ => println!("Bad ICMP type: {t}"),
    }
}

fn cksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

struct Ping {
    o: Opts,
    s: Sys,
    fd: i32,
    dst: Ipv4Addr,
    ident: u16,
    t0: Instant,
    ntransmitted: u64,
    nreceived: u64,
    nrepeats: u64,
    rcvd: Vec<u8>,
    tmin: f64,
    tmax: f64,
    tsum: f64,
    tsumsq: f64,
}

impl Ping {
    fn timing(&self) -> bool {
        self.o.datalen >= TIMEVAL_LEN
    }

    /// `pinger`: send the next request.
    fn pinger(&mut self) {
        let seq = (self.ntransmitted & 0xffff) as u16;
        let mut p = vec![0u8; ICMP_MINLEN + self.o.datalen];
        p[0] = ICMP_ECHO;
        p[4..6].copy_from_slice(&self.ident.to_be_bytes());
        p[6..8].copy_from_slice(&seq.to_be_bytes());
        if self.timing() {
            let e = self.t0.elapsed();
            p[8..12].copy_from_slice(&(e.as_secs() as u32).to_be_bytes());
            p[12..16].copy_from_slice(&e.subsec_micros().to_be_bytes());
        }
        for i in TIMEVAL_LEN.min(self.o.datalen)..self.o.datalen {
            p[ICMP_MINLEN + i] = i as u8;
        }
        let c = cksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
        let to = SockaddrIn::new(self.dst, 0).to_bytes();
        let bit = usize::from(seq) % (self.rcvd.len() * 8);
        self.rcvd[bit / 8] &= !(1 << (bit % 8));
        if let Err(e) = self.s.sendto(self.fd, &p, 0, Some(&to)) {
            warn("sendto", e);
        }
        self.ntransmitted += 1;
    }

    /// `pr_pack`: one datagram from the raw socket.
    fn pr_pack(&mut self, buf: &[u8], from: Ipv4Addr) {
        if buf.len() < 20 {
            return;
        }
        let hl = usize::from(buf[0] & 0x0f) * 4;
        if buf.len() < hl + ICMP_MINLEN {
            if self.o.verbose {
                eprintln!("ping: packet too short ({} bytes) from {from}", buf.len());
            }
            return;
        }
        let ttl = buf[8];
        let icmp = &buf[hl..];
        let cc = icmp.len();
        if icmp[0] == ICMP_ECHOREPLY {
            if u16::from_be_bytes([icmp[4], icmp[5]]) != self.ident {
                return;
            }
            let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
            let bit = usize::from(seq) % (self.rcvd.len() * 8);
            let dup = self.rcvd[bit / 8] & (1 << (bit % 8)) != 0;
            let mut triptime = 0.0;
            if dup {
                self.nrepeats += 1;
            } else {
                self.nreceived += 1;
                self.rcvd[bit / 8] |= 1 << (bit % 8);
            }
            if self.timing() && icmp.len() >= ICMP_MINLEN + TIMEVAL_LEN {
                let sec = u32::from_be_bytes([icmp[8], icmp[9], icmp[10], icmp[11]]);
                let usec = u32::from_be_bytes([icmp[12], icmp[13], icmp[14], icmp[15]]);
                let sent =
                    Duration::from_secs(u64::from(sec)) + Duration::from_micros(u64::from(usec));
                let now = self.t0.elapsed();
                triptime = now.saturating_sub(sent).as_secs_f64() * 1000.0;
                if !dup {
                    self.tsum += triptime;
                    self.tsumsq += triptime * triptime;
                    if self.nreceived == 1 || triptime < self.tmin {
                        self.tmin = triptime;
                    }
                    if triptime > self.tmax {
                        self.tmax = triptime;
                    }
                }
            }
            if self.o.quiet {
                return;
            }
            let mut l = format!("{cc} bytes from {from}: icmp_seq={seq} ttl={ttl}");
            if self.timing() {
                l.push_str(&format!(" time={triptime:.3} ms"));
            }
            if dup {
                l.push_str(" (DUP!)");
            }
            println!("{l}");
            return;
        }
        // Something else: show only errors about our own requests (unless -v).
        let about_us = || {
            let q = icmp.get(ICMP_MINLEN..).unwrap_or(&[]);
            if q.len() < 20 {
                return false;
            }
            let qhl = usize::from(q[0] & 0x0f) * 4;
            let Some(qi) = q.get(qhl..qhl + 8) else {
                return false;
            };
            Ipv4Addr::new(q[16], q[17], q[18], q[19]) == self.dst
                && q[9] == 1
                && qi[0] == ICMP_ECHO
                && u16::from_be_bytes([qi[4], qi[5]]) == self.ident
        };
        let is_err = matches!(
            icmp[0],
            ICMP_UNREACH | ICMP_SOURCEQUENCH | ICMP_REDIRECT | ICMP_TIMXCEED | ICMP_PARAMPROB
        );
        if !(self.o.verbose || is_err && about_us()) {
            return;
        }
        if self.o.quiet_errors {
            return;
        }
        print!("{cc} bytes from {from}: ");
        pr_icmph(icmp);
    }

    /// `finish`: the statistics block; the exit status.
    fn finish(&self) -> i32 {
        use std::io::Write;
        println!();
        println!("--- {} ping statistics ---", self.o.host);
        let mut l = format!(
            "{} packets transmitted, {} packets received, ",
            self.ntransmitted, self.nreceived
        );
        if self.nrepeats > 0 {
            l.push_str(&format!("+{} duplicates, ", self.nrepeats));
        }
        if self.ntransmitted > 0 {
            if self.nreceived > self.ntransmitted {
                l.push_str("-- somebody's printing up packets!");
            } else {
                let loss =
                    ((self.ntransmitted - self.nreceived) * 100) as f64 / self.ntransmitted as f64;
                l.push_str(&format!("{loss:.1}% packet loss"));
            }
        }
        println!("{l}");
        if self.nreceived > 0 && self.timing() {
            let n = self.nreceived as f64;
            let avg = self.tsum / n;
            let vari = (self.tsumsq / n - avg * avg).max(0.0);
            println!(
                "round-trip min/avg/max/stddev = {:.3}/{:.3}/{:.3}/{:.3} ms",
                self.tmin,
                avg,
                self.tmax,
                vari.sqrt()
            );
        }
        let _ = std::io::stdout().flush();
        if self.nreceived > 0 {
            0
        } else {
            2
        }
    }
}

fn main() {
    libvimage::sigpipe_default();
    let mut p = Ping::open(parse_args());
    p.run();
    std::process::exit(p.finish())
}

impl Ping {
    /// Resolve the host, open and set up the raw socket, print the `PING`
    /// line.
    fn open(o: Opts) -> Ping {
        let Some(dst) = resolve4(&o.host) else {
            errx(
                EX_NOHOST,
                format!("cannot resolve {}: Unknown host", o.host),
            )
        };
        let mut s = Sys::open_or_exit();
        let fd = s
            .socket(PF_INET, SOCK_RAW, IPPROTO_ICMP)
            .unwrap_or_else(|e| err(71, "socket", e));
        if let Some(src) = o.src {
            if let Err(e) = s.bind(fd, &SockaddrIn::new(src, 0).to_bytes()) {
                err(1, "bind", e)
            }
        }
        if let Some(t) = o.ttl {
            if let Err(e) = s.setsockopt(fd, IPPROTO_IP, IP_TTL, &t.to_le_bytes()) {
                err(1, "setsockopt IP_TTL", e)
            }
        }
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, stopit as *const () as libc::sighandler_t);
        }
        let header = match o.src {
            Some(src) => format!(
                "PING {} ({dst}) from {src}: {} data bytes",
                o.host, o.datalen
            ),
            None => format!("PING {} ({dst}): {} data bytes", o.host, o.datalen),
        };
        println!("{header}");
        let _ = o.numeric;
        Ping {
            ident: (std::process::id() & 0xffff) as u16,
            o,
            s,
            fd,
            dst,
            t0: Instant::now(),
            ntransmitted: 0,
            nreceived: 0,
            nrepeats: 0,
            rcvd: vec![0u8; 1024 / 8],
            tmin: 0.0,
            tmax: 0.0,
            tsum: 0.0,
            tsumsq: 0.0,
        }
    }

    /// Send and receive until the count, `-o`, `-t` or SIGINT ends the run.
    fn run(&mut self) {
        let end = self.o.timeout.map(|t| self.t0 + t);
        let mut next = Instant::now();
        let mut almost_done = false;
        let mut timeo = RecvSlice::new();
        loop {
            if STOP.load(Ordering::SeqCst) || end.is_some_and(|e| Instant::now() >= e) {
                break;
            }
            let now = Instant::now();
            if now >= next {
                if self.o.count == 0 || self.ntransmitted < self.o.count {
                    self.pinger();
                    next = now + self.o.interval;
                } else {
                    if almost_done {
                        break;
                    }
                    almost_done = true;
                    let wait = if self.nreceived > 0 {
                        Duration::from_secs_f64((2.0 * self.tmax / 1000.0).max(1.0).floor())
                    } else {
                        self.o.waittime
                    };
                    next = now + wait;
                }
                continue;
            }
            // Wait for a datagram until the next event, in slices so SIGINT and
            // the -t deadline are noticed.
            let mut until = next;
            if let Some(e) = end {
                until = until.min(e);
            }
            timeo.set(&mut self.s, self.fd, until, now);
            match self.s.recvfrom(self.fd, 65535, 0) {
                Ok((buf, addr)) => {
                    let from = SockaddrIn::from_bytes(&addr)
                        .map(|a| a.addr)
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                    self.pr_pack(&buf, from);
                    if (self.o.count != 0 && self.nreceived >= self.o.count)
                        || (self.o.once && self.nreceived > 0)
                    {
                        break;
                    }
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(e) => err(71, "recvfrom", e),
            }
        }
    }
}
