//! Exported sockets: a vimage's socket owned by an ordinary Linux program.
//!
//! FreeBSD has nothing like it, because there the program and the stack share
//! one kernel.  Here the program is a host process, so the socket it owns must
//! be a host descriptor: `Request::Export` makes a host socket pair, hands one
//! end to the caller (a supervisor, which injects it into the program) and
//! *splices* the other end to the kernel socket.  Data then moves without any
//! system call notification: what the program writes is read here and sent on
//! the kernel socket; what the kernel socket receives is written here for the
//! program to read.  Readiness (`poll`, `epoll`) is the host's own.
//!
//! * Streams use a `SOCK_STREAM` pair.  Kernel EOF becomes `shutdown(SHUT_WR)`
//!   of our end; the program's last close (our end hangs up) closes the kernel
//!   socket, which sends its FIN or lingers as the protocol decides.
//! * A listening stream socket carries a one-byte *token* while connections
//!   wait to be accepted, so the program's descriptor polls readable; the
//!   supervisor takes the token back when an `accept` finds the queue empty.
//! * A stream socket that is not connected yet is exported *stopped up*: the
//!   program's end already holds a filler (just over a quarter of its send
//!   buffer, unread by us), so it does not poll writable, as a socket whose
//!   handshake is under way must not.  When the handshake completes (or the
//!   socket starts listening) the filler is read and dropped, the program's
//!   end turns writable and what the program wrote meanwhile follows.  When
//!   the handshake fails, our end is closed with the filler still unread:
//!   Linux then marks the program's end `ECONNRESET` (`POLLERR`, `POLLHUP`,
//!   and the error from `read`), and the kernel socket is kept a while
//!   ([`LINGER_FAILED`]) so that `SO_ERROR` says why (`ECONNREFUSED`,
//!   `ETIMEDOUT`).
//! * Datagram and raw sockets use a `SOCK_SEQPACKET` pair (boundaries kept).
//!   Each datagram for the program travels with an `SCM_RIGHTS` token: a small
//!   memfd holding the source address, which a supervisor serving
//!   `recvfrom`/`recvmsg` reads, and which a plain `read`/`recv` discards.
//!
//! Two threads serve each exported socket (one per direction); they end when
//! the program's last descriptor is closed, the kernel socket's owner (the
//! supervisor's descriptor table) goes away, or the kernel halts.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use vimage_abi::syscall::Reply;
use vimage_abi::Errno;
use vimage_kern::kern::kern_syscall::Td;
use vimage_kern::kern::uipc_socket::{
    FdTable, Socket, WeakFdTable, POLLERR, POLLHUP, POLLIN, POLLOUT,
};
use vimage_kern::kern::uipc_syscalls as so_calls;
use vimage_kern::Kernel;

/// `SOCK_STREAM` in the kernel's numbering.
const SOCK_STREAM: i32 = 1;
/// Largest chunk moved per call.
const CHUNK: usize = 64 * 1024;
/// How often a sleeping pump looks at whether it should stop.
const SLICE: Duration = Duration::from_millis(50);
/// Source-address tokens kept for reuse (a server talks to few peers at once).
const TOKEN_CACHE: usize = 64;
/// How long the kernel socket of a failed connect outlives our end (so the
/// program can still read `SO_ERROR`).
const LINGER_FAILED: Duration = Duration::from_secs(30);
/// Most failed connects kept at once (the oldest goes first beyond it).
const LINGER_MAX: usize = 1024;

/// What the kernel remembers of exports, kernel-wide: per owning descriptor
/// table, the inode numbers of exports that ended since its owner last asked.
#[derive(Default)]
pub struct Exports {
    reaped: Mutex<HashMap<usize, (WeakFdTable, Vec<u32>)>>,
    /// Failed connects whose kernel socket is kept for `SO_ERROR`, oldest
    /// first, with when each goes.
    lingering: Mutex<std::collections::VecDeque<(Instant, Arc<Splice>)>>,
}

