//! Unit tests against a scripted fake kernel ([`Fake`]).

use super::*;
use std::collections::VecDeque;

const SELF_ID: u32 = 0x1f;

/// One datagram the fake kernel queued for a socket: data and source address.
type Dgram = (Vec<u8>, Vec<u8>);

/// A fake kernel: one socket node, a few generic commands, a log of every call.
#[derive(Default)]
struct Fake {
    next_fd: i32,
    log: Vec<String>,
    open: Vec<i32>,
    cs: i32,
    ds: i32,
    cq: VecDeque<Dgram>,
    dq: VecDeque<Dgram>,
    sent: Vec<(String, NgMesg)>,
    frames: Vec<(String, Vec<u8>)>,
    socket_errs: VecDeque<Errno>,
    bind_err: Option<Errno>,
    /// Queue an unsolicited message before each reply.
    chatter: bool,
}

fn addr(s: &str) -> Vec<u8> {
    SockaddrNg { data: s.into() }.to_bytes().unwrap()
}

fn from_addr(b: &[u8]) -> String {
    SockaddrNg::from_bytes(b).unwrap().data
}

impl Fake {
    fn reply(&mut self, req: &NgMesg, data: Vec<u8>) {
        if self.chatter {
            let m = NgMesg::new(NGM_FLOW_COOKIE, NGM_LINK_IS_UP, "linkup", 0, vec![]);
            self.cq
                .push_back((m.to_bytes().unwrap(), addr("[00000002]:")));
        }
        let mut h = req.header.clone();
        h.flags |= NGF_RESP;
        let m = NgMesg { header: h, data };
        self.cq
            .push_back((m.to_bytes().unwrap(), addr(&format!("[{SELF_ID:08x}]:"))));
    }

    fn control(&mut self, path: &str, m: NgMesg) -> Result<(), Errno> {
        if path == "nope:" {
            return Err(Errno::ENOENT);
        }
        self.sent.push((path.into(), m.clone()));
        match (m.header.typecookie, m.header.cmd) {
            (NGM_GENERIC_COOKIE, NGM_NODEINFO) => {
                let ni = NodeInfo {
                    name: String::new(),
                    type_name: "socket".into(),
                    id: SELF_ID,
                    hooks: 0,
                };
                self.reply(&m, ni.to_bytes().unwrap());
            }
            (NGM_GENERIC_COOKIE, NGM_ASCII2BINARY) => {
                let inner = NgMesg::from_bytes(&m.data)?;
                if inner.header.cmdstr != "getstats" && inner.header.cmdstr != "setcfg" {
                    return Err(Errno::EINVAL);
                }
                let args = ascii_text(&inner);
                let mut h = inner.header.clone();
                h.typecookie = 4242;
                h.cmd = 7;
                let bin = NgMesg {
                    header: h,
                    data: args.into_bytes(),
                };
                self.reply(&m, bin.to_bytes().unwrap());
            }
            (NGM_GENERIC_COOKIE, NGM_BINARY2ASCII) => {
                let inner = NgMesg::from_bytes(&m.data)?;
                let mut h = inner.header.clone();
                h.cmdstr = "getstats".into();
                let a = NgMesg {
                    header: h,
                    data: b"{ a=1 }\0".to_vec(),
                };
                self.reply(&m, a.to_bytes().unwrap());
            }
            (4242, 7) => {
                let data = m.data.clone();
                self.reply(&m, data);
            }
            _ => {}
        }
        Ok(())
    }
}

