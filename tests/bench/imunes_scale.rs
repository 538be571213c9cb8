//! IMUNES-style labs at scale (issue 15 item 7): a 100-node and a
//! 1,000-node topology built with `imunes -b` on a release vkernel, RIP
//! converging across it, torn down with `imunes -b -e`; beside it, as
//! root, the same number of Linux network namespaces joined by veth pairs,
//! made and removed in the same run.
//!
//! The topology is what a teaching lab looks like: R routers in a ring
//! (each running routed with lab timers, `-P timescale=10`: updates every
//! 3 s), each with K LAN switches (ng_bridge) and their share of the PCs
//! (default route to their router).  N = 100: 10 routers, a LAN each, 8
//! PCs a LAN; N = 1,000: 25 routers, two LANs each, 18 or 19 PCs a LAN (a
//! ring of 25 is 12 hops across, inside RIP's 15; a bridge takes 32 links).
//! Converged: every router has a route to every ring link and LAN it is not
//! on (R(1 + K) − 2 − K routes `UG1`).
//!
//! Printed: build seconds, convergence seconds, vkernel's RSS after the
//! build and after teardown, teardown seconds, and the Linux figures.
//! `IMUNES_SCALE_N=100,1000` picks the sizes.

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shape for `n` nodes: (routers, LANs a router).  A ring of at most
/// 25 routers keeps every LAN within RIP's 15 hops; a LAN (an ng_bridge)
/// takes at most 31 PCs (FreeBSD 7's bridge has 32 links).
fn shape(n: usize) -> (usize, usize) {
    if n >= 500 {
        (25, 2)
    } else {
        ((n / 10).max(3), 1)
    }
}

/// The topology as a legacy .imn file: routers `n0…`, then switches, then
/// PCs spread over the switches in turn.
fn topology(n: usize) -> String {
    let (r, k_lans) = shape(n);
    let lans = r * k_lans;
    let pcs = n - r - lans;
    let mut f = String::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut mac = 0u32;
    let mut next_mac = || {
        mac += 1;
        format!(
            "42:00:aa:{:02x}:{:02x}:{:02x}",
            mac >> 16,
            (mac >> 8) & 0xff,
            mac & 0xff
        )
    };
    let router = |k: usize| format!("n{k}");
    // LAN `l` hangs off router `l / k_lans`.
    let switch = |l: usize| format!("n{}", r + l);
    let pc = |j: usize| format!("n{}", r + lans + j);
    // PC `j` is on LAN `j % lans`, host number `j / lans + 2`.
    for k in 0..r {
        let left = (k + r - 1) % r;
        let right = (k + 1) % r;
        let _ = write!(
            f,
            "node {} {{\n    type router\n    model quagga\n    network-config {{\n\thostname r{k}\n\t!\n",
            router(k)
        );
        // eth0: ring link k (to the right, .1), eth1: ring link left (.2),
        // eth2…: the LANs.
        let mut ifs = vec![
            ("eth0".to_string(), format!("10.200.{k}.1/24")),
            ("eth1".to_string(), format!("10.200.{left}.2/24")),
        ];
        for m in 0..k_lans {
            ifs.push((format!("eth{}", 2 + m), format!("10.{}.{k}.1/24", 1 + m)));
        }
        for (ifn, a) in &ifs {
            let _ = write!(
                f,
                "\tinterface {ifn}\n\t mac address {}\n\t ip address {a}\n\t!\n",
                next_mac()
            );
        }
        f.push_str(
            "\tinterface lo0\n\t type lo\n\t ip address 127.0.0.1/8\n\t!\n\trouter rip\n\t redistribute connected\n\t network 0.0.0.0/0\n\t!\n    }\n",
        );
        let _ = writeln!(f, "    interface-peer {{eth0 {}}}", router(right));
        let _ = writeln!(f, "    interface-peer {{eth1 {}}}", router(left));
        for m in 0..k_lans {
            let _ = writeln!(
                f,
                "    interface-peer {{eth{} {}}}",
                2 + m,
                switch(k * k_lans + m)
            );
            links.push((router(k), switch(k * k_lans + m)));
        }
        f.push_str("}\n\n");
        links.push((router(k), router(right)));
    }
    for l in 0..lans {
        let _ = write!(
            f,
            "node {} {{\n    type lanswitch\n    network-config {{\n\thostname s{l}\n\t!\n    }}\n    interface-peer {{e0 {}}}\n",
            switch(l),
            router(l / k_lans)
        );
        for (port, j) in (l..pcs).step_by(lans).enumerate() {
            let _ = writeln!(f, "    interface-peer {{e{} {}}}", port + 1, pc(j));
        }
        f.push_str("}\n\n");
    }
    for j in 0..pcs {
        let l = j % lans;
        let (k, m) = (l / k_lans, l % k_lans);
        let net = format!("10.{}.{k}", 1 + m);
        let _ = write!(
            f,
            "node {} {{\n    type pc\n    network-config {{\n\thostname p{j}\n\t!\n\tinterface eth0\n\t mac address {}\n\t ip address {net}.{}/24\n\t!\n\tinterface lo0\n\t type lo\n\t ip address 127.0.0.1/8\n\t!\n\tip route 0.0.0.0/0 {net}.1\n\t!\n    }}\n    interface-peer {{eth0 {}}}\n}}\n\n",
            pc(j),
            next_mac(),
            j / lans + 2,
            switch(l)
        );
        links.push((pc(j), switch(l)));
    }
    for (i, (a, b)) in links.iter().enumerate() {
        let _ = write!(
            f,
            "link l{i} {{\n    nodes {{{a} {b}}}\n    bandwidth 0\n}}\n\n"
        );
    }
    f
}

