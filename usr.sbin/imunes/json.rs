//! The IMUNES 3 `.imn` format: JSON, `nodes` and `links` objects whose
//! values are (nearly) all strings.  A small JSON reader that keeps each
//! value's line, so errors can name it.

use crate::legacy::RawLink;
use crate::topo::*;

/// A JSON value and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Its line.
    pub line: Line,
    /// What it is.
    pub v: Json,
}

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written.
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, members in order.
    Obj(Vec<(String, Value)>),
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    line: Line,
}

fn syntax(line: Line, s: &str) -> ParseError {
    ParseError::new(line, ErrorKind::Syntax(s.into()))
}

impl Reader<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(syntax(self.line, "JSON nested too deeply"));
        }
        self.ws();
        let line = self.line;
        let v = match self.b.get(self.i) {
            None => return Err(syntax(line, "unexpected end of JSON")),
            Some(b'{') => {
                self.i += 1;
                let mut m: Vec<(String, Value)> = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let kl = self.line;
                        let Json::Str(k) = self.value(depth + 1)?.v else {
                            return Err(syntax(kl, "object key is not a string"));
                        };
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return Err(syntax(self.line, "expected ':'"));
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        if m.iter().any(|(x, _)| *x == k) {
                            return Err(ParseError::new(
                                kl,
                                ErrorKind::Duplicate(format!("JSON key \"{k}\"")),
                            ));
                        }
                        m.push((k, v));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(syntax(self.line, "expected ',' or '}'")),
                        }
                    }
                }
                Json::Obj(m)
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        a.push(self.value(depth + 1)?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(syntax(self.line, "expected ',' or ']'")),
                        }
                    }
                }
                Json::Arr(a)
            }
            Some(b'"') => Json::Str(self.string()?),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let s = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                {
                    self.i += 1;
                }
                Json::Num(String::from_utf8_lossy(&self.b[s..self.i]).into_owned())
            }
            _ => {
                for (w, v) in [
                    ("true", Json::Bool(true)),
                    ("false", Json::Bool(false)),
                    ("null", Json::Null),
                ] {
                    if self.b[self.i..].starts_with(w.as_bytes()) {
                        self.i += w.len();
                        return Ok(Value { line, v });
                    }
                }
                return Err(syntax(line, "unexpected character in JSON"));
            }
        };
        Ok(Value { line, v })
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let line = self.line;
        self.i += 1;
        let mut s: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(syntax(line, "unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\n' => return Err(syntax(line, "newline in string")),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(syntax(line, "unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'n' => s.push(b'\n'),
                        b't' => s.push(b'\t'),
                        b'r' => s.push(b'\r'),
                        b'b' => s.push(8),
                        b'f' => s.push(12),
                        b'u' => {
                            let h = self
                                .b
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| syntax(line, "bad \\u escape"))?;
                            self.i += 4;
                            let ch = char::from_u32(h).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        x => s.push(x),
                    }
                }
                x => s.push(x),
            }
        }
        String::from_utf8(s).map_err(|_| syntax(line, "string is not UTF-8"))
    }
}

/// Read one JSON document.
pub fn read(text: &str) -> Result<Value, ParseError> {
    let mut r = Reader {
        b: text.as_bytes(),
        i: 0,
        line: 1,
    };
    let v = r.value(0)?;
    r.ws();
    if r.i != r.b.len() {
        return Err(syntax(r.line, "text after the JSON document"));
    }
    Ok(v)
}

impl Value {
    /// Member `k` of an object.
    pub fn get(&self, k: &str) -> Option<&Value> {
        match &self.v {
            Json::Obj(m) => m.iter().find(|(x, _)| x == k).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The members of an object (none for anything else).
    pub fn members(&self) -> &[(String, Value)] {
        match &self.v {
            Json::Obj(m) => m,
            _ => &[],
        }
    }

    /// A string or number as text.
    pub fn text(&self) -> Option<&str> {
        match &self.v {
            Json::Str(s) | Json::Num(s) => Some(s),
            _ => None,
        }
    }
}

fn bad(line: Line, object: &str, field: &str, value: &str) -> ParseError {
    ParseError::new(
        line,
        ErrorKind::BadValue {
            object: object.into(),
            field: field.into(),
            value: value.into(),
        },
    )
}

fn text_of<'a>(v: &'a Value, object: &str, field: &str) -> Result<&'a str, ParseError> {
    v.text()
        .ok_or_else(|| bad(v.line, object, field, "(not a string)"))
}

fn strings<'a>(v: &'a Value, object: &str, field: &str) -> Result<Vec<&'a str>, ParseError> {
    match &v.v {
        Json::Arr(a) => a.iter().map(|x| text_of(x, object, field)).collect(),
        Json::Str(s) => Ok(s.split_whitespace().collect()),
        _ => Err(bad(v.line, object, field, "(not a list)")),
    }
}

fn check_id(id: &str, line: Line, what: &str) -> Result<(), ParseError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ParseError::new(
            line,
            ErrorKind::BadName {
                object: what.into(),
                name: id.into(),
                why: "ids are 1 to 12 letters, digits or '_'",
            },
        ))
    }
}

