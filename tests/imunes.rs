//! IMUNES batch mode end to end: `imunes -b` builds imunes-examples' files in
//! a private kernel, `himage` runs commands in their nodes, `vlink` breaks
//! and restores a link, `imunes -b -e ID` leaves nothing behind; a build that
//! fails half way is undone; RIP (our routed and route6d under lab timers)
//! carries pings across routers.

mod common;

use common::{bindir, Vk};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("usr.sbin/imunes/tests/data")
        .join(name)
        .display()
        .to_string()
}

/// A kernel and the IMUNES run directory its experiments use.
struct Lab {
    vk: Vk,
    run: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        assert!(
            bindir().join("imunes").exists(),
            "build the tools first (cargo build --workspace)"
        );
        let vk = Vk::boot(tag);
        let run = vk.sock.parent().expect("dir").join("imunes-run");
        Lab { vk, run }
    }

    /// Run one of our tools with the lab's environment.
    fn run(&self, tool: &str, args: &[&str]) -> (i32, String, String) {
        let out = self
            .vk
            .cmd(tool)
            .env("IMUNES_RUNDIR", &self.run)
            .env("IMUNES_RIP_PARMS", "timescale=10")
            .args(args)
            .output()
            .expect("run tool");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, tool: &str, args: &[&str]) -> String {
        let (c, o, e) = self.run(tool, args);
        assert_eq!(c, 0, "{tool} {args:?}: {e}{o}");
        o
    }

    /// Retry `himage args…` until it succeeds (within `secs`).
    fn eventually(&self, args: &[&str], secs: u64) -> String {
        let t0 = Instant::now();
        loop {
            let (c, o, e) = self.run("himage", args);
            if c == 0 {
                return o;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "himage {args:?}: {e}{o}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Nothing of any experiment is left: only `default`, only the listing
    /// ngctl's own socket node, no run files, no marked processes.
    fn assert_clean(&self) {
        let l = self.ok("vimage", &["-l"]);
        let names: Vec<&str> = l.lines().filter(|x| x.starts_with('"')).collect();
        assert_eq!(names, ["\"default\":"], "{l}");
        let n = self.ok("ngctl", &["list"]);
        assert!(n.starts_with("There are 1 total nodes:"), "{n}");
        assert_eq!(self.ok("ifconfig", &["-l"]).trim(), "lo0");
        let left: Vec<_> = std::fs::read_dir(&self.run)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "run files left: {left:?}");
        assert!(marked(&self.run).is_empty(), "processes left");
    }
}

/// Processes whose IMUNES_EXPERIMENT points under `run`.
fn marked(run: &Path) -> Vec<i32> {
    let want = format!("IMUNES_EXPERIMENT={}", run.display());
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env
                .split(|&c| c == 0)
                .any(|x| x.starts_with(want.as_bytes()))
            {
                v.push(pid);
            }
        }
    }
    v
}

