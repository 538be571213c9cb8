//! libnetgraph(3) for vimage tools: a process's way into netgraph.
//!
//! [`NgSock::mk_sock_node`] opens a control socket (which makes the kernel create
//! a node of type `socket` in the caller's vnet), optionally names that node, and
//! attaches a data socket to it — FreeBSD's `NgMkSockNode`.  Control messages go
//! out with [`NgSock::send_msg`] (binary) or [`NgSock::send_ascii_msg`] (the
//! target converts the ASCII form with `ascii2binary` first); responses and
//! unsolicited messages come back with [`NgSock::recv_msg`] and
//! [`NgSock::recv_reply`]; [`NgSock::to_ascii`] asks a node to render a message
//! with `binary2ascii`.  Frames travel through the socket node's hooks with
//! [`NgSock::send_data`] and [`NgSock::recv_data`].
//!
//! The system calls are behind [`NgTransport`], implemented by
//! [`libvimage::Sys`], so that the message logic can be tested without a kernel.

pub mod debug;

use std::collections::VecDeque;
use std::time::Duration;

use libvimage::{Sys, MSG_DONTWAIT, SOL_SOCKET, SO_RCVTIMEO};
pub use vimage_abi::netgraph::*;
pub use vimage_abi::Errno;

/// Socket type of both netgraph sockets (`SOCK_DGRAM`).
pub const SOCK_DGRAM: i32 = 2;
/// The buffer size offered to every `recvfrom` (the kernel's replies are framed
/// in at most 1 MiB, so this leaves room for the frame's own overhead).
pub const NG_RECV_LEN: usize = 512 * 1024;
/// Most unrelated messages kept aside while waiting for a reply; older ones are
/// dropped beyond this.
pub const NG_MAX_PENDING: usize = 1024;
/// The module the library loads if the kernel has no socket node type.
pub const NG_SOCKET_KLD: &str = "ng_socket";

/// The system calls libnetgraph makes: the subset of [`libvimage::Sys`] it needs.
pub trait NgTransport {
    /// `socket(2)`.
    fn socket(&mut self, domain: i32, ty: i32, proto: i32) -> Result<i32, Errno>;
    /// `close(2)`.
    fn close(&mut self, fd: i32) -> Result<(), Errno>;
    /// `bind(2)`.
    fn bind(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno>;
    /// `connect(2)`.
    fn connect(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno>;
    /// `sendto(2)`.
    fn sendto(
        &mut self,
        fd: i32,
        data: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno>;
    /// `recvfrom(2)`: data and source address image.
    fn recvfrom(&mut self, fd: i32, len: usize, flags: i32) -> Result<(Vec<u8>, Vec<u8>), Errno>;
    /// `setsockopt(2)`.
    fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno>;
    /// `kldload(2)`.
    fn kldload(&mut self, name: &str) -> Result<i32, Errno>;
}

impl NgTransport for Sys {
    fn socket(&mut self, domain: i32, ty: i32, proto: i32) -> Result<i32, Errno> {
        Sys::socket(self, domain, ty, proto)
    }
    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        Sys::close(self, fd)
    }
    fn bind(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        Sys::bind(self, fd, addr)
    }
    fn connect(&mut self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        Sys::connect(self, fd, addr)
    }
    fn sendto(
        &mut self,
        fd: i32,
        data: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        Sys::sendto(self, fd, data, flags, addr)
    }
    fn recvfrom(&mut self, fd: i32, len: usize, flags: i32) -> Result<(Vec<u8>, Vec<u8>), Errno> {
        Sys::recvfrom(self, fd, len, flags)
    }
    fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        Sys::setsockopt(self, fd, level, name, val)
    }
    fn kldload(&mut self, name: &str) -> Result<i32, Errno> {
        Sys::kldload(self, name)
    }
}

/// Message tokens: each message sent gets the next one (1, 2, …), wrapping back
/// to 1 before the value would turn negative as a C `int`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    last: u32,
}