impl NgTransport for Fake {
    fn socket(&mut self, domain: i32, ty: i32, proto: i32) -> Result<i32, Errno> {
        self.log.push(format!("socket {domain} {ty} {proto}"));
        if let Some(e) = self.socket_errs.pop_front() {
            return Err(e);
        }
        self.next_fd += 1;
        let fd = self.next_fd + 2;
        if proto == NG_CONTROL {
            self.cs = fd;
        } else {
            self.ds = fd;
        }
        self.open.push(fd);
        Ok(fd)
    }
    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.log.push(format!("close {fd}"));
        self.open.retain(|&f| f != fd);
        Ok(())
    }
    fn bind(&mut self, fd: i32, a: &[u8]) -> Result<(), Errno> {
        self.log.push(format!("bind {fd} {}", from_addr(a)));
        self.bind_err.map_or(Ok(()), Err)
    }
    fn connect(&mut self, fd: i32, a: &[u8]) -> Result<(), Errno> {
        self.log.push(format!("connect {fd} {}", from_addr(a)));
        Ok(())
    }
    fn sendto(
        &mut self,
        fd: i32,
        data: &[u8],
        _flags: i32,
        a: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        let to = from_addr(a.ok_or(Errno::EDESTADDRREQ)?);
        if fd == self.cs {
            self.control(&to, NgMesg::from_bytes(data)?)?;
        } else if fd == self.ds {
            if to == "nohook" {
                return Err(Errno::ENOTCONN);
            }
            self.frames.push((to.clone(), data.to_vec()));
            // The peer echoes the frame back on the same hook.
            self.dq.push_back((data.to_vec(), addr(&to)));
        } else {
            return Err(Errno::EBADF);
        }
        Ok(data.len())
    }
    fn recvfrom(&mut self, fd: i32, _len: usize, flags: i32) -> Result<Dgram, Errno> {
        let q = if fd == self.cs {
            &mut self.cq
        } else {
            &mut self.dq
        };
        match q.pop_front() {
            Some(d) => Ok(d),
            // A real kernel would block; the fake cannot.
            None if flags & MSG_DONTWAIT != 0 => Err(Errno::EAGAIN),
            None => Err(Errno::EDEADLK),
        }
    }
    fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        self.log.push(format!(
            "setsockopt {fd} {level:#x} {name:#x} {}",
            val.len()
        ));
        Ok(())
    }
    fn kldload(&mut self, name: &str) -> Result<i32, Errno> {
        self.log.push(format!("kldload {name}"));
        Ok(2)
    }
}

fn sock(name: Option<&str>) -> NgSock<Fake> {
    NgSock::mk_sock_node(Fake::default(), name).unwrap()
}

#[test]
fn mk_sock_node_named() {
    let s = sock(Some("ngctl99"));
    assert_eq!(s.id, SELF_ID);
    assert_eq!(
        s.sys.log,
        vec![
            "socket 32 2 2",
            "bind 3 ngctl99",
            "socket 32 2 1",
            "connect 4 [1f]:",
        ]
    );
    assert_eq!(s.cs, 3);
    assert_eq!(s.ds, 4);
    let (path, m) = &s.sys.sent[0];
    assert_eq!(path, ".");
    assert_eq!(m.header.cmd, NGM_NODEINFO);
    assert_eq!(m.header.token, 1);
    assert_eq!(m.header.cmdstr, format!("cmd{}", NGM_NODEINFO));
}

#[test]
fn mk_sock_node_unnamed_and_empty_name() {
    for n in [None, Some("")] {
        let s = sock(n);
        assert!(!s.sys.log.iter().any(|l| l.starts_with("bind")));
        assert_eq!(s.sys.log.last().unwrap(), "connect 4 [1f]:");
    }
}

#[test]
fn mk_sock_node_failure_closes_what_it_opened() {
    let f = Fake {
        bind_err: Some(Errno::EADDRINUSE),
        ..Fake::default()
    };
    match NgSock::mk_sock_node(f, Some("taken")) {
        Err(e) => assert_eq!(e, Errno::EADDRINUSE),
        Ok(_) => panic!("bind should fail"),
    }
    let f = Fake {
        socket_errs: VecDeque::from([Errno::EAFNOSUPPORT]),
        ..Fake::default()
    };
    assert!(matches!(
        NgSock::mk_sock_node(f, None),
        Err(Errno::EAFNOSUPPORT)
    ));
}

