//! ifconfig(8): list interfaces (all, one, `-l`, `-a`, `-u`, `-d`, `-C`, optionally
//! one address family), `create`/`destroy`, `up`/`down`, `mtu`, `name`,
//! `link`/`ether`/`lladdr`, `arp`/`-arp`, vlans (`vlan TAG`, `vlandev IF`,
//! `-vlandev`, also on `create`), and IPv4 addresses: `IF [inet] ADDR[/LEN]
//! [netmask M] [broadcast B] [alias | -alias]`.  Output follows FreeBSD 7's layout.

use std::net::{Ipv4Addr, Ipv6Addr};

use libvimage::{err, errx, getopt, resolve4, Errno, Sys};
use vimage_abi::net_if::*;
use vimage_abi::net_if_vlan_var::{VlanReq, SIOCGETVLAN, SIOCIFCREATE2_VLAN, SIOCSETVLAN};
use vimage_abi::netinet_in::{
    in_mask2plen, in_plen2mask, InAliasReq, SockaddrIn, SIOCAIFADDR, SIOCDIFADDR,
};
use vimage_abi::sysctl::SysctlValue;

fn usage() -> ! {
    eprintln!(
        "usage: ifconfig [-L] [-C] interface address_family [address [dest_address]]\n                [parameters]\n       ifconfig interface create\n       ifconfig -a [-L] [-C] [-d] [-m] [-u] [-v] [address_family]\n       ifconfig -l [-d] [-u] [address_family]\n       ifconfig [-L] [-C] [-d] [-m] [-u] [-v]"
    );
    std::process::exit(1)
}

fn iflist(s: &mut Sys) -> Vec<IfInfo> {
    s.iflist().unwrap_or_else(|e| err(1, "iflist", e))
}

/// The address family a listing is restricted to (`ifconfig -a inet`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Af {
    Inet,
    Inet6,
    Link,
}

fn af_of(word: &str) -> Option<Af> {
    match word {
        "inet" => Some(Af::Inet),
        "inet6" => Some(Af::Inet6),
        "link" | "ether" | "lladdr" => Some(Af::Link),
        _ => None,
    }
}

fn has_link(i: &IfInfo) -> bool {
    i.lladdr.len() == 6 && (i.iftype == IFT_ETHER || i.iftype == IFT_L2VLAN)
}

/// One address line (`in_status` / `in6_status`).
fn addr_line(i: &IfInfo, a: &IfAddrInfo) -> Option<String> {
    match a.family {
        AF_INET => {
            let addr = Ipv4Addr::from(<[u8; 4]>::try_from(a.addr.as_slice()).ok()?);
            let mask = <[u8; 4]>::try_from(a.mask.as_slice())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            let mut l = format!("\tinet {addr} ");
            let dst = <[u8; 4]>::try_from(a.dst.as_slice())
                .ok()
                .map(Ipv4Addr::from);
            if i.flags & IFF_POINTOPOINT != 0 {
                if let Some(d) = dst {
                    l.push_str(&format!("--> {d} "));
                }
            }
            l.push_str(&format!("netmask 0x{mask:x} "));
            if i.flags & IFF_BROADCAST != 0 {
                if let Some(b) = dst.filter(|b| !b.is_unspecified()) {
                    l.push_str(&format!("broadcast {b}"));
                }
            }
            Some(l)
        }
        AF_INET6 => {
            let addr = Ipv6Addr::from(<[u8; 16]>::try_from(a.addr.as_slice()).ok()?);
            let plen: u32 = a.mask.iter().map(|b| b.count_ones()).sum();
            let mut l = if a.scope != 0 {
                format!("\tinet6 {addr}%{} ", i.name)
            } else {
                format!("\tinet6 {addr} ")
            };
            if let Ok(d) = <[u8; 16]>::try_from(a.dst.as_slice()) {
                l.push_str(&format!("--> {} ", Ipv6Addr::from(d)));
            }
            l.push_str(&format!("prefixlen {plen} "));
            for (bit, name) in [
                (0x01, "anycast"),
                (0x02, "tentative"),
                (0x04, "duplicated"),
                (0x08, "detached"),
                (0x10, "deprecated"),
                (0x40, "autoconf"),
                (0x80, "temporary"),
            ] {
                if a.flags & bit != 0 {
                    l.push_str(name);
                    l.push(' ');
                }
            }
            if a.scope != 0 {
                l.push_str(&format!("scopeid 0x{:x} ", a.scope));
            }
            Some(l)
        }
        _ => None,
    }
}

