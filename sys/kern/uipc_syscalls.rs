//! The socket system calls' generic half (FreeBSD's `uipc_syscalls.c` and the
//! sleeping parts of `uipc_socket.c`): non-blocking mode, the waits of
//! `connect`/`accept`/`send`/`recv` outside the protocol's lock, generic socket
//! options, `shutdown` for protocols without one, and `poll` over many sockets.
//!
//! The protocol half ([`ProtoSocket`]) never sleeps: it answers `EWOULDBLOCK`
//! (or takes part of a send) and calls its [`SoWakeup`] when that may change.
//! Here, a blocking call reads the wakeup generation under the protocol's lock,
//! tries, and if it would block drops the lock and sleeps for a newer
//! generation in short slices ([`msleep`]), giving up with `EINTR` as soon as
//! the calling process is gone ([`Td::intr`]).  Timeouts (`SO_RCVTIMEO`,
//! `SO_SNDTIMEO`, `SO_LINGER`, poll's) are kernel time on the injected clock
//! ([`Deadline`]), never the host's.
//!
//! Stream `connect`: the protocol's `connect` starts the handshake and returns
//! `Ok` or `EINPROGRESS`; the call completes when the protocol's `poll` shows
//! `POLLOUT` (connected) or `POLLERR`/`POLLHUP` (failed: its `soerror`, else
//! `ECONNREFUSED`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use vimage_abi::socket::*;
use vimage_abi::syscall::{write_frame_parts, Reply};
use vimage_abi::wire::{Reader, Writer};
use vimage_abi::Errno;
use vimage_mbuf::MbufChain;

use super::kern_resource::SoCharge;
use super::kern_synch::{msleep, Deadline};
use super::kern_syscall::Td;
use super::uipc_socket::{PollWaiter, ProtoSocket, SoWakeup, Socket, SB_DEFAULT_HIWAT};
use super::vnet::{CurvnetGuard, Vnet};

/// `kern.ipc.maxsockbuf`: the largest `SO_RCVBUF`/`SO_SNDBUF`.
pub const MAXSOCKBUF: u32 = 2 * 1024 * 1024;
/// `kern.ipc.somaxconn` of `so`'s kernel (7.x's 128 if unreachable).
fn somaxconn(so: &Socket) -> i32 {
    super::kern_resource::ResLimits::of(&so.vnet)
        .map(|l| l.somaxconn.load(Ordering::Relaxed))
        .unwrap_or(super::kern_resource::SOMAXCONN)
        .clamp(1, i64::from(u16::MAX)) as i32
}
/// Default `SO_SNDBUF` of a socket whose protocol keeps no send buffer
/// (`net.inet.udp.maxdgram`).
const DGRAM_SNDBUF: u32 = 9216;
/// `SOCK_CLOEXEC`: accepted and ignored (descriptors never cross `exec` here).
const SOCK_CLOEXEC: i32 = 0x1000_0000;
/// `SOCK_STREAM`.
const SOCK_STREAM: i32 = 1;
/// `F_GETFD`.
const F_GETFD: i32 = 1;
/// `F_SETFD`.
const F_SETFD: i32 = 2;

fn pcb(so: &Socket) -> Result<MutexGuard<'_, Box<dyn ProtoSocket>>, Errno> {
    so.pcb.lock().map_err(|_| Errno::EDOOFUS)
}

/// One sleep of a blocking call ([`msleep`]): until `w` moves past `gen`, a
/// slice passes or kernel time reaches `timo`; `EINTR` when the process went
/// away, `EAGAIN` past the deadline.
fn sleep(w: &SoWakeup, gen: u64, td: &Td, timo: Option<Deadline<'_>>) -> Result<(), Errno> {
    // What this call queued (a SYN, data) goes out before it sleeps.
    crate::kern_intr::swi_drain();
    msleep(w.chan(), gen, timo, &*td.intr)
}

