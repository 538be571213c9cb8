//! Unmodified Linux programs inside vimages (seccomp capture): Python's socket
//! module, `http.server` and Debian's `curl` run as they are, and use the
//! vimage's stack.
//!
//! Safety: every unmodified program that talks to a vimage address runs inside
//! a network namespace this test creates with nothing but `lo`
//! (`unshare -n`), and each test first proves capture (the program's listener
//! is in the vimage's `netstat -an`, and not in its own namespace's
//! /proc/net/tcp), so a capture failure can never send traffic from the
//! host's stack.  `unshare -n` needs root: without it the tests skip.

mod common;
use common::*;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tool(t: &str) -> String {
    bindir().join(t).display().to_string()
}

/// Why these tests cannot run here, if they cannot.
fn unable() -> Option<String> {
    if !cfg!(feature = "vimage") {
        return Some("needs options VIMAGE".into());
    }
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
/// eifaces wired back to back; lo0 up in both.
fn setup(tag: &str) -> Option<Vk> {
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

/// `unshare -n vimage NAME argv…` with its own process group (so the whole
/// tree can be killed), stdout/stderr piped.
fn spawn_in(vk: &Vk, name: &str, argv: &[&str], dir: Option<&std::path::Path>) -> Child {
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
    c.spawn().expect("spawn")
}

/// Run to completion in a fresh netns inside vimage `name`.
fn run_in(vk: &Vk, name: &str, argv: &[&str]) -> (i32, String, String) {
    let ch = spawn_in(vk, name, argv, None);
    let out = ch.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kill_tree(ch: &mut Child) {
    // SAFETY: signalling the process group we created.
    unsafe {
        libc::kill(-(ch.id() as i32), libc::SIGKILL);
    }
    let _ = ch.wait();
}

/// Wait until `vimage NAME netstat -an` shows `needle`.
fn wait_netstat(vk: &Vk, name: &str, needle: &str) -> String {
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
fn pid_of(ch: &Child, what: &str) -> Option<u32> {
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
fn prove_capture(vk: &Vk, name: &str, ch: &Child, port: u16, what: &str) {
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

#[test]
fn http_server_in_n1_curl_in_n2() {
    let Some(vk) = setup("cap-http") else { return };
    let www = std::env::temp_dir().join(format!("vk-www-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello from n1\n").unwrap();
    let mut srv = spawn_in(
        &vk,
        "n1",
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.0.0.20",
        ],
        Some(&www),
    );
    prove_capture(&vk, "n1", &srv, 8080, "http.server");
    let have_curl = Command::new("sh")
        .args(["-c", "command -v curl"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let fetch: Vec<&str> = if have_curl {
        vec!["curl", "-s", "http://10.0.0.20:8080/hello.txt"]
    } else {
        vec![
            "python3",
            "-c",
            "import urllib.request as u;print(u.urlopen('http://10.0.0.20:8080/hello.txt').read().decode(),end='')",
        ]
    };
    let (c, o, e) = run_in(&vk, "n2", &fetch);
    assert_eq!(c, 0, "fetch failed: {e}");
    assert_eq!(o, "hello from n1\n");
    // The connection is gone from both stacks' point of view once done: the
    // server is still listening.
    let ns = vk.ok("vimage", &["n1", &tool("netstat"), "-an"]);
    assert!(ns.contains("LISTEN"), "{ns}");
    kill_tree(&mut srv);
    let _ = std::fs::remove_dir_all(&www);
}

/// Python's socket module: TCP both ways, UDP sendto/recvfrom, IPv6,
/// getsockname/getpeername, socket options, hostname.
const PY_SERVER: &str = r#"
import socket, sys, os
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
host = sys.argv[2]
t = socket.socket(fam, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
assert t.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
assert t.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
t.bind((host, 7000)); t.listen(5)
u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((host, 7001))
print("ready", t.getsockname()[1], flush=True)
c, peer = t.accept()
data = c.recv(100)
c.sendall(b"echo:" + data + b" from " + socket.gethostname().encode())
# fork: the child answers on the same connection, the parent closes its copy
pid = os.fork()
if pid == 0:
    c.sendall(b"|child")
    os._exit(0)
os.waitpid(pid, 0)
c.close()
d, src = u.recvfrom(100)
u.sendto(b"udp:" + d, src)
"#;

const PY_CLIENT: &str = r#"
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
host = sys.argv[2]
s = socket.create_connection((host, 7000), timeout=10)
assert s.getpeername()[1] == 7000, s.getpeername()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b"ping")
got = b""
while True:
    b = s.recv(100)
    if not b: break
    got += b
print(got.decode())
u = socket.socket(fam, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b"dgram", (host, 7001))
d, src = u.recvfrom(100)
print(d.decode(), src[1])
"#;

fn echo_pair(vk: &Vk, fam: &str, addr: &str) {
    let mut srv = spawn_in(vk, "n1", &["python3", "-c", PY_SERVER, fam, addr], None);
    let mut line = [0u8; 64];
    let n = srv.stdout.as_mut().unwrap().read(&mut line).unwrap();
    if !String::from_utf8_lossy(&line[..n]).starts_with("ready 7000") {
        let mut err = String::new();
        let _ = srv.stderr.as_mut().unwrap().read_to_string(&mut err);
        panic!("server did not start: {err}");
    }
    prove_capture(vk, "n1", &srv, 7000, "python3");
    let (c, o, e) = run_in(vk, "n2", &["python3", "-c", PY_CLIENT, fam, addr]);
    assert_eq!(c, 0, "client failed: {e}");
    assert_eq!(o, "echo:ping from n1|child\nudp:dgram 7001\n");
    let st = srv.wait().unwrap();
    let mut err = String::new();
    let _ = srv.stderr.as_mut().unwrap().read_to_string(&mut err);
    assert!(st.success(), "server: {err}");
}

#[test]
fn python_sockets_ipv4() {
    let Some(vk) = setup("cap-py4") else { return };
    echo_pair(&vk, "4", "10.0.0.20");
}

#[test]
fn python_sockets_ipv6() {
    let Some(vk) = setup("cap-py6") else { return };
    echo_pair(&vk, "6", "a::20");
}

/// Loopback is each vimage's own; names are the vimage's.
#[test]
fn isolation_and_names() {
    let Some(vk) = setup("cap-iso") else { return };
    let mut srv = spawn_in(
        &vk,
        "n2",
        &["python3", "-c", "import socket,time;s=socket.socket();s.bind(('127.0.0.1',7100));s.listen();print('up',flush=True);time.sleep(60)"],
        None,
    );
    prove_capture(&vk, "n2", &srv, 7100, "python3");
    // n1 has its own 127.0.0.1: nothing listens there.
    let (c, o, e) = run_in(
        &vk,
        "n1",
        &["python3", "-c", "import socket\ntry:\n socket.create_connection(('127.0.0.1',7100),timeout=5);print('reached')\nexcept OSError as x:\n print('refused', x.errno)"],
    );
    assert_eq!(c, 0, "{e}");
    assert_eq!(o, "refused 111\n");
    // uname/gethostname answer the vimage's hostname.
    let (_, o, _) = run_in(
        &vk,
        "n1",
        &[
            "python3",
            "-c",
            "import socket,os;print(socket.gethostname(), os.uname().nodename)",
        ],
    );
    assert_eq!(o, "n1 n1\n");
    kill_tree(&mut srv);
}

/// No way out: raw system calls, a cleared environment, double fork and
/// setsid all stay in the vimage.
#[test]
fn no_way_out() {
    let Some(vk) = setup("cap-out") else { return };
    // socket(2) by number through libc's syscall(): still the vimage's.
    let raw = "import ctypes,socket,time\nfd=ctypes.CDLL(None).syscall(41,2,1,0)\ns=socket.socket(fileno=fd)\ns.bind(('0.0.0.0',7200));s.listen()\nprint('up',flush=True);time.sleep(60)";
    let mut a = spawn_in(&vk, "n1", &["python3", "-c", raw], None);
    prove_capture(&vk, "n1", &a, 7200, "python3");
    // env -i, setsid and a double fork: the grandchild's socket is in n1.
    let dbl = "import os,socket,time\nif os.fork()==0:\n os.setsid()\n if os.fork()==0:\n  s=socket.socket();s.bind(('0.0.0.0',7201));s.listen();time.sleep(60)\n os._exit(0)\nos.wait();time.sleep(60)";
    let mut b = spawn_in(
        &vk,
        "n1",
        &["env", "-i", "/usr/bin/env", "python3", "-c", dbl],
        None,
    );
    wait_netstat(&vk, "n1", ".7201 ");
    let n2 = vk.ok("vimage", &["n2", &tool("netstat"), "-an"]);
    assert!(!n2.contains(".7200") && !n2.contains(".7201"), "{n2}");
    let def = vk.ok("netstat", &["-an"]);
    assert!(!def.contains(".7200") && !def.contains(".7201"), "{def}");
    // Families that would reach the host's stack are refused.
    let (c, o, e) = run_in(
        &vk,
        "n1",
        &["python3", "-c", "import socket\ntry:\n socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n print('opened')\nexcept OSError as x:\n print(x.errno)"],
    );
    assert_eq!(c, 0, "{e}");
    assert_eq!(o, "97\n");
    kill_tree(&mut a);
    kill_tree(&mut b);
}
