//! Benchmark: frames per second between two eifaces through a chain of K pipes
//! or bridges (K = 0, 1, 10, 100), and memory per netgraph node.  Prints a table;
//! run with `make bench` (or `cargo bench --bench netgraph_chain`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use vimage_abi::net_if::IFF_UP;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig};
use vimage_kmod::netgraph::ng_base::ng_with;
use vimage_net::mbuf::Mbuf;
use vimage_net::netisr::netisr_enter;
use vimage_net::r#if::{ifunit, netisr_register};

fn frames() -> u64 {
    std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}
const LEN: usize = 128;

/// Counts live heap bytes, so memory per node is measured exactly rather than
/// through RSS (which the allocator's reuse of freed pages hides).
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
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

fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

fn boot() -> Arc<Kernel> {
    let k = vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: "VIMAGE".into(),
        version: "bench".into(),
        clock: Arc::new(FakeClock::default()),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
    for m in vimage_kmod::catalog() {
        k.kld_catalog_add(m);
    }
    for m in ["netgraph", "ng_eiface", "ng_pipe", "ng_bridge", "ng_hub"] {
        k.kldload(m).expect(m);
    }
    // The memory table makes 100,000 nodes: past net.graph.maxnodes'
    // default, as `sysctl net.graph.maxnodes=...` would allow.
    k.res_limits()
        .maxngnodes
        .store(1_000_000, std::sync::atomic::Ordering::Relaxed);
    k
}

/// Frames per second from ngeth0 to ngeth1 through `k` nodes of type `ty`.
fn chain(ty: &str, k: usize) -> f64 {
    let kern = boot();
    let v0 = kern.vimage0().vnet.clone();
    ng_with(&v0, |s| {
        let a = s.make_node("eiface").unwrap();
        let b = s.make_node("eiface").unwrap();
        let (hin, hout) = if ty == "pipe" {
            ("upper", "lower")
        } else {
            ("link0", "link1")
        };
        let (mut prev, mut prev_hook) = (a, "ether".to_string());
        for _ in 0..k {
            let n = s.make_node(ty).unwrap();
            s.connect(prev, &prev_hook, n, hin).unwrap();
            prev = n;
            prev_hook = hout.to_string();
        }
        s.connect(prev, &prev_hook, b, "ether").unwrap();
    })
    .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let _cv = CurvnetGuard::set(&v0);
    {
        let g = got.clone();
        netisr_register(
            0x88b5,
            Arc::new(move |_, _| {
                g.fetch_add(1, Ordering::Relaxed);
            }),
        );
    }
    let a = ifunit("ngeth0").unwrap();
    let b = ifunit("ngeth1").unwrap();
    for i in [&a, &b] {
        i.flags.fetch_or(IFF_UP, Ordering::Relaxed);
    }
    let mut f = vec![0u8; LEN];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xaa]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    let t0 = Instant::now();
    for _ in 0..frames() {
        let _ns = netisr_enter();
        let _ = a.output(Mbuf::from_slice(&f));
    }
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(
        got.load(Ordering::Relaxed),
        frames(),
        "{ty} x{k} lost frames"
    );
    drop(_cv);
    kern.shutdown();
    frames() as f64 / dt
}

/// Memory per node: live heap growth for `n` nodes of `ty`, in KiB per node.
fn memory(ty: &str, n: usize) -> f64 {
    let kern = boot();
    let v0 = kern.vimage0().vnet.clone();
    let before = live_bytes();
    ng_with(&v0, |s| {
        for _ in 0..n {
            s.make_node(ty).unwrap();
        }
    })
    .unwrap();
    let after = live_bytes();
    kern.shutdown();
    (after.saturating_sub(before)) as f64 / 1024.0 / n as f64
}

fn main() {
    println!("| chain between two eifaces | K | frames/s ({LEN}-byte frames) | µs per frame |");
    println!("|---|---|---|---|");
    let direct = chain("pipe", 0);
    println!(
        "| direct (back to back) | 0 | {:.0} | {:.2} |",
        direct,
        1e6 / direct
    );
    for ty in ["pipe", "bridge"] {
        for k in [1, 10, 100] {
            let r = chain(ty, k);
            println!("| {ty} | {k} | {:.0} | {:.2} |", r, 1e6 / r);
        }
    }
    println!();
    println!("| node type | N | memory per node |");
    println!("|---|---|---|");
    for (ty, n) in [
        ("hub", 100_000),
        ("pipe", 100_000),
        ("bridge", 10_000),
        ("eiface", 10_000),
    ] {
        println!("| {ty} | {n} | {:.2} KiB |", memory(ty, n));
    }
}
