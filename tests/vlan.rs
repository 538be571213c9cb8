//! 802.1Q vlans against a booted kernel: the tutorial's Exercise 3 inside one
//! kernel, typed as a user types it.  `iwi0` is an eiface (renamed) in
//! default whose wire is a hub; the far end of the wire is another eiface
//! carrying vlans 101 and 102 into vimages p1 and p2, the peers on each VLAN.
//! An ngctl hooked to the hub reads the wire, so the tags are seen there.
//!
//! Every tool runs from our build directory by absolute path, also inside
//! vimages; all traffic stays inside the private kernel.

mod common;
use common::*;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// An ngctl whose socket node is hooked to the hub `wire:` (hook `link9`):
/// every frame on the wire is queued on its socket, and printed when its
/// input ends.
fn wire_reader(vk: &Vk) -> Child {
    let mut ch = vk
        .cmd("ngctl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ngctl");
    ch.stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"connect . wire: mine link9\n")
        .expect("write");
    let t0 = Instant::now();
    while !vk.ok("ngctl", &["show", "wire:"]).contains("link9") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "reader never hooked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ch
}

/// The frames the reader printed (`Rec'd data packet on hook "mine":` and
/// a hex dump), as bytes.
fn frames_read(mut ch: Child) -> Vec<Vec<u8>> {
    // ngctl prints what its sockets hold before it reads each line: one more
    // (empty) line, then the end of its input.
    ch.stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"\n")
        .expect("write");
    let out = ch.wait_with_output().expect("ngctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for l in text.lines() {
        if l.starts_with("Rec'd data packet on hook \"mine\":") {
            frames.push(Vec::new());
        } else if let (Some(f), Some(hex)) = (frames.last_mut(), l.get(7..7 + 48)) {
            if l.as_bytes().get(4) == Some(&b':') {
                f.extend(
                    hex.split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16).expect("hex")),
                );
            }
        }
    }
    frames
}

/// Whether `f` is an IPv4 frame from `src` to `dst`, tagged with `tag`
/// (`None`: untagged).
fn ipv4(f: &[u8], tag: Option<u16>, src: [u8; 4], dst: [u8; 4]) -> bool {
    let ip = match tag {
        Some(t) => {
            if f.get(12..16) != Some(&[0x81, 0x00, (t >> 8) as u8, t as u8][..]) {
                return false;
            }
            18
        }
        None => 14,
    };
    f.get(ip - 2..ip) == Some(&[0x08, 0x00][..])
        && f.get(ip + 12..ip + 16) == Some(&src[..])
        && f.get(ip + 16..ip + 20) == Some(&dst[..])
}

