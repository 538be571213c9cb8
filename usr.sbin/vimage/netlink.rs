//! `AF_NETLINK`/`NETLINK_ROUTE` for captured programs, answered from the
//! vimage: glibc's `getifaddrs()`, `if_nameindex()` and
//! `getaddrinfo(AI_ADDRCONFIG)`, and iproute2's `ip addr|link|route`, see the
//! vimage's interfaces, addresses and routes, never the host's.
//!
//! ```text
//!  program                         supervisor
//!  fd 5 = AF_UNIX SOCK_SEQPACKET ◀─ADDFD─ pair ─▶ other end, polled by the netlink thread:
//!  send/write(request) ──────────────────────────▶ request ─▶ liblinux::netlink::respond
//!  recv/read/poll ◀────────────── reply datagrams ◀─ (vimage's interfaces and routes, via the door)
//!  bind/getsockname/recvmsg/… ──notify──▶ the hooks below (sockaddr_nl, options)
//! ```
//!
//! `socket(AF_NETLINK, SOCK_RAW|SOCK_DGRAM, NETLINK_ROUTE)` gives the program
//! one end of a host `SOCK_SEQPACKET` pair: datagram boundaries, truncation,
//! `poll`/`epoll`, `O_NONBLOCK`, `fork` and `close` all behave as on a
//! netlink socket with no notification.  One thread (started with the first
//! netlink socket) polls the supervisor's ends: each request datagram is
//! answered from the state of the vimage the socket was created in, and the
//! replies are written back without blocking; what does not fit waits in a
//! bounded queue (past [`QUEUE_MAX`] bytes replies are dropped and the next
//! notified receive answers `ENOBUFS`, as Linux's overrun).  An entry ends
//! when the program has closed its last descriptor of the socket (`POLLHUP`
//! on the supervisor's end).
//!
//! Descriptors are recognised by the inode of the program's end, checked
//! against its socket cookie (never reused) so that a recycled inode number
//! cannot pass for a netlink socket.  Every hook answers `None` for other
//! descriptors, and costs nothing while no netlink socket is open.
//!
//! Known differences from Linux: no multicast events are ever sent (group
//! memberships are recorded and listed, nothing more); the port id is
//! assigned at `socket()` (Linux assigns it at the first `bind`, `connect`
//! or send, so `getsockname` before any of them shows 0 there); a request
//! larger than 64 KiB fails with `EMSGSIZE` (the program end's send buffer
//! is sized for it); the `ENOBUFS` of an overrun is reported only to
//! notified receives (`recvmsg`, `recvfrom` with an address, `SO_ERROR`),
//! not to plain `recv`/`read`, and a plain `recv` with `MSG_TRUNC` returns
//! the bytes copied, not the datagram's length (`recvmsg` returns it);
//! socket filters (`SO_ATTACH_FILTER`) are accepted and not applied.
//! Answers are asynchronous: a plain `send` returns before the thread has
//! answered, so a program that reads with `MSG_DONTWAIT` right after its
//! request (musl's `getifaddrs`/`if_nameindex`: neither call is notified)
//! finds nothing yet and fails, where Linux answers inside the `send`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use liblinux::linux as l;
use libvimage::Sys;
use vimage_abi::net_if::IfInfo;
use vimage_abi::route::{RouteDump, RouteEntryInfo, NET_ROUTE_DUMP};
use vimage_abi::sysctl::SysctlValue;

use super::{is_nonblock, kerr, stat_of, Ans, Call, Supervisor, Vectored, R, SLICE_MS};
use crate::seccomp;

/// `sizeof(struct sockaddr_nl)`.
const SOCKADDR_NL_LEN: usize = 12;
/// Largest request datagram: the program end's `SO_SNDBUF` is set so that
/// a larger send fails with `EMSGSIZE` (`len > sk_sndbuf - 32`, the rule
/// netlink and `AF_UNIX` share; the kernel doubles the value set).
const MAX_REQUEST: usize = 64 * 1024;
/// The `SO_SNDBUF` value giving [`MAX_REQUEST`].
const SNDBUF_MAX: i32 = ((MAX_REQUEST + 32) / 2) as i32;
/// `NLMSG_GOODSIZE` on x86_64 (a page less `struct skb_shared_info`): the
/// size of reply datagrams until the program has received with a larger
/// buffer (glibc reads with 4096 bytes and fails on `MSG_TRUNC`).
const GOODSIZE: usize = 4096 - 320;
/// Linux caps its reply datagrams at `SKB_WITH_OVERHEAD(32768)`.
const MAX_REPLY: usize = 32768 - 320;
/// Reply bytes one socket may have waiting before its replies are dropped.
const QUEUE_MAX: usize = 4 << 20;
/// Reply bytes all sockets together may have waiting.
const TOTAL_MAX: usize = 64 << 20;
/// Most netlink sockets open at once under one supervisor (each holds a
/// descriptor here).
const MAX_SOCKS: usize = 512;
/// Requests served from one socket before the others get their turn.
const BURST: usize = 16;
/// Linux's first autobind port id after the process's own (`rover`).
const ROVER_START: i32 = -4096;

/// `SOL_NETLINK` options (`linux/netlink.h`).
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_PKTINFO: i32 = 3;
const NETLINK_BROADCAST_ERROR: i32 = 4;
const NETLINK_NO_ENOBUFS: i32 = 5;
const NETLINK_LISTEN_ALL_NSID: i32 = 8;
const NETLINK_LIST_MEMBERSHIPS: i32 = 9;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;
/// The on/off `SOL_NETLINK` options.
const NETLINK_FLAGS: &[i32] = &[
    NETLINK_PKTINFO,
    NETLINK_BROADCAST_ERROR,
    NETLINK_NO_ENOBUFS,
    NETLINK_LISTEN_ALL_NSID,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
];
/// Multicast groups a socket may join (`RTNLGRP_MAX` is below this).
const MAX_GROUPS: i32 = 64;