/// The deadline of a socket timeout of `us` microseconds (`SO_RCVTIMEO`,
/// `SO_SNDTIMEO`; 0: none) from now, in kernel time on the clock of the
/// kernel `vnet` belongs to.
fn timeo(vnet: &Vnet, us: u64) -> Option<Deadline<'_>> {
    (us != 0).then(|| Deadline::after_in(vnet, us.saturating_mul(1_000)))
}

/// The stripped type of `socket(2)`'s `type` argument and whether it asked for
/// `SOCK_NONBLOCK`.
pub fn socket_type(ty: i32) -> (i32, bool) {
    (
        ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC),
        ty & SOCK_NONBLOCK != 0,
    )
}

/// `listen(2)`.
pub fn listen(so: &Arc<Socket>, backlog: i32) -> Result<Reply, Errno> {
    // As 7.x's listen: out of range means "as many as allowed".
    let max = somaxconn(so);
    let backlog = if !(0..=max).contains(&backlog) {
        max
    } else {
        backlog
    };
    let w = {
        let mut p = pcb(so)?;
        p.listen(backlog)?;
        p.wakeup()
    };
    so.listening.store(true, Ordering::Relaxed);
    // The socket changed kind: whoever watches it (an exported socket's
    // reactor, a poller) looks again.
    if let Some(w) = w {
        w.wakeup();
    }
    Ok(Reply::val(0))
}

/// `accept4(2)`: waits for a connection unless the listener is non-blocking.
pub fn accept(td: &Td, so: &Arc<Socket>, flags: i32) -> Result<Reply, Errno> {
    if !so.listening.load(Ordering::Relaxed) {
        return Err(Errno::EINVAL);
    }
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let w = pcb(so)?.wakeup();
    loop {
        let (gen, r) = {
            let mut p = pcb(so)?;
            (w.as_ref().map(|w| w.generation()), p.accept())
        };
        match r {
            Ok((mut np, addr)) => {
                // The queue shrank: whoever mirrors the listener's readiness
                // (an exported descriptor's pump) looks again.
                if let Some(w) = &w {
                    w.wakeup();
                }
                // sonewconn: a connection the socket limits leave no room for
                // is reset, as FreeBSD drops it when soalloc fails, and never
                // reaches accept, which goes on to the next one.
                let Ok(charge) = SoCharge::take(&so.vnet) else {
                    np.abort();
                    continue;
                };
                let nso = Arc::new(Socket::new(charge, so.domain, so.ty, so.proto, np));
                inherit(so, &nso);
                nso.nonblock
                    .store(flags & SOCK_NONBLOCK != 0, Ordering::Relaxed);
                let fd = td.fds.alloc(nso)?;
                return Ok(Reply {
                    val: i64::from(fd),
                    addr,
                    ..Default::default()
                });
            }
            Err(Errno::EAGAIN) if !so.is_nonblock() => match (&w, gen) {
                (Some(w), Some(g)) => sleep(w, g, td, None)?,
                _ => return Err(Errno::EAGAIN),
            },
            Err(e) => return Err(e),
        }
    }
}

/// `sonewconn`: a connection accepted from `head` starts with its options.
fn inherit(head: &Socket, so: &Socket) {
    let r = Ordering::Relaxed;
    so.options.store(head.options.load(r), r);
    so.linger.store(head.linger.load(r), r);
    so.rcvbuf_sz.store(head.rcvbuf_sz.load(r), r);
    so.sndbuf_sz.store(head.sndbuf_sz.load(r), r);
    so.rcvtimeo_us.store(head.rcvtimeo_us.load(r), r);
    so.sndtimeo_us.store(head.sndtimeo_us.load(r), r);
}

