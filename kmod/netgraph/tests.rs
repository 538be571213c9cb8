//! Netgraph in a booted kernel, several vnets in one process on fake time:
//! sockets through the syscall door, eifaces wired back to back and through
//! bridges and pipes, ng_ether on an interface, module load/unload rules.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use vimage_abi::net_if::{IfReq, IFF_UP, SIOCIFCREATE2, SIOCSIFFLAGS};
use vimage_abi::netgraph::*;
use vimage_abi::syscall::Request;
use vimage_abi::Errno;
use vimage_kern::kern_syscall::{test_lock, Td};
use vimage_kern::kern_timeout::FakeClock;
use vimage_kern::uipc_socket::MSG_DONTWAIT;
use vimage_kern::{CurvnetGuard, Kernel, KernelConfig, Vnet};
use vimage_net::mbuf::Mbuf;
use vimage_net::r#if::{ifunit, netisr_register};

#[cfg(feature = "vimage")]
use super::ng_base::ng_with;

const ET_TEST: u16 = 0x88b5;

struct K {
    k: Arc<Kernel>,
    clock: Arc<FakeClock>,
    _l: vimage_kern::kern_syscall::TestGuard,
}

impl Drop for K {
    fn drop(&mut self) {
        self.k.shutdown();
    }
}

fn boot() -> K {
    let l = test_lock();
    let clock = Arc::new(FakeClock::new(1_000_000));
    let k = Kernel::boot_conf(
        KernelConfig::for_tests(clock.clone()),
        &vimage_inet::INET_CONF,
    )
    .expect("boot");
    for m in crate::catalog() {
        k.kld_catalog_add(m);
    }
    k.kldload("netgraph").expect("netgraph");
    k.kldload("ng_socket").expect("ng_socket");
    K { k, clock, _l: l }
}

/// A process with an ngctl-like pair of sockets.
struct Ng {
    td: Td,
    cs: i32,
    ds: i32,
    id: u32,
}

fn call(k: &Arc<Kernel>, td: &mut Td, r: Request) -> Result<vimage_abi::syscall::Reply, Errno> {
    k.syscall(td, r).result()
}

impl Ng {
    fn open(k: &Arc<Kernel>, pid: u32) -> Ng {
        Ng::open_in(k, pid, None)
    }

    /// A process in vimage `vi` (default if `None`).
    fn open_in(
        k: &Arc<Kernel>,
        pid: u32,
        vi: Option<&Arc<vimage_kern::kern_vimage::Vimage>>,
    ) -> Ng {
        let mut td = k.td_attach(pid);
        if let Some(v) = vi {
            td.vimage = v.clone();
        }
        let sock = |td: &mut Td, proto| {
            call(
                k,
                td,
                Request::Socket {
                    domain: PF_NETGRAPH,
                    ty: 2,
                    proto,
                },
            )
            .expect("socket")
            .val as i32
        };
        let cs = sock(&mut td, NG_CONTROL);
        let name = format!("ngctl{pid}");
        call(
            k,
            &mut td,
            Request::Bind {
                fd: cs,
                addr: SockaddrNg { data: name }.to_bytes().unwrap(),
            },
        )
        .expect("bind");
        let mut ng = Ng {
            td,
            cs,
            ds: -1,
            id: 0,
        };
        let r = ng
            .req(k, ".", NGM_GENERIC_COOKIE, NGM_NODEINFO, vec![])
            .unwrap();
        ng.id = NodeInfo::from_bytes(&r.unwrap().data).unwrap().id;
        let ds = sock(&mut ng.td, NG_DATA);
        call(
            k,
            &mut ng.td,
            Request::Connect {
                fd: ds,
                addr: SockaddrNg {
                    data: format!("[{:x}]:", ng.id),
                }
                .to_bytes()
                .unwrap(),
            },
        )
        .expect("connect data socket");
        ng.ds = ds;
        ng
    }

