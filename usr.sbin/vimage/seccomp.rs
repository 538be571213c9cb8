//! The capture: a seccomp filter whose socket system calls are answered by the
//! supervisor (seccomp user notification), and the plumbing to serve them.
//!
//! The filter is installed by the command's process just before `exec`, with
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER`; the supervisor takes the listener with
//! `pidfd_getfd` and the process drops its own copy, so the supervisor holds
//! the only one.  A filter is inherited across `fork`, `clone` and `exec` and
//! can never be removed: every descendant's socket calls come to the
//! supervisor for good.  If the supervisor dies, the listener closes and those
//! calls fail with `ENOSYS`: the processes lose the network, they never fall
//! back to the host's.
//!
//! What is notified (x86_64 numbering): `socket`, `bind`, `connect`,
//! `listen`, `accept`, `accept4`, `getsockname`, `getpeername`,
//! `setsockopt`, `getsockopt`, `shutdown`, `sendmsg`, `recvmsg`, `sendmmsg`,
//! `recvmmsg`, `sendto`/`recvfrom` only with an address argument (plain
//! `send`/`recv` are data path), socket-configuration `ioctl`s (`0x89xx`),
//! `uname` and `sethostname`.  `io_uring_setup` answers `ENOSYS` so programs
//! fall back to the calls above; i386 and x32 socket calls answer `ENOSYS`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`.
const X32_BIT: u32 = 0x4000_0000;
/// `SECCOMP_RET_ALLOW`.
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_USER_NOTIF`.
const RET_NOTIFY: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ERRNO`.
const RET_ERRNO: u32 = 0x0005_0000;

/// System calls always sent to the supervisor.
const NOTIFY: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_shutdown,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_uname,
    libc::SYS_sethostname,
    // Reaching other processes: allowed only inside the vimage (the
    // supervisor checks the target).
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
];

/// `ptrace` requests that take hold of another process (the others work
/// only on a tracee already held).
const PTRACE_ATTACH: u32 = 16;
const PTRACE_SEIZE: u32 = 0x4206;

/// i386 calls refused: the socket calls (`socketcall` and the direct ones),
/// and those reaching other processes (ptrace, kill, tkill,
/// rt_sigqueueinfo, tgkill, rt_tgsigqueueinfo, process_vm_readv/writev,
/// pidfd_send_signal, pidfd_open), which only the x86_64 ABI has checked.
const I386_NET: &[u32] = &[
    102, 122, 337, 345, 359, 360, 361, 362, 363, 364, 365, 366, 367, 368, 369, 370, 371, 372, 373,
    26, 37, 238, 178, 270, 335, 347, 348, 424, 434,
];

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

/// The filter program.
pub fn filter() -> Vec<libc::sock_filter> {
    // x86_64 goes on; i386 socket calls are refused, the rest of i386 allowed;
    // any other architecture is refused outright.
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, (I386_NET.len() + 4) as u8, 0),
        jump(JEQ_K, AUDIT_ARCH_I386, 0, (I386_NET.len() + 2) as u8),
        stmt(LD_W_ABS, OFF_NR),
    ];
    for (i, nr) in I386_NET.iter().enumerate() {
        let left = (I386_NET.len() - i) as u8;
        p.push(jump(JEQ_K, *nr, left, 0));
    }
    p.push(stmt(RET_K, RET_ALLOW));
    p.push(stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32));
    // x86_64.
    p.push(stmt(LD_W_ABS, OFF_NR));
    p.push(jump(JSET_K, X32_BIT, 0, 1));
    p.push(stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32));
    p.push(jump(JEQ_K, libc::SYS_io_uring_setup as u32, 0, 1));
    p.push(stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32));
    for nr in NOTIFY {
        p.push(jump(JEQ_K, *nr as u32, 0, 1));
        p.push(stmt(RET_K, RET_NOTIFY));
    }
    // sendto/recvfrom: only with an address (argument 4).
    for nr in [libc::SYS_sendto, libc::SYS_recvfrom] {
        p.push(jump(JEQ_K, nr as u32, 0, 6));
        p.push(stmt(LD_W_ABS, off_arg_lo(4)));
        p.push(jump(JEQ_K, 0, 0, 2));
        p.push(stmt(LD_W_ABS, off_arg_lo(4) + 4));
        p.push(jump(JEQ_K, 0, 1, 0));
        p.push(stmt(RET_K, RET_NOTIFY));
        p.push(stmt(RET_K, RET_ALLOW));
    }
    // ptrace: attaching (PTRACE_ATTACH, PTRACE_SEIZE) is checked.
    p.push(jump(JEQ_K, libc::SYS_ptrace as u32, 0, 5));
    p.push(stmt(LD_W_ABS, off_arg_lo(0)));
    p.push(jump(JEQ_K, PTRACE_ATTACH, 1, 0));
    p.push(jump(JEQ_K, PTRACE_SEIZE, 0, 1));
    p.push(stmt(RET_K, RET_NOTIFY));
    p.push(stmt(RET_K, RET_ALLOW));
    // ioctl: the SIOC* interface requests (0x89xx).
    p.push(jump(JEQ_K, libc::SYS_ioctl as u32, 0, 4));
    p.push(stmt(LD_W_ABS, off_arg_lo(1)));
    p.push(stmt(AND_K, 0xffff_ff00));
    p.push(jump(JEQ_K, 0x8900, 0, 1));
    p.push(stmt(RET_K, RET_NOTIFY));
    p.push(stmt(RET_K, RET_ALLOW));
    p
}

/// In the command's process, just before `exec`: install the filter and
/// return the listener's descriptor number (still open here).
pub fn install() -> io::Result<RawFd> {
    let prog = filter();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl and seccomp with valid arguments; `prog` outlives the call.
    unsafe {
        // Without CAP_SYS_ADMIN a filter needs no_new_privs.
        if libc::geteuid() != 0 && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd as RawFd)
    }
}

