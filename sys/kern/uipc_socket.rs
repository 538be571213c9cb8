//! Sockets and descriptor tables (FreeBSD's sys/kern/uipc_socket.c, kern_descrip.c).
//!
//! A socket is assigned to the vnet of its creator for life (the tutorial: "permanently
//! assigned to a stack instance at creation time"); the vnet's socket count is what
//! `vimage -l` reports.  Protocol domains plug in through [`Domain`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use vimage_abi::Errno;
use vimage_mbuf::{Mbuf, MbufChain};

use super::kern_resource::SoCharge;
use super::kern_synch::{msleep, Deadline, WaitChan};
use super::vnet::Vnet;

/// One protocol's half of a socket (the pcb and its `pr_usrreqs`).
pub trait ProtoSocket: Send {
    /// `bind`.
    fn bind(&mut self, _addr: &[u8]) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `connect`.
    fn connect(&mut self, _addr: &[u8]) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `sendto`; returns bytes sent.
    fn sendto(&mut self, _data: &[u8], _addr: Option<&[u8]>, _flags: i32) -> Result<usize, Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `pru_send` with the data in mbufs (`sosend`'s `top`): a stream
    /// protocol moves what fits off the front of `c` into its send buffer
    /// ([`SockBuf::append_stream_chain`], no copy); the bytes taken, the
    /// rest staying in `c`.  Default: [`ProtoSocket::sendto`] from the
    /// chain's bytes (copied into one piece only when it has several).
    fn send_chain(&mut self, c: &mut MbufChain, flags: i32) -> Result<usize, Errno> {
        let n = if c.count() <= 1 {
            let d = c.slices().next().unwrap_or(&[]);
            self.sendto(d, None, flags)?
        } else {
            let mut v = Vec::with_capacity(c.len());
            c.copy_data(0, c.len(), &mut v);
            self.sendto(&v, None, flags)?
        };
        c.drop_front(n);
        Ok(n)
    }
    /// `recvfrom`; returns (data, source address).  Called without the socket lock
    /// held by the dispatcher, so it may wait.
    fn recvfrom(&mut self, _len: usize, _flags: i32) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `getsockname`: the local address image.
    fn sockname(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `setsockopt`.
    fn setsockopt(&mut self, _level: i32, _name: i32, _val: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOPROTOOPT)
    }
    /// `getsockopt`.
    fn getsockopt(&mut self, _level: i32, _name: i32) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOPROTOOPT)
    }
    /// `getsockopt` with what the caller's buffer held on the way in, for
    /// the few options that take an argument (ipfw's `IP_FW_ADD`).
    /// Default: the buffer is not read, as for most options.
    fn getsockopt_in(&mut self, level: i32, name: i32, _val: &[u8]) -> Result<Vec<u8>, Errno> {
        self.getsockopt(level, name)
    }
    /// Protocol ioctls not handled by the generic layer.
    fn ioctl(&mut self, _cmd: u32, _data: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOTTY)
    }
    /// The socket is being closed.
    fn close(&mut self) {}
    /// The socket is being closed with `SO_LINGER` on and a zero linger time:
    /// drop the connection at once (TCP sends a RST, no TIME_WAIT).  Default:
    /// an ordinary [`ProtoSocket::close`].
    fn abort(&mut self) {
        self.close()
    }
    /// For a lingering close: a test of whether the connection has finished
    /// disconnecting (`SS_ISCONNECTED` cleared: what was sent is acknowledged
    /// and our FIN with it).  `None`: nothing to wait for.
    fn disconnected(&self) -> Option<Box<dyn Fn() -> bool + Send + Sync>> {
        None
    }
    /// The socket's receive buffer, if the protocol queues what it receives there
    /// (then `recvfrom` is served by the socket layer and may block without the
    /// protocol's lock held).
    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        None
    }
    /// `listen`: make the socket accept connections, queueing at most `backlog`
    /// completed ones (`somaxconn`-bounded by the protocol).
    fn listen(&mut self, _backlog: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `accept`: take one completed connection off the listen queue, with the
    /// peer's address image.  Never blocks: `EWOULDBLOCK` when the queue is
    /// empty (the socket layer then sleeps on [`ProtoSocket::wakeup`] without the
    /// protocol's lock and retries); `EINVAL` when not listening.
    fn accept(&mut self) -> Result<(Box<dyn ProtoSocket>, Vec<u8>), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `shutdown`: `how` is `SHUT_RD` (0), `SHUT_WR` (1) or `SHUT_RDWR` (2).
    fn shutdown(&mut self, _how: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// `getpeername`: the foreign address image (`ENOTCONN` when unconnected).
    fn peername(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOTCONN)
    }
    /// Readiness for `poll`/`select`: a mask of [`POLLIN`], [`POLLOUT`],
    /// [`POLLERR`], [`POLLHUP`].  Default: readable when the receive buffer
    /// holds data or can receive no more, always writable.
    fn poll(&self) -> u32 {
        let mut m = POLLOUT;
        if let Some(sb) = self.rcvbuf() {
            if !sb.is_empty() || sb.is_cantrcvmore() {
                m |= POLLIN;
            }
        }
        m
    }
    /// The socket's send buffer, for protocols that keep one (stream sockets).
    fn sndbuf(&self) -> Option<Arc<SockBuf>> {
        None
    }
    /// What a blocked `accept`/`connect`/`send`/`recv` sleeps on: the protocol
    /// calls [`SoWakeup::wakeup`] whenever [`ProtoSocket::poll`] may have
    /// changed.  The socket layer reads [`SoWakeup::generation`] under the
    /// protocol's lock before trying the operation, drops the lock, and
    /// sleeps on [`SoWakeup::chan`] for a newer generation, so no wakeup is
    /// lost.
    /// `None`: the protocol never blocks.
    fn wakeup(&self) -> Option<Arc<SoWakeup>> {
        None
    }
    /// `SO_ERROR`: the pending asynchronous error, cleared by reading it (a
    /// non-blocking `connect` that failed reports `ECONNREFUSED`/`ETIMEDOUT`
    /// here).
    fn soerror(&mut self) -> Option<Errno> {
        None
    }
}

