//! The legacy `.imn` grammar (IMUNES 1.x/2.x): one Tcl list of
//! `CLASS ID {BODY}` triples, each body a list of `FIELD VALUE` pairs, and a
//! node's `network-config` a block of router-style lines.

use crate::topo::*;

/// One word of a Tcl list and the line it starts on.  A braced word is its
/// text between the braces; `inner` is the line that text starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word (braces or quotes removed).
    pub text: String,
    /// Line of its first character.
    pub line: Line,
}

fn syntax(line: Line, s: impl Into<String>) -> ParseError {
    ParseError::new(line, ErrorKind::Syntax(s.into()))
}

/// Split `text` (starting on line `line`) into Tcl list words: white space
/// separates, `{…}` groups nest (no escapes), `"…"` quotes (backslash escapes
/// the next character).
pub fn split(text: &str, mut line: Line) -> Result<Vec<Word>, ParseError> {
    let b = text.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start_line = line;
        match c {
            b'{' => {
                let mut depth = 1usize;
                let mut j = i + 1;
                while j < b.len() && depth > 0 {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => depth -= 1,
                        b'\n' => line += 1,
                        _ => {}
                    }
                    j += 1;
                }
                if depth > 0 {
                    return Err(syntax(start_line, "unmatched open brace in list"));
                }
                if j < b.len() && !b[j].is_ascii_whitespace() {
                    return Err(syntax(
                        line,
                        "list element in braces followed by something other than space",
                    ));
                }
                words.push(Word {
                    text: text[i + 1..j - 1].to_string(),
                    line: start_line,
                });
                i = j;
            }
            b'"' => {
                let mut s = Vec::new();
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => return Err(syntax(start_line, "unmatched open quote in list")),
                        Some(b'"') => break,
                        Some(b'\\') if j + 1 < b.len() => {
                            if b[j + 1] == b'\n' {
                                line += 1;
                            }
                            s.push(b[j + 1]);
                            j += 2;
                        }
                        Some(&x) => {
                            if x == b'\n' {
                                line += 1;
                            }
                            s.push(x);
                            j += 1;
                        }
                    }
                }
                j += 1;
                if j < b.len() && !b[j].is_ascii_whitespace() {
                    return Err(syntax(
                        line,
                        "list element in quotes followed by something other than space",
                    ));
                }
                words.push(Word {
                    text: String::from_utf8_lossy(&s).into_owned(),
                    line: start_line,
                });
                i = j;
            }
            _ => {
                let j = (i..b.len())
                    .find(|&k| b[k].is_ascii_whitespace())
                    .unwrap_or(b.len());
                words.push(Word {
                    text: text[i..j].to_string(),
                    line: start_line,
                });
                i = j;
            }
        }
    }
    Ok(words)
}

