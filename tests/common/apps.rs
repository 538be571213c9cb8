//! Unmodified Linux programs in vimages: booting a pair of vimages joined by
//! eifaces, running programs in them (each inside a fresh network namespace
//! with nothing but lo, `unshare -n`, so a capture failure cannot reach the
//! host's stack), and proving capture.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Why these tests cannot run here, if they cannot.
pub fn unable() -> Option<String> {
    if !cfg!(feature = "vimage") {
        return Some("needs options VIMAGE".into());
    }
    unable_here()
}

/// Why unmodified programs cannot run here at all (either build).
pub fn unable_here() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for a private network namespace (unshare -n)".into());
    }
    for p in ["unshare", "python3"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Some(format!("{p} not installed"));
        }
    }
    if Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        return Some("unshare -n does not work here".into());
    }
    None
}

/// Boot; n1 (10.0.0.20, a:0::20) and n2 (10.0.0.21, a:0::21) joined by two
/// eifaces wired back to back, their hostnames their names; lo0 up in both
/// and in each of `bare` (vimages with nothing else).
pub fn setup_with(tag: &str, bare: &[&str]) -> Option<Vk> {
    if let Some(why) = unable() {
        eprintln!("skipping: {why}");
        return None;
    }
    let vk = Vk::boot(tag);
    vk.ok("vimage", &["-c", "n1"]);
    vk.ok("vimage", &["-c", "n2"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok("ngctl", &["mkpeer", "eiface", "ether", "ether"]);
    vk.ok(
        "ngctl",
        &["connect", "ngeth0:", "ngeth1:", "ether", "ether"],
    );
    assert_eq!(vk.ok("vimage", &["-i", "n1", "ngeth0"]), "eth0@n1\n");
    assert_eq!(vk.ok("vimage", &["-i", "n2", "ngeth1"]), "eth0@n2\n");
    for (n, mac, a4, a6) in [
        ("n1", "40:a:b:c:d:01", "10.0.0.20/24", "a::20"),
        ("n2", "40:a:b:c:d:02", "10.0.0.21/24", "a::21"),
    ] {
        let ifc = tool("ifconfig");
        vk.ok("vimage", &[n, &ifc, "lo0", "localhost"]);
        vk.ok("vimage", &[n, &ifc, "eth0", "link", mac]);
        vk.ok("vimage", &[n, &ifc, "eth0", a4]);
        vk.ok("vimage", &[n, &ifc, "eth0", "inet6", a6, "prefixlen", "64"]);
        vk.ok("vimage", &[n, &tool("hostname"), n]);
    }
    for n in bare {
        vk.ok("vimage", &["-c", n]);
        vk.ok("vimage", &[n, &tool("ifconfig"), "lo0", "localhost"]);
    }
    // Duplicate address detection must finish before the IPv6 addresses
    // can be bound.
    let t0 = Instant::now();
    for n in ["n1", "n2"] {
        while vk
            .ok("vimage", &[n, &tool("ifconfig"), "eth0"])
            .contains("tentative")
        {
            assert!(t0.elapsed() < Duration::from_secs(20), "DAD never ended");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Some(vk)
}

/// [`setup_with`] and no other vimage.
pub fn setup(tag: &str) -> Option<Vk> {
    setup_with(tag, &[])
}

/// A program started by [`spawn_in`]: used as its `Child`; when dropped
/// still running (a test that failed half way), its whole process group is
/// killed, so no server is left behind spinning on a kernel that is gone.
pub struct App(Option<Child>);

impl App {
    /// The child, no longer killed on drop (to wait for its output).
    pub fn into_child(mut self) -> Child {
        self.0.take().expect("child")
    }
}

impl std::ops::Deref for App {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("child")
    }
}

impl std::ops::DerefMut for App {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("child")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(ch) = self.0.as_mut() {
            if let Ok(None) = ch.try_wait() {
                // SAFETY: signalling the process group spawn_in created.
                unsafe {
                    libc::kill(-(ch.id() as i32), libc::SIGKILL);
                }
                let _ = ch.wait();
            }
        }
    }
}

/// `unshare -n vimage NAME argv…` with its own process group (so the whole
/// tree can be killed), stdout/stderr piped.
pub fn spawn_in(vk: &Vk, name: &str, argv: &[&str], dir: Option<&std::path::Path>) -> App {
    let mut c = Command::new("unshare");
    c.arg("-n")
        .arg("--")
        .arg(tool("vimage"))
        .arg(name)
        .args(argv);
    c.env("VIMAGE_SOCKET", &vk.sock);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    App(Some(c.spawn().expect("spawn")))
}

/// `unshare -n vimage NAME argv…` to completion (the whole group killed
/// after a minute): (status, stdout, stderr).
pub fn run_in(vk: &Vk, name: &str, argv: &[&str]) -> (i32, String, String) {
    let ch = spawn_in(vk, name, argv, None);
    let pg = ch.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let watchdog = std::thread::spawn(move || {
        let t0 = Instant::now();
        while !d2.load(std::sync::atomic::Ordering::Acquire) {
            if t0.elapsed() > Duration::from_secs(60) {
                // SAFETY: signalling the process group we created.
                unsafe {
                    libc::kill(-pg, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let out = ch.into_child().wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::Release);
    let _ = watchdog.join();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run python3 script `script` on Linux (in a fresh namespace with only lo,
/// up) and in vimage `name`; both must succeed and print the same; the
/// vimage's output.
pub fn same_as_linux(vk: &Vk, name: &str, script: &str) -> String {
    let host = Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec python3 -c \"$0\"",
            script,
        ])
        .output()
        .expect("host run");
    let host_out = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(
        host.status.success(),
        "reference run: {}",
        String::from_utf8_lossy(&host.stderr)
    );
    let (c, o, e) = run_in(vk, name, &["python3", "-c", script]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(o, host_out, "vimage (left) vs Linux (right)");
    o
}

/// Run and require success; stdout.
pub fn ok_in(vk: &Vk, name: &str, argv: &[&str]) -> String {
    let (c, o, e) = run_in(vk, name, argv);
    assert_eq!(c, 0, "{argv:?} in {name} failed: {e}{o}");
    o
}

pub fn kill_tree(ch: &mut Child) {
    // SAFETY: signalling the process group we created.
    unsafe {
        libc::kill(-(ch.id() as i32), libc::SIGKILL);
    }
    let _ = ch.wait();
}

/// Wait until `vimage NAME netstat -an` shows `needle`.
pub fn wait_netstat(vk: &Vk, name: &str, needle: &str) -> String {
    let t0 = Instant::now();
    loop {
        let o = vk.ok("vimage", &[name, &tool("netstat"), "-an"]);
        if o.contains(needle) {
            return o;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{needle} never showed in {name}'s netstat -an:\n{o}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pids in the process group of `ch` whose command line contains `what`.
pub fn pid_of(ch: &Child, what: &str) -> Option<u32> {
    let pg = ch.id() as i32;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // SAFETY: getpgid has no preconditions.
        if unsafe { libc::getpgid(pid as i32) } != pg {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(what) {
            return Some(pid);
        }
    }
    None
}

/// Capture is proven for a server: its port is listening in the vimage and
/// nowhere in the program's own namespace (/proc/PID/net/tcp{,6}).
pub fn prove_capture(vk: &Vk, name: &str, ch: &Child, port: u16, what: &str) {
    // sockstat lists IPv6 sockets too.
    let t0 = Instant::now();
    loop {
        let o = vk.ok("vimage", &[name, &tool("sockstat")]);
        if o.contains(&format!(":{port} ")) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "port {port} never showed in {name}'s sockstat:\n{o}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = pid_of(ch, what).expect("server pid");
    let hex = format!(":{port:04X} ");
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        let t = std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
        assert!(
            !t.contains(&hex),
            "port {port} is on the host stack ({f}):\n{t}"
        );
    }
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Read the server's first stdout line (it prints when ready).
pub fn first_line(ch: &mut Child) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    let so = ch.stdout.as_mut().expect("stdout");
    while let Ok(1) = so.read(&mut b) {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    if out.is_empty() {
        // The server ended (or closed its output): its error says why.
        let mut err = String::new();
        if ch.try_wait().ok().flatten().is_some() {
            let _ = ch.stderr.as_mut().expect("stderr").read_to_string(&mut err);
        }
        kill_tree(ch);
        panic!("server printed nothing: {err}");
    }
    String::from_utf8_lossy(&out).into_owned()
}
