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
//! No thread is spent per socket.  A few *reactor* threads (one per CPU)
//! serve every export, each over an epoll set: the program's side wakes a
//! reactor through epoll on our end of the pair (edge-triggered); the kernel
//! side through a watcher on the socket and its buffers
//! ([`vimage_kern::uipc_socket::Watcher`]), which queues the export for a
//! look and pokes the reactor's eventfd.  Every kernel call a reactor makes
//! is non-blocking; what cannot move yet waits in the export's own buffer
//! until the other side is ready.  An export ends when the program's last
//! descriptor is closed, the kernel socket's owner (the supervisor's
//! descriptor table) goes away, or the kernel halts.

use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use vimage_abi::syscall::Reply;
use vimage_abi::Errno;
use vimage_kern::kern_syscall::Td;
use vimage_kern::kern_vimage::Vimage;
use vimage_kern::uipc_socket::{
    FdTable, Socket, Watcher, WeakFdTable, POLLERR, POLLHUP, POLLIN, POLLOUT,
};
use vimage_kern::uipc_syscalls as so_calls;
use vimage_kern::Kernel;
use vimage_net::mbuf::MbufChain;

/// `SOCK_STREAM` in the kernel's numbering.
const SOCK_STREAM: i32 = 1;
/// Largest chunk moved per call (streams; a reactor's one scratch buffer).
/// It also bounds what an export holds between turns, each way (what the
/// kernel did not take yet, what the program has not read yet): a stalled
/// socket pins at most twice this here, the size of the kernel's own
/// buffers at their largest (`net.inet.tcp.{send,recv}buf_max`).  64 KiB
/// cost about a tenth of the throughput between vimages.
const CHUNK: usize = 256 * 1024;
/// Largest datagram.
const DGRAM_MAX: usize = 64 * 1024;
/// Most bytes (streams) or datagrams one export moves each way in one turn:
/// then it queues itself again behind the others of its reactor, so a
/// flood on one socket cannot starve the rest.
const TURN_BYTES: usize = 4 * CHUNK;
const TURN_DGRAMS: usize = 256;
/// How often a reactor looks at every export for an owner gone or a halt
/// (nothing else needs a timer).
const SWEEP: Duration = Duration::from_secs(1);
/// Source-address tokens kept for reuse (a server talks to few peers at once).
const TOKEN_CACHE: usize = 64;
/// How long the kernel socket of a failed connect outlives our end (so the
/// program can still read `SO_ERROR`).
const LINGER_FAILED: Duration = Duration::from_secs(30);
/// Most failed connects kept at once (the oldest goes first beyond it).
const LINGER_MAX: usize = 1024;
/// How long what a program wrote before it exited is still passed on after
/// its supervisor went too.
const ORPHAN_FLUSH: Duration = Duration::from_secs(30);
/// The eventfd's token in a reactor's epoll set.
const EV_TOKEN: u64 = u64::MAX;

/// What the kernel remembers of exports, kernel-wide: per owning descriptor
/// table, the inode numbers of exports that ended since its owner last asked;
/// and the reactors that serve them.
#[derive(Default)]
pub struct Exports {
    reaped: Mutex<HashMap<usize, (WeakFdTable, Vec<u32>)>>,
    /// Failed connects whose kernel socket is kept for `SO_ERROR`, oldest
    /// first, with when each goes.
    lingering: Mutex<VecDeque<(Instant, Arc<Splice>)>>,
    reactors: OnceLock<Vec<Arc<Reactor>>>,
    next: AtomicUsize,
    tokens: AtomicU64,
    /// Descriptors looked at this second in programs' /proc/PID/fd to pass
    /// resets on ([`reset_program_end`]): (second, count).  A tenant with
    /// many descriptors that resets connections in a loop must not keep the
    /// reactors, which serve every vimage, busy reading its table.
    reset_scan: Mutex<(u64, u32)>,
}

/// Most /proc/PID/fd entries all reactors read per second to pass resets
/// on; past it a reset reads as EOF until the next second.
const RESET_SCAN_PER_SEC: u32 = 16_384;

