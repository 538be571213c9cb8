//! The tutorial's experiment: TCP throughput over lo0 inside one vimage, between
//! two processes (two threads with their own process contexts, through the
//! syscall door), for the kernel built with and without `options VIMAGE`:
//! `make bench-tcp` runs this bench twice (`--features vimage` and
//! `--no-default-features`) and prints both lines.  Also measured in the same run:
//! two vimages joined by eifaces, and Linux's own TCP over loopback.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vimage_abi::net_if::IFF_UP;
use vimage_abi::netinet_in::{in_plen2mask, SockaddrIn, PF_INET, SOCK_STREAM};
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::Errno;
use vimage_inet::r#in::in_aifaddr;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_syscall::Td;
use vimage_kern::kern_timeout::Clock;
use vimage_kern::kern_vimage::Vimage;
use vimage_kern::uipc_socket::FdTable;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig};
use vimage_net::netisr::netisr_enter;
use vimage_net::r#if::ifunit;

const SECONDS: f64 = 2.0;
const CHUNK: usize = 64 * 1024;

struct HostClock(Instant);
impl Clock for HostClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

fn call(k: &Arc<Kernel>, td: &mut Td, r: Request) -> Result<Reply, Errno> {
    k.syscall(td, r).result()
}

fn td(v: &Arc<Vimage>) -> Td {
    Td {
        pid: 1,
        vimage: v.clone(),
        fds: FdTable::default(),
        intr: Arc::new(|| false),
    }
}

fn boot() -> Arc<Kernel> {
    let k = vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: if vimage_kern::VIMAGE {
            "VIMAGE"
        } else {
            "GENERIC"
        }
        .into(),
        version: "bench".into(),
        clock: Arc::new(HostClock(Instant::now())),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
    for m in vimage_kmod::catalog() {
        k.kld_catalog_add(m);
    }
    k
}

fn addr(v: &Arc<Vimage>, ifname: &str, a: Ipv4Addr, plen: u8) {
    let _cv = CurvnetGuard::set(&v.vnet);
    let _ns = netisr_enter();
    let ifp = ifunit(ifname).expect("ifnet");
    ifp.flags
        .fetch_or(IFF_UP, std::sync::atomic::Ordering::Relaxed);
    in_aifaddr(&ifp, a, Some(in_plen2mask(plen)), None).expect("address");
}

/// Bytes per second from a client in `cv` to a server in `sv` at `dst`.
fn transfer(k: &Arc<Kernel>, sv: &Arc<Vimage>, cv: &Arc<Vimage>, dst: Ipv4Addr) -> f64 {
    let mut s = td(sv);
    let lfd = call(
        k,
        &mut s,
        Request::Socket {
            domain: PF_INET,
            ty: SOCK_STREAM,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let any = SockaddrIn::new(Ipv4Addr::UNSPECIFIED, 5001)
        .to_bytes()
        .to_vec();
    call(k, &mut s, Request::Bind { fd: lfd, addr: any }).expect("bind");
    call(
        k,
        &mut s,
        Request::Listen {
            fd: lfd,
            backlog: 5,
        },
    )
    .expect("listen");
    let k2 = k.clone();
    let server = std::thread::spawn(move || {
        let fd = call(&k2, &mut s, Request::Accept { fd: lfd, flags: 0 })
            .expect("accept")
            .val as i32;
        let mut n = 0u64;
        loop {
            match call(
                &k2,
                &mut s,
                Request::Recvfrom {
                    fd,
                    len: CHUNK as u32,
                    flags: 0,
                },
            ) {
                Ok(r) if !r.data.is_empty() => n += r.data.len() as u64,
                _ => break,
            }
        }
        n
    });
    let mut c = td(cv);
    let fd = call(
        k,
        &mut c,
        Request::Socket {
            domain: PF_INET,
            ty: SOCK_STREAM,
            proto: 0,
        },
    )
    .expect("socket")
    .val as i32;
    let to = SockaddrIn::new(dst, 5001).to_bytes().to_vec();
    call(k, &mut c, Request::Connect { fd, addr: to }).expect("connect");
    let buf = vec![0x5au8; CHUNK];
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < SECONDS {
        call(
            k,
            &mut c,
            Request::Sendto {
                fd,
                flags: 0,
                addr: None,
                data: buf.clone(),
            },
        )
        .expect("send");
    }
    let _ = call(k, &mut c, Request::Close { fd });
    let n = server.join().expect("server");
    n as f64 / t0.elapsed().as_secs_f64()
}

/// Linux's own TCP over loopback, same chunking.
fn linux_loopback() -> f64 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = l.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0u64;
        while let Ok(r) = s.read(&mut buf) {
            if r == 0 {
                break;
            }
            n += r as u64;
        }
        n
    });
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let buf = vec![0x5au8; CHUNK];
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < SECONDS {
        c.write_all(&buf).expect("write");
    }
    drop(c);
    let n = server.join().expect("server");
    n as f64 / t0.elapsed().as_secs_f64()
}

