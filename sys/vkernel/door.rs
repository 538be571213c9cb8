//! The door's bounds: how many connections (process contexts) the kernel
//! serves, how long a started request may take to arrive, and how much frame
//! memory a connection keeps.
//!
//! A connection is a process context with a thread of its own, so the limits
//! follow FreeBSD's on processes and threads (`kern.maxproc`,
//! `kern.maxprocperuid`, `kern.threads.max_threads_per_proc`): past them a
//! new connection is answered `EAGAIN`, as `fork(2)` is, and the kernel says
//! so on its console at most once a second.  Root is exempt from the per-user
//! limit and keeps the last slots of the global one.  A connection idle
//! between requests is never timed out (a process may sleep as long as it
//! likes; its context lives as long as it does), but a request once started
//! must arrive whole within `kern.door.frametimeout` seconds.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vimage_abi::syscall::{Reply, SendtoView};
use vimage_abi::wire::MAX_FRAME;
use vimage_abi::Errno;
use vimage_kern::kern_syscall::Td;
use vimage_kern::Kernel;
use vimage_net::mbuf::{Mbuf, MbufChain};

use crate::copyio::UserMem;

/// `kern.door.maxconn` at boot: door connections in all.
pub const MAXCONN: i64 = 1024;
/// `kern.door.maxconnperproc` at boot: connections one host process may
/// hold (a vimage's supervisor opens those of every program it serves).
pub const MAXCONNPERPROC: i64 = 512;
/// `kern.door.frametimeout` at boot, in seconds.
pub const FRAMETIMEOUT: i64 = 30;
/// Slots of `kern.door.maxconn` kept for root (FreeBSD keeps 10 processes),
/// at most a tenth of the limit.
const ROOT_RESERVE: i64 = 10;
/// Frame memory a connection keeps between requests: a 256 KiB write (and
/// its header) reuses its buffer; a larger frame's buffer is let go.
pub const FRAME_KEEP: usize = 256 * 1024 + 4096;

#[derive(Default)]
struct Counts {
    total: i64,
    by_uid: HashMap<u32, i64>,
    by_pid: HashMap<u32, i64>,
}

/// The door's limits and the connections counted against them.
pub struct Door {
    maxconn: Arc<AtomicI64>,
    maxconnperuid: Arc<AtomicI64>,
    maxconnperproc: Arc<AtomicI64>,
    frametimeout: Arc<AtomicI64>,
    copyio: Arc<AtomicI64>,
    nconn: Arc<AtomicI64>,
    counts: Mutex<Counts>,
    /// Set when a large buffer was let go: the trimmer hands free memory
    /// back to the host.
    trim: AtomicBool,
    warned: Mutex<Option<Instant>>,
}

