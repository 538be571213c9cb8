//! ping6(8): send ICMPv6 ECHO_REQUEST packets through a raw ICMPv6 socket and
//! print the replies as FreeBSD's ping6 does: the `PING6(56=40+8+8 bytes) SRC
//! --> DST` header, one `16 bytes from ADDR, icmp_seq=N hlim=H time=T ms` line
//! per reply (`(DUP!)` for duplicates), other ICMPv6 messages with `-v`, and the
//! statistics block at the end (count reached, or SIGINT).
//!
//! Options: `-c count`, `-D`, `-d`, `-f` (root), `-H`, `-h hoplimit`,
//! `-I interface`, `-i wait`, `-l preload` (root), `-n`, `-o`, `-p pattern`,
//! `-q`, `-S sourceaddr`, `-s packetsize`, `-v`.  Hosts are numeric IPv6
//! addresses (`fe80::1%eth0` for a link-local one); there is no resolver.
//! Exit status: 0 if any reply came, 2 if none, 1 on errors and usage.

use std::io::Write;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libvimage::{
    err, errx, getopt, is_root, pr_addr6, resolve6, warn, warnx, Errno, IfNames, RecvSlice, Sys,
};
use vimage_abi::netinet6_in6::*;

const ICMP6_DST_UNREACH: u8 = 1;
const ICMP6_PACKET_TOO_BIG: u8 = 2;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_PARAM_PROB: u8 = 4;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// Echo header length (type, code, sum, id, seq).
const ICMP6ECHOLEN: usize = 8;
/// `sizeof(struct tv32)`: the send time at the start of the data.
const ICMP6ECHOTMLEN: usize = 8;
const DEFDATALEN: usize = ICMP6ECHOTMLEN;
const MAXPACKETLEN: usize = 131_072;
const IP6LEN: usize = 40;
const MAXDATALEN: usize = MAXPACKETLEN - IP6LEN - ICMP6ECHOLEN;
const MAXWAIT_S: u64 = 10;
const MAX_DUP_CHK: usize = 8 * 8192;
/// The port the source-finding UDP socket connects to.
const DUMMY_PORT: u16 = 10101;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn onsignal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!(
        "usage: ping6 [-DdfHmnNoqrRtvwW] [-a addrtype] [-b bufsiz] [-c count] [-g gateway]
             [-h hoplimit] [-I interface] [-i wait] [-l preload] [-P policy]
             [-p pattern] [-S sourceaddr] [-s packetsize] [hops ...] host"
    );
    std::process::exit(1)
}

/// What getaddrinfo says about a name it cannot turn into an address.
const EAI_NONAME_TEXT: &str = "hostname nor servname provided, or not known";

struct Opts {
    count: u64,
    interval: Duration,
    interval_set: bool,
    flood: bool,
    hoplimit: Option<i32>,
    ifname: Option<String>,
    preload: u64,
    once: bool,
    pattern: Option<Vec<u8>>,
    quiet: bool,
    src: Option<String>,
    datalen: usize,
    verbose: bool,
    target: String,
}

/// strtol-style: the whole string must be a number.
fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() {
        return None;
    }
    s.parse().ok()
}

