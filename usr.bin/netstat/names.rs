//! How netstat names hosts and networks (from [`libvimage::netdb`]: no
//! resolver, so an address without an entry prints numerically), and its
//! small text helpers.

use std::net::{IpAddr, Ipv4Addr};

use libvimage::netdb::{getnetbyaddr, Hosts};

/// `gethostbyaddr` through `/etc/hosts`, trimmed to the short name (up to
/// the first dot) as netstat's `trimdomain` does.
pub fn host_name(a: IpAddr) -> Option<String> {
    short_name(&Hosts::read(), a)
}

/// [`host_name`] in `hosts`.
fn short_name(hosts: &Hosts, a: IpAddr) -> Option<String> {
    let n = hosts.name_of(a)?;
    Some(n.split('.').next().unwrap_or(n).to_string())
}

/// `IN_CLASSx_NSHIFT` of a classful mask, 0 for any other mask (`NSHIFT`).
pub fn nshift(mask: u32) -> u32 {
    match mask {
        0xff00_0000 => 24,
        0xffff_0000 => 16,
        0xffff_ff00 => 8,
        _ => 0,
    }
}

/// `inet_lnaof`: the host part of an address by its class.
pub fn inet_lnaof(a: Ipv4Addr) -> u32 {
    let i = u32::from(a);
    if i & 0x8000_0000 == 0 {
        i & 0x00ff_ffff
    } else if i & 0xc000_0000 == 0x8000_0000 {
        i & 0x0000_ffff
    } else {
        i & 0x0000_00ff
    }
}

/// `netname`: a network number with its mask; `numeric` is `-n`.  A name from
/// the networks database replaces the number; `/LEN` follows unless the mask is
/// 0, or (without `-n`) a classful /8, /16 or /24; a non-contiguous mask prints
/// as `&0xMASK`.
pub fn netname(net: Ipv4Addr, mask: u32, numeric: bool) -> String {
    let i = u32::from(net);
    let mut s = None;
    if !numeric && i != 0 {
        s = getnetbyaddr(i >> nshift(mask)).map(str::to_string);
    }
    let mut s = s.unwrap_or_else(|| net.to_string());
    if mask != 0 && (numeric || nshift(mask) == 0) {
        let len = mask.leading_ones();
        if mask.checked_shl(len).unwrap_or(0) == 0 {
            s.push_str(&format!("/{len}"));
        } else {
            s.push_str(&format!("&0x{mask:x}"));
        }
    }
    s
}

/// `plural`: `s` unless exactly one.
pub fn plural(n: u64) -> &'static str {
    if n != 1 {
        "s"
    } else {
        ""
    }
}

/// `plurales`: `es` unless exactly one.
pub fn plurales(n: u64) -> &'static str {
    if n != 1 {
        "es"
    } else {
        ""
    }
}

/// `pluralies`: `ies` unless exactly one, then `y`.
pub fn pluralies(n: u64) -> &'static str {
    if n != 1 {
        "ies"
    } else {
        "y"
    }
}

/// One argument to [`cfmt`].
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A number (`%lu`, `%ju`, `%llu`, `%u`, `%d`).
    N(u64),
    /// A string (`%s`).
    S(&'a str),
}

/// The few `printf` conversions netstat's messages use: `%lu`-style numbers,
/// `%s` and `%%`, each taking the next argument in turn.
pub fn cfmt(fmt: &str, args: &[Arg<'_>]) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        loop {
            match chars.next() {
                Some('%') => {
                    out.push('%');
                    break;
                }
                Some('l' | 'j' | 'h' | 'q') => continue,
                Some('u' | 'd' | 's') => {
                    match args.next() {
                        Some(Arg::N(n)) => out.push_str(&n.to_string()),
                        Some(Arg::S(s)) => out.push_str(s),
                        None => {}
                    }
                    break;
                }
                Some(o) => {
                    out.push('%');
                    out.push(o);
                    break;
                }
                None => break,
            }
        }
    }
    out
}

/// `%-W.Ws`: `s` cut to `w` characters and padded to `w`.
pub fn pad_cut(s: &str, w: usize) -> String {
    format!("{:<w$}", cut(s, w))
}

/// `%.Ws`: `s` cut to `w` characters.
pub fn cut(s: &str, w: usize) -> String {
    s.chars().take(w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short() {
        let hosts = Hosts::parse(
            "127.0.0.1\tlocalhost localhost.my.domain\n10.0.0.1 router.example.org r1\n",
        );
        let h = |a: &str| short_name(&hosts, a.parse().unwrap());
        assert_eq!(h("127.0.0.1").as_deref(), Some("localhost"));
        assert_eq!(h("10.0.0.1").as_deref(), Some("router"));
        assert_eq!(h("10.0.0.2"), None);
    }

    #[test]
    fn netnames() {
        let n = |a: &str, m: u32, num: bool| netname(a.parse().unwrap(), m, num);
        assert_eq!(n("10.0.1.0", 0xffff_ff00, true), "10.0.1.0/24");
        assert_eq!(n("10.0.1.0", 0xffff_ff00, false), "10.0.1.0");
        assert_eq!(n("10.0.1.128", 0xffff_ff80, false), "10.0.1.128/25");
        assert_eq!(n("127.0.0.0", 0xff00_0000, false), "your-net");
        assert_eq!(n("127.0.0.0", 0xff00_0000, true), "127.0.0.0/8");
        assert_eq!(n("127.0.0.0", 0xfe00_0000, false), "127.0.0.0/7");
        assert_eq!(n("10.0.0.0", 0xff00_ff00, true), "10.0.0.0&0xff00ff00");
        assert_eq!(n("0.0.0.0", 0, true), "0.0.0.0");
    }

    #[test]
    fn lnaof_by_class() {
        let l = |a: &str| inet_lnaof(a.parse().unwrap());
        assert_eq!(l("10.0.0.0"), 0);
        assert_eq!(l("10.0.1.0"), 0x100);
        assert_eq!(l("172.16.0.0"), 0);
        assert_eq!(l("192.168.1.0"), 0);
        assert_eq!(l("192.168.1.7"), 7);
        assert_eq!(l("0.0.0.0"), 0);
    }

    #[test]
    fn plurals_and_printf() {
        assert_eq!((plural(0), plural(1), plural(2)), ("s", "", "s"));
        assert_eq!((plurales(1), plurales(3)), ("", "es"));
        assert_eq!((pluralies(1), pluralies(0)), ("y", "ies"));
        assert_eq!(
            cfmt(
                "\t%lu packet%s (%ju byte%s) 100%%\n",
                &[Arg::N(1), Arg::S(""), Arg::N(42), Arg::S("s")]
            ),
            "\t1 packet (42 bytes) 100%\n"
        );
        assert_eq!(cfmt("%d-%u-%x", &[Arg::N(3), Arg::N(4)]), "3-4-%x");
        assert_eq!(pad_cut("abcdef", 4), "abcd");
        assert_eq!(pad_cut("ab", 4), "ab  ");
    }
}