fn status(i: &IfInfo, af: Option<Af>) {
    println!(
        "{}: {} metric {} mtu {}",
        i.name,
        format_flags(i.flags),
        i.metric,
        i.mtu
    );
    if has_link(i) && (af.is_none() || af == Some(Af::Link)) {
        let m: Vec<String> = i.lladdr.iter().map(|b| format!("{b:02x}")).collect();
        println!("\tether {}", m.join(":"));
    }
    for a in &i.addrs {
        let want = match af {
            None => true,
            Some(Af::Inet) => a.family == AF_INET,
            Some(Af::Inet6) => a.family == AF_INET6,
            Some(Af::Link) => false,
        };
        if want {
            if let Some(l) = addr_line(i, a) {
                println!("{l}");
            }
        }
    }
    if af.is_none() {
        for l in &i.status {
            println!("\t{l}");
        }
    }
}

/// Whether `i` has an address of family `af` (`ifconfig -l inet`).
fn has_af(i: &IfInfo, af: Af) -> bool {
    match af {
        Af::Inet => i.addrs.iter().any(|a| a.family == AF_INET),
        Af::Inet6 => i.addrs.iter().any(|a| a.family == AF_INET6),
        Af::Link => has_link(i),
    }
}

/// `ADDR[/LEN]`: the address and the mask the width gives.
fn inet_cidr(s: &str) -> (Ipv4Addr, Option<Ipv4Addr>) {
    match s.split_once('/') {
        Some((a, w)) => {
            let Some(addr) = resolve4(a) else {
                errx(1, format!("{s}: bad value"))
            };
            let Ok(n) = w.parse::<u32>() else {
                errx(1, format!("{s}: bad value (width invalid)"))
            };
            if n > 32 {
                errx(1, format!("{s}: bad value (width too large)"))
            }
            (addr, Some(in_plen2mask(n as u8)))
        }
        None => match resolve4(s) {
            Some(a) => (a, None),
            None => errx(1, format!("{s}: bad value")),
        },
    }
}

/// A netmask: dotted quad, or `0x` followed by hex digits.
fn inet_mask(s: &str) -> Ipv4Addr {
    let m = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok().map(Ipv4Addr::from)
    } else {
        s.parse().ok()
    };
    match m.filter(|m| in_mask2plen(*m).is_some()) {
        Some(m) => m,
        None => errx(1, format!("{s}: bad value")),
    }
}