/// `connect(2)`: a stream socket waits for the handshake unless non-blocking
/// (`EINPROGRESS`, then `EALREADY` while it lasts, `EISCONN` once done).
pub fn connect(td: &Td, so: &Arc<Socket>, addr: &[u8]) -> Result<Reply, Errno> {
    let w = {
        let mut p = pcb(so)?;
        match p.wakeup() {
            Some(w) => w,
            // A protocol that never blocks (UDP, raw) connects at once.
            None => return p.connect(addr).map(|_| Reply::val(0)),
        }
    };
    if so.connecting.load(Ordering::Relaxed) {
        let mut p = pcb(so)?;
        let m = p.poll();
        if m & (POLLERR | POLLHUP) != 0 {
            so.connecting.store(false, Ordering::Relaxed);
            return Err(p.soerror().unwrap_or(Errno::ECONNREFUSED));
        }
        if m & POLLOUT != 0 {
            so.connecting.store(false, Ordering::Relaxed);
            return Err(Errno::EISCONN);
        }
        if so.is_nonblock() {
            return Err(Errno::EALREADY);
        }
    } else {
        match pcb(so)?.connect(addr) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        let (gen, m) = {
            let mut p = pcb(so)?;
            let gen = w.generation();
            let m = p.poll();
            if m & (POLLERR | POLLHUP) != 0 {
                so.connecting.store(false, Ordering::Relaxed);
                return Err(p.soerror().unwrap_or(Errno::ECONNREFUSED));
            }
            (gen, m)
        };
        if m & POLLOUT != 0 {
            so.connecting.store(false, Ordering::Relaxed);
            return Ok(Reply::val(0));
        }
        if so.is_nonblock() {
            so.connecting.store(true, Ordering::Relaxed);
            return Err(Errno::EINPROGRESS);
        }
        if let Err(e) = sleep(&w, gen, td, None) {
            // The handshake goes on; a later connect reports how it ended.
            so.connecting.store(true, Ordering::Relaxed);
            return Err(e);
        }
    }
}

/// `sendto(2)`/`send(2)`: a blocking stream send waits for buffer space until
/// everything is taken; a non-blocking one (`O_NONBLOCK`, `MSG_DONTWAIT`)
/// returns what fit, or `EAGAIN` when nothing did.
pub fn send(
    td: &Td,
    so: &Arc<Socket>,
    data: &[u8],
    addr: Option<&[u8]>,
    flags: i32,
) -> Result<Reply, Errno> {
    send_as(td, so, data, addr, flags, so.is_nonblock())
}

/// [`send`] with the socket's `O_NONBLOCK` replaced by `nonblock`: vkernel's
/// splice pumps block whatever mode the owning program chose (the program's
/// own descriptor carries its mode).
pub fn send_as(
    td: &Td,
    so: &Arc<Socket>,
    data: &[u8],
    addr: Option<&[u8]>,
    flags: i32,
    nonblock: bool,
) -> Result<Reply, Errno> {
    let mut off = 0usize;
    sosend(td, so, flags, nonblock, data.is_empty(), |p, f| {
        let n = p.sendto(&data[off..], addr, f)?.min(data.len() - off);
        off += n;
        Ok((n, off == data.len()))
    })
}

/// [`send_as`] with the data in mbufs (the door's request frame, its
/// payload starting at the mbuf's data): a stream socket's protocol moves it
/// into the send buffer as it finds room, linking the mbufs instead of
/// copying them ([`ProtoSocket::send_chain`]); whatever was not taken stays
/// in `c`.  Otherwise the same call as [`send_as`].
pub fn send_chain_as(
    td: &Td,
    so: &Arc<Socket>,
    c: &mut MbufChain,
    flags: i32,
    nonblock: bool,
) -> Result<Reply, Errno> {
    let empty = c.is_empty();
    sosend(td, so, flags, nonblock, empty, |p, f| {
        let n = p.send_chain(c, f)?;
        Ok((n, c.is_empty()))
    })
}