#[test]
fn mk_sock_node_loads_socket_type() {
    let f = Fake {
        socket_errs: VecDeque::from([Errno::EPROTONOSUPPORT]),
        ..Fake::default()
    };
    let s = NgSock::mk_sock_node(f, None).unwrap();
    assert_eq!(
        &s.sys.log[..3],
        &["socket 32 2 2", "kldload ng_socket", "socket 32 2 2"]
    );
}

#[test]
fn drop_closes_both_sockets() {
    let mut s = sock(None);
    s.close();
    assert!(s.sys.open.is_empty());
    assert_eq!(s.cs, -1);
    s.close();
    assert_eq!(
        s.sys.log.iter().filter(|l| l.starts_with("close")).count(),
        2
    );
}

#[test]
fn tokens_increase_and_wrap() {
    let mut t = Tokens::new();
    assert_eq!(t.next_token(), 1);
    assert_eq!(t.next_token(), 2);
    let mut t = Tokens::starting_after(i32::MAX as u32 - 1);
    assert_eq!(t.next_token(), i32::MAX as u32);
    assert_eq!(t.next_token(), 1);

    let mut s = sock(None);
    assert_eq!(
        s.send_msg(".", NGM_GENERIC_COOKIE, NGM_SHUTDOWN, &[]),
        Ok(2)
    );
    assert_eq!(
        s.send_msg(".", NGM_GENERIC_COOKIE, NGM_SHUTDOWN, &[]),
        Ok(3)
    );
    assert_eq!(s.sys.sent[2].1.header.token, 3);
}

