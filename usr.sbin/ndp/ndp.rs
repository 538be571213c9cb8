//! ndp(8): show and prune the IPv6 neighbour cache of the caller's vimage, in
//! FreeBSD's format: `ndp -a` lists every entry (`Neighbor`, `Linklayer
//! Address`, `Netif`, `Expire`, state letter, flags), `ndp HOST` one,
//! `ndp -d HOST` deletes one, `ndp -c` deletes every learned one; `-n`
//! (numeric: always, there is no resolver), `-t` time stamps, `-A wait`
//! repeats.  The data comes from `net.inet6.icmp6.nd6_dump`; deletion uses
//! `SIOCSNDFLUSH_IN6`.

use std::net::Ipv6Addr;

use libvimage::{err, errx, getopt, resolve6_scope, Errno, Sys};
use vimage_abi::netinet6_in6::*;
use vimage_abi::sysctl::SysctlValue;

const W_ADDR: usize = 36;
const W_LL: usize = 17;
const W_IF: usize = 6;

fn usage() -> ! {
    println!("usage: ndp [-nt] hostname");
    println!("       ndp [-nt] -a | -c | -p | -r | -H | -P | -R");
    println!("       ndp [-nt] -A wait");
    println!("       ndp [-nt] -d hostname");
    println!("       ndp [-nt] -f filename");
    println!("       ndp [-nt] -i interface [flags...]");
    println!("       ndp [-nt] -I [interface|delete]");
    println!("       ndp [-nt] -s nodename etheraddr [temp] [proxy]");
    std::process::exit(1)
}

/// `sec2str`: `1d2h3m4s`, leading zero units left out.
fn sec2str(total: i64) -> String {
    let days = total / 86400;
    let hours = (total / 3600) % 24;
    let mins = (total / 60) % 60;
    let secs = total % 60;
    let mut s = String::new();
    let mut first = true;
    if days != 0 {
        first = false;
        s.push_str(&format!("{days}d"));
    }
    if !first || hours != 0 {
        first = false;
        s.push_str(&format!("{hours}h"));
    }
    if !first || mins != 0 {
        s.push_str(&format!("{mins}m"));
    }
    s.push_str(&format!("{secs}s"));
    s
}

/// `ts_print`: the local time of day with microseconds.
fn ts_print() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let t = d.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:02}:{:02}:{:02}.{:06} ",
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros()
    )
}