impl Exports {
    /// Take `n` entries of this second's scan budget; false when spent.
    fn reset_scan_take(&self, n: u32) -> bool {
        let sec = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.reset_scan_take_at(sec, n)
    }
    fn reset_scan_take_at(&self, sec: u64, n: u32) -> bool {
        let Ok(mut g) = self.reset_scan.lock() else {
            return false;
        };
        if g.0 != sec {
            *g = (sec, 0);
        }
        if g.1.saturating_add(n) > RESET_SCAN_PER_SEC {
            return false;
        }
        g.1 += n;
        true
    }
}

impl Exports {
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
    /// The reactors, started on first use (one per CPU, at least two).
    fn reactors(self: &Arc<Self>, k: &Arc<Kernel>) -> Result<&Vec<Arc<Reactor>>, Errno> {
        if let Some(r) = self.reactors.get() {
            return Ok(r);
        }
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 16);
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            v.push(Reactor::start(k.clone(), Arc::downgrade(self), i)?);
        }
        // A racing first export may have started its own set: use the one
        // that won (the loser's threads end with their only reference).
        let _ = self.reactors.set(v);
        self.reactors.get().ok_or(Errno::EAGAIN)
    }
}

/// One exported socket's shared state.
struct Splice {
    k: Arc<Kernel>,
    so: Arc<Socket>,
    stream: bool,
    vimage: Arc<Vimage>,
    /// Our end of the pair (its number, valid while `end_fd` holds it).
    end: RawFd,
    /// Our end, owned; taken (closed) only when a connect failed, by the
    /// reactor, which then uses `end` no more.
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
    /// Its reactor key, and whether it is already queued for a look.
    token: u64,
    queued: AtomicBool,
}

impl Splice {
    fn should_stop(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.owner.upgrade().is_none() || self.k.halting()
    }

    /// A process context for the reactor's calls on this socket: the owner's
    /// vimage, no descriptors.
    fn td(self: &Arc<Self>) -> Td {
        let me = Arc::downgrade(self);
        Td {
            pid: 0,
            vimage: self.vimage.clone(),
            fds: FdTable::default(),
            intr: Arc::new(move || me.upgrade().is_none_or(|s| s.should_stop())),
        }
    }

    /// Close the kernel socket's descriptor in its owner's table (once).
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
    }

    /// Watch (or stop watching) the kernel socket and its buffers.
    fn watch(&self, w: Option<Watcher>) {
        let Ok(p) = self.so.pcb.lock() else { return };
        if let Some(b) = p.rcvbuf() {
            b.set_watcher(w.clone());
        }
        if let Some(b) = p.sndbuf() {
            b.set_watcher(w.clone());
        }
        if let Some(x) = p.wakeup() {
            x.set_watcher(w);
        }
    }

    /// `poll` bits of the kernel socket (nothing consumed).
    fn kpoll(&self) -> u32 {
        self.so.pcb.lock().map(|p| p.poll()).unwrap_or(POLLERR)
    }
}

/// `Export`: splice kernel socket `fd` of `td` to a new host socket pair and
/// return the program's end, with the inodes reaped since the last export;
/// `owner` (0: none) is the process `kern.file` names for it.
pub fn export(
    k: &Arc<Kernel>,
    exports: &Arc<Exports>,
    td: &Td,
    fd: i32,
    owner: u32,
) -> Result<(OwnedFd, Vec<u32>), Errno> {
    let so = td.fds.get(fd)?;
    if owner != 0 {
        so.owner_pid.store(owner, Ordering::Relaxed);
    }
    let stream = so.ty == SOCK_STREAM;
    let ty = if stream {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_SEQPACKET
    };
    let reactors = exports.reactors(k)?;
    let mut sv = [0 as RawFd; 2];
    // SAFETY: socketpair fills two descriptors on success.
    if unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } < 0 {
        return Err(Errno::ENFILE);
    }
    // SAFETY: both descriptors are fresh and ours.
    let (prog, end) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    // SAFETY: fcntl on our own descriptor: the reactor never blocks on it.
    unsafe {
        let fl = libc::fcntl(end.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(end.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
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
        stream,
        vimage: td.vimage.clone(),
        end: end.as_raw_fd(),
        end_fd: Mutex::new(Some(end)),
        filler,
        owner: td.fds.downgrade(),
        fd,
        ino,
        closed: AtomicBool::new(false),
        exports: exports.clone(),
        token: exports.tokens.fetch_add(1, Ordering::Relaxed),
        queued: AtomicBool::new(false),
    });
    let i = exports.next.fetch_add(1, Ordering::Relaxed) % reactors.len();
    if let Err(e) = reactors[i].add(sp.clone()) {
        sp.finish();
        return Err(e);
    }
    Ok((prog, exports.take_reaped(&td.fds)))
}

