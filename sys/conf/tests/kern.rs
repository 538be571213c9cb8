//! Kernel tests driving several vnets in one process through the syscall door.

use std::sync::Arc;
use vimage_abi::net_if::*;
use vimage_abi::syscall::Request;
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::*;
use vimage_abi::wire::Writer;
use vimage_abi::Errno;
use vimage_kern::kern_conf::KernConf;

use vimage_kern::kern_proc::FakeHost;
use vimage_kern::kern_syscall::{test_lock, Kernel, KernelConfig, Td};

struct T {
    k: Arc<Kernel>,
    #[cfg_attr(not(feature = "vimage"), allow(dead_code))]
    host: Arc<FakeHost>,
}

fn boot() -> T {
    let host = Arc::new(FakeHost {
        me: 1,
        ..Default::default()
    });
    host.spawn(1, 0, 1);
    let k = vimage_conf::boot(KernelConfig {
        host: host.clone(),
        ident: "VIMAGE".into(),
        version: "test".into(),
        clock: Arc::new(vimage_kern::kern_timeout::FakeClock::default()),
        random: vimage_kern::kern_random::SeededRandom::arc(1),
    })
    .expect("boot");
    T { k, host }
}

impl Drop for T {
    fn drop(&mut self) {
        self.k.shutdown();
    }
}

fn sock(k: &Arc<Kernel>, td: &mut Td) -> i32 {
    k.syscall(
        td,
        Request::Socket {
            domain: 2,
            ty: 2,
            proto: 0,
        },
    )
    .result()
    .expect("socket")
    .val as i32
}

fn vi(k: &Arc<Kernel>, td: &mut Td, cmd: u32, req: ViReq) -> Result<ViReq, Errno> {
    let fd = sock(k, td);
    let r = k
        .syscall(
            td,
            Request::Ioctl {
                fd,
                cmd,
                data: req.to_bytes()?,
            },
        )
        .result();
    k.syscall(td, Request::Close { fd });
    ViReq::from_bytes(&r?.data)
}

fn create(k: &Arc<Kernel>, td: &mut Td, n: &str) -> Result<(), Errno> {
    vi(k, td, SIOCSPVIMAGE, ViReq::new(VI_CREATE, n)).map(|_| ())
}

fn sysctl(
    k: &Arc<Kernel>,
    td: &mut Td,
    name: &str,
    new: Option<SysctlValue>,
) -> Result<SysctlValue, Errno> {
    let new = new.map(|v| {
        let mut w = Writer::new();
        v.encode(&mut w);
        w.finish()
    });
    let r = k
        .syscall(
            td,
            Request::Sysctl {
                name: name.into(),
                new,
            },
        )
        .result()?;
    Ok(SysctlReply::from_bytes(&r.data)?.value)
}

