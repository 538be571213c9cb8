//! Netgraph scenarios against a booted kernel: the tutorial's Exercise 1, 2 and
//! 2a netgraph steps, an IMUNES-style `ngctl -f -` script, bad input, and two
//! kernels linked through ng_ksocket — typed as a user types them.

mod common;
use common::*;

/// `ngctl l` with the socket node's varying name and ID masked.
fn list(vk: &Vk, vimage: Option<&str>) -> String {
    let out = match vimage {
        Some(v) => vk.ok("vimage", &[v, "ngctl", "l"]),
        None => vk.ok("ngctl", &["l"]),
    };
    out.lines()
        .map(|l| {
            if l.contains("Type: socket") {
                "  <socket>".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The node lines of a listing as (name, type, hooks), socket node left out.
fn nodes(vk: &Vk, vimage: Option<&str>) -> Vec<(String, String, u32)> {
    list(vk, vimage)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"Name:")).then(|| {
                (
                    w[1].to_string(),
                    w[3].to_string(),
                    w[w.len() - 1].parse().unwrap(),
                )
            })
        })
        .collect()
}

fn node(n: &str, t: &str, h: u32) -> (String, String, u32) {
    (n.into(), t.into(), h)
}

#[test]
fn exercise1_create_connect_and_assign_virtual_interfaces() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ex1");
    let out = vk.ok("ngctl", &["1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "There are 1 total nodes:");
    assert!(
        lines[1].starts_with("  Name: ngctl") && lines[1].contains("Type: socket          ID: "),
        "{out}"
    );
    assert!(lines[1].ends_with("Num hooks: 0"), "{out}");
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    let l = list(&vk, None);
    let mut it = l.lines();
    assert_eq!(it.next(), Some("There are 3 total nodes:"));
    assert_eq!(it.next(), Some("  <socket>"));
    let n1 = it.next().unwrap();
    assert!(
        n1.starts_with("  Name: ngeth1          Type: eiface          ID: "),
        "{l}"
    );
    assert!(n1.ends_with("   Num hooks: 0"), "{l}");
    assert!(it
        .next()
        .unwrap()
        .starts_with("  Name: ngeth0          Type: eiface"));
    let ifc = vk.ok("ifconfig", &[]);
    assert!(
        ifc.contains(
            "ngeth0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tether 00:00:00:00:00:00\n\
             ngeth1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tether 00:00:00:00:00:00\n"
        ),
        "{ifc}"
    );
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    assert_eq!(
        nodes(&vk, None),
        vec![node("ngeth1", "eiface", 1), node("ngeth0", "eiface", 1)]
    );
    vk.ok("vimage", &["-c", "n0"]);
    vk.ok("vimage", &["-c", "n1"]);
    assert_eq!(vk.ok("vimage", &["-i", "n0", "ngeth0"]), "eth0@n0\n");
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth1"]), "eth0@n1\n");
    assert_eq!(
        vk.ok("vimage", &["n1", "ifconfig"]),
        "lo0: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n\
         eth0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tether 00:00:00:00:00:00\n"
    );
    vk.ok(
        "vimage",
        &["n1", "ifconfig", "eth0", "link", "40:a:b:c:d:01"],
    );
    // Independent netgraph space: n1 sees only its own socket node.
    assert_eq!(
        list(&vk, Some("n1")),
        "There are 1 total nodes:\n  <socket>"
    );
    // The eiface nodes stay in the default graph under their names.
    assert_eq!(
        vk.ok("ngctl", &["msg", "ngeth1:", "getifname"]),
        "Rec'd response \"getifname\" (1) from \"[5]:\":\nArgs:\t\"eth0\"\n"
    );

    // Exercise 2: clean up the old config.
    vk.ok("vimage", &["-d", "n0"]);
    vk.ok("vimage", &["-d", "n1"]);
    vk.ok("ngctl", &["shutdown", "ngeth0:"]);
    vk.ok("ngctl", &["shutdown", "ngeth1:"]);
    assert_eq!(list(&vk, None), "There are 1 total nodes:\n  <socket>");
    let ifc = vk.ok("ifconfig", &[]);
    assert!(!ifc.contains("ngeth") && !ifc.contains("eth0"), "{ifc}");
    vk.halt();
}

#[test]
fn exercise2_bridge_with_a_physical_interface() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ex2");
    // The tutorial's laptop has em0 and iwi0; here Ethernet discard interfaces
    // stand in for them.
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("ifconfig", &["edsc0", "create"]);
    vk.ok("ifconfig", &["edsc0", "name", "em0"]);
    vk.ok("ifconfig", &["edsc1", "create"]);
    vk.ok("ifconfig", &["edsc1", "name", "iwi0"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    assert_eq!(
        nodes(&vk, None),
        vec![node("ngeth1", "eiface", 0), node("ngeth0", "eiface", 0)]
    );
    vk.ok("kldload", &["ng_ether"]);
    let l = list(&vk, None);
    assert!(
        l.starts_with("There are 5 total nodes:\n  <socket>\n"),
        "{l}"
    );
    assert_eq!(
        nodes(&vk, None),
        vec![
            node("iwi0", "ether", 0),
            node("em0", "ether", 0),
            node("ngeth1", "eiface", 0),
            node("ngeth0", "eiface", 0)
        ]
    );
    vk.ok("ngctl", &["mkpeer", "em0:", "bridge", "lower", "link0"]);
    let l = list(&vk, None);
    assert!(
        l.contains("  Name: <unnamed>       Type: bridge          ID: "),
        "{l}"
    );
    assert_eq!(nodes(&vk, None)[0], node("<unnamed>", "bridge", 1));
    vk.ok("ngctl", &["name", "em0:lower", "bridge0"]);
    vk.ok("ngctl", &["connect", "em0:", "bridge0:", "upper", "link1"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "bridge0:", "ether", "link2"],
    );
    vk.ok(
        "ngctl",
        &["connect", "ngeth1:", "bridge0:", "ether", "link3"],
    );
    assert_eq!(
        nodes(&vk, None),
        vec![
            node("bridge0", "bridge", 4),
            node("iwi0", "ether", 0),
            node("em0", "ether", 2),
            node("ngeth1", "eiface", 1),
            node("ngeth0", "eiface", 1)
        ]
    );
    assert_eq!(
        vk.ok("vimage", &["n1", "ifconfig"]),
        "lo0: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n"
    );
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0", "e0"]), "e0@n1\n");
    vk.ok("vimage", &["n1", "ifconfig", "lo0", "up"]);
    vk.ok("vimage", &["n1", "ifconfig", "e0", "link", "40:a:b:c:d:01"]);
    let ifc = vk.ok("vimage", &["n1", "ifconfig", "e0"]);
    assert!(ifc.contains("ether 40:0a:0b:0c:0d:01"), "{ifc}");
    // The bridge's table and stats answer in ASCII.
    let t = vk.ok("ngctl", &["msg", "bridge0:", "gettable"]);
    assert!(t.starts_with("Rec'd response \"gettable\""), "{t}");
    let s = vk.ok("ngctl", &["show", "bridge0:"]);
    assert!(s.contains("  link0           em0             ether"), "{s}");
    // ng_ether cannot be unloaded while it has nodes.
    vk.fails(
        "kldunload",
        &["ng_ether"],
        "kldunload: can't unload file: Device busy",
    );
    vk.halt();
}

#[test]
fn exercise2a_nested_bridge_inside_a_vimage() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ex2a");
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("kldload", &["ng_ether"]);
    // Only the default vimage loads modules (n1's mkpeer cannot).
    vk.ok("kldload", &["ng_eiface"]);
    vk.ok("kldload", &["ng_bridge"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("ifconfig", &["edsc0", "create"]);
    // The parent's Ethernet interface handed down to n1 becomes its eth0, and
    // its ether node follows it into n1's graph.
    assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc0"]), "eth0@n1\n");
    assert_eq!(
        list(&vk, Some("n1")),
        "There are 2 total nodes:\n  <socket>\n  Name: eth0            Type: ether           ID: 00000001   Num hooks: 0"
            .replace("ID: 00000001", &format!("ID: {}", id_of(&vk, "n1", "eth0")))
    );
    vk.ok("vimage", &["n1", "vimage", "-c", "n3"]);
    vk.ok("vimage", &["n1", "vimage", "n3", "hostname", "n3"]);
    assert_eq!(vk.ok("vimage", &["n1.n3", "hostname"]), "n3\n");
    let in_n1 = |args: &[&str]| {
        let mut a = vec!["n1", "ngctl"];
        a.extend_from_slice(args);
        vk.ok("vimage", &a)
    };
    in_n1(&["mkpeer", "eiface", "ether", "ether"]);
    in_n1(&["mkpeer", "ngeth0:", "bridge", "ether", "link0"]);
    in_n1(&["name", "ngeth0:ether", "bridge_n1"]);
    in_n1(&["connect", "eth0:", "bridge_n1:", "lower", "link1"]);
    in_n1(&["connect", "eth0:", "bridge_n1:", "upper", "link2"]);
    assert_eq!(
        nodes(&vk, Some("n1")),
        vec![
            node("bridge_n1", "bridge", 3),
            node("ngeth0", "eiface", 1),
            node("eth0", "ether", 2)
        ]
    );
    // The default vimage's graph knows nothing of it.
    assert_eq!(list(&vk, None), "There are 1 total nodes:\n  <socket>");
    // From n1, assign the eiface interface to n3 and configure it there.
    assert_eq!(
        vk.ok("vimage", &["n1", "vimage", "-i", "n3", "ngeth0"]),
        "eth0@n3\n"
    );
    assert_eq!(
        vk.ok("vimage", &["n1.n3", "ifconfig"]),
        "lo0: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n\
         eth0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tether 00:00:00:00:00:00\n"
    );
    vk.ok(
        "vimage",
        &["n1.n3", "ifconfig", "eth0", "link", "40:a:b:c:d:03"],
    );
    // Tearing down n1 (after n3) removes its whole graph and its eiface.
    vk.ok("vimage", &["-d", "n1.n3"]);
    vk.ok("vimage", &["-d", "n1"]);
    let ifc = vk.ok("ifconfig", &[]);
    assert!(ifc.contains("edsc0:") && !ifc.contains("ngeth"), "{ifc}");
    assert!(
        nodes(&vk, None).contains(&node("edsc0", "ether", 0)),
        "the ether node came home with its interface"
    );
    vk.halt();
}

fn id_of(vk: &Vk, vimage: &str, name: &str) -> String {
    let l = vk.ok("vimage", &[vimage, "ngctl", "l"]);
    l.lines()
        .find(|x| x.contains(&format!("Name: {name} ")))
        .and_then(|x| x.split("ID: ").nth(1))
        .map(|x| x[..8].to_string())
        .unwrap_or_default()
}

/// The kind of script IMUNES feeds to `ngctl -f -`: three eifaces joined
/// through a bridge by pipes with link parameters.
#[test]
fn imunes_style_script_builds_a_topology_with_pipes() {
    let vk = Vk::boot("imunes");
    let mut script = String::from("# topology: three nodes on a switch\n");
    for i in 0..3 {
        script.push_str(&format!("mkpeer . eiface h{i} ether\n"));
    }
    script.push_str("mkpeer . bridge hb link0\nname .:hb switch0\n");
    for i in 0..3 {
        script.push_str(&format!(
            "rmhook h{i}\n\
             mkpeer ngeth{i}: pipe ether upper\n\
             name ngeth{i}:ether e0_n{i}-sw\n\
             connect e0_n{i}-sw: switch0: lower link{}\n\
             msg e0_n{i}-sw: setcfg {{bandwidth=-1 delay=-1 upstream={{BER=-1 duplicate=-1}} downstream={{BER=-1 duplicate=-1}}}}\n\
             msg e0_n{i}-sw: setcfg {{bandwidth=10000000}}\n\
             msg e0_n{i}-sw: setcfg {{delay=5000}}\n\n",
            i + 1
        ));
    }
    script.push_str("rmhook hb\n");
    let (c, o, e) = vk.run_stdin("ngctl", &["-f", "-"], &script);
    assert_eq!(c, 0, "{o}{e}");
    let n = nodes(&vk, None);
    assert_eq!(n.len(), 7, "{n:?}");
    assert!(n.contains(&node("switch0", "bridge", 3)));
    for i in 0..3 {
        assert!(
            n.contains(&node(&format!("e0_n{i}-sw"), "pipe", 2)),
            "{n:?}"
        );
        assert!(n.contains(&node(&format!("ngeth{i}"), "eiface", 1)));
    }
    let cfg = vk.ok("ngctl", &["msg", "e0_n1-sw:", "getcfg"]);
    assert!(cfg.contains("bandwidth=10000000"), "{cfg}");
    assert!(cfg.contains("delay=5000"), "{cfg}");
    // A link failure, as IMUNES does it: drop everything.
    vk.ok(
        "ngctl",
        &[
            "msg",
            "e0_n1-sw:",
            "setcfg",
            "{upstream={BER=1} downstream={BER=1}}",
        ],
    );
    // A failing line stops the script with its number.
    let (c, _, e) = vk.run_stdin(
        "ngctl",
        &["-f", "-"],
        "mkpeer . hub a b\nconnect .:a nosuch: x y\nname .:a never\n",
    );
    assert_ne!(c, 0);
    assert_eq!(
        e,
        "ngctl: send msg: No such file or directory\nngctl: line 2: error in file\n"
    );
    assert!(!nodes(&vk, None).iter().any(|x| x.0 == "never"));
    // The dot output draws the graph.
    let dot = vk.ok("ngctl", &["dot"]);
    assert!(dot.starts_with("graph netgraph {\n"), "{dot}");
    assert!(dot.contains("switch0"), "{dot}");
    vk.halt();
}

#[test]
fn bad_input_gets_freebsd_errors_and_the_kernel_keeps_going() {
    let vk = Vk::boot("ngbad");
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    vk.fails(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
        "ngctl: send msg: File exists",
    );
    vk.fails(
        "ngctl",
        &["shutdown", "nosuch:"],
        "ngctl: shutdown: No such file or directory",
    );
    vk.fails(
        "ngctl",
        &["mkpeer", "ngeth0:", "hub", "bad.hook", "x"],
        "ngctl: send msg: Invalid argument",
    );
    vk.fails(
        "ngctl",
        &["mkpeer", "nosuchtype", "a", "b"],
        "ngctl: send msg: No such file or directory",
    );
    vk.fails(
        "ngctl",
        &["name", "ngeth0:", "ngeth1"],
        "ngctl: send msg: Address already in use",
    );
    // eiface has one hook, `ether`.
    vk.fails(
        "ngctl",
        &["mkpeer", "ngeth0:", "hub", "x", "y"],
        "ngctl: send msg: Protocol family not supported",
    );
    let (c, _, e) = vk.run_stdin(
        "ngctl",
        &["-f", "-"],
        "mkpeer . hub a b\nmkpeer . hub a c\n",
    );
    assert_ne!(c, 0);
    assert_eq!(
        e,
        "ngctl: send msg: File exists\nngctl: line 2: error in file\n"
    );
    vk.fails(
        "ngctl",
        &["msg", "ngeth0:", "set", "zz:zz"],
        "ngctl: send msg: Invalid argument",
    );
    vk.fails(
        "ngctl",
        &["msg", "ngeth0:", "nosuchcmd"],
        "ngctl: send msg: Invalid argument",
    );
    let (c, _, e) = vk.run("ngctl", &["frobnicate"]);
    assert_ne!(c, 0);
    assert!(e.contains("unknown command"), "{e}");
    // Everything still there and working.
    assert_eq!(
        nodes(&vk, None),
        vec![node("ngeth1", "eiface", 1), node("ngeth0", "eiface", 1)]
    );
    vk.ok("ngctl", &["msg", "ngeth0:", "set", "02:00:00:00:00:01"]);
    assert!(vk
        .ok("ifconfig", &["ngeth0"])
        .contains("ether 02:00:00:00:00:01"));
    // Type modules: loaded on demand, not unloadable while in use.
    let st = vk.ok("kldstat", &[]);
    assert!(
        st.contains("ng_eiface.ko") && st.contains("ng_hub.ko"),
        "{st}"
    );
    vk.halt();
}

/// Two kernels joined by a UDP link: frames written into one graph come out of
/// the other's.
#[test]
fn ksocket_links_two_kernels() {
    let a = Vk::boot("ksa");
    let b = Vk::boot("ksb");
    // Host sockets are an explicit choice of the default vimage.
    for vk in [&a, &b] {
        vk.ok("kldload", &["ng_ksocket"]);
        vk.ok("sysctl", &["net.graph.ksocket.host=1"]);
    }
    // A free UDP port for b's end.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut bproc = b
        .cmd("ngctl")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ngctl on b");
    let mut bin = bproc.stdin.take().unwrap();
    use std::io::Write;
    writeln!(bin, "mkpeer . ksocket k inet/dgram/udp").unwrap();
    writeln!(bin, "msg .:k bind inet/127.0.0.1:{port}").unwrap();
    bin.flush().unwrap();
    // Wait until b's ksocket is bound.
    let t0 = std::time::Instant::now();
    while !b.ok("ngctl", &["l"]).contains("ksocket") {
        assert!(t0.elapsed().as_secs() < 10, "b never made its ksocket");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let script = format!(
        "mkpeer . ksocket k inet/dgram/udp\nmsg .:k connect inet/127.0.0.1:{port}\nwrite k 104 105 33\n"
    );
    let (c, o, e) = a.run_stdin("ngctl", &["-f", "-"], &script);
    assert_eq!(c, 0, "{o}{e}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Any command makes the interactive ngctl report what arrived.
    writeln!(bin, "types").unwrap();
    drop(bin);
    let out = bproc.wait_with_output().expect("b ngctl");
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(so.contains("Rec'd data packet on hook \"k\":"), "{so}");
    assert!(so.contains("68 69 21") || so.contains("hi!"), "{so}");
    a.halt();
    b.halt();
}

/// Two kernels, an eiface in each, joined by a ksocket UDP link: ping crosses.
#[test]
fn ping_crosses_a_ksocket_link_between_two_kernels() {
    let a = Vk::boot("kpa");
    let b = Vk::boot("kpb");
    let free = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("port")
    };
    let (pa, pb) = (free(), free());
    for vk in [&a, &b] {
        vk.ok("kldload", &["ng_ksocket"]);
        vk.ok("sysctl", &["net.graph.ksocket.host=1"]);
    }
    for (vk, me, peer, mac, addr) in [
        (&a, pa, pb, "40:a:b:c:d:1", "10.99.0.1/24"),
        (&b, pb, pa, "40:a:b:c:d:2", "10.99.0.2/24"),
    ] {
        let script = format!(
            "mkpeer eiface ether ether\n\
             rmhook ether\n\
             mkpeer ngeth0: ksocket ether inet/dgram/udp\n\
             msg ngeth0:ether bind inet/127.0.0.1:{me}\n\
             msg ngeth0:ether connect inet/127.0.0.1:{peer}\n"
        );
        let (c, o, e) = vk.run_stdin("ngctl", &["-f", "-"], &script);
        assert_eq!(c, 0, "{o}{e}");
        vk.ok("ifconfig", &["ngeth0", "link", mac]);
        vk.ok("ifconfig", &["ngeth0", addr, "up"]);
    }
    let out = a.ok("ping", &["-c", "2", "10.99.0.2"]);
    assert!(
        out.contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
        "{out}"
    );
    let out = b.ok("ping", &["-c", "1", "10.99.0.1"]);
    assert!(
        out.contains("64 bytes from 10.99.0.1: icmp_seq=0 ttl=64"),
        "{out}"
    );
    a.halt();
    b.halt();
}

/// An eiface handed to a vimage is an Ethernet interface there: it gets an
/// `ether` node named after it (Exercise 2a's `eth0` inside n1), which a
/// bridge in that vimage can take over, which follows a rename, and which
/// goes when the interface goes home — where the eiface node stands for it.
#[test]
fn an_eiface_moved_into_a_vimage_gets_an_ether_node() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("eifether");
    vk.ok("kldload", &["ng_ether"]);
    // (Only the default vimage loads modules; n1 uses what is loaded.)
    vk.ok("kldload", &["ng_bridge"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    // At home the eiface node holds the name: no ether node beside it.
    assert_eq!(
        nodes(&vk, None),
        vec![node("ngeth1", "eiface", 1), node("ngeth0", "eiface", 1)]
    );
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0"]), "eth0@n1\n");
    assert_eq!(vk.ok("vimage", &["-i", "n2", "ngeth1"]), "eth0@n2\n");
    assert_eq!(nodes(&vk, Some("n1")), vec![node("eth0", "ether", 0)]);
    // n1 puts a bridge between its stack and the wire, as in Exercise 2a.
    let in_n1 = |args: &[&str]| {
        let mut a = vec!["n1", "ngctl"];
        a.extend_from_slice(args);
        vk.ok("vimage", &a)
    };
    in_n1(&["mkpeer", "eth0:", "bridge", "lower", "link0"]);
    in_n1(&["name", "eth0:lower", "bridge_n1"]);
    in_n1(&["connect", "eth0:", "bridge_n1:", "upper", "link1"]);
    vk.ok(
        "vimage",
        &["n1", "ifconfig", "eth0", "link", "40:a:b:c:d:01"],
    );
    vk.ok(
        "vimage",
        &["n2", "ifconfig", "eth0", "link", "40:a:b:c:d:02"],
    );
    vk.ok("vimage", &["n1", "ifconfig", "eth0", "10.0.9.1/24"]);
    vk.ok("vimage", &["n2", "ifconfig", "eth0", "10.0.9.2/24"]);
    let out = vk.ok("vimage", &["n1", "ping", "-c", "2", "10.0.9.2"]);
    assert!(out.contains("2 packets received"), "{out}");
    // Renamed, the interface keeps its node, under the new name.
    vk.ok("vimage", &["n1", "ifconfig", "eth0", "name", "e5"]);
    assert!(
        nodes(&vk, Some("n1")).contains(&node("e5", "ether", 2)),
        "{:?}",
        nodes(&vk, Some("n1"))
    );
    let out = vk.ok("vimage", &["n1", "ping", "-c", "1", "10.0.9.2"]);
    assert!(out.contains("1 packets received"), "{out}");
    // Home again: its node in n1 is gone, none is made in default.
    assert_eq!(
        vk.ok("vimage", &["n1", "vimage", "-i", "-", "e5"]),
        "ngeth0@default\n"
    );
    assert_eq!(nodes(&vk, Some("n1")), vec![]);
    assert!(!nodes(&vk, None).iter().any(|n| n.1 == "ether"));
    vk.halt();
}

/// An ng_ksocket node's socket lives in the stack of the vimage the node is
/// in: that vimage's `netstat -an` shows it and its socket count has it (so,
/// like any socket, it keeps the vimage from being deleted until the node
/// goes); the default vimage sees nothing of it.
#[test]
fn a_ksocket_socket_belongs_to_its_vimage() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ksockvi");
    vk.ok("kldload", &["ng_ksocket"]);
    vk.ok("kldload", &["ng_eiface"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok(
        "vimage",
        &["n1", "ngctl", "mkpeer", "eiface", "ether", "ether"],
    );
    vk.ok(
        "vimage",
        &[
            "n1",
            "ngctl",
            "mkpeer",
            "ngeth0:",
            "ksocket",
            "ether",
            "inet/dgram/udp",
        ],
    );
    let sockets = |v: &str| {
        vk.ok("vimage", &["-l", v])
            .lines()
            .find(|l| l.contains("Sockets"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(sockets("n1"), "Sockets (current/max): 1/0");
    assert!(vk.ok("vimage", &["n1", "netstat", "-an"]).contains("udp4"));
    assert!(!vk.ok("netstat", &["-an"]).contains("udp4"));
    vk.fails("vimage", &["-d", "n1"], "vimage: n1: Device busy");
    vk.ok("vimage", &["n1", "ngctl", "shutdown", "ngeth0:ether"]);
    assert_eq!(sockets("n1"), "Sockets (current/max): 0/0");
    vk.ok("vimage", &["-d", "n1"]);
    vk.halt();
}
