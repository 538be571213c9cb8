//! ngctl's line editor driven through a pseudo-terminal against a booted
//! kernel: keys typed on the master side, the screen read back from it.
//!
//! The kernel is the `vkernel` built next to ngctl in the target directory (or
//! the one `VKERNEL` names); without one the test says so and passes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long anything may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The kernel binary, if there is one.
fn vkernel() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VKERNEL") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_BIN_EXE_ngctl"))
        .parent()?
        .join("vkernel");
    p.exists().then_some(p)
}

/// A private kernel on its own socket, killed when dropped.
struct Kernel {
    child: Child,
    dir: PathBuf,
    sock: PathBuf,
}

impl Kernel {
    fn boot(bin: &Path, tag: &str) -> Kernel {
        let dir = std::env::temp_dir().join(format!("ngctl-pty-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let sock = dir.join("kernel.sock");
        let child = Command::new(bin)
            .arg("-s")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn vkernel");
        let k = Kernel { child, dir, sock };
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&k.sock).is_err() {
            assert!(t0.elapsed() < TIMEOUT, "vkernel did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    /// ngctl aimed at this kernel.
    fn ngctl(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ngctl"));
        c.env("VIMAGE_SOCKET", &self.sock);
        c
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new pseudo-terminal, 80×24: (master, slave).
fn open_pty() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on descriptors we own; ptsname_r writes at most
    // `buf.len()` bytes into our buffer.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .into_owned();
        let ws = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(libc::ioctl(m, libc::TIOCSWINSZ, &ws), 0);
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .expect("open slave");
        (master, slave)
    }
}

/// The terminal flags of the pty (read through the master).
fn lflags(master: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: tcgetattr fills in a termios we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(master.as_raw_fd(), &mut t), 0);
        t.c_lflag
    }
}

/// An interactive ngctl on a pty.
struct Session {
    child: Child,
    master: File,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of the screen output the checks have gone past.
    seen: usize,
    /// The master, for termios checks.
    master_fd: OwnedFd,
}

impl Session {
    fn start(k: &Kernel, name: &str) -> Session {
        let (master_fd, slave) = open_pty();
        let mut cmd = k.ngctl();
        cmd.args(["-n", name])
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave);
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; the pty becomes
        // the child's controlling terminal, as in a login session.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn ngctl");
        drop(cmd);
        let master = File::from(master_fd.try_clone().expect("dup master"));
        let mut reader = master.try_clone().expect("dup master");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let s2 = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last slave descriptor is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = s2.lock() {
                    s.extend_from_slice(&buf[..n]);
                }
            }
        });
        Session {
            child,
            master,
            screen,
            seen: 0,
            master_fd,
        }
    }

    /// Everything printed so far.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// Wait until `what` is printed after what earlier checks went past;
    /// returns what was printed up to and including it.
    fn expect(&mut self, what: &str) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen.lock().expect("screen").clone();
            let tail = &s[self.seen.min(s.len())..];
            let hit = tail.windows(what.len()).position(|w| w == what.as_bytes());
            if let Some(i) = hit {
                let got = String::from_utf8_lossy(&tail[..i + what.len()]).into_owned();
                self.seen += i + what.len();
                return got;
            }
            assert!(
                t0.elapsed() < TIMEOUT,
                "never saw {what:?}; screen after the last check:\n{:?}",
                String::from_utf8_lossy(tail)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Type `keys`.
    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
        self.master.flush().expect("flush");
    }

    /// Wait for the process to end; its exit status.
    fn wait(&mut self) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(t0.elapsed() < TIMEOUT, "ngctl did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The prompt as the editor draws an empty line.
const PROMPT: &str = "\r+ \x1b[K\r\x1b[2C";
const LEFT: &str = "\x1b[D";
const RIGHT: &str = "\x1b[C";
const UP: &str = "\x1b[A";
const DOWN: &str = "\x1b[B";
const HOME: &str = "\x1b[H";
const END: &str = "\x1b[F";
const DELETE: &str = "\x1b[3~";

#[test]
fn line_editing_on_a_terminal() {
    let Some(bin) = vkernel() else {
        eprintln!("no vkernel next to ngctl (build it or set VKERNEL): pty test skipped");
        return;
    };
    let k = Kernel::boot(&bin, "edit");
    let mut s = Session::start(&k, "edtest");
    s.expect("Available commands:");
    s.expect(PROMPT);
    // Raw mode while editing.
    assert_eq!(lflags(&s.master_fd) & (libc::ICANON | libc::ECHO), 0);

    // Insert at the cursor, Ctrl-A/Ctrl-E.
    s.send("ist\x01l\x05\r");
    s.expect("There are 1 total nodes:");
    s.expect("Name: edtest");
    s.expect(PROMPT);
    // Cooked while the command ran, raw again now.
    assert_eq!(lflags(&s.master_fd) & (libc::ICANON | libc::ECHO), 0);

    // Left, Backspace, Right; Ctrl-U throws away what Up brought back.
    s.send(UP);
    s.expect("+ list");
    s.send("\x15help quxit");
    s.send(&format!("{LEFT}{LEFT}\x7f{RIGHT}{RIGHT}{RIGHT}\r"));
    s.expect("usage:    quit\r\n");
    // Ctrl-K: kill to the end of the line.
    s.send(&format!(
        "help list junk{LEFT}{LEFT}{LEFT}{LEFT}{LEFT}\x0b\r"
    ));
    s.expect("usage:    list [-ln]");
    // Ctrl-W: kill the word before the cursor.
    s.send("help show types\x17\r");
    s.expect("usage:    show");
    // Home, Delete, End.
    s.send(&format!("hhelp type{HOME}{DELETE}{END}s\r"));
    s.expect("usage:    types");
    // Up, Up, Down: the newest line again.
    s.send(&format!("{UP}{UP}{DOWN}\r"));
    s.expect("usage:    types");
    // Ctrl-C discards the line; Ctrl-L clears the screen.
    s.send("garbage");
    s.expect("garbage");
    s.send("\x03");
    s.expect("^C\r");
    s.expect(PROMPT);
    s.send("\x0c");
    s.expect("\x1b[H\x1b[2J");
    s.send("\r");
    s.expect(PROMPT);

    // A frame arriving while a line is half typed is printed above it, and the
    // line comes back.
    s.send("mkpeer hub h0 h0\r");
    s.expect(PROMPT);
    s.send("name .:h0 edhub\r");
    s.expect(PROMPT);
    s.send("li");
    s.expect("+ li");
    let mut w = k
        .ngctl()
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    w.stdin
        .take()
        .expect("stdin")
        .write_all(b"connect . edhub: mine h1\nwrite mine 104 105 33\n")
        .expect("script");
    let out = w.wait_with_output().expect("writer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.expect("\r\x1b[KRec'd data packet on hook \"h0\":\r\n0000:  68 69 21 ");
    s.expect("hi!");
    s.expect("\r+ li\x1b[K\r\x1b[4C");
    s.send("st\r");
    s.expect("total nodes:");
    s.expect("Name: edhub");
    s.expect(PROMPT);

    // Ctrl-D: deletes under the cursor on a line, ends input on an empty one.
    s.send(&format!("x{LEFT}\x04\x04"));
    assert_eq!(s.wait().code(), Some(0));
    // The terminal is back to normal.
    let lf = lflags(&s.master_fd);
    assert_eq!(lf & (libc::ICANON | libc::ECHO), libc::ICANON | libc::ECHO);
    let screen = s.screen();
    assert!(!screen.contains("unknown command"), "{screen:?}");
    assert!(!screen.contains("garbage:"), "{screen:?}");
}

#[test]
fn terminal_restored_on_signals() {
    let Some(bin) = vkernel() else {
        eprintln!("no vkernel next to ngctl (build it or set VKERNEL): pty test skipped");
        return;
    };
    let k = Kernel::boot(&bin, "sig");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut s = Session::start(&k, &format!("sig{sig}"));
        s.expect(PROMPT);
        s.send("half a line");
        s.expect("half a line");
        assert_eq!(lflags(&s.master_fd) & (libc::ICANON | libc::ECHO), 0);
        let pid = libc::pid_t::try_from(s.child.id()).expect("pid");
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        let st = s.wait();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(sig), "{st:?}");
        let lf = lflags(&s.master_fd);
        assert_eq!(lf & (libc::ICANON | libc::ECHO), libc::ICANON | libc::ECHO);
    }
}

#[test]
fn not_a_terminal_keeps_the_plain_loop() {
    let Some(bin) = vkernel() else {
        eprintln!("no vkernel next to ngctl (build it or set VKERNEL): pty test skipped");
        return;
    };
    let k = Kernel::boot(&bin, "plain");
    let mut c = k
        .ngctl()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ngctl");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(b"help quit\n")
        .expect("write");
    let out = c.wait_with_output().expect("ngctl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "usage:    quit\nAliases:  exit\nSummary:  Leave ngctl\n"
    );
}
