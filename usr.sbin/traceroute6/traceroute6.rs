//! traceroute6(8): probes with growing hop limits, listening on a raw ICMPv6
//! socket for the time-exceeded messages of the routers on the way and the
//! destination's port unreachable (UDP probes, the default), echo reply (`-I`)
//! or nothing (`-N`).  Output as FreeBSD's: the header on stderr
//! (`traceroute6 to HOST (ADDR) from SRC, 64 hops max, 12 byte packets`), then
//! `%2d ` and per probe the answering address (when it changes), `  T ms`, or
//! ` *`; marks `!N !P !S !A` for unreachables and ` !` when the reply arrived
//! with hop limit 1 or less.
//!
//! UDP probes leave a UDP socket bound to the source (an ephemeral port) for
//! ports 33435, 33436, ...  Options: `-d -f firsthop -I -l -m hoplimit -n -N
//! -p port -q probes -r -s src -U -v -w waittime`, `target [datalen]`.

use std::io::Write;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libvimage::{
    getopt, pr_addr6, resolve6, strerror, timeval_bytes, Errno, IfNames, Sys, SOL_SOCKET,
    SO_RCVTIMEO,
};
use vimage_abi::netinet6_in6::*;
use vimage_abi::sysctl::SysctlValue;

const ICMP6_DST_UNREACH: u8 = 1;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
const ICMP6ECHOLEN: usize = 8;
const IPPROTO_NONE: i32 = 59;
const MAXPACKET: usize = 65535;
/// `sizeof(struct opacket)`: seq, hops, pad, tv32.
const OPACKET_LEN: usize = 12;
/// The port the source-finding socket connects to.
const DUMMY_PORT: u16 = 10010;

fn usage() -> ! {
    eprintln!(
        "usage: traceroute6 [-dIlnNrUv] [-f firsthop] [-g gateway] [-m hoplimit]
       [-p port] [-q probes] [-s src] [-w waittime] target [datalen]"
    );
    std::process::exit(1)
}

fn fail(msg: &str) -> ! {
    eprintln!("traceroute6: {msg}");
    std::process::exit(1)
}

/// `perror(3)`: `MSG: STRERROR` on stderr.
fn perror(msg: &str, e: Errno) {
    eprintln!("{msg}: {}", strerror(e));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Udp,
    Icmp,
    None,
}

struct Opts {
    first_hop: u64,
    max_hops: Option<u64>,
    nprobes: u64,
    port: u16,
    proto: Proto,
    source: Option<String>,
    verbose: bool,
    waittime: u64,
    target: String,
    datalen: Option<usize>,
}

fn strtoul(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return u64::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

fn parse_args() -> Opts {
    let a = getopt("A:adf:g:Ilm:Nnp:q:rs:Uvw:", usage);
    let mut o = Opts {
        first_hop: 1,
        max_hops: None,
        nprobes: 3,
        port: 32768 + 666,
        proto: Proto::Udp,
        source: None,
        verbose: false,
        waittime: 5,
        target: String::new(),
        datalen: None,
    };
    for (c, v) in a.opts {
        match c {
            'f' => match strtoul(&v) {
                Some(n) if n <= 255 => o.first_hop = n,
                _ => fail("invalid min hoplimit."),
            },
            'g' => fail(&format!("unknown host {v}")),
            'I' => o.proto = Proto::Icmp,
            'm' => match strtoul(&v) {
                Some(n) if n <= 255 => o.max_hops = Some(n),
                _ => fail("invalid max hoplimit."),
            },
            'N' => o.proto = Proto::None,
            'p' => match strtoul(&v) {
                None => fail("invalid port."),
                Some(n) if n == 0 || n > 0xffff => fail("port out of range."),
                Some(n) => o.port = n as u16,
            },
            'q' => match strtoul(&v) {
                None => fail("invalid nprobes."),
                Some(0) => fail("nprobes must be >0."),
                Some(n) => o.nprobes = n,
            },
            's' => o.source = Some(v),
            'U' => o.proto = Proto::Udp,
            'v' => o.verbose = true,
            'w' => match strtoul(&v) {
                None => fail("invalid wait time."),
                Some(0) => fail("wait must be >= 1 sec."),
                Some(n) => o.waittime = n,
            },
            _ => {} // -a, -A, -d, -l, -n, -r: accepted, no effect here.
        }
    }
    let rest = a.operands.as_slice();
    if rest.is_empty() || rest.len() > 2 {
        usage()
    }
    o.target = rest[0].clone();
    if let Some(l) = rest.get(1) {
        match strtoul(l) {
            Some(n) => o.datalen = Some(n as usize),
            None => fail("invalid packet length."),
        }
    }
    o
}

/// The upper-layer header of the packet an error quotes (`get_uphdr`).
fn get_uphdr(q: &[u8], want: u8) -> Option<&[u8]> {
    if q.len() < 40 {
        return None;
    }
    let mut nh = q[6];
    let mut cp = 40usize;
    loop {
        let left = q.len().saturating_sub(cp);
        if left < if nh == IPPROTO_NONE as u8 { 0 } else { 8 } {
            return None;
        }
        let hlen = match nh {
            50 | 6 => return None,
            58 | 17 | 59 => return (nh == want).then(|| &q[cp..]),
            44 => 8,
            51 => (usize::from(q[cp + 1]) + 2) * 4,
            _ => (usize::from(q[cp + 1]) + 1) * 8,
        };
        nh = q[cp];
        cp += hlen;
    }
}

fn pr_type(t: u8) -> &'static str {
    match t {
        1 => "Destination Unreachable",
        2 => "Packet Too Big",
        3 => "Time Exceeded",
        4 => "Parameter Problem",
        128 => "Echo Request",
        129 => "Echo Reply",
        130 => "Group Membership Query",
        131 => "Group Membership Report",
        132 => "Group Membership Reduction",
        133 => "Router Solicitation",
        134 => "Router Advertisement",
        135 => "Neighbor Solicitation",
        136 => "Neighbor Advertisement",
        137 => "Redirect",
        _ => "Unknown",
    }
}