    /// Send a message; return the reply waiting, if any.
    fn req(
        &mut self,
        k: &Arc<Kernel>,
        path: &str,
        cookie: u32,
        cmd: u32,
        data: Vec<u8>,
    ) -> Result<Option<NgMesg>, Errno> {
        let m = NgMesg::new(cookie, cmd, "", 1, data).to_bytes()?;
        call(
            k,
            &mut self.td,
            Request::Sendto {
                fd: self.cs,
                flags: 0,
                addr: Some(SockaddrNg { data: path.into() }.to_bytes()?),
                data: m,
            },
        )?;
        match call(
            k,
            &mut self.td,
            Request::Recvfrom {
                fd: self.cs,
                len: 65536,
                flags: MSG_DONTWAIT,
            },
        ) {
            Ok(r) => Ok(Some(NgMesg::from_bytes(&r.data)?)),
            Err(Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn mkpeer(
        &mut self,
        k: &Arc<Kernel>,
        path: &str,
        t: &str,
        h: &str,
        p: &str,
    ) -> Result<(), Errno> {
        let a = NgmMkpeer {
            type_name: t.into(),
            ourhook: h.into(),
            peerhook: p.into(),
        };
        self.req(k, path, NGM_GENERIC_COOKIE, NGM_MKPEER, a.to_bytes()?)
            .map(|_| ())
    }

    fn connect(
        &mut self,
        k: &Arc<Kernel>,
        path: &str,
        rel: &str,
        h: &str,
        p: &str,
    ) -> Result<(), Errno> {
        let a = NgmConnect {
            path: rel.into(),
            ourhook: h.into(),
            peerhook: p.into(),
        };
        self.req(k, path, NGM_GENERIC_COOKIE, NGM_CONNECT, a.to_bytes()?)
            .map(|_| ())
    }

    fn name(&mut self, k: &Arc<Kernel>, path: &str, n: &str) -> Result<(), Errno> {
        let a = NgmName { name: n.into() };
        self.req(k, path, NGM_GENERIC_COOKIE, NGM_NAME, a.to_bytes()?)
            .map(|_| ())
    }

    fn rmhook(&mut self, k: &Arc<Kernel>, hook: &str) {
        let a = NgmRmhook {
            ourhook: hook.into(),
        };
        self.req(
            k,
            ".",
            NGM_GENERIC_COOKIE,
            NGM_RMHOOK,
            a.to_bytes().unwrap(),
        )
        .unwrap();
    }

    fn shutdown(&mut self, k: &Arc<Kernel>, path: &str) -> Result<(), Errno> {
        self.req(k, path, NGM_GENERIC_COOKIE, NGM_SHUTDOWN, vec![])
            .map(|_| ())
    }

    /// ngctl msg: ascii2binary at the target, then the binary message.
    fn ascii(&mut self, k: &Arc<Kernel>, path: &str, cmd: &str, args: &str) -> Result<(), Errno> {
        let mut text = args.as_bytes().to_vec();
        text.push(0);
        let req = NgMesg::new(0, 0, cmd, 0, text).to_bytes()?;
        let r = self
            .req(k, path, NGM_GENERIC_COOKIE, NGM_ASCII2BINARY, req)?
            .ok_or(Errno::EIO)?;
        let bin = NgMesg::from_bytes(&r.data)?;
        self.req(k, path, bin.header.typecookie, bin.header.cmd, bin.data)
            .map(|_| ())
    }

    fn list(&mut self, k: &Arc<Kernel>) -> Vec<(String, String, u32)> {
        let r = self
            .req(k, ".", NGM_GENERIC_COOKIE, NGM_LISTNODES, vec![])
            .unwrap()
            .unwrap();
        NameList::from_bytes(&r.data)
            .unwrap()
            .nodes
            .into_iter()
            .map(|n| (n.name, n.type_name, n.hooks))
            .collect()
    }

    fn close(mut self, k: &Arc<Kernel>) {
        for fd in [self.cs, self.ds] {
            let _ = call(k, &mut self.td, Request::Close { fd });
        }
    }
}

/// Frames with our test ethertype that reached vnet `v`'s stack, by interface.
type Sniffed = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn sniff(v: &Arc<Vnet>) -> Sniffed {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let _cv = CurvnetGuard::set(v);
    netisr_register(
        ET_TEST,
        Arc::new(move |ifp, m: Mbuf| g.lock().unwrap().push((ifp.name(), m.data().to_vec()))),
    );
    got
}

fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ET_TEST.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Send `f` out interface `name` of vnet `v` as the stack would.
fn send(v: &Arc<Vnet>, name: &str, f: Vec<u8>) {
    let _cv = CurvnetGuard::set(v);
    let _ns = vimage_net::netisr::netisr_enter();
    let ifp = ifunit(name).expect("ifnet");
    ifp.output(Mbuf::from_vec(f)).expect("output");
}

fn up(v: &Arc<Vnet>, name: &str) {
    let _cv = CurvnetGuard::set(v);
    ifunit(name)
        .expect("ifnet")
        .flags
        .fetch_or(IFF_UP, Ordering::Relaxed);
}

#[cfg(feature = "vimage")]
fn mkvimage(k: &K, name: &str) -> Arc<Vnet> {
    let vi = k.k.vi_create(k.k.vimage0(), name).expect("vi_create");
    vi.vnet.clone()
}

#[cfg(feature = "vimage")]
#[test]
fn exercise1_two_eifaces_back_to_back_across_vimages() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 100);
    assert_eq!(ng.list(&k.k), vec![("ngctl100".into(), "socket".into(), 0)]);
    ng.mkpeer(&k.k, ".", "eiface", "ether", "ether").unwrap();
    ng.mkpeer(&k.k, ".", "eiface", "ether", "ether")
        .expect_err("our hook `ether` is taken");
    ng.mkpeer(&k.k, ".", "eiface", "e1", "ether").unwrap();
    // Autoloaded on first use.
    assert!(k.k.linker.lock().unwrap().find("ng_eiface").is_some());
    let l = ng.list(&k.k);
    assert_eq!(l[0].0, "ngeth1");
    assert_eq!(l[1].0, "ngeth0");
    ng.close(&k.k);
    // The socket node went with its sockets, cutting both hooks.
    let mut ng = Ng::open(&k.k, 101);
    let l = ng.list(&k.k);
    assert_eq!(l.len(), 3);
    assert!(
        l.iter().all(|(n, _, h)| n == "ngctl101" || *h == 0),
        "{l:?}"
    );
    ng.connect(&k.k, "ngeth0:", "ngeth1:", "ether", "ether")
        .unwrap();
    assert_eq!(
        ng.connect(&k.k, "ngeth0:", "ngeth1:", "ether", "ether"),
        Err(Errno::EEXIST)
    );
    // vimage -i n0 ngeth0; vimage -i n1 ngeth1
    let n0 = mkvimage(&k, "n0");
    let n1 = mkvimage(&k, "n1");
    let v0 = k.k.vimage0().clone();
    assert_eq!(k.k.vi_iface(&v0, "n0", "ngeth0", None).unwrap().0, "eth0");
    assert_eq!(k.k.vi_iface(&v0, "n1", "ngeth1", None).unwrap().0, "eth0");
    // The nodes stay in the default vimage's graph under their old names.
    let l = ng.list(&k.k);
    assert!(l
        .iter()
        .any(|(n, t, h)| n == "ngeth0" && t == "eiface" && *h == 1));
    up(&n0, "eth0");
    up(&n1, "eth0");
    let g0 = sniff(&n0);
    let g1 = sniff(&n1);
    send(
        &n0,
        "eth0",
        frame([0xff; 6], [2, 0, 0, 0, 0, 1], b"hello n1"),
    );
    send(
        &n1,
        "eth0",
        frame([0xff; 6], [2, 0, 0, 0, 0, 2], b"hello n0"),
    );
    assert_eq!(
        g1.lock().unwrap().as_slice(),
        &[("eth0".into(), b"hello n1".to_vec())]
    );
    assert_eq!(
        g0.lock().unwrap().as_slice(),
        &[("eth0".into(), b"hello n0".to_vec())]
    );
    // Independent netgraph space: n1 sees no node of default's graph.
    let cnt = ng_with(&n1, |s| s.node_count()).unwrap();
    assert_eq!(cnt, 0);
    // Deleting the vimages returns the interfaces; shutting the nodes down
    // destroys them.
    k.k.vi_destroy(&v0, "n0").unwrap();
    k.k.vi_destroy(&v0, "n1").unwrap();
    {
        let _cv = CurvnetGuard::set(&v0.vnet);
        assert!(ifunit("ngeth0").is_some() && ifunit("ngeth1").is_some());
    }
    ng.shutdown(&k.k, "ngeth0:").unwrap();
    ng.shutdown(&k.k, "ngeth1:").unwrap();
    {
        let _cv = CurvnetGuard::set(&v0.vnet);
        assert!(ifunit("ngeth0").is_none() && ifunit("ngeth1").is_none());
    }
    assert_eq!(ng.list(&k.k).len(), 1);
    ng.close(&k.k);
}

#[test]
fn socket_data_hooks_and_errors() {
    let k = boot();
    let mut a = Ng::open(&k.k, 200);
    let mut b = Ng::open(&k.k, 201);
    // Name clash, bad names, unknown nodes and types.
    assert_eq!(
        call(
            &k.k,
            &mut b.td,
            Request::Bind {
                fd: b.cs,
                addr: SockaddrNg {
                    data: "ngctl200".into()
                }
                .to_bytes()
                .unwrap()
            }
        )
        .err(),
        Some(Errno::EADDRINUSE)
    );
    assert_eq!(a.shutdown(&k.k, "nosuch:"), Err(Errno::ENOENT));
    // As FreeBSD's ngctl: the module ng_nosuchtype cannot be found.
    assert_eq!(
        a.mkpeer(&k.k, ".", "nosuchtype", "x", "y"),
        Err(Errno::ENOENT)
    );
    assert_eq!(a.name(&k.k, ".", "bad.name"), Err(Errno::EINVAL));
    assert_eq!(a.ascii(&k.k, ".", "nosuchcmd", ""), Err(Errno::EINVAL));
    // A truncated binary message.
    assert_eq!(
        call(
            &k.k,
            &mut a.td,
            Request::Sendto {
                fd: a.cs,
                flags: 0,
                addr: Some(SockaddrNg { data: ".".into() }.to_bytes().unwrap()),
                data: vec![8, 0, 0],
            }
        )
        .err(),
        Some(Errno::EINVAL)
    );
    // Two processes' socket nodes joined by a hook pass data both ways.
    a.connect(&k.k, ".", "ngctl201:", "toB", "toA").unwrap();
    let hook = |h: &str| Some(SockaddrNg { data: h.into() }.to_bytes().unwrap());
    call(
        &k.k,
        &mut a.td,
        Request::Sendto {
            fd: a.ds,
            flags: 0,
            addr: hook("toB"),
            data: b"ping".to_vec(),
        },
    )
    .unwrap();
    let r = call(
        &k.k,
        &mut b.td,
        Request::Recvfrom {
            fd: b.ds,
            len: 100,
            flags: MSG_DONTWAIT,
        },
    )
    .unwrap();
    assert_eq!(r.data, b"ping");
    assert_eq!(SockaddrNg::from_bytes(&r.addr).unwrap().data, "toA");
    assert_eq!(
        call(
            &k.k,
            &mut a.td,
            Request::Sendto {
                fd: a.ds,
                flags: 0,
                addr: hook("nohook"),
                data: b"x".to_vec(),
            },
        )
        .err(),
        Some(Errno::ENOTCONN)
    );
    // Nothing waiting: EAGAIN without blocking.
    assert_eq!(
        call(
            &k.k,
            &mut a.td,
            Request::Recvfrom {
                fd: a.ds,
                len: 100,
                flags: MSG_DONTWAIT,
            },
        )
        .err(),
        Some(Errno::EAGAIN)
    );
    // The process dies: its node goes, b's hook with it.
    k.k.td_exit(&mut a.td);
    assert_eq!(
        b.list(&k.k).iter().find(|n| n.0 == "ngctl201").unwrap().2,
        0
    );
    assert_eq!(b.list(&k.k).len(), 1);
    b.close(&k.k);
}

#[test]
fn pipe_delays_and_drops_on_fake_time() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 300);
    let v0 = k.k.vimage0().vnet.clone();
    ng.mkpeer(&k.k, ".", "eiface", "a", "ether").unwrap();
    ng.mkpeer(&k.k, ".", "eiface", "b", "ether").unwrap();
    ng.rmhook(&k.k, "a");
    ng.rmhook(&k.k, "b");
    ng.mkpeer(&k.k, "ngeth0:", "pipe", "ether", "upper")
        .unwrap();
    ng.name(&k.k, "ngeth0:ether", "p0").unwrap();
    ng.connect(&k.k, "p0:", "ngeth1:", "lower", "ether")
        .unwrap();
    ng.ascii(
        &k.k,
        "p0:",
        "setcfg",
        "{bandwidth=-1 delay=-1 upstream={BER=-1 duplicate=-1} downstream={BER=-1 duplicate=-1}}",
    )
    .unwrap();
    ng.ascii(&k.k, "p0:", "setcfg", "{delay=5000}").unwrap();
    up(&v0, "ngeth0");
    up(&v0, "ngeth1");
    let got = sniff(&v0);
    send(&v0, "ngeth0", frame([0xff; 6], [2; 6], b"delayed"));
    assert!(got.lock().unwrap().is_empty(), "held for 5 ms");
    k.clock.advance(4_000_000);
    k.k.softclock();
    assert!(got.lock().unwrap().is_empty(), "not yet at 4 ms");
    k.clock.advance(1_000_000);
    assert!(k.k.softclock() >= 1);
    assert_eq!(got.lock().unwrap().len(), 1, "delivered at 5 ms");
    assert_eq!(got.lock().unwrap()[0].0, "ngeth1");
    // Link failure: a pipe that drops everything.
    ng.ascii(
        &k.k,
        "p0:",
        "setcfg",
        "{delay=-1 downstream={BER=1} upstream={BER=1}}",
    )
    .unwrap();
    for _ in 0..20 {
        send(&v0, "ngeth0", frame([0xff; 6], [2; 6], b"lost"));
        send(&v0, "ngeth1", frame([0xff; 6], [3; 6], b"lost"));
    }
    k.clock.advance(1_000_000_000);
    k.k.softclock();
    assert_eq!(got.lock().unwrap().len(), 1);
    ng.close(&k.k);
}

