//! The rule compiler of ipfw(8) (7.0's grammar): the words after `add`
//! become a rule in the kernel's encoding ([`IpFwRule`]).
//!
//! `add [N] [set S] ACTION [log [logamount L]] PROTO from SRC [PORTS] to
//! DST [PORTS] [OPTIONS]`, with `{ a or b }` blocks, `not` and `!`.  Errors
//! carry ipfw(8)'s message and exit status (`errx(3)`), returned rather
//! than printed so the compiler can be tested and fuzzed.

use std::net::{Ipv4Addr, Ipv6Addr};

use libvimage::netdb::{getprotobyname, getservbyname};
use vimage_abi::ip_fw::*;

/// `EX_USAGE`.
pub const EX_USAGE: i32 = 64;
/// `EX_DATAERR`.
pub const EX_DATAERR: i32 = 65;
/// `EX_NOHOST`.
pub const EX_NOHOST: i32 = 68;
/// `EX_UNAVAILABLE`.
pub const EX_UNAVAILABLE: i32 = 69;
/// `EX_OSERR`.
pub const EX_OSERR: i32 = 71;

/// Why a command failed: ipfw(8)'s message and its exit status (the
/// message is printed as `errx(3)` prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail {
    /// The exit status.
    pub code: i32,
    /// The message, without the program name.
    pub msg: String,
}

/// `errx(code, msg)`.
pub fn fail<T>(code: i32, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        code,
        msg: msg.into(),
    })
}

/// `IPPROTO_IPV6`: what `ip6` sets as the protocol for address parsing.
const IPPROTO_IPV6: u8 = 41;

/// What the compiler needs from outside: host names, and the default log
/// allowance (`net.inet.ip.fw.verbose_limit`) for `log` without
/// `logamount`.
pub trait Env {
    /// An IPv4 address of host `name`.
    fn host4(&mut self, name: &str) -> Option<Ipv4Addr>;
    /// An IPv6 address of host `name`.
    fn host6(&mut self, name: &str) -> Option<Ipv6Addr>;
    /// `net.inet.ip.fw.verbose_limit`.
    fn verbose_limit(&mut self) -> Result<u32, Fail>;
}

/// `inet_aton(3)`: one to four parts, each decimal, octal (`0`) or hex
/// (`0x`); the last part fills the remaining bytes.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut v = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or(p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        v.push(n);
    }
    let last = *v.last()?;
    let head = &v[..v.len() - 1];
    if head.iter().any(|x| *x > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 64 && last >> room != 0 {
        return None;
    }
    let mut a: u32 = 0;
    for (i, x) in head.iter().enumerate() {
        a |= (*x as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(a | last as u32))
}

/// `strtol(s, &end, 0)` on a prefix of `s`: the value (wrapping as C's
/// conversion to a narrower type would) and the bytes used (0: none).
pub fn strtol0(s: &str) -> (i64, usize) {
    let b = s.as_bytes();
    let (radix, start) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, 2)
        } else if b.first() == Some(&b'0') {
            (8, 0)
        } else {
            (10, 0)
        };
    let mut n: i64 = 0;
    let mut i = start;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(radix) {
            Some(d) => d,
            None => break,
        };
        n = n
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        i += 1;
    }
    if i == start && start == 0 {
        return (0, 0);
    }
    (n, i)
}

/// `atoi(3)`.
fn atoi(s: &str) -> i64 {
    i64::from(libvimage::atoi(s))
}

/// `strtoul(s, NULL, 10)` for what ipfw(8) reads that way.
fn strtoul10(s: &str) -> u64 {
    let d: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    d.parse::<u64>()
        .unwrap_or(if d.is_empty() { 0 } else { u64::MAX })
}

/// A prefix length as a mask.
fn v4mask(len: u32) -> Ipv4Addr {
    Ipv4Addr::from(if len == 0 { 0 } else { u32::MAX << (32 - len) })
}

fn v6mask(len: u32) -> Ipv6Addr {
    Ipv6Addr::from(if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    })
}

/// The words being compiled, and what is being built.
struct Compiler<'e> {
    av: Vec<String>,
    at: usize,
    env: &'e mut dyn Env,
    /// Match instructions in the order given.
    cmd: Vec<Insn>,
    /// `not` seen, for the next instruction.
    pending_not: bool,
    /// The last instruction made (what an `or` joins), as an index in `cmd`.
    prev: Option<usize>,
    open_par: bool,
    proto: u8,
    have_state: bool,
    log: Option<Cmd>,
}