/// One admitted connection: its place in the counts, given back on drop.
pub struct Slot {
    door: Arc<Door>,
    uid: u32,
    pid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self.door.lock();
        let c = &mut *g;
        c.total -= 1;
        self.door.nconn.store(c.total, Ordering::Relaxed);
        for (map, key) in [(&mut c.by_uid, self.uid), (&mut c.by_pid, self.pid)] {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n <= 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

impl Door {
    /// The limits at their boot values, registered as `kern.door.*` sysctls
    /// (writable from the default vimage only, as every global sysctl).
    pub fn new(k: &Kernel) -> Arc<Door> {
        let int = |v: i64| Arc::new(AtomicI64::new(v));
        let d = Arc::new(Door {
            maxconn: int(MAXCONN),
            maxconnperuid: int(MAXCONN * 9 / 10),
            maxconnperproc: int(MAXCONNPERPROC),
            frametimeout: int(FRAMETIMEOUT),
            copyio: int(1),
            nconn: int(0),
            counts: Mutex::new(Counts::default()),
            trim: AtomicBool::new(false),
            warned: Mutex::new(None),
        });
        let t = &k.sysctl;
        t.add_int(
            "kern.door.maxconn",
            "Maximum number of kernel connections (process contexts)",
            d.maxconn.clone(),
            true,
            1,
            1 << 20,
        );
        t.add_int(
            "kern.door.maxconnperuid",
            "Maximum number of kernel connections per user id (root exempt)",
            d.maxconnperuid.clone(),
            true,
            1,
            1 << 20,
        );
        t.add_int(
            "kern.door.maxconnperproc",
            "Maximum number of kernel connections per host process",
            d.maxconnperproc.clone(),
            true,
            1,
            1 << 20,
        );
        t.add_int(
            "kern.door.frametimeout",
            "Seconds a started request has to arrive whole (0: no limit)",
            d.frametimeout.clone(),
            true,
            0,
            86400,
        );
        t.add_int(
            "kern.door.copyio",
            "Large sends and receives copy straight from and to the caller's memory",
            d.copyio.clone(),
            true,
            0,
            1,
        );
        t.add_int(
            "kern.door.nconn",
            "Number of kernel connections",
            d.nconn.clone(),
            false,
            0,
            0,
        );
        d
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        match self.counts.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Count a new connection from host process `pid` of user `uid`, or
    /// name the limit it would pass.
    pub fn admit(self: &Arc<Self>, uid: u32, pid: u32) -> Result<Slot, &'static str> {
        let mut c = self.lock();
        let max = self.maxconn.load(Ordering::Relaxed);
        let reserve = if uid == 0 {
            0
        } else {
            ROOT_RESERVE.min(max / 10)
        };
        if c.total >= max - reserve {
            return Err("kern.door.maxconn");
        }
        if uid != 0
            && c.by_uid.get(&uid).copied().unwrap_or(0)
                >= self.maxconnperuid.load(Ordering::Relaxed)
        {
            return Err("kern.door.maxconnperuid");
        }
        if c.by_pid.get(&pid).copied().unwrap_or(0) >= self.maxconnperproc.load(Ordering::Relaxed) {
            return Err("kern.door.maxconnperproc");
        }
        c.total += 1;
        self.nconn.store(c.total, Ordering::Relaxed);
        *c.by_uid.entry(uid).or_default() += 1;
        *c.by_pid.entry(pid).or_default() += 1;
        Ok(Slot {
            door: self.clone(),
            uid,
            pid,
        })
    }

    /// Turn a connection away: its first call is answered `EAGAIN` and the
    /// connection closes.  The console hears of it at most once a second
    /// (FreeBSD's "maxproc limit exceeded by uid …").
    pub fn refuse(&self, conn: UnixStream, why: &str, uid: u32, pid: u32) {
        let _ = conn.set_nonblocking(true);
        let mut conn = conn;
        let _ = Reply::err(Errno::EAGAIN).write_frame(&mut conn);
        let _ = conn.flush();
        drop(conn);
        let mut w = match self.warned.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !matches!(*w, Some(t) if t.elapsed() < Duration::from_secs(1)) {
            *w = Some(Instant::now());
            eprintln!("vkernel: {why} limit exceeded by uid {uid} (pid {pid})");
        }
    }

    /// Whether new connections may copy from and to their caller's memory
    /// (`kern.door.copyio`).
    pub fn copyio(&self) -> bool {
        self.copyio.load(Ordering::Relaxed) != 0
    }

    /// How long a started request may take to arrive (`None`: no limit).
    pub fn frame_timeout(&self) -> Option<Duration> {
        match self.frametimeout.load(Ordering::Relaxed) {
            s if s > 0 => Some(Duration::from_secs(s as u64)),
            _ => None,
        }
    }

    /// A connection let go of a large frame buffer.
    pub fn released(&self) {
        self.trim.store(true, Ordering::Relaxed);
    }

    /// Hand memory freed by large frames back to the host, at most once a
    /// second (the allocator otherwise keeps it, see `mallopt` in `main`);
    /// and whenever the allocator holds more than `TRIM_FREE` free (vimages
    /// destroyed, connections gone), so vkernel's RSS comes down after a
    /// tenant's burst as far as fragmentation allows.
    pub fn trimmer(self: Arc<Self>, k: Arc<Kernel>) {
        const TRIM_FREE: usize = 16 << 20;
        while !k.halting() {
            std::thread::sleep(Duration::from_secs(1));
            // SAFETY: mallinfo2 only reads the allocator's statistics.
            let free = unsafe { libc::mallinfo2() }.fordblks;
            if self.trim.swap(false, Ordering::Relaxed) || free > TRIM_FREE {
                // SAFETY: malloc_trim only walks the allocator's own arenas.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        }
    }
}

/// The request side of a door connection.  Between requests a read waits as
/// long as the process likes; once a frame has started (its first byte read,
/// or bytes of it already buffered) it must arrive whole by a deadline, so a
/// half-sent request cannot hold a thread.  A system call that blocks is not
/// reading: the deadline never applies to it.
pub struct DoorReader<'a> {
    conn: &'a UnixStream,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
}

impl<'a> DoorReader<'a> {
    /// Reads of `conn`.
    pub fn new(conn: &'a UnixStream) -> Self {
        DoorReader {
            conn,
            timeout: None,
            deadline: None,
        }
    }

    /// Before the next frame: `started` when some of it is already buffered.
    pub fn next_frame(&mut self, timeout: Option<Duration>, started: bool) {
        self.timeout = timeout;
        self.deadline = match (timeout, started) {
            (Some(t), true) => Some(Instant::now() + t),
            _ => None,
        };
    }
}

impl DoorReader<'_> {
    /// Wait for the frame's next bytes while its deadline allows.
    fn wait(&mut self) -> io::Result<()> {
        if let Some(dl) = self.deadline {
            loop {
                let left = dl.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                let mut p = libc::pollfd {
                    fd: self.conn.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd on a descriptor we hold.
                match unsafe { libc::poll(&mut p, 1, ms) } {
                    n if n > 0 => break,
                    0 => continue,
                    _ => {
                        let e = io::Error::last_os_error();
                        if e.kind() != io::ErrorKind::Interrupted {
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Bytes of the frame arrived: from now on it must arrive whole in time.
    fn arrived(&mut self, n: usize) {
        if n > 0 && self.deadline.is_none() {
            self.deadline = self.timeout.map(|t| Instant::now() + t);
        }
    }

    /// [`Read::read`] into memory not yet initialized (a fresh frame
    /// buffer's spare capacity): no zero-fill ahead of the copy in.
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        // Within a frame the rest is usually there already: try for it
        // first, and wait (poll with the deadline) only when it is not.
        let mut waited = self.deadline.is_none();
        loop {
            let flags = if waited { 0 } else { libc::MSG_DONTWAIT };
            // SAFETY: recv(2) writes at most buf.len() bytes into memory we
            // own exclusively; MaybeUninit<u8> has u8's layout.
            let n = unsafe {
                libc::recv(
                    self.conn.as_raw_fd(),
                    buf.as_mut_ptr().cast::<libc::c_void>(),
                    buf.len(),
                    flags,
                )
            };
            if n >= 0 {
                let n = n as usize;
                self.arrived(n);
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock if !waited => {
                    self.wait()?;
                    waited = true;
                }
                _ => return Err(e),
            }
        }
    }
}

impl Read for DoorReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait()?;
        let mut conn = self.conn;
        let n = conn.read(buf)?;
        self.arrived(n);
        Ok(n)
    }
}

/// Read one request frame into `buf` (`Ok(false)`: the process closed its
/// end).  A frame of up to [`FRAME_KEEP`] bytes gets its whole room at once
/// when the buffer is short of it (the buffer's last one went into a socket
/// buffer, [`sendto`]), so a connection pins at most that much more while a
/// frame arrives, as it keeps that much between frames; a larger one grows
/// with what arrives, at most by as much again as has come.  The bytes are
/// read straight into the buffer's spare room, never zero-filled first.
pub fn read_frame(rd: &mut BufReader<DoorReader<'_>>, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too long"));
    }
    buf.clear();
    buf.reserve_exact(n.min(FRAME_KEEP));
    // What the reader already holds first.
    let k = rd.buffer().len().min(n);
    buf.reserve(k);
    buf.extend_from_slice(&rd.buffer()[..k]);
    rd.consume(k);
    while buf.len() < n {
        if buf.capacity() == buf.len() {
            let more = (n - buf.len()).min(buf.len().max(FRAME_KEEP));
            buf.reserve_exact(more);
        }
        let want = n - buf.len();
        let spare = buf.spare_capacity_mut();
        let room = want.min(spare.len());
        match rd.get_mut().read_uninit(&mut spare[..room]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            // SAFETY: read_uninit initialized the first `k` spare bytes.
            Ok(k) => unsafe { buf.set_len(buf.len() + k) },
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A write of at least this many bytes on a stream socket hands its frame
/// buffer over to the socket's send buffer instead of being copied there:
/// smaller ones are copied, so a buffer holds little data in a large
/// buffer only when that data is worth a buffer of its own.
pub const ADOPT_MIN: usize = 16 * 1024;

/// `sendto(2)` served from the request frame in `frame`, its reply written
/// to `wr`: a large write without a destination gives its frame buffer to
/// the socket's send buffer (`sosend` with the data already in an mbuf; cut
/// where the buffer's room ends, both parts sharing the frame's storage), so
/// the bytes the process wrote are not copied again; `frame` is then empty,
/// and the next request is read into a fresh buffer.  The process has its
/// answer before the segments the write queued are processed.  Anything else
/// is copied from the frame in place.  `None`: `frame` is not a `sendto`
/// request; else whether the reply went out.
pub fn sendto(
    k: &Arc<Kernel>,
    td: &mut Td,
    frame: &mut Vec<u8>,
    wr: &mut impl Write,
) -> Option<bool> {
    let v = SendtoView::parse(frame)?;
    if v.addr.is_some() || v.data.len() < ADOPT_MIN {
        let r = k.sys_sendto(td, v.fd, v.flags, v.addr, v.data);
        return Some(answer(&r, wr));
    }
    // The payload is the frame's tail (the view ends the frame).
    let (fd, flags, off) = (v.fd, v.flags, frame.len() - v.data.len());
    Some(send_adopted(k, td, frame, off, (fd, flags), wr))
}

/// `send(2)` of `frame` from `off` on, the buffer itself linked into the
/// send buffer; the reply goes out before the segments the write queued are
/// processed.  Whether it did.
fn send_adopted(
    k: &Arc<Kernel>,
    td: &mut Td,
    frame: &mut Vec<u8>,
    off: usize,
    (fd, flags): (i32, i32),
    wr: &mut impl Write,
) -> bool {
    let mut c = MbufChain::from_mbuf(Mbuf::from_vec_at(std::mem::take(frame), off));
    let (reply, queued) = k.sys_send_chain(td, fd, flags, &mut c);
    if let Some(m) = c.into_mbuf() {
        // Not taken at all (an error, a full buffer not waited for): the
        // buffer serves the next frame.
        *frame = m.into_storage();
    }
    let sent = answer(&reply, wr);
    drop(queued);
    sent
}

/// Write `r` as the reply frame and flush it; whether it went out.
fn answer(r: &Reply, wr: &mut impl Write) -> bool {
    r.write_frame(wr).is_ok() && wr.flush().is_ok()
}

/// `recvfrom(2)`, its reply written to `wr` by one `writev` from the receive
/// buffer's mbufs; what the read set in motion (the window update and the
/// data it lets through) is processed after the reply went out.  Whether it
/// did.
pub fn recvfrom(
    k: &Arc<Kernel>,
    td: &mut Td,
    fd: i32,
    len: u32,
    flags: i32,
    wr: &mut impl Write,
) -> bool {
    let (r, queued) = k.sys_recvfrom(td, fd, len, flags);
    let sent = r.write_frame(wr).is_ok() && wr.flush().is_ok();
    drop(r);
    drop(queued);
    sent
}

/// `send(2)` with the data copied in from the caller's memory
/// ([`Request::SendUser`](vimage_abi::syscall::Request::SendUser)): into
/// `frame`'s buffer, which then becomes socket-buffer data as a large
/// [`sendto`]'s frame does.  Whether the reply went out.
pub fn send_user(
    k: &Arc<Kernel>,
    td: &mut Td,
    um: &mut UserMem,
    conn: &UnixStream,
    frame: &mut Vec<u8>,
    (fd, flags, ptr, len): (i32, i32, u64, u32),
    wr: &mut impl Write,
) -> bool {
    let len = len as usize;
    if len > MAX_FRAME {
        return answer(&Reply::err(Errno::EINVAL), wr);
    }
    frame.clear();
    if let Err(e) = um.copyin(conn, ptr, len, frame) {
        return answer(&Reply::err(e), wr);
    }
    send_adopted(k, td, frame, 0, (fd, flags), wr)
}

/// `recvfrom(2)` with the data copied out to the caller's memory
/// ([`Request::RecvfromUser`](vimage_abi::syscall::Request::RecvfromUser))
/// from the receive buffer's mbufs; the reply carries the count and the
/// source address.  Data taken from the socket that cannot be copied out is
/// lost, with `EFAULT`, as FreeBSD's `soreceive` loses what `uiomove`
/// fails on.  Whether the reply went out.
pub fn recvfrom_user(
    k: &Arc<Kernel>,
    td: &mut Td,
    um: &mut UserMem,
    conn: &UnixStream,
    (fd, len, flags, ptr): (i32, u32, i32, u64),
    wr: &mut impl Write,
) -> bool {
    // Refused before anything is taken from the socket.
    if let Err(e) = um.probe(conn, ptr) {
        return answer(&Reply::err(e), wr);
    }
    let (mut r, queued) = k.sys_recvfrom(td, fd, len, flags);
    let reply = if r.errno != 0 {
        Reply::err(Errno(r.errno))
    } else {
        match um.copyout(conn, ptr, r.data.slices()) {
            Ok(n) => Reply {
                errno: 0,
                val: n as i64,
                data: Vec::new(),
                addr: std::mem::take(&mut r.addr),
            },
            Err(e) => Reply::err(e),
        }
    };
    let sent = answer(&reply, wr);
    drop(r);
    drop(queued);
    sent
}