#[test]
fn bridge_learns_and_floods_between_three_eifaces() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 400);
    let v0 = k.k.vimage0().vnet.clone();
    ng.mkpeer(&k.k, ".", "eiface", "e", "ether").unwrap();
    ng.rmhook(&k.k, "e");
    ng.mkpeer(&k.k, "ngeth0:", "bridge", "ether", "link0")
        .unwrap();
    ng.name(&k.k, "ngeth0:ether", "br").unwrap();
    for i in 1..3 {
        ng.mkpeer(&k.k, ".", "eiface", "e", "ether").unwrap();
        ng.rmhook(&k.k, "e");
        ng.connect(
            &k.k,
            &format!("ngeth{i}:"),
            "br:",
            "ether",
            &format!("link{i}"),
        )
        .unwrap();
    }
    for i in 0..3 {
        up(&v0, &format!("ngeth{i}"));
    }
    let got = sniff(&v0);
    let (m0, m1) = ([2, 0, 0, 0, 0, 0xa0], [2, 0, 0, 0, 0, 0xa1]);
    // Unknown destination: flooded to both other links.
    send(&v0, "ngeth0", frame(m1, m0, b"flood"));
    let mut seen: Vec<String> = got.lock().unwrap().iter().map(|x| x.0.clone()).collect();
    seen.sort();
    assert_eq!(seen, vec!["ngeth1", "ngeth2"]);
    got.lock().unwrap().clear();
    // ngeth1 answers: m1 learnt on link1, m0 known on link0: unicast only.
    send(&v0, "ngeth1", frame(m0, m1, b"reply"));
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(got.lock().unwrap()[0].0, "ngeth0");
    got.lock().unwrap().clear();
    send(&v0, "ngeth0", frame(m1, m0, b"direct"));
    assert_eq!(
        got.lock().unwrap().as_slice(),
        &[("ngeth1".into(), b"direct".to_vec())]
    );
    ng.close(&k.k);
}

