//! arp(8): show the ARP cache of the caller's vimage (`arp -a`, `arp HOST`) and
//! delete entries (`arp -d HOST`, `arp -d -a`), with FreeBSD's line format:
//! `? (10.0.0.1) at 40:0a:0b:0c:0d:01 on eth0 expires in 1199 seconds [ethernet]`.
//!
//! The cache comes from the `net.link.ether.inet.dump` sysctl; deletion is the
//! `SIOCDARP` ioctl.  There is no resolver: host names are `?` and hosts are given
//! as dotted quads (or `localhost`).

use std::net::Ipv4Addr;

use libvimage::{err, errx, Errno, Sys};
use vimage_abi::net_if::{IFT_ETHER, IFT_L2VLAN};
use vimage_abi::netinet_in::{ArpEntryInfo, ArpReq, ARPF_PERMANENT, PF_INET, SIOCDARP, SOCK_DGRAM};
use vimage_abi::sysctl::SysctlValue;

fn usage() -> ! {
    eprintln!(
        "usage: arp [-n] [-i interface] hostname\n       arp [-n] [-i interface] -a\n       arp -d hostname [pub]\n       arp -d [-i interface] -a\n       arp -s hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n       arp -S hostname ether_addr [temp] [reject | blackhole] [pub [only]]\n       arp -f filename"
    );
    std::process::exit(1)
}

fn dump(s: &mut Sys) -> Vec<ArpEntryInfo> {
    match s.sysctl("net.link.ether.inet.dump") {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => {
                ArpEntryInfo::decode_list(&b).unwrap_or_else(|e| err(1, "route-sysctl-estimate", e))
            }
            _ => errx(1, "route-sysctl-estimate: bad reply"),
        },
        Err(e) => err(1, "route-sysctl-estimate", e),
    }
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
    if h == "localhost" {
        return Ipv4Addr::LOCALHOST;
    }
    h.parse()
        .unwrap_or_else(|_| errx(1, format!("{h}: Unknown host")))
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut all, mut del, mut _numeric) = (false, false, false);
    let mut iface: Option<String> = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i].len() > 1 {
        let a = args[i].clone();
        for (pos, c) in a[1..].char_indices() {
            match c {
                'a' => all = true,
                'd' => del = true,
                'n' => _numeric = true,
                'i' => {
                    let rest = &a[1 + pos + 1..];
                    iface = Some(if rest.is_empty() {
                        i += 1;
                        args.get(i).cloned().unwrap_or_else(|| usage())
                    } else {
                        rest.to_string()
                    });
                    break;
                }
                's' | 'S' | 'f' => errx(1, "-s/-S/-f: static entries are not supported"),
                _ => usage(),
            }
        }
        i += 1;
    }
    let rest = &args[i..];
    let mut s = Sys::open_or_exit();
    let entries = dump(&mut s);
    if let Some(ifn) = &iface {
        let known = s
            .sysctl("net.link.iflist")
            .ok()
            .and_then(|r| match r.value {
                SysctlValue::Opaque(_, b) => vimage_abi::net_if::IfInfo::decode_list(&b).ok(),
                _ => None,
            })
            .unwrap_or_default();
        if !known.iter().any(|k| &k.name == ifn) {
            errx(1, format!("interface {ifn} does not exist"))
        }
    }
    let on_if = |e: &ArpEntryInfo| iface.as_ref().is_none_or(|n| &e.ifname == n);
    if del {
        let fd = s
            .socket(PF_INET, SOCK_DGRAM, 0)
            .unwrap_or_else(|e| err(1, "socket", e));
        if all {
            if !rest.is_empty() {
                usage()
            }
            for e in entries.iter().filter(|e| on_if(e)) {
                delete(&mut s, fd, "?", e.addr, &e.ifname);
            }
            return;
        }
        let (h, extra) = match rest {
            [h] => (h, false),
            [h, p] if p == "pub" => (h, true),
            _ => usage(),
        };
        let _ = extra;
        let a = host(h);
        let ok = delete(&mut s, fd, h, a, iface.as_deref().unwrap_or(""));
        std::process::exit(if ok { 0 } else { 1 })
    }
    if all {
        if !rest.is_empty() {
            usage()
        }
        for e in entries.iter().filter(|e| on_if(e)) {
            println!("{}", line(e));
        }
        return;
    }
    let [h] = rest else { usage() };
    let a = host(h);
    match entries.iter().find(|e| e.addr == a && on_if(e)) {
        Some(e) => println!("{}", line(e)),
        None => {
            let on = iface.map(|n| format!(" on {n}")).unwrap_or_default();
            println!("{h} ({a}) -- no entry{on}");
            std::process::exit(1)
        }
    }
}
