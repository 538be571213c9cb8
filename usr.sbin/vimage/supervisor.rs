//! The supervisor: serves the socket calls of the processes captured in a
//! vimage (see `seccomp.rs`), in the Linux ABI they speak, through the kernel's
//! door in the FreeBSD ABI it speaks.
//!
//! Who holds what:
//!
//! ```text
//!  program (Linux ABI)          supervisor (this)               vkernel
//!  fd 5 ── AF_UNIX pair end ◀── injected (ADDFD)   ◀── Export ── other end ⇄ splice ⇄ socket
//!  socket()/bind()/... ──notify──▶ translate ──door (FreeBSD ABI)──▶ sys_*()
//!  read()/write()/poll() on fd 5: host only, no notification
//! ```
//!
//! The supervisor knows a program's descriptor by the inode of the pair end
//! behind it (`pidfd_getfd` + `fstat`), so `dup`, `fork` and `exec` need no
//! bookkeeping; the kernel tells it which inodes ended with each export.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use libvimage::{Errno, Sys};
use vimage_abi::sysctl::SysctlValue;

use crate::seccomp::{self, Listener, Mem, Notif};

#[path = "netlink.rs"]
mod netlink;

/// Linux `AF_UNIX`, `AF_INET`, `AF_INET6`, `AF_NETLINK`.
const L_AF_UNIX: i32 = 1;
const L_AF_INET: i32 = 2;
const L_AF_INET6: i32 = 10;
/// Linux `SOCK_STREAM`.
const L_SOCK_STREAM: i32 = 1;
/// `SOCK_RAW` in the kernel's numbering.
const K_SOCK_RAW: i32 = 3;
/// Kernel (FreeBSD) `SOCK_NONBLOCK` and `SOL_SOCKET`/`SO_ERROR`.
const K_SOCK_NONBLOCK: i32 = 0x2000_0000;
const K_SOL_SOCKET: i32 = 0xffff;
const K_SO_ERROR: i32 = 0x1007;
const K_POLLOUT: u32 = 0x4;
/// How often a blocked call checks that its process is still waiting.
const SLICE_MS: i32 = 100;
/// Most worker threads serving calls at once.
const MAX_WORKERS: usize = 256;
/// Largest datagram accepted from a program.
const MAX_DGRAM: usize = 65535;

/// One exported socket as the supervisor knows it.
#[derive(Clone, Copy, Debug)]
struct Ent {
    /// Descriptor in the supervisor's kernel table.
    kfd: i32,
    /// Linux family, base type and protocol (for `SO_DOMAIN` & co).
    family: i32,
    ty: i32,
    proto: i32,
}

/// What a handler decided.
enum Ans {
    Ret(i64),
    Cont,
    /// Already answered (a descriptor was injected).
    Done,
}

type R = Result<Ans, i32>;

fn kerr(e: Errno) -> i32 {
    liblinux::errno_to_linux(e)
}

/// The supervisor of one vimage's captured processes.
pub struct Supervisor {
    lis: Listener,
    door_path: PathBuf,
    door_id: (u64, u64),
    pool: Mutex<Vec<Sys>>,
    socks: Mutex<HashMap<u32, Ent>>,
    /// Held by the one thread waiting for the next notification (the
    /// leader); the others wait for their turn.
    recv_lock: Mutex<()>,
    /// Threads handling a notification.
    busy: AtomicUsize,
    /// Threads serving (leader, followers and busy ones).
    workers: AtomicUsize,
}

impl Supervisor {
    /// A supervisor for `lis`, reaching the kernel at `door_path`.
    pub fn new(lis: Listener, door_path: PathBuf) -> Arc<Self> {
        let door_id = file_id(&door_path).unwrap_or((0, 0));
        Arc::new(Supervisor {
            lis,
            door_path,
            door_id,
            pool: Mutex::new(Vec::new()),
            socks: Mutex::new(HashMap::new()),
            recv_lock: Mutex::new(()),
            busy: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
        })
    }

    /// Serve notifications until no captured process is left.
    ///
    /// The supervisor holds the vimage's listener: it makes itself
    /// non-dumpable first, so no process of the same user can ptrace it,
    /// read its memory or take its descriptors (`pidfd_getfd`).
    pub fn run(self: &Arc<Self>) {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        self.workers.fetch_add(1, Ordering::AcqRel);
        self.clone().serve();
    }

    /// Leader/followers: the thread that receives a notification handles it
    /// itself (no hand-off, which would cost a wake-up per call).  A call
    /// that cannot block (`socket`, `bind`, names, options …) is handled
    /// while still leading, so the followers sleep on; before a call that
    /// may block (accept, connect, recv, send) the lead passes to the next
    /// thread in line, and when every thread is busy one more is started, up
    /// to `MAX_WORKERS`.  Each thread ends when the listener reports that no
    /// captured process is left.
    fn serve(self: Arc<Self>) {
        loop {
            let leader = match self.recv_lock.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let Some(n) = self.lis.recv() else { break };
            if !may_block(&n) {
                self.handle(&n);
                drop(leader);
                continue;
            }
            drop(leader);
            let busy = self.busy.fetch_add(1, Ordering::AcqRel) + 1;
            let workers = self.workers.load(Ordering::Acquire);
            if busy >= workers && workers < MAX_WORKERS {
                self.workers.fetch_add(1, Ordering::AcqRel);
                let me = self.clone();
                let spawned = std::thread::Builder::new()
                    .name("notif".into())
                    .stack_size(256 * 1024)
                    .spawn(move || me.serve());
                if spawned.is_err() {
                    self.workers.fetch_sub(1, Ordering::AcqRel);
                }
            }
            self.handle(&n);
            self.busy.fetch_sub(1, Ordering::AcqRel);
        }
        self.workers.fetch_sub(1, Ordering::AcqRel);
    }

    fn handle(&self, n: &Notif) {
        let (tgid, pidfd) = seccomp::process_of(n.pid);
        let c = Call {
            n,
            mem: Mem::new(n.pid),
            tgid,
            pidfd,
            lis: &self.lis,
        };
        let r = self.dispatch(&c);
        match r {
            Ok(Ans::Ret(v)) => self.lis.ret(n.id, v),
            Err(e) => self.lis.errno(n.id, e),
            Ok(Ans::Cont) => self.lis.cont(n.id),
            Ok(Ans::Done) => {}
        }
    }

