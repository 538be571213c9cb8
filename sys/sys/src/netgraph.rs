//! Netgraph definitions shared by the kernel and userland (ngctl, libnetgraph):
//! sizes, the control-message header, the generic commands and their binary
//! argument/response layouts, and the netgraph socket address.
//!
//! Multi-byte integers are in host byte order on FreeBSD; vkernel and its tools
//! always run on the same machine, so here they are little-endian (as in
//! [`crate::wire`]).  Every decoder checks lengths and yields `EINVAL` on
//! malformed input; fixed string fields are NUL-padded and a name that does not
//! fit with its NUL is `EINVAL`.

use crate::Errno;

/// Longest node type name, including the NUL.
pub const NG_TYPESIZ: usize = 32;
/// Longest hook name, including the NUL.
pub const NG_HOOKSIZ: usize = 32;
/// Longest node name, including the NUL.
pub const NG_NODESIZ: usize = 32;
/// Longest command name, including the NUL.
pub const NG_CMDSTRSIZ: usize = 32;
/// Longest netgraph address, including the NUL.
pub const NG_PATHSIZ: usize = 512;
/// Room allowed for a text (status/config) reply.
pub const NG_TEXTRESPONSE: usize = 1024;
/// Version carried by every control message header.
pub const NG_VERSION: u8 = 8;
/// Size of the control message header (4 bytes of version/spares, five u32 fields,
/// the 32-byte command name; the field table of the reference sums to 56).
pub const NG_MESG_HDRSIZ: usize = 56;
/// Largest argument accepted in one control message (a bound on hostile lengths).
pub const NG_MAX_ARGLEN: usize = 1 << 20;

/// Header flag: the message is a request.
pub const NGF_ORIG: u32 = 0;
/// Header flag: the message is a response.
pub const NGF_RESP: u32 = 1;
/// Command bit: the command does not change the node.
pub const NGM_READONLY: u32 = 0x1000_0000;
/// Command bit: the command is answered with a response.
pub const NGM_HASREPLY: u32 = 0x2000_0000;

/// Type cookie of the generic command set understood by every node.
pub const NGM_GENERIC_COOKIE: u32 = 1_137_070_366;
/// Generic command: shut the node down.
pub const NGM_SHUTDOWN: u32 = 1;
/// Generic command: create a node and connect it ([`NgmMkpeer`]).
pub const NGM_MKPEER: u32 = 2;
/// Generic command: connect two existing nodes ([`NgmConnect`]).
pub const NGM_CONNECT: u32 = 3;
/// Generic command: name the node ([`NgmName`]).
pub const NGM_NAME: u32 = 4;
/// Generic command: remove a hook ([`NgmRmhook`]).
pub const NGM_RMHOOK: u32 = 5;
/// Generic command: describe the node ([`NodeInfo`] reply).
pub const NGM_NODEINFO: u32 = 6 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: list the node's hooks ([`HookList`] reply).
pub const NGM_LISTHOOKS: u32 = 7 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: list named nodes ([`NameList`] reply).
pub const NGM_LISTNAMES: u32 = 8 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: list all nodes ([`NameList`] reply).
pub const NGM_LISTNODES: u32 = 9 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: list installed types ([`TypeList`] reply).
pub const NGM_LISTTYPES: u32 = 10 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: NUL-terminated status text.
pub const NGM_TEXT_STATUS: u32 = 11 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: convert a binary message to its ASCII form.
pub const NGM_BINARY2ASCII: u32 = 12 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: convert an ASCII message to its binary form.
pub const NGM_ASCII2BINARY: u32 = 13 | NGM_READONLY | NGM_HASREPLY;
/// Generic command: text configuration.
pub const NGM_TEXT_CONFIG: u32 = 14;

