//! vimage(8) as in FreeBSD 7.0's VIMAGE patch.
//!
//! ```text
//! vimage                          name of the current vimage
//! vimage -l [vname]               list vimages from here down (or one)
//! vimage -c vname                 create
//! vimage -d vname                 delete
//! vimage -i vname ifname [newifname]   move an interface (vname "-": to the parent)
//! vimage vname [command ...]      run a command (or $SHELL) inside vname
//! ```
//!
//! Entering a vimage: the tool forks a *reaper* that asks the kernel to move it
//! into the target (VI_SWITCHTO), makes itself a child subreaper, and forks the
//! command.  The kernel places every descendant of the reaper in the vimage, and
//! orphans (double-forked daemons) are reparented to the reaper, so nothing can
//! slip out.  The reaper reports the command's exit status to the tool and lingers
//! while daemons it adopted are alive.

mod seccomp;
mod supervisor;

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libvimage::{err, errx, getopt, Errno, Sys};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, signal, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execvp, fork, pipe, ForkResult, Pid};
use vimage_abi::vimage::*;

fn usage() -> ! {
    eprintln!(
        "usage: vimage [-c | -d] vname\n       vimage -l [vname]\n       vimage -i vname ifname [newifname]\n       vimage [vname [command ...]]"
    );
    std::process::exit(1)
}

fn main() {
    // The mode letters take no arguments: what follows are operands.  A bad
    // letter is only the usage, as the VIMAGE patch's vimage never used
    // getopt's message.
    let a = getopt(":cdil", usage);
    let mode = match a.opts.as_slice() {
        [] => None,
        [(c, _)] => Some(*c),
        _ => usage(),
    };
    match (mode, a.operands.as_slice()) {
        (None, []) => current(),
        (None, [name, cmd @ ..]) => enter(name, cmd),
        (Some('l'), []) => list(None),
        (Some('l'), [name]) => list(Some(name)),
        (Some('c'), [name]) => create(name),
        (Some('d'), [name]) => destroy(name),
        (Some('i'), [name, ifname]) => move_if(name, ifname, ""),
        (Some('i'), [name, ifname, newname]) => move_if(name, ifname, newname),
        _ => usage(),
    }
}

/// `vimage`: the name of the caller's vimage.
fn current() {
    let mut s = Sys::open_or_exit();
    match s.vi_ioctl(SIOCGPVIMAGE, &ViReq::new(VI_GET, ".")) {
        Ok(r) => println!("{}", r.name),
        Err(e) => err(1, "get", e),
    }
}

/// `vimage -c vname`.
fn create(name: &str) {
    let mut s = Sys::open_or_exit();
    if let Err(e) = s.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_CREATE, name)) {
        if e == Errno::EOPNOTSUPP {
            errx(1, "kernel built without VIMAGE support")
        }
        err(1, name, e)
    }
}

/// `vimage -d vname`.
fn destroy(name: &str) {
    let mut s = Sys::open_or_exit();
    if let Err(e) = s.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_DESTROY, name)) {
        err(1, name, e)
    }
}

/// `vimage -i vname ifname [newifname]`: move an interface (to the parent
/// for vname `-`) and print its new name.
fn move_if(name: &str, ifname: &str, newname: &str) {
    let mut q = ViReq::new(VI_IFACE, name);
    q.if_xname = ifname.to_string();
    q.if_newname = newname.to_string();
    if q.to_bytes().is_err() {
        err(1, ifname, Errno::ENAMETOOLONG)
    }
    let mut s = Sys::open_or_exit();
    match s.vi_ioctl(SIOCSIFVIMAGE, &q) {
        Ok(r) => println!("{}@{}", r.if_xname, r.name),
        Err(Errno::ENODEV) => err(
            1,
            format!("{ifname}: interface cannot be moved"),
            Errno::ENODEV,
        ),
        Err(Errno::ENXIO) => {
            // Tell which of the two names is missing.
            let known = name == "-"
                || name == ".."
                || s.vi_ioctl(SIOCGPVIMAGE, &ViReq::new(VI_GET, name)).is_ok();
            err(1, if known { ifname } else { name }, Errno::ENXIO)
        }
        Err(e) => err(1, ifname, e),
    }
}

