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
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vimage_abi::syscall::Reply;
use vimage_abi::Errno;
use vimage_kern::Kernel;

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

impl Read for DoorReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
        let mut conn = self.conn;
        let n = conn.read(buf)?;
        if n > 0 && self.deadline.is_none() {
            self.deadline = self.timeout.map(|t| Instant::now() + t);
        }
        Ok(n)
    }
}
