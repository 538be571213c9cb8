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

/// The release binaries' directory, when this bench runs from
/// target/release/deps and every tool in `need` is there.
pub fn release_bindir(need: &[&str]) -> Option<std::path::PathBuf> {
    let d = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .to_path_buf();
    need.iter().all(|t| d.join(t).exists()).then_some(d)
}

/// A release vkernel on a socket of its own, the tools aimed at it.
pub struct Vkernel {
    /// The kernel process.
    pub child: std::process::Child,
    /// Its socket.
    pub sock: std::path::PathBuf,
    /// Where the tools are.
    pub bin: std::path::PathBuf,
}

impl Vkernel {
    /// Boot one (quiet console) on a socket named after `tag`; return once
    /// it answers.
    pub fn boot(bin: &std::path::Path, tag: &str) -> Vkernel {
        use std::time::{Duration, Instant};
        let sock = std::env::temp_dir().join(format!("vk-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&sock);
        let child = std::process::Command::new(bin.join("vkernel"))
            .args(["-q", "-s"])
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn vkernel");
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "vkernel did not come up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Vkernel {
            child,
            sock,
            bin: bin.to_path_buf(),
        }
    }

    /// The kernel's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Run our `tool` with `args` (and `env`) against this kernel; its
    /// stdout (it must succeed).
    pub fn run(&self, tool: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> String {
        let mut c = std::process::Command::new(self.bin.join(tool));
        c.args(args)
            .env("VIMAGE_SOCKET", &self.sock)
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run tool");
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `halt`, then wait for the kernel to go (killed after 20 s).
    pub fn halt(mut self) {
        use std::time::{Duration, Instant};
        let _ = std::process::Command::new(self.bin.join("halt"))
            .env("VIMAGE_SOCKET", &self.sock)
            .stdout(std::process::Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