/// Type cookie of the flow-control command set.
pub const NGM_FLOW_COOKIE: u32 = 851_672_669;
/// Flow control: the link came up.
pub const NGM_LINK_IS_UP: u32 = 32;
/// Flow control: the link went down.
pub const NGM_LINK_IS_DOWN: u32 = 33;
/// Flow control: high water mark passed.
pub const NGM_HIGH_WATER_PASSED: u32 = 34;
/// Flow control: low water mark passed.
pub const NGM_LOW_WATER_PASSED: u32 = 35;
/// Flow control: synchronise queue state.
pub const NGM_SYNC_QUEUE_STATE: u32 = 36;
/// Flow control: drop the link.
pub const NGM_DROP_LINK: u32 = 41;
/// Flow control: raise the link.
pub const NGM_RAISE_LINK: u32 = 42;
/// Flow control: flush the queue.
pub const NGM_FLUSH_QUEUE: u32 = 43;
/// Flow control: report bandwidth.
pub const NGM_GET_BANDWIDTH: u32 = 44 | NGM_READONLY;
/// Flow control: set transmit queue limits.
pub const NGM_SET_XMIT_Q_LIMITS: u32 = 45;
/// Flow control: get transmit queue limits.
pub const NGM_GET_XMIT_Q_LIMITS: u32 = 46 | NGM_READONLY;
/// Flow control: micromanage.
pub const NGM_MICROMANAGE: u32 = 47;
/// Flow control: set the flow manager.
pub const NGM_SET_FLOW_MANAGER: u32 = 48;

/// Protocol and address family of netgraph sockets.
pub const PF_NETGRAPH: i32 = 32;
/// Address family of netgraph sockets.
pub const AF_NETGRAPH: u8 = 32;
/// Netgraph socket protocol: data.
pub const NG_DATA: i32 = 1;
/// Netgraph socket protocol: control messages.
pub const NG_CONTROL: i32 = 2;
/// Type name of the socket node.
pub const NG_SOCKET_NODE_TYPE: &str = "socket";
/// Type cookie of the socket node.
pub const NGM_SOCKET_COOKIE: u32 = 851_601_233;
/// Socket node command: shut the node down when its last hook goes.
pub const NGM_SOCK_CMD_NOLINGER: u32 = 1;
/// Socket node command: keep the node when its last hook goes (default).
pub const NGM_SOCK_CMD_LINGER: u32 = 2;

/// Write `s` into a NUL-padded field of `size` bytes; `EINVAL` if it does not fit.
pub fn put_fixed(out: &mut Vec<u8>, s: &str, size: usize) -> Result<(), Errno> {
    let b = s.as_bytes();
    if b.len() >= size || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    out.extend_from_slice(b);
    out.resize(out.len() + size - b.len(), 0);
    Ok(())
}

/// Read a NUL-terminated string from a fixed field.  A missing NUL is tolerated
/// the way the kernel forces termination (it stores a NUL in the last byte), so
/// the string is at most `field.len() - 1` bytes and always fits back in the field.
pub fn get_fixed(field: &[u8]) -> Result<String, Errno> {
    let body = &field[..field.len().saturating_sub(1)];
    let n = body.iter().position(|&c| c == 0).unwrap_or(body.len());
    std::str::from_utf8(&body[..n])
        .map(str::to_owned)
        .map_err(|_| Errno::EINVAL)
}

/// A checked cursor over a netgraph structure.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if n > self.0.len() {
            return Err(Errno::EINVAL);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, Errno> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn fixed(&mut self, n: usize) -> Result<String, Errno> {
        get_fixed(self.take(n)?)
    }
    fn end(&self) -> Result<(), Errno> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
}

/// The 56-byte header of a netgraph control message (`struct ng_mesg`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgMesgHeader {
    /// Header version, always [`NG_VERSION`].
    pub version: u8,
    /// Number of argument bytes that follow the header.
    pub arglen: u32,
    /// Command number, including the NGM_READONLY / NGM_HASREPLY bits.
    pub cmd: u32,
    /// [`NGF_ORIG`] or [`NGF_RESP`].
    pub flags: u32,
    /// Sender-chosen token, echoed in the response.
    pub token: u32,
    /// Type cookie of the command set `cmd` belongs to.
    pub typecookie: u32,
    /// Command name (informational), at most 31 bytes.
    pub cmdstr: String,
}