/// `POLLIN`: data (or EOF, or a connection to accept) is waiting.
pub const POLLIN: u32 = 0x1;
/// `POLLOUT`: a send would not block (stream: connected and buffer space).
pub const POLLOUT: u32 = 0x4;
/// `POLLERR`: an error is pending ([`ProtoSocket::soerror`]).
pub const POLLERR: u32 = 0x8;
/// `POLLHUP`: the connection is gone in both directions.
pub const POLLHUP: u32 = 0x10;
/// `shutdown(SHUT_RD)`.
pub const SHUT_RD: i32 = 0;
/// `shutdown(SHUT_WR)`.
pub const SHUT_WR: i32 = 1;
/// `shutdown(SHUT_RDWR)`.
pub const SHUT_RDWR: i32 = 2;

/// Told when a socket or one of its buffers changes, instead of a sleeper
/// being woken (vkernel's splice reactor queues the socket for a look).  It
/// runs in whatever thread made the change, outside the buffer's lock, and
/// must only take note.
pub type Watcher = Arc<dyn Fn() + Send + Sync>;

/// One watcher slot: an atomic flag keeps the common case (nobody watching)
/// free of locks.
#[derive(Default)]
struct WatchSlot {
    set: AtomicBool,
    f: Mutex<Option<Watcher>>,
}

impl WatchSlot {
    fn set(&self, f: Option<Watcher>) {
        if let Ok(mut g) = self.f.lock() {
            self.set.store(f.is_some(), Ordering::SeqCst);
            *g = f;
        }
    }
    fn fire(&self) {
        if !self.set.load(Ordering::SeqCst) {
            return;
        }
        let f = self.f.lock().ok().and_then(|g| g.clone());
        if let Some(f) = f {
            f();
        }
    }
}

/// A socket's sleep channel (`so_rcv.sb_cc`/`so_snd` wakeups, `soisconnected`,
/// `sonewconn`): a generation counter bumped on every state change, with
/// the threads asleep on it, its watcher and its pollers.
#[derive(Default)]
pub struct SoWakeup {
    chan: WaitChan,
    watch: WatchSlot,
    sel: SelInfo,
}

impl SoWakeup {
    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.chan.generation()
    }
    /// Something changed: wake every sleeper, the watcher and the pollers.
    pub fn wakeup(&self) {
        self.chan.wakeup();
        self.watch.fire();
        self.sel.wakeup();
    }
    /// The channel a blocked call sleeps on ([`msleep`]) for a generation
    /// newer than the one it read.
    pub fn chan(&self) -> &WaitChan {
        &self.chan
    }
    /// Record poller `w` on the channel (`selrecord`).
    pub fn selrecord(&self, w: &Arc<PollWaiter>) {
        self.sel.record(w);
    }
    /// Watch the socket's state changes (`None`: stop).
    pub fn set_watcher(&self, f: Option<Watcher>) {
        self.watch.set(f);
    }
}

/// A thread in `poll` (FreeBSD's `struct seltd`): it records itself on every
/// socket it polls, and any of them firing wakes it.  The poll reads the
/// channel's generation before each readiness check and sleeps for a newer
/// one, so a firing between the check and the sleep is kept.
#[derive(Default)]
pub struct PollWaiter {
    chan: WaitChan,
}

