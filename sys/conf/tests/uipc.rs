//! Socket system call tests through the syscall door: per-process descriptor
//! tables, poll, non-blocking mode, generic options, shutdown, `kern.file`,
//! interrupted waits, and timeouts that follow the kernel's (fake) clock, on
//! UDP and TCP sockets over lo0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vimage_abi::netinet_in::{SockaddrIn, INADDR_LOOPBACK};
use vimage_abi::socket::*;
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::Errno;

use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_syscall::{test_lock, Kernel, KernelConfig, Td};
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::vnet::CurvnetGuard;

struct T {
    k: Arc<Kernel>,
    /// The kernel's clock: kernel time moves only when a test advances it.
    clock: Arc<FakeClock>,
}

impl Drop for T {
    fn drop(&mut self) {
        self.k.shutdown();
    }
}

fn boot() -> T {
    let clock = Arc::new(FakeClock::new(1_000_000_000));
    let k = vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: "VIMAGE".into(),
        version: "test".into(),
        clock: clock.clone(),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
    {
        let _cv = CurvnetGuard::set(&k.vimage0().vnet);
        let lo = vimage_net::r#if::ifunit("lo0").expect("lo0");
        vimage_inet::r#in::in_aifaddr(&lo, INADDR_LOOPBACK, None, None).expect("127.0.0.1");
    }
    T { k, clock }
}

/// Nanoseconds in a millisecond and in a second of kernel time.
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// Run `f` in another thread (a blocking call), and check that it is still
/// blocked after a while of real time: kernel time has not moved, so no
/// timeout can have passed.
fn blocked<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    let h = std::thread::spawn(f);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!h.is_finished(), "returned before kernel time moved");
    h
}

/// Advance `clock` by `ns` and wait for `h` to return: promptly in real
/// time, however long the kernel time it waited for.
fn advance_and_join<R>(clock: &FakeClock, ns: u64, h: std::thread::JoinHandle<R>) -> R {
    let t0 = Instant::now();
    clock.advance(ns);
    let r = h.join().expect("the blocked call panicked");
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "woke {:?} after the clock passed its deadline",
        t0.elapsed()
    );
    r
}

fn set_timeo(k: &Arc<Kernel>, td: &mut Td, fd: i32, name: i32, secs: i64) {
    let mut tv = secs.to_le_bytes().to_vec();
    tv.extend_from_slice(&0i64.to_le_bytes());
    call(
        k,
        td,
        Request::Setsockopt {
            fd,
            level: SOL_SOCKET,
            name,
            val: tv,
        },
    )
    .expect("setsockopt timeout");
}

fn call(k: &Arc<Kernel>, td: &mut Td, r: Request) -> Result<Reply, Errno> {
    k.syscall(td, r).result()
}

