//! route(8): `route [-dnqtv] command [[modifiers] args]` — add, delete, change,
//! get, flush and monitor routes of the caller's vimage through a PF_ROUTE socket,
//! printing what FreeBSD 7's route prints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libvimage::netdb::Hosts;
use libvimage::{err, errx, getopt, strerror, warn, Errno, Sys};
use vimage_abi::net_if::{IfInfo, AF_INET, AF_INET6};
use vimage_abi::route::*;
use vimage_abi::sysctl::SysctlValue;

/// `EX_USAGE`.
const EX_USAGE: i32 = 64;
/// `EX_NOHOST`.
const EX_NOHOST: i32 = 68;
/// `EX_OSERR`.
const EX_OSERR: i32 = 71;
/// `SOL_SOCKET` / `SO_USELOOPBACK`-free receive timeout for RTM_GET replies.
const GET_TIMEOUT: Duration = Duration::from_secs(5);

/// `routeflags` of route.c: bit number (from 1) and name, in print order.
const ROUTEFLAGS: &[(u32, &str)] = &[
    (1, "UP"),
    (2, "GATEWAY"),
    (3, "HOST"),
    (4, "REJECT"),
    (5, "DYNAMIC"),
    (6, "MODIFIED"),
    (7, "DONE"),
    (9, "CLONING"),
    (10, "XRESOLVE"),
    (11, "LLINFO"),
    (12, "STATIC"),
    (13, "BLACKHOLE"),
    (15, "PROTO2"),
    (16, "PROTO1"),
    (17, "PRCLONING"),
    (18, "WASCLONED"),
    (19, "PROTO3"),
    (21, "PINNED"),
    (22, "LOCAL"),
    (23, "BROADCAST"),
    (24, "MULTICAST"),
];

/// `ifnetflags`.
const IFNETFLAGS: &[(u32, &str)] = &[
    (1, "UP"),
    (2, "BROADCAST"),
    (3, "DEBUG"),
    (4, "LOOPBACK"),
    (5, "PTP"),
    (6, "b6"),
    (7, "RUNNING"),
    (8, "NOARP"),
    (9, "PPROMISC"),
    (10, "ALLMULTI"),
    (11, "OACTIVE"),
    (12, "SIMPLEX"),
    (13, "LINK0"),
    (14, "LINK1"),
    (15, "LINK2"),
    (16, "MULTICAST"),
];

/// `addrnames`.
const ADDRNAMES: &[(u32, &str)] = &[
    (1, "DST"),
    (2, "GATEWAY"),
    (3, "NETMASK"),
    (4, "GENMASK"),
    (5, "IFP"),
    (6, "IFA"),
    (7, "AUTHOR"),
    (8, "BRD"),
];

/// `metricnames` (printed highest bit first, as the string is laid out).
const METRICNAMES: &[(u32, &str)] = &[
    (8, "rttvar"),
    (7, "rtt"),
    (6, "ssthresh"),
    (5, "sendpipe"),
    (4, "recvpipe"),
    (3, "expire"),
    (2, "hopcount"),
    (1, "mtu"),
];

/// `msgtypes`.
fn msgtype(t: u8) -> Option<&'static str> {
    Some(match t {
        RTM_ADD => "RTM_ADD: Add Route",
        RTM_DELETE => "RTM_DELETE: Delete Route",
        RTM_CHANGE => "RTM_CHANGE: Change Metrics or flags",
        RTM_GET => "RTM_GET: Report Metrics",
        RTM_LOSING => "RTM_LOSING: Kernel Suspects Partitioning",
        RTM_REDIRECT => "RTM_REDIRECT: Told to use different route",
        RTM_MISS => "RTM_MISS: Lookup failed on this address",
        RTM_LOCK => "RTM_LOCK: fix specified metrics",
        RTM_OLDADD => "RTM_OLDADD: caused by SIOCADDRT",
        RTM_OLDDEL => "RTM_OLDDEL: caused by SIOCDELRT",
        RTM_RESOLVE => "RTM_RESOLVE: Route created by cloning",
        RTM_NEWADDR => "RTM_NEWADDR: address being added to iface",
        RTM_DELADDR => "RTM_DELADDR: address being removed from iface",
        RTM_IFINFO => "RTM_IFINFO: iface status change",
        RTM_NEWMADDR => "RTM_NEWMADDR: new multicast group membership on iface",
        RTM_DELMADDR => "RTM_DELMADDR: multicast group membership removed from iface",
        RTM_IFANNOUNCE => "RTM_IFANNOUNCE: interface arrival/departure",
        RTM_IEEE80211 => "RTM_IEEE80211: IEEE 802.11 wireless event",
        _ => return None,
    })
}

/// `bprintf`: `<NAME,NAME>` of the bits set, nothing when none is.
fn bprintf(b: u64, names: &[(u32, &str)]) -> String {
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| b & (1u64 << (bit - 1)) != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("<{}>", set.join(","))
    }
}

fn usage(bad: Option<&str>) -> ! {
    if let Some(k) = bad {
        libvimage::warnx(format!("bad keyword: {k}"));
    }
    eprintln!("usage: route [-dnqtv] command [[modifiers] args]");
    std::process::exit(EX_USAGE)
}

// ---------------------------------------------------------------------------
// names

/// `gethostbyaddr` through /etc/hosts.
fn host_name(a: IpAddr) -> Option<String> {
    Hosts::read().name_of(a).map(str::to_string)
}