#[test]
fn p_s_p_pings_breaks_and_tears_down() {
    let lab = Lab::new("imunes-psp");
    let file = data("p-s-p.imn");
    if !cfg!(feature = "vimage") {
        // One stack only: refused cleanly, nothing built.
        let (c, _, e) = lab.run("imunes", &["-b", "-e", "e0", &file]);
        assert_eq!(c, 1, "{e}");
        assert!(e.contains("kernel built without VIMAGE support"), "{e}");
        lab.assert_clean();
        return;
    }
    let out = lab.ok("imunes", &["-b", "-e", "e0", &file]);
    assert!(out.starts_with("Using experiment ID 'e0'.\n"), "{out}");
    assert_eq!(out.lines().last(), Some("Experiment ID = e0"), "{out}");
    assert_eq!(out.matches("Experiment").count(), 1, "{out}");
    // The tutorial's names.
    let l = lab.ok("vimage", &["-l"]);
    assert!(l.contains("\"e0_n1\":") && l.contains("\"e0_n2\":"), "{l}");
    let n = lab.ok("ngctl", &["list"]);
    for (name, ty) in [
        ("e0_n0", "bridge"),
        ("e0_n1-n0", "pipe"),
        ("e0_n0-n2", "pipe"),
    ] {
        assert!(
            n.lines()
                .any(|x| x.contains(&format!("Name: {name} ")) && x.contains(ty)),
            "{name}: {n}"
        );
    }
    assert_eq!(lab.ok("himage", &["pc1", "hostname"]).trim(), "pc1");
    assert_eq!(lab.ok("himage", &["-v", "pc2"]).trim(), "e0_n2");
    assert!(lab.ok("himage", &["-l"]).starts_with("e0 [p-s-p.imn - "));
    assert_eq!(lab.ok("himage", &["-ln"]).trim(), "e0 [pc1, pc2]");
    let (c, _, e) = lab.run("himage", &["nosuch", "hostname"]);
    assert_eq!((c, e.trim()), (2, "Error: cannot find node named nosuch"));
    let ifc = lab.ok("himage", &["pc1", "ifconfig", "eth0"]);
    assert!(ifc.contains("ether 42:00:aa:00:00:00"), "{ifc}");
    assert!(ifc.contains("inet 10.0.0.20 netmask 0xffffff00"), "{ifc}");

    // Both ways, both families.
    lab.eventually(&["pc1", "ping", "-c", "2", "10.0.0.21"], 10);
    lab.eventually(&["pc2", "ping", "-c", "2", "10.0.0.20"], 10);
    lab.eventually(&["pc1", "ping6", "-c", "2", "fc00::21"], 10);
    lab.eventually(&["pc2", "ping6", "-c", "2", "fc00::20"], 10);

    // The link down (every frame lost) and up again.
    lab.ok("vlink", &["-BER", "1", "pc1:switch1"]);
    let s = lab.ok("vlink", &["-s", "switch1:pc1"]);
    assert_eq!(s, "switch1:pc1@e0:\n\tBER 1\n");
    let (c, o, _) = lab.run(
        "himage",
        &["pc1", "ping", "-c", "2", "-t", "3", "10.0.0.21"],
    );
    assert_ne!(c, 0, "a broken link passed a ping: {o}");
    lab.ok("vlink", &["-BER", "0", "pc1:switch1"]);
    assert!(lab
        .ok("vlink", &["-s", "pc1:switch1"])
        .contains("No currently applied settings."));
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.0.21"], 10);
    // Other settings reach the pipe; no settings is an error.
    lab.ok("vlink", &["-bw", "10M", "-dly", "5ms", "pc2:switch1"]);
    let s = lab.ok("vlink", &["-s", "pc2:switch1"]);
    assert_eq!(s, "pc2:switch1@e0:\n\tbandwidth 10Mbps\n\tdelay 5ms\n");
    let (c, _, e) = lab.run("vlink", &["pc2:switch1"]);
    assert_eq!((c, e.trim()), (1, "No link options were specified."));
    assert_eq!(
        lab.ok("vlink", &["-l"]).trim(),
        "e0 (pc1:switch1 switch1:pc2)"
    );

    // A second experiment of the same file beside it, with a chosen-for-us id.
    let out = lab.ok("imunes", &["-b", &file]);
    let id = out
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("Experiment ID = "))
        .expect("id")
        .to_string();
    assert!(id.starts_with('i') && id.len() == 5, "{id}");
    let (c, _, e) = lab.run("himage", &["pc1", "hostname"]);
    assert_eq!((c, e.trim()), (1, "Error: pc1 is not a unique name."));
    assert_eq!(
        lab.ok("himage", &[&format!("pc1@{id}"), "hostname"]).trim(),
        "pc1"
    );
    let (c, _, e) = lab.run("imunes", &["-b", "-e", "e0", &file]);
    assert_eq!(c, 0, "{e}");
    assert!(
        e.contains("Experiment ID e0 already in use, trying i"),
        "{e}"
    );
    let third = e
        .split("trying ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('.');
    for x in [id.as_str(), third, "e0"] {
        let o = lab.ok("imunes", &["-b", "-e", x]);
        assert!(
            o.contains(&format!("Terminated experiment ID = {x}")),
            "{o}"
        );
    }
    lab.assert_clean();
    let (c, _, _) = lab.run("imunes", &["-b", "-e", "e0"]);
    assert_eq!(c, 1);
}

