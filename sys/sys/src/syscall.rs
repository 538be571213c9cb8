//! The system calls a process makes through the syscall socket, and their replies.
//!
//! A frame is a little-endian `u32` length followed by that many bytes: a
//! [`Request`] from the process, a [`Reply`] from the kernel.  One request is in
//! flight per connection; a process may open several connections (threads).

use crate::wire::{Reader, Writer, MAX_FRAME};
use crate::Errno;
use std::io::{self, Read, Write};

/// A system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `sysctlbyname(name, old, new)`: read and optionally write (`new` is the value
    /// encoded as [`crate::sysctl::SysctlValue`]).
    Sysctl {
        /// Dotted name.
        name: String,
        /// New value, if writing.
        new: Option<Vec<u8>>,
    },
    /// The leaf after `name` in the tree walk (`""` asks for the first); `sysctl -a`.
    SysctlNext {
        /// Previous leaf or subtree name.
        name: String,
    },
    /// `socket(domain, type, protocol)`; the reply's `val` is the descriptor.
    Socket {
        /// Protocol family (`PF_*`).
        domain: i32,
        /// `SOCK_*`.
        ty: i32,
        /// Protocol number.
        proto: i32,
    },
    /// `close(fd)`.
    Close {
        /// Descriptor.
        fd: i32,
    },
    /// `ioctl(fd, cmd, data)`; the reply's `data` is the copied-out parameter.
    Ioctl {
        /// Descriptor.
        fd: i32,
        /// Command (see [`crate::ioccom`]).
        cmd: u32,
        /// Parameter image; its length must match the command's.
        data: Vec<u8>,
    },
    /// `bind(fd, addr)`.
    Bind {
        /// Descriptor.
        fd: i32,
        /// Socket address image.
        addr: Vec<u8>,
    },
    /// `connect(fd, addr)`.
    Connect {
        /// Descriptor.
        fd: i32,
        /// Socket address image.
        addr: Vec<u8>,
    },
    /// `sendto(fd, data, flags, addr)`.
    Sendto {
        /// Descriptor.
        fd: i32,
        /// `MSG_*` flags.
        flags: i32,
        /// Destination, if any.
        addr: Option<Vec<u8>>,
        /// Payload.
        data: Vec<u8>,
    },
    /// `recvfrom(fd, len, flags)`; reply `data` is the payload, `addr` the source.
    Recvfrom {
        /// Descriptor.
        fd: i32,
        /// Buffer size.
        len: u32,
        /// `MSG_*` flags.
        flags: i32,
    },
    /// `setsockopt(fd, level, name, val)`.
    Setsockopt {
        /// Descriptor.
        fd: i32,
        /// Level (`SOL_SOCKET`, protocol).
        level: i32,
        /// Option name.
        name: i32,
        /// Option value image.
        val: Vec<u8>,
    },
    /// `getsockopt(fd, level, name, val)`.
    Getsockopt {
        /// Descriptor.
        fd: i32,
        /// Level.
        level: i32,
        /// Option name.
        name: i32,
        /// What the caller's option buffer holds on the way in: empty for
        /// almost every option; the options that take an argument and
        /// answer with data (ipfw's `IP_FW_ADD`: the rule in, the rule as
        /// stored out) read it, as FreeBSD copies `sopt_val` in.
        val: Vec<u8>,
    },
    /// `kldload(name)`; reply `val` is the file id.
    Kldload {
        /// Module file name (`ng_ether`).
        name: String,
    },
    /// `kldunload(fileid)`.
    Kldunload {
        /// File id.
        fileid: i32,
    },
    /// `kldfind(name)`; reply `val` is the file id.
    Kldfind {
        /// Module file name.
        name: String,
    },
    /// `kldnext(fileid)` + `kldstat`: the file after `fileid` (0 = first);
    /// reply `val` is its id (0 at the end), `data` its [`crate::syscall::KldStat`].
    Kldnext {
        /// Previous file id.
        fileid: i32,
    },
    /// `kldsym(name)`: look up a (possibly virtualized) kernel symbol; a virtualized one
    /// resolves in the caller's vnet.  Reply `data` is the symbol's value as text.
    Kldsym {
        /// Symbol name, e.g. `ifnet` or `rt_tables`.
        name: String,
    },
    /// `reboot(howto)`: halt the kernel (only from the default vimage).
    Reboot {
        /// `RB_*` flags.
        howto: i32,
    },
    /// `getsockname(fd)`: reply `addr` is the socket's local address image.
    Getsockname {
        /// Descriptor.
        fd: i32,
    },
    /// `listen(fd, backlog)`.
    Listen {
        /// Descriptor.
        fd: i32,
        /// Queue limit for completed connections.
        backlog: i32,
    },
    /// `accept4(fd, flags)`: reply `val` is the new descriptor, `addr` the peer's
    /// address image.  Blocks unless the listening socket is non-blocking.
    Accept {
        /// Listening descriptor.
        fd: i32,
        /// [`crate::socket::SOCK_NONBLOCK`] makes the new socket non-blocking.
        flags: i32,
    },
    /// `shutdown(fd, how)`.
    Shutdown {
        /// Descriptor.
        fd: i32,
        /// `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
        how: i32,
    },
    /// `getpeername(fd)`: reply `addr` is the peer's address image.
    Getpeername {
        /// Descriptor.
        fd: i32,
    },
    /// `poll(fds, timeout)`: reply `val` is how many descriptors are ready, `data`
    /// their `revents`, one little-endian `u32` per entry in order.
    Poll {
        /// (descriptor, `POLL*` events) pairs.
        fds: Vec<(i32, u32)>,
        /// Milliseconds to wait; negative waits forever (`INFTIM`), 0 never.
        timeout_ms: i32,
    },
    /// `fcntl(fd, cmd, arg)` for `F_GETFL`/`F_SETFL` (`O_NONBLOCK`); reply `val`.
    Fcntl {
        /// Descriptor.
        fd: i32,
        /// `F_*` command.
        cmd: i32,
        /// Argument.
        arg: i32,
    },
    /// Export socket `fd` to the host: the kernel makes a host socket pair,
    /// serves one end with the socket's data and passes the other back with
    /// the reply (`SCM_RIGHTS`).  A Linux program then owns the socket as an
    /// ordinary descriptor.  Reply `data`: the host inode numbers (`u32` each)
    /// of earlier exports whose host ends have all been closed since the last
    /// export (their kernel sockets are closed and their descriptors freed).
    /// Served by the booted kernel (vkernel), not the sans-IO core.
    Export {
        /// Descriptor.
        fd: i32,
        /// The host process the socket is exported for (what `kern.file`,
        /// so sockstat, names as its owner); 0: the caller.
        pid: u32,
    },
    /// Make this connection act for host process `pid` of the caller's own
    /// vimage: its descriptor table becomes that process's (a supervisor
    /// opening the door on behalf of a process it captured).  `EPERM` when
    /// `pid` is not in the caller's vimage, or when the caller is neither
    /// root nor the process's user and group in every id (ptrace's rule).
    SetOwner {
        /// Host pid.
        pid: u32,
    },
    /// Make this connection act in the vimage of host process `pid` (its
    /// own, or one nested below it: a `vimage` run inside a vimage), keeping
    /// its descriptor table.  Reply `val` is 1 when that is not the
    /// connection's own vimage.  `EPERM` for a process outside it.
    ActAs {
        /// Host pid.
        pid: u32,
    },
    /// `send(fd, buf, len, flags)` with the payload left in the caller's
    /// memory: the kernel copies it in from `ptr` (`copyin`), so it never
    /// crosses the door's socket.  Reply as [`Request::Sendto`]'s.
    /// `ENOSYS` when this connection may not be served so (the caller
    /// sends the data in the frame instead); `EFAULT` for a bad buffer.
    SendUser {
        /// Descriptor.
        fd: i32,
        /// `MSG_*` flags.
        flags: i32,
        /// The buffer's address in the caller.
        ptr: u64,
        /// Its length.
        len: u32,
    },
    /// `recvfrom(fd, buf, len, flags)` copying the data out to `ptr` in the
    /// caller's memory (`copyout`): reply `val` is the byte count, `addr`
    /// the source, `data` empty.  `ENOSYS` and `EFAULT` as for
    /// [`Request::SendUser`].
    RecvfromUser {
        /// Descriptor.
        fd: i32,
        /// Buffer size.
        len: u32,
        /// `MSG_*` flags.
        flags: i32,
        /// The buffer's address in the caller.
        ptr: u64,
    },
}

