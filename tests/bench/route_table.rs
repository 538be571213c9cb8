//! Benchmark: the routing table with 1,000 to 100,000 routes — insert, longest
//! prefix match, dump, memory per route — in-kernel, and RTM_ADD through a
//! routing socket.  Run with `cargo bench --bench route_table`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;
use vimage_abi::route::*;
use vimage_abi::syscall::Request;
use vimage_abi::Errno;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig};
use vimage_net::if_var::{IfDriver, Ifnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::route::{rt_add, rt_dump, rtalloc, RtGateway};

struct Null;
impl IfDriver for Null {
    fn transmit(&self, _: &Arc<Ifnet>, _: Mbuf) -> Result<(), Errno> {
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

fn boot() -> Arc<Kernel> {
    vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: "VIMAGE".into(),
        version: "bench".into(),
        clock: Arc::new(vimage_kern::kern_timeout::FakeClock::default()),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot")
}

/// `n` distinct random prefixes with a realistic spread of lengths.
fn prefixes(n: usize) -> Vec<(Ipv4Addr, u8)> {
    let mut x: u32 = 0x2545_f491;
    let mut seen = std::collections::HashSet::new();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let plen = [16u8, 19, 20, 21, 22, 23, 24, 24, 24, 24, 28, 32][(x % 12) as usize];
        let a = Ipv4Addr::from(x & (u32::MAX << (32 - u32::from(plen))));
        if seen.insert((a, plen)) {
            v.push((a, plen));
        }
    }
    v
}

fn in_kernel(n: usize) -> (f64, f64, f64, f64, usize) {
    let k = boot();
    let vnet = k.vimage0().vnet.clone();
    let _cv = CurvnetGuard::set(&vnet);
    let ifp = Ifnet::new(
        &vnet,
        "eth0",
        "bench",
        6,
        0x8843,
        1500,
        vec![2, 0, 0, 0, 0, 1],
        Box::new(Null),
    );
    vimage_net::r#if::if_attach(&ifp).expect("attach");
    let gw = RtGateway::Inet(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let p = prefixes(n);
    let rss0 = rss_kib();
    let t0 = Instant::now();
    for (a, l) in &p {
        rt_add(
            IpAddr::V4(*a),
            *l,
            gw.clone(),
            &ifp,
            None,
            RTF_GATEWAY | RTF_STATIC,
        )
        .expect("add");
    }
    let add = t0.elapsed().as_secs_f64();
    let mem = rss_kib().saturating_sub(rss0) as f64 * 1024.0 / n as f64;
    let t0 = Instant::now();
    let lookups = 1_000_000usize;
    for i in 0..lookups {
        let (a, l) = p[i % n];
        let host = if l <= 28 {
            u32::from(a) | (i as u32 & 0x7)
        } else {
            u32::from(a)
        };
        assert!(rtalloc(IpAddr::V4(Ipv4Addr::from(host))).is_some());
    }
    let lookup = t0.elapsed().as_secs_f64() / lookups as f64;
    let t0 = Instant::now();
    let d = rt_dump(false);
    let dump = t0.elapsed().as_secs_f64();
    let lens = {
        let mut l: Vec<u8> = d.iter().map(|r| r.plen).collect();
        l.sort_unstable();
        l.dedup();
        l.len()
    };
    drop(d);
    drop(_cv);
    k.shutdown();
    (add, lookup, dump, mem, lens)
}

/// RTM_ADD messages through a routing socket (the route(8) path, without the
/// process start).
fn via_rtsock(n: usize) -> f64 {
    let k = boot();
    let mut td = k.td_attach(1);
    {
        let _cv = CurvnetGuard::set(&td.vimage.vnet);
        let ifp = Ifnet::new(
            &td.vimage.vnet,
            "eth0",
            "bench",
            6,
            0x8843,
            1500,
            vec![2, 0, 0, 0, 0, 1],
            Box::new(Null),
        );
        vimage_net::r#if::if_attach(&ifp).expect("attach");
        ifp.addrs
            .write()
            .expect("addrs")
            .push(vimage_net::if_var::IfAddr {
                addr: "10.0.0.20".parse().expect("addr"),
                plen: 24,
                dst: None,
                flags: 0,
            });
    }
    let fd = k
        .syscall(
            &mut td,
            Request::Socket {
                domain: PF_ROUTE,
                ty: SOCK_RAW,
                proto: 0,
            },
        )
        .val as i32;
    let _ = k.syscall(
        &mut td,
        Request::Setsockopt {
            fd,
            level: 0xffff,
            name: 0x40,
            val: 0i32.to_le_bytes().to_vec(),
        },
    );
    let p = prefixes(n);
    let t0 = Instant::now();
    for (i, (a, l)) in p.iter().enumerate() {
        let mut m = RtMsg::new(RTM_ADD);
        m.hdr.flags = (RTF_UP | RTF_GATEWAY | RTF_STATIC) as i32;
        m.hdr.seq = i as i32;
        m.sa[0] = Some(Sockaddr::Inet(*a));
        m.sa[1] = Some(Sockaddr::Inet(Ipv4Addr::new(10, 0, 0, 1)));
        if *l < 32 {
            m.sa[2] = Some(Sockaddr::user_netmask(false, *l));
        } else {
            m.hdr.flags |= RTF_HOST as i32;
        }
        let r = k.syscall(
            &mut td,
            Request::Sendto {
                fd,
                flags: 0,
                addr: None,
                data: m.to_bytes().expect("msg"),
            },
        );
        assert_eq!(r.errno, 0);
    }
    let t = t0.elapsed().as_secs_f64() / n as f64;
    k.td_exit(&mut td);
    k.shutdown();
    t
}

fn main() {
    println!("| routes | insert total | per insert | lookup (LPM) | dump | memory per route | prefix lengths |");
    println!("|---|---|---|---|---|---|---|");
    for n in [1_000usize, 10_000, 100_000] {
        let (add, lookup, dump, mem, lens) = in_kernel(n);
        println!(
            "| {n} | {add:.3} s | {:.2} µs | {:.0} ns | {:.1} ms | {:.0} B | {lens} |",
            add / n as f64 * 1e6,
            lookup * 1e9,
            dump * 1e3,
            mem
        );
    }
    let n = 10_000;
    println!();
    println!("| RTM_ADD through a routing socket | N | per message |");
    println!("|---|---|---|");
    println!(
        "| in-kernel syscall path | {n} | {:.2} µs |",
        via_rtsock(n) * 1e6
    );
}