/// `sosend`'s loop, whatever holds the data: `step` hands the protocol what
/// is left with the flags given and says how much it took and whether
/// that was the last of it.  A datagram, or an empty stream write, is one
/// call; a blocking stream write sleeps for room until all is taken (or an
/// error, a timeout or a signal ends it after a part: the part is the
/// answer).
fn sosend(
    td: &Td,
    so: &Arc<Socket>,
    flags: i32,
    nonblock: bool,
    empty: bool,
    mut step: impl FnMut(&mut Box<dyn ProtoSocket>, i32) -> Result<(usize, bool), Errno>,
) -> Result<Reply, Errno> {
    if so.cantsendmore.load(Ordering::Relaxed) {
        return Err(Errno::EPIPE);
    }
    let dontwait = flags & MSG_DONTWAIT != 0 || nonblock;
    let w = {
        let mut p = pcb(so)?;
        match p.wakeup() {
            Some(w) if so.ty == SOCK_STREAM && !empty => w,
            _ => {
                let f = if dontwait {
                    flags | MSG_DONTWAIT
                } else {
                    flags
                };
                return step(&mut p, f).map(|(n, _)| Reply::val(n as i64));
            }
        }
    };
    let deadline = timeo(&so.vnet, so.sndtimeo_us.load(Ordering::Relaxed));
    let mut off = 0usize;
    let done = |off: usize, e: Errno| {
        if off > 0 {
            Ok(Reply::val(off as i64))
        } else {
            Err(e)
        }
    };
    loop {
        let (gen, r) = {
            let mut p = pcb(so)?;
            let gen = w.generation();
            (gen, step(&mut p, flags | MSG_DONTWAIT))
        };
        match r {
            Ok((n, all)) => {
                off += n;
                if all || (dontwait && n > 0) {
                    return Ok(Reply::val(off as i64));
                }
                if dontwait {
                    return done(off, Errno::EAGAIN);
                }
            }
            Err(Errno::EAGAIN) if !dontwait => {}
            Err(e) => return done(off, e),
        }
        if let Err(e) = sleep(&w, gen, td, deadline) {
            return done(off, e);
        }
    }
}

/// The last `close(2)` of a socket with `SO_LINGER` on and a positive linger
/// time (`soclose`): close the protocol, then wait up to that many seconds
/// for the connection to finish disconnecting (its data and FIN acknowledged).
/// A non-blocking socket does not wait.  `so` is the caller's reference,
/// taken before the descriptor went away.
pub fn soclose_linger(td: &Td, so: Arc<Socket>) {
    let r = Ordering::Relaxed;
    let secs = so.linger.load(r);
    if so.options.load(r) & SO_LINGER as u32 == 0
        || secs <= 0
        || so.is_nonblock()
        || Arc::strong_count(&so) > 1
    {
        // Another descriptor still refers to it, or nothing to wait for.
        return;
    }
    let (w, done) = match pcb(&so) {
        Ok(p) => (p.wakeup(), p.disconnected()),
        Err(_) => return,
    };
    // Kept past the socket we let go of here: its kernel's clock measures
    // the linger time.
    let vnet = so.vnet.clone();
    drop(so);
    let (Some(w), Some(done)) = (w, done) else {
        return;
    };
    let ns = (secs as u64).saturating_mul(1_000_000_000);
    let deadline = Some(Deadline::after_in(&vnet, ns));
    loop {
        let gen = w.generation();
        if done() || sleep(&w, gen, td, deadline).is_err() {
            return;
        }
    }
}

/// `recvfrom(2)`/`recv(2)`: `MSG_PEEK`, `MSG_DONTWAIT` (or `O_NONBLOCK`), and
/// for streams `MSG_WAITALL` (wait for all `len` bytes, EOF or an error) and
/// `ENOTCONN` on a socket that was never connected.
pub fn recv(td: &Td, so: &Arc<Socket>, len: usize, flags: i32) -> Result<Reply, Errno> {
    recv_as(td, so, len, flags, so.is_nonblock())
}

