//! vkernel: boots a FreeBSD-7-style VIMAGE network kernel as a user-space process.
//!
//! It owns the threads, the syscall server (a Unix socket), the host process table
//! and the signal handling; all kernel logic is in the sans-IO `vimage-kern` crate.
//! One thread serves each connected process.  SIGTERM, SIGINT or `halt` from the
//! default vimage shut it down cleanly: every vimage is destroyed, the socket is
//! removed.

mod hostprocs;
mod if_tap;
mod ksock;
mod sosplice;

use std::io::{BufReader, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use vimage_abi::syscall::{read_frame_into, write_frame, Reply, Request, SendtoView};
use vimage_abi::Errno;
use vimage_kern::{Kernel, KernelConfig};

#[derive(Parser)]
#[command(name = "vkernel", about = "Boot a VIMAGE network kernel in user space")]
struct Args {
    /// Control socket path (default: $VIMAGE_SOCKET, /var/run/vimage/kernel.sock for
    /// root, else $XDG_RUNTIME_DIR/vimage/kernel.sock).
    #[arg(short = 's', long = "socket")]
    socket: Option<PathBuf>,
    /// Print less at boot.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Attach a host interface as an Ethernet ifnet of the default vimage:
    /// NAME=tap[:HOSTIF] creates a TAP device, NAME=packet:HOSTIF opens an existing
    /// interface with AF_PACKET.  Repeatable; needs root.
    #[arg(
        short = 'a',
        long = "attach",
        value_name = "NAME=tap[:HOSTIF]|NAME=packet:HOSTIF"
    )]
    attach: Vec<if_tap::AttachSpec>,
}

enum Event {
    Signal(Signal),
    Halt,
}

fn main() {
    // Packet and socket buffers of up to a MiB come and go all the time: keep
    // them in the heap (no mmap, page faults and zeroing per buffer) and do
    // not hand freed memory back to the host at every turn, as a kernel's
    // own allocator caches its buffers.
    // SAFETY: mallopt only tunes glibc's allocator; called before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
    let args = Args::parse();
    // Exported sockets (two host descriptors each, and the datagram tokens in
    // flight) need more than the usual 1024 descriptors.
    // SAFETY: get/setrlimit on our own process with a valid struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
    let path = args.socket.unwrap_or_else(libvimage::socket_path);

    // Block the shutdown signals in every thread; one thread waits for them.
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    if let Err(e) = set.thread_block() {
        eprintln!("vkernel: sigprocmask: {e}");
        std::process::exit(1);
    }
    let _ =
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) };

    let listener = match bind(&path) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("vkernel: {}: {msg}", path.display());
            std::process::exit(1);
        }
    };

    let ident = env!("VKERNEL_IDENT");
    let version = format!(
        "FreeBSD 7.0-CURRENT #0 vimage-{} ({}): {}",
        env!("CARGO_PKG_VERSION"),
        env!("VKERNEL_REV"),
        ident
    );
    let kernel = match Kernel::boot(KernelConfig {
        host: Arc::new(hostprocs::ProcFs::new()),
        ident: ident.into(),
        version: version.clone(),
        clock: Arc::new(HostClock(std::time::Instant::now())),
    }) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vkernel: boot failed: {e}");
            let _ = std::fs::remove_file(&path);
            std::process::exit(1);
        }
    };
    for m in vimage_kmod::catalog() {
        kernel.kld_catalog_add(m);
    }
    vimage_kmod::netgraph::ng_ksocket::set_ksock_host(&kernel, Arc::new(ksock::HostUdp));
    // loader.conf: netgraph and its sockets are there from boot; node types
    // load on first use.
    for m in ["netgraph", "ng_socket"] {
        if let Err(e) = kernel.kldload(m) {
            eprintln!("vkernel: cannot load {m}: {e}");
        }
    }
    rc_default(&kernel);
    let mut attached = Vec::new();
    for a in &args.attach {
        match if_tap::attach(&kernel, a) {
            Ok(line) => attached.push(line),
            Err(e) => {
                eprintln!("vkernel: attach {}: {e}", a.name);
                kernel.shutdown();
                let _ = std::fs::remove_file(&path);
                std::process::exit(1);
            }
        }
    }

    if !args.quiet {
        boot_log(&kernel, &version, &path);
        for l in &attached {
            println!("{l}");
        }
        let _ = std::io::stdout().flush();
    }

    let (tx, rx) = mpsc::channel::<Event>();
    let exports = Arc::new(sosplice::Exports::default());
    {
        // softclock: run callouts (link emulation delays, netgraph timers) as
        // they fall due; sleeps until the earliest one.
        let kernel = kernel.clone();
        std::thread::Builder::new()
            .name("softclock".into())
            .spawn(move || {
                while !kernel.halting() {
                    kernel.softclock();
                    kernel
                        .callouts
                        .wait(kernel.now_ns(), std::time::Duration::from_millis(500));
                }
            })
            .ok();
    }
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("sigwait".into())
            .spawn(move || loop {
                if let Ok(sig) = set.wait() {
                    let _ = tx.send(Event::Signal(sig));
                }
            })
            .ok();
    }
    {
        let kernel = kernel.clone();
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    if kernel.halting() {
                        break;
                    }
                    let k = kernel.clone();
                    let tx = tx.clone();
                    let ex = exports.clone();
                    let _ = std::thread::Builder::new()
                        .name("syscall".into())
                        .stack_size(256 * 1024)
                        .spawn(move || serve(k, conn, tx, ex));
                }
            })
            .ok();
    }

    let why = rx.recv();
    match why {
        Ok(Event::Signal(s)) => println!("vkernel: caught {s}, halting"),
        Ok(Event::Halt) | Err(_) => println!("vkernel: halt requested"),
    }
    let _ = std::fs::remove_file(&path);
    kernel.shutdown();
    println!("The operating system has halted.");
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// The host's monotonic clock, counted from boot.
struct HostClock(std::time::Instant);