#[test]
fn ng_ether_follows_its_interface_and_diverts_frames() {
    let k = boot();
    k.k.kldload("if_edsc").unwrap();
    let mut td = k.k.td_attach(500);
    let fd = call(
        &k.k,
        &mut td,
        Request::Socket {
            domain: 2,
            ty: 2,
            proto: 0,
        },
    )
    .unwrap()
    .val as i32;
    let mut ifr = IfReq::new("edsc0");
    call(
        &k.k,
        &mut td,
        Request::Ioctl {
            fd,
            cmd: SIOCIFCREATE2,
            data: ifr.to_bytes().unwrap(),
        },
    )
    .unwrap();
    ifr.set_flags(IFF_UP);
    call(
        &k.k,
        &mut td,
        Request::Ioctl {
            fd,
            cmd: SIOCSIFFLAGS,
            data: ifr.to_bytes().unwrap(),
        },
    )
    .unwrap();
    let mut ng = Ng::open(&k.k, 501);
    assert_eq!(ng.list(&k.k).len(), 1);
    k.k.kldload("ng_ether").unwrap();
    // Ether nodes cannot be made by hand.
    assert_eq!(
        ng.mkpeer(&k.k, ".", "ether", "x", "lower"),
        Err(Errno::EOPNOTSUPP)
    );
    let l = ng.list(&k.k);
    assert!(l.contains(&("edsc0".into(), "ether".into(), 0)), "{l:?}");
    // A new eiface gets no ether node (it is a netgraph node already).
    ng.mkpeer(&k.k, ".", "eiface", "e", "ether").unwrap();
    assert_eq!(ng.list(&k.k).iter().filter(|n| n.1 == "ether").count(), 1);
    // Divert: frames arriving on the wire go to `lower`, frames written there
    // go out on the wire.
    ng.connect(&k.k, ".", "edsc0:", "wire", "lower").unwrap();
    let v0 = k.k.vimage0().vnet.clone();
    let ifp = {
        let _cv = CurvnetGuard::set(&v0);
        ifunit("edsc0").unwrap()
    };
    vimage_net::r#if::if_input(&ifp, Mbuf::from_vec(frame([0xff; 6], [4; 6], b"in")));
    let r = call(
        &k.k,
        &mut ng.td,
        Request::Recvfrom {
            fd: ng.ds,
            len: 100,
            flags: MSG_DONTWAIT,
        },
    )
    .unwrap();
    assert_eq!(&r.data[14..], b"in");
    let before = ifp.counters.opackets.load(Ordering::Relaxed);
    call(
        &k.k,
        &mut ng.td,
        Request::Sendto {
            fd: ng.ds,
            flags: 0,
            addr: Some(
                SockaddrNg {
                    data: "wire".into(),
                }
                .to_bytes()
                .unwrap(),
            ),
            data: frame([0xff; 6], [0; 6], b"out"),
        },
    )
    .unwrap();
    assert_eq!(ifp.counters.opackets.load(Ordering::Relaxed), before + 1);
    // Messages.
    ng.ascii(&k.k, "edsc0:", "setpromisc", "1").unwrap();
    assert!(ifp.flags() & vimage_abi::net_if::IFF_PROMISC != 0);
    // Shutdown only resets the node.
    ng.shutdown(&k.k, "edsc0:").unwrap();
    assert!(ifp.flags() & vimage_abi::net_if::IFF_PROMISC == 0);
    assert!(ng.list(&k.k).iter().any(|n| n.0 == "edsc0"));
    // kldunload is refused while ether nodes exist.
    let id = k.k.linker.lock().unwrap().find("ng_ether").unwrap();
    assert_eq!(k.k.kldunload(id), Err(Errno::EBUSY));
    #[cfg(feature = "vimage")]
    {
        // The node follows its interface into another vimage.
        let n1 = mkvimage(&k, "n1");
        let v = k.k.vimage0().clone();
        assert_eq!(k.k.vi_iface(&v, "n1", "edsc0", None).unwrap().0, "eth0");
        assert!(!ng.list(&k.k).iter().any(|n| n.1 == "ether"));
        let names = ng_with(&n1, |s| {
            s.node_ids()
                .into_iter()
                .filter_map(|i| s.node_info(i))
                .map(|i| (i.name, i.type_name))
                .collect::<Vec<_>>()
        })
        .unwrap();
        assert_eq!(names, vec![("eth0".to_string(), "ether".to_string())]);
        k.k.vi_destroy(&v, "n1").unwrap();
        assert!(ng
            .list(&k.k)
            .iter()
            .any(|n| n.0 == "edsc0" && n.1 == "ether"));
    }
    ng.close(&k.k);
}

#[test]
fn type_modules_refuse_unload_while_in_use() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 600);
    ng.mkpeer(&k.k, ".", "hub", "h", "x").unwrap();
    let id =
        k.k.linker
            .lock()
            .unwrap()
            .find("ng_hub")
            .expect("autoloaded");
    assert_eq!(k.k.kldunload(id), Err(Errno::EBUSY));
    let nid = k.k.linker.lock().unwrap().find("netgraph").unwrap();
    assert_eq!(k.k.kldunload(nid), Err(Errno::EBUSY));
    ng.close(&k.k);
    // The hub lost its last hook and shut down.
    k.k.kldunload(id).unwrap();
}

#[cfg(feature = "vimage")]
#[test]
fn destroying_a_vimage_takes_its_graph_and_eifaces() {
    let k = boot();
    let n1 = mkvimage(&k, "n1");
    let made = ng_with(&n1, |s| s.make_node("hub")).unwrap();
    assert_eq!(made, Err(Errno::ENXIO), "hub not loaded yet");
    k.k.kldload("ng_eiface").unwrap();
    ng_with(&n1, |s| s.make_node("eiface").unwrap()).unwrap();
    {
        let _cv = CurvnetGuard::set(&n1);
        assert!(ifunit("ngeth0").is_some());
    }
    let v0 = k.k.vimage0().clone();
    k.k.vi_destroy(&v0, "n1").unwrap();
    assert!(!n1.is_alive());
    assert!(super::ng_base::vnet_netgraph(&n1).is_none());
}

