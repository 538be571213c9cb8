//! The userland side of the syscall boundary: what libc is to a FreeBSD tool.
//!
//! A tool opens one [`Sys`] (a connection to the kernel's socket) and makes system
//! calls on it.  The kernel identifies the calling process by the socket's peer
//! credentials and decides which vimage it is in; nothing the tool sends can
//! change that.  Every call returns the kernel's FreeBSD errno on failure.
//!
//! Beside the calls, what every tool would otherwise copy: [`mod@getopt`]
//! (getopt(3) on clap), [`host`] (the interface list and host arguments),
//! [`netdb`] (services, networks, `/etc/hosts`), `err`/`warn` and `atoi`.

pub mod getopt;
pub mod host;
pub mod netdb;

pub use getopt::getopt;
pub use host::{getaddrinfo, pr_addr6, resolve4, resolve6, resolve6_scope, IfNames};

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use vimage_abi::net_if::AF_INET;
use vimage_abi::netinet6_in6::{SockaddrIn6, AF_INET6};
use vimage_abi::netinet_in::{SockaddrIn, PF_INET, SOCK_STREAM};
pub use vimage_abi::socket::*;
use vimage_abi::syscall::{write_frame, write_sendto, KldStat, Reply, Request};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::*;
use vimage_abi::wire::Writer;
pub use vimage_abi::{errno::strerror, Errno};

/// `PF_INET6`.
pub const PF_INET6: i32 = AF_INET6 as i32;

/// Environment variable naming the kernel's socket.
pub const VIMAGE_SOCKET: &str = "VIMAGE_SOCKET";

/// SIGPIPE blocked on the calling thread for one write (what
/// `MSG_NOSIGNAL` does for `send`): a SIGPIPE the write raised is taken off
/// the thread before the old mask comes back, so it is never delivered.
struct SigpipeHold {
    old: libc::sigset_t,
    set: libc::sigset_t,
    was_blocked: bool,
}

impl SigpipeHold {
    fn new() -> Self {
        // SAFETY: sigset_t is plain data, initialized by sigemptyset before
        // use; pthread_sigmask only changes this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            let was_blocked = libc::sigismember(&old, libc::SIGPIPE) == 1;
            SigpipeHold {
                old,
                set,
                was_blocked,
            }
        }
    }

    /// Restore the mask; `epipe`: the write failed with `EPIPE`, so it
    /// raised a SIGPIPE on this thread, taken here first.
    fn release(self, epipe: bool) {
        if self.was_blocked {
            return;
        }
        // SAFETY: as in new; a zero timeout only polls this thread's
        // pending signals.
        unsafe {
            if epipe {
                let mut pend: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut pend);
                if libc::sigpending(&mut pend) == 0 && libc::sigismember(&pend, libc::SIGPIPE) == 1
                {
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts);
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// Writes to the kernel's door with `MSG_NOSIGNAL`: a tool that restored
/// SIGPIPE's default ([`sigpipe_default`], for its output) must not die of
/// it when the kernel drops the connection (at its limits, or halting); the
/// call fails with `EPIPE` and the tool says so.
struct NoSigpipe<'a>(&'a UnixStream);

impl io::Write for NoSigpipe<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: sending from a valid buffer on our socket.
        let n = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                b.as_ptr().cast(),
                b.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // Not sendmsg(MSG_NOSIGNAL): inside a vimage the supervisor's
        // seccomp filter is notified of every sendmsg (it cannot tell a door
        // write from a program's datagram), a round trip through it per
        // call.  writev passes straight through; SIGPIPE is held off this
        // thread for the call instead.
        let iov = &bufs[..bufs.len().min(1024)];
        let hold = SigpipeHold::new();
        // SAFETY: IoSlice is ABI-compatible with iovec; the slices outlive
        // the call, which only reads them.
        let n = unsafe {
            libc::writev(
                self.0.as_raw_fd(),
                iov.as_ptr().cast::<libc::iovec>(),
                iov.len() as libc::c_int,
            )
        };
        let r = if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        };
        hold.release(matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPIPE)));
        r
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket path tools and vkernel agree on: `$VIMAGE_SOCKET`, else
/// `/var/run/vimage/kernel.sock` for root, else `$XDG_RUNTIME_DIR/vimage/kernel.sock`
/// (or `/tmp/vimage-UID/kernel.sock` without XDG_RUNTIME_DIR, in a directory
/// vkernel makes with mode 0700).  Tools connect only after
/// [`check_socket`] found it is the user's (or root's).
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os(VIMAGE_SOCKET).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        return PathBuf::from("/var/run/vimage/kernel.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(d) => PathBuf::from(d).join("vimage/kernel.sock"),
        None => PathBuf::from(format!("/tmp/vimage-{uid}/kernel.sock")),
    }
}

/// The program name for messages (`argv[0]`'s basename).
pub fn getprogname() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "vimage".into())
}