/// `pidfd_open(pid)`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call; the descriptor is ours on success.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_getfd`: a duplicate of descriptor `fd` of the process behind `pidfd`.
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call; the descriptor is ours on success.
    let n = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(n as RawFd) })
}

/// One notification.
pub type Notif = libc::seccomp_notif;

/// The listener.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Wrap the listener descriptor.
    ///
    /// The listener is switched to synchronous wake-ups (Linux 6.6): the
    /// program blocked in its call hands its CPU to the supervisor thread
    /// and gets it back with the answer, instead of two cross-CPU wake-ups
    /// per call.  An older kernel refuses the flag and keeps the ordinary
    /// wake-ups.
    pub fn new(fd: OwnedFd) -> Self {
        const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
        let flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
        // SAFETY: SET_FLAGS reads one u64 by value.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) };
        Listener { fd }
    }

    /// Wait for the next notification; `None` when no process is left.
    pub fn recv(&self) -> Option<Notif> {
        loop {
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, -1) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            if p.revents & libc::POLLIN == 0 {
                if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    return None;
                }
                continue;
            }
            // SAFETY: NOTIF_RECV fills a zeroed seccomp_notif.
            let mut n: Notif = unsafe { std::mem::zeroed() };
            let r =
                unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
            if r == 0 {
                return Some(n);
            }
            match io::Error::last_os_error().raw_os_error() {
                // The process died between poll and recv, or a signal.
                Some(libc::ENOENT) | Some(libc::EINTR) => continue,
                _ => return None,
            }
        }
    }

    /// Whether notification `id` is still pending (its process alive and
    /// still in the call): checked after reading its memory, so that a pid
    /// reused in between is never trusted.
    pub fn valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads one u64.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) {
        let mut r = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp.  Failure means the
        // process is gone (or was interrupted): nothing to answer.
        unsafe {
            libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut r);
        }
    }

    /// Answer with a return value.
    pub fn ret(&self, id: u64, val: i64) {
        self.send(id, val, 0, 0)
    }

    /// Answer with a (Linux) errno.
    pub fn errno(&self, id: u64, e: i32) {
        self.send(id, 0, -e, 0)
    }

    /// Let the host run the call as the process made it.
    pub fn cont(&self, id: u64) {
        self.send(id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Answer with a new descriptor in the process: `src` installed at the
    /// lowest free number (or at `at`, replacing what is there), and that
    /// number is the call's result.  Returns the number, or the errno.
    /// Without `send` the descriptor is only installed and the call is still
    /// to be answered.
    pub fn add_fd(
        &self,
        id: u64,
        src: &OwnedFd,
        cloexec: bool,
        at: Option<i32>,
        send: bool,
    ) -> Result<i32, i32> {
        let mut a = libc::seccomp_notif_addfd {
            id,
            flags: if send {
                libc::SECCOMP_ADDFD_FLAG_SEND as u32
            } else {
                0
            } | at.map_or(0, |_| libc::SECCOMP_ADDFD_FLAG_SETFD as u32),
            srcfd: src.as_raw_fd() as u32,
            newfd: at.unwrap_or(0) as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: NOTIF_ADDFD reads one seccomp_notif_addfd.
        let r =
            unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &mut a) };
        if r < 0 {
            Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO))
        } else {
            Ok(r)
        }
    }
}

/// A captured process's memory, reached only with `process_vm_readv` and
/// `process_vm_writev`: a bad pointer is an `EFAULT` for the call, never a
/// fault in the supervisor.
pub struct Mem {
    pid: i32,
}

/// Longest buffer copied in one call (larger requests are cut to it, as a
/// short read or write).
pub const MAX_COPY: usize = 256 * 1024;

impl Mem {
    /// The memory of task `pid`.
    pub fn new(pid: u32) -> Self {
        Mem { pid: pid as i32 }
    }

    /// Copy `len` bytes from `addr`.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        if len == 0 {
            return Ok(Vec::new());
        }
        if len > MAX_COPY {
            return Err(libc::EINVAL);
        }
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: the local iovec is our buffer; the remote one is only read
        // by the kernel on the other process's behalf.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 || n as usize != len {
            return Err(libc::EFAULT);
        }
        Ok(buf)
    }

    /// Copy `data` to `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), i32> {
        if data.is_empty() {
            return Ok(());
        }
        let local = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: data.len(),
        };
        // SAFETY: as in read; the local buffer is only read.
        let n = unsafe { libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 || n as usize != data.len() {
            return Err(libc::EFAULT);
        }
        Ok(())
    }

    /// A 32-bit integer at `addr`.
    pub fn read_u32(&self, addr: u64) -> Result<u32, i32> {
        let b = self.read(addr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The process (thread group) of task `tid` and a pidfd of it.  Most calls
/// come from a thread-group leader, which pidfd_open accepts (it refuses
/// other threads): one system call, whose descriptor then serves the whole
/// call, instead of reading /proc/TID/status.
pub fn process_of(tid: u32) -> (u32, Option<OwnedFd>) {
    if let Ok(p) = pidfd_open(tid as i32) {
        return (tid, Some(p));
    }
    let tgid = std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid);
    (tgid, pidfd_open(tgid as i32).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_jumps_stay_inside_the_program() {
        let p = filter();
        assert!(p.len() < 4096);
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == libc::BPF_JMP as u16 {
                assert!(i + 1 + (ins.jt as usize) < p.len(), "jt at {i}");
                assert!(i + 1 + (ins.jf as usize) < p.len(), "jf at {i}");
            }
        }
        // Every path ends in a return.
        assert_eq!(p.last().map(|i| i.code), Some(RET_K));
    }
}
