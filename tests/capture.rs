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
use common::apps::*;
use common::*;

use std::io::Read;
use std::process::Command;

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
    // A whole line: with PYTHONUNBUFFERED, print writes it piece by piece.
    let line = first_line(&mut srv);
    if line != "ready 7000" {
        kill_tree(&mut srv);
        panic!("server did not start: {line:?}");
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
    // A new network namespace inside: the sockets still belong to n1.
    let mut u = spawn_in(
        &vk,
        "n1",
        &["unshare", "-n", "python3", "-c", "import socket,time;s=socket.socket(socket.AF_INET);s.bind(('0.0.0.0',7202));s.listen();time.sleep(60)"],
        None,
    );
    wait_netstat(&vk, "n1", ".7202 ");
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
    kill_tree(&mut u);
}

/// iperf3, client in n2 and server in n1, over TCP (the server listens on
/// `::` with IPV6_V6ONLY off: IPv4 reaches it mapped) and UDP.
#[test]
fn iperf3_between_vimages() {
    let Some(vk) = setup("cap-iperf") else { return };
    if !have("iperf3") {
        eprintln!("skipping: iperf3 not installed");
        return;
    }
    for mode in [&["-n", "16M"][..], &["-u", "-b", "40M", "-n", "4M"][..]] {
        let mut srv = spawn_in(&vk, "n1", &["iperf3", "-s", "-1", "-p", "5201"], None);
        prove_capture(&vk, "n1", &srv, 5201, "iperf3");
        let mut argv = vec!["iperf3", "-c", "10.0.0.20", "-p", "5201"];
        argv.extend_from_slice(mode);
        let (c, o, e) = run_in(&vk, "n2", &argv);
        assert_eq!(c, 0, "iperf3 {mode:?}: {o}{e}");
        assert!(o.contains("receiver") && o.contains("iperf Done."), "{o}");
        assert!(!o.contains("error") && !e.contains("error"), "{o}{e}");
        if mode[0] == "-u" {
            assert!(o.contains("(0%)"), "lost datagrams on a lossless link: {o}");
        }
        let st = srv.wait().expect("server");
        assert!(st.success(), "iperf3 server failed");
    }
}

/// ELF without a program interpreter: statically linked.
fn is_static(path: &str) -> bool {
    let Ok(b) = std::fs::read(path) else {
        return false;
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap_or([0; 8])) as usize;
    let (phentsize, phnum) = (u16at(0x36), u16at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        b.get(o..o + 4) != Some(&3u32.to_le_bytes()[..]) // PT_INTERP
    })
}