/// Parse an IMUNES 3 JSON file's text.
pub fn parse(text: &str) -> Result<Topology, ParseError> {
    let doc = read(text)?;
    if !matches!(doc.v, Json::Obj(_)) {
        return Err(syntax(doc.line, "the top level is not an object"));
    }
    let mut nodes = Vec::new();
    if let Some(ns) = doc.get("nodes") {
        if ns.members().len() > MAX_NODES {
            return Err(ParseError::new(
                ns.line,
                ErrorKind::TooMany("nodes".into(), MAX_NODES),
            ));
        }
        for (id, v) in ns.members() {
            nodes.push(node(id, v)?);
        }
    }
    let mut links = Vec::new();
    if let Some(ls) = doc.get("links") {
        if ls.members().len() > MAX_LINKS {
            return Err(ParseError::new(
                ls.line,
                ErrorKind::TooMany("links".into(), MAX_LINKS),
            ));
        }
        for (id, v) in ls.members() {
            links.push(link(id, v)?);
        }
    }
    crate::resolve::resolve(Format::Json, nodes, links)
}

fn node(id: &str, v: &Value) -> Result<Node, ParseError> {
    check_id(id, v.line, "node")?;
    let object = format!("node {id}");
    let t = v.get("type").ok_or_else(|| {
        ParseError::new(
            v.line,
            ErrorKind::Missing {
                object: object.clone(),
                field: "type".into(),
            },
        )
    })?;
    let ts = text_of(t, &object, "type")?;
    let ty = NodeType::from_name(ts)
        .ok_or_else(|| ParseError::new(t.line, ErrorKind::UnknownNodeType(ts.into())))?;
    let mut n = Node::new(id, v.line, ty);
    for (k, f) in v.members() {
        match k.as_str() {
            "name" => n.hostname = text_of(f, &object, "name")?.into(),
            "model" => {
                n.model = Some(match text_of(f, &object, "model")? {
                    "quagga" => Model::Quagga,
                    "frr" => Model::Frr,
                    "static" => Model::Static,
                    m => return Err(bad(f.line, &object, "model", m)),
                })
            }
            "auto_default_routes" => n.auto_default_routes = f.text() == Some("enabled"),
            "router_config" => {
                let mut words: Vec<(String, String)> = Vec::new();
                match &f.v {
                    Json::Obj(m) => {
                        for (p, x) in m {
                            words.push((p.clone(), x.text().unwrap_or("0").into()));
                        }
                    }
                    _ => {
                        let w: Vec<&str> = text_of(f, &object, "router_config")?
                            .split_whitespace()
                            .collect();
                        for p in w.chunks(2) {
                            words.push((p[0].into(), p.get(1).copied().unwrap_or("1").into()));
                        }
                    }
                }
                for (p, on) in words {
                    if on == "0" {
                        continue;
                    }
                    if !valid_protocol(&p) {
                        return Err(bad(f.line, &object, "router_config", &p));
                    }
                    let p = match p.as_str() {
                        "rip" => Protocol::Rip,
                        "ripng" => Protocol::Ripng,
                        _ => Protocol::Other(p),
                    };
                    if !n.protocols.contains(&p) {
                        n.protocols.push(p);
                    }
                }
            }
            "croutes4" | "croutes6" => {
                for r in strings(f, &object, k)? {
                    let w: Vec<&str> = r.split_whitespace().collect();
                    let route = match w.as_slice() {
                        [d, g] => parse_route(k == "croutes6", d, g),
                        _ => None,
                    }
                    .ok_or_else(|| bad(f.line, &object, k, r))?;
                    if n.routes.len() >= MAX_ROUTES {
                        return Err(ParseError::new(
                            f.line,
                            ErrorKind::TooMany(format!("routes in {object}"), MAX_ROUTES),
                        ));
                    }
                    n.routes.push(route);
                }
            }
            "ifaces" => {
                if f.members().len() > MAX_IFACES {
                    return Err(ParseError::new(
                        f.line,
                        ErrorKind::TooMany(format!("interfaces in {object}"), MAX_IFACES),
                    ));
                }
                for (ifc, x) in f.members() {
                    let i = iface(ifc, x, &object)?;
                    if n.ifaces.iter().any(|j| j.name == i.name) {
                        return Err(ParseError::new(
                            x.line,
                            ErrorKind::Duplicate(format!("interface {} of {object}", i.name)),
                        ));
                    }
                    n.ifaces.push(i);
                }
            }
            "custom_enabled" if f.text() == Some("true") => {
                return Err(ParseError::new(
                    f.line,
                    ErrorKind::Unsupported(format!(
                        "{object}: custom configurations (custom_enabled) are not supported"
                    )),
                ))
            }
            _ => {}
        }
    }
    // Physical interfaces in interface-id order (the file's order otherwise).
    n.ifaces.sort_by(|a, b| dict_cmp(&a.id, &b.id));
    Ok(n)
}