impl NgMesgHeader {
    /// A request header for `cookie`/`cmd` named `cmdstr` with `arglen` bytes of argument.
    pub fn new(cookie: u32, cmd: u32, cmdstr: &str, token: u32, arglen: u32) -> Self {
        NgMesgHeader {
            version: NG_VERSION,
            arglen,
            cmd,
            flags: NGF_ORIG,
            token,
            typecookie: cookie,
            cmdstr: cmdstr.to_owned(),
        }
    }

    /// Decode the header at the start of `b`; `EINVAL` if short or of another version.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let head = c.take(4)?;
        if head[0] != NG_VERSION {
            return Err(Errno::EINVAL);
        }
        let arglen = c.u32()?;
        let cmd = c.u32()?;
        let flags = c.u32()?;
        let token = c.u32()?;
        let typecookie = c.u32()?;
        let cmdstr = c.fixed(NG_CMDSTRSIZ)?;
        if arglen as usize > NG_MAX_ARGLEN {
            return Err(Errno::EINVAL);
        }
        Ok(NgMesgHeader {
            version: head[0],
            arglen,
            cmd,
            flags,
            token,
            typecookie,
            cmdstr,
        })
    }

    /// Encode the header (56 bytes); a command name of 32 bytes or more is `EINVAL`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(NG_MESG_HDRSIZ);
        v.extend_from_slice(&[self.version, 0, 0, 0]);
        for x in [
            self.arglen,
            self.cmd,
            self.flags,
            self.token,
            self.typecookie,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        put_fixed(&mut v, &self.cmdstr, NG_CMDSTRSIZ)?;
        Ok(v)
    }
}

/// A whole control message: header plus argument bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgMesg {
    /// The header; `header.arglen` always equals `data.len()` after decoding.
    pub header: NgMesgHeader,
    /// The argument (or response) bytes.
    pub data: Vec<u8>,
}

impl NgMesg {
    /// A request message; `arglen` is taken from `data`.
    pub fn new(cookie: u32, cmd: u32, cmdstr: &str, token: u32, data: Vec<u8>) -> Self {
        NgMesg {
            header: NgMesgHeader::new(cookie, cmd, cmdstr, token, data.len() as u32),
            data,
        }
    }

    /// Decode a message; the argument must be exactly `arglen` bytes (`EINVAL` otherwise).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let header = NgMesgHeader::from_bytes(b)?;
        let rest = b.get(NG_MESG_HDRSIZ..).ok_or(Errno::EINVAL)?;
        if rest.len() != header.arglen as usize {
            return Err(Errno::EINVAL);
        }
        Ok(NgMesg {
            header,
            data: rest.to_vec(),
        })
    }

    /// Encode header and data; `arglen` is written as `data.len()`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        if self.data.len() > NG_MAX_ARGLEN {
            return Err(Errno::EINVAL);
        }
        let mut h = self.header.clone();
        h.arglen = self.data.len() as u32;
        let mut v = h.to_bytes()?;
        v.extend_from_slice(&self.data);
        Ok(v)
    }

    /// Whether this is a response.
    pub fn is_resp(&self) -> bool {
        self.header.flags & NGF_RESP != 0
    }
}

/// Argument of `mkpeer`: type of the new node, our hook, its hook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgmMkpeer {
    /// Type of node to create.
    pub type_name: String,
    /// Hook on the addressed node.
    pub ourhook: String,
    /// Hook on the new node.
    pub peerhook: String,
}

impl NgmMkpeer {
    /// Size of the binary form.
    pub const SIZE: usize = NG_TYPESIZ + 2 * NG_HOOKSIZ;
    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(Self::SIZE);
        put_fixed(&mut v, &self.type_name, NG_TYPESIZ)?;
        put_fixed(&mut v, &self.ourhook, NG_HOOKSIZ)?;
        put_fixed(&mut v, &self.peerhook, NG_HOOKSIZ)?;
        Ok(v)
    }
    /// Decode; the size must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let r = NgmMkpeer {
            type_name: c.fixed(NG_TYPESIZ)?,
            ourhook: c.fixed(NG_HOOKSIZ)?,
            peerhook: c.fixed(NG_HOOKSIZ)?,
        };
        c.end()?;
        Ok(r)
    }
}

