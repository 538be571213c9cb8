//! Benchmark: create and destroy N vimages, in-kernel and through vimage(8).
//! Prints a table; run with `make bench` (or `cargo bench --bench vimage_create`).

use std::sync::Arc;
use std::time::Instant;
use vimage_abi::syscall::Request;
use vimage_abi::vimage::*;
use vimage_kern::kern::kern_proc::FakeHost;
use vimage_kern::{Kernel, KernelConfig};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

fn in_kernel(n: usize) -> (f64, f64, f64) {
    let host = Arc::new(FakeHost::default());
    let k = Kernel::boot(KernelConfig {
        host,
        ident: "VIMAGE".into(),
        version: "bench".into(),
        clock: Arc::new(vimage_kern::kern::kern_timeout::FakeClock::default()),
        random: vimage_kern::kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
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

/// VmRSS of process `pid`, KiB.
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
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
    let rss0 = rss_of(child.id());
    let t0 = Instant::now();
    for i in 0..n {
        assert!(run(&["-c", &format!("v{i}")]));
    }
    let c = t0.elapsed().as_secs_f64();
    let mem = rss_of(child.id()).saturating_sub(rss0) as f64 / n as f64;
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
}
