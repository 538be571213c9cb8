//! The parser on IMUNES's own example files (tests/data, see SOURCES.txt),
//! round trips through the legacy writer, and hostile files.

use imunes::topo::*;
use imunes::{parse, write_legacy, ErrorKind};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("test data")
}

fn topo(name: &str) -> Topology {
    parse(&data(name)).unwrap_or_else(|e| panic!("{name}:{}: {e}", e.line))
}

fn node<'a>(t: &'a Topology, host: &str) -> &'a Node {
    &t.nodes[t.by_hostname(host).expect(host)]
}

/// Links as (host, iface, host, iface, params, direct), sorted: what a round
/// trip must keep.
fn shape(t: &Topology) -> Vec<(String, String, String, String, LinkParams, bool)> {
    let mut v: Vec<_> = t
        .links
        .iter()
        .map(|l| {
            let (a, b) = (&t.nodes[l.a.node], &t.nodes[l.b.node]);
            (
                a.hostname.clone(),
                a.ifaces[l.a.iface].name.clone(),
                b.hostname.clone(),
                b.ifaces[l.b.iface].name.clone(),
                l.params,
                l.direct,
            )
        })
        .collect();
    v.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    v
}

fn strip_ids(t: &Topology) -> Vec<Node> {
    t.nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.line = 0;
            for i in &mut n.ifaces {
                i.id = i.name.clone();
                i.peer = None;
                i.link = None;
            }
            n
        })
        .collect()
}