/// Argument of `connect`: path of the other node, our hook, its hook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgmConnect {
    /// Address of the peer node, relative to the addressed node.
    pub path: String,
    /// Hook on the addressed node.
    pub ourhook: String,
    /// Hook on the peer node.
    pub peerhook: String,
}

impl NgmConnect {
    /// Size of the binary form.
    pub const SIZE: usize = NG_PATHSIZ + 2 * NG_HOOKSIZ;
    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(Self::SIZE);
        put_fixed(&mut v, &self.path, NG_PATHSIZ)?;
        put_fixed(&mut v, &self.ourhook, NG_HOOKSIZ)?;
        put_fixed(&mut v, &self.peerhook, NG_HOOKSIZ)?;
        Ok(v)
    }
    /// Decode; the size must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let r = NgmConnect {
            path: c.fixed(NG_PATHSIZ)?,
            ourhook: c.fixed(NG_HOOKSIZ)?,
            peerhook: c.fixed(NG_HOOKSIZ)?,
        };
        c.end()?;
        Ok(r)
    }
}

/// Argument of `name`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgmName {
    /// The new node name.
    pub name: String,
}

impl NgmName {
    /// Size of the binary form.
    pub const SIZE: usize = NG_NODESIZ;
    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(Self::SIZE);
        put_fixed(&mut v, &self.name, NG_NODESIZ)?;
        Ok(v)
    }
    /// Decode; the size must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let r = NgmName {
            name: c.fixed(NG_NODESIZ)?,
        };
        c.end()?;
        Ok(r)
    }
}

/// Argument of `rmhook`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NgmRmhook {
    /// The hook to remove.
    pub ourhook: String,
}

impl NgmRmhook {
    /// Size of the binary form.
    pub const SIZE: usize = NG_HOOKSIZ;
    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(Self::SIZE);
        put_fixed(&mut v, &self.ourhook, NG_HOOKSIZ)?;
        Ok(v)
    }
    /// Decode; the size must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let r = NgmRmhook {
            ourhook: c.fixed(NG_HOOKSIZ)?,
        };
        c.end()?;
        Ok(r)
    }
}

/// Description of one node (`struct nodeinfo`); an empty name means unnamed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// Node name, empty if unnamed.
    pub name: String,
    /// Type name.
    pub type_name: String,
    /// Node ID.
    pub id: u32,
    /// Number of hooks.
    pub hooks: u32,
}

impl NodeInfo {
    /// Size of the binary form.
    pub const SIZE: usize = NG_NODESIZ + NG_TYPESIZ + 8;
    /// Append the binary form to `v`.
    pub fn encode(&self, v: &mut Vec<u8>) -> Result<(), Errno> {
        put_fixed(v, &self.name, NG_NODESIZ)?;
        put_fixed(v, &self.type_name, NG_TYPESIZ)?;
        v.extend_from_slice(&self.id.to_le_bytes());
        v.extend_from_slice(&self.hooks.to_le_bytes());
        Ok(())
    }
    fn decode(c: &mut Cur<'_>) -> Result<Self, Errno> {
        Ok(NodeInfo {
            name: c.fixed(NG_NODESIZ)?,
            type_name: c.fixed(NG_TYPESIZ)?,
            id: c.u32()?,
            hooks: c.u32()?,
        })
    }
    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(Self::SIZE);
        self.encode(&mut v)?;
        Ok(v)
    }
    /// Decode; the size must match exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let r = Self::decode(&mut c)?;
        c.end()?;
        Ok(r)
    }
}

/// One hook in a [`HookList`] (`struct linkinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkInfo {
    /// Hook name on the listed node.
    pub ourhook: String,
    /// Hook name on the peer.
    pub peerhook: String,
    /// The peer node.
    pub nodeinfo: NodeInfo,
}