/// `reboot(2)` flag: halt instead of rebooting.
pub const RB_HALT: i32 = 0x8;

const T_SYSCTL: u32 = 1;
const T_SYSCTLNEXT: u32 = 2;
const T_SOCKET: u32 = 3;
const T_CLOSE: u32 = 4;
const T_IOCTL: u32 = 5;
const T_BIND: u32 = 6;
const T_CONNECT: u32 = 7;
const T_SENDTO: u32 = 8;
const T_RECVFROM: u32 = 9;
const T_SETSOCKOPT: u32 = 10;
const T_GETSOCKOPT: u32 = 11;
const T_KLDLOAD: u32 = 12;
const T_KLDUNLOAD: u32 = 13;
const T_KLDFIND: u32 = 14;
const T_KLDNEXT: u32 = 15;
const T_KLDSYM: u32 = 16;
const T_REBOOT: u32 = 17;
const T_GETSOCKNAME: u32 = 18;
const T_LISTEN: u32 = 19;
const T_ACCEPT: u32 = 20;
const T_SHUTDOWN: u32 = 21;
const T_GETPEERNAME: u32 = 22;
const T_POLL: u32 = 23;
const T_FCNTL: u32 = 24;
const T_EXPORT: u32 = 25;
const T_SETOWNER: u32 = 26;
const T_ACTAS: u32 = 27;
const T_SENDUSER: u32 = 28;
const T_RECVFROMUSER: u32 = 29;

