//! Sockets and descriptor tables (FreeBSD's sys/kern/uipc_socket.c, kern_descrip.c).
//!
//! A socket is assigned to the vnet of its creator for life (the tutorial: "permanently
//! assigned to a stack instance at creation time"); the vnet's socket count is what
//! `vimage -l` reports.  Protocol domains plug in through [`Domain`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
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