impl PollWaiter {
    /// A new waiter, to record on the sockets of one `poll`.
    pub fn new() -> Arc<Self> {
        Arc::new(PollWaiter::default())
    }
    fn fire(&self) {
        self.chan.wakeup();
    }
    /// The channel the poll sleeps on ([`msleep`]); its generation moves
    /// whenever a recorded socket fires.
    pub fn chan(&self) -> &WaitChan {
        &self.chan
    }
}

/// `struct selinfo`: the pollers recorded on one socket buffer or channel.
/// Waking costs one atomic load while nobody polls it: no kernel-wide
/// counter is touched on the data path.
#[derive(Default)]
struct SelInfo {
    n: AtomicUsize,
    list: Mutex<Vec<std::sync::Weak<PollWaiter>>>,
}

impl SelInfo {
    /// `selrecord`.
    fn record(&self, w: &Arc<PollWaiter>) {
        if let Ok(mut l) = self.list.lock() {
            l.retain(|x| x.strong_count() > 0);
            l.push(Arc::downgrade(w));
            self.n.store(l.len(), Ordering::SeqCst);
        }
    }
    /// `selwakeup`.
    fn wakeup(&self) {
        if self.n.load(Ordering::SeqCst) == 0 {
            return;
        }
        let ws: Vec<Arc<PollWaiter>> = match self.list.lock() {
            Ok(mut l) => {
                l.retain(|x| x.strong_count() > 0);
                self.n.store(l.len(), Ordering::SeqCst);
                l.iter().filter_map(|x| x.upgrade()).collect()
            }
            Err(_) => Vec::new(),
        };
        for w in ws {
            w.fire();
        }
    }
}

/// `MSG_DONTWAIT`: do not block.
pub const MSG_DONTWAIT: i32 = 0x80;
/// `MSG_PEEK`: leave the datagram queued.
pub const MSG_PEEK: i32 = 0x2;
/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 0xffff;
/// `SO_RCVTIMEO` (value: `struct timeval`, two little-endian i64).
pub const SO_RCVTIMEO: i32 = 0x1006;
/// Default receive buffer limit in bytes (`net.graph.recvspace`-sized).
pub const SB_DEFAULT_HIWAT: usize = 256 * 1024;

/// `sb_efficiency`: a stream buffer may pin at most this many times its
/// byte limit in mbuf storage (`sb_mbmax`), so a peer sending tiny segments
/// in large buffers cannot make a socket hold far more memory than its
/// limit says.
pub const SB_EFFICIENCY: usize = 8;
/// The least `sb_mbmax` of a stream buffer, so a small buffer still holds
/// a few mbufs of any size.
pub const SB_MBMAX_MIN: usize = 64 * 1024;

/// `sb_mbmax` for a byte limit of `hiwat`.
pub fn sb_mbmax(hiwat: usize) -> usize {
    hiwat.saturating_mul(SB_EFFICIENCY).max(SB_MBMAX_MIN)
}

#[derive(Default)]
struct SbInner {
    q: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Stream buffers: the data, in the mbufs it came in.
    s: MbufChain,
    bytes: usize,
    cantrcvmore: bool,
    error: Option<Errno>,
}

impl SbInner {
    /// `sbspace`: bytes that may still be appended, by the byte limit and by
    /// the storage limit (`sb_mbmax`).
    fn space(&self, hiwat: usize) -> usize {
        let by_mb = sb_mbmax(hiwat).saturating_sub(self.s.mbcnt());
        hiwat.saturating_sub(self.bytes).min(by_mb)
    }
}

/// Called after a stream buffer was read from (`pru_rcvd`), outside its lock.
pub type SbUpcall = Box<dyn Fn() + Send + Sync>;

/// A datagram receive buffer (`struct sockbuf` for atomic protocols): records of
/// (payload, source address), bounded in bytes, with sleepers woken on append.
pub struct SockBuf {
    inner: Mutex<SbInner>,
    /// What a receiver sleeps on (`sb_wait`); its generation is read under
    /// `inner`'s lock, so a change after a receiver's look always wakes it.
    chan: WaitChan,
    hiwat: AtomicUsize,
    /// `SB_AUTOSIZE`: the protocol may grow `hiwat` (cleared by `SO_SNDBUF` /
    /// `SO_RCVBUF`).
    autosize: AtomicBool,
    /// Records dropped because the buffer was full.
    pub drops: AtomicU64,
    stream: bool,
    upcall: Mutex<Option<SbUpcall>>,
    watch: WatchSlot,
    sel: SelInfo,
}

impl Default for SockBuf {
    fn default() -> Self {
        SockBuf::new(SB_DEFAULT_HIWAT)
    }
}