#[test]
fn iface_carries_packets_per_family_hook_and_answers_its_messages() {
    use vimage_abi::net_if::{IFF_BROADCAST, IFF_POINTOPOINT};
    use vimage_net::r#if::ETHERTYPE_IP;
    let k = boot();
    let mut ng = Ng::open(&k.k, 700);
    ng.mkpeer(&k.k, ".", "iface", "inet", "inet").unwrap();
    let v0 = k.k.vimage0().vnet.clone();
    let ifp = {
        let _cv = CurvnetGuard::set(&v0);
        ifunit("ng0").expect("ng0")
    };
    assert_eq!(ifp.flags() & IFF_POINTOPOINT, IFF_POINTOPOINT);
    up(&v0, "ng0");
    let got = Arc::new(Mutex::new(Vec::new()));
    {
        let g = got.clone();
        let _cv = CurvnetGuard::set(&v0);
        netisr_register(
            ETHERTYPE_IP,
            Arc::new(move |ifp, m: Mbuf| g.lock().unwrap().push((ifp.name(), m.data().to_vec()))),
        );
    }
    let mut pkt = vec![0x45u8; 20];
    pkt[1] = 0;
    let hook = |h: &str| Some(SockaddrNg { data: h.into() }.to_bytes().unwrap());
    // Into the stack through the `inet` hook: no link header.
    call(
        &k.k,
        &mut ng.td,
        Request::Sendto {
            fd: ng.ds,
            flags: 0,
            addr: hook("inet"),
            data: pkt.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        got.lock().unwrap().as_slice(),
        &[("ng0".into(), pkt.clone())]
    );
    // Out of the stack: the version nibble picks the hook.
    {
        let _cv = CurvnetGuard::set(&v0);
        let _ns = vimage_net::netisr::netisr_enter();
        ifp.output(Mbuf::from_slice(&pkt)).unwrap();
        // No inet6 hook: lost on the unplugged wire, not an error.
        ifp.output(Mbuf::from_slice(&[0x60; 40])).unwrap();
        assert_eq!(
            ifp.output(Mbuf::from_slice(&[0x10; 20])),
            Err(Errno::EAFNOSUPPORT)
        );
    }
    let r = call(
        &k.k,
        &mut ng.td,
        Request::Recvfrom {
            fd: ng.ds,
            len: 100,
            flags: MSG_DONTWAIT,
        },
    )
    .unwrap();
    assert_eq!(r.data, pkt);
    assert_eq!(SockaddrNg::from_bytes(&r.addr).unwrap().data, "inet");
    assert_eq!(
        call(
            &k.k,
            &mut ng.td,
            Request::Recvfrom {
                fd: ng.ds,
                len: 100,
                flags: MSG_DONTWAIT
            }
        )
        .err(),
        Some(Errno::EAGAIN)
    );
    // Messages.
    let r = ng
        .req(&k.k, "ng0:", super::ng_iface::NGM_IFACE_COOKIE, 1, vec![])
        .unwrap()
        .unwrap();
    assert_eq!(r.data, b"ng0\0");
    ng.ascii(&k.k, "ng0:", "broadcast", "").unwrap();
    assert_eq!(
        ifp.flags() & (IFF_BROADCAST | IFF_POINTOPOINT),
        IFF_BROADCAST
    );
    ng.ascii(&k.k, "ng0:", "point2point", "").unwrap();
    assert_eq!(
        ifp.flags() & (IFF_BROADCAST | IFF_POINTOPOINT),
        IFF_POINTOPOINT
    );
    let r = ng
        .req(&k.k, "ng0:", super::ng_iface::NGM_IFACE_COOKIE, 4, vec![])
        .unwrap()
        .unwrap();
    assert_eq!(r.data, 2u32.to_ne_bytes(), "index 2 after lo0");
    // Only protocol family hooks.
    assert_eq!(
        ng.mkpeer(&k.k, "ng0:", "hub", "bogus", "x"),
        Err(Errno::EPFNOSUPPORT)
    );
    ng.shutdown(&k.k, "ng0:").unwrap();
    let _cv = CurvnetGuard::set(&v0);
    assert!(ifunit("ng0").is_none());
}

#[test]
fn eiface_messages_name_and_address_its_interface() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 800);
    ng.mkpeer(&k.k, ".", "eiface", "e", "ether").unwrap();
    let cookie = super::ng_eiface::NGM_EIFACE_COOKIE;
    let r = ng.req(&k.k, "ngeth0:", cookie, 1, vec![]).unwrap().unwrap();
    assert_eq!(r.data, b"ngeth0\0");
    ng.ascii(&k.k, "ngeth0:", "set", "40:a:b:c:d:1").unwrap();
    ng.ascii(&k.k, "ngeth0:", "setifname", "\"veth7\"").unwrap();
    let v0 = k.k.vimage0().vnet.clone();
    {
        let _cv = CurvnetGuard::set(&v0);
        let ifp = ifunit("veth7").expect("renamed");
        assert_eq!(ifp.lladdr(), vec![0x40, 0xa, 0xb, 0xc, 0xd, 1]);
    }
    assert_eq!(
        ng.ascii(&k.k, "ngeth0:", "setifname", "\"lo0\""),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        ng.ascii(&k.k, "ngeth0:", "set", "01:00:00:00:00:01"),
        Err(Errno::EINVAL)
    );
    // The node keeps its name; a new eiface takes the lowest free unit again.
    ng.mkpeer(&k.k, ".", "eiface", "f", "ether").unwrap();
    let names: Vec<String> = ng.list(&k.k).into_iter().map(|n| n.0).collect();
    assert!(names.contains(&"ngeth0".to_string()) && names.contains(&"ngeth1".to_string()));
    // Hook names other than `ether` are refused.
    assert_eq!(
        ng.mkpeer(&k.k, "ngeth0:", "hub", "x", "y"),
        Err(Errno::EPFNOSUPPORT)
    );
    ng.close(&k.k);
}

/// Hostile tenants: loops, module loading and ksockets from inside vimages.
#[cfg(feature = "vimage")]
mod hostile {
    use super::*;

    /// Send `frame` out of our hook `hook` through the data socket.
    fn write(k: &Arc<Kernel>, ng: &mut Ng, hook: &str, frame: &[u8]) -> Result<(), Errno> {
        call(
            k,
            &mut ng.td,
            Request::Sendto {
                fd: ng.ds,
                flags: 0,
                addr: Some(SockaddrNg { data: hook.into() }.to_bytes()?),
                data: frame.to_vec(),
            },
        )
        .map(|_| ())
    }

    /// Frames waiting on our data socket, with their hooks (waits up to `wait` for
    /// the first).
    fn frames_in(
        k: &Arc<Kernel>,
        ng: &mut Ng,
        wait: std::time::Duration,
    ) -> Vec<(String, Vec<u8>)> {
        let t0 = std::time::Instant::now();
        let mut out = Vec::new();
        loop {
            match call(
                k,
                &mut ng.td,
                Request::Recvfrom {
                    fd: ng.ds,
                    len: 65536,
                    flags: MSG_DONTWAIT,
                },
            ) {
                Ok(r) => out.push((SockaddrNg::from_bytes(&r.addr).unwrap().data, r.data)),
                Err(Errno::EAGAIN) if out.is_empty() && t0.elapsed() < wait => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(_) => return out,
            }
        }
    }

    fn sysctl_in(k: &Arc<Kernel>, td: &mut Td, name: &str, new: Option<i64>) -> Result<i64, Errno> {
        use vimage_abi::sysctl::{SysctlReply, SysctlValue};
        let new = new.map(|v| {
            let mut w = vimage_abi::wire::Writer::new();
            SysctlValue::Int(v).encode(&mut w);
            w.finish()
        });
        let r = call(
            k,
            td,
            Request::Sysctl {
                name: name.into(),
                new,
            },
        )?;
        match SysctlReply::from_bytes(&r.data)?.value {
            SysctlValue::Int(i) => Ok(i),
            SysctlValue::UInt(u) => Ok(u as i64),
            _ => Err(Errno::EINVAL),
        }
    }