/// Debian's busybox-static: httpd and nc serve in n1, wget and nc fetch
/// from n2.  No libc to hook: only the system-call filter can catch it.
#[test]
fn busybox_static_httpd_wget_nc() {
    let Some(vk) = setup("cap-bbox") else { return };
    let bb = "/usr/bin/busybox";
    if !is_static(bb) {
        eprintln!(
            "skipping: {bb} is missing or not statically linked (apt install busybox-static)"
        );
        return;
    }
    let www = std::env::temp_dir().join(format!("vk-bbox-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello from busybox\n").unwrap();
    let dir = www.display().to_string();
    let mut httpd = spawn_in(
        &vk,
        "n1",
        &[bb, "httpd", "-f", "-p", "8080", "-h", &dir],
        None,
    );
    prove_capture(&vk, "n1", &httpd, 8080, "httpd");
    let (c, o, e) = run_in(
        &vk,
        "n2",
        &[
            bb,
            "wget",
            "-q",
            "-O",
            "-",
            "http://10.0.0.20:8080/hello.txt",
        ],
    );
    assert_eq!((c, o.as_str()), (0, "hello from busybox\n"), "{e}");
    kill_tree(&mut httpd);
    let nc = spawn_in(&vk, "n1", &[bb, "nc", "-l", "-p", "9000"], None);
    prove_capture(&vk, "n1", &nc, 9000, "nc");
    let (c, _, e) = run_in(
        &vk,
        "n2",
        &[
            "sh",
            "-c",
            &format!("echo hi-from-n2 | {bb} nc 10.0.0.20 9000"),
        ],
    );
    assert_eq!(c, 0, "{e}");
    let out = nc.into_child().wait_with_output().expect("nc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi-from-n2\n");
    let _ = std::fs::remove_dir_all(&www);
}

const ASYNC_SERVER: &str = r#"import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
N = int(sys.argv[1])
cur = 0; peak = 0; done = 0
async def handle(r, w):
    global cur, peak, done
    cur += 1; peak = max(peak, cur)
    data = await r.readline()
    w.write(b"echo " + data); await w.drain()
    await r.read()          # until the client closes
    w.close(); cur -= 1; done += 1
    if done == N:
        print("served", done, "peak", peak, flush=True)
        stop.set()
async def main():
    global stop
    stop = asyncio.Event()
    srv = await asyncio.start_server(handle, "0.0.0.0", 7300, backlog=N)
    print("ready", flush=True)
    await stop.wait()
asyncio.run(main())
"#;
const ASYNC_CLIENT: &str = r#"import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
N = int(sys.argv[2])
async def one(i, opened, go):
    r, w = await asyncio.open_connection(sys.argv[1], 7300)
    opened.append(w)
    if len(opened) == N: go.set()
    await go.wait()          # every connection is open at once
    w.write(b"%d\n" % i); await w.drain()
    line = await r.readline()
    assert line == b"echo %d\n" % i, line
    w.close(); await w.wait_closed()
async def main():
    opened = []; go = asyncio.Event()
    await asyncio.wait_for(asyncio.gather(*(one(i, opened, go) for i in range(N))), 120)
    print("ok", len(opened), flush=True)
asyncio.run(main())
"#;

/// An asyncio (epoll) server in n1 holds 1,000 connections from n2 open at
/// once, each echoing a line.
#[test]
fn asyncio_epoll_holds_1000_connections() {
    let Some(vk) = setup("cap-aio") else { return };
    let mut srv = spawn_in(&vk, "n1", &["python3", "-c", ASYNC_SERVER, "1000"], None);
    assert_eq!(first_line(&mut srv), "ready");
    prove_capture(&vk, "n1", &srv, 7300, "python3");
    // The kernel's threads while 2,000 exported sockets are open: a few
    // reactors serve them all, not a thread or two each.
    let pid = vk.pid();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while !d2.load(std::sync::atomic::Ordering::Acquire) {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let n: usize = st
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            peak = peak.max(n);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    });
    let (c, o, e) = run_in(
        &vk,
        "n2",
        &["python3", "-c", ASYNC_CLIENT, "10.0.0.20", "1000"],
    );
    done.store(true, std::sync::atomic::Ordering::Release);
    let threads = sampler.join().expect("sampler");
    assert_eq!(c, 0, "client: {e}");
    assert_eq!(o, "ok 1000\n");
    assert_eq!(first_line(&mut srv), "served 1000 peak 1000");
    assert!(srv.wait().expect("server").success());
    eprintln!("vkernel peak threads: {threads}");
    assert!(
        threads < 64,
        "vkernel had {threads} threads for 2,000 sockets"
    );
}

const SENDFILE_SERVER: &str = r#"import socket, os, hashlib, subprocess, sys
data = os.urandom(3 << 20)
open(sys.argv[1], "wb").write(data)
l = socket.socket(socket.AF_INET6); l.bind(("::", 7400)); l.listen()
print("ready", hashlib.sha256(data).hexdigest(), flush=True)
c, _ = l.accept()
with open(sys.argv[1], "rb") as f:
    off = 0
    while off < len(data):
        off += os.sendfile(c.fileno(), f.fileno(), off, len(data) - off)
# splice: a pipe into the socket
r, w = os.pipe()
os.write(w, b"|spliced"); os.close(w)
assert os.splice(r, c.fileno(), 8) == 8
# exec: a new program writes on the inherited descriptor
os.dup2(c.fileno(), 3)
subprocess.run(["sh", "-c", "printf '|exec' >&3"], pass_fds=(3,), check=True)
c.close(); os.close(3)
"#;
const SENDFILE_CLIENT: &str = r#"import socket, hashlib, sys
s = socket.create_connection((sys.argv[1], 7400), timeout=20)
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b: break
    got += b