impl SockBuf {
    /// Wake sleepers on the buffer and every `poll`/`select` (`sowakeup`).
    fn wake(&self) {
        self.chan.wakeup();
        self.watch.fire();
        self.sel.wakeup();
    }

    /// Record poller `w` on the buffer (`selrecord`).
    pub fn selrecord(&self, w: &Arc<PollWaiter>) {
        self.sel.record(w);
    }

    /// Watch the buffer: `f` is told whenever a sleeper on it would be woken
    /// (`None`: stop).
    pub fn set_watcher(&self, f: Option<Watcher>) {
        self.watch.set(f);
    }

    /// An empty buffer holding at most `hiwat` bytes.
    pub fn new(hiwat: usize) -> Self {
        SockBuf {
            inner: Mutex::new(SbInner::default()),
            chan: WaitChan::new(),
            hiwat: AtomicUsize::new(hiwat),
            autosize: AtomicBool::new(false),
            drops: AtomicU64::new(0),
            stream: false,
            upcall: Mutex::new(None),
            watch: WatchSlot::default(),
            sel: SelInfo::default(),
        }
    }

    /// An empty byte-stream buffer (`SOCK_STREAM`) holding at most `hiwat`
    /// bytes: [`SockBuf::recv`] returns up to `len` bytes across appends and an
    /// empty read at EOF.
    pub fn new_stream(hiwat: usize) -> Self {
        SockBuf {
            stream: true,
            ..SockBuf::new(hiwat)
        }
    }

    /// Whether this is a byte-stream buffer.
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The byte limit (`sb_hiwat`).
    pub fn hiwat(&self) -> usize {
        self.hiwat.load(Ordering::Relaxed)
    }

    /// `sbreserve`: set the byte limit (what is queued stays).
    pub fn set_hiwat(&self, n: usize) {
        self.hiwat.store(n, Ordering::Relaxed);
        self.wake();
    }

    /// Whether the protocol may grow the limit (`SB_AUTOSIZE`).
    pub fn autosize(&self) -> bool {
        self.autosize.load(Ordering::Relaxed)
    }

    /// Set or clear `SB_AUTOSIZE`.
    pub fn set_autosize(&self, on: bool) {
        self.autosize.store(on, Ordering::Relaxed);
    }

    /// Free space in bytes (`sbspace`): what the byte limit leaves, less
    /// when the mbufs held pin more than [`SB_EFFICIENCY`] times the limit.
    pub fn space(&self) -> usize {
        self.inner
            .lock()
            .map(|g| g.space(self.hiwat()))
            .unwrap_or(0)
    }

    /// Bytes of mbuf storage held (`sb_mbcnt`, netstat's `-m` view).
    pub fn mbcnt(&self) -> usize {
        self.inner.lock().map(|g| g.s.mbcnt()).unwrap_or(0)
    }

    /// Set the function called after every stream read (the protocol's
    /// `pru_rcvd`, e.g. to send a window update).
    pub fn set_upcall(&self, f: Option<SbUpcall>) {
        if let Ok(mut g) = self.upcall.lock() {
            *g = f;
        }
    }

    /// Stream `sbappendstream` of bytes that live elsewhere: copy as much of
    /// `data` as fits ([`SockBuf::space`]); how much was taken.
    pub fn append_stream(&self, data: &[u8]) -> usize {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        let n = data.len().min(g.space(self.hiwat()));
        g.s.append_slice(&data[..n]);
        g.bytes += n;
        drop(g);
        if n > 0 {
            self.wake();
        }
        n
    }

    /// Stream `sbappendstream` of an mbuf: when all of `m` fits, it is
    /// linked into the buffer as it is (no copy) and `m` left empty; when
    /// only part fits, that part is copied and cut off the front of `m`
    /// (`m_adj`), the rest staying with the caller.  Its storage counts
    /// against the buffer's storage limit (`sb_mbcnt`): data that would pin
    /// too much of it is copied into buffers of its own size instead.  How
    /// many bytes were taken.
    pub fn append_stream_mbuf(&self, m: &mut Mbuf) -> usize {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        let hiwat = self.hiwat();
        let len = m.len();
        let n = len.min(hiwat.saturating_sub(g.bytes));
        if n == 0 {
            return 0;
        }
        if n == len && g.s.mbcnt() + m.storage() <= sb_mbmax(hiwat) {
            g.s.append(std::mem::take(m));
        } else {
            g.s.append_slice(&m.data()[..n]);
            m.adj(n);
        }
        g.bytes += n;
        drop(g);
        self.wake();
        n
    }