/// CPU time consumed by this thread so far, in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The kernel's CPU cost of moving TCP data over lo0 inside `v`, with no
/// scheduler in the way: one thread plays both processes (non-blocking
/// 64 KiB writes, reads until the buffer is empty), so every segment's whole
/// path runs on it, and its own CPU clock measures the work alone.
/// Microseconds per megabyte, the best of `reps` passes of `mb` MB.
fn cost_us_per_mb(k: &Arc<Kernel>, v: &Arc<Vimage>, port: u16, mb: u64, reps: u32) -> f64 {
    let mut c = td(v);
    let sock = |c: &mut Td| {
        call(
            k,
            c,
            Request::Socket {
                domain: PF_INET,
                ty: SOCK_STREAM,
                proto: 0,
            },
        )
        .expect("socket")
        .val as i32
    };
    let sa = SockaddrIn::new(Ipv4Addr::LOCALHOST, port)
        .to_bytes()
        .to_vec();
    let l = sock(&mut c);
    call(
        k,
        &mut c,
        Request::Bind {
            fd: l,
            addr: sa.clone(),
        },
    )
    .expect("bind");
    call(k, &mut c, Request::Listen { fd: l, backlog: 5 }).expect("listen");
    let cfd = sock(&mut c);
    call(k, &mut c, Request::Connect { fd: cfd, addr: sa }).expect("connect");
    let sfd = call(k, &mut c, Request::Accept { fd: l, flags: 0 })
        .expect("accept")
        .val as i32;
    let buf = vec![0x5au8; CHUNK];
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t0 = thread_cpu_ns();
        let mut got = 0u64;
        while got < mb << 20 {
            let _ = call(
                k,
                &mut c,
                Request::Sendto {
                    fd: cfd,
                    flags: vimage_abi::socket::MSG_DONTWAIT,
                    addr: None,
                    data: buf.clone(),
                },
            );
            while let Ok(r) = call(
                k,
                &mut c,
                Request::Recvfrom {
                    fd: sfd,
                    len: 4 * CHUNK as u32,
                    flags: vimage_abi::socket::MSG_DONTWAIT,
                },
            ) {
                if r.data.is_empty() {
                    break;
                }
                got += r.data.len() as u64;
            }
        }
        let us = (thread_cpu_ns() - t0) as f64 / 1e3;
        best = best.min(us / (got as f64 / 1e6));
    }
    for fd in [cfd, sfd, l] {
        let _ = call(k, &mut c, Request::Close { fd });
    }
    best
}

fn mbit(bps: f64) -> String {
    format!("{:.0}", bps * 8.0 / 1e6)
}

fn main() {
    let kind = if vimage_kern::VIMAGE {
        "VIMAGE"
    } else {
        "no VIMAGE"
    };
    // Over lo0 inside one vimage (the default one when the kernel has only one).
    let k = boot();
    let v0 = k.vimage0().clone();
    let v = if vimage_kern::VIMAGE {
        k.vi_create(&v0, "n1").expect("vimage")
    } else {
        v0.clone()
    };
    addr(&v, "lo0", Ipv4Addr::LOCALHOST, 8);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "cost") {
        // `cost [MB [REPS]]`: `bench-tcp.sh` alternates this line from both
        // builds, many short runs, and compares them pairwise.
        let num = |j: usize, d: u64| args.get(j).and_then(|a| a.parse().ok()).unwrap_or(d);
        let (mb, reps) = (num(i + 1, 64), num(i + 2, 5) as u32);
        println!("cost {:.1}", cost_us_per_mb(&k, &v, 5002, mb, reps));
        k.shutdown();
        return;
    }
    let lo = transfer(&k, &v, &v, Ipv4Addr::LOCALHOST);
    println!("| vkernel ({kind}) | lo0 in one vimage | {} |", mbit(lo));
    if vimage_kern::VIMAGE {
        // Two vimages joined by eifaces.
        k.kldload("netgraph").expect("netgraph");
        k.kldload("ng_eiface").expect("ng_eiface");
        let a = k.vi_create(&v0, "a").expect("vimage");
        let b = k.vi_create(&v0, "b").expect("vimage");
        vimage_kmod::netgraph::ng_base::ng_with(&v0.vnet, |s| {
            let x = s.make_node("eiface").expect("eiface");
            let y = s.make_node("eiface").expect("eiface");
            s.connect(x, "ether", y, "ether").expect("connect");
        })
        .expect("netgraph");
        k.vi_iface(&v0, "a", "ngeth0", None).expect("move");
        k.vi_iface(&v0, "b", "ngeth1", None).expect("move");
        for (vi, mac, ip) in [(&a, 1u8, 1u8), (&b, 2, 2)] {
            let _cv = CurvnetGuard::set(&vi.vnet);
            if let Some(ifp) = ifunit("eth0") {
                if let Ok(mut g) = ifp.lladdr.write() {
                    *g = vec![0x02, 0, 0, 0, 0, mac];
                }
            }
            drop(_cv);
            addr(vi, "eth0", Ipv4Addr::new(10, 55, 0, ip), 24);
        }
        let e = transfer(&k, &b, &a, Ipv4Addr::new(10, 55, 0, 2));
        println!("| vkernel ({kind}) | two vimages, eifaces | {} |", mbit(e));
        let l = linux_loopback();
        println!("| Linux (this machine) | loopback, std TCP | {} |", mbit(l));
    }
    k.shutdown();
    std::thread::sleep(Duration::from_millis(10));
}