impl Compiler<'_> {
    fn peek(&self) -> Option<&str> {
        self.av.get(self.at).map(String::as_str)
    }
    fn bump(&mut self) {
        self.at += 1;
    }
    fn need(&self, msg: &str) -> Result<String, Fail> {
        match self.peek() {
            Some(w) => Ok(w.to_string()),
            None => fail(EX_USAGE, msg),
        }
    }
    /// Add an instruction (taking a pending `not`); it becomes `prev`.
    fn emit(&mut self, c: Cmd) {
        let not = std::mem::take(&mut self.pending_not);
        self.cmd.push(Insn {
            cmd: c,
            not,
            or: false,
        });
        self.prev = Some(self.cmd.len() - 1);
    }
    /// `NOT_BLOCK`: an optional `not`.
    fn not_block(&mut self) -> Result<(), Fail> {
        if self.peek() == Some("not") {
            if self.pending_not {
                return fail(EX_USAGE, "double \"not\" not allowed\n");
            }
            self.pending_not = true;
            self.bump();
        }
        Ok(())
    }
    /// `OR_START`: a `(` or `{` opening a block (alone or glued to the
    /// word); the word with it taken off.
    fn or_start(&mut self) -> Result<(), Fail> {
        let Some(w) = self.peek().map(str::to_string) else {
            return Ok(());
        };
        if w.starts_with('(') || w.starts_with('{') {
            if self.open_par {
                return fail(EX_USAGE, "nested \"(\" not allowed\n");
            }
            self.prev = None;
            self.open_par = true;
            if w.len() == 1 {
                self.bump();
            } else {
                self.av[self.at] = w[1..].to_string();
            }
        }
        Ok(())
    }
    /// `OR_BLOCK`: whether an `or` continues the block (it marks `prev`);
    /// else `CLOSE_PAR` closes an open block.
    fn or_block(&mut self) -> Result<bool, Fail> {
        if self.peek() == Some("or") {
            let Some(p) = self.prev.filter(|_| self.open_par) else {
                return fail(EX_DATAERR, "invalid OR block");
            };
            self.cmd[p].or = true;
            self.bump();
            return Ok(true);
        }
        if self.open_par {
            if matches!(self.peek(), Some(")" | "}")) {
                self.prev = None;
                self.open_par = false;
                self.bump();
            } else {
                return fail(EX_USAGE, "missing \")\"\n");
            }
        }
        Ok(false)
    }

    /// `add_proto`/`add_proto_compat`: a protocol word; false if it is none.
    fn add_proto(&mut self, w: &str, compat: bool) -> bool {
        match w {
            "ip" | "all" => {
                self.proto = 0;
                true
            }
            "ip4" => {
                self.emit(Cmd::Ip4);
                self.proto = 0;
                true
            }
            "ipv4" if compat => {
                self.emit(Cmd::Ip4);
                self.proto = 0;
                true
            }
            "ip6" => {
                self.emit(Cmd::Ip6);
                self.proto = IPPROTO_IPV6;
                true
            }
            "ipv6" if compat => {
                self.emit(Cmd::Ip6);
                self.proto = IPPROTO_IPV6;
                true
            }
            _ => {
                let n = match w.parse::<i64>() {
                    Ok(n) if n > 0 => Some(n as u8),
                    _ => getprotobyname(w),
                };
                match n {
                    Some(n) => {
                        self.emit(Cmd::Proto(n));
                        self.proto = n;
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// An IPv4 host: dotted (inet_aton) or a name.
    fn host4(&mut self, s: &str) -> Result<Ipv4Addr, Fail> {
        if let Some(a) = inet_aton(s) {
            return Ok(a);
        }
        match self.env.host4(s) {
            Some(a) => Ok(a),
            None => fail(EX_NOHOST, format!("hostname ``{s}'' unknown")),
        }
    }

    /// `fill_ip`: `any`, `me`, or a list `A[/len|:mask][,...]`, or a set
    /// `A/len{x,y-z}`; `None` for `any`.
    fn fill_ip(&mut self, av: &str, src: bool) -> Result<Option<Cmd>, Fail> {
        if av == "any" {
            return Ok(None);
        }
        if av == "me" {
            return Ok(Some(if src { Cmd::IpSrcMe } else { Cmd::IpDstMe }));
        }
        if let Some(t) = av.strip_prefix("table(") {
            // table(N[,V]): numbers as strtoul reads them, up to the `)`.
            let (n, v) = match t.split_once(',') {
                Some((n, v)) => (n, Some(v)),
                None => (t, None),
            };
            let table = strtol0(n).0;
            if !(0..i64::from(IPFW_TABLES_MAX)).contains(&table) {
                return fail(EX_DATAERR, format!("invalid table number {table}"));
            }
            let table = table as u16;
            let value = v.map(|v| strtol0(v).0 as u32);
            return Ok(Some(if src {
                Cmd::IpSrcLookup { table, value }
            } else {
                Cmd::IpDstLookup { table, value }
            }));
        }
        let mut pairs: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
        let mut rest = av;
        loop {
            // The address, then a mask or prefix, up to ',' or '{'.
            let end = rest.find([',', '{']).unwrap_or(rest.len());
            let item = &rest[..end];
            let (host, mask) = match item.find(['/', ':']) {
                Some(i) => (&item[..i], Some((item.as_bytes()[i], &item[i + 1..]))),
                None => (item, None),
            };
            let a = self.host4(host)?;
            let brace = rest[end..].starts_with('{');
            let m = match mask {
                Some((b':', m)) => match inet_aton(m) {
                    Some(m) => m,
                    None => return fail(EX_DATAERR, format!("bad netmask ``{m}''")),
                },
                Some((_, w)) => {
                    let n = atoi(w);
                    if n > 32 {
                        return fail(EX_DATAERR, format!("bad width ``{w}''"));
                    }
                    v4mask(n.max(0) as u32)
                }
                None if brace => v4mask(24),
                None => Ipv4Addr::BROADCAST,
            };
            let a = Ipv4Addr::from(u32::from(a) & u32::from(m));
            if brace {
                if !pairs.is_empty() {
                    return fail(EX_DATAERR, "address set cannot be in a list");
                }
                return self.fill_set(a, m, &rest[end + 1..], src).map(Some);
            }
            let more = end < rest.len();
            if u32::from(m) == 0 {
                // `any` anywhere in a list makes the list `any`; `not any`
                // alone never matches.
                if self.pending_not && !more && pairs.is_empty() {
                    return fail(EX_DATAERR, "not any never matches");
                }
                return Ok(None);
            }
            if m == Ipv4Addr::BROADCAST && !more && pairs.is_empty() {
                return Ok(Some(if src { Cmd::IpSrc(a) } else { Cmd::IpDst(a) }));
            }
            pairs.push((a, m));
            if !more {
                break;
            }
            rest = &rest[end + 1..];
        }
        if 2 * pairs.len() + 1 > usize::from(F_LEN_MASK) {
            return fail(EX_DATAERR, "address list too long");
        }
        Ok(Some(if src {
            Cmd::IpSrcMask(pairs)
        } else {
            Cmd::IpDstMask(pairs)
        }))
    }

    /// The set part of `A/len{x,y-z}` (`s` after the `{`).
    fn fill_set(
        &mut self,
        base: Ipv4Addr,
        mask: Ipv4Addr,
        s: &str,
        src: bool,
    ) -> Result<Cmd, Fail> {
        let plen = u32::from(mask).leading_ones();
        if u32::from(mask).count_ones() != plen || !(24..=31).contains(&plen) {
            return fail(EX_DATAERR, format!("invalid set with mask {plen}\n"));
        }
        let size = 1u16 << (32 - plen);
        let mut map = vec![0u32; usize::from(size).div_ceil(32)];
        let low = i64::from(u32::from(base) & 0xff);
        let high = low + i64::from(size) - 1;
        let mut prev: Option<i64> = None;
        let mut rest = s;
        loop {
            let (a, used) = strtol0(rest);
            if used == 0 {
                if !rest.starts_with('}') {
                    return fail(EX_DATAERR, "set not closed\n");
                }
                if let Some(p) = prev {
                    return fail(EX_DATAERR, format!("incomplete range {p}-"));
                }
                break;
            }
            if a < low || a > high {
                return fail(
                    EX_DATAERR,
                    format!("addr {a} out of range [{low}-{high}]\n"),
                );
            }
            let a = a - low;
            let sep = rest.as_bytes().get(used).copied();
            let from = match prev.take() {
                None => a,
                Some(p) => {
                    if p > a {
                        return fail(EX_DATAERR, format!("invalid range {}-{}", p + low, a + low));
                    }
                    if sep == Some(b'-') {
                        return fail(EX_DATAERR, "double '-' in range");
                    }
                    p
                }
            };
            if sep == Some(b'-') {
                prev = Some(a);
            } else {
                for x in from..=a {
                    map[(x / 32) as usize] |= 1 << (x % 32);
                }
            }
            match sep {
                Some(b'}') => break,
                None => return fail(EX_DATAERR, "set not closed\n"),
                _ => rest = &rest[used + 1..],
            }
        }
        let set = AddrSet { base, size, map };
        Ok(if src {
            Cmd::IpSrcSet(set)
        } else {
            Cmd::IpDstSet(set)
        })
    }

    /// `fill_ip6`: `any`, `me6`, or a list `A6[/len][,...]`.
    fn fill_ip6(&mut self, av: &str, src: bool) -> Result<Option<Cmd>, Fail> {
        if av == "any" {
            return Ok(None);
        }
        if av == "me6" {
            return Ok(Some(if src { Cmd::Ip6SrcMe } else { Cmd::Ip6DstMe }));
        }
        let mut pairs = Vec::new();
        for item in av.split(',') {
            let (host, len) = match item.split_once('/') {
                Some((h, l)) => (h, Some(l)),
                None => (item, None),
            };
            let a = match host
                .parse::<Ipv6Addr>()
                .ok()
                .or_else(|| self.env.host6(host))
            {
                Some(a) => a,
                None => return fail(EX_DATAERR, format!("bad address \"{host}\"")),
            };
            let m = match len {
                Some(l) => {
                    let n = atoi(l);
                    if !(0..=128).contains(&n) {
                        return fail(EX_DATAERR, format!("bad width \"{l}\""));
                    }
                    v6mask(n as u32)
                }
                None => v6mask(128),
            };
            if u128::from(m) == 0 {
                return Ok(None);
            }
            pairs.push((Ipv6Addr::from(u128::from(a) & u128::from(m)), m));
        }
        if pairs.len() == 1 && pairs[0].1 == v6mask(128) {
            let a = pairs[0].0;
            return Ok(Some(if src { Cmd::Ip6Src(a) } else { Cmd::Ip6Dst(a) }));
        }
        if 8 * pairs.len() + 1 > usize::from(F_LEN_MASK) {
            return fail(EX_DATAERR, "address list too long");
        }
        Ok(Some(if src {
            Cmd::Ip6SrcMask(pairs)
        } else {
            Cmd::Ip6DstMask(pairs)
        }))
    }

    /// `add_src`/`add_dst`: IPv6 when the protocol is `ip6`, the word is
    /// `me6` or parses as IPv6; else IPv4.
    fn add_addr(&mut self, av: &str, src: bool) -> Result<Option<Cmd>, Fail> {
        let host = av.split('/').next().unwrap_or(av);
        if self.proto == IPPROTO_IPV6 || av == "me6" || host.parse::<Ipv6Addr>().is_ok() {
            return self.fill_ip6(av, src);
        }
        self.fill_ip(av, src)
    }

    /// `strtoport`: a port number (`strtol` base 0) or a service name of
    /// the rule's protocol (`\` escapes a `-`); the value and the bytes
    /// used (0: not a port).
    fn strtoport(&self, s: &str) -> (u16, usize) {
        let b = s.as_bytes();
        if b.first().is_some_and(u8::is_ascii_digit) {
            let (n, used) = strtol0(s);
            return (n as u16, used);
        }
        let mut end = 0;
        let mut name = String::new();
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'\\') {
            if b[end] == b'\\' && end + 1 < b.len() {
                end += 1;
            }
            name.push(b[end] as char);
            end += 1;
        }
        if name.is_empty() {
            return (0, 0);
        }
        let proto = match self.proto {
            6 => Some("tcp"),
            17 => Some("udp"),
            0 => None,
            _ => return (0, 0),
        };
        match getservbyname(&name, proto) {
            Some(p) => (p, end),
            None => (0, 0),
        }
    }

    /// `fill_newports`: `N`, `N-M`, comma lists; `None` if the word is not
    /// a port list.
    fn ports(&self, av: &str) -> Result<Option<Vec<(u16, u16)>>, Fail> {
        let mut v = Vec::new();
        let mut rest = av;
        while !rest.is_empty() {
            let (a, used) = self.strtoport(rest);
            if used == 0 {
                return Ok(None);
            }
            let after = &rest[used..];
            let (pair, next) = match after.as_bytes().first() {
                Some(b'-') => {
                    let r = &after[1..];
                    let (b, u2) = self.strtoport(r);
                    let tail = &r[u2..];
                    if u2 == 0 || !(tail.is_empty() || tail.starts_with(',')) {
                        return Ok(None);
                    }
                    ((a, b), tail)
                }
                Some(b',') | None => ((a, a), after),
                Some(c) => {
                    libvimage::warnx(format!(
                        "port list: invalid separator <{}> in <{av}>",
                        *c as char
                    ));
                    return Ok(None);
                }
            };
            v.push(pair);
            rest = next.strip_prefix(',').unwrap_or(next);
        }
        if v.is_empty() {
            return Ok(None);
        }
        if v.len() + 1 > usize::from(F_LEN_MASK) {
            return fail(EX_DATAERR, "too many ports/ranges\n");
        }
        Ok(Some(v))
    }

    /// Source or destination ports after an address: consumed if the word
    /// is `any` or a port list.
    fn opt_ports(&mut self, src: bool) -> Result<(), Fail> {
        self.not_block()?;
        let Some(w) = self.peek().map(str::to_string) else {
            return Ok(());
        };
        if w == "any" {
            self.bump();
        } else if let Some(p) = self.ports(&w)? {
            self.bump();
            self.emit(if src {
                Cmd::SrcPort(p)
            } else {
                Cmd::DstPort(p)
            });
        }
        Ok(())
    }

    /// An address block (`from`/`to` operand): `{ a or b }`, `not`.
    fn addr_block(&mut self, src: bool) -> Result<(), Fail> {
        self.or_start()?;
        loop {
            self.not_block()?;
            let w = self.need(if src {
                "missing source address"
            } else {
                "missing dst address"
            })?;
            self.bump();
            if let Some(c) = self.add_addr(&w, src)? {
                self.emit(c);
            }
            if !self.or_block()? {
                return Ok(());
            }
        }
    }

    /// `fill_iface`: an interface name (or pattern) or address; `None` for
    /// `any`.
    fn iface(&mut self, w: &str) -> Result<Option<IfSpec>, Fail> {
        if w == "any" {
            return Ok(None);
        }
        if w.is_empty() {
            // No name: ipfw(8) leaves the address part, 0.0.0.0.
            return Ok(Some(IfSpec::Addr(Ipv4Addr::UNSPECIFIED)));
        }
        if !w.starts_with(|c: char| c.is_ascii_digit()) {
            let mut name = w.to_string();
            while name.len() >= vimage_abi::IFNAMSIZ {
                name.pop();
            }
            let glob = name.contains(['*', '?', '[']);
            return Ok(Some(IfSpec::Name { name, glob }));
        }
        match inet_aton(w) {
            Some(a) => Ok(Some(IfSpec::Addr(a))),
            None => fail(EX_DATAERR, format!("bad ip address ``{w}''")),
        }
    }

    /// The options after the addresses (`read_options`).
    fn options(&mut self) -> Result<(), Fail> {
        self.prev = None;
        while let Some(word) = self.peek().map(str::to_string) {
            self.bump();
            let mut s = word.as_str();
            if let Some(rest) = s.strip_prefix('!') {
                if self.pending_not {
                    return fail(EX_USAGE, "double \"not\" not allowed\n");
                }
                self.pending_not = true;
                s = rest;
            }
            let before = self.cmd.len();
            match s {
                "not" => {
                    if self.pending_not {
                        return fail(EX_USAGE, "double \"not\" not allowed\n");
                    }
                    self.pending_not = true;
                }
                "or" => {
                    let Some(p) = self.prev.filter(|_| self.open_par) else {
                        return fail(EX_USAGE, "invalid \"or\" block\n");
                    };
                    self.cmd[p].or = true;
                }
                "(" | "{" => {
                    if self.open_par {
                        return fail(EX_USAGE, "+nested \"(\" not allowed\n");
                    }
                    self.open_par = true;
                }
                ")" | "}" => {
                    if !self.open_par {
                        return fail(EX_USAGE, "+missing \")\"\n");
                    }
                    self.open_par = false;
                    self.prev = None;
                }
                "in" => self.emit(Cmd::In),
                "out" => {
                    self.pending_not = !self.pending_not;
                    self.emit(Cmd::In);
                }
                "frag" => self.emit(Cmd::Frag),
                "xmit" | "recv" | "via" => {
                    let w = self.need("recv, xmit, via require interface name or address")?;
                    self.bump();
                    match self.iface(&w)? {
                        Some(i) => self.emit(match s {
                            "xmit" => Cmd::Xmit(i),
                            "recv" => Cmd::Recv(i),
                            _ => Cmd::Via(i),
                        }),
                        // `any`: no instruction, and no `not` either.
                        None => self.pending_not = false,
                    }
                }
                "icmptypes" => {
                    let w = self.need("icmptypes requires list of types")?;
                    self.bump();
                    let c = icmptypes(&w)?;
                    self.emit(c);
                }
                "established" => self.emit(Cmd::Estab),
                "setup" => self.emit(Cmd::TcpFlags {
                    set: TH_SYN,
                    clear: TH_ACK,
                }),
                "tcpflags" => {
                    let w = self.need("missing argument for tcpflags")?;
                    self.bump();
                    let c = tcpflags(&w)?;
                    self.emit(c);
                }
                "keep-state" => {
                    if self.open_par {
                        return fail(EX_USAGE, "keep-state cannot be part of an or block");
                    }
                    if self.have_state {
                        return fail(EX_USAGE, "only one of keep-state and limit is allowed");
                    }
                    self.have_state = true;
                    self.emit(Cmd::KeepState);
                }
                "proto" => {
                    let w = self.need("missing protocol")?;
                    self.bump();
                    if !self.add_proto(&w, false) {
                        return fail(EX_DATAERR, format!("invalid protocol ``{w}''"));
                    }
                }
                "src-ip" | "dst-ip" => {
                    let src = s == "src-ip";
                    let w = self.need(if src {
                        "missing source IP"
                    } else {
                        "missing destination IP"
                    })?;
                    self.bump();
                    if let Some(c) = self.fill_ip(&w, src)? {
                        self.emit(c);
                    }
                }
                "src-ip6" | "src-ipv6" | "dst-ip6" | "dst-ipv6" => {
                    let src = s.starts_with("src");
                    let w = self.need(if src {
                        "missing source IP6"
                    } else {
                        "missing destination IP6"
                    })?;
                    self.bump();
                    if let Some(c) = self.fill_ip6(&w, src)? {
                        self.emit(c);
                    }
                }
                "src-port" | "dst-port" => {
                    let src = s == "src-port";
                    let w = self.need(if src {
                        "missing source port"
                    } else {
                        "missing destination port"
                    })?;
                    self.bump();
                    if w != "any" {
                        match self.ports(&w)? {
                            Some(p) => self.emit(if src {
                                Cmd::SrcPort(p)
                            } else {
                                Cmd::DstPort(p)
                            }),
                            None => {
                                let which = if src { "source" } else { "destination" };
                                return fail(EX_DATAERR, format!("invalid {which} port {w}"));
                            }
                        }
                    }
                }
                "ipv6" | "ip6" => self.emit(Cmd::Ip6),
                "ipv4" | "ip4" => self.emit(Cmd::Ip4),
                "//" => {
                    let text = self.av[self.at..].join(" ");
                    if text.len() > IPFW_COMMENT_MAX {
                        return fail(EX_DATAERR, "comment too long (max 80 chars)");
                    }
                    self.at = self.av.len();
                    self.emit(Cmd::Comment(text));
                }
                "layer2" => self.emit(Cmd::Layer2),
                "mac" | "MAC" => {
                    if self.av.len() - self.at < 2 {
                        return fail(EX_USAGE, "MAC dst-mac src-mac");
                    }
                    let (d, sm) = (
                        mac_addr_mask(&self.av[self.at]),
                        mac_addr_mask(&self.av[self.at + 1]),
                    );
                    self.at += 2;
                    let mut addr = [0u8; 12];
                    let mut mask = [0u8; 12];
                    addr[..6].copy_from_slice(&d.0);
                    mask[..6].copy_from_slice(&d.1);
                    addr[6..].copy_from_slice(&sm.0);
                    mask[6..].copy_from_slice(&sm.1);
                    self.emit(Cmd::MacAddr2 { addr, mask });
                }
                "mac-type" => {
                    let w = self.need("missing mac type")?;
                    self.bump();
                    match mac_types(&w) {
                        Some(l) => self.emit(Cmd::MacType(l)),
                        None => return fail(EX_DATAERR, format!("invalid mac type {w}")),
                    }
                }
                "uid" | "gid" | "jail" | "limit" | "ipid" | "iplen" | "ipttl" | "iptos"
                | "ipoptions" | "ipopts" | "ipprecedence" | "ipversion" | "ipver" | "tcpseq"
                | "tcpack" | "tcpwin" | "tcpoptions" | "tcpopts" | "tcpdatalen" | "diverted"
                | "diverted-loopback" | "diverted-output" | "bridged" | "antispoof"
                | "verrevpath" | "versrcreach" | "ipsec" | "icmp6types" | "icmp6type"
                | "ext6hdr" | "flow-id" | "tagged" | "lookup" => {
                    return fail(EX_DATAERR, format!("option ``{s}'' is not supported"));
                }
                _ => return fail(EX_USAGE, format!("unrecognised option [-1] {s}\n")),
            }
            if self.cmd.len() > before {
                self.prev = Some(self.cmd.len() - 1);
            }
        }
        Ok(())
    }
}

/// The ethertype names ipfw(8) knows (`ether_types`), the first of a
/// value being how it prints.
pub const ETHER_TYPES: [(&str, u16); 19] = [
    ("ip", 0x0800),
    ("ipv4", 0x0800),
    ("ipv6", 0x86dd),
    ("arp", 0x0806),
    ("rarp", 0x8035),
    ("vlan", 0x8100),
    ("loop", 0x9000),
    ("trail", 0x1000),
    ("at", 0x809b),
    ("atalk", 0x809b),
    ("aarp", 0x80f3),
    ("pppoe_disc", 0x8863),
    ("pppoe_sess", 0x8864),
    ("ipx_8022", 0x00e0),
    ("ipx_8023", 0x0000),
    ("ipx_ii", 0x8137),
    ("ipx_snap", 0x8137),
    ("ipx", 0x8137),
    ("ns", 0x0600),
];

/// `get_mac_addr_mask`: `any`, or hex octets joined by `:`, then
/// optionally `/len` or `&mask`; the address comes back masked.
fn mac_addr_mask(w: &str) -> ([u8; 6], [u8; 6]) {
    let (mut addr, mut mask) = ([0u8; 6], [0u8; 6]);
    if w == "any" {
        return (addr, mask);
    }
    // strtol(…, 16) on each octet: the hex digits there are (none: 0).
    fn hex(s: &str) -> (u8, usize) {
        let n = s.bytes().take_while(u8::is_ascii_hexdigit).count();
        (u64::from_str_radix(&s[..n], 16).unwrap_or(0) as u8, n)
    }
    let mut rest = w;
    for a in addr.iter_mut() {
        let (v, n) = hex(rest);
        *a = v;
        rest = &rest[n..];
        match rest.strip_prefix(':') {
            Some(r) => rest = r,
            None => break,
        }
    }
    if let Some(l) = rest.strip_prefix('/') {
        let mut l = strtol0(l).0;
        let mut i = 0;
        while l > 0 && i < 6 {
            mask[i] = if l >= 8 { 0xff } else { 0xffu8 << (8 - l) };
            l -= 8;
            i += 1;
        }
    } else if let Some(m) = rest.strip_prefix('&') {
        let mut rest = m;
        for b in mask.iter_mut() {
            let (v, n) = hex(rest);
            *b = v;
            rest = &rest[n..];
            match rest.strip_prefix(':') {
                Some(r) => rest = r,
                None => break,
            }
        }
    } else if rest.is_empty() {
        mask = [0xff; 6];
    }
    for (a, m) in addr.iter_mut().zip(mask) {
        *a &= m;
    }
    (addr, mask)
}

/// `fill_newports` for ethertypes: `T[-T][,...]`, each a number (C
/// notation) or a name of [`ETHER_TYPES`]; `None` if a piece is neither.
fn mac_types(w: &str) -> Option<Vec<(u16, u16)>> {
    if w == "any" {
        return None;
    }
    let one = |s: &str| -> Option<u16> {
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            let (n, used) = strtol0(s);
            return (used == s.len() && (0..=0xffff).contains(&n)).then_some(n as u16);
        }
        ETHER_TYPES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    };
    let mut l = Vec::new();
    for item in w.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (one(a)?, one(b)?),
            None => {
                let v = one(item)?;
                (v, v)
            }
        };
        l.push((lo, hi));
    }
    (l.len() < usize::from(F_LEN_MASK)).then_some(l)
}