fn iflist(k: &Arc<Kernel>, td: &mut Td) -> Vec<String> {
    match sysctl(k, td, "net.link.iflist", None) {
        Ok(SysctlValue::Opaque(_, b)) => IfInfo::decode_list(&b)
            .unwrap()
            .into_iter()
            .map(|i| format!("{}:{}", i.index, i.name))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_vimage_and_lo0() {
    let _l = test_lock();
    let t = boot();
    let mut td = t.k.td_attach(100);
    assert_eq!(td.vimage.name(), "default");
    assert_eq!(iflist(&t.k, &mut td), vec!["1:lo0"]);
    let r = vi(&t.k, &mut td, SIOCGPVIMAGE, ViReq::new(VI_GET, ".")).unwrap();
    assert_eq!(r.name, "default");
    assert_eq!(r.if_count, 1);
    assert_eq!(r.sock_count, 1, "the socket used for the ioctl is counted");
}

#[cfg(not(feature = "vimage"))]
#[test]
fn no_vimage_kernel_refuses_create() {
    let _l = test_lock();
    let t = boot();
    let mut td = t.k.td_attach(100);
    assert_eq!(create(&t.k, &mut td, "n1"), Err(Errno::EOPNOTSUPP));
}

#[cfg(feature = "vimage")]
mod vimage_tests {
    use super::*;
    use vimage_abi::syscall::Reply;

    #[test]
    fn create_lookup_destroy_and_errors() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        create(k, &mut td, "n2").unwrap();
        assert_eq!(create(k, &mut td, "n1"), Err(Errno::EEXIST));
        assert_eq!(create(k, &mut td, "bad/name"), Err(Errno::EINVAL));
        assert_eq!(create(k, &mut td, ""), Err(Errno::EINVAL));
        assert_eq!(
            create(k, &mut td, &"x".repeat(256)),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(create(k, &mut td, "-x"), Err(Errno::EINVAL));
        assert_eq!(create(k, &mut td, "nope.n3"), Err(Errno::ESRCH));
        create(k, &mut td, "n1.n3").unwrap();
        // Walk: default, n2 (newest first), n1, n1.n3.
        let mut names = Vec::new();
        let mut cur = String::new();
        loop {
            match vi(
                k,
                &mut td,
                SIOCGPVIMAGE,
                ViReq::new(VI_GETNEXT_RECURSE, &cur),
            ) {
                Ok(r) => {
                    names.push(format!("{}<{}", r.name, r.parent_name));
                    // The caller itself comes first; the walk continues from ".".
                    cur = if cur.is_empty() { ".".into() } else { r.name };
                }
                Err(e) => {
                    assert_eq!(e, Errno::ESRCH);
                    break;
                }
            }
        }
        assert_eq!(
            names,
            vec!["default<", "n2<default", "n1<default", "n1.n3<n1"]
        );
        // Busy: n1 has a child.
        let d = |td: &mut Td, n: &str| vi(k, td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, n));
        assert_eq!(d(&mut td, "n1").err(), Some(Errno::EBUSY));
        assert_eq!(d(&mut td, ".").err(), Some(Errno::EBUSY));
        assert_eq!(d(&mut td, "default").err(), Some(Errno::EBUSY));
        assert_eq!(d(&mut td, "zz").err(), Some(Errno::ESRCH));
        d(&mut td, "n1.n3").unwrap();
        d(&mut td, "n1").unwrap();
        d(&mut td, "n2").unwrap();
        assert_eq!(k.all_vimages().len(), 1);
    }

    #[test]
    fn hierarchy_is_relative() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        create(k, &mut td, "n2").unwrap();
        // A process switched into n1 sees only n1 and below.
        t.host.spawn(200, 100, 5);
        let mut r = k.td_attach(200);
        vi(k, &mut r, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, "n1")).unwrap();
        t.host.spawn(201, 200, 6);
        let mut c = k.td_attach(201);
        assert_eq!(c.vimage.name(), "n1");
        let me = vi(k, &mut c, SIOCGPVIMAGE, ViReq::new(VI_GET, ".")).unwrap();
        assert_eq!(
            (me.name.as_str(), me.parent_name.as_str()),
            ("n1", "default")
        );
        assert_eq!(
            vi(k, &mut c, SIOCGPVIMAGE, ViReq::new(VI_GET, "n2")).err(),
            Some(Errno::ESRCH)
        );
        create(k, &mut c, "n3").unwrap();
        let n3 = vi(k, &mut td, SIOCGPVIMAGE, ViReq::new(VI_GET, "n1.n3")).unwrap();
        assert_eq!((n3.name.as_str(), n3.parent_name.as_str()), ("n1.n3", "n1"));
        // Nobody can enter their own vimage or an ancestor.
        assert_eq!(
            vi(k, &mut c, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, ".")).err(),
            Some(Errno::EPERM)
        );
        // n1 has a live process: busy.  A double-forked daemon reparented to the
        // anchor stays inside; so does one remembered after its anchor died.
        t.host.spawn(202, 201, 7);
        let _ = k.td_attach(202);
        t.host.exit(201, 200);
        let counts = k.procs.counts();
        assert_eq!(counts.get(&r.vimage.id()), Some(&1));
        t.host.exit(200, 1);
        assert_eq!(k.td_attach(202).vimage.name(), "n1");
        let dn = |n: &str| ViReq::new(VI_DESTROY, n);
        assert_eq!(
            vi(k, &mut td, SIOCSPVIMAGE, dn("n1.n3")).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            vi(k, &mut td, SIOCSPVIMAGE, dn("n1")).err(),
            Some(Errno::EBUSY)
        );
        t.host.exit(202, 1);
        vi(k, &mut td, SIOCSPVIMAGE, dn("n1")).unwrap();
        // A process whose vimage is gone is told so.
        assert_eq!(
            k.syscall(&mut c, Request::Close { fd: 3 }).errno,
            Errno::ESRCH.0
        );
    }

    /// `kern.proc.all` (ps): default sees the whole host; a vimage its own
    /// processes and those of the vimages below it, never its parent's,
    /// a sibling's or the `vimage` tool's anchors.
    #[test]
    fn kern_proc_all_is_the_callers_vimage_and_below() {
        use vimage_abi::user::KinfoProc;
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        t.host.spawn(100, 1, 2);
        create(k, &mut td, "n1").unwrap();
        create(k, &mut td, "n2").unwrap();
        let enter = |anchor: u32, parent: u32, child: u32, name: &str| {
            t.host.spawn(anchor, parent, u64::from(anchor));
            let mut a = k.td_attach(anchor);
            vi(k, &mut a, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, name)).unwrap();
            t.host.spawn(child, anchor, u64::from(child));
            k.td_attach(child)
        };
        let mut in1 = enter(200, 100, 201, "n1");
        let mut in2 = enter(300, 100, 301, "n2");
        create(k, &mut in1, "n3").unwrap();
        let mut in3 = enter(400, 201, 401, "n3");
        t.host.spawn(402, 401, 402);
        let pids = |td: &mut Td| -> Vec<u32> {
            match sysctl(k, td, "kern.proc.all", None).unwrap() {
                SysctlValue::Opaque(_, b) => KinfoProc::decode_list(&b)
                    .unwrap()
                    .into_iter()
                    .map(|p| p.pid)
                    .collect(),
                v => panic!("{v:?}"),
            }
        };
        assert_eq!(pids(&mut in1), [201, 401, 402]);
        assert_eq!(pids(&mut in2), [301]);
        assert_eq!(pids(&mut in3), [401, 402]);
        // Default: everything but the kernel itself (pid 1 here).
        assert_eq!(pids(&mut td), [100, 200, 201, 300, 301, 400, 401, 402]);
        // What the host says of one: its parent, its name.
        let SysctlValue::Opaque(_, b) = sysctl(k, &mut in2, "kern.proc.all", None).unwrap() else {
            panic!()
        };
        let p = &KinfoProc::decode_list(&b).unwrap()[0];
        assert_eq!((p.ppid, p.comm.as_str()), (300, "proc301"));
        // Read-only.
        assert_eq!(
            sysctl(k, &mut in1, "kern.proc.all", Some(SysctlValue::Int(1))).err(),
            Some(Errno::EPERM)
        );
    }

    #[test]
    fn sockets_pin_their_vnet_and_block_destroy() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        t.host.spawn(300, 100, 9);
        let mut p = k.td_attach(300);
        vi(k, &mut p, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, "n1")).unwrap();
        let fd = sock(k, &mut p);
        t.host.exit(300, 1);
        let n1 = vi(k, &mut td, SIOCGPVIMAGE, ViReq::new(VI_GET, "n1")).unwrap();
        assert_eq!(n1.sock_count, 1);
        assert_eq!(n1.proc_count, 0);
        assert_eq!(
            vi(k, &mut td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, "n1")).err(),
            Some(Errno::EBUSY)
        );
        assert_eq!(k.syscall(&mut p, Request::Close { fd }), Reply::val(0));
        vi(k, &mut td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, "n1")).unwrap();
    }

    #[test]
    fn sysctl_and_hostname_are_per_vimage() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        t.host.spawn(400, 100, 3);
        let mut p = k.td_attach(400);
        vi(k, &mut p, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, "n1")).unwrap();
        let fwd = "net.inet.ip.forwarding";
        assert_eq!(
            sysctl(k, &mut p, fwd, Some(SysctlValue::Int(1))),
            Ok(SysctlValue::Int(0))
        );
        assert_eq!(sysctl(k, &mut p, fwd, None), Ok(SysctlValue::Int(1)));
        assert_eq!(sysctl(k, &mut td, fwd, None), Ok(SysctlValue::Int(0)));
        assert_eq!(
            sysctl(k, &mut p, fwd, Some(SysctlValue::Int(7))),
            Err(Errno::EINVAL)
        );
        sysctl(
            k,
            &mut p,
            "kern.hostname",
            Some(SysctlValue::Str("n1".into())),
        )
        .unwrap();
        assert_eq!(
            sysctl(k, &mut p, "kern.hostname", None),
            Ok(SysctlValue::Str("n1".into()))
        );
        assert_eq!(
            sysctl(k, &mut td, "kern.hostname", None),
            Ok(SysctlValue::Str("".into()))
        );
        assert_eq!(
            sysctl(k, &mut p, "kern.nonexistent", None),
            Err(Errno::ENOENT)
        );
        assert_eq!(sysctl(k, &mut p, "kern", None), Err(Errno::EISDIR));
        assert_eq!(
            sysctl(k, &mut p, "kern.ostype", Some(SysctlValue::Str("x".into()))),
            Err(Errno::EPERM)
        );
        // kldsym reads virtualized symbols in the caller's vnet.
        let sym = |td: &mut Td, n: &str| {
            String::from_utf8(k.syscall(td, Request::Kldsym { name: n.into() }).data).unwrap()
        };
        assert_eq!(sym(&mut p, "V_ipforwarding"), "1");
        assert_eq!(sym(&mut td, "ipforwarding"), "0");
        assert_eq!(sym(&mut p, "ifnet"), "lo0");
        // Kernel-wide operations only from the top.
        assert_eq!(
            k.syscall(&mut p, Request::Reboot { howto: 8 }).errno,
            Errno::EPERM.0
        );
        assert_eq!(
            k.syscall(&mut p, Request::Kldload { name: "x".into() })
                .errno,
            Errno::EPERM.0
        );
    }

    #[test]
    fn interfaces_move_rename_and_return() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        create(k, &mut td, "n1.n3").unwrap();
        // Two clones in default.
        let fd = sock(k, &mut td);
        for n in ["lo1", "lo2"] {
            let r = k.syscall(
                &mut td,
                Request::Ioctl {
                    fd,
                    cmd: SIOCIFCREATE2,
                    data: IfReq::new(n).to_bytes().unwrap(),
                },
            );
            assert_eq!(r.errno, 0);
        }
        let mv = |td: &mut Td, to: &str, ifn: &str, new: &str| {
            let mut q = ViReq::new(VI_IFACE, to);
            q.if_xname = ifn.into();
            q.if_newname = new.into();
            vi(k, td, SIOCSIFVIMAGE, q).map(|r| format!("{}@{}", r.if_xname, r.name))
        };
        // Loopbacks are not movable.
        assert_eq!(mv(&mut td, "n1", "lo0", ""), Err(Errno::ENODEV));
        // Test with movable Ethernet-like interfaces from the test driver.
        let mk = |name: &str| {
            let _cv = vimage_kern::CurvnetGuard::set(&k.vimage0().vnet);
            let ifp = vimage_net::if_var::Ifnet::new(
                &k.vimage0().vnet,
                name,
                "test",
                IFT_ETHER,
                IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
                1500,
                vec![0; 6],
                Box::new(TestDrv),
            );
            vimage_net::r#if::if_attach(&ifp).unwrap();
        };
        mk("ngeth0");
        mk("ngeth1");
        assert_eq!(mv(&mut td, "n1", "ngeth0", "").unwrap(), "eth0@n1");
        assert_eq!(mv(&mut td, "n1", "ngeth1", "e1").unwrap(), "e1@n1");
        assert_eq!(mv(&mut td, "n1", "nope0", ""), Err(Errno::ENXIO));
        assert_eq!(mv(&mut td, ".", "lo1", ""), Err(Errno::EPERM));
        // The top has no parent (ENXIO, as 7.0's `..`).
        assert_eq!(mv(&mut td, "-", "lo1", ""), Err(Errno::ENXIO));
        assert_eq!(mv(&mut td, "..", "lo1", ""), Err(Errno::ENXIO));
        assert_eq!(iflist(k, &mut td), vec!["1:lo0", "2:lo1", "3:lo2"]);
        // From inside n1: move on to n3, and back with "-".
        t.host.spawn(500, 100, 4);
        let mut p = k.td_attach(500);
        vi(k, &mut p, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, "n1")).unwrap();
        assert_eq!(iflist(k, &mut p), vec!["1:lo0", "2:eth0", "3:e1"]);
        assert_eq!(mv(&mut p, "n3", "eth0", "").unwrap(), "eth0@n3");
        assert_eq!(mv(&mut p, "n3", "e1", "eth0"), Err(Errno::EEXIST));
        // Deleting n3 returns eth0 to n1 under its n1 name; "-" back to default restores
        // ngeth1's original name.
        vi(k, &mut td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, "n1.n3")).unwrap();
        assert_eq!(iflist(k, &mut p), vec!["1:lo0", "2:eth0", "3:e1"]);
        assert_eq!(mv(&mut p, "-", "e1", "").unwrap(), "ngeth1@default");
        t.host.exit(500, 1);
        vi(k, &mut td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, "n1")).unwrap();
        assert_eq!(
            iflist(k, &mut td),
            vec!["1:lo0", "2:lo1", "3:lo2", "4:ngeth1", "5:ngeth0"]
        );
    }

    struct TestDrv;
    impl vimage_net::if_var::IfDriver for TestDrv {
        fn transmit(
            &self,
            _: &Arc<vimage_net::if_var::Ifnet>,
            _: vimage_net::mbuf::Mbuf,
        ) -> Result<(), Errno> {
            Ok(())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn malformed_requests_get_einval() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        let fd = sock(k, &mut td);
        // Length mismatch with the command, bad cookie, unknown action, bad fd.
        let r = k.syscall(
            &mut td,
            Request::Ioctl {
                fd,
                cmd: SIOCSPVIMAGE,
                data: vec![0; 3],
            },
        );
        assert_eq!(r.errno, Errno::EINVAL.0);
        let r = k.syscall(
            &mut td,
            Request::Ioctl {
                fd,
                cmd: SIOCSPVIMAGE,
                data: vec![0; ViReq::SIZE],
            },
        );
        assert_eq!(r.errno, Errno::EDOOFUS.0);
        let q = ViReq::new(0x4000, "x").to_bytes().unwrap();
        let r = k.syscall(
            &mut td,
            Request::Ioctl {
                fd,
                cmd: SIOCSPVIMAGE,
                data: q,
            },
        );
        assert_eq!(r.errno, Errno::EINVAL.0);
        let r = k.syscall(&mut td, Request::Close { fd: 99 });
        assert_eq!(r.errno, Errno::EBADF.0);
        let r = k.syscall(
            &mut td,
            Request::Socket {
                domain: 99,
                ty: 2,
                proto: 0,
            },
        );
        assert_eq!(r.errno, Errno::EAFNOSUPPORT.0);
        // The kernel is still fine.
        create(k, &mut td, "n1").unwrap();
    }
}

