//! Processes as the kernel reports them (FreeBSD's `sys/user.h`: `struct
//! kinfo_proc`, read by ps(1) through the `kern.proc.all` sysctl).
//!
//! vkernel's processes are host processes; the kernel says which of them a
//! caller may see (those of its vimage and the vimages below it) and what
//! the host's process table says of each.

use crate::wire::{Reader, Writer};
use crate::Errno;

/// `kern.proc.all`: the processes the caller's vimage sees.
pub const KERN_PROC_ALL: &str = "kern.proc.all";

/// Most records one `kern.proc.all` answer carries (a bound on a reply a
/// tenant can make the kernel build).
pub const KINFO_PROC_MAX: usize = 65536;

/// Longest command line kept, in bytes (FreeBSD's `kern.ps_arg_cache_limit`
/// default is 256; ps never shows more than a screen of it).
pub const KI_ARGS_MAX: usize = 4096;

/// One process (`struct kinfo_proc`, the fields ps(1) prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KinfoProc {
    /// Process id (`ki_pid`).
    pub pid: u32,
    /// Parent (`ki_ppid`).
    pub ppid: u32,
    /// Process group (`ki_pgid`).
    pub pgid: u32,
    /// Session (`ki_sid`).
    pub sid: u32,
    /// Foreground process group of its terminal, 0 without one (`ki_tpgid`).
    pub tpgid: u32,
    /// Controlling terminal: the host's device number, 0 for none
    /// (`ki_tdev`).
    pub tdev: u64,
    /// Real user id (`ki_ruid`).
    pub uid: u32,
    /// Run state, FreeBSD's letter: `R`, `S`, `I`, `D`, `T`, `Z`.
    pub state: u8,
    /// Nice value (`ki_nice`).
    pub nice: i32,
    /// Priority as ps shows it (`ki_pri.pri_level`).
    pub pri: i32,
    /// Virtual size in KiB (`ki_size` / 1024).
    pub vsz_kb: u64,
    /// Resident set in KiB (`ki_rssize` pages).
    pub rss_kb: u64,
    /// CPU time used, user and system, in microseconds (`ki_runtime`).
    pub runtime_us: u64,
    /// Start, seconds since the Epoch (`ki_start`).
    pub start: u64,
    /// Threads (`ki_numthreads`).
    pub nthreads: u32,
    /// What it sleeps on, if known (`ki_wmesg`).
    pub wchan: String,
    /// Command name (`ki_comm`).
    pub comm: String,
    /// Arguments (the process's `ps_strings`); empty for a process without
    /// (a kernel thread, a zombie).
    pub args: Vec<String>,
}

impl KinfoProc {
    /// Encode a list: a count, then the records.
    pub fn encode_list(list: &[KinfoProc]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(list.len() as u32);
        for p in list {
            w.u32(p.pid)
                .u32(p.ppid)
                .u32(p.pgid)
                .u32(p.sid)
                .u32(p.tpgid)
                .u64(p.tdev)
                .u32(p.uid)
                .u8(p.state)
                .i32(p.nice)
                .i32(p.pri)
                .u64(p.vsz_kb)
                .u64(p.rss_kb)
                .u64(p.runtime_us)
                .u64(p.start)
                .u32(p.nthreads)
                .str(&p.wchan)
                .str(&p.comm)
                .u32(p.args.len() as u32);
            for a in &p.args {
                w.str(a);
            }
        }
        w.finish()
    }

    /// Decode a list; any malformation is `EINVAL`.
    pub fn decode_list(b: &[u8]) -> Result<Vec<KinfoProc>, Errno> {
        let mut r = Reader::new(b);
        let n = r.u32()? as usize;
        if n > KINFO_PROC_MAX {
            return Err(Errno::EINVAL);
        }
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let mut p = KinfoProc {
                pid: r.u32()?,
                ppid: r.u32()?,
                pgid: r.u32()?,
                sid: r.u32()?,
                tpgid: r.u32()?,
                tdev: r.u64()?,
                uid: r.u32()?,
                state: r.u8()?,
                nice: r.i32()?,
                pri: r.i32()?,
                vsz_kb: r.u64()?,
                rss_kb: r.u64()?,
                runtime_us: r.u64()?,
                start: r.u64()?,
                nthreads: r.u32()?,
                wchan: r.str()?.to_string(),
                comm: r.str()?.to_string(),
                args: Vec::new(),
            };
            let na = r.u32()? as usize;
            // Each argument takes at least its length word.
            if na > r.remaining() / 4 {
                return Err(Errno::EINVAL);
            }
            for _ in 0..na {
                p.args.push(r.str()?.to_string());
            }
            v.push(p);
        }
        r.end()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_malformed_ones_are_einval() {
        let p = KinfoProc {
            pid: 4996,
            ppid: 1,
            pgid: 4996,
            sid: 4996,
            tpgid: 0,
            tdev: 0,
            uid: 0,
            state: b'S',
            nice: 0,
            pri: 20,
            vsz_kb: 4096,
            rss_kb: 1024,
            runtime_us: 20_000,
            start: 1_700_000_000,
            nthreads: 1,
            wchan: "select".into(),
            comm: "zebra".into(),
            args: vec!["zebra".into(), "-dP0".into()],
        };
        let l = vec![p.clone(), KinfoProc::default()];
        let b = KinfoProc::encode_list(&l);
        assert_eq!(KinfoProc::decode_list(&b).unwrap(), l);
        for cut in 0..b.len() {
            assert_eq!(KinfoProc::decode_list(&b[..cut]), Err(Errno::EINVAL));
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(KinfoProc::decode_list(&long), Err(Errno::EINVAL));
        let mut huge = b;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(KinfoProc::decode_list(&huge), Err(Errno::EINVAL));
    }
}