/// Die quietly when writing to a closed pipe (`sysctl -a | head`), as a C
/// program does: Rust's runtime ignores SIGPIPE, so the write would fail and
/// `println!` panic.  Tools that print call it first; ones that write to
/// sockets (nc) handle EPIPE themselves.
pub fn sigpipe_default() {
    // SAFETY: installing the default disposition of SIGPIPE has no
    // preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether the process runs as root (`getuid() == 0`).
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// `atoi(3)`: leading blanks, an optional sign, then digits; anything else
/// ends the number, and none reads as 0.  Out of range clamps to `i32`.
pub fn atoi(s: &str) -> i32 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for c in t.bytes().take_while(u8::is_ascii_digit) {
        n = (n * 10 + i64::from(c - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let n = if neg { -n } else { n };
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `errx(3)`: print `prog: msg` and exit.
pub fn errx(code: i32, msg: impl std::fmt::Display) -> ! {
    eprintln!("{}: {}", getprogname(), msg);
    std::process::exit(code)
}

/// `err(3)`: print `prog: msg: strerror(e)` and exit.
pub fn err(code: i32, msg: impl std::fmt::Display, e: Errno) -> ! {
    eprintln!("{}: {}: {}", getprogname(), msg, strerror(e));
    std::process::exit(code)
}

/// `warn(3)`: print `prog: msg: strerror(e)`.
pub fn warn(msg: impl std::fmt::Display, e: Errno) {
    eprintln!("{}: {}: {}", getprogname(), msg, strerror(e));
}

/// `warnx(3)`: print `prog: msg`.
pub fn warnx(msg: impl std::fmt::Display) {
    eprintln!("{}: {}", getprogname(), msg);
}

/// The 16-byte `struct timeval` image (`i64` seconds, `i64` microseconds, little
/// endian) that [`SO_RCVTIMEO`] takes; a zero duration means "no timeout".
pub fn timeval_bytes(d: std::time::Duration) -> Vec<u8> {
    let sec = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let usec = i64::from(d.subsec_micros());
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&sec.to_le_bytes());
    v.extend_from_slice(&usec.to_le_bytes());
    v
}

/// A receive timeout that follows a tool's next event (ping's next send, its
/// deadline): waits go in slices of at most 100 ms, so SIGINT is noticed, and
/// `SO_RCVTIMEO` is set only when the slice changes.
pub struct RecvSlice {
    cur: std::time::Duration,
}

impl RecvSlice {
    /// No timeout set yet.
    pub fn new() -> Self {
        RecvSlice {
            cur: std::time::Duration::ZERO,
        }
    }
    /// Make `fd`'s next receive wait until `until` at most (`now` is now).
    pub fn set(
        &mut self,
        s: &mut Sys,
        fd: i32,
        until: std::time::Instant,
        now: std::time::Instant,
    ) {
        let slice = until
            .saturating_duration_since(now)
            .min(std::time::Duration::from_millis(100))
            .max(std::time::Duration::from_millis(1));
        if slice != self.cur {
            let _ = s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeval_bytes(slice));
            self.cur = slice;
        }
    }
}

impl Default for RecvSlice {
    fn default() -> Self {
        RecvSlice::new()
    }
}

/// Ask for socket buffers that hold a whole frame
/// ([`vimage_abi::syscall::DOOR_SOCKBUF`]); best effort.
pub fn door_buffers(s: &UnixStream) {
    use std::os::fd::AsRawFd;
    let v = vimage_abi::syscall::DOOR_SOCKBUF as libc::c_int;
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: a valid socket descriptor and an int-sized option value.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Whether files and kernels owned by `uid` may be trusted: the user's own
/// (real or effective) or root's.
fn trusted_uid(uid: u32) -> bool {
    // SAFETY: getuid and geteuid have no preconditions and cannot fail.
    uid == 0 || uid == unsafe { libc::getuid() } || uid == unsafe { libc::geteuid() }
}

fn refused(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// Check that `path` is a kernel socket the user may trust before connecting
/// to it: a socket owned by the user or root, in a directory owned by the
/// user or root that others cannot write (unless sticky, as `/tmp`).
/// Anyone could otherwise make the per-user default directory first and
/// answer the user's tools with a kernel of their own.  A missing socket is
/// reported as such (`ENOENT`).
pub fn check_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path)?;
    let real = std::fs::canonicalize(path)?;
    if let Some(dir) = real.parent() {
        let d = std::fs::metadata(dir)?;
        if !trusted_uid(d.uid()) {
            return Err(refused(format!(
                "{} belongs to uid {}, not to you or root: refusing it",
                dir.display(),
                d.uid()
            )));
        }
        if d.mode() & 0o1002 == 0o002 {
            return Err(refused(format!(
                "{} is writable by anyone: refusing it",
                dir.display()
            )));
        }
    }
    if !m.file_type().is_socket() {
        return Err(refused(format!("{} is not a socket", path.display())));
    }
    if !trusted_uid(m.uid()) {
        return Err(refused(format!(
            "socket belongs to uid {}, not to you or root: refusing it",
            m.uid()
        )));
    }
    Ok(())
}

/// The credentials of the process at the other end of `s` (`SO_PEERCRED`:
/// the kernel's, for a door connection).
pub fn peer_cred(s: &UnixStream) -> io::Result<libc::ucred> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed ucred and its exact length for SO_PEERCRED.
    unsafe {
        let mut c: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        if libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut c as *mut libc::ucred).cast(),
            &mut len,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(c)
    }
}

