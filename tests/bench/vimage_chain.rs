//! The vimage side of the forwarding benchmark: K router vimages in a chain,
//! joined by eifaces wired back to back, between a sender and a receiver
//! vimage — in one booted kernel, driven through the syscall door as processes
//! would (one thread, real clock).  Measured like the Linux chain: UDP datagrams
//! per second delivered one way, and the median UDP request/response time.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use vimage_abi::net_if::IFF_UP;
use vimage_abi::netinet_in::{
    in_plen2mask, SockaddrIn, IPPROTO_ICMP, IPPROTO_UDP, PF_INET, SOCK_DGRAM, SOCK_RAW,
};
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::Errno;
use vimage_inet::in_rt::{in_rt_add, in_rtalloc, InGateway, RTF_GATEWAY, RTF_STATIC};
use vimage_inet::ip_icmp::{IcmpPacket, IcmpRepr};
use vimage_inet::r#in::in_aifaddr;
use vimage_inet::VnetInet;
use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_syscall::Td;
use vimage_kern::kern_timeout::Clock;
use vimage_kern::uipc_socket::{FdTable, MSG_DONTWAIT};
use vimage_kern::vnet::VNET_MOD_INET;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig};
use vimage_kmod::netgraph::ng_base::ng_with;
use vimage_net::netisr::netisr_enter;
use vimage_net::r#if::ifunit;

struct HostClock(Instant);
impl Clock for HostClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

fn call(k: &Arc<Kernel>, td: &mut Td, r: Request) -> Result<Reply, Errno> {
    k.syscall(td, r).result()
}