#[test]
fn errors_build_nothing() {
    let lab = Lab::new("imunes-err");
    let dir = lab.vk.sock.parent().unwrap().to_path_buf();
    let bad = dir.join("bad.imn");
    std::fs::write(
        &bad,
        "node n1 {\n    type pc\n}\nnode n2 {\n    type toaster\n}\n",
    )
    .unwrap();
    let b = bad.display().to_string();
    let (c, _, e) = lab.run("imunes", &["-b", &b]);
    assert_eq!(
        (c, e.trim()),
        (
            1,
            format!("imunes: {b}:5: Unknown node type: 'toaster'.").as_str()
        )
    );
    let (c, _, e) = lab.run("imunes", &["-b", "x.txt"]);
    assert_eq!(
        (c, e.trim()),
        (1, "File 'x.txt' is not an IMUNES .imn file")
    );
    let (c, _, e) = lab.run("imunes", &["-b", "nope.imn"]);
    assert_eq!((c, e.trim()), (1, "Error: file 'nope.imn' doesn't exist"));
    let (c, _, e) = lab.run("imunes", &["-b", "-e", "e-1", &data("p-s-p.imn")]);
    assert_eq!(c, 1);
    assert!(e.contains("Experiment ID should only consists of alphanumeric characters."));
    let (c, _, _) = lab.run("imunes", &["-b"]);
    assert_eq!(c, 1);
    // A run directory others may write is refused, before anything is built.
    let open = dir.join("open-run");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = lab
        .vk
        .cmd("imunes")
        .env("IMUNES_RUNDIR", &open)
        .args(["-b", &data("p-s-p.imn")])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("is writable by others: refusing it"), "{e}");
    lab.assert_clean();
    if !cfg!(feature = "vimage") {
        return;
    }
    // A build that fails half way (a vimage of its name is taken) is undone.
    lab.ok("vimage", &["-c", "e5_n2"]);
    let (c, _, e) = lab.run("imunes", &["-b", "-e", "e5", &data("p-s-p.imn")]);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("vimage -c e5_n2: File exists"), "{e}");
    lab.ok("vimage", &["-d", "e5_n2"]);
    lab.assert_clean();
}

#[test]
fn json_topology_with_hubs_and_a_direct_link() {
    if !cfg!(feature = "vimage") {
        return;
    }
    let lab = Lab::new("imunes-json");
    let out = lab.ok("imunes", &["-b", "-e", "e0", &data("topo.imn")]);
    assert!(!out.contains("legacy"), "{out}");
    let n = lab.ok("ngctl", &["list"]);
    assert!(n.contains("Name: e0_n1 ") && n.contains("hub"), "{n}");
    assert!(n.contains("Name: e0_n0-n1 "), "l0 has a pipe: {n}");
    assert!(!n.contains("Name: e0_n2-n3 "), "l1 is direct: {n}");
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.0.21"], 10);
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.1.21"], 10);
    let (c, _, e) = lab.run("vlink", &["-BER", "1", "switch2:hub2"]);
    assert_eq!(c, 1, "{e}");
    lab.ok("imunes", &["-b", "-e", "e0"]);
    lab.assert_clean();
}

#[test]
fn rip_reaches_across_routers() {
    if !cfg!(feature = "vimage") {
        return;
    }
    let lab = Lab::new("imunes-rip");
    if !bindir().join("routed").exists() || !bindir().join("route6d").exists() {
        // Without the daemons the network is built anyway, with a warning.
        let (c, _, e) = lab.run("imunes", &["-b", "-e", "e0", &data("ping.imn")]);
        assert_eq!(c, 0, "{e}");
        assert!(e.contains("not found"), "{e}");
        lab.ok("imunes", &["-b", "-e", "e0"]);
        lab.assert_clean();
        return;
    }
    lab.ok("imunes", &["-b", "-e", "e0", &data("ping.imn")]);
    let ps = lab.ok("himage", &["router1", "ps", "-ax"]);
    assert!(ps.contains("routed -s -P timescale=10"), "{ps}");
    assert!(ps.contains("route6d -P timescale=10"), "{ps}");
    // Same LAN at once; the far server once RIP and RIPng have converged.
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.0.20"], 10);
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.8.10"], 40);
    lab.eventually(&["pc1", "ping6", "-c", "1", "a:8::10"], 40);
    lab.eventually(&["server", "ping", "-c", "1", "10.0.0.21"], 40);
    let rt = lab.ok("himage", &["router0", "netstat", "-rnf", "inet"]);
    assert!(
        rt.lines()
            .any(|l| l.starts_with("10.0.8.0/24") && l.contains("UG1")),
        "{rt}"
    );
    assert!(!marked(&lab.run).is_empty(), "the daemons carry the mark");
    lab.ok("imunes", &["-b", "-e", "e0"]);
    lab.assert_clean();
}