#[test]
fn exercise3_vlans_carry_two_vimages_with_the_same_address_over_one_link() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("vlan-ex3");
    // The laptop's wifi: an eiface called iwi0, wired to a hub.
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "ngeth0:", "hub", "ether", "link0"]);
    vk.ok("ngctl", &["name", "ngeth0:ether", "wire"]);
    vk.ok("ifconfig", &["ngeth0", "name", "iwi0"]);
    vk.ok("ifconfig", &["iwi0", "link", "00:16:6f:37:f8:36"]);
    vk.ok("ifconfig", &["iwi0", "up"]);
    // The far end: a trunk with a host on each VLAN (p1, p2).
    vk.ok("ngctl", &["mkpeer", "wire:", "eiface", "link1", "ether"]);
    vk.ok("ifconfig", &["ngeth1", "up"]);

    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.fails(
        "ifconfig",
        &["iwi0.101", "create"],
        "ifconfig: SIOCIFCREATE2: Invalid argument",
    );
    assert_eq!(vk.ok("kldload", &["if_vlan"]), "");
    assert_eq!(vk.ok("ifconfig", &["iwi0.101", "create"]), "");
    assert_eq!(vk.ok("ifconfig", &["iwi0.102", "create"]), "");
    let ifc = vk.ok("ifconfig", &[]);
    for tag in ["101", "102"] {
        let block = format!(
            "iwi0.{tag}: flags=8842<BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1496\n\
             \tether 00:16:6f:37:f8:36\n\
             \tvlan: {tag} parent interface: iwi0\n"
        );
        assert!(ifc.contains(&block), "{ifc}");
    }
    assert!(
        ifc.starts_with("lo0: ") && ifc.contains("iwi0: flags=8843<UP,"),
        "{ifc}"
    );
    assert!(vk.ok("ifconfig", &["-C"]).contains("vlan"));
    assert_eq!(vk.ok("vimage", &["-i", "n1", "iwi0.101"]), "eth0@n1\n");
    assert_eq!(vk.ok("vimage", &["-i", "n2", "iwi0.102"]), "eth0@n2\n");
    // The parent stays; the vlans are gone from default.
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 iwi0 ngeth1\n");

    // The peers: the same address in p1 (VLAN 101) and p2 (VLAN 102), told
    // apart by their MACs; p2 has one more.
    vk.ok("ifconfig", &["ngeth1.101", "create"]);
    vk.ok("ifconfig", &["ngeth1.102", "create"]);
    for (p, tag, mac) in [
        ("p1", "101", "40:a:b:c:d:01"),
        ("p2", "102", "40:a:b:c:d:02"),
    ] {
        vk.ok("vimage", &["-c", p]);
        assert_eq!(
            vk.ok("vimage", &["-i", p, &format!("ngeth1.{tag}")]),
            format!("eth0@{p}\n")
        );
        vok(&vk, p, "ifconfig", &["eth0", "link", mac]);
        vok(&vk, p, "ifconfig", &["eth0", "10.0.1.102/24"]);
    }
    vok(&vk, "p2", "ifconfig", &["eth0", "10.0.1.202/32", "alias"]);

    // Exercise 3: identical IP address on all ifcs.
    vk.ok("ifconfig", &["iwi0", "10.0.1.24/24"]);
    for n in ["n1", "n2"] {
        vok(&vk, n, "ifconfig", &["eth0", "10.0.1.101/24"]);
    }
    for (n, tag) in [("n1", "101"), ("n2", "102")] {
        let out = vok(&vk, n, "ifconfig", &[]);
        assert!(
            out.starts_with(
                "lo0: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n\
                 eth0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1496\n\
                 \tether 00:16:6f:37:f8:36\n\
                 \tinet 10.0.1.101 netmask 0xffffff00 broadcast 10.0.1.255\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with(&format!("\tvlan: {tag} parent interface: iwi0\n")),
            "{out}"
        );
        // A vlan has no address of its own for IPv6 to use, nor has a fresh
        // vimage another interface: MD5 of the (empty) hostname, exactly
        // the tutorial's link-local in both.
        assert!(
            out.contains("\tinet6 fe80::d41d:8cd9:8f00:b204%eth0 prefixlen 64 ")
                && out.contains("scopeid 0x2 \n"),
            "{out}"
        );
    }

    let reader = wire_reader(&vk);
    // Default's untagged iwi0 has no 10.0.1.102 on its LAN.
    let (c, out, _) = vk.run("ping", &["-c", "1", "-W", "500", "10.0.1.102"]);
    assert_ne!(c, 0, "{out}");
    assert!(
        out.contains("1 packets transmitted, 0 packets received, 100.0% packet loss"),
        "{out}"
    );
    // Each vimage reaches the host on its own VLAN.
    for n in ["n1", "n2"] {
        let out = vok(&vk, n, "ping", &["-c", "2", "10.0.1.102"]);
        assert!(
            out.contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
            "{n}: {out}"
        );
    }
    let arp = |n: &str| vok(&vk, n, "arp", &["-an"]);
    assert!(
        arp("n1").contains("(10.0.1.102) at 40:0a:0b:0c:0d:01"),
        "{}",
        arp("n1")
    );
    assert!(
        arp("n2").contains("(10.0.1.102) at 40:0a:0b:0c:0d:02"),
        "{}",
        arp("n2")
    );
    // ... and only that one.
    vok(&vk, "n2", "ping", &["-c", "1", "10.0.1.202"]);
    let (c, out, _) = vrun(&vk, "n1", "ping", &["-c", "1", "-W", "500", "10.0.1.202"]);
    assert_ne!(c, 0, "{out}");
    // The peers see the vimages' shared MAC and address, each on its VLAN.
    for p in ["p1", "p2"] {
        assert!(
            arp(p).contains("(10.0.1.101) at 00:16:6f:37:f8:36"),
            "{}",
            arp(p)
        );
    }

    // On the wire: n1's and n2's traffic tagged 101 and 102, default's
    // untagged.
    let frames = frames_read(reader);
    let (n1, n2, p1, far) = (
        [10, 0, 1, 101],
        [10, 0, 1, 101],
        [10, 0, 1, 102],
        [10, 0, 1, 202],
    );
    let seen = |tag, s, d| frames.iter().any(|f| ipv4(f, tag, s, d));
    assert!(seen(Some(101), n1, p1), "{frames:02x?}");
    assert!(seen(Some(101), p1, n1), "{frames:02x?}");
    assert!(seen(Some(102), n2, p1), "{frames:02x?}");
    assert!(seen(Some(102), n2, far), "{frames:02x?}");
    // n1's try for 10.0.1.202 asks (ARP) on VLAN 101, where no one has it.
    let asks_101 = frames.iter().any(|f| {
        f.get(12..18) == Some(&[0x81, 0x00, 0x00, 101, 0x08, 0x06][..])
            && f.get(42..46) == Some(&far[..])
    });
    assert!(asks_101, "{frames:02x?}");
    assert!(!seen(None, n1, p1) && !seen(None, n1, far));
    let arp_untagged = frames.iter().any(|f| {
        f.get(12..14) == Some(&[0x08, 0x06][..]) && f.get(28..32) == Some(&[10, 0, 1, 24][..])
    });
    assert!(arp_untagged, "default asks for 10.0.1.102 untagged");

    // Unknown tags are dropped on the parent and counted: nothing on VLAN
    // 103 here, so the far end's vlan103 frames go nowhere.
    vk.ok("ifconfig", &["ngeth1.103", "create"]);
    vk.ok("ifconfig", &["ngeth1.103", "10.0.3.103/24"]);
    let drops = |vk: &Vk| -> u64 {
        let out = vk.ok("netstat", &["-id"]);
        let l = out
            .lines()
            .find(|l| l.starts_with("iwi0 ") && l.contains("<Link#"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        l.split_whitespace().last().unwrap().parse().unwrap()
    };
    let before = drops(&vk);
    let (c, _, _) = vk.run("ping", &["-c", "1", "-W", "300", "10.0.3.1"]);
    assert_ne!(c, 0);
    assert!(drops(&vk) > before, "unknown tags are counted");

    // A vimage with a hostname hashes that instead.
    vk.ok("vimage", &["-c", "n3"]);
    vok(&vk, "n3", "hostname", &["n3"]);
    vk.ok("ifconfig", &["iwi0.104", "create"]);
    assert_eq!(vk.ok("vimage", &["-i", "n3", "iwi0.104"]), "eth0@n3\n");
    vok(&vk, "n3", "ifconfig", &["eth0", "up"]);
    let out = vok(&vk, "n3", "ifconfig", &["eth0"]);
    assert!(
        out.contains("\tinet6 fe80::4443:aee1:83b2:79f7%eth0 prefixlen 64 "),
        "{out}"
    );

    // Departure: n1 goes, its vlan comes home, still on iwi0; then iwi0
    // goes, and its vlans stay, unconfigured, wherever they are.
    vk.ok("vimage", &["-d", "n1"]);
    assert!(vk
        .ok("ifconfig", &["iwi0.101"])
        .ends_with("\tvlan: 101 parent interface: iwi0\n"));
    vk.ok("ngctl", &["shutdown", "ngeth0:"]);
    assert_eq!(
        vk.ok("ifconfig", &["iwi0.101"]),
        "iwi0.101: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
         \tether 00:16:6f:37:f8:36\n\tvlan: 0 parent interface: <none>\n"
    );
    assert!(vok(&vk, "n2", "ifconfig", &["eth0"]).ends_with("\tvlan: 0 parent interface: <none>\n"));
    vk.halt();
}

#[test]
fn ifconfig_vlan_words_and_errors_are_freebsds() {
    let vk = Vk::boot("vlan-words");
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("ifconfig", &["edsc0", "create"]);
    vk.ok("ifconfig", &["edsc0", "name", "em0"]);
    vk.ok("kldload", &["if_vlan"]);
    // A name with the tag takes a unit too.
    vk.ok("ifconfig", &["em0.5", "create"]);
    assert_eq!(vk.ok("ifconfig", &["vlan", "create"]), "vlan1\n");
    assert_eq!(
        vk.ok("ifconfig", &["vlan1"]),
        "vlan1: flags=8002<BROADCAST,MULTICAST> metric 0 mtu 1500\n\
         \tether 00:00:00:00:00:00\n\tvlan: 0 parent interface: <none>\n"
    );
    vk.ok("ifconfig", &["vlan1", "vlan", "101", "vlandev", "em0"]);
    assert_eq!(
        vk.ok("ifconfig", &["vlan1"]),
        "vlan1: flags=8842<BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1496\n\
         \tether 02:ed:5c:00:00:00\n\tvlan: 101 parent interface: em0\n"
    );
    vk.ok("ifconfig", &["vlan1", "mtu", "1400"]);
    vk.fails(
        "ifconfig",
        &["vlan1", "vlan", "102", "vlandev", "em0"],
        "ifconfig: SIOCSETVLAN: Device busy",
    );
    vk.ok("ifconfig", &["vlan1", "-vlandev"]);
    assert!(vk
        .ok("ifconfig", &["vlan1"])
        .starts_with("vlan1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"));
    for (args, msg) in [
        (
            &["vlan1", "vlan", "5", "vlandev", "em0"][..],
            "ifconfig: SIOCSETVLAN: File exists",
        ),
        (
            &["vlan1", "vlan", "101"][..],
            "ifconfig: both vlan and vlandev must be specified",
        ),
        (
            &["vlan1", "vlandev", "em0"][..],
            "ifconfig: both vlan and vlandev must be specified",
        ),
        (
            &["vlan1", "vlan", "1o1", "vlandev", "em0"][..],
            "ifconfig: invalid value for vlan",
        ),
        (
            &["vlan1", "vlan", "70000", "vlandev", "em0"][..],
            "ifconfig: value for vlan out of range",
        ),
        (
            &["vlan1", "vlan", "4095", "vlandev", "em0"][..],
            "ifconfig: SIOCSETVLAN: Invalid argument",
        ),
        (
            &["vlan1", "vlan", "7", "vlandev", "lo0"][..],
            "ifconfig: SIOCSETVLAN: Protocol not supported",
        ),
        (
            &["vlan1", "vlan", "7", "vlandev", "nope0"][..],
            "ifconfig: SIOCSETVLAN: No such file or directory",
        ),
        (&["vlan1", "vlan"][..], "ifconfig: 'vlan' requires argument"),
        (
            &["em0", "-vlandev"][..],
            "ifconfig: SIOCGETVLAN: Invalid argument",
        ),
        (
            &["vlan2", "create", "vlan", "7"][..],
            "ifconfig: must specify a parent device for vlan create",
        ),
        (
            &["vlan2", "create", "vlandev", "em0"][..],
            "ifconfig: must specify a tag for vlan create",
        ),
        (
            &["vlan2", "create", "vlan", "7", "vlandev", "nope0"][..],
            "ifconfig: SIOCIFCREATE2: Device not configured",
        ),
        (
            &["vlan2", "create", "vlan", "5", "vlandev", "em0"][..],
            "ifconfig: SIOCIFCREATE2: File exists",
        ),
        (
            &["em0.0", "create"][..],
            "ifconfig: SIOCIFCREATE2: Invalid argument",
        ),
        (
            &["em0.4095", "create"][..],
            "ifconfig: SIOCIFCREATE2: Invalid argument",
        ),
    ] {
        vk.fails("ifconfig", args, msg);
    }
    // The words also go with create, and what follows them applies to the
    // new interface.
    assert_eq!(
        vk.ok(
            "ifconfig",
            &["vlan", "create", "vlan", "7", "vlandev", "em0", "up"]
        ),
        "vlan2\n"
    );
    assert!(vk.ok("ifconfig", &["vlan2"]).starts_with(
        "vlan2: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1496\n"
    ));
    vk.ok(
        "ifconfig",
        &["vlan9", "create", "vlan", "8", "vlandev", "em0"],
    );
    vk.fails(
        "kldunload",
        &["if_vlan"],
        "kldunload: can't unload file: Device busy",
    );
    for i in ["vlan1", "vlan2", "vlan9", "em0.5"] {
        vk.ok("ifconfig", &[i, "destroy"]);
    }
    vk.ok("kldunload", &["if_vlan"]);
    vk.halt();
}

/// Why the two-kernel test cannot run here, if it cannot.
fn host_skip_reason() -> Option<String> {
    if !cfg!(feature = "vimage") {
        return Some("needs options VIMAGE".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces and packet sockets need it)".into());
    }
    if std::process::Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 `ip` not installed".into());
    }
    None
}

/// A network namespace holding one end (`far`) of a veth pair whose other
/// end (`near`) stays in ours.  Removed on drop.
struct Cable {
    ns: String,
    near: String,
    far: String,
}

impl Cable {
    fn new() -> Cable {
        let id = std::process::id() % 100_000;
        let c = Cable {
            ns: format!("vkv{id}"),
            near: format!("vkva{id}"),
            far: format!("vkvb{id}"),
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &c.ns])
            .output();
        ip(&["netns", "add", &c.ns]);
        ip(&[
            "link", "add", &c.near, "type", "veth", "peer", "name", &c.far,
        ]);
        ip(&["link", "set", &c.far, "netns", &c.ns]);
        ip(&["link", "set", &c.near, "up"]);
        ip(&["-n", &c.ns, "link", "set", &c.far, "up"]);
        c
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.near])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