    #[test]
    fn looping_frames_end_by_themselves_and_are_counted_per_vimage() {
        let k = boot();
        k.k.kldload("ng_hub").unwrap();
        k.k.kldload("ng_tee").unwrap();
        let n1 = k.k.vi_create(k.k.vimage0(), "n1").unwrap();
        let n2 = k.k.vi_create(k.k.vimage0(), "n2").unwrap();
        let mut a = Ng::open_in(&k.k, 900, Some(&n1));
        let mut b = Ng::open_in(&k.k, 901, Some(&n2));
        // In n1: a hub joined to itself, and two hubs joined by three links.
        a.mkpeer(&k.k, ".", "hub", "h", "in").unwrap();
        a.connect(&k.k, "h", ".", "x", "y").unwrap();
        a.mkpeer(&k.k, ".", "hub", "p", "in").unwrap();
        a.mkpeer(&k.k, "p", "hub", "l0", "l0").unwrap();
        a.connect(&k.k, "p", "l0", "l1", "l1").unwrap();
        a.connect(&k.k, "p", "l0", "l2", "l2").unwrap();
        // In n2: an ordinary path through a tee.
        b.mkpeer(&k.k, ".", "tee", "t", "left").unwrap();
        b.connect(&k.k, ".", "t", "u", "right").unwrap();
        write(&k.k, &mut a, "h", b"loop").unwrap();
        write(&k.k, &mut a, "p", b"storm").unwrap();
        // Each write returns after one run's budget; the storm goes on from
        // callouts, not in the next caller's operation, and ends by itself.
        assert!(ng_with(&n1.vnet, |s| s.has_work()).unwrap());
        assert!(k.k.softclock() > 0);
        assert!(!ng_with(&n1.vnet, |s| s.has_work()).unwrap());
        let idle = |v: &Arc<Vnet>| {
            let mut rounds = 0;
            while ng_with(v, |s| {
                s.run();
                s.has_work()
            })
            .unwrap()
            {
                rounds += 1;
                assert!(rounds < 100, "the loop never ended");
            }
        };
        idle(&n1.vnet);
        let drops = sysctl_in(&k.k, &mut a.td, "net.graph.hopdrops", None).unwrap();
        assert!(drops > 0, "{drops}");
        assert_eq!(
            sysctl_in(&k.k, &mut a.td, "net.graph.hopdrops", None).unwrap(),
            drops,
            "nothing goes on dropping"
        );
        assert_eq!(
            sysctl_in(&k.k, &mut b.td, "net.graph.hopdrops", None).unwrap(),
            0
        );
        assert_eq!(a.list(&k.k).len(), 4);
        // n2 untouched: its frame takes its path.
        write(&k.k, &mut b, "t", b"hello").unwrap();
        let got = frames_in(&k.k, &mut b, std::time::Duration::from_secs(2));
        assert_eq!(got, vec![("u".to_string(), b"hello".to_vec())]);
        // The budget: written from default only, within its bounds.
        assert_eq!(
            sysctl_in(&k.k, &mut a.td, "net.graph.maxhops", Some(8)),
            Err(Errno::EPERM)
        );
        let mut d = Ng::open(&k.k, 902);
        assert_eq!(
            sysctl_in(&k.k, &mut d.td, "net.graph.maxhops", Some(0)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sysctl_in(&k.k, &mut d.td, "net.graph.maxhops", Some(8)).unwrap(),
            i64::from(vimage_netgraph::ng_base::NG_MAXHOPS)
        );
        write(&k.k, &mut a, "h", b"loop").unwrap();
        idle(&n1.vnet);
        let more = sysctl_in(&k.k, &mut a.td, "net.graph.hopdrops", None).unwrap();
        assert_eq!(more, drops + 4);
        // What came back to us: a bounded number of copies from each loop.
        let copies = frames_in(&k.k, &mut a, std::time::Duration::from_secs(1));
        let h = copies.iter().filter(|(hook, _)| hook == "h").count();
        assert!(h > 0 && h <= 2 * 128 + 2 * 8, "{h}");
        a.close(&k.k);
        b.close(&k.k);
        d.close(&k.k);
    }

    #[test]
    fn mkpeer_loads_modules_from_default_only() {
        let k = boot();
        let n1 = k.k.vi_create(k.k.vimage0(), "n1").unwrap();
        let mut a = Ng::open_in(&k.k, 910, Some(&n1));
        let loaded = |name: &str| k.k.linker.lock().unwrap().find(name).is_some();
        // Inside a vimage a type not loaded does not exist, and nothing loads.
        assert_eq!(a.mkpeer(&k.k, ".", "hub", "h", "x"), Err(Errno::ENOENT));
        assert!(!loaded("ng_hub"));
        assert_eq!(
            a.mkpeer(&k.k, ".", "nosuchtype", "h", "x"),
            Err(Errno::ENOENT)
        );
        // As kldload is refused there.
        assert_eq!(
            call(
                &k.k,
                &mut a.td,
                Request::Kldload {
                    name: "ng_hub".into()
                }
            )
            .err(),
            Some(Errno::EPERM)
        );
        // From default it loads, and then n1 may make hubs too.
        let mut d = Ng::open(&k.k, 911);
        assert_eq!(
            d.mkpeer(&k.k, ".", "nosuchtype", "h", "x"),
            Err(Errno::ENOENT)
        );
        d.mkpeer(&k.k, ".", "hub", "h", "x").unwrap();
        assert!(loaded("ng_hub"));
        a.mkpeer(&k.k, ".", "hub", "h", "x").unwrap();
        a.close(&k.k);
        d.close(&k.k);
    }

    /// A host socket provider that records what it is asked for.
    #[derive(Default)]
    struct FakeKsockHost {
        opened: std::sync::atomic::AtomicUsize,
    }

    struct FakeConn;

    impl crate::netgraph::ng_ksocket::KsockConn for FakeConn {
        fn bind(&mut self, _a: std::net::SocketAddr) -> Result<(), Errno> {
            Ok(())
        }
        fn connect(&mut self, _a: std::net::SocketAddr) -> Result<(), Errno> {
            Ok(())
        }
        fn send(&mut self, _d: &[u8], _to: Option<std::net::SocketAddr>) -> Result<(), Errno> {
            Ok(())
        }
        fn local(&self) -> Option<std::net::SocketAddr> {
            None
        }
        fn peer(&self) -> Option<std::net::SocketAddr> {
            None
        }
    }

    impl crate::netgraph::ng_ksocket::KsockHost for FakeKsockHost {
        fn open_udp(
            &self,
            _rx: crate::netgraph::ng_ksocket::KsockRx,
        ) -> Result<Box<dyn crate::netgraph::ng_ksocket::KsockConn>, Errno> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(FakeConn))
        }
    }

    /// `lo0` of `v` up with 127.0.0.1.
    fn lo_up(v: &Arc<Vnet>) {
        let _cv = CurvnetGuard::set(v);
        let lo = ifunit("lo0").expect("lo0");
        vimage_inet::r#in::in_aifaddr(&lo, std::net::Ipv4Addr::LOCALHOST, None, None)
            .expect("127.0.0.1");
        lo.flags.fetch_or(IFF_UP, Ordering::Relaxed);
    }

    /// A UDP socket of `ng`'s vimage bound to 127.0.0.1:`port`.
    fn udp_bound(k: &Arc<Kernel>, ng: &mut Ng, port: u16) -> Result<i32, Errno> {
        use vimage_abi::netinet_in::SockaddrIn;
        let fd = call(
            k,
            &mut ng.td,
            Request::Socket {
                domain: 2,
                ty: 2,
                proto: 0,
            },
        )?
        .val as i32;
        call(
            k,
            &mut ng.td,
            Request::Bind {
                fd,
                addr: SockaddrIn::new(std::net::Ipv4Addr::LOCALHOST, port)
                    .to_bytes()
                    .to_vec(),
            },
        )?;
        Ok(fd)
    }

    #[test]
    fn ksocket_lives_in_its_vimages_stack() {
        use vimage_abi::netinet_in::SockaddrIn;
        let k = boot();
        let host = Arc::new(FakeKsockHost::default());
        crate::netgraph::ng_ksocket::set_ksock_host(&k.k, host.clone());
        k.k.kldload("ng_ksocket").unwrap();
        let mut d = Ng::open(&k.k, 920);
        // Even with host sockets allowed for default's nodes...
        assert_eq!(
            sysctl_in(&k.k, &mut d.td, "net.graph.ksocket.host", Some(1)).unwrap(),
            0
        );
        let n1 = k.k.vi_create(k.k.vimage0(), "n1").unwrap();
        lo_up(&n1.vnet);
        let mut a = Ng::open_in(&k.k, 921, Some(&n1));
        // ...a tenant cannot turn the switch, and its nodes use its own stack.
        assert_eq!(
            sysctl_in(&k.k, &mut a.td, "net.graph.ksocket.host", Some(0)),
            Err(Errno::EPERM)
        );
        a.mkpeer(&k.k, ".", "ksocket", "k", "inet/dgram/udp")
            .unwrap();
        a.ascii(&k.k, ".:k", "bind", "inet/127.0.0.1:5000").unwrap();
        assert_eq!(host.opened.load(Ordering::SeqCst), 0, "no host socket");
        // The port is taken in n1's stack (not the host's, not default's).
        assert_eq!(udp_bound(&k.k, &mut a, 5000).err(), Some(Errno::EADDRINUSE));
        // A privileged port is n1's own business too.
        a.mkpeer(&k.k, ".", "ksocket", "k2", "inet/dgram/udp")
            .unwrap();
        a.ascii(&k.k, ".:k2", "bind", "inet/127.0.0.1:53").unwrap();
        a.ascii(&k.k, ".:k2", "connect", "inet/127.0.0.1:5000")
            .unwrap();
        assert_eq!(host.opened.load(Ordering::SeqCst), 0, "no host socket");
        // Data crosses n1's lo0: written into k2, it comes out of k.
        write(&k.k, &mut a, "k2", b"over lo0").unwrap();
        let got = frames_in(&k.k, &mut a, std::time::Duration::from_secs(5));
        assert_eq!(got, vec![("k".to_string(), b"over lo0".to_vec())]);
        // And what a UDP socket of n1 sends to it arrives too.
        let fd = udp_bound(&k.k, &mut a, 6000).unwrap();
        call(
            &k.k,
            &mut a.td,
            Request::Sendto {
                fd,
                flags: 0,
                addr: Some(
                    SockaddrIn::new(std::net::Ipv4Addr::LOCALHOST, 5000)
                        .to_bytes()
                        .to_vec(),
                ),
                data: b"from n1".to_vec(),
            },
        )
        .unwrap();
        let got = frames_in(&k.k, &mut a, std::time::Duration::from_secs(5));
        assert_eq!(got, vec![("k".to_string(), b"from n1".to_vec())]);
        // Shutting the node down frees the port.
        a.shutdown(&k.k, ".:k").unwrap();
        udp_bound(&k.k, &mut a, 5000).unwrap();
        // Default's nodes get host sockets only while the switch is on.
        d.mkpeer(&k.k, ".", "ksocket", "k", "inet/dgram/udp")
            .unwrap();
        assert_eq!(host.opened.load(Ordering::SeqCst), 1);
        sysctl_in(&k.k, &mut d.td, "net.graph.ksocket.host", Some(0)).unwrap();
        d.mkpeer(&k.k, ".", "ksocket", "k2", "inet/dgram/udp")
            .unwrap();
        assert_eq!(host.opened.load(Ordering::SeqCst), 1);
        // The vimage goes with its ksockets (they are its graph's, not a
        // process's descriptors).
        a.close(&k.k);
        let v0 = k.k.vimage0().clone();
        k.k.vi_destroy(&v0, "n1").unwrap();
        d.close(&k.k);
    }
}

