//! ifconfig(8), the link-level part: list interfaces (all, one, `-l`, `-a`, `-u`,
//! `-d`, `-C`), `create`/`destroy`, `up`/`down`, `mtu`, `name`, `link`/`ether`/`lladdr`.
//! Output follows FreeBSD 7's layout.  (Protocol addresses come with the IPv4/IPv6
//! stack.)

use libvimage::{err, errx, Errno, Sys};
use vimage_abi::net_if::*;
use vimage_abi::sysctl::SysctlValue;

fn usage() -> ! {
    eprintln!(
        "usage: ifconfig [-L] [-C] interface address_family [address [dest_address]]\n                [parameters]\n       ifconfig interface create\n       ifconfig -a [-L] [-C] [-d] [-m] [-u] [-v] [address_family]\n       ifconfig -l [-d] [-u] [address_family]\n       ifconfig [-L] [-C] [-d] [-m] [-u] [-v]"
    );
    std::process::exit(1)
}

fn iflist(s: &mut Sys) -> Vec<IfInfo> {
    match s.sysctl("net.link.iflist") {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => {
                IfInfo::decode_list(&b).unwrap_or_else(|e| err(1, "iflist", e))
            }
            _ => errx(1, "iflist: bad reply"),
        },
        Err(e) => err(1, "iflist", e),
    }
}

fn status(i: &IfInfo) {
    println!(
        "{}: {} metric {} mtu {}",
        i.name,
        format_flags(i.flags),
        i.metric,
        i.mtu
    );
    if i.lladdr.len() == 6 && (i.iftype == IFT_ETHER || i.iftype == IFT_L2VLAN) {
        let m: Vec<String> = i.lladdr.iter().map(|b| format!("{b:02x}")).collect();
        println!("\tether {}", m.join(":"));
    }
    for l in &i.status {
        println!("\t{l}");
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut all, mut list, mut up_only, mut down_only, mut cloners) =
        (false, false, false, false, false);
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i].len() > 1 {
        for c in args[i][1..].chars() {
            match c {
                'a' => all = true,
                'l' => list = true,
                'u' => up_only = true,
                'd' => down_only = true,
                'C' => cloners = true,
                'L' | 'm' | 'v' | 'n' => {}
                _ => usage(),
            }
        }
        i += 1;
    }
    let rest = &args[i..];
    if (list && all) || (up_only && down_only) {
        usage()
    }
    let mut s = Sys::open_or_exit();
    if cloners {
        match s.sysctl("net.link.cloners") {
            Ok(r) => {
                if let SysctlValue::Str(c) = r.value {
                    println!("{c}");
                }
            }
            Err(e) => err(1, "SIOCIFGCLONERS", e),
        }
        return;
    }
    let keep =
        |i: &IfInfo| (!up_only || i.flags & IFF_UP != 0) && (!down_only || i.flags & IFF_UP == 0);
    if list {
        let names: Vec<String> = iflist(&mut s)
            .into_iter()
            .filter(|i| keep(i))
            .map(|i| i.name)
            .collect();
        println!("{}", names.join(" "));
        return;
    }
    if rest.is_empty() || all {
        for i in iflist(&mut s).iter().filter(|i| keep(i)) {
            status(i);
        }
        return;
    }
    let ifname = rest[0].clone();
    let params = &rest[1..];
    let fd = s.socket(2, 2, 0).unwrap_or_else(|e| err(1, "socket", e));
    if params.first().map(String::as_str) == Some("create")
        || params.first().map(String::as_str) == Some("plumb")
    {
        let r = s
            .ioctl(
                fd,
                SIOCIFCREATE2,
                IfReq::new(&ifname)
                    .to_bytes()
                    .unwrap_or_else(|_| errx(1, format!("{ifname}: cloning name too long"))),
            )
            .and_then(|b| IfReq::from_bytes(&b));
        match r {
            Ok(r) => {
                if r.name != ifname {
                    println!("{}", r.name);
                }
            }
            Err(e) => err(1, "SIOCIFCREATE2", e),
        }
        return;
    }
    let Some(info) = iflist(&mut s).into_iter().find(|i| i.name == ifname) else {
        errx(1, format!("interface {ifname} does not exist"))
    };
    if params.is_empty() {
        status(&info);
        return;
    }
    let mut name = ifname.clone();
    let mut k = 0;
    let perror = |cmd: &str, e: Errno| -> ! {
        match e {
            Errno::ENXIO => errx(1, format!("{cmd}: no such interface")),
            Errno::EPERM => errx(1, format!("{cmd}: permission denied")),
            e => err(1, cmd, e),
        }
    };
    while k < params.len() {
        let p = params[k].as_str();
        let arg = |k: usize| -> String {
            params
                .get(k + 1)
                .cloned()
                .unwrap_or_else(|| errx(1, format!("'{p}' requires argument")))
        };
        let mut ifr = IfReq::new(&name);
        match p {
            "destroy" | "unplumb" => {
                if let Err(e) = s.ioctl(fd, SIOCIFDESTROY, ifr.to_bytes().unwrap_or_default()) {
                    err(1, "SIOCIFDESTROY", e)
                }
                return;
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
                if ifr.set_union_name(&v).is_err() {
                    libvimage::warn("ioctl (set name)", Errno::ENAMETOOLONG);
                } else {
                    match s.ioctl(fd, SIOCSIFNAME, ifr.to_bytes().unwrap_or_default()) {
                        Ok(_) => {
                            name = v.clone();
                            println!("{v}");
                        }
                        Err(e) => libvimage::warn("ioctl (set name)", e),
                    }
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
            other => errx(1, format!("{other}: bad value")),
        }
        k += 1;
    }
}
