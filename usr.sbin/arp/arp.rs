//! arp(8): show the ARP cache of the caller's vimage (`arp -a`, `arp HOST`) and
//! delete entries (`arp -d HOST`, `arp -d -a`), with FreeBSD's line format:
//! `? (10.0.0.1) at 40:0a:0b:0c:0d:01 on eth0 expires in 1199 seconds [ethernet]`.
//!
//! The cache comes from the `net.link.ether.inet.dump` sysctl; deletion is the
//! `SIOCDARP` ioctl.  There is no resolver: host names are `?` and hosts are given
//! as dotted quads (or `localhost`).

use std::net::Ipv4Addr;

use libvimage::{err, errx, getopt, resolve4, Errno, Sys};
use vimage_abi::net_if::{IFT_ETHER, IFT_L2VLAN};
use vimage_abi::netinet_in::{ArpEntryInfo, ArpReq, ARPF_PERMANENT, PF_INET, SIOCDARP, SOCK_DGRAM};

fn usage() -> ! {
    eprintln!(
        "usage: arp [-n] [-i interface] hostname\n       arp [-n] [-i interface] -a\n       arp -d hostname [pub]\n       arp -d [-i interface] -a\n       arp -s hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n       arp -S hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n       arp -f filename"
    );
    std::process::exit(1)
}

fn dump(s: &mut Sys) -> Vec<ArpEntryInfo> {
    s.sysctl_opaque("net.link.ether.inet.dump")
        .and_then(|b| ArpEntryInfo::decode_list(&b))
        .unwrap_or_else(|e| err(1, "route-sysctl-estimate", e))
}

/// One entry as `arp -a` prints it.
fn line(e: &ArpEntryInfo) -> String {
    let ll = if e.lladdr.len() == 6 {
        e.lladdr
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    } else {
        "(incomplete)".to_string()
    };
    let mut l = format!("? ({}) at {ll} on {}", e.addr, e.ifname);
    if e.flags & ARPF_PERMANENT != 0 {
        l.push_str(" permanent");
    } else if e.expire > 0 {
        l.push_str(&format!(" expires in {} seconds", e.expire));
    } else {
        l.push_str(" expired");
    }
    let ty = match e.iftype {
        IFT_ETHER => " [ethernet]",
        IFT_L2VLAN => " [vlan]",
        0xd1 => " [bridge]",
        _ => "",
    };
    l.push_str(ty);
    l
}

fn host(h: &str) -> Ipv4Addr {
    resolve4(h).unwrap_or_else(|| errx(1, format!("{h}: Unknown host")))
}

/// `arp -d`: true if the entry was there.
fn delete(s: &mut Sys, fd: i32, h: &str, a: Ipv4Addr, ifname: &str) -> bool {
    let req = ArpReq {
        addr: Some(a),
        ifname: ifname.to_string(),
    };
    let b = req
        .to_bytes()
        .unwrap_or_else(|_| errx(1, format!("interface {ifname} does not exist")));
    match s.ioctl(fd, SIOCDARP, b) {
        Ok(_) => {
            println!("{h} ({a}) deleted");
            true
        }
        Err(Errno::ENOENT) => {
            eprintln!("delete: cannot locate {h}");
            false
        }
        Err(e) => err(1, "writing to routing socket", e),
    }
}

/// What the command line asks for.
struct Opts {
    /// `-a`: every entry.
    all: bool,
    /// `-d`: delete.
    del: bool,
    /// `-i`: only entries on this interface.
    iface: Option<String>,
    /// The operands: a host, maybe `pub`.
    rest: Vec<String>,
}

fn parse_args() -> Opts {
    let a = getopt("adfi:nSs", usage);
    let mut o = Opts {
        all: false,
        del: false,
        iface: None,
        rest: a.operands,
    };
    for (c, v) in a.opts {
        match c {
            'a' => o.all = true,
            'd' => o.del = true,
            'i' => o.iface = Some(v),
            's' | 'S' | 'f' => errx(1, "-s/-S/-f: static entries are not supported"),
            _ => {} // -n: there are no names to look up anyway.
        }
    }
    o
}

fn main() {
    libvimage::sigpipe_default();
    let o = parse_args();
    let mut s = Sys::open_or_exit();
    let entries = dump(&mut s);
    if let Some(ifn) = &o.iface {
        if s.ifnames().index(ifn).is_none() {
            errx(1, format!("interface {ifn} does not exist"))
        }
    }
    let mine: Vec<&ArpEntryInfo> = entries
        .iter()
        .filter(|e| o.iface.as_ref().is_none_or(|n| &e.ifname == n))
        .collect();
    let ok = if o.del {
        delete_mode(&mut s, &o, &mine)
    } else {
        show(&o, &mine)
    };
    std::process::exit(if ok { 0 } else { 1 })
}

/// `arp -d -a` or `arp -d HOST [pub]`; false if the entry was not there.
fn delete_mode(s: &mut Sys, o: &Opts, mine: &[&ArpEntryInfo]) -> bool {
    let fd = s
        .socket(PF_INET, SOCK_DGRAM, 0)
        .unwrap_or_else(|e| err(1, "socket", e));
    if o.all {
        if !o.rest.is_empty() {
            usage()
        }
        for e in mine {
            delete(s, fd, "?", e.addr, &e.ifname);
        }
        return true;
    }
    let h = match o.rest.as_slice() {
        [h] => h,
        [h, p] if p == "pub" => h,
        _ => usage(),
    };
    let a = host(h);
    delete(s, fd, h, a, o.iface.as_deref().unwrap_or(""))
}

/// `arp -a` or `arp HOST`; false if HOST has no entry.
fn show(o: &Opts, mine: &[&ArpEntryInfo]) -> bool {
    if o.all {
        if !o.rest.is_empty() {
            usage()
        }
        for e in mine {
            println!("{}", line(e));
        }
        return true;
    }
    let [h] = o.rest.as_slice() else { usage() };
    let a = host(h);
    match mine.iter().find(|e| e.addr == a) {
        Some(e) => println!("{}", line(e)),
        None => {
            let on = o
                .iface
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            println!("{h} ({a}) -- no entry{on}");
            return false;
        }
    }
    true
}
