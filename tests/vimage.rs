//! vimage(8) scenarios against a booted kernel, typed as the tutorial types them.

mod common;
use common::*;

#[test]
fn boot_log_and_clean_halt() {
    let vk = Vk::boot("halt");
    let out = vk.ok("vimage", &[]);
    assert_eq!(out, "default\n");
    let log = vk.halt();
    assert!(log.contains("Copyright"), "{log}");
    let ident = if cfg!(feature = "vimage") {
        "VIMAGE"
    } else {
        "GENERIC"
    };
    assert!(log.contains(&format!("kernel ident: {ident}")), "{log}");
    assert!(log.contains("vnet: module net (id 0) registered"), "{log}");
    assert!(log.contains("The operating system has halted."), "{log}");
}

#[test]
fn sigterm_halts_cleanly() {
    let vk = Vk::boot("term");
    let out = std::process::Command::new("pkill")
        .args(["-TERM", "-f", &format!("vkernel -s {}", vk.sock.display())])
        .status();
    if out.is_err() {
        eprintln!("skipping: pkill not available");
        return;
    }
    let t0 = std::time::Instant::now();
    while vk.sock.exists() {
        assert!(t0.elapsed().as_secs() < 20, "socket not removed on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn unreachable_kernel_is_one_line() {
    let vk = Vk::boot("unreach");
    let sock = vk.sock.clone();
    drop(vk);
    let out = std::process::Command::new(bindir().join("vimage"))
        .arg("-l")
        .env("VIMAGE_SOCKET", &sock)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "vimage: cannot reach kernel at {}: No such file or directory\n",
            sock.display()
        )
    );
}

#[cfg(not(feature = "vimage"))]
#[test]
fn kernel_without_vimage_refuses() {
    let vk = Vk::boot("novi");
    vk.fails(
        "vimage",
        &["-c", "n1"],
        "vimage: kernel built without VIMAGE support",
    );
    assert_eq!(brief(&vk.ok("vimage", &["-l"])).lines().count(), 4);
    vk.ok("hostname", &["single"]);
    assert_eq!(vk.ok("hostname", &[]), "single\n");
    vk.halt();
}

#[cfg(feature = "vimage")]
mod with_vimage {
    use super::*;

