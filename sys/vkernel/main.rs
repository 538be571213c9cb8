//! vkernel: boots a FreeBSD-7-style VIMAGE network kernel as a user-space process.
//!
//! It owns the threads, the syscall server (a Unix socket), the host process table
//! and the signal handling; all kernel logic is in the sans-IO `vimage-kern` crate.
//! One thread serves each connected process, within the limits of [`door`].
//! SIGTERM, SIGINT or `halt` from the default vimage shut it down cleanly:
//! every vimage is destroyed, the socket is removed.

mod copyio;
mod door;
mod hostprocs;
mod if_tap;
mod ksock;
mod sosplice;

use std::io::{BufReader, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use vimage_abi::syscall::{write_frame, Reply, Request};
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
    /// Softclock threads running callouts, each taking the vimage whose
    /// timers fall due first (read back as `kern.softclock_threads`;
    /// default: one per host CPU, at most 8).
    #[arg(
        long = "softclock-threads",
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=SOFTCLOCK_MAX)
    )]
    softclock_threads: Option<u16>,
}

/// Most softclock threads `--softclock-threads` takes.
const SOFTCLOCK_MAX: i64 = 64;

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
        // One arena per CPU, not up to eight: each door connection is a
        // thread, and with an arena of its own, every round of vimages made
        // through vimage(8) landed in arenas the last round's freed memory
        // was not in (RSS grew round after round of create and destroy).
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        libc::mallopt(libc::M_ARENA_MAX, cpus.clamp(2, 64) as i32);
    }
    // Tenants may run as our user: none of them may ptrace the kernel, read
    // or write its memory through /proc, or take its descriptors.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
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

    let (listener, sock_id) = match bind(&path) {
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
    let kernel = match vimage_conf::boot(KernelConfig {
        host: Arc::new(hostprocs::ProcFs::new()),
        ident: ident.into(),
        version: version.clone(),
        clock: Arc::new(HostClock(std::time::Instant::now())),
        random: Arc::new(HostRandom),
    }) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vkernel: boot failed: {e}");
            unbind(&path, sock_id);
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
    if_tap::sysctl_init(&kernel);
    let mut attached = Vec::new();
    for a in &args.attach {
        match if_tap::attach(&kernel, a) {
            Ok(line) => attached.push(line),
            Err(e) => {
                eprintln!("vkernel: attach {}: {e}", a.name);
                kernel.shutdown();
                unbind(&path, sock_id);
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
    let limits = door::Door::new(&kernel);
    {
        let (l, k) = (limits.clone(), kernel.clone());
        std::thread::Builder::new()
            .name("memtrim".into())
            .spawn(move || l.trimmer(k))
            .ok();
    }
    let softclocks = softclock_pool(&kernel, args.softclock_threads);
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
                    let conn = match conn {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of descriptors or memory: let some free
                            // up rather than spin.
                            if matches!(
                                e.raw_os_error(),
                                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                            ) {
                                std::thread::sleep(std::time::Duration::from_millis(100));
                            }
                            continue;
                        }
                    };
                    if kernel.halting() {
                        break;
                    }
                    let Ok(cred) = getsockopt(&conn, PeerCredentials) else {
                        continue;
                    };
                    let (uid, pid) = (cred.uid(), cred.pid() as u32);
                    let slot = match limits.admit(uid, pid) {
                        Ok(s) => s,
                        Err(why) => {
                            limits.refuse(conn, why, uid, pid);
                            continue;
                        }
                    };
                    let k = kernel.clone();
                    let tx = tx.clone();
                    let ex = exports.clone();
                    let lim = limits.clone();
                    // The connection goes to the thread once it exists: if
                    // it cannot be made, the process hears EAGAIN.
                    let (give, take) = mpsc::sync_channel::<(UnixStream, door::Slot)>(1);
                    let spawned = std::thread::Builder::new()
                        .name("syscall".into())
                        .stack_size(256 * 1024)
                        .spawn(move || {
                            if let Ok((conn, slot)) = take.recv() {
                                serve(k, conn, pid, tx, ex, &lim);
                                drop(slot);
                            }
                        });
                    match spawned {
                        Ok(_) => {
                            let _ = give.send((conn, slot));
                        }
                        Err(_) => {
                            drop(slot);
                            limits.refuse(conn, "host thread", uid, pid);
                        }
                    }
                }
            })
            .ok();
    }

    let why = rx.recv();
    match why {
        Ok(Event::Signal(s)) => println!("vkernel: caught {s}, halting"),
        Ok(Event::Halt) | Err(_) => println!("vkernel: halt requested"),
    }
    unbind(&path, sock_id);
    kernel.shutdown();
    // The halt sent the softclock threads home; a callout still running
    // gets a moment to finish.
    let t0 = std::time::Instant::now();
    for h in softclocks {
        while !h.is_finished() && t0.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
    println!("The operating system has halted.");
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// Start `n` softclock threads (default: one per host CPU, at most 8),
/// "softclock0", "softclock1"…, and publish their number as the read-only
/// `kern.softclock_threads`.  Each runs one vnet's due callouts at a time,
/// so timers of different vimages run in parallel.
fn softclock_pool(kernel: &Arc<Kernel>, n: Option<u16>) -> Vec<std::thread::JoinHandle<()>> {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let n = n.map_or(cpus.clamp(1, 8), usize::from);
    kernel.sysctl.add_int(
        "kern.softclock_threads",
        "Threads running callouts (boot option --softclock-threads)",
        Arc::new(std::sync::atomic::AtomicI64::new(n as i64)),
        false,
        1,
        SOFTCLOCK_MAX,
    );
    (0..n)
        .filter_map(|i| {
            let kernel = kernel.clone();
            std::thread::Builder::new()
                .name(format!("softclock{i}"))
                .spawn(move || softclock(&kernel))
                .ok()
        })
        .collect()
}

/// One softclock thread: run the wheel that fell due first (link emulation
/// delays, netgraph and protocol timers), and when none is due sleep until
/// the earliest deadline, an earlier one filed meanwhile, or the halt.
fn softclock(kernel: &Kernel) {
    while !kernel.halting() {
        if kernel.callouts.run_one(kernel.now_ns()).is_some() {
            continue;
        }
        if !kernel
            .callouts
            .wait(kernel.now_ns(), std::time::Duration::from_millis(500))
        {
            break;
        }
    }
}

/// The host's entropy (`getrandom(2)`): the kernel's `arc4random`.
struct HostRandom;

impl vimage_kern::kern_random::Entropy for HostRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut off = 0;
        while off < buf.len() {
            let rest = &mut buf[off..];
            // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n > 0 {
                off += n as usize;
            } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                // No entropy to be had (a kernel without getrandom): fall
                // back on the clock, better than zeros.
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
                    ^ u64::from(std::process::id()) << 32;
                for (i, b) in rest.iter_mut().enumerate() {
                    *b = (t.rotate_left(i as u32 * 8) as u8) ^ (i as u8);
                }
                return;
            }
        }
    }
}

