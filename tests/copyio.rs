//! copyin/copyout at the door: a large `send` or `recv` leaves its data in
//! the caller's memory for the kernel to copy (`SendUser`, `RecvfromUser`),
//! and the kernel copies only from and to the process it serves.
//!
//! The calls are made raw here (frames on a connection of this test
//! process), and through libvimage as the tools make them, with
//! `kern.door.copyio` on and off.

mod common;
use common::*;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;

use libvimage::{sockaddr, Sys};
use vimage_abi::syscall::{write_frame, Reply, Request};
use vimage_abi::Errno;

const AF_INET: i32 = 2;
const SOCK_STREAM: i32 = 1;

fn call(s: &mut UnixStream, req: &Request) -> Reply {
    write_frame(s, &req.to_bytes()).expect("write");
    s.flush().unwrap();
    Reply::read_frame(s).expect("read").expect("reply")
}

/// A connected TCP pair over lo0 of the default vimage, on connection `s`:
/// (client fd, server fd).
fn tcp_pair(s: &mut Sys, port: u16) -> (i32, i32) {
    let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let l = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(l, &sockaddr(&a)).unwrap();
    s.listen(l, 5).unwrap();
    let c = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.connect(c, &sockaddr(&a)).unwrap();
    let (d, _) = s.accept(l, 0).unwrap();
    s.close(l).unwrap();
    (c, d)
}

/// A raw `SendUser` of `len` bytes at `ptr` on `fd`.
fn send_user(s: &mut UnixStream, fd: i32, ptr: u64, len: usize) -> Reply {
    call(
        s,
        &Request::SendUser {
            fd,
            flags: 0,
            ptr,
            len: len as u32,
        },
    )
}

/// A raw `RecvfromUser` of up to `len` bytes into `ptr` from `fd`.
fn recv_user(s: &mut UnixStream, fd: i32, ptr: u64, len: usize) -> Reply {
    recv_user_flags(s, fd, ptr, len, 0)
}

/// The same with `flags`.
fn recv_user_flags(s: &mut UnixStream, fd: i32, ptr: u64, len: usize, flags: i32) -> Reply {
    call(
        s,
        &Request::RecvfromUser {
            fd,
            len: len as u32,
            flags,
            ptr,
        },
    )
}

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