    fn dispatch(&self, c: &Call) -> R {
        let a = |i: usize| c.n.data.args[i];
        match c.n.data.nr as i64 {
            libc::SYS_socket => self.sys_socket(c, a(0) as i32, a(1) as i32, a(2) as i32),
            libc::SYS_bind => self.sys_bind(c, a(0) as i32, a(1), a(2)),
            libc::SYS_connect => self.sys_connect(c, a(0) as i32, a(1), a(2)),
            libc::SYS_listen => self.sys_listen(c, a(0) as i32, a(1) as i32),
            libc::SYS_accept => self.sys_accept(c, a(0) as i32, a(1), a(2), 0),
            libc::SYS_accept4 => self.sys_accept(c, a(0) as i32, a(1), a(2), a(3) as i32),
            libc::SYS_getsockname => self.sys_name(c, a(0) as i32, a(1), a(2), false),
            libc::SYS_getpeername => self.sys_name(c, a(0) as i32, a(1), a(2), true),
            libc::SYS_setsockopt => {
                self.sys_setsockopt(c, a(0) as i32, a(1) as i32, a(2) as i32, a(3), a(4))
            }
            libc::SYS_getsockopt => {
                self.sys_getsockopt(c, a(0) as i32, a(1) as i32, a(2) as i32, a(3), a(4))
            }
            libc::SYS_shutdown => self.sys_shutdown(c, a(0) as i32, a(1) as i32),
            libc::SYS_sendto => {
                let v = Vectored::single(a(1), a(2));
                self.sys_send(c, a(0) as i32, &v, a(3) as i32, a(4), a(5) as u32)
            }
            libc::SYS_recvfrom => {
                let v = Vectored::single(a(1), a(2));
                match self.sys_recv(c, a(0) as i32, &v, a(3) as i32, a(4), a(5), None) {
                    Ok((n, _)) => Ok(Ans::Ret(n as i64)),
                    // Not ours: the host serves it.
                    Err(-1) => Ok(Ans::Cont),
                    Err(e) => Err(e),
                }
            }
            libc::SYS_sendmsg => self.sys_sendmsg(c, a(0) as i32, a(1), a(2) as i32),
            libc::SYS_recvmsg => self.sys_recvmsg(c, a(0) as i32, a(1), a(2) as i32),
            libc::SYS_sendmmsg => self.sys_sendmmsg(c, a(0) as i32, a(1), a(2) as u32, a(3) as i32),
            libc::SYS_recvmmsg => self.sys_recvmmsg(c, a(0) as i32, a(1), a(2) as u32, a(3) as i32),
            libc::SYS_ioctl => self.sys_ioctl(c, a(0) as i32, a(1) as u32, a(2)),
            libc::SYS_uname => self.sys_uname(c, a(0)),
            libc::SYS_sethostname => self.sys_sethostname(c, a(0), a(1)),
            libc::SYS_kill => self.sys_kill(c, a(0) as i32, a(1) as i32),
            // The target's thread group (or thread) must be inside.
            libc::SYS_tkill
            | libc::SYS_tgkill
            | libc::SYS_rt_sigqueueinfo
            | libc::SYS_rt_tgsigqueueinfo
            | libc::SYS_pidfd_open
            | libc::SYS_process_vm_readv
            | libc::SYS_process_vm_writev => self.only_inside(a(0) as i32),
            // PTRACE_ATTACH/PTRACE_SEIZE (the filter sends no other request).
            libc::SYS_ptrace => self.only_inside(a(1) as i32),
            libc::SYS_pidfd_send_signal => {
                self.sys_pidfd_send_signal(c, a(0) as i32, a(1) as i32, a(2), a(3) as u32)
            }
            // Not in the filter: nothing to do but let it run.
            _ => Ok(Ans::Cont),
        }
    }

    // ---- other processes ----

    /// A call naming process (or thread) `pid`: it runs as the program made
    /// it if `pid` is inside the vimage, else `ESRCH`, as for a process a
    /// jail cannot see.
    fn only_inside(&self, pid: i32) -> R {
        if inside(pid) {
            Ok(Ans::Cont)
        } else {
            Err(libc::ESRCH)
        }
    }