/// [`recv`] with the socket's `O_NONBLOCK` replaced by `nonblock` (see
/// [`send_as`]).
pub fn recv_as(
    td: &Td,
    so: &Arc<Socket>,
    len: usize,
    flags: i32,
    nonblock: bool,
) -> Result<Reply, Errno> {
    let (data, addr) = recv_chain_as(td, so, len, flags, nonblock)?;
    Ok(Reply {
        val: data.len() as i64,
        data: data.into_vec(),
        addr,
        errno: 0,
    })
}

/// A reply whose data stays in the mbufs it was received in: written as one
/// frame by one `writev` of the header, the mbufs' slices and the address,
/// the same bytes as [`Reply::write_frame`] of the data joined.
#[derive(Debug, Default)]
pub struct ChainReply {
    /// 0 on success, else a FreeBSD errno.
    pub errno: i32,
    /// The call's result (the byte count).
    pub val: i64,
    /// The data, in its mbufs.
    pub data: MbufChain,
    /// The source address image.
    pub addr: Vec<u8>,
}

impl ChainReply {
    /// Write the reply frame.
    pub fn write_frame(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut h = Writer::new();
        h.i32(self.errno).i64(self.val).u32(self.data.len() as u32);
        let h = h.finish();
        let mut t = Writer::new();
        t.bytes(&self.addr);
        let t = t.finish();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.data.count() + 2);
        parts.push(&h);
        parts.extend(self.data.slices());
        parts.push(&t);
        write_frame_parts(w, &parts)
    }
}

impl From<Result<ChainReply, Errno>> for ChainReply {
    fn from(r: Result<ChainReply, Errno>) -> Self {
        r.unwrap_or_else(|e| ChainReply {
            errno: e.0,
            val: -1,
            ..Default::default()
        })
    }
}

/// [`recv_as`] with the data left in its mbufs ([`SockBuf::recv_chain`]),
/// for a reply written straight from them ([`ChainReply`]).
///
/// [`SockBuf::recv_chain`]: super::uipc_socket::SockBuf::recv_chain
pub fn recv_chain_as(
    td: &Td,
    so: &Arc<Socket>,
    len: usize,
    flags: i32,
    nonblock: bool,
) -> Result<(MbufChain, Vec<u8>), Errno> {
    let flags = if nonblock {
        flags | MSG_DONTWAIT
    } else {
        flags
    };
    let (sb, unconnected) = {
        let p = pcb(so)?;
        let sb = p.rcvbuf();
        let unconnected = so.ty == SOCK_STREAM
            && !so.connecting.load(Ordering::Relaxed)
            && p.peername() == Err(Errno::ENOTCONN);
        (sb, unconnected)
    };
    let (data, addr) = match sb {
        // Sleep on the buffer, not under the protocol's lock.
        Some(sb) => {
            if unconnected && sb.is_empty() && !sb.is_cantrcvmore() {
                return Err(Errno::ENOTCONN);
            }
            // SO_RCVTIMEO bounds each wait of the buffer (`sbwait`'s
            // timeout), so a MSG_WAITALL read gets it anew for every part.
            let rcvtimeo = so.rcvtimeo_us.load(Ordering::Relaxed);
            let timeout = || timeo(&so.vnet, rcvtimeo);
            let waitall = sb.is_stream()
                && flags & MSG_WAITALL != 0
                && flags & (MSG_PEEK | MSG_DONTWAIT) == 0;
            if waitall {
                let mut out = MbufChain::new();
                while out.len() < len {
                    // Window updates from the previous read go out first.
                    crate::kern_intr::swi_drain();
                    match sb.recv_chain(len - out.len(), flags, timeout(), &*td.intr) {
                        Ok((d, _)) if d.is_empty() => break,
                        Ok((d, _)) => out.cat(d),
                        Err(e) if out.is_empty() => return Err(e),
                        Err(_) => break,
                    }
                }
                (out, Vec::new())
            } else {
                sb.recv_chain(len, flags, timeout(), &*td.intr)?
            }
        }
        None => {
            let (d, a) = pcb(so)?.recvfrom(len, flags)?;
            (MbufChain::from(d), a)
        }
    };
    Ok((data, addr))
}