/// The host's monotonic clock, counted from boot.
struct HostClock(std::time::Instant);

impl vimage_kern::kern_timeout::Clock for HostClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Whether a directory may hold the kernel's socket: it belongs to us or to
/// root, and others cannot replace what is in it (not writable by all, unless
/// sticky as `/tmp` is).
fn dir_is_safe(dir: &Path) -> Result<(), String> {
    let m = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !m.is_dir() {
        return Err(format!("{}: Not a directory", dir.display()));
    }
    if m.uid() != me && m.uid() != 0 {
        return Err(format!(
            "{}: directory belongs to uid {}, not to us or root: refusing it",
            dir.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o1002 == 0o002 {
        return Err(format!(
            "{}: directory is writable by anyone: refusing it",
            dir.display()
        ));
    }
    Ok(())
}

/// Bind the control socket.  A missing directory is made (0700, or 0755 for
/// root, whose socket its group may share); an existing one must be safe
/// ([`dir_is_safe`]).  A path that exists and is not a socket is refused, a
/// live kernel's socket too; only a stale socket (nothing answers) is
/// replaced.  The socket is restricted to owner and group (0660).  Returns
/// the listener and the socket's (device, inode), to remove it at halt only
/// if it is still ours.
fn bind(path: &Path) -> Result<(UnixListener, (u64, u64)), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if std::fs::symlink_metadata(dir).is_err() {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let mode = if unsafe { libc::geteuid() } == 0 {
                0o755
            } else {
                0o700
            };
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)
                .map_err(|e| e.to_string())?;
        }
        dir_is_safe(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.to_string()),
        Ok(m) if !m.file_type().is_socket() => {
            return Err("File exists and is not a socket: not replacing it".into())
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => return Err("a kernel is already running on this socket".into()),
            // Nothing listens: a kernel that did not halt cleanly left it.
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                std::fs::remove_file(path).map_err(|e| e.to_string())?
            }
            Err(e) => return Err(format!("{e}: not replacing the socket")),
        },
    }
    let l = UnixListener::bind(path).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| e.to_string())?;
    let m = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    Ok((l, (m.dev(), m.ino())))
}