fn parse_args() -> Opts {
    let a = getopt("c:DdfHh:I:i:l:nop:qS:s:v", usage);
    let mut o = Opts {
        count: 0,
        interval: Duration::from_secs(1),
        interval_set: false,
        flood: false,
        hoplimit: None,
        ifname: None,
        preload: 0,
        once: false,
        pattern: None,
        quiet: false,
        src: None,
        datalen: DEFDATALEN,
        verbose: false,
        target: String::new(),
    };
    for (c, v) in a.opts {
        match c {
            'c' => match num::<i64>(&v) {
                Some(n) if n > 0 => o.count = n as u64,
                _ => errx(1, format!("illegal number of packets -- {v}")),
            },
            'f' => {
                if !is_root() {
                    errx(1, "Must be superuser to flood ping")
                }
                o.flood = true;
            }
            'h' => {
                let Some(h) = num::<i32>(&v) else {
                    errx(1, format!("illegal hoplimit {v}"))
                };
                if !(-1..=255).contains(&h) {
                    errx(1, format!("illegal hoplimit -- {v}"))
                }
                o.hoplimit = (h >= 0).then_some(h);
            }
            'I' => o.ifname = Some(v),
            'i' => {
                let Some(t) = num::<f64>(&v).filter(|t| t.is_finite() && *t >= 0.0) else {
                    errx(1, format!("illegal timing interval {v}"))
                };
                if t < 1.0 && !is_root() {
                    errx(
                        1,
                        format!(
                            "{}: only root may use interval < 1s",
                            libvimage::strerror(Errno::EPERM)
                        ),
                    )
                }
                o.interval = Duration::from_secs_f64(t).max(Duration::from_micros(1));
                o.interval_set = true;
            }
            'l' => {
                if !is_root() {
                    errx(1, "Must be superuser to preload")
                }
                match num::<i64>(&v) {
                    Some(n) if n >= 0 => o.preload = n as u64,
                    _ => errx(1, format!("illegal preload value -- {v}")),
                }
            }
            'o' => o.once = true,
            'p' => o.pattern = Some(fill(&v)),
            'q' => o.quiet = true,
            'S' => o.src = Some(v),
            's' => {
                match num::<i64>(&v) {
                    Some(n) if n > 0 => o.datalen = n as usize,
                    _ => errx(1, format!("illegal datalen value -- {v}")),
                }
                if o.datalen > MAXDATALEN {
                    errx(
                        1,
                        format!("datalen value too large, maximum is {MAXDATALEN}"),
                    )
                }
            }
            'v' => o.verbose = true,
            _ => {} // -D, -d, -H, -n: accepted, no effect here.
        }
    }
    let [target] = a.operands.as_slice() else {
        usage()
    };
    if o.flood && o.interval_set {
        errx(1, "-f and -i incompatible options")
    }
    o.target = target.clone();
    o
}

/// `-p`: up to 16 bytes of hex pattern.
fn fill(p: &str) -> Vec<u8> {
    if p.is_empty() || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
        errx(1, "patterns must be specified as hex digits")
    }
    let b: Vec<u8> = p
        .as_bytes()
        .chunks(2)
        .take(16)
        .filter_map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect();
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    println!("PATTERN: 0x{}", hex.join(""));
    b
}

fn now_tv() -> (u32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.subsec_micros())
}

struct Ping6 {
    o: Opts,
    s: Sys,
    fd: i32,
    dst: SockaddrIn6,
    names: IfNames,
    ident: u16,
    outpack: Vec<u8>,
    timing: bool,
    ntransmitted: u64,
    nreceived: u64,
    nrepeats: u64,
    rcvd: Vec<u8>,
    tmin: f64,
    tmax: f64,
    tsum: f64,
    tsumsq: f64,
}

impl Ping6 {
    fn pingerlen(&self) -> usize {
        ICMP6ECHOLEN + self.o.datalen
    }

    /// Send one echo request (`pinger`); false when the count is reached.
    fn pinger(&mut self) -> bool {
        if self.o.count != 0 && self.ntransmitted >= self.o.count {
            return false;
        }
        let seq = (self.ntransmitted % 65536) as u16;
        self.ntransmitted += 1;
        let bit = usize::from(seq) % MAX_DUP_CHK;
        self.rcvd[bit >> 3] &= !(1 << (bit & 7));
        let cc = self.pingerlen();
        let p = &mut self.outpack;
        p[0] = ICMP6_ECHO_REQUEST;
        p[1] = 0;
        p[2] = 0;
        p[3] = 0;
        p[4..6].copy_from_slice(&self.ident.to_be_bytes());
        p[6..8].copy_from_slice(&seq.to_be_bytes());
        if self.timing {
            let (sec, usec) = now_tv();
            p[8..12].copy_from_slice(&sec.to_be_bytes());
            p[12..16].copy_from_slice(&usec.to_be_bytes());
        }
        let r = self
            .s
            .sendto(self.fd, &self.outpack[..cc], 0, Some(&self.dst.to_bytes()));
        match r {
            Ok(n) if n == cc => {}
            Ok(n) => println!("ping6: wrote {} {cc} chars, ret={n}", self.o.target),
            Err(e) => {
                warn("sendmsg", e);
                println!("ping6: wrote {} {cc} chars, ret=-1", self.o.target);
            }
        }
        if !self.o.quiet && self.o.flood {
            print!(".");
            let _ = std::io::stdout().flush();
        }
        true
    }

