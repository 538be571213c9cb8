//! ps(1) from the kernel's view, typed as the tutorial does (`vimage e0_n1
//! ps -ax` on the Demo 1 slides): a vimage lists its own processes (and
//! those of the vimages below it), never its parent's or a sibling's; the
//! default vimage lists the host's.

mod common;
use common::*;

use std::process::Child;
use std::time::{Duration, Instant};

/// `vimage NAME sleep 300` in the background.
fn sleeper(vk: &Vk, v: &str) -> Child {
    vk.cmd("vimage")
        .args([v, "sleep", "300"])
        .spawn()
        .expect("vimage sleep")
}

/// The pids of `ps -ax` run in `v` whose command is `cmd`.
fn pids_of(vk: &Vk, v: &str, cmd: &str) -> Vec<u32> {
    vok(vk, v, "ps", &["-ax"])
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(cmd))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn ps_lists_the_callers_vimage_only() {
    if !cfg!(feature = "vimage") {
        eprintln!("skipping: needs options VIMAGE");
        return;
    }
    let vk = Vk::boot("ps");
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.ok("vimage", &["-c", "n1.n3"]);
    let mut a = sleeper(&vk, "n1");
    let mut b = sleeper(&vk, "n1.n3");
    // Until both have started.
    let t0 = Instant::now();
    while pids_of(&vk, "n1", "sleep 300").len() < 2 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = vok(&vk, "n1", "ps", &["-ax"]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "  PID  TT  STAT      TIME COMMAND", "{out}");
    // Both sleepers (n1's and n1.n3's) and ps itself; no anchor, nothing
    // of the host.
    assert_eq!(l.len(), 4, "{out}");
    assert_eq!(
        l.iter().filter(|x| x.ends_with(" sleep 300")).count(),
        2,
        "{out}"
    );
    let me = l
        .iter()
        .find(|x| x.ends_with(&format!(" {} -ax", tool("ps"))))
        .expect("ps itself");
    // ps itself is running, as FreeBSD's shows it.
    assert_eq!(me.split_whitespace().nth(2), Some("R"), "{out}");
    // n1.n3 sees its own sleeper only; n2 nothing but itself.
    let n3 = pids_of(&vk, "n1.n3", "sleep 300");
    assert_eq!(n3.len(), 1);
    assert!(pids_of(&vk, "n1", "sleep 300").contains(&n3[0]));
    assert!(pids_of(&vk, "n2", "sleep 300").is_empty());
    assert_eq!(vok(&vk, "n2", "ps", &["-ax"]).lines().count(), 2);
    // Default sees the host, the sleepers included; -p picks one.
    let pid = n3[0].to_string();
    let one = vk.ok("ps", &["-p", &pid, "-o", "pid=", "-o", "comm="]);
    assert_eq!(one.trim(), format!("{pid} sleep"));
    assert!(vk.ok("ps", &["ax"]).lines().count() > 4);
    // -l's header; a keyword ps does not know.
    assert!(vok(&vk, "n1", "ps", &["-axl"]).starts_with(
        "  UID   PID  PPID CPU PRI NI   VSZ   RSS MWCHAN STAT  TT       TIME COMMAND\n"
    ));
    let (c, _, e) = vrun(&vk, "n1", "ps", &["-o", "bogus"]);
    assert_eq!((c, e.as_str()), (1, "ps: bogus: keyword not found\n"));
    let (c, _, e) = vrun(&vk, "n1", "ps", &["-p", "12x"]);
    assert_eq!((c, e.as_str()), (1, "ps: 12x: illegal process id\n"));
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();
    vk.halt();
}