impl Request {
    /// Encode the frame payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Request::Sysctl { name, new } => {
                w.u32(T_SYSCTL).str(name).opt_bytes(new.as_deref());
            }
            Request::SysctlNext { name } => {
                w.u32(T_SYSCTLNEXT).str(name);
            }
            Request::Socket { domain, ty, proto } => {
                w.u32(T_SOCKET).i32(*domain).i32(*ty).i32(*proto);
            }
            Request::Close { fd } => {
                w.u32(T_CLOSE).i32(*fd);
            }
            Request::Ioctl { fd, cmd, data } => {
                w.u32(T_IOCTL).i32(*fd).u32(*cmd).bytes(data);
            }
            Request::Bind { fd, addr } => {
                w.u32(T_BIND).i32(*fd).bytes(addr);
            }
            Request::Connect { fd, addr } => {
                w.u32(T_CONNECT).i32(*fd).bytes(addr);
            }
            Request::Sendto {
                fd,
                flags,
                addr,
                data,
            } => {
                sendto_head(&mut w, *fd, *flags, addr.as_deref(), data.len());
                w.raw(data);
            }
            Request::Recvfrom { fd, len, flags } => {
                w.u32(T_RECVFROM).i32(*fd).u32(*len).i32(*flags);
            }
            Request::Setsockopt {
                fd,
                level,
                name,
                val,
            } => {
                w.u32(T_SETSOCKOPT)
                    .i32(*fd)
                    .i32(*level)
                    .i32(*name)
                    .bytes(val);
            }
            Request::Getsockopt {
                fd,
                level,
                name,
                val,
            } => {
                w.u32(T_GETSOCKOPT)
                    .i32(*fd)
                    .i32(*level)
                    .i32(*name)
                    .bytes(val);
            }
            Request::Kldload { name } => {
                w.u32(T_KLDLOAD).str(name);
            }
            Request::Kldunload { fileid } => {
                w.u32(T_KLDUNLOAD).i32(*fileid);
            }
            Request::Kldfind { name } => {
                w.u32(T_KLDFIND).str(name);
            }
            Request::Kldnext { fileid } => {
                w.u32(T_KLDNEXT).i32(*fileid);
            }
            Request::Kldsym { name } => {
                w.u32(T_KLDSYM).str(name);
            }
            Request::Reboot { howto } => {
                w.u32(T_REBOOT).i32(*howto);
            }
            Request::Getsockname { fd } => {
                w.u32(T_GETSOCKNAME).i32(*fd);
            }
            Request::Listen { fd, backlog } => {
                w.u32(T_LISTEN).i32(*fd).i32(*backlog);
            }
            Request::Accept { fd, flags } => {
                w.u32(T_ACCEPT).i32(*fd).i32(*flags);
            }
            Request::Shutdown { fd, how } => {
                w.u32(T_SHUTDOWN).i32(*fd).i32(*how);
            }
            Request::Getpeername { fd } => {
                w.u32(T_GETPEERNAME).i32(*fd);
            }
            Request::Poll { fds, timeout_ms } => {
                w.u32(T_POLL).i32(*timeout_ms).u32(fds.len() as u32);
                for (fd, ev) in fds {
                    w.i32(*fd).u32(*ev);
                }
            }
            Request::Fcntl { fd, cmd, arg } => {
                w.u32(T_FCNTL).i32(*fd).i32(*cmd).i32(*arg);
            }
            Request::Export { fd, pid } => {
                w.u32(T_EXPORT).i32(*fd).u32(*pid);
            }
            Request::SetOwner { pid } => {
                w.u32(T_SETOWNER).u32(*pid);
            }
            Request::SendUser {
                fd,
                flags,
                ptr,
                len,
            } => {
                w.u32(T_SENDUSER).i32(*fd).i32(*flags).u64(*ptr).u32(*len);
            }
            Request::RecvfromUser {
                fd,
                len,
                flags,
                ptr,
            } => {
                w.u32(T_RECVFROMUSER)
                    .i32(*fd)
                    .u32(*len)
                    .i32(*flags)
                    .u64(*ptr);
            }
            Request::ActAs { pid } => {
                w.u32(T_ACTAS).u32(*pid);
            }
        }
        w.finish()
    }

    /// Decode a frame payload; any malformation is `EINVAL`.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader::new(b);
        let s = |r: &mut Reader<'_>| -> Result<String, Errno> { Ok(r.str()?.to_string()) };
        let req = match r.u32()? {
            T_SYSCTL => Request::Sysctl {
                name: s(&mut r)?,
                new: r.opt_bytes()?.map(|b| b.to_vec()),
            },
            T_SYSCTLNEXT => Request::SysctlNext { name: s(&mut r)? },
            T_SOCKET => Request::Socket {
                domain: r.i32()?,
                ty: r.i32()?,
                proto: r.i32()?,
            },
            T_CLOSE => Request::Close { fd: r.i32()? },
            T_IOCTL => Request::Ioctl {
                fd: r.i32()?,
                cmd: r.u32()?,
                data: r.bytes()?.to_vec(),
            },
            T_BIND => Request::Bind {
                fd: r.i32()?,
                addr: r.bytes()?.to_vec(),
            },
            T_CONNECT => Request::Connect {
                fd: r.i32()?,
                addr: r.bytes()?.to_vec(),
            },
            T_SENDTO => Request::Sendto {
                fd: r.i32()?,
                flags: r.i32()?,
                addr: r.opt_bytes()?.map(|b| b.to_vec()),
                data: r.bytes()?.to_vec(),
            },
            T_RECVFROM => Request::Recvfrom {
                fd: r.i32()?,
                len: r.u32()?,
                flags: r.i32()?,
            },
            T_SETSOCKOPT => Request::Setsockopt {
                fd: r.i32()?,
                level: r.i32()?,
                name: r.i32()?,
                val: r.bytes()?.to_vec(),
            },
            T_GETSOCKOPT => Request::Getsockopt {
                fd: r.i32()?,
                level: r.i32()?,
                name: r.i32()?,
                val: r.bytes()?.to_vec(),
            },
            T_KLDLOAD => Request::Kldload { name: s(&mut r)? },
            T_KLDUNLOAD => Request::Kldunload { fileid: r.i32()? },
            T_KLDFIND => Request::Kldfind { name: s(&mut r)? },
            T_KLDNEXT => Request::Kldnext { fileid: r.i32()? },
            T_KLDSYM => Request::Kldsym { name: s(&mut r)? },
            T_REBOOT => Request::Reboot { howto: r.i32()? },
            T_GETSOCKNAME => Request::Getsockname { fd: r.i32()? },
            T_LISTEN => Request::Listen {
                fd: r.i32()?,
                backlog: r.i32()?,
            },
            T_ACCEPT => Request::Accept {
                fd: r.i32()?,
                flags: r.i32()?,
            },
            T_SHUTDOWN => Request::Shutdown {
                fd: r.i32()?,
                how: r.i32()?,
            },
            T_GETPEERNAME => Request::Getpeername { fd: r.i32()? },
            T_POLL => {
                let timeout_ms = r.i32()?;
                let n = r.u32()? as usize;
                if n > crate::socket::POLL_MAX {
                    return Err(Errno::EINVAL);
                }
                let mut fds = Vec::with_capacity(n);
                for _ in 0..n {
                    fds.push((r.i32()?, r.u32()?));
                }
                Request::Poll { fds, timeout_ms }
            }
            T_FCNTL => Request::Fcntl {
                fd: r.i32()?,
                cmd: r.i32()?,
                arg: r.i32()?,
            },
            T_EXPORT => Request::Export {
                fd: r.i32()?,
                pid: r.u32()?,
            },
            T_SETOWNER => Request::SetOwner { pid: r.u32()? },
            T_ACTAS => Request::ActAs { pid: r.u32()? },
            T_SENDUSER => Request::SendUser {
                fd: r.i32()?,
                flags: r.i32()?,
                ptr: r.u64()?,
                len: r.u32()?,
            },
            T_RECVFROMUSER => Request::RecvfromUser {
                fd: r.i32()?,
                len: r.u32()?,
                flags: r.i32()?,
                ptr: r.u64()?,
            },
            _ => return Err(Errno::EINVAL),
        };
        r.end()?;
        Ok(req)
    }
}