/// `fill_icmptypes`: `t[,t...]`, each 0..=31.
fn icmptypes(av: &str) -> Result<Cmd, Fail> {
    let mut m = 0u32;
    let mut rest = av;
    while !rest.is_empty() {
        rest = rest.strip_prefix(',').unwrap_or(rest);
        let (t, used) = strtol0(rest);
        let after = &rest[used..];
        if !(after.is_empty() || after.starts_with(',')) {
            return fail(EX_DATAERR, "invalid ICMP type");
        }
        let t = t as u8;
        if t > 31 {
            return fail(EX_DATAERR, "ICMP type out of range");
        }
        m |= 1 << t;
        rest = after;
    }
    Ok(Cmd::IcmpTypes(m))
}

/// The names `tcpflags` takes, in the order they print.
pub const TCP_FLAG_NAMES: [(&str, u8); 6] = [
    ("fin", TH_FIN),
    ("syn", TH_SYN),
    ("rst", TH_RST),
    ("psh", TH_PUSH),
    ("ack", TH_ACK),
    ("urg", TH_URG),
];

/// `fill_flags` for `tcpflags`: `f[,!f...]`.
fn tcpflags(av: &str) -> Result<Cmd, Fail> {
    let (mut set, mut clear) = (0u8, 0u8);
    for f in av.split(',') {
        let (neg, name) = match f.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, f),
        };
        let Some((_, bit)) = TCP_FLAG_NAMES.iter().find(|(n, _)| *n == name) else {
            return fail(EX_DATAERR, format!("invalid flag {name}"));
        };
        if neg {
            clear |= bit;
        } else {
            set |= bit;
        }
    }
    Ok(Cmd::TcpFlags { set, clear })
}