impl vimage_kern::kern::kern_timeout::Clock for HostClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Bind the control socket: refuse if a live kernel answers there, replace a stale
/// socket, create the directory, and restrict the socket to owner and group (0660).
fn bind(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err("a kernel is already running on this socket".into());
        }
        std::fs::remove_file(path).map_err(|e| e.to_string())?;
    }
    let l = UnixListener::bind(path).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| e.to_string())?;
    Ok(l)
}

/// What rc(8) does at boot in the default vimage: bring lo0 up (which gives it
/// ::1 and fe80::1, as `if_up` does).
fn rc_default(k: &Arc<Kernel>) {
    use std::sync::atomic::Ordering;
    use vimage_abi::net_if::{IFF_RUNNING, IFF_UP};
    let _cv = vimage_kern::CurvnetGuard::set(&k.vimage0().vnet);
    if let Some(lo) = vimage_kern::net::r#if::ifunit("lo0") {
        lo.flags.fetch_or(IFF_UP | IFF_RUNNING, Ordering::Relaxed);
        vimage_kern::netinet6::in6::in6_if_up(&lo);
        // rc.conf's ifconfig_lo0="inet 127.0.0.1".
        let _ns = vimage_kern::net::netisr::netisr_enter();
        let _ = vimage_kern::netinet::r#in::in_aifaddr(
            &lo,
            std::net::Ipv4Addr::LOCALHOST,
            Some(std::net::Ipv4Addr::new(255, 0, 0, 0)),
            None,
        );
    }
}