    /// `kill(pid, sig)`.  One process: it must be inside.  A process group
    /// (`0`, `-pgid`) entirely inside, as Linux does it; one that reaches
    /// outside (the shell that started `vimage`), and `-1` (every process
    /// one may signal), only to its members inside, sent here with Linux's
    /// permission rule (`ESRCH` if none is inside, `EPERM` if none could be
    /// signalled).
    fn sys_kill(&self, c: &Call, pid: i32, sig: i32) -> R {
        if !(0..=64).contains(&sig) {
            return Err(libc::EINVAL);
        }
        if pid > 0 {
            return self.only_inside(pid);
        }
        let procs = host_procs();
        let caller = c.tgid as i32;
        let targets: Vec<&HostProc> = match pid {
            -1 => procs
                .iter()
                .filter(|p| p.pid != caller && p.inside)
                .collect(),
            _ => {
                let pg = if pid == 0 {
                    match procs.iter().find(|p| p.pid == caller) {
                        Some(p) => p.pgrp,
                        None => return Err(libc::ESRCH),
                    }
                } else {
                    pid.checked_neg().ok_or(libc::ESRCH)?
                };
                let members: Vec<&HostProc> = procs.iter().filter(|p| p.pgrp == pg).collect();
                let ins: Vec<&HostProc> = members.iter().copied().filter(|p| p.inside).collect();
                if ins.is_empty() {
                    return Err(libc::ESRCH);
                }
                if ins.len() == members.len() {
                    return Ok(Ans::Cont);
                }
                ins
            }
        };
        if targets.is_empty() {
            return Err(libc::ESRCH);
        }
        let me = Creds::of(caller).ok_or(libc::ESRCH)?;
        let (mut sent, mut denied) = (0, 0);
        for t in targets {
            let Some(tc) = Creds::of(t.pid) else { continue };
            if !me.may_kill(&tc) {
                denied += 1;
                continue;
            }
            if sig == 0 {
                sent += 1;
                continue;
            }
            let Ok(fd) = seccomp::pidfd_open(t.pid) else {
                continue;
            };
            // SAFETY: pidfd_send_signal with a pidfd we own, no siginfo.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if r == 0 {
                sent += 1;
            }
        }
        if sent > 0 {
            Ok(Ans::Ret(0))
        } else if denied > 0 {
            Err(libc::EPERM)
        } else {
            Err(libc::ESRCH)
        }
    }

    /// `pidfd_send_signal(pidfd, sig, info, flags)`: the process behind
    /// `pidfd` (a pidfd, or a `/proc/PID` directory) must be inside.  The
    /// signal is sent here, on the very descriptor that was checked: letting
    /// the program's call go on would read its descriptor table again, where
    /// another of its threads may have put a descriptor of a process outside
    /// meanwhile.  Linux's permission rule is applied for the program.
    fn sys_pidfd_send_signal(&self, c: &Call, pidfd: i32, sig: i32, info: u64, flags: u32) -> R {
        let pidfd_of = c.pidfd.as_ref().ok_or(libc::ESRCH)?;
        let dup = seccomp::pidfd_getfd(pidfd_of, pidfd).map_err(|_| libc::EBADF)?;
        let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", dup.as_raw_fd()))
            .unwrap_or_default();
        let pid = fdinfo
            .lines()
            .find_map(|l| l.strip_prefix("Pid:"))
            .and_then(|v| v.trim().parse::<i32>().ok())
            .or_else(|| {
                let l = std::fs::read_link(format!("/proc/self/fd/{}", dup.as_raw_fd())).ok()?;
                l.to_str()?.strip_prefix("/proc/")?.parse::<i32>().ok()
            })
            // Neither a pidfd nor a process directory: what Linux answers.
            .ok_or(libc::EBADF)?;
        if !inside(pid) {
            return Err(libc::ESRCH);
        }
        let me = Creds::of(c.tgid as i32).ok_or(libc::ESRCH)?;
        let them = Creds::of(pid).ok_or(libc::ESRCH)?;
        if !me.may_kill(&them) {
            return Err(libc::EPERM);
        }
        let si = if info != 0 {
            Some(c.mem.read(info, std::mem::size_of::<libc::siginfo_t>())?)
        } else {
            None
        };
        if !c.lis.valid(c.n.id) {
            return Err(libc::EINTR);
        }
        let sip = si.as_ref().map_or(std::ptr::null(), |b| b.as_ptr());
        // SAFETY: pidfd_send_signal with our own descriptor and, if any, a
        // siginfo copied whole into `si`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                dup.as_raw_fd(),
                sig,
                sip,
                flags,
            )
        };
        if r < 0 {
            Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL))
        } else {
            Ok(Ans::Ret(0))
        }
    }

    // ---- plumbing ----

    /// A door connection from the pool (or a new one).
    fn door(&self) -> Result<Door<'_>, i32> {
        let s = match self.pool.lock().ok().and_then(|mut p| p.pop()) {
            Some(s) => s,
            None => {
                // A kernel at its connection limits (kern.door.*) turns the
                // connection away: the call fails as out of buffers, rather
                // than reading EAGAIN as its own answer (an accept would take
                // it for an empty queue).
                Sys::connect_admitted(&self.door_path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::ConnectionAborted => {
                        libc::ENOBUFS
                    }
                    _ => libc::ENETDOWN,
                })?
            }
        };
        Ok(Door {
            s: Some(s),
            sup: self,
            keep: true,
        })
    }

    /// A door connection working in the calling process's vimage (a nested
    /// `vimage` inside ours anchors its processes deeper): for the calls that
    /// depend on the vimage (`socket`, names, interfaces).
    fn door_in(&self, c: &Call) -> Result<Door<'_>, i32> {
        let mut d = self.door()?;
        let other = d.s().act_as(c.tgid).map_err(kerr)?;
        // A connection moved elsewhere is not pooled: it could outlive that
        // vimage.
        d.keep = !other;
        Ok(d)
    }

    /// The program's descriptor `fd`: a duplicate of it, and the exported
    /// socket behind it if it is one of ours.
    fn lookup(&self, c: &Call, fd: i32) -> Result<(OwnedFd, Option<Ent>), i32> {
        let pidfd = c.pidfd.as_ref().ok_or(libc::ESRCH)?;
        let dup = seccomp::pidfd_getfd(pidfd, fd).map_err(|e| match e.raw_os_error() {
            Some(libc::EBADF) => libc::EBADF,
            Some(libc::EPERM) => libc::EPERM,
            _ => libc::EBADF,
        })?;
        let Some((is_sock, ino)) = stat_of(dup.as_raw_fd()) else {
            return Err(libc::EBADF);
        };
        if !is_sock {
            return Ok((dup, None));
        }
        let e = self.socks.lock().ok().and_then(|m| m.get(&ino).copied());
        Ok((dup, e))
    }

    /// Our exported socket at `fd`, `Ok(None)` for any other descriptor,
    /// `Err(ENOTSOCK)` for a non-socket.
    fn ours(&self, c: &Call, fd: i32) -> Result<Option<(OwnedFd, Ent)>, i32> {
        let (dup, e) = self.lookup(c, fd)?;
        Ok(e.map(|e| (dup, e)))
    }

    fn forget(&self, reaped: &[u32]) {
        if reaped.is_empty() {
            return;
        }
        if let Ok(mut m) = self.socks.lock() {
            for i in reaped {
                m.remove(i);
            }
        }
    }

    /// Export kernel socket `kfd` and install it in the program (as the
    /// call's result).
    fn inject(&self, c: &Call, d: &mut Sys, ent: Ent, nonblock: bool, cloexec: bool) -> R {
        let (prog, reaped) = match d.export(ent.kfd, c.tgid) {
            Ok(x) => x,
            Err(e) => {
                let _ = d.close(ent.kfd);
                return Err(kerr(e));
            }
        };
        self.forget(&reaped);
        if nonblock {
            set_nonblock(prog.as_raw_fd(), true);
        }
        let Some((_, ino)) = stat_of(prog.as_raw_fd()) else {
            return Err(libc::EIO);
        };
        if let Ok(mut m) = self.socks.lock() {
            m.insert(ino, ent);
        }
        match c.lis.add_fd(c.n.id, &prog, cloexec, None, true) {
            Ok(_) => Ok(Ans::Done),
            // The process went away (or was interrupted): our end closes with
            // `prog`, and the kernel reaps the socket.
            Err(e) => Err(e),
        }
    }

    /// Wait until `fd` (a program's pair end, duplicated) is readable, while
    /// the call is still pending; `false` when the process went away.
    fn wait_readable(&self, c: &Call, fd: RawFd) -> bool {
        loop {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, SLICE_MS) };
            if n > 0 {
                return true;
            }
            if !c.lis.valid(c.n.id) {
                return false;
            }
        }
    }

    // ---- calls ----

    fn sys_socket(&self, c: &Call, domain: i32, ty: i32, proto: i32) -> R {
        match domain {
            L_AF_UNIX => return Ok(Ans::Cont),
            L_AF_INET | L_AF_INET6 => {}
            // NETLINK_ROUTE is answered from the vimage (netlink.rs).
            liblinux::linux::AF_NETLINK => return netlink::socket(self, c, ty, proto),
            // Packet and the rest would reach the host's stack.
            _ => return Err(libc::EAFNOSUPPORT),
        }
        let (kty, nonblock, cloexec) = liblinux::socket_type(ty)?;
        let kdom = liblinux::family_to_kernel(domain).ok_or(libc::EAFNOSUPPORT)?;
        let mut d = self.door()?;
        let kfd = d
            .s()
            .socket(kdom, kty | K_SOCK_NONBLOCK, proto)
            .map_err(kerr)?;
        if domain == L_AF_INET6 && kty != K_SOCK_RAW {
            // Linux's default (net.ipv6.bindv6only 0): an AF_INET6 socket
            // carries IPv4-mapped traffic too, where FreeBSD's is IPv6 only.
            // Programs count on it (busybox httpd listens on :: for IPv4).
            let _ = d.s().setsockopt_int(
                kfd,
                vimage_abi::netinet6_in6::IPPROTO_IPV6,
                vimage_abi::netinet6_in6::IPV6_V6ONLY,
                0,
            );
        }
        let ent = Ent {
            kfd,
            family: domain,
            ty: ty & 0xf,
            proto: liblinux::socket_protocol(ty & 0xf, proto).unwrap_or(proto),
        };
        self.inject(c, d.s(), ent, nonblock, cloexec)
    }

    fn sys_bind(&self, c: &Call, fd: i32, addr: u64, len: u64) -> R {
        if let Some(r) = netlink::bind(c, fd, addr, len) {
            return r;
        }
        let Some((_, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        let a = self.read_sockaddr(c, addr, len)?;
        self.door()?.s().bind(e.kfd, &a).map_err(kerr)?;
        Ok(Ans::Ret(0))
    }

    fn sys_listen(&self, c: &Call, fd: i32, backlog: i32) -> R {
        let Some((_, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        self.door()?.s().listen(e.kfd, backlog).map_err(kerr)?;
        Ok(Ans::Ret(0))
    }

    fn read_sockaddr(&self, c: &Call, addr: u64, len: u64) -> Result<Vec<u8>, i32> {
        if len > 128 {
            return Err(libc::EINVAL);
        }
        let b = c.mem.read(addr, len as usize)?;
        liblinux::sockaddr_to_kernel(&b)
    }

    /// Copy out a kernel address as Linux's: truncated to `*lenp`, the
    /// full length stored in `*lenp`.
    fn write_sockaddr(&self, c: &Call, kaddr: &[u8], addr: u64, lenp: u64) -> Result<(), i32> {
        if addr == 0 || lenp == 0 {
            return Ok(());
        }
        let la = liblinux::sockaddr_to_linux(kaddr).unwrap_or_default();
        let room = c.mem.read_u32(lenp)? as usize;
        if (room as i32) < 0 {
            return Err(libc::EINVAL);
        }
        c.mem.write(addr, &la[..la.len().min(room)])?;
        c.mem.write(lenp, &(la.len() as u32).to_le_bytes())
    }

    fn sys_connect(&self, c: &Call, fd: i32, addr: u64, len: u64) -> R {
        if let Some(r) = netlink::connect(c, fd, addr, len) {
            return r;
        }
        let (dup, e) = self.lookup(c, fd)?;
        let Some(e) = e else {
            return self.connect_host(c, fd, addr, len);
        };
        let a = self.read_sockaddr(c, addr, len)?;
        if !c.lis.valid(c.n.id) {
            return Err(libc::EINTR);
        }
        let mut d = self.door()?;
        match d.s().connect(e.kfd, &a) {
            Ok(()) => return Ok(Ans::Ret(0)),
            Err(Errno::EINPROGRESS) => {}
            Err(x) => return Err(kerr(x)),
        }
        // The handshake is under way.  A non-blocking socket returns now: its
        // descriptor was exported stopped up (sosplice), so it polls writable
        // only once the handshake completes, and reports a failure with
        // POLLERR and SO_ERROR.  A blocking one waits here.
        if is_nonblock(dup.as_raw_fd()) {
            return Err(libc::EINPROGRESS);
        }
        loop {
            let ready = d.s().poll(&[(e.kfd, K_POLLOUT)], SLICE_MS).map_err(kerr)?;
            if ready.first().is_some_and(|r| *r != 0) {
                let err = d
                    .s()
                    .getsockopt_int(e.kfd, K_SOL_SOCKET, K_SO_ERROR)
                    .map_err(kerr)?;
                return if err == 0 {
                    Ok(Ans::Ret(0))
                } else {
                    Err(kerr(Errno(err)))
                };
            }
            if !c.lis.valid(c.n.id) {
                return Err(libc::EINTR);
            }
        }
    }

    /// `connect` on a host socket: the kernel's own socket gets a door
    /// connection bound to this vimage; anything else runs on the host.
    fn connect_host(&self, c: &Call, fd: i32, addr: u64, len: u64) -> R {
        if !(3..=110).contains(&len) {
            return Ok(Ans::Cont);
        }
        let b = c.mem.read(addr, len as usize)?;
        if u16::from_le_bytes([b[0], b[1]]) != L_AF_UNIX as u16 || b[2] == 0 {
            return Ok(Ans::Cont);
        }
        let path: Vec<u8> = b[2..].iter().take_while(|&&x| x != 0).copied().collect();
        let path =
            PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(path));
        let full = if path.is_absolute() {
            PathBuf::from(format!("/proc/{}/root", c.tgid))
                .join(path.strip_prefix("/").unwrap_or(&path))
        } else {
            PathBuf::from(format!("/proc/{}/cwd", c.tgid)).join(&path)
        };
        if file_id(&full) != Some(self.door_id) {
            return Ok(Ans::Cont);
        }
        // The kernel's socket: hand over a connection that acts for the
        // process, in this vimage, in place of the process's socket.
        let mut s = Sys::connect_at(&self.door_path).map_err(|_| libc::ECONNREFUSED)?;
        s.set_owner(c.tgid).map_err(kerr)?;
        let conn = OwnedFd::from(s.into_stream());
        let cloexec = fd_cloexec(c.tgid, fd);
        if !c.lis.valid(c.n.id) {
            return Err(libc::EINTR);
        }
        c.lis.add_fd(c.n.id, &conn, cloexec, Some(fd), false)?;
        Ok(Ans::Ret(0))
    }

    fn sys_accept(&self, c: &Call, fd: i32, addr: u64, lenp: u64, flags: i32) -> R {
        let Some((dup, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
            return Err(libc::EINVAL);
        }
        let mut d = self.door()?;
        let (nkfd, kaddr) = loop {
            match d.s().accept(e.kfd, K_SOCK_NONBLOCK) {
                Ok(x) => break x,
                Err(Errno::EAGAIN) => {
                    // The queue is empty: take back the readiness token.
                    drain(dup.as_raw_fd());
                    if is_nonblock(dup.as_raw_fd()) {
                        return Err(libc::EAGAIN);
                    }
                    if !self.wait_readable(c, dup.as_raw_fd()) {
                        return Err(libc::EINTR);
                    }
                }
                Err(x) => return Err(kerr(x)),
            }
        };
        // The readiness token stood for connections that may all be taken
        // now: take it back (the listener's pump, woken by the accept, puts
        // it back if more wait), so a poll does not promise another one.
        drain(dup.as_raw_fd());
        let ent = Ent { kfd: nkfd, ..e };
        if let Err(x) = self.write_sockaddr(c, &kaddr, addr, lenp) {
            let _ = d.s().close(nkfd);
            return Err(x);
        }
        self.inject(
            c,
            d.s(),
            ent,
            flags & libc::SOCK_NONBLOCK != 0,
            flags & libc::SOCK_CLOEXEC != 0,
        )
    }

    fn sys_name(&self, c: &Call, fd: i32, addr: u64, lenp: u64, peer: bool) -> R {
        if let Some(r) = netlink::name(c, fd, addr, lenp, peer) {
            return r;
        }
        let Some((_, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        let mut d = self.door()?;
        let a = if peer {
            d.s().getpeername(e.kfd)
        } else {
            d.s().getsockname(e.kfd)
        }
        .map_err(kerr)?;
        if lenp == 0 {
            return Err(libc::EFAULT);
        }
        self.write_sockaddr(c, &a, addr, lenp)?;
        Ok(Ans::Ret(0))
    }

    fn sys_setsockopt(&self, c: &Call, fd: i32, level: i32, name: i32, val: u64, len: u64) -> R {
        if let Some(r) = netlink::setsockopt(c, fd, level, name, val, len) {
            return r;
        }
        let Some((_, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        let o = liblinux::sockopt_to_kernel(level, name)?;
        if len > 256 {
            return Err(libc::EINVAL);
        }
        let v = c.mem.read(val, len as usize)?;
        if matches!(
            o.kind,
            liblinux::OptKind::Domain | liblinux::OptKind::Protocol
        ) {
            // Read-only, as on Linux.
            return Err(libc::ENOPROTOOPT);
        }
        let kv = liblinux::opt_value_to_kernel(o.kind, &v)?;
        self.door()?
            .s()
            .setsockopt(e.kfd, o.level, o.name, &kv)
            .map_err(kerr)?;
        if let Some((level, name)) = liblinux::opt_companion(o) {
            // IP_PKTINFO is two of the kernel's options.
            self.door()?
                .s()
                .setsockopt(e.kfd, level, name, &kv)
                .map_err(kerr)?;
        }
        Ok(Ans::Ret(0))
    }

    fn sys_getsockopt(&self, c: &Call, fd: i32, level: i32, name: i32, val: u64, lenp: u64) -> R {
        if let Some(r) = netlink::getsockopt(c, fd, level, name, val, lenp) {
            return r;
        }
        let Some((dup, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        let o = liblinux::sockopt_to_kernel(level, name)?;
        let so_error = level == libc::SOL_SOCKET && name == libc::SO_ERROR;
        // A failed connect also marked the program's end (ECONNRESET, see
        // sosplice): reading SO_ERROR clears both, as on Linux, and the
        // kernel's reason comes first.
        let host_err = if so_error {
            host_so_error(dup.as_raw_fd())
        } else {
            0
        };
        let out = match o.kind {
            _ if so_error => {
                let k = match self.door()?.s().getsockopt(e.kfd, o.level, o.name) {
                    Ok(kv) => kv
                        .get(..4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0),
                    Err(Errno::EBADF) => 0,
                    Err(x) => return Err(kerr(x)),
                };
                let v = if k != 0 {
                    liblinux::errno_to_linux(Errno(k))
                } else {
                    host_err
                };
                v.to_le_bytes().to_vec()
            }
            liblinux::OptKind::Domain => e.family.to_le_bytes().to_vec(),
            liblinux::OptKind::Protocol => e.proto.to_le_bytes().to_vec(),
            kind => {
                let kv = self
                    .door()?
                    .s()
                    .getsockopt(e.kfd, o.level, o.name)
                    .map_err(kerr)?;
                liblinux::opt_value_to_linux(kind, &kv)
            }
        };
        let room = c.mem.read_u32(lenp)? as usize;
        if (room as i32) < 0 {
            return Err(libc::EINVAL);
        }
        let n = out.len().min(room);
        c.mem.write(val, &out[..n])?;
        c.mem.write(lenp, &(n as u32).to_le_bytes())?;
        Ok(Ans::Ret(0))
    }

    fn sys_shutdown(&self, c: &Call, fd: i32, how: i32) -> R {
        let Some((dup, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        if !(0..=2).contains(&how) {
            return Err(libc::EINVAL);
        }
        if e.ty == L_SOCK_STREAM && how != libc::SHUT_RD {
            // What the program wrote may still be in the pair, not yet in the
            // kernel socket: shutting the kernel's send side now would lose
            // it.  Close the program's end for writing instead; the pump
            // passes on what is left and then shuts the kernel socket.
            let mut d = self.door()?;
            d.s().getpeername(e.kfd).map_err(kerr)?;
            if how == libc::SHUT_RDWR {
                d.s().shutdown(e.kfd, libc::SHUT_RD).map_err(kerr)?;
            }
            // SAFETY: shutdown on our duplicate of the program's end.
            unsafe {
                libc::shutdown(dup.as_raw_fd(), how);
            }
            return Ok(Ans::Ret(0));
        }
        self.door()?.s().shutdown(e.kfd, how).map_err(kerr)?;
        // The program's own end follows: writes fail, reads see EOF.
        // SAFETY: shutdown on our duplicate of the program's end.
        unsafe {
            libc::shutdown(dup.as_raw_fd(), how);
        }
        Ok(Ans::Ret(0))
    }

    /// `sendto`/`sendmsg` with an address (or on a datagram socket).
    fn sys_send(&self, c: &Call, fd: i32, v: &Vectored, flags: i32, addr: u64, alen: u32) -> R {
        if let Some(r) = netlink::sendto(c, fd, flags, addr, alen) {
            return r;
        }
        let Some((dup, e)) = self.ours(c, fd)? else {
            return Ok(Ans::Cont);
        };
        let kflags = liblinux::msg_flags_to_kernel(flags)?;
        let data = v.gather(
            &c.mem,
            if e.ty == L_SOCK_STREAM {
                seccomp::MAX_COPY
            } else {
                MAX_DGRAM + 1
            },
        )?;
        if e.ty == L_SOCK_STREAM {
            // A stream ignores the address (as Linux's TCP does): the bytes
            // go down the program's own pair, in order with its writes.
            let mut f = libc::MSG_NOSIGNAL;
            if flags & libc::MSG_DONTWAIT != 0 {
                f |= libc::MSG_DONTWAIT;
            }
            // SAFETY: sending from our buffer on our duplicate.
            let n = unsafe { libc::send(dup.as_raw_fd(), data.as_ptr().cast(), data.len(), f) };
            if n < 0 {
                return Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
            return Ok(Ans::Ret(n as i64));
        }
        if data.len() > MAX_DGRAM {
            return Err(libc::EMSGSIZE);
        }
        let ka = if addr != 0 {
            Some(self.read_sockaddr(c, addr, alen as u64)?)
        } else {
            None
        };
        if !c.lis.valid(c.n.id) {
            return Err(libc::EINTR);
        }
        let n = self
            .door()?
            .s()
            .sendto(e.kfd, &data, kflags, ka.as_deref())
            .map_err(kerr)?;
        Ok(Ans::Ret(n as i64))
    }

    /// `recvfrom`/`recvmsg` served here: data scattered into `v`, the source
    /// copied out.  Returns (bytes, MSG_TRUNC set).
    #[allow(clippy::too_many_arguments)]
    fn sys_recv(
        &self,
        c: &Call,
        fd: i32,
        v: &Vectored,
        flags: i32,
        addr: u64,
        lenp: u64,
        mut namelen_at: Option<(u64, u32, &mut Vec<u8>)>,
    ) -> Result<(usize, bool), i32> {
        let nl = namelen_at.as_ref().map(|(a, r, _)| (*a, *r));
        if let Some(r) = netlink::recvfrom(c, fd, v, flags, addr, lenp, nl) {
            return r;
        }
        let Some((dup, e)) = self.ours(c, fd)? else {
            return Err(-1);
        };
        liblinux::msg_flags_to_kernel(flags)?;
        let nonblock = flags & libc::MSG_DONTWAIT != 0 || is_nonblock(dup.as_raw_fd());
        let cap = v.total().min(seccomp::MAX_COPY);
        let peek = flags & libc::MSG_PEEK != 0;
        loop {
            let got = if e.ty == L_SOCK_STREAM {
                recv_stream(
                    dup.as_raw_fd(),
                    cap,
                    flags & (libc::MSG_PEEK | libc::MSG_WAITALL),
                )
            } else {
                recv_dgram(dup.as_raw_fd(), cap, peek)
            };
            match got {
                Ok((data, src, trunc)) => {
                    let src = match src {
                        Some(s) => s,
                        None if e.ty == L_SOCK_STREAM => {
                            self.door()?.s().getpeername(e.kfd).unwrap_or_default()
                        }
                        None => Vec::new(),
                    };
                    if !c.lis.valid(c.n.id) {
                        return Err(libc::EINTR);
                    }
                    v.scatter(&c.mem, &data)?;
                    if let Some((at, room, ctl)) = namelen_at.take() {
                        // recvmsg: msg_name/msg_namelen, and the control
                        // data the kernel put after the address
                        // (IP_PKTINFO, IPV6_PKTINFO, IPV6_HOPLIMIT).
                        let (la, c2) = liblinux::recv_addr_to_linux(&src).unwrap_or_default();
                        *ctl = c2;
                        if addr != 0 {
                            c.mem.write(addr, &la[..la.len().min(room as usize)])?;
                        }
                        c.mem.write(at, &(la.len() as u32).to_le_bytes())?;
                    } else {
                        self.write_sockaddr(c, &src, addr, lenp)?;
                    }
                    let n = if trunc && flags & libc::MSG_TRUNC != 0 {
                        data.len().max(cap)
                    } else {
                        data.len()
                    };
                    return Ok((n, trunc));
                }
                Err(libc::EAGAIN) if !nonblock => {
                    if !self.wait_readable(c, dup.as_raw_fd()) {
                        return Err(libc::EINTR);
                    }
                }
                Err(x) => return Err(x),
            }
        }
    }

    fn sys_sendmsg(&self, c: &Call, fd: i32, msg: u64, flags: i32) -> R {
        if let Some(r) = netlink::sendmsg(c, fd, msg, flags) {
            return r;
        }
        let h = MsgHdr::read(&c.mem, msg)?;
        let (_, e) = self.lookup(c, fd)?;
        let Some(e) = e else {
            return Ok(Ans::Cont);
        };
        if e.ty == L_SOCK_STREAM && h.name == 0 && h.controllen == 0 {
            return Ok(Ans::Cont);
        }
        if h.controllen != 0 {
            // No ancillary data goes to the kernel (IP_PKTINFO & co).
            return Err(libc::EOPNOTSUPP);
        }
        let v = Vectored::read(&c.mem, h.iov, h.iovlen)?;
        self.sys_send(c, fd, &v, flags, h.name, h.namelen)
    }

    fn sys_recvmsg(&self, c: &Call, fd: i32, msg: u64, flags: i32) -> R {
        if let Some(r) = netlink::recvmsg(c, fd, msg, flags) {
            return r;
        }
        let (_, e) = self.lookup(c, fd)?;
        let Some(e) = e else {
            return Ok(Ans::Cont);
        };
        if e.ty == L_SOCK_STREAM {
            // Data path: the host reads the pair (no source address).
            return Ok(Ans::Cont);
        }
        let h = MsgHdr::read(&c.mem, msg)?;
        let v = Vectored::read(&c.mem, h.iov, h.iovlen)?;
        let mut ctl = Vec::new();
        let (n, trunc) = self
            .sys_recv(
                c,
                fd,
                &v,
                flags,
                h.name,
                0,
                Some((msg + 8, h.namelen, &mut ctl)),
            )
            .map_err(|e| if e == -1 { libc::EBADF } else { e })?;
        // The control data, as much as msg_controllen holds (whole
        // messages only: MSG_CTRUNC when one did not fit); MSG_TRUNC when
        // the datagram was cut.
        let fit = if h.control == 0 {
            0
        } else {
            liblinux::cmsg_fit(&ctl, h.controllen.min(4096) as usize)
        };
        if fit > 0 {
            c.mem.write(h.control, &ctl[..fit])?;
        }
        c.mem.write(msg + 40, &(fit as u64).to_le_bytes())?;
        let mut mflags = if trunc { libc::MSG_TRUNC } else { 0 };
        if fit < ctl.len() {
            mflags |= libc::MSG_CTRUNC;
        }
        c.mem.write(msg + 48, &mflags.to_le_bytes())?;
        Ok(Ans::Ret(n as i64))
    }

    fn sys_sendmmsg(&self, c: &Call, fd: i32, vec: u64, vlen: u32, flags: i32) -> R {
        let (_, e) = self.lookup(c, fd)?;
        if e.is_none() {
            return Ok(Ans::Cont);
        }
        let vlen = vlen.min(1024);
        let mut sent = 0u32;
        for i in 0..vlen {
            let m = vec + u64::from(i) * 64;
            let r = self.sys_sendmsg(c, fd, m, flags);
            match r {
                Ok(Ans::Ret(n)) => {
                    c.mem.write(m + 56, &(n as u32).to_le_bytes())?;
                    sent += 1;
                }
                Ok(Ans::Cont) => return Ok(Ans::Cont),
                Ok(_) => break,
                Err(x) if sent == 0 => return Err(x),
                Err(_) => break,
            }
        }
        Ok(Ans::Ret(i64::from(sent)))
    }

    fn sys_recvmmsg(&self, c: &Call, fd: i32, vec: u64, vlen: u32, flags: i32) -> R {
        if let Some(r) = netlink::recvmmsg(c, fd, vec, vlen, flags) {
            return r;
        }
        let (_, e) = self.lookup(c, fd)?;
        match e {
            None => return Ok(Ans::Cont),
            Some(e) if e.ty == L_SOCK_STREAM => return Ok(Ans::Cont),
            _ => {}
        }
        let vlen = vlen.min(1024);
        let mut got = 0u32;
        for i in 0..vlen {
            let m = vec + u64::from(i) * 64;
            // After the first, take only what is already there.
            let f = if got > 0 {
                flags | libc::MSG_DONTWAIT
            } else {
                flags
            };
            match self.sys_recvmsg(c, fd, m, f & !libc::MSG_WAITFORONE) {
                Ok(Ans::Ret(n)) => {
                    c.mem.write(m + 56, &(n as u32).to_le_bytes())?;
                    got += 1;
                }
                Err(x) if got == 0 => return Err(x),
                _ => break,
            }
        }
        Ok(Ans::Ret(i64::from(got)))
    }

    /// Interface requests (`0x89xx`): answered from the vimage's interfaces,
    /// whatever socket they come on; nothing reaches the host's.
    fn sys_ioctl(&self, c: &Call, fd: i32, cmd: u32, arg: u64) -> R {
        // A bad descriptor is EBADF, as the host would say.
        self.lookup(c, fd)?;
        match liblinux::ioctl_kind(cmd) {
            liblinux::IoctlKind::Other => {
                if cmd & 0xff00 == 0x8900 {
                    // Anything else in the interface range (set, route, ARP):
                    // not from inside a vimage through this door.
                    Err(libc::EPERM)
                } else {
                    Ok(Ans::Cont)
                }
            }
            // Byte counts of the program's own descriptor: the host's.
            liblinux::IoctlKind::FionRead
            | liblinux::IoctlKind::FionBio
            | liblinux::IoctlKind::OutQ => Ok(Ans::Cont),
            liblinux::IoctlKind::IfConf => {
                let b = c.mem.read(arg, 16)?;
                let len = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let buf =
                    u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
                if len < 0 {
                    return Err(libc::EINVAL);
                }
                let ifs = self.iflist(c)?;
                let out =
                    liblinux::ifconf_answer(&ifs, if buf == 0 { usize::MAX } else { len as usize });
                if buf != 0 {
                    c.mem.write(buf, &out)?;
                }
                c.mem.write(arg, &(out.len() as i32).to_le_bytes())?;
                Ok(Ans::Ret(0))
            }
            kind => {
                let b = c.mem.read(arg, 40)?;
                let mut req = [0u8; 40];
                req.copy_from_slice(&b);
                let ifs = self.iflist(c)?;
                let out = liblinux::ifreq_answer(kind, &req, &ifs)?;
                c.mem.write(arg, &out)?;
                Ok(Ans::Ret(0))
            }
        }
    }

    fn iflist(&self, c: &Call) -> Result<Vec<vimage_abi::net_if::IfInfo>, i32> {
        let r = self
            .door_in(c)?
            .s()
            .sysctl("net.link.iflist")
            .map_err(kerr)?;
        match r.value {
            SysctlValue::Opaque(_, b) => {
                vimage_abi::net_if::IfInfo::decode_list(&b).map_err(|_| libc::EIO)
            }
            _ => Err(libc::EIO),
        }
    }

    fn hostname(&self, c: &Call) -> Result<String, i32> {
        let r = self.door_in(c)?.s().sysctl("kern.hostname").map_err(kerr)?;
        match r.value {
            SysctlValue::Str(h) => Ok(h),
            _ => Err(libc::EIO),
        }
    }

    fn sys_uname(&self, c: &Call, buf: u64) -> R {
        // SAFETY: uname fills a zeroed struct.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut u) } != 0 {
            return Err(libc::EFAULT);
        }
        let h = self.hostname(c)?;
        let node: Vec<libc::c_char> = h
            .bytes()
            .take(64)
            .map(|b| b as libc::c_char)
            .chain(std::iter::repeat(0))
            .take(65)
            .collect();
        u.nodename.copy_from_slice(&node);
        // SAFETY: utsname is plain bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&u as *const libc::utsname).cast::<u8>(),
                std::mem::size_of::<libc::utsname>(),
            )
        };
        c.mem.write(buf, bytes)?;
        Ok(Ans::Ret(0))
    }

    fn sys_sethostname(&self, c: &Call, name: u64, len: u64) -> R {
        if len > 64 {
            return Err(libc::EINVAL);
        }
        let b = c.mem.read(name, len as usize)?;
        let h = String::from_utf8_lossy(&b).into_owned();
        self.door_in(c)?
            .s()
            .sysctl_set("kern.hostname", &SysctlValue::Str(h))
            .map_err(kerr)?;
        Ok(Ans::Ret(0))
    }
}

/// A notification being served.
struct Call<'a> {
    n: &'a Notif,
    mem: Mem,
    tgid: u32,
    /// A pidfd of `tgid` (`None`: the process is gone).
    pidfd: Option<OwnedFd>,
    lis: &'a Listener,
}

/// A door connection borrowed from the pool; returned when dropped.
struct Door<'a> {
    s: Option<Sys>,
    sup: &'a Supervisor,
    keep: bool,
}

impl Door<'_> {
    fn s(&mut self) -> &mut Sys {
        self.s.as_mut().expect("door taken")
    }
}

impl Drop for Door<'_> {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut p)) = (self.s.take(), self.sup.pool.lock()) {
            // A connection the kernel closed or refused is not reused.
            if self.keep && p.len() < 16 && s.is_alive() {
                p.push(s);
            }
        }
    }
}

/// A program's buffer list (`iovec`s), or one buffer.
struct Vectored {
    parts: Vec<(u64, usize)>,
}

impl Vectored {
    fn single(base: u64, len: u64) -> Self {
        Vectored {
            parts: vec![(base, len.min(seccomp::MAX_COPY as u64 * 16) as usize)],
        }
    }
    fn read(mem: &Mem, iov: u64, n: u64) -> Result<Self, i32> {
        if n > 1024 {
            return Err(libc::EMSGSIZE);
        }
        let raw = mem.read(iov, n as usize * 16)?;
        let parts = raw
            .chunks_exact(16)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&c[..8]);
                let mut l = [0u8; 8];
                l.copy_from_slice(&c[8..]);
                (u64::from_le_bytes(a), u64::from_le_bytes(l) as usize)
            })
            .collect();
        Ok(Vectored { parts })
    }
    fn total(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.1)
            .fold(0usize, usize::saturating_add)
    }
    fn gather(&self, mem: &Mem, max: usize) -> Result<Vec<u8>, i32> {
        let mut out = Vec::new();
        for &(b, l) in &self.parts {
            let l = l.min(max - out.len());
            out.extend_from_slice(&mem.read(b, l)?);
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
    fn scatter(&self, mem: &Mem, mut data: &[u8]) -> Result<(), i32> {
        for &(b, l) in &self.parts {
            if data.is_empty() {
                break;
            }
            let n = l.min(data.len());
            mem.write(b, &data[..n])?;
            data = &data[n..];
        }
        Ok(())
    }
}

/// `struct msghdr` (x86_64): name @0, namelen @8, iov @16, iovlen @24,
/// control @32, controllen @40, flags @48.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

impl MsgHdr {
    fn read(mem: &Mem, at: u64) -> Result<Self, i32> {
        let b = mem.read(at, 56)?;
        let q = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        Ok(MsgHdr {
            name: q(0),
            namelen: q(8) as u32,
            iov: q(16),
            iovlen: q(24),
            control: q(32),
            controllen: q(40),
        })
    }
}

/// (is a socket, inode) of a descriptor.
fn stat_of(fd: RawFd) -> Option<(bool, u32)> {
    // SAFETY: fstat into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return None;
        }
        Some((
            st.st_mode & libc::S_IFMT == libc::S_IFSOCK,
            st.st_ino as u32,
        ))
    }
}