impl LinkInfo {
    /// Size of the binary form.
    pub const SIZE: usize = 2 * NG_HOOKSIZ + NodeInfo::SIZE;
}

/// Reply of `listhooks`: the node, then one entry per hook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookList {
    /// The listed node; `nodeinfo.hooks` is the number of entries.
    pub nodeinfo: NodeInfo,
    /// One entry per hook.
    pub links: Vec<LinkInfo>,
}

impl HookList {
    /// Encode (the hook count is taken from `links`).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(NodeInfo::SIZE + self.links.len() * LinkInfo::SIZE);
        let mut ni = self.nodeinfo.clone();
        ni.hooks = self.links.len() as u32;
        ni.encode(&mut v)?;
        for l in &self.links {
            put_fixed(&mut v, &l.ourhook, NG_HOOKSIZ)?;
            put_fixed(&mut v, &l.peerhook, NG_HOOKSIZ)?;
            l.nodeinfo.encode(&mut v)?;
        }
        Ok(v)
    }
    /// Decode; the size must match the hook count exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let nodeinfo = NodeInfo::decode(&mut c)?;
        let n = nodeinfo.hooks as usize;
        if c.0.len() != n.checked_mul(LinkInfo::SIZE).ok_or(Errno::EINVAL)? {
            return Err(Errno::EINVAL);
        }
        let mut links = Vec::with_capacity(n);
        for _ in 0..n {
            links.push(LinkInfo {
                ourhook: c.fixed(NG_HOOKSIZ)?,
                peerhook: c.fixed(NG_HOOKSIZ)?,
                nodeinfo: NodeInfo::decode(&mut c)?,
            });
        }
        Ok(HookList { nodeinfo, links })
    }
}

/// Reply of `listnames` / `listnodes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameList {
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
}

impl NameList {
    /// Encode (a u32 count, then the entries).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(4 + self.nodes.len() * NodeInfo::SIZE);
        v.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for n in &self.nodes {
            n.encode(&mut v)?;
        }
        Ok(v)
    }
    /// Decode; the size must match the count exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let n = c.u32()? as usize;
        if c.0.len() != n.checked_mul(NodeInfo::SIZE).ok_or(Errno::EINVAL)? {
            return Err(Errno::EINVAL);
        }
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(NodeInfo::decode(&mut c)?);
        }
        Ok(NameList { nodes })
    }
}

/// One installed type (`struct typeinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeInfo {
    /// Type name.
    pub type_name: String,
    /// Number of nodes of this type (in the asking space).
    pub numnodes: u32,
}

impl TypeInfo {
    /// Size of the binary form.
    pub const SIZE: usize = NG_TYPESIZ + 4;
}

/// Reply of `listtypes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeList {
    /// The types.
    pub types: Vec<TypeInfo>,
}

impl TypeList {
    /// Encode (a u32 count, then the entries).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut v = Vec::with_capacity(4 + self.types.len() * TypeInfo::SIZE);
        v.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        for t in &self.types {
            put_fixed(&mut v, &t.type_name, NG_TYPESIZ)?;
            v.extend_from_slice(&t.numnodes.to_le_bytes());
        }
        Ok(v)
    }
    /// Decode; the size must match the count exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut c = Cur(b);
        let n = c.u32()? as usize;
        if c.0.len() != n.checked_mul(TypeInfo::SIZE).ok_or(Errno::EINVAL)? {
            return Err(Errno::EINVAL);
        }
        let mut types = Vec::with_capacity(n);
        for _ in 0..n {
            types.push(TypeInfo {
                type_name: c.fixed(NG_TYPESIZ)?,
                numnodes: c.u32()?,
            });
        }
        Ok(TypeList { types })
    }
}

/// A netgraph socket address (`struct sockaddr_ng`): a netgraph path or hook name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SockaddrNg {
    /// The address text (node path for control sockets, hook name for data sockets).
    pub data: String,
}