fn udp(k: &Arc<Kernel>, td: &mut Td, port: u16) -> i32 {
    let fd = call(
        k,
        td,
        Request::Socket {
            domain: 2,
            ty: 2,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    if port != 0 {
        call(
            k,
            td,
            Request::Bind {
                fd,
                addr: SockaddrIn::new(INADDR_LOOPBACK, port).to_bytes().to_vec(),
            },
        )
        .expect("bind");
    }
    fd
}

fn send(k: &Arc<Kernel>, td: &mut Td, fd: i32, port: u16, data: &[u8]) -> Result<Reply, Errno> {
    call(
        k,
        td,
        Request::Sendto {
            fd,
            flags: 0,
            addr: Some(SockaddrIn::new(INADDR_LOOPBACK, port).to_bytes().to_vec()),
            data: data.to_vec(),
        },
    )
}

fn revents(r: &Reply) -> Vec<u32> {
    r.data
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn socks(k: &Arc<Kernel>) -> u32 {
    k.vimage0().vnet.sockcnt.load(Ordering::Relaxed)
}

#[test]
fn one_table_per_process_closed_with_its_last_connection() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut a = k.td_attach(100);
    let mut b = k.td_attach(100);
    let mut other = k.td_attach(200);
    let fd = udp(k, &mut a, 7000);
    // The second connection of pid 100 sees the descriptor; pid 200 does not.
    let ty = |td: &mut Td| {
        call(
            k,
            td,
            Request::Getsockopt {
                fd,
                level: SOL_SOCKET,
                name: SO_TYPE,
                val: Vec::new(),
            },
        )
        .map(|r| r.data)
    };
    assert_eq!(ty(&mut b), Ok(2i32.to_le_bytes().to_vec()));
    assert_eq!(ty(&mut other), Err(Errno::EBADF));
    assert_eq!(udp(k, &mut b, 0), fd + 1, "lowest free descriptor, shared");
    assert_eq!(socks(k), 2);
    k.td_exit(&mut a);
    drop(a);
    assert_eq!(socks(k), 2, "another connection of the process remains");
    k.td_exit(&mut b);
    drop(b);
    assert_eq!(socks(k), 0, "the process exited: its sockets closed");
    // A new process with the same pid starts with an empty table.
    let mut c = k.td_attach(100);
    assert_eq!(ty(&mut c), Err(Errno::EBADF));
    k.td_exit(&mut other);
}

#[test]
fn poll_over_many_udp_sockets() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(100);
    let fds: Vec<i32> = (0..20).map(|i| udp(k, &mut td, 7100 + i)).collect();
    let list: Vec<(i32, u32)> = fds.iter().map(|&f| (f, POLLIN)).collect();
    let r = call(
        k,
        &mut td,
        Request::Poll {
            fds: list.clone(),
            timeout_ms: 0,
        },
    )
    .unwrap();
    assert_eq!(r.val, 0);
    assert_eq!(revents(&r), vec![0; 20]);
    // A timeout passes with nothing ready: once kernel time has moved past
    // it, not before.
    let (k2, l2) = (k.clone(), list.clone());
    let h = blocked(move || {
        let mut p = k2.td_attach(100);
        let r = call(
            &k2,
            &mut p,
            Request::Poll {
                fds: l2,
                timeout_ms: 120,
            },
        );
        k2.td_exit(&mut p);
        r
    });
    t.clock.advance(100 * MS);
    std::thread::sleep(Duration::from_millis(50));
    assert!(!h.is_finished(), "returned before its timeout");
    let r = advance_and_join(&t.clock, 20 * MS, h).unwrap();
    assert_eq!((r.val, revents(&r)), (0, vec![0; 20]));
    // Writable at once; a closed descriptor is POLLNVAL, a negative one skipped.
    let r = call(
        k,
        &mut td,
        Request::Poll {
            fds: vec![(fds[0], POLLOUT), (999, POLLIN), (-1, POLLIN)],
            timeout_ms: -1,
        },
    )
    .unwrap();
    assert_eq!((r.val, revents(&r)), (2, vec![POLLOUT, POLLNVAL, 0]));
    // A datagram to the 13th wakes a poll sleeping in another thread.
    let k2 = k.clone();
    let h = std::thread::spawn(move || {
        let mut p = k2.td_attach(100);
        let r = call(
            &k2,
            &mut p,
            Request::Poll {
                fds: list,
                timeout_ms: 5000,
            },
        );
        k2.td_exit(&mut p);
        r
    });
    std::thread::sleep(Duration::from_millis(100));
    let s = udp(k, &mut td, 0);
    send(k, &mut td, s, 7112, b"hi").unwrap();
    let r = h.join().unwrap().unwrap();
    assert_eq!(r.val, 1);
    let ev = revents(&r);
    assert_eq!(ev[12], POLLIN);
    assert_eq!(ev.iter().filter(|&&e| e != 0).count(), 1);
    k.td_exit(&mut td);
}

#[test]
fn non_blocking_mode_and_fcntl() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(100);
    let fd = udp(k, &mut td, 7200);
    let fl = |td: &mut Td| {
        call(
            k,
            td,
            Request::Fcntl {
                fd,
                cmd: F_GETFL,
                arg: 0,
            },
        )
        .unwrap()
        .val as i32
    };
    assert_eq!(fl(&mut td), O_RDWR);
    call(
        k,
        &mut td,
        Request::Ioctl {
            fd,
            cmd: FIONBIO,
            data: 1i32.to_le_bytes().to_vec(),
        },
    )
    .unwrap();
    assert_eq!(fl(&mut td), O_RDWR | O_NONBLOCK);
    let recv = |td: &mut Td, flags| {
        call(
            k,
            td,
            Request::Recvfrom {
                fd,
                len: 100,
                flags,
            },
        )
    };
    assert_eq!(recv(&mut td, 0), Err(Errno::EAGAIN));
    call(
        k,
        &mut td,
        Request::Fcntl {
            fd,
            cmd: F_SETFL,
            arg: 0,
        },
    )
    .unwrap();
    assert_eq!(fl(&mut td), O_RDWR);
    assert_eq!(recv(&mut td, MSG_DONTWAIT), Err(Errno::EAGAIN));
    // FIONREAD and MSG_PEEK.
    let s = udp(k, &mut td, 0);
    send(k, &mut td, s, 7200, b"hello").unwrap();
    let n = call(
        k,
        &mut td,
        Request::Ioctl {
            fd,
            cmd: FIONREAD,
            data: vec![0; 4],
        },
    )
    .unwrap();
    assert_eq!(n.data, 5i32.to_le_bytes());
    assert_eq!(recv(&mut td, MSG_PEEK).unwrap().data, b"hello");
    assert_eq!(recv(&mut td, 0).unwrap().data, b"hello");
    // SOCK_NONBLOCK at socket().
    let nb = call(
        k,
        &mut td,
        Request::Socket {
            domain: 2,
            ty: 2 | SOCK_NONBLOCK,
            proto: 0,
        },
    )
    .unwrap()
    .val as i32;
    assert_eq!(
        call(
            k,
            &mut td,
            Request::Getsockopt {
                fd: nb,
                level: SOL_SOCKET,
                name: SO_TYPE,
                val: Vec::new(),
            }
        )
        .unwrap()
        .data,
        2i32.to_le_bytes()
    );
    assert_eq!(
        call(
            k,
            &mut td,
            Request::Fcntl {
                fd: nb,
                cmd: F_GETFL,
                arg: 0
            }
        )
        .unwrap()
        .val as i32,
        O_RDWR | O_NONBLOCK
    );
    k.td_exit(&mut td);
}