/// `vimage -l [vname]`: the tutorial's block per vimage.
fn list(one: Option<&str>) {
    let mut s = Sys::open_or_exit();
    // Buffered: thousands of blocks are written in a few large writes.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Some(n) = one {
        match s.vi_ioctl(SIOCGPVIMAGE, &ViReq::new(VI_GET, n)) {
            Ok(r) => print_block(&mut out, &r),
            Err(e) => err(1, n, e),
        }
        let _ = out.flush();
        return;
    }
    // One socket for the whole walk: a request per vimage, each answered from
    // where the previous one left off.
    let fd = match s.socket(2, 2, 0) {
        Ok(fd) => fd,
        Err(e) => err(1, "socket", e),
    };
    let mut seen = std::collections::HashSet::new();
    let mut cur = String::new();
    loop {
        let r = ViReq::new(VI_GETNEXT_RECURSE, &cur)
            .to_bytes()
            .and_then(|q| s.ioctl(fd, SIOCGPVIMAGE, q))
            .and_then(|b| ViReq::from_bytes(&b));
        match r {
            Ok(r) => {
                print_block(&mut out, &r);
                let next = if cur.is_empty() { ".".into() } else { r.name };
                // A kernel answering in circles must not keep us printing.
                if !seen.insert(next.clone()) {
                    let _ = out.flush();
                    errx(1, format!("list: \"{next}\" listed twice"))
                }
                cur = next;
            }
            Err(Errno::ESRCH) => break,
            Err(e) => {
                let _ = out.flush();
                err(1, "list", e)
            }
        }
    }
    let _ = out.flush();
    let _ = s.close(fd);
}

/// One vimage's block of `vimage -l` (a closed output ends the tool, as
/// SIGPIPE would).
fn print_block(out: &mut impl Write, r: &ViReq) {
    let parent = if r.parent_name.is_empty() {
        String::new()
    } else {
        format!(", parent vimage: \"{}\"", r.parent_name)
    };
    let w = write!(
        out,
        "\"{}\":\n  {} processes, load averages: nan, nan, nan\n  \
         CPU usage: (0.00% user, 0.00% nice, 0.00% sys, 0.00% intr)\n  \
         CPU limits: min 0.00%, max 100.00%, weight 0, no intr limit\n  \
         No proc limit\n  \
         Sockets (current/max): {}/{}\n  \
         {} network interfaces{}\n",
        r.name, r.proc_count, r.sock_count, r.sock_max, r.if_count, parent
    );
    if w.is_err() {
        std::process::exit(1)
    }
}

/// Signals that end a command, passed on down to it: `kill` or a hangup
/// aimed at `vimage NAME cmd` reaches `cmd`, as if vimage(8) had exec'd it
/// (FreeBSD's does).  SIGINT and SIGQUIT come from the terminal to the whole
/// process group anyway.
const PASSED_ON: [Signal; 2] = [Signal::SIGTERM, Signal::SIGHUP];

/// The front process: the reaper to pass signals to, and the last passed.
static FRONT_TO: AtomicI32 = AtomicI32::new(0);
static FRONT_GOT: AtomicI32 = AtomicI32::new(0);
/// The reaper: a pidfd of the command while it runs (-1 otherwise).
static REAPER_TO: AtomicI32 = AtomicI32::new(-1);

extern "C" fn front_pass_on(sig: libc::c_int) {
    FRONT_GOT.store(sig, Ordering::Relaxed);
    let p = FRONT_TO.load(Ordering::Relaxed);
    if p > 0 {
        // SAFETY: kill(2) is async-signal-safe; `p` is our unreaped child.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

extern "C" fn reaper_pass_on(sig: libc::c_int) {
    let fd = REAPER_TO.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: a raw system call on a pidfd (never a reused pid).
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                sig,
                std::ptr::null::<u8>(),
                0,
            );
        }
    }
}

/// Catch [`PASSED_ON`] with `f` (restarting interrupted calls).
fn pass_on(f: extern "C" fn(libc::c_int)) {
    let sa = SigAction::new(SigHandler::Handler(f), SaFlags::SA_RESTART, SigSet::empty());
    for s in PASSED_ON {
        // SAFETY: the handlers only touch atomics and make raw system calls.
        unsafe {
            let _ = sigaction(s, &sa);
        }
    }
}

