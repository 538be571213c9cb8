//! `copyin(9)`/`copyout(9)` for door connections: a large `send` or `recv`
//! moves its data straight between the caller's buffer and the kernel's
//! mbufs (`process_vm_readv`/`process_vm_writev`), one copy each way,
//! instead of through the door's socket (two copies each way, and the
//! socket's buffers).
//!
//! Only the process the connection serves is ever read or written, and only
//! as far as the connection's user could through ptrace:
//! - It is the process that opened the connection (`SO_PEERPIDFD`), or the
//!   one a supervisor handed it to (`SetOwner`, once: a connection whose
//!   owner is named again is served through the socket, so a captured
//!   program cannot point the kernel at its supervisor).  Held by a pidfd,
//!   so a pid the process left behind and another took is never touched: a
//!   copy in counts only if the process was still there after it, a copy
//!   out is made only while it is there (a pid is not handed out again
//!   before its process is reaped).
//! - Its real, effective, saved and filesystem ids must all be the
//!   connection's uid and gid: a process that changed credentials (a
//!   set-id program) is served through the socket, so a kernel running as
//!   root never reads memory its caller's user could not.
//! - `kern.door.copyio` = 0 turns it off for new connections.
//!
//! Anything refused answers `ENOSYS`, and the library falls back to sending
//! the data in the frame; a bad buffer answers `EFAULT`.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use vimage_abi::Errno;

/// `SO_PEERPIDFD` (Linux 6.5): a pidfd of the process that connected.
const SO_PEERPIDFD: libc::c_int = 77;

/// Most iovecs one `process_vm_*` call takes (`UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// Whether a connection's caller may be copied from and to.
enum State {
    /// Not looked at yet: on the first large call.
    Unknown,
    /// Checked: its pid, and its pidfd.
    Ok(i32, OwnedFd),
    /// Refused (off, another user's ids, no pidfd): through the socket.
    No,
}

/// The copy state of one door connection.
pub struct UserMem {
    state: State,
    uid: u32,
    gid: u32,
    /// An owner was named (`SetOwner`).
    owned: bool,
}

impl UserMem {
    /// For a connection from `uid`/`gid`; `enabled` is `kern.door.copyio`.
    pub fn new(uid: u32, gid: u32, enabled: bool) -> Self {
        UserMem {
            state: if enabled { State::Unknown } else { State::No },
            uid,
            gid,
            owned: false,
        }
    }

    /// Whether the connection's user may take over host process `pid`'s
    /// descriptors (`SetOwner`): root, or the process's user and group in
    /// every id, as ptrace(2) and FreeBSD's `p_candebug` ask, so one user
    /// in a vimage cannot take another's sockets.
    pub fn may_debug(&self, pid: u32) -> bool {
        self.uid == 0 || i32::try_from(pid).is_ok_and(|p| same_ids(p, self.uid, self.gid))
    }