/// `SOL_SOCKET` options applied to the host pair as they are.
const PASSED: &[i32] = &[
    l::SO_RCVBUF,
    l::SO_RCVTIMEO_OLD,
    l::SO_SNDTIMEO_OLD,
    l::SO_RCVTIMEO_NEW,
    l::SO_SNDTIMEO_NEW,
];
/// `SOL_SOCKET` options Linux refuses to set (read-only).
const READ_ONLY: &[i32] = &[
    l::SO_TYPE,
    l::SO_ERROR,
    l::SO_PEERCRED,
    l::SO_ACCEPTCONN,
    l::SO_PROTOCOL,
    l::SO_DOMAIN,
    libc::SO_COOKIE,
    libc::SO_PEERSEC,
    libc::SO_PEERGROUPS,
];

/// One netlink socket.
struct Sock {
    /// Inode and socket cookie of the program's end.
    ino: u32,
    cookie: u64,
    /// The supervisor's end.
    srv: OwnedFd,
    /// `SOCK_RAW` or `SOCK_DGRAM`.
    ty: i32,
    /// A door connection working in the socket's vimage when that is not
    /// the supervisor's own (a nested vimage); `None`: the thread's own.
    vnet: Mutex<Option<Sys>>,
    st: Mutex<State>,
}

/// What changes.
#[derive(Default)]
struct State {
    /// Port id (`nl_pid`) and whether `bind`/`connect` fixed it.
    port: u32,
    bound: bool,
    /// Multicast groups (bit N-1: group N).
    groups: u64,
    /// `connect`ed destination (port, groups).
    dst: (u32, u32),
    /// `SOL_NETLINK` flags set (bit N: option N).
    flags: u32,
    passcred: bool,
    /// Other `SOL_SOCKET` options set, as Linux reads them back.
    opts: HashMap<i32, Vec<u8>>,
    /// Largest buffer a notified receive offered (Linux's `max_recvmsg_len`).
    max_recv: usize,
    /// Replies waiting for room, and their bytes.
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    /// Replies were dropped: the next notified receive says `ENOBUFS`.
    overrun: bool,
    /// The program shut its end for writing / reading.
    rd_closed: bool,
    wr_closed: bool,
}

impl State {
    fn flag(&self, opt: i32) -> bool {
        (0..32).contains(&opt) && self.flags & (1 << opt) != 0
    }
}

impl Sock {
    fn st(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sockets by the inode of the program's end, and the port ids in use.
struct Table {
    by_ino: HashMap<u32, Arc<Sock>>,
    ports: HashSet<u32>,
    rover: i32,
}

/// The netlink service of this supervisor.
struct Nl {
    door_path: PathBuf,
    tab: Mutex<Table>,
    /// An eventfd that wakes the thread when a socket is added.
    wake: OwnedFd,
    /// Sockets in the table (read without the lock by the hooks).
    live: AtomicUsize,
    /// Reply bytes queued over all sockets.
    queued: AtomicUsize,
}

static NL: OnceLock<Arc<Nl>> = OnceLock::new();
static NL_INIT: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The service, started on first use.
fn service(door_path: &std::path::Path) -> Result<&'static Arc<Nl>, i32> {
    if let Some(n) = NL.get() {
        return Ok(n);
    }
    let _g = lock(&NL_INIT);
    if let Some(n) = NL.get() {
        return Ok(n);
    }
    // SAFETY: eventfd creates a descriptor we own at once.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(errno());
    }
    // SAFETY: fresh descriptor.
    let wake = unsafe { OwnedFd::from_raw_fd(efd) };
    let nl = Arc::new(Nl {
        door_path: door_path.to_path_buf(),
        tab: Mutex::new(Table {
            by_ino: HashMap::new(),
            ports: HashSet::new(),
            rover: ROVER_START,
        }),
        wake,
        live: AtomicUsize::new(0),
        queued: AtomicUsize::new(0),
    });
    let me = nl.clone();
    std::thread::Builder::new()
        .name("netlink".into())
        .stack_size(256 * 1024)
        .spawn(move || me.serve())
        .map_err(|_| libc::ENOBUFS)?;
    Ok(NL.get_or_init(|| nl))
}

/// The netlink socket behind the program's descriptor `fd`, with a
/// duplicate of the descriptor; `None` for anything else.
fn find(c: &Call, fd: i32) -> Option<(OwnedFd, Arc<Sock>)> {
    let nl = NL.get()?;
    if nl.live.load(Ordering::Acquire) == 0 {
        return None;
    }
    let dup = seccomp::pidfd_getfd(c.pidfd.as_ref()?, fd).ok()?;
    let (is_sock, ino) = stat_of(dup.as_raw_fd())?;
    if !is_sock {
        return None;
    }
    let s = lock(&nl.tab).by_ino.get(&ino).cloned()?;
    (cookie(dup.as_raw_fd()) == Some(s.cookie)).then_some((dup, s))
}