#[test]
fn send_errors_come_from_sendto() {
    let mut s = sock(None);
    assert_eq!(
        s.send_msg("nope:", NGM_GENERIC_COOKIE, NGM_SHUTDOWN, &[]),
        Err(Errno::ENOENT)
    );
    let long = "x".repeat(NG_PATHSIZ);
    assert_eq!(
        s.send_msg(&long, NGM_GENERIC_COOKIE, NGM_SHUTDOWN, &[]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn binary_and_ascii_encodings() {
    let m = binary_msg(NGM_GENERIC_COOKIE, NGM_LISTNODES, 9, &[]);
    assert_eq!(m.header.cmdstr, "cmd805306377");
    assert_eq!(m.header.version, NG_VERSION);
    assert_eq!(m.header.flags, NGF_ORIG);

    assert_eq!(
        split_ascii("  setcfg  {delay=5000} "),
        ("setcfg", "{delay=5000} ")
    );
    assert_eq!(split_ascii("getstats"), ("getstats", ""));
    assert_eq!(split_ascii(""), ("", ""));

    let b = ascii2binary_arg("addfilter { hook=\"a\" vlan=5 }").unwrap();
    let inner = NgMesg::from_bytes(&b).unwrap();
    assert_eq!(inner.header.cmdstr, "addfilter");
    assert_eq!(inner.header.version, NG_VERSION);
    assert_eq!(inner.data, b"{ hook=\"a\" vlan=5 }\0");
    let long = format!("{} x", "c".repeat(40));
    let inner = NgMesg::from_bytes(&ascii2binary_arg(&long).unwrap()).unwrap();
    assert_eq!(inner.header.cmdstr.len(), NG_CMDSTRSIZ - 1);
    assert_eq!(ascii2binary_arg("x a\0b"), Err(Errno::EINVAL));
}

#[test]
fn send_ascii_msg_converts_then_sends_binary() {
    let mut s = sock(None);
    let tok = s.send_ascii_msg("p0:", "setcfg {delay=5000}").unwrap();
    assert_eq!(tok, 3);
    let (p, a2b) = &s.sys.sent[1];
    assert_eq!(p, "p0:");
    assert_eq!(a2b.header.cmd, NGM_ASCII2BINARY);
    assert_eq!(a2b.header.token, 2);
    let inner = NgMesg::from_bytes(&a2b.data).unwrap();
    assert_eq!(inner.header.cmdstr, "setcfg");
    assert_eq!(inner.data, b"{delay=5000}\0");
    let (p, bin) = &s.sys.sent[2];
    assert_eq!(p, "p0:");
    assert_eq!((bin.header.typecookie, bin.header.cmd), (4242, 7));
    assert_eq!(bin.header.token, 3);
    assert_eq!(bin.header.cmdstr, "setcfg");
    assert_eq!(bin.data, b"{delay=5000}");
    // The reply to the binary message is waiting.
    let (rep, from) = s.recv_msg(MSG_DONTWAIT).unwrap();
    assert!(rep.is_resp());
    assert_eq!(rep.header.token, 3);
    assert_eq!(from, "[0000001f]:");
    assert_eq!(s.recv_msg(MSG_DONTWAIT).unwrap_err(), Errno::EAGAIN);
    // A command the node does not know fails at the conversion.
    assert_eq!(s.send_ascii_msg("p0:", "bogus 1"), Err(Errno::EINVAL));
}

#[test]
fn unrelated_messages_wait_for_recv_msg() {
    let f = Fake {
        chatter: true,
        ..Fake::default()
    };
    let mut s = NgSock::mk_sock_node(f, Some("n")).unwrap();
    // The unsolicited message that came before the nodeinfo reply was kept.
    let (rep, _) = s
        .request(".", NGM_GENERIC_COOKIE, NGM_NODEINFO, &[])
        .unwrap();
    assert_eq!(rep.header.token, 2);
    assert!(s.msg_ready().unwrap());
    for _ in 0..2 {
        let (m, from) = s.recv_msg(MSG_DONTWAIT).unwrap();
        assert_eq!(m.header.cmd, NGM_LINK_IS_UP);
        assert_eq!(from, "[00000002]:");
    }
    assert!(!s.msg_ready().unwrap());
    assert_eq!(s.recv_msg(MSG_DONTWAIT).unwrap_err(), Errno::EAGAIN);
}

#[test]
fn to_ascii_and_recv_ascii() {
    let mut s = sock(None);
    let m = binary_msg(4242, 7, 77, &[1, 2]);
    let a = s.to_ascii("[1f]:", &m).unwrap();
    assert_eq!(a.header.cmdstr, "getstats");
    assert_eq!(ascii_text(&a), "{ a=1 }");
    let (b2a_path, b2a) = s.sys.sent.last().unwrap();
    assert_eq!(b2a_path, "[1f]:");
    assert_eq!(NgMesg::from_bytes(&b2a.data).unwrap(), m);

    s.send_msg("x:", 4242, 7, &[5]).unwrap();
    let (bin, from, a) = s.recv_ascii_msg(MSG_DONTWAIT).unwrap();
    assert_eq!(bin.data, vec![5]);
    assert_eq!(from, "[0000001f]:");
    assert_eq!(ascii_text(&a), "{ a=1 }");
}

#[test]
fn data_goes_out_of_hooks() {
    let mut s = sock(None);
    s.send_data("left", &[1, 2, 3]).unwrap();
    assert_eq!(s.sys.frames, vec![("left".to_string(), vec![1, 2, 3])]);
    assert_eq!(
        s.recv_data(MSG_DONTWAIT).unwrap(),
        (vec![1, 2, 3], "left".to_string())
    );
    assert_eq!(s.recv_data(MSG_DONTWAIT).unwrap_err(), Errno::EAGAIN);
    assert_eq!(s.send_data("nohook", &[1]), Err(Errno::ENOTCONN));
}

#[test]
fn debug_level_and_timeout() {
    let mut s = sock(None);
    assert_eq!(s.set_debug(-1), 0);
    assert_eq!(s.set_debug(2), 0);
    assert_eq!(s.debug_level(), 2);
    assert_eq!(s.set_debug(-1), 2);
    s.set_recv_timeout(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(s.sys.log.last().unwrap(), "setsockopt 3 0xffff 0x1006 16");
    s.set_debug(0);
    assert!(s.name_node(".", "x").is_ok());
    assert_eq!(s.sys.sent.last().unwrap().1.header.cmd, NGM_NAME);
}
