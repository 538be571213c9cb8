//! nc(1): OpenBSD's netcat through the vimage socket API.
//!
//! ```text
//! nc [-46lNnuvz] [-J interface] [-M ttl] [-p source_port] [-s sourceaddr] [-w timeout]
//!    [destination] [port]
//! ```
//!
//! * `nc HOST PORT`: connect (TCP, or UDP with `-u`), copy stdin to the
//!   connection and the connection to stdout.
//! * `nc -l [HOST] PORT` (or `-l -p PORT`): listen, take one connection (UDP:
//!   the first sender) and copy the same way.
//! * `nc -z HOST PORT[-PORT]`: only check that something listens (`-v` says so).
//! * Multicast (UDP): `nc -lu GROUP PORT` binds to the group and joins it,
//!   `nc -u GROUP PORT` sends to it.  `-J interface` (a name, or for IPv4 one
//!   of its addresses; a vimage extension, as neither OpenBSD's nor
//!   FreeBSD's nc has one) says where: the interface joined
//!   (`IP_ADD_MEMBERSHIP`, `IPV6_JOIN_GROUP`) or sent by
//!   (`IP_MULTICAST_IF`, `IPV6_MULTICAST_IF`); without it the route to the
//!   group decides (an IPv6 `GROUP%ifname` names it too).  `-M ttl`
//!   (OpenBSD's) sets the TTL or hop limit of what is sent, multicast
//!   included.
//! * `-N` shuts the connection down for writing after EOF on stdin; `-w`
//!   bounds connecting and idleness; `-4`/`-6` pick the family; `-n` never
//!   looks names up (there is no resolver here: only literal addresses and
//!   `localhost` are accepted anyway).
//!
//! Messages are OpenBSD's: `Connection to 10.0.0.1 80 port [tcp/http]
//! succeeded!`, `nc: connect to 10.0.0.1 port 81 (tcp) failed: Connection
//! refused`, `Listening on 0.0.0.0 1234`, `Connection received on 10.0.0.2
//! 51234`.  Two threads (two kernel connections of this one process, sharing
//! its descriptor table) move the two directions.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use libvimage::getopt::Getopt;
use libvimage::netdb::getservbyport;
use libvimage::{
    errx, getaddrinfo, parse_sockaddr, sockaddr, strerror, timeval_bytes, Errno, Sys, PF_INET6,
    POLLOUT, SHUT_WR, SOL_SOCKET, SO_ERROR, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT,
};
use vimage_abi::netinet6_in6::{
    Ipv6Mreq, IPPROTO_IPV6, IPV6_JOIN_GROUP, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF,
    IPV6_UNICAST_HOPS,
};
use vimage_abi::netinet_in::{
    IpMreq, IPPROTO_IP, IP_ADD_MEMBERSHIP, IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_TTL, PF_INET,
    SOCK_DGRAM, SOCK_STREAM,
};

const USAGE: &str = "usage: nc [-46lNnuvz] [-J interface] [-M ttl] [-p source_port] [-s sourceaddr]\n\t  [-w timeout] [destination] [port]";

/// Command line options.
#[derive(Debug, Default)]
struct Opts {
    family: Option<i32>,
    listen: bool,
    nshut: bool,
    numeric: bool,
    udp: bool,
    verbose: bool,
    zero: bool,
    sport: Option<u16>,
    saddr: Option<String>,
    timeout: Option<u64>,
    /// `-J`: the interface of a multicast group.
    mcast_if: Option<String>,
    /// `-M`: TTL / hop limit.
    ttl: Option<i32>,
    args: Vec<String>,
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(1)
}