fn cookie(fd: RawFd) -> Option<u64> {
    let mut v = 0u64;
    let mut len = 8 as libc::socklen_t;
    // SAFETY: getsockopt into a u64 of ours.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&mut v as *mut u64).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

fn set_int(fd: RawFd, level: i32, name: i32, v: i32) -> Result<(), i32> {
    set_raw(fd, level, name, &v.to_ne_bytes())
}

fn set_raw(fd: RawFd, level: i32, name: i32, v: &[u8]) -> Result<(), i32> {
    // SAFETY: setsockopt reading our buffer.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v.as_ptr().cast(),
            v.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn get_raw(fd: RawFd, level: i32, name: i32) -> Result<Vec<u8>, i32> {
    let mut b = [0u8; 64];
    let mut len = b.len() as libc::socklen_t;
    // SAFETY: getsockopt into our buffer.
    let r = unsafe { libc::getsockopt(fd, level, name, b.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        return Err(errno());
    }
    Ok(b[..(len as usize).min(b.len())].to_vec())
}

fn sockaddr_nl(pid: u32, groups: u32) -> [u8; SOCKADDR_NL_LEN] {
    let mut a = [0u8; SOCKADDR_NL_LEN];
    a[..2].copy_from_slice(&(l::AF_NETLINK as u16).to_le_bytes());
    a[4..8].copy_from_slice(&pid.to_le_bytes());
    a[8..12].copy_from_slice(&groups.to_le_bytes());
    a
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// `(pid, groups)` of the program's `sockaddr_nl` at `addr` (`len` bytes),
/// as Linux's `netlink_bind`/`netlink_sendmsg` check it.
fn read_nl(c: &Call, addr: u64, len: u64) -> Result<(u32, u32), i32> {
    if len > 128 {
        return Err(libc::EINVAL);
    }
    if (len as usize) < SOCKADDR_NL_LEN {
        return Err(libc::EINVAL);
    }
    let b = c.mem.read(addr, SOCKADDR_NL_LEN)?;
    if i32::from(u16::from_le_bytes([b[0], b[1]])) != l::AF_NETLINK {
        return Err(libc::EINVAL);
    }
    Ok((u32_at(&b, 4), u32_at(&b, 8)))
}

/// Copy out a socket address as Linux's `move_addr_to_user`: truncated to
/// `*lenp`, the full length stored in `*lenp`.
fn put_addr(c: &Call, a: &[u8], addr: u64, lenp: u64) -> Result<(), i32> {
    let room = c.mem.read_u32(lenp)? as i32;
    if room < 0 {
        return Err(libc::EINVAL);
    }
    if addr != 0 {
        c.mem.write(addr, &a[..a.len().min(room as usize)])?;
    }
    c.mem.write(lenp, &(a.len() as u32).to_le_bytes())
}

// ---- socket() ----

/// `socket(AF_NETLINK, ty, proto)`: a host `SOCK_SEQPACKET` pair, one end
/// injected into the program as the call's result.
pub(super) fn socket(sup: &Supervisor, c: &Call, ty: i32, proto: i32) -> R {
    if ty & !(0xf | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(libc::EINVAL);
    }
    let base = ty & 0xf;
    if base >= 11 {
        return Err(libc::EINVAL);
    }
    if base != libc::SOCK_RAW && base != libc::SOCK_DGRAM {
        return Err(libc::ESOCKTNOSUPPORT);
    }
    if proto != l::NETLINK_ROUTE {
        return Err(libc::EPROTONOSUPPORT);
    }
    let nl = service(&sup.door_path)?;
    if nl.live.load(Ordering::Acquire) >= MAX_SOCKS {
        return Err(libc::ENOBUFS);
    }
    // Which vimage: the caller's (a nested vimage keeps its own connection).
    let vnet = {
        let mut d = sup.door_in(c)?;
        if d.keep {
            None
        } else {
            d.s.take()
        }
    };
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair fills two descriptors we own at once.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(errno());
    }
    // SAFETY: fresh descriptors.
    let (prog, srv) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    super::set_nonblock(srv.as_raw_fd(), true);
    set_int(
        prog.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        SNDBUF_MAX,
    )?;
    if ty & libc::SOCK_NONBLOCK != 0 {
        super::set_nonblock(prog.as_raw_fd(), true);
    }
    let (Some((_, ino)), Some(cookie)) = (stat_of(prog.as_raw_fd()), cookie(prog.as_raw_fd()))
    else {
        return Err(libc::EIO);
    };
    let s = Arc::new(Sock {
        ino,
        cookie,
        srv,
        ty: base,
        vnet: Mutex::new(vnet),
        st: Mutex::new(State::default()),
    });
    nl.add(&s, c.tgid);
    // The thread polls the new end from now on; when the injection fails the
    // program's end closes with `prog` and the thread sees the hang-up.
    nl.kick();
    c.lis
        .add_fd(c.n.id, &prog, ty & libc::SOCK_CLOEXEC != 0, None, true)
        .map(|_| Ans::Done)
}

impl Nl {
    /// Enter `s` with a port id: the process's own pid if free (Linux's
    /// autobind), else the next of the negative ones.
    fn add(&self, s: &Arc<Sock>, tgid: u32) {
        let mut t = lock(&self.tab);
        if let Some(old) = t.by_ino.remove(&s.ino) {
            // A stale entry under a recycled inode number.
            let st = old.st();
            t.ports.remove(&st.port);
            self.queued.fetch_sub(st.queued, Ordering::AcqRel);
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        let port = if tgid != 0 && !t.ports.contains(&tgid) {
            tgid
        } else {
            loop {
                let p = t.rover as u32;
                t.rover = if t.rover <= i32::MIN + 1 {
                    ROVER_START
                } else {
                    t.rover - 1
                };
                if !t.ports.contains(&p) {
                    break p;
                }
            }
        };
        t.ports.insert(port);
        s.st().port = port;
        t.by_ino.insert(s.ino, s.clone());
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    fn remove(&self, s: &Arc<Sock>) {
        let mut t = lock(&self.tab);
        if !t.by_ino.get(&s.ino).is_some_and(|x| Arc::ptr_eq(x, s)) {
            return;
        }
        t.by_ino.remove(&s.ino);
        let mut st = s.st();
        t.ports.remove(&st.port);
        self.queued.fetch_sub(st.queued, Ordering::AcqRel);
        st.queued = 0;
        st.queue.clear();
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    fn kick(&self) {
        let one = 1u64;
        // SAFETY: an eventfd write of 8 bytes from our buffer.
        unsafe {
            libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    // ---- the thread ----

    fn serve(self: Arc<Self>) {
        let mut home: Option<Sys> = None;
        let mut buf = vec![0u8; MAX_REQUEST];
        loop {
            let socks: Vec<Arc<Sock>> = lock(&self.tab).by_ino.values().cloned().collect();
            let mut pfds = Vec::with_capacity(socks.len() + 1);
            pfds.push(libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            for s in &socks {
                let st = s.st();
                let mut ev = 0;
                if !st.rd_closed {
                    ev |= libc::POLLIN | libc::POLLRDHUP;
                }
                if !st.queue.is_empty() {
                    ev |= libc::POLLOUT;
                }
                pfds.push(libc::pollfd {
                    fd: s.srv.as_raw_fd(),
                    events: ev,
                    revents: 0,
                });
            }
            // SAFETY: poll over our vector of pollfds.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                // Nothing sensible left to do but not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if pfds[0].revents != 0 {
                let mut v = 0u64;
                // SAFETY: an eventfd read into our u64.
                unsafe {
                    libc::read(self.wake.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
                }
            }
            for (s, p) in socks.iter().zip(&pfds[1..]) {
                let re = p.revents;
                if re == 0 {
                    continue;
                }
                if re & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    // The program closed its last descriptor.
                    self.remove(s);
                    continue;
                }
                if re & libc::POLLOUT != 0 {
                    self.flush(s);
                }
                if re & libc::POLLIN != 0 {
                    self.requests(s, &mut buf, &mut home);
                }
                if re & libc::POLLRDHUP != 0 {
                    // shutdown(SHUT_WR) by the program: no more requests.
                    s.st().rd_closed = true;
                }
            }
        }
    }

    /// Serve up to [`BURST`] waiting requests of `s`.
    fn requests(&self, s: &Arc<Sock>, buf: &mut [u8], home: &mut Option<Sys>) {
        for _ in 0..BURST {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: a zeroed msghdr over our buffer, no control data (any
            // descriptors sent along are closed by the kernel).
            let (n, mflags) = unsafe {
                let mut m: libc::msghdr = std::mem::zeroed();
                m.msg_iov = &mut iov;
                m.msg_iovlen = 1;
                (
                    libc::recvmsg(s.srv.as_raw_fd(), &mut m, libc::MSG_DONTWAIT),
                    m.msg_flags,
                )
            };
            if n < 0 {
                match errno() {
                    libc::EAGAIN | libc::EINTR => return,
                    _ => {
                        self.remove(s);
                        return;
                    }
                }
            }
            let n = n as usize;
            if n == 0 {
                // An empty datagram, or the end (seen as POLLRDHUP/POLLHUP).
                continue;
            }
            if mflags & libc::MSG_TRUNC != 0 {
                // Cannot happen with the send buffer we set; never answer
                // half a request.
                continue;
            }
            self.answer(s, &buf[..n], home);
        }
    }

    /// Answer request datagram `req` of `s`, one message at a time (each
    /// reply in datagrams of its own, as Linux's), until the socket's queue
    /// is full: a datagram of many dump requests cannot make the
    /// supervisor build more than the queue holds.
    fn answer(&self, s: &Arc<Sock>, req: &[u8], home: &mut Option<Sys>) {
        let (port, size) = {
            let st = s.st();
            (st.port, GOODSIZE.max(st.max_recv.min(MAX_REPLY)))
        };
        let (serve, routes) = wants(req);
        let state = serve.then(|| self.state(s, routes, home));
        for m in liblinux::netlink::messages(req) {
            if self.full(s) {
                let mut st = s.st();
                if !st.flag(NETLINK_NO_ENOBUFS) {
                    st.overrun = true;
                }
                break;
            }
            let msgs = match &state {
                Some(Ok((ifs, rts))) => liblinux::netlink::respond(m, ifs, rts, port),
                Some(Err(e)) => liblinux::netlink::refuse(m, port, *e),
                None => liblinux::netlink::respond(m, &[], &[], port),
            };
            if !msgs.is_empty() {
                self.enqueue(s, liblinux::netlink::batch(&msgs, size));
            }
        }
        self.flush(s);
    }

    /// Whether `s` (or the whole service) has no room for more replies.
    fn full(&self, s: &Sock) -> bool {
        s.st().queued >= QUEUE_MAX || self.queued.load(Ordering::Acquire) >= TOTAL_MAX
    }

    /// The vimage's interfaces (and routes if asked) for socket `s`.
    fn state(
        &self,
        s: &Sock,
        routes: bool,
        home: &mut Option<Sys>,
    ) -> Result<(Vec<IfInfo>, Vec<RouteEntryInfo>), i32> {
        {
            let mut v = lock(&s.vnet);
            if let Some(sys) = v.as_mut() {
                return fetch(sys, routes);
            }
        }
        for attempt in 0..2 {
            if home.is_none() {
                *home = Some(Sys::connect_at(&self.door_path).map_err(|_| libc::ENETDOWN)?);
            }
            let Some(sys) = home.as_mut() else {
                return Err(libc::ENETDOWN);
            };
            match fetch(sys, routes) {
                // A broken connection (the kernel restarted): once more.
                Err(libc::EIO) if attempt == 0 => *home = None,
                r => return r,
            }
        }
        Err(libc::ENETDOWN)
    }

    /// Queue `dgrams` for `s`, dropping (and marking an overrun) past the
    /// bounds.
    fn enqueue(&self, s: &Sock, dgrams: Vec<Vec<u8>>) {
        let mut st = s.st();
        if st.wr_closed {
            return;
        }
        for d in dgrams {
            let total = self.queued.load(Ordering::Acquire);
            if st.queued + d.len() > QUEUE_MAX || total + d.len() > TOTAL_MAX {
                if !st.flag(NETLINK_NO_ENOBUFS) {
                    st.overrun = true;
                }
                continue;
            }
            st.queued += d.len();
            self.queued.fetch_add(d.len(), Ordering::AcqRel);
            st.queue.push_back(d);
        }
    }

    /// Write what fits of `s`'s queue.
    fn flush(&self, s: &Sock) {
        let mut st = s.st();
        while let Some(d) = st.queue.front() {
            // SAFETY: send from our buffer, never blocking.
            let n = unsafe {
                libc::send(
                    s.srv.as_raw_fd(),
                    d.as_ptr().cast(),
                    d.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            let e = if n < 0 { errno() } else { 0 };
            if e == libc::EAGAIN || e == libc::EINTR {
                return;
            }
            let len = d.len();
            st.queue.pop_front();
            st.queued -= len;
            self.queued.fetch_sub(len, Ordering::AcqRel);
            match e {
                0 => {}
                libc::EMSGSIZE | libc::ENOBUFS | libc::ENOMEM => {
                    if !st.flag(NETLINK_NO_ENOBUFS) {
                        st.overrun = true;
                    }
                }
                _ => {
                    // The program shut its end for reading: nobody will
                    // read what is queued.
                    st.wr_closed = true;
                    let rest = st.queued;
                    st.queue.clear();
                    st.queued = 0;
                    self.queued.fetch_sub(rest, Ordering::AcqRel);
                    return;
                }
            }
        }
    }
}

/// Whether `req` holds a message the responder serves from the vimage's
/// state, and whether one is a route dump (the routes are read only then).
fn wants(req: &[u8]) -> (bool, bool) {
    let (mut serve, mut routes) = (false, false);
    for m in liblinux::netlink::messages(req) {
        let ty = u16::from_le_bytes([m[4], m[5]]);
        let flags = u16::from_le_bytes([m[6], m[7]]);
        if flags & l::NLM_F_REQUEST != 0 && ty >= l::NLMSG_MIN_TYPE && m.len() > l::NLMSG_HDRLEN {
            serve = true;
            routes |= ty == l::RTM_GETROUTE;
        }
    }
    (serve, routes)
}

/// Read the vimage's interfaces (and routes) through `sys`.
fn fetch(sys: &mut Sys, routes: bool) -> Result<(Vec<IfInfo>, Vec<RouteEntryInfo>), i32> {
    let ifs = match sys.sysctl("net.link.iflist").map_err(kerr)?.value {
        SysctlValue::Opaque(_, b) => IfInfo::decode_list(&b).map_err(|_| libc::EIO)?,
        _ => return Err(libc::EIO),
    };
    let rts = if routes {
        match sys.sysctl(NET_ROUTE_DUMP).map_err(kerr)?.value {
            SysctlValue::Opaque(_, b) => RouteDump::from_bytes(&b).map_err(|_| libc::EIO)?.routes,
            _ => return Err(libc::EIO),
        }
    } else {
        Vec::new()
    };
    Ok((ifs, rts))
}

// ---- the hooks ----

/// `bind(fd, sockaddr_nl)`: fixes the port id (0: keep the one assigned)
/// and records the multicast groups.
pub(super) fn bind(c: &Call, fd: i32, addr: u64, len: u64) -> Option<R> {
    let (_, s) = find(c, fd)?;
    Some(bind_on(c, &s, addr, len))
}

fn bind_on(c: &Call, s: &Sock, addr: u64, len: u64) -> R {
    let (pid, groups) = read_nl(c, addr, len)?;
    let nl = NL.get().ok_or(libc::EBADF)?;
    let mut t = lock(&nl.tab);
    let mut st = s.st();
    if st.bound {
        if pid != st.port {
            return Err(libc::EINVAL);
        }
    } else {
        if pid != 0 && pid != st.port {
            if t.ports.contains(&pid) {
                return Err(libc::EADDRINUSE);
            }
            t.ports.remove(&st.port);
            t.ports.insert(pid);
            st.port = pid;
        }
        st.bound = true;
    }
    st.groups = (st.groups & !0xffff_ffff) | u64::from(groups);
    Ok(Ans::Ret(0))
}

/// `connect(fd, sockaddr_nl)`: records the destination (`AF_UNSPEC`
/// forgets it); requests still go to the responder.
pub(super) fn connect(c: &Call, fd: i32, addr: u64, len: u64) -> Option<R> {
    let (_, s) = find(c, fd)?;
    Some((|| {
        if !(2..=128).contains(&len) {
            return Err(libc::EINVAL);
        }
        let b = c.mem.read(addr, 2)?;
        if i32::from(u16::from_le_bytes([b[0], b[1]])) == l::AF_UNSPEC {
            s.st().dst = (0, 0);
            return Ok(Ans::Ret(0));
        }
        let (pid, groups) = read_nl(c, addr, len)?;
        let mut st = s.st();
        st.dst = (pid, groups & groups.wrapping_neg());
        st.bound = true;
        Ok(Ans::Ret(0))
    })())
}

/// `getsockname`/`getpeername`: `sockaddr_nl` with the port id and groups
/// (the peer: the kernel, port 0, unless connected elsewhere).
pub(super) fn name(c: &Call, fd: i32, addr: u64, lenp: u64, peer: bool) -> Option<R> {
    let (_, s) = find(c, fd)?;
    Some((|| {
        if lenp == 0 {
            return Err(libc::EFAULT);
        }
        let a = {
            let st = s.st();
            if peer {
                sockaddr_nl(st.dst.0, st.dst.1)
            } else {
                sockaddr_nl(st.port, st.groups as u32)
            }
        };
        put_addr(c, &a, addr, lenp)?;
        Ok(Ans::Ret(0))
    })())
}

/// `sendto` with an address: checked as Linux's `netlink_sendmsg` does,
/// then the host sends on the program's own pair end (a `SOCK_SEQPACKET`
/// socket ignores the address), in order with plain `send`s.
pub(super) fn sendto(c: &Call, fd: i32, flags: i32, addr: u64, alen: u32) -> Option<R> {
    let (_, _s) = find(c, fd)?;
    Some(check_send(c, flags, addr, u64::from(alen)))
}

fn check_send(c: &Call, flags: i32, addr: u64, alen: u64) -> R {
    if flags & l::MSG_OOB != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    if addr != 0 && alen != 0 {
        let (pid, _groups) = read_nl(c, addr, alen)?;
        if pid != 0 {
            // No other netlink socket is reachable from here (Linux:
            // ECONNREFUSED when no socket has that port id).
            return Err(libc::ECONNREFUSED);
        }
    }
    Ok(Ans::Cont)
}

/// `sendmsg`: as [`sendto`], the data moving on the host pair.
pub(super) fn sendmsg(c: &Call, fd: i32, msg: u64, flags: i32) -> Option<R> {
    let (_, _s) = find(c, fd)?;
    Some((|| {
        let h = c.mem.read(msg, 56)?;
        check_send(c, flags, u64_at(&h, 0), u64::from(u32_at(&h, 8)))
    })())
}

/// `recvfrom` with an address: one datagram, the source `sockaddr_nl` of
/// the kernel.  Returns (length, truncated) as `sys_recv` does.
#[allow(clippy::too_many_arguments)]
pub(super) fn recvfrom(
    c: &Call,
    fd: i32,
    v: &Vectored,
    flags: i32,
    addr: u64,
    lenp: u64,
    namelen_at: Option<(u64, u32)>,
) -> Option<Result<(usize, bool), i32>> {
    if namelen_at.is_some() {
        // recvmsg: served by its own hook.
        return None;
    }
    let (dup, s) = find(c, fd)?;
    Some((|| {
        let got = recv_on(c, &dup, &s, v, flags)?;
        if addr != 0 {
            put_addr(c, &sockaddr_nl(0, 0), addr, lenp)?;
        }
        Ok((got.len, got.flags & libc::MSG_TRUNC != 0))
    })())
}

/// `recvmsg`: one datagram, `msg_name` the kernel's `sockaddr_nl`, the
/// control data Linux would give (`NETLINK_PKTINFO`, `SCM_CREDENTIALS`
/// with `SO_PASSCRED`), `msg_flags`.
pub(super) fn recvmsg(c: &Call, fd: i32, msg: u64, flags: i32) -> Option<R> {
    let (dup, s) = find(c, fd)?;
    Some(recvmsg_on(c, &dup, &s, msg, flags).map(|n| Ans::Ret(n as i64)))
}

/// `recvmmsg`: [`recvmsg`] for each header, waiting only for the first
/// (as the supervisor's `recvmmsg` for other sockets).
pub(super) fn recvmmsg(c: &Call, fd: i32, vec: u64, vlen: u32, flags: i32) -> Option<R> {
    let (dup, s) = find(c, fd)?;
    Some((|| {
        let mut got = 0u32;
        for i in 0..vlen.min(1024) {
            let m = vec + u64::from(i) * 64;
            let f = if got > 0 {
                flags | libc::MSG_DONTWAIT
            } else {
                flags
            };
            match recvmsg_on(c, &dup, &s, m, f & !libc::MSG_WAITFORONE) {
                Ok(n) => {
                    c.mem.write(m + 56, &(n as u32).to_le_bytes())?;
                    got += 1;
                }
                Err(x) if got == 0 => return Err(x),
                Err(_) => break,
            }
        }
        Ok(Ans::Ret(i64::from(got)))
    })())
}

/// What one receive got.
struct Got {
    /// The call's result (the full length with `MSG_TRUNC`).
    len: usize,
    /// `MSG_TRUNC` when the datagram did not fit.
    flags: i32,
}

fn recvmsg_on(c: &Call, dup: &OwnedFd, s: &Sock, msg: u64, flags: i32) -> Result<usize, i32> {
    let h = c.mem.read(msg, 56)?;
    let name = u64_at(&h, 0);
    let namelen = u32_at(&h, 8) as i32;
    let (iov, iovlen) = (u64_at(&h, 16), u64_at(&h, 24));
    let (control, controllen) = (u64_at(&h, 32), u64_at(&h, 40));
    if namelen < 0 {
        return Err(libc::EINVAL);
    }
    let v = Vectored::read(&c.mem, iov, iovlen)?;
    let got = recv_on(c, dup, s, &v, flags)?;
    if name != 0 && namelen > 0 {
        let a = sockaddr_nl(0, 0);
        c.mem
            .write(name, &a[..SOCKADDR_NL_LEN.min(namelen as usize)])?;
        c.mem
            .write(msg + 8, &(SOCKADDR_NL_LEN as u32).to_le_bytes())?;
    }
    let (passcred, pktinfo) = {
        let st = s.st();
        (st.passcred, st.flag(NETLINK_PKTINFO))
    };
    let mut cms: Vec<Vec<u8>> = Vec::new();
    if pktinfo {
        // struct nl_pktinfo { group }: 0, a unicast reply.
        cms.push(cmsg(l::SOL_NETLINK, NETLINK_PKTINFO, &0u32.to_le_bytes()));
    }
    if passcred {
        // struct ucred of the kernel: pid 0, uid 0, gid 0.
        cms.push(cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[0u8; 12]));
    }
    let mut mflags = got.flags;
    let mut used = 0usize;
    let room = if control == 0 { 0 } else { controllen as usize };
    for cm in &cms {
        // The last one needs only CMSG_LEN bytes, as put_cmsg.
        let need = u64_at(cm, 0) as usize;
        if used + need > room {
            mflags |= libc::MSG_CTRUNC;
            break;
        }
        let take = cm.len().min(room - used);
        c.mem.write(control + used as u64, &cm[..take])?;
        used += take;
    }
    c.mem.write(msg + 40, &(used as u64).to_le_bytes())?;
    c.mem.write(msg + 48, &mflags.to_le_bytes())?;
    Ok(got.len)
}

/// A control message (x86_64 `cmsghdr`) padded to `CMSG_SPACE`.
fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
    let len = 16 + data.len();
    let mut b = Vec::with_capacity((len + 7) & !7);
    b.extend_from_slice(&(len as u64).to_le_bytes());
    b.extend_from_slice(&level.to_le_bytes());
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(data);
    b.resize((len + 7) & !7, 0);
    b
}

/// One datagram from the program's end (`dup`) into `v`, waiting as the
/// descriptor, `MSG_DONTWAIT` and `SO_RCVTIMEO` say.
fn recv_on(c: &Call, dup: &OwnedFd, s: &Sock, v: &Vectored, flags: i32) -> Result<Got, i32> {
    if flags & l::MSG_OOB != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let cap = v.total().min(seccomp::MAX_COPY);
    {
        let mut st = s.st();
        st.max_recv = st.max_recv.max(cap);
        if std::mem::take(&mut st.overrun) {
            return Err(libc::ENOBUFS);
        }
    }
    let fd = dup.as_raw_fd();
    let nonblock = flags & libc::MSG_DONTWAIT != 0 || is_nonblock(fd);
    let deadline = if nonblock {
        None
    } else {
        rcvtimeo(fd).map(|d| Instant::now() + d)
    };
    // Room for any datagram the thread writes, so that the full length is
    // known (an AF_UNIX socket does not return it for MSG_TRUNC).
    let mut buf = vec![0u8; cap.max(MAX_REQUEST)];
    loop {
        // SAFETY: recv into our buffer.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | (flags & libc::MSG_PEEK),
            )
        };
        if n >= 0 {
            let n = n as usize;
            if !c.lis.valid(c.n.id) {
                return Err(libc::EINTR);
            }
            v.scatter(&c.mem, &buf[..n.min(cap)])?;
            let trunc = n > cap;
            return Ok(Got {
                len: if trunc && flags & libc::MSG_TRUNC == 0 {
                    cap
                } else {
                    n
                },
                flags: if trunc { libc::MSG_TRUNC } else { 0 },
            });
        }
        let e = errno();
        if e != libc::EAGAIN || nonblock {
            return Err(e);
        }
        // Wait in slices while the call is pending.
        loop {
            let mut slice = SLICE_MS;
            if let Some(dl) = deadline {
                let left = dl.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(libc::EAGAIN);
                }
                slice = slice.min(left.as_millis().max(1) as i32);
            }
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut p, 1, slice) } > 0 {
                break;
            }
            if !c.lis.valid(c.n.id) {
                return Err(libc::EINTR);
            }
        }
    }
}

/// `SO_RCVTIMEO` of the program's end (`None`: wait forever).
fn rcvtimeo(fd: RawFd) -> Option<Duration> {
    let b = get_raw(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO).ok()?;
    if b.len() < 16 {
        return None;
    }
    let secs = u64_at(&b, 0);
    let usecs = u64_at(&b, 8);
    let d = Duration::from_secs(secs) + Duration::from_micros(usecs);
    (!d.is_zero()).then_some(d)
}

/// `setsockopt`: `SOL_NETLINK` options recorded, socket buffers and
/// timeouts applied to the host pair, other `SOL_SOCKET` options recorded.
pub(super) fn setsockopt(
    c: &Call,
    fd: i32,
    level: i32,
    name: i32,
    val: u64,
    len: u64,
) -> Option<R> {
    let (dup, s) = find(c, fd)?;
    Some(setsockopt_on(c, &dup, &s, level, name, val, len))
}

#[allow(clippy::too_many_arguments)]
fn setsockopt_on(
    c: &Call,
    dup: &OwnedFd,
    s: &Sock,
    level: i32,
    name: i32,
    val: u64,
    len: u64,
) -> R {
    if len > i32::MAX as u64 {
        return Err(libc::EINVAL);
    }
    let int = |need: bool| -> Result<i32, i32> {
        if len < 4 {
            return if need { Err(libc::EINVAL) } else { Ok(0) };
        }
        Ok(c.mem.read_u32(val)? as i32)
    };
    match level {
        l::SOL_NETLINK => {
            let v = int(false)?;
            let mut st = s.st();
            match name {
                NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP => {
                    if !(1..=MAX_GROUPS).contains(&v) {
                        return Err(libc::EINVAL);
                    }
                    let bit = 1u64 << (v - 1);
                    if name == NETLINK_ADD_MEMBERSHIP {
                        st.groups |= bit;
                    } else {
                        st.groups &= !bit;
                    }
                }
                n if NETLINK_FLAGS.contains(&n) => {
                    if v != 0 {
                        st.flags |= 1 << n;
                    } else {
                        st.flags &= !(1 << n);
                    }
                }
                _ => return Err(libc::ENOPROTOOPT),
            }
            Ok(Ans::Ret(0))
        }
        l::SOL_SOCKET => {
            let fd = dup.as_raw_fd();
            match name {
                l::SO_SNDBUF | l::SO_SNDBUFFORCE => {
                    let v = int(true)?;
                    let v = if (0..=SNDBUF_MAX).contains(&v) {
                        v
                    } else {
                        SNDBUF_MAX
                    };
                    set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v)?;
                }
                l::SO_RCVBUFFORCE => {
                    let v = int(true)?;
                    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v)?;
                }
                n if PASSED.contains(&n) => {
                    let b = c.mem.read(val, (len as usize).min(64))?;
                    set_raw(fd, libc::SOL_SOCKET, n, &b)?;
                }
                l::SO_PASSCRED => s.st().passcred = int(true)? != 0,
                n if READ_ONLY.contains(&n) => return Err(libc::ENOPROTOOPT),
                n => {
                    // Accepted and kept for getsockopt, without effect here
                    // (no route to any network from this socket).
                    let b = c.mem.read(val, (len as usize).min(64))?;
                    if b.len() < 4 {
                        return Err(libc::EINVAL);
                    }
                    s.st().opts.insert(n, b);
                }
            }
            Ok(Ans::Ret(0))
        }
        _ => Err(libc::ENOPROTOOPT),
    }
}

/// `getsockopt`: the socket's identity (`SO_TYPE`, `SO_DOMAIN`,
/// `SO_PROTOCOL`), a pending overrun (`SO_ERROR`), buffers from the host
/// pair, `SOL_NETLINK` flags and memberships.
pub(super) fn getsockopt(
    c: &Call,
    fd: i32,
    level: i32,
    name: i32,
    val: u64,
    lenp: u64,
) -> Option<R> {
    let (dup, s) = find(c, fd)?;
    Some((|| {
        let room = c.mem.read_u32(lenp)? as i32;
        if room < 0 {
            return Err(libc::EINVAL);
        }
        let int = |v: i32| v.to_le_bytes().to_vec();
        let out = match level {
            l::SOL_NETLINK => {
                let st = s.st();
                match name {
                    NETLINK_LIST_MEMBERSHIPS => {
                        // As many 32-bit words as fit; the length needed.
                        let words = (room as usize / 4).min(2);
                        c.mem.write(val, &st.groups.to_le_bytes()[..words * 4])?;
                        c.mem.write(lenp, &8u32.to_le_bytes())?;
                        return Ok(Ans::Ret(0));
                    }
                    n if NETLINK_FLAGS.contains(&n) => {
                        if room < 4 {
                            return Err(libc::EINVAL);
                        }
                        int(i32::from(st.flag(n)))
                    }
                    _ => return Err(libc::ENOPROTOOPT),
                }
            }
            l::SOL_SOCKET => match name {
                l::SO_TYPE => int(s.ty),
                l::SO_DOMAIN => int(l::AF_NETLINK),
                l::SO_PROTOCOL => int(l::NETLINK_ROUTE),
                l::SO_ERROR => int(if std::mem::take(&mut s.st().overrun) {
                    libc::ENOBUFS
                } else {
                    0
                }),
                l::SO_PASSCRED => int(i32::from(s.st().passcred)),
                l::SO_ACCEPTCONN => int(0),
                l::SO_PEERCRED => {
                    // No peer process: pid 0, uid and gid -1 (Linux's
                    // cred_to_ucred without credentials).
                    let mut b = 0i32.to_le_bytes().to_vec();
                    b.extend_from_slice(&(-1i32).to_le_bytes());
                    b.extend_from_slice(&(-1i32).to_le_bytes());
                    b
                }
                n => match s.st().opts.get(&n) {
                    Some(b) => b.clone(),
                    None => get_raw(dup.as_raw_fd(), libc::SOL_SOCKET, n)?,
                },
            },
            _ => return Err(libc::ENOPROTOOPT),
        };
        let n = out.len().min(room as usize);
        c.mem.write(val, &out[..n])?;
        c.mem.write(lenp, &(n as u32).to_le_bytes())?;
        Ok(Ans::Ret(0))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = ((16 + payload.len()) as u32).to_le_bytes().to_vec();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(payload);
        b.resize((b.len() + 3) & !3, 0);
        b
    }

    #[test]
    fn what_a_request_needs() {
        let dump = l::NLM_F_REQUEST | l::NLM_F_DUMP;
        assert_eq!(wants(&msg(l::RTM_GETLINK, dump, &[0])), (true, false));
        let mut two = msg(l::RTM_GETADDR, dump, &[0]);
        two.extend(msg(l::RTM_GETROUTE, dump, &[0]));
        assert_eq!(wants(&two), (true, true));
        // Garbage, no request flag, control messages, empty payloads.
        assert_eq!(wants(&[0xff; 40]), (false, false));
        assert_eq!(
            wants(&msg(l::RTM_GETLINK, l::NLM_F_DUMP, &[0])),
            (false, false)
        );
        assert_eq!(wants(&msg(l::NLMSG_NOOP, dump, &[0])), (false, false));
        assert_eq!(wants(&msg(l::RTM_GETLINK, dump, &[])), (false, false));
        let mut lie = msg(l::RTM_GETROUTE, dump, &[0]);
        lie[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(wants(&lie), (false, false));
        assert_eq!(wants(&[]), (false, false));
    }

    #[test]
    fn addresses_and_control_messages() {
        let a = sockaddr_nl(0x1234, 5);
        assert_eq!(a, [16, 0, 0, 0, 0x34, 0x12, 0, 0, 5, 0, 0, 0]);
        let c = cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[0; 12]);
        assert_eq!(c.len(), 32);
        assert_eq!(u64_at(&c, 0), 28);
        assert_eq!(u32_at(&c, 8), 1);
        assert_eq!(u32_at(&c, 12), 2);
        let p = cmsg(l::SOL_NETLINK, NETLINK_PKTINFO, &[0; 4]);
        assert_eq!((p.len(), u64_at(&p, 0)), (24, 20));
    }

    #[test]
    fn limits_are_consistent() {
        // The send buffer set gives exactly the largest request.
        assert_eq!(SNDBUF_MAX as usize * 2 - 32, MAX_REQUEST);
        const { assert!(GOODSIZE < 4096 && MAX_REPLY < 32768) };
        const { assert!(QUEUE_MAX < TOTAL_MAX) };
    }
}