#[test]
fn generic_socket_options() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(100);
    let fd = udp(k, &mut td, 0);
    let set = |td: &mut Td, name, val: Vec<u8>| {
        call(
            k,
            td,
            Request::Setsockopt {
                fd,
                level: SOL_SOCKET,
                name,
                val,
            },
        )
        .map(|_| ())
    };
    let one = 1i32.to_le_bytes().to_vec();
    for o in [SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE] {
        set(&mut td, o, one.clone()).unwrap();
    }
    set(&mut td, SO_LINGER, linger_bytes(true, 7)).unwrap();
    set(&mut td, SO_RCVBUF, 65536i32.to_le_bytes().to_vec()).unwrap();
    set(&mut td, SO_SNDBUF, 32768i32.to_le_bytes().to_vec()).unwrap();
    assert_eq!(
        set(&mut td, SO_RCVBUF, 0i32.to_le_bytes().to_vec()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        set(&mut td, SO_SNDBUF, i32::MAX.to_le_bytes().to_vec()),
        Err(Errno::ENOBUFS)
    );
    assert_eq!(set(&mut td, SO_LINGER, one.clone()), Err(Errno::EINVAL));
    assert_eq!(set(&mut td, SO_ERROR, one.clone()), Err(Errno::ENOPROTOOPT));
    let get = |td: &mut Td, name| {
        call(
            k,
            td,
            Request::Getsockopt {
                fd,
                level: SOL_SOCKET,
                name,
                val: Vec::new(),
            },
        )
        .map(|r| r.data)
    };
    let int = |v: i32| v.to_le_bytes().to_vec();
    assert_eq!(get(&mut td, SO_REUSEADDR), Ok(int(SO_REUSEADDR)));
    assert_eq!(get(&mut td, SO_REUSEPORT), Ok(int(SO_REUSEPORT)));
    assert_eq!(get(&mut td, SO_KEEPALIVE), Ok(int(SO_KEEPALIVE)));
    assert_eq!(get(&mut td, SO_LINGER), Ok(linger_bytes(true, 7)));
    assert_eq!(get(&mut td, SO_RCVBUF), Ok(int(65536)));
    assert_eq!(get(&mut td, SO_SNDBUF), Ok(int(32768)));
    assert_eq!(get(&mut td, SO_ERROR), Ok(int(0)));
    assert_eq!(get(&mut td, SO_ACCEPTCONN), Ok(int(0)));
    set(&mut td, SO_KEEPALIVE, int(0)).unwrap();
    assert_eq!(get(&mut td, SO_KEEPALIVE), Ok(int(0)));
    // Not a stream protocol.
    assert_eq!(
        call(k, &mut td, Request::Listen { fd, backlog: 5 }),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        call(k, &mut td, Request::Accept { fd, flags: 0 }),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        call(k, &mut td, Request::Getpeername { fd }),
        Err(Errno::ENOTCONN)
    );
    k.td_exit(&mut td);
}

#[test]
fn udp_shutdown_and_kern_file() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(4242);
    let fd = udp(k, &mut td, 7300);
    assert_eq!(
        call(k, &mut td, Request::Shutdown { fd, how: 3 }),
        Err(Errno::EINVAL)
    );
    call(k, &mut td, Request::Shutdown { fd, how: SHUT_WR }).unwrap();
    assert_eq!(send(k, &mut td, fd, 7300, b"x"), Err(Errno::EPIPE));
    let r = call(
        k,
        &mut td,
        Request::Sysctl {
            name: "kern.file".into(),
            new: None,
        },
    )
    .unwrap();
    let SysctlValue::Opaque(_, b) = SysctlReply::from_bytes(&r.data).unwrap().value else {
        panic!("kern.file is opaque");
    };
    let l = XFile::decode_list(&b).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!((l[0].pid, l[0].fd, l[0].domain, l[0].ty), (4242, fd, 2, 2));
    k.td_exit(&mut td);
}

#[test]
fn blocked_receive_gives_up_when_the_process_dies() {
    let _l = test_lock();
    let t = boot();
    let k = t.k.clone();
    let dead = Arc::new(AtomicBool::new(false));
    let mut td = k.td_attach(100);
    let d = dead.clone();
    td.intr = Arc::new(move || d.load(Ordering::Relaxed));
    let fd = udp(&k, &mut td, 7400);
    let h = std::thread::spawn(move || {
        let r = call(
            &k,
            &mut td,
            Request::Recvfrom {
                fd,
                len: 10,
                flags: 0,
            },
        );
        let p = call(
            &k,
            &mut td,
            Request::Poll {
                fds: vec![(fd, POLLIN)],
                timeout_ms: -1,
            },
        );
        k.td_exit(&mut td);
        (r, p)
    });
    std::thread::sleep(Duration::from_millis(100));
    dead.store(true, Ordering::Relaxed);
    let (r, p) = h.join().unwrap();
    assert_eq!(r, Err(Errno::EINTR));
    assert_eq!(p, Err(Errno::EINTR));
}