/// (device, inode) of a path.
fn file_id(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether serving `n` may wait for the network or the program (a blocking
/// accept, connect, send or receive): such a call passes the lead on first.
/// The others only ask the kernel and answer.
fn may_block(n: &Notif) -> bool {
    !matches!(
        n.data.nr as i64,
        libc::SYS_socket
            | libc::SYS_bind
            | libc::SYS_listen
            | libc::SYS_getsockname
            | libc::SYS_getpeername
            | libc::SYS_setsockopt
            | libc::SYS_getsockopt
            | libc::SYS_shutdown
            | libc::SYS_ioctl
            | libc::SYS_uname
            | libc::SYS_sethostname
            | libc::SYS_kill
            | libc::SYS_tkill
            | libc::SYS_tgkill
            | libc::SYS_rt_sigqueueinfo
            | libc::SYS_rt_tgsigqueueinfo
            | libc::SYS_pidfd_open
            | libc::SYS_pidfd_send_signal
            | libc::SYS_process_vm_readv
            | libc::SYS_process_vm_writev
            | libc::SYS_ptrace
    )
}

/// The pid of the kernel at the other end of door connection `s`
/// (`SO_PEERCRED`).
pub fn kernel_pid(s: &std::os::unix::net::UnixStream) -> Option<i32> {
    libvimage::peer_cred(s)
        .ok()
        .map(|c| c.pid)
        .filter(|&p| p > 0)
}

/// How long processes get after `SIGTERM` when their kernel halts, before
/// `SIGKILL` (FreeBSD's shutdown waits for processes much as `halt` does).
const HALT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Watch kernel process `kpid` (a pidfd, so no kernel resource and no
/// polling) on a thread: when it is gone — halted or crashed — the machine
/// the vimage's processes ran on is gone too, so they get `SIGTERM`, then
/// `SIGKILL` after [`HALT_GRACE`], as a halting FreeBSD ends its processes.
/// Without this they would live on with every network call failing (a
/// server's accept loop spinning on `ENETDOWN`).  The reaper's wait loop
/// then ends, and with it the reaper.
pub fn watch_kernel(kpid: i32) {
    let Ok(pidfd) = seccomp::pidfd_open(kpid) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("halt".into())
        .spawn(move || {
            let mut p = libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            loop {
                // SAFETY: one valid pollfd.
                let n = unsafe { libc::poll(&mut p, 1, -1) };
                if n > 0 {
                    break;
                }
            }
            end_all(libc::SIGTERM);
            let t0 = std::time::Instant::now();
            while t0.elapsed() < HALT_GRACE {
                if !host_procs().iter().any(|h| h.inside) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            // Stopped first, so that none runs on between two kills (a
            // shell whose child was killed first would go on to its next
            // command and exit as if nothing happened).
            end_all(libc::SIGSTOP);
            end_all(libc::SIGKILL);
        });
}

/// Send `sig` to every process inside the vimage.
fn end_all(sig: i32) {
    for h in host_procs().into_iter().filter(|h| h.inside) {
        // SAFETY: kill with a pid found below us and a valid signal.
        unsafe {
            libc::kill(h.pid, sig);
        }
    }
}

/// One host process, as `/proc/PID/stat` tells.
struct HostProc {
    pid: i32,
    pgrp: i32,
    /// Below this supervisor (see [`inside`]).
    inside: bool,
}

/// `/proc/PID/stat` fields after the command name: (ppid, pgrp).
fn stat_fields(pid: i32) -> Option<(i32, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let _state = f.next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some((ppid, pgrp))
}

/// Every host process, each `/proc/PID/stat` read once: whether one is
/// inside is found from the parent links in memory, not by a walk of reads
/// per process.
fn host_procs() -> Vec<HostProc> {
    let Ok(d) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let stats: HashMap<i32, (i32, i32)> = d
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat_fields(pid)?)))
        .collect();
    let me = std::process::id() as i32;
    let below = |pid: i32| {
        let mut p = pid;
        for _ in 0..4096 {
            match stats.get(&p) {
                Some(&(pp, _)) if pp == me => return true,
                Some(&(pp, _)) if pp > 0 && pp != p => p = pp,
                _ => return false,
            }
        }
        false
    };
    stats
        .iter()
        .map(|(&pid, &(_, pgrp))| HostProc {
            pid,
            pgrp,
            inside: pid != me && below(pid),
        })
        .collect()
}

/// Whether host process (or thread) `pid` is inside the vimage: strictly
/// below this supervisor, which every process of the vimage descends from
/// (it is their subreaper, so orphans stay below it).
fn inside(pid: i32) -> bool {
    let me = std::process::id() as i32;
    if pid <= 0 || pid == me {
        return false;
    }
    let mut p = pid;
    // A bound on the walk (pid chains are short; a loop is impossible).
    for _ in 0..4096 {
        match stat_fields(p) {
            Some((pp, _)) if pp == me => return true,
            Some((pp, _)) if pp > 0 && pp != p => p = pp,
            _ => return false,
        }
    }
    false
}

/// `CAP_KILL`'s bit in the capability sets.
const CAP_KILL: u32 = 5;

/// A process's credentials, for Linux's rule on who may signal whom.
struct Creds {
    /// Real, effective and saved user ids.
    uid: [u32; 3],
    /// `CAP_KILL` in the effective set.
    cap_kill: bool,
}

impl Creds {
    fn of(pid: i32) -> Option<Creds> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let ids: Vec<u32> = s
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let cap = s
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        Some(Creds {
            uid: [*ids.first()?, *ids.get(1)?, *ids.get(2)?],
            cap_kill: cap & (1 << CAP_KILL) != 0,
        })
    }

    /// `kill_ok_by_cred`: our real or effective uid is the target's real or
    /// saved one, or we hold `CAP_KILL`.
    fn may_kill(&self, t: &Creds) -> bool {
        let [ruid, euid, _] = self.uid;
        let [truid, _, tsuid] = t.uid;
        self.cap_kill || euid == tsuid || euid == truid || ruid == tsuid || ruid == truid
    }
}