    /// Stream `sbappendstream` of a chain: as much of `c` as fits
    /// ([`SockBuf::space`]) moves off its front into the buffer, its mbufs
    /// linked, not copied (an mbuf cut at the limit is shared, `m_split`);
    /// data that would pin more storage than the buffer may (`sb_mbmax`) is
    /// copied into buffers of its own size instead.  How many bytes moved.
    pub fn append_stream_chain(&self, c: &mut MbufChain) -> usize {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        let hiwat = self.hiwat();
        let n = c.len().min(g.space(hiwat));
        if n == 0 {
            return 0;
        }
        let part = c.take_front(n);
        if g.s.mbcnt() + part.mbcnt() <= sb_mbmax(hiwat) {
            g.s.append_chain(part);
        } else {
            for d in part.slices() {
                g.s.append_slice(d);
            }
        }
        g.bytes += n;
        drop(g);
        self.wake();
        n
    }

    /// Stream: copy `len` bytes starting `off` bytes into the buffer (fewer at
    /// its end) without consuming them.
    pub fn copy_out(&self, off: usize, len: usize) -> Vec<u8> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        let mut v = Vec::with_capacity(len.min(g.s.len().saturating_sub(off)));
        g.s.copy_data(off, len, &mut v);
        v
    }

    /// Stream `m_copydata` onto the end of `out`: up to `len` bytes starting
    /// `off` bytes into the buffer, without consuming them (no zero-filled
    /// staging); how many were appended.
    pub fn extend_into(&self, off: usize, len: usize, out: &mut Vec<u8>) -> usize {
        match self.inner.lock() {
            Ok(g) => g.s.copy_data(off, len, out),
            Err(_) => 0,
        }
    }

    /// Stream `sbdrop`: discard the first `n` bytes, freeing the mbufs
    /// emptied.
    pub fn drop_front(&self, n: usize) {
        if let Ok(mut g) = self.inner.lock() {
            let n = n.min(g.s.len());
            g.s.drop_front(n);
            g.bytes -= n;
        }
        self.wake();
    }

    /// Discard everything queued.
    pub fn flush(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.q.clear();
            g.s.clear();
            g.bytes = 0;
        }
        self.wake();
    }

    /// Whether [`SockBuf::cantrcvmore`] was called.
    pub fn is_cantrcvmore(&self) -> bool {
        self.inner.lock().map(|g| g.cantrcvmore).unwrap_or(true)
    }

    /// Post an error (`so_error`) that the next receive on an empty buffer
    /// returns once (e.g. `ECONNRESET`); wakes sleepers.
    pub fn set_error(&self, e: Errno) {
        if let Ok(mut g) = self.inner.lock() {
            g.error = Some(e);
        }
        self.wake();
    }

    /// `sbappendaddr`: queue a record; `ENOBUFS` (and counted) when full or when
    /// the socket can receive no more.
    pub fn append(&self, data: Vec<u8>, addr: Vec<u8>) -> Result<(), Errno> {
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        if g.cantrcvmore || (g.bytes + data.len() > self.hiwat() && !g.q.is_empty()) {
            self.drops.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::ENOBUFS);
        }
        g.bytes += data.len();
        g.q.push_back((data, addr));
        drop(g);
        self.wake();
        Ok(())
    }

    /// Records waiting (stream buffers: bytes waiting).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|g| if self.stream { g.s.len() } else { g.q.len() })
            .unwrap_or(0)
    }

    /// Bytes waiting (`sb_cc`, netstat's Recv-Q).
    pub fn cc(&self) -> usize {
        self.inner.lock().map(|g| g.bytes).unwrap_or(0)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `socantrcvmore`: wake sleepers; later receives see EOF (`ENOTCONN`).
    pub fn cantrcvmore(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.cantrcvmore = true;
        }
        self.wake();
    }

    /// `soreceive` for one datagram: truncated to `len` bytes.  Waits unless
    /// `MSG_DONTWAIT` (then `EAGAIN`); gives up with `EAGAIN` once kernel time
    /// reaches `timo`, and with `EINTR` as soon as `intr` says the caller went
    /// away.  (Stream buffers: up to `len` bytes, empty at EOF.)  The data as
    /// one vector; [`SockBuf::recv_chain`] leaves it in its mbufs.
    pub fn recv(
        &self,
        len: usize,
        flags: i32,
        timo: Option<Deadline<'_>>,
        intr: &dyn Fn() -> bool,
    ) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        self.recv_chain(len, flags, timo, intr)
            .map(|(d, a)| (d.into_vec(), a))
    }

    /// [`SockBuf::recv`] with the data handed over in the mbufs it is held
    /// in (`soreceive` with `mp0`): a stream read takes whole mbufs off the
    /// front (copying only the front of one that straddles `len`), a
    /// datagram comes as one mbuf; `MSG_PEEK` copies.
    pub fn recv_chain(
        &self,
        len: usize,
        flags: i32,
        timo: Option<Deadline<'_>>,
        intr: &dyn Fn() -> bool,
    ) -> Result<(MbufChain, Vec<u8>), Errno> {
        loop {
            let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
            // Read before looking at the buffer, under its lock: whatever
            // changes it after this look wakes the channel past `seen`.
            let seen = self.chan.generation();
            if self.stream && !g.s.is_empty() {
                let n = len.min(g.s.len());
                let d = if flags & MSG_PEEK == 0 {
                    g.bytes -= n;
                    g.s.take_front(n)
                } else {
                    let mut d = Vec::with_capacity(n);
                    g.s.copy_data(0, n, &mut d);
                    MbufChain::from(d)
                };
                drop(g);
                if flags & MSG_PEEK == 0 {
                    self.wake();
                    if let Ok(u) = self.upcall.lock() {
                        if let Some(f) = u.as_ref() {
                            f();
                        }
                    }
                }
                return Ok((d, Vec::new()));
            }
            if let Some(e) = g.error.take() {
                return Err(e);
            }
            if self.stream && (g.cantrcvmore || len == 0) {
                return Ok((MbufChain::new(), Vec::new()));
            }
            if let Some((d, a)) = g.q.front() {
                let rec = if flags & MSG_PEEK != 0 {
                    (d.clone(), a.clone())
                } else {
                    let (d, a) = g.q.pop_front().unwrap_or_default();
                    g.bytes -= d.len();
                    (d, a)
                };
                let (mut d, a) = rec;
                d.truncate(len);
                return Ok((MbufChain::from(d), a));
            }
            if g.cantrcvmore {
                return Err(Errno::ENOTCONN);
            }
            if flags & MSG_DONTWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            drop(g);
            // (`sbwait`: EWOULDBLOCK, FreeBSD's EAGAIN, past the deadline.)
            msleep(&self.chan, seen, timo, intr)?;
        }
    }
}