fn parse_args() -> Opts {
    // Options may follow the operands, as they always could here.
    let a = Getopt::new("46J:lM:Nnp:s:uvw:z").permute().parse_env(usage);
    let mut o = Opts {
        args: a.operands,
        ..Opts::default()
    };
    for (c, v) in a.opts {
        match c {
            '4' => o.family = Some(PF_INET),
            '6' => o.family = Some(PF_INET6),
            'l' => o.listen = true,
            'N' => o.nshut = true,
            'n' => o.numeric = true,
            'u' => o.udp = true,
            'v' => o.verbose = true,
            'z' => o.zero = true,
            'p' => o.sport = Some(port_number(&v).unwrap_or_else(|m| errx(1, m))),
            's' => o.saddr = Some(v),
            'J' => o.mcast_if = Some(v),
            'M' => match v.parse::<i32>() {
                Ok(t) if (0..=255).contains(&t) => o.ttl = Some(t),
                Ok(t) if t < 0 => errx(1, format!("ttl {v}: too small")),
                Ok(_) => errx(1, format!("ttl {v}: too large")),
                Err(_) => errx(1, format!("ttl {v}: invalid")),
            },
            _ => {
                let t = v
                    .parse()
                    .unwrap_or_else(|_| errx(1, format!("timeout {v}: invalid")));
                o.timeout = Some(t);
            }
        }
    }
    o
}

/// A port number as OpenBSD's `strtonum` checks it.
fn port_number(s: &str) -> Result<u16, String> {
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("port number {s}: too small")),
        Ok(n) if n > 65535 => Err(format!("port number {s}: too large")),
        Ok(n) => Ok(n as u16),
        Err(_) => Err(format!("port number {s}: invalid")),
    }
}

/// `PORT` or `LO-HI`.
fn port_list(s: &str) -> Result<Vec<u16>, String> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (port_number(a)?, port_number(b)?);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        if lo == 0 {
            return Err("port range not valid".into());
        }
        Ok((lo..=hi).collect())
    } else {
        let p = port_number(s)?;
        if p == 0 {
            return Err(format!("port number {s}: too small"));
        }
        Ok(vec![p])
    }
}

/// The scope of `host` (`%index` or `%ifname`), resolved in the vimage.
fn scope_in(sys: &mut Sys, host: &str) -> u32 {
    match host.split_once('%') {
        Some((_, s)) => {
            let s = s.trim_end_matches(']');
            s.parse()
                .ok()
                .or_else(|| sys.ifnames().index(s))
                .unwrap_or(0)
        }
        None => 0,
    }
}

/// `-J`'s interface index (a name), if it names one.
fn mcast_ifindex(sys: &mut Sys, o: &Opts) -> Result<u32, String> {
    match &o.mcast_if {
        None => Ok(0),
        Some(n) => sys
            .ifnames()
            .index(n)
            .ok_or_else(|| format!("{n}: no such interface")),
    }
}

/// An IPv4 multicast request for `group` on `-J`'s interface: by address
/// (`struct ip_mreq`) or by index (`struct ip_mreqn`); none: the route's.
fn mreq4(sys: &mut Sys, o: &Opts, group: Ipv4Addr) -> Result<IpMreq, String> {
    if let Some(a) = o
        .mcast_if
        .as_deref()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    {
        return Ok(IpMreq::new(group, a));
    }
    let i = mcast_ifindex(sys, o)?;
    Ok(IpMreq {
        multiaddr: group,
        interface: Ipv4Addr::UNSPECIFIED,
        ifindex: (i != 0).then_some(i),
    })
}

/// Join `ip` (a group) on `-J`'s interface (`scope`: the IPv6 group's zone).
fn join_group(sys: &mut Sys, o: &Opts, s: i32, ip: &IpAddr, scope: u32) -> Result<(), String> {
    let r = match ip {
        IpAddr::V4(g) => {
            let m = mreq4(sys, o, *g)?;
            sys.setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m.to_bytes())
        }
        IpAddr::V6(g) => {
            let i = match mcast_ifindex(sys, o)? {
                0 => scope,
                i => i,
            };
            let m = Ipv6Mreq {
                multiaddr: *g,
                interface: i,
            };
            sys.setsockopt(s, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m.to_bytes())
        }
    };
    r.map_err(|e| format!("setsockopt: {}", strerror(e)))
}