/// The kernel's answer to one [`Request`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// 0 on success, else a FreeBSD errno.
    pub errno: i32,
    /// The call's integer result (a descriptor, a file id, a byte count).
    pub val: i64,
    /// Copied-out data.
    pub data: Vec<u8>,
    /// A copied-out socket address (recvfrom, getsockname).
    pub addr: Vec<u8>,
}

impl Reply {
    /// A successful reply carrying `val`.
    pub fn val(val: i64) -> Self {
        Reply {
            val,
            ..Default::default()
        }
    }
    /// A successful reply carrying `data`.
    pub fn data(data: Vec<u8>) -> Self {
        Reply {
            data,
            ..Default::default()
        }
    }
    /// A failed reply.
    pub fn err(e: Errno) -> Self {
        Reply {
            errno: e.0,
            val: -1,
            ..Default::default()
        }
    }
    /// `Ok(self)` or the errno.
    pub fn result(self) -> Result<Reply, Errno> {
        if self.errno == 0 {
            Ok(self)
        } else {
            Err(Errno(self.errno))
        }
    }
    /// Encode the frame payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.i32(self.errno)
            .i64(self.val)
            .bytes(&self.data)
            .bytes(&self.addr);
        w.finish()
    }
    /// Decode a frame payload.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader::new(b);
        let rep = Reply {
            errno: r.i32()?,
            val: r.i64()?,
            data: r.bytes()?.to_vec(),
            addr: r.bytes()?.to_vec(),
        };
        r.end()?;
        Ok(rep)
    }
}