/// `gethostbyname` through /etc/hosts.
fn host_addr(name: &str, v6: bool) -> Option<IpAddr> {
    Hosts::read().addr_of(name, v6)
}

/// The tool's state: options, the kernel connection, the interface list.
struct Route {
    sys: Sys,
    nflag: bool,
    qflag: bool,
    verbose: bool,
    debugonly: bool,
    tflag: bool,
    ifs: Option<Vec<IfInfo>>,
    seq: i32,
    pid: i32,
}

impl Route {
    fn iflist(&mut self) -> &[IfInfo] {
        if self.ifs.is_none() {
            self.ifs = Some(self.sys.iflist().unwrap_or_default());
        }
        self.ifs.as_deref().unwrap_or(&[])
    }

    fn ifname(&mut self, index: u32) -> Option<String> {
        self.iflist()
            .iter()
            .find(|i| i.index == index)
            .map(|i| i.name.clone())
    }

    fn ifindex(&mut self, name: &str) -> Option<u32> {
        self.iflist()
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.index)
    }

    /// The link sockaddr of interface `name` (what getifaddrs gives for AF_LINK).
    fn if_sdl(&mut self, name: &str) -> Option<Sockaddr> {
        let i = self.iflist().iter().find(|i| i.name == name)?.clone();
        Some(Sockaddr::Link(SockaddrDl {
            len: 0,
            index: i.index as u16,
            iftype: i.iftype,
            name: i.name,
            lladdr: i.lladdr,
            sel: Vec::new(),
        }))
    }

    /// `routename`: a sockaddr as route(8) prints it.
    fn routename(&mut self, sa: &Sockaddr) -> String {
        if sa.sa_len() == 0 {
            return "default".into();
        }
        match sa {
            Sockaddr::Inet(a) => self.inet_name(*a, true),
            Sockaddr::Inet6 { addr, scope_id } => self.inet6_name(*addr, *scope_id),
            Sockaddr::Link(d) => link_ntoa(d),
            Sockaddr::Raw { len, family, data } => {
                let mut img = [0u8; 32];
                for (i, b) in data.iter().enumerate().take(30) {
                    img[i + 2] = *b;
                }
                match *family {
                    AF_INET => {
                        if *len < 4 {
                            return "default".into();
                        }
                        self.inet_name(Ipv4Addr::new(img[4], img[5], img[6], img[7]), true)
                    }
                    AF_INET6 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&img[8..24]);
                        self.inet6_name(Ipv6Addr::from(a), 0)
                    }
                    f => {
                        let mut s = format!("({f})");
                        let shorts = (usize::from(*len) + 1) >> 1;
                        for i in 1..shorts.min(16) {
                            let v = u16::from_le_bytes([img[2 * i], img[2 * i + 1]]);
                            s.push_str(&format!(" {v:x}"));
                        }
                        s
                    }
                }
            }
        }
    }

    fn inet_name(&mut self, a: Ipv4Addr, any_is_default: bool) -> String {
        if any_is_default && a.is_unspecified() {
            return "default".into();
        }
        if !self.nflag {
            if let Some(n) = host_name(IpAddr::V4(a)) {
                return n;
            }
        }
        a.to_string()
    }

    fn inet6_name(&mut self, addr: Ipv6Addr, scope_id: u32) -> String {
        let mut seg = addr.segments();
        let ll = seg[0] & 0xffc0 == 0xfe80 || seg[0] == 0xff02;
        let mut scope = scope_id;
        if ll && scope == 0 {
            scope = u32::from(seg[1]);
        }
        if ll {
            seg[1] = 0;
        }
        let a = Ipv6Addr::from(seg);
        if !self.nflag {
            if let Some(n) = host_name(IpAddr::V6(a)) {
                return n;
            }
        }
        if ll && scope != 0 {
            let s = self.ifname(scope).unwrap_or_else(|| scope.to_string());
            format!("{a}%{s}")
        } else {
            a.to_string()
        }
    }

    /// route(8)'s `netname` (flush): an IPv4 network with its zero octets dropped.
    fn netname(&mut self, sa: &Sockaddr) -> String {
        match sa {
            Sockaddr::Inet(a) => {
                let i = u32::from(*a);
                if i == 0 {
                    "default".into()
                } else if i & 0xff_ffff == 0 {
                    format!("{}", i >> 24)
                } else if i & 0xffff == 0 {
                    format!("{}.{}", i >> 24, (i >> 16) & 0xff)
                } else if i & 0xff == 0 {
                    format!("{}.{}.{}", i >> 24, (i >> 16) & 0xff, (i >> 8) & 0xff)
                } else {
                    a.to_string()
                }
            }
            s => self.routename(s),
        }
    }
}

/// `link_ntoa`: `name:hex.hex...`, or `link#N` for an empty one.
fn link_ntoa(d: &SockaddrDl) -> String {
    if d.name.is_empty() && d.lladdr.is_empty() && d.sel.is_empty() {
        return format!("link#{}", d.index);
    }
    let mut s = d.name.clone();
    if !d.lladdr.is_empty() {
        if !s.is_empty() {
            s.push(':');
        }
        let hex: Vec<String> = d.lladdr.iter().map(|b| format!("{b:x}")).collect();
        s.push_str(&hex.join("."));
    }
    s
}

// ---------------------------------------------------------------------------
// address parsing (getaddr)

