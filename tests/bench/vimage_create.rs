//! Benchmark: create and destroy N vimages, in-kernel and through vimage(8).
//! Prints a table; run with `make bench` (or `cargo bench --bench vimage_create`).

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use std::time::Instant;
use vimage_abi::syscall::Request;
use vimage_abi::vimage::*;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

fn in_kernel(n: usize) -> (f64, f64, f64) {
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
    let req = |a: u32, name: &str| Request::Ioctl {
        fd,
        cmd: SIOCSPVIMAGE,
        data: ViReq::new(a, name).to_bytes().expect("req"),
    };
    let rss0 = rss_kib();
    let t0 = Instant::now();
    for i in 0..n {
        let r = k.syscall(&mut td, req(VI_CREATE, &format!("v{i}")));
        assert_eq!(r.errno, 0);
    }
    let create = t0.elapsed().as_secs_f64();
    let mem = (rss_kib().saturating_sub(rss0)) as f64 / n as f64;
    let t0 = Instant::now();
    for i in 0..n {
        let r = k.syscall(&mut td, req(VI_DESTROY, &format!("v{i}")));
        assert_eq!(r.errno, 0);
    }
    let destroy = t0.elapsed().as_secs_f64();
    k.shutdown();
    (create, destroy, mem)
}

/// Create and destroy `n` vimages with vimage(8) against a fresh vkernel:
/// (create s, destroy s, vkernel's RSS growth per vimage in KiB, as a user
/// sees it in top).
fn via_tool(n: usize) -> Option<(f64, f64, f64)> {
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
    let sock = std::env::temp_dir().join(format!("vk-bench-{}.sock", std::process::id()));
    let mut child = std::process::Command::new(&vk)
        .arg("-q")
        .arg("-s")
        .arg(&sock)
        .spawn()
        .ok()?;
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let run = |args: &[&str]| {
        std::process::Command::new(&tool)
            .args(args)
            .env("VIMAGE_SOCKET", &sock)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let rss0 = common::rss_kib(child.id());
    let t0 = Instant::now();
    for i in 0..n {
        assert!(run(&["-c", &format!("v{i}")]));
    }
    let c = t0.elapsed().as_secs_f64();
    let mem = common::rss_kib(child.id()).saturating_sub(rss0) as f64 / n as f64;
    let t0 = Instant::now();
    for i in 0..n {
        assert!(run(&["-d", &format!("v{i}")]));
    }
    let d = t0.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
    Some((c, d, mem))
}

/// The host's own ip(8), whatever PATH says (ours is not in it, but a
/// user's PATH might put another first).
fn host_ip() -> Option<&'static str> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Create and destroy `n` Linux network namespaces with `ip netns add/del`:
/// (create s, destroy s), or why it was skipped.
fn via_netns(n: usize) -> Result<(f64, f64), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root".into());
    }
    let ip = host_ip().ok_or("no ip(8) on this host")?;
    let name = |i: usize| format!("vbench{}-{i}", std::process::id());
    let run = |args: &[&str]| {
        std::process::Command::new(ip)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let t0 = Instant::now();
    let mut made = 0;
    for i in 0..n {
        if !run(&["netns", "add", &name(i)]) {
            break;
        }
        made += 1;
    }
    let c = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    for i in 0..made {
        run(&["netns", "del", &name(i)]);
    }
    let d = t0.elapsed().as_secs_f64();
    if made < n {
        return Err(format!("ip netns add failed after {made}"));
    }
    Ok((c, d))
}

fn main() {
    println!("| path | N | create total | per vimage | destroy per vimage | memory per vimage |");
    println!("|---|---|---|---|---|---|");
    for n in [1_000, 10_000] {
        let (c, d, m) = in_kernel(n);
        println!(
            "| in-kernel | {n} | {:.3} s | {:.1} µs | {:.1} µs | {:.1} KiB |",
            c,
            c / n as f64 * 1e6,
            d / n as f64 * 1e6,
            m
        );
    }
    for n in [1_000, 10_000] {
        match via_tool(n) {
            Some((c, d, m)) => println!(
                "| vimage(8) | {n} | {:.3} s | {:.1} µs | {:.1} µs | {:.1} KiB |",
                c,
                c / n as f64 * 1e6,
                d / n as f64 * 1e6,
                m
            ),
            None => println!("| vimage(8) | - | (build the workspace first: make) | | | |"),
        }
    }
    // The same through Linux's own tool, in the same run (issue 13: vimage -c
    // through the CLI faster than ip netns add).
    let n = 1_000;
    match via_netns(n) {
        Ok((c, d)) => {
            println!(
                "| ip netns add/del (Linux) | {n} | {:.3} s | {:.1} µs | {:.1} µs | |",
                c,
                c / n as f64 * 1e6,
                d / n as f64 * 1e6
            );
            if let Some((vc, _, _)) = via_tool(n) {
                println!();
                println!(
                    "vimage -c against ip netns add, {n} each, same run: {:.1} against {:.1} µs per create ({:.2}x)",
                    vc / n as f64 * 1e6,
                    c / n as f64 * 1e6,
                    c / vc
                );
            }
        }
        Err(why) => println!("| ip netns add/del (Linux) | {n} | ({why}) | | | |"),
    }
}