impl From<Result<Reply, Errno>> for Reply {
    fn from(r: Result<Reply, Errno>) -> Self {
        r.unwrap_or_else(Reply::err)
    }
}

/// What `kldstat` shows for one loaded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KldStat {
    /// File id.
    pub id: i32,
    /// Reference count.
    pub refs: i32,
    /// Load address (a stable per-file number here).
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// File name.
    pub name: String,
    /// Modules the file contains.
    pub modules: Vec<(i32, String)>,
}

impl KldStat {
    /// Encode.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.i32(self.id)
            .i32(self.refs)
            .u64(self.address)
            .u64(self.size)
            .str(&self.name)
            .u32(self.modules.len() as u32);
        for (id, n) in &self.modules {
            w.i32(*id).str(n);
        }
        w.finish()
    }
    /// Decode.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader::new(b);
        let id = r.i32()?;
        let refs = r.i32()?;
        let address = r.u64()?;
        let size = r.u64()?;
        let name = r.str()?.to_string();
        let n = r.u32()? as usize;
        let mut modules = Vec::new();
        for _ in 0..n {
            modules.push((r.i32()?, r.str()?.to_string()));
        }
        r.end()?;
        Ok(KldStat {
            id,
            refs,
            address,
            size,
            name,
            modules,
        })
    }
}

/// Socket buffer size each end of a syscall connection asks for: room for a
/// whole `MAX_FRAME`-sized request or reply, so a large write is not split
/// into round trips (the host may cap it at its `net.core.wmem_max`).
pub const DOOR_SOCKBUF: usize = MAX_FRAME + 64 * 1024;