/// A link as read, before its ends are bound to interfaces.
#[derive(Debug, Clone)]
pub struct RawLink {
    /// Its id.
    pub id: String,
    /// Its line.
    pub line: Line,
    /// `nodes {A B}`.
    pub nodes: (String, String),
    /// Interface ids of the ends, when the file names them (JSON).
    pub ifaces: Option<(String, String)>,
    /// Parameters.
    pub params: LinkParams,
    /// `direct 1`.
    pub direct: bool,
    /// `mirror` (pseudo links).
    pub mirror: Option<String>,
    /// Settings read but not emulated.
    pub warnings: Vec<(Line, String)>,
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

/// Parse a legacy file's text.
pub fn parse(text: &str) -> Result<Topology, ParseError> {
    let words = split(text, 1)?;
    let mut nodes: Vec<Node> = Vec::new();
    let mut links: Vec<RawLink> = Vec::new();
    let mut it = words.chunks(3);
    for triple in &mut it {
        let [class, id, body] = triple else {
            let w = &triple[triple.len() - 1];
            return Err(syntax(
                w.line,
                format!("'{}': expected CLASS ID {{BODY}}", w.text),
            ));
        };
        match class.text.as_str() {
            "node" => {
                if nodes.len() >= MAX_NODES {
                    return Err(ParseError::new(
                        class.line,
                        ErrorKind::TooMany("nodes".into(), MAX_NODES),
                    ));
                }
                let n = parse_node(id, body)?;
                if nodes.iter().any(|m| m.id == n.id) {
                    return Err(ParseError::new(
                        class.line,
                        ErrorKind::Duplicate(format!("node {}", n.id)),
                    ));
                }
                nodes.push(n);
            }
            "link" => {
                if links.len() >= MAX_LINKS {
                    return Err(ParseError::new(
                        class.line,
                        ErrorKind::TooMany("links".into(), MAX_LINKS),
                    ));
                }
                let l = parse_link(id, body)?;
                if links.iter().any(|m| m.id == l.id) {
                    return Err(ParseError::new(
                        class.line,
                        ErrorKind::Duplicate(format!("link {}", l.id)),
                    ));
                }
                links.push(l);
            }
            "canvas" | "option" | "annotation" | "image" => {}
            other => {
                return Err(ParseError::new(
                    class.line,
                    ErrorKind::UnknownClass(other.into()),
                ))
            }
        }
    }
    crate::resolve::resolve(Format::Legacy, nodes, links)
}

fn check_id(w: &Word, what: &str) -> Result<(), ParseError> {
    if valid_id(&w.text) {
        Ok(())
    } else {
        Err(ParseError::new(
            w.line,
            ErrorKind::BadName {
                object: what.into(),
                name: w.text.clone(),
                why: "ids are 1 to 12 letters, digits or '_'",
            },
        ))
    }
}

fn pairs(body: &Word, object: &str) -> Result<Vec<(Word, Word)>, ParseError> {
    let f = split(&body.text, body.line)?;
    if f.len() % 2 != 0 {
        let w = &f[f.len() - 1];
        return Err(syntax(
            w.line,
            format!("{object}: field '{}' has no value", w.text),
        ));
    }
    Ok(f.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
}

fn parse_node(id: &Word, body: &Word) -> Result<Node, ParseError> {
    check_id(id, "node")?;
    let object = format!("node {}", id.text);
    let fields = pairs(body, &object)?;
    let ty = fields
        .iter()
        .find(|(k, _)| k.text == "type")
        .ok_or_else(|| {
            ParseError::new(
                id.line,
                ErrorKind::Missing {
                    object: object.clone(),
                    field: "type".into(),
                },
            )
        })?;
    let t = NodeType::from_name(&ty.1.text)
        .ok_or_else(|| ParseError::new(ty.1.line, ErrorKind::UnknownNodeType(ty.1.text.clone())))?;
    let mut n = Node::new(&id.text, id.line, t);
    let mut peers: Vec<(Word, Word)> = Vec::new();
    let mut custom = None;
    for (k, v) in &fields {
        match k.text.as_str() {
            "model" => {
                n.model = Some(match v.text.as_str() {
                    "quagga" => Model::Quagga,
                    "frr" => Model::Frr,
                    "static" => Model::Static,
                    _ => return Err(bad(v.line, &object, "model", &v.text)),
                })
            }
            "network-config" => network_config(&mut n, v, &object)?,
            "interface-peer" => {
                let p = split(&v.text, v.line)?;
                let [ifc, peer] = p.as_slice() else {
                    return Err(bad(v.line, &object, "interface-peer", &v.text));
                };
                peers.push((ifc.clone(), peer.clone()));
            }
            "auto_default_routes" => n.auto_default_routes = v.text == "enabled",
            "mirror" => n.mirror = Some(v.text.clone()),
            "custom-enabled" if v.text == "true" || v.text == "1" => custom = Some(v.line),
            _ => {}
        }
    }
    if let Some(line) = custom {
        return Err(ParseError::new(
            line,
            ErrorKind::Unsupported(format!(
                "{object}: custom configurations (custom-enabled) are not supported"
            )),
        ));
    }
    for (ifc, peer) in peers {
        if n.ifaces.len() >= MAX_IFACES {
            return Err(ParseError::new(
                ifc.line,
                ErrorKind::TooMany(format!("interfaces in {object}"), MAX_IFACES),
            ));
        }
        match n.ifaces.iter_mut().find(|i| i.name == ifc.text) {
            Some(i) if i.peer.is_some() => {
                return Err(ParseError::new(
                    ifc.line,
                    ErrorKind::Duplicate(format!("interface-peer {} of {object}", ifc.text)),
                ))
            }
            Some(i) => i.peer = Some(peer.text.clone()),
            None => {
                let mut i = Iface::new(&ifc.text, IfaceKind::Phys);
                i.peer = Some(peer.text.clone());
                n.ifaces.push(i);
            }
        }
    }
    Ok(n)
}

fn network_config(n: &mut Node, v: &Word, object: &str) -> Result<(), ParseError> {
    enum Block {
        None,
        Iface(usize),
        Router,
    }
    let mut block = Block::None;
    let mut warnings = Vec::new();
    for (k, raw) in v.text.split('\n').enumerate() {
        let line = v.line + k;
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        let l = l.strip_prefix('\t').unwrap_or(l);
        if l.trim().is_empty() {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        if l.starts_with(' ') {
            if let Block::Iface(i) = block {
                iface_line(&mut n.ifaces[i], &w, line, object, &mut warnings)?;
            }
            continue;
        }
        block = Block::None;
        match w.as_slice() {
            ["!", ..] => {}
            ["hostname", h @ ..] => n.hostname = h.join(" "),
            ["interface", name] => {
                if n.ifaces.iter().any(|i| i.name == *name) {
                    return Err(ParseError::new(
                        line,
                        ErrorKind::Duplicate(format!("interface {name} of {object}")),
                    ));
                }
                if n.ifaces.len() >= MAX_IFACES {
                    return Err(ParseError::new(
                        line,
                        ErrorKind::TooMany(format!("interfaces in {object}"), MAX_IFACES),
                    ));
                }
                let kind = if name.starts_with("lo") {
                    IfaceKind::Lo
                } else {
                    IfaceKind::Phys
                };
                n.ifaces.push(Iface::new(name, kind));
                block = Block::Iface(n.ifaces.len() - 1);
            }
            [fam @ ("ip" | "ipv6"), "route", dst, gw] => {
                if n.routes.len() >= MAX_ROUTES {
                    return Err(ParseError::new(
                        line,
                        ErrorKind::TooMany(format!("routes in {object}"), MAX_ROUTES),
                    ));
                }
                let r = parse_route(*fam == "ipv6", dst, gw)
                    .ok_or_else(|| bad(line, object, &format!("{fam} route"), &w[2..].join(" ")))?;
                n.routes.push(r);
            }
            ["router", proto, ..] => {
                let words = w[1..].join(" ");
                if !valid_protocol(&words) {
                    return Err(bad(line, object, "router", &words));
                }
                let p = match *proto {
                    "rip" => Protocol::Rip,
                    "ripng" => Protocol::Ripng,
                    _ => Protocol::Other(words),
                };
                if !n.protocols.contains(&p) {
                    n.protocols.push(p);
                }
                block = Block::Router;
            }
            _ => {}
        }
    }
    n.warnings.append(&mut warnings);
    Ok(())
}

fn iface_line(
    i: &mut Iface,
    w: &[&str],
    line: Line,
    object: &str,
    warnings: &mut Vec<(Line, String)>,
) -> Result<(), ParseError> {
    let field = |f: &str| format!("{f} of interface {}", i.name);
    match w {
        ["ip", "address", a] => {
            let a = parse_cidr4(a).ok_or_else(|| bad(line, object, &field("ip address"), a))?;
            if i.ipv4.len() >= MAX_ADDRS {
                return Err(ParseError::new(
                    line,
                    ErrorKind::TooMany(format!("addresses in {object}"), MAX_ADDRS),
                ));
            }
            i.ipv4.push(a);
        }
        ["ipv6", "address", a] => {
            let a = parse_cidr6(a).ok_or_else(|| bad(line, object, &field("ipv6 address"), a))?;
            if i.ipv6.len() >= MAX_ADDRS {
                return Err(ParseError::new(
                    line,
                    ErrorKind::TooMany(format!("addresses in {object}"), MAX_ADDRS),
                ));
            }
            i.ipv6.push(a);
        }
        ["mac", "address", m] => {
            i.mac = Some(parse_mac(m).ok_or_else(|| bad(line, object, &field("mac address"), m))?)
        }
        ["type", t] => {
            i.kind = match *t {
                "lo" => IfaceKind::Lo,
                "phys" => IfaceKind::Phys,
                _ => IfaceKind::Other,
            }
        }
        ["mtu", m] => {
            i.mtu = Some(
                m.parse()
                    .ok()
                    .filter(|m| (72..=65535).contains(m))
                    .ok_or_else(|| bad(line, object, &field("mtu"), m))?,
            )
        }
        ["shutdown"] => i.shutdown = true,
        [q @ ("fair-queue" | "drr-queue" | "drop-head")] => warnings.push((
            line,
            format!("{object}: interface {}: {q} is not emulated", i.name),
        )),
        ["queue-len", n] if *n != "50" => warnings.push((
            line,
            format!(
                "{object}: interface {}: queue-len {n} is not emulated",
                i.name
            ),
        )),
        _ => {}
    }
    Ok(())
}

fn parse_num(v: &Word, object: &str, field: &str) -> Result<u64, ParseError> {
    let t = v.text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    t.parse::<u64>()
        .map_err(|_| bad(v.line, object, field, &v.text))
}

fn parse_link(id: &Word, body: &Word) -> Result<RawLink, ParseError> {
    check_id(id, "link")?;
    let object = format!("link {}", id.text);
    let mut nodes = None;
    let mut params = LinkParams::default();
    let mut direct = false;
    let mut mirror = None;
    let mut warnings = Vec::new();
    for (k, v) in pairs(body, &object)? {
        match k.text.as_str() {
            "nodes" => {
                let p = split(&v.text, v.line)?;
                let [a, b] = p.as_slice() else {
                    return Err(bad(v.line, &object, "nodes", &v.text));
                };
                nodes = Some((a.text.clone(), b.text.clone()));
            }
            "bandwidth" => params.bandwidth = parse_num(&v, &object, "bandwidth")?,
            "delay" => params.delay = parse_num(&v, &object, "delay")?,
            "ber" => params.ber = parse_num(&v, &object, "ber")?,
            "duplicate" => {
                let d = parse_num(&v, &object, "duplicate")?;
                if d > 50 {
                    return Err(bad(v.line, &object, "duplicate", &v.text));
                }
                params.duplicate = d as u32;
            }
            "direct" => direct = parse_num(&v, &object, "direct")? != 0,
            "mirror" => mirror = Some(v.text.clone()),
            "loss" if !matches!(v.text.trim(), "" | "0") => warnings.push((
                v.line,
                format!("{object}: loss is emulated by IMUNES on Linux only (use ber)"),
            )),
            f if f.starts_with("jitter-") && !matches!(v.text.trim(), "" | "0") => {
                warnings.push((v.line, format!("{object}: {f} is not emulated")))
            }
            _ => {}
        }
    }
    let nodes = nodes.ok_or_else(|| {
        ParseError::new(
            id.line,
            ErrorKind::Missing {
                object: object.clone(),
                field: "nodes".into(),
            },
        )
    })?;
    Ok(RawLink {
        id: id.text.clone(),
        line: id.line,
        nodes,
        ifaces: None,
        params,
        direct,
        mirror,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_lines() {
        let w = split("node n0 {\n a {b c}\n}\nx \"q u\\\"o\"", 1).unwrap();
        let t: Vec<(&str, usize)> = w.iter().map(|w| (w.text.as_str(), w.line)).collect();
        assert_eq!(
            t,
            [
                ("node", 1),
                ("n0", 1),
                ("\n a {b c}\n", 1),
                ("x", 4),
                ("q u\"o", 4)
            ]
        );
        assert_eq!(split("a {b", 1).unwrap_err().line, 1);
        assert!(split("a {b}c", 1).is_err());
        assert!(split("a \"b", 1).is_err());
    }
}