/// A release kernel and the experiments' run directory.
struct Vk {
    k: common::Vkernel,
    rundir: PathBuf,
}

impl Vk {
    fn boot(bin: &Path, tag: &str) -> Vk {
        Vk {
            k: common::Vkernel::boot(bin, &format!("imn-{tag}")),
            rundir: std::env::temp_dir().join(format!("vk-imn-run-{}", std::process::id())),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> String {
        self.k.run(
            tool,
            args,
            &[
                ("IMUNES_RUNDIR", self.rundir.as_os_str()),
                ("IMUNES_RIP_PARMS", "timescale=10".as_ref()),
            ],
        )
    }

    /// Learned routes of router `k` (`UG1` lines of `netstat -rnf inet`).
    fn learned(&self, k: usize) -> usize {
        let v = format!("b0_n{k}");
        let ns = self.k.bin.join("netstat");
        let ns = ns.to_string_lossy();
        self.run("vimage", &[&v, &ns, "-rnf", "inet"])
            .lines()
            .filter(|l| l.contains("UG1"))
            .count()
    }

    fn halt(self) {
        self.k.halt();
        let _ = std::fs::remove_dir_all(&self.rundir);
    }
}

/// One size on our side: (build s, converge s or None, RSS after build
/// KiB, teardown s, RSS after teardown KiB, RSS at boot KiB).
fn ours(bin: &Path, n: usize) -> (f64, Option<f64>, u64, f64, u64, u64) {
    let vk = Vk::boot(bin, &n.to_string());
    let boot = common::rss_kib(vk.k.pid());
    let file = std::env::temp_dir().join(format!("vk-imn-{n}-{}.imn", std::process::id()));
    std::fs::write(&file, topology(n)).expect("write imn");
    let t0 = Instant::now();
    vk.run("imunes", &["-b", "-e", "b0", &file.to_string_lossy()]);
    let build = t0.elapsed().as_secs_f64();
    let (r, k_lans) = shape(n);
    // Every ring link and LAN, less the router's own 2 + k_lans.
    let want = r * (1 + k_lans) - 2 - k_lans;
    let t0 = Instant::now();
    let mut converged = None;
    let mut pending: Vec<usize> = (0..r).collect();
    while t0.elapsed() < Duration::from_secs(180) {
        pending.retain(|&k| vk.learned(k) < want);
        if pending.is_empty() {
            converged = Some(t0.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let built = common::rss_kib(vk.k.pid());
    let t0 = Instant::now();
    vk.run("imunes", &["-b", "-e", "b0"]);
    let down = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(1500));
    let after = common::rss_kib(vk.k.pid());
    let _ = std::fs::remove_file(&file);
    vk.halt();
    (build, converged, built, down, after, boot)
}

/// Linux: `n` network namespaces, each joined to the next by a veth pair
/// (up), made with `ip -batch`, then removed: (make s, remove s), or why
/// not.
fn linux(n: usize) -> Result<(f64, f64), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let tag = format!("vkb{}", std::process::id() % 10_000);
    let batch = |script: &str| -> Result<(), String> {
        // The host's ip(8) whatever the caller's PATH says (std searches the
        // PATH given to the child).
        let mut c = Command::new("ip")
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ip: {e}"))?;
        use std::io::Write;
        c.stdin
            .take()
            .ok_or("ip: no stdin")?
            .write_all(script.as_bytes())
            .map_err(|e| e.to_string())?;
        let o = c.wait_with_output().map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    };
    let mut make = String::new();
    for i in 0..n {
        let _ = writeln!(make, "netns add {tag}n{i}");
    }
    for i in 1..n {
        let _ = writeln!(
            make,
            "link add {tag}a{i} netns {tag}n{} type veth peer name {tag}b{i} netns {tag}n{i}",
            i - 1
        );
    }
    let t0 = Instant::now();
    let r = batch(&make);
    let t_make = t0.elapsed().as_secs_f64();
    let mut del = String::new();
    for i in 0..n {
        let _ = writeln!(del, "netns del {tag}n{i}");
    }
    let t0 = Instant::now();
    let d = batch(&del);
    let t_del = t0.elapsed().as_secs_f64();
    r?;
    d?;
    Ok((t_make, t_del))
}

fn main() {
    let Some(bin) = common::release_bindir(&["vkernel", "imunes", "routed"]) else {
        println!("imunes_scale: release binaries missing (cargo build --release --workspace)");
        return;
    };
    let sizes: Vec<usize> = std::env::var("IMUNES_SCALE_N")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000]);
    println!(
        "IMUNES-style labs: R routers in a ring running routed (lab timers), a switch and PCs each"
    );
    println!();
    println!("| nodes | routers | build | RIP converged | vkernel RSS built (boot) | teardown | RSS after | Linux netns+veth: make | remove |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let (r, _) = shape(n);
        let (build, conv, built, down, after, boot) = ours(&bin, n);
        let conv = conv.map_or("no (180 s)".to_string(), |c| format!("{c:.1} s"));
        let lx = match linux(n) {
            Ok((m, d)) => (format!("{m:.2} s"), format!("{d:.2} s")),
            Err(e) => (format!("skipped: {}", e.trim()), String::new()),
        };
        println!(
            "| {n} | {r} | {build:.2} s | {conv} | {:.1} MiB ({:.1}) | {down:.2} s | {:.1} MiB | {} | {} |",
            built as f64 / 1024.0,
            boot as f64 / 1024.0,
            after as f64 / 1024.0,
            lx.0,
            lx.1
        );
    }
}