/// `shutdown(2)`.  A protocol without its own (datagram sockets) gets FreeBSD's
/// generic behaviour: `SHUT_RD` flushes and closes the receive side, `SHUT_WR`
/// makes later sends fail with `EPIPE`.
pub fn shutdown(so: &Arc<Socket>, how: i32) -> Result<Reply, Errno> {
    if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
        return Err(Errno::EINVAL);
    }
    let mut p = pcb(so)?;
    match p.shutdown(how) {
        Err(Errno::EOPNOTSUPP) => {
            if how != SHUT_WR {
                if let Some(sb) = p.rcvbuf() {
                    sb.cantrcvmore();
                    sb.flush();
                }
            }
            if how != SHUT_RD {
                so.cantsendmore.store(true, Ordering::Relaxed);
            }
            Ok(Reply::val(0))
        }
        r => r.map(|_| Reply::val(0)),
    }
}

/// `getpeername(2)`.
pub fn getpeername(so: &Arc<Socket>) -> Result<Reply, Errno> {
    Ok(Reply {
        addr: pcb(so)?.peername()?,
        ..Default::default()
    })
}

/// One socket's `revents` for `events` (`POLLERR`/`POLLHUP` always count).
fn poll_one(so: &Arc<Socket>, events: u32) -> Result<u32, Errno> {
    let _cv = CurvnetGuard::set(&so.vnet);
    let m = pcb(so)?.poll();
    Ok(m & (events | POLLERR | POLLHUP))
}

/// `poll(2)` over the caller's descriptors: `revents` per entry (negative
/// descriptors are skipped, closed ones get `POLLNVAL`).  Sleeps on its own
/// channel, recorded on every socket it polls, until something is ready, the
/// timeout passes in kernel time (negative: never) or the process goes away
/// (`EINTR`).
pub fn poll(td: &Td, fds: &[(i32, u32)], timeout_ms: i32) -> Result<Reply, Errno> {
    if fds.len() > POLL_MAX {
        return Err(Errno::EINVAL);
    }
    let vnet = &td.vimage.vnet;
    let deadline = u64::try_from(timeout_ms)
        .ok()
        .map(|ms| Deadline::after_in(vnet, ms.saturating_mul(1_000_000)));
    // Record this poll on every socket's buffers and channel first, so a
    // change between the check below and the sleep still wakes it.
    let waiter = PollWaiter::new();
    for &(fd, _) in fds {
        if let Ok(so) = td.fds.get(fd) {
            if let Ok(p) = pcb(&so) {
                if let Some(b) = p.rcvbuf() {
                    b.selrecord(&waiter);
                }
                if let Some(b) = p.sndbuf() {
                    b.selrecord(&waiter);
                }
                if let Some(w) = p.wakeup() {
                    w.selrecord(&waiter);
                }
            }
        }
    }
    loop {
        // Read before the sockets are looked at: one firing after its look
        // moves the generation, and the sleep below does not block.
        let seen = waiter.chan().generation();
        let mut ready = 0i64;
        let mut data = Vec::with_capacity(fds.len() * 4);
        for &(fd, events) in fds {
            let r = if fd < 0 {
                0
            } else {
                match td.fds.get(fd) {
                    Ok(so) => poll_one(&so, events)?,
                    Err(_) => POLLNVAL,
                }
            };
            if r != 0 {
                ready += 1;
            }
            data.extend_from_slice(&r.to_le_bytes());
        }
        let done = Reply {
            val: ready,
            data,
            ..Default::default()
        };
        if ready > 0 {
            return Ok(done);
        }
        crate::kern_intr::swi_drain();
        match msleep(waiter.chan(), seen, deadline, &*td.intr) {
            Ok(()) => {}
            // The timeout passed with nothing ready.
            Err(Errno::EWOULDBLOCK) => return Ok(done),
            Err(e) => return Err(e),
        }
    }
}

