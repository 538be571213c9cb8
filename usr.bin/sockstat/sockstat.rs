//! sockstat(1): the open Internet sockets of the caller's vimage, one row per
//! descriptor, with the owning process's user, command and pid (FreeBSD 7's
//! `usr.bin/sockstat`).
//!
//! The sockets come from the `kern.file` sysctl ([`XFile`] records: host pid,
//! descriptor, domain, type, protocol, listening flag and address images).
//! The user and command are those of the host process, read from
//! `/proc/PID`; `?` when it is gone.
//!
//! `sockstat [-46clu] [-p ports] [-P protocols]`: `-4` IPv4, `-6` IPv6, `-u`
//! local (unix) sockets (none unless given, and this kernel has none: it is
//! accepted for compatibility); without any of them all families.  `-c`
//! connected, `-l` listening (an Internet socket without a foreign port);
//! without either both.  `-p` keeps sockets whose local or foreign port is in a
//! comma-separated list of ports and `first-last` ranges; `-P` keeps the named
//! protocols (`tcp`, `udp`, comma-separated).

use std::net::{IpAddr, Ipv4Addr};

use libvimage::getopt::Getopt;
use libvimage::{err, Sys};
use vimage_abi::netinet6_in6::{SockaddrIn6, AF_INET6};
use vimage_abi::netinet_in::{
    SockaddrIn, IPPROTO_TCP, IPPROTO_UDP, PF_INET, SOCK_DGRAM, SOCK_STREAM,
};
use vimage_abi::socket::XFile;

/// `PF_INET6`.
const PF_INET6: i32 = AF_INET6 as i32;

/// The usage line (printed to stderr, exit 1).
pub const USAGE: &str = "usage: sockstat [-46clu] [-p ports] [-P protocols]";

/// Command-line options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    /// `-4`: IPv4 sockets.
    pub inet4: bool,
    /// `-6`: IPv6 sockets.
    pub inet6: bool,
    /// `-u`: local (unix) sockets.
    pub unix: bool,
    /// `-c`: connected sockets.
    pub connected: bool,
    /// `-l`: listening sockets.
    pub listening: bool,
    /// `-p`: inclusive port ranges (empty: any port).
    pub ports: Vec<(u16, u16)>,
    /// `-P`: protocol numbers (empty: any protocol).
    pub protos: Vec<i32>,
}

/// `-p`'s list: ports and `first-last` ranges, comma-separated.
fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let bad = || "syntax error in port range".to_string();
    let port = |p: &str| p.trim().parse::<u16>().map_err(|_| bad());
    s.split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (port(a)?, port(b)?);
                if a > b {
                    Err(bad())
                } else {
                    Ok((a, b))
                }
            }
            None => port(r).map(|p| (p, p)),
        })
        .collect()
}

/// `-P`'s list: protocol names, as `/etc/protocols` spells them.
fn parse_protos(s: &str) -> Result<Vec<i32>, String> {
    s.split(',')
        .map(|p| match p.trim() {
            "tcp" | "TCP" => Ok(IPPROTO_TCP),
            "udp" | "UDP" => Ok(IPPROTO_UDP),
            other => Err(format!("unknown protocol: {other}")),
        })
        .collect()
}

impl Opts {
    /// Parse the arguments after the program name (getopt `46clp:P:u`); the
    /// defaults FreeBSD fills in when a group is empty.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Opts, String> {
        let a = Getopt::new("46clp:P:u")
            .parse(args)
            .map_err(|e| e.to_string())?;
        if let Some(x) = a.operands.first() {
            return Err(format!("unexpected argument: {x}"));
        }
        let mut o = Opts::default();
        for (c, v) in a.opts {
            match c {
                '4' => o.inet4 = true,
                '6' => o.inet6 = true,
                'u' => o.unix = true,
                'c' => o.connected = true,
                'l' => o.listening = true,
                'p' => o.ports.extend(parse_ports(&v)?),
                _ => o.protos.extend(parse_protos(&v)?),
            }
        }
        if !o.inet4 && !o.inet6 && !o.unix {
            (o.inet4, o.inet6, o.unix) = (true, true, true);
        }
        if !o.connected && !o.listening {
            (o.connected, o.listening) = (true, true);
        }
        Ok(o)
    }
}