/// `get_reject_code`: a number below 256 or a name of
/// [`ICMP_UNREACH_CODES`].
fn reject_code(s: &str) -> Result<u16, Fail> {
    let (n, used) = strtol0(s);
    if used == s.len() && used > 0 && (0..0x100).contains(&n) {
        return Ok(n as u16);
    }
    match ICMP_UNREACH_CODES.iter().position(|c| *c == s) {
        Some(i) => Ok(i as u16),
        None => fail(EX_DATAERR, format!("unknown ICMP unreachable code ``{s}''")),
    }
}

/// Compile the words after `add` into a rule (`add`'s first half).
pub fn compile_rule(words: &[String], env: &mut dyn Env) -> Result<IpFwRule, Fail> {
    let mut c = Compiler {
        av: words.to_vec(),
        at: 0,
        env,
        cmd: Vec::new(),
        pending_not: false,
        prev: None,
        open_par: false,
        proto: 0,
        have_state: false,
        log: None,
    };
    let mut rule = IpFwRule::default();
    // [N]
    if c.peek()
        .is_some_and(|w| w.starts_with(|x: char| x.is_ascii_digit()))
    {
        rule.rulenum = atoi(c.peek().unwrap_or("0")) as u16;
        c.bump();
    }
    // [set S]
    if c.peek() == Some("set") && c.at + 1 < c.av.len() {
        let w = c.av[c.at + 1].clone();
        let s = strtoul10(&w);
        if s > u64::from(RESVD_SET) {
            return fail(EX_DATAERR, format!("illegal set {w}"));
        }
        rule.set = s as u8;
        c.at += 2;
    }
    if c.peek() == Some("prob") && c.at + 1 < c.av.len() {
        return fail(EX_DATAERR, "match probability (prob) is not supported");
    }
    // ACTION
    let a = c.need("missing action")?;
    c.bump();
    let action = match a.as_str() {
        "check-state" => Cmd::CheckState,
        "allow" | "accept" | "pass" | "permit" => Cmd::Accept,
        "deny" | "drop" => Cmd::Deny,
        "reject" => Cmd::Reject(ICMP_UNREACH_HOST),
        "reset" => Cmd::Reject(ICMP_REJECT_RST),
        "unreach" => {
            let w = c.need("missing reject code")?;
            c.bump();
            Cmd::Reject(reject_code(&w)?)
        }
        "count" => Cmd::Count,
        "skipto" => {
            let w = c.need("missing skipto/pipe/queue/netgraph rule number")?;
            c.bump();
            Cmd::Skipto(strtoul10(&w) as u16)
        }
        "divert" | "tee" | "fwd" | "forward" | "pipe" | "queue" | "netgraph" | "ngtee" | "nat"
        | "unreach6" | "reset6" => {
            return fail(EX_DATAERR, format!("action ``{a}'' is not supported"));
        }
        _ => return fail(EX_DATAERR, format!("invalid action {a}\n")),
    };
    // [log [logamount L]]
    while let Some(w) = c.peek().map(str::to_string) {
        match w.as_str() {
            "log" => {
                c.bump();
                if c.log.is_some() {
                    return fail(EX_DATAERR, "log cannot be specified more than once");
                }
                let max_log = if c.peek() == Some("logamount") {
                    c.bump();
                    let n = c.need("logamount requires argument")?;
                    c.bump();
                    let l = atoi(&n);
                    if l < 0 {
                        return fail(EX_DATAERR, "logamount must be positive");
                    }
                    l as u32
                } else {
                    c.env.verbose_limit()?
                };
                c.log = Some(Cmd::Log {
                    max_log,
                    log_left: max_log,
                });
            }
            "altq" | "tag" | "untag" => {
                return fail(EX_DATAERR, format!("``{w}'' is not supported"));
            }
            _ => break,
        }
    }
    if action != Cmd::CheckState {
        c.body()?;
    }
    // Assemble: a probe first with keep-state, the keep-state last of the
    // match part; the log first of the action part.
    let mut cmd = Vec::new();
    if c.have_state {
        cmd.push(Insn::new(Cmd::ProbeState));
    }
    let mut keep = None;
    for i in c.cmd {
        if i.cmd == Cmd::KeepState {
            keep = Some(i);
        } else {
            cmd.push(i);
        }
    }
    cmd.extend(keep);
    if cmd.last().is_some_and(|i| i.or) {
        return fail(EX_DATAERR, "invalid OR block");
    }
    rule.cmd = cmd;
    rule.act = c.log.into_iter().map(Insn::new).collect();
    rule.act.push(Insn::new(action));
    if rule.size() > IPFW_RULE_MAXSIZE {
        return fail(EX_DATAERR, "rule too long");
    }
    Ok(rule)
}