/// `fcntl(2)`: `F_GETFL`/`F_SETFL` (only `O_NONBLOCK` matters for a socket),
/// `F_GETFD`/`F_SETFD` accepted.
pub fn fcntl(so: &Arc<Socket>, cmd: i32, arg: i32) -> Result<Reply, Errno> {
    match cmd {
        F_GETFL => Ok(Reply::val(i64::from(
            O_RDWR | if so.is_nonblock() { O_NONBLOCK } else { 0 },
        ))),
        F_SETFL => {
            so.nonblock.store(arg & O_NONBLOCK != 0, Ordering::Relaxed);
            Ok(Reply::val(0))
        }
        F_GETFD | F_SETFD => Ok(Reply::val(0)),
        _ => Err(Errno::EINVAL),
    }
}

/// The generic socket ioctls: `FIONBIO`, `FIONREAD`.  `None`: not ours.
pub fn ioctl(so: &Arc<Socket>, cmd: u32, data: &[u8]) -> Option<Result<Vec<u8>, Errno>> {
    match cmd {
        FIONBIO => Some(int_val(data).map(|v| {
            so.nonblock.store(v != 0, Ordering::Relaxed);
            data.to_vec()
        })),
        FIONREAD => Some(pcb(so).map(|p| {
            let n = p.rcvbuf().map(|sb| sb.cc()).unwrap_or(0);
            i32::try_from(n).unwrap_or(i32::MAX).to_le_bytes().to_vec()
        })),
        _ => None,
    }
}

fn int_val(v: &[u8]) -> Result<i32, Errno> {
    match v.len() {
        4 => Ok(i32::from_le_bytes([v[0], v[1], v[2], v[3]])),
        1 => Ok(i32::from(v[0])),
        _ => Err(Errno::EINVAL),
    }
}

fn timeval_us(val: &[u8]) -> Result<u64, Errno> {
    let mut r = Reader::new(val);
    let sec = r.i64()?;
    let usec = r.i64()?;
    r.end()?;
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    Ok((sec as u64).saturating_mul(1_000_000) + usec as u64)
}

fn timeval_of(us: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&((us / 1_000_000) as i64).to_le_bytes());
    v.extend_from_slice(&((us % 1_000_000) as i64).to_le_bytes());
    v
}

/// `setsockopt(2)`.  `SOL_SOCKET` options are kept on the socket and also
/// handed to the protocol (which may act on them: `SO_REUSEADDR` at bind,
/// `SO_LINGER` at close, `SO_KEEPALIVE` timers); a protocol that does not know
/// one is not an error.  Everything else is the protocol's.
pub fn setsockopt(so: &Arc<Socket>, level: i32, name: i32, val: &[u8]) -> Result<Reply, Errno> {
    let r = Ordering::Relaxed;
    if level != SOL_SOCKET {
        pcb(so)?.setsockopt(level, name, val)?;
        return Ok(Reply::val(0));
    }
    match name {
        SO_RCVTIMEO => so.rcvtimeo_us.store(timeval_us(val)?, r),
        SO_SNDTIMEO => so.sndtimeo_us.store(timeval_us(val)?, r),
        SO_REUSEADDR | SO_REUSEPORT | SO_KEEPALIVE | SO_BROADCAST => {
            let v = int_val(val)?;
            match pcb(so)?.setsockopt(level, name, val) {
                Ok(()) | Err(Errno::ENOPROTOOPT) => {}
                Err(e) => return Err(e),
            }
            if v != 0 {
                so.options.fetch_or(name as u32, r);
            } else {
                so.options.fetch_and(!(name as u32), r);
            }
        }
        SO_LINGER => {
            if val.len() != 8 {
                return Err(Errno::EINVAL);
            }
            let on = int_val(&val[..4])?;
            let secs = int_val(&val[4..])?;
            match pcb(so)?.setsockopt(level, name, val) {
                Ok(()) | Err(Errno::ENOPROTOOPT) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(e),
            }
            so.linger.store(secs, r);
            if on != 0 {
                so.options.fetch_or(SO_LINGER as u32, r);
            } else {
                so.options.fetch_and(!(SO_LINGER as u32), r);
            }
        }
        SO_RCVBUF | SO_SNDBUF => {
            let v = int_val(val)?;
            if v <= 0 {
                return Err(Errno::EINVAL);
            }
            if v as u32 > MAXSOCKBUF {
                return Err(Errno::ENOBUFS);
            }
            match pcb(so)?.setsockopt(level, name, val) {
                Ok(()) | Err(Errno::ENOPROTOOPT) => {}
                Err(e) => return Err(e),
            }
            let slot = if name == SO_RCVBUF {
                &so.rcvbuf_sz
            } else {
                &so.sndbuf_sz
            };
            slot.store(v as u32, r);
        }
        SO_ERROR | SO_TYPE | SO_ACCEPTCONN => return Err(Errno::ENOPROTOOPT),
        _ => pcb(so)?.setsockopt(level, name, val)?,
    }
    Ok(Reply::val(0))
}