fn round_trip(t: &Topology) {
    let text = write_legacy(t);
    let u = parse(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", e.line));
    assert_eq!(shape(t), shape(&u), "{text}");
    assert_eq!(strip_ids(t), strip_ids(&u), "{text}");
    // And the writer is stable.
    assert_eq!(write_legacy(&u), text);
}

#[test]
fn p_s_p() {
    let t = topo("p-s-p.imn");
    assert_eq!(t.format, Format::Legacy);
    assert_eq!((t.nodes.len(), t.links.len()), (3, 2));
    assert_eq!(node(&t, "switch1").ty, NodeType::LanSwitch);
    let pc1 = node(&t, "pc1");
    assert_eq!(pc1.ty, NodeType::Pc);
    let eth0 = pc1.iface("eth0").unwrap();
    assert_eq!(eth0.ipv4, [("10.0.0.20".parse().unwrap(), 24)]);
    assert_eq!(eth0.ipv6, [("fc00::20".parse().unwrap(), 64)]);
    assert_eq!(eth0.mac, Some([0x42, 0, 0xaa, 0, 0, 0]));
    assert_eq!(pc1.iface("lo0").unwrap().kind, IfaceKind::Lo);
    assert_eq!(
        node(&t, "pc2").iface("eth0").unwrap().mac,
        Some([0x42, 0, 0xaa, 0, 0, 1])
    );
    // l0 {n1 n0}: pc1 is the upper end.
    assert_eq!(t.nodes[t.links[0].a.node].hostname, "pc1");
    assert!(t
        .links
        .iter()
        .all(|l| l.params == LinkParams::default() && !l.direct));
    round_trip(&t);
}

#[test]
fn rip() {
    let t = topo("RIP.imn");
    assert_eq!((t.nodes.len(), t.links.len()), (8, 10));
    let r1 = node(&t, "router1");
    assert_eq!(r1.model, Some(Model::Quagga));
    assert_eq!(r1.protocols, [Protocol::Rip]);
    assert!(r1.runs_daemons());
    // No lo0 in the file: one is added.
    let lo = r1.iface("lo0").unwrap();
    assert_eq!(lo.ipv4, [(std::net::Ipv4Addr::LOCALHOST, 8)]);
    assert_eq!(lo.ipv6, [(std::net::Ipv6Addr::LOCALHOST, 128)]);
    assert!(node(&t, "router4").iface("eth2").is_none());
    assert_eq!(
        node(&t, "host5").routes,
        [Route::V4(
            "0.0.0.0".parse().unwrap(),
            0,
            "10.0.7.1".parse().unwrap()
        )]
    );
    let slow = LinkParams {
        bandwidth: 2_048_000,
        delay: 2500,
        ..Default::default()
    };
    assert_eq!(t.links.iter().filter(|l| l.params == slow).count(), 7);
    round_trip(&t);
}

#[test]
fn rip1() {
    let t = topo("RIP1.imn");
    assert_eq!((t.nodes.len(), t.links.len()), (11, 11));
    let r = node(&t, "router1");
    assert_eq!(r.model, Some(Model::Frr));
    assert_eq!(r.protocols, [Protocol::Rip, Protocol::Ripng]);
    assert_eq!(node(&t, "server").ty, NodeType::Host);
    assert_eq!(node(&t, "pc").routes.len(), 2);
    assert!(t.links.iter().all(|l| l.params.bandwidth == 100_000_000));
    round_trip(&t);
}

#[test]
fn ping() {
    let t = topo("ping.imn");
    assert_eq!((t.nodes.len(), t.links.len()), (11, 11));
    let r0 = node(&t, "router0");
    assert_eq!(
        r0.iface("eth0").unwrap().ipv6,
        [("a::1".parse().unwrap(), 64)]
    );
    // lanswitch8 lists its ports e2, e0, e1.
    let sw = node(&t, "lanswitch8");
    assert_eq!(sw.ifaces.len(), 3);
    assert!(sw.ifaces.iter().all(|i| i.link.is_some()));
    round_trip(&t);
}

#[test]
fn ipsec44() {
    let t = topo("ipsec44.imn");
    assert_eq!((t.nodes.len(), t.links.len()), (5, 4));
    let moon = node(&t, "moon");
    assert_eq!(moon.model, Some(Model::Static));
    assert!(!moon.runs_daemons(), "model static starts nothing");
    assert_eq!(
        moon.routes,
        [Route::V4(
            "10.0.3.0".parse().unwrap(),
            24,
            "10.0.2.2".parse().unwrap()
        )]
    );
    assert!(node(&t, "routerX").routes.is_empty());
    round_trip(&t);
}

#[test]
fn topo_json() {
    let t = topo("topo.imn");
    assert_eq!(t.format, Format::Json);
    assert_eq!((t.nodes.len(), t.links.len()), (6, 6));
    assert_eq!(node(&t, "hub1").ty, NodeType::Hub);
    assert_eq!(node(&t, "switch2").ty, NodeType::LanSwitch);
    let pc1 = node(&t, "pc1");
    assert!(pc1.auto_default_routes);
    assert_eq!(
        pc1.iface("eth1").unwrap().mac,
        Some([0x42, 0, 0xaa, 0, 0, 2])
    );
    let l1 = t.links.iter().find(|l| l.id == "l1").unwrap();
    assert!(l1.direct);
    assert!(!t.links.iter().find(|l| l.id == "l0").unwrap().direct);
    // l4 n4-n2 binds pc1 ifc2 (eth1) and switch2 ifc1 (e0).
    let l4 = t.links.iter().find(|l| l.id == "l4").unwrap();
    assert_eq!(t.nodes[l4.a.node].ifaces[l4.a.iface].name, "eth1");
    assert_eq!(t.nodes[l4.b.node].ifaces[l4.b.iface].name, "e0");
    // No router: no default route is made up.
    assert_eq!(
        imunes::builder::node_routes(&t, t.by_hostname("pc1").unwrap()),
        []
    );
    round_trip(&t);
}

#[test]
fn every_data_file_parses_and_plans() {
    for e in std::fs::read_dir(format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"))).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "imn") {
            let t = parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let plan = imunes::builder::plan(&t, "e0").unwrap();
            assert_eq!(plan.objects.len(), t.nodes.len());
        }
    }
    // MAC-less interfaces get IMUNES's next free default.
    let t = topo("RIP.imn");
    let plan = imunes::builder::plan(&t, "e0").unwrap();
    let mut macs: Vec<[u8; 6]> = plan.macs.values().copied().collect();
    macs.sort();
    assert_eq!(macs.len(), 20);
    assert_eq!(macs[0], [0x42, 0, 0xaa, 0, 0, 0]);
    assert_eq!(macs[19], [0x42, 0, 0xaa, 0, 0, 19]);
    let t = topo("p-s-p.imn");
    assert!(imunes::builder::plan(&t, "e0").unwrap().macs.is_empty());
    // Tutorial names.
    let t = topo("p-s-p.imn");
    let plan = imunes::builder::plan(&t, "e0").unwrap();
    assert_eq!(plan.objects, ["e0_n0", "e0_n1", "e0_n2"]);
    assert_eq!(
        plan.pipes,
        [Some("e0_n1-n0".to_string()), Some("e0_n0-n2".to_string())]
    );
}

