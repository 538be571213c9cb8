//! From nodes and links as read to a [`Topology`]: pseudo nodes joined into
//! the links they stand for, link ends bound to interfaces, names and types
//! checked, default loopbacks added.

use std::collections::HashMap;

use crate::legacy::RawLink;
use crate::topo::*;

fn err(line: Line, kind: ErrorKind) -> ParseError {
    ParseError::new(line, kind)
}

/// Join pseudo nodes, bind links and check everything a build needs.
pub fn resolve(
    format: Format,
    mut nodes: Vec<Node>,
    mut links: Vec<RawLink>,
) -> Result<Topology, ParseError> {
    join_pseudo(&mut nodes, &mut links)?;
    for n in &mut nodes {
        check_node(n)?;
    }
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    // Every interface-peer must name a node.
    for n in &nodes {
        for i in &n.ifaces {
            if let Some(p) = &i.peer {
                if !index.contains_key(p) {
                    return Err(err(
                        n.line,
                        ErrorKind::UnknownNode {
                            object: format!("node {} interface-peer {}", n.id, i.name),
                            node: p.clone(),
                        },
                    ));
                }
            }
        }
    }
    let mut out = Vec::with_capacity(links.len());
    for (k, l) in links.iter().enumerate() {
        let object = format!("link {}", l.id);
        let find = |id: &str| {
            index.get(id).copied().ok_or_else(|| {
                err(
                    l.line,
                    ErrorKind::UnknownNode {
                        object: object.clone(),
                        node: id.into(),
                    },
                )
            })
        };
        let (a, b) = (find(&l.nodes.0)?, find(&l.nodes.1)?);
        if a == b {
            return Err(err(l.line, ErrorKind::SelfLink(l.id.clone())));
        }
        let (ia, ib) = match &l.ifaces {
            Some((x, y)) => (
                bind_named(&mut nodes, a, x, k, l)?,
                bind_named(&mut nodes, b, y, k, l)?,
            ),
            None => {
                let ia = bind_peer(&mut nodes, a, b, k, l)?;
                let ib = bind_peer(&mut nodes, b, a, k, l)?;
                (ia, ib)
            }
        };
        out.push(Link {
            id: l.id.clone(),
            line: l.line,
            a: End { node: a, iface: ia },
            b: End { node: b, iface: ib },
            params: l.params,
            direct: l.direct,
        });
    }
    let mut warnings: Vec<(Line, String)> = nodes
        .iter_mut()
        .flat_map(|n| std::mem::take(&mut n.warnings))
        .chain(
            links
                .iter_mut()
                .flat_map(|l| std::mem::take(&mut l.warnings)),
        )
        .collect();
    warnings.sort();
    Ok(Topology {
        format,
        nodes,
        links: out,
        warnings,
    })
}

/// End `from` of link `l` (number `k`): the first interface of `from` towards
/// `to` not bound yet.
fn bind_peer(
    nodes: &mut [Node],
    from: usize,
    to: usize,
    k: usize,
    l: &RawLink,
) -> Result<usize, ParseError> {
    let to_id = nodes[to].id.clone();
    let n = &mut nodes[from];
    let i = n
        .ifaces
        .iter()
        .position(|i| {
            i.link.is_none() && i.kind != IfaceKind::Lo && i.peer.as_deref() == Some(to_id.as_str())
        })
        .ok_or_else(|| {
            err(
                l.line,
                ErrorKind::NoInterface {
                    link: l.id.clone(),
                    node: n.id.clone(),
                },
            )
        })?;
    n.ifaces[i].link = Some(k);
    Ok(i)
}

/// End of link `l` at interface id `ifc` of node `at` (JSON `peers_ifaces`).
fn bind_named(
    nodes: &mut [Node],
    at: usize,
    ifc: &str,
    k: usize,
    l: &RawLink,
) -> Result<usize, ParseError> {
    let n = &mut nodes[at];
    let i = n
        .ifaces
        .iter()
        .position(|i| i.id == ifc && i.link.is_none() && i.kind == IfaceKind::Phys)
        .ok_or_else(|| {
            err(
                l.line,
                ErrorKind::NoInterface {
                    link: l.id.clone(),
                    node: n.id.clone(),
                },
            )
        })?;
    n.ifaces[i].link = Some(k);
    Ok(i)
}