    #[test]
    fn issue_walkthrough() {
        let vk = Vk::boot("walk");
        let l = vk.ok("vimage", &["-l"]);
        let first: Vec<&str> = l.lines().collect();
        assert_eq!(first[0], "\"default\":");
        assert!(first[1].ends_with(" processes, load averages: nan, nan, nan"));
        assert_eq!(
            first[2],
            "  CPU usage: (0.00% user, 0.00% nice, 0.00% sys, 0.00% intr)"
        );
        assert_eq!(
            first[3],
            "  CPU limits: min 0.00%, max 100.00%, weight 0, no intr limit"
        );
        assert_eq!(first[4], "  No proc limit");
        assert_eq!(first[5], "  Sockets (current/max): 1/0");
        assert_eq!(first[6], "  1 network interfaces");
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["-c", "n2"]);
        vk.ok("vimage", &["n1", "hostname", "n1"]);
        assert_eq!(vk.ok("vimage", &["n1", "hostname"]), "n1\n");
        // The default vimage is the machine: it is called as the host is.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        assert_eq!(vk.ok("hostname", &[]), host);
        assert_eq!(vk.ok("vimage", &["n1", "vimage"]), "n1\n");
        let l = brief(&vk.ok("vimage", &["-l"]));
        assert!(
            l.ends_with(
                "\"n2\":\n  0 processes, load averages: nan, nan, nan\n  Sockets (current/max): 0/0\n  1 network interfaces, parent vimage: \"default\"\n\"n1\":\n  0 processes, load averages: nan, nan, nan\n  Sockets (current/max): 0/0\n  1 network interfaces, parent vimage: \"default\"\n"
            ),
            "{l}"
        );
        vk.fails(
            "vimage",
            &["-i", "n1", "lo0"],
            "vimage: lo0: interface cannot be moved: Operation not supported by device",
        );
        vk.ok("vimage", &["-d", "n1"]);
        vk.ok("vimage", &["-d", "n2"]);
        assert_eq!(brief(&vk.ok("vimage", &["-l"])).lines().count(), 4);
        vk.halt();
    }

    #[test]
    fn exercise_2a_nested_listing() {
        let vk = Vk::boot("nest");
        vk.ok("vimage", &["-c", "n1"]);
        // Inside n1: create n3, list from there (n1's own block first, then n3);
        // the shell is n1's one process, as in the tutorial (the lister does
        // not count itself).
        let (c, o, e) = vk.run_stdin(
            "vimage",
            &["n1", "sh"],
            "vimage -c n3\nvimage n3 hostname n3\nvimage -l\n",
        );
        assert_eq!(c, 0, "{e}");
        let o = brief(&o);
        assert_eq!(
            o,
            "\"n1\":\n  1 processes, load averages: nan, nan, nan\n  Sockets (current/max): 1/0\n  1 network interfaces, parent vimage: \"default\"\n\"n3\":\n  0 processes, load averages: nan, nan, nan\n  Sockets (current/max): 0/0\n  1 network interfaces, parent vimage: \"n1\"\n"
        );
        // From the top, n3 is n1.n3.
        assert_eq!(vk.ok("vimage", &["n1.n3", "hostname"]), "n3\n");
        vk.fails("vimage", &["-d", "n1"], "vimage: n1: Device busy");
        vk.ok("vimage", &["-d", "n1.n3"]);
        vk.ok("vimage", &["-d", "n1"]);
        vk.halt();
    }

    #[test]
    fn interactive_shell_prompt_and_path() {
        let vk = Vk::boot("shell");
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["n1", "hostname", "n1"]);
        let mut c = vk.cmd("vimage");
        c.arg("n1").env("SHELL", "/bin/sh");
        let out = {
            use std::io::Write;
            let mut ch = c
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            ch.stdin
                .take()
                .unwrap()
                .write_all(b"hostname\ncommand -v hostname\necho PS1=$PS1\nexit 4\n")
                .unwrap();
            ch.wait_with_output().unwrap()
        };
        let so = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(4));
        assert!(so.starts_with("Switched to vimage n1\nn1\n"), "{so}");
        assert!(
            so.contains(&format!("{}/hostname", bindir().display())),
            "our tools come first on PATH: {so}"
        );
        assert!(so.contains("PS1=n1#"), "{so}");
        vk.halt();
    }

    #[test]
    fn daemons_cannot_escape() {
        let vk = Vk::boot("daemon");
        vk.ok("vimage", &["-c", "n1"]);
        // A double-forked, setsid daemon: the command returns at once.
        let pidf = std::env::temp_dir().join(format!("vkpid-daemon-{}", std::process::id()));
        let script = format!(
            "(setsid sh -c 'sleep 30 >/dev/null 2>&1 </dev/null & echo $! > {}' >/dev/null 2>&1 &) ; exit 0",
            pidf.display()
        );
        vk.ok("vimage", &["n1", "sh", "-c", &script]);
        let t0 = std::time::Instant::now();
        while !pidf.exists() {
            assert!(t0.elapsed().as_secs() < 10);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let l = brief(&vk.ok("vimage", &["-l", "n1"]));
        assert!(l.contains("  1 processes,"), "{l}");
        vk.fails("vimage", &["-d", "n1"], "vimage: n1: Device busy");
        // A clean environment does not help: the kernel decides.
        let me = bindir().join("vimage").display().to_string();
        let sock = format!("VIMAGE_SOCKET={}", vk.sock.display());
        assert_eq!(vk.ok("vimage", &["n1", "env", "-i", &sock, &me]), "n1\n");
        let pid = std::fs::read_to_string(&pidf).unwrap();
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        let _ = std::fs::remove_file(&pidf);
        let t0 = std::time::Instant::now();
        loop {
            let (c, _, _) = vk.run("vimage", &["-d", "n1"]);
            if c == 0 {
                break;
            }
            assert!(t0.elapsed().as_secs() < 10, "n1 stayed busy");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        vk.halt();
    }

    #[test]
    fn bad_input_messages() {
        let vk = Vk::boot("bad");
        vk.ok("vimage", &["-c", "n1"]);
        vk.fails("vimage", &["-c", "n1"], "vimage: n1: File exists");
        vk.fails("vimage", &["-c", "a/b"], "vimage: a/b: Invalid argument");
        vk.fails(
            "vimage",
            &["-c", "bad name"],
            "vimage: bad name: Invalid argument",
        );
        let long = "x".repeat(300);
        vk.fails(
            "vimage",
            &["-c", &long],
            &format!("vimage: {long}: File name too long"),
        );
        vk.fails("vimage", &["-d", "nx"], "vimage: nx: No such process");
        vk.fails("vimage", &["-d", "default"], "vimage: default: Device busy");
        vk.fails("vimage", &["nx", "true"], "vimage: nx: No such process");
        vk.fails(
            "vimage",
            &["-i", "nx", "lo0"],
            "vimage: nx: Device not configured",
        );
        vk.fails(
            "vimage",
            &["-i", "n1", "eth9"],
            "vimage: eth9: Device not configured",
        );
        // From inside n1: its parent and itself are out of reach.
        vk.fails(
            "vimage",
            &["n1", "vimage", "-d", "."],
            "vimage: .: Operation not permitted",
        );
        vk.fails(
            "vimage",
            &["n1", "vimage", "-i", ".", "lo0"],
            "vimage: lo0: Operation not permitted",
        );
        vk.fails(
            "vimage",
            &["n1", "vimage", "-d", "default"],
            "vimage: default: No such process",
        );
        let (c, _, e) = vk.run("vimage", &["-x"]);
        assert_eq!(c, 1);
        assert!(e.starts_with("usage: vimage"));
        // Malformed requests on the socket: EINVAL, and the kernel keeps running.
        {
            use std::io::{Read, Write};
            let mut s = std::os::unix::net::UnixStream::connect(&vk.sock).unwrap();
            for junk in [
                &[3u8, 0, 0, 0, 99, 0, 0][..],
                &[2, 0, 0, 0, 1, 0],
                &[0, 0, 0, 0],
            ] {
                s.write_all(junk).unwrap();
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let mut b = vec![0u8; u32::from_le_bytes(len) as usize];
                s.read_exact(&mut b).unwrap();
                let errno = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                assert_eq!(errno, 22, "EINVAL");
            }
            // An absurd length closes that connection only.
            s.write_all(&[0xff, 0xff, 0xff, 0x7f]).unwrap();
        }
        assert_eq!(brief(&vk.ok("vimage", &["-l", "n1"])).lines().count(), 4);
        vk.halt();
    }

    #[test]
    fn interfaces_move_between_vimages() {
        let vk = Vk::boot("ifmove");
        vk.ok("kldload", &["if_edsc"]);
        vk.fails(
            "kldload",
            &["if_edsc"],
            "kldload: can't load if_edsc: File exists",
        );
        vk.fails(
            "kldload",
            &["nonesuch"],
            "kldload: can't load nonesuch: No such file or directory",
        );
        assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc0\n");
        vk.ok("ifconfig", &["edsc1", "create"]);
        vk.ok("vimage", &["-c", "n1"]);
        vk.ok("vimage", &["-c", "n1.n3"]);
        assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc0"]), "eth0@n1\n");
        assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc1", "e1"]), "e1@n1\n");
        assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0\n");
        assert_eq!(vk.ok("vimage", &["n1", "ifconfig", "-l"]), "lo0 eth0 e1\n");
        assert_eq!(
            vk.ok("vimage", &["n1", "ifconfig", "eth0"]),
            "eth0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tether 02:ed:5c:00:00:00\n"
        );
        assert_eq!(
            vk.ok("vimage", &["n1", "vimage", "-i", "n3", "eth0"]),
            "eth0@n3\n"
        );
        let l = brief(&vk.ok("vimage", &["-l"]));
        assert!(l.contains("\"n1.n3\":\n  0 processes, load averages: nan, nan, nan\n  Sockets (current/max): 0/0\n  2 network interfaces, parent vimage: \"n1\"\n"), "{l}");
        vk.fails(
            "kldunload",
            &["if_edsc"],
            "kldunload: can't unload file: Device busy",
        );
        // Back with "-", then deleting n1 returns e1 as edsc1.
        assert_eq!(
            vk.ok("vimage", &["n1.n3", "vimage", "-i", "-", "eth0"]),
            "eth0@n1\n"
        );
        vk.ok("vimage", &["-d", "n1.n3"]);
        assert_eq!(
            vk.ok("vimage", &["n1", "vimage", "-i", "-", "eth0"]),
            "edsc0@default\n"
        );
        vk.ok("vimage", &["-d", "n1"]);
        assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 edsc0 edsc1\n");
        vk.ok("ifconfig", &["edsc0", "destroy"]);
        vk.ok("ifconfig", &["edsc1", "destroy"]);
        vk.ok("kldunload", &["if_edsc"]);
        vk.halt();
    }

    #[test]
    fn sysctl_is_virtualized() {
        let vk = Vk::boot("sysctl");
        vk.ok("vimage", &["-c", "n1"]);
        assert_eq!(
            vk.ok("vimage", &["n1", "sysctl", "net.inet.ip.forwarding=1"]),
            "net.inet.ip.forwarding: 0 -> 1\n"
        );
        assert_eq!(
            vk.ok("vimage", &["n1", "sysctl", "-n", "net.inet.ip.forwarding"]),
            "1\n"
        );
        assert_eq!(
            vk.ok("sysctl", &["net.inet.ip.forwarding"]),
            "net.inet.ip.forwarding: 0\n"
        );
        assert_eq!(
            vk.ok("vimage", &["n1", "kldsym", "V_ipforwarding"]),
            "V_ipforwarding: 1\n"
        );
        // 7.x's defaults.
        assert_eq!(
            vk.ok("sysctl", &["net.inet.tcp.mssdflt", "kern.ipc.somaxconn"]),
            "net.inet.tcp.mssdflt: 512\nkern.ipc.somaxconn: 128\n"
        );
        vk.fails(
            "sysctl",
            &["kern.ipc.somaxconn=0"],
            "sysctl: kern.ipc.somaxconn=0: Invalid argument",
        );
        // `V_if_addrhead`, the tutorial's example of a virtualized symbol:
        // n1's addresses, not default's.
        vk.ok("vimage", &["n1", "ifconfig", "lo0", "127.0.0.1/8"]);
        let a = vk.ok("vimage", &["n1", "kldsym", "if_addrhead"]);
        assert!(a.starts_with("if_addrhead: lo0:127.0.0.1/8"), "{a}");
        assert!(
            !vk.ok("kldsym", &["V_if_addrhead"])
                .contains("lo0:127.0.0.1/8 lo0:127.0.0.1/8"),
            "one lo0 address each"
        );
        vk.fails(
            "sysctl",
            &["kern.nonesuch"],
            "sysctl: unknown oid 'kern.nonesuch'",
        );
        vk.fails(
            "sysctl",
            &["kern.ostype=Linux"],
            "sysctl: oid 'kern.ostype' is read only",
        );
        vk.fails(
            "sysctl",
            &["net.inet.ip.ttl=abc"],
            "sysctl: invalid integer 'abc'",
        );
        vk.fails(
            "sysctl",
            &["net.inet.ip.ttl=999"],
            "sysctl: net.inet.ip.ttl=999: Invalid argument",
        );
        vk.fails(
            "vimage",
            &["n1", "kldload", "if_edsc"],
            "kldload: can't load if_edsc: Operation not permitted",
        );
        vk.fails(
            "vimage",
            &["n1", "halt"],
            "halt: reboot: Operation not permitted",
        );
        let all = vk.ok("sysctl", &["-a"]);
        assert!(all.contains("kern.ostype: FreeBSD\n"), "{all}");
        // A subtree lists its leaves, and only those.
        let ip = vk.ok("sysctl", &["net.inet.ip"]);
        assert!(ip.lines().all(|l| l.starts_with("net.inet.ip.")), "{ip}");
        for leaf in ["forwarding: 0", "redirect: 1", "ttl: 64"] {
            assert!(ip.contains(&format!("net.inet.ip.{leaf}\n")), "{ip}");
        }
        vk.halt();
    }
}

/// Processes on the host whose command line is exactly `argv`.
fn procs_running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

#[test]
fn a_halting_kernel_ends_the_processes_of_its_vimages() {
    // As a halting FreeBSD ends every process: SIGTERM, then SIGKILL for
    // those that ignore it, so nothing lives on without its network.
    let vk = Vk::boot("haltprocs");
    // Without options VIMAGE the command runs, supervised, in the only stack.
    let vi = if cfg!(feature = "vimage") {
        vk.ok("vimage", &["-c", "n1"]);
        "n1"
    } else {
        "."
    };
    // A unique argument marks our processes.
    let mark = format!("{}.25", 1000 + std::process::id() % 1000);
    let polite = vk
        .cmd("vimage")
        .args([vi, "sleep", &mark])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("vimage n1 sleep");
    let stubborn_sh = format!("trap '' TERM; sleep {mark}; true");
    let stubborn = vk
        .cmd("vimage")
        .args([vi, "sh", "-c", &stubborn_sh])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("vimage n1 sh");
    let t0 = std::time::Instant::now();
    while procs_running(&["sleep", &mark]).len() < 2 {
        assert!(t0.elapsed().as_secs() < 10, "the sleeps did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    vk.halt();
    let t0 = std::time::Instant::now();
    let mut left = procs_running(&["sleep", &mark]);
    while !left.is_empty() && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = procs_running(&["sleep", &mark]);
    }
    // (Leave nothing behind, even on failure.)
    for p in &left {
        // SAFETY: signalling a process of this test's own.
        unsafe {
            libc::kill(*p as i32, libc::SIGKILL);
        }
    }
    assert!(left.is_empty(), "processes of n1 outlived their kernel");
    for mut c in [polite, stubborn] {
        let st = c.wait().expect("vimage exits");
        assert!(!st.success(), "{st:?}");
    }
}

#[test]
fn a_tool_writing_into_a_closed_pipe_dies_quietly() {
    // `sysctl -a | head -1` when head has gone: the tool ends by SIGPIPE,
    // as a C program would, not with a panic message about a failed write.
    // Its stdout is a pipe whose reading end is already closed, so its
    // first write meets it.
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    let vk = Vk::boot("sigpipe");
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors from pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(rd);
    let o = vk
        .cmd("sysctl")
        .arg("-a")
        .stdout(std::process::Stdio::from(wr))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("sysctl -a");
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{:?}", o.status);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `vimage -d` hands the vimage's interfaces back to the parent clean: no
/// address, route or neighbour of the dead stack stays with them (as
/// `vimage -i` back already does), so the parent does not answer for it.
#[test]
fn a_deleted_vimage_returns_its_interfaces_without_addresses() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("vdclean");
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0"]), "eth0@n1\n");
    vk.ok("vimage", &["n1", "ifconfig", "eth0", "10.0.5.1/24"]);
    vk.ok("vimage", &["n1", "ifconfig", "eth0", "inet6", "a:5::1/64"]);
    let inside = vk.ok("vimage", &["n1", "ifconfig", "eth0"]);
    assert!(
        inside.contains("inet 10.0.5.1 ") && inside.contains("inet6 a:5::1 "),
        "{inside}"
    );
    vk.ok("vimage", &["-d", "n1"]);
    let back = vk.ok("ifconfig", &["ngeth0"]);
    assert!(!back.contains("inet"), "{back}");
    let routes = vk.ok("netstat", &["-rn"]);
    assert!(
        !routes.contains("10.0.5") && !routes.contains("a:5::"),
        "{routes}"
    );
    vk.halt();
}

/// A kill or hangup aimed at `vimage NAME cmd` reaches `cmd`, as if vimage(8)
/// had exec'd it, and the tool dies of the same signal; even killing the
/// tool with SIGKILL hangs the command up.
#[test]
fn killing_vimage_ends_the_command_it_runs() {
    use std::os::unix::process::ExitStatusExt;
    let vk = Vk::boot("killfront");
    let vi = if cfg!(feature = "vimage") {
        vk.ok("vimage", &["-c", "n1"]);
        "n1"
    } else {
        "."
    };
    for (i, sig) in [libc::SIGTERM, libc::SIGHUP, libc::SIGKILL]
        .into_iter()
        .enumerate()
    {
        let mark = format!("{}.{}", 2000 + std::process::id() % 1000, 31 + i);
        let mut front = vk
            .cmd("vimage")
            .args([vi, "sleep", &mark])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("vimage n1 sleep");
        let t0 = std::time::Instant::now();
        while procs_running(&["sleep", &mark]).is_empty() {
            assert!(t0.elapsed().as_secs() < 10, "the sleep did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: signalling a process of this test's own.
        unsafe {
            libc::kill(front.id() as i32, sig);
        }
        let st = front.wait().expect("vimage exits");
        assert_eq!(st.signal(), Some(sig), "{st:?}");
        let t0 = std::time::Instant::now();
        let mut left = procs_running(&["sleep", &mark]);
        while !left.is_empty() && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            left = procs_running(&["sleep", &mark]);
        }
        for p in &left {
            // SAFETY: as above.
            unsafe {
                libc::kill(*p as i32, libc::SIGKILL);
            }
        }
        assert!(left.is_empty(), "signal {sig}: the command outlived vimage");
    }
    vk.halt();
}