impl Exports {
    /// Keep `sp` (a failed connect) until `LINGER_FAILED` has passed.
    fn linger(&self, sp: Arc<Splice>) {
        let over = {
            let Ok(mut l) = self.lingering.lock() else {
                sp.finish();
                return;
            };
            l.push_back((Instant::now() + LINGER_FAILED, sp));
            if l.len() > LINGER_MAX {
                l.pop_front()
            } else {
                None
            }
        };
        if let Some((_, old)) = over {
            old.finish();
        }
    }
    /// Finish the failed connects whose time is up.
    fn sweep(&self) {
        let now = Instant::now();
        let done: Vec<Arc<Splice>> = match self.lingering.lock() {
            Ok(mut l) => {
                let mut v = Vec::new();
                while l.front().is_some_and(|(t, _)| *t <= now) {
                    if let Some((_, sp)) = l.pop_front() {
                        v.push(sp);
                    }
                }
                v
            }
            Err(_) => Vec::new(),
        };
        for sp in done {
            sp.finish();
        }
    }

    fn note_reaped(&self, t: &WeakFdTable, ino: u32) {
        if let Ok(mut g) = self.reaped.lock() {
            g.entry(t.key())
                .or_insert_with(|| (t.clone(), Vec::new()))
                .1
                .push(ino);
        }
    }
    fn take_reaped(&self, t: &FdTable) -> Vec<u32> {
        let Ok(mut g) = self.reaped.lock() else {
            return Vec::new();
        };
        // Tables whose owners are gone have nobody left to tell.
        g.retain(|_, (w, _)| w.upgrade().is_some());
        g.remove(&t.key()).map(|(_, v)| v).unwrap_or_default()
    }
}

/// One exported socket's shared state.
struct Splice {
    k: Arc<Kernel>,
    so: Arc<Socket>,
    /// Our end of the pair (its number, valid while `end_fd` holds it).
    end: RawFd,
    /// Our end, owned; taken (closed) only when a connect failed, by the
    /// one pump then running, which uses `end` no more.
    end_fd: Mutex<Option<OwnedFd>>,
    /// Bytes of filler the program's end holds (a socket exported before it
    /// was connected); read and dropped when the handshake completes.
    filler: usize,
    /// The owner's table and the descriptor the socket has there.
    owner: WeakFdTable,
    fd: i32,
    /// Inode of the program's end (how the supervisor names the socket).
    ino: u32,
    closed: AtomicBool,
    exports: Arc<Exports>,
}

impl Splice {
    fn should_stop(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.owner.upgrade().is_none() || self.k.halting()
    }

    /// A process context for the pump's calls: the owner's vimage, no
    /// descriptors, interrupted when the splice stops.
    fn td(self: &Arc<Self>, vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>) -> Td {
        let me = Arc::downgrade(self);
        Td {
            pid: 0,
            vimage,
            fds: FdTable::default(),
            intr: Arc::new(move || me.upgrade().is_none_or(|s| s.should_stop())),
        }
    }

    /// Stop both directions and close the kernel socket's descriptor in its
    /// owner's table (once).
    fn finish(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(g) = self.end_fd.lock() {
            if let Some(end) = g.as_ref() {
                // SAFETY: shutdown on a descriptor we own.
                unsafe {
                    libc::shutdown(end.as_raw_fd(), libc::SHUT_RDWR);
                }
            }
        }
        if let Some(t) = self.owner.upgrade() {
            if t.get(self.fd).is_ok_and(|s| Arc::ptr_eq(&s, &self.so)) {
                let _ = t.close(self.fd);
            }
            self.exports.note_reaped(&self.owner, self.ino);
        }
        // The protocol closes the socket when its last reference goes: the
        // other pump holds one while it sleeps on the socket, so wake it now
        // (a process that exits must free its ports at once, not a slice
        // later: iperf3 binds its port again right after).
        let w = self.so.pcb.lock().ok().and_then(|p| p.wakeup());
        if let Some(w) = w {
            w.wakeup();
        }
    }

    /// Whether the program has closed its every descriptor of the pair.
    fn peer_gone(&self, wait: Duration) -> bool {
        let mut p = libc::pollfd {
            fd: self.end,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, wait.as_millis() as i32) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR) != 0
    }
}