n = 3 << 20
print(hashlib.sha256(got[:n]).hexdigest(), got[n:].decode())
"#;

/// sendfile(2) and splice(2) into a vimage's TCP socket, then a program
/// exec'd with the descriptor writes on it; the client in n2 gets it all.
#[test]
fn sendfile_splice_and_exec() {
    let Some(vk) = setup("cap-sendfile") else {
        return;
    };
    let f = std::env::temp_dir().join(format!("vk-sendfile-{}", std::process::id()));
    let fs = f.display().to_string();
    let mut srv = spawn_in(&vk, "n1", &["python3", "-c", SENDFILE_SERVER, &fs], None);
    let ready = first_line(&mut srv);
    let sum = ready
        .strip_prefix("ready ")
        .expect("ready line")
        .to_string();
    prove_capture(&vk, "n1", &srv, 7400, "python3");
    let (c, o, e) = run_in(&vk, "n2", &["python3", "-c", SENDFILE_CLIENT, "10.0.0.20"]);
    assert_eq!(c, 0, "client: {e}");
    assert_eq!(o, format!("{sum} |spliced|exec\n"));
    assert!(srv.wait().expect("server").success());
    let _ = std::fs::remove_file(&f);
}

const HOSTILE: &str = r#"import ctypes, socket, os, errno
libc = ctypes.CDLL(None, use_errno=True)
V = ctypes.c_void_p
def e(r):
    return errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if r < 0 else r
def sa4(port):
    s = socket.socket(); s.close()
    b = bytearray(16); b[0] = 2; b[2:4] = port.to_bytes(2, 'big'); b[4:8] = bytes([127,0,0,1])
    return (ctypes.c_char * 16).from_buffer_copy(b)