/// `SO_ERROR` of a host socket (reading it clears it).
fn host_so_error(fd: RawFd) -> i32 {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one int.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        0
    } else {
        v
    }
}

fn is_nonblock(fd: RawFd) -> bool {
    // SAFETY: F_GETFL on a descriptor we hold.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}

fn set_nonblock(fd: RawFd, on: bool) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            let nf = if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, nf);
        }
    }
}

/// Whether the process's descriptor `fd` is close-on-exec (/proc fdinfo).
fn fd_cloexec(tgid: u32, fd: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{tgid}/fdinfo/{fd}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| i64::from_str_radix(v.trim(), 8).ok())
        })
        .is_some_and(|f| f & i64::from(libc::O_CLOEXEC) != 0)
}

/// Take back a listener's readiness tokens.
fn drain(fd: RawFd) {
    let mut b = [0u8; 64];
    // SAFETY: non-blocking reads into our buffer.
    while unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) } > 0 {}
}

type Got = Result<(Vec<u8>, Option<Vec<u8>>, bool), i32>;

/// A stream read on the program's pair (never blocks).
fn recv_stream(fd: RawFd, cap: usize, flags: i32) -> Got {
    let mut buf = vec![0u8; cap.max(1)];
    // SAFETY: reading into our buffer.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), cap, flags | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    buf.truncate(n as usize);
    Ok((buf, None, false))
}