/// Remove our socket, if what is at `path` is still the socket we bound.
fn unbind(path: &Path, id: (u64, u64)) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() && (m.dev(), m.ino()) == id {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What rc(8) does at boot in the default vimage: bring lo0 up (which gives it
/// ::1 and fe80::1, as `if_up` does).
/// /etc/rc for the default vimage: what rc.conf's `ifconfig_lo0="inet
/// 127.0.0.1"` does, through the kernel's system calls as ifconfig makes
/// them (the kernel is configured like any other, not from inside).
fn rc_default(k: &Arc<Kernel>) {
    use vimage_abi::net_if::{IfReq, IFF_UP, SIOCGIFFLAGS, SIOCSIFFLAGS};
    use vimage_abi::netinet_in::{InAliasReq, SIOCAIFADDR};
    use vimage_abi::syscall::Request;
    let mut td = k.td_attach(std::process::id());
    let Ok(r) = k
        .syscall(
            &mut td,
            Request::Socket {
                domain: 2,
                ty: 2,
                proto: 0,
            },
        )
        .result()
    else {
        return;
    };
    let fd = r.val as i32;
    let ioctl = |td: &mut vimage_kern::kern_syscall::Td, cmd: u32, data: Vec<u8>| {
        k.syscall(td, Request::Ioctl { fd, cmd, data }).result()
    };
    // ifconfig lo0 up
    if let Ok(b) = IfReq::new("lo0").to_bytes() {
        if let Ok(r) = ioctl(&mut td, SIOCGIFFLAGS, b) {
            if let Ok(mut ifr) = IfReq::from_bytes(&r.data) {
                ifr.set_flags(ifr.flags() | IFF_UP);
                if let Ok(b) = ifr.to_bytes() {
                    let _ = ioctl(&mut td, SIOCSIFFLAGS, b);
                }
            }
        }
    }
    // ifconfig lo0 inet 127.0.0.1
    let req = InAliasReq {
        name: "lo0".into(),
        addr: Some(std::net::Ipv4Addr::LOCALHOST),
        broadaddr: None,
        mask: Some(std::net::Ipv4Addr::new(255, 0, 0, 0)),
    };
    if let Ok(b) = req.to_bytes() {
        let _ = ioctl(&mut td, SIOCAIFADDR, b);
    }
    let _ = k.syscall(&mut td, Request::Close { fd }).result();
    // hostname=`hostname`: the default vimage is the machine, and is called
    // as the host is (read from the host, never set on it).
    if let Ok(h) = nix::unistd::gethostname() {
        if let Some(h) = h.to_str().filter(|h| !h.is_empty()) {
            let mut w = vimage_abi::wire::Writer::new();
            vimage_abi::sysctl::SysctlValue::Str(h.to_string()).encode(&mut w);
            let _ = k
                .syscall(
                    &mut td,
                    Request::Sysctl {
                        name: "kern.hostname".into(),
                        new: Some(w.finish()),
                    },
                )
                .result();
        }
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
    let cl: Vec<String> = vimage_net::if_clone::if_cloners(k.registry())
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    println!("if_clone: {}", cl.join(" "));
    println!("vimage: \"default\" created, vnet0 attached, lo0 up");
    println!("syscall gate: {}", path.display());
    let _ = std::io::stdout().flush();
}

/// Serve one process: read requests, run them, answer.  A malformed frame gets
/// EINVAL and the connection goes on; a broken stream, or a request not
/// arriving whole within `kern.door.frametimeout`, ends the process context,
/// closing its descriptors.
fn serve(
    k: Arc<Kernel>,
    conn: UnixStream,
    pid: u32,
    tx: mpsc::Sender<Event>,
    exports: Arc<sosplice::Exports>,
    limits: &door::Door,
) {
    {
        // Room for a whole frame each way (best effort).
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(&conn, sockopt::SndBuf, &vimage_abi::syscall::DOOR_SOCKBUF);
        let _ = setsockopt(&conn, sockopt::RcvBuf, &vimage_abi::syscall::DOOR_SOCKBUF);
    }
    let mut um = {
        let c = getsockopt(&conn, PeerCredentials).ok();
        let (uid, gid) = c.map_or((u32::MAX, u32::MAX), |c| (c.uid(), c.gid()));
        copyio::UserMem::new(uid, gid, limits.copyio())
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
    // One descriptor serves both directions.
    let mut rd = BufReader::new(door::DoorReader::new(&conn));
    let mut wr = BufWriter::new(&conn);
    // One frame buffer per connection: a 256 KiB write is not a fresh
    // allocation (and fresh pages) per call.  It grows with what arrives
    // and, past FRAME_KEEP, is let go once its request is served.
    let mut frame = Vec::new();
    loop {
        if frame.capacity() > door::FRAME_KEEP {
            frame = Vec::new();
            limits.released();
        }
        let started = !rd.buffer().is_empty();
        rd.get_mut().next_frame(limits.frame_timeout(), started);
        match door::read_frame(&mut rd, &mut frame) {
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
        // The data-moving calls: a write's frame becomes socket-buffer data,
        // a read is answered from the receive buffer's mbufs by one writev.
        if let Some(sent) = door::sendto(&k, &mut td, &mut frame, &mut wr) {
            if sent {
                continue;
            }
            break;
        }
        let reply = {
            match Request::from_bytes(&frame) {
                Ok(Request::SendUser {
                    fd,
                    flags,
                    ptr,
                    len,
                }) => {
                    let call = (fd, flags, ptr, len);
                    if door::send_user(&k, &mut td, &mut um, &conn, &mut frame, call, &mut wr) {
                        continue;
                    }
                    break;
                }
                Ok(Request::RecvfromUser {
                    fd,
                    len,
                    flags,
                    ptr,
                }) => {
                    let call = (fd, len, flags, ptr);
                    if door::recvfrom_user(&k, &mut td, &mut um, &conn, call, &mut wr) {
                        continue;
                    }
                    break;
                }
                Ok(Request::Recvfrom { fd, len, flags }) => {
                    if door::recvfrom(&k, &mut td, fd, len, flags, &mut wr) {
                        continue;
                    }
                    break;
                }
                Ok(Request::Export { fd, pid }) => {
                    // The reply carries a host descriptor: sent here, by hand.
                    // The owner it names is shown by kern.file (sockstat):
                    // only a process of the caller's vimage, or below.
                    let owner = if pid != 0 && k.pid_within(&td, pid) {
                        pid
                    } else {
                        0
                    };
                    let r = sosplice::export(&k, &exports, &td, fd, owner);
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
                Ok(Request::SetOwner { pid }) if !um.may_debug(pid) => Reply::err(Errno::EPERM),
                Ok(Request::SetOwner { pid }) => {
                    let r = k.syscall(&mut td, Request::SetOwner { pid });
                    if r.errno == 0 {
                        um.set_owner(pid);
                    }
                    r
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
    if frame.capacity() > vimage_abi::syscall::FRAME_CHUNK * 16 {
        limits.released();
    }
    k.td_exit(&mut td);
}
