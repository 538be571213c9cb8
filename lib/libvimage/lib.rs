//! The userland side of the syscall boundary: what libc is to a FreeBSD tool.
//!
//! A tool opens one [`Sys`] (a connection to the kernel's socket) and makes system
//! calls on it.  The kernel identifies the calling process by the socket's peer
//! credentials and decides which vimage it is in; nothing the tool sends can
//! change that.  Every call returns the kernel's FreeBSD errno on failure.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use vimage_abi::syscall::{read_frame, write_frame, KldStat, Reply, Request};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::*;
use vimage_abi::wire::Writer;
pub use vimage_abi::{errno::strerror, Errno};

/// Environment variable naming the kernel's socket.
pub const VIMAGE_SOCKET: &str = "VIMAGE_SOCKET";

/// The socket path tools and vkernel agree on: `$VIMAGE_SOCKET`, else
/// `/var/run/vimage/kernel.sock` for root, else `$XDG_RUNTIME_DIR/vimage/kernel.sock`
/// (or `/tmp/vimage-UID/kernel.sock` without XDG_RUNTIME_DIR).
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

/// `recv*(2)` flag: do not block (`MSG_DONTWAIT`); mirrors FreeBSD's `sys/socket.h`.
pub const MSG_DONTWAIT: i32 = 0x80;
/// Socket option level of the socket layer itself (`SOL_SOCKET`); mirrors FreeBSD's
/// `sys/socket.h`.
pub const SOL_SOCKET: i32 = 0xffff;
/// Socket option: receive timeout (`SO_RCVTIMEO`); mirrors FreeBSD's `sys/socket.h`.
/// Its value is a [`timeval_bytes`] image.
pub const SO_RCVTIMEO: i32 = 0x1006;

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

/// A connection to the kernel: the process's system call gate.
pub struct Sys {
    stream: UnixStream,
}

impl Sys {
    /// Connect to the kernel at [`socket_path`].
    pub fn open() -> io::Result<Sys> {
        let p = socket_path();
        let stream = UnixStream::connect(&p)?;
        Ok(Sys { stream })
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
        write_frame(&mut self.stream, &req.to_bytes()).map_err(|_| Errno::EIO)?;
        let b = read_frame(&mut self.stream)
            .map_err(|_| Errno::EIO)?
            .ok_or(Errno::EIO)?;
        Reply::from_bytes(&b)?.result()
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
    pub fn sendto(
        &mut self,
        fd: i32,
        data: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        let r = self.call(&Request::Sendto {
            fd,
            flags,
            addr: addr.map(<[u8]>::to_vec),
            data: data.to_vec(),
        })?;
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
        Ok(self.call(&Request::Getsockopt { fd, level, name })?.data)
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

    /// The raw stream, for tests that send malformed frames.
    pub fn stream(&mut self) -> &mut UnixStream {
        &mut self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_image() {
        let b = timeval_bytes(std::time::Duration::from_micros(2_500_001));
        assert_eq!(b.len(), 16);
        assert_eq!(&b[..8], &2i64.to_le_bytes());
        assert_eq!(&b[8..], &500_001i64.to_le_bytes());
        assert_eq!(timeval_bytes(std::time::Duration::ZERO), vec![0; 16]);
    }
}