/// `vimage vname [command ...]`.
fn enter(name: &str, cmd: &[String]) {
    let (rd, wr) = pipe().unwrap_or_else(|e| err(1, "pipe", Errno::from_host(e as i32)));
    // SAFETY: single-threaded here; the child only calls async-signal-safe code
    // before exec or runs our own code to completion.
    match unsafe { fork() } {
        Err(e) => err(1, "fork", Errno::from_host(e as i32)),
        Ok(ForkResult::Child) => {
            drop(rd);
            reaper(name, cmd, wr)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(wr);
            // Like system(3): the command owns the terminal's signals now;
            // a kill or hangup aimed at us is passed on to it.
            unsafe {
                let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
                let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
            }
            FRONT_TO.store(child.as_raw(), Ordering::Relaxed);
            pass_on(front_pass_on);
            let mut f = std::fs::File::from(rd);
            let mut msg = String::new();
            let _ = f.read_to_string(&mut msg);
            // Collect the reaper if it has already finished; otherwise it lingers
            // for adopted daemons and is reparented when we exit.
            let _ = waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            let mut parts = msg.split_whitespace();
            match (
                parts.next(),
                parts.next().and_then(|v| v.parse::<i32>().ok()),
            ) {
                (Some("E"), Some(e)) => {
                    let e = Errno(e);
                    if e == Errno::EOPNOTSUPP {
                        errx(1, "kernel built without VIMAGE support")
                    }
                    err(1, name, e)
                }
                (Some("X"), Some(code)) => {
                    // Killed by what we passed on: die of it too, as the
                    // command itself would have been seen to.
                    let got = FRONT_GOT.load(Ordering::Relaxed);
                    if got != 0 && code == 128 + got {
                        if let Ok(sig) = Signal::try_from(got) {
                            unsafe {
                                let _ = signal(sig, SigHandler::SigDfl);
                            }
                            let _ = nix::sys::signal::raise(sig);
                        }
                    }
                    std::process::exit(code)
                }
                (Some("C"), Some(e)) => {
                    let c = cmd.first().map(String::as_str).unwrap_or("sh");
                    eprintln!(
                        "vimage: {}: {}",
                        c,
                        libvimage::strerror(Errno::from_host(e))
                    );
                    std::process::exit(if e == libc::ENOENT { 127 } else { 126 })
                }
                _ => errx(1, format!("{name}: lost the command's exit status")),
            }
        }
    }
}

fn report(wr: &OwnedFd, msg: &str) {
    let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(wr.as_raw_fd()) });
    let _ = f.write_all(msg.as_bytes());
}

/// The reaper: switch into `name`, become subreaper, run the command, report.
fn reaper(name: &str, cmd: &[String], wr: OwnedFd) -> ! {
    let mut s = match Sys::open() {
        Ok(s) => s,
        Err(e) => {
            let p = libvimage::socket_path();
            eprintln!("vimage: cannot reach kernel at {}: {}", p.display(), e);
            report(&wr, "X 1");
            std::process::exit(1)
        }
    };
    if let Err(e) = s.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_SWITCHTO, name)) {
        // The kernel only moves a process strictly down the tree.  Naming
        // the vimage one is already in (the only one a kernel without
        // options VIMAGE has) runs the command there, supervised like any
        // other: that is how an unmodified program reaches the single stack.
        let here = s
            .vi_ioctl(SIOCGPVIMAGE, &ViReq::new(VI_GET, "."))
            .map(|r| r.name)
            .unwrap_or_default();
        if e != Errno::EPERM || (name != "." && name != here) {
            report(&wr, &format!("E {}", e.0));
            std::process::exit(1);
        }
    }
    let hostname = match s.sysctl("kern.hostname") {
        Ok(r) => match r.value {
            vimage_abi::sysctl::SysctlValue::Str(h) => h,
            _ => String::new(),
        },
        Err(_) => String::new(),
    };
    // Who the kernel is, to end the vimage's processes if it halts.
    let kpid = supervisor::kernel_pid(&s.into_stream());
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // The front process gone (killed even with SIGKILL) is a hangup for
        // the command, passed on below.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGHUP, 0, 0, 0);
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
    }
    let interactive = cmd.is_empty();
    if interactive {
        println!("Switched to vimage {name}");
        let _ = std::io::stdout().flush();
    }
    // The status pipe must not leak into the command: the tool waits for its EOF.
    unsafe {
        libc::fcntl(wr.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let (argv, env_ps1) = command_line(cmd, &hostname);
    let (erd, ewr) = match pipe() {
        Ok(p) => p,
        Err(_) => {
            report(&wr, "X 1");
            std::process::exit(1)
        }
    };
    // The listener's number (child to us) and our acknowledgement.
    let (Ok((lrd, lwr)), Ok((ard, awr))) = (pipe(), pipe()) else {
        report(&wr, "X 1");
        std::process::exit(1)
    };
    // SAFETY: see enter().
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(erd);
            unsafe {
                let _ = signal(Signal::SIGINT, SigHandler::SigDfl);
                let _ = signal(Signal::SIGQUIT, SigHandler::SigDfl);
                let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
                libc::fcntl(ewr.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
            }
            setup_env(env_ps1.as_deref());
            let c: Vec<CString> = argv
                .iter()
                .filter_map(|a| CString::new(a.as_bytes()).ok())
                .collect();
            // The capture: from here on this process's socket calls (and its
            // descendants') belong to the supervisor.
            drop(lrd);
            match seccomp::install() {
                Ok(lfd) => {
                    report(&lwr, &lfd.to_string());
                    drop(lwr);
                    // Wait until the supervisor holds the listener, then let go
                    // of ours: the supervisor's must be the only one.
                    let mut ack = [0u8; 1];
                    let _ = std::io::Read::read(&mut std::fs::File::from(ard), &mut ack);
                    unsafe {
                        libc::close(lfd);
                    }
                }
                // Already captured (a `vimage` run inside a vimage: seccomp
                // allows one listener per filter stack): the outer supervisor
                // serves this process too, in the vimage it is anchored in.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    report(&lwr, "-");
                    drop(lwr);
                    drop(ard);
                }
                Err(e) => {
                    report(&ewr, &e.raw_os_error().unwrap_or(libc::EPERM).to_string());
                    unsafe { libc::_exit(126) }
                }
            }
            let e = match c.first() {
                Some(p) => execvp(p, &c)
                    .err()
                    .map(|e| e as i32)
                    .unwrap_or(libc::ENOEXEC),
                None => libc::ENOENT,
            };
            report(&ewr, &e.to_string());
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(_) => {
            report(&wr, "X 1");
            std::process::exit(1)
        }
    };
    drop(ewr);
    drop(lwr);
    drop(ard);
    // Pass kills and hangups on to the command while it runs.
    let cmd_pidfd = seccomp::pidfd_open(child.as_raw()).ok();
    if let Some(fd) = &cmd_pidfd {
        REAPER_TO.store(fd.as_raw_fd(), Ordering::Relaxed);
    }
    pass_on(reaper_pass_on);
    if std::os::unix::process::parent_id() == 1 {
        // The front died before PR_SET_PDEATHSIG took: a hangup now.
        reaper_pass_on(libc::SIGHUP);
    }
    supervise(child, lrd, awr);
    if let Some(k) = kpid {
        supervisor::watch_kernel(k);
    }
    let mut f = std::fs::File::from(erd);
    let mut exec_err = String::new();
    let _ = f.read_to_string(&mut exec_err);
    let status = wait_for(child);
    // From now on nothing to pass signals on to (the front's own exit sends
    // us its death signal).
    REAPER_TO.store(-1, Ordering::Relaxed);
    drop(cmd_pidfd);
    match exec_err.trim().parse::<i32>() {
        Ok(e) => report(&wr, &format!("C {e}")),
        Err(_) => report(&wr, &format!("X {status}")),
    }
    drop(wr);
    // Let go of the caller's terminal and pipes: whoever reads our output must not
    // wait for the daemons we keep.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
    // Linger while adopted descendants (daemons) live, keeping them inside.
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    std::process::exit(0)
}

