//! Limits on what a vimage may hold (issue 12), with the real tools: sockets
//! (`kern.ipc.maxsockets`, `security.vimage.maxsockets`: `ENOBUFS`), netgraph
//! nodes (`net.graph.maxnodes`, `security.vimage.maxngnodes`: `ENOMEM`) and
//! interfaces (`net.link.maxifnets`, `security.vimage.maxifnets`: `ENOSPC`).
//! A limit reached inside one vimage fails there with the tool's err(3)
//! message and leaves the others alone; raising it from default lets the
//! operation through; a tenant cannot change any of them (`EPERM`).
//!
//! The kernel-wide caps are tested in the default vimage, so with and without
//! `options VIMAGE`.

mod common;
use common::*;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A process holding one socket (`nc -l PORT`) until the kernel halts.
fn hold_socket(vk: &Vk, prefix: &[&str], port: &str) -> Child {
    let (tool, rest) = match prefix.split_first() {
        Some((t, r)) => (*t, r.to_vec()),
        None => ("nc", Vec::new()),
    };
    let mut args = rest;
    if !prefix.is_empty() {
        args.push("nc");
    }
    args.extend(["-l", port]);
    vk.cmd(tool)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nc")
}

/// Run `tool args` until its output satisfies `ok` (at most 10 s); that output.
fn until(vk: &Vk, t: &str, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let o = vk.ok(t, args);
        if ok(&o) {
            return o;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{t} {args:?} never matched:\n{o}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Halt, then let the holders go: they end with the kernel.
fn halt_and_reap(vk: Vk, holders: Vec<Child>) {
    vk.halt();
    for mut c in holders {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// The integer a sysctl reads.
fn sysctl_int(vk: &Vk, name: &str) -> i64 {
    let o = vk.ok("sysctl", &["-n", name]);
    o.trim().parse().unwrap_or_else(|_| panic!("{name}: {o:?}"))
}

#[test]
fn kern_ipc_maxsockets_bounds_the_kernel() {
    let vk = Vk::boot("lmaxsock");
    assert_eq!(
        vk.ok("sysctl", &["kern.ipc.maxsockets"]),
        "kern.ipc.maxsockets: 65536\n"
    );
    assert_eq!(sysctl_int(&vk, "kern.ipc.numopensockets"), 0);
    let h = hold_socket(&vk, &[], "5000");
    until(&vk, "sysctl", &["kern.ipc.numopensockets"], |o| {
        o == "kern.ipc.numopensockets: 1\n"
    });
    assert_eq!(
        vk.ok("sysctl", &["kern.ipc.maxsockets=1"]),
        "kern.ipc.maxsockets: 65536 -> 1\n"
    );
    vk.fails(
        "ifconfig",
        &["lo0"],
        "ifconfig: socket: No buffer space available",
    );
    vk.fails(
        "nc",
        &["-u", "127.0.0.1", "9"],
        "nc: socket: No buffer space available",
    );
    vk.fails(
        "sysctl",
        &["kern.ipc.numopensockets=0"],
        "sysctl: oid 'kern.ipc.numopensockets' is read only",
    );
    vk.fails(
        "sysctl",
        &["kern.ipc.maxsockets=0"],
        "sysctl: kern.ipc.maxsockets=0: Invalid argument",
    );
    vk.ok("sysctl", &["kern.ipc.maxsockets=2"]);
    assert!(vk.ok("ifconfig", &["lo0"]).starts_with("lo0: "));
    assert_eq!(sysctl_int(&vk, "kern.ipc.numopensockets"), 1);
    halt_and_reap(vk, vec![h]);
}

#[test]
fn net_graph_maxnodes_bounds_the_kernel() {
    let vk = Vk::boot("lmaxnodes");
    assert_eq!(
        vk.ok("sysctl", &["net.graph.maxnodes"]),
        "net.graph.maxnodes: 65536\n"
    );
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    let n = sysctl_int(&vk, "net.graph.numnodes");
    assert_eq!(n, 1, "the eiface stays, ngctl's socket node went");
    // Room for ngctl's socket node, not for what it makes.
    vk.ok("sysctl", &[&format!("net.graph.maxnodes={}", n + 1)]);
    vk.fails(
        "ngctl",
        &["mkpeer", "eiface", "ether", "ether"],
        "ngctl: send msg: Cannot allocate memory",
    );
    assert!(vk
        .ok("ngctl", &["list"])
        .contains("There are 2 total nodes"));
    vk.ok("sysctl", &[&format!("net.graph.maxnodes={n}")]);
    vk.fails(
        "ngctl",
        &["list"],
        "ngctl: can't create node: Cannot allocate memory",
    );
    vk.fails(
        "sysctl",
        &["net.graph.numnodes=0"],
        "sysctl: oid 'net.graph.numnodes' is read only",
    );
    vk.ok("sysctl", &["net.graph.maxnodes=65536"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    assert_eq!(sysctl_int(&vk, "net.graph.numnodes"), 2);
    vk.ok("ngctl", &["shutdown", "ngeth0:"]);
    vk.ok("ngctl", &["shutdown", "ngeth1:"]);
    assert_eq!(sysctl_int(&vk, "net.graph.numnodes"), 0);
    vk.halt();
}

#[test]
fn net_link_maxifnets_bounds_the_kernel() {
    let vk = Vk::boot("lmaxifs");
    vk.ok("kldload", &["if_edsc"]);
    assert_eq!(
        vk.ok("sysctl", &["net.link.maxifnets"]),
        "net.link.maxifnets: 65536\n"
    );
    assert_eq!(sysctl_int(&vk, "net.link.numifnets"), 1, "lo0");
    assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc0\n");
    vk.ok("sysctl", &["net.link.maxifnets=2"]);
    vk.fails(
        "ifconfig",
        &["edsc", "create"],
        "ifconfig: SIOCIFCREATE2: No space left on device",
    );
    vk.fails(
        "ngctl",
        &["mkpeer", "eiface", "ether", "ether"],
        "ngctl: send msg: No space left on device",
    );
    vk.fails(
        "sysctl",
        &["net.link.numifnets=0"],
        "sysctl: oid 'net.link.numifnets' is read only",
    );
    vk.ok("sysctl", &["net.link.maxifnets=3"]);
    assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc1\n");
    vk.ok("ifconfig", &["edsc0", "destroy"]);
    assert_eq!(sysctl_int(&vk, "net.link.numifnets"), 2);
    vk.halt();
}

#[cfg(feature = "vimage")]
mod with_vimage {
    use super::*;

    /// The `Sockets (current/max)` line of `vimage -l NAME`.
    fn sockets_line(vk: &Vk, name: &str) -> String {
        vk.ok("vimage", &["-l", name])
            .lines()
            .find(|l| l.contains("Sockets"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// A tenant cannot change any of the limits, nor read-only counts.
    #[test]
    fn a_tenant_cannot_change_the_limits() {
        let vk = Vk::boot("lperm");
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["n1", "vimage", "-c", "c"]);
        for (name, v) in [
            ("security.vimage.maxsockets", "0"),
            ("security.vimage.maxngnodes", "4096"),
            ("security.vimage.maxifnets", "1024"),
            ("kern.ipc.maxsockets", "65536"),
            ("net.graph.maxnodes", "65536"),
            ("net.link.maxifnets", "65536"),
        ] {
            // Readable everywhere, as a jail reads the host's limits.
            assert_eq!(
                vk.ok("vimage", &["n1", "sysctl", name]),
                format!("{name}: {v}\n")
            );
            for who in ["n1", "n1.c"] {
                vk.fails(
                    "vimage",
                    &[who, "sysctl", &format!("{name}=5")],
                    &format!("sysctl: {name}=5: Operation not permitted"),
                );
            }
            assert_eq!(vk.ok("sysctl", &[name]), format!("{name}: {v}\n"));
        }
        vk.halt();
    }

    #[test]
    fn sockets_per_vimage() {
        let vk = Vk::boot("lsockvi");
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["-c", "n2"]);
        // No limit set: the tutorial's line, byte for byte.
        assert_eq!(sockets_line(&vk, "n1"), "Sockets (current/max): 0/0");
        assert_eq!(
            vk.ok("sysctl", &["security.vimage.maxsockets=1"]),
            "security.vimage.maxsockets: 0 -> 1\n"
        );
        // The limit in force: n1's and n2's, none of default's own.
        assert_eq!(sockets_line(&vk, "n1"), "Sockets (current/max): 0/1");
        assert_eq!(sockets_line(&vk, "."), "Sockets (current/max): 1/0");
        let h = hold_socket(&vk, &["vimage", "n1"], "5000");
        until(&vk, "vimage", &["-l", "n1"], |o| {
            o.contains("Sockets (current/max): 1/1")
        });
        vk.fails(
            "vimage",
            &["n1", "ifconfig", "lo0"],
            "ifconfig: socket: No buffer space available",
        );
        vk.fails(
            "vimage",
            &["n1", "nc", "-u", "127.0.0.1", "9"],
            "nc: socket: No buffer space available",
        );
        // Inside, the limit shows too.
        assert!(vk
            .ok("vimage", &["n1", "sysctl", "security.vimage.maxsockets"])
            .contains(": 1"));
        // Others are unaffected.
        assert!(vk
            .ok("vimage", &["n2", "ifconfig", "lo0"])
            .starts_with("lo0:"));
        assert!(vk.ok("ifconfig", &["lo0"]).starts_with("lo0:"));
        // A child of n1 has an allowance of its own.
        vk.ok("vimage", &["-c", "n1.c"]);
        assert!(vk
            .ok("vimage", &["n1.c", "ifconfig", "lo0"])
            .starts_with("lo0:"));
        // Raised from default, the operation goes through.
        vk.ok("sysctl", &["security.vimage.maxsockets=2"]);
        assert!(vk
            .ok("vimage", &["n1", "ifconfig", "lo0"])
            .starts_with("lo0:"));
        assert_eq!(sockets_line(&vk, "n1"), "Sockets (current/max): 1/2");
        vk.ok("sysctl", &["security.vimage.maxsockets=0"]);
        assert_eq!(sockets_line(&vk, "n1"), "Sockets (current/max): 1/0");
        halt_and_reap(vk, vec![h]);
    }

    /// A connection the limit leaves no room for never reaches accept: it is
    /// reset, as FreeBSD's sonewconn drops it when the socket zone is full,
    /// and the listener goes on.
    #[test]
    fn a_full_vimage_drops_incoming_connections() {
        let vk = Vk::boot("lsockacc");
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["n1", "ifconfig", "lo0", "127.0.0.1/8"]);
        vk.ok("sysctl", &["security.vimage.maxsockets=2"]);
        let h = hold_socket(&vk, &["vimage", "n1"], "5000");
        until(&vk, "vimage", &["-l", "n1"], |o| {
            o.contains("Sockets (current/max): 1/2")
        });
        // The client is n1's second socket; what accept would make, a third.
        // Reset, it ends at once rather than after its 20 s of idleness.
        let t0 = Instant::now();
        let (_, out, _) = vk.run("vimage", &["n1", "nc", "-w", "20", "127.0.0.1", "5000"]);
        assert_eq!(out, "");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        until(&vk, "vimage", &["-l", "n1"], |o| {
            o.contains("Sockets (current/max): 1/2")
        });
        let o = vk.ok("vimage", &["n1", "netstat", "-an"]);
        assert!(o.contains("LISTEN") && !o.contains("ESTABLISHED"), "{o}");
        halt_and_reap(vk, vec![h]);
    }

    #[test]
    fn netgraph_nodes_per_vimage() {
        let vk = Vk::boot("lnodesvi");
        vk.ok("kldload", &["ng_eiface"]);
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["-c", "n2"]);
        assert_eq!(
            vk.ok("sysctl", &["security.vimage.maxngnodes=3"]),
            "security.vimage.maxngnodes: 4096 -> 3\n"
        );
        let mk = ["n1", "ngctl", "mkpeer", "eiface", "ether", "ether"];
        // Each ngctl has a socket node while it runs; the eifaces stay.
        vk.ok("vimage", &mk);
        vk.ok("vimage", &mk);
        vk.fails("vimage", &mk, "ngctl: send msg: Cannot allocate memory");
        assert!(vk
            .ok("vimage", &["n1", "ngctl", "list"])
            .contains("There are 3 total nodes"));
        // n2 has an allowance of its own; default is bounded by nothing but
        // net.graph.maxnodes.
        for _ in 0..2 {
            vk.ok(
                "vimage",
                &["n2", "ngctl", "mkpeer", "eiface", "ether", "ether"],
            );
        }
        for _ in 0..4 {
            vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
        }
        // Raised from default, n1 may make more.
        vk.ok("sysctl", &["security.vimage.maxngnodes=4"]);
        vk.ok("vimage", &mk);
        assert!(vk
            .ok("vimage", &["n1", "ngctl", "list"])
            .contains("There are 4 total nodes"));
        // Kernel-wide: n1's 3, n2's 2, default's 4.
        assert_eq!(sysctl_int(&vk, "net.graph.numnodes"), 9);
        vk.fails("vimage", &mk, "ngctl: send msg: Cannot allocate memory");
        // A node that goes makes room.
        vk.ok("vimage", &["n1", "ngctl", "shutdown", "ngeth0:"]);
        vk.ok("vimage", &mk);
        // Lowered below what n1 has: nothing goes, nothing new comes, not
        // even ngctl's own socket node.
        vk.ok("sysctl", &["security.vimage.maxngnodes=2"]);
        vk.fails(
            "vimage",
            &["n1", "ngctl", "list"],
            "ngctl: can't create node: Cannot allocate memory",
        );
        assert_eq!(sysctl_int(&vk, "net.graph.numnodes"), 9);
        assert!(vk
            .ok("ngctl", &["list"])
            .contains("There are 5 total nodes"));
        vk.halt();
    }

    #[test]
    fn interfaces_per_vimage() {
        let vk = Vk::boot("lifsvi");
        vk.ok("kldload", &["if_edsc"]);
        vk.ok("kldload", &["ng_eiface"]);
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["-c", "n2"]);
        vk.ok("vimage", &["-c", "n1.c"]);
        // lo0 counts: room for one more.
        assert_eq!(
            vk.ok("sysctl", &["security.vimage.maxifnets=2"]),
            "security.vimage.maxifnets: 1024 -> 2\n"
        );
        assert_eq!(
            vk.ok("vimage", &["n1", "ifconfig", "edsc", "create"]),
            "edsc0\n"
        );
        vk.fails(
            "vimage",
            &["n1", "ifconfig", "edsc", "create"],
            "ifconfig: SIOCIFCREATE2: No space left on device",
        );
        vk.fails(
            "vimage",
            &["n1", "ngctl", "mkpeer", "eiface", "ether", "ether"],
            "ngctl: send msg: No space left on device",
        );
        // Moved in: refused, and the interface stays where it was.
        assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc0\n");
        vk.fails(
            "vimage",
            &["-i", "n1", "edsc0"],
            "vimage: edsc0: No space left on device",
        );
        assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 edsc0\n");
        assert!(vk
            .ok("vimage", &["-l", "n1"])
            .contains("2 network interfaces"));
        // n2 and default are unaffected.
        assert_eq!(vk.ok("vimage", &["-i", "n2", "edsc0"]), "eth0@n2\n");
        for _ in 0..3 {
            vk.ok("ifconfig", &["edsc", "create"]);
        }
        // Raised from default, n1 may have more.
        vk.ok("sysctl", &["security.vimage.maxifnets=3"]);
        assert_eq!(
            vk.ok(
                "vimage",
                &["n1", "ngctl", "mkpeer", "eiface", "ether", "ether"]
            ),
            ""
        );
        // What comes back is not new: a child returns an interface to a full
        // n1 (its parent), and a dying child returns all it was given.
        assert_eq!(
            vk.ok("vimage", &["n1", "vimage", "-i", "c", "edsc0"]),
            "eth0@c\n"
        );
        vk.ok(
            "vimage",
            &["n1", "ngctl", "mkpeer", "eiface", "ether", "ether"],
        );
        assert!(vk
            .ok("vimage", &["-l", "n1"])
            .contains("3 network interfaces"));
        assert_eq!(
            vk.ok("vimage", &["n1.c", "vimage", "-i", "-", "eth0"]),
            "edsc0@n1\n"
        );
        assert!(vk
            .ok("vimage", &["-l", "n1"])
            .contains("4 network interfaces"));
        vk.fails(
            "vimage",
            &["n1", "ifconfig", "edsc", "create"],
            "ifconfig: SIOCIFCREATE2: No space left on device",
        );
        assert_eq!(
            vk.ok("vimage", &["n1", "vimage", "-i", "c", "edsc0"]),
            "eth0@c\n"
        );
        vk.ok("vimage", &["n1", "vimage", "-d", "c"]);
        assert_eq!(
            vk.ok("vimage", &["n1", "ifconfig", "-l"]),
            "lo0 ngeth1 ngeth0 edsc0\n"
        );
        vk.halt();
    }
}