impl Tokens {
    /// A counter whose first token is 1.
    pub fn new() -> Self {
        Tokens { last: 0 }
    }
    /// A counter whose next token follows `last`.
    pub fn starting_after(last: u32) -> Self {
        Tokens { last }
    }
    /// The next token.
    pub fn next_token(&mut self) -> u32 {
        self.last = if self.last >= i32::MAX as u32 {
            1
        } else {
            self.last + 1
        };
        self.last
    }
}

/// The generic command header libnetgraph gives a binary message: `cmdN` as the
/// command name, as `NgSendMsg` does (the number printed as a C `int`).
pub fn binary_msg(cookie: u32, cmd: u32, token: u32, data: &[u8]) -> NgMesg {
    NgMesg::new(
        cookie,
        cmd,
        &format!("cmd{}", cmd as i32),
        token,
        data.to_vec(),
    )
}

/// Split an ASCII message `"cmd args…"` into its command name and its arguments,
/// as `NgSendAsciiMsg` does: leading blanks skipped, the name ends at the first
/// blank, the arguments start after the blanks that follow it.
pub fn split_ascii(text: &str) -> (&str, &str) {
    let t = text.trim_start();
    match t.find(char::is_whitespace) {
        Some(i) => (&t[..i], t[i..].trim_start()),
        None => (t, ""),
    }
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut n = max;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// The `ascii2binary` argument for `"cmd args"`: an inner message whose command
/// name is `cmd` (cut to fit) and whose data is the NUL-terminated arguments.
pub fn ascii2binary_arg(text: &str) -> Result<Vec<u8>, Errno> {
    let (cmd, args) = split_ascii(text);
    let mut data = args.as_bytes().to_vec();
    if data.contains(&0) {
        return Err(Errno::EINVAL);
    }
    data.push(0);
    NgMesg::new(0, 0, truncate(cmd, NG_CMDSTRSIZ - 1), 0, data).to_bytes()
}

/// The text a `binary2ascii` reply carries (its data up to the first NUL).
pub fn ascii_text(m: &NgMesg) -> String {
    let n = m.data.iter().position(|&c| c == 0).unwrap_or(m.data.len());
    String::from_utf8_lossy(&m.data[..n]).into_owned()
}

/// A socket node: the control socket `cs` and the data socket `ds` attached to it.
pub struct NgSock<T: NgTransport = Sys> {
    /// The system call gate.
    pub sys: T,
    /// The control socket (messages); -1 once closed.
    pub cs: i32,
    /// The data socket (frames); -1 once closed.
    pub ds: i32,
    /// The socket node's ID.
    pub id: u32,
    tokens: Tokens,
    pending: VecDeque<(NgMesg, String)>,
    debug: i32,
}

impl<T: NgTransport> NgSock<T> {
    /// `NgMkSockNode`: create a socket node, name it `name` (none if `None` or
    /// empty), and attach a data socket to it by ID.  Every socket opened is
    /// closed again on failure.
    pub fn mk_sock_node(sys: T, name: Option<&str>) -> Result<Self, Errno> {
        Self::mk_sock_node_debug(sys, name, 0)
    }

    /// [`NgSock::mk_sock_node`] with a debug level already set (so that the
    /// node's creation is logged too).
    pub fn mk_sock_node_debug(sys: T, name: Option<&str>, debug: i32) -> Result<Self, Errno> {
        let mut s = NgSock {
            sys,
            cs: -1,
            ds: -1,
            id: 0,
            tokens: Tokens::new(),
            pending: VecDeque::new(),
            debug,
        };
        match s.open(name.filter(|n| !n.is_empty())) {
            Ok(()) => Ok(s),
            Err(e) => {
                s.close_fds();
                Err(e)
            }
        }
    }

    fn open(&mut self, name: Option<&str>) -> Result<(), Errno> {
        self.cs = match self.sys.socket(PF_NETGRAPH, SOCK_DGRAM, NG_CONTROL) {
            Ok(fd) => fd,
            Err(Errno::EPROTONOSUPPORT) => {
                if let Err(e) = self.sys.kldload(NG_SOCKET_KLD) {
                    self.log_err(&format!("can't load {NG_SOCKET_KLD}"), e);
                    return Err(e);
                }
                self.sys
                    .socket(PF_NETGRAPH, SOCK_DGRAM, NG_CONTROL)
                    .inspect_err(|&e| self.log_err("socket", e))?
            }
            Err(e) => {
                self.log_err("socket", e);
                return Err(e);
            }
        };
        if let Some(name) = name {
            let sa = SockaddrNg { data: name.into() }.to_bytes()?;
            self.sys
                .bind(self.cs, &sa)
                .inspect_err(|&e| self.log_err(&format!("bind({name})"), e))?;
        }
        let token = self
            .send_msg(".", NGM_GENERIC_COOKIE, NGM_NODEINFO, &[])
            .inspect_err(|&e| self.log_err("send nodeinfo", e))?;
        let (rep, _) = self
            .recv_reply(token, 0)
            .inspect_err(|&e| self.log_err("recv nodeinfo", e))?;
        self.id = NodeInfo::from_bytes(&rep.data)?.id;
        self.ds = self
            .sys
            .socket(PF_NETGRAPH, SOCK_DGRAM, NG_DATA)
            .inspect_err(|&e| self.log_err("socket", e))?;
        let at = format!("[{:x}]:", self.id);
        let sa = SockaddrNg { data: at.clone() }.to_bytes()?;
        self.sys
            .connect(self.ds, &sa)
            .inspect_err(|&e| self.log_err(&format!("connect({at})"), e))?;
        Ok(())
    }

    fn close_fds(&mut self) {
        for fd in [self.ds, self.cs] {
            if fd >= 0 {
                let _ = self.sys.close(fd);
            }
        }
        self.cs = -1;
        self.ds = -1;
    }

    /// Close both sockets (the kernel then shuts the socket node down); dropping
    /// the `NgSock` does the same.
    pub fn close(&mut self) {
        self.close_fds();
    }

    /// `NgSetDebug`: set the debug level if `level` is not negative; returns the
    /// previous level.  At 1 failed system calls are logged, at 2 and above every
    /// message and frame too.
    pub fn set_debug(&mut self, level: i32) -> i32 {
        let old = self.debug;
        if level >= 0 {
            self.debug = level;
        }
        old
    }

    /// The current debug level.
    pub fn debug_level(&self) -> i32 {
        self.debug
    }

    fn log(&self, line: &str) {
        libvimage::warnx(line);
    }

    fn log_err(&self, what: &str, e: Errno) {
        if self.debug >= 1 {
            libvimage::warn(what, e);
        }
    }

    fn log_msg(&self, head: &str, m: &NgMesg, addr: &str) {
        if self.debug >= 2 {
            let kind = if m.is_resp() { "RESPONSE" } else { "MESSAGE" };
            self.log(&format!("{head} {kind}:"));
            self.log(&debug::sockaddr_line(addr));
            for l in debug::msg_lines(m) {
                self.log(&l);
            }
        }
    }

    /// Set (or with `None` clear) a receive timeout on the control socket
    /// (`SO_RCVTIMEO`): a blocking receive then fails with `EAGAIN` after it.
    pub fn set_recv_timeout(&mut self, d: Option<Duration>) -> Result<(), Errno> {
        let tv = libvimage::timeval_bytes(d.unwrap_or(Duration::ZERO));
        self.sys.setsockopt(self.cs, SOL_SOCKET, SO_RCVTIMEO, &tv)
    }

    /// Hand out the next message token.
    pub fn next_token(&mut self) -> u32 {
        self.tokens.next_token()
    }

    /// Send a complete message to `path` as it is (token included).
    pub fn deliver(&mut self, path: &str, m: &NgMesg) -> Result<(), Errno> {
        let sa = SockaddrNg { data: path.into() }.to_bytes()?;
        let b = m.to_bytes()?;
        self.log_msg("SENDING", m, path);
        self.sys
            .sendto(self.cs, &b, 0, Some(&sa))
            .inspect_err(|&e| self.log_err(&format!("sendto({path})"), e))?;
        Ok(())
    }

    /// `NgSendMsg`: send command `cmd` of the set `cookie` with argument `data` to
    /// the node at `path`; returns the message's token.  Errors of addressing and
    /// of the target node come back from here.
    pub fn send_msg(
        &mut self,
        path: &str,
        cookie: u32,
        cmd: u32,
        data: &[u8],
    ) -> Result<u32, Errno> {
        let token = self.next_token();
        self.deliver(path, &binary_msg(cookie, cmd, token, data))?;
        Ok(token)
    }

    /// `NgSendAsciiMsg`: send `"cmd args…"` to the node at `path`.  The node first
    /// converts it (`ascii2binary`); the binary message is then sent with a fresh
    /// token, which is returned.
    pub fn send_ascii_msg(&mut self, path: &str, text: &str) -> Result<u32, Errno> {
        let arg = ascii2binary_arg(text)?;
        let token = self.send_msg(path, NGM_GENERIC_COOKIE, NGM_ASCII2BINARY, &arg)?;
        let (rep, _) = self.recv_reply(token, 0)?;
        let mut bin = NgMesg::from_bytes(&rep.data)?;
        bin.header.version = NG_VERSION;
        bin.header.token = self.next_token();
        self.deliver(path, &bin)?;
        Ok(bin.header.token)
    }

    /// Send `name` to the node at `path` (`NgNameNode`).
    pub fn name_node(&mut self, path: &str, name: &str) -> Result<(), Errno> {
        let arg = NgmName { name: name.into() }.to_bytes()?;
        self.send_msg(path, NGM_GENERIC_COOKIE, NGM_NAME, &arg)
            .map(|_| ())
    }

    fn recv_raw(&mut self, flags: i32) -> Result<(NgMesg, String), Errno> {
        let (data, addr) = self
            .sys
            .recvfrom(self.cs, NG_RECV_LEN, flags)
            .inspect_err(|&e| {
                if e != Errno::EAGAIN {
                    self.log_err("recvfrom", e)
                }
            })?;
        let path = if addr.is_empty() {
            String::new()
        } else {
            SockaddrNg::from_bytes(&addr)?.data
        };
        let m = NgMesg::from_bytes(&data)?;
        self.log_msg("RECEIVED", &m, &path);
        Ok((m, path))
    }

    fn keep(&mut self, m: (NgMesg, String)) {
        if self.pending.len() >= NG_MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(m);
    }

    /// `NgRecvMsg`: the next message for the socket node (one kept aside while
    /// waiting for a reply comes first) and the address of its sender.  Blocks
    /// unless `flags` has `MSG_DONTWAIT` (then `EAGAIN` when none is queued).
    pub fn recv_msg(&mut self, flags: i32) -> Result<(NgMesg, String), Errno> {
        match self.pending.pop_front() {
            Some(m) => Ok(m),
            None => self.recv_raw(flags),
        }
    }

    /// The response carrying `token`.  Messages that arrive first are kept for
    /// [`NgSock::recv_msg`].
    pub fn recv_reply(&mut self, token: u32, flags: i32) -> Result<(NgMesg, String), Errno> {
        let is_it = |m: &NgMesg| m.is_resp() && m.header.token == token;
        if let Some(i) = self.pending.iter().position(|(m, _)| is_it(m)) {
            if let Some(m) = self.pending.remove(i) {
                return Ok(m);
            }
        }
        loop {
            let m = self.recv_raw(flags)?;
            if is_it(&m.0) {
                return Ok(m);
            }
            self.keep(m);
        }
    }

    /// Whether a message is waiting (kept aside or queued) without blocking; a
    /// queued one is moved aside so that [`NgSock::recv_msg`] returns it next.
    pub fn msg_ready(&mut self) -> Result<bool, Errno> {
        if !self.pending.is_empty() {
            return Ok(true);
        }
        match self.recv_raw(MSG_DONTWAIT) {
            Ok(m) => {
                self.keep(m);
                Ok(true)
            }
            Err(Errno::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Send a message and wait for its response: the response and its sender.
    pub fn request(
        &mut self,
        path: &str,
        cookie: u32,
        cmd: u32,
        data: &[u8],
    ) -> Result<(NgMesg, String), Errno> {
        let token = self.send_msg(path, cookie, cmd, data)?;
        self.recv_reply(token, 0)
    }

    /// Ask the node at `path` to render `m` in ASCII (`binary2ascii`): the reply's
    /// inner message, whose header names the command and whose data is the text
    /// (see [`ascii_text`]).
    pub fn to_ascii(&mut self, path: &str, m: &NgMesg) -> Result<NgMesg, Errno> {
        let (rep, _) = self.request(path, NGM_GENERIC_COOKIE, NGM_BINARY2ASCII, &m.to_bytes()?)?;
        NgMesg::from_bytes(&rep.data)
    }

    /// `NgRecvAsciiMsg`: the next message, its sender, and its ASCII form as the
    /// sender renders it.
    pub fn recv_ascii_msg(&mut self, flags: i32) -> Result<(NgMesg, String, NgMesg), Errno> {
        let (m, path) = self.recv_msg(flags)?;
        let a = self.to_ascii(&path, &m)?;
        Ok((m, path, a))
    }

    /// `NgSendData`: send `data` out of the socket node's hook `hook`.
    pub fn send_data(&mut self, hook: &str, data: &[u8]) -> Result<(), Errno> {
        let sa = SockaddrNg { data: hook.into() }.to_bytes()?;
        if self.debug >= 2 {
            self.log(&format!(
                "WRITE PACKET to hook \"{hook}\" ({} bytes)",
                data.len()
            ));
            self.log(&debug::sockaddr_line(hook));
            if self.debug >= 3 {
                for l in debug::bytes_lines(data) {
                    self.log(&l);
                }
            }
        }
        self.sys
            .sendto(self.ds, data, 0, Some(&sa))
            .inspect_err(|&e| self.log_err(&format!("sendto({hook})"), e))?;
        Ok(())
    }

    /// `NgRecvData`: the next frame that reached the socket node and the hook it
    /// came in on.  Blocks unless `flags` has `MSG_DONTWAIT`.
    pub fn recv_data(&mut self, flags: i32) -> Result<(Vec<u8>, String), Errno> {
        let (data, addr) = self
            .sys
            .recvfrom(self.ds, NG_RECV_LEN, flags)
            .inspect_err(|&e| {
                if e != Errno::EAGAIN {
                    self.log_err("recvfrom", e)
                }
            })?;
        let hook = if addr.is_empty() {
            String::new()
        } else {
            SockaddrNg::from_bytes(&addr)?.data
        };
        if self.debug >= 2 {
            let what = if data.is_empty() { "EOF" } else { "PACKET" };
            self.log(&format!(
                "READ {what} from hook \"{hook}\" ({} bytes)",
                data.len()
            ));
            if self.debug >= 3 {
                for l in debug::bytes_lines(&data) {
                    self.log(&l);
                }
            }
        }
        Ok((data, hook))
    }
}

impl<T: NgTransport> Drop for NgSock<T> {
    fn drop(&mut self) {
        self.close_fds();
    }
}

#[cfg(test)]
mod tests;