/// `getsockopt(2)`: the `SOL_SOCKET` options from the socket (an `int` is the
/// option's bit when set, as FreeBSD answers), everything else from the
/// protocol, which also sees what the caller's buffer held (`val`).
pub fn getsockopt(so: &Arc<Socket>, level: i32, name: i32, val: &[u8]) -> Result<Reply, Errno> {
    let r = Ordering::Relaxed;
    if level != SOL_SOCKET {
        return pcb(so)?.getsockopt_in(level, name, val).map(Reply::data);
    }
    let int = |v: i32| Ok(Reply::data(v.to_le_bytes().to_vec()));
    match name {
        SO_RCVTIMEO => Ok(Reply::data(timeval_of(so.rcvtimeo_us.load(r)))),
        SO_SNDTIMEO => Ok(Reply::data(timeval_of(so.sndtimeo_us.load(r)))),
        SO_REUSEADDR | SO_REUSEPORT | SO_KEEPALIVE | SO_BROADCAST => {
            let set = so.options.load(r) & name as u32 != 0
                || (name == SO_BROADCAST
                    && pcb(so)?
                        .getsockopt(level, name)
                        .map(|v| int_val(&v).unwrap_or(0) != 0)
                        .unwrap_or(false));
            int(if set { name } else { 0 })
        }
        SO_LINGER => Ok(Reply::data(linger_bytes(
            so.options.load(r) & SO_LINGER as u32 != 0,
            so.linger.load(r),
        ))),
        SO_RCVBUF => match so.rcvbuf_sz.load(r) {
            0 => {
                let h = pcb(so)?
                    .rcvbuf()
                    .map(|sb| sb.hiwat())
                    .unwrap_or(SB_DEFAULT_HIWAT);
                int(i32::try_from(h).unwrap_or(i32::MAX))
            }
            v => int(v as i32),
        },
        SO_SNDBUF => match so.sndbuf_sz.load(r) {
            0 => {
                let h = pcb(so)?
                    .sndbuf()
                    .map(|sb| u32::try_from(sb.hiwat()).unwrap_or(u32::MAX))
                    .unwrap_or(DGRAM_SNDBUF);
                int(i32::try_from(h).unwrap_or(i32::MAX))
            }
            v => int(v as i32),
        },
        SO_ERROR => int(pcb(so)?.soerror().map(|e| e.0).unwrap_or(0)),
        SO_TYPE => int(so.ty),
        SO_ACCEPTCONN => int(if so.listening.load(r) {
            SO_ACCEPTCONN
        } else {
            0
        }),
        _ => pcb(so)?.getsockopt_in(level, name, val).map(Reply::data),
    }
}