/// Check that the process at the other end of `s` (the kernel) runs as the
/// user or as root.
fn check_peer(s: &UnixStream) -> io::Result<()> {
    let uid = peer_cred(s)?.uid;
    if !trusted_uid(uid) {
        return Err(refused(format!(
            "the kernel runs as uid {uid}, not as you or root: refusing it"
        )));
    }
    Ok(())
}

/// Read one reply frame (the bytes [`Reply::read_frame`] reads): the header
/// through the buffer, the data straight from the socket into the reply's
/// own uninitialized room, all that is still to come asked for at once
/// (`MSG_WAITALL`), so a large read is one system call and no zero-fill
/// whatever the kernel's pace.  `Ok(None)` on a clean end of stream.
fn read_reply(rd: &mut io::BufReader<UnixStream>) -> io::Result<Option<Reply>> {
    use io::{BufRead, Read};
    use std::os::fd::AsRawFd;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad reply frame");
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if !(20..=vimage_abi::wire::MAX_FRAME).contains(&n) {
        return Err(bad());
    }
    let mut h = [0u8; 16];
    rd.read_exact(&mut h)?;
    let errno = i32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let val = i64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
    let dlen = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
    if dlen > n - 20 {
        return Err(bad());
    }
    // The data and the address length after it, read together: the
    // address length costs no system call of its own.
    let mut data = Vec::with_capacity(dlen + 4);
    let k = rd.buffer().len().min(dlen + 4);
    data.extend_from_slice(&rd.buffer()[..k]);
    rd.consume(k);
    let fd = rd.get_ref().as_raw_fd();
    while data.len() < dlen + 4 {
        let want = dlen + 4 - data.len();
        let spare = &mut data.spare_capacity_mut()[..want];
        // SAFETY: recv(2) writes at most spare.len() bytes into memory the
        // vector owns and does not yet use; MaybeUninit<u8> is u8's layout.
        let r = unsafe {
            libc::recv(
                fd,
                spare.as_mut_ptr().cast::<libc::c_void>(),
                spare.len(),
                libc::MSG_WAITALL,
            )
        };
        match r {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            // SAFETY: recv initialized the first r bytes of the spare room.
            r if r > 0 => unsafe { data.set_len(data.len() + r as usize) },
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    let alen =
        u32::from_le_bytes([data[dlen], data[dlen + 1], data[dlen + 2], data[dlen + 3]]) as usize;
    data.truncate(dlen);
    if alen != n - 20 - dlen {
        return Err(bad());
    }
    let mut addr = vec![0u8; alen];
    rd.read_exact(&mut addr)?;
    Ok(Some(Reply {
        errno,
        val,
        data,
        addr,
    }))
}

/// A connection to the kernel: the process's system call gate.
pub struct Sys {
    stream: UnixStream,
    /// The same connection, buffered for reading: a reply's small header
    /// pieces cost no system call each (its bulk data bypasses the buffer).
    rd: io::BufReader<UnixStream>,
    /// The process that opened the connection (the one the kernel copies
    /// from and to), and whether the kernel still does so for it.
    copyio: (u32, bool),
}

/// Sends and receives of at least this many bytes leave their data in this
/// process's memory for the kernel to copy (`copyin`/`copyout`:
/// [`Request::SendUser`], [`Request::RecvfromUser`]) instead of carrying it
/// in the frame: one copy each way instead of two.
pub const COPYIO_MIN: usize = 16 * 1024;

/// The most one [`Sys::sendto`] carries: a frame's size less room for the
/// request's header and address.
pub const SEND_MAX: usize = vimage_abi::wire::MAX_FRAME - 4096;

impl Sys {
    fn new(stream: UnixStream, rd: io::BufReader<UnixStream>) -> Sys {
        Sys {
            stream,
            rd,
            copyio: (std::process::id(), true),
        }
    }

    /// Whether a call moving `len` bytes may leave them in memory: large
    /// enough, within a frame's size, the kernel still willing, and this the
    /// process that opened the connection (not a child that inherited it,
    /// whose memory the kernel would not see).
    fn use_copyio(&self, len: usize) -> bool {
        (COPYIO_MIN..=SEND_MAX).contains(&len)
            && self.copyio.1
            && self.copyio.0 == std::process::id()
    }

    /// Connect to the kernel at [`socket_path`], once [`check_socket`] and
    /// the kernel's credentials show it is the user's or root's.  A kernel
    /// at its connection limits turns the connection away with `EAGAIN`
    /// (reported as "Resource temporarily unavailable").
    pub fn open() -> io::Result<Sys> {
        let p = socket_path();
        check_socket(&p)?;
        let stream = UnixStream::connect(&p)?;
        check_peer(&stream)?;
        door_buffers(&stream);
        let rd = io::BufReader::with_capacity(16 * 1024, stream.try_clone()?);
        Sys::new(stream, rd).admitted()
    }

    /// [`Sys::connect_at`] and the first round trip of [`Sys::open`]: a
    /// connection the kernel turned away (its limits) is an error here
    /// (`WouldBlock`, or `ConnectionAborted` when it closed first), never
    /// an answer to the caller's first call.
    pub fn connect_admitted(path: &std::path::Path) -> io::Result<Sys> {
        Sys::connect_at(path)?.admitted()
    }

    fn admitted(mut self) -> io::Result<Sys> {
        // One round trip: once it is answered the kernel has attached this
        // connection to the process, so it shares the process's descriptor
        // table even if another connection of the process closes right away
        // (a descriptor is never lost between a thread's two connections).
        // A refusal may come before the request is even written: read the
        // answer whatever the write did.
        let req = Request::Fcntl {
            fd: -1,
            cmd: F_GETFL,
            arg: 0,
        };
        let _ = write_frame(&mut NoSigpipe(&self.stream), &req.to_bytes());
        match self.reply() {
            Err(Errno::EIO) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "kernel closed the connection",
            )),
            Err(Errno::EAGAIN) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                strerror(Errno::EAGAIN),
            )),
            _ => Ok(self),
        }
    }

    /// Connect, or print `prog: cannot reach kernel at PATH: REASON` and exit 1.
    pub fn open_or_exit() -> Sys {
        match Sys::open() {
            Ok(s) => s,
            Err(e) => {
                let p = socket_path();
                let e = e
                    .raw_os_error()
                    .map(|n| strerror(Errno::from_host(n)))
                    .unwrap_or_else(|| e.to_string());
                errx(1, format!("cannot reach kernel at {}: {}", p.display(), e))
            }
        }
    }

    /// Make one system call.  A broken connection is reported as `EIO`.
    pub fn call(&mut self, req: &Request) -> Result<Reply, Errno> {
        write_frame(&mut NoSigpipe(&self.stream), &req.to_bytes()).map_err(|_| Errno::EIO)?;
        self.reply()
    }

    /// Connect to the kernel at `path` (a supervisor opening the door for
    /// a program it captured) without the first round trip; the kernel must
    /// run as the user or root.  Over the kernel's connection limits the
    /// first call fails with `EAGAIN` and the connection is closed.
    pub fn connect_at(path: &std::path::Path) -> io::Result<Sys> {
        let stream = UnixStream::connect(path)?;
        check_peer(&stream)?;
        door_buffers(&stream);
        let rd = io::BufReader::with_capacity(16 * 1024, stream.try_clone()?);
        Ok(Sys::new(stream, rd))
    }

    /// Whether the connection can serve another call: nothing is left
    /// unread and the kernel has not closed it (a pool of connections keeps
    /// only those).
    pub fn is_alive(&self) -> bool {
        use std::os::fd::AsRawFd;
        if !self.rd.buffer().is_empty() {
            return false;
        }
        let mut p = libc::pollfd {
            fd: self.stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n == 0
    }

    /// The connection itself (to hand to another process).
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// `Export`: the host descriptor program `pid` will own for kernel
    /// socket `fd`, and the inodes of exports that ended since the last call.
    pub fn export(&mut self, fd: i32, pid: u32) -> Result<(std::os::fd::OwnedFd, Vec<u32>), Errno> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        write_frame(
            &mut NoSigpipe(&self.stream),
            &Request::Export { fd, pid }.to_bytes(),
        )
        .map_err(|_| Errno::EIO)?;
        // The descriptor rides on the reply's first bytes: read them with
        // recvmsg, never through the buffer (which would drop it).
        if !self.rd.buffer().is_empty() {
            return Err(Errno::EIO);
        }
        let sock = self.stream.as_raw_fd();
        let mut head = [0u8; 4096];
        let mut cmsg = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        };
        // SAFETY: a zeroed msghdr pointing at our own buffers.
        let (n, fd) = unsafe {
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_iov = &mut iov;
            m.msg_iovlen = 1;
            m.msg_control = cmsg.as_mut_ptr().cast();
            m.msg_controllen = cmsg.len();
            let n = loop {
                let n = libc::recvmsg(sock, &mut m, libc::MSG_CMSG_CLOEXEC);
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break n;
            };
            if n <= 0 {
                return Err(Errno::EIO);
            }
            let mut got = None;
            let mut c = libc::CMSG_FIRSTHDR(&m);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let p = libc::CMSG_DATA(c) as *const libc::c_int;
                    got = Some(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p)));
                }
                c = libc::CMSG_NXTHDR(&m, c);
            }
            (n as usize, got)
        };
        // The rest of the frame (an error reply carries no descriptor).
        let mut frame = head[..n].to_vec();
        while frame.len() < 4 {
            let mut b = [0u8; 4];
            let m = io::Read::read(&mut self.stream, &mut b[..4 - frame.len()])
                .map_err(|_| Errno::EIO)?;
            if m == 0 {
                return Err(Errno::EIO);
            }
            frame.extend_from_slice(&b[..m]);
        }
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        if len > vimage_abi::wire::MAX_FRAME {
            return Err(Errno::EIO);
        }
        if frame.len() < 4 + len {
            let have = frame.len();
            frame.resize(4 + len, 0);
            io::Read::read_exact(&mut self.stream, &mut frame[have..]).map_err(|_| Errno::EIO)?;
        }
        let rep = Reply::from_bytes(&frame[4..4 + len]).map_err(|_| Errno::EIO)?;
        let rep = rep.result()?;
        let fd = fd.ok_or(Errno::EIO)?;
        let reaped = rep
            .data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((fd, reaped))
    }

    /// `SetOwner`: this connection acts for host process `pid` (of the
    /// caller's vimage) from now on.
    pub fn set_owner(&mut self, pid: u32) -> Result<(), Errno> {
        self.call(&Request::SetOwner { pid }).map(|_| ())
    }

    /// `ActAs`: this connection works in the vimage of host process `pid`
    /// (its own vimage's or below); `true` when that is another vimage.
    pub fn act_as(&mut self, pid: u32) -> Result<bool, Errno> {
        self.call(&Request::ActAs { pid }).map(|r| r.val != 0)
    }

    /// Read the kernel's answer to the call just written.
    fn reply(&mut self) -> Result<Reply, Errno> {
        read_reply(&mut self.rd)
            .map_err(|_| Errno::EIO)?
            .ok_or(Errno::EIO)?
            .result()
    }

    /// `sysctlbyname` read.
    pub fn sysctl(&mut self, name: &str) -> Result<SysctlReply, Errno> {
        let r = self.call(&Request::Sysctl {
            name: name.into(),
            new: None,
        })?;
        SysctlReply::from_bytes(&r.data)
    }

    /// `sysctlbyname` write; returns the old value's reply.
    pub fn sysctl_set(&mut self, name: &str, v: &SysctlValue) -> Result<SysctlReply, Errno> {
        let mut w = Writer::new();
        v.encode(&mut w);
        let r = self.call(&Request::Sysctl {
            name: name.into(),
            new: Some(w.finish()),
        })?;
        SysctlReply::from_bytes(&r.data)
    }

    /// The leaf after `name` (`""`: the first), `None` at the end.
    pub fn sysctl_next(&mut self, name: &str) -> Result<Option<String>, Errno> {
        match self.call(&Request::SysctlNext { name: name.into() }) {
            Ok(r) => String::from_utf8(r.data)
                .map(Some)
                .map_err(|_| Errno::EINVAL),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `socket(2)`.
    pub fn socket(&mut self, domain: i32, ty: i32, proto: i32) -> Result<i32, Errno> {
        Ok(self.call(&Request::Socket { domain, ty, proto })?.val as i32)
    }

    /// `close(2)`.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.call(&Request::Close { fd }).map(|_| ())
    }

    /// `bind(2)`: `addr` is a socket address image (e.g. a `sockaddr_ng`).
    pub fn bind(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        self.call(&Request::Bind {
            fd,
            addr: addr.to_vec(),
        })
        .map(|_| ())
    }

    /// `connect(2)`: `addr` is a socket address image.
    pub fn connect(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        self.call(&Request::Connect {
            fd,
            addr: addr.to_vec(),
        })
        .map(|_| ())
    }

    /// `sendto(2)`: send `data` (to `addr`, if given); returns the bytes sent.
    /// One call carries at most [`SEND_MAX`] bytes: a longer write is a short
    /// one (a stream's caller writes the rest; no datagram is that long).
    pub fn sendto(
        &mut self,
        fd: i32,
        data: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        let data = &data[..data.len().min(SEND_MAX)];
        if addr.is_none() && self.use_copyio(data.len()) {
            // The kernel copies the data in from `data` itself.
            let req = Request::SendUser {
                fd,
                flags,
                ptr: data.as_ptr() as u64,
                len: data.len() as u32,
            };
            match self.call(&req) {
                Err(Errno::ENOSYS) => self.copyio.1 = false,
                r => return usize::try_from(r?.val).map_err(|_| Errno::EINVAL),
            }
        }
        // Straight from the caller's buffer into the socket.
        write_sendto(&mut NoSigpipe(&self.stream), fd, flags, addr, data)
            .map_err(|_| Errno::EIO)?;
        let r = self.reply()?;
        usize::try_from(r.val).map_err(|_| Errno::EINVAL)
    }

    /// `recvfrom(2)` with a buffer of `len` bytes: the data and the source address
    /// image.  With [`MSG_DONTWAIT`] it fails with `EAGAIN` when nothing is queued.
    pub fn recvfrom(
        &mut self,
        fd: i32,
        len: usize,
        flags: i32,
    ) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        if self.use_copyio(len) {
            // The kernel copies the data out into `buf`'s room itself.
            let mut buf: Vec<u8> = Vec::with_capacity(len);
            let req = Request::RecvfromUser {
                fd,
                len: len as u32,
                flags,
                ptr: buf.as_mut_ptr() as u64,
            };
            match self.call(&req) {
                Err(Errno::ENOSYS) => self.copyio.1 = false,
                r => {
                    let r = r?;
                    let n = usize::try_from(r.val).map_err(|_| Errno::EINVAL)?;
                    if n > len {
                        return Err(Errno::EINVAL);
                    }
                    // SAFETY: the kernel wrote the first `n` bytes of the
                    // room (it answers with the count it copied out).
                    unsafe { buf.set_len(n) };
                    return Ok((buf, r.addr));
                }
            }
        }
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let r = self.call(&Request::Recvfrom { fd, len, flags })?;
        Ok((r.data, r.addr))
    }

    /// `getsockname(2)`: the socket's local address image.
    pub fn getsockname(&mut self, fd: i32) -> Result<Vec<u8>, Errno> {
        Ok(self.call(&Request::Getsockname { fd })?.addr)
    }

    /// `setsockopt(2)`: `val` is the option value image.
    pub fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        self.call(&Request::Setsockopt {
            fd,
            level,
            name,
            val: val.to_vec(),
        })
        .map(|_| ())
    }

    /// `getsockopt(2)`: the option value image.
    pub fn getsockopt(&mut self, fd: i32, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        self.getsockopt_in(fd, level, name, &[])
    }
    /// `getsockopt(2)` with data in the buffer for the options that read it
    /// (ipfw's `IP_FW_ADD`): the option value image out.
    pub fn getsockopt_in(
        &mut self,
        fd: i32,
        level: i32,
        name: i32,
        val: &[u8],
    ) -> Result<Vec<u8>, Errno> {
        let req = Request::Getsockopt {
            fd,
            level,
            name,
            val: val.to_vec(),
        };
        Ok(self.call(&req)?.data)
    }

    /// `ioctl(2)`: returns the copied-out parameter.
    pub fn ioctl(&mut self, fd: i32, cmd: u32, data: Vec<u8>) -> Result<Vec<u8>, Errno> {
        Ok(self.call(&Request::Ioctl { fd, cmd, data })?.data)
    }

    /// A vimage request on a fresh datagram socket, as vimage(8) makes it.
    pub fn vi_ioctl(&mut self, cmd: u32, req: &ViReq) -> Result<ViReq, Errno> {
        let data = req.to_bytes()?;
        let s = self.socket(2, 2, 0)?;
        let r = self.ioctl(s, cmd, data);
        let _ = self.close(s);
        ViReq::from_bytes(&r?)
    }

    /// `kldload(2)`: the new file id.
    pub fn kldload(&mut self, name: &str) -> Result<i32, Errno> {
        Ok(self.call(&Request::Kldload { name: name.into() })?.val as i32)
    }

    /// `kldunload(2)`.
    pub fn kldunload(&mut self, fileid: i32) -> Result<(), Errno> {
        self.call(&Request::Kldunload { fileid }).map(|_| ())
    }

    /// `kldfind(2)`.
    pub fn kldfind(&mut self, name: &str) -> Result<i32, Errno> {
        Ok(self.call(&Request::Kldfind { name: name.into() })?.val as i32)
    }

    /// `kldnext(2)` + `kldstat(2)`.
    pub fn kldnext(&mut self, fileid: i32) -> Result<Option<KldStat>, Errno> {
        let r = self.call(&Request::Kldnext { fileid })?;
        if r.val == 0 {
            return Ok(None);
        }
        KldStat::from_bytes(&r.data).map(Some)
    }

    /// `kldsym`: a kernel symbol's value, resolved in the caller's vnet.
    pub fn kldsym(&mut self, name: &str) -> Result<String, Errno> {
        let r = self.call(&Request::Kldsym { name: name.into() })?;
        String::from_utf8(r.data).map_err(|_| Errno::EINVAL)
    }

    /// `reboot(2)`.
    pub fn reboot(&mut self, howto: i32) -> Result<(), Errno> {
        self.call(&Request::Reboot { howto }).map(|_| ())
    }

    /// `listen(2)`.
    pub fn listen(&mut self, fd: i32, backlog: i32) -> Result<(), Errno> {
        self.call(&Request::Listen { fd, backlog }).map(|_| ())
    }

    /// `accept4(2)`: the new descriptor and the peer's address image.  Blocks
    /// unless the listening socket is non-blocking (then `EAGAIN`).
    pub fn accept(&mut self, fd: i32, flags: i32) -> Result<(i32, Vec<u8>), Errno> {
        let r = self.call(&Request::Accept { fd, flags })?;
        Ok((r.val as i32, r.addr))
    }

    /// `shutdown(2)`: `how` is [`SHUT_RD`], [`SHUT_WR`] or [`SHUT_RDWR`].
    pub fn shutdown(&mut self, fd: i32, how: i32) -> Result<(), Errno> {
        self.call(&Request::Shutdown { fd, how }).map(|_| ())
    }

    /// `getpeername(2)`: the peer's address image.
    pub fn getpeername(&mut self, fd: i32) -> Result<Vec<u8>, Errno> {
        Ok(self.call(&Request::Getpeername { fd })?.addr)
    }

    /// `send(2)` on a connected socket: the bytes taken.  A blocking stream send
    /// takes everything; with [`MSG_DONTWAIT`] or `O_NONBLOCK` it may take less.
    pub fn send(&mut self, fd: i32, data: &[u8], flags: i32) -> Result<usize, Errno> {
        self.sendto(fd, data, flags, None)
    }

    /// `recv(2)`: up to `len` bytes (streams: an empty result is EOF).
    pub fn recv(&mut self, fd: i32, len: usize, flags: i32) -> Result<Vec<u8>, Errno> {
        self.recvfrom(fd, len, flags).map(|(d, _)| d)
    }

    /// `poll(2)`: `revents` for each (descriptor, events) entry; `timeout_ms`
    /// negative waits forever ([`INFTIM`]).
    pub fn poll(&mut self, fds: &[(i32, u32)], timeout_ms: i32) -> Result<Vec<u32>, Errno> {
        let r = self.call(&Request::Poll {
            fds: fds.to_vec(),
            timeout_ms,
        })?;
        if r.data.len() != fds.len() * 4 {
            return Err(Errno::EINVAL);
        }
        Ok(r.data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// `select(2)` over read and write sets: the ready descriptors of each.
    /// `timeout` `None` waits forever.
    pub fn select(
        &mut self,
        rd: &[i32],
        wr: &[i32],
        timeout: Option<std::time::Duration>,
    ) -> Result<(Vec<i32>, Vec<i32>), Errno> {
        let mut fds: Vec<(i32, u32)> = rd.iter().map(|&f| (f, POLLIN)).collect();
        fds.extend(wr.iter().map(|&f| (f, POLLOUT)));
        let ms = timeout.map_or(INFTIM, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        let rev = self.poll(&fds, ms)?;
        if rev.iter().any(|r| r & POLLNVAL != 0) {
            return Err(Errno::EBADF);
        }
        let pick = |range: std::ops::Range<usize>, want: u32| -> Vec<i32> {
            range
                .filter(|&i| rev[i] & (want | POLLERR | POLLHUP) != 0)
                .map(|i| fds[i].0)
                .collect()
        };
        Ok((
            pick(0..rd.len(), POLLIN),
            pick(rd.len()..fds.len(), POLLOUT),
        ))
    }

    /// `fcntl(2)`: returns the call's value.
    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: i32) -> Result<i32, Errno> {
        Ok(self.call(&Request::Fcntl { fd, cmd, arg })?.val as i32)
    }

    /// Set or clear `O_NONBLOCK` on `fd`.
    pub fn set_nonblock(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        let fl = self.fcntl(fd, F_GETFL, 0)?;
        let fl = if on {
            fl | O_NONBLOCK
        } else {
            fl & !O_NONBLOCK
        };
        self.fcntl(fd, F_SETFL, fl).map(|_| ())
    }

    /// `setsockopt(2)` with an `int` value.
    pub fn setsockopt_int(&mut self, fd: i32, level: i32, name: i32, v: i32) -> Result<(), Errno> {
        self.setsockopt(fd, level, name, &v.to_le_bytes())
    }

    /// `getsockopt(2)` of an `int` option.
    pub fn getsockopt_int(&mut self, fd: i32, level: i32, name: i32) -> Result<i32, Errno> {
        let v = self.getsockopt(fd, level, name)?;
        let b: [u8; 4] = v.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
        Ok(i32::from_le_bytes(b))
    }

    /// The raw stream, for tests that send malformed frames.
    pub fn stream(&mut self) -> &mut UnixStream {
        &mut self.stream
    }
}

/// The `sockaddr_in`/`sockaddr_in6` image of `a`.
pub fn sockaddr(a: &SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(v) => SockaddrIn::new(*v.ip(), v.port()).to_bytes().to_vec(),
        SocketAddr::V6(v) => {
            let mut s = SockaddrIn6::new(*v.ip(), v.scope_id());
            s.port = v.port();
            s.flowinfo = v.flowinfo();
            s.to_bytes().to_vec()
        }
    }
}

