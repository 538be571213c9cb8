//! The host's process table as the kernel sees it: Linux's /proc.

use vimage_abi::user::{KinfoProc, KI_ARGS_MAX};
use vimage_kern::kern_proc::HostProcs;

/// Reads /proc.
pub struct ProcFs {
    me: u32,
}

impl ProcFs {
    /// For the current process.
    pub fn new() -> Self {
        ProcFs {
            me: std::process::id(),
        }
    }
}

/// Fields after the command name of /proc/PID/stat (which may contain spaces and
/// parentheses, so parse from the last ')').
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

impl HostProcs for ProcFs {
    fn ppid(&self, pid: u32) -> Option<u32> {
        // Field 4 overall: state is index 0 after ')', ppid index 1.
        stat_fields(pid)?.get(1)?.parse().ok()
    }
    fn start_time(&self, pid: u32) -> Option<u64> {
        // Field 22 overall (starttime) is index 19 after ')'.
        stat_fields(pid)?.get(19)?.parse().ok()
    }
    fn pids(&self) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn self_pid(&self) -> u32 {
        self.me
    }
    fn info(&self, pid: u32) -> Option<KinfoProc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_string();
        let f: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        let n = |i: usize| -> u64 { f.get(i).and_then(|x| x.parse().ok()).unwrap_or(0) };
        let i = |i: usize| -> i64 { f.get(i).and_then(|x| x.parse().ok()).unwrap_or(0) };
        let hz = clk_tck();
        let state = match f.first().and_then(|s| s.bytes().next()) {
            Some(b'R') => b'R',
            Some(b'D') => b'D',
            Some(b'T' | b't') => b'T',
            Some(b'Z' | b'X' | b'x') => b'Z',
            Some(b'I') => b'I',
            _ => b'S',
        };
        let mut args: Vec<String> = Vec::new();
        if let Ok(b) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let b = &b[..b.len().min(KI_ARGS_MAX)];
            args = b
                .split(|&c| c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            while args.last().is_some_and(String::is_empty) {
                args.pop();
            }
        }
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0);
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan"))
            .ok()
            .filter(|w| w != "0")
            .unwrap_or_default();
        let page_kb = (page_size() / 1024).max(1);
        Some(KinfoProc {
            pid,
            ppid: n(1) as u32,
            pgid: n(2) as u32,
            sid: n(3) as u32,
            tdev: n(4),
            tpgid: u32::try_from(i(5)).unwrap_or(0),
            uid,
            state,
            nice: i(16) as i32,
            pri: i(15) as i32,
            vsz_kb: n(20) / 1024,
            rss_kb: n(21) * page_kb,
            runtime_us: (n(11) + n(12)) * 1_000_000 / hz,
            start: boot_time() + n(19) / hz,
            nthreads: n(17) as u32,
            wchan,
            comm,
            args,
        })
    }
}

/// Clock ticks per second of /proc's times (`_SC_CLK_TCK`).
fn clk_tck() -> u64 {
    // SAFETY: sysconf reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// When the host booted, seconds since the Epoch (/proc/stat's `btime`).
fn boot_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|b| b.trim().parse().ok())
        })
        .unwrap_or(0)
}
