//! What the benches share: a kernel booted on fake time and host, and a
//! process's resident set.

use std::sync::Arc;

use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_random::SeededRandom;
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::{Kernel, KernelConfig};

/// A kernel on a fake host process table, fake clock and seeded entropy.
pub fn boot() -> Arc<Kernel> {
    vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: "VIMAGE".into(),
        version: "bench".into(),
        clock: Arc::new(FakeClock::default()),
        random: SeededRandom::arc(1),
    })
    .expect("boot")
}

/// VmRSS of process `pid` in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