impl SockaddrNg {
    /// Encode as `sg_len, sg_family, sg_data` with a terminating NUL; `EINVAL` if the
    /// address does not fit in [`NG_PATHSIZ`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let b = self.data.as_bytes();
        if b.len() >= NG_PATHSIZ || b.contains(&0) {
            return Err(Errno::EINVAL);
        }
        let len = 2 + b.len() + 1;
        let sg_len = u8::try_from(len.min(255)).map_err(|_| Errno::EINVAL)?;
        let mut v = Vec::with_capacity(len);
        v.push(sg_len);
        v.push(AF_NETGRAPH);
        v.extend_from_slice(b);
        v.push(0);
        Ok(v)
    }

    /// Decode; the family must be `AF_NETGRAPH`; the address ends at the first NUL
    /// or at the end of the buffer.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() < 2 || b[1] != AF_NETGRAPH {
            return Err(Errno::EINVAL);
        }
        let rest = &b[2..];
        let n = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        if n >= NG_PATHSIZ {
            return Err(Errno::EINVAL);
        }
        let data = std::str::from_utf8(&rest[..n])
            .map_err(|_| Errno::EINVAL)?
            .to_owned();
        Ok(SockaddrNg { data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ni(name: &str, t: &str, id: u32, hooks: u32) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            type_name: t.into(),
            id,
            hooks,
        }
    }

    #[test]
    fn header_round_trip() {
        let m = NgMesg::new(
            NGM_GENERIC_COOKIE,
            NGM_NODEINFO,
            "nodeinfo",
            7,
            vec![1, 2, 3],
        );
        let b = m.to_bytes().unwrap();
        assert_eq!(b.len(), NG_MESG_HDRSIZ + 3);
        assert_eq!(b[0], NG_VERSION);
        assert_eq!(&b[4..8], &3u32.to_le_bytes());
        assert_eq!(&b[24..32], b"nodeinfo");
        let d = NgMesg::from_bytes(&b).unwrap();
        assert_eq!(d, m);
        assert!(!d.is_resp());
    }

    #[test]
    fn header_errors() {
        let m = NgMesg::new(1, 2, "x", 0, vec![9; 4]);
        let b = m.to_bytes().unwrap();
        assert_eq!(NgMesg::from_bytes(&b[..10]), Err(Errno::EINVAL));
        assert_eq!(NgMesg::from_bytes(&b[..b.len() - 1]), Err(Errno::EINVAL));
        let mut long = b.clone();
        long.push(0);
        assert_eq!(NgMesg::from_bytes(&long), Err(Errno::EINVAL));
        let mut badv = b.clone();
        badv[0] = 7;
        assert_eq!(NgMesg::from_bytes(&badv), Err(Errno::EINVAL));
        let mut huge = b.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(NgMesgHeader::from_bytes(&huge), Err(Errno::EINVAL));
        let h = NgMesgHeader::new(1, 2, &"c".repeat(32), 0, 0);
        assert_eq!(h.to_bytes(), Err(Errno::EINVAL));
    }

    #[test]
    fn args_round_trip() {
        let mk = NgmMkpeer {
            type_name: "eiface".into(),
            ourhook: "ether".into(),
            peerhook: "ether".into(),
        };
        let b = mk.to_bytes().unwrap();
        assert_eq!(b.len(), NgmMkpeer::SIZE);
        assert_eq!(NgmMkpeer::from_bytes(&b).unwrap(), mk);
        assert_eq!(NgmMkpeer::from_bytes(&b[1..]), Err(Errno::EINVAL));

        let co = NgmConnect {
            path: "bridge0:".into(),
            ourhook: "upper".into(),
            peerhook: "link1".into(),
        };
        let b = co.to_bytes().unwrap();
        assert_eq!(b.len(), 576);
        assert_eq!(NgmConnect::from_bytes(&b).unwrap(), co);

        let nm = NgmName {
            name: "bridge0".into(),
        };
        assert_eq!(NgmName::from_bytes(&nm.to_bytes().unwrap()).unwrap(), nm);
        let bad = NgmName {
            name: "x".repeat(32),
        };
        assert_eq!(bad.to_bytes(), Err(Errno::EINVAL));

        let rh = NgmRmhook {
            ourhook: "link0".into(),
        };
        assert_eq!(NgmRmhook::from_bytes(&rh.to_bytes().unwrap()).unwrap(), rh);
    }

    #[test]
    fn lists_round_trip() {
        let n = ni("em0", "ether", 0x3a, 2);
        let b = n.to_bytes().unwrap();
        assert_eq!(b.len(), 72);
        assert_eq!(NodeInfo::from_bytes(&b).unwrap(), n);

        let hl = HookList {
            nodeinfo: ni("em0", "ether", 0x3a, 2),
            links: vec![
                LinkInfo {
                    ourhook: "lower".into(),
                    peerhook: "link0".into(),
                    nodeinfo: ni("bridge0", "bridge", 0x3f, 4),
                },
                LinkInfo {
                    ourhook: "upper".into(),
                    peerhook: "link1".into(),
                    nodeinfo: ni("bridge0", "bridge", 0x3f, 4),
                },
            ],
        };
        let b = hl.to_bytes().unwrap();
        assert_eq!(b.len(), 72 + 2 * 136);
        assert_eq!(HookList::from_bytes(&b).unwrap(), hl);
        assert_eq!(HookList::from_bytes(&b[..b.len() - 1]), Err(Errno::EINVAL));

        let nl = NameList {
            nodes: vec![n.clone(), ni("", "bridge", 5, 0)],
        };
        let b = nl.to_bytes().unwrap();
        assert_eq!(NameList::from_bytes(&b).unwrap(), nl);
        let mut bad = b.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(NameList::from_bytes(&bad), Err(Errno::EINVAL));

        let tl = TypeList {
            types: vec![TypeInfo {
                type_name: "socket".into(),
                numnodes: 1,
            }],
        };
        let b = tl.to_bytes().unwrap();
        assert_eq!(b.len(), 4 + 36);
        assert_eq!(TypeList::from_bytes(&b).unwrap(), tl);
        assert_eq!(TypeList::from_bytes(&b[..3]), Err(Errno::EINVAL));
    }

    #[test]
    fn unterminated_fields_are_cut_like_the_kernel_does() {
        // Found by fuzzing: a 32-byte name without a NUL decoded to 32 bytes, which
        // no longer fits its field (the message could not be encoded again).
        let b = [b'x'; NG_NODESIZ];
        let n = NgmName::from_bytes(&b).unwrap();
        assert_eq!(n.name, "x".repeat(NG_NODESIZ - 1));
        assert_eq!(NgmName::from_bytes(&n.to_bytes().unwrap()).unwrap(), n);
        let mut h = NgMesg::new(1, 2, "", 0, vec![]).to_bytes().unwrap();
        h[24..56].fill(b'c');
        let m = NgMesg::from_bytes(&h).unwrap();
        assert_eq!(m.header.cmdstr.len(), NG_CMDSTRSIZ - 1);
        assert!(m.to_bytes().is_ok());
        assert_eq!(get_fixed(&[]).unwrap(), "");
        assert_eq!(get_fixed(b"ab\0cd").unwrap(), "ab");
    }

    #[test]
    fn sockaddr_round_trip() {
        let s = SockaddrNg {
            data: "[3f]:".into(),
        };
        let b = s.to_bytes().unwrap();
        assert_eq!(b[1], AF_NETGRAPH);
        assert_eq!(b[0] as usize, b.len());
        assert_eq!(SockaddrNg::from_bytes(&b).unwrap(), s);
        assert_eq!(SockaddrNg::from_bytes(&[3]), Err(Errno::EINVAL));
        assert_eq!(SockaddrNg::from_bytes(&[3, 2, 0]), Err(Errno::EINVAL));
        let long = SockaddrNg {
            data: "a".repeat(NG_PATHSIZ),
        };
        assert_eq!(long.to_bytes(), Err(Errno::EINVAL));
    }
}