/// A protocol family that can make sockets (`struct domain`).
pub trait Domain: Send + Sync {
    /// `PF_*` number.
    fn family(&self) -> i32;
    /// Make the protocol half of a new socket, with curvnet set to its vnet.
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno>;
    /// `pru_control`: an ioctl on one of its sockets that the family handles
    /// itself (its address ioctls), with curvnet set; `None` for the rest.
    fn control(&self, _cmd: u32, _data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
        None
    }
}

/// A socket.
pub struct Socket {
    /// The vnet it was created in (`so->so_vnet`).
    pub vnet: Arc<Vnet>,
    /// `PF_*`.
    pub domain: i32,
    /// `SOCK_*`.
    pub ty: i32,
    /// Protocol.
    pub proto: i32,
    /// Protocol state.
    pub pcb: Mutex<Box<dyn ProtoSocket>>,
    /// `SO_RCVTIMEO` in microseconds (0: wait forever).
    pub rcvtimeo_us: AtomicU64,
    /// `SO_SNDTIMEO` in microseconds (0: wait forever).
    pub sndtimeo_us: AtomicU64,
    /// `so_options`: the boolean `SO_*` options set on it (`SO_REUSEADDR`,
    /// `SO_REUSEPORT`, `SO_KEEPALIVE`, `SO_LINGER`, `SO_BROADCAST` bits).
    pub options: AtomicU32,
    /// `so_linger`: seconds (meaningful with the `SO_LINGER` bit).
    pub linger: AtomicI32,
    /// `SO_RCVBUF` as set (0: the protocol's default).
    pub rcvbuf_sz: AtomicU32,
    /// `SO_SNDBUF` as set (0: the protocol's default).
    pub sndbuf_sz: AtomicU32,
    /// `O_NONBLOCK` (`FIONBIO`, `fcntl(F_SETFL)`).
    pub nonblock: AtomicBool,
    /// A non-blocking `connect` is in progress (`SS_ISCONNECTING` as the socket
    /// layer sees it: the next `connect` answers `EALREADY`).
    pub connecting: AtomicBool,
    /// `listen` succeeded (`SO_ACCEPTCONN`).
    pub listening: AtomicBool,
    /// `shutdown(SHUT_WR)` done by the socket layer for a protocol without its
    /// own shutdown (datagram sockets): sends fail with `EPIPE`.
    pub cantsendmore: AtomicBool,
    /// The host process an exported socket belongs to (`kern.file`'s owner;
    /// 0: the descriptor table's process).
    pub owner_pid: AtomicU32,
    /// Its place in the kernel's and the vnet's socket counts, given back when
    /// it is freed (after the protocol has closed).
    _charge: SoCharge,
}