/// `Export`: splice kernel socket `fd` of `td` to a new host socket pair and
/// return the program's end, with the inodes reaped since the last export.
pub fn export(
    k: &Arc<Kernel>,
    exports: &Arc<Exports>,
    td: &Td,
    fd: i32,
) -> Result<(OwnedFd, Vec<u32>), Errno> {
    let so = td.fds.get(fd)?;
    let stream = so.ty == SOCK_STREAM;
    let ty = if stream {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_SEQPACKET
    };
    let mut sv = [0 as RawFd; 2];
    // SAFETY: socketpair fills two descriptors on success.
    if unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } < 0 {
        return Err(Errno::ENFILE);
    }
    // SAFETY: both descriptors are fresh and ours.
    let (prog, end) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    // SAFETY: fstat into a zeroed struct.
    let ino = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(prog.as_raw_fd(), &mut st) < 0 {
            return Err(Errno::EIO);
        }
        st.st_ino as u32
    };
    exports.sweep();
    // Not connected yet (nor listening): stop up the program's end.
    let filler = if stream && !so.listening.load(Ordering::Relaxed) && !handshake_over(&so) {
        stop_up(&prog)
    } else {
        0
    };
    let sp = Arc::new(Splice {
        k: k.clone(),
        so,
        end: end.as_raw_fd(),
        end_fd: Mutex::new(Some(end)),
        filler,
        owner: td.fds.downgrade(),
        fd,
        ino,
        closed: AtomicBool::new(false),
        exports: exports.clone(),
    });
    let vimage = td.vimage.clone();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(128 * 1024)
            .spawn(f)
            .map(|_| ())
            .map_err(|_| Errno::EAGAIN)
    };
    let (a, b) = (sp.clone(), sp.clone());
    let (va, vb) = (vimage.clone(), vimage);
    let r = if stream && filler > 0 {
        // The program-to-kernel pump starts once connected (stream_out).
        drop((a, va));
        spawn("splice-out", Box::new(move || stream_out(b, vb)))
    } else if stream {
        spawn("splice-in", Box::new(move || stream_in(a, va)))
            .and_then(|_| spawn("splice-out", Box::new(move || stream_out(b, vb))))
    } else {
        spawn("splice-in", Box::new(move || dgram_in(a, va)))
            .and_then(|_| spawn("splice-out", Box::new(move || dgram_out(b, vb))))
    };
    if let Err(e) = r {
        sp.finish();
        return Err(e);
    }
    Ok((prog, exports.take_reaped(&td.fds)))
}