/// Read every frame crossing `ifname` of namespace `ns` (both ways) with an
/// AF_PACKET socket until `stop`, each as it was on the wire: Linux hands a
/// packet socket received frames with the 802.1Q tag taken off into
/// PACKET_AUXDATA, so the tag is put back where it was.
fn sniff(
    ns: &str,
    ifname: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    use std::os::fd::AsRawFd;
    let (ns, ifname) = (ns.to_string(), ifname.to_string());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let fd = packet_socket_in(&ns, &ifname);
        let one: libc::c_int = 1;
        // SAFETY: an int option.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_AUXDATA,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        assert_eq!(r, 0, "PACKET_AUXDATA");
        ready_tx.send(()).expect("ready");
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 65536];
        let mut cbuf = [0u64; 16];
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
                continue;
            }
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            // SAFETY: a zeroed msghdr is valid; the buffers outlive the call.
            let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
            mh.msg_iov = &mut iov;
            mh.msg_iovlen = 1;
            mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            mh.msg_controllen = std::mem::size_of_val(&cbuf) as _;
            // SAFETY: as above.
            let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut mh, 0) };
            if n <= 0 {
                continue;
            }
            let mut f = buf[..n as usize].to_vec();
            // SAFETY: walking the control data recvmsg filled, with libc's
            // macros; tpacket_auxdata is read unaligned within its length.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&mh);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA
                    {
                        let a: libc::tpacket_auxdata =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const _);
                        if a.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && f.len() >= 12 {
                            let tpid = if a.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0
                                && a.tp_vlan_tpid != 0
                            {
                                a.tp_vlan_tpid
                            } else {
                                0x8100
                            };
                            let mut tag = tpid.to_be_bytes().to_vec();
                            tag.extend_from_slice(&a.tp_vlan_tci.to_be_bytes());
                            f.splice(12..12, tag);
                        }
                    }
                    c = libc::CMSG_NXTHDR(&mh, c);
                }
            }
            frames.push(f);
        }
        frames
    });
    ready_rx.recv().expect("sniffer up");
    h
}

