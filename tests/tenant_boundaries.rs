//! Interfaces and kernel modules at a vimage's boundary, with the real tools:
//! a child moves interfaces only down its own subtree and gives back only what
//! it was given, under the name it had; a dying vimage returns interfaces
//! without clobbering names; a refused rename and a missing kld file are
//! errors with a nonzero exit, as on FreeBSD.

mod common;
use common::*;

#[test]
fn a_child_cannot_push_interfaces_into_its_parent() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ifup");
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n1.n3"]);
    assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc0\n");
    assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc0"]), "eth0@n1\n");
    // Given back only under the name it had in the parent.
    vk.fails(
        "vimage",
        &["n1", "vimage", "-i", "-", "eth0", "em0"],
        "vimage: eth0: Operation not permitted",
    );
    vk.fails(
        "vimage",
        &["n1", "vimage", "-i", "-", "eth0", "lo0"],
        "vimage: eth0: Operation not permitted",
    );
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0\n");
    // An interface made inside n1 stays in n1's subtree.
    assert_eq!(
        vk.ok("vimage", &["n1", "ifconfig", "edsc", "create"]),
        "edsc0\n"
    );
    vk.fails(
        "vimage",
        &["n1", "vimage", "-i", "-", "edsc0"],
        "vimage: edsc0: Operation not permitted",
    );
    vk.fails(
        "vimage",
        &["n1", "vimage", "-i", "-", "edsc0", "em0"],
        "vimage: edsc0: Operation not permitted",
    );
    // Down into n3 and back up to n1 it goes, under its name.
    assert_eq!(
        vk.ok("vimage", &["n1", "vimage", "-i", "n3", "edsc0", "x0"]),
        "x0@n3\n"
    );
    vk.fails(
        "vimage",
        &["n1.n3", "vimage", "-i", "-", "x0", "eth7"],
        "vimage: x0: Operation not permitted",
    );
    assert_eq!(
        vk.ok("vimage", &["n1.n3", "vimage", "-i", "-", "x0"]),
        "edsc0@n1\n"
    );
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0\n");
    assert_eq!(
        vk.ok("vimage", &["n1", "ifconfig", "-l"]),
        "lo0 eth0 edsc0\n"
    );
    // What n1 was given goes back to default under its own name.
    assert_eq!(
        vk.ok("vimage", &["n1", "vimage", "-i", "-", "eth0"]),
        "edsc0@default\n"
    );
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 edsc0\n");
    vk.ok("vimage", &["n1", "ifconfig", "edsc0", "destroy"]);
    vk.ok("vimage", &["-d", "n1.n3"]);
    vk.ok("vimage", &["-d", "n1"]);
    vk.halt();
}

#[test]
fn a_dying_vimage_returns_interfaces_without_clobbering_names() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ifret");
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("ifconfig", &["edsc", "create"]);
    assert_eq!(vk.ok("vimage", &["-i", "n1", "edsc0"]), "eth0@n1\n");
    // default reuses the name meanwhile.
    assert_eq!(vk.ok("ifconfig", &["edsc", "create"]), "edsc0\n");
    vk.fails(
        "vimage",
        &["n1", "vimage", "-i", "-", "eth0"],
        "vimage: eth0: File exists",
    );
    vk.ok("vimage", &["-d", "n1"]);
    // n1's interface came home under a free name of its driver.
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 edsc0 edsc1\n");
    vk.ok("ifconfig", &["edsc1", "destroy"]);
    vk.ok("ifconfig", &["edsc0", "destroy"]);
    vk.halt();
}

#[test]
fn refused_rename_exits_nonzero() {
    let vk = Vk::boot("ifname");
    vk.ok("kldload", &["if_edsc"]);
    vk.ok("ifconfig", &["edsc", "create"]);
    vk.fails(
        "ifconfig",
        &["edsc0", "name", "lo0"],
        "ifconfig: ioctl (set name): File exists",
    );
    // Nothing after the refused rename is done.
    vk.fails(
        "ifconfig",
        &["edsc0", "name", "lo0", "mtu", "1400"],
        "ifconfig: ioctl (set name): File exists",
    );
    assert!(vk.ok("ifconfig", &["edsc0"]).contains("mtu 1500"));
    assert_eq!(vk.ok("ifconfig", &["edsc0", "name", "e0"]), "e0\n");
    assert_eq!(vk.ok("ifconfig", &["-l"]), "lo0 e0\n");
    vk.halt();
}

#[test]
fn kldstat_of_a_missing_file_fails() {
    let vk = Vk::boot("kldstat");
    let (c, o, e) = vk.run("kldstat", &["-i", "99999"]);
    assert_eq!(c, 1, "{o}{e}");
    assert_eq!(o, "Id Refs Address            Size     Name\n");
    assert_eq!(
        e,
        "kldstat: can't stat file id 99999: No such file or directory\n"
    );
    vk.fails(
        "kldstat",
        &["-n", "nosuch"],
        "kldstat: can't find file nosuch: No such file or directory",
    );
    // The kernel itself, and a module by name.
    let k = vk.ok("kldstat", &["-i", "1"]);
    assert_eq!(k.lines().count(), 2, "{k}");
    assert!(k.lines().nth(1).unwrap().ends_with(" kernel"), "{k}");
    vk.ok("kldload", &["if_edsc"]);
    let by_name = vk.ok("kldstat", &["-n", "if_edsc"]);
    assert!(
        by_name.lines().nth(1).unwrap().ends_with(" if_edsc.ko"),
        "{by_name}"
    );
    let id = by_name
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(vk.ok("kldstat", &["-i", &id]), by_name);
    assert_eq!(vk.ok("kldstat", &["-n", "if_edsc.ko"]), by_name);
    // Gone once unloaded.
    vk.ok("kldunload", &["if_edsc"]);
    let (c, _, e) = vk.run("kldstat", &["-i", &id]);
    assert_eq!(c, 1);
    assert!(e.contains("No such file or directory"), "{e}");
    vk.halt();
}