/// Send a reply frame with one descriptor attached (`SCM_RIGHTS`).
pub fn send_reply_with_fd(conn: RawFd, reply: &Reply, fd: &OwnedFd) -> std::io::Result<()> {
    let payload = reply.to_bytes();
    let len = (payload.len() as u32).to_le_bytes();
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut bufs: Vec<u8> = Vec::with_capacity(4 + payload.len());
    bufs.extend_from_slice(&len);
    bufs.extend_from_slice(&payload);
    let mut off = 0;
    let mut first = true;
    while off < bufs.len() {
        let iov = [IoSlice::new(&bufs[off..])];
        let c: &[ControlMessage] = if first { &cmsg } else { &[] };
        match sendmsg::<()>(conn, &iov, c, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => {
                off += n;
                first = false;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn write_all(fd: RawFd, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        b = &b[n as usize..];
    }
    true
}

/// Program → kernel, stream: read what the program writes and send it.
fn stream_in(sp: Arc<Splice>, vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>) {
    let mut td = sp.td(vimage);
    let mut buf = vec![0u8; CHUNK];
    loop {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(sp.end, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        let data = &buf[..n as usize];
        let r = sp.k.sock_call(&mut td, &sp.so.clone(), |td, so| {
            so_calls::send_as(td, so, data, None, 0, false)
        });
        if r.errno != 0 {
            // The connection is gone: the program's writes fail from now on.
            // SAFETY: shutdown on our own descriptor.
            unsafe {
                libc::shutdown(sp.end, libc::SHUT_RD);
            }
            break;
        }
    }
    // The program will send no more (shutdown or close): so will we.
    let _ =
        sp.k.sock_call(&mut td, &sp.so.clone(), |_, so| so_calls::shutdown(so, 1));
    while !sp.should_stop() {
        if sp.peer_gone(SLICE) {
            break;
        }
    }
    sp.finish();
}

/// Whether a stream socket's handshake is over, either way: connected (it
/// can be read or written) or failed (an error, or closed).
fn handshake_over(so: &Socket) -> bool {
    so.pcb
        .lock()
        .is_ok_and(|p| p.poll() & (POLLIN | POLLOUT | POLLERR | POLLHUP) != 0)
}

/// Zeros for fillers (read-only).
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// Stop up the program's end `prog` of a new pair: write, from its side, a
/// filler just over a quarter of its send buffer, so that Linux does not
/// report it writable (`unix_writable`) until we read the filler.  Returns
/// the filler's length (0 if the buffer size cannot be read).
fn stop_up(prog: &OwnedFd) -> usize {
    let mut sndbuf: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_SNDBUF writes one int into `sndbuf`.
    let r = unsafe {
        libc::getsockopt(
            prog.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut sndbuf as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 || sndbuf <= 0 {
        return 0;
    }
    let want = sndbuf as usize / 4 + 1;
    let mut off = 0;
    while off < want {
        let chunk = &ZEROS[..(want - off).min(ZEROS.len())];
        // SAFETY: sending from a static slice.
        let n = unsafe {
            libc::send(
                prog.as_raw_fd(),
                chunk.as_ptr().cast(),
                chunk.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
    off
}

/// How the handshake of a stopped-up socket ended.
enum Unstop {
    /// Connected (or listening): the filler is gone, both pumps run.
    Go,
    /// The connect failed: our end is closed, the kernel socket kept.
    Failed,
    /// The program closed its end, or the splice is stopping.
    Stop,
}

/// Wait for the handshake of a socket exported stopped up, then open it up
/// (drop the filler, start the program-to-kernel pump) or, when the connect
/// failed, close our end with the filler unread so the program's end reports
/// `ECONNRESET`.
fn unstop(
    sp: &Arc<Splice>,
    so: &Arc<Socket>,
    vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>,
) -> Unstop {
    loop {
        if sp.should_stop() {
            return Unstop::Stop;
        }
        let (w, gen, m) = match so.pcb.lock() {
            Ok(p) => {
                let w = p.wakeup();
                let gen = w.as_ref().map(|w| w.generation());
                (w, gen, p.poll())
            }
            Err(_) => return Unstop::Stop,
        };
        if so.listening.load(Ordering::Relaxed) {
            break;
        }
        // A refused or timed-out handshake leaves an error and the receive
        // side closed (readable): test for failure first.
        if m & (POLLERR | POLLHUP) != 0 {
            let end = sp.end_fd.lock().ok().and_then(|mut g| g.take());
            drop(end);
            return Unstop::Failed;
        }
        if m & (POLLIN | POLLOUT) != 0 {
            break;
        }
        if sp.peer_gone(Duration::ZERO) {
            return Unstop::Stop;
        }
        match (&w, gen) {
            (Some(w), Some(g)) => {
                w.wait(g, SLICE);
            }
            _ => std::thread::sleep(SLICE),
        }
    }
    let mut buf = [0u8; 4096];
    let mut left = sp.filler;
    while left > 0 {
        let want = left.min(buf.len());
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(sp.end, buf.as_mut_ptr().cast(), want) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            return Unstop::Stop;
        }
        left -= n as usize;
    }
    let a = sp.clone();
    let spawned = std::thread::Builder::new()
        .name("splice-in".into())
        .stack_size(128 * 1024)
        .spawn(move || stream_in(a, vimage));
    if spawned.is_err() {
        return Unstop::Stop;
    }
    Unstop::Go
}

/// Kernel → program, stream: what the socket receives is written for the
/// program; a listening socket keeps its token instead.
fn stream_out(sp: Arc<Splice>, vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>) {
    let mut td = sp.td(vimage.clone());
    let so = sp.so.clone();
    let end = sp.end;
    if sp.filler > 0 {
        match unstop(&sp, &so, vimage.clone()) {
            Unstop::Go => {}
            Unstop::Failed => {
                // Our end is closed: keep the kernel socket for SO_ERROR.
                sp.exports.clone().linger(sp);
                return;
            }
            Unstop::Stop => {
                sp.finish();
                return;
            }
        }
    }
    let mut eof = false;
    while !sp.should_stop() {
        if so.listening.load(Ordering::Relaxed) {
            listener_token(&sp, &so, end);
            continue;
        }
        if eof {
            if sp.peer_gone(SLICE) {
                break;
            }
            continue;
        }
        // The generation before the call, so a connection completing between
        // the call and the wait below is not missed.
        let w = so.pcb.lock().ok().and_then(|p| p.wakeup());
        let gen = w.as_ref().map(|w| w.generation());
        let r = sp.k.sock_call(&mut td, &so, |td, so| {
            so_calls::recv_as(td, so, CHUNK, 0, false)
        });
        match Errno(r.errno) {
            Errno(0) if r.data.is_empty() => {
                // EOF from the peer: the program reads EOF too.
                // SAFETY: shutdown on our own descriptor.
                unsafe {
                    libc::shutdown(end, libc::SHUT_WR);
                }
                eof = true;
            }
            Errno(0) => {
                if !write_all(end, &r.data) {
                    break;
                }
            }
            Errno::ENOTCONN | Errno::EAGAIN => {
                // Not connected yet (or not listening yet): wait for the
                // socket to change (the handshake completing wakes it), so
                // the first data is passed on at once.
                if sp.peer_gone(Duration::ZERO) {
                    break;
                }
                match (&w, gen) {
                    (Some(w), Some(g)) => {
                        w.wait(g, SLICE);
                    }
                    _ => std::thread::sleep(SLICE),
                }
            }
            Errno::EINTR => {}
            _ => {
                // Reset or another error: the program sees EOF.
                // SAFETY: shutdown on our own descriptor.
                unsafe {
                    libc::shutdown(end, libc::SHUT_WR);
                }
                eof = true;
            }
        }
    }
    sp.finish();
}

/// One turn of a listening socket: keep a token readable while connections
/// wait to be accepted, then sleep until something changes.
fn listener_token(sp: &Splice, so: &Arc<Socket>, end: RawFd) {
    let (pending, w) = match so.pcb.lock() {
        Ok(p) => (p.poll() & POLLIN != 0, p.wakeup()),
        Err(_) => (false, None),
    };
    let gen = w.as_ref().map(|w| w.generation());
    if pending {
        let mut outq: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int.
        let ok = unsafe { libc::ioctl(end, libc::TIOCOUTQ, &mut outq) } == 0;
        if ok && outq == 0 {
            write_all(end, b"!");
        }
    }
    if sp.peer_gone(Duration::ZERO) {
        sp.finish();
        return;
    }
    match (w, gen) {
        (Some(w), Some(g)) => {
            w.wait(g, SLICE);
        }
        _ => std::thread::sleep(SLICE),
    }
}

/// Program → kernel, datagrams: each message the program writes is one
/// datagram on the (connected) kernel socket.
fn dgram_in(sp: Arc<Splice>, vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>) {
    let mut td = sp.td(vimage);
    let mut buf = vec![0u8; CHUNK + 1];
    loop {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::recv(sp.end, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n == 0 && sp.peer_gone(Duration::ZERO) {
            break;
        }
        let data = &buf[..n as usize];
        // Errors (no destination, unreachable) are the datagram's, not the
        // socket's: it is dropped, as an unreliable send may be.
        let _ = sp.k.sock_call(&mut td, &sp.so.clone(), |td, so| {
            so_calls::send_as(td, so, data, None, 0, false)
        });
    }
    sp.finish();
}

/// Kernel → program, datagrams: each with its source-address token.
fn dgram_out(sp: Arc<Splice>, vimage: Arc<vimage_kern::kern::kern_vimage::Vimage>) {
    let mut td = sp.td(vimage);
    let so = sp.so.clone();
    let end = sp.end;
    let mut tokens: HashMap<Vec<u8>, OwnedFd> = HashMap::new();
    while !sp.should_stop() {
        let r = sp.k.sock_call(&mut td, &so, |td, so| {
            so_calls::recv_as(td, so, CHUNK, 0, false)
        });
        if r.errno != 0 {
            if sp.peer_gone(if r.errno == Errno::EINTR.0 {
                Duration::ZERO
            } else {
                SLICE
            }) {
                break;
            }
            continue;
        }
        if tokens.len() >= TOKEN_CACHE && !tokens.contains_key(&r.addr) {
            tokens.clear();
        }
        if !tokens.contains_key(&r.addr) {
            match addr_token(&r.addr) {
                Some(t) => {
                    tokens.insert(r.addr.clone(), t);
                }
                None => continue,
            }
        }
        let Some(tok) = tokens.get(&r.addr) else {
            continue;
        };
        let fds = [tok.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(&r.data)];
        loop {
            match sendmsg::<()>(end, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) if sp.peer_gone(Duration::ZERO) => {
                    sp.finish();
                    return;
                }
                _ => break,
            }
        }
    }
    sp.finish();
}

/// A memfd holding a source address image, passed with each datagram.
fn addr_token(addr: &[u8]) -> Option<OwnedFd> {
    // SAFETY: memfd_create with a static name; the descriptor is ours.
    let fd = unsafe { libc::memfd_create(c"vimage-addr".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    write_all_file(fd.as_raw_fd(), addr).then_some(fd)
}

fn write_all_file(fd: RawFd, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return false;
        }
        b = &b[n as usize..];
    }
    true
}