fn check_node(n: &mut Node) -> Result<(), ParseError> {
    let object = format!("node {}", n.id);
    if let NodeType::Other(t) = &n.ty {
        return Err(err(
            n.line,
            ErrorKind::UnsupportedNodeType(n.id.clone(), t.clone()),
        ));
    }
    if let Some(why) = hostname_problem(&n.hostname) {
        return Err(err(
            n.line,
            ErrorKind::BadName {
                object,
                name: n.hostname.clone(),
                why,
            },
        ));
    }
    for i in &n.ifaces {
        if let Some(why) = ifname_problem(&i.name) {
            return Err(err(
                n.line,
                ErrorKind::BadName {
                    object: format!("{object} interface"),
                    name: i.name.clone(),
                    why,
                },
            ));
        }
        if i.kind == IfaceKind::Other && n.ty.is_l3() {
            return Err(err(
                n.line,
                ErrorKind::Unsupported(format!(
                    "{object}: interface {}: only physical and loopback interfaces are supported",
                    i.name
                )),
            ));
        }
    }
    if n.ty.is_l3() {
        if let Some(i) = n
            .ifaces
            .iter()
            .find(|i| i.name == "lo0" && i.kind != IfaceKind::Lo)
        {
            return Err(err(
                n.line,
                ErrorKind::BadName {
                    object: format!("{object} interface"),
                    name: i.name.clone(),
                    why: "lo0 is the loopback's name",
                },
            ));
        }
        if !n.ifaces.iter().any(|i| i.kind == IfaceKind::Lo) {
            let mut lo = Iface::new("lo0", IfaceKind::Lo);
            lo.ipv4.push((std::net::Ipv4Addr::LOCALHOST, 8));
            lo.ipv6.push((std::net::Ipv6Addr::LOCALHOST, 128));
            n.ifaces.insert(0, lo);
        }
        if n.ifaces.iter().filter(|i| i.kind == IfaceKind::Lo).count() > 1 {
            return Err(err(
                n.line,
                ErrorKind::Unsupported(format!("{object}: more than one loopback interface")),
            ));
        }
    } else {
        n.routes.clear();
    }
    if n.ty == NodeType::Router && n.model.is_none() {
        n.model = Some(Model::Quagga);
    }
    if n.runs_daemons() {
        if let Some(Protocol::Other(p)) =
            n.protocols.iter().find(|p| matches!(p, Protocol::Other(_)))
        {
            return Err(err(
                n.line,
                ErrorKind::Unsupported(format!(
                    "{object} ({}): routing protocol 'router {p}' is not supported (rip and ripng are)",
                    n.hostname
                )),
            ));
        }
    }
    Ok(())
}

/// Replace each pair of pseudo nodes (`pX mirror pY`) and their two links by
/// one link between the real nodes at the far ends.
fn join_pseudo(nodes: &mut Vec<Node>, links: &mut Vec<RawLink>) -> Result<(), ParseError> {
    if !nodes.iter().any(|n| n.ty == NodeType::Pseudo) {
        return Ok(());
    }
    let pos = |nodes: &[Node], id: &str| nodes.iter().position(|n| n.id == id);
    let mut gone_links = vec![false; links.len()];
    let mut done = vec![false; nodes.len()];
    for p in 0..nodes.len() {
        if nodes[p].ty != NodeType::Pseudo || done[p] {
            continue;
        }
        let pid = nodes[p].id.clone();
        let line = nodes[p].line;
        let perr = |s: String| err(line, ErrorKind::Pseudo(s));
        let m = nodes[p]
            .mirror
            .clone()
            .ok_or_else(|| perr(format!("{pid}: no mirror")))?;
        let q = pos(nodes, &m).ok_or_else(|| perr(format!("{pid}: mirror {m} does not exist")))?;
        if q == p || nodes[q].ty != NodeType::Pseudo || nodes[q].mirror.as_deref() != Some(&pid) {
            return Err(perr(format!(
                "{pid}: mirror {m} is not a pseudo node mirroring it back"
            )));
        }
        let touching = |id: &str, links: &[RawLink], gone: &[bool]| -> Vec<usize> {
            (0..links.len())
                .filter(|&k| !gone[k] && (links[k].nodes.0 == id || links[k].nodes.1 == id))
                .collect()
        };
        let la = touching(&pid, links, &gone_links);
        let lb = touching(&m, links, &gone_links);
        let (&[la], &[lb]) = (la.as_slice(), lb.as_slice()) else {
            return Err(perr(format!(
                "{pid}: each pseudo node of a pair needs exactly one link"
            )));
        };
        let other = |l: &RawLink, me: &str| {
            if l.nodes.0 == me {
                l.nodes.1.clone()
            } else {
                l.nodes.0.clone()
            }
        };
        let r = other(&links[la], &pid);
        let s = other(&links[lb], &m);
        for x in [&r, &s] {
            match pos(nodes, x) {
                Some(i) if nodes[i].ty == NodeType::Pseudo => {
                    return Err(perr(format!(
                        "{pid}: its link leads to another pseudo node ({x})"
                    )))
                }
                _ => {}
            }
        }
        // The real ends' interfaces now point at each other.
        if let Some(ri) = pos(nodes, &r) {
            if let Some(i) = nodes[ri]
                .ifaces
                .iter_mut()
                .find(|i| i.peer.as_deref() == Some(pid.as_str()))
            {
                i.peer = Some(s.clone());
            }
        }
        if let Some(si) = pos(nodes, &s) {
            if let Some(i) = nodes[si]
                .ifaces
                .iter_mut()
                .find(|i| i.peer.as_deref() == Some(m.as_str()))
            {
                i.peer = Some(r.clone());
            }
        }
        links[la].nodes = (r, s);
        links[la].mirror = None;
        gone_links[lb] = true;
        done[p] = true;
        done[q] = true;
    }
    let mut k = 0;
    links.retain(|_| {
        k += 1;
        !gone_links[k - 1]
    });
    nodes.retain(|n| n.ty != NodeType::Pseudo);
    Ok(())
}