fn iface(ifc: &str, x: &Value, object: &str) -> Result<Iface, ParseError> {
    let object = format!("{object} interface {ifc}");
    let kind = match x.get("type").and_then(Value::text) {
        Some("phys") | None => IfaceKind::Phys,
        Some("lo") => IfaceKind::Lo,
        Some(_) => IfaceKind::Other,
    };
    let name = match x.get("name") {
        Some(v) => text_of(v, &object, "name")?,
        None => ifc,
    };
    let mut i = Iface::new(name, kind);
    i.id = ifc.into();
    if let Some(v) = x.get("ipv4_addrs") {
        for a in strings(v, &object, "ipv4_addrs")? {
            i.ipv4
                .push(parse_cidr4(a).ok_or_else(|| bad(v.line, &object, "ipv4_addrs", a))?);
        }
    }
    if let Some(v) = x.get("ipv6_addrs") {
        for a in strings(v, &object, "ipv6_addrs")? {
            i.ipv6
                .push(parse_cidr6(a).ok_or_else(|| bad(v.line, &object, "ipv6_addrs", a))?);
        }
    }
    if i.ipv4.len() > MAX_ADDRS || i.ipv6.len() > MAX_ADDRS {
        return Err(ParseError::new(
            x.line,
            ErrorKind::TooMany(format!("addresses in {object}"), MAX_ADDRS),
        ));
    }
    if let Some(v) = x.get("mac") {
        let m = text_of(v, &object, "mac")?;
        i.mac = Some(parse_mac(m).ok_or_else(|| bad(v.line, &object, "mac", m))?);
    }
    if let Some(v) = x.get("mtu") {
        let m = text_of(v, &object, "mtu")?;
        i.mtu = Some(
            m.parse()
                .ok()
                .filter(|m| (72..=65535).contains(m))
                .ok_or_else(|| bad(v.line, &object, "mtu", m))?,
        );
    }
    if let Some(v) = x.get("oper_state") {
        i.shutdown = v.text() == Some("down");
    }
    Ok(i)
}

fn num(v: Option<&Value>, object: &str, field: &str) -> Result<u64, ParseError> {
    let Some(v) = v else { return Ok(0) };
    let t = text_of(v, object, field)?.trim();
    if t.is_empty() {
        return Ok(0);
    }
    t.parse().map_err(|_| bad(v.line, object, field, t))
}

fn link(id: &str, v: &Value) -> Result<RawLink, ParseError> {
    check_id(id, v.line, "link")?;
    let object = format!("link {id}");
    let pair = |field: &str| -> Result<Option<(String, String)>, ParseError> {
        let Some(p) = v.get(field) else {
            return Ok(None);
        };
        match strings(p, &object, field)?.as_slice() {
            [a, b] => Ok(Some(((*a).into(), (*b).into()))),
            _ => Err(bad(p.line, &object, field, p.text().unwrap_or("(list)"))),
        }
    };
    let nodes = pair("peers")?.ok_or_else(|| {
        ParseError::new(
            v.line,
            ErrorKind::Missing {
                object: object.clone(),
                field: "peers".into(),
            },
        )
    })?;
    let ifaces = pair("peers_ifaces")?.ok_or_else(|| {
        ParseError::new(
            v.line,
            ErrorKind::Missing {
                object: object.clone(),
                field: "peers_ifaces".into(),
            },
        )
    })?;
    let duplicate = num(v.get("duplicate"), &object, "duplicate")?;
    if duplicate > 50 {
        return Err(bad(v.line, &object, "duplicate", &duplicate.to_string()));
    }
    Ok(RawLink {
        id: id.into(),
        line: v.line,
        nodes,
        ifaces: Some(ifaces),
        params: LinkParams {
            bandwidth: num(v.get("bandwidth"), &object, "bandwidth")?,
            delay: num(v.get("delay"), &object, "delay")?,
            ber: num(v.get("ber"), &object, "ber")?,
            duplicate: duplicate as u32,
        },
        direct: num(v.get("direct"), &object, "direct")? != 0,
        mirror: None,
        warnings: match v.get("loss").and_then(Value::text) {
            Some(l) if !matches!(l.trim(), "" | "0") => vec![(
                v.line,
                format!("{object}: loss is emulated by IMUNES on Linux only (use ber)"),
            )],
            _ => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_with_lines() {
        let v = read("{\n \"a\": [1, \"x\\u0041\"],\n \"b\": {\"c\": true}\n}").unwrap();
        assert_eq!(v.get("a").unwrap().line, 2);
        assert_eq!(v.get("b").unwrap().get("c").unwrap().v, Json::Bool(true));
        let Json::Arr(a) = &v.get("a").unwrap().v else {
            panic!()
        };
        assert_eq!(a[1].text(), Some("xA"));
        assert_eq!(read("{\n\"a\" 1}").unwrap_err().line, 2);
        assert!(read("{\"a\":1,\"a\":2}").is_err());
        assert!(read("[1] x").is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(read(&deep).is_err());
    }
}