res = {}
t = socket.socket(); fd = t.fileno()
BAD = V(8)
res['bind_badptr'] = e(libc.bind(fd, BAD, 16))
res['bind_biglen'] = e(libc.bind(fd, sa4(0), 1000))
res['bind_neglen'] = e(libc.bind(fd, sa4(0), -1))
res['bind_shortlen'] = e(libc.bind(fd, sa4(0), 3))
res['connect_badptr'] = e(libc.connect(fd, BAD, 16))
buf = ctypes.create_string_buffer(128); ln = ctypes.c_uint(128)
res['getsockname_badlenp'] = e(libc.getsockname(fd, buf, BAD))
res['getsockname_badbuf'] = e(libc.getsockname(fd, BAD, ctypes.byref(ln)))
res['getpeername_unconn'] = e(libc.getpeername(fd, buf, ctypes.byref(ln)))
res['setsockopt_badval'] = e(libc.setsockopt(fd, 1, 2, BAD, 4))
res['setsockopt_shortlen'] = e(libc.setsockopt(fd, 1, 2, ctypes.byref(ctypes.c_int(1)), 2))
res['getsockopt_badlenp'] = e(libc.getsockopt(fd, 1, 3, buf, BAD))
res['getsockopt_badval'] = e(libc.getsockopt(fd, 1, 3, BAD, ctypes.byref(ctypes.c_uint(4))))
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(); l.setblocking(False)
res['accept4_badflags'] = e(libc.accept4(l.fileno(), None, None, 0x7fff0000))
res['accept_badaddr'] = e(libc.accept(l.fileno(), BAD, ctypes.byref(ctypes.c_uint(16))))
res['sendmsg_badmsg'] = e(libc.sendmsg(fd, BAD, 0))
res['recvmsg_badmsg'] = e(libc.recvmsg(fd, BAD, 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
res['sendto_badaddr'] = e(libc.sendto(u.fileno(), b"x", 1, 0, BAD, 16))
res['sendto_badbuf'] = e(libc.sendto(u.fileno(), BAD, 10, 0, sa4(9), 16))
res['recvfrom_badfromlen'] = e(libc.recvfrom(u.fileno(), buf, 10, 0x40, buf, BAD))
res['ioctl_badarg'] = e(libc.ioctl(fd, 0x8915, BAD))
res['socket_badtype'] = e(libc.socket(2, 99, 0))
res['socket_badproto'] = e(libc.socket(2, 1, 99))
res['shutdown_badhow'] = e(libc.shutdown(fd, 7))
res['listen_unbound_udp'] = e(libc.listen(u.fileno(), 1))
class IOV(ctypes.Structure):
    _fields_ = [("base", V), ("len", ctypes.c_size_t)]
class MSG(ctypes.Structure):
    _fields_ = [("name", V), ("namelen", ctypes.c_uint), ("iov", V), ("iovlen", ctypes.c_size_t),
                ("control", V), ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int)]
iov = IOV(BAD, 10)
dst = sa4(9)
m = MSG(ctypes.cast(dst, V), 16, ctypes.cast(ctypes.pointer(iov), V), 1, None, 0, 0)
res['sendmsg_badiov'] = e(libc.sendmsg(u.fileno(), ctypes.byref(m), 0))
m2 = MSG(None, 0, ctypes.cast(ctypes.pointer(iov), V), 1 << 40, None, 0, 0)
res['sendmsg_hugeiovlen'] = e(libc.sendmsg(u.fileno(), ctypes.byref(m2), 0))
c = socket.socket(); c.connect(l.getsockname())
import time; time.sleep(0.2)
res['accept_pending_badaddr'] = e(libc.accept(l.fileno(), BAD, ctypes.byref(ctypes.c_uint(16))))
res['v6only_default'] = socket.socket(socket.AF_INET6).getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
t2 = socket.socket(); t2.bind(('127.0.0.1', 0))
print(sorted(res.items()))
print("still-works", t2.getsockname()[0])
"#;

/// Bad pointers, lengths and flags get the errno Linux gives (EFAULT,
/// EINVAL, …): the same script runs on the host's own stack (in an empty
/// namespace with lo up) and in a vimage, and the answers must match; the
/// program goes on working afterwards.
#[test]
fn hostile_arguments_get_linux_errnos() {
    let Some(vk) = setup("cap-hostile") else {
        return;
    };
    let o = same_as_linux(&vk, "n1", HOSTILE);
    assert!(o.contains("('bind_badptr', 'EFAULT')"), "{o}");
    assert!(o.ends_with("still-works 127.0.0.1\n"), "{o}");
}

const NBCONNECT: &str = r#"import socket, select, errno
E = lambda n: errno.errorcode.get(n, n)
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(8)
port = srv.getsockname()[1]
c = socket.socket(); c.setblocking(False)
ep = select.epoll(); ep.register(c.fileno(), select.EPOLLOUT)
print('connect', E(c.connect_ex(('127.0.0.1', port))))
ev = ep.poll(5)
print('epoll', [(e & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)) for _, e in ev])
print('SO_ERROR', E(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
c.setblocking(True)
a, _ = srv.accept()
c.sendall(b'hello'); print('server got', a.recv(10))
a.sendall(b'back'); print('client got', c.recv(10))
r = socket.socket(); r.setblocking(False)
print('connect', E(r.connect_ex(('127.0.0.1', 1))))
p = select.poll(); p.register(r, select.POLLOUT | select.POLLIN)
print('poll', [hex(e) for _, e in p.poll(5000)])
print('SO_ERROR', E(r.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
print('SO_ERROR again', E(r.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
print('recv', r.recv(10))
try:
    r.send(b'x')
except OSError as e:
    print('send', E(e.errno))
"#;

/// A non-blocking `connect` answers `EINPROGRESS` at once; the descriptor
/// polls writable only when the handshake is over; a refused one reports
/// `POLLERR|POLLHUP` and `SO_ERROR` `ECONNREFUSED` (then cleared).  The
/// same script runs on Linux in an empty namespace and the outputs must
/// match.
#[test]
fn nonblocking_connect_matches_linux() {
    let Some(vk) = setup("cap-nbconn") else {
        return;
    };
    let o = same_as_linux(&vk, "n1", NBCONNECT);
    assert!(o.contains("SO_ERROR ECONNREFUSED"), "{o}");
}

const RESET: &str = r#"import socket, select, errno, struct, time
E = lambda n: errno.errorcode.get(n, n)
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(8)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
a.sendall(b'before')
time.sleep(0.3)
a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
a.close()
time.sleep(0.3)
p = select.poll(); p.register(c, select.POLLIN)
print('poll', [hex(e & (select.POLLIN | select.POLLERR | select.POLLHUP)) for _, e in p.poll(5000)])
print('recv', c.recv(10))
try:
    print('recv', c.recv(10))
except OSError as e:
    print('recv error', E(e.errno))
print('recv after', c.recv(10))
try:
    c.send(b'x')
except OSError as e:
    print('send error', E(e.errno))
"#;

/// A connection reset by the peer (`SO_LINGER` 0 and close): the data sent
/// before still arrives, then `recv` fails with `ECONNRESET`, the
/// descriptor polls `POLLIN|POLLERR|POLLHUP`, later reads give EOF and
/// sends `EPIPE` — the same as on Linux.
#[test]
fn a_reset_connection_reads_econnreset_as_on_linux() {
    let Some(vk) = setup("cap-reset") else {
        return;
    };
    let o = same_as_linux(&vk, "n1", RESET);
    assert!(o.contains("recv error ECONNRESET"), "{o}");
}

const POOL_SERVER: &str = r#"import socket, threading, errno
ls = []
for port in (7601, 7602, 7603):
    l = socket.socket(); l.bind(('0.0.0.0', port)); l.listen(1); ls.append(l)
res = []
def acc(l):
    try:
        c, _ = l.accept(); res.append('ok'); c.close()
    except OSError as e:
        res.append(errno.errorcode.get(e.errno, e.errno))
ts = []
for l in ls:
    t = threading.Thread(target=acc, args=(l,)); t.start(); ts.append(t)
print('ready', flush=True)
for t in ts: t.join()
bad = 0
for i in range(100):
    try:
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.getsockname(); s.close()
    except OSError:
        bad += 1
print(sorted(map(str, res)), 'bad', bad, flush=True)
"#;
const POOL_CLIENT: &str = r#"import socket, sys, time
t0 = time.time()
while time.time() - t0 < 20:
    for port in (7601, 7602, 7603):
        try:
            socket.create_connection((sys.argv[1], port), timeout=2).close()
        except OSError:
            pass
    time.sleep(0.2)
"#;

/// The supervisor's connections to the kernel are pooled.  One the kernel
/// turns away (past `kern.door.maxconnperproc`) fails its call with
/// `ENOBUFS` (a blocking accept does not take the refusal for an empty
/// queue and wait) and is never put back in the pool, so once the burst is
/// over every call works again.
#[test]
fn refused_door_connections_are_not_pooled() {
    let Some(vk) = setup("cap-pool") else {
        return;
    };
    vk.ok("sysctl", &["kern.door.maxconnperproc=2"]);
    let mut srv = spawn_in(&vk, "n1", &["python3", "-c", POOL_SERVER], None);
    assert_eq!(first_line(&mut srv), "ready");
    let mut cli = spawn_in(
        &vk,
        "n2",
        &["python3", "-c", POOL_CLIENT, "10.0.0.20"],
        None,
    );
    let pg = srv.id() as i32;
    std::thread::spawn(move || {
        // A hang is a failure, not a stuck test run.
        std::thread::sleep(std::time::Duration::from_secs(60));
        // SAFETY: signalling the process group the test created.
        unsafe { libc::kill(-pg, libc::SIGKILL) };
    });
    let last = first_line(&mut srv);
    kill_tree(&mut cli);
    let _ = srv.wait();
    // Three blocked accepts need three connections, two are allowed: one
    // accept was refused; every call after the burst worked.
    assert!(last.contains("'ENOBUFS'"), "{last}");
    assert!(last.contains("'ok'"), "{last}");
    assert!(last.ends_with("bad 0"), "{last}");
}

const SIGNALS: &str = r#"import os, signal, subprocess, sys, errno, ctypes
def t(name, f):
    try:
        f(); print(name, 'ok')
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
outside, sibling = int(sys.argv[1]), int(sys.argv[2])
t('supervisor', lambda: os.kill(os.getppid(), 0))
t('outside', lambda: os.kill(outside, signal.SIGKILL))
t('sibling', lambda: os.kill(sibling, signal.SIGKILL))
t('init', lambda: os.kill(1, 0))
c = subprocess.Popen(['sleep', '30'])
t('child', lambda: os.kill(c.pid, 0))
t('pidfd_open outside', lambda: os.pidfd_open(outside))
t('pidfd_open child', lambda: os.close(os.pidfd_open(c.pid)))
fd = os.open(f'/proc/{outside}', os.O_RDONLY | os.O_DIRECTORY)
t('pidfd_send_signal /proc/outside', lambda: signal.pidfd_send_signal(fd, signal.SIGKILL))
cfd = os.pidfd_open(c.pid)
t('pidfd_send_signal child', lambda: signal.pidfd_send_signal(cfd, 0))
t('pidfd_send_signal file', lambda: signal.pidfd_send_signal(os.open('/dev/null', os.O_RDONLY), 0))
libc = ctypes.CDLL(None, use_errno=True)
for name, pid in (('outside', outside), ('supervisor', os.getppid())):
    r = libc.ptrace(16, pid, 0, 0)
    print('ptrace', name, 'ok' if r == 0 else errno.errorcode.get(ctypes.get_errno()))
signal.signal(signal.SIGTERM, signal.SIG_IGN)
t('kill -1', lambda: os.kill(-1, signal.SIGTERM))
c.wait()
print('child', c.returncode)
"#;

/// A process inside a vimage reaches only processes inside it: signals
/// (`kill`, process groups, `kill(-1)`, `pidfd_send_signal` on a pidfd or a
/// `/proc/PID` directory), `pidfd_open` and `ptrace` on its supervisor, a
/// process outside or one in a sibling vimage answer `ESRCH`; its own
/// children it may signal, and `kill(-1, SIGTERM)` ends them and nothing
/// else.
#[test]
fn signals_and_ptrace_stay_inside() {
    let Some(vk) = setup("cap-signals") else {
        return;
    };
    let mut outside = Command::new("sleep").arg("60").spawn().expect("sleep");
    let mut sib = spawn_in(&vk, "n2", &["sleep", "60"], None);
    let sibling = (0..50)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            pid_of(&sib, "sleep")
        })
        .expect("sleep in n2");
    let (c, o, e) = run_in(
        &vk,
        "n1",
        &[
            "python3",
            "-c",
            SIGNALS,
            &outside.id().to_string(),
            &sibling.to_string(),
        ],
    );
    assert_eq!(c, 0, "{e}");
    assert_eq!(
        o,
        "supervisor ESRCH\noutside ESRCH\nsibling ESRCH\ninit ESRCH\nchild ok\n\
         pidfd_open outside ESRCH\npidfd_open child ok\n\
         pidfd_send_signal /proc/outside ESRCH\npidfd_send_signal child ok\n\
         pidfd_send_signal file EBADF\nptrace outside ESRCH\n\
         ptrace supervisor ESRCH\nkill -1 ok\nchild -15\n"
    );
    // Both still alive.
    assert!(outside.try_wait().expect("outside").is_none());
    // SAFETY: signal 0 only checks the process exists.
    assert_eq!(unsafe { libc::kill(sibling as i32, 0) }, 0);
    let _ = outside.kill();
    let _ = outside.wait();
    kill_tree(&mut sib);
}

const V6_SOCKETS: &str = r#"import socket, time
t46 = socket.socket(socket.AF_INET6); t46.bind(('::', 7701)); t46.listen()
t6 = socket.socket(socket.AF_INET6)
t6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); t6.bind(('::', 7702)); t6.listen()
t4 = socket.socket(); t4.bind(('0.0.0.0', 7703)); t4.listen()
c6 = socket.create_connection(('a::20', 7702)); a6, _ = t6.accept()
c4 = socket.create_connection(('10.0.0.20', 7701)); a4, _ = t46.accept()
u46 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u46.bind(('::', 7704))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); u6.bind(('::', 7705))
print('ready', flush=True)
time.sleep(30)
"#;

/// netstat lists IPv6 sockets as FreeBSD's does: `tcp46`/`udp46` for a
/// wildcard socket that also takes IPv4, `tcp6`/`udp6` for IPv6-only ones
/// and IPv6 connections, `tcp4` for an IPv4 peer accepted on a dual-stack
/// listener; `-f inet6` and `-f inet` pick them.
#[test]
fn netstat_lists_ipv6_and_dual_stack_sockets() {
    let Some(vk) = setup("cap-ns6") else { return };
    let mut p = spawn_in(&vk, "n1", &["python3", "-c", V6_SOCKETS], None);
    assert_eq!(first_line(&mut p), "ready");
    let ns = tool("netstat");
    let all = vk.ok("vimage", &["n1", &ns, "-an"]);
    for want in [
        "tcp46      0      0 *.7701                 *.*                    LISTEN",
        "tcp6       0      0 *.7702                 *.*                    LISTEN",
        "tcp4       0      0 *.7703                 *.*                    LISTEN",
        "tcp6       0      0 a::20.7702             a::20.",
        "tcp4       0      0 10.0.0.20.7701         10.0.0.20.",
        "udp46      0      0 *.7704                 *.*",
        "udp6       0      0 *.7705                 *.*",
    ] {
        assert!(all.contains(want), "{want:?} not in\n{all}");
    }
    let v6 = vk.ok("vimage", &["n1", &ns, "-an", "-f", "inet6"]);
    assert!(
        v6.contains("*.7701") && v6.contains("*.7702") && !v6.contains("*.7703"),
        "{v6}"
    );
    let v4 = vk.ok("vimage", &["n1", &ns, "-an", "-f", "inet"]);
    assert!(
        v4.contains("*.7701") && v4.contains("*.7703") && !v4.contains("*.7702"),
        "{v4}"
    );
    // sockstat names the program, not its supervisor ("vimage"), as the
    // owner of its sockets.
    let ss = vk.ok("vimage", &["n1", &tool("sockstat"), "-4", "-l"]);
    assert!(
        ss.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("python3") && l.contains("*:7703")),
        "{ss}"
    );
    assert!(!ss.contains(" vimage "), "{ss}");
    kill_tree(&mut p);
}

const SHUT_SERVER: &str = r#"import socket
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); l.bind(('0.0.0.0',7501)); l.listen(50)
print('ready', flush=True)
for i in range(200):
    c,_=l.accept(); c.sendall(b"a"*213); c.sendall(b"b"*1024); c.shutdown(socket.SHUT_WR); c.close()