struct Tr {
    o: Opts,
    s: Sys,
    rcv: i32,
    snd: i32,
    dst: SockaddrIn6,
    src: SockaddrIn6,
    names: IfNames,
    srcport: u16,
    ident: u16,
    datalen: usize,
    max_hops: u64,
    /// The last probe's sequence number.
    seq: u16,
}

impl Tr {
    fn send_probe(&mut self, seq: u16, hops: u64) {
        if let Err(e) = self.s.setsockopt(
            self.snd,
            IPPROTO_IPV6,
            IPV6_UNICAST_HOPS,
            &(hops as i32).to_le_bytes(),
        ) {
            perror("setsockopt IPV6_UNICAST_HOPS", e);
        }
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut tv = [0u8; 8];
        tv[..4].copy_from_slice(&(d.as_secs() as u32).to_be_bytes());
        tv[4..].copy_from_slice(&d.subsec_micros().to_be_bytes());
        let pkt = match self.o.proto {
            Proto::Icmp => {
                let mut p = vec![0u8; self.datalen];
                p[0] = ICMP6_ECHO_REQUEST;
                p[4..6].copy_from_slice(&self.ident.to_be_bytes());
                p[6..8].copy_from_slice(&seq.to_be_bytes());
                p[ICMP6ECHOLEN..ICMP6ECHOLEN + 8].copy_from_slice(&tv);
                p
            }
            Proto::Udp => {
                // struct opacket: seq, hops, pad, the send time.
                let mut p = vec![0u8; self.datalen];
                p[0] = seq as u8;
                p[1] = hops as u8;
                p[4..12].copy_from_slice(&tv);
                p
            }
            Proto::None => Vec::new(),
        };
        let want = pkt.len();
        let mut dst = self.dst;
        dst.port = self.o.port.wrapping_add(seq);
        match self.s.sendto(self.snd, &pkt, 0, Some(&dst.to_bytes())) {
            Ok(n) if n == want => {}
            r => {
                let ret = match r {
                    Ok(n) => n as i64,
                    Err(e) => {
                        perror("sendto", e);
                        -1
                    }
                };
                println!(
                    "traceroute6: wrote {} {} chars, ret={ret}",
                    self.o.target, self.datalen
                );
                let _ = std::io::stdout().flush();
            }
        }
    }