/// Offload between eifaces: TSO segments and unchecked checksums cross
/// netgraph whole and are finished where a node hands frames out of it.
#[cfg(feature = "vimage")]
mod offload {
    use super::*;
    use std::net::Ipv4Addr;
    use vimage_abi::netinet_in::SockaddrIn;
    use vimage_inet::in_proto::InetDomain;
    use vimage_inet::ip::{Ipv4Packet, PseudoHdr};
    use vimage_kern::uipc_socket::{Domain, ProtoSocket};

    /// Frames waiting on `ng`'s data socket.
    fn frames(k: &Arc<Kernel>, ng: &mut Ng) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(r) = call(
            k,
            &mut ng.td,
            Request::Recvfrom {
                fd: ng.ds,
                len: 1 << 17,
                flags: MSG_DONTWAIT,
            },
        ) {
            out.push(r.data);
        }
        out
    }

    fn addr(v: &Arc<Vnet>, a: Ipv4Addr) {
        let _cv = CurvnetGuard::set(v);
        let ifp = ifunit("eth0").expect("eth0");
        *ifp.lladdr.write().unwrap() = vec![0x40, 0, 0, 0, 0, a.octets()[3]];
        ifp.flags.fetch_or(IFF_UP, Ordering::Relaxed);
        vimage_inet::r#in::in_aifaddr(&ifp, a, Some(Ipv4Addr::new(255, 255, 255, 0)), None)
            .expect("address");
    }

    fn with<R>(v: &Arc<Vnet>, f: impl FnOnce() -> R) -> R {
        let _cv = CurvnetGuard::set(v);
        let _ns = vimage_net::netisr::netisr_enter();
        f()
    }

    fn sndtotal(v: &Arc<Vnet>) -> u64 {
        with(v, || {
            vimage_inet::tcp_var::vnet_tcp()
                .stat
                .snapshot()
                .get("tcps_sndtotal")
                .unwrap_or(0)
        })
    }

    #[test]
    fn tso_crosses_a_tee_whole_and_its_tap_sees_wire_ready_frames() {
        let k = boot();
        let mut ng = Ng::open(&k.k, 300);
        // ngeth0 -- tee -- ngeth1, the tee's left2right copy to our hook.
        ng.mkpeer(&k.k, ".", "eiface", "e0", "ether").unwrap();
        ng.mkpeer(&k.k, ".", "eiface", "e1", "ether").unwrap();
        ng.rmhook(&k.k, "e0");
        ng.rmhook(&k.k, "e1");
        ng.mkpeer(&k.k, "ngeth0:", "tee", "ether", "left").unwrap();
        ng.name(&k.k, "ngeth0:ether", "t").unwrap();
        ng.connect(&k.k, "t:", "ngeth1:", "right", "ether").unwrap();
        ng.connect(&k.k, ".", "t:", "tap", "left2right").unwrap();
        let n0 = mkvimage(&k, "n0");
        let n1 = mkvimage(&k, "n1");
        let v0 = k.k.vimage0().clone();
        k.k.vi_iface(&v0, "n0", "ngeth0", None).unwrap();
        k.k.vi_iface(&v0, "n1", "ngeth1", None).unwrap();
        addr(&n0, Ipv4Addr::new(10, 0, 0, 1));
        addr(&n1, Ipv4Addr::new(10, 0, 0, 2));
        let sa = |a: &str| SockaddrIn::new(a.parse().unwrap(), 80).to_bytes().to_vec();
        let mut l = with(&n1, || InetDomain.attach(1, 0)).unwrap();
        with(&n1, || l.bind(&sa("0.0.0.0"))).unwrap();
        with(&n1, || l.listen(5)).unwrap();
        let mut c = with(&n0, || InetDomain.attach(1, 0)).unwrap();
        let _ = with(&n0, || c.connect(&sa("10.0.0.2")));
        let step = || {
            k.clock.advance(1_000_000);
            k.k.softclock();
        };
        let mut s = None;
        for _ in 0..100 {
            step();
            if let Ok((x, _)) = with(&n1, || l.accept()) {
                s = Some(x);
                break;
            }
        }
        let s: Box<dyn ProtoSocket> = s.expect("accepted");
        let data: Vec<u8> = (0..400_000u32).map(|i| ((i * 13) >> 3) as u8).collect();
        let (mut off, mut got, mut tapped) = (0, Vec::new(), Vec::new());
        for _ in 0..20_000 {
            // (The tap's socket buffer is read as it fills.)
            tapped.extend(frames(&k.k, &mut ng));
            if off < data.len() {
                if let Ok(n) = with(&n0, || c.sendto(&data[off..], None, 0)) {
                    off += n;
                }
            }
            step();
            let sb = s.rcvbuf().unwrap();
            if let Ok((d, _)) = with(&n1, || sb.recv(1 << 20, MSG_DONTWAIT, None, &|| false)) {
                got.extend_from_slice(&d);
            }
            if got.len() == data.len() {
                break;
            }
        }
        assert!(
            got == data,
            "stream corrupted ({} of {})",
            got.len(),
            data.len()
        );
        // n0 handed out far fewer segments than the wire carries...
        let sent = sndtotal(&n0);
        assert!(sent < 400_000 / 1460 / 2, "{sent} segments: no TSO");
        // ...and the tap, where frames leave netgraph, got them cut and
        // summed: each fits the MTU and its checksums hold.
        let mut payload = Vec::new();
        tapped.extend(frames(&k.k, &mut ng));
        for f in tapped {
            assert!(f.len() <= 1514, "a {}-byte frame reached the tap", f.len());
            if f[12..14] != [8, 0] {
                continue;
            }
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            let ph = PseudoHdr::V4 {
                src: ip.src_addr(),
                dst: ip.dst_addr(),
            };
            assert!(ph.verify(6, ip.payload()), "bad TCP checksum at the tap");
            if ip.src_addr() == Ipv4Addr::new(10, 0, 0, 1) {
                let p = ip.payload();
                let thl = usize::from(p[12] >> 4) * 4;
                payload.extend_from_slice(&p[thl..]);
            }
        }
        assert!(payload == data, "the tap saw {} bytes", payload.len());
        ng.close(&k.k);
    }
}

