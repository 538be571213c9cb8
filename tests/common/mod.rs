//! Scenario-test harness: boots a private vkernel on its own socket and runs the
//! project's real tools against it, as a user would type them.

#![allow(dead_code)]

pub mod apps;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding vkernel and every tool.
pub fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_vkernel"))
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

/// A booted private kernel.
pub struct Vk {
    child: Option<Child>,
    /// Its socket.
    pub sock: PathBuf,
    dir: PathBuf,
}

impl Vk {
    /// Boot a kernel on a fresh socket and wait until it answers.
    /// The kernel's host pid.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn boot(tag: &str) -> Vk {
        Vk::boot_with(tag, &[])
    }

    /// Same as [`Vk::boot`] with extra vkernel arguments (`--attach …`).
    pub fn boot_with(tag: &str, extra: &[&str]) -> Vk {
        Vk::boot_wrapped(tag, &[], extra)
    }

    /// Same as [`Vk::boot_with`], started through the command `wrap` (e.g.
    /// `ip netns exec NS`, so the kernel opens host interfaces of that
    /// network namespace); its socket is a path, reachable from ours.
    pub fn boot_wrapped(tag: &str, wrap: &[&str], extra: &[&str]) -> Vk {
        let dir = std::env::temp_dir().join(format!("vk-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let sock = dir.join("kernel.sock");
        let vkernel = bindir().join("vkernel");
        let mut cmd = match wrap.split_first() {
            Some((w, args)) => {
                let mut c = Command::new(w);
                c.args(args).arg(&vkernel);
                c
            }
            None => Command::new(&vkernel),
        };
        let child = cmd
            .arg("-s")
            .arg(&sock)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vkernel");
        let t0 = Instant::now();
        let mut child = child;
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                let mut e = String::new();
                if let Some(mut x) = child.stderr.take() {
                    let _ = x.read_to_string(&mut e);
                }
                panic!("vkernel exited at boot ({st}): {e}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "vkernel did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Vk {
            child: Some(child),
            sock,
            dir,
        }
    }

    /// A command for tool `tool` (found in our bin dir) aimed at this kernel.
    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(bindir().join(tool));
        c.env("VIMAGE_SOCKET", &self.sock);
        // Our tools first, as `vimage NAME cmd` arranges inside vimages.
        let path = format!(
            "{}:{}",
            bindir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path);
        c
    }

    /// Run `tool args…`; returns (status code, stdout, stderr).
    pub fn run(&self, tool: &str, args: &[&str]) -> (i32, String, String) {
        let out: Output = self.cmd(tool).args(args).output().expect("run tool");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, tool: &str, args: &[&str]) -> String {
        let (c, o, e) = self.run(tool, args);
        assert_eq!(c, 0, "{tool} {args:?} failed: {e}{o}");
        o
    }

    /// Run and require failure with exactly `msg` on stderr.
    pub fn fails(&self, tool: &str, args: &[&str], msg: &str) {
        let (c, o, e) = self.run(tool, args);
        assert_ne!(c, 0, "{tool} {args:?} should fail: {o}");
        assert_eq!(e.trim_end(), msg, "{tool} {args:?}");
    }

    /// Run with `input` on stdin.
    pub fn run_stdin(&self, tool: &str, args: &[&str], input: &str) -> (i32, String, String) {
        let mut ch = self
            .cmd(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        ch.stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = ch.wait_with_output().expect("wait");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Halt with `halt` and return the kernel's console output.
    pub fn halt(mut self) -> String {
        self.ok("halt", &[]);
        let mut ch = self.child.take().expect("child");
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = ch.try_wait() {
                assert!(st.success(), "vkernel exit {st:?}");
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "vkernel did not halt"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut s = String::new();
        if let Some(mut o) = ch.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        assert!(!self.sock.exists(), "socket left behind");
        s
    }
}

impl Drop for Vk {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Absolute path of one of our tools, for `vimage NAME TOOL …` (so the
/// command inside the vimage is ours, whatever PATH says).
pub fn tool(t: &str) -> String {
    bindir().join(t).display().to_string()
}

/// Run our tool `t` with `args` inside vimage `v`.
pub fn vrun(vk: &Vk, v: &str, t: &str, args: &[&str]) -> (i32, String, String) {
    let p = tool(t);
    let mut a = vec![v, p.as_str()];
    a.extend_from_slice(args);
    vk.run("vimage", &a)
}

/// [`vrun`], requiring success; its output.
pub fn vok(vk: &Vk, v: &str, t: &str, args: &[&str]) -> String {
    let (c, o, e) = vrun(vk, v, t, args);
    assert_eq!(c, 0, "vimage {v} {t} {args:?}: {e}{o}");
    o
}

/// `ip ARGS` (iproute2, for namespaces a test makes), which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An AF_PACKET socket for every protocol, bound to `ifname` inside network
/// namespace `ns` (made in a thread of its own, since setns moves only the
/// calling thread; the socket stays in that namespace wherever it is used).
pub fn packet_socket_in(ns: &str, ifname: &str) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let (ns, ifname) = (ns.to_string(), ifname.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("netns file");
        // SAFETY: a valid netns fd; only this thread changes namespace.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        assert!(fd >= 0, "packet socket");
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(ifname).expect("name");
        // SAFETY: a valid C string.
        let idx = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
        assert!(idx > 0);
        // SAFETY: a zeroed sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = idx;
        // SAFETY: pointer and length describe `sll`.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind");
        fd
    })
    .join()
    .expect("netns thread")
}

/// The `vimage -l` blocks without the CPU and limit lines (the tutorial's filter).
pub fn brief(l: &str) -> String {
    l.lines()
        .filter(|x| !x.contains("CPU") && !x.contains("limit"))
        .map(|x| format!("{x}\n"))
        .collect()
}

/// A network namespace and a veth pair: `host` stays in our namespace for the
/// kernel to open, `peer` lives in the namespace.  Removed on drop.
pub struct Netns {
    /// The namespace's name.
    pub ns: String,
    /// The veth end in our namespace.
    pub host: String,
    /// The veth end in the namespace.
    pub peer: String,
}

impl Netns {
    /// Make namespace and pair, both ends up, `lo` up inside.
    pub fn new(tag: &str) -> Netns {
        let id = std::process::id() % 100_000;
        let n = Netns {
            ns: format!("vkt{tag}{id}"),
            host: format!("vkh{tag}{id}"),
            peer: format!("vkp{tag}{id}"),
        };
        let _ = Command::new("ip").args(["netns", "del", &n.ns]).output();
        ip(&["netns", "add", &n.ns]);
        ip(&[
            "link", "add", &n.host, "type", "veth", "peer", "name", &n.peer,
        ]);
        ip(&["link", "set", &n.peer, "netns", &n.ns]);
        ip(&["link", "set", &n.host, "up"]);
        ip(&["netns", "exec", &n.ns, "ip", "link", "set", &n.peer, "up"]);
        ip(&["netns", "exec", &n.ns, "ip", "link", "set", "lo", "up"]);
        n
    }

    /// A raw AF_PACKET socket on `ifname` inside the namespace.
    pub fn raw_socket(&self, ifname: &str) -> std::os::fd::OwnedFd {
        packet_socket_in(&self.ns, ifname)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}
