//! Soak benchmark (issue 12 item 8): boot a release vkernel, create N vimages
//! through vimage(8) and destroy them, three rounds, and report vkernel's RSS
//! (VmRSS in /proc/PID/status) after boot and after every round, with the
//! seconds each round took: does memory come back after a destroy round, and
//! do the rounds grow?
//!
//! Beside it, the same rounds in-kernel (syscalls on a kernel booted in this
//! process, netgraph and ng_socket loaded as vkernel loads them) with the live
//! heap counted by the allocator: what the kernel itself still holds after a
//! destroy round, whatever the allocator keeps from the host.
//!
//! N is 10,000 (SOAK_N scales it; SOAK_ROUNDS changes the three rounds); run
//! with `make bench-soak` or `cargo bench --bench vimage_soak`.

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vimage_abi::syscall::Request;
use vimage_abi::vimage::*;

/// Bytes allocated and not yet freed in this process.
static LIVE: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as u64, Ordering::Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as u64, Ordering::Relaxed);
        LIVE.fetch_sub(l.size() as u64, Ordering::Relaxed);
        std::alloc::System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live_kib() -> u64 {
    LIVE.load(Ordering::Relaxed) / 1024
}

/// RSS once the kernel has had a moment to give back what it freed (frame
/// buffers above the kept size go back within a second, README).
fn settled_rss(pid: u32) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    common::rss_kib(pid)
}

fn mib(kib: u64) -> String {
    if kib < 10 * 1024 {
        format!("{kib} KiB")
    } else {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }
}

/// vimage(8) against a booted release kernel.
trait Soak {
    /// Run vimage(8) with `args`; its stdout.
    fn vimage(&self, args: &[&str]) -> String;
    /// Blocks `vimage -l` prints.
    fn listed(&self) -> usize;
}

impl Soak for common::Vkernel {
    fn vimage(&self, args: &[&str]) -> String {
        self.run("vimage", args, &[])
    }

    fn listed(&self) -> usize {
        self.vimage(&["-l"])
            .lines()
            .filter(|l| l.starts_with('"'))
            .count()
    }
}

/// The same rounds in-kernel: (live heap after boot, then after each create
/// and destroy round, in KiB; seconds per create and destroy round).
fn in_kernel(n: usize, rounds: usize) -> (u64, Vec<(u64, u64, f64, f64)>) {
    let k = common::boot();
    for m in vimage_kmod::catalog() {
        k.kld_catalog_add(m);
    }
    for m in ["netgraph", "ng_socket"] {
        k.kldload(m).expect(m);
    }
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
    let boot = live_kib();
    let mut out = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        for i in 0..n {
            let r = k.syscall(&mut td, req(VI_CREATE, &format!("s{i}")));
            assert_eq!(r.errno, 0);
        }
        let c = t0.elapsed().as_secs_f64();
        let lc = live_kib();
        let t0 = Instant::now();
        for i in 0..n {
            let r = k.syscall(&mut td, req(VI_DESTROY, &format!("s{i}")));
            assert_eq!(r.errno, 0);
        }
        let d = t0.elapsed().as_secs_f64();
        out.push((lc, live_kib(), c, d));
    }
    k.shutdown();
    (boot, out)
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("SOAK_N", 10_000);
    let rounds = env("SOAK_ROUNDS", 3).max(1);
    let Some(bin) = common::release_bindir(&["vkernel", "vimage"]) else {
        println!("vimage_soak: build the workspace first (make build)");
        return;
    };
    let k = common::Vkernel::boot(&bin, "soak");
    let pid = k.pid();
    let boot = settled_rss(pid);
    println!("vimage soak: {n} vimages through vimage(8), created and destroyed {rounds} times");
    println!();
    println!("| round | create | per vimage | RSS after create | destroy | per vimage | RSS after destroy |");
    println!("|---|---|---|---|---|---|---|");
    println!("| boot | | | | | | {} |", mib(boot));
    let mut after_destroy = Vec::new();
    let mut after_create = Vec::new();
    for round in 1..=rounds {
        let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let t0 = Instant::now();
        for v in &names {
            k.vimage(&["-c", v]);
        }
        let c = t0.elapsed().as_secs_f64();
        assert_eq!(k.listed(), n + 1, "round {round}: vimage -l after create");
        let rc = settled_rss(pid);
        let t0 = Instant::now();
        for v in &names {
            k.vimage(&["-d", v]);
        }
        let d = t0.elapsed().as_secs_f64();
        assert_eq!(k.listed(), 1, "round {round}: vimage -l after destroy");
        let rd = settled_rss(pid);
        println!(
            "| {round} | {c:.1} s | {:.0} µs | {} | {d:.1} s | {:.0} µs | {} |",
            c / n as f64 * 1e6,
            mib(rc),
            d / n as f64 * 1e6,
            mib(rd)
        );
        after_create.push(rc);
        after_destroy.push(rd);
    }
    k.halt();
    println!();
    let first = after_destroy[0];
    let last = after_destroy[rounds - 1];
    println!(
        "Per vimage while they exist (round 1, RSS after create − after boot): {:.1} KiB",
        after_create[0].saturating_sub(boot) as f64 / n as f64
    );
    println!(
        "Returned by the first destroy round: {:.0} % of what its create round added",
        100.0 * after_create[0].saturating_sub(first) as f64
            / after_create[0].saturating_sub(boot).max(1) as f64
    );
    println!(
        "Kept after destroy, round 1 → round {rounds}: {} → {} (growth {} KiB over {} rounds); boot {}",
        mib(first),
        mib(last),
        last as i64 - first as i64,
        rounds - 1,
        mib(boot)
    );
    let (lboot, r) = in_kernel(n, rounds);
    println!();
    println!("In-kernel, the same rounds, live heap (allocator count):");
    println!();
    println!("| round | create | live after create | destroy | live after destroy |");
    println!("|---|---|---|---|---|");
    println!("| boot | | | | {} |", mib(lboot));
    for (i, (lc, ld, c, d)) in r.iter().enumerate() {
        println!(
            "| {} | {c:.2} s | {} | {d:.2} s | {} |",
            i + 1,
            mib(*lc),
            mib(*ld)
        );
    }
    let last = r.last().map_or(lboot, |x| x.1);
    println!();
    println!(
        "Live heap per vimage {:.1} KiB; kept after the last destroy round: {} KiB",
        r[0].0.saturating_sub(lboot) as f64 / n as f64,
        last as i64 - lboot as i64
    );
}