/// Hostile tenants and the vimage tree (issue 12): nesting bombs, reserved and
/// overlong names, limits, listing cost, destroy outside the tree lock.
#[cfg(feature = "vimage")]
mod vimage_hostile {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use vimage_kern::kern_proc::HostProcs;

    /// The stack vkernel gives a syscall thread.
    const SYSCALL_STACK: usize = 256 * 1024;

    fn get(k: &Arc<Kernel>, td: &mut Td, name: &str) -> Result<ViReq, Errno> {
        vi(k, td, SIOCGPVIMAGE, ViReq::new(VI_GET, name))
    }

    fn destroy(k: &Arc<Kernel>, td: &mut Td, name: &str) -> Result<(), Errno> {
        vi(k, td, SIOCSPVIMAGE, ViReq::new(VI_DESTROY, name)).map(|_| ())
    }

    /// `vimage -l` as the tool walks it: every name, in order.
    fn walk(k: &Arc<Kernel>, td: &mut Td) -> Result<Vec<String>, Errno> {
        let mut names = Vec::new();
        let mut cur = String::new();
        loop {
            match vi(k, td, SIOCGPVIMAGE, ViReq::new(VI_GETNEXT_RECURSE, &cur)) {
                Ok(r) => {
                    cur = if cur.is_empty() {
                        ".".into()
                    } else {
                        r.name.clone()
                    };
                    names.push(r.name);
                }
                Err(Errno::ESRCH) => return Ok(names),
                Err(e) => return Err(e),
            }
            // A walk that does not end is a failure, not a hang.
            assert!(names.len() < 100_000, "listing does not end: {names:?}");
        }
    }