/// One datagram from the program's pair with its source-address token
/// (never blocks).
fn recv_dgram(fd: RawFd, cap: usize, peek: bool) -> Got {
    let mut buf = vec![0u8; cap.max(1)];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: cap,
    };
    // SAFETY: a zeroed msghdr over our buffers; descriptors received are
    // taken into OwnedFd at once.
    unsafe {
        let mut m: libc::msghdr = std::mem::zeroed();
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        m.msg_control = cmsg.as_mut_ptr().cast();
        m.msg_controllen = cmsg.len();
        let mut f = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
        if peek {
            f |= libc::MSG_PEEK;
        }
        let n = libc::recvmsg(fd, &mut m, f);
        if n < 0 {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        let mut src = None;
        let mut c = libc::CMSG_FIRSTHDR(&m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                let p = libc::CMSG_DATA(c) as *const libc::c_int;
                for i in 0..count {
                    let tok = OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i)));
                    if src.is_none() {
                        let mut a = [0u8; 128];
                        let k = libc::pread(tok.as_raw_fd(), a.as_mut_ptr().cast(), a.len(), 0);
                        if k > 0 {
                            src = Some(a[..k as usize].to_vec());
                        }
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&m, c);
        }
        let trunc = m.msg_flags & libc::MSG_TRUNC != 0;
        buf.truncate(n as usize);
        Ok((buf, src, trunc))
    }
}