/// Decode a `sockaddr_in`/`sockaddr_in6` image (`None`: empty or another
/// family).
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    match b.get(1).copied()? {
        AF_INET => SockaddrIn::from_bytes(b)
            .ok()
            .map(|s| SocketAddr::V4(SocketAddrV4::new(s.addr, s.port))),
        AF_INET6 => SockaddrIn6::from_bytes(b)
            .ok()
            .map(|s| SocketAddr::V6(SocketAddrV6::new(s.addr, s.port, s.flowinfo, s.scope_id))),
        _ => None,
    }
}

/// A connected stream socket on its own kernel connection: what a tool reads
/// and writes (`std::io::Read`/`Write`); closed when dropped.  Clones made
/// with [`Stream::try_clone`] share the descriptor from another connection of
/// the same process, so two threads can read and write at once.
pub struct Stream {
    sys: Sys,
    fd: i32,
    owner: bool,
}

impl Stream {
    /// `socket` + `connect` to `to` (`SOCK_STREAM`, the family of `to`).
    pub fn connect(to: &SocketAddr) -> Result<Stream, Errno> {
        let mut sys = Sys::open().map_err(|_| Errno::EIO)?;
        let dom = if to.is_ipv4() { PF_INET } else { PF_INET6 };
        let fd = sys.socket(dom, SOCK_STREAM, 0)?;
        let mut s = Stream::from_fd(sys, fd);
        s.sys.connect(fd, &sockaddr(to))?;
        Ok(s)
    }