    fn set(k: &Arc<Kernel>, td: &mut Td, name: &str, v: i64) -> Result<SysctlValue, Errno> {
        sysctl(k, td, name, Some(SysctlValue::Int(v)))
    }

    /// A process of host pid `pid` (child of 100) switched into `name`.
    fn inside(t: &T, pid: u32, name: &str) -> Td {
        t.host.spawn(pid, 100, u64::from(pid));
        let mut p = t.k.td_attach(pid);
        vi(&t.k, &mut p, SIOCSPVIMAGE, ViReq::new(VI_SWITCHTO, name)).expect("switch");
        p
    }

    #[test]
    fn nesting_bomb_from_inside_is_refused_and_listing_survives() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        // Create "a", switch into it, repeat: what a tenant can do with
        // `vimage a vimage -c a …`.  Stops at security.vimage.max_depth.
        let mut p = k.td_attach(100);
        let mut depth = 0;
        let refused = loop {
            match create(k, &mut p, "a") {
                Ok(()) => {
                    depth += 1;
                    k.vi_switchto(&mut p, "a").expect("switch into a");
                }
                Err(e) => break e,
            }
            assert!(depth <= 2_000, "no depth limit");
        };
        assert_eq!(refused, Errno::EPERM);
        assert_eq!(depth, 32);
        assert_eq!(
            sysctl(k, &mut td, "security.vimage.max_depth", None),
            Ok(SysctlValue::Int(32))
        );
        // Listing and the tree walks run on a syscall thread's stack.
        let k2 = k.clone();
        let names = std::thread::Builder::new()
            .stack_size(SYSCALL_STACK)
            .spawn(move || {
                let mut td = k2.td_attach(100);
                let names = walk(&k2, &mut td);
                assert_eq!(k2.all_vimages().len(), 33);
                names
            })
            .expect("thread")
            .join()
            .expect("walk on a small stack");
        let names = names.expect("listing");
        assert_eq!(names.len(), 33);
        assert_eq!(names[32], vec!["a"; 32].join("."));
        // Deleted from the bottom up, the tree empties.
        for d in (1..=32).rev() {
            destroy(k, &mut td, &vec!["a"; d].join(".")).expect("destroy");
        }
        assert_eq!(k.all_vimages().len(), 1);
    }

    #[test]
    fn reserved_and_dotted_names_are_refused() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        create(k, &mut td, "n1").unwrap();
        for bad in [
            "default",
            ".",
            "..",
            ".x",
            "..x",
            "x.",
            "a..b",
            "n1.default",
            "n1..x",
            ".n1.x",
        ] {
            assert_eq!(create(k, &mut td, bad), Err(Errno::EINVAL), "{bad}");
        }
        let mut p = inside(&t, 600, "n1");
        assert_eq!(create(k, &mut p, "default"), Err(Errno::EINVAL));
        assert_eq!(create(k, &mut p, ".y"), Err(Errno::EINVAL));
        // Nothing was made; the listing ends.
        assert_eq!(walk(k, &mut td).unwrap(), vec!["default", "n1"]);
        assert_eq!(get(k, &mut td, "x").err(), Some(Errno::ESRCH));
        assert_eq!(get(k, &mut td, "n1.default").err(), Some(Errno::ESRCH));
        t.host.exit(600, 1);
        destroy(k, &mut td, "n1").unwrap();
    }

    #[test]
    fn full_names_fit_in_maxhostnamelen() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        let x = "x".repeat(200);
        create(k, &mut td, &x).unwrap();
        // From default: "xxx….yyy…" is 261 bytes.
        let long = format!("{x}.{}", "y".repeat(60));
        assert_eq!(create(k, &mut td, &long), Err(Errno::ENAMETOOLONG));
        // From inside, the relative name is short but the full one is not.
        let mut p = inside(&t, 601, &x);
        assert_eq!(create(k, &mut p, &"y".repeat(60)), Err(Errno::ENAMETOOLONG));
        assert_eq!(create(k, &mut p, &"y".repeat(55)), Err(Errno::ENAMETOOLONG));
        create(k, &mut p, &"y".repeat(54)).unwrap();
        // Exactly 255 bytes (200 + 1 + 54) is the longest; it lists.
        let names = walk(k, &mut td).unwrap();
        assert_eq!(names.len(), 3);
        assert_eq!(names[2].len(), 255);
        t.host.exit(601, 1);
        destroy(k, &mut td, &format!("{x}.{}", "y".repeat(54))).unwrap();
        // With the depth limit at its maximum a chain of one-byte names reaches
        // the name bound: 128 levels, 255 bytes.
        destroy(k, &mut td, &x).unwrap();
        set(k, &mut td, "security.vimage.max_depth", 128).unwrap();
        assert_eq!(
            set(k, &mut td, "security.vimage.max_depth", 129),
            Err(Errno::EINVAL)
        );
        let mut p = k.td_attach(100);
        let mut depth = 0;
        let refused = loop {
            match create(k, &mut p, "a") {
                Ok(()) => {
                    depth += 1;
                    k.vi_switchto(&mut p, "a").unwrap();
                }
                Err(e) => break e,
            }
            assert!(depth <= 200);
        };
        assert_eq!((depth, refused), (128, Errno::ENAMETOOLONG));
        let names = walk(k, &mut td).unwrap();
        assert_eq!(names.len(), 129);
        assert_eq!(names[128].len(), 255);
    }

    #[test]
    fn limits_are_sysctls_written_from_default() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        let mut td = k.td_attach(100);
        let read = |td: &mut Td, n: &str| sysctl(k, td, n, None);
        assert_eq!(
            read(&mut td, "security.vimage.max"),
            Ok(SysctlValue::Int(32768))
        );
        assert_eq!(
            read(&mut td, "security.vimage.children.max"),
            Ok(SysctlValue::Int(1024))
        );
        create(k, &mut td, "n1").unwrap();
        create(k, &mut td, "n2").unwrap();
        let mut p = inside(&t, 602, "n1");
        // A tenant cannot raise (or touch) the limits.
        for n in [
            "security.vimage.max",
            "security.vimage.max_depth",
            "security.vimage.children.max",
        ] {
            assert_eq!(set(k, &mut p, n, 5), Err(Errno::EPERM), "{n}");
        }
        assert_eq!(
            set(k, &mut td, "security.vimage.children.cur", 0),
            Err(Errno::EPERM)
        );
        // children.max counts every descendant, however nested.
        set(k, &mut td, "security.vimage.children.max", 2).unwrap();
        create(k, &mut p, "c1").unwrap();
        create(k, &mut p, "c1.c2").unwrap();
        assert_eq!(create(k, &mut p, "c3"), Err(Errno::EPERM));
        assert_eq!(create(k, &mut p, "c1.c2.c3"), Err(Errno::EPERM));
        assert_eq!(
            read(&mut p, "security.vimage.children.cur"),
            Ok(SysctlValue::Int(2))
        );
        assert_eq!(
            read(&mut td, "security.vimage.children.cur"),
            Ok(SysctlValue::Int(4))
        );
        // Default is bound by security.vimage.max only.
        create(k, &mut td, "n3").unwrap();
        set(k, &mut td, "security.vimage.max", 5).unwrap();
        assert_eq!(create(k, &mut td, "n4"), Err(Errno::EPERM));
        // Destroying frees room.
        destroy(k, &mut td, "n1.c1.c2").unwrap();
        create(k, &mut p, "c4").unwrap();
        assert_eq!(create(k, &mut td, "n4"), Err(Errno::EPERM));
        destroy(k, &mut td, "n3").unwrap();
        create(k, &mut td, "n4").unwrap();
        t.host.exit(602, 1);
    }

    /// The host table, counting how often the kernel scans all of it.
    struct CountingHost {
        inner: FakeHost,
        scans: AtomicUsize,
    }

    impl HostProcs for CountingHost {
        fn ppid(&self, pid: u32) -> Option<u32> {
            self.inner.ppid(pid)
        }
        fn start_time(&self, pid: u32) -> Option<u64> {
            self.inner.start_time(pid)
        }
        fn pids(&self) -> Vec<u32> {
            self.scans.fetch_add(1, Ordering::Relaxed);
            self.inner.pids()
        }
        fn self_pid(&self) -> u32 {
            self.inner.self_pid()
        }
    }

    #[test]
    fn listing_is_one_pass_in_tree_order() {
        let _l = test_lock();
        let host = Arc::new(CountingHost {
            inner: FakeHost {
                me: 1,
                ..Default::default()
            },
            scans: AtomicUsize::new(0),
        });
        host.inner.spawn(1, 0, 1);
        host.inner.spawn(100, 1, 2);
        let k = vimage_conf::boot(KernelConfig {
            host: host.clone(),
            ident: "VIMAGE".into(),
            version: "test".into(),
            clock: Arc::new(vimage_kern::kern_timeout::FakeClock::default()),
            random: vimage_kern::kern_random::SeededRandom::arc(1),
        })
        .expect("boot");
        let mut td = k.td_attach(100);
        // A wide level and a few nested ones.
        for i in 0..300 {
            create(&k, &mut td, &format!("v{i}")).unwrap();
        }
        for i in (0..300).step_by(50) {
            create(&k, &mut td, &format!("v{i}.a")).unwrap();
            create(&k, &mut td, &format!("v{i}.b")).unwrap();
            create(&k, &mut td, &format!("v{i}.a.c")).unwrap();
        }
        // A process in v7 is counted in the listing.
        host.inner.spawn(700, 100, 9);
        let mut p = k.td_attach(700);
        k.vi_switchto(&mut p, "v7").unwrap();
        host.inner.spawn(701, 700, 10);
        let _ = k.td_attach(701);
        let expect: Vec<String> = k
            .all_vimages()
            .iter()
            .map(|v| vimage_kern::kern_vimage::relative_name(k.vimage0(), v))
            .collect();
        host.scans.store(0, Ordering::Relaxed);
        let mut names = Vec::new();
        let mut procs = Vec::new();
        let mut cur = String::new();
        while let Ok(r) = vi(
            &k,
            &mut td,
            SIOCGPVIMAGE,
            ViReq::new(VI_GETNEXT_RECURSE, &cur),
        ) {
            cur = if cur.is_empty() {
                ".".into()
            } else {
                r.name.clone()
            };
            procs.push((r.name.clone(), r.proc_count));
            names.push(r.name);
        }
        assert_eq!(names, expect);
        assert_eq!(names.len(), 1 + 300 + 18);
        assert_eq!(&names[..5], ["default", "v299", "v298", "v297", "v296"]);
        let tail: Vec<&str> = names
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(tail, ["v0", "v0.b", "v0.a", "v0.a.c"]);
        assert!(procs.contains(&("v7".into(), 1)), "{procs:?}");
        // One scan of the host's processes for the whole listing, not one per
        // vimage.
        assert_eq!(host.scans.load(Ordering::Relaxed), 1);
        // VI_GET of one vimage is always fresh.
        assert_eq!(get(&k, &mut td, "v7").unwrap().proc_count, 1);
        host.inner.exit(701, 700);
        host.inner.exit(700, 100);
        assert_eq!(get(&k, &mut td, "v7").unwrap().proc_count, 0);
        k.shutdown();
    }

    /// A vnet module whose teardown of vnet "slow" waits until released: a
    /// stand-in for a big netgraph graph.
    mod gate {
        use super::*;
        use std::sync::Mutex;
        use vimage_kern::vnet::{ModState, Vnet, VnetModInfo};

        pub struct Gate {
            pub started: Mutex<Option<mpsc::Sender<()>>>,
            pub release: Mutex<Option<mpsc::Receiver<()>>>,
        }
        pub static GATE: Gate = Gate {
            started: Mutex::new(None),
            release: Mutex::new(None),
        };
        fn iattach(_: &Arc<Vnet>) -> Result<ModState, Errno> {
            Ok(Arc::new(()))
        }
        fn idetach(v: &Arc<Vnet>, _: &ModState) {
            if v.name() != "slow" {
                return;
            }
            if let Some(s) = GATE.started.lock().unwrap().take() {
                let _ = s.send(());
            }
            let rx = GATE.release.lock().unwrap().take();
            if let Some(rx) = rx {
                let _ = rx.recv_timeout(Duration::from_secs(60));
            }
        }
        pub static SLOW: VnetModInfo = VnetModInfo {
            id: vimage_kern::vnet::VNET_MOD_DYNAMIC_START + 7,
            name: "slowdetach",
            depends: &[],
            iattach,
            idetach,
            ext: None,
            symmap: &[],
        };
    }

    #[test]
    fn destroy_tears_down_outside_the_tree_lock() {
        let _l = test_lock();
        let t = boot();
        let k = &t.k;
        k.registry().register(&[&gate::SLOW]).unwrap();
        let mut td = k.td_attach(100);
        create(k, &mut td, "p").unwrap();
        create(k, &mut td, "p.slow").unwrap();
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        *gate::GATE.started.lock().unwrap() = Some(started_tx);
        *gate::GATE.release.lock().unwrap() = Some(release_rx);
        let k1 = k.clone();
        let destroyer = std::thread::spawn(move || {
            let mut td = k1.td_attach(100);
            destroy(&k1, &mut td, "p.slow")
        });
        started
            .recv_timeout(Duration::from_secs(20))
            .expect("teardown started");
        // While p.slow's stack is being torn down, the tree is free.
        let k2 = k.clone();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let mut td = k2.td_attach(100);
            let r = (
                create(&k2, &mut td, "other"),
                get(&k2, &mut td, "p.slow").err(),
                destroy(&k2, &mut td, "p"),
                walk(&k2, &mut td),
            );
            let _ = done_tx.send(r);
        });
        let r = done.recv_timeout(Duration::from_secs(20));
        let _ = release.send(());
        let (created, gone, parent, names) = r.expect("vimage -c waited for a teardown");
        assert_eq!(created, Ok(()));
        // The dying vimage is out of the tree; its parent stays busy until the
        // teardown hands its interfaces back.
        assert_eq!(gone, Some(Errno::ESRCH));
        assert_eq!(parent, Err(Errno::EBUSY));
        assert_eq!(
            names,
            Ok(vec!["default".into(), "other".into(), "p".into()])
        );
        assert_eq!(destroyer.join().unwrap(), Ok(()));
        destroy(k, &mut td, "p").unwrap();
        destroy(k, &mut td, "other").unwrap();
        assert_eq!(
            sysctl(k, &mut td, "security.vimage.children.cur", None),
            Ok(SysctlValue::Int(0))
        );
    }
}