    /// Print a received message (`pr_pack`).
    fn pr_pack(&mut self, buf: &[u8], info: &Ip6RecvInfo) {
        let Some(from) = info.from else {
            if self.o.verbose {
                warnx("invalid peername");
            }
            return;
        };
        let cc = buf.len();
        if cc < ICMP6ECHOLEN {
            if self.o.verbose {
                warnx(format!(
                    "packet too short ({cc} bytes) from {}",
                    pr_addr6(&from, &self.names)
                ));
            }
            return;
        }
        let Some(hoplim) = info.hoplimit else {
            warnx("failed to get receiving hop limit");
            return;
        };
        if info.pktinfo.is_none() {
            warnx("failed to get receiving packet information");
            return;
        }
        let t = buf[0];
        let id = u16::from_be_bytes([buf[4], buf[5]]);
        if t == ICMP6_ECHO_REPLY && id == self.ident {
            let seq = u16::from_be_bytes([buf[6], buf[7]]);
            self.nreceived += 1;
            let mut triptime = 0.0;
            if self.timing && cc >= ICMP6ECHOLEN + ICMP6ECHOTMLEN {
                let sec = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                let usec = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
                let (ns, nu) = now_tv();
                let d =
                    (i64::from(ns) - i64::from(sec)) * 1_000_000 + i64::from(nu) - i64::from(usec);
                triptime = d as f64 / 1000.0;
                self.tsum += triptime;
                self.tsumsq += triptime * triptime;
                if triptime < self.tmin {
                    self.tmin = triptime;
                }
                if triptime > self.tmax {
                    self.tmax = triptime;
                }
            }
            let bit = usize::from(seq) % MAX_DUP_CHK;
            let dup = self.rcvd[bit >> 3] & (1 << (bit & 7)) != 0;
            if dup {
                self.nrepeats += 1;
                self.nreceived -= 1;
            } else {
                self.rcvd[bit >> 3] |= 1 << (bit & 7);
            }
            if self.o.quiet {
                return;
            }
            if self.o.flood {
                print!("\u{8}");
                let _ = std::io::stdout().flush();
                return;
            }
            let mut line = format!(
                "{cc} bytes from {}, icmp_seq={seq} hlim={hoplim}",
                pr_addr6(&from, &self.names)
            );
            if self.o.verbose {
                if let Some((d, i)) = info.pktinfo {
                    line.push_str(&format!(
                        " dst={}",
                        pr_addr6(&SockaddrIn6::new(d, i), &self.names)
                    ));
                }
            }
            if self.timing {
                line.push_str(&format!(" time={triptime:.3} ms"));
            }
            if dup {
                line.push_str("(DUP!)");
            }
            // Check the data past the time stamp.
            let start = ICMP6ECHOLEN + ICMP6ECHOTMLEN;
            for (k, (&got, &want)) in buf.iter().zip(self.outpack.iter()).enumerate().skip(start) {
                if got != want {
                    line.push_str(&format!(
                        "\nwrong data byte #{} should be 0x{want:x} but was 0x{got:x}",
                        k - ICMP6ECHOLEN
                    ));
                    break;
                }
            }
            println!("{line}");
        } else {
            if !self.o.verbose {
                return;
            }
            println!(
                "{cc} bytes from {}: {}",
                pr_addr6(&from, &self.names),
                pr_icmph(buf)
            );
        }
        let _ = std::io::stdout().flush();
    }