/// ether_aton: 1–2 hex digits per byte, `:`-separated.
fn ether_aton(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut a = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        a[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(a)
}

/// The leading options.
#[derive(Default)]
struct Opts {
    all: bool,
    list: bool,
    up_only: bool,
    down_only: bool,
    cloners: bool,
    /// The interface and its parameters, or the address family to list.
    rest: Vec<String>,
}

fn parse_args() -> Opts {
    let a = getopt("aCdLlmnuv", usage);
    let mut o = Opts {
        rest: a.operands,
        ..Opts::default()
    };
    for (c, _) in a.opts {
        match c {
            'a' => o.all = true,
            'l' => o.list = true,
            'u' => o.up_only = true,
            'd' => o.down_only = true,
            'C' => o.cloners = true,
            _ => {} // -L, -m, -n, -v: accepted, no effect here.
        }
    }
    if (o.list && o.all) || (o.up_only && o.down_only) {
        usage()
    }
    o
}

fn main() {
    libvimage::sigpipe_default();
    let o = parse_args();
    let mut s = Sys::open_or_exit();
    if o.cloners {
        match s.sysctl("net.link.cloners") {
            Ok(r) => {
                if let SysctlValue::Str(c) = r.value {
                    println!("{c}");
                }
            }
            Err(e) => err(1, "SIOCIFGCLONERS", e),
        }
    } else if o.list || o.all || o.rest.is_empty() {
        listing(&mut s, &o);
    } else {
        configure(&mut s, &o.rest[0], &o.rest[1..]);
    }
}

/// `ifconfig -l`, `-a` or no interface: the interfaces (`-u`/`-d`: up or
/// down only; an address family: those with one).
fn listing(s: &mut Sys, o: &Opts) {
    let keep = |i: &IfInfo| {
        (!o.up_only || i.flags & IFF_UP != 0) && (!o.down_only || i.flags & IFF_UP == 0)
    };
    let af = match o.rest.as_slice() {
        [] => None,
        [f] => Some(af_of(f).unwrap_or_else(|| usage())),
        _ => usage(),
    };
    let ifs: Vec<IfInfo> = iflist(s)
        .into_iter()
        .filter(|i| keep(i) && af.is_none_or(|f| has_af(i, f)))
        .collect();
    if o.list {
        let names: Vec<&str> = ifs.iter().map(|i| i.name.as_str()).collect();
        println!("{}", names.join(" "));
    } else {
        for i in &ifs {
            status(i, af);
        }
    }
}

/// `ifconfig IF [parameters]`: create, show or change interface `ifname`.
fn configure(s: &mut Sys, ifname: &str, params: &[String]) {
    let fd = s.socket(2, 2, 0).unwrap_or_else(|e| err(1, "socket", e));
    if params.first().map(String::as_str) == Some("create")
        || params.first().map(String::as_str) == Some("plumb")
    {
        let (name, rest) = clone_create(s, fd, ifname, &params[1..]);
        if !rest.is_empty() {
            // The parameters after the clone's own apply to the new interface.
            configure(s, &name, rest);
        }
        return;
    }
    let Some(info) = iflist(s).into_iter().find(|i| i.name == ifname) else {
        errx(1, format!("interface {ifname} does not exist"))
    };
    if params.is_empty() {
        status(&info, None);
        return;
    }
    if params.len() == 1 {
        if let Some(af) = af_of(&params[0]) {
            status(&info, Some(af));
            return;
        }
    }
    let mut name = ifname.to_string();
    let Some(req) = set_params(s, fd, &mut name, params) else {
        return;
    };
    let vlan_incomplete = req.vlan_incomplete;
    if req.af6 {
        inet6_apply(s, &name, req.addr6, req.plen6, req.flags6, req.delete);
    } else {
        set_inet(s, fd, &name, &info, req);
    }
    if vlan_incomplete {
        errx(1, "both vlan and vlandev must be specified")
    }
}

/// `vlan_create`'s tag value meaning "none given" (`NOTAG`, `(u_short)-1`).
const NOTAG: u16 = 0xffff;

/// The `vlan` and `vlandev` words of a command line (ifvlan.c's `params`).
struct VlanParams {
    tag: u16,
    parent: String,
}

impl Default for VlanParams {
    fn default() -> Self {
        VlanParams {
            tag: NOTAG,
            parent: String::new(),
        }
    }
}

impl VlanParams {
    /// `setvlantag` / `setvlandev`.
    fn set(&mut self, word: &str, v: &str) {
        if word == "vlan" {
            let Some(ul) = strtoul(v) else {
                errx(1, "invalid value for vlan")
            };
            self.tag = u16::try_from(ul).unwrap_or_else(|_| errx(1, "value for vlan out of range"));
        } else {
            // strlcpy into vlr_parent: cut to what fits.
            let mut n = v.len().min(vimage_abi::IFNAMSIZ - 1);
            while !v.is_char_boundary(n) {
                n -= 1;
            }
            self.parent = v[..n].to_string();
        }
    }

    fn given(&self) -> bool {
        self.tag != NOTAG || !self.parent.is_empty()
    }

    /// One of the two without the other (`vlan_cb`).
    fn incomplete(&self) -> bool {
        self.given() && (self.tag == NOTAG || self.parent.is_empty())
    }

    fn req(&self) -> VlanReq {
        VlanReq {
            parent: self.parent.clone(),
            tag: self.tag,
        }
    }

    /// `vlan_set`: SIOCSETVLAN once both are known.
    fn apply(&self, s: &mut Sys, fd: i32, name: &str) {
        if self.tag == NOTAG || self.parent.is_empty() {
            return;
        }
        if let Err(e) = s.ioctl(fd, SIOCSETVLAN, ifr_vlan(name, &self.req())) {
            err(1, "SIOCSETVLAN", e)
        }
    }
}

/// `strtoul(s, &end, 0)` that must use the whole string: decimal, `0x` hex or
/// `0` octal, an optional sign (a negative value wraps, as in C); `None` if
/// characters are left over.
fn strtoul(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() {
        // Nothing converted leaves the end at the start: only an empty
        // string is then used up (and reads 0).
        return s.is_empty().then_some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// An ifreq for `name` with `vlr` after it, as SIOCSETVLAN/SIOCGETVLAN and
/// SIOCIFCREATE2 with parameters carry it.
fn ifr_vlan(name: &str, vlr: &VlanReq) -> Vec<u8> {
    let mut b = IfReq::new(name).to_bytes().unwrap_or_default();
    b.extend(vlr.to_bytes().unwrap_or_default());
    b
}

/// `getvlan`: the vlan's parent and tag (an error if `name` is no vlan).
fn getvlan(s: &mut Sys, fd: i32, name: &str) -> Result<VlanReq, Errno> {
    let b = s.ioctl(fd, SIOCGETVLAN, ifr_vlan(name, &VlanReq::default()))?;
    VlanReq::from_bytes(b.get(IFREQ_SIZE..).unwrap_or_default())
}

/// `-vlandev`: take the vlan off its parent.
fn unsetvlandev(s: &mut Sys, fd: i32, name: &str) {
    if let Err(e) = getvlan(s, fd, name) {
        err(1, "SIOCGETVLAN", e)
    }
    if let Err(e) = s.ioctl(fd, SIOCSETVLAN, ifr_vlan(name, &VlanReq::default())) {
        err(1, "SIOCSETVLAN", e)
    }
}

/// `ifconfig IF create [vlan TAG vlandev PARENT] …`: the clone's own
/// parameters come first; the interface is made (its name printed if it
/// differs from `ifname`) and the name and the parameters left are returned.
fn clone_create<'a>(
    s: &mut Sys,
    fd: i32,
    ifname: &str,
    params: &'a [String],
) -> (String, &'a [String]) {
    let mut vlan = VlanParams::default();
    let mut k = 0;
    while let Some(p @ ("vlan" | "vlandev")) = params.get(k).map(String::as_str) {
        let Some(v) = params.get(k + 1) else {
            errx(1, format!("'{p}' requires argument"))
        };
        vlan.set(p, v);
        k += 2;
    }
    let ifr = IfReq::new(ifname)
        .to_bytes()
        .unwrap_or_else(|_| errx(1, format!("{ifname}: cloning name too long")));
    let r = if vlan.given() {
        if vlan.tag == NOTAG {
            errx(1, "must specify a tag for vlan create")
        }
        if vlan.parent.is_empty() {
            errx(1, "must specify a parent device for vlan create")
        }
        s.ioctl(fd, SIOCIFCREATE2_VLAN, ifr_vlan(ifname, &vlan.req()))
    } else {
        s.ioctl(fd, SIOCIFCREATE2, ifr)
    };
    let r = r.and_then(|b| IfReq::from_bytes(b.get(..IFREQ_SIZE).unwrap_or_default()));
    match r {
        Ok(r) => {
            if r.name != ifname {
                println!("{}", r.name);
            }
            (r.name, &params[k..])
        }
        Err(e) => err(1, "SIOCIFCREATE2", e),
    }
}

/// The address changes on an `ifconfig IF ...` line: made after every
/// other parameter, as ifconfig does.
#[derive(Default)]
struct AddrReq {
    addr: Option<Ipv4Addr>,
    dstaddr: Option<Ipv4Addr>,
    mask: Option<Ipv4Addr>,
    broad: Option<Ipv4Addr>,
    alias: bool,
    delete: bool,
    /// inet6: the address (with its /prefixlen), `prefixlen`, IN6_IFF_* flags.
    af6: bool,
    addr6: Option<(Ipv6Addr, Option<u8>)>,
    plen6: Option<u8>,
    flags6: u32,
    /// Only one of `vlan` and `vlandev` was given (checked last, as
    /// ifconfig's deferred callbacks are).
    vlan_incomplete: bool,
}

/// `perror` for an interface ioctl, with ifconfig's words for the usual
/// errors.
fn perror(cmd: &str, e: Errno) -> ! {
    match e {
        Errno::ENXIO => errx(1, format!("{cmd}: no such interface")),
        Errno::EPERM => errx(1, format!("{cmd}: permission denied")),
        e => err(1, cmd, e),
    }
}

/// Make the changes `params` ask for on interface `name` (renamed in
/// place by `name`) in order, except the address changes, which are
/// returned; none after `destroy`.
fn set_params(s: &mut Sys, fd: i32, name: &mut String, params: &[String]) -> Option<AddrReq> {
    let mut req = AddrReq::default();
    let mut vlan = VlanParams::default();
    let mut k = 0;
    while k < params.len() {
        let p = params[k].as_str();
        let arg = |k: usize| -> String {
            params
                .get(k + 1)
                .cloned()
                .unwrap_or_else(|| errx(1, format!("'{p}' requires argument")))
        };
        let mut ifr = IfReq::new(name);
        match p {
            "destroy" | "unplumb" => {
                if let Err(e) = s.ioctl(fd, SIOCIFDESTROY, ifr.to_bytes().unwrap_or_default()) {
                    err(1, "SIOCIFDESTROY", e)
                }
                return None;
            }
            "up" | "down" => {
                let cur = s
                    .ioctl(fd, SIOCGIFFLAGS, ifr.to_bytes().unwrap_or_default())
                    .and_then(|b| IfReq::from_bytes(&b))
                    .unwrap_or_else(|e| perror("ioctl (SIOCGIFFLAGS)", e));
                let f = if p == "up" {
                    cur.flags() | IFF_UP
                } else {
                    cur.flags() & !IFF_UP
                };
                ifr.set_flags(f);
                if let Err(e) = s.ioctl(fd, SIOCSIFFLAGS, ifr.to_bytes().unwrap_or_default()) {
                    perror(p, e)
                }
            }
            "mtu" => {
                let v = arg(k);
                k += 1;
                let m: i32 = v
                    .parse()
                    .unwrap_or_else(|_| errx(1, format!("{v}: bad value")));
                ifr.set_int(m);
                if let Err(e) = s.ioctl(fd, SIOCSIFMTU, ifr.to_bytes().unwrap_or_default()) {
                    libvimage::warn("ioctl (set mtu)", e);
                }
            }
            "name" => {
                let v = arg(k);
                k += 1;
                // A refused rename is fatal, as in later FreeBSDs: the rest
                // of the line was meant for the new name.
                if ifr.set_union_name(&v).is_err() {
                    err(1, "ioctl (set name)", Errno::ENAMETOOLONG);
                }
                match s.ioctl(fd, SIOCSIFNAME, ifr.to_bytes().unwrap_or_default()) {
                    Ok(_) => {
                        *name = v.clone();
                        println!("{v}");
                    }
                    Err(e) => err(1, "ioctl (set name)", e),
                }
            }
            "link" | "ether" | "lladdr" => {
                let v = arg(k);
                k += 1;
                let Some(a) = ether_aton(&v) else {
                    errx(1, "malformed link-level address")
                };
                ifr.set_lladdr(a);
                if let Err(e) = s.ioctl(fd, SIOCSIFLLADDR, ifr.to_bytes().unwrap_or_default()) {
                    err(1, "ioctl (SIOCSIFLLADDR)", e)
                }
            }
            "vlan" | "vlandev" => {
                let v = arg(k);
                k += 1;
                vlan.set(p, &v);
                // Applied as soon as both are known, if `name` is a vlan.
                if getvlan(s, fd, name).is_ok() {
                    vlan.apply(s, fd, name);
                }
            }
            "-vlandev" => {
                // Takes an argument if one follows (FreeBSD's optional
                // argument, kept for compatibility), and ignores it.
                if params.get(k + 1).is_some() {
                    k += 1;
                }
                unsetvlandev(s, fd, name);
            }
            "inet" => {}
            "inet6" => req.af6 = true,
            "prefixlen" => {
                let v = arg(k);
                k += 1;
                req.plen6 = Some(
                    v.parse::<u8>()
                        .ok()
                        .filter(|l| *l <= 128)
                        .unwrap_or_else(|| errx(1, format!("{v}: bad value"))),
                );
            }
            "anycast" | "tentative" | "deprecated" | "autoconf" => {
                req.flags6 |= in6_flag(p);
            }
            "-anycast" | "-tentative" | "-deprecated" | "-autoconf" => {
                req.flags6 &= !in6_flag(&p[1..]);
            }
            "alias" | "add" => req.alias = true,
            "-alias" | "delete" | "remove" => req.delete = true,
            "netmask" => {
                let v = arg(k);
                k += 1;
                req.mask = Some(inet_mask(&v));
            }
            "broadcast" => {
                let v = arg(k);
                k += 1;
                req.broad =
                    Some(resolve4(&v).unwrap_or_else(|| errx(1, format!("{v}: bad value"))));
            }
            "metric" => {
                let v = arg(k);
                k += 1;
                if v.parse::<i32>().is_err() {
                    errx(1, format!("{v}: bad value"))
                }
            }
            "arp" | "-arp" => {
                let cur = s
                    .ioctl(fd, SIOCGIFFLAGS, ifr.to_bytes().unwrap_or_default())
                    .and_then(|b| IfReq::from_bytes(&b))
                    .unwrap_or_else(|e| perror("ioctl (SIOCGIFFLAGS)", e));
                let f = if p == "arp" {
                    cur.flags() & !IFF_NOARP
                } else {
                    cur.flags() | IFF_NOARP
                };
                ifr.set_flags(f);
                if let Err(e) = s.ioctl(fd, SIOCSIFFLAGS, ifr.to_bytes().unwrap_or_default()) {
                    perror(p, e)
                }
            }
            word if req.af6 => {
                if req.addr6.is_some() {
                    errx(1, format!("{word}: bad value"))
                }
                req.addr6 = Some(inet6_cidr(word, name));
            }
            word => {
                if req.addr.is_none() {
                    let (a, m) = inet_cidr(word);
                    req.addr = Some(a);
                    if m.is_some() {
                        req.mask = m;
                    }
                } else if req.dstaddr.is_none() {
                    req.dstaddr = Some(
                        resolve4(word).unwrap_or_else(|| errx(1, format!("{word}: bad value"))),
                    );
                } else {
                    errx(1, format!("{word}: bad value"))
                }
            }
        }
        k += 1;
    }
    req.vlan_incomplete = vlan.incomplete();
    Some(req)
}

/// Add, replace or delete the IPv4 address `req` describes.
fn set_inet(s: &mut Sys, fd: i32, name: &str, info: &IfInfo, mut req: AddrReq) {
    if req.delete {
        let Some(a) = req.addr else {
            errx(1, "-alias: address required")
        };
        let mut ifr = IfReq::new(name);
        ifr.data = SockaddrIn::new(a, 0).to_bytes();
        if let Err(e) = s.ioctl(fd, SIOCDIFADDR, ifr.to_bytes().unwrap_or_default()) {
            perror("ioctl (SIOCDIFADDR)", e)
        }
        return;
    }
    if req.addr.is_none() && (req.mask.is_some() || req.broad.is_some()) {
        // A new mask or broadcast for the first address.
        req.addr = info
            .addrs
            .iter()
            .find(|a| a.family == AF_INET)
            .and_then(|a| {
                <[u8; 4]>::try_from(a.addr.as_slice())
                    .ok()
                    .map(Ipv4Addr::from)
            });
        req.alias = true;
    }
    if let Some(a) = req.addr {
        if !req.alias {
            // Replace the first address: delete it (nothing there is fine).
            let ifr = IfReq::new(name);
            match s.ioctl(fd, SIOCDIFADDR, ifr.to_bytes().unwrap_or_default()) {
                Ok(_) | Err(Errno::EADDRNOTAVAIL) => {}
                Err(e) => perror("ioctl (SIOCDIFADDR)", e),
            }
        }
        let air = InAliasReq {
            name: name.to_string(),
            addr: Some(a),
            broadaddr: if info.flags & IFF_POINTOPOINT != 0 {
                req.dstaddr
            } else {
                req.broad
            },
            mask: req.mask,
        };
        let b = air
            .to_bytes()
            .unwrap_or_else(|e| perror("ioctl (SIOCAIFADDR)", e));
        if let Err(e) = s.ioctl(fd, SIOCAIFADDR, b) {
            perror("ioctl (SIOCAIFADDR)", e)
        }
    }
}

/// The `IN6_IFF_*` bit an ifconfig flag word sets.
fn in6_flag(w: &str) -> u32 {
    use vimage_abi::netinet6_in6::*;
    match w {
        "anycast" => IN6_IFF_ANYCAST,
        "tentative" => IN6_IFF_TENTATIVE,
        "deprecated" => IN6_IFF_DEPRECATED,
        "autoconf" => IN6_IFF_AUTOCONF,
        _ => 0,
    }
}

/// An inet6 address word: `ADDR`, `ADDR%IF` (the interface being configured)
/// or `ADDR/LEN`.
fn inet6_cidr(w: &str, ifname: &str) -> (Ipv6Addr, Option<u8>) {
    let (a, len) = match w.split_once('/') {
        Some((a, l)) => {
            let l: u8 = l
                .parse()
                .ok()
                .filter(|l| *l <= 128)
                .unwrap_or_else(|| errx(1, format!("{w}: bad value")));
            (a, Some(l))
        }
        None => (w, None),
    };
    let a = match a.split_once('%') {
        Some((a, scope)) if scope == ifname => a,
        Some(_) => errx(1, format!("{w}: bad value")),
        None => a,
    };
    match a.parse() {
        Ok(x) => (x, len),
        Err(_) => errx(1, format!("{w}: bad value")),
    }
}

/// `ifconfig IF inet6 ADDR [prefixlen N] [alias]` (SIOCAIFADDR_IN6, prefix
/// length 64 by default) or `... -alias` (SIOCDIFADDR_IN6), on an AF_INET6
/// socket.  Adding never removes another address.
fn inet6_apply(
    s: &mut Sys,
    name: &str,
    addr: Option<(Ipv6Addr, Option<u8>)>,
    plen: Option<u8>,
    flags: u32,
    delete: bool,
) {
    use vimage_abi::netinet6_in6::*;
    let Some((a, len)) = addr else {
        if delete {
            errx(1, "-alias: address required")
        }
        return;
    };
    let fd6 = s
        .socket(i32::from(AF_INET6), SOCK_DGRAM, 0)
        .unwrap_or_else(|e| err(1, "socket", e));
    if delete {
        let r = In6IfReq::with_addr(name, SockaddrIn6::new(a, 0));
        let b = r
            .to_bytes()
            .unwrap_or_else(|e| perror("ioctl (SIOCDIFADDR)", e));
        if let Err(e) = s.ioctl(fd6, SIOCDIFADDR_IN6, b) {
            perror("ioctl (SIOCDIFADDR)", e)
        }
        return;
    }
    let mut r = In6AliasReq::new(name, a, plen.or(len).unwrap_or(64));
    r.flags = flags;
    let b = r
        .to_bytes()
        .unwrap_or_else(|e| perror("ioctl (SIOCAIFADDR)", e));
    if let Err(e) = s.ioctl(fd6, SIOCAIFADDR_IN6, b) {
        perror("ioctl (SIOCAIFADDR)", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tags_read_as_strtoul_does() {
        assert_eq!(strtoul("101"), Some(101));
        assert_eq!(strtoul("0x65"), Some(101));
        assert_eq!(strtoul("0145"), Some(101));
        assert_eq!(strtoul(" +7"), Some(7));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul(""), Some(0));
        assert_eq!(strtoul("-1"), Some(u64::MAX));
        assert_eq!(strtoul("99999999999999999999999"), Some(u64::MAX));
        for bad in ["x", "10x", "08", "0x", "-", " ", "1 "] {
            assert_eq!(strtoul(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn vlan_and_vlandev_go_together() {
        let mut v = VlanParams::default();
        assert!(!v.given() && !v.incomplete());
        v.set("vlan", "101");
        assert!(v.incomplete());
        v.set("vlandev", "a_very_long_parent_name");
        assert!(!v.incomplete());
        assert_eq!(v.req().parent, "a_very_long_par");
        assert_eq!(v.req().tag, 101);
    }
}