/// A connected TCP pair over lo0 on `port`: (client fd in `c`, accepted fd in
/// `s`); `rcvbuf` sizes the listener's (and so the accepted socket's) buffer.
fn tcp_pair(k: &Arc<Kernel>, c: &mut Td, s: &mut Td, port: u16, rcvbuf: Option<i32>) -> (i32, i32) {
    let sock = |td: &mut Td| {
        call(
            k,
            td,
            Request::Socket {
                domain: 2,
                ty: 1,
                proto: 0,
            },
        )
        .expect("socket")
        .val as i32
    };
    let sa = SockaddrIn::new(INADDR_LOOPBACK, port).to_bytes().to_vec();
    let l = sock(s);
    if let Some(v) = rcvbuf {
        call(
            k,
            s,
            Request::Setsockopt {
                fd: l,
                level: SOL_SOCKET,
                name: SO_RCVBUF,
                val: v.to_le_bytes().to_vec(),
            },
        )
        .expect("SO_RCVBUF");
    }
    call(
        k,
        s,
        Request::Bind {
            fd: l,
            addr: sa.clone(),
        },
    )
    .expect("bind");
    call(k, s, Request::Listen { fd: l, backlog: 5 }).expect("listen");
    let cfd = sock(c);
    call(k, c, Request::Connect { fd: cfd, addr: sa }).expect("connect");
    let sfd = call(k, s, Request::Accept { fd: l, flags: 0 })
        .expect("accept")
        .val as i32;
    call(k, s, Request::Close { fd: l }).expect("close listener");
    (cfd, sfd)
}

fn tcp_states(k: &Arc<Kernel>, port: u16) -> Vec<vimage_inet::tcp_var::TcpState> {
    let _cv = CurvnetGuard::set(&k.vimage0().vnet);
    vimage_inet::tcp_var::vnet_tcp()
        .tcb
        .list()
        .into_iter()
        .filter(|(ep, _)| ep.lport == port || ep.fport == port)
        .map(|(_, cb)| cb.lock().unwrap().state)
        .collect()
}

#[test]
fn so_linger_zero_resets_and_a_linger_time_waits_for_the_close() {
    use vimage_inet::tcp_var::TcpState;
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut c = k.td_attach(200);
    let mut s = k.td_attach(201);
    let linger = |td: &mut Td, fd, on, secs| {
        call(
            k,
            td,
            Request::Setsockopt {
                fd,
                level: SOL_SOCKET,
                name: SO_LINGER,
                val: linger_bytes(on, secs),
            },
        )
        .expect("SO_LINGER");
    };
    // l_onoff 1, l_linger 0: close drops the connection with a RST (the peer
    // reads ECONNRESET), and nothing is left in TIME_WAIT.
    let (cfd, sfd) = tcp_pair(k, &mut c, &mut s, 7001, None);
    linger(&mut c, cfd, true, 0);
    call(k, &mut c, Request::Close { fd: cfd }).unwrap();
    let r = call(
        k,
        &mut s,
        Request::Recvfrom {
            fd: sfd,
            len: 100,
            flags: 0,
        },
    );
    assert_eq!(r.map(|r| r.data), Err(Errno::ECONNRESET));
    call(k, &mut s, Request::Close { fd: sfd }).unwrap();
    assert!(!tcp_states(k, 7001).contains(&TcpState::TimeWait));
    // A linger time, everything acknowledged at once (lo0): close returns as
    // soon as our FIN is, in FIN_WAIT_2.
    let (cfd, sfd) = tcp_pair(k, &mut c, &mut s, 7002, None);
    linger(&mut c, cfd, true, 5);
    send_tcp(k, &mut c, cfd, &[7; 1000]);
    let t0 = Instant::now();
    call(k, &mut c, Request::Close { fd: cfd }).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(tcp_states(k, 7002).contains(&TcpState::FinWait2));
    call(k, &mut s, Request::Close { fd: sfd }).unwrap();
    // Data stuck behind a closed window: close waits out the linger time.
    let (cfd, sfd) = tcp_pair(k, &mut c, &mut s, 7003, Some(1024));
    linger(&mut c, cfd, true, 1);
    let _ = call(
        k,
        &mut c,
        Request::Sendto {
            fd: cfd,
            flags: MSG_DONTWAIT,
            addr: None,
            data: vec![1; 16 * 1024],
        },
    )
    .expect("send");
    // The linger time is kernel time: close returns once the clock has
    // moved a second on, not before.
    let (k2, mut c2) = (k.clone(), k.td_attach(200));
    let h = blocked(move || {
        let r = call(&k2, &mut c2, Request::Close { fd: cfd });
        k2.td_exit(&mut c2);
        r
    });
    advance_and_join(&t.clock, SEC, h).unwrap();
    assert!(tcp_states(k, 7003).contains(&TcpState::FinWait1));
    call(k, &mut s, Request::Close { fd: sfd }).unwrap();
    // The same on a non-blocking socket: no wait at all.
    let (cfd, sfd) = tcp_pair(k, &mut c, &mut s, 7004, Some(1024));
    linger(&mut c, cfd, true, 1);
    call(
        k,
        &mut c,
        Request::Fcntl {
            fd: cfd,
            cmd: F_SETFL,
            arg: O_NONBLOCK,
        },
    )
    .unwrap();
    let _ = call(
        k,
        &mut c,
        Request::Sendto {
            fd: cfd,
            flags: 0,
            addr: None,
            data: vec![1; 16 * 1024],
        },
    )
    .expect("send");
    let t0 = Instant::now();
    call(k, &mut c, Request::Close { fd: cfd }).unwrap();
    assert!(t0.elapsed() < Duration::from_millis(500));
    call(k, &mut s, Request::Close { fd: sfd }).unwrap();
    k.td_exit(&mut c);
    k.td_exit(&mut s);
}