/// A reactor: one thread serving many exports over an epoll set.
struct Reactor {
    epfd: OwnedFd,
    evfd: OwnedFd,
    q: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Exports to look at.
    ready: Vec<u64>,
    /// Exports to take on.
    new: Vec<Arc<Splice>>,
    /// The reactor is between epoll waits (no need to poke it).
    busy: bool,
}

impl Reactor {
    fn start(
        k: Arc<Kernel>,
        ex: std::sync::Weak<Exports>,
        i: usize,
    ) -> Result<Arc<Reactor>, Errno> {
        // SAFETY: plain system calls; the descriptors are ours on success.
        let (ep, ev) = unsafe {
            (
                libc::epoll_create1(libc::EPOLL_CLOEXEC),
                libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK),
            )
        };
        if ep < 0 || ev < 0 {
            // SAFETY: closing what was opened.
            unsafe {
                if ep >= 0 {
                    libc::close(ep);
                }
                if ev >= 0 {
                    libc::close(ev);
                }
            }
            return Err(Errno::EMFILE);
        }
        // SAFETY: fresh descriptors.
        let r = Arc::new(Reactor {
            epfd: unsafe { OwnedFd::from_raw_fd(ep) },
            evfd: unsafe { OwnedFd::from_raw_fd(ev) },
            q: Mutex::new(Queue::default()),
        });
        epoll_add(
            r.epfd.as_raw_fd(),
            r.evfd.as_raw_fd(),
            EV_TOKEN,
            libc::EPOLLIN as u32,
        )?;
        let me = r.clone();
        std::thread::Builder::new()
            .name(format!("splice{i}"))
            .spawn(move || me.run(k, ex))
            .map_err(|_| Errno::EAGAIN)?;
        Ok(r)
    }

    /// Take on export `sp`.
    fn add(self: &Arc<Self>, sp: Arc<Splice>) -> Result<(), Errno> {
        match self.q.lock() {
            Ok(mut q) => q.new.push(sp),
            Err(_) => return Err(Errno::EAGAIN),
        }
        self.poke();
        Ok(())
    }

    /// Queue export `sp` for a look (a watcher: any thread).
    fn kick(&self, sp: &Splice) {
        if sp.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let poke = match self.q.lock() {
            Ok(mut q) => {
                q.ready.push(sp.token);
                !q.busy
            }
            Err(_) => false,
        };
        if poke {
            self.poke();
        }
    }

    fn poke(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe {
            libc::write(self.evfd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    fn run(self: Arc<Self>, k: Arc<Kernel>, ex: std::sync::Weak<Exports>) {
        let mut live: HashMap<u64, Entry> = HashMap::new();
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut last_sweep = Instant::now();
        let mut todo: Vec<u64> = Vec::new();
        let mut scratch = vec![0u8; CHUNK];
        loop {
            // Sleep only if nothing was queued meanwhile (a kick while we were
            // busy did not poke the eventfd); from here on kicks poke it.
            let timeout = match self.q.lock() {
                Ok(mut q) if q.ready.is_empty() && q.new.is_empty() => {
                    q.busy = false;
                    SWEEP.as_millis() as i32
                }
                _ => 0,
            };
            // SAFETY: evs has room for its length.
            let n = unsafe {
                libc::epoll_wait(
                    self.epfd.as_raw_fd(),
                    evs.as_mut_ptr(),
                    evs.len() as i32,
                    timeout,
                )
            };
            if let Ok(mut q) = self.q.lock() {
                q.busy = true;
            }
            todo.clear();
            for e in evs.iter().take(n.max(0) as usize) {
                let (tok, bits) = (e.u64, e.events);
                if tok == EV_TOKEN {
                    let mut v: u64 = 0;
                    // SAFETY: reading 8 bytes from our eventfd.
                    unsafe {
                        libc::read(self.evfd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
                    }
                    continue;
                }
                if let Some(en) = live.get_mut(&tok) {
                    if bits & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0 {
                        en.rd = true;
                    }
                    if bits & libc::EPOLLOUT as u32 != 0 {
                        en.wr = true;
                    }
                    if bits & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                        en.hup = true;
                        en.rd = true;
                    }
                    todo.push(tok);
                }
            }
            let (ready, new) = match self.q.lock() {
                Ok(mut q) => (std::mem::take(&mut q.ready), std::mem::take(&mut q.new)),
                Err(_) => (Vec::new(), Vec::new()),
            };
            for sp in new {
                let tok = sp.token;
                let r = Arc::downgrade(&self);
                let w = Arc::downgrade(&sp);
                let watcher: Watcher = Arc::new(move || {
                    if let (Some(r), Some(sp)) = (r.upgrade(), w.upgrade()) {
                        r.kick(&sp);
                    }
                });
                let bits =
                    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
                if epoll_add(self.epfd.as_raw_fd(), sp.end, tok, bits).is_err() {
                    sp.finish();
                    continue;
                }
                sp.watch(Some(watcher));
                live.insert(tok, Entry::new(sp));
                todo.push(tok);
            }
            for tok in ready {
                if let Some(en) = live.get(&tok) {
                    en.sp.queued.store(false, Ordering::Release);
                }
                todo.push(tok);
            }
            if last_sweep.elapsed() >= SWEEP || k.halting() {
                last_sweep = Instant::now();
                // Failed connects whose time is up close even when no new
                // socket is exported.
                if let Some(ex) = ex.upgrade() {
                    ex.sweep();
                }
                todo.extend(
                    live.iter()
                        .filter(|(_, e)| e.sp.should_stop())
                        .map(|(t, _)| *t),
                );
            }
            todo.sort_unstable();
            todo.dedup();
            for tok in &todo {
                let Some(en) = live.get_mut(tok) else {
                    continue;
                };
                match en.turn(&mut scratch) {
                    Turn::Wait => {}
                    Turn::Again => {
                        if let Ok(mut q) = self.q.lock() {
                            q.ready.push(*tok);
                        }
                    }
                    Turn::Done => {
                        if let Some(en) = live.remove(tok) {
                            en.sp.watch(None);
                            en.sp.finish();
                        }
                    }
                    Turn::Failed => {
                        if let Some(en) = live.remove(tok) {
                            en.sp.watch(None);
                            let sp = en.sp.clone();
                            drop(en);
                            sp.exports.clone().linger(sp);
                        }
                    }
                }
            }
            if k.halting() && live.is_empty() {
                return;
            }
        }
    }
}

fn epoll_add(ep: RawFd, fd: RawFd, tok: u64, events: u32) -> Result<(), Errno> {
    let mut ev = libc::epoll_event { events, u64: tok };
    // SAFETY: registering a descriptor we own with a valid event.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// What a turn decided.
enum Turn {
    /// More to do later (an event will say when).
    Wait,
    /// Its budget is spent with more to move: again after the others.
    Again,
    /// The export is over.
    Done,
    /// Its connect failed: our end is closed, the kernel socket lingers.
    Failed,
}

/// A reactor's state of one export.
struct Entry {
    sp: Arc<Splice>,
    td: Td,
    /// Our end is (as far as we know) readable / writable / hung up.
    rd: bool,
    wr: bool,
    hup: bool,
    /// Filler still to drop (stopped-up stream).
    filler_left: usize,
    /// Program → kernel: bytes read but not yet taken by the kernel.
    inbuf: Vec<u8>,
    inoff: usize,
    /// The program will send no more (EOF passed on), or the kernel takes no
    /// more (an error: the rest is dropped).
    in_done: bool,
    /// Kernel → program: bytes received but not yet written to our end.
    /// Data read from the kernel socket, in its mbufs, not yet written to
    /// the program's end.
    outbuf: MbufChain,
    /// The kernel will send no more (EOF passed on with `SHUT_WR`).
    out_done: bool,
    /// The datagram (data, source) waiting for room in our end: at most
    /// one, the rest stays in the kernel's buffer (which drops what does not
    /// fit, as a socket buffer does).
    pending: Option<(Vec<u8>, Vec<u8>)>,
    tokens: HashMap<Vec<u8>, OwnedFd>,
    /// When the owner was found gone.
    orphan: Option<Instant>,
    /// Datagrams: the program shut down its sending side.
    in_eof: bool,
    /// The connection was reset and the program's end marked so (our end
    /// closed).
    reset: bool,
}

impl Entry {
    fn new(sp: Arc<Splice>) -> Entry {
        Entry {
            td: sp.td(),
            filler_left: sp.filler,
            sp,
            rd: true,
            wr: true,
            hup: false,
            inbuf: Vec::new(),
            inoff: 0,
            in_done: false,
            outbuf: MbufChain::new(),
            out_done: false,
            pending: None,
            tokens: HashMap::new(),
            orphan: None,
            in_eof: false,
            reset: false,
        }
    }

    /// Move what can move; `scratch` is the reactor's buffer (what an
    /// export keeps between turns is only what could not be passed on).
    fn turn(&mut self, scratch: &mut [u8]) -> Turn {
        if self.sp.closed.load(Ordering::Acquire) || self.sp.k.halting() {
            return Turn::Done;
        }
        if self.sp.owner.upgrade().is_none() {
            // The supervisor is gone.  A program that is still running
            // loses the connection (fail closed); one that exited first
            // (its end hung up) still gets what it wrote passed on, as a
            // closed socket's data is, for a while.
            if !self.hup {
                self.hup = hung_up(self.sp.end);
            }
            let since = *self.orphan.get_or_insert_with(Instant::now);
            if !self.hup || !self.sp.stream || since.elapsed() > ORPHAN_FLUSH {
                return Turn::Done;
            }
        }
        if self.sp.stream {
            self.stream_turn(scratch)
        } else {
            self.dgram_turn(scratch)
        }
    }

    fn stream_turn(&mut self, scratch: &mut [u8]) -> Turn {
        let so = self.sp.so.clone();
        if self.filler_left > 0 {
            let m = self.sp.kpoll();
            if !so.listening.load(Ordering::Relaxed) {
                // A refused or timed-out handshake leaves an error and the
                // receive side closed (readable): test for failure first.
                if m & (POLLERR | POLLHUP) != 0 {
                    let end = self.sp.end_fd.lock().ok().and_then(|mut g| g.take());
                    drop(end);
                    return Turn::Failed;
                }
                if m & (POLLIN | POLLOUT) == 0 {
                    return if self.hup { Turn::Done } else { Turn::Wait };
                }
            }
            // Connected or listening: drop the filler, the program's end
            // turns writable.
            let mut b = [0u8; 4096];
            while self.filler_left > 0 {
                let want = self.filler_left.min(b.len());
                match read_nb(self.sp.end, &mut b[..want]) {
                    Io::Got(n) => self.filler_left -= n,
                    Io::Again => return Turn::Wait,
                    Io::Eof | Io::Err => return Turn::Done,
                }
            }
        }
        if so.listening.load(Ordering::Relaxed) {
            return self.listener_turn();
        }
        let more_in = self.stream_in(scratch);
        let more_out = self.stream_out();
        if self.reset {
            // Our end is gone; the kernel socket stays a while for the
            // program's SO_ERROR and close.
            return Turn::Failed;
        }
        // The program closed its every descriptor: once what it wrote is in
        // the kernel, the export is over (closing the kernel socket sends
        // what is queued and the FIN).
        if self.hup && self.in_done {
            return Turn::Done;
        }
        if more_in || more_out {
            return Turn::Again;
        }
        Turn::Wait
    }

    /// Program → kernel.
    fn stream_in(&mut self, scratch: &mut [u8]) -> bool {
        let mut moved = 0;
        while !self.in_done {
            if moved >= TURN_BYTES {
                return true;
            }
            // What the kernel did not take last time goes first.
            let held = self.inoff < self.inbuf.len();
            let fresh = if held {
                0
            } else {
                if !self.rd {
                    return false;
                }
                match read_nb(self.sp.end, scratch) {
                    Io::Got(n) => n,
                    Io::Again => {
                        self.rd = false;
                        return false;
                    }
                    Io::Eof | Io::Err => {
                        // The program will send no more.  After a
                        // shutdown(SHUT_WR), so will we (FIN).  After its
                        // last close, closing the kernel socket does it,
                        // the way its SO_LINGER says: a FIN after what is
                        // queued, or with a zero linger a reset only (a
                        // shutdown here would send a FIN first).
                        self.in_done = true;
                        if matches!(peer_state(self.sp.end), Peer::Gone) {
                            self.hup = true;
                            return false;
                        }
                        let so = self.sp.so.clone();
                        let _ = self
                            .sp
                            .k
                            .sock_call(&mut self.td, &so, |_, so| so_calls::shutdown(so, 1));
                        return false;
                    }
                }
            };
            let data: &[u8] = if held {
                &self.inbuf[self.inoff..]
            } else {
                &scratch[..fresh]
            };
            let len = data.len();
            let so = self.sp.so.clone();
            let r = self.sp.k.sock_call(&mut self.td, &so, |td, so| {
                so_calls::send_as(td, so, data, None, 0, true)
            });
            let took = match Errno(r.errno) {
                Errno(0) => (r.val.max(0) as usize).min(len),
                Errno::EAGAIN => 0,
                _ => {
                    // The connection is gone: the program's writes fail from
                    // now on.
                    // SAFETY: shutdown on our own descriptor.
                    unsafe {
                        libc::shutdown(self.sp.end, libc::SHUT_RD);
                    }
                    self.inbuf = Vec::new();
                    self.inoff = 0;
                    self.in_done = true;
                    return false;
                }
            };
            moved += took;
            if held {
                self.inoff += took;
                if self.inoff == self.inbuf.len() {
                    self.inbuf = Vec::new();
                    self.inoff = 0;
                }
            } else if took < len {
                self.inbuf = scratch[took..fresh].to_vec();
                self.inoff = 0;
            }
            if took < len {
                // The kernel's buffer is full: its watcher says when there
                // is room.
                return false;
            }
        }
        false
    }

    /// Kernel → program.
    fn stream_out(&mut self) -> bool {
        let mut moved = 0;
        loop {
            if moved >= TURN_BYTES {
                return true;
            }
            if !self.outbuf.is_empty() {
                if self.hup {
                    // Nobody will read it.
                    self.outbuf.clear();
                    continue;
                }
                if !self.wr {
                    return false;
                }
                match writev_nb(self.sp.end, &self.outbuf) {
                    Io::Got(n) => {
                        moved += n;
                        self.outbuf.drop_front(n);
                    }
                    Io::Again => {
                        self.wr = false;
                        return false;
                    }
                    Io::Eof | Io::Err => {
                        self.outbuf.clear();
                        self.out_done = true;
                        return false;
                    }
                }
                continue;
            }
            if self.out_done {
                return false;
            }
            let so = self.sp.so.clone();
            // The data stays in its mbufs up to the program's end (one
            // sendmsg of their slices, no flattening copy).
            let mut data = MbufChain::new();
            let r = self.sp.k.sock_call(&mut self.td, &so, |td, so| {
                let (d, _) = so_calls::recv_chain_as(td, so, CHUNK, 0, true)?;
                let n = d.len() as i64;
                data = d;
                Ok(Reply::val(n))
            });
            match Errno(r.errno) {
                Errno(0) if data.is_empty() => {
                    // EOF from the peer: the program reads EOF too.
                    // SAFETY: shutdown on our own descriptor.
                    unsafe {
                        libc::shutdown(self.sp.end, libc::SHUT_WR);
                    }
                    self.out_done = true;
                    return false;
                }
                Errno(0) => {
                    self.outbuf = data;
                }
                Errno::EAGAIN | Errno::ENOTCONN | Errno::EINTR => return false,
                Errno::ECONNRESET if reset_program_end(&self.sp) => {
                    // The program's end now reads ECONNRESET (after what
                    // it has not read yet) and polls POLLERR|POLLHUP, as a
                    // reset TCP socket does on Linux; our end is closed.
                    self.out_done = true;
                    self.in_done = true;
                    self.reset = true;
                    return false;
                }
                _ => {
                    // Another error (or a reset we could not pass on as
                    // one): the program sees EOF.
                    // SAFETY: shutdown on our own descriptor.
                    unsafe {
                        libc::shutdown(self.sp.end, libc::SHUT_WR);
                    }
                    self.out_done = true;
                    return false;
                }
            }
        }
    }

    /// A listening socket keeps a one-byte token readable while connections
    /// wait to be accepted.
    fn listener_turn(&mut self) -> Turn {
        if self.hup {
            return Turn::Done;
        }
        if self.sp.kpoll() & POLLIN != 0 {
            let mut outq: libc::c_int = 0;
            // SAFETY: SIOCOUTQ writes one int.
            let ok = unsafe { libc::ioctl(self.sp.end, libc::TIOCOUTQ, &mut outq) } == 0;
            if ok && outq == 0 {
                let _ = write_nb(self.sp.end, b"!");
            }
        }
        // Nothing the program writes to a listener means anything.
        let mut b = [0u8; 512];
        while self.rd {
            match read_nb(self.sp.end, &mut b) {
                Io::Got(_) => {}
                Io::Again => self.rd = false,
                Io::Eof | Io::Err => return Turn::Done,
            }
        }
        Turn::Wait
    }

    fn dgram_turn(&mut self, scratch: &mut [u8]) -> Turn {
        // Program → kernel: each message is one datagram on the (connected)
        // kernel socket.
        let buf = &mut scratch[..DGRAM_MAX + 1];
        let mut sent = 0;
        while self.rd && !self.in_eof {
            if sent >= TURN_DGRAMS {
                return Turn::Again;
            }
            sent += 1;
            // SAFETY: receiving into our buffer.
            let n = unsafe {
                libc::recv(
                    self.sp.end,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        self.rd = false;
                        break;
                    }
                    _ => return Turn::Done,
                }
            }
            if n == 0 {
                // An empty datagram, or the end of the program's side (its
                // epoll event may not be read yet: ask now, or this loop
                // would spin on the zero-length reads).
                match peer_state(self.sp.end) {
                    Peer::Gone => return Turn::Done,
                    Peer::NoMoreSends => {
                        self.rd = false;
                        self.in_eof = true;
                        break;
                    }
                    Peer::Open => {}
                }
            }
            let so = self.sp.so.clone();
            let data = &buf[..n as usize];
            // Errors (no destination, unreachable, no room) are the
            // datagram's, not the socket's: it is dropped, as an unreliable
            // send may be.
            let _ = self.sp.k.sock_call(&mut self.td, &so, |td, so| {
                so_calls::send_as(td, so, data, None, 0, true)
            });
        }
        if self.hup {
            return Turn::Done;
        }
        // Kernel → program: each datagram with its source-address token.
        let mut got = 0;
        loop {
            if got >= TURN_DGRAMS {
                return Turn::Again;
            }
            if let Some((data, addr)) = self.pending.take() {
                if !self.wr {
                    self.pending = Some((data, addr));
                    return Turn::Wait;
                }
                if self.tokens.len() >= TOKEN_CACHE && !self.tokens.contains_key(&addr) {
                    self.tokens.clear();
                }
                if !self.tokens.contains_key(&addr) {
                    match addr_token(&addr) {
                        Some(t) => {
                            self.tokens.insert(addr.clone(), t);
                        }
                        // No token to be had: the datagram is dropped.
                        None => continue,
                    }
                }
                let Some(tok) = self.tokens.get(&addr) else {
                    continue;
                };
                let fds = [tok.as_raw_fd()];
                let cmsg = [ControlMessage::ScmRights(&fds)];
                let iov = [IoSlice::new(&data)];
                match sendmsg::<()>(
                    self.sp.end,
                    &iov,
                    &cmsg,
                    MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                    None,
                ) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => self.pending = Some((data, addr)),
                    Err(nix::errno::Errno::EAGAIN) => {
                        self.wr = false;
                        self.pending = Some((data, addr));
                        return Turn::Wait;
                    }
                    Err(_) => return Turn::Done,
                }
                continue;
            }
            let so = self.sp.so.clone();
            let r = self.sp.k.sock_call(&mut self.td, &so, |td, so| {
                so_calls::recv_as(td, so, DGRAM_MAX, 0, true)
            });
            if r.errno != 0 {
                return Turn::Wait;
            }
            got += 1;
            self.pending = Some((r.data, r.addr));
        }
    }
}

/// Whether the program has closed its every descriptor of the pair (our end
/// hung up).
/// Pass a reset on to the program's end of a stream pair: Linux marks a
/// Unix socket `ECONNRESET` when its peer closes with data unread, so our
/// end is closed with at least one byte in it.  If the program has sent
/// nothing we have not read, that byte is written through a duplicate of
/// the program's own end, found among its owner's descriptors by inode
/// (`pidfd_getfd`; rare, so a scan of /proc/PID/fd is fine, within a
/// kernel-wide budget per second).  False (and nothing done) when the end
/// cannot be found or reached: the program then reads EOF, as before.
fn reset_program_end(sp: &Splice) -> bool {
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let queued = unsafe { libc::ioctl(sp.end, libc::FIONREAD, &mut unread) } == 0 && unread > 0;
    if !queued && !nudge_program_end(sp) {
        return false;
    }
    let end = sp.end_fd.lock().ok().and_then(|mut g| g.take());
    drop(end);
    true
}

/// Write one byte into our end through the program's end (see
/// [`reset_program_end`]).
fn nudge_program_end(sp: &Splice) -> bool {
    let pid = sp.so.owner_pid.load(Ordering::Relaxed) as i32;
    if pid <= 0 {
        return false;
    }
    let want = format!("socket:[{}]", sp.ino);
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let Some(fd) = dir
        .flatten()
        .take_while(|_| sp.exports.reset_scan_take(1))
        .find_map(|e| {
            let l = std::fs::read_link(e.path()).ok()?;
            (l.to_str()? == want)
                .then(|| e.file_name().to_str()?.parse::<i32>().ok())
                .flatten()
        })
    else {
        return false;
    };
    // SAFETY: plain system calls; the descriptors they return are ours and
    // closed below.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if pidfd < 0 {
            return false;
        }
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
        libc::close(pidfd);
        if dup < 0 {
            return false;
        }
        // The same socket still (the number may have been reused).
        let mut st: libc::stat = std::mem::zeroed();
        let same = libc::fstat(dup, &mut st) == 0 && st.st_ino as u32 == sp.ino;
        let sent = same
            && libc::send(
                dup,
                [0u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            ) == 1;
        libc::close(dup);
        sent
    }
}

