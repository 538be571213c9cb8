//! The Linux side of the forwarding benchmark: a chain of K router network
//! namespaces joined by veth pairs between a sender and a receiver namespace,
//! measured the same way as the vimage chain (UDP datagrams per second one way,
//! UDP request/response round-trip time).  Needs root and iproute2; returns
//! `None` (and the table says why) otherwise.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

/// The host's own command search path: the Linux side never runs this
/// project's tools (a `ping` or `ip` of ours first in the caller's PATH).
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host's `prog`, found in [`HOST_PATH`] only, with that PATH for
/// whatever it runs in turn (`ip netns exec … ping`).
fn host(prog: &str) -> Command {
    let path = HOST_PATH
        .split(':')
        .map(|d| std::path::Path::new(d).join(prog))
        .find(|p| p.exists())
        .unwrap_or_else(|| std::path::Path::new("/nonexistent").join(prog));
    let mut c = Command::new(path);
    c.env("PATH", HOST_PATH);
    c
}

/// Whether the host has `prog` in [`HOST_PATH`].
pub fn host_has(prog: &str) -> bool {
    HOST_PATH
        .split(':')
        .any(|d| std::path::Path::new(d).join(prog).exists())
}

fn ip(args: &[&str]) -> bool {
    host("ip")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Why the Linux chain cannot be measured here, if it cannot.
pub fn unavailable() -> Option<&'static str> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root");
    }
    if !ip(&["-V"]) {
        return Some("needs iproute2");
    }
    None
}

struct Chain {
    names: Vec<String>,
}

impl Drop for Chain {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = host("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Namespaces b0 (sender) … b{k+1} (receiver); link i joins b{i} and b{i+1}
/// on 10.77.{i}.0/24 (addresses exist only inside the test namespaces).
fn build(k: usize) -> Option<Chain> {
    let tag = std::process::id() % 10_000;
    let names: Vec<String> = (0..k + 2).map(|i| format!("vkb{tag}x{i}")).collect();
    let chain = Chain {
        names: names.clone(),
    };
    for n in &names {
        let _ = host("ip").args(["netns", "del", n]).output();
        if !ip(&["netns", "add", n]) {
            return None;
        }
        ip(&["-n", n, "link", "set", "lo", "up"]);
    }
    for i in 0..=k {
        let (a, b) = (format!("vka{tag}x{i}"), format!("vkz{tag}x{i}"));
        if !ip(&[
            "link",
            "add",
            &a,
            "netns",
            &names[i],
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &names[i + 1],
        ]) {
            return None;
        }
        ip(&[
            "-n",
            &names[i],
            "addr",
            "add",
            &format!("10.77.{i}.1/24"),
            "dev",
            &a,
        ]);
        ip(&[
            "-n",
            &names[i + 1],
            "addr",
            "add",
            &format!("10.77.{i}.2/24"),
            "dev",
            &b,
        ]);
        ip(&["-n", &names[i], "link", "set", &a, "up"]);
        ip(&["-n", &names[i + 1], "link", "set", &b, "up"]);
    }
    let last = k + 1;
    for (i, n) in names.iter().enumerate() {
        if i > 0 && i < last {
            ip(&["netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        }
        if i < last {
            ip(&[
                "-n",
                n,
                "route",
                "add",
                &format!("10.77.{k}.0/24"),
                "via",
                &format!("10.77.{i}.2"),
            ]);
        }
        if i > 0 {
            let back = (i - 1).to_string();
            ip(&[
                "-n",
                n,
                "route",
                "add",
                "10.77.0.0/24",
                "via",
                &format!("10.77.{back}.1"),
            ]);
        }
    }
    Some(chain)
}

/// Run `f` in a thread that entered namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(path).expect("netns");
        // SAFETY: a namespace fd; only this thread moves.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
}

/// (datagrams per second delivered end to end, median UDP round trip in µs,
/// ping's average round trip in µs).
pub fn measure(k: usize, datagrams: u32, len: usize) -> Option<(f64, f64, f64)> {
    let chain = build(k)?;
    let dst = format!("10.77.{k}.2:9");
    let rx_ns = chain.names[k + 1].clone();
    let tx_ns = chain.names[0].clone();
    // Receiver: count datagrams until the sender's end marker, echo the probes.
    let rx = in_ns(&rx_ns, move || {
        let s = UdpSocket::bind("0.0.0.0:9").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut buf = vec![0u8; 65_536];
        let mut n = 0u32;
        let mut t_first = None;
        let mut t_last = Instant::now();
        while let Ok((len, from)) = s.recv_from(&mut buf) {
            match buf.first() {
                Some(b'P') => {
                    let _ = s.send_to(&buf[..len], from);
                }
                Some(b'E') => break,
                _ => {
                    n += 1;
                    t_first.get_or_insert_with(Instant::now);
                    t_last = Instant::now();
                }
            }
        }
        let dt = t_first
            .map(|t| t_last.duration_since(t).as_secs_f64())
            .unwrap_or(0.0);
        (n, dt)
    });
    std::thread::sleep(Duration::from_millis(100));
    let dst2 = dst.clone();
    let tx = in_ns(&tx_ns, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(1))).ok();
        // Round trips first (also warms ARP along the chain).
        let mut rtts = Vec::new();
        let mut buf = [0u8; 64];
        for _ in 0..200 {
            let t0 = Instant::now();
            if s.send_to(b"P", &dst2).is_ok() && s.recv_from(&mut buf).is_ok() {
                rtts.push(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
        rtts.sort_by(|a, b| a.total_cmp(b));
        let payload = vec![b'D'; len];
        for _ in 0..datagrams {
            let _ = s.send_to(&payload, &dst2);
        }
        std::thread::sleep(Duration::from_millis(200));
        let _ = s.send_to(b"E", &dst2);
        rtts.get(rtts.len() / 2).copied().unwrap_or(f64::NAN)
    });
    let rtt = tx.join().ok()?;
    let (n, dt) = rx.join().ok()?;
    // Linux's own ping, inside the sender namespace (traffic stays in the chain).
    let ping = host("ip")
        .args([
            "netns",
            "exec",
            &chain.names[0],
            "ping",
            "-q",
            "-c",
            "50",
            "-i",
            "0.01",
        ])
        .arg(format!("10.77.{k}.2"))
        .output()
        .ok()
        .and_then(|o| {
            let s = String::from_utf8_lossy(&o.stdout).into_owned();
            let avg = s
                .split(" = ")
                .nth(1)?
                .split('/')
                .nth(1)?
                .parse::<f64>()
                .ok()?;
            Some(avg * 1000.0)
        })
        .unwrap_or(f64::NAN);
    drop(chain);
    Some((if dt > 0.0 { f64::from(n) / dt } else { 0.0 }, rtt, ping))
}