fn send_tcp(k: &Arc<Kernel>, td: &mut Td, fd: i32, data: &[u8]) {
    let r = call(
        k,
        td,
        Request::Sendto {
            fd,
            flags: 0,
            addr: None,
            data: data.to_vec(),
        },
    )
    .expect("send");
    assert_eq!(r.val as usize, data.len());
}

#[cfg(feature = "inet6")]
fn sock6(k: &Arc<Kernel>, td: &mut Td, ty: i32) -> i32 {
    call(
        k,
        td,
        Request::Socket {
            domain: 28,
            ty,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32
}

#[cfg(feature = "inet6")]
fn v6only(k: &Arc<Kernel>, td: &mut Td, fd: i32, v: Option<i32>) -> Result<Vec<u8>, Errno> {
    use vimage_abi::netinet6_in6::IPV6_V6ONLY;
    let r = match v {
        Some(v) => Request::Setsockopt {
            fd,
            level: 41,
            name: IPV6_V6ONLY,
            val: v.to_le_bytes().to_vec(),
        },
        None => Request::Getsockopt {
            fd,
            level: 41,
            name: IPV6_V6ONLY,
            val: Vec::new(),
        },
    };
    call(k, td, r).map(|r| r.data)
}

#[cfg(feature = "inet6")]
fn sin6(a: std::net::Ipv6Addr, port: u16) -> Vec<u8> {
    let mut s = vimage_abi::netinet6_in6::SockaddrIn6::new(a, 0);
    s.port = port;
    s.to_bytes().to_vec()
}

#[test]
#[cfg(feature = "inet6")]
fn ipv6_v6only_defaults_on_and_clears_only_before_bind() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(300);
    for ty in [1, 2] {
        let fd = sock6(k, &mut td, ty);
        assert_eq!(
            v6only(k, &mut td, fd, None),
            Ok(1i32.to_le_bytes().to_vec())
        );
        assert_eq!(v6only(k, &mut td, fd, Some(0)), Ok(vec![]));
        assert_eq!(
            v6only(k, &mut td, fd, None),
            Ok(0i32.to_le_bytes().to_vec())
        );
        let any = sin6(std::net::Ipv6Addr::UNSPECIFIED, 0);
        call(k, &mut td, Request::Bind { fd, addr: any }).expect("bind");
        assert_eq!(v6only(k, &mut td, fd, Some(1)), Err(Errno::EINVAL));
        // An IPv6-only socket has no IPv4-mapped peers, nor addresses.
        let fd = sock6(k, &mut td, ty);
        let mapped = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 0);
        assert_eq!(
            call(k, &mut td, Request::Bind { fd, addr: mapped }).map(|_| ()),
            Err(Errno::EADDRNOTAVAIL)
        );
        let to = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 9);
        assert_eq!(
            call(k, &mut td, Request::Connect { fd, addr: to }).map(|_| ()),
            Err(Errno::EINVAL)
        );
    }
    k.td_exit(&mut td);
}

