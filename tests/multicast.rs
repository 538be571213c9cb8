//! Multicast between vimages, as routing daemons use it: three vimages on
//! one Ethernet segment (eifaces joined by an ng_bridge), `nc -lu GROUP PORT`
//! joining RIP's group 224.0.0.9 (and RIPng's ff02::9) in one, a listener
//! that did not join in another, `nc -u` sending from the third.  The
//! member gets the datagram, the other does not.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

mod common;
use common::*;

/// `vimage V nc ARGS` in the background, its output piped.
fn spawn_nc(vk: &Vk, v: &str, args: &[&str]) -> Child {
    let nc = tool("nc");
    let mut a = vec![v, nc.as_str()];
    a.extend_from_slice(args);
    vk.cmd("vimage")
        .args(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nc")
}

/// Stop `c` and return what it printed on stdout and stderr.
fn stop(mut c: Child) -> (String, String) {
    let _ = c.kill();
    let _ = c.wait();
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = c.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = c.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (out, err)
}

/// `vimage V nc ARGS` with `line` on stdin, which must succeed.
fn send(vk: &Vk, v: &str, args: &[&str], line: &str) {
    let nc = tool("nc");
    let mut a = vec![v, nc.as_str()];
    a.extend_from_slice(args);
    let (c, _, e) = vk.run_stdin("vimage", &a, line);
    assert_eq!(c, 0, "nc {args:?}: {e}");
}

#[test]
fn rip_groups_between_vimages_on_a_bridge() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("mcast");
    for _ in 0..3 {
        vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    }
    vk.ok("ngctl", &["mkpeer", "ngeth0:", "bridge", "ether", "link0"]);
    vk.ok("ngctl", &["name", "ngeth0:ether", "br0"]);
    vk.ok("ngctl", &["connect", "ngeth1:", "br0:", "ether", "link1"]);
    vk.ok("ngctl", &["connect", "ngeth2:", "br0:", "ether", "link2"]);
    for (i, v) in ["n1", "n2", "n3"].iter().enumerate() {
        vk.ok("vimage", &["-c", v]);
        let e = format!("ngeth{i}");
        assert_eq!(vk.ok("vimage", &["-i", v, &e]), format!("eth0@{v}\n"));
        vok(
            &vk,
            v,
            "ifconfig",
            &["eth0", "link", &format!("40:a:b:c:d:0{}", i + 1)],
        );
        vok(
            &vk,
            v,
            "ifconfig",
            &["eth0", &format!("10.0.0.{}/24", i + 1)],
        );
        vok(&vk, v, "ifconfig", &["eth0", "up"]);
    }
    // n2 joins RIP's group; n3 listens on the port without joining.
    let member = spawn_nc(&vk, "n2", &["-lu", "-J", "eth0", "224.0.0.9", "5200"]);
    let other = spawn_nc(&vk, "n3", &["-lu", "5200"]);
    std::thread::sleep(Duration::from_millis(500));
    // From n1 by its eth0's address, TTL 1, from one port (the listener
    // keeps to its first sender): twice, in case a listener was late.
    let args = [
        "-u",
        "-w",
        "1",
        "-p",
        "5201",
        "-J",
        "10.0.0.1",
        "-M",
        "1",
        "224.0.0.9",
        "5200",
    ];
    for _ in 0..2 {
        send(&vk, "n1", &args, "hello group\n");
    }
    let (out, err) = stop(member);
    assert!(out.contains("hello group"), "member got {out:?} ({err})");
    let (out, err) = stop(other);
    assert!(out.is_empty(), "non-member got {out:?} ({err})");

    // RIPng's group: joined by scope (`%eth0`), sent by interface name with
    // hop limit 255, from a link-local source.
    let member6 = spawn_nc(&vk, "n2", &["-6", "-lu", "ff02::9%eth0", "5210"]);
    let other6 = spawn_nc(&vk, "n3", &["-6", "-lu", "5210"]);
    std::thread::sleep(Duration::from_millis(500));
    let args = [
        "-6", "-u", "-w", "1", "-p", "5211", "-J", "eth0", "-M", "255", "ff02::9", "5210",
    ];
    for _ in 0..2 {
        send(&vk, "n1", &args, "hello ripng\n");
    }
    let (out, err) = stop(member6);
    assert!(out.contains("hello ripng"), "member got {out:?} ({err})");
    let (out, err) = stop(other6);
    assert!(out.is_empty(), "non-member got {out:?} ({err})");
    vk.halt();
}