/// One part of an `inet_aton`/`inet_network` number: decimal, 0x hex or 0 octal.
fn parse_part(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return u32::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

/// `inet_aton`: `a`, `a.b` (b: 24 bits), `a.b.c` (c: 16 bits), `a.b.c.d`.
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let p: Vec<u32> = s.split('.').map(parse_part).collect::<Option<_>>()?;
    let v = match p.as_slice() {
        [a] => *a,
        [a, b] if *a <= 255 && *b <= 0xff_ffff => a << 24 | b,
        [a, b, c] if *a <= 255 && *b <= 255 && *c <= 0xffff => a << 24 | b << 16 | c,
        [a, b, c, d] if [a, b, c, d].iter().all(|x| **x <= 255) => a << 24 | b << 16 | c << 8 | d,
        _ => return None,
    };
    Some(Ipv4Addr::from(v))
}

/// `inet_network`: up to four byte-sized parts, right-aligned (`10.1` → 0x0a01).
fn inet_network(s: &str) -> Option<u32> {
    let p: Vec<u32> = s.split('.').map(parse_part).collect::<Option<_>>()?;
    if p.is_empty() || p.len() > 4 || p.iter().any(|x| *x > 255) {
        return None;
    }
    Some(p.iter().fold(0u32, |v, x| v << 8 | x))
}

/// `inet_lnaof`: the classful host part.
fn inet_lnaof(a: u32) -> u32 {
    if a & 0x8000_0000 == 0 {
        a & 0x00ff_ffff
    } else if a & 0xc000_0000 == 0x8000_0000 {
        a & 0xffff
    } else {
        a & 0xff
    }
}

/// `inet_makenetandmask`: the network and mask of `net` (classful when `bits` is 0).
fn inet_makenetandmask(net: u32, bits: u32) -> (Ipv4Addr, u8) {
    let (addr, plen) = if bits != 0 {
        (net, bits.min(32) as u8)
    } else if net == 0 {
        (0, 0)
    } else if net < 128 {
        (net << 24, 8)
    } else if net < 65536 {
        (net << 16, 16)
    } else if net < 16_777_216 {
        (net << 8, 24)
    } else if net & 0x00ff_ffff == 0 {
        (net, 8)
    } else if net & 0xffff == 0 {
        (net, 16)
    } else if net & 0xff == 0 {
        (net, 24)
    } else {
        (net, 32)
    };
    let mask = if plen == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(plen))
    };
    (Ipv4Addr::from(addr & mask), plen)
}

/// A request being built (`so_dst`, `so_gate`, ... and the flags of newroute).
#[derive(Default)]
struct Req {
    v6: bool,
    dst: Option<Sockaddr>,
    gate: Option<Sockaddr>,
    mask: Option<Sockaddr>,
    genmask: Option<Sockaddr>,
    ifp: Option<Sockaddr>,
    ifa: Option<Sockaddr>,
    /// Prefix length the destination implies (None: host).
    plen: Option<u8>,
    forcehost: bool,
    forcenet: bool,
    iflag: bool,
    rmx: RtMetrics,
    inits: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Dst,
    Gateway,
    Netmask,
    Genmask,
    Ifp,
    Ifa,
}

impl Route {
    /// `getaddr`: parse `s` into the slot `which`; for the destination, returns
    /// whether it names a host.
    fn getaddr(&mut self, r: &mut Req, which: Which, s: &str) -> bool {
        if s == "default" {
            match which {
                Which::Dst => {
                    r.forcenet = true;
                    r.dst = Some(if r.v6 {
                        Sockaddr::Inet6 {
                            addr: Ipv6Addr::UNSPECIFIED,
                            scope_id: 0,
                        }
                    } else {
                        Sockaddr::Inet(Ipv4Addr::UNSPECIFIED)
                    });
                    r.plen = Some(0);
                }
                Which::Netmask | Which::Genmask => {
                    let m = Sockaddr::netmask(r.v6, 0);
                    if which == Which::Netmask {
                        r.mask = Some(m);
                    } else {
                        r.genmask = Some(m);
                    }
                }
                _ => self.bad_address(s),
            }
            return false;
        }
        if which == Which::Ifp {
            match self.if_sdl(s) {
                Some(sdl) => r.ifp = Some(sdl),
                None => {
                    r.ifp = Some(Sockaddr::Link(SockaddrDl {
                        name: s.to_string(),
                        ..Default::default()
                    }))
                }
            }
            return false;
        }
        if which == Which::Gateway && r.iflag {
            if let Some(sdl) = self.if_sdl(s) {
                r.gate = Some(sdl);
                return true;
            }
        }
        if r.v6 {
            return self.getaddr6(r, which, s);
        }
        if which == Which::Dst {
            if let Some((net, len)) = s.split_once('/') {
                if let Some(v) = inet_network(net) {
                    // A shortened net with a length is left-aligned (`10.1/16`).
                    let parts = net.split('.').count() as u32;
                    let v = v.checked_shl(8 * (4 - parts)).unwrap_or(0);
                    let bits: u32 = len.parse().unwrap_or(0);
                    let (a, l) = inet_makenetandmask(v, bits);
                    r.dst = Some(Sockaddr::Inet(a));
                    r.plen = Some(l);
                    return false;
                }
            }
        }
        if let Some(a) = inet_aton(s) {
            return self.set_inet(r, which, a, false);
        }
        if which == Which::Dst && !r.forcehost {
            if let Some(v) = inet_network(s) {
                let (a, l) = inet_makenetandmask(v, 0);
                r.dst = Some(Sockaddr::Inet(a));
                r.plen = Some(l);
                return false;
            }
        }
        match host_addr(s, false) {
            Some(IpAddr::V4(a)) => self.set_inet(r, which, a, true),
            _ => self.bad_address(s),
        }
    }