impl Socket {
    /// Wrap a protocol half in the vnet it was counted in (`charge`, taken
    /// with [`SoCharge::take`] before the protocol attached).
    pub fn new(
        charge: SoCharge,
        domain: i32,
        ty: i32,
        proto: i32,
        pcb: Box<dyn ProtoSocket>,
    ) -> Self {
        Socket {
            vnet: charge.vnet().clone(),
            domain,
            ty,
            proto,
            pcb: Mutex::new(pcb),
            rcvtimeo_us: AtomicU64::new(0),
            sndtimeo_us: AtomicU64::new(0),
            options: AtomicU32::new(0),
            linger: AtomicI32::new(0),
            rcvbuf_sz: AtomicU32::new(0),
            sndbuf_sz: AtomicU32::new(0),
            nonblock: AtomicBool::new(false),
            connecting: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            cantsendmore: AtomicBool::new(false),
            owner_pid: AtomicU32::new(0),
            _charge: charge,
        }
    }

    /// Whether calls on it never block (`O_NONBLOCK`).
    pub fn is_nonblock(&self) -> bool {
        self.nonblock.load(Ordering::Relaxed)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let opts = self.options.load(Ordering::Relaxed);
        let hard = opts & SO_LINGER_BIT != 0 && self.linger.load(Ordering::Relaxed) == 0;
        // A socket outliving its vnet (held by an export's pump while the
        // vimage or the kernel went away) has nothing left to close there.
        if !self.vnet.is_alive() {
            return;
        }
        if let Ok(mut p) = self.pcb.lock() {
            let _cv = super::vnet::CurvnetGuard::set(&self.vnet);
            if hard {
                p.abort();
            } else {
                p.close();
            }
        }
    }
}

/// `SO_LINGER`'s bit in [`Socket::options`].
const SO_LINGER_BIT: u32 = 0x80;

/// Highest descriptor number handed out per process (`kern.maxfilesperproc`-ish).
pub const MAXFILES: i32 = 4096;

/// A process's descriptor table (`struct filedesc`).  A cheap handle: clones
/// share one table, which is how every connection of one host process (its
/// threads) sees the same descriptors.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: Arc<Mutex<BTreeMap<i32, Arc<Socket>>>>,
}

impl FdTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Arc<Socket>>> {
        match self.fds.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Install `so` at the lowest free descriptor ≥ 3 (0–2 are the host's stdio).
    pub fn alloc(&self, so: Arc<Socket>) -> Result<i32, Errno> {
        let mut g = self.lock();
        let fd = (3..MAXFILES)
            .find(|f| !g.contains_key(f))
            .ok_or(Errno::EMFILE)?;
        g.insert(fd, so);
        Ok(fd)
    }
    /// The socket at `fd` (EBADF).
    pub fn get(&self, fd: i32) -> Result<Arc<Socket>, Errno> {
        self.lock().get(&fd).cloned().ok_or(Errno::EBADF)
    }
    /// Close `fd` (EBADF).  The socket itself closes when the last call using
    /// it returns.
    pub fn close(&self, fd: i32) -> Result<(), Errno> {
        let so = self.lock().remove(&fd).ok_or(Errno::EBADF)?;
        // Dropped outside the table's lock: closing may take protocol locks.
        drop(so);
        Ok(())
    }
    /// Close everything (process exit).
    pub fn close_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }
    /// Every open descriptor with its socket, in order.
    pub fn entries(&self) -> Vec<(i32, Arc<Socket>)> {
        self.lock().iter().map(|(f, s)| (*f, s.clone())).collect()
    }
    /// Whether `self` and `other` are the same table.
    pub fn same(&self, other: &FdTable) -> bool {
        Arc::ptr_eq(&self.fds, &other.fds)
    }
    /// How many handles share the table (the process's live connections,
    /// plus transient users).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.fds)
    }
    /// A handle that does not keep the table open.
    pub fn downgrade(&self) -> WeakFdTable {
        WeakFdTable(Arc::downgrade(&self.fds))
    }
    /// An identity for the table, the same for every handle (and weak
    /// handle) of it while it lives.
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.fds) as *const () as usize
    }
    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// A [`FdTable`] handle that does not keep it open (the kernel's pid index).
#[derive(Clone, Default)]
pub struct WeakFdTable(std::sync::Weak<Mutex<BTreeMap<i32, Arc<Socket>>>>);

impl WeakFdTable {
    /// The table, while some process context still holds it.
    pub fn upgrade(&self) -> Option<FdTable> {
        self.0.upgrade().map(|fds| FdTable { fds })
    }
    /// The table's [`FdTable::key`].
    pub fn key(&self) -> usize {
        self.0.as_ptr() as *const () as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sb: &SockBuf, len: usize, flags: i32) -> Vec<u8> {
        sb.recv(len, flags | MSG_DONTWAIT, None, &|| false)
            .map(|(d, _)| d)
            .unwrap_or_default()
    }