/// Take the child's seccomp listener and serve it on a thread of ours for as
/// long as any captured process lives.
fn supervise(child: Pid, lrd: OwnedFd, awr: OwnedFd) {
    let mut num = String::new();
    let _ = std::fs::File::from(lrd).read_to_string(&mut num);
    let Ok(lfd) = num.trim().parse::<i32>() else {
        // The child failed before installing (it reports through the exec
        // pipe) or died.
        return;
    };
    let listener = seccomp::pidfd_open(child.as_raw()).and_then(|p| seccomp::pidfd_getfd(&p, lfd));
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            eprintln!("vimage: cannot take the seccomp listener: {e}");
            // The child must not run uncaptured.
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            return;
        }
    };
    report(&awr, "1");
    drop(awr);
    let path = libvimage::socket_path();
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let sup = supervisor::Supervisor::new(seccomp::Listener::new(listener), path);
    let _ = std::thread::Builder::new()
        .name("supervisor".into())
        .spawn(move || sup.run());
}

fn wait_for(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// The argv to exec: the command, or `$SHELL` (interactive, prompt showing the
/// vimage's hostname).
fn command_line(cmd: &[String], hostname: &str) -> (Vec<String>, Option<String>) {
    if !cmd.is_empty() {
        return (cmd.to_vec(), None);
    }
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let base = std::path::Path::new(&shell)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "bash" {
        // bash re-evaluates the prompt: it follows `hostname NAME` typed inside.
        (
            vec![shell, "--norc".into(), "-i".into()],
            Some("$(hostname)# ".into()),
        )
    } else {
        (vec![shell, "-i".into()], Some(format!("{hostname}# ")))
    }
}

/// Our tools first on PATH (so `ping` is ours, not the host's), the kernel socket
/// pinned for nested tools, and the prompt.
fn setup_env(ps1: Option<&str>) {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
    {
        let old = std::env::var("PATH").unwrap_or_default();
        let new = if old.is_empty() {
            dir.display().to_string()
        } else {
            format!("{}:{}", dir.display(), old)
        };
        std::env::set_var("PATH", new);
    }
    let sock = libvimage::socket_path();
    let sock = std::fs::canonicalize(&sock).unwrap_or(sock);
    std::env::set_var(libvimage::VIMAGE_SOCKET, sock);
    if let Some(p) = ps1 {
        std::env::set_var("PS1", p);
    }
}