    /// `packet_ok`: 0 not ours, -1 time exceeded, code+1 unreachable (an echo
    /// reply counts as port unreachable).
    fn packet_ok(&self, buf: &[u8], info: &Ip6RecvInfo, seq: u16) -> i32 {
        if buf.len() < ICMP6ECHOLEN {
            return 0;
        }
        let (t, code) = (buf[0], buf[1]);
        if (t == ICMP6_TIME_EXCEEDED && code == 0) || t == ICMP6_DST_UNREACH {
            let want = match self.o.proto {
                Proto::Icmp => 58,
                Proto::Udp => 17,
                Proto::None => 59,
            };
            let Some(up) = get_uphdr(&buf[8..], want) else {
                if self.o.verbose {
                    eprintln!("traceroute6: failed to get upper layer header");
                }
                return 0;
            };
            let ok = match self.o.proto {
                Proto::Icmp => {
                    up.len() >= 8
                        && up[4..6] == self.ident.to_be_bytes()
                        && up[6..8] == seq.to_be_bytes()
                }
                Proto::Udp => {
                    up.len() >= 4
                        && up[0..2] == self.srcport.to_be_bytes()
                        && up[2..4] == self.o.port.wrapping_add(seq).to_be_bytes()
                }
                Proto::None => true,
            };
            if ok {
                return if t == ICMP6_TIME_EXCEEDED {
                    -1
                } else {
                    i32::from(code) + 1
                };
            }
        } else if self.o.proto == Proto::Icmp
            && t == ICMP6_ECHO_REPLY
            && buf[4..6] == self.ident.to_be_bytes()
            && buf[6..8] == seq.to_be_bytes()
        {
            return 4 + 1;
        }
        if self.o.verbose {
            let from = info
                .from
                .map(|f| pr_addr6(&f, &self.names))
                .unwrap_or_else(|| "invalid".into());
            let to = info
                .pktinfo
                .map(|(a, _)| a.to_string())
                .unwrap_or_else(|| "?".into());
            let mut out = format!("\n{} bytes from {from} to {to}", buf.len());
            out.push_str(&format!(": icmp type {t} ({}) code {code}\n", pr_type(t)));
            let p = &buf[8..];
            for (i, b) in p.iter().enumerate().take(buf.len()) {
                if i % 16 == 0 {
                    out.push_str(&format!("{i:04x}:"));
                }
                if i % 4 == 0 {
                    out.push(' ');
                }
                out.push_str(&format!("{b:02x}"));
                if i % 16 == 15 {
                    out.push('\n');
                }
            }
            if !p.len().is_multiple_of(16) {
                out.push('\n');
            }
            print!("{out}");
        }
        0
    }

