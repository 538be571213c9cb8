//! tcpbench(1): OpenBSD's TCP benchmark through the vimage socket API.
//!
//! ```text
//! tcpbench -s [-46] [-B buf] [-p port] [-r interval] [hostname]
//! tcpbench [-46] [-B buf] [-n connections] [-p port] [-r interval] [-t secs] hostname
//! ```
//!
//! The server accepts connections and sinks what they send; the client
//! connects and sends as fast as it can (for `-t` seconds, else until
//! interrupted).  Whichever side moves the data reports, every `-r`
//! milliseconds (default 1000), a line per connection under OpenBSD's header
//!
//! ```text
//!   elapsed_ms          bytes         mbps   bwidth
//!         1000       31457280      251.658  100.00%
//! ```
//!
//! (`bytes` moved in the interval, `bwidth` this connection's share), and the
//! client ends with OpenBSD's summary:
//!
//! ```text
//! --- tcpbench client statistics ---
//! 62914560 bytes sent over 2.001 seconds
//! bandwidth min/avg/max/std-dev = 249.981/251.420/252.860/1.440 Mbps
//! ```
//!
//! Each connection moves data on its own kernel connection (thread) while the
//! reporting thread reads the counters: the threads share the process's
//! descriptor table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libvimage::getopt::Getopt;
use libvimage::{
    err, errx, getaddrinfo, parse_sockaddr, sockaddr, Errno, Sys, PF_INET6, SOL_SOCKET,
    SO_REUSEADDR,
};
use vimage_abi::netinet_in::{PF_INET, SOCK_STREAM};

// (A `\` line continuation would eat the indentation.)
const USAGE: &str = concat!(
    "usage: tcpbench -l\n",
    "       tcpbench [-46] [-B buf] [-n connections] [-p port] [-r interval]\n",
    "                [-t secs] hostname\n",
    "       tcpbench -s [-46] [-B buf] [-p port] [-r interval] [hostname]"
);

/// Default port (OpenBSD's).
const DEFAULT_PORT: u16 = 12345;
/// Default buffer size per call.
const DEFAULT_BUF: usize = 256 * 1024;

#[derive(Debug)]
struct Opts {
    server: bool,
    family: Option<i32>,
    buf: usize,
    nconn: usize,
    port: u16,
    interval_ms: u64,
    secs: Option<u64>,
    host: Option<String>,
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(1)
}

fn num<T: std::str::FromStr>(what: &str, s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| errx(1, format!("{what} is invalid: {s}")))
}

fn parse_args() -> Opts {
    // Options may follow the host, as they always could here.
    let a = Getopt::new("46B:ln:p:r:st:").permute().parse_env(usage);
    let mut o = Opts {
        server: false,
        family: None,
        buf: DEFAULT_BUF,
        nconn: 1,
        port: DEFAULT_PORT,
        interval_ms: 1000,
        secs: None,
        host: None,
    };
    for (c, v) in a.opts {
        match c {
            's' => o.server = true,
            '4' => o.family = Some(PF_INET),
            '6' => o.family = Some(PF_INET6),
            'l' => {
                println!("(no kernel variables)");
                std::process::exit(0)
            }
            'B' => o.buf = num("buffer size", &v),
            'n' => o.nconn = num("number of connections", &v),
            'p' => o.port = num("port", &v),
            'r' => o.interval_ms = num("statistics interval", &v),
            _ => o.secs = Some(num("secs", &v)),
        }
    }
    let mut rest = a.operands;
    if o.buf == 0 || o.buf > 1 << 19 {
        errx(1, format!("buffer size is out of range: {}", o.buf));
    }
    if o.nconn == 0 || o.nconn > 1024 {
        errx(
            1,
            format!("number of connections is out of range: {}", o.nconn),
        );
    }
    if o.interval_ms == 0 {
        errx(1, "statistics interval is too small: 0");
    }
    match rest.len() {
        0 if o.server => {}
        1 => o.host = rest.pop(),
        _ => usage(),
    }
    if !o.server && o.host.is_none() {
        usage();
    }
    o
}

/// One connection's byte counter.
struct Conn {
    bytes: AtomicU64,
    done: AtomicBool,
}

