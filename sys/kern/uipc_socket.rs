//! Sockets and descriptor tables (FreeBSD's sys/kern/uipc_socket.c, kern_descrip.c).
//!
//! A socket is assigned to the vnet of its creator for life (the tutorial: "permanently
//! assigned to a stack instance at creation time"); the vnet's socket count is what
//! `vimage -l` reports.  Protocol domains plug in through [`Domain`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use vimage_abi::Errno;

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
    /// Protocol ioctls not handled by the generic layer.
    fn ioctl(&mut self, _cmd: u32, _data: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOTTY)
    }
    /// The socket is being closed.
    fn close(&mut self) {}
    /// The socket's receive buffer, if the protocol queues what it receives there
    /// (then `recvfrom` is served by the socket layer and may block without the
    /// protocol's lock held).
    fn rcvbuf(&self) -> Option<Arc<SockBuf>> {
        None
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

#[derive(Default)]
struct SbInner {
    q: VecDeque<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
    cantrcvmore: bool,
}

/// A datagram receive buffer (`struct sockbuf` for atomic protocols): records of
/// (payload, source address), bounded in bytes, with sleepers woken on append.
pub struct SockBuf {
    inner: Mutex<SbInner>,
    cv: Condvar,
    hiwat: usize,
    /// Records dropped because the buffer was full.
    pub drops: AtomicU64,
}

impl Default for SockBuf {
    fn default() -> Self {
        SockBuf::new(SB_DEFAULT_HIWAT)
    }
}

impl SockBuf {
    /// An empty buffer holding at most `hiwat` bytes.
    pub fn new(hiwat: usize) -> Self {
        SockBuf {
            inner: Mutex::new(SbInner::default()),
            cv: Condvar::new(),
            hiwat,
            drops: AtomicU64::new(0),
        }
    }

    /// `sbappendaddr`: queue a record; `ENOBUFS` (and counted) when full or when
    /// the socket can receive no more.
    pub fn append(&self, data: Vec<u8>, addr: Vec<u8>) -> Result<(), Errno> {
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        if g.cantrcvmore || (g.bytes + data.len() > self.hiwat && !g.q.is_empty()) {
            self.drops.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::ENOBUFS);
        }
        g.bytes += data.len();
        g.q.push_back((data, addr));
        drop(g);
        self.cv.notify_all();
        Ok(())
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.q.len()).unwrap_or(0)
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
        self.cv.notify_all();
    }

    /// `soreceive` for one datagram: truncated to `len` bytes.  Waits unless
    /// `MSG_DONTWAIT` (then `EAGAIN`); gives up with `EAGAIN` after `timeout`, and
    /// with `EINTR` as soon as `intr` says the caller went away.
    pub fn recv(
        &self,
        len: usize,
        flags: i32,
        timeout: Option<Duration>,
        intr: &dyn Fn() -> bool,
    ) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = self.inner.lock().map_err(|_| Errno::EDOOFUS)?;
        loop {
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
                return Ok((d, a));
            }
            if g.cantrcvmore {
                return Err(Errno::ENOTCONN);
            }
            if flags & MSG_DONTWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            let mut slice = Duration::from_millis(50);
            if let Some(dl) = deadline {
                let now = Instant::now();
                if now >= dl {
                    return Err(Errno::EAGAIN);
                }
                slice = slice.min(dl - now);
            }
            if intr() {
                return Err(Errno::EINTR);
            }
            g = match self.cv.wait_timeout(g, slice) {
                Ok((g, _)) => g,
                Err(_) => return Err(Errno::EDOOFUS),
            };
        }
    }
}

/// A protocol family that can make sockets (`struct domain`).
pub trait Domain: Send + Sync {
    /// `PF_*` number.
    fn family(&self) -> i32;
    /// Make the protocol half of a new socket, with curvnet set to its vnet.
    fn attach(&self, ty: i32, proto: i32) -> Result<Box<dyn ProtoSocket>, Errno>;
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
}

impl Socket {
    /// Wrap a protocol half, counting the socket in its vnet.
    pub fn new(
        vnet: &Arc<Vnet>,
        domain: i32,
        ty: i32,
        proto: i32,
        pcb: Box<dyn ProtoSocket>,
    ) -> Self {
        vnet.sockcnt.fetch_add(1, Ordering::Relaxed);
        Socket {
            vnet: vnet.clone(),
            domain,
            ty,
            proto,
            pcb: Mutex::new(pcb),
            rcvtimeo_us: AtomicU64::new(0),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pcb.lock() {
            let _cv = super::vnet::CurvnetGuard::set(&self.vnet);
            p.close();
        }
        self.vnet.sockcnt.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Highest descriptor number handed out per process (`kern.maxfilesperproc`-ish).
pub const MAXFILES: i32 = 4096;

/// A process's descriptor table.
#[derive(Default)]
pub struct FdTable {
    fds: BTreeMap<i32, Arc<Socket>>,
}

impl FdTable {
    /// Install `so` at the lowest free descriptor ≥ 3 (0–2 are the host's stdio).
    pub fn alloc(&mut self, so: Arc<Socket>) -> Result<i32, Errno> {
        let fd = (3..MAXFILES)
            .find(|f| !self.fds.contains_key(f))
            .ok_or(Errno::EMFILE)?;
        self.fds.insert(fd, so);
        Ok(fd)
    }
    /// The socket at `fd` (EBADF).
    pub fn get(&self, fd: i32) -> Result<Arc<Socket>, Errno> {
        self.fds.get(&fd).cloned().ok_or(Errno::EBADF)
    }
    /// Close `fd` (EBADF).
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.fds.remove(&fd).map(|_| ()).ok_or(Errno::EBADF)
    }
    /// Close everything (process exit).
    pub fn close_all(&mut self) {
        self.fds.clear();
    }
    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.fds.len()
    }
    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}