#[test]
#[cfg(feature = "inet6")]
fn dual_stack_tcp_listener_takes_ipv4_with_mapped_addresses() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let (mut s, mut c) = (k.td_attach(301), k.td_attach(302));
    let l = sock6(k, &mut s, 1);
    v6only(k, &mut s, l, Some(0)).expect("V6ONLY 0");
    let any = sin6(std::net::Ipv6Addr::UNSPECIFIED, 5201);
    call(k, &mut s, Request::Bind { fd: l, addr: any }).expect("bind ::");
    call(k, &mut s, Request::Listen { fd: l, backlog: 5 }).expect("listen");
    // The port is taken for IPv4 as well.
    let v4 = call(
        k,
        &mut c,
        Request::Socket {
            domain: 2,
            ty: 1,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let sa = SockaddrIn::new(INADDR_LOOPBACK, 5201).to_bytes().to_vec();
    assert_eq!(
        call(
            k,
            &mut c,
            Request::Bind {
                fd: v4,
                addr: sa.clone()
            }
        )
        .map(|_| ()),
        Err(Errno::EADDRINUSE)
    );
    let cfd = call(
        k,
        &mut c,
        Request::Socket {
            domain: 2,
            ty: 1,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    call(k, &mut c, Request::Connect { fd: cfd, addr: sa }).expect("connect over IPv4");
    let r = call(k, &mut s, Request::Accept { fd: l, flags: 0 }).expect("accept");
    let peer = vimage_abi::netinet6_in6::SockaddrIn6::from_bytes(&r.addr).expect("sockaddr_in6");
    assert_eq!(peer.addr, INADDR_LOOPBACK.to_ipv6_mapped());
    let sfd = r.val as i32;
    let me = call(k, &mut s, Request::Getsockname { fd: sfd }).expect("getsockname");
    let me = vimage_abi::netinet6_in6::SockaddrIn6::from_bytes(&me.addr).expect("sockaddr_in6");
    assert_eq!((me.addr, me.port), (INADDR_LOOPBACK.to_ipv6_mapped(), 5201));
    send_tcp(k, &mut c, cfd, b"over v4");
    let got = call(
        k,
        &mut s,
        Request::Recvfrom {
            fd: sfd,
            len: 64,
            flags: 0,
        },
    )
    .expect("recv");
    assert_eq!(got.data, b"over v4");
    // A listener bound to an IPv4-mapped address takes IPv4.
    let ml = sock6(k, &mut s, 1);
    v6only(k, &mut s, ml, Some(0)).expect("V6ONLY 0");
    let at = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 5203);
    call(k, &mut s, Request::Bind { fd: ml, addr: at }).expect("bind mapped");
    call(k, &mut s, Request::Listen { fd: ml, backlog: 5 }).expect("listen");
    let c2 = call(
        k,
        &mut c,
        Request::Socket {
            domain: 2,
            ty: 1,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let sa = SockaddrIn::new(INADDR_LOOPBACK, 5203).to_bytes().to_vec();
    call(k, &mut c, Request::Connect { fd: c2, addr: sa }).expect("connect to mapped");
    call(k, &mut s, Request::Accept { fd: ml, flags: 0 }).expect("accept");
    // And an AF_INET6 client reaches an IPv4 listener through a mapped address.
    let l4 = call(
        k,
        &mut c,
        Request::Socket {
            domain: 2,
            ty: 1,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let sa = SockaddrIn::new(INADDR_LOOPBACK, 5202).to_bytes().to_vec();
    call(k, &mut c, Request::Bind { fd: l4, addr: sa }).expect("bind");
    call(k, &mut c, Request::Listen { fd: l4, backlog: 5 }).expect("listen");
    let c6 = sock6(k, &mut s, 1);
    v6only(k, &mut s, c6, Some(0)).expect("V6ONLY 0");
    let to = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 5202);
    call(k, &mut s, Request::Connect { fd: c6, addr: to }).expect("connect mapped");
    let r = call(k, &mut c, Request::Accept { fd: l4, flags: 0 }).expect("accept");
    assert_eq!(
        SockaddrIn::from_bytes(&r.addr).expect("sockaddr_in").addr,
        INADDR_LOOPBACK
    );
    k.td_exit(&mut s);
    k.td_exit(&mut c);
}

#[test]
#[cfg(feature = "inet6")]
fn dual_stack_udp_socket_exchanges_with_ipv4() {
    let _l = test_lock();
    let t = boot();
    let k = &t.k;
    let mut td = k.td_attach(303);
    let d = sock6(k, &mut td, 2);
    v6only(k, &mut td, d, Some(0)).expect("V6ONLY 0");
    let any = sin6(std::net::Ipv6Addr::UNSPECIFIED, 5301);
    call(k, &mut td, Request::Bind { fd: d, addr: any }).expect("bind ::");
    // The IPv4 port is held too.
    let other = udp(k, &mut td, 0);
    let sa = SockaddrIn::new(INADDR_LOOPBACK, 5301).to_bytes().to_vec();
    assert_eq!(
        call(
            k,
            &mut td,
            Request::Bind {
                fd: other,
                addr: sa
            }
        )
        .map(|_| ()),
        Err(Errno::EADDRINUSE)
    );
    let u4 = udp(k, &mut td, 5302);
    send(k, &mut td, u4, 5301, b"ping4").expect("send");
    let got = call(
        k,
        &mut td,
        Request::Recvfrom {
            fd: d,
            len: 64,
            flags: 0,
        },
    )
    .expect("recv");
    assert_eq!(got.data, b"ping4");
    let from = vimage_abi::netinet6_in6::SockaddrIn6::from_bytes(&got.addr).expect("mapped");
    assert_eq!(
        (from.addr, from.port),
        (INADDR_LOOPBACK.to_ipv6_mapped(), 5302)
    );
    // The reply goes back over IPv4 to the mapped source.
    call(
        k,
        &mut td,
        Request::Sendto {
            fd: d,
            flags: 0,
            addr: Some(got.addr.clone()),
            data: b"pong".to_vec(),
        },
    )
    .expect("sendto mapped");
    let got = call(
        k,
        &mut td,
        Request::Recvfrom {
            fd: u4,
            len: 64,
            flags: 0,
        },
    )
    .expect("recv");
    assert_eq!(got.data, b"pong");
    assert_eq!(SockaddrIn::from_bytes(&got.addr).expect("sin").port, 5301);
    // iperf3's UDP server: with SO_REUSEADDR the connected socket leaves the
    // port to a new wildcard one, which gets the next (IPv4) client.
    let reuse = |td: &mut Td, fd: i32| {
        call(
            k,
            td,
            Request::Setsockopt {
                fd,
                level: SOL_SOCKET,
                name: vimage_abi::socket::SO_REUSEADDR,
                val: 1i32.to_le_bytes().to_vec(),
            },
        )
        .expect("SO_REUSEADDR")
    };
    let r1 = sock6(k, &mut td, 2);
    reuse(&mut td, r1);
    v6only(k, &mut td, r1, Some(0)).expect("V6ONLY 0");
    let any = sin6(std::net::Ipv6Addr::UNSPECIFIED, 5304);
    call(
        k,
        &mut td,
        Request::Bind {
            fd: r1,
            addr: any.clone(),
        },
    )
    .expect("bind");
    let peer = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 5302);
    call(
        k,
        &mut td,
        Request::Connect {
            fd: r1,
            addr: peer.clone(),
        },
    )
    .expect("connect mapped");
    let got = call(k, &mut td, Request::Getpeername { fd: r1 }).expect("getpeername");
    assert_eq!(got.addr, peer);
    let r2 = sock6(k, &mut td, 2);
    reuse(&mut td, r2);
    v6only(k, &mut td, r2, Some(0)).expect("V6ONLY 0");
    call(k, &mut td, Request::Bind { fd: r2, addr: any }).expect("re-bind with SO_REUSEADDR");
    let u5 = udp(k, &mut td, 5305);
    send(k, &mut td, u5, 5304, b"second client").expect("send");
    let got = call(
        k,
        &mut td,
        Request::Recvfrom {
            fd: r2,
            len: 64,
            flags: 0,
        },
    )
    .expect("recv");
    assert_eq!(got.data, b"second client");
    // Bound to an IPv4-mapped address: an IPv4 binding.
    let m = sock6(k, &mut td, 2);
    v6only(k, &mut td, m, Some(0)).expect("V6ONLY 0");
    let at = sin6(INADDR_LOOPBACK.to_ipv6_mapped(), 5306);
    call(
        k,
        &mut td,
        Request::Bind {
            fd: m,
            addr: at.clone(),
        },
    )
    .expect("bind mapped");
    assert_eq!(
        call(k, &mut td, Request::Getsockname { fd: m }).map(|r| r.addr),
        Ok(at)
    );
    send(k, &mut td, u5, 5306, b"to mapped").expect("send");
    let got = call(
        k,
        &mut td,
        Request::Recvfrom {
            fd: m,
            len: 64,
            flags: 0,
        },
    )
    .expect("recv");
    assert_eq!(got.data, b"to mapped");
    // An IPv6-only wildcard leaves IPv4 alone.
    let v6o = sock6(k, &mut td, 2);
    let any = sin6(std::net::Ipv6Addr::UNSPECIFIED, 5303);
    call(k, &mut td, Request::Bind { fd: v6o, addr: any }).expect("bind ::");
    udp(k, &mut td, 5303);
    k.td_exit(&mut td);
}

/// A poll records itself on the sockets it polls (`selrecord`): a change on
/// one of them wakes it, a change elsewhere does not, and a change between
/// its check and its sleep is kept.
#[test]
fn poll_waiters_are_per_socket() {
    use vimage_kern::uipc_socket::{PollWaiter, SockBuf};
    let (mine, other) = (Arc::new(SockBuf::new(1024)), Arc::new(SockBuf::new(1024)));
    let w = PollWaiter::new();
    mine.selrecord(&w);
    // A change between the look and the sleep is not lost: the sleep does
    // not block.
    let seen = w.chan().generation();
    mine.append(b"a".to_vec(), Vec::new()).unwrap();
    let t0 = Instant::now();
    w.chan().block(seen, Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(1));
    // Another socket's change does not wake it.
    let seen = w.chan().generation();
    other.append(b"b".to_vec(), Vec::new()).unwrap();
    assert_eq!(w.chan().generation(), seen);
    // One from another thread does.
    let m = mine.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        m.append(b"c".to_vec(), Vec::new()).unwrap();
    });
    let t0 = Instant::now();
    while w.chan().generation() == seen {
        w.chan().block(seen, Duration::from_secs(5));
    }
    assert!(t0.elapsed() < Duration::from_secs(4));
    h.join().unwrap();
    // A poll that ended leaves nothing behind to wake.
    drop(w);
    mine.append(b"d".to_vec(), Vec::new()).unwrap();
}

/// `SO_RCVTIMEO` is kernel time: a receive with a 5 s timeout stays blocked
/// while the clock stands still, however long that takes in real time, and
/// gives up with `EAGAIN` as soon as the clock has moved 5 s on.
#[test]
fn a_receive_timeout_follows_the_kernel_clock() {
    let _l = test_lock();
    let t = boot();
    let k = t.k.clone();
    let mut td = k.td_attach(100);
    let fd = udp(&k, &mut td, 7500);
    set_timeo(&k, &mut td, fd, SO_RCVTIMEO, 5);
    let recv = move |mut td: Td| {
        let r = call(
            &k,
            &mut td,
            Request::Recvfrom {
                fd,
                len: 10,
                flags: 0,
            },
        );
        (r, td)
    };
    let h = blocked(move || recv(td));
    t.clock.advance(4 * SEC);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished(), "returned a second before its timeout");
    let (r, mut td) = advance_and_join(&t.clock, SEC, h);
    assert_eq!(r.map(|r| r.data), Err(Errno::EAGAIN));
    // Data arriving before the timeout ends the wait at once, whatever the
    // clock says.
    let k = t.k.clone();
    let k2 = k.clone();
    let h = blocked(move || {
        let r = call(
            &k2,
            &mut td,
            Request::Recvfrom {
                fd,
                len: 10,
                flags: 0,
            },
        );
        k2.td_exit(&mut td);
        r
    });
    let mut s = k.td_attach(101);
    let sfd = udp(&k, &mut s, 0);
    send(&k, &mut s, sfd, 7500, b"in time").unwrap();
    assert_eq!(h.join().unwrap().map(|r| r.data), Ok(b"in time".to_vec()));
    k.td_exit(&mut s);
}

/// A poll's timeout is kernel time too; a datagram before it wakes the poll.
#[test]
fn a_poll_timeout_follows_the_kernel_clock() {
    let _l = test_lock();
    let t = boot();
    let k = t.k.clone();
    let mut td = k.td_attach(100);
    let fd = udp(&k, &mut td, 7510);
    let poll = |k: Arc<Kernel>, timeout_ms| {
        move || {
            let mut p = k.td_attach(100);
            let r = call(
                &k,
                &mut p,
                Request::Poll {
                    fds: vec![(fd, POLLIN)],
                    timeout_ms,
                },
            );
            k.td_exit(&mut p);
            r
        }
    };
    let h = blocked(poll(k.clone(), 5000));
    t.clock.advance(4999 * MS);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !h.is_finished(),
        "returned a millisecond before its timeout"
    );
    let r = advance_and_join(&t.clock, MS, h).unwrap();
    assert_eq!((r.val, revents(&r)), (0, vec![0]));
    // A zero timeout never sleeps, with the clock standing still.
    let r = poll(k.clone(), 0)().unwrap();
    assert_eq!(r.val, 0);
    // Something ready before the timeout ends it at once.
    let h = blocked(poll(k.clone(), 5000));
    let s = udp(&k, &mut td, 0);
    send(&k, &mut td, s, 7510, b"x").unwrap();
    let r = h.join().unwrap().unwrap();
    assert_eq!((r.val, revents(&r)), (1, vec![POLLIN]));
    k.td_exit(&mut td);
}

