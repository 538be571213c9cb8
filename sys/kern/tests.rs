//! Kernel tests driving several vnets in one process through the syscall door.

use std::sync::Arc;
use vimage_abi::net_if::*;
use vimage_abi::syscall::Request;
use vimage_abi::sysctl::{SysctlReply, SysctlValue};
use vimage_abi::vimage::*;
use vimage_abi::wire::Writer;
use vimage_abi::Errno;

use super::kern_proc::FakeHost;
use super::kern_syscall::{test_lock, Kernel, KernelConfig, Td};

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
    let k = Kernel::boot(KernelConfig {
        host: host.clone(),
        ident: "VIMAGE".into(),
        version: "test".into(),
        clock: Arc::new(crate::kern::kern_timeout::FakeClock::default()),
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
        assert_eq!(create(k, &mut td, "nope.n3"), Err(Errno::ENOENT));
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
        assert_eq!(d(&mut td, "zz").err(), Some(Errno::ENOENT));
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
            Some(Errno::ENOENT)
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
            let _cv = crate::CurvnetGuard::set(&k.vimage0().vnet);
            let ifp = crate::net::if_var::Ifnet::new(
                &k.vimage0().vnet,
                name,
                "test",
                IFT_ETHER,
                IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST,
                1500,
                vec![0; 6],
                Box::new(TestDrv),
            );
            crate::net::r#if::if_attach(&ifp).unwrap();
        };
        mk("ngeth0");
        mk("ngeth1");
        assert_eq!(mv(&mut td, "n1", "ngeth0", "").unwrap(), "eth0@n1");
        assert_eq!(mv(&mut td, "n1", "ngeth1", "e1").unwrap(), "e1@n1");
        assert_eq!(mv(&mut td, "n1", "nope0", ""), Err(Errno::ENOENT));
        assert_eq!(mv(&mut td, ".", "lo1", ""), Err(Errno::EPERM));
        assert_eq!(mv(&mut td, "-", "lo1", ""), Err(Errno::EPERM));
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
    impl crate::net::if_var::IfDriver for TestDrv {
        fn transmit(
            &self,
            _: &Arc<crate::net::if_var::Ifnet>,
            _: crate::net::mbuf::Mbuf,
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
