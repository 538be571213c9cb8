//! IMUNES batch mode on vimage: read `.imn` topology files (legacy Tcl list
//! and IMUNES 3 JSON) into a typed [`topo::Topology`], build them in a
//! running vkernel through its door ([`builder`]), and keep the state of
//! running experiments ([`state`]) for `himage`, `vlink` and teardown.
//!
//! Names follow the 2007 tutorial: experiment `e0`, node `n1` → vimage
//! `e0_n1`, a lanswitch or hub `n3` → netgraph node `e0_n3`, the link between
//! `n1` and `n0` → ng_pipe `e0_n1-n0`.

pub mod builder;
pub mod json;
pub mod legacy;
pub mod resolve;
pub mod state;
pub mod topo;

use std::fmt::Write as _;

pub use topo::{ErrorKind, ParseError, Topology};

/// Parse a topology file's text, legacy or JSON (a text starting with `{`).
/// Files over [`topo::MAX_FILE`] bytes are refused.
pub fn parse(text: &str) -> Result<Topology, ParseError> {
    if text.len() > topo::MAX_FILE {
        return Err(ParseError::new(
            0,
            ErrorKind::TooMany("bytes".into(), topo::MAX_FILE),
        ));
    }
    if text.trim_start().starts_with('{') {
        json::parse(text)
    } else {
        legacy::parse(text)
    }
}

/// Parse raw bytes (not UTF-8: an error at line 1).
pub fn parse_bytes(b: &[u8]) -> Result<Topology, ParseError> {
    match std::str::from_utf8(b) {
        Ok(s) => parse(s),
        Err(e) => {
            let line = 1 + b[..e.valid_up_to()].iter().filter(|&&c| c == b'\n').count();
            Err(ParseError::new(
                line,
                ErrorKind::Syntax("the file is not UTF-8 text".into()),
            ))
        }
    }
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Write `t` as a legacy `.imn` file (what [`parse`] reads back into the same
/// nodes, interfaces, routes and links).
pub fn write_legacy(t: &Topology) -> String {
    use topo::*;
    let mut s = String::new();
    for (ni, n) in t.nodes.iter().enumerate() {
        let _ = writeln!(s, "node {} {{\n    type {}", n.id, n.ty.name());
        match n.model {
            Some(Model::Quagga) => s.push_str("    model quagga\n"),
            Some(Model::Frr) => s.push_str("    model frr\n"),
            Some(Model::Static) => s.push_str("    model static\n"),
            None => {}
        }
        let _ = writeln!(s, "    network-config {{\n\thostname {}\n\t!", n.hostname);
        for i in &n.ifaces {
            let _ = writeln!(s, "\tinterface {}", i.name);
            match i.kind {
                IfaceKind::Lo => s.push_str("\t type lo\n"),
                // Read back by its name as a loopback otherwise.
                IfaceKind::Phys if i.name.starts_with("lo") => s.push_str("\t type phys\n"),
                IfaceKind::Phys => {}
                IfaceKind::Other => s.push_str("\t type other\n"),
            }
            for (a, l) in &i.ipv4 {
                let _ = writeln!(s, "\t ip address {a}/{l}");
            }
            for (a, l) in &i.ipv6 {
                let _ = writeln!(s, "\t ipv6 address {a}/{l}");
            }
            if let Some(m) = &i.mac {
                let _ = writeln!(s, "\t mac address {}", mac_text(m));
            }
            if let Some(m) = i.mtu {
                let _ = writeln!(s, "\t mtu {m}");
            }
            if i.shutdown {
                s.push_str("\t shutdown\n");
            }
            s.push_str("\t!\n");
        }
        for r in &n.routes {
            match r {
                Route::V4(d, l, g) => {
                    let _ = writeln!(s, "\tip route {d}/{l} {g}\n\t!");
                }
                Route::V6(d, l, g) => {
                    let _ = writeln!(s, "\tipv6 route {d}/{l} {g}\n\t!");
                }
            }
        }
        for p in &n.protocols {
            let name = match p {
                Protocol::Rip => "rip",
                Protocol::Ripng => "ripng",
                Protocol::Other(o) => o,
            };
            let _ = writeln!(s, "\trouter {name}\n\t!");
        }
        s.push_str("    }\n");
        if n.auto_default_routes {
            s.push_str("    auto_default_routes enabled\n");
        }
        for i in &n.ifaces {
            let peer = i.link.and_then(|k| t.links.get(k)).map(|l| {
                if l.a.node == ni {
                    &t.nodes[l.b.node].id
                } else {
                    &t.nodes[l.a.node].id
                }
            });
            if let Some(p) = peer.or(i.peer.as_ref()) {
                let _ = writeln!(s, "    interface-peer {{{} {p}}}", i.name);
            }
        }
        s.push_str("}\n\n");
    }
    for l in &t.links {
        let _ = writeln!(
            s,
            "link {} {{\n    nodes {{{} {}}}",
            l.id, t.nodes[l.a.node].id, t.nodes[l.b.node].id
        );
        let p = &l.params;
        for (k, v) in [
            ("bandwidth", p.bandwidth),
            ("delay", p.delay),
            ("ber", p.ber),
            ("duplicate", u64::from(p.duplicate)),
        ] {
            if v != 0 {
                let _ = writeln!(s, "    {k} {v}");
            }
        }
        if l.direct {
            s.push_str("    direct 1\n");
        }
        s.push_str("}\n\n");
    }
    s
}