    /// Wait up to `waittime` for an ICMPv6 message on the receive socket.
    fn wait_for_reply(&mut self, deadline: Instant) -> Option<(Vec<u8>, Ip6RecvInfo)> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let t = left.max(Duration::from_millis(1));
            let _ = self
                .s
                .setsockopt(self.rcv, SOL_SOCKET, SO_RCVTIMEO, &timeval_bytes(t));
            match self.s.recvfrom(self.rcv, 512, 0) {
                Ok((b, a)) => {
                    let info = Ip6RecvInfo::from_bytes(&a).unwrap_or_default();
                    return Some((b, info));
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}

fn main() {
    libvimage::sigpipe_default();
    let mut tr = Tr::open(parse_args());
    for hops in tr.o.first_hop..=tr.max_hops {
        if tr.hop(hops) {
            break;
        }
    }
    std::process::exit(0)
}

impl Tr {
    /// Open the sockets, resolve the target and the source, bind, print the
    /// header.
    fn open(o: Opts) -> Tr {
        let mut s = Sys::open_or_exit();
        let rcv = match s.socket(i32::from(AF_INET6), SOCK_RAW, IPPROTO_ICMPV6) {
            Ok(f) => f,
            Err(e) => {
                perror("socket(ICMPv6)", e);
                std::process::exit(5)
            }
        };
        let defhlim = match s.sysctl("net.inet6.ip6.hlim").map(|r| r.value) {
            Ok(SysctlValue::Int(n)) => n.max(0) as u64,
            _ => 64,
        };
        for opt in [IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT] {
            if let Err(e) = s.setsockopt(rcv, IPPROTO_IPV6, opt, &1i32.to_le_bytes()) {
                let n = if opt == IPV6_RECVPKTINFO {
                    "setsockopt(IPV6_RECVPKTINFO)"
                } else {
                    "setsockopt(IPV6_RECVHOPLIMIT)"
                };
                libvimage::err(1, n, e)
            }
        }
        let max_hops = o.max_hops.unwrap_or(defhlim);
        let snd = match o.proto {
            Proto::Icmp => rcv,
            Proto::Udp => match s.socket(i32::from(AF_INET6), SOCK_DGRAM, 0) {
                Ok(f) => f,
                Err(e) => {
                    perror("socket(SOCK_DGRAM)", e);
                    std::process::exit(5)
                }
            },
            Proto::None => match s.socket(i32::from(AF_INET6), SOCK_RAW, IPPROTO_NONE) {
                Ok(f) => f,
                Err(e) => {
                    perror("socket(SOCK_RAW)", e);
                    std::process::exit(5)
                }
            },
        };
        if max_hops < o.first_hop {
            fail("max hoplimit must be larger than first hoplimit.");
        }
        let names = s.ifnames();
        let Some(dst) = resolve6(&o.target, &names) else {
            fail("hostname nor servname provided, or not known")
        };
        let minlen = match o.proto {
            Proto::Icmp => ICMP6ECHOLEN + 8,
            Proto::Udp => OPACKET_LEN,
            Proto::None => 0,
        };
        let datalen = match (o.proto, o.datalen) {
            (Proto::None, _) => 0,
            (_, None) => minlen,
            (_, Some(l)) if l < minlen => minlen,
            (_, Some(l)) if l >= MAXPACKET => {
                fail(&format!("packet size must be {minlen} <= s < {MAXPACKET}."))
            }
            (_, Some(l)) => l,
        };
        let src = match &o.source {
            Some(sa) => match resolve6(sa, &names) {
                Some(a) => a,
                None => {
                    println!("traceroute6: {sa}: hostname nor servname provided, or not known");
                    std::process::exit(1)
                }
            },
            None => {
                let d = s
                    .socket(i32::from(AF_INET6), SOCK_DGRAM, 0)
                    .unwrap_or_else(|e| {
                        perror("socket", e);
                        std::process::exit(1)
                    });
                let mut nxt = dst;
                nxt.port = DUMMY_PORT;
                if let Err(e) = s.connect(d, &nxt.to_bytes()) {
                    perror("connect", e);
                    std::process::exit(1)
                }
                let a = match s.getsockname(d).and_then(|b| SockaddrIn6::from_bytes(&b)) {
                    Ok(a) => a,
                    Err(e) => {
                        perror("getsockname", e);
                        std::process::exit(1)
                    }
                };
                let _ = s.close(d);
                a
            }
        };
        let mut src = src;
        src.port = 0;
        if let Err(e) = s.bind(snd, &src.to_bytes()) {
            perror("bind", e);
            std::process::exit(1)
        }
        // The port the probes leave from.
        let srcport = match o.proto {
            Proto::Udp => match s.getsockname(snd).and_then(|b| SockaddrIn6::from_bytes(&b)) {
                Ok(a) => a.port,
                Err(e) => {
                    perror("getsockname", e);
                    std::process::exit(1)
                }
            },
            _ => 0,
        };
        let pid = std::process::id();
        let tr = Tr {
            srcport,
            ident: (pid & 0xffff) as u16,
            o,
            s,
            rcv,
            snd,
            dst,
            src,
            names,
            datalen,
            max_hops,
            seq: 0,
        };
        eprintln!(
            "traceroute6 to {} ({}) from {}, {max_hops} hops max, {datalen} byte packets",
            tr.o.target,
            pr_addr6(&tr.dst, &tr.names),
            pr_addr6(&tr.src, &tr.names)
        );
        if tr.o.first_hop > 1 {
            println!("Skipping {} intermediate hops", tr.o.first_hop - 1);
        }
        tr
    }

    /// The line for hop limit `hops`; true when the trace ends there.
    fn hop(&mut self, hops: u64) -> bool {
        let mut lastaddr: Option<Ipv6Addr> = None;
        let mut got_there = false;
        let mut unreachable = 0u64;
        let mut line = format!("{hops:2} ");
        for probe in 0..self.o.nprobes {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let t1 = Instant::now();
            self.send_probe(seq, hops);
            let deadline = t1 + Duration::from_secs(self.o.waittime);
            let mut answered = false;
            while let Some((buf, info)) = self.wait_for_reply(deadline) {
                let i = self.packet_ok(&buf, &info, seq);
                if i == 0 {
                    continue;
                }
                let from = info
                    .from
                    .unwrap_or(SockaddrIn6::new(Ipv6Addr::UNSPECIFIED, 0));
                if lastaddr != Some(from.addr) {
                    if probe > 0 {
                        line.push_str("\n   ");
                    }
                    line.push_str(&format!(" {}", pr_addr6(&from, &self.names)));
                    if self.o.verbose {
                        let to = info
                            .pktinfo
                            .map(|(a, _)| a.to_string())
                            .unwrap_or_else(|| "?".into());
                        line.push_str(&format!(" {} bytes of data to {to}", buf.len()));
                    }
                    lastaddr = Some(from.addr);
                }
                let ms = t1.elapsed().as_secs_f64() * 1000.0;
                line.push_str(&format!("  {ms:.3} ms"));
                match i - 1 {
                    0 => {
                        unreachable += 1;
                        line.push_str(" !N");
                    }
                    1 => {
                        unreachable += 1;
                        line.push_str(" !P");
                    }
                    2 => {
                        unreachable += 1;
                        line.push_str(" !S");
                    }
                    3 => {
                        unreachable += 1;
                        line.push_str(" !A");
                    }
                    4 => {
                        if info.hoplimit.is_some_and(|h| (0..=1).contains(&h)) {
                            line.push_str(" !");
                        }
                        got_there = true;
                    }
                    _ => {}
                }
                answered = true;
                break;
            }
            if !answered {
                line.push_str(" *");
            }
            print!("{line}");
            line.clear();
            let _ = std::io::stdout().flush();
        }
        println!();
        got_there || (unreachable > 0 && unreachable >= self.o.nprobes.div_ceil(2))
    }
}