    /// Reads take mbufs off the front, peeks copy; the byte stream comes
    /// out the same either way.
    #[test]
    fn stream_reads_whole_partial_peeked_and_wrapped() {
        let sb = SockBuf::new_stream(64);
        let mut next = 0u8;
        let mut want = std::collections::VecDeque::new();
        let mut put = |sb: &SockBuf, n: usize, want: &mut std::collections::VecDeque<u8>| {
            let d: Vec<u8> = (0..n)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let k = sb.append_stream(&d);
            want.extend(&d[..k]);
            k
        };
        assert_eq!(put(&sb, 100, &mut want), 64, "bounded by hiwat");
        assert_eq!(sb.space(), 0);
        // Peek leaves it; a partial read takes the front.
        assert_eq!(
            recv(&sb, 10, MSG_PEEK),
            want.iter().take(10).copied().collect::<Vec<_>>()
        );
        let got = recv(&sb, 40, 0);
        assert_eq!(got, want.drain(..40).collect::<Vec<_>>());
        // Refill past the ring's end, then read all of it at once.
        put(&sb, 30, &mut want);
        assert_eq!(sb.cc(), 54);
        assert_eq!(
            sb.copy_out(50, 10),
            want.iter().skip(50).copied().collect::<Vec<_>>()
        );
        let got = recv(&sb, 1000, 0);
        assert_eq!(got, want.drain(..).collect::<Vec<_>>());
        assert_eq!((sb.cc(), sb.space()), (0, 64));
        // The fresh buffer takes data again.
        put(&sb, 5, &mut want);
        assert_eq!(recv(&sb, 5, 0), want.drain(..).collect::<Vec<_>>());
    }

    /// An mbuf that fits is linked in place and handed back out in place;
    /// one that does not is taken in part, by copy; storage is bounded by
    /// `sb_mbmax` however small the segments.
    #[test]
    fn stream_mbufs_adopted_and_storage_bounded() {
        let sb = SockBuf::new_stream(100_000);
        let mut m = Mbuf::from_vec(vec![7u8; 60_000]);
        let p = m.data().as_ptr();
        assert_eq!(sb.append_stream_mbuf(&mut m), 60_000);
        assert!(m.is_empty());
        let mut m = Mbuf::from_vec(vec![8u8; 60_000]);
        assert_eq!(sb.append_stream_mbuf(&mut m), 40_000, "bounded by hiwat");
        assert_eq!(m.len(), 20_000, "the rest stays with the caller");
        assert_eq!(sb.space(), 0);
        let (c, _) = sb
            .recv_chain(60_000, MSG_DONTWAIT, None, &|| false)
            .unwrap();
        assert_eq!(c.slices().next().unwrap().as_ptr(), p, "no copy either way");
        assert_eq!(c.len(), 60_000);
        assert_eq!(sb.append_stream_mbuf(&mut m), 20_000);
        let d = recv(&sb, 1 << 20, 0);
        assert_eq!(d.len(), 60_000);
        assert!(d[..40_000].iter().all(|&b| b == 8));
        // One-byte segments, each in a 64 KiB buffer: linked while the
        // storage allows, then copied, never past sb_mbmax by more than one.
        let sb = SockBuf::new_stream(4096);
        let mut n = 0;
        for _ in 0..4096 {
            let mut v = Vec::with_capacity(64 << 10);
            v.extend_from_slice(&[1]);
            let mut m = Mbuf::from_vec(v);
            n += sb.append_stream_mbuf(&mut m);
        }
        assert_eq!(n, 4096);
        assert!(sb.mbcnt() <= sb_mbmax(4096) + (64 << 10), "{}", sb.mbcnt());
        // A chain moves in as far as there is room, cut inside its mbuf
        // without a copy: the buffer and the caller share it.
        let sb = SockBuf::new_stream(100_000);
        let mut c = MbufChain::from(vec![3u8; 150_000]);
        let p = c.slices().next().unwrap().as_ptr();
        assert_eq!(sb.append_stream_chain(&mut c), 100_000);
        assert_eq!(c.len(), 50_000);
        assert_eq!(c.slices().next().unwrap().as_ptr(), p.wrapping_add(100_000));
        let (d, _) = sb
            .recv_chain(1 << 20, MSG_DONTWAIT, None, &|| false)
            .unwrap();
        assert_eq!(d.slices().next().unwrap().as_ptr(), p);
        assert_eq!(sb.append_stream_chain(&mut c), 50_000);
        assert!(c.is_empty());
        assert_eq!(recv(&sb, 1 << 20, 0), vec![3u8; 50_000]);
    }
}