/// The first address `host` stands for (in `family`, if given).
fn resolve(host: &str, family: Option<i32>) -> IpAddr {
    match getaddrinfo(host, family).first() {
        Some(a) => *a,
        None => errx(
            1,
            format!("getaddrinfo: {host}: hostname nor servname provided, or not known"),
        ),
    }
}

/// The statistics printer: a line per live connection each interval; returns
/// each interval's total Mbit/s.
fn report_loop(conns: Arc<Mutex<Vec<Arc<Conn>>>>, o: &Opts, stop: Arc<AtomicBool>) -> Vec<f64> {
    println!(
        "{:>12} {:>14} {:>12} {:>8} ",
        "elapsed_ms", "bytes", "mbps", "bwidth"
    );
    let start = Instant::now();
    let mut last = Instant::now();
    let mut prev: Vec<u64> = Vec::new();
    let mut rates = Vec::new();
    let mut tick = 1u64;
    loop {
        let next = start + Duration::from_millis(o.interval_ms * tick);
        let mut last_tick = false;
        while Instant::now() < next {
            if stop.load(Ordering::Relaxed) {
                // The run ends: report the interval ending now if most of it
                // has passed (a `-t` run ends right on a tick).
                if next.saturating_duration_since(Instant::now()).as_millis() * 2
                    > u128::from(o.interval_ms)
                {
                    return rates;
                }
                last_tick = true;
                break;
            }
            std::thread::sleep(
                Duration::from_millis(5).min(next.saturating_duration_since(Instant::now())),
            );
        }
        tick += 1;
        let now = Instant::now();
        let span = now.duration_since(last).as_secs_f64().max(1e-6);
        last = now;
        let list: Vec<Arc<Conn>> = conns.lock().map(|g| g.clone()).unwrap_or_default();
        prev.resize(list.len(), 0);
        let deltas: Vec<u64> = list
            .iter()
            .zip(prev.iter_mut())
            .map(|(c, p)| {
                let b = c.bytes.load(Ordering::Relaxed);
                let d = b - *p;
                *p = b;
                d
            })
            .collect();
        let total: u64 = deltas.iter().sum();
        let elapsed = now.duration_since(start).as_millis();
        let mut any = false;
        for (c, d) in list.iter().zip(&deltas) {
            if c.done.load(Ordering::Relaxed) && *d == 0 {
                continue;
            }
            any = true;
            let mbps = *d as f64 * 8.0 / span / 1e6;
            let bw = if total > 0 {
                *d as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            println!("{elapsed:>12} {d:>14} {mbps:>12.3} {bw:>7.2}% ");
        }
        if any {
            let mbps = total as f64 * 8.0 / span / 1e6;
            let live = list
                .iter()
                .filter(|c| !c.done.load(Ordering::Relaxed))
                .count();
            if list.len() > 1 {
                println!(
                    "Conn: {:>3} Mbps: {:>12.3} Peak Mbps: {:>12.3} Avg Mbps: {:>12.3}",
                    live,
                    mbps,
                    rates.iter().copied().fold(mbps, f64::max),
                    if live > 0 { mbps / live as f64 } else { 0.0 }
                );
            }
            rates.push(mbps);
        }
        if last_tick {
            return rates;
        }
    }
}

fn main() {
    let o = parse_args();
    if o.server {
        server(&o)
    } else {
        client(&o)
    }
}

fn server(o: &Opts) -> ! {
    let mut sys = Sys::open_or_exit();
    let ip = match &o.host {
        Some(h) => resolve(h, o.family),
        None if o.family == Some(PF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let dom = if ip.is_ipv4() { PF_INET } else { PF_INET6 };
    let s = sys
        .socket(dom, SOCK_STREAM, 0)
        .unwrap_or_else(|e| err(1, "socket", e));
    let _ = sys.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    if let Err(e) = sys.bind(s, &sockaddr(&SocketAddr::new(ip, o.port))) {
        err(1, "bind", e);
    }
    if let Err(e) = sys.listen(s, 64) {
        err(1, "listen", e);
    }
    let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
    {
        let conns = conns.clone();
        let o = Opts { host: None, ..*o };
        std::thread::spawn(move || report_loop(conns, &o, Arc::new(AtomicBool::new(false))));
    }
    let buf = o.buf;
    loop {
        let (c, from) = match sys.accept(s, 0) {
            Ok(x) => x,
            Err(Errno::EINTR) => continue,
            Err(e) => err(1, "accept", e),
        };
        if let Some(a) = parse_sockaddr(&from) {
            eprintln!("Accepted connection from {}, fd = {c}", a.ip());
        }
        let conn = Arc::new(Conn {
            bytes: AtomicU64::new(0),
            done: AtomicBool::new(false),
        });
        if let Ok(mut g) = conns.lock() {
            g.retain(|x| !x.done.load(Ordering::Relaxed));
            g.push(conn.clone());
        }
        std::thread::spawn(move || {
            let mut rs = Sys::open_or_exit();
            loop {
                match rs.recv(c, buf, 0) {
                    Ok(d) if d.is_empty() => break,
                    Ok(d) => {
                        conn.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            conn.done.store(true, Ordering::Relaxed);
            let _ = rs.close(c);
        });
    }
}

fn client(o: &Opts) -> ! {
    let host = o.host.clone().unwrap_or_default();
    let ip = resolve(&host, o.family);
    let to = sockaddr(&SocketAddr::new(ip, o.port));
    let dom = if ip.is_ipv4() { PF_INET } else { PF_INET6 };
    let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    let start = Instant::now();
    for _ in 0..o.nconn {
        let mut sys = Sys::open_or_exit();
        let s = sys
            .socket(dom, SOCK_STREAM, 0)
            .unwrap_or_else(|e| err(1, "socket", e));
        if let Err(e) = sys.connect(s, &to) {
            err(1, "connect", e);
        }
        let conn = Arc::new(Conn {
            bytes: AtomicU64::new(0),
            done: AtomicBool::new(false),
        });
        if let Ok(mut g) = conns.lock() {
            g.push(conn.clone());
        }
        let stop = stop.clone();
        let buf: Vec<u8> = (0..o.buf).map(|i| i as u8).collect();
        senders.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match sys.send(s, &buf, 0) {
                    Ok(n) => {
                        conn.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if !stop.load(Ordering::Relaxed) {
                            err(1, "write", e);
                        }
                        break;
                    }
                }
            }
            conn.done.store(true, Ordering::Relaxed);
            let _ = sys.close(s);
        }));
    }
    let reporter = {
        let conns = conns.clone();
        let stop = stop.clone();
        let ro = Opts { host: None, ..*o };
        std::thread::spawn(move || report_loop(conns, &ro, stop))
    };
    match o.secs {
        Some(t) => {
            let end = start + Duration::from_secs(t);
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
            }
        }
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let rates = reporter.join().unwrap_or_default();
    for h in senders {
        let _ = h.join();
    }
    let total: u64 = conns
        .lock()
        .map(|g| g.iter().map(|c| c.bytes.load(Ordering::Relaxed)).sum())
        .unwrap_or(0);
    println!("--- tcpbench client statistics ---");
    println!("{total} bytes sent over {elapsed:.3} seconds");
    let (min, avg, max, sd) = summary(&rates);
    println!("bandwidth min/avg/max/std-dev = {min:.3}/{avg:.3}/{max:.3}/{sd:.3} Mbps");
    std::process::exit(0)
}

/// min, mean, max and standard deviation of the interval rates.
fn summary(r: &[f64]) -> (f64, f64, f64, f64) {
    if r.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let n = r.len() as f64;
    let avg = r.iter().sum::<f64>() / n;
    let min = r.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sd = (r.iter().map(|x| (x - avg) * (x - avg)).sum::<f64>() / n).sqrt();
    (min, avg, max, sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_statistics() {
        assert_eq!(summary(&[]), (0.0, 0.0, 0.0, 0.0));
        let (min, avg, max, sd) = summary(&[1.0, 3.0]);
        assert_eq!((min, avg, max, sd), (1.0, 2.0, 3.0, 1.0));
    }
}