/// Descriptor tables are keyed by pid *and* start time: a process that
/// reuses the pid of one that exited (while a connection inherited from it
/// still holds its table) gets a table of its own, not the other's sockets.
#[test]
fn reused_pid_gets_a_fresh_descriptor_table() {
    let _g = test_lock();
    let t = boot();
    t.host.spawn(500, 1, 10);
    let mut old = t.k.td_attach(500);
    let fd = sock(&t.k, &mut old);
    assert!(t
        .k
        .syscall(&mut old, Request::Fcntl { fd, cmd: 3, arg: 0 })
        .result()
        .is_ok());
    // The process exits, its connection lives on in a child; the pid is
    // reused by an unrelated process.
    t.host.exit(500, 1);
    t.host.spawn(500, 1, 99);
    let mut new = t.k.td_attach(500);
    assert_eq!(
        t.k.syscall(&mut new, Request::Fcntl { fd, cmd: 3, arg: 0 })
            .result()
            .err(),
        Some(Errno::EBADF)
    );
    // The old table still works for its holder.
    assert!(t
        .k
        .syscall(&mut old, Request::Fcntl { fd, cmd: 3, arg: 0 })
        .result()
        .is_ok());
    t.k.td_exit(&mut new);
    t.k.td_exit(&mut old);
}