"#;
const SHUT_CLIENT: &str = r#"import socket, sys
bad=0
for i in range(200):
    s=socket.create_connection((sys.argv[1], 7501)); got=b""
    while True:
        b=s.recv(4096)
        if not b: break
        got+=b
    if len(got)!=1237: bad+=1
    s.close()
print("bad", bad)
"#;

/// Data written just before `shutdown(SHUT_WR)` is delivered before the
/// FIN (busybox httpd writes, shuts down and exits), connection after
/// connection.
#[test]
fn shutdown_after_write_delivers_everything() {
    let Some(vk) = setup("cap-shut") else { return };
    let mut srv = spawn_in(&vk, "n1", &["python3", "-c", SHUT_SERVER], None);
    assert_eq!(first_line(&mut srv), "ready");
    prove_capture(&vk, "n1", &srv, 7501, "python3");
    let (c, o, e) = run_in(&vk, "n2", &["python3", "-c", SHUT_CLIENT, "10.0.0.20"]);
    assert_eq!(c, 0, "client: {e}");
    assert_eq!(o, "bad 0\n");
    assert!(srv.wait().expect("server").success());
}

/// The one stack of a kernel without options VIMAGE (and the default
/// vimage of one with it): `vimage default cmd` runs an unmodified program
/// there, supervised; a server and a client in two empty namespaces talk
/// over the kernel's lo0.
#[test]
fn single_stack_default() {
    if let Some(why) = unable_here() {
        eprintln!("skipping: {why}");
        return;
    }
    let vk = Vk::boot("cap-default");
    vk.ok("ifconfig", &["lo0", "127.0.0.1"]);
    let www = std::env::temp_dir().join(format!("vk-www-def-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("one.txt"), "one stack\n").unwrap();
    let mut srv = spawn_in(
        &vk,
        "default",
        &[
            "python3",
            "-m",
            "http.server",
            "8081",
            "--bind",
            "127.0.0.1",
        ],
        Some(&www),
    );
    prove_capture(&vk, "default", &srv, 8081, "http.server");
    let (c, o, e) = run_in(
        &vk,
        "default",
        &[
            "python3",
            "-c",
            "import urllib.request as u;print(u.urlopen('http://127.0.0.1:8081/one.txt').read().decode(),end='')",
        ],
    );
    assert_eq!((c, o.as_str()), (0, "one stack\n"), "{e}");
    // The program's hostname is the kernel's.
    vk.ok("hostname", &["single"]);
    let (_, o, _) = run_in(
        &vk,
        "default",
        &["python3", "-c", "import socket;print(socket.gethostname())"],
    );
    assert_eq!(o, "single\n");
    kill_tree(&mut srv);
    let _ = std::fs::remove_dir_all(&www);
}

const PKTINFO_SERVER: &str = r#"import socket, struct, sys
IP_PKTINFO = 8  # (not in every Python's socket module)
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s4.bind(('0.0.0.0', 7400))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
s6.bind(('::', 7401))
print('on', s4.getsockopt(socket.IPPROTO_IP, IP_PKTINFO), flush=True)
d, anc, fl, a = s4.recvmsg(100, 256)
for lv, ty, b in anc:
    idx, spec, dst = struct.unpack('i4s4s', b)
    print('v4', lv, ty, idx, socket.inet_ntoa(spec), socket.inet_ntoa(dst), a[0], d.decode(), flush=True)
d, anc, fl, a = s4.recvmsg(100, 8)
print('short', len(anc), fl & socket.MSG_CTRUNC != 0, flush=True)
d, anc, fl, a = s6.recvmsg(100, 256)
for lv, ty, b in anc:
    addr, idx = struct.unpack('16si', b)
    print('v6', lv, ty, idx, socket.inet_ntop(socket.AF_INET6, addr), d.decode(), flush=True)
"#;

/// `IP_PKTINFO` and `IPV6_RECVPKTINFO` as Linux programs use them (routing
/// daemons, DNS servers): recvmsg's control messages carry the receiving
/// interface and the destination, whole or not at all (`MSG_CTRUNC`).
#[test]
fn recvmsg_control_messages() {
    let Some(vk) = setup("cap-pktinfo") else {
        return;
    };
    let mut srv = spawn_in(&vk, "n1", &["python3", "-c", PKTINFO_SERVER], None);
    prove_capture(&vk, "n1", &srv, 7400, "python3");
    let send = "import socket,sys,time\nfor fam,a,p,m in ((socket.AF_INET,'10.0.0.20',7400,'one'),(socket.AF_INET,'10.0.0.20',7400,'two'),(socket.AF_INET6,'a::20',7401,'six')):\n s=socket.socket(fam,socket.SOCK_DGRAM); s.sendto(m.encode(),(a,p)); time.sleep(0.2)";
    let (c, o, e) = run_in(&vk, "n2", &["python3", "-c", send]);
    assert_eq!(c, 0, "{o}{e}");
    let st = srv.wait().expect("server");
    let mut out = String::new();
    let _ = srv
        .stdout
        .as_mut()
        .expect("stdout")
        .read_to_string(&mut out);
    assert!(st.success(), "{out}");
    let ifindex = vok(&vk, "n1", "ifconfig", &["-l"])
        .split_whitespace()
        .position(|i| i == "eth0")
        .map(|i| i + 1)
        .expect("eth0");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "on 1", "{out}");
    assert_eq!(
        l[1],
        format!("v4 0 8 {ifindex} 10.0.0.20 10.0.0.20 10.0.0.21 one"),
        "{out}"
    );
    assert_eq!(l[2], "short 0 True", "{out}");
    assert!(
        l[3].starts_with(&format!("v6 41 50 {ifindex} a::20 six")),
        "{out}"
    );
}