#[test]
fn raw_copyin_and_copyout_move_the_callers_bytes_and_refuse_bad_ones() {
    if !bindir().join("vkernel").exists() || !bindir().join("sysctl").exists() {
        eprintln!("skipping: tools not built (cargo build --workspace)");
        return;
    }
    let vk = Vk::boot("copyio-raw");
    let mut sys = Sys::connect_admitted(&vk.sock).expect("door");
    let (c, d) = tcp_pair(&mut sys, 7001);
    // Descriptors belong to the process: a raw connection of ours sees them.
    let mut s = UnixStream::connect(&vk.sock).expect("connect");
    let data = pattern(100_000, 1);
    let r = send_user(&mut s, c, data.as_ptr() as u64, data.len());
    if r.errno == Errno::ENOSYS.0 {
        eprintln!("skipping: this host gives no SO_PEERPIDFD (copyio off)");
        return;
    }
    assert_eq!((r.errno, r.val), (0, data.len() as i64));
    let mut got: Vec<u8> = Vec::new();
    while got.len() < data.len() {
        let mut buf = vec![0u8; 70_000];
        let r = recv_user(&mut s, d, buf.as_mut_ptr() as u64, buf.len());
        assert_eq!(r.errno, 0);
        assert!(r.data.is_empty(), "data came in the frame");
        assert!(r.val > 0 && r.val as usize <= buf.len());
        got.extend_from_slice(&buf[..r.val as usize]);
    }
    assert!(got == data, "stream corrupted");
    // A bad buffer is EFAULT, and the connection goes on serving.
    let r = send_user(&mut s, c, 16, 20_000);
    assert_eq!(r.errno, Errno::EFAULT.0);
    let r = send_user(
        &mut s,
        c,
        data.as_ptr() as u64,
        vimage_abi::wire::MAX_FRAME + 1,
    );
    assert_eq!(r.errno, Errno::EINVAL.0);
    // A receive into a bad buffer is refused before anything is taken from
    // the socket: the data is still there for a good one.
    let msg = pattern(20_000, 3);
    let r = send_user(&mut s, c, msg.as_ptr() as u64, msg.len());
    assert_eq!((r.errno, r.val), (0, msg.len() as i64));
    assert_eq!(recv_user(&mut s, d, 16, msg.len()).errno, Errno::EFAULT.0);
    let mut got = vec![0u8; msg.len()];
    let mut n = 0;
    // Without waiting (a lost byte must fail the test, not hang it).
    let t0 = std::time::Instant::now();
    while n < msg.len() && t0.elapsed() < std::time::Duration::from_secs(5) {
        let ptr = got[n..].as_mut_ptr() as u64;
        let r = recv_user_flags(&mut s, d, ptr, msg.len() - n, libvimage::MSG_DONTWAIT);
        if r.errno == Errno::EAGAIN.0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        }
        assert!(r.errno == 0 && r.val > 0, "{r:?}");
        n += r.val as usize;
    }
    assert!(got == msg, "data lost to the bad receive");
    let r = call(
        &mut s,
        &Request::Fcntl {
            fd: -1,
            cmd: 3,
            arg: 0,
        },
    );
    assert_eq!(r.errno, Errno::EBADF.0);
    // A connection handed to a process (SetOwner) copies that process's
    // memory; one whose owner is named again is served through the socket
    // only, so a program cannot point the kernel at another process.
    let me = std::process::id();
    let mut h = UnixStream::connect(&vk.sock).expect("connect");
    assert_eq!(call(&mut h, &Request::SetOwner { pid: me }).errno, 0);
    let small = pattern(20_000, 2);
    let send = |h: &mut UnixStream| send_user(h, c, small.as_ptr() as u64, small.len());
    assert_eq!(send(&mut h).val, small.len() as i64);
    assert_eq!(call(&mut h, &Request::SetOwner { pid: me }).errno, 0);
    assert_eq!(send(&mut h).errno, Errno::ENOSYS.0);
    // kern.door.copyio=0: new connections say ENOSYS.
    vk.ok("sysctl", &["kern.door.copyio=0"]);
    let mut o = UnixStream::connect(&vk.sock).expect("connect");
    assert_eq!(send(&mut o).errno, Errno::ENOSYS.0);
}

/// libvimage's sends and receives, large and small, copied through memory
/// and (with `kern.door.copyio` off) through the socket: the stream arrives
/// intact either way.
#[test]
fn streams_arrive_intact_with_copyio_on_and_off() {
    if !bindir().join("sysctl").exists() {
        eprintln!("skipping: tools not built (cargo build --workspace)");
        return;
    }
    let vk = Vk::boot("copyio-lib");
    for (on, port) in [(1, 7002u16), (0, 7003)] {
        vk.ok("sysctl", &[&format!("kern.door.copyio={on}")]);
        let mut rx = Sys::connect_admitted(&vk.sock).expect("door");
        let (c, d) = tcp_pair(&mut rx, port);
        let data = pattern(3 << 20, port as u32);
        let tx_data = data.clone();
        let sock = vk.sock.clone();
        let sender = std::thread::spawn(move || {
            let mut tx = Sys::connect_admitted(&sock).expect("door");
            let mut off = 0;
            // Writes of every size: under, at and over the copy threshold.
            let sizes = [1, 16_383, 16_384, 200_000, 700, 1 << 20, 65_536];
            let mut i = 0;
            while off < tx_data.len() {
                let n = sizes[i % sizes.len()].min(tx_data.len() - off);
                off += tx.send(c, &tx_data[off..off + n], 0).expect("send");
                i += 1;
            }
            tx.close(c).unwrap();
        });
        let mut got = Vec::new();
        let mut i = 0;
        loop {
            let want = [300_000, 10, 16_384, 70_000][i % 4];
            let b = rx.recv(d, want, 0).expect("recv");
            if b.is_empty() {
                break;
            }
            assert!(b.len() <= want);
            got.extend_from_slice(&b);
            i += 1;
        }
        sender.join().unwrap();
        assert!(got == data, "stream corrupted with copyio={on}");
    }
}