    /// Wrap descriptor `fd` of `sys`'s process (closed on drop).
    pub fn from_fd(sys: Sys, fd: i32) -> Stream {
        Stream {
            sys,
            fd,
            owner: true,
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// The system call gate this stream uses.
    pub fn sys(&mut self) -> &mut Sys {
        &mut self.sys
    }

    /// Another handle on the same descriptor over a new kernel connection (for
    /// another thread); it does not close the descriptor when dropped.
    pub fn try_clone(&self) -> Result<Stream, Errno> {
        Ok(Stream {
            sys: Sys::open().map_err(|_| Errno::EIO)?,
            fd: self.fd,
            owner: false,
        })
    }

    /// `shutdown(2)`.
    pub fn shutdown(&mut self, how: i32) -> Result<(), Errno> {
        self.sys.shutdown(self.fd, how)
    }

    /// Local address.
    pub fn local_addr(&mut self) -> Result<SocketAddr, Errno> {
        parse_sockaddr(&self.sys.getsockname(self.fd)?).ok_or(Errno::EAFNOSUPPORT)
    }

    /// Peer address.
    pub fn peer_addr(&mut self) -> Result<SocketAddr, Errno> {
        parse_sockaddr(&self.sys.getpeername(self.fd)?).ok_or(Errno::EAFNOSUPPORT)
    }
}

/// A kernel errno as an `io::Error` (its FreeBSD text).
pub fn io_error(e: Errno) -> io::Error {
    io::Error::other(strerror(e))
}

impl io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = self.sys.recv(self.fd, buf.len(), 0).map_err(io_error)?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // sendto carries at most SEND_MAX bytes and says how many it took.
        self.sys.send(self.fd, buf, 0).map_err(io_error)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.owner {
            let _ = self.sys.close(self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A door write to a closed connection fails with EPIPE and does not
    /// kill a tool that restored SIGPIPE's default (checked in a child, as
    /// a delivered SIGPIPE would take the test runner with it).
    #[test]
    fn door_writes_never_raise_sigpipe() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        // SAFETY: the child only sets a disposition, writes and exits
        // (no allocation, no lock) before _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let bufs = [io::IoSlice::new(b"head"), io::IoSlice::new(b"data")];
            let r = io::Write::write_vectored(&mut NoSigpipe(&a), &bufs);
            let ok = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPIPE));
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        assert!(
            libc::WIFEXITED(st),
            "killed by signal {}",
            libc::WTERMSIG(st)
        );
        assert_eq!(libc::WEXITSTATUS(st), 0);
    }

    #[test]
    fn sockaddr_images_round_trip() {
        for a in ["10.0.0.1:80", "[fe80::1%2]:22", "[::1]:5001"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(parse_sockaddr(&sockaddr(&a)), Some(a));
        }
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[16, 99, 0, 0]), None);
    }

    #[test]
    fn atoi_reads_what_c_reads() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi(" -3x"), -3);
        assert_eq!(atoi("\t+7"), 7);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("99999999999"), i32::MAX);
        assert_eq!(atoi("-99999999999"), i32::MIN);
    }

    #[test]
    fn timeval_image() {
        let b = timeval_bytes(std::time::Duration::from_micros(2_500_001));
        assert_eq!(b.len(), 16);
        assert_eq!(&b[..8], &2i64.to_le_bytes());
        assert_eq!(&b[8..], &500_001i64.to_le_bytes());
        assert_eq!(timeval_bytes(std::time::Duration::ZERO), vec![0; 16]);
    }
}