fn fails(text: &str) -> (usize, ErrorKind, String) {
    match parse(text) {
        Ok(t) => panic!("parsed: {t:?}"),
        Err(e) => (e.line, e.kind.clone(), e.to_string()),
    }
}

const PC: &str = "node n1 {\n type pc\n network-config {\n\thostname pc1\n\t!\n }\n interface-peer {eth0 n2}\n}\n";
const PC2: &str = "node n2 {\n type pc\n interface-peer {eth0 n1}\n}\n";

#[test]
fn errors_name_the_line_and_object() {
    let (l, _, m) = fails(&format!("{PC}{PC2}node n3 {{\n type bogus\n}}\n"));
    assert_eq!((l, m.as_str()), (14, "Unknown node type: 'bogus'."));
    let (l, _, m) = fails(&format!("{PC}{PC2}thing t0 {{}}\n"));
    assert_eq!(
        (l, m.as_str()),
        (
            13,
            "configuration parsing error: unknown object class thing"
        )
    );
    let (l, k, _) = fails(&format!("{PC}{PC2}node n2 {{\n type pc\n}}\n"));
    assert_eq!((l, k), (13, ErrorKind::Duplicate("node n2".into())));
    let (l, _, m) = fails(&format!("{PC}{PC2}link l0 {{\n nodes {{n1 n9}}\n}}\n"));
    assert_eq!((l, m.as_str()), (13, "link l0: no node named 'n9'"));
    let (_, k, _) = fails(&format!("{PC}{PC2}link l0 {{\n nodes {{n1 n1}}\n}}\n"));
    assert_eq!(k, ErrorKind::SelfLink("l0".into()));
    let (_, k, _) = fails(&format!(
        "{PC}{PC2}link l0 {{ nodes {{n1 n2}} }}\nlink l1 {{ nodes {{n1 n2}} }}\n"
    ));
    assert!(matches!(k, ErrorKind::NoInterface { .. }), "{k:?}");
    let (_, k, _) = fails(&format!(
        "{PC}{PC2}link l0 {{ nodes {{n1 n2}}\n bandwidth fast }}\n"
    ));
    assert!(matches!(k, ErrorKind::BadValue { .. }), "{k:?}");
    let (l, k, _) = fails("node n1 {\n type pc\n network-config {\n\thostname pc1\n\tinterface eth0\n\t ip address 10.0.0.300/24\n }\n}\n");
    assert_eq!(l, 6);
    assert!(matches!(k, ErrorKind::BadValue { .. }), "{k:?}");
    // A loopback cannot be linked.
    let lo = "node n1 { type pc network-config {\n\tinterface lo0\n\t type lo\n\t!\n} interface-peer {lo0 n2} }\n\
              node n2 { type pc interface-peer {eth0 n1} }\nlink l0 { nodes {n1 n2} }\n";
    assert!(matches!(fails(lo).1, ErrorKind::NoInterface { .. }));
    let (_, k, _) = fails("node n1 {\n type pc\n interface-peer {eth0 n7}\n}\n");
    assert!(matches!(k, ErrorKind::UnknownNode { .. }), "{k:?}");
    let (_, k, _) = fails("node n1 {\n type rj45\n}\n");
    assert!(matches!(k, ErrorKind::UnsupportedNodeType(..)), "{k:?}");
    let (_, k, _) = fails(
        "node n1 {\n type router\n model frr\n network-config {\n\trouter ospf\n\t!\n }\n}\n",
    );
    assert!(matches!(k, ErrorKind::Unsupported(_)), "{k:?}");
    let (l, _, _) = fails("node n1 {\n type pc\n");
    assert_eq!(l, 1);
    let (_, k, _) = fails("node n1 {\n type pc\n network\n}\n");
    assert!(matches!(k, ErrorKind::Syntax(_)), "{k:?}");
    let (_, k, _) = fails("node n1");
    assert!(matches!(k, ErrorKind::Syntax(_)), "{k:?}");
}

