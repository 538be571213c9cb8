//! The daemons' system side over libvimage: the UDP socket on the RIP port
//! with the group joined on every interface, the routing socket that
//! installs learned routes (`RTF_GATEWAY|RTF_PROTO1`, so `netstat -rn`
//! shows `UG1` as Demo 1's did) and tells of interface changes, the
//! interface scan, daemonizing, signals and the trace.  [`run`] is the
//! event loop both `routed` and `route6d` run, with a [`Family`] for their
//! wire format.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use libvimage::{errx, strerror, Errno, Sys};
use vimage_abi::net_if::{IfInfo, AF_INET, AF_INET6, IFF_LOOPBACK, IFF_MULTICAST, IFF_UP};
use vimage_abi::netinet6_in6::{
    Ip6RecvInfo, Ipv6Mreq, SockaddrIn6, IPPROTO_IPV6, IPV6_JOIN_GROUP, IPV6_MULTICAST_HOPS,
    IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP, IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO,
};
use vimage_abi::netinet_in::{
    InRecvInfo, IpMreq, SockaddrIn, IPPROTO_IP, IP_ADD_MEMBERSHIP, IP_MULTICAST_IF,
    IP_MULTICAST_LOOP, IP_MULTICAST_TTL, IP_RECVIF, PF_INET, SOCK_DGRAM, SO_BROADCAST,
    SO_REUSEADDR,
};
use vimage_abi::route::*;
use vimage_abi::sysctl::SysctlValue;

use crate::parms::{GatewaysLine, Parms};
use crate::router::{Action, Config, Dest, IfConfig, Installed, KernelOp, Message, Prefix, Router};
use crate::Error;

/// A family's wire format, for [`run`].
pub trait Family {
    /// IPv6 (RIPng)?
    fn v6(&self) -> bool;
    /// Datagrams carrying `msg` on `ifc`.
    fn encode(&mut self, msg: &Message, ifc: &IfConfig) -> Vec<Vec<u8>>;
    /// The message of datagram `b` that arrived on `ifc` (with the hop limit
    /// it had, when known).
    fn decode(&self, b: &[u8], ifc: &IfConfig, hoplimit: Option<i32>) -> Result<Message, Error>;
    /// Send RIPv2 as broadcasts rather than to the group (IPv4 only).
    fn broadcast(&self) -> bool {
        false
    }
}

/// RIPv1/v2 for routed.
pub struct RipFamily {
    /// Versions, keys.
    pub codec: crate::codec::RipCodec,
    /// `no_rip_mcast`: RIPv2 as broadcasts.
    pub broadcast: bool,
}

impl Family for RipFamily {
    fn v6(&self) -> bool {
        false
    }
    fn encode(&mut self, msg: &Message, ifc: &IfConfig) -> Vec<Vec<u8>> {
        self.codec.encode(msg, ifc)
    }
    fn decode(&self, b: &[u8], ifc: &IfConfig, _: Option<i32>) -> Result<Message, Error> {
        self.codec.decode(b, ifc)
    }
    fn broadcast(&self) -> bool {
        self.broadcast || self.codec.version_out == 1
    }
}

/// RIPng for route6d.
pub struct RipngFamily;

impl Family for RipngFamily {
    fn v6(&self) -> bool {
        true
    }
    fn encode(&mut self, msg: &Message, _: &IfConfig) -> Vec<Vec<u8>> {
        crate::codec::ripng_encode(msg)
    }
    fn decode(&self, b: &[u8], _: &IfConfig, hoplimit: Option<i32>) -> Result<Message, Error> {
        crate::codec::ripng_decode(b, hoplimit)
    }
}

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stay in the foreground (`-d`).
    pub foreground: bool,
    /// Trace level (`-t` each raises it).
    pub trace: u32,
    /// Trace file (`-T`, or the operand); stderr in the foreground otherwise.
    pub trace_file: Option<String>,
    /// `Some(true)`: `-s`; `Some(false)`: `-q`; `None`: supply when there
    /// are two interfaces or more and forwarding is on.
    pub supply: Option<bool>,
    /// The router's settings (timers, split horizon, default route).
    pub cfg: Config,
    /// Parameter lines (global and `if=` ones).
    pub parms: Vec<Parms>,
    /// Gateways-file route lines.
    pub gateways: Vec<GatewaysLine>,
    /// Interfaces to leave alone (route6d `-N`).
    pub ignore: Vec<String>,
    /// Do not touch the kernel's table (route6d `-n`).
    pub no_kernel: bool,
    /// `-F net[/mask],metric`: on interfaces with an address in the
    /// network, advertise only a default route of that metric.
    pub fake_default: Vec<(Prefix, u8)>,
}