/// What is sent to a group leaves by `-J`'s interface with `-M`'s TTL; a
/// unicast TTL is `-M`'s too.
fn send_options(sys: &mut Sys, o: &Opts, s: i32, ip: &IpAddr) -> Result<(), String> {
    let r = match (ip.is_multicast(), ip) {
        (true, IpAddr::V4(g)) => {
            let mut r = Ok(());
            if o.mcast_if.is_some() {
                let m = mreq4(sys, o, *g)?;
                let v = if m.ifindex.is_some() {
                    m.to_bytes()
                } else {
                    m.interface.octets().to_vec()
                };
                r = sys.setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &v);
            }
            match o.ttl {
                Some(t) if r.is_ok() => sys.setsockopt_int(s, IPPROTO_IP, IP_MULTICAST_TTL, t),
                _ => r,
            }
        }
        (true, IpAddr::V6(_)) => {
            let i = mcast_ifindex(sys, o)?;
            let mut r = Ok(());
            if i != 0 {
                r = sys.setsockopt_int(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, i as i32);
            }
            match o.ttl {
                Some(t) if r.is_ok() => sys.setsockopt_int(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, t),
                _ => r,
            }
        }
        (false, IpAddr::V4(_)) => match o.ttl {
            Some(t) => sys.setsockopt_int(s, IPPROTO_IP, IP_TTL, t),
            None => Ok(()),
        },
        (false, IpAddr::V6(_)) => match o.ttl {
            Some(t) => sys.setsockopt_int(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, t),
            None => Ok(()),
        },
    };
    r.map_err(|e| format!("setsockopt: {}", strerror(e)))
}

fn sa(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(a), port),
        IpAddr::V6(a) => SocketAddr::V6(std::net::SocketAddrV6::new(a, port, 0, scope)),
    }
}

fn proto_name(o: &Opts) -> &'static str {
    if o.udp {
        "udp"
    } else {
        "tcp"
    }
}

fn main() {
    let o = parse_args();
    if o.listen && o.zero {
        errx(1, "cannot use -z and -l");
    }
    let code = if o.listen {
        listen_mode(&o)
    } else {
        connect_mode(&o)
    };
    std::process::exit(code)
}

fn socket_for(sys: &mut Sys, o: &Opts, ip: &IpAddr) -> Result<i32, Errno> {
    let dom = if ip.is_ipv4() { PF_INET } else { PF_INET6 };
    let ty = if o.udp { SOCK_DGRAM } else { SOCK_STREAM };
    sys.socket(dom, ty, 0)
}