#[test]
fn settings_not_emulated_are_warned_about() {
    let t = parse(&format!(
        "{PC}{PC2}link l0 {{\n nodes {{n1 n2}}\n loss 5\n jitter-upstream {{10 20}}\n}}\n"
    ))
    .unwrap();
    assert_eq!(
        t.warnings,
        [
            (
                15,
                "link l0: loss is emulated by IMUNES on Linux only (use ber)".to_string()
            ),
            (16, "link l0: jitter-upstream is not emulated".to_string())
        ]
    );
    let t = parse("node n1 { type pc network-config {\n\tinterface eth0\n\t fair-queue\n\t queue-len 50\n\t!\n} }\n").unwrap();
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert_eq!(t.warnings[0].0, 3);
    for f in [
        "p-s-p.imn",
        "RIP.imn",
        "RIP1.imn",
        "ping.imn",
        "ipsec44.imn",
        "topo.imn",
    ] {
        assert!(topo(f).warnings.is_empty(), "{f}");
    }
}

#[test]
fn odd_names_are_refused() {
    for (id, host) in [
        ("n.1", "pc1"),
        ("n:1", "pc1"),
        ("n[1]", "pc1"),
        ("n1234567890123", "pc1"),
        ("n1", "pc 1"),
        ("n1", "pc:1"),
        ("n1", "pc@1"),
        ("n1", "pc[1]"),
        ("n1", &"x".repeat(64)),
    ] {
        let text = format!(
            "node {id} {{\n type pc\n network-config {{\n\thostname {host}\n\t!\n }}\n}}\n"
        );
        let (_, k, _) = fails(&text);
        assert!(matches!(k, ErrorKind::BadName { .. }), "{id} {host}: {k:?}");
    }
    let (_, k, _) = fails("node n1 {\n type pc\n interface-peer {eth0.1 n1}\n}\n");
    assert!(matches!(k, ErrorKind::BadName { .. }), "{k:?}");
    // An experiment id that makes names too long for netgraph.
    let t = parse(&format!("{PC}{PC2}")).unwrap();
    assert!(imunes::builder::plan(&t, "e0").is_ok());
    assert!(imunes::builder::plan(&t, "e-0").is_err());
    assert!(imunes::builder::plan(&t, "abcdefghi").is_err());
}

#[test]
fn huge_counts_are_capped() {
    let mut s = String::new();
    for i in 0..=MAX_NODES {
        s.push_str(&format!("node n{i} {{ type hub }}\n"));
    }
    let (l, k, _) = fails(&s);
    assert_eq!(k, ErrorKind::TooMany("nodes".into(), MAX_NODES));
    assert_eq!(l, MAX_NODES + 1);
    let mut s = String::from("node n1 {\n type pc\n network-config {\n\tinterface eth0\n");
    for i in 0..=MAX_ADDRS {
        s.push_str(&format!(
            "\t ip address 10.0.{}.{}/24\n",
            i / 250,
            i % 250 + 1
        ));
    }
    s.push_str(" }\n}\n");
    assert!(matches!(fails(&s).1, ErrorKind::TooMany(..)));
    assert!(matches!(
        imunes::parse(&" ".repeat(MAX_FILE + 1)).unwrap_err().kind,
        ErrorKind::TooMany(..)
    ));
    let deep = "{\"nodes\":".repeat(100) + &"}".repeat(100);
    assert!(matches!(fails(&deep).1, ErrorKind::Syntax(_)));
}