impl Compiler<'_> {
    /// `PROTO from SRC [PORTS] to DST [PORTS] [OPTIONS]` (or options alone,
    /// when the first word is not a protocol).
    fn body(&mut self) -> Result<(), Fail> {
        self.or_start()?;
        let first = self.cmd.len();
        loop {
            self.not_block()?;
            let w = self.need("missing protocol")?;
            if self.add_proto(&w, true) {
                self.bump();
            } else if self.cmd.len() != first {
                return fail(EX_DATAERR, format!("invalid protocol ``{w}''"));
            } else {
                return self.options();
            }
            if !self.or_block()? {
                break;
            }
        }
        if self.peek() != Some("from") {
            return fail(EX_USAGE, "missing ``from''");
        }
        self.bump();
        self.addr_block(true)?;
        self.opt_ports(true)?;
        if self.peek() != Some("to") {
            return fail(EX_USAGE, "missing ``to''");
        }
        self.bump();
        self.addr_block(false)?;
        self.opt_ports(false)?;
        self.options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) struct NoNames;
    impl Env for NoNames {
        fn host4(&mut self, n: &str) -> Option<Ipv4Addr> {
            (n == "localhost").then_some(Ipv4Addr::LOCALHOST)
        }
        fn host6(&mut self, _: &str) -> Option<Ipv6Addr> {
            None
        }
        fn verbose_limit(&mut self) -> Result<u32, Fail> {
            Ok(0)
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn c(s: &str) -> Result<IpFwRule, Fail> {
        compile_rule(&words(s), &mut NoNames)
    }

    #[test]
    fn the_facts_examples_compile_to_ipfw2s_instructions() {
        let r = c("100 accept ip from any to any").unwrap();
        assert_eq!(r.rulenum, 100);
        assert!(r.cmd.is_empty());
        assert_eq!(r.act, vec![Insn::new(Cmd::Accept)]);
        let r = c("deny icmp from any to any icmptypes 8").unwrap();
        assert_eq!(r.rulenum, 0);
        assert_eq!(
            r.cmd,
            vec![Insn::new(Cmd::Proto(1)), Insn::new(Cmd::IcmpTypes(1 << 8))]
        );
        let r = c("allow tcp from any to me 22 setup keep-state").unwrap();
        let ops: Vec<u8> = r.cmd.iter().map(|i| i.cmd.opcode()).collect();
        assert_eq!(
            ops,
            [
                op::O_PROBE_STATE,
                op::O_PROTO,
                op::O_IP_DST_ME,
                op::O_IP_DSTPORT,
                op::O_TCPFLAGS,
                op::O_KEEP_STATE
            ]
        );
        let r = c("400 allow ip from 10.0.1.7/24 to any via e0").unwrap();
        assert_eq!(
            r.cmd[0].cmd,
            Cmd::IpSrcMask(vec![(
                Ipv4Addr::new(10, 0, 1, 0),
                Ipv4Addr::new(255, 255, 255, 0)
            )])
        );
    }

    #[test]
    fn errors_are_ipfw8s() {
        let e = |s: &str| c(s).unwrap_err();
        assert_eq!(
            e("100 frobnicate ip from any to any").msg,
            "invalid action frobnicate\n"
        );
        assert_eq!(e("allow ip to any").code, EX_USAGE);
        assert_eq!(e("allow ip to any").msg, "missing ``from''");
        assert_eq!(e("allow ip from any").msg, "missing ``to''");
        assert_eq!(e("100").msg, "missing action");
        assert_eq!(e("allow").msg, "missing protocol");
        assert_eq!(e("allow mac any").msg, "MAC dst-mac src-mac");
        assert_eq!(e("allow mac-type").msg, "missing mac type");
        assert_eq!(e("allow mac-type any").msg, "invalid mac type any");
        assert_eq!(e("allow mac-type bogus").msg, "invalid mac type bogus");
        assert_eq!(e("allow ip from nosuch to any").code, EX_NOHOST);
        assert_eq!(
            e("allow ip from any to any bogus").msg,
            "unrecognised option [-1] bogus\n"
        );
        assert_eq!(e("allow ip from 1.2.3.4/33 to any").msg, "bad width ``33''");
        assert_eq!(
            e("allow ip from not 0.0.0.0/0 to any").msg,
            "not any never matches"
        );
        assert_eq!(e("set 32 allow ip from any to any").msg, "illegal set 32");
        assert_eq!(
            e("allow ip from any to any not not in").msg,
            "double \"not\" not allowed\n"
        );
        assert_eq!(
            e("allow icmp from any to any icmptypes 40").msg,
            "ICMP type out of range"
        );
        assert_eq!(
            e("allow tcp from any to any tcpflags syn,foo").msg,
            "invalid flag foo"
        );
        assert_eq!(e("unreach bogus ip from any to any").code, EX_DATAERR);
        assert_eq!(
            e("allow foo from any to any").msg,
            "unrecognised option [-1] foo\n"
        );
    }

    #[test]
    fn blocks_lists_sets_and_options() {
        let r = c("allow ip from { 1.1.1.1 or 2.2.2.2 } to not 3.3.3.3 in recv e* out").unwrap();
        assert!(r.cmd[0].or && !r.cmd[1].or);
        assert!(r.cmd[2].not);
        assert_eq!(r.cmd[3], Insn::new(Cmd::In));
        assert_eq!(
            r.cmd[4].cmd,
            Cmd::Recv(IfSpec::Name {
                name: "e*".into(),
                glob: true
            })
        );
        assert!(r.cmd[5].not, "out is in negated");
        let r = c("allow tcp from 10.0.0.0/24{1,5,10-12} 25,1000-2000 to any 0x10").unwrap();
        let Cmd::IpSrcSet(s) = &r.cmd[1].cmd else {
            panic!("{r:?}")
        };
        assert_eq!((s.size, s.map[0]), (256, (1 << 1) | (1 << 5) | (7 << 10)));
        assert_eq!(r.cmd[2].cmd, Cmd::SrcPort(vec![(25, 25), (1000, 2000)]));
        assert_eq!(r.cmd[3].cmd, Cmd::DstPort(vec![(16, 16)]));
        let r = c("count log logamount 5 udp from any domain to any // dns queries").unwrap();
        assert_eq!(r.cmd[1].cmd, Cmd::SrcPort(vec![(53, 53)]));
        assert_eq!(r.cmd[2].cmd, Cmd::Comment("dns queries".into()));
        assert_eq!(
            r.act[0].cmd,
            Cmd::Log {
                max_log: 5,
                log_left: 5
            }
        );
        let r = c("allow ip6 from fe80::/10 to me6").unwrap();
        assert_eq!(r.cmd[0].cmd, Cmd::Ip6);
        assert!(matches!(r.cmd[1].cmd, Cmd::Ip6SrcMask(_)));
        assert_eq!(r.cmd[2].cmd, Cmd::Ip6DstMe);
        // Options alone, no protocol: ipfw add deny in.
        let r = c("deny in").unwrap();
        assert_eq!(r.cmd, vec![Insn::new(Cmd::In)]);
        let r = c("check-state anything at all").unwrap();
        assert!(r.cmd.is_empty());
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("1.2.3.4.5"), None);
    }
}
