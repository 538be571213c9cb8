//! The `.imn` parser on any bytes: it never panics; an error names a line
//! of the input; a topology it accepts is consistent (links bound to
//! interfaces that point back, counts within the limits, names buildable),
//! plans without panicking, and survives a round trip through the legacy
//! writer (same nodes, links, ends and settings).

use imunes::topo::{Format, IfaceKind, Topology, MAX_LINKS, MAX_NODES};

/// The fuzz entry point.
pub fn imn(data: &[u8]) {
    match imunes::parse_bytes(data) {
        Err(e) => {
            let lines = 1 + data.iter().filter(|&&c| c == b'\n').count();
            assert!(
                e.line <= lines,
                "error line {} past the end ({lines})",
                e.line
            );
            assert!(!e.to_string().is_empty());
        }
        Ok(t) => {
            check(&t);
            let text = imunes::write_legacy(&t);
            let u = imunes::parse(&text)
                .unwrap_or_else(|e| panic!("written topology refused at {}: {e}\n{text}", e.line));
            check(&u);
            assert_eq!(t.nodes.len(), u.nodes.len(), "{text}");
            assert_eq!(t.links.len(), u.links.len(), "{text}");
            for (a, b) in t.nodes.iter().zip(&u.nodes) {
                assert_eq!(
                    (&a.id, &a.hostname, &a.ty, &a.routes, &a.protocols),
                    (&b.id, &b.hostname, &b.ty, &b.routes, &b.protocols)
                );
                assert_eq!(a.ifaces.len(), b.ifaces.len(), "{text}");
                for (i, j) in a.ifaces.iter().zip(&b.ifaces) {
                    assert_eq!(
                        (&i.name, i.kind, &i.ipv4, &i.ipv6, i.mac, i.mtu, i.shutdown),
                        (&j.name, j.kind, &j.ipv4, &j.ipv6, j.mac, j.mtu, j.shutdown),
                        "{text}"
                    );
                }
            }
            for (a, b) in t.links.iter().zip(&u.links) {
                assert_eq!(
                    (&a.id, a.a.node, a.b.node, a.params, a.direct),
                    (&b.id, b.a.node, b.b.node, b.params, b.direct),
                    "{text}"
                );
                if t.format == Format::Legacy {
                    assert_eq!((a.a.iface, a.b.iface), (b.a.iface, b.b.iface), "{text}");
                }
            }
            // The writer is a fixed point after one round.
            assert_eq!(imunes::write_legacy(&u), text);
        }
    }
}

fn check(t: &Topology) {
    assert!(t.nodes.len() <= MAX_NODES && t.links.len() <= MAX_LINKS);
    for (k, l) in t.links.iter().enumerate() {
        assert_ne!(l.a.node, l.b.node, "self link");
        for e in [&l.a, &l.b] {
            let n = &t.nodes[e.node];
            assert!(n.ty.is_l2() || n.ty.is_l3(), "{:?}", n.ty);
            assert_eq!(n.ifaces[e.iface].link, Some(k));
            if n.ty.is_l3() {
                // Only physical interfaces become eifaces a link can reach.
                assert_eq!(n.ifaces[e.iface].kind, IfaceKind::Phys);
            }
        }
    }
    for n in &t.nodes {
        assert!(imunes::topo::valid_id(&n.id));
        assert!(imunes::topo::hostname_problem(&n.hostname).is_none());
        for i in &n.ifaces {
            assert!(imunes::topo::ifname_problem(&i.name).is_none());
        }
    }
    // Long ids may not fit netgraph's names: a clear error, never a panic.
    if let Ok(plan) = imunes::builder::plan(t, "e0") {
        assert_eq!(plan.objects.len(), t.nodes.len());
    }
    for k in 0..t.nodes.len() {
        let _ = imunes::builder::node_routes(t, k);
    }
}