/// The round-trip time of the first reply in ping's output, in ms.
fn rtt(out: &str) -> f64 {
    out.lines()
        .find_map(|l| l.split("time=").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no reply in {out}"))
}

#[test]
fn static_routes_only() {
    if !cfg!(feature = "vimage") {
        return;
    }
    let lab = Lab::new("imunes-static");
    let (c, _, e) = lab.run("imunes", &["-b", "-e", "s0", &data("ipsec44.imn")]);
    assert_eq!(c, 0, "{e}");
    assert!(!e.contains("routed"), "model static starts no daemon: {e}");
    // moon and sun reach each other through routerX by static routes ...
    lab.eventually(&["moon", "ping", "-c", "1", "10.0.3.1"], 10);
    lab.eventually(&["sun", "ping", "-c", "1", "10.0.2.1"], 10);
    lab.eventually(&["pc1", "ping", "-c", "1", "10.0.0.1"], 10);
    // ... but pc1 and pc2 do not (only an IPsec tunnel would join them).
    let (c, _, _) = lab.run(
        "himage",
        &["pc1", "ping", "-c", "1", "-t", "2", "10.0.1.20"],
    );
    assert_ne!(c, 0);
    let ps = lab.ok("himage", &["moon", "ps", "-ax"]);
    assert!(!ps.contains("routed"), "{ps}");
    lab.ok("imunes", &["-b", "-e", "s0"]);
    lab.assert_clean();
}

#[test]
fn rip_reroutes_around_a_broken_link() {
    if !cfg!(feature = "vimage") {
        return;
    }
    if !bindir().join("routed").exists() {
        return;
    }
    let lab = Lab::new("imunes-reroute");
    lab.ok("imunes", &["-b", "-e", "r0", &data("RIP.imn")]);
    // host5 (behind router2) to host6 (behind router3): one slow link,
    // 2.5 ms each way.
    let o = lab.eventually(&["host5", "ping", "-c", "1", "10.0.8.2"], 40);
    assert!(rtt(&o) >= 5.0, "{o}");
    lab.eventually(&["host5", "ping", "-c", "1", "10.0.9.1"], 40);
    lab.eventually(&["pc7", "ping", "-c", "1", "10.0.8.2"], 40);
    // Break router2-router3 as the tutorial does (every frame lost): once
    // RIP's (lab) timeout has passed, the way goes through router1 or
    // router4, two slow links.
    lab.ok("vlink", &["-BER", "1", "router2:router3"]);
    let t0 = Instant::now();
    loop {
        let (c, o, _) = lab.run(
            "himage",
            &["host5", "ping", "-c", "1", "-t", "2", "10.0.8.2"],
        );
        if c == 0 && rtt(&o) >= 10.0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no reroute: {o}");
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.ok("vlink", &["-BER", "0", "router2:router3"]);
    lab.ok("imunes", &["-b", "-e", "r0"]);
    lab.assert_clean();
}

#[test]
fn demo1_reroutes_both_families() {
    if !cfg!(feature = "vimage") || !bindir().join("routed").exists() {
        return;
    }
    let lab = Lab::new("imunes-demo1");
    lab.ok("imunes", &["-b", "-e", "e0", &data("demo1.imn")]);
    let l = lab.ok("vimage", &["-l"]);
    for v in ["e0_n0", "e0_n1", "e0_n2", "e0_n4", "e0_n5"] {
        assert!(l.contains(&format!("\"{v}\":")), "{v}: {l}");
    }
    let n = lab.ok("ngctl", &["list"]);
    for p in [
        "e0_n3", "e0_n0-n3", "e0_n4-n3", "e0_n0-n1", "e0_n0-n2", "e0_n1-n2", "e0_n2-n5",
    ] {
        assert!(n.contains(&format!("Name: {p} ")), "{p}: {n}");
    }
    // Over the slow router1-router3 link: 10 ms each way.
    let o = lab.eventually(&["pc1", "ping", "-c", "1", "10.0.3.20"], 40);
    assert!(rtt(&o) >= 20.0, "{o}");
    let o = lab.eventually(&["pc1", "ping6", "-c", "1", "fc00:3::20"], 40);
    assert!(rtt(&o) >= 20.0, "{o}");
    // Broken: RIP and RIPng time the routes out and go through router2
    // (router1's eth2): at least two 1 ms links each way.
    lab.ok("vlink", &["-BER", "1", "router1:router3"]);
    for (tool, dst, net, fam) in [
        ("ping", "10.0.3.20", "10.0.3.0/24", "inet"),
        ("ping6", "fc00:3::20", "fc00:3::/64", "inet6"),
    ] {
        let t0 = Instant::now();
        loop {
            let (c, o, _) = lab.run("himage", &["pc1", tool, "-c", "1", dst]);
            if c == 0 {
                assert!(rtt(&o) >= 4.0, "{o}");
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no reroute: {o}");
            std::thread::sleep(Duration::from_millis(500));
        }
        let rt = lab.ok("himage", &["router1", "netstat", "-rnf", fam]);
        assert!(
            rt.lines()
                .any(|l| l.starts_with(net) && l.split_whitespace().any(|w| w == "eth2")),
            "{rt}"
        );
    }
    lab.ok("imunes", &["-b", "-e", "e0"]);
    lab.assert_clean();
}

/// An experiment's files outlive a kernel restarted on the same socket:
/// the next `imunes -b -e ID` reuses the id, and tearing the old one down
/// never touches the new kernel's nodes (the node ids it recorded may be
/// another's by then).
#[test]
fn a_restarted_kernel_leaves_only_stale_files() {
    if !cfg!(feature = "vimage") {
        return;
    }
    let run = std::env::temp_dir().join(format!("vk-imn-stale-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    let imunes = |vk: &Vk, args: &[&str]| {
        let out = vk
            .cmd("imunes")
            .env("IMUNES_RUNDIR", &run)
            .args(args)
            .output()
            .expect("imunes");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let vk = Vk::boot("imn-stale");
    imunes(&vk, &["-b", "-e", "e0", &data("p-s-p.imn")]);
    vk.halt();
    // The same socket, another kernel, with eifaces of its own user.
    let vk = Vk::boot("imn-stale");
    for _ in 0..3 {
        vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    }
    let eifaces = |vk: &Vk| {
        vk.ok("ngctl", &["list"])
            .lines()
            .filter(|l| l.contains("Type: eiface"))
            .count()
    };
    let o = imunes(&vk, &["-b", "-e", "e0", &data("p-s-p.imn")]);
    assert!(o.starts_with("Using experiment ID 'e0'.\n"), "{o}");
    assert_eq!(eifaces(&vk), 5);
    imunes(&vk, &["-b", "-e", "e0"]);
    assert_eq!(eifaces(&vk), 3);
    // Stale again, torn down from the new kernel: the user's nodes stay.
    imunes(&vk, &["-b", "-e", "e0", &data("p-s-p.imn")]);
    vk.halt();
    let vk = Vk::boot("imn-stale");
    for _ in 0..3 {
        vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    }
    let o = imunes(&vk, &["-b", "-e", "e0"]);
    assert!(o.contains("Terminated experiment ID = e0"), "{o}");
    assert_eq!(eifaces(&vk), 3);
    vk.halt();
    let _ = std::fs::remove_dir_all(&run);
}