fn boot_log(k: &Arc<Kernel>, version: &str, path: &Path) {
    println!("Copyright (c) 2026 The vimage developers. All rights reserved.");
    println!("Modelled on FreeBSD 7.0 with VIMAGE network stack virtualization.");
    println!("{version}");
    println!("kernel ident: {}", k.ident);
    println!(
        "options VIMAGE: {}",
        if vimage_kern::VIMAGE { "yes" } else { "no" }
    );
    for m in k.registry().modules() {
        println!("vnet: module {} (id {}) registered", m.name, m.id);
    }
    let cl: Vec<String> = k
        .registry()
        .cloners()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    println!("if_clone: {}", cl.join(" "));
    println!("vimage: \"default\" created, vnet0 attached, lo0 up");
    println!("syscall gate: {}", path.display());
    let _ = std::io::stdout().flush();
}

/// Serve one process: read requests, run them, answer.  A malformed frame gets
/// EINVAL and the connection goes on; a broken stream ends the process context,
/// closing its descriptors.
fn serve(
    k: Arc<Kernel>,
    conn: UnixStream,
    tx: mpsc::Sender<Event>,
    exports: Arc<sosplice::Exports>,
) {
    {
        // Room for a whole frame each way (best effort).
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(&conn, sockopt::SndBuf, &vimage_abi::syscall::DOOR_SOCKBUF);
        let _ = setsockopt(&conn, sockopt::RcvBuf, &vimage_abi::syscall::DOOR_SOCKBUF);
    }
    let pid = match getsockopt(&conn, PeerCredentials) {
        Ok(c) => c.pid() as u32,
        Err(_) => return,
    };
    let mut td = k.td_attach(pid);
    {
        // A process blocked in recvfrom that dies must not pin its thread: the
        // connection turning readable (EOF) while a call is in progress means the
        // process went away.
        let fd = conn.as_raw_fd();
        td.intr = Arc::new(move || {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd, zero timeout; the fd outlives the closure's
            // use (it is only called during a syscall on this connection).
            unsafe { libc::poll(&mut p, 1, 0) > 0 }
        });
    }
    let Ok(rd) = conn.try_clone() else { return };
    let mut rd = BufReader::new(rd);
    let mut wr = BufWriter::new(conn);
    // One frame buffer per connection: a 256 KiB write is not a fresh
    // allocation (and fresh pages) per call.
    let mut frame = Vec::new();
    loop {
        match read_frame_into(&mut rd, &mut frame) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // An oversized length: the stream cannot be resynchronised.
                let _ = write_frame(&mut wr, &Reply::err(Errno::EINVAL).to_bytes());
                let _ = wr.flush();
                break;
            }
            Err(_) => break,
        }
        // The data-moving call is served from the frame in place.
        let reply = if let Some(v) = SendtoView::parse(&frame) {
            k.sys_sendto(&mut td, v.fd, v.flags, v.addr, v.data)
        } else {
            match Request::from_bytes(&frame) {
                Ok(Request::Export { fd }) => {
                    // The reply carries a host descriptor: sent here, by hand.
                    let r = sosplice::export(&k, &exports, &td, fd);
                    let ok = match r {
                        Ok((prog, reaped)) => {
                            let data = reaped.iter().flat_map(|i| i.to_le_bytes()).collect();
                            wr.flush().is_ok()
                                && sosplice::send_reply_with_fd(
                                    wr.get_ref().as_raw_fd(),
                                    &Reply::data(data),
                                    &prog,
                                )
                                .is_ok()
                        }
                        Err(e) => Reply::err(e).write_frame(&mut wr).is_ok() && wr.flush().is_ok(),
                    };
                    if !ok {
                        break;
                    }
                    continue;
                }
                Ok(req) => k.syscall(&mut td, req),
                Err(e) => Reply::err(e),
            }
        };
        let sent = reply.write_frame(&mut wr).is_ok() && wr.flush().is_ok();
        if k.halting() {
            // reboot(2) succeeded and its caller has its answer: now halt.
            let _ = tx.send(Event::Halt);
        }
        if !sent {
            break;
        }
    }
    k.td_exit(&mut td);
}