fn hung_up(end: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd: end,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

/// What the program's side of a pair is doing.
enum Peer {
    Open,
    /// It shut down its sending side (`SHUT_WR`).
    NoMoreSends,
    /// Its every descriptor is closed.
    Gone,
}

fn peer_state(end: RawFd) -> Peer {
    let mut p = libc::pollfd {
        fd: end,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n <= 0 {
        Peer::Open
    } else if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        Peer::Gone
    } else if p.revents & libc::POLLRDHUP != 0 {
        Peer::NoMoreSends
    } else {
        Peer::Open
    }
}

/// A non-blocking read or write's outcome.
enum Io {
    Got(usize),
    Again,
    Eof,
    Err,
}

fn read_nb(fd: RawFd, b: &mut [u8]) -> Io {
    loop {
        // SAFETY: reading into a valid buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
        if n > 0 {
            return Io::Got(n as usize);
        }
        if n == 0 {
            return Io::Eof;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::Again,
            _ => return Io::Err,
        }
    }
}

fn write_nb(fd: RawFd, b: &[u8]) -> Io {
    loop {
        // SAFETY: writing from a valid slice.
        let n = unsafe {
            libc::send(
                fd,
                b.as_ptr().cast(),
                b.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Io::Got(n as usize);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::Again,
            _ => return Io::Err,
        }
    }
}

/// [`write_nb`] of a chain's slices at once (`sendmsg` with one iovec per
/// mbuf, at most `IOV_MAX` of them).
fn writev_nb(fd: RawFd, c: &MbufChain) -> Io {
    const IOV_MAX: usize = 1024;
    let iov: Vec<libc::iovec> = c
        .slices()
        .take(IOV_MAX)
        .map(|s| libc::iovec {
            iov_base: s.as_ptr() as *mut libc::c_void,
            iov_len: s.len(),
        })
        .collect();
    loop {
        // SAFETY: msghdr is plain data; it points at iovecs that point into
        // slices the chain keeps alive for the call; sendmsg only reads them.
        let n = unsafe {
            let mut mh: libc::msghdr = std::mem::zeroed();
            mh.msg_iov = iov.as_ptr() as *mut libc::iovec;
            mh.msg_iovlen = iov.len() as _;
            libc::sendmsg(fd, &mh, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
        };
        if n >= 0 {
            return Io::Got(n as usize);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::Again,
            _ => return Io::Err,
        }
    }
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
        match write_nb(prog.as_raw_fd(), chunk) {
            Io::Got(n) if n > 0 => off += n,
            _ => break,
        }
    }
    off
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_scan_budget_is_per_second_and_kernel_wide() {
        let ex = Exports::default();
        assert!(ex.reset_scan_take_at(7, RESET_SCAN_PER_SEC - 1));
        assert!(ex.reset_scan_take_at(7, 1));
        assert!(!ex.reset_scan_take_at(7, 1), "spent for this second");
        assert!(ex.reset_scan_take_at(8, 1), "a new second, a new budget");
    }
}