    /// The connection now serves host process `pid` (`SetOwner` done): its
    /// memory is the one copied from and to, if its ids are the
    /// connection's; a second owner turns copying off for good.
    pub fn set_owner(&mut self, pid: u32) {
        let first = !self.owned;
        self.owned = true;
        if matches!(self.state, State::No) {
            return;
        }
        self.state = State::No;
        if !first {
            return;
        }
        let Ok(pid) = i32::try_from(pid) else { return };
        // SAFETY: pidfd_open takes a pid and flags; the result is ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            return;
        }
        // SAFETY: the host kernel just gave us this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        if same_ids(pid, self.uid, self.gid) && alive(&pidfd) {
            self.state = State::Ok(pid, pidfd);
        }
    }

    /// The caller's pid when it may be copied from and to, looking once.
    /// Whether it is still there is asked where it matters: after a copy in,
    /// before a copy out ([`UserMem::still_there`]).
    fn caller(&mut self, conn: &UnixStream) -> Result<i32, Errno> {
        if matches!(self.state, State::Unknown) {
            self.state = match check(conn, self.uid, self.gid) {
                Some((pid, fd)) => State::Ok(pid, fd),
                None => State::No,
            };
        }
        match &self.state {
            State::Ok(pid, _) => Ok(*pid),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// Whether the caller has not exited (so its pid is still its own).
    fn still_there(&self) -> bool {
        matches!(&self.state, State::Ok(_, fd) if alive(fd))
    }

    /// Copy `len` bytes at `ptr` in the caller into `out`'s spare room,
    /// appended (`copyin`).
    pub fn copyin(
        &mut self,
        conn: &UnixStream,
        ptr: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Errno> {
        let pid = self.caller(conn)?;
        out.reserve_exact(len);
        let spare: &mut [MaybeUninit<u8>] = &mut out.spare_capacity_mut()[..len];
        let local = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: ptr as usize as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` is `len` bytes of room `out` owns; the remote side
        // is the caller's address space, checked by the host kernel.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            // Nothing taken yet: a refusal sends the data in the frame.
            return Err(self.refused(Errno::ENOSYS));
        }
        if n as usize != len {
            return Err(Errno::EFAULT);
        }
        // The bytes are the caller's only if it was still there after the
        // copy (its pid not yet anyone else's).
        if !self.still_there() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: process_vm_readv filled all `len` bytes.
        unsafe { out.set_len(out.len() + len) };
        Ok(())
    }

    /// Whether a receive into `ptr` can be copied out, asked before anything
    /// is taken from the socket: `ENOSYS` when the host refuses this kernel
    /// the caller's memory (Yama's `ptrace_scope`, a process made
    /// non-dumpable), so the library receives through the frame instead, and
    /// `EFAULT` when `ptr` is not the caller's.
    pub fn probe(&mut self, conn: &UnixStream, ptr: u64) -> Result<(), Errno> {
        let pid = self.caller(conn)?;
        let mut b = [0u8; 1];
        let local = libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: ptr as usize as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: one byte of our own stack; the remote side is checked by
        // the host kernel.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        match n {
            1 => Ok(()),
            n if n < 0 => Err(self.refused(Errno::ENOSYS)),
            _ => Err(Errno::EFAULT),
        }
    }

    /// The errno for a failed `process_vm_*` call: a permission refusal
    /// turns copying off for the connection and answers `refusal`; any other
    /// failure is the caller's bad buffer (`EFAULT`).
    fn refused(&mut self, refusal: Errno) -> Errno {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
            self.state = State::No;
            refusal
        } else {
            Errno::EFAULT
        }
    }

    /// Copy `parts` (in order) to `ptr` in the caller (`copyout`); the bytes
    /// written.
    pub fn copyout<'a>(
        &mut self,
        conn: &UnixStream,
        ptr: u64,
        parts: impl Iterator<Item = &'a [u8]>,
    ) -> Result<usize, Errno> {
        let pid = self.caller(conn)?;
        // Written only while the caller is there (a pid is not handed out
        // again before its process is reaped).
        if !self.still_there() {
            return Err(Errno::EFAULT);
        }
        let mut at = ptr;
        let mut total = 0usize;
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(16);
        let flush = |iov: &mut Vec<libc::iovec>, at: &mut u64| -> Result<usize, Errno> {
            let len: usize = iov.iter().map(|v| v.iov_len).sum();
            if len == 0 {
                return Ok(0);
            }
            let remote = libc::iovec {
                iov_base: *at as usize as *mut libc::c_void,
                iov_len: len,
            };
            // SAFETY: the local iovecs point into mbufs borrowed for the
            // call; the remote one is the caller's, checked by the host.
            let n = unsafe {
                libc::process_vm_writev(pid, iov.as_ptr(), iov.len() as _, &remote, 1, 0)
            };
            iov.clear();
            if n < 0 || n as usize != len {
                return Err(Errno::EFAULT);
            }
            *at += len as u64;
            Ok(len)
        };
        for p in parts.filter(|p| !p.is_empty()) {
            iov.push(libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            });
            if iov.len() == IOV_MAX {
                total += flush(&mut iov, &mut at)?;
            }
        }
        total += flush(&mut iov, &mut at)?;
        Ok(total)
    }
}

/// The connection's caller, if it may be copied from and to: its pidfd
/// (`SO_PEERPIDFD`), its pid, and ids all the connection's own.
fn check(conn: &UnixStream, uid: u32, gid: u32) -> Option<(i32, OwnedFd)> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int-sized option value and its length.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&mut fd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 || fd < 0 {
        return None;
    }
    // SAFETY: the host kernel just gave us this descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let pid = pidfd_pid(&pidfd)?;
    // What was read is the caller's only if it is still there.
    (same_ids(pid, uid, gid) && alive(&pidfd)).then_some((pid, pidfd))
}

/// Whether every id of process `pid` (real, effective, saved, filesystem)
/// is `uid`, and every group id `gid`.
fn same_ids(pid: i32, uid: u32, gid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let ids = |key: &str| -> Option<Vec<u32>> {
        let l = status.lines().find(|l| l.starts_with(key))?;
        l[key.len()..]
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect()
    };
    let (Some(uids), Some(gids)) = (ids("Uid:"), ids("Gid:")) else {
        return false;
    };
    uids.len() == 4
        && gids.len() == 4
        && uids.iter().all(|&u| u == uid)
        && gids.iter().all(|&g| g == gid)
}

/// The pid a pidfd stands for (`Pid:` in its fdinfo).
fn pidfd_pid(fd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    let l = info.lines().find(|l| l.starts_with("Pid:"))?;
    let pid: i32 = l[4..].trim().parse().ok()?;
    (pid > 0).then_some(pid)
}

/// Whether the process behind `fd` has not exited (a pidfd turns readable
/// when it does).
fn alive(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process, connected to itself: copies in and out of its own
    /// memory, a bad address is EFAULT, and a refused connection ENOSYS.
    #[test]
    fn copies_the_callers_memory_and_refuses_bad_addresses() {
        let (a, _b) = UnixStream::pair().unwrap();
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut m = UserMem::new(uid, gid, true);
        let src: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut out = vec![1u8, 2];
        if m.copyin(&a, src.as_ptr() as u64, src.len(), &mut out)
            .is_err_and(|e| e == Errno::ENOSYS)
        {
            eprintln!("skipped: no SO_PEERPIDFD on this host");
            return;
        }
        assert_eq!(&out[..2], &[1, 2]);
        assert!(out[2..] == src[..]);
        let mut dst = vec![0u8; 10];
        let n = m
            .copyout(
                &a,
                dst.as_mut_ptr() as u64,
                [&b"abc"[..], b"", b"defg"].into_iter(),
            )
            .unwrap();
        assert_eq!(n, 7);
        assert_eq!(&dst[..8], b"abcdefg\0");
        let mut out = Vec::new();
        assert_eq!(m.copyin(&a, 8, 16, &mut out), Err(Errno::EFAULT));
        assert!(out.is_empty());
        assert_eq!(
            m.copyout(&a, 8, [&b"x"[..]].into_iter()),
            Err(Errno::EFAULT)
        );
        // Another user's ids, or off: through the socket.
        let mut other = UserMem::new(uid.wrapping_add(1), gid, true);
        assert_eq!(
            other.copyin(&a, src.as_ptr() as u64, 4, &mut Vec::new()),
            Err(Errno::ENOSYS)
        );
        // Handed to a process (this one): copied; named again: refused.
        let mut h = UserMem::new(uid, gid, true);
        h.set_owner(std::process::id());
        let mut out = Vec::new();
        h.copyin(&a, src.as_ptr() as u64, 4, &mut out).unwrap();
        assert_eq!(out, src[..4]);
        h.set_owner(std::process::id());
        assert_eq!(
            h.copyin(&a, src.as_ptr() as u64, 4, &mut Vec::new()),
            Err(Errno::ENOSYS)
        );
        let mut off = UserMem::new(uid, gid, false);
        assert_eq!(
            off.copyin(&a, src.as_ptr() as u64, 4, &mut Vec::new()),
            Err(Errno::ENOSYS)
        );
    }

    /// What the refusal test's helper processes do, by `VK_COPYIO_HELPER`:
    /// `target` makes itself non-dumpable, prints the address of a buffer
    /// and waits for its stdin to close; `probe PID ADDR` asks for that
    /// buffer as a connection of its own ids would, and prints the answers.
    #[test]
    fn helper() {
        let Ok(mode) = std::env::var("VK_COPYIO_HELPER") else {
            return;
        };
        let mut w = mode.split_whitespace();
        match w.next() {
            Some("target") => {
                let buf = [7u8; 64];
                if w.next() != Some("dumpable") {
                    // SAFETY: prctl with integer arguments.
                    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
                }
                println!("addr {}", buf.as_ptr() as u64);
                let mut s = String::new();
                let _ = std::io::stdin().read_line(&mut s);
                std::hint::black_box(&buf);
            }
            Some("probe") => {
                let pid: u32 = w.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                let addr: u64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                println!("{}", refused_answers(pid, addr));
            }
            _ => {}
        }
    }

    /// Probe, copy in and probe again at `addr` in `pid` as this process's
    /// own ids.
    fn refused_answers(pid: u32, addr: u64) -> String {
        let (a, _b) = UnixStream::pair().unwrap();
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut m = UserMem::new(uid, gid, true);
        m.set_owner(pid);
        let p1 = m.probe(&a, addr);
        let c = m.copyin(&a, addr, 8, &mut Vec::new());
        format!("answers {p1:?} {c:?}")
    }

    /// A process the host will not let this kernel read (non-dumpable, so
    /// ptrace is refused; Yama's `ptrace_scope` refuses the same way) is
    /// served through the socket: `ENOSYS` from the probe, before anything
    /// is received, and from then on.
    #[test]
    fn a_process_the_host_refuses_us_is_served_through_the_socket() {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        // SAFETY: plain getter.
        let root = unsafe { libc::geteuid() } == 0;
        let exe = std::env::current_exe().unwrap();
        let helper = |mode: String| {
            let mut c = Command::new(&exe);
            c.args([
                "--exact",
                "copyio::tests::helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("VK_COPYIO_HELPER", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
            if root {
                // Root may read anything: both sides become nobody.
                c.uid(65534).gid(65534);
            }
            c
        };
        // The answers for a target that is (or is not) dumpable; None when
        // a helper cannot start.
        let answers = |mode: &str| -> Option<String> {
            let mut target = helper(mode.into()).spawn().unwrap();
            let mut addr = None;
            for l in BufReader::new(target.stdout.take().unwrap()).lines() {
                let l = l.unwrap();
                // (after libtest's "test … " on the same line)
                if let Some(a) = l.split("addr ").nth(1) {
                    addr = a.parse::<u64>().ok();
                    break;
                }
            }
            let Some(addr) = addr else {
                let _ = target.kill();
                let _ = target.wait();
                return None;
            };
            let answers = if root {
                let out = helper(format!("probe {} {addr}", target.id()))
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .find_map(|l| l.find("answers").map(|i| l[i..].to_string()))
            } else {
                Some(refused_answers(target.id(), addr))
            };
            drop(target.stdin.take());
            let _ = target.wait();
            answers
        };
        let (Some(yes), Some(no)) = (answers("target dumpable"), answers("target")) else {
            eprintln!("skipped: a helper could not start (as nobody, is the binary readable?)");
            return;
        };
        assert_eq!(yes, "answers Ok(()) Ok(())");
        assert_eq!(no, "answers Err(ENOSYS(78)) Err(ENOSYS(78))");
    }
}