    fn set_inet(&mut self, r: &mut Req, which: Which, a: Ipv4Addr, named: bool) -> bool {
        let sa = Sockaddr::Inet(a);
        match which {
            Which::Dst => {
                let v = u32::from(a);
                if named || r.forcehost || inet_lnaof(v) != 0 {
                    r.dst = Some(sa);
                    r.plen = None;
                    return true;
                }
                let (n, l) = inet_makenetandmask(v, 0);
                r.dst = Some(Sockaddr::Inet(n));
                r.plen = Some(l);
                false
            }
            Which::Gateway => {
                r.gate = Some(sa);
                true
            }
            Which::Netmask | Which::Genmask => {
                let plen = Sockaddr::Inet(a).mask_plen(false).unwrap_or(32);
                let m = Sockaddr::user_netmask(false, plen);
                if which == Which::Netmask {
                    r.mask = Some(m);
                } else {
                    r.genmask = Some(m);
                }
                false
            }
            Which::Ifa => {
                r.ifa = Some(sa);
                false
            }
            Which::Ifp => false,
        }
    }

    fn getaddr6(&mut self, r: &mut Req, which: Which, s: &str) -> bool {
        let (body, plen) = match s.split_once('/') {
            Some((b, p)) if which == Which::Dst => (b, Some(p)),
            _ => (s, None),
        };
        let (addr, scope) = match body.split_once('%') {
            Some((a, sc)) => {
                let idx = self
                    .ifindex(sc)
                    .or_else(|| sc.parse().ok())
                    .unwrap_or_else(|| self.bad_address(s));
                (a, idx)
            }
            None => (body, 0),
        };
        let a: Ipv6Addr = match addr.parse() {
            Ok(a) => a,
            Err(_) => match host_addr(addr, true) {
                Some(IpAddr::V6(a)) => a,
                _ => self.bad_address(s),
            },
        };
        let sa = Sockaddr::Inet6 {
            addr: a,
            scope_id: scope,
        };
        match which {
            Which::Dst => {
                r.dst = Some(sa);
                // inet6_makenetandmask
                let plen = match plen {
                    Some(p) => Some(p),
                    None if a.is_unspecified() && scope == 0 => Some("0"),
                    None if a.segments()[0] & 0xe000 == 0x2000
                        && a.segments()[4..].iter().all(|x| *x == 0) =>
                    {
                        Some("64")
                    }
                    None => None,
                };
                match plen {
                    None | Some("128") => {
                        r.plen = None;
                        true
                    }
                    Some(p) => match p.parse::<u8>() {
                        Ok(l) if l <= 128 => {
                            r.plen = Some(l);
                            false
                        }
                        _ => errx(EX_USAGE, format!("{p}: bad value")),
                    },
                }
            }
            Which::Gateway => {
                r.gate = Some(sa);
                true
            }
            Which::Netmask | Which::Genmask => {
                let m = Sockaddr::user_netmask(true, sa.mask_plen(true).unwrap_or(128));
                if which == Which::Netmask {
                    r.mask = Some(m);
                } else {
                    r.genmask = Some(m);
                }
                false
            }
            Which::Ifa => {
                r.ifa = Some(sa);
                false
            }
            Which::Ifp => false,
        }
    }

    fn bad_address(&self, s: &str) -> ! {
        errx(EX_NOHOST, format!("bad address: {s}"))
    }
}

// ---------------------------------------------------------------------------
// commands

impl Route {
    fn open_socket(&mut self) -> i32 {
        match self.sys.socket(PF_ROUTE, SOCK_RAW, 0) {
            Ok(s) => s,
            Err(e) => err(EX_OSERR, "socket", e),
        }
    }

