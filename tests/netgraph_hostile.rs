//! Netgraph against a hostile tenant, with the real tools: data loops inside
//! a vimage end by themselves (`net.graph.maxhops`, counted in
//! `net.graph.hopdrops`) and leave the vimage and its neighbours responsive;
//! `mkpeer` from inside a vimage loads no kernel module; an ng_ksocket made
//! inside a vimage binds in that vimage's stack, never on the host.

mod common;
use common::*;

use std::time::{Duration, Instant};

/// Run `ngctl -f -` with `script` in vimage `v`; require success.
fn ngctl_script(vk: &Vk, v: &str, script: &str) {
    let (c, o, e) = vk.run_stdin("vimage", &[v, "ngctl", "-f", "-"], script);
    assert_eq!(c, 0, "{script}: {o}{e}");
}

/// `sysctl -n name` in vimage `v`.
fn sysctl_n(vk: &Vk, v: &str, name: &str) -> String {
    vk.ok("vimage", &[v, "sysctl", "-n", name])
        .trim()
        .to_string()
}

/// Run `args` (a tool and its arguments) in vimage `v` (`None`: default),
/// requiring success within `limit`.
fn quick(vk: &Vk, v: Option<&str>, args: &[&str], limit: Duration) -> String {
    let t0 = Instant::now();
    let out = match v {
        Some(v) => {
            let mut a = vec![v];
            a.extend_from_slice(args);
            vk.ok("vimage", &a)
        }
        None => vk.ok(args[0], &args[1..]),
    };
    let took = t0.elapsed();
    assert!(took < limit, "{args:?} took {took:?}");
    out
}

#[test]
fn data_loops_end_by_themselves() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ngloop");
    for m in ["ng_hub", "ng_tee", "ng_bridge"] {
        vk.ok("kldload", &[m]);
    }
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    assert_eq!(sysctl_n(&vk, "n1", "net.graph.hopdrops"), "0");
    // A hub joined to itself, with a frame written into it.
    ngctl_script(
        &vk,
        "n1",
        "mkpeer . hub h in\n\
         name .:h loophub\n\
         msg loophub: setpersistent\n\
         connect loophub: loophub: x y\n\
         write h 1 2 3 4\n",
    );
    // Tees wired in a ring, a bridge with two links joined, two hubs joined
    // by three links (every turn doubles the frames: a storm).
    ngctl_script(
        &vk,
        "n1",
        "mkpeer . tee t left2right\n\
         name .:t t1\n\
         mkpeer t1: tee right left\n\
         name t1:right t2\n\
         connect t2: t1: right left\n\
         write t 8 9\n\
         mkpeer . bridge b link0\n\
         name .:b br\n\
         connect br: br: link1 link2\n\
         write b 255 255 255 255 255 255 2 0 0 0 0 1 8 0 1 2 3 4\n",
    );
    ngctl_script(
        &vk,
        "n1",
        "mkpeer . hub h in\n\
         name .:h ha\n\
         msg ha: setpersistent\n\
         mkpeer ha: hub l0 l0\n\
         name ha:l0 hb\n\
         connect ha: hb: l1 l1\n\
         connect ha: hb: l2 l2\n\
         write h 5 6 7\n",
    );
    // The loops are soon over: the storm's copies (8,192 of them reach the
    // hop budget) are dropped, and then the drop counter stands still.  The
    // storm works off a budget at a time from callouts, and its first drops
    // come only once its frames have made 128 hops (a while in a debug build
    // on a busy machine), so wait for those, then for a second of quiet.
    let t0 = Instant::now();
    let mut drops: u64 = sysctl_n(&vk, "n1", "net.graph.hopdrops").parse().unwrap();
    let mut still = 0;
    while drops < 8192 || still < 5 {
        std::thread::sleep(Duration::from_millis(200));
        let now: u64 = sysctl_n(&vk, "n1", "net.graph.hopdrops").parse().unwrap();
        still = if now == drops { still + 1 } else { 0 };
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "frames still looping ({now} dropped)"
        );
        drops = now;
    }
    // ...and every later operation in n1 is quick again.
    let l = quick(&vk, Some("n1"), &["ngctl", "l"], Duration::from_secs(2));
    assert!(
        l.contains("loophub") && l.contains("hb") && l.contains("br"),
        "{l}"
    );
    quick(
        &vk,
        Some("n1"),
        &["ngctl", "show", "loophub:"],
        Duration::from_secs(2),
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        sysctl_n(&vk, "n1", "net.graph.hopdrops"),
        drops.to_string(),
        "frames still looping"
    );
    // The neighbour never noticed.
    assert_eq!(sysctl_n(&vk, "n2", "net.graph.hopdrops"), "0");
    quick(&vk, Some("n2"), &["ngctl", "l"], Duration::from_secs(2));
    // The budget is the default vimage's to set, kernel-wide.
    assert_eq!(sysctl_n(&vk, "n1", "net.graph.maxhops"), "128");
    let (c, _, e) = vk.run("vimage", &["n1", "sysctl", "net.graph.maxhops=100000"]);
    assert_ne!(c, 0);
    assert!(e.contains("Operation not permitted"), "{e}");
    assert_eq!(
        vk.ok("sysctl", &["net.graph.maxhops=16"]),
        "net.graph.maxhops: 128 -> 16\n"
    );
    ngctl_script(&vk, "n1", "connect . loophub: w in\nwrite w 1\n");
    let after: u64 = sysctl_n(&vk, "n1", "net.graph.hopdrops").parse().unwrap();
    assert!(after > drops, "{after} {drops}");
    // The vimage and its loops go at once.
    quick(&vk, None, &["vimage", "-d", "n1"], Duration::from_secs(5));
    vk.ok("vimage", &["-d", "n2"]);
    vk.halt();
}