/// Write one frame.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    write_frame_parts(w, &[payload])
}

/// Write one frame whose payload is `parts` back to back, without joining
/// them first (one `writev` when the writer takes it whole).
pub fn write_frame_parts(w: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    let len = (n as u32).to_le_bytes();
    let mut bufs: Vec<io::IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
    bufs.push(io::IoSlice::new(&len));
    bufs.extend(parts.iter().map(|p| io::IoSlice::new(p)));
    let mut slices = &mut bufs[..];
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => io::IoSlice::advance_slices(&mut slices, k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encode a `sendto` request up to its payload: the frame is this head
/// followed by the `len` payload bytes ([`Request::to_bytes`] writes the same).
fn sendto_head(w: &mut Writer, fd: i32, flags: i32, addr: Option<&[u8]>, len: usize) {
    w.u32(T_SENDTO)
        .i32(fd)
        .i32(flags)
        .opt_bytes(addr)
        .u32(len as u32);
}

/// Write a `sendto` request frame straight from the caller's buffer (no copy
/// of `data` into an owned [`Request`]).
pub fn write_sendto(
    w: &mut impl Write,
    fd: i32,
    flags: i32,
    addr: Option<&[u8]>,
    data: &[u8],
) -> io::Result<()> {
    let mut h = Writer::new();
    sendto_head(&mut h, fd, flags, addr, data.len());
    write_frame_parts(w, &[&h.finish(), data])
}

/// A `sendto` request frame viewed in place: the data-moving call decoded
/// without copying its payload.
#[derive(Debug, PartialEq, Eq)]
pub struct SendtoView<'a> {
    /// Descriptor.
    pub fd: i32,
    /// `MSG_*` flags.
    pub flags: i32,
    /// Destination, if any.
    pub addr: Option<&'a [u8]>,
    /// Payload.
    pub data: &'a [u8],
}

impl<'a> SendtoView<'a> {
    /// The view of `frame` if it is a well-formed `sendto` request, `None`
    /// for any other (decode those with [`Request::from_bytes`]).
    pub fn parse(frame: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(frame);
        if r.u32().ok()? != T_SENDTO {
            return None;
        }
        let v = SendtoView {
            fd: r.i32().ok()?,
            flags: r.i32().ok()?,
            addr: r.opt_bytes().ok()?,
            data: r.bytes().ok()?,
        };
        r.end().ok()?;
        Some(v)
    }
}

impl Reply {
    /// Write this reply as one frame, its data and address straight from
    /// their buffers (same bytes as `write_frame(w, &self.to_bytes())`).
    pub fn write_frame(&self, w: &mut impl Write) -> io::Result<()> {
        let mut h = Writer::new();
        h.i32(self.errno).i64(self.val).u32(self.data.len() as u32);
        let mut t = Writer::new();
        t.bytes(&self.addr);
        write_frame_parts(w, &[&h.finish(), &self.data, &t.finish()])
    }

    /// Read one reply frame, filling its data straight from the stream (no
    /// intermediate frame buffer).  `Ok(None)` on a clean end of stream;
    /// `InvalidData` for an oversized or inconsistent frame.
    pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Reply>> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad reply frame");
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let n = u32::from_le_bytes(len) as usize;
        if !(20..=MAX_FRAME).contains(&n) {
            return Err(bad());
        }
        let mut h = [0u8; 16];
        r.read_exact(&mut h)?;
        let mut rd = Reader::new(&h);
        let errno = rd.i32().map_err(|_| bad())?;
        let val = rd.i64().map_err(|_| bad())?;
        let dlen = rd.u32().map_err(|_| bad())? as usize;
        if dlen > n - 20 {
            return Err(bad());
        }
        // Straight into uninitialized capacity: no zero-fill of a large reply.
        let mut data = Vec::with_capacity(dlen);
        if r.take(dlen as u64).read_to_end(&mut data)? != dlen {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut al = [0u8; 4];
        r.read_exact(&mut al)?;
        let alen = u32::from_le_bytes(al) as usize;
        if alen != n - 20 - dlen {
            return Err(bad());
        }
        let mut addr = vec![0u8; alen];
        r.read_exact(&mut addr)?;
        Ok(Some(Reply {
            errno,
            val,
            data,
            addr,
        }))
    }
}

/// The first room a frame's buffer gets: it then grows with what arrives
/// (at most as much again as has come), so a header announcing a large frame
/// costs nothing until its bytes are there.
pub const FRAME_CHUNK: usize = 4096;

/// [`read_frame`] into a reused buffer: `Ok(false)` on a clean end of stream.
///
/// The buffer grows as the frame's bytes arrive, never past the announced
/// length (itself at most [`MAX_FRAME`]): a peer that announces a megabyte
/// and sends five bytes makes it hold [`FRAME_CHUNK`] bytes, not a megabyte.
/// Memory already in `buf` is reused without being cleared again.
pub fn read_frame_into(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too long"));
    }
    let mut got = 0;
    while got < n {
        if got >= buf.len() {
            // Room for what is still to come, at most as much again as came.
            let more = (n - got).min(got.max(FRAME_CHUNK));
            buf.reserve_exact(got + more - buf.len());
            buf.resize(got + more, 0);
        }
        let end = buf.len().min(n);
        match r.read(&mut buf[got..end]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(true)
}

/// Read one frame; `Ok(None)` on a clean end of stream, `InvalidData` on a length over
/// [`MAX_FRAME`].  Memory grows with the bytes that arrive ([`read_frame_into`]).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut b = Vec::new();
    Ok(read_frame_into(r, &mut b)?.then_some(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Request> {
        vec![
            Request::Sysctl {
                name: "kern.hostname".into(),
                new: Some(b"n1".to_vec()),
            },
            Request::SysctlNext { name: "".into() },
            Request::Socket {
                domain: 2,
                ty: 2,
                proto: 0,
            },
            Request::Close { fd: 3 },
            Request::Ioctl {
                fd: 3,
                cmd: 0xc020_6911,
                data: vec![1; 32],
            },
            Request::Bind {
                fd: 1,
                addr: vec![1],
            },
            Request::Connect {
                fd: 1,
                addr: vec![],
            },
            Request::Sendto {
                fd: 1,
                flags: 0,
                addr: None,
                data: vec![9],
            },
            Request::Recvfrom {
                fd: 1,
                len: 100,
                flags: 0,
            },
            Request::Setsockopt {
                fd: 1,
                level: 0xffff,
                name: 4,
                val: vec![1, 0, 0, 0],
            },
            Request::Getsockopt {
                fd: 1,
                level: 0xffff,
                name: 4,
                val: Vec::new(),
            },
            Request::Getsockopt {
                fd: 1,
                level: 0,
                name: 50,
                val: vec![1, 2, 3],
            },
            Request::Kldload {
                name: "ng_ether".into(),
            },
            Request::Kldunload { fileid: 2 },
            Request::Kldfind { name: "x".into() },
            Request::Kldnext { fileid: 0 },
            Request::Kldsym {
                name: "ifnet".into(),
            },
            Request::Reboot { howto: RB_HALT },
            Request::Getsockname { fd: 3 },
            Request::Listen { fd: 3, backlog: 5 },
            Request::Accept {
                fd: 3,
                flags: crate::socket::SOCK_NONBLOCK,
            },
            Request::Shutdown { fd: 4, how: 1 },
            Request::Getpeername { fd: 4 },
            Request::Poll {
                fds: vec![(3, 1), (4, 5), (-1, 4)],
                timeout_ms: -1,
            },
            Request::Poll {
                fds: vec![],
                timeout_ms: 0,
            },
            Request::Fcntl {
                fd: 3,
                cmd: crate::socket::F_SETFL,
                arg: crate::socket::O_NONBLOCK,
            },
            Request::Export { fd: 7, pid: 4241 },
            Request::SetOwner { pid: 4242 },
            Request::ActAs { pid: 4243 },
            Request::SendUser {
                fd: 4,
                flags: 0x80,
                ptr: 0x7fff_0000_1000,
                len: 262_144,
            },
            Request::RecvfromUser {
                fd: 5,
                len: 65_536,
                flags: 0x40,
                ptr: 0x5555_0000_2000,
            },
        ]
    }

    #[test]
    fn requests_round_trip() {
        for r in all() {
            let b = r.to_bytes();
            assert_eq!(Request::from_bytes(&b).unwrap(), r);
            // Every strict prefix is rejected, and so is trailing garbage.
            for n in 0..b.len() {
                assert_eq!(
                    Request::from_bytes(&b[..n]),
                    Err(Errno::EINVAL),
                    "{r:?} {n}"
                );
            }
            let mut long = b.clone();
            long.push(0);
            assert_eq!(Request::from_bytes(&long), Err(Errno::EINVAL));
        }
        assert_eq!(Request::from_bytes(&[99, 0, 0, 0]), Err(Errno::EINVAL));
    }

    #[test]
    fn old_wire_format_is_unchanged() {
        // Tools built before the socket calls still talk to the kernel.
        assert_eq!(
            Request::Close { fd: 3 }.to_bytes(),
            vec![4, 0, 0, 0, 3, 0, 0, 0]
        );
        assert_eq!(
            Request::Getsockname { fd: 3 }.to_bytes(),
            vec![18, 0, 0, 0, 3, 0, 0, 0]
        );
    }

    #[test]
    fn poll_list_is_bounded() {
        let mut w = Writer::new();
        w.u32(T_POLL).i32(0).u32(u32::MAX);
        assert_eq!(Request::from_bytes(&w.finish()), Err(Errno::EINVAL));
        let fds = vec![(3, 1); crate::socket::POLL_MAX + 1];
        let b = Request::Poll { fds, timeout_ms: 0 }.to_bytes();
        assert_eq!(Request::from_bytes(&b), Err(Errno::EINVAL));
    }

    #[test]
    fn replies_and_frames() {
        let r = Reply {
            errno: 0,
            val: 7,
            data: vec![1, 2],
            addr: vec![3],
        };
        assert_eq!(Reply::from_bytes(&r.to_bytes()).unwrap(), r);
        let mut buf = Vec::new();
        write_frame(&mut buf, &r.to_bytes()).unwrap();
        let mut c = std::io::Cursor::new(buf);
        assert_eq!(read_frame(&mut c).unwrap().unwrap(), r.to_bytes());
        assert!(read_frame(&mut c).unwrap().is_none());
        let mut c = std::io::Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        assert!(read_frame(&mut c).is_err());
        assert_eq!(Reply::err(Errno::EBUSY).result(), Err(Errno::EBUSY));
    }

    #[test]
    fn frame_memory_grows_with_what_arrives() {
        // A header announcing MAX_FRAME and five bytes: the buffer must not
        // take the megabyte the header claims.
        let mut b = (MAX_FRAME as u32).to_le_bytes().to_vec();
        b.extend_from_slice(b"hello");
        let mut buf = Vec::new();
        let e = read_frame_into(&mut std::io::Cursor::new(b), &mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(buf.capacity() <= FRAME_CHUNK, "{}", buf.capacity());
        // A whole frame arriving a byte at a time: at most twice what came.
        struct Trickle(std::io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = b.len().min(1000);
                self.0.read(&mut b[..n])
            }
        }
        let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut f = Vec::new();
        write_frame(&mut f, &body).unwrap();
        let mut buf = Vec::new();
        assert!(read_frame_into(&mut Trickle(std::io::Cursor::new(f.clone())), &mut buf).unwrap());
        assert_eq!(buf, body);
        assert!(buf.capacity() <= body.len(), "{}", buf.capacity());
        // A reused buffer keeps its room; a short frame after a long one.
        let mut two = f.clone();
        write_frame(&mut two, b"abc").unwrap();
        let mut c = std::io::Cursor::new(two);
        assert!(read_frame_into(&mut c, &mut buf).unwrap());
        assert_eq!(buf, body);
        assert!(read_frame_into(&mut c, &mut buf).unwrap());
        assert_eq!(buf, b"abc");
        assert!(!read_frame_into(&mut c, &mut buf).unwrap());
        // The announced length caps it: nothing past MAX_FRAME.
        let mut c = std::io::Cursor::new(((MAX_FRAME + 1) as u32).to_le_bytes().to_vec());
        let e = read_frame_into(&mut c, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn kldstat_round_trip() {
        let k = KldStat {
            id: 1,
            refs: 3,
            address: 0xffff_ffff_8020_0000,
            size: 0x1000,
            name: "kernel".into(),
            modules: vec![(1, "if_lo".into())],
        };
        assert_eq!(KldStat::from_bytes(&k.to_bytes()).unwrap(), k);
    }
}