/// `nc -l`: bind, listen, accept one connection (UDP: wait for the first
/// datagram and connect to its sender), then copy.
fn listen_mode(o: &Opts) -> i32 {
    let (host, port) = match o.args.as_slice() {
        [] => match o.sport {
            Some(p) => (None, p),
            None => usage(),
        },
        [p] => (None, port_number(p).unwrap_or_else(|m| errx(1, m))),
        [h, p] => (
            Some(h.clone()),
            port_number(p).unwrap_or_else(|m| errx(1, m)),
        ),
        _ => usage(),
    };
    let ip = match &host {
        Some(h) => match getaddrinfo(h, o.family).first() {
            Some(a) => *a,
            None => errx(
                1,
                format!(
                    "getaddrinfo for host \"{h}\" port {port}: hostname nor servname provided, or not known"
                ),
            ),
        },
        None if o.family == Some(PF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let mut sys = Sys::open_or_exit();
    let scope = host.as_deref().map(|h| scope_in(&mut sys, h)).unwrap_or(0);
    let s = socket_for(&mut sys, o, &ip).unwrap_or_else(|e| libvimage::err(1, "socket", e));
    let _ = sys.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    let _ = sys.setsockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
    let local = sa(ip, port, scope);
    if let Err(e) = sys.bind(s, &sockaddr(&local)) {
        libvimage::err(1, "bind failed", e);
    }
    if o.udp && ip.is_multicast() {
        join_group(&mut sys, o, s, &ip, scope).unwrap_or_else(|m| errx(1, m));
    }
    if !o.udp {
        if let Err(e) = sys.listen(s, 1) {
            libvimage::err(1, "listen", e);
        }
    }
    if o.verbose {
        let shown = sys
            .getsockname(s)
            .ok()
            .and_then(|b| parse_sockaddr(&b))
            .unwrap_or(local);
        report("Listening", "Bound", o, &shown);
    }
    let fd = if o.udp {
        let (_, from) = match sys.recvfrom(s, 2048, libvimage::MSG_PEEK) {
            Ok(x) => x,
            Err(e) => libvimage::err(1, "recvfrom", e),
        };
        if let Err(e) = sys.connect(s, &from) {
            libvimage::err(1, "connect", e);
        }
        if o.verbose {
            if let Some(a) = parse_sockaddr(&from) {
                eprintln!("Connection received on {} {}", a.ip(), a.port());
            }
        }
        s
    } else {
        let (c, from) = match sys.accept(s, 0) {
            Ok(x) => x,
            Err(e) => libvimage::err(1, "accept", e),
        };
        let _ = sys.close(s);
        if o.verbose {
            if let Some(a) = parse_sockaddr(&from) {
                eprintln!("Connection received on {} {}", a.ip(), a.port());
            }
        }
        c
    };
    readwrite(sys, fd, o, true)
}

fn report(tcp: &str, udp: &str, o: &Opts, a: &SocketAddr) {
    let what = if o.udp { udp } else { tcp };
    eprintln!("{what} on {} {}", a.ip(), a.port());
}

/// `connect(2)` bounded by `-w`: non-blocking connect, poll for writability,
/// then `SO_ERROR`.
fn connect_timeout(sys: &mut Sys, s: i32, to: &[u8], secs: Option<u64>) -> Result<(), Errno> {
    let Some(t) = secs else {
        return sys.connect(s, to);
    };
    sys.set_nonblock(s, true)?;
    match sys.connect(s, to) {
        Ok(()) => {}
        Err(Errno::EINPROGRESS) => {
            let ms = i32::try_from(t.saturating_mul(1000)).unwrap_or(i32::MAX);
            let r = sys.poll(&[(s, POLLOUT)], ms)?;
            if r[0] == 0 {
                return Err(Errno::ETIMEDOUT);
            }
            let e = sys.getsockopt_int(s, SOL_SOCKET, SO_ERROR)?;
            if e != 0 {
                return Err(Errno(e));
            }
        }
        Err(e) => return Err(e),
    }
    sys.set_nonblock(s, false)
}

/// Connect to each port in turn (`-z`: just report), else copy on the first
/// connection made.
fn connect_mode(o: &Opts) -> i32 {
    let (host, ports) = match o.args.as_slice() {
        [h, p] => (h.clone(), port_list(p).unwrap_or_else(|m| errx(1, m))),
        _ => usage(),
    };
    let ips = getaddrinfo(&host, o.family);
    if ips.is_empty() {
        errx(
            1,
            format!(
                "getaddrinfo for host \"{host}\" port {}: hostname nor servname provided, or not known",
                ports[0]
            ),
        )
    }
    let shown = host.trim_start_matches('[').trim_end_matches(']');
    let mut sys = Sys::open_or_exit();
    let scope = scope_in(&mut sys, &host);
    let mut ret = 0;
    for port in ports {
        let mut connected = None;
        for ip in &ips {
            let s = match socket_for(&mut sys, o, ip) {
                Ok(s) => s,
                Err(e) => libvimage::err(1, "socket", e),
            };
            if o.sport.is_some() || o.saddr.is_some() {
                let lip = match &o.saddr {
                    Some(a) => {
                        let f = if ip.is_ipv4() { PF_INET } else { PF_INET6 };
                        match getaddrinfo(a, Some(f)).first() {
                            Some(a) => *a,
                            None => errx(
                                1,
                                format!(
                                "getaddrinfo: {a}: hostname nor servname provided, or not known"
                            ),
                            ),
                        }
                    }
                    None if ip.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let _ = sys.setsockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
                if let Err(e) = sys.bind(s, &sockaddr(&sa(lip, o.sport.unwrap_or(0), 0))) {
                    libvimage::err(1, "bind failed", e);
                }
            }
            if o.udp || o.ttl.is_some() {
                send_options(&mut sys, o, s, ip).unwrap_or_else(|m| errx(1, m));
            }
            let to = sockaddr(&sa(*ip, port, scope));
            match connect_timeout(&mut sys, s, &to, o.timeout) {
                Ok(()) => {
                    connected = Some(s);
                    break;
                }
                Err(e) => {
                    if o.verbose {
                        eprintln!(
                            "nc: connect to {} port {} ({}) failed: {}",
                            shown,
                            port,
                            proto_name(o),
                            strerror(e)
                        );
                    }
                    let _ = sys.close(s);
                }
            }
        }
        let Some(s) = connected else {
            ret = 1;
            continue;
        };
        if o.udp && o.zero && udptest(&mut sys, s).is_err() {
            ret = 1;
            let _ = sys.close(s);
            continue;
        }
        if o.verbose || o.zero {
            let serv = getservbyport(port, proto_name(o)).unwrap_or("*");
            if o.verbose {
                eprintln!(
                    "Connection to {} {} port [{}/{}] succeeded!",
                    shown,
                    port,
                    proto_name(o),
                    serv
                );
            }
        }
        if o.zero {
            let _ = sys.close(s);
            continue;
        }
        return readwrite(sys, s, o, false);
    }
    ret
}

/// OpenBSD's `udptest`: in scan mode write a few bytes; a refusal (ICMP port
/// unreachable) shows up as an error on a later write.
fn udptest(sys: &mut Sys, s: i32) -> Result<(), Errno> {
    let mut r = Ok(());
    for _ in 0..4 {
        r = sys.send(s, b"X", 0).map(|_| ());
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

/// Copy stdin to `fd` on this thread and `fd` to stdout on another (its own
/// kernel connection, same descriptor table).  Done when the network side
/// ends; `-N` shuts the socket down for writing at EOF on stdin.
fn readwrite(mut sys: Sys, fd: i32, o: &Opts, listening: bool) -> i32 {
    if let Some(t) = o.timeout {
        if !listening {
            let _ = sys.setsockopt(
                fd,
                SOL_SOCKET,
                SO_RCVTIMEO,
                &timeval_bytes(Duration::from_secs(t.max(1))),
            );
        }
    }
    let mut rsys = Sys::open_or_exit();
    let udp = o.udp;
    let reader = std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        loop {
            match rsys.recv(fd, 64 * 1024, 0) {
                Ok(d) if d.is_empty() && !udp => return 0,
                Ok(d) => {
                    if out.write_all(&d).and_then(|_| out.flush()).is_err() {
                        return 0;
                    }
                }
                // -w: idle too long; a reset or refusal ends it too.
                Err(Errno::EAGAIN) => return 0,
                Err(Errno::ECONNREFUSED) if udp => return 1,
                // The kernel itself is gone (or failed): say so.
                Err(e @ Errno::EIO) => {
                    libvimage::warn("recv", e);
                    return 1;
                }
                Err(_) => return 0,
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel::<i32>();
    {
        // Whichever finishes the session first ends it: the network side
        // closing ends nc even while stdin is still open.
        let tx = tx.clone();
        std::thread::spawn(move || {
            let r = reader.join().unwrap_or(1);
            let _ = tx.send(r);
        });
    }
    let nshut = o.nshut;
    std::thread::spawn(move || {
        let mut inp = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match inp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut off = 0;
                    while off < n {
                        match sys.send(fd, &buf[off..n], 0) {
                            Ok(k) => off += k.max(1),
                            Err(Errno::EAGAIN) => {
                                let _ = sys.poll(&[(fd, POLLOUT)], 100);
                            }
                            Err(_) => return,
                        }
                    }
                }
            }
        }
        if nshut {
            let _ = sys.shutdown(fd, SHUT_WR);
        }
    });
    rx.recv().unwrap_or(0)
}