/// One Internet socket as sockstat shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sock {
    /// Host pid of the owner.
    pub pid: u32,
    /// Descriptor number.
    pub fd: i32,
    /// Protocol column: `tcp4`, `udp6`…
    pub proto: String,
    /// Local address and port (`None`: unbound).
    pub laddr: Option<(IpAddr, u16)>,
    /// Foreign address and port (`None`: not connected).
    pub faddr: Option<(IpAddr, u16)>,
}

/// An address image of `domain` as (address, port); `None` if empty or not
/// of that family.
fn sockaddr(domain: i32, b: &[u8]) -> Option<(IpAddr, u16)> {
    if b.is_empty() {
        return None;
    }
    if domain == PF_INET {
        let s = SockaddrIn::from_bytes(b).ok()?;
        Some((IpAddr::V4(s.addr), s.port))
    } else {
        let s = SockaddrIn6::from_bytes(b).ok()?;
        Some((IpAddr::V6(s.addr), s.port))
    }
}

/// The row of one `kern.file` record, if `o` selects it: TCP and UDP over
/// IPv4 and IPv6 (FreeBSD's sockstat lists no raw sockets).
pub fn select(o: &Opts, x: &XFile) -> Option<Sock> {
    let name = match x.domain {
        PF_INET if o.inet4 => "4",
        PF_INET6 if o.inet6 => "6",
        _ => return None,
    };
    let (proto, pnum) = match (x.ty, x.proto) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) => ("tcp", IPPROTO_TCP),
        (SOCK_DGRAM, 0 | IPPROTO_UDP) => ("udp", IPPROTO_UDP),
        _ => return None,
    };
    if !o.protos.is_empty() && !o.protos.contains(&pnum) {
        return None;
    }
    let laddr = sockaddr(x.domain, &x.laddr);
    let faddr = sockaddr(x.domain, &x.faddr);
    let fport = faddr.map(|(_, p)| p).unwrap_or(0);
    if (fport == 0 && !o.listening) || (fport != 0 && !o.connected) {
        return None;
    }
    if !o.ports.is_empty() {
        let lport = laddr.map(|(_, p)| p).unwrap_or(0);
        let listed = |p: u16| o.ports.iter().any(|&(a, b)| (a..=b).contains(&p));
        if !listed(lport) && !listed(fport) {
            return None;
        }
    }
    Some(Sock {
        pid: x.pid,
        fd: x.fd,
        proto: format!("{proto}{name}"),
        laddr,
        faddr,
    })
}

/// `inet_lnaof`: the host part of an address by its class.
fn inet_lnaof(a: Ipv4Addr) -> u32 {
    let i = u32::from(a);
    if i & 0x8000_0000 == 0 {
        i & 0x00ff_ffff
    } else if i & 0xc000_0000 == 0x8000_0000 {
        i & 0x0000_ffff
    } else {
        i & 0x0000_00ff
    }
}

/// `printaddr`: `ADDR:PORT`, `*` for a wildcard address (IPv4: a zero host
/// part, as FreeBSD tests it) and for port 0; `*:*` when there is none.
pub fn printaddr(a: Option<(IpAddr, u16)>) -> String {
    let Some((addr, port)) = a else {
        return "*:*".into();
    };
    let host = match addr {
        IpAddr::V4(v) if inet_lnaof(v) == 0 => "*".to_string(),
        IpAddr::V6(v) if v.is_unspecified() => "*".to_string(),
        a => a.to_string(),
    };
    if port == 0 {
        format!("{host}:*")
    } else {
        format!("{host}:{port}")
    }
}

/// The column header.
pub fn header() -> String {
    format!(
        "{:<8} {:<10} {:<5} {:<2} {:<6} {:<21} {:<21}",
        "USER", "COMMAND", "PID", "FD", "PROTO", "LOCAL ADDRESS", "FOREIGN ADDRESS"
    )
}

/// Append `field` to `line`, first padding `line` with spaces to column
/// `col` (at least one space after a previous field).
fn at(line: &mut String, col: usize, field: &str) {
    let n = line.chars().count();
    if !line.is_empty() {
        line.push_str(&" ".repeat(col.saturating_sub(n).max(1)));
    }
    line.push_str(field);
}

