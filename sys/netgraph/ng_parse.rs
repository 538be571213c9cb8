//! The ASCII form of netgraph message arguments, and its binary twin.
//!
//! A node type describes each argument as data: an [`NgParseType`] tree (integers,
//! strings, Ethernet and IPv4 addresses, structs, fixed and variable arrays).  From
//! that description this module converts between three forms:
//!
//! * ASCII text, e.g. `{ bandwidth=10000000 upstream={ BER=-1 } }`,
//! * an [`NgValue`] tree (what node code works with), and
//! * the binary C layout (natural alignment, little-endian) that travels in a
//!   control message.
//!
//! Every malformed input yields `EINVAL`; nothing here panics on input.

use vimage_abi::Errno;

/// Largest nesting of `{`/`[` accepted while parsing (bounds recursion).
const MAX_DEPTH: usize = 32;
/// Largest number of elements in one array (bounds allocation).
const MAX_ELEMS: usize = 1 << 16;

/// A named member of a struct parse type.
#[derive(Debug)]
pub struct NgField {
    /// The field name as written in ASCII.
    pub name: &'static str,
    /// The field's type.
    pub ty: NgParseType,
}

/// Description of one binary layout and its ASCII form.
#[derive(Debug)]
pub enum NgParseType {
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer (`-1` accepted as all ones).
    U8,
    /// Unsigned 16-bit integer (`-1` accepted as all ones).
    U16,
    /// Unsigned 32-bit integer (`-1` accepted as all ones).
    U32,
    /// Unsigned 64-bit integer (`-1` accepted as all ones).
    U64,
    /// Unsigned 32-bit integer printed in hex (`0x…`).
    X32,
    /// A NUL-padded string buffer of the given size (including the NUL).
    FixedString(usize),
    /// A NUL-terminated string of variable length.
    String,
    /// A 6-byte Ethernet address, `00:11:22:33:44:55`.
    Ether,
    /// A 4-byte IPv4 address, `1.2.3.4`.
    IpAddr,
    /// A 16-byte `struct sockaddr_in` (len, family, port, address, zero), written
    /// `inet/1.2.3.4:5678` as ng_ksocket's messages take it.
    SockaddrIn,
    /// A C struct: fields in order, each naturally aligned.
    Struct(&'static [NgField]),
    /// A fixed number of elements.
    FixedArray(&'static NgParseType, usize),
    /// A variable array whose length is the integer field named by the path (dotted
    /// for nested fields) in the enclosing struct, which must come earlier.
    VarArray(&'static NgParseType, &'static str),
}

/// A decoded argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NgValue {
    /// Any integer (stored wide; encoded in two's complement at the type's width).
    Int(i128),
    /// String bytes (without the NUL).
    Str(Vec<u8>),
    /// An Ethernet address.
    Ether([u8; 6]),
    /// An IPv4 address.
    Ip([u8; 4]),
    /// An IPv4 socket address: address and port.
    Inet([u8; 4], u16),
    /// Struct members by name; members missing here take their default.
    Struct(Vec<(&'static str, NgValue)>),
    /// Array elements in order.
    Array(Vec<NgValue>),
}

impl NgValue {
    /// The default (all zero) value of `ty`.
    pub fn default_of(ty: &NgParseType) -> NgValue {
        use NgParseType::*;
        match ty {
            I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 | X32 => NgValue::Int(0),
            FixedString(_) | String => NgValue::Str(Vec::new()),
            Ether => NgValue::Ether([0; 6]),
            IpAddr => NgValue::Ip([0; 4]),
            SockaddrIn => NgValue::Inet([0; 4], 0),
            Struct(fields) => NgValue::Struct(
                fields
                    .iter()
                    .map(|f| (f.name, NgValue::default_of(&f.ty)))
                    .collect(),
            ),
            FixedArray(e, n) => NgValue::Array((0..*n).map(|_| NgValue::default_of(e)).collect()),
            VarArray(_, _) => NgValue::Array(Vec::new()),
        }
    }

    /// The member `name` of a struct value.
    pub fn get(&self, name: &str) -> Option<&NgValue> {
        match self {
            NgValue::Struct(v) => v.iter().find(|(n, _)| *n == name).map(|(_, x)| x),
            _ => None,
        }
    }

    /// The member at a dotted path (`a.b`) of a struct value.
    pub fn get_path(&self, path: &str) -> Option<&NgValue> {
        let mut cur = self;
        for p in path.split('.') {
            cur = cur.get(p)?;
        }
        Some(cur)
    }

    /// The integer value, if this is an integer.
    pub fn int(&self) -> Option<i128> {
        match self {
            NgValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The integer at `path` as u64 bits (missing or not an integer → 0).
    pub fn u64_at(&self, path: &str) -> u64 {
        self.get_path(path).and_then(NgValue::int).unwrap_or(0) as u64
    }

    /// The string at `path` (missing → empty; invalid UTF-8 is replaced).
    pub fn str_at(&self, path: &str) -> String {
        match self.get_path(path) {
            Some(NgValue::Str(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    /// Build a struct value from `(name, value)` pairs.
    pub fn record(members: Vec<(&'static str, NgValue)>) -> NgValue {
        NgValue::Struct(members)
    }

    /// A string value.
    pub fn string(s: &str) -> NgValue {
        NgValue::Str(s.as_bytes().to_vec())
    }

    /// An integer value from any primitive integer.
    pub fn num(x: impl Into<i128>) -> NgValue {
        NgValue::Int(x.into())
    }

    /// An array of byte-sized integers (a `u8` array member of a config).
    pub fn u8_array(b: &[u8]) -> NgValue {
        NgValue::Array(b.iter().map(|&x| NgValue::num(x)).collect())
    }

    /// Copy the integer array at `path` into `out`, element by element, each
    /// truncated to a byte; a non-integer element stores 0, `out` beyond the
    /// array and a missing array are left alone.
    pub fn u8s_at(&self, path: &str, out: &mut [u8]) {
        if let Some(NgValue::Array(a)) = self.get_path(path) {
            for (slot, x) in out.iter_mut().zip(a) {
                *slot = x.int().unwrap_or(0) as u8;
            }
        }
    }

    fn set_member(&mut self, name: &'static str, v: NgValue) {
        if let NgValue::Struct(m) = self {
            if let Some(slot) = m.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = v;
            } else {
                m.push((name, v));
            }
        }
    }

    fn get_mut_path(&mut self, path: &str) -> Option<&mut NgValue> {
        let mut cur = self;
        for p in path.split('.') {
            cur = match cur {
                NgValue::Struct(m) => m.iter_mut().find(|(n, _)| *n == p).map(|(_, x)| x)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

fn int_info(ty: &NgParseType) -> Option<(u32, bool)> {
    use NgParseType::*;
    Some(match ty {
        I8 => (8, true),
        I16 => (16, true),
        I32 => (32, true),
        I64 => (64, true),
        U8 => (8, false),
        U16 => (16, false),
        U32 | X32 => (32, false),
        U64 => (64, false),
        _ => return None,
    })
}

/// Natural alignment of `ty` in bytes.
pub fn align_of(ty: &NgParseType) -> usize {
    use NgParseType::*;
    if let Some((bits, _)) = int_info(ty) {
        return (bits / 8) as usize;
    }
    match ty {
        IpAddr => 4,
        Struct(f) => f.iter().map(|f| align_of(&f.ty)).max().unwrap_or(1),
        FixedArray(e, _) | VarArray(e, _) => align_of(e),
        _ => 1,
    }
}

/// Size in bytes of `ty` if it has a fixed size (no variable parts).
pub fn fixed_size(ty: &NgParseType) -> Option<usize> {
    use NgParseType::*;
    if let Some((bits, _)) = int_info(ty) {
        return Some((bits / 8) as usize);
    }
    match ty {
        FixedString(n) => Some(*n),
        String | VarArray(_, _) => None,
        Ether => Some(6),
        IpAddr => Some(4),
        SockaddrIn => Some(16),
        Struct(fields) => {
            let mut off = 0usize;
            for f in fields.iter() {
                off = pad(off, align_of(&f.ty)) + fixed_size(&f.ty)?;
            }
            Some(pad(off, align_of(ty)))
        }
        FixedArray(e, n) => {
            let es = pad(fixed_size(e)?, align_of(e));
            es.checked_mul(*n)
        }
        _ => None,
    }
}

fn pad(off: usize, align: usize) -> usize {
    let a = align.max(1);
    off.div_ceil(a) * a
}

fn padto(out: &mut Vec<u8>, align: usize) {
    let n = pad(out.len(), align);
    out.resize(n, 0);
}

// ---------------------------------------------------------------- binary encode

/// Encode `v` in the binary layout of `ty`.
pub fn encode(ty: &NgParseType, v: &NgValue) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    enc(ty, v, &mut out)?;
    Ok(out)
}

fn enc(ty: &NgParseType, v: &NgValue, out: &mut Vec<u8>) -> Result<(), Errno> {
    use NgParseType::*;
    padto(out, align_of(ty));
    if let Some((bits, _)) = int_info(ty) {
        let i = v.int().ok_or(Errno::EINVAL)?;
        let b = (i as u64).to_le_bytes();
        out.extend_from_slice(&b[..(bits / 8) as usize]);
        return Ok(());
    }
    match (ty, v) {
        (FixedString(n), NgValue::Str(s)) => {
            if s.len() >= *n || s.contains(&0) {
                return Err(Errno::EINVAL);
            }
            out.extend_from_slice(s);
            out.resize(out.len() + n - s.len(), 0);
        }
        (String, NgValue::Str(s)) => {
            if s.contains(&0) {
                return Err(Errno::EINVAL);
            }
            out.extend_from_slice(s);
            out.push(0);
        }
        (Ether, NgValue::Ether(a)) => out.extend_from_slice(a),
        (IpAddr, NgValue::Ip(a)) => out.extend_from_slice(a),
        (SockaddrIn, NgValue::Inet(a, port)) => {
            out.extend_from_slice(&[16, 2]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(&[0; 8]);
        }
        (Struct(fields), NgValue::Struct(_)) => {
            for f in fields.iter() {
                match v.get(f.name) {
                    Some(x) => enc(&f.ty, x, out)?,
                    None => enc(&f.ty, &NgValue::default_of(&f.ty), out)?,
                }
            }
            padto(out, align_of(ty));
        }
        (FixedArray(e, n), NgValue::Array(items)) => {
            if items.len() > *n {
                return Err(Errno::EINVAL);
            }
            let d = NgValue::default_of(e);
            for i in 0..*n {
                enc(e, items.get(i).unwrap_or(&d), out)?;
            }
        }
        (VarArray(e, _), NgValue::Array(items)) => {
            for x in items {
                enc(e, x, out)?;
            }
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

// ---------------------------------------------------------------- binary decode

/// Decode bytes laid out as `ty`; all of `b` must be consumed (`EINVAL` otherwise).
pub fn decode(ty: &NgParseType, b: &[u8]) -> Result<NgValue, Errno> {
    let mut off = 0usize;
    let v = dec(ty, b, &mut off, None, 0)?;
    if off != b.len() {
        return Err(Errno::EINVAL);
    }
    Ok(v)
}

fn take<'a>(b: &'a [u8], off: &mut usize, n: usize) -> Result<&'a [u8], Errno> {
    let end = off.checked_add(n).ok_or(Errno::EINVAL)?;
    let s = b.get(*off..end).ok_or(Errno::EINVAL)?;
    *off = end;
    Ok(s)
}

fn dec(
    ty: &NgParseType,
    b: &[u8],
    off: &mut usize,
    parent: Option<&NgValue>,
    depth: usize,
) -> Result<NgValue, Errno> {
    use NgParseType::*;
    if depth > MAX_DEPTH {
        return Err(Errno::EINVAL);
    }
    *off = pad(*off, align_of(ty));
    if let Some((bits, signed)) = int_info(ty) {
        let s = take(b, off, (bits / 8) as usize)?;
        let mut raw = [0u8; 8];
        raw[..s.len()].copy_from_slice(s);
        let u = u64::from_le_bytes(raw);
        let v = if signed {
            let shift = 64 - bits;
            (((u << shift) as i64) >> shift) as i128
        } else {
            u as i128
        };
        return Ok(NgValue::Int(v));
    }
    Ok(match ty {
        FixedString(n) => {
            let s = take(b, off, *n)?;
            let l = s.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
            NgValue::Str(s[..l].to_vec())
        }
        String => {
            let rest = b.get(*off..).ok_or(Errno::EINVAL)?;
            let l = rest.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
            let s = rest[..l].to_vec();
            *off += l + 1;
            NgValue::Str(s)
        }
        Ether => {
            let s = take(b, off, 6)?;
            let mut a = [0u8; 6];
            a.copy_from_slice(s);
            NgValue::Ether(a)
        }
        IpAddr => {
            let s = take(b, off, 4)?;
            let mut a = [0u8; 4];
            a.copy_from_slice(s);
            NgValue::Ip(a)
        }
        SockaddrIn => {
            let s = take(b, off, 16)?;
            if s[1] != 2 {
                return Err(Errno::EAFNOSUPPORT);
            }
            let mut a = [0u8; 4];
            a.copy_from_slice(&s[4..8]);
            NgValue::Inet(a, u16::from_be_bytes([s[2], s[3]]))
        }
        Struct(fields) => {
            let mut sv = NgValue::Struct(Vec::with_capacity(fields.len()));
            for f in fields.iter() {
                let x = dec(&f.ty, b, off, Some(&sv), depth + 1)?;
                sv.set_member(f.name, x);
            }
            *off = pad(*off, align_of(ty));
            if *off > b.len() {
                return Err(Errno::EINVAL);
            }
            sv
        }
        FixedArray(e, n) => {
            let mut items = Vec::new();
            for _ in 0..*n {
                items.push(dec(e, b, off, None, depth + 1)?);
            }
            NgValue::Array(items)
        }
        VarArray(e, lenpath) => {
            let n = parent
                .and_then(|p| p.get_path(lenpath))
                .and_then(NgValue::int)
                .ok_or(Errno::EINVAL)?;
            let n = usize::try_from(n).map_err(|_| Errno::EINVAL)?;
            let min = fixed_size(e).unwrap_or(1).max(1);
            let left = b.len().saturating_sub(*off);
            if n > MAX_ELEMS || n.saturating_mul(min) > left {
                return Err(Errno::EINVAL);
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(dec(e, b, off, None, depth + 1)?);
            }
            NgValue::Array(items)
        }
        _ => return Err(Errno::EINVAL),
    })
}

// ---------------------------------------------------------------- ASCII parse

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Eq,
    Word(String),
    Quoted(Vec<u8>),
    End,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<Tok, Errno> {
        let save = self.pos;
        let t = self.next();
        self.pos = save;
        t
    }

    fn next(&mut self) -> Result<Tok, Errno> {
        self.skip_ws();
        let Some(&c) = self.s.get(self.pos) else {
            return Ok(Tok::End);
        };
        match c {
            b'{' | b'[' => {
                self.pos += 1;
                Ok(Tok::Open(c as char))
            }
            b'}' | b']' => {
                self.pos += 1;
                Ok(Tok::Close(c as char))
            }
            b'=' => {
                self.pos += 1;
                Ok(Tok::Eq)
            }
            b'"' => {
                self.pos += 1;
                self.quoted().map(Tok::Quoted)
            }
            _ => {
                let start = self.pos;
                while let Some(&c) = self.s.get(self.pos) {
                    if c.is_ascii_whitespace() || b"{}[]=\"".contains(&c) {
                        break;
                    }
                    self.pos += 1;
                }
                let w = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| Errno::EINVAL)?;
                Ok(Tok::Word(w.to_owned()))
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.pos).ok_or(Errno::EINVAL)?;
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.pos).ok_or(Errno::EINVAL)?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'v' => out.push(0x0b),
                        b'f' => out.push(0x0c),
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'0'..=b'7' => {
                            let mut v: u32 = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.s.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(u8::try_from(v).map_err(|_| Errno::EINVAL)?);
                        }
                        b'x' => {
                            let mut v: u32 = 0;
                            let mut n = 0;
                            while n < 2 {
                                match self.s.get(self.pos).and_then(|d| (*d as char).to_digit(16)) {
                                    Some(d) => {
                                        v = v * 16 + d;
                                        self.pos += 1;
                                        n += 1;
                                    }
                                    None => break,
                                }
                            }
                            if n == 0 {
                                return Err(Errno::EINVAL);
                            }
                            out.push(v as u8);
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

/// Parse the ASCII form of `ty`; trailing text other than blanks is `EINVAL`.
pub fn parse(ty: &NgParseType, s: &str) -> Result<NgValue, Errno> {
    let mut lx = Lexer {
        s: s.as_bytes(),
        pos: 0,
    };
    let v = parse_value(ty, &mut lx, 0)?;
    if lx.next()? != Tok::End {
        return Err(Errno::EINVAL);
    }
    Ok(v)
}

/// Parse an integer the way C's `strtoll(s, .., 0)` reads it, requiring the whole word.
pub fn parse_int(w: &str) -> Result<i128, Errno> {
    let (neg, body) = match w.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    // Only digits of the radix: `from_str_radix` would also take a second sign
    // ("--5", "0x-5"), and "--" followed by 2^127 would overflow the negation.
    if digits.is_empty() || digits.len() > 40 || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(Errno::EINVAL);
    }
    let v = i128::from_str_radix(digits, radix).map_err(|_| Errno::EINVAL)?;
    Ok(if neg { -v } else { v })
}

fn parse_ether(w: &str) -> Result<[u8; 6], Errno> {
    let mut a = [0u8; 6];
    let mut n = 0;
    for part in w.split(':') {
        if n >= 6 || part.is_empty() || part.len() > 2 {
            return Err(Errno::EINVAL);
        }
        a[n] = u8::from_str_radix(part, 16).map_err(|_| Errno::EINVAL)?;
        n += 1;
    }
    if n != 6 {
        return Err(Errno::EINVAL);
    }
    Ok(a)
}

fn parse_ip(w: &str) -> Result<[u8; 4], Errno> {
    let mut a = [0u8; 4];
    let mut n = 0;
    for part in w.split('.') {
        if n >= 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(Errno::EINVAL);
        }
        a[n] = part.parse::<u8>().map_err(|_| Errno::EINVAL)?;
        n += 1;
    }
    if n != 4 {
        return Err(Errno::EINVAL);
    }
    Ok(a)
}

fn parse_value(ty: &NgParseType, lx: &mut Lexer<'_>, depth: usize) -> Result<NgValue, Errno> {
    use NgParseType::*;
    if depth > MAX_DEPTH {
        return Err(Errno::EINVAL);
    }
    if let Some((bits, _)) = int_info(ty) {
        let Tok::Word(w) = lx.next()? else {
            return Err(Errno::EINVAL);
        };
        let v = parse_int(&w)?;
        let lo = -(1i128 << (bits - 1));
        let hi = (1i128 << bits) - 1;
        if v < lo || v > hi {
            return Err(Errno::EINVAL);
        }
        return Ok(NgValue::Int(v));
    }
    match ty {
        FixedString(_) | String => match lx.next()? {
            Tok::Quoted(b) => Ok(NgValue::Str(b)),
            Tok::Word(w) => Ok(NgValue::Str(w.into_bytes())),
            _ => Err(Errno::EINVAL),
        }
        .and_then(|v| {
            if let (FixedString(n), NgValue::Str(b)) = (ty, &v) {
                if b.len() >= *n {
                    return Err(Errno::EINVAL);
                }
            }
            Ok(v)
        }),
        Ether => match lx.next()? {
            Tok::Word(w) => Ok(NgValue::Ether(parse_ether(&w)?)),
            _ => Err(Errno::EINVAL),
        },
        IpAddr => match lx.next()? {
            Tok::Word(w) => Ok(NgValue::Ip(parse_ip(&w)?)),
            _ => Err(Errno::EINVAL),
        },
        SockaddrIn => match lx.next()? {
            Tok::Word(w) => {
                let rest = w.strip_prefix("inet/").ok_or(Errno::EINVAL)?;
                let (ip, port) = match rest.rsplit_once(':') {
                    Some((ip, p)) => (ip, p.parse::<u16>().map_err(|_| Errno::EINVAL)?),
                    None => (rest, 0),
                };
                Ok(NgValue::Inet(parse_ip(ip)?, port))
            }
            _ => Err(Errno::EINVAL),
        },
        Struct(fields) => {
            if lx.next()? != Tok::Open('{') {
                return Err(Errno::EINVAL);
            }
            let mut sv = NgValue::default_of(ty);
            loop {
                match lx.next()? {
                    Tok::Close('}') => break,
                    Tok::Word(name) => {
                        let f = fields
                            .iter()
                            .find(|f| f.name == name)
                            .ok_or(Errno::EINVAL)?;
                        if lx.next()? != Tok::Eq {
                            return Err(Errno::EINVAL);
                        }
                        let x = parse_value(&f.ty, lx, depth + 1)?;
                        sv.set_member(f.name, x);
                    }
                    _ => return Err(Errno::EINVAL),
                }
            }
            fix_var_lengths(fields, &mut sv)?;
            Ok(sv)
        }
        FixedArray(e, n) => parse_array(e, Some(*n), lx, depth),
        VarArray(e, _) => parse_array(e, None, lx, depth),
        _ => Err(Errno::EINVAL),
    }
}

/// Make each variable array and its length field agree: the array is padded with
/// defaults up to the length field, and the length field raised to the array length.
fn fix_var_lengths(fields: &[NgField], sv: &mut NgValue) -> Result<(), Errno> {
    for f in fields.iter() {
        if let NgParseType::VarArray(e, lenpath) = &f.ty {
            let given = sv
                .get_path(lenpath)
                .and_then(NgValue::int)
                .ok_or(Errno::EINVAL)?;
            let have = match sv.get(f.name) {
                Some(NgValue::Array(a)) => a.len(),
                _ => 0,
            };
            let want = usize::try_from(given).map_err(|_| Errno::EINVAL)?.max(have);
            if want > MAX_ELEMS {
                return Err(Errno::EINVAL);
            }
            if let Some(NgValue::Array(a)) = sv.get_mut_path(f.name) {
                a.resize(want, NgValue::default_of(e));
            }
            if let Some(slot) = sv.get_mut_path(lenpath) {
                *slot = NgValue::Int(want as i128);
            }
        }
    }
    Ok(())
}

fn parse_array(
    e: &NgParseType,
    fixed: Option<usize>,
    lx: &mut Lexer<'_>,
    depth: usize,
) -> Result<NgValue, Errno> {
    if lx.next()? != Tok::Open('[') {
        return Err(Errno::EINVAL);
    }
    let mut items: Vec<NgValue> = match fixed {
        Some(n) => (0..n).map(|_| NgValue::default_of(e)).collect(),
        None => Vec::new(),
    };
    let mut idx = 0usize;
    loop {
        if let Tok::Close(']') = lx.peek()? {
            lx.next()?;
            break;
        }
        // An element may be prefixed by `index=`.
        let save = lx.pos;
        if let Tok::Word(w) = lx.next()? {
            if lx.next()? == Tok::Eq {
                let i = parse_int(&w)?;
                idx = usize::try_from(i).map_err(|_| Errno::EINVAL)?;
            } else {
                lx.pos = save;
            }
        } else {
            lx.pos = save;
        }
        let limit = fixed.unwrap_or(MAX_ELEMS);
        if idx >= limit {
            return Err(Errno::EINVAL);
        }
        let v = parse_value(e, lx, depth + 1)?;
        if idx >= items.len() {
            items.resize(idx + 1, NgValue::default_of(e));
        }
        items[idx] = v;
        idx += 1;
    }
    Ok(NgValue::Array(items))
}

// ---------------------------------------------------------------- ASCII format

/// The ASCII form of `v` as type `ty`; members and elements equal to their default
/// are left out (array elements after a gap carry `index=`).
pub fn format(ty: &NgParseType, v: &NgValue) -> String {
    let mut s = String::new();
    fmt_value(ty, v, &mut s);
    s
}

/// Quote and escape bytes as a C string literal.
pub fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\{:03o}", c)),
        }
    }
    s.push('"');
    s
}

fn fmt_value(ty: &NgParseType, v: &NgValue, s: &mut String) {
    use NgParseType::*;
    if let Some((bits, signed)) = int_info(ty) {
        let i = v.int().unwrap_or(0);
        let mask: u64 = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let u = (i as u64) & mask;
        if matches!(ty, X32) {
            s.push_str(&format!("0x{:x}", u));
        } else if signed {
            let shift = 64 - bits;
            s.push_str(&format!("{}", ((u << shift) as i64) >> shift));
        } else {
            s.push_str(&format!("{}", u));
        }
        return;
    }
    match (ty, v) {
        (FixedString(_) | String, NgValue::Str(b)) => s.push_str(&quote(b)),
        (Ether, NgValue::Ether(a)) => s.push_str(&format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )),
        (IpAddr, NgValue::Ip(a)) => s.push_str(&format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
        (SockaddrIn, NgValue::Inet(a, p)) => {
            s.push_str(&format!("inet/{}.{}.{}.{}:{}", a[0], a[1], a[2], a[3], p))
        }
        (Struct(fields), NgValue::Struct(_)) => {
            s.push('{');
            for f in fields.iter() {
                let d = NgValue::default_of(&f.ty);
                let x = v.get(f.name).unwrap_or(&d);
                if is_default(&f.ty, x) {
                    continue;
                }
                s.push(' ');
                s.push_str(f.name);
                s.push('=');
                fmt_value(&f.ty, x, s);
            }
            s.push_str(" }");
        }
        (FixedArray(e, _) | VarArray(e, _), NgValue::Array(items)) => {
            s.push('[');
            let mut next = 0usize;
            for (i, x) in items.iter().enumerate() {
                if is_default(e, x) {
                    continue;
                }
                s.push(' ');
                if i != next {
                    s.push_str(&format!("{}=", i));
                }
                next = i + 1;
                fmt_value(e, x, s);
            }
            s.push_str(" ]");
        }
        _ => fmt_value(ty, &NgValue::default_of(ty), s),
    }
}

fn is_default(ty: &NgParseType, v: &NgValue) -> bool {
    use NgParseType::*;
    match (ty, v) {
        (Struct(fields), NgValue::Struct(_)) => fields.iter().all(|f| match v.get(f.name) {
            Some(x) => is_default(&f.ty, x),
            None => true,
        }),
        (FixedArray(e, _), NgValue::Array(items)) => items.iter().all(|x| is_default(e, x)),
        (VarArray(_, _), NgValue::Array(items)) => items.is_empty(),
        (_, NgValue::Int(i)) => {
            let (bits, _) = int_info(ty).unwrap_or((64, false));
            let mask: u64 = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            (*i as u64) & mask == 0
        }
        _ => *v == NgValue::default_of(ty),
    }
}

/// ASCII → binary in one step.
pub fn ascii_to_binary(ty: &NgParseType, s: &str) -> Result<Vec<u8>, Errno> {
    encode(ty, &parse(ty, s)?)
}

/// Binary → ASCII in one step.
pub fn binary_to_ascii(ty: &NgParseType, b: &[u8]) -> Result<String, Errno> {
    Ok(format(ty, &decode(ty, b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use NgParseType as T;

    static INNER: T = T::Struct(&[
        NgField {
            name: "c",
            ty: T::U16,
        },
        NgField {
            name: "mac",
            ty: T::Ether,
        },
    ]);
    static OUTER: T = T::Struct(&[
        NgField {
            name: "a",
            ty: T::U8,
        },
        NgField {
            name: "b",
            ty: T::U32,
        },
        NgField {
            name: "s",
            ty: T::FixedString(8),
        },
        NgField {
            name: "neg",
            ty: T::I32,
        },
        NgField {
            name: "big",
            ty: T::U64,
        },
        NgField {
            name: "ip",
            ty: T::IpAddr,
        },
        NgField {
            name: "arr",
            ty: T::FixedArray(&T::U8, 4),
        },
        NgField {
            name: "in",
            ty: T::Struct(&[
                NgField {
                    name: "c",
                    ty: T::U16,
                },
                NgField {
                    name: "mac",
                    ty: T::Ether,
                },
            ]),
        },
        NgField {
            name: "n",
            ty: T::U32,
        },
        NgField {
            name: "list",
            ty: T::VarArray(&INNER, "n"),
        },
    ]);

    #[test]
    fn layout_is_c_like() {
        // a@0, b@4, s@8..16, neg@16, big@24, ip@32, arr@36, in{c@40,mac@42} -> 48,
        // n@48, list (align 2) @52.
        assert_eq!(fixed_size(&INNER), Some(8));
        let v = parse(&OUTER, "{ a=1 }").unwrap();
        let b = encode(&OUTER, &v).unwrap();
        assert_eq!(b.len(), 56);
        assert_eq!(b[0], 1);
    }

    #[test]
    fn round_trip_full() {
        let txt = "{ a=255 b=0x10 s=\"hi\\n\" neg=-5 big=-1 ip=10.0.0.1 arr=[ 2=7 9 ] \
                   in={ c=3 mac=00:11:22:aa:bb:cc } list=[ { c=1 } 2={ c=4 } ] }";
        let v = parse(&OUTER, txt).unwrap();
        assert_eq!(v.u64_at("n"), 3);
        assert_eq!(v.u64_at("big"), u64::MAX);
        let b = encode(&OUTER, &v).unwrap();
        assert_eq!(b.len(), 80); // 52 + 3 * 8, padded to 8
        let d = decode(&OUTER, &b).unwrap();
        let out = format(&OUTER, &d);
        assert_eq!(
            out,
            "{ a=255 b=16 s=\"hi\\n\" neg=-5 big=18446744073709551615 ip=10.0.0.1 \
             arr=[ 2=7 9 ] in={ c=3 mac=00:11:22:aa:bb:cc } n=3 list=[ { c=1 } 2={ c=4 } ] }"
        );
        // Reparse the formatted text: same binary.
        assert_eq!(ascii_to_binary(&OUTER, &out).unwrap(), b);
    }

    #[test]
    fn defaults_are_omitted() {
        assert_eq!(binary_to_ascii(&OUTER, &[0u8; 56]).unwrap(), "{ }");
        assert_eq!(format(&T::U32, &NgValue::Int(0)), "0");
    }

    #[test]
    fn errors_are_einval() {
        for bad in [
            "",
            "{",
            "{ a=256 }",
            "{ a=-129 }",
            "{ zz=1 }",
            "{ a 1 }",
            "{ s=\"toolongstring\" }",
            "{ ip=1.2.3 }",
            "{ ip=1.2.3.400 }",
            "{ in={ mac=00:11:22 } }",
            "{ arr=[ 4=1 ] }",
            "{ a=1 } junk",
            "{ s=\"unterminated }",
            "{ b=12abc }",
        ] {
            assert_eq!(parse(&OUTER, bad), Err(Errno::EINVAL), "{bad}");
        }
        assert_eq!(decode(&OUTER, &[0u8; 51]), Err(Errno::EINVAL));
        assert_eq!(decode(&OUTER, &[0u8; 53]), Err(Errno::EINVAL));
        let mut b = vec![0u8; 56];
        b[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&OUTER, &b), Err(Errno::EINVAL));
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("0x1F"), Ok(31));
        assert_eq!(parse_int("-1"), Ok(-1));
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("0"), Ok(0));
        assert!(parse_int("-").is_err());
        // Found by fuzzing against strtoll: a second sign was taken, and "--" with
        // 2^127 overflowed the negation (a panic in debug builds).
        for bad in [
            "--5",
            "-+5",
            "+-5",
            "0x-5",
            "0-7",
            "0x+1",
            "--170141183460469231731687303715884105728",
        ] {
            assert_eq!(parse_int(bad), Err(Errno::EINVAL), "{bad}");
        }
        assert_eq!(parse_int("-0x10"), Ok(-16));
        assert_eq!(ascii_to_binary(&T::U32, "-1").unwrap(), vec![0xff; 4]);
        assert_eq!(binary_to_ascii(&T::I32, &[0xff; 4]).unwrap(), "-1");
        assert_eq!(binary_to_ascii(&T::X32, &[0x3f, 0, 0, 0]).unwrap(), "0x3f");
        assert_eq!(
            binary_to_ascii(&T::String, b"a\"b\x01\0").unwrap(),
            "\"a\\\"b\\001\""
        );
        assert_eq!(
            parse(&T::String, "\"\\x41\\101\"").unwrap(),
            NgValue::string("AA")
        );
    }

    /// A tiny deterministic generator for the fuzz loop.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let seeds = [
            "{ a=255 b=0x10 s=\"hi\" in={ c=3 mac=00:11:22:aa:bb:cc } list=[ { c=1 } ] n=2 }",
            "{ arr=[ 1 2 3=4 ] ip=1.2.3.4 neg=-7 big=0xffff }",
        ];
        let alphabet = b"{}[]= \"\\0123456789abcdefx:.-n";
        for i in 0..20000 {
            let mut s: Vec<u8> = seeds[i % 2].as_bytes().to_vec();
            for _ in 0..(r.next() % 6) {
                let p = (r.next() as usize) % (s.len() + 1);
                match r.next() % 3 {
                    0 if p < s.len() => {
                        s.remove(p);
                    }
                    1 => s.insert(p, alphabet[(r.next() as usize) % alphabet.len()]),
                    _ if p < s.len() => s[p] = r.next() as u8,
                    _ => {}
                }
            }
            if let Ok(txt) = std::str::from_utf8(&s) {
                if let Ok(v) = parse(&OUTER, txt) {
                    if let Ok(b) = encode(&OUTER, &v) {
                        let d = decode(&OUTER, &b).unwrap();
                        let _ = format(&OUTER, &d);
                    }
                }
            }
            let n = (r.next() % 90) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
            if let Ok(v) = decode(&OUTER, &bytes) {
                let _ = format(&OUTER, &v);
            }
        }
    }
}

#[cfg(test)]
mod sockaddr_tests {
    use super::*;

    #[test]
    fn sockaddr_in_round_trips_in_ksocket_syntax() {
        let b = ascii_to_binary(&NgParseType::SockaddrIn, "inet/127.0.0.1:5000").unwrap();
        assert_eq!(b, [16, 2, 0x13, 0x88, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            binary_to_ascii(&NgParseType::SockaddrIn, &b).unwrap(),
            "inet/127.0.0.1:5000"
        );
        for bad in [
            "127.0.0.1:5",
            "inet/1.2.3:4",
            "inet/1.2.3.4:70000",
            "local/x",
        ] {
            assert_eq!(
                ascii_to_binary(&NgParseType::SockaddrIn, bad),
                Err(Errno::EINVAL),
                "{bad}"
            );
        }
        let mut b6 = b.clone();
        b6[1] = 28;
        assert!(binary_to_ascii(&NgParseType::SockaddrIn, &b6).is_err());
    }
}
