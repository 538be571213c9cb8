//! Benchmark: `vimage -l` over N vimages, in-kernel (the VI_GETNEXT_RECURSE walk
//! through the syscall door) and through vimage(8) against a booted vkernel.
//! Each step of the walk costs O(depth + log n) and one listing scans the
//! host's processes once, so the time per vimage stays flat as N grows (issue
//! 12: 10,001 vimages took 50 s before; the target is under 1 s).
//! Prints a table; run with `make bench` (or `cargo bench --bench vimage_list`).

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use std::time::Instant;
use vimage_abi::syscall::Request;
use vimage_abi::vimage::*;

/// Seconds to walk the whole tree of a kernel holding `n` vimages below default
/// (a wide level, every tenth with a child), and the count listed.
fn in_kernel(n: usize) -> (f64, usize) {
    let k = common::boot();
    let mut td = k.td_attach(1);
    let fd = k
        .syscall(
            &mut td,
            Request::Socket {
                domain: 2,
                ty: 2,
                proto: 0,
            },
        )
        .val as i32;
    let ioctl = |td: &mut vimage_kern::kern_syscall::Td, cmd: u32, q: ViReq| {
        let r = k.syscall(
            td,
            Request::Ioctl {
                fd,
                cmd,
                data: q.to_bytes().expect("req"),
            },
        );
        (r.errno == 0).then(|| ViReq::from_bytes(&r.data).expect("reply"))
    };
    for name in names(n) {
        assert!(ioctl(&mut td, SIOCSPVIMAGE, ViReq::new(VI_CREATE, &name)).is_some());
    }
    let t0 = Instant::now();
    let mut listed = 0;
    let mut cur = String::new();
    while let Some(r) = ioctl(&mut td, SIOCGPVIMAGE, ViReq::new(VI_GETNEXT_RECURSE, &cur)) {
        listed += 1;
        cur = if cur.is_empty() { ".".into() } else { r.name };
    }
    let t = t0.elapsed().as_secs_f64();
    k.shutdown();
    (t, listed)
}

/// `n` names: `v0`… with every tenth one given a child `vI.c`.
fn names(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        out.push(format!("v{i}"));
        if i % 10 == 0 && out.len() < n {
            out.push(format!("v{i}.c"));
        }
        i += 1;
    }
    out
}

/// Seconds `vimage -l` takes over `n` vimages made through the door, and the
/// blocks it printed.
fn via_tool(n: usize) -> Option<(f64, usize)> {
    let bin = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .to_path_buf();
    let vk = bin.join("vkernel");
    let tool = bin.join("vimage");
    if !vk.exists() || !tool.exists() {
        return None;
    }
    let sock = std::env::temp_dir().join(format!("vk-benchl-{}-{n}.sock", std::process::id()));
    let mut child = std::process::Command::new(&vk)
        .arg("-q")
        .arg("-s")
        .arg(&sock)
        .spawn()
        .ok()?;
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::env::set_var(libvimage::VIMAGE_SOCKET, &sock);
    let mut s = libvimage::Sys::open().ok()?;
    for name in names(n) {
        s.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_CREATE, &name))
            .ok()?;
    }
    drop(s);
    let t0 = Instant::now();
    let out = std::process::Command::new(&tool)
        .arg("-l")
        .env("VIMAGE_SOCKET", &sock)
        .output()
        .ok()?;
    let t = t0.elapsed().as_secs_f64();
    let blocks = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('"'))
        .count();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
    Some((t, blocks))
}

fn main() {
    println!("| path | N | listed | total | per vimage |");
    println!("|---|---|---|---|---|");
    for n in [1_000, 10_000] {
        let (t, l) = in_kernel(n);
        println!(
            "| in-kernel walk | {n} | {l} | {t:.3} s | {:.1} µs |",
            t / l as f64 * 1e6
        );
    }
    for n in [1_000, 10_000] {
        match via_tool(n) {
            Some((t, l)) => println!(
                "| vimage -l | {n} | {l} | {t:.3} s | {:.1} µs |",
                t / l.max(1) as f64 * 1e6
            ),
            None => println!("| vimage -l | - | (build the workspace first: make) | | |"),
        }
    }
}
