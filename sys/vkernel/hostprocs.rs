//! The host's process table as the kernel sees it: Linux's /proc.

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
}