#[test]
fn pseudo_nodes_join_into_one_link() {
    let base = "node n1 { type pc interface-peer {eth0 p1} }\n\
                node n2 { type pc interface-peer {eth0 p2} }\n\
                node p1 { type pseudo interface-peer {0 n1} mirror p2 }\n\
                node p2 { type pseudo interface-peer {0 n2} mirror p1 }\n\
                link l0 { nodes {n1 p1} bandwidth 1000 mirror l1 }\n\
                link l1 { nodes {p2 n2} mirror l0 }\n";
    let t = parse(base).unwrap();
    assert_eq!((t.nodes.len(), t.links.len()), (2, 1));
    assert_eq!(t.links[0].params.bandwidth, 1000);
    assert_eq!(t.nodes[t.links[0].b.node].id, "n2");
    // A cycle of pseudo nodes, a missing mirror, an unmatched mirror.
    let cyc = "node p1 { type pseudo mirror p2 }\nnode p2 { type pseudo mirror p1 }\n\
               node p3 { type pseudo mirror p4 }\nnode p4 { type pseudo mirror p3 }\n\
               link l0 { nodes {p1 p3} }\nlink l1 { nodes {p2 p4} }\n";
    assert!(matches!(fails(cyc).1, ErrorKind::Pseudo(_)));
    let lone = "node p1 { type pseudo mirror p9 }\n";
    assert!(matches!(fails(lone).1, ErrorKind::Pseudo(_)));
    let one_way = "node p1 { type pseudo mirror p2 }\nnode p2 { type pseudo mirror p3 }\nnode p3 { type pseudo mirror p1 }\n";
    assert!(matches!(fails(one_way).1, ErrorKind::Pseudo(_)));
}

#[test]
fn json_errors() {
    let (l, _, m) = fails("{\n \"nodes\": {\n  \"n0\": {\n   \"type\": \"toaster\"\n  }\n }\n}\n");
    assert_eq!((l, m.as_str()), (4, "Unknown node type: 'toaster'."));
    let (_, k, _) = fails("{\"nodes\": {\"n0\": {\"type\": \"pc\"}}, \"links\": {\"l0\": {\"peers\": \"n0 n9\", \"peers_ifaces\": \"ifc0 ifc0\"}}}");
    assert!(matches!(k, ErrorKind::UnknownNode { .. }), "{k:?}");
    let (_, k, _) = fails("{\"nodes\": {\"n0\": {\"type\": \"pc\", \"ifaces\": {\"ifc1\": {\"name\": \"eth0\"}}}, \"n1\": {\"type\": \"pc\"}}, \"links\": {\"l0\": {\"peers\": \"n0 n1\", \"peers_ifaces\": \"ifc1 ifc7\"}}}");
    assert!(matches!(k, ErrorKind::NoInterface { .. }), "{k:?}");
    let (l, _, _) = fails("{\n\"nodes\": [\n");
    assert!(l >= 2);
}

#[test]
fn demo1_names_as_on_the_slides() {
    let t = topo("demo1.imn");
    assert_eq!((t.nodes.len(), t.links.len()), (6, 6));
    let plan = imunes::builder::plan(&t, "e0").unwrap();
    assert_eq!(
        plan.objects,
        ["e0_n0", "e0_n1", "e0_n2", "e0_n3", "e0_n4", "e0_n5"]
    );
    let pipes: Vec<String> = plan.pipes.iter().flatten().cloned().collect();
    assert_eq!(
        pipes,
        ["e0_n0-n3", "e0_n4-n3", "e0_n0-n1", "e0_n0-n2", "e0_n1-n2", "e0_n2-n5"]
    );
    // pc1's MAC is the file's; the others are IMUNES's defaults.
    assert_eq!(
        node(&t, "pc1").iface("eth0").unwrap().mac,
        Some([0x42, 0, 0xaa, 0, 0, 0x10])
    );
    assert_eq!(plan.macs.len(), 9);
    assert!(!plan
        .macs
        .values()
        .any(|m| *m == [0x42, 0, 0xaa, 0, 0, 0x10]));
    round_trip(&t);
}