/// A kernel on the host clock with netgraph and eifaces loaded.
pub fn boot() -> Arc<Kernel> {
    let kern = vimage_conf::boot(KernelConfig {
        host: Arc::new(FakeHost::default()),
        ident: "VIMAGE".into(),
        version: "bench".into(),
        clock: Arc::new(HostClock(Instant::now())),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
    for m in vimage_kmod::catalog() {
        kern.kld_catalog_add(m);
    }
    kern.kldload("netgraph").expect("netgraph");
    kern.kldload("ng_eiface").expect("ng_eiface");
    kern
}

/// One chain: a sender and a receiver vimage with `k` routers between, and
/// a UDP socket at each end.
pub struct Chain {
    kern: Arc<Kernel>,
    k: usize,
    tx: Td,
    rx: Td,
    s_tx: i32,
    s_rx: i32,
    dst: Vec<u8>,
}

/// (datagrams per second delivered, median UDP round trip in µs, median ping
/// round trip in µs) through `k` routers.
pub fn measure(k: usize, datagrams: u32, len: usize) -> (f64, f64, f64) {
    let kern = boot();
    let mut c = build(&kern, k, "h");
    let (rtt, ping) = c.probe();
    let pps = c.blast(datagrams, len);
    kern.shutdown();
    (pps, rtt, ping)
}

/// Build a chain of `k` routers in `kern`, its vimages named `{tag}0` …
/// `{tag}{k+1}` (several chains may share a kernel, each with the same
/// addresses in its own vimages).
pub fn build(kern: &Arc<Kernel>, k: usize, tag: &str) -> Chain {
    let v0 = kern.vimage0().clone();
    // Vimages h0 (sender) … h{k+1} (receiver); link i joins h{i} and h{i+1}.
    let hosts: Vec<_> = (0..k + 2)
        .map(|i| kern.vi_create(&v0, &format!("{tag}{i}")).expect("vimage"))
        .collect();
    let mut names = Vec::new();
    ng_with(&v0.vnet, |s| {
        for _ in 0..=k {
            let a = s.make_node("eiface").expect("eiface");
            let b = s.make_node("eiface").expect("eiface");
            s.connect(a, "ether", b, "ether").expect("connect");
            names.push((
                s.node_info(a).map(|n| n.name),
                s.node_info(b).map(|n| n.name),
            ));
        }
    })
    .expect("netgraph");
    for (i, (a, b)) in names.iter().enumerate() {
        let (Some(a), Some(b)) = (a, b) else {
            panic!("eiface without a name")
        };
        kern.vi_iface(&v0, &format!("{tag}{i}"), a, Some(&format!("r{i}")))
            .expect("move");
        kern.vi_iface(&v0, &format!("{tag}{}", i + 1), b, Some(&format!("l{i}")))
            .expect("move");
    }
    for (i, h) in hosts.iter().enumerate() {
        let _cv = CurvnetGuard::set(&h.vnet);
        let _ns = netisr_enter();
        let mut mac = 1u8;
        for (name, addr) in [
            (format!("r{i}"), Ipv4Addr::new(10, 77, i as u8, 1)),
            (
                format!("l{}", i.wrapping_sub(1)),
                Ipv4Addr::new(10, 77, (i as u8).wrapping_sub(1), 2),
            ),
        ] {
            let Some(ifp) = ifunit(&name) else { continue };
            if let Ok(mut g) = ifp.lladdr.write() {
                *g = vec![0x02, 0, i as u8, mac, 0, 1];
            }
            mac += 1;
            ifp.flags.fetch_or(IFF_UP, Ordering::Relaxed);
            in_aifaddr(&ifp, addr, Some(in_plen2mask(24)), None).expect("address");
        }
        if i > 0 && i < k + 1 {
            if let Some(inet) = h.vnet.state::<VnetInet>(VNET_MOD_INET) {
                inet.ipforwarding.store(1, Ordering::Relaxed);
            }
        }
        let route = |dst: Ipv4Addr, gw: Ipv4Addr| {
            let rt = in_rtalloc(gw).expect("gateway on link");
            in_rt_add(
                dst,
                24,
                InGateway::Inet(gw),
                &rt.ifp,
                rt.ifa,
                RTF_GATEWAY | RTF_STATIC,
            )
            .expect("route");
        };
        // Directly connected at the ends: the interface route is there already.
        if i < k {
            route(
                Ipv4Addr::new(10, 77, k as u8, 0),
                Ipv4Addr::new(10, 77, i as u8, 2),
            );
        }
        if i > 1 {
            route(
                Ipv4Addr::new(10, 77, 0, 0),
                Ipv4Addr::new(10, 77, (i - 1) as u8, 1),
            );
        }
    }
    let td = |v: &Arc<vimage_kern::kern_vimage::Vimage>| Td {
        pid: 1,
        vimage: v.clone(),
        fds: FdTable::default(),
        intr: Arc::new(|| false),
    };
    let mut tx = td(&hosts[0]);
    let mut rx = td(&hosts[k + 1]);
    let sock = |t: &mut Td| {
        call(
            kern,
            t,
            Request::Socket {
                domain: PF_INET,
                ty: SOCK_DGRAM,
                proto: IPPROTO_UDP,
            },
        )
        .expect("socket")
        .val as i32
    };
    let (s_tx, s_rx) = (sock(&mut tx), sock(&mut rx));
    let any9 = SockaddrIn::new(Ipv4Addr::UNSPECIFIED, 9)
        .to_bytes()
        .to_vec();
    call(
        kern,
        &mut rx,
        Request::Bind {
            fd: s_rx,
            addr: any9,
        },
    )
    .expect("bind");
    let dst = SockaddrIn::new(Ipv4Addr::new(10, 77, k as u8, 2), 9)
        .to_bytes()
        .to_vec();
    Chain {
        kern: kern.clone(),
        k,
        tx,
        rx,
        s_tx,
        s_rx,
        dst,
    }
}

impl Chain {
    fn send(&mut self, data: Vec<u8>) -> Result<Reply, Errno> {
        call(
            &self.kern,
            &mut self.tx,
            Request::Sendto {
                fd: self.s_tx,
                flags: 0,
                addr: Some(self.dst.clone()),
                data,
            },
        )
    }

    fn recv(kern: &Arc<Kernel>, t: &mut Td, fd: i32) -> Result<Reply, Errno> {
        call(
            kern,
            t,
            Request::Recvfrom {
                fd,
                len: 65_536,
                flags: MSG_DONTWAIT,
            },
        )
    }

    /// Median UDP and ping round trips in µs (ARP warms up on the first).
    pub fn probe(&mut self) -> (f64, f64) {
        let kern = self.kern.clone();
        let k = self.k;
        let (s_rx, s_tx) = (self.s_rx, self.s_tx);
        // Round trips: the receiver answers each probe (ARP warms up on the first).
        let mut rtts = Vec::new();
        for _ in 0..200 {
            let t0 = Instant::now();
            self.send(b"P".to_vec()).expect("send probe");
            let Ok(r) = Self::recv(&kern, &mut self.rx, s_rx) else {
                continue;
            };
            call(
                &kern,
                &mut self.rx,
                Request::Sendto {
                    fd: s_rx,
                    flags: 0,
                    addr: Some(r.addr),
                    data: r.data,
                },
            )
            .expect("answer");
            if Self::recv(&kern, &mut self.tx, s_tx).is_ok() {
                rtts.push(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
        rtts.sort_by(|a, b| a.total_cmp(b));
        let rtt = rtts.get(rtts.len() / 2).copied().unwrap_or(f64::NAN);
        // ping: ICMP echo from a raw socket, as ping(8) does.
        let icmp = call(
            &kern,
            &mut self.tx,
            Request::Socket {
                domain: PF_INET,
                ty: SOCK_RAW,
                proto: IPPROTO_ICMP,
            },
        )
        .expect("raw socket")
        .val as i32;
        let target = SockaddrIn::new(Ipv4Addr::new(10, 77, k as u8, 2), 0)
            .to_bytes()
            .to_vec();
        let mut pings = Vec::new();
        for seq in 0..100u16 {
            let r = IcmpRepr::EchoRequest {
                ident: 0x7777,
                seq_no: seq,
                data: &[0u8; 56],
            };
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut IcmpPacket::new_unchecked(&mut b[..]));
            let t0 = Instant::now();
            call(
                &kern,
                &mut self.tx,
                Request::Sendto {
                    fd: icmp,
                    flags: 0,
                    addr: Some(target.clone()),
                    data: b,
                },
            )
            .expect("ping");
            while t0.elapsed().as_secs() < 1 {
                if let Ok(r) = Self::recv(&kern, &mut self.tx, icmp) {
                    // The raw socket sees our own request on the way out only on
                    // loopback; an echo reply has type 0 after the IP header.
                    let ihl = usize::from(r.data.first().copied().unwrap_or(0) & 0xf) * 4;
                    if r.data.get(ihl) == Some(&0) {
                        pings.push(t0.elapsed().as_secs_f64() * 1e6);
                        break;
                    }
                }
            }
        }
        pings.sort_by(|a, b| a.total_cmp(b));
        let ping = pings.get(pings.len() / 2).copied().unwrap_or(f64::NAN);
        (rtt, ping)
    }

    /// Datagrams per second delivered end to end, `datagrams` of `len` bytes
    /// sent back to back, the receiver draining as it goes.
    pub fn blast(&mut self, datagrams: u32, len: usize) -> f64 {
        let kern = self.kern.clone();
        let s_rx = self.s_rx;
        let payload = vec![b'D'; len];
        let mut got = 0u32;
        let t0 = Instant::now();
        for _ in 0..datagrams {
            let _ = self.send(payload.clone());
            // Drain as we go, as a receiving process keeps up with its socket.
            while Self::recv(&kern, &mut self.rx, s_rx).is_ok() {
                got += 1;
            }
        }
        f64::from(got) / t0.elapsed().as_secs_f64()
    }
}