    /// `newroute`: add, change, delete, get.
    fn newroute(&mut self, args: &[String]) -> ! {
        let cmd = args[0].clone();
        let c = cmd.as_bytes()[0];
        let mut r = Req::default();
        let mut flags = RTF_STATIC;
        let mut ishost = false;
        let mut dest = String::new();
        let mut gateway = String::new();
        let (mut locking, mut lockrest) = (false, false);
        let mut it = args[1..].iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix('-') {
                let arg = |it: &mut std::slice::Iter<String>| -> String {
                    it.next().cloned().unwrap_or_else(|| usage(Some(k)))
                };
                match k {
                    "inet" => r.v6 = false,
                    "inet6" => r.v6 = true,
                    "iface" | "interface" => r.iflag = true,
                    "nostatic" => flags &= !RTF_STATIC,
                    "static" => flags |= RTF_STATIC,
                    "reject" => flags |= RTF_REJECT,
                    "blackhole" => flags |= RTF_BLACKHOLE,
                    "proto1" => flags |= RTF_PROTO1,
                    "proto2" => flags |= RTF_PROTO2,
                    "xresolve" => flags |= RTF_XRESOLVE,
                    "cloning" => flags |= RTF_CLONING,
                    "llinfo" => flags |= RTF_LLINFO,
                    "proxy" => {}
                    "host" => r.forcehost = true,
                    "net" => r.forcenet = true,
                    "lock" => locking = true,
                    "lockrest" => lockrest = true,
                    "prefixlen" => {
                        let v = arg(&mut it);
                        let max = if r.v6 { 128 } else { 32 };
                        let l: u8 = match v.parse() {
                            Ok(l) if l <= max => l,
                            _ => errx(EX_USAGE, format!("{v}: bad value")),
                        };
                        r.mask = Some(Sockaddr::user_netmask(r.v6, l));
                        if l == max {
                            r.forcenet = false;
                            ishost = true;
                            r.mask = None;
                        } else {
                            r.forcenet = true;
                            ishost = false;
                        }
                    }
                    "netmask" => {
                        let v = arg(&mut it);
                        self.getaddr(&mut r, Which::Netmask, &v);
                        r.forcenet = true;
                    }
                    "genmask" => {
                        let v = arg(&mut it);
                        self.getaddr(&mut r, Which::Genmask, &v);
                    }
                    "ifp" => {
                        let v = arg(&mut it);
                        self.getaddr(&mut r, Which::Ifp, &v);
                    }
                    "ifa" => {
                        let v = arg(&mut it);
                        self.getaddr(&mut r, Which::Ifa, &v);
                    }
                    "gateway" => {
                        let v = arg(&mut it);
                        gateway = v.clone();
                        self.getaddr(&mut r, Which::Gateway, &v);
                    }
                    "dst" => {
                        let v = arg(&mut it);
                        ishost = self.getaddr(&mut r, Which::Dst, &v);
                        dest = v.split('/').next().unwrap_or_default().to_string();
                    }
                    "mtu" | "hopcount" | "expire" | "recvpipe" | "sendpipe" | "ssthresh"
                    | "rtt" | "rttvar" => {
                        let v = arg(&mut it);
                        let n: u64 = v.parse().unwrap_or(0);
                        let (bit, slot) = match k {
                            "mtu" => (RTV_MTU, &mut r.rmx.mtu),
                            "hopcount" => (RTV_HOPCOUNT, &mut r.rmx.hopcount),
                            "expire" => (RTV_EXPIRE, &mut r.rmx.expire),
                            "recvpipe" => (RTV_RPIPE, &mut r.rmx.recvpipe),
                            "sendpipe" => (RTV_SPIPE, &mut r.rmx.sendpipe),
                            "ssthresh" => (RTV_SSTHRESH, &mut r.rmx.ssthresh),
                            "rtt" => (RTV_RTT, &mut r.rmx.rtt),
                            _ => (RTV_RTTVAR, &mut r.rmx.rttvar),
                        };
                        *slot = n;
                        r.inits |= bit;
                        if locking || lockrest {
                            r.rmx.locks |= bit;
                        }
                        locking = false;
                    }
                    _ => usage(Some(k)),
                }
            } else if r.dst.is_none() {
                dest = a.clone();
                ishost = self.getaddr(&mut r, Which::Dst, a);
                if !r.v6 {
                    // The parser cut an IPv4 prefix at its '/'.
                    if let Some((d, _)) = dest.split_once('/') {
                        dest = d.to_string();
                    }
                }
            } else if r.gate.is_none() {
                gateway = a.clone();
                self.getaddr(&mut r, Which::Gateway, a);
            } else {
                self.getaddr(&mut r, Which::Netmask, a);
                r.forcenet = true;
            }
        }
        if r.dst.is_none() {
            usage(None);
        }
        if r.forcehost {
            ishost = true;
            if r.v6 {
                r.mask = None;
            }
        }
        if r.forcenet {
            ishost = false;
        }
        if !ishost && r.mask.is_none() {
            let l = r.plen.unwrap_or(if r.v6 { 128 } else { 32 });
            r.mask = Some(if l == 0 && !r.v6 {
                // "default": a zero sockaddr_in cut to its header.
                Sockaddr::Raw {
                    len: 2,
                    family: AF_INET,
                    data: Vec::new(),
                }
            } else {
                Sockaddr::user_netmask(r.v6, l)
            });
        }
        if ishost {
            r.mask = None;
        }
        flags |= RTF_UP;
        if ishost {
            flags |= RTF_HOST;
        }
        if !r.iflag {
            flags |= RTF_GATEWAY;
        }
        let ret = self.rtmsg(c, flags, &r);
        if c == b'g' || c == b's' {
            std::process::exit(i32::from(ret.is_err()));
        }
        if !self.qflag {
            let mut line = format!("{} {} {}", cmd, if ishost { "host" } else { "net" }, dest);
            if !gateway.is_empty() {
                line.push_str(&format!(": gateway {gateway}"));
            }
            match ret {
                Ok(()) => println!("{line}"),
                Err(e) => {
                    let why = match e {
                        Errno::ESRCH => "not in table".to_string(),
                        Errno::EBUSY => "entry in use".to_string(),
                        Errno::ENOBUFS => "not enough memory".to_string(),
                        Errno::EADDRINUSE => "gateway uses the same route".to_string(),
                        Errno::EEXIST => "route already in table".to_string(),
                        e => strerror(e),
                    };
                    println!("{line}: {why}");
                }
            }
        }
        std::process::exit(i32::from(ret.is_err()))
    }

    /// `rtmsg`: build, send and (for get) read back one request.
    fn rtmsg(&mut self, c: u8, flags: u32, r: &Req) -> Result<(), Errno> {
        let ty = match c {
            b'a' => RTM_ADD,
            b'c' => RTM_CHANGE,
            b'g' | b's' => RTM_GET,
            _ => RTM_DELETE,
        };
        let mut m = RtMsg::new(ty);
        self.seq += 1;
        m.hdr.flags = flags as i32;
        m.hdr.seq = self.seq;
        m.hdr.pid = self.pid;
        m.hdr.rmx = r.rmx;
        m.hdr.inits = r.inits;
        m.sa[0] = r.dst.clone();
        m.sa[1] = r.gate.clone();
        m.sa[2] = r.mask.clone();
        m.sa[3] = r.genmask.clone();
        m.sa[4] = r.ifp.clone();
        m.sa[5] = r.ifa.clone();
        if ty == RTM_GET && m.sa[4].is_none() {
            m.sa[4] = Some(Sockaddr::Link(SockaddrDl {
                len: SOCKADDR_DL_LEN,
                ..Default::default()
            }));
        }
        if ty == RTM_CHANGE {
            m.hdr.fmask = RTF_FMASK as i32;
        }
        let b = m
            .to_bytes()
            .unwrap_or_else(|e| err(1, "routing message", e));
        if self.verbose {
            if let Ok(msg) = RtSockMsg::decode(&b) {
                self.print_rtmsg(&msg, b.len());
            }
        }
        if self.debugonly {
            return Ok(());
        }
        let s = self.open_socket();
        if self.tflag {
            return Ok(());
        }
        if let Err(e) = self.sys.sendto(s, &b, 0, None) {
            if e == Errno::EPERM {
                err(1, "writing to routing socket", e);
            }
            warn("writing to routing socket", e);
            return Err(e);
        }
        if ty == RTM_GET {
            let _ = self.sys.setsockopt(
                s,
                libvimage::SOL_SOCKET,
                libvimage::SO_RCVTIMEO,
                &libvimage::timeval_bytes(GET_TIMEOUT),
            );
            loop {
                match self.sys.recvfrom(s, 2048, 0) {
                    Ok((d, _)) => {
                        if let Ok(RtSockMsg::Route(rm)) = RtSockMsg::decode(&d) {
                            if rm.hdr.seq == self.seq && rm.hdr.pid == self.pid {
                                self.print_getmsg(&rm, r, d.len());
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        warn("read from routing socket", e);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// `print_getmsg`: the answer to `route get`.
    fn print_getmsg(&mut self, m: &RtMsg, r: &Req, len: usize) {
        if usize::from(m.hdr.msglen) > len {
            libvimage::warnx(format!(
                "message length mismatch, in packet {}, returned {}",
                m.hdr.msglen, len
            ));
        }
        if m.hdr.errno != 0 {
            warn(
                format!("message indicates error {}", m.hdr.errno),
                Errno(m.hdr.errno),
            );
            return;
        }
        let so_dst = r
            .dst
            .clone()
            .unwrap_or(Sockaddr::Inet(Ipv4Addr::UNSPECIFIED));
        println!("   route to: {}", self.routename(&so_dst));
        let dst = m.sa[0].clone();
        if let Some(d) = &dst {
            println!("destination: {}", self.routename(d));
        }
        if let Some(mask) = &m.sa[2] {
            // The kernel's compact mask carries no family: use the destination's.
            let fixed = match (mask, &dst) {
                (Sockaddr::Raw { len, data, .. }, Some(d)) if *len > 0 => Sockaddr::Raw {
                    len: *len,
                    family: d.family(),
                    data: data.clone(),
                },
                (m, _) => m.clone(),
            };
            let save = self.nflag;
            self.nflag = true;
            println!("       mask: {}", self.routename(&fixed));
            self.nflag = save;
        }
        if let Some(g) = &m.sa[1] {
            if m.hdr.flags as u32 & RTF_GATEWAY != 0 {
                println!("    gateway: {}", self.routename(g));
            }
        }
        if let Some(Sockaddr::Link(d)) = &m.sa[4] {
            if !d.name.is_empty() {
                println!("  interface: {}", d.name);
            }
        }
        println!(
            "      flags: {}",
            bprintf(u64::from(m.hdr.flags as u32), ROUTEFLAGS)
        );
        println!(" recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire");
        let x = &m.hdr.rmx;
        let lock = |bit: u64| if x.locks & bit != 0 { 'L' } else { ' ' };
        let msec = |us: u64| (us + 500) / 1000;
        let cols = [
            (x.recvpipe, RTV_RPIPE),
            (x.sendpipe, RTV_SPIPE),
            (x.ssthresh, RTV_SSTHRESH),
            (msec(x.rtt), RTV_RTT),
            (msec(x.rttvar), RTV_RTTVAR),
            (x.hopcount, RTV_HOPCOUNT),
            (x.mtu, RTV_MTU),
        ];
        let mut line = String::new();
        for (v, bit) in cols {
            line.push_str(&format!("{:8}{} ", v as i64, lock(bit)));
        }
        line.push_str(&format!("{:8}{}", x.expire as i64, lock(RTV_EXPIRE)));
        println!("{line}");
        let ign = RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD;
        let addrs =
            m.sa.iter()
                .enumerate()
                .filter(|(_, s)| s.is_some())
                .fold(0i32, |a, (i, _)| a | (1 << i));
        if self.verbose {
            self.pmsg_common(m);
        } else if addrs & !ign != 0 {
            println!("sockaddrs: {}", bprintf(addrs as u64, ADDRNAMES));
        }
    }

    fn pmsg_common(&mut self, m: &RtMsg) {
        print!(
            "\nlocks: {} inits: {}",
            bprintf(m.hdr.rmx.locks, METRICNAMES),
            bprintf(m.hdr.inits, METRICNAMES)
        );
        self.pmsg_addrs(&m.sa);
    }

    fn pmsg_addrs(&mut self, sa: &[Option<Sockaddr>; RTAX_MAX]) {
        let addrs = sa
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .fold(0u64, |a, (i, _)| a | (1 << i));
        if addrs == 0 {
            println!();
            return;
        }
        println!("\nsockaddrs: {}", bprintf(addrs, ADDRNAMES));
        let mut line = String::new();
        for s in sa.iter().flatten() {
            line.push(' ');
            line.push_str(&self.routename(s));
        }
        println!("{line}");
    }

    /// `print_rtmsg`: one message as monitor and -v show it.
    fn print_rtmsg(&mut self, msg: &RtSockMsg, len: usize) {
        let (ty, mlen) = match msg {
            RtSockMsg::Route(m) => (m.hdr.rtm_type, len),
            RtSockMsg::Addr(m) => (m.rtm_type, len),
            RtSockMsg::Ifinfo(_) => (RTM_IFINFO, len),
            RtSockMsg::Announce(_) => (RTM_IFANNOUNCE, len),
            RtSockMsg::Other { rtm_type, len } => (*rtm_type, usize::from(*len)),
        };
        match msgtype(ty) {
            Some(t) => print!("{t}: "),
            None => print!("#{ty}: "),
        }
        print!("len {mlen}, ");
        match msg {
            RtSockMsg::Ifinfo(i) => {
                let state = match i.link_state {
                    LINK_STATE_DOWN => "down",
                    LINK_STATE_UP => "up",
                    _ => "unknown",
                };
                print!(
                    "if# {}, link: {}, flags:{}",
                    i.index,
                    state,
                    bprintf(u64::from(i.flags as u32), IFNETFLAGS)
                );
                self.pmsg_addrs(&i.sa);
            }
            RtSockMsg::Addr(a) => {
                print!(
                    "metric {}, flags:{}",
                    a.metric,
                    bprintf(u64::from(a.flags as u32), ROUTEFLAGS)
                );
                self.pmsg_addrs(&a.sa);
            }
            RtSockMsg::Announce(a) => {
                let what = match a.what {
                    IFAN_ARRIVAL => "arrival".to_string(),
                    IFAN_DEPARTURE => "departure".to_string(),
                    w => format!("#{w}"),
                };
                println!("if# {}, what: {}", a.index, what);
            }
            RtSockMsg::Route(m) => {
                print!(
                    "pid: {}, seq {}, errno {}, flags:{}",
                    m.hdr.pid,
                    m.hdr.seq,
                    m.hdr.errno,
                    bprintf(u64::from(m.hdr.flags as u32), ROUTEFLAGS)
                );
                self.pmsg_common(m);
            }
            RtSockMsg::Other { .. } => println!(),
        }
    }

    /// `monitor`: print every message the kernel sends until it goes away.
    fn monitor(&mut self) -> ! {
        self.verbose = true;
        let s = self.open_socket();
        loop {
            let d = match self.sys.recvfrom(s, 2048, 0) {
                Ok((d, _)) => d,
                Err(e) => err(1, "read from routing socket", e),
            };
            println!("\ngot message of size {} on {}", d.len(), ctime_now());
            if d.len() >= 4 && d[2] != RTM_VERSION {
                println!("routing message version {} not understood", d[2]);
                continue;
            }
            match RtSockMsg::decode(&d) {
                Ok(m) => self.print_rtmsg(&m, d.len()),
                Err(_) => println!("routing message version {} not understood", d[2]),
            }
        }
    }

    /// `flushroutes`: delete every gateway route (of one family with -inet/-inet6).
    fn flush(&mut self, args: &[String]) -> ! {
        let mut af: Option<bool> = None;
        if args.len() > 1 {
            match args[1].as_str() {
                "-inet" if args.len() == 2 => af = Some(false),
                "-inet6" if args.len() == 2 => af = Some(true),
                a => usage(Some(a.trim_start_matches('-'))),
            }
        }
        let dump = match self.sys.sysctl(NET_ROUTE_DUMP) {
            Ok(r) => match r.value {
                SysctlValue::Opaque(_, b) => {
                    RouteDump::from_bytes(&b).unwrap_or_else(|e| err(1, "route-sysctl-estimate", e))
                }
                _ => errx(1, "route-sysctl-estimate: bad reply"),
            },
            Err(e) => err(1, "route-sysctl-estimate", e),
        };
        if self.verbose {
            println!("Examining routing table from sysctl");
        }
        let s = self.open_socket();
        let mut seqno = 0;
        for e in &dump.routes {
            if e.flags & RTF_GATEWAY == 0 {
                continue;
            }
            if af.is_some_and(|v6| v6 != e.dst.is_ipv6()) {
                continue;
            }
            if self.debugonly {
                continue;
            }
            let mut m = RtMsg::new(RTM_DELETE);
            m.hdr.flags = e.flags as i32;
            m.hdr.seq = seqno;
            m.hdr.pid = self.pid;
            let scope = if e.dst.is_ipv6() { e.ifindex } else { 0 };
            m.sa[0] = Some(match e.dst {
                IpAddr::V4(a) => Sockaddr::Inet(a),
                IpAddr::V6(a) => Sockaddr::Inet6 {
                    addr: a,
                    scope_id: if a.segments()[0] & 0xffc0 == 0xfe80 {
                        scope
                    } else {
                        0
                    },
                },
            });
            m.sa[1] = Some(match &e.gateway {
                DumpGateway::Link(i) => Sockaddr::Link(SockaddrDl {
                    len: SOCKADDR_DL_LEN,
                    index: *i as u16,
                    ..Default::default()
                }),
                DumpGateway::Inet(a) => Sockaddr::from_ip(*a),
                // (Not a gateway route, so not flushed; named for completeness.)
                DumpGateway::Ether(m) => Sockaddr::Link(SockaddrDl {
                    len: SOCKADDR_DL_LEN,
                    index: e.ifindex as u16,
                    lladdr: m.to_vec(),
                    ..Default::default()
                }),
            });
            if e.flags & RTF_HOST == 0 {
                m.sa[2] = Some(Sockaddr::netmask(e.dst.is_ipv6(), e.plen));
            }
            let Ok(b) = m.to_bytes() else { continue };
            if let Err(x) = self.sys.sendto(s, &b, 0, None) {
                if x == Errno::EPERM {
                    err(1, "write to routing socket", x);
                }
                warn("write to routing socket", x);
                continue;
            }
            seqno += 1;
            if self.qflag {
                continue;
            }
            if self.verbose {
                if let Ok(msg) = RtSockMsg::decode(&b) {
                    self.print_rtmsg(&msg, b.len());
                }
            } else {
                let d = m.sa[0]
                    .clone()
                    .unwrap_or(Sockaddr::Inet(Ipv4Addr::UNSPECIFIED));
                let dn = if e.flags & RTF_HOST != 0 {
                    self.routename(&d)
                } else {
                    self.netname(&d)
                };
                let g = m.sa[1]
                    .clone()
                    .unwrap_or(Sockaddr::Inet(Ipv4Addr::UNSPECIFIED));
                let gn = self.routename(&g);
                println!("{:<20.20} {:<20.20} done", dn, gn);
            }
        }
        std::process::exit(0)
    }
}

/// `ctime(3)` of now without its newline: `Thu Nov 26 16:51:03 2026`.
fn ctime_now() -> String {
    // SAFETY: time(NULL) has no preconditions; ctime_r writes at most 26 bytes
    // into the 64-byte buffer and NUL-terminates it.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut buf = [0 as libc::c_char; 64];
        if libc::ctime_r(&t, buf.as_mut_ptr()).is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .trim_end()
            .to_string()
    }
}

fn main() {
    libvimage::sigpipe_default();
    let a = getopt("dnqtv", || usage(None));
    let has = |l: char| a.opts.iter().any(|(c, _)| *c == l);
    let args = &a.operands;
    if args.is_empty() {
        usage(None);
    }
    let mut r = Route {
        sys: Sys::open_or_exit(),
        nflag: has('n'),
        qflag: has('q'),
        verbose: has('v'),
        debugonly: has('d'),
        tflag: has('t'),
        ifs: None,
        seq: 0,
        pid: std::process::id() as i32,
    };
    match args[0].as_str() {
        "add" | "change" | "delete" | "del" | "get" | "show" => r.newroute(args),
        "monitor" => r.monitor(),
        "flush" => r.flush(args),
        k => usage(Some(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classful_and_prefix_parsing() {
        assert_eq!(inet_aton("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("300.1.1.1"), None);
        assert_eq!(inet_network("10.1"), Some(0x0a01));
        assert_eq!(
            inet_makenetandmask(0x0a00_0000, 0),
            (Ipv4Addr::new(10, 0, 0, 0), 8)
        );
        assert_eq!(
            inet_makenetandmask(0x00c0_a801, 0),
            (Ipv4Addr::new(192, 168, 1, 0), 24)
        );
        assert_eq!(
            inet_makenetandmask(0x0a00_0100, 24),
            (Ipv4Addr::new(10, 0, 1, 0), 24)
        );
        assert_eq!(inet_lnaof(u32::from(Ipv4Addr::new(10, 0, 0, 0))), 0);
        assert_eq!(inet_lnaof(u32::from(Ipv4Addr::new(192, 168, 1, 0))), 0);
    }

    #[test]
    fn flag_and_link_formatting() {
        assert_eq!(
            bprintf(
                u64::from(RTF_UP | RTF_GATEWAY | RTF_DONE | RTF_STATIC),
                ROUTEFLAGS
            ),
            "<UP,GATEWAY,DONE,STATIC>"
        );
        assert_eq!(bprintf(0, ROUTEFLAGS), "");
        assert_eq!(bprintf(RTV_MTU | RTV_RTT, METRICNAMES), "<rtt,mtu>");
        let d = SockaddrDl {
            name: "eth0".into(),
            lladdr: vec![0x40, 0xa, 0, 0xc, 0xd, 1],
            ..Default::default()
        };
        assert_eq!(link_ntoa(&d), "eth0:40.a.0.c.d.1");
        assert_eq!(
            link_ntoa(&SockaddrDl {
                index: 3,
                ..Default::default()
            }),
            "link#3"
        );
    }
}