#[test]
fn a_kernel_boots_what_its_configuration_lists() {
    // A configuration without IPv6 (no `options INET6`): no inet6 module,
    // domain or sysctl subtree, while IPv4 works as in GENERIC.
    static NOINET6: KernConf = KernConf {
        name: "NOINET6",
        options: &[&vimage_net::OPT_NET, &vimage_inet::OPT_INET],
    };
    let _l = test_lock();
    let host = Arc::new(FakeHost {
        me: 1,
        ..Default::default()
    });
    host.spawn(1, 0, 1);
    let k = Kernel::boot_conf(
        KernelConfig {
            host,
            ident: "NOINET6".into(),
            version: "test".into(),
            clock: Arc::new(vimage_kern::kern_timeout::FakeClock::default()),
            random: vimage_kern::kern_random::SeededRandom::arc(1),
        },
        &NOINET6,
    )
    .expect("boot");
    let mut td = k.td_attach(1);
    let six = k
        .syscall(
            &mut td,
            Request::Socket {
                domain: 28,
                ty: 2,
                proto: 0,
            },
        )
        .result();
    assert_eq!(six.err(), Some(Errno::EAFNOSUPPORT));
    assert_eq!(
        sysctl(&k, &mut td, "net.inet6.ip6.forwarding", None).err(),
        Some(Errno::ENOENT)
    );
    assert!(sysctl(&k, &mut td, "net.inet.ip.forwarding", None).is_ok());
    assert!(k
        .registry()
        .modules()
        .iter()
        .all(|m| m.id != vimage_kern::vnet::VNET_MOD_INET6));
    // IPv4 address ioctls reach the inet domain through pru_control.
    let fd = sock(&k, &mut td);
    let req = vimage_abi::netinet_in::InAliasReq {
        name: "lo0".into(),
        addr: Some(std::net::Ipv4Addr::LOCALHOST),
        broadaddr: None,
        mask: Some(std::net::Ipv4Addr::new(255, 0, 0, 0)),
    };
    k.syscall(
        &mut td,
        Request::Ioctl {
            fd,
            cmd: vimage_abi::netinet_in::SIOCAIFADDR,
            data: req.to_bytes().unwrap(),
        },
    )
    .result()
    .expect("SIOCAIFADDR on lo0");
    k.shutdown();
}