    /// The statistics block (`summary`).
    fn summary(&self) {
        let mut out = String::new();
        out.push_str(&format!("\n--- {} ping6 statistics ---\n", self.o.target));
        out.push_str(&format!("{} packets transmitted, ", self.ntransmitted));
        out.push_str(&format!("{} packets received, ", self.nreceived));
        if self.nrepeats > 0 {
            out.push_str(&format!("+{} duplicates, ", self.nrepeats));
        }
        if self.ntransmitted > 0 {
            if self.nreceived > self.ntransmitted {
                out.push_str("-- somebody's duplicating packets!");
            } else {
                out.push_str(&format!(
                    "{:.1}% packet loss",
                    (self.ntransmitted - self.nreceived) as f64 * 100.0 / self.ntransmitted as f64
                ));
            }
        }
        out.push('\n');
        if self.nreceived > 0 && self.timing {
            let num = (self.nreceived + self.nrepeats) as f64;
            let avg = self.tsum / num;
            let dev = (self.tsumsq / num - avg * avg).max(0.0).sqrt();
            out.push_str(&format!(
                "round-trip min/avg/max/std-dev = {:.3}/{avg:.3}/{:.3}/{dev:.3} ms\n",
                self.tmin, self.tmax
            ));
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
    }
}

/// `pr_icmph`: a description of a non-reply ICMPv6 message (with `-v`).
fn pr_icmph(b: &[u8]) -> String {
    let code = b.get(1).copied().unwrap_or(0);
    let w = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let quote = &b[8..];
    match b[0] {
        ICMP6_DST_UNREACH => {
            let t = match code {
                0 => "No Route to Destination".to_string(),
                1 => "Destination Administratively Unreachable".to_string(),
                2 => "Destination Unreachable Beyond Scope".to_string(),
                3 => "Destination Host Unreachable".to_string(),
                4 => "Destination Port Unreachable".to_string(),
                c => format!("Destination Unreachable, Bad Code: {c}"),
            };
            format!("{t}\n{}", pr_retip(quote))
        }
        ICMP6_PACKET_TOO_BIG => format!("Packet too big mtu = {w}\n{}", pr_retip(quote)),
        ICMP6_TIME_EXCEEDED => {
            let t = match code {
                0 => "Time to live exceeded".to_string(),
                1 => "Frag reassembly time exceeded".to_string(),
                c => format!("Time exceeded, Bad Code: {c}"),
            };
            format!("{t}\n{}", pr_retip(quote))
        }
        ICMP6_PARAM_PROB => {
            let t = match code {
                0 => "Erroneous Header ".to_string(),
                1 => "Unknown Nextheader ".to_string(),
                2 => "Unrecognized Option ".to_string(),
                c => format!("Bad code({c}) "),
            };
            format!(
                "Parameter problem: {t}pointer = 0x{w:02x}\n{}",
                pr_retip(quote)
            )
        }
        ICMP6_ECHO_REQUEST => "Echo Request".into(),
        ICMP6_ECHO_REPLY => "Echo Reply".into(),
        130 => "Listener Query".into(),
        131 => "Listener Report".into(),
        132 => "Listener Done".into(),
        133 => "Router Solicitation".into(),
        134 => "Router Advertisement".into(),
        135 => "Neighbor Solicitation".into(),
        136 => "Neighbor Advertisement".into(),
        137 => "Redirect".into(),
        t => format!("Bad ICMP type: {t}"),
    }
}

/// `pr_retip`: the quoted IPv6 header and what follows it.
fn pr_retip(q: &[u8]) -> String {
    if q.len() < IP6LEN {
        return "IP6...".into();
    }
    let vfc = u32::from_be_bytes([q[0], q[1], q[2], q[3]]);
    let mut s = format!(
        "Vr TC  Flow Plen Nxt Hlim\n {:1x} {:02x} {:05x} {:04x}  {:02x}   {:02x}\n",
        vfc >> 28,
        (vfc >> 20) & 0xff,
        vfc & 0xfffff,
        u16::from_be_bytes([q[4], q[5]]),
        q[6],
        q[7]
    );
    let a = |o: usize| {
        let mut x = [0u8; 16];
        x.copy_from_slice(&q[o..o + 16]);
        Ipv6Addr::from(x)
    };
    s.push_str(&format!("{}->{}\n", a(8), a(24)));
    let mut nh = q[6];
    let mut cp = IP6LEN;
    while q.len().saturating_sub(cp) >= 8 {
        let (name, hlen) = match nh {
            0 => ("HBH ", (usize::from(q[cp + 1]) + 1) * 8),
            60 => ("DSTOPT ", (usize::from(q[cp + 1]) + 1) * 8),
            44 => ("FRAG ", 8),
            43 => ("RTHDR ", (usize::from(q[cp + 1]) + 1) * 8),
            58 => {
                s.push_str(&format!("ICMP6: type = {}, code = {}", q[cp], q[cp + 1]));
                return s;
            }
            50 => {
                s.push_str("ESP");
                return s;
            }
            6 | 17 => {
                s.push_str(&format!(
                    "{}: from port {}, to port {} (decimal)",
                    if nh == 6 { "TCP" } else { "UDP" },
                    u16::from_be_bytes([q[cp], q[cp + 1]]),
                    u16::from_be_bytes([q[cp + 2], q[cp + 3]])
                ));
                return s;
            }
            _ => {
                s.push_str(&format!("Unknown Header({nh})"));
                return s;
            }
        };
        s.push_str(name);
        nh = q[cp];
        cp += hlen;
        if cp >= q.len() {
            s.push_str("...");
            return s;
        }
    }
    s.push_str("...");
    s
}

/// The source address the kernel picks for `dst`: connect a UDP socket
/// (with the hop limit `-h` set) and ask it.
fn kernel_source(s: &mut Sys, hoplimit: Option<i32>, dst: SockaddrIn6) -> SockaddrIn6 {
    let d = s
        .socket(i32::from(AF_INET6), SOCK_DGRAM, 0)
        .unwrap_or_else(|e| err(1, "UDP socket", e));
    if let Some(h) = hoplimit {
        if let Err(e) = s.setsockopt(d, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &h.to_le_bytes()) {
            err(1, "UDP setsockopt(IPV6_UNICAST_HOPS)", e)
        }
    }
    let mut nxt = dst;
    nxt.port = DUMMY_PORT;
    if let Err(e) = s.connect(d, &nxt.to_bytes()) {
        err(1, "UDP connect", e)
    }
    let mut a = s
        .getsockname(d)
        .and_then(|b| SockaddrIn6::from_bytes(&b))
        .unwrap_or_else(|e| err(1, "getsockname", e));
    let _ = s.close(d);
    a.port = 0;
    a
}

/// The echo request buffer: the data after the time stamp is the `-p`
/// pattern, or the byte sequence.
fn outpack(o: &Opts) -> Vec<u8> {
    let mut outpack = vec![0u8; ICMP6ECHOLEN + o.datalen.max(ICMP6ECHOTMLEN)];
    match &o.pattern {
        Some(p) if !p.is_empty() => {
            for (k, b) in outpack[ICMP6ECHOLEN + ICMP6ECHOTMLEN..]
                .iter_mut()
                .enumerate()
            {
                *b = p[k % p.len()];
            }
        }
        _ => {
            for (k, b) in outpack
                .iter_mut()
                .enumerate()
                .skip(ICMP6ECHOLEN + ICMP6ECHOTMLEN)
            {
                *b = (k - ICMP6ECHOTMLEN) as u8;
            }
        }
    }
    outpack
}

fn main() {
    libvimage::sigpipe_default();
    let mut p = Ping6::open(parse_args());
    let interrupted = p.run();
    p.summary();
    if interrupted {
        // As FreeBSD's onint: die of the signal the user sent.
        // SAFETY: restoring the default action and raising a signal.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
        std::process::exit(1);
    }
    std::process::exit(if p.nreceived == 0 { 2 } else { 0 })
}

impl Ping6 {
    /// Resolve the target, open and set up the raw socket, find the source,
    /// print the `PING6` line.
    fn open(o: Opts) -> Ping6 {
        let mut s = Sys::open_or_exit();
        let names = s.ifnames();
        let Some(mut dst) = resolve6(&o.target, &names) else {
            errx(1, EAI_NONAME_TEXT)
        };
        let fd = s
            .socket(i32::from(AF_INET6), SOCK_RAW, IPPROTO_ICMPV6)
            .unwrap_or_else(|e| err(1, "socket", e));
        if let Some(ifn) = &o.ifname {
            let Some(idx) = names.index(ifn) else {
                errx(1, format!("{ifn}: invalid interface name"))
            };
            if dst.scope_id == 0
                && (dst.addr.is_multicast() || dst.addr.segments()[0] & 0xffc0 == 0xfe80)
            {
                dst.scope_id = idx;
            }
            if dst.addr.is_multicast() {
                let _ = s.setsockopt(
                    fd,
                    IPPROTO_IPV6,
                    IPV6_MULTICAST_IF,
                    &(idx as i32).to_le_bytes(),
                );
            }
        }
        let mut src = None;
        if let Some(sa) = &o.src {
            let Some(a) = resolve6(sa, &names) else {
                errx(1, format!("invalid source address: {EAI_NONAME_TEXT}"))
            };
            if let Err(e) = s.bind(fd, &a.to_bytes()) {
                err(1, "bind", e)
            }
            src = Some(a);
        }
        if let Some(h) = o.hoplimit {
            let b = h.to_le_bytes();
            if let Err(e) = s.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &b) {
                err(1, "setsockopt(IPV6_UNICAST_HOPS)", e)
            }
            if let Err(e) = s.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &b) {
                err(1, "setsockopt(IPV6_MULTICAST_HOPS)", e)
            }
        } else if dst.addr.is_multicast() {
            let _ = s.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &64i32.to_le_bytes());
        }
        let mut filt = Icmp6Filter::BLOCK_ALL;
        if o.verbose {
            filt = Icmp6Filter::PASS_ALL;
        } else {
            filt.set_pass(ICMP6_ECHO_REPLY);
        }
        if let Err(e) = s.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt.to_bytes()) {
            err(1, "setsockopt(ICMP6_FILTER)", e)
        }
        // The source the kernel will use.
        let src = src.unwrap_or_else(|| kernel_source(&mut s, o.hoplimit, dst));
        for opt in [IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT] {
            if let Err(e) = s.setsockopt(fd, IPPROTO_IPV6, opt, &1i32.to_le_bytes()) {
                let n = if opt == IPV6_RECVPKTINFO {
                    "setsockopt(IPV6_RECVPKTINFO)"
                } else {
                    "setsockopt(IPV6_RECVHOPLIMIT)"
                };
                warn(n, e);
            }
        }
        let outpack = outpack(&o);
        let timing = o.datalen >= ICMP6ECHOTMLEN;
        let p = Ping6 {
            ident: (std::process::id() & 0xffff) as u16,
            names,
            o,
            s,
            fd,
            dst,
            outpack,
            timing,
            ntransmitted: 0,
            nreceived: 0,
            nrepeats: 0,
            rcvd: vec![0u8; MAX_DUP_CHK / 8],
            tmin: 999_999_999.0,
            tmax: 0.0,
            tsum: 0.0,
            tsumsq: 0.0,
        };
        println!(
            "PING6({}=40+8+{} bytes) {} --> {}",
            40 + p.pingerlen(),
            p.pingerlen() - 8,
            pr_addr6(&src, &p.names),
            pr_addr6(&p.dst, &p.names)
        );
        let _ = std::io::stdout().flush();
        p
    }

    /// Preload, then send and receive until the count, `-o` or SIGINT ends
    /// the run; true if SIGINT did.
    fn run(&mut self) -> bool {
        for _ in 0..self.o.preload {
            self.pinger();
        }
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, onsignal as *const () as libc::sighandler_t);
        }
        let interval = if self.o.flood {
            Duration::from_millis(10)
        } else {
            self.o.interval
        };
        let mut next = Instant::now();
        let mut done_sending = false;
        let mut timeo = RecvSlice::new();
        loop {
            if STOP.load(Ordering::SeqCst) {
                break true;
            }
            let now = Instant::now();
            if now >= next {
                if done_sending {
                    break false;
                }
                if self.pinger() {
                    next = now + interval;
                }
                if self.o.count != 0 && self.ntransmitted >= self.o.count {
                    // Wait two round trips for the last reply, or ten seconds.
                    done_sending = true;
                    let wait = if self.nreceived > 0 {
                        Duration::from_secs(((2.0 * self.tmax / 1000.0) as u64).max(1))
                    } else {
                        Duration::from_secs(MAXWAIT_S)
                    };
                    next = now + wait;
                }
                continue;
            }
            timeo.set(&mut self.s, self.fd, next, now);
            match self.s.recvfrom(self.fd, MAXPACKETLEN, 0) {
                Ok((buf, addr)) => {
                    match Ip6RecvInfo::from_bytes(&addr) {
                        Ok(info) => self.pr_pack(&buf, &info),
                        Err(_) => {
                            if self.o.verbose {
                                warnx("invalid peername");
                            }
                        }
                    }
                    if (self.o.once && self.nreceived > 0)
                        || (self.o.count > 0 && self.nreceived >= self.o.count)
                    {
                        break false;
                    }
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(e) => {
                    warn("recvmsg", e);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}