/// The fuller setup: the laptop's kernel on one end of a veth pair
/// (`iwi0=packet:`), a second kernel playing the VLAN peers on the other end,
/// in a network namespace, and a packet socket there reading the tags off
/// the wire.
#[test]
fn exercise3_over_a_host_wire_to_a_second_kernel() {
    if let Some(r) = host_skip_reason() {
        eprintln!("skipping: {r}");
        return;
    }
    let cable = Cable::new();
    let near = format!("iwi0=packet:{}", cable.near);
    let far = format!("em0=packet:{}", cable.far);
    let laptop = Vk::boot_with("vlan-laptop", &["--attach", &near]);
    let peers = Vk::boot_wrapped(
        "vlan-peers",
        &["ip", "netns", "exec", &cable.ns],
        &["--attach", &far],
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sniffer = sniff(&cable.ns, &cable.far, stop.clone());

    // The laptop: Exercise 3 as typed.
    laptop.ok("ifconfig", &["iwi0", "link", "00:16:6f:37:f8:36"]);
    laptop.ok("ifconfig", &["iwi0", "up"]);
    laptop.ok("kldload", &["if_vlan"]);
    laptop.ok("ifconfig", &["iwi0.101", "create"]);
    laptop.ok("ifconfig", &["iwi0.102", "create"]);
    // As the tutorial shows it, the parent's media passed through.
    assert_eq!(
        laptop.ok("ifconfig", &["iwi0.102"]),
        "iwi0.102: flags=8842<BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1496\n\
         \tether 00:16:6f:37:f8:36\n\
         \tmedia: Ethernet autoselect (1000baseT <full-duplex>)\n\
         \tstatus: active\n\
         \tvlan: 102 parent interface: iwi0\n"
    );
    for (n, tag) in [("n1", "101"), ("n2", "102")] {
        laptop.ok("vimage", &["-c", n]);
        assert_eq!(
            laptop.ok("vimage", &["-i", n, &format!("iwi0.{tag}")]),
            format!("eth0@{n}\n")
        );
        vok(&laptop, n, "ifconfig", &["eth0", "10.0.1.101/24"]);
    }
    // The other kernel: a host on each VLAN, with the same address.
    peers.ok("ifconfig", &["em0", "up"]);
    peers.ok("kldload", &["if_vlan"]);
    for (p, tag, mac) in [
        ("p1", "101", "40:a:b:c:d:01"),
        ("p2", "102", "40:a:b:c:d:02"),
    ] {
        peers.ok("ifconfig", &[&format!("em0.{tag}"), "create"]);
        peers.ok("vimage", &["-c", p]);
        peers.ok("vimage", &["-i", p, &format!("em0.{tag}")]);
        vok(&peers, p, "ifconfig", &["eth0", "link", mac]);
        vok(&peers, p, "ifconfig", &["eth0", "10.0.1.102/24"]);
    }
    vok(
        &peers,
        "p2",
        "ifconfig",
        &["eth0", "10.0.1.202/32", "alias"],
    );

    for (n, mac) in [("n1", "40:0a:0b:0c:0d:01"), ("n2", "40:0a:0b:0c:0d:02")] {
        let out = vok(&laptop, n, "ping", &["-c", "2", "10.0.1.102"]);
        assert!(
            out.contains("2 packets transmitted, 2 packets received, 0.0% packet loss"),
            "{n}: {out}"
        );
        let arp = vok(&laptop, n, "arp", &["-an"]);
        assert!(
            arp.contains(&format!("(10.0.1.102) at {mac}")),
            "{n}: {arp}"
        );
    }
    vok(&laptop, "n2", "ping", &["-c", "1", "10.0.1.202"]);
    let (c, out, _) = vrun(
        &laptop,
        "n1",
        "ping",
        &["-c", "1", "-W", "500", "10.0.1.202"],
    );
    assert_ne!(c, 0, "{out}");

    stop.store(true, std::sync::atomic::Ordering::Release);
    let frames = sniffer.join().expect("sniffer");
    let (vimages, p) = ([10, 0, 1, 101], [10, 0, 1, 102]);
    let seen = |tag, s, d| frames.iter().any(|f| ipv4(f, tag, s, d));
    for tag in [101, 102] {
        assert!(seen(Some(tag), vimages, p), "{tag} out: {frames:02x?}");
        assert!(seen(Some(tag), p, vimages), "{tag} back: {frames:02x?}");
    }
    assert!(!seen(None, vimages, p) && !seen(None, p, vimages));
    laptop.halt();
    peers.halt();
}