/// `SO_SNDTIMEO` is kernel time: a blocking TCP send that fills the peer's
/// window and the send buffer waits until the clock passes the timeout, then
/// returns what was taken.
#[test]
fn a_send_timeout_follows_the_kernel_clock() {
    let _l = test_lock();
    let t = boot();
    let k = t.k.clone();
    let mut c = k.td_attach(200);
    let mut s = k.td_attach(201);
    let (cfd, sfd) = tcp_pair(&k, &mut c, &mut s, 7520, Some(1024));
    set_timeo(&k, &mut c, cfd, SO_SNDTIMEO, 2);
    let len = 4 << 20;
    let k2 = k.clone();
    let h = blocked(move || {
        let r = call(
            &k2,
            &mut c,
            Request::Sendto {
                fd: cfd,
                flags: 0,
                addr: None,
                data: vec![5; len],
            },
        );
        (r, c)
    });
    let (r, mut c) = advance_and_join(&t.clock, 2 * SEC, h);
    let n = r.expect("a send that timed out returns what it took").val as usize;
    assert!(n > 0 && n < len, "{n} of {len}");
    call(&k, &mut c, Request::Close { fd: cfd }).unwrap();
    call(&k, &mut s, Request::Close { fd: sfd }).unwrap();
    k.td_exit(&mut c);
    k.td_exit(&mut s);
}