/// The parameter lines for every interface, folded in order.
pub fn global_parms(parms: &[Parms]) -> Parms {
    let mut g = Parms::default();
    for p in parms.iter().filter(|p| p.ifname.is_none()) {
        g.merge(p);
    }
    g
}

/// routed's codec from its parameter lines (`ripv1_out`, `no_ripv1_in`,
/// `no_ripv2_in`, `passwd=`, `md5_passwd=`) and `-A`.
pub fn rip_codec(parms: &[Parms], strict_auth: bool) -> crate::codec::RipCodec {
    let g = global_parms(parms);
    let mut c = crate::codec::RipCodec {
        strict_auth,
        no_v1_in: g.no_ripv1_in,
        no_v2_in: g.no_ripv2_in,
        ..Default::default()
    };
    if g.ripv1_out && !g.ripv2_out {
        c.version_out = 1;
    }
    for p in parms {
        if let Some(k) = &p.auth {
            c.keys.push((p.ifname.clone(), k.clone()));
        }
    }
    c
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::Relaxed);
}

fn catch(sig: libc::c_int) {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Become a daemon: fork (the parent exits 0), a new session, stdio on
/// /dev/null.  Done before connecting to the kernel, so the daemon's own
/// connection is its own.
pub fn daemonize() {
    // SAFETY: single-threaded here; the child continues with our code.
    unsafe {
        match libc::fork() {
            -1 => errx(1, format!("fork: {}", std::io::Error::last_os_error())),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for t in 0..3 {
                libc::dup2(fd, t);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

/// The trace (`-t`, `-T file`).
pub struct Trace {
    level: u32,
    out: Option<Box<dyn Write>>,
    t0: Instant,
}

impl Trace {
    /// A trace at `level` to `file` (or stderr when `foreground`).
    pub fn new(level: u32, file: Option<&str>, foreground: bool) -> Trace {
        let out: Option<Box<dyn Write>> = match file {
            Some(f) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
            {
                Ok(f) => Some(Box::new(f)),
                Err(e) => errx(1, format!("{f}: {e}")),
            },
            None if foreground => Some(Box::new(std::io::stderr())),
            None => None,
        };
        Trace {
            level,
            out,
            t0: Instant::now(),
        }
    }

    /// Write `s` if the level is at least `min`.
    pub fn line(&mut self, min: u32, s: &str) {
        if self.level >= min {
            if let Some(o) = self.out.as_mut() {
                let t = self.t0.elapsed();
                let _ = writeln!(o, "{:>4}.{:03} {s}", t.as_secs(), t.subsec_millis());
                let _ = o.flush();
            }
        }
    }

    /// Raise (`SIGUSR1`) or lower (`SIGUSR2`) the level.
    pub fn adjust(&mut self, up: bool) {
        self.level = if up {
            (self.level + 1).min(4)
        } else {
            self.level.saturating_sub(1)
        };
    }
}

fn mask_plen(m: &[u8]) -> u8 {
    let mut n = 0u8;
    for b in m {
        n += b.leading_ones() as u8;
        if *b != 0xff {
            break;
        }
    }
    n
}

fn ip_of(family: u8, b: &[u8]) -> Option<IpAddr> {
    match (family, b.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// The interfaces RIP of family `v6` runs on: up, not loopback, with an
/// address of the family (RIPng: a link-local one), not ignored; their
/// parameters applied.
pub fn scan(ifs: &[IfInfo], v6: bool, opts: &Options) -> Vec<IfConfig> {
    let fam = if v6 { AF_INET6 } else { AF_INET };
    let mut out = Vec::new();
    for i in ifs {
        if i.flags & IFF_UP == 0 || i.flags & IFF_LOOPBACK != 0 || opts.ignore.contains(&i.name) {
            continue;
        }
        let addrs: Vec<(IpAddr, u8)> = i
            .addrs
            .iter()
            .filter(|a| a.family == fam && a.flags & 0x0f == 0)
            .filter_map(|a| ip_of(a.family, &a.addr).map(|ip| (ip, mask_plen(&a.mask))))
            .collect();
        let has_ll = addrs
            .iter()
            .any(|(a, _)| matches!(a, IpAddr::V6(x) if x.segments()[0] & 0xffc0 == 0xfe80));
        if addrs.is_empty() || (v6 && !has_ll) {
            continue;
        }
        let mut c = IfConfig::new(i.index, &i.name, addrs);
        for (net, m) in &opts.fake_default {
            if c.addrs.iter().any(|(a, _)| net.contains(*a)) {
                c.fake_default = Some(*m);
            }
        }
        for p in &opts.parms {
            if p.ifname.as_deref().is_none_or(|n| n == i.name) {
                p.apply(&mut c);
            }
        }
        out.push(c);
    }
    out
}

/// The routing socket, and what we installed through it.
struct Kernel {
    fd: i32,
    pid: i32,
    seq: i32,
    v6: bool,
    off: bool,
}

impl Kernel {
    fn msg(&mut self, ty: u8, p: Prefix, i: &Installed) -> RtMsg {
        let mut m = RtMsg::new(ty);
        self.seq += 1;
        let mut flags = RTF_UP | RTF_GATEWAY | RTF_PROTO1;
        if p.is_host() {
            flags |= RTF_HOST;
        }
        m.hdr.flags = flags as i32;
        m.hdr.pid = self.pid;
        m.hdr.seq = self.seq;
        m.hdr.inits = RTV_HOPCOUNT;
        m.hdr.rmx.hopcount = u64::from(i.metric);
        m.sa[0] = Some(Sockaddr::from_ip(p.addr()));
        m.sa[1] = Some(match i.gateway {
            IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => Sockaddr::Inet6 {
                addr: a,
                scope_id: i.ifindex,
            },
            g => Sockaddr::from_ip(g),
        });
        if !p.is_host() {
            m.sa[2] = Some(Sockaddr::user_netmask(self.v6, p.plen()));
        }
        m
    }

    fn send(&mut self, sys: &mut Sys, m: &RtMsg) -> Result<(), Errno> {
        let b = m.to_bytes()?;
        sys.sendto(self.fd, &b, 0, None).map(|_| ())
    }

    /// Carry out `op`; an add of an existing route becomes a change, a
    /// change of a missing one an add, and a delete of a missing one is
    /// done already.
    fn apply(&mut self, sys: &mut Sys, op: &KernelOp) -> Result<(), Errno> {
        if self.off {
            return Ok(());
        }
        match *op {
            KernelOp::Add(p, i) => {
                let m = self.msg(RTM_ADD, p, &i);
                match self.send(sys, &m) {
                    Err(Errno::EEXIST) => {
                        let m = self.msg(RTM_CHANGE, p, &i);
                        self.send(sys, &m)
                    }
                    r => r,
                }
            }
            KernelOp::Change(p, i) => {
                let m = self.msg(RTM_CHANGE, p, &i);
                match self.send(sys, &m) {
                    Err(Errno::ESRCH) => {
                        let m = self.msg(RTM_ADD, p, &i);
                        self.send(sys, &m)
                    }
                    r => r,
                }
            }
            KernelOp::Delete(p, i) => {
                let m = self.msg(RTM_DELETE, p, &i);
                match self.send(sys, &m) {
                    Err(Errno::ESRCH) => Ok(()),
                    r => r,
                }
            }
        }
    }

    /// Delete the `RTF_PROTO1` gateway routes of our family a previous
    /// daemon left behind (killed before it could withdraw them).
    fn flush_leftovers(&mut self, sys: &mut Sys) {
        if self.off {
            return;
        }
        let Ok(r) = sys.sysctl(NET_ROUTE_DUMP) else {
            return;
        };
        let SysctlValue::Opaque(_, b) = r.value else {
            return;
        };
        let Ok(dump) = RouteDump::from_bytes(&b) else {
            return;
        };
        for e in dump.routes {
            let mine = RTF_GATEWAY | RTF_PROTO1;
            if e.flags & mine != mine || e.dst.is_ipv6() != self.v6 {
                continue;
            }
            let DumpGateway::Inet(gateway) = e.gateway else {
                continue;
            };
            let i = Installed {
                gateway,
                ifindex: e.ifindex,
                metric: 1,
            };
            let _ = self.apply(sys, &KernelOp::Delete(Prefix::new(e.dst, e.plen), i));
        }
    }

    /// The kernel's static gateway routes of our family (`route add`:
    /// `RTF_STATIC`, not ours).
    fn statics(&self, sys: &mut Sys) -> Vec<(Prefix, IpAddr, u32)> {
        let Ok(r) = sys.sysctl(NET_ROUTE_DUMP) else {
            return Vec::new();
        };
        let SysctlValue::Opaque(_, b) = r.value else {
            return Vec::new();
        };
        let Ok(dump) = RouteDump::from_bytes(&b) else {
            return Vec::new();
        };
        dump.routes
            .into_iter()
            .filter(|e| {
                e.flags & (RTF_STATIC | RTF_GATEWAY) == RTF_STATIC | RTF_GATEWAY
                    && e.flags & RTF_PROTO1 == 0
                    && e.dst.is_ipv6() == self.v6
            })
            .filter_map(|e| match e.gateway {
                DumpGateway::Inet(g) => Some((Prefix::new(e.dst, e.plen), g, e.ifindex)),
                _ => None,
            })
            .collect()
    }

    /// Read what is queued; whether an interface, an address or someone
    /// else's route changed.
    fn drain(&mut self, sys: &mut Sys) -> bool {
        let mut changed = false;
        while let Ok((d, _)) = sys.recvfrom(self.fd, 4096, libvimage::MSG_DONTWAIT) {
            if d.is_empty() {
                break;
            }
            match RtSockMsg::decode(&d) {
                Ok(RtSockMsg::Addr(_) | RtSockMsg::Ifinfo(_) | RtSockMsg::Announce(_)) => {
                    changed = true
                }
                Ok(RtSockMsg::Route(m)) if m.hdr.pid != self.pid => changed = true,
                _ => {}
            }
        }
        changed
    }
}

/// A received datagram: bytes, source, arrival interface (if told), hop
/// limit (if told).
type Datagram = (Vec<u8>, SocketAddr, Option<u32>, Option<i32>);

/// The UDP socket on the RIP port.
struct Udp {
    fd: i32,
    v6: bool,
    port: u16,
    joined: BTreeSet<u32>,
    /// No multicast (IPv4): fall back to subnet broadcasts.
    broadcast: bool,
}

impl Udp {
    fn open(sys: &mut Sys, v6: bool, port: u16, broadcast: bool) -> Result<Udp, (String, Errno)> {
        let dom = if v6 { libvimage::PF_INET6 } else { PF_INET };
        let fd = sys
            .socket(dom, SOCK_DGRAM, 0)
            .map_err(|e| ("socket".to_string(), e))?;
        let _ = sys.setsockopt_int(fd, libvimage::SOL_SOCKET, SO_REUSEADDR, 1);
        let addr = if v6 {
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))
        } else {
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        };
        sys.bind(fd, &libvimage::sockaddr(&addr))
            .map_err(|e| (format!("bind port {port}"), e))?;
        if v6 {
            let _ = sys.setsockopt_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
            let _ = sys.setsockopt_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
            let _ = sys.setsockopt_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
            let _ = sys.setsockopt_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
            let _ = sys.setsockopt_int(
                fd,
                IPPROTO_IPV6,
                vimage_abi::netinet6_in6::IPV6_UNICAST_HOPS,
                255,
            );
        } else {
            let _ = sys.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &[1]);
            let _ = sys.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &[0]);
            let _ = sys.setsockopt_int(fd, IPPROTO_IP, IP_RECVIF, 1);
            let _ = sys.setsockopt_int(fd, libvimage::SOL_SOCKET, SO_BROADCAST, 1);
        }
        Ok(Udp {
            fd,
            v6,
            port,
            joined: BTreeSet::new(),
            broadcast,
        })
    }

    /// Join the group on `ifc` (once).  A kernel without multicast makes
    /// IPv4 fall back to broadcasts.
    fn join(&mut self, sys: &mut Sys, ifc: &IfConfig, flags: u32, tr: &mut Trace) {
        if self.joined.contains(&ifc.index) || flags & IFF_MULTICAST == 0 {
            return;
        }
        let r = if self.v6 {
            let m = Ipv6Mreq {
                multiaddr: crate::ripng::RIPNG_GROUP,
                interface: ifc.index,
            };
            sys.setsockopt(self.fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m.to_bytes())
        } else {
            let Some(a) = v4_addr(ifc) else { return };
            let m = IpMreq::new(crate::wire::RIP_GROUP, a);
            sys.setsockopt(self.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m.to_bytes())
        };
        match r {
            Ok(()) | Err(Errno::EADDRINUSE) => {
                self.joined.insert(ifc.index);
            }
            Err(e) => {
                libvimage::warn(format!("join group on {}", ifc.name), e);
                tr.line(1, &format!("join group on {}: {}", ifc.name, strerror(e)));
                if !self.v6 {
                    self.broadcast = true;
                }
            }
        }
    }

    fn send(&mut self, sys: &mut Sys, ifc: &IfConfig, dest: Dest, b: &[u8]) -> Result<(), Errno> {
        let to = match dest {
            Dest::Unicast(a) => a,
            Dest::Multicast if self.v6 => {
                sys.setsockopt(
                    self.fd,
                    IPPROTO_IPV6,
                    IPV6_MULTICAST_IF,
                    &ifc.index.to_le_bytes(),
                )?;
                SocketAddr::V6(SocketAddrV6::new(
                    crate::ripng::RIPNG_GROUP,
                    self.port,
                    0,
                    ifc.index,
                ))
            }
            Dest::Multicast => {
                let (a, plen) = ifc
                    .addrs
                    .iter()
                    .find_map(|(a, l)| match a {
                        IpAddr::V4(x) => Some((*x, *l)),
                        _ => None,
                    })
                    .ok_or(Errno::EADDRNOTAVAIL)?;
                if self.broadcast {
                    let host = if plen >= 31 {
                        0
                    } else {
                        u32::MAX >> u32::from(plen)
                    };
                    let bc = Ipv4Addr::from(u32::from(a) | host);
                    SocketAddr::V4(SocketAddrV4::new(bc, self.port))
                } else {
                    sys.setsockopt(self.fd, IPPROTO_IP, IP_MULTICAST_IF, &a.octets())?;
                    SocketAddr::V4(SocketAddrV4::new(crate::wire::RIP_GROUP, self.port))
                }
            }
        };
        sys.sendto(self.fd, b, 0, Some(&libvimage::sockaddr(&to)))
            .map(|_| ())
    }

    /// One queued datagram: bytes, source, arrival interface (if told) and
    /// hop limit (if told).
    fn recv(&mut self, sys: &mut Sys) -> Option<Datagram> {
        let (d, a) = sys.recvfrom(self.fd, 2048, libvimage::MSG_DONTWAIT).ok()?;
        if self.v6 {
            let info = Ip6RecvInfo::from_bytes(&a).ok()?;
            let f: SockaddrIn6 = info.from?;
            let src = SocketAddr::V6(SocketAddrV6::new(f.addr, f.port, 0, f.scope_id));
            let ifi = info
                .pktinfo
                .map(|(_, i)| i)
                .or((f.scope_id != 0).then_some(f.scope_id));
            Some((d, src, ifi, info.hoplimit))
        } else {
            let info = InRecvInfo::from_bytes(&a).ok()?;
            let f: SockaddrIn = info.from?;
            Some((
                d,
                SocketAddr::V4(SocketAddrV4::new(f.addr, f.port)),
                info.ifindex,
                None,
            ))
        }
    }
}

fn v4_addr(ifc: &IfConfig) -> Option<Ipv4Addr> {
    ifc.addrs.iter().find_map(|(a, _)| match a {
        IpAddr::V4(x) => Some(*x),
        _ => None,
    })
}

/// Whether `net.inet.ip.forwarding` (or IPv6's) is on.
fn forwarding(sys: &mut Sys, v6: bool) -> bool {
    let name = if v6 {
        "net.inet6.ip6.forwarding"
    } else {
        "net.inet.ip.forwarding"
    };
    match sys.sysctl(name).map(|r| r.value) {
        Ok(SysctlValue::Int(v)) => v != 0,
        Ok(SysctlValue::UInt(v)) => v != 0,
        _ => false,
    }
}

/// The daemon: connect, open the sockets, scan the interfaces, and run the
/// router until SIGTERM/SIGINT (or SIGHUP in the foreground), when every
/// route is withdrawn from the neighbours and the kernel.  Never returns.
pub fn run(mut opts: Options, fam: &mut dyn Family) -> ! {
    let v6 = fam.v6();
    if !opts.foreground {
        daemonize();
    }
    for s in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        catch(s);
    }
    let mut tr = Trace::new(opts.trace, opts.trace_file.as_deref(), opts.foreground);
    let mut sys = Sys::open_or_exit();
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let port = opts.cfg.port;
    let mut udp = match Udp::open(&mut sys, v6, port, fam.broadcast()) {
        Ok(u) => u,
        Err((what, e)) => libvimage::err(1, what, e),
    };
    let rt = sys
        .socket(PF_ROUTE, SOCK_RAW, 0)
        .unwrap_or_else(|e| libvimage::err(1, "routing socket", e));
    let mut kern = Kernel {
        fd: rt,
        pid,
        seq: 0,
        v6,
        off: opts.no_kernel,
    };
    kern.flush_leftovers(&mut sys);
    let t0 = Instant::now();
    let now = || t0.elapsed();
    let mut infos = sys.iflist().unwrap_or_default();
    let ifs = scan(&infos, v6, &opts);
    let supply = match opts.supply {
        Some(true) if !forwarding(&mut sys, v6) => {
            libvimage::warnx(if v6 {
                "-s incompatible with ip6.forwarding=0"
            } else {
                "-s incompatible with ipforwarding=0"
            });
            false
        }
        Some(s) => s,
        None => ifs.len() >= 2 && forwarding(&mut sys, v6),
    };
    opts.cfg.supply = supply;
    tr.line(
        1,
        &format!(
            "start: {} interfaces, {}",
            ifs.len(),
            if supply { "supplying" } else { "quiet" }
        ),
    );
    let mut router = Router::new(opts.cfg.clone());
    for i in &ifs {
        let fl = infos
            .iter()
            .find(|x| x.index == i.index)
            .map_or(0, |x| x.flags);
        udp.join(&mut sys, i, fl, &mut tr);
    }
    router.set_interfaces(now(), ifs);
    for g in &opts.gateways {
        if let GatewaysLine::Route {
            prefix,
            gateway,
            metric,
            kind,
        } = g
        {
            if let Err(e) = router.add_static(now(), *prefix, *gateway, *metric, *kind) {
                libvimage::warnx(format!("{prefix} gateway {gateway}: {e}"));
            }
        }
    }
    let statics = kern.statics(&mut sys);
    router.set_kernel_statics(now(), &statics);
    router.start(now());
    let mut last_scan = Instant::now();
    loop {
        let sig = SIGNAL.swap(0, Ordering::Relaxed);
        match sig {
            0 => {}
            libc::SIGUSR1 | libc::SIGUSR2 => tr.adjust(sig == libc::SIGUSR1),
            libc::SIGHUP if !opts.foreground => {}
            _ => {
                tr.line(1, &format!("signal {sig}: withdrawing routes"));
                router.shutdown(now());
                execute(&mut router, &mut sys, &mut udp, &mut kern, fam, &mut tr);
                std::process::exit(128 + sig)
            }
        }
        execute(&mut router, &mut sys, &mut udp, &mut kern, fam, &mut tr);
        let wait = router
            .poll_at()
            .map_or(Duration::from_millis(200), |t| t.saturating_sub(now()))
            .min(Duration::from_millis(200));
        let rev = match sys.poll(
            &[(udp.fd, libvimage::POLLIN), (rt, libvimage::POLLIN)],
            wait.as_millis() as i32,
        ) {
            Ok(r) => r,
            Err(Errno::EINTR) => continue,
            Err(e) => libvimage::err(1, "poll", e),
        };
        if rev.first().is_some_and(|r| *r != 0) {
            while let Some((d, src, ifi, hops)) = udp.recv(&mut sys) {
                let ifindex = ifi
                    .filter(|i| router.interfaces().any(|c| c.index == *i))
                    .or_else(|| router.interface_of(src.ip()));
                let Some(ifc) = ifindex
                    .and_then(|i| router.interfaces().find(|c| c.index == i))
                    .cloned()
                else {
                    tr.line(
                        2,
                        &format!("discard {} bytes from {src}: no interface", d.len()),
                    );
                    continue;
                };
                match fam.decode(&d, &ifc, hops) {
                    Ok(m) => {
                        tr.line(3, &format!("{} from {src} on {}: {m:?}", d.len(), ifc.name));
                        router.input(now(), ifc.index, src, &m);
                    }
                    Err(e) => tr.line(1, &format!("bad packet from {src} on {}: {e}", ifc.name)),
                }
            }
        }
        let changed = rev.get(1).is_some_and(|r| *r != 0) && kern.drain(&mut sys);
        if changed || last_scan.elapsed() >= Duration::from_secs(5) {
            last_scan = Instant::now();
            if let Ok(n) = sys.iflist() {
                infos = n;
                let ifs = scan(&infos, v6, &opts);
                if ifs != router.interfaces().cloned().collect::<Vec<_>>() {
                    tr.line(1, "interfaces changed");
                    if opts.supply.is_none() {
                        // Neither -s nor -q: a router once it has two
                        // interfaces and forwards.
                        let on = ifs.len() >= 2 && forwarding(&mut sys, v6);
                        if on != router.config().supply {
                            tr.line(1, if on { "now supplying" } else { "now quiet" });
                            router.set_supply(on);
                        }
                    }
                    for i in &ifs {
                        let fl = infos
                            .iter()
                            .find(|x| x.index == i.index)
                            .map_or(0, |x| x.flags);
                        udp.join(&mut sys, i, fl, &mut tr);
                    }
                    let gone: Vec<u32> = udp
                        .joined
                        .iter()
                        .copied()
                        .filter(|j| !ifs.iter().any(|i| i.index == *j))
                        .collect();
                    for j in gone {
                        udp.joined.remove(&j);
                    }
                    router.set_interfaces(now(), ifs);
                }
            }
            let statics = kern.statics(&mut sys);
            router.set_kernel_statics(now(), &statics);
        }
        router.poll(now());
    }
}

/// Carry out what the router asked for.
fn execute(
    router: &mut Router,
    sys: &mut Sys,
    udp: &mut Udp,
    kern: &mut Kernel,
    fam: &mut dyn Family,
    tr: &mut Trace,
) {
    for a in router.take_actions() {
        match a {
            Action::Trace(s) => tr.line(1, &s),
            Action::Kernel(op) => {
                tr.line(2, &format!("kernel: {op:?}"));
                if let Err(e) = kern.apply(sys, &op) {
                    tr.line(1, &format!("kernel {op:?}: {}", strerror(e)));
                }
            }
            Action::Send { ifindex, dest, msg } => {
                let Some(ifc) = router.interfaces().find(|c| c.index == ifindex).cloned() else {
                    continue;
                };
                for b in fam.encode(&msg, &ifc) {
                    if let Err(e) = udp.send(sys, &ifc, dest, &b) {
                        tr.line(1, &format!("send on {}: {}", ifc.name, strerror(e)));
                    }
                }
            }
        }
    }
}