/// Two eifaces wired hook to hook are a wire that bypasses the graph's
/// queue; cutting the hook cuts the wire, and a node put in between is used.
#[cfg(feature = "vimage")]
#[test]
fn an_eiface_wire_follows_its_hook() {
    let k = boot();
    let mut ng = Ng::open(&k.k, 310);
    ng.mkpeer(&k.k, ".", "eiface", "e0", "ether").unwrap();
    ng.mkpeer(&k.k, ".", "eiface", "e1", "ether").unwrap();
    ng.rmhook(&k.k, "e0");
    ng.rmhook(&k.k, "e1");
    ng.connect(&k.k, "ngeth0:", "ngeth1:", "ether", "ether")
        .unwrap();
    let n0 = mkvimage(&k, "n0");
    let n1 = mkvimage(&k, "n1");
    let v0 = k.k.vimage0().clone();
    k.k.vi_iface(&v0, "n0", "ngeth0", None).unwrap();
    k.k.vi_iface(&v0, "n1", "ngeth1", None).unwrap();
    up(&n0, "eth0");
    up(&n1, "eth0");
    let g1 = sniff(&n1);
    let frames_before = ng_with(&v0.vnet, |s| s.stats().frames).unwrap();
    send(&n0, "eth0", frame([0xff; 6], [2, 0, 0, 0, 0, 1], b"one"));
    assert_eq!(g1.lock().unwrap().len(), 1);
    // Straight across: the graph did not handle it.
    assert_eq!(
        ng_with(&v0.vnet, |s| s.stats().frames).unwrap(),
        frames_before
    );
    // Unplugged: the frame is lost.
    let mut d = Ng::open(&k.k, 311);
    d.req(
        &k.k,
        "ngeth0:",
        NGM_GENERIC_COOKIE,
        NGM_RMHOOK,
        NgmRmhook {
            ourhook: "ether".into(),
        }
        .to_bytes()
        .unwrap(),
    )
    .unwrap();
    send(&n0, "eth0", frame([0xff; 6], [2, 0, 0, 0, 0, 1], b"two"));
    assert_eq!(g1.lock().unwrap().len(), 1);
    // Through a hub: the graph carries it again.
    d.mkpeer(&k.k, "ngeth0:", "hub", "ether", "a").unwrap();
    d.connect(&k.k, "ngeth0:ether", "ngeth1:", "b", "ether")
        .unwrap();
    send(&n0, "eth0", frame([0xff; 6], [2, 0, 0, 0, 0, 1], b"three"));
    let got = g1.lock().unwrap().clone();
    assert_eq!(got.last().map(|x| x.1.clone()), Some(b"three".to_vec()));
    assert!(ng_with(&v0.vnet, |s| s.stats().frames).unwrap() > frames_before);
    d.close(&k.k);
    ng.close(&k.k);
}