#[test]
fn mkpeer_inside_a_vimage_loads_no_module() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ngmod");
    vk.ok("vimage", &["-c", "n1"]);
    vk.fails(
        "vimage",
        &["n1", "kldload", "ng_hub"],
        "kldload: can't load ng_hub: Operation not permitted",
    );
    // A type not loaded does not exist inside a vimage.
    vk.fails(
        "vimage",
        &["n1", "ngctl", "mkpeer", "hub", "a", "b"],
        "ngctl: send msg: No such file or directory",
    );
    vk.fails(
        "vimage",
        &["n1", "ngctl", "mkpeer", "nosuchtype", "a", "b"],
        "ngctl: send msg: No such file or directory",
    );
    let st = vk.ok("kldstat", &[]);
    assert!(!st.contains("ng_hub"), "{st}");
    // As on FreeBSD, from default too an unknown type is a module not found.
    vk.fails(
        "ngctl",
        &["mkpeer", "nosuchtype", "a", "b"],
        "ngctl: send msg: No such file or directory",
    );
    // Once default has loaded it, n1 may use it.
    ngctl_script(&vk, "default", "mkpeer . hub h x\n");
    assert!(vk.ok("kldstat", &[]).contains("ng_hub.ko"));
    ngctl_script(&vk, "n1", "mkpeer . hub h x\n");
    vk.ok("vimage", &["-d", "n1"]);
    vk.halt();
}

/// A UDP port free on the host's loopback now.
fn free_host_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("port")
}

#[test]
fn ksocket_inside_a_vimage_binds_in_its_stack() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ngksock");
    vk.ok("kldload", &["ng_ksocket"]);
    vk.ok("kldload", &["ng_hub"]);
    // Even with host sockets on for default's nodes.
    assert_eq!(
        vk.ok("sysctl", &["net.graph.ksocket.host=1"]),
        "net.graph.ksocket.host: 0 -> 1\n"
    );
    vk.ok("vimage", &["-c", "n1"]);
    let (c, _, e) = vk.run("vimage", &["n1", "sysctl", "net.graph.ksocket.host=0"]);
    assert_ne!(c, 0);
    assert!(e.contains("Operation not permitted"), "{e}");
    vk.ok("vimage", &["n1", "ifconfig", "lo0", "127.0.0.1", "up"]);
    let port = free_host_port();
    // An ngctl in n1 with two ksockets: k bound to the port, k2 bound to a
    // privileged one and connected to k.
    let mut ch = vk
        .cmd("vimage")
        .args(["n1", "ngctl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ngctl in n1");
    let mut input = ch.stdin.take().expect("stdin");
    use std::io::Write;
    write!(
        input,
        "mkpeer . ksocket k inet/dgram/udp\n\
         msg .:k bind inet/127.0.0.1:{port}\n\
         mkpeer . ksocket k2 inet/dgram/udp\n\
         msg .:k2 bind inet/127.0.0.1:1\n\
         msg .:k2 connect inet/127.0.0.1:{port}\n"
    )
    .unwrap();
    input.flush().unwrap();
    let t0 = Instant::now();
    while !vk
        .ok("vimage", &["n1", "netstat", "-an", "-f", "inet"])
        .contains(&format!("127.0.0.1.{port}"))
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "k never bound");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The socket is n1's: its netstat shows both, default's neither...
    let ns = vk.ok("vimage", &["n1", "netstat", "-an", "-f", "inet"]);
    assert!(ns.contains("127.0.0.1.1 "), "{ns}");
    let ns0 = vk.ok("netstat", &["-an", "-f", "inet"]);
    assert!(!ns0.contains(&format!(".{port}")), "{ns0}");
    // ...and the host's port stays free.
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("host port free");
    // A frame written into k2 crosses n1's lo0 and comes out of k.
    writeln!(input, "write k2 104 105").unwrap();
    input.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Any command makes the interactive ngctl report what arrived.
    writeln!(input, "types").unwrap();
    drop(input);
    let out = ch.wait_with_output().expect("ngctl");
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(so.contains("Rec'd data packet on hook \"k\":"), "{so}");
    assert!(so.contains("68 69"), "{so}");
    // The vimage goes with its graph and its ksockets.
    vk.ok("vimage", &["-d", "n1"]);
    vk.halt();
}