/// A blocking connect whose SYNs go nowhere sleeps without a deadline of its
/// own; TCP's connection-establishment timer (`net.inet.tcp.keepinit`, 75 s
/// of kernel time, run by softclock) ends it with `ETIMEDOUT`, and only once
/// the clock has got there.
#[test]
fn a_blocking_connect_times_out_on_the_kernel_clock() {
    use std::net::{IpAddr, Ipv4Addr};
    let _l = test_lock();
    let t = boot();
    let k = t.k.clone();
    // 10.66/16 out of lo0: what is sent there comes back to a stack that is
    // no router, and is dropped.
    {
        let _cv = CurvnetGuard::set(&k.vimage0().vnet);
        let lo = vimage_net::r#if::ifunit("lo0").expect("lo0");
        let ifindex = lo.index.load(Ordering::Relaxed);
        vimage_net::route::rt_add(
            IpAddr::V4(Ipv4Addr::new(10, 66, 0, 0)),
            16,
            vimage_net::route::RtGateway::Link { ifindex },
            &lo,
            Some(IpAddr::V4(INADDR_LOOPBACK)),
            0,
        )
        .expect("route to the black hole");
    }
    let mut td = k.td_attach(100);
    let fd = call(
        &k,
        &mut td,
        Request::Socket {
            domain: 2,
            ty: 1,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let k2 = k.clone();
    let h = blocked(move || {
        let addr = SockaddrIn::new(Ipv4Addr::new(10, 66, 0, 1), 80)
            .to_bytes()
            .to_vec();
        let r = call(&k2, &mut td, Request::Connect { fd, addr });
        k2.td_exit(&mut td);
        r
    });
    // A minute of kernel time: SYNs retransmitted, still connecting.
    for _ in 0..60 {
        t.clock.advance(SEC);
        k.softclock();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished(), "gave up before keepinit");
    let t0 = Instant::now();
    for _ in 0..20 {
        t.clock.advance(SEC);
        k.softclock();
    }
    let r = h.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(r.map(|r| r.val), Err(Errno::ETIMEDOUT));
}
