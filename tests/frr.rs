//! Our RIP daemons against real ones: `routed` and `route6d` in a vimage
//! exchange routes with Debian's FRR (`zebra`, `ripd`, `ripngd`) running in
//! a Linux network namespace joined to the vimage through a host interface
//! (a veth end attached as `em0`).  Routes are learned both ways and over
//! both families; a network withdrawn on either side disappears on the
//! other.  Needs root, iproute2 and FRR (`apt-get install frr`; .ci/run
//! installs it); skips with a reason otherwise.

mod common;
use common::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FRR: &str = "/usr/lib/frr";

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (attaching host interfaces needs CAP_NET_ADMIN)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 `ip` not installed".into());
    }
    for d in ["zebra", "ripd", "ripngd"] {
        if !Path::new(FRR).join(d).exists() {
            return Some(format!("FRR's {d} not installed (apt-get install frr)"));
        }
    }
    if !cfg!(feature = "vimage") || !cfg!(feature = "inet6") {
        return Some("needs options VIMAGE and INET6".into());
    }
    None
}

/// FRR's daemons in namespace `ns`, their files in a directory of their
/// own (owned by the `frr` user, as the daemons drop to it); killed on
/// drop.
struct Frr {
    dir: std::path::PathBuf,
}

impl Frr {
    fn start(ns: &str, ifname: &str) -> Frr {
        let dir = std::env::temp_dir().join(format!("vkfrr{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("frr dir");
        // Lab timers: updates every 5 s, routes time out after 15 s.
        let conf = [
            ("zebra", "hostname linux\n".to_string()),
            (
                "ripd",
                format!(
                    "router rip\n version 2\n network {ifname}\n redistribute connected\n timers basic 5 15 10\n"
                ),
            ),
            (
                "ripngd",
                format!(
                    "router ripng\n network {ifname}\n redistribute connected\n timers basic 5 15 10\n"
                ),
            ),
        ];
        for (d, c) in &conf {
            std::fs::write(dir.join(format!("{d}.conf")), c).expect("conf");
        }
        let _ = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&dir)
            .status();
        let d = dir.display().to_string();
        for (daemon, _) in &conf {
            let out = Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(Path::new(FRR).join(daemon))
                .args(["-d", "-P", "0"])
                .args(["-f", &format!("{d}/{daemon}.conf")])
                .args(["-i", &format!("{d}/{daemon}.pid")])
                .args(["-z", &format!("{d}/zserv.api")])
                .args(["--vty_socket", &d])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("start frr");
            assert!(out.success(), "{daemon} did not start");
            // zebra's socket before the others connect.
            std::thread::sleep(Duration::from_millis(300));
        }
        Frr { dir }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for d in ["ripngd", "ripd", "zebra"] {
            if let Ok(p) = std::fs::read_to_string(self.dir.join(format!("{d}.pid"))) {
                if let Ok(pid) = p.trim().parse::<i32>() {
                    // SAFETY: kill has no memory effects.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ip [-6] -n NS route`.
fn linux_routes(ns: &str, v6: bool) -> String {
    let fam = if v6 { "-6" } else { "-4" };
    let out = Command::new("ip")
        .args([fam, "-n", ns, "route"])
        .output()
        .expect("ip route");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait up to `secs` for `f` to hold; whether it did.
fn until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    f()
}

/// `vimage n1 DAEMON -d -P timescale=20`, in the foreground to signal.
fn daemon(vk: &Vk, d: &str, args: &[&str]) -> Child {
    vk.cmd("vimage")
        .args(["n1", &tool(d)])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon")
}

fn sigterm(c: &mut Child) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let _ = c.wait();
}

#[test]
fn routed_and_route6d_trade_routes_with_frr() {
    if let Some(r) = skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let ns = Netns::new("frr");
    // The Linux side: 10.77.0.2 on the link, and a network of its own on lo.
    ip(&["-n", &ns.ns, "addr", "add", "10.77.0.2/24", "dev", &ns.peer]);
    ip(&[
        "-n",
        &ns.ns,
        "addr",
        "add",
        "fd77::2/64",
        "dev",
        &ns.peer,
        "nodad",
    ]);
    ip(&["-n", &ns.ns, "addr", "add", "10.77.9.1/24", "dev", "lo"]);
    ip(&["-n", &ns.ns, "addr", "add", "fd77:9::1/64", "dev", "lo"]);
    let spec = format!("em0=packet:{}", ns.host);
    let vk = Vk::boot_with("frr", &["--attach", &spec]);
    // n1: eth0 (em0) on the link, eth1 (an eiface) a stub network.
    vk.ok("vimage", &["-c", "n1"]);
    assert_eq!(vk.ok("vimage", &["-i", "n1", "em0"]), "eth0@n1\n");
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0"]), "eth1@n1\n");
    for args in [
        &["eth0", "10.77.0.1/24", "up"][..],
        &["eth0", "inet6", "fd77::1/64"],
        &["eth1", "link", "40:0:0:0:0:1"],
        &["eth1", "10.77.1.1/24", "up"],
        &["eth1", "inet6", "fd77:1::1/64"],
    ] {
        vok(&vk, "n1", "ifconfig", args);
    }
    vok(
        &vk,
        "n1",
        "sysctl",
        &["net.inet.ip.forwarding=1", "net.inet6.ip6.forwarding=1"],
    );
    let _frr = Frr::start(&ns.ns, &ns.peer);
    let mut routed = daemon(&vk, "routed", &["-s", "-d", "-P", "timescale=20"]);
    let mut route6d = daemon(&vk, "route6d", &["-d", "-P", "timescale=20"]);
    let ours = |v6: bool| {
        let f = if v6 { "inet6" } else { "inet" };
        vok(&vk, "n1", "netstat", &["-rnf", f])
    };
    // Learned both ways, both families.
    assert!(
        until(40, || linux_routes(&ns.ns, false)
            .contains("10.77.1.0/24 nhid")
            && linux_routes(&ns.ns, false).contains("via 10.77.0.1 dev")),
        "FRR never learned 10.77.1.0/24 from routed:\n{}",
        linux_routes(&ns.ns, false)
    );
    assert!(
        until(40, || linux_routes(&ns.ns, true).lines().any(|l| l
            .starts_with("fd77:1::/64")
            && l.contains("proto ripng"))),
        "FRR never learned fd77:1::/64 from route6d:\n{}",
        linux_routes(&ns.ns, true)
    );
    let learned4 = |s: &str| {
        s.lines()
            .any(|l| l.starts_with("10.77.9.0/24") && l.contains("10.77.0.2") && l.contains("UG1"))
    };
    let learned6 = |s: &str| {
        s.lines()
            .any(|l| l.starts_with("fd77:9::/64") && l.contains("%eth0") && l.contains("UG1"))
    };
    assert!(until(40, || learned4(&ours(false))), "{}", ours(false));
    assert!(until(40, || learned6(&ours(true))), "{}", ours(true));
    // Traffic follows the learned routes: from the Linux side to n1's stub.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.ns,
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.77.1.1",
        ])
        .output();
    if let Ok(o) = out {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    // Linux withdraws its network: FRR's triggered update takes it off n1.
    ip(&["-n", &ns.ns, "addr", "del", "10.77.9.1/24", "dev", "lo"]);
    ip(&["-n", &ns.ns, "addr", "del", "fd77:9::1/64", "dev", "lo"]);
    assert!(until(20, || !learned4(&ours(false))), "{}", ours(false));
    assert!(until(20, || !learned6(&ours(true))), "{}", ours(true));
    // Our daemons stop: their routes leave FRR's side.
    sigterm(&mut routed);
    sigterm(&mut route6d);
    assert!(
        until(25, || !linux_routes(&ns.ns, false).contains("10.77.1.0/24")),
        "{}",
        linux_routes(&ns.ns, false)
    );
    assert!(
        until(25, || !linux_routes(&ns.ns, true).contains("fd77:1::/64")),
        "{}",
        linux_routes(&ns.ns, true)
    );
    vk.halt();
}