fn ether_str(l: &[u8]) -> String {
    if l.is_empty() {
        return "(incomplete)".into();
    }
    l.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn dump_list(s: &mut Sys) -> Vec<Nd6Dump> {
    match s.sysctl("net.inet6.icmp6.nd6_dump") {
        Ok(r) => match r.value {
            SysctlValue::Opaque(_, b) => {
                Nd6Dump::decode_list(&b).unwrap_or_else(|e| err(1, "sysctl(nd6_dump)", e))
            }
            _ => errx(1, "sysctl(nd6_dump): bad reply"),
        },
        Err(e) => err(1, "sysctl(PF_ROUTE estimate)", e),
    }
}

/// The address `getnameinfo(NI_NUMERICHOST)` prints for an entry.
fn host_of(e: &Nd6Dump) -> String {
    in6_ntoa_scoped(&e.addr, Some(&e.ifname))
}

fn matches(e: &Nd6Dump, a: &Ipv6Addr, scope: Option<u32>) -> bool {
    e.addr == *a && scope.is_none_or(|s| s == e.ifindex)
}

/// One row of `ndp -a`.
fn row(e: &Nd6Dump) -> String {
    let host = host_of(e);
    let addrwidth = host.len().max(W_ADDR);
    let ll = ether_str(&e.lladdr);
    let llwidth = ll.len().max((W_ADDR + W_LL).saturating_sub(addrwidth));
    let ifwidth = e
        .ifname
        .len()
        .max((W_ADDR + W_LL + W_IF).saturating_sub(addrwidth + llwidth));
    let mut r = format!("{host:<addrwidth$} {ll:<llwidth$} {:>ifwidth$}", e.ifname);
    let exp = if e.permanent {
        "permanent".to_string()
    } else if e.expire > 0 {
        sec2str(e.expire)
    } else {
        "expired".to_string()
    };
    let exp: String = exp.chars().take(9).collect();
    r.push_str(&format!(" {exp:<9}"));
    r.push_str(match e.state {
        ND6_LLINFO_NOSTATE => " N",
        -1 => " W",
        ND6_LLINFO_INCOMPLETE => " I",
        ND6_LLINFO_REACHABLE => " R",
        ND6_LLINFO_STALE => " S",
        ND6_LLINFO_DELAY => " D",
        ND6_LLINFO_PROBE => " P",
        _ => " ?",
    });
    r.push_str(&format!(" {}", if e.isrouter { "R" } else { "" }));
    if e.asked != 0 {
        r.push_str(&format!(" {}", e.asked));
    }
    r
}

/// `dump`: print the table (or the entries for `want`); with `cflag`, delete
/// every learned entry instead.  Returns whether an entry matched.
fn dump(s: &mut Sys, want: Option<(Ipv6Addr, Option<u32>)>, cflag: bool, tflag: bool) -> bool {
    if !tflag && !cflag {
        println!(
            "{:<W_ADDR$} {:<W_LL$} {:>W_IF$} {:<9} {:1} {:>5}",
            "Neighbor", "Linklayer Address", "Netif", "Expire", "S", "Flags"
        );
    }
    let mut found = false;
    for e in dump_list(s) {
        match want {
            Some((a, scope)) => {
                if !matches(&e, &a, scope) {
                    continue;
                }
                found = true;
            }
            None if e.addr.is_multicast() => continue,
            None => {}
        }
        if cflag {
            if !e.permanent {
                let h = host_of(&e);
                let _ = delete(s, &h);
            }
            continue;
        }
        let ts = if tflag { ts_print() } else { String::new() };
        println!("{ts}{}", row(&e));
    }
    found
}

/// `delete`: remove HOST's entry; prints `HOST (ADDR) deleted`.
fn delete(s: &mut Sys, host: &str) -> i32 {
    let names = s.ifnames();
    let Some((a, scope)) = resolve6_scope(host, &names) else {
        eprintln!("ndp: {host}: hostname nor servname provided, or not known");
        return 1;
    };
    let entries: Vec<Nd6Dump> = dump_list(s)
        .into_iter()
        .filter(|e| matches(e, &a, scope) && !e.permanent)
        .collect();
    let Some(e) = entries.first() else {
        eprintln!("delete: cannot delete non-NDP entry");
        return 1;
    };
    let fd = s
        .socket(i32::from(AF_INET6), SOCK_DGRAM, 0)
        .unwrap_or_else(|e| err(1, "socket", e));
    let r = In6IfReq::with_addr(&e.ifname, SockaddrIn6::new(e.addr, e.ifindex));
    let res = r.to_bytes().and_then(|b| s.ioctl(fd, SIOCSNDFLUSH_IN6, b));
    let _ = s.close(fd);
    match res {
        Ok(_) => {
            println!("{host} ({}) deleted", host_of(e));
            0
        }
        Err(Errno::ESRCH) => {
            eprintln!("delete: cannot delete non-NDP entry");
            1
        }
        Err(err) => {
            libvimage::warn("writing to routing socket", err);
            1
        }
    }
}

/// What the command line asks for.
struct Opts {
    /// The mode letter (`a`, `c`, `d`, ...); none: show one host.
    mode: Option<char>,
    /// The mode's argument (`-d hostname`).
    arg: String,
    /// `-t`: time stamps.
    tflag: bool,
    /// `-A wait`: repeat every `wait` seconds.
    repeat: u64,
    /// The operands.
    rest: Vec<String>,
}

fn parse_args() -> Opts {
    let a = getopt("A:acd:f:Hi:InPprRst", usage);
    let mut o = Opts {
        mode: None,
        arg: String::new(),
        tflag: false,
        repeat: 0,
        rest: a.operands,
    };
    for (c, v) in a.opts {
        let mode = match c {
            'n' => continue,
            't' => {
                o.tflag = true;
                continue;
            }
            'A' => {
                o.repeat = v.parse().unwrap_or_else(|_| usage());
                'a'
            }
            c => c,
        };
        // One mode only.
        if o.mode.replace(mode).is_some() {
            usage()
        }
        o.arg = v;
    }
    o
}

fn main() {
    libvimage::sigpipe_default();
    let o = parse_args();
    let mut s = Sys::open_or_exit();
    match o.mode {
        Some('a') | Some('c') => {
            if !o.rest.is_empty() {
                usage()
            }
            loop {
                dump(&mut s, None, o.mode == Some('c'), o.tflag);
                if o.repeat == 0 {
                    break;
                }
                println!();
                std::thread::sleep(std::time::Duration::from_secs(o.repeat));
            }
        }
        Some('d') => {
            if !o.rest.is_empty() {
                usage()
            }
            std::process::exit(delete(&mut s, &o.arg));
        }
        Some(_) => errx(1, "not supported yet"),
        None => {
            let [host] = o.rest.as_slice() else { usage() };
            std::process::exit(show_host(&mut s, host, o.tflag))
        }
    }
}

/// `ndp HOST`: its entry; 1 if it has none.
fn show_host(s: &mut Sys, host: &str, tflag: bool) -> i32 {
    let names = s.ifnames();
    let Some(want) = resolve6_scope(host, &names) else {
        eprintln!("ndp: {host}: hostname nor servname provided, or not known");
        return 0;
    };
    if dump(s, Some(want), false, tflag) {
        return 0;
    }
    let scope = want.1.and_then(|i| names.name(i));
    println!("{host} ({}) -- no entry", in6_ntoa_scoped(&want.0, scope));
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_text_and_rows() {
        assert_eq!(sec2str(23), "23s");
        assert_eq!(sec2str(252), "4m12s");
        assert_eq!(sec2str(86399), "23h59m59s");
        assert_eq!(sec2str(86405), "1d0h0m5s");
        let e = Nd6Dump {
            addr: "fe80::20c:29ff:fe12:3456".parse().unwrap(),
            ifindex: 1,
            ifname: "em0".into(),
            lladdr: vec![0, 0x0c, 0x29, 0x12, 0x34, 0x56],
            state: ND6_LLINFO_REACHABLE,
            isrouter: false,
            asked: 0,
            permanent: true,
            expire: 0,
        };
        assert_eq!(
            row(&e),
            "fe80::20c:29ff:fe12:3456%em0         00:0c:29:12:34:56    em0 permanent R "
        );
        let e = Nd6Dump {
            addr: "a:1::99".parse().unwrap(),
            lladdr: vec![],
            state: ND6_LLINFO_INCOMPLETE,
            permanent: false,
            expire: 1,
            asked: 2,
            ..e
        };
        assert_eq!(
            row(&e),
            "a:1::99                              (incomplete)         em0 1s        I  2"
        );
    }
}