/// One row: user at column 0, command (10 characters at most) at 9, pid at
/// 20, fd at 26, protocol at 29, local address at 36, foreign at 58.
pub fn row(user: &str, command: &str, s: &Sock) -> String {
    let mut l = String::new();
    at(&mut l, 0, user);
    let cmd: String = command.chars().take(10).collect();
    at(&mut l, 9, &cmd);
    at(&mut l, 20, &s.pid.to_string());
    at(&mut l, 26, &s.fd.to_string());
    at(&mut l, 29, &s.proto);
    at(&mut l, 36, &printaddr(s.laddr));
    at(&mut l, 58, &printaddr(s.faddr));
    l
}

/// The effective uid of host process `pid` (`/proc/PID/status`).
fn proc_uid(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (user, command) of host process `pid`: the user's name or uid, the
/// command name; `?` for what cannot be read (the process is gone).
fn owner(pid: u32) -> (String, String) {
    let user = match proc_uid(pid) {
        Some(uid) => match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
            Ok(Some(u)) => u.name,
            _ => uid.to_string(),
        },
        None => "?".into(),
    };
    let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end_matches('\n').to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "?".into());
    (user, command)
}

fn main() {
    libvimage::sigpipe_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match Opts::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            libvimage::warnx(e);
            eprintln!("{USAGE}");
            std::process::exit(1);
        }
    };
    let mut sys = Sys::open_or_exit();
    let files = sys
        .sysctl_opaque("kern.file")
        .and_then(|b| XFile::decode_list(&b))
        .unwrap_or_else(|e| err(1, "sysctl: kern.file", e));
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    if so
        .write_all(table(&o, &files).as_bytes())
        .and_then(|_| so.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

/// The header and a row per socket `o` selects.
fn table(o: &Opts, files: &[XFile]) -> String {
    let mut out = header();
    out.push('\n');
    for x in files {
        if let Some(s) = select(o, x) {
            let (user, command) = owner(s.pid);
            out.push_str(&row(&user, &command, &s));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(domain: i32, ty: i32, l: Vec<u8>, f: Vec<u8>) -> XFile {
        XFile {
            pid: 612,
            fd: 4,
            domain,
            ty,
            proto: 0,
            listening: false,
            laddr: l,
            faddr: f,
        }
    }

    fn sin(a: &str, p: u16) -> Vec<u8> {
        SockaddrIn::new(a.parse().unwrap(), p).to_bytes().to_vec()
    }

    fn sin6(a: &str, p: u16) -> Vec<u8> {
        let mut s = SockaddrIn6::new(a.parse().unwrap(), 0);
        s.port = p;
        s.to_bytes().to_vec()
    }

    fn args(a: &[&str]) -> Result<Opts, String> {
        Opts::parse(a)
    }

    #[test]
    fn options_and_defaults() {
        let all = Opts {
            inet4: true,
            inet6: true,
            unix: true,
            connected: true,
            listening: true,
            ..Opts::default()
        };
        assert_eq!(args(&[]), Ok(all));
        let o = args(&["-4l"]).unwrap();
        assert!(o.inet4 && !o.inet6 && !o.unix && o.listening && !o.connected);
        assert_eq!(args(&["-4", "-l"]), Ok(o));
        let o = args(&["-6", "-c", "-u"]).unwrap();
        assert!(!o.inet4 && o.inet6 && o.unix && !o.listening && o.connected);
        assert!(args(&["-x"]).is_err());
        assert!(args(&["foo"]).is_err());
        assert!(args(&["-"]).is_err());
        // -p and -P take a value, attached or as the next word.
        let o = args(&["-4p", "22,6000-6010", "-P", "tcp"]).unwrap();
        assert_eq!(o.ports, vec![(22, 22), (6000, 6010)]);
        assert_eq!(o.protos, vec![IPPROTO_TCP]);
        assert_eq!(
            args(&["-p80", "-Pudp,tcp"]).unwrap().protos,
            vec![IPPROTO_UDP, IPPROTO_TCP]
        );
        assert_eq!(
            args(&["-p", "9-8"]),
            Err("syntax error in port range".into())
        );
        assert_eq!(args(&["-p", "x"]), Err("syntax error in port range".into()));
        assert_eq!(args(&["-P", "icmp"]), Err("unknown protocol: icmp".into()));
        assert_eq!(
            args(&["-p"]),
            Err("option requires an argument -- p".into())
        );
    }

    #[test]
    fn ports_and_protocols_select() {
        let tcp = x(
            PF_INET,
            SOCK_STREAM,
            sin("10.0.0.1", 40000),
            sin("10.0.0.2", 22),
        );
        let udp = x(PF_INET, SOCK_DGRAM, sin("0.0.0.0", 53), vec![]);
        let pick = |a: &[&str], f: &XFile| select(&args(a).unwrap(), f).is_some();
        assert!(pick(&["-p", "22"], &tcp), "the foreign port counts");
        assert!(pick(&["-p", "39000-41000"], &tcp), "and the local one");
        assert!(!pick(&["-p", "53"], &tcp) && pick(&["-p", "53"], &udp));
        assert!(pick(&["-P", "tcp"], &tcp) && !pick(&["-P", "tcp"], &udp));
        assert!(pick(&["-P", "udp", "-p", "53"], &udp));
    }

    #[test]
    fn the_manual_line() {
        assert_eq!(
            header(),
            "USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS      "
        );
        let o = args(&[]).unwrap();
        let s = select(&o, &x(PF_INET, SOCK_STREAM, sin("0.0.0.0", 22), vec![])).unwrap();
        assert_eq!(
            row("root", "sshd", &s),
            "root     sshd       612   4  tcp4   *:22                  *:*"
        );
        // Long names keep a space between columns; commands are cut to 10.
        let s = select(
            &o,
            &x(
                PF_INET,
                SOCK_DGRAM,
                sin("10.0.0.1", 5001),
                sin("10.0.0.2", 49152),
            ),
        )
        .unwrap();
        assert_eq!(
            row("averylongname", "tcpbenchmarker", &s),
            "averylongname tcpbenchma 612 4 udp4 10.0.0.1:5001         10.0.0.2:49152"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(printaddr(None), "*:*");
        let a = |s: &str, p| Some((s.parse().unwrap(), p));
        assert_eq!(printaddr(a("127.0.0.1", 25)), "127.0.0.1:25");
        assert_eq!(printaddr(a("0.0.0.0", 0)), "*:*");
        assert_eq!(printaddr(a("10.0.0.0", 7)), "*:7", "a zero host part");
        assert_eq!(printaddr(a("::1", 25)), "::1:25");
        assert_eq!(printaddr(a("::", 80)), "*:80");
        assert_eq!(printaddr(a("fe80::1", 0)), "fe80::1:*");
    }

    #[test]
    fn selection() {
        let listen = x(PF_INET, SOCK_STREAM, sin("0.0.0.0", 22), vec![]);
        let conn = x(
            PF_INET,
            SOCK_STREAM,
            sin("10.0.0.1", 22),
            sin("10.0.0.2", 5000),
        );
        let v6 = x(PF_INET6, SOCK_DGRAM, sin6("::1", 53), vec![]);
        let raw = XFile {
            proto: 1,
            ..x(PF_INET, 3, vec![], vec![])
        };
        let pick = |a: &[&str], f: &XFile| select(&args(a).unwrap(), f).is_some();
        assert!(pick(&[], &listen) && pick(&[], &conn) && pick(&[], &v6));
        assert!(!pick(&[], &raw), "no raw sockets");
        assert!(pick(&["-l"], &listen) && !pick(&["-l"], &conn));
        assert!(!pick(&["-c"], &listen) && pick(&["-c"], &conn));
        assert!(pick(&["-4"], &conn) && !pick(&["-4"], &v6));
        assert!(!pick(&["-6"], &conn) && pick(&["-6"], &v6));
        assert!(!pick(&["-u"], &conn), "-u alone: local sockets only");
        assert_eq!(select(&args(&[]).unwrap(), &v6).unwrap().proto, "udp6");
        // An unbound socket and an unreadable image are wildcards.
        let s = select(
            &args(&[]).unwrap(),
            &x(PF_INET, SOCK_DGRAM, vec![], vec![1]),
        )
        .unwrap();
        assert_eq!((s.laddr, s.faddr), (None, None));
    }
}
