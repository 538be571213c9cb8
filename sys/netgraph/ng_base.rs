//! The netgraph framework: node types, nodes, hooks, addressing, the generic
//! control messages, the work queue and timers of one netgraph space.
//!
//! Sans-IO: nothing here reads a clock, spawns a thread or touches the host.  The
//! kernel keeps one [`NgSpace`] per vnet, feeds it control messages and frames,
//! tells it the time, and drains what nodes hand back through the outbox
//! ([`NgSpace::take_output`]).

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use vimage_abi::netgraph::*;
use vimage_abi::Errno;
pub use vimage_mbuf::Mbuf;
use vimage_mbuf::CSUM_OFFLOAD;

use crate::ng_parse::{self, NgField, NgParseType};

/// A node's ID: unique in its space, never reused, printed as `%08x`.
pub type NodeId = u32;

/// Default bound on queued data frames in one space.
pub const NG_QUEUE_LIMIT: usize = 4096;
/// Most work items processed by one [`NgSpace::run`] call (a storm cannot hang
/// the kernel, nor hold its space for long: a few ms).
pub const NG_RUN_BUDGET: usize = 10_000;
/// Default hop budget of a frame (`net.graph.maxhops`): how many hooks a frame
/// and the copies made of it may cross, counted from where it entered the
/// graph (a socket's write, an interface's output, a timer's delivery).  Past
/// it the frame is dropped and counted ([`NgStats::hop_drops`]), so a loop
/// (a hub joined to itself, hubs or tees wired in a ring) ends by itself.
pub const NG_MAXHOPS: u32 = 128;
/// Largest hop budget a space accepts ([`NgSpace::set_max_hops`]).
pub const NG_MAXHOPS_LIMIT: u32 = 4096;

/// The kernel-wide count of nodes and its bound (`net.graph.maxnodes`),
/// shared by every space of a kernel ([`NgSpace::set_node_zone`]).
#[derive(Debug)]
pub struct NgNodeZone {
    max: Arc<AtomicI64>,
    count: AtomicI64,
}

impl NgNodeZone {
    /// A zone of at most `max` nodes (read at every allocation).
    pub fn new(max: Arc<AtomicI64>) -> Arc<Self> {
        Arc::new(NgNodeZone {
            max,
            count: AtomicI64::new(0),
        })
    }
    /// Nodes alive in every space of the zone.
    pub fn count(&self) -> i64 {
        self.count.load(Ordering::Relaxed)
    }
    fn alloc(&self) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }
    fn free(&self, n: usize) {
        self.count
            .fetch_sub(i64::try_from(n).unwrap_or(i64::MAX), Ordering::AcqRel);
    }
}

/// One control command of a node type, with its ASCII argument/response layouts.
#[derive(Debug)]
pub struct NgCmd {
    /// Type cookie of the command set.
    pub cookie: u32,
    /// Command number (with NGM_READONLY / NGM_HASREPLY bits as the type defines it).
    pub cmd: u32,
    /// Command name in ASCII.
    pub name: &'static str,
    /// Layout of the request argument, if any.
    pub arg: Option<&'static NgParseType>,
    /// Layout of the response, if any.
    pub resp: Option<&'static NgParseType>,
}

/// A node type: registered once kernel-wide, instantiated per space.
pub trait NgType: Send + Sync {
    /// Type name (`"bridge"`).
    fn name(&self) -> &'static str;
    /// Type cookie of its command set.
    fn cookie(&self) -> u32;
    /// Create the private state of a new node; the node already has its ID.
    fn constructor(&self, ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno>;
    /// The type's commands, for ASCII conversion.
    fn cmdlist(&self) -> &'static [NgCmd] {
        &[]
    }
    /// Whether its nodes take frames with work left undone by an interface's
    /// offload (`CSUM_OFFLOAD`: checksums, TSO): types that only pass frames on
    /// (hub, bridge, tee, …) or feed them to a stack that accepts them
    /// (eiface).  Other types get them finished first (the space's
    /// [`NgFinish`]), so what leaves the graph is always wire-ready.
    fn offload(&self) -> bool {
        false
    }
}

/// A numbered hook name (`link3`, `many12`) built on the stack: types that
/// address their hooks by number name one per frame, without allocating.
pub struct HookName {
    buf: [u8; NG_HOOKSIZ],
    len: usize,
}

impl HookName {
    /// `prefix` followed by `n` in decimal (cut at `NG_HOOKSIZ - 1` bytes).
    pub fn new(prefix: &str, n: usize) -> Self {
        use std::io::Write;
        let mut buf = [0u8; NG_HOOKSIZ];
        let len = {
            let mut w = &mut buf[..NG_HOOKSIZ - 1];
            let room = w.len();
            let _ = write!(w, "{prefix}{n}");
            room - w.len()
        };
        HookName { buf, len }
    }
}

impl std::ops::Deref for HookName {
    type Target = str;
    fn deref(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Finishes a frame an interface left unfinished (segments it and fills in
/// its checksums), appending the results: injected by the kernel, which
/// knows the protocols ([`NgSpace::set_finish`]).
pub type NgFinish = fn(Mbuf, &mut Vec<Mbuf>);

/// The per-node behaviour of a type.  Every callback gets an [`NgCtx`] to act on
/// the space (send data or messages, set timers, shut itself down, …).
pub trait NgNode: Send {
    /// Accept or refuse a new hook `name` (before it exists).
    fn newhook(&mut self, ctx: &mut NgCtx<'_>, name: &str) -> Result<(), Errno>;
    /// The hook `name` is now connected to its peer.
    fn connect(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str) -> Result<(), Errno> {
        Ok(())
    }
    /// A control message for this node (type-specific, `textstatus`/`textconfig`,
    /// or any response).  `Ok(Some(data))` sends a response carrying `data`.
    fn rcvmsg(
        &mut self,
        _ctx: &mut NgCtx<'_>,
        _msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        Err(Errno::EINVAL)
    }
    /// A frame arrived on `hook`.
    fn rcvdata(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str, _frame: Mbuf) {}
    /// The hook `hook` was removed (it is already gone from the node).
    fn disconnect(&mut self, _ctx: &mut NgCtx<'_>, _hook: &str) {}
    /// The node is about to lose all its hooks on shutdown (tee bypasses here).
    fn close(&mut self, _ctx: &mut NgCtx<'_>) {}
    /// Last step of shutdown, hooks already gone.  Return `false` to keep the node
    /// alive (persistent nodes such as ether), `true` to destroy it.
    fn shutdown(&mut self, _ctx: &mut NgCtx<'_>) -> bool {
        true
    }
    /// A timer set with [`NgCtx::set_timer`] expired.
    fn timeout(&mut self, _ctx: &mut NgCtx<'_>, _tag: u64) {}
    /// Access to the concrete state (the kernel downcasts its own node types).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What nodes hand to the kernel (typically socket nodes: replies, unsolicited
/// messages and data for a process; or interface nodes: frames for an ifnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NgOutput {
    /// A control message that reached `node`, sent by node `from` (`[from]:`).
    Msg {
        /// The receiving node.
        node: NodeId,
        /// The sending node.
        from: NodeId,
        /// The message.
        msg: NgMesg,
    },
    /// A frame that reached `node` on `hook`.
    Data {
        /// The receiving node.
        node: NodeId,
        /// The hook it arrived on.
        hook: String,
        /// The frame.
        frame: Mbuf,
    },
    /// A node-defined event (e.g. a type telling the kernel to destroy its ifnet).
    Event {
        /// The node.
        node: NodeId,
        /// Type-defined code.
        code: u32,
        /// Type-defined payload.
        data: Vec<u8>,
    },
}

/// Counters of one space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NgStats {
    /// Frames dropped because the work queue was full.
    pub queue_drops: u64,
    /// Frames delivered to nodes.
    pub frames: u64,
    /// Messages delivered to nodes.
    pub messages: u64,
    /// Frames dropped because they had crossed more hooks than the hop budget
    /// allows (a forwarding loop).
    pub hop_drops: u64,
}

/// The kernel-wide registry of node types.
#[derive(Default)]
pub struct NgTypeList {
    types: RwLock<Vec<Arc<dyn NgType>>>,
}

impl NgTypeList {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the pure types of this crate installed (socket, hub,
    /// tee, one2many, bridge, pipe, vlan, echo, hole).
    pub fn with_builtin() -> Arc<Self> {
        let l = Self::new();
        for t in crate::builtin_types() {
            // Names are distinct by construction.
            let _ = l.register(t);
        }
        Arc::new(l)
    }

    /// Install a type; `EEXIST` if the name is taken, `EINVAL` for a bad name.
    pub fn register(&self, t: Arc<dyn NgType>) -> Result<(), Errno> {
        let name = t.name();
        if name.is_empty() || name.len() >= NG_TYPESIZ || name.contains(['.', ':']) {
            return Err(Errno::EINVAL);
        }
        let mut v = self.types.write().unwrap_or_else(|e| e.into_inner());
        if v.iter().any(|x| x.name() == name) {
            return Err(Errno::EEXIST);
        }
        v.push(t);
        Ok(())
    }

    /// Remove a type; `live_nodes` is the number of its nodes summed over all
    /// spaces ([`NgSpace::count_type`]).  `EBUSY` if any, `ENOENT` if unknown.
    pub fn unregister(&self, name: &str, live_nodes: usize) -> Result<(), Errno> {
        let mut v = self.types.write().unwrap_or_else(|e| e.into_inner());
        let i = v
            .iter()
            .position(|x| x.name() == name)
            .ok_or(Errno::ENOENT)?;
        if live_nodes > 0 {
            return Err(Errno::EBUSY);
        }
        v.remove(i);
        Ok(())
    }

    /// Look a type up by name.
    pub fn find(&self, name: &str) -> Option<Arc<dyn NgType>> {
        let v = self.types.read().unwrap_or_else(|e| e.into_inner());
        v.iter().find(|x| x.name() == name).cloned()
    }

    /// Names of all installed types, most recently installed first.
    pub fn names(&self) -> Vec<&'static str> {
        let v = self.types.read().unwrap_or_else(|e| e.into_inner());
        v.iter().rev().map(|t| t.name()).collect()
    }
}

struct HookEnd {
    name: String,
    peer_node: NodeId,
    /// Shared, so queueing a frame for the peer costs no copy of the name.
    peer_hook: Arc<str>,
}

struct Node {
    name: Option<String>,
    ty: Arc<dyn NgType>,
    /// Hooks in creation order.
    hooks: Vec<HookEnd>,
    private: Option<Box<dyn NgNode>>,
    dying: bool,
}

impl Node {
    fn hook(&self, name: &str) -> Option<&HookEnd> {
        self.hooks.iter().find(|h| h.name == name)
    }
}

enum Work {
    Data {
        to: NodeId,
        hook: Arc<str>,
        frame: Mbuf,
        /// Hooks crossed so far, this one included.
        hops: u32,
    },
    Msg {
        to: NodeId,
        from: NodeId,
        msg: NgMesg,
    },
    Shutdown(NodeId),
    Rmhook(NodeId, String),
}

/// Everything in a space except the private state of the node being called.
struct Core {
    types: Arc<NgTypeList>,
    nodes: BTreeMap<NodeId, Node>,
    names: HashMap<String, NodeId>,
    next_id: NodeId,
    queue: VecDeque<Work>,
    queued_data: usize,
    queue_limit: usize,
    run_budget: usize,
    /// Hop budget of a frame.
    max_hops: u32,
    /// Hops of the frame the running callback handles (0 outside `rcvdata`,
    /// unless the node set it with [`NgCtx::set_hops`]).
    cur_hops: u32,
    stats: NgStats,
    timers: BinaryHeap<Reverse<(u64, u64, NodeId, u64)>>,
    timer_seq: u64,
    outbox: VecDeque<NgOutput>,
    now_ns: u64,
    rng: u64,
    tag: u64,
    /// Most nodes this space may hold (0: no bound of its own).
    max_nodes: usize,
    /// The kernel-wide count its nodes are part of.
    zone: Option<Arc<NgNodeZone>>,
    /// How frames are finished for nodes that do not take offloaded ones.
    finish: Option<NgFinish>,
}

impl Core {
    /// A node left the space.
    fn node_freed(&self) {
        if let Some(z) = &self.zone {
            z.free(1);
        }
    }

    /// Queue `frame` for hook `hook` of node `to`, as the `hops`th hook it
    /// crosses: `ELOOP` (dropped, counted) past the hop budget, `ENOBUFS`
    /// (dropped, counted) when the queue is full.
    fn push_data(
        &mut self,
        to: NodeId,
        hook: Arc<str>,
        frame: Mbuf,
        hops: u32,
    ) -> Result<(), Errno> {
        if hops > self.max_hops {
            self.stats.hop_drops += 1;
            return Err(Errno::ELOOP);
        }
        if self.queued_data >= self.queue_limit {
            self.stats.queue_drops += 1;
            return Err(Errno::ENOBUFS);
        }
        self.queued_data += 1;
        self.queue.push_back(Work::Data {
            to,
            hook,
            frame,
            hops,
        });
        Ok(())
    }
}

/// What a node callback can do to its space.
pub struct NgCtx<'a> {
    core: &'a mut Core,
    node: NodeId,
}

impl NgCtx<'_> {
    /// This node's ID.
    pub fn node_id(&self) -> NodeId {
        self.node
    }
    /// The space's current time (ns), as last told by the kernel.
    pub fn now_ns(&self) -> u64 {
        self.core.now_ns
    }
    /// The tag the kernel gave the space (e.g. its vnet ID).
    pub fn space_tag(&self) -> u64 {
        self.core.tag
    }
    /// Next value of the space's deterministic xorshift generator.
    pub fn random(&mut self) -> u64 {
        xorshift(&mut self.core.rng)
    }
    /// This node's name, if any.
    pub fn node_name(&self) -> Option<String> {
        self.core.nodes.get(&self.node).and_then(|n| n.name.clone())
    }
    /// Name this node (`ng_name_node` from inside a type, e.g. eiface naming its
    /// node after its ifnet): `EINVAL` for a bad name, `EADDRINUSE` if taken.
    pub fn name_self(&mut self, name: &str) -> Result<(), Errno> {
        valid_node_name(name)?;
        if self.core.names.contains_key(name) {
            return Err(Errno::EADDRINUSE);
        }
        let n = self.core.nodes.get_mut(&self.node).ok_or(Errno::ENOENT)?;
        if let Some(old) = n.name.replace(name.to_owned()) {
            self.core.names.remove(&old);
        }
        self.core.names.insert(name.to_owned(), self.node);
        Ok(())
    }
    /// Whether some node of the space is called `name`.
    pub fn name_in_use(&self, name: &str) -> bool {
        self.core.names.contains_key(name)
    }
    /// Number of hooks on this node.
    pub fn num_hooks(&self) -> usize {
        self.core.nodes.get(&self.node).map_or(0, |n| n.hooks.len())
    }
    /// Names of this node's hooks in creation order.
    pub fn hooks(&self) -> Vec<String> {
        self.core.nodes.get(&self.node).map_or_else(Vec::new, |n| {
            n.hooks.iter().map(|h| h.name.clone()).collect()
        })
    }
    /// Whether this node has a hook `name`.
    pub fn has_hook(&self, name: &str) -> bool {
        self.core
            .nodes
            .get(&self.node)
            .is_some_and(|n| n.hook(name).is_some())
    }
    /// The peer node and peer hook name of our hook `name`.
    pub fn hook_peer(&self, name: &str) -> Option<(NodeId, String)> {
        let h = self.core.nodes.get(&self.node)?.hook(name)?;
        Some((h.peer_node, h.peer_hook.to_string()))
    }
    fn peer_of(&self, name: &str) -> Option<(NodeId, Arc<str>)> {
        let h = self.core.nodes.get(&self.node)?.hook(name)?;
        Some((h.peer_node, h.peer_hook.clone()))
    }
    /// Call `f` on the private state of the node at the other end of our
    /// hook `hook` (`None` without such a hook, or when that node is the one
    /// being called): how a type wired straight to one of its own kind finds
    /// it (an eiface joined to another).
    pub fn with_peer<R>(&mut self, hook: &str, f: impl FnOnce(&mut dyn NgNode) -> R) -> Option<R> {
        let (peer, _) = self.hook_peer(hook)?;
        let p = self.core.nodes.get_mut(&peer)?.private.as_mut()?;
        Some(f(p.as_mut()))
    }
    /// Whether the node is being shut down.
    pub fn is_dying(&self) -> bool {
        !alive(self.core, self.node)
    }
    /// Send a frame out of our hook `hook` (queued); `ENOTCONN` if there is no
    /// such hook, `ENOBUFS` if the queue is full, `ELOOP` if the frame being
    /// handled has used up its hop budget (the frame is dropped and counted).
    /// The frame sent is one hop further than the one being handled
    /// ([`hops`](Self::hops)).
    pub fn send_data(&mut self, hook: &str, frame: impl Into<Mbuf>) -> Result<(), Errno> {
        let (to, ph) = self.peer_of(hook).ok_or(Errno::ENOTCONN)?;
        let hops = self.core.cur_hops.saturating_add(1);
        self.core.push_data(to, ph, frame.into(), hops)
    }
    /// Hooks crossed by the frame being handled (in `rcvdata`; 0 elsewhere): a
    /// node that keeps frames to send them later (pipe) stores it with them.
    pub fn hops(&self) -> u32 {
        self.core.cur_hops
    }
    /// Count frames sent from now on in this callback as following one that has
    /// crossed `hops` hooks: how a node that kept a frame (pipe, in `timeout`)
    /// sends it on without resetting its hop budget.
    pub fn set_hops(&mut self, hops: u32) {
        self.core.cur_hops = hops;
    }
    /// Queue a control message to node `to` (from this node).
    pub fn send_msg(&mut self, to: NodeId, msg: NgMesg) {
        self.core.queue.push_back(Work::Msg {
            to,
            from: self.node,
            msg,
        });
    }
    /// Queue a control message to the node at `path` (relative to this node).
    pub fn send_msg_path(&mut self, path: &str, msg: NgMesg) -> Result<(), Errno> {
        let (to, _) = resolve(self.core, self.node, path)?;
        self.send_msg(to, msg);
        Ok(())
    }
    /// Hand something to the kernel ([`NgSpace::take_output`]).
    pub fn emit(&mut self, out: NgOutput) {
        self.core.outbox.push_back(out);
    }
    /// Call this node's [`NgNode::timeout`] with `tag` once the time reaches `at_ns`.
    pub fn set_timer(&mut self, at_ns: u64, tag: u64) {
        self.core.timer_seq += 1;
        let seq = self.core.timer_seq;
        self.core.timers.push(Reverse((at_ns, seq, self.node, tag)));
    }
    /// Shut this node down once the current callback returns.
    pub fn shutdown_self(&mut self) {
        if !self.is_dying() {
            self.core.queue.push_front(Work::Shutdown(self.node));
        }
    }
    /// Remove our hook `hook` once the current callback returns.
    pub fn rmhook(&mut self, hook: &str) {
        self.core
            .queue
            .push_front(Work::Rmhook(self.node, hook.to_owned()));
    }
    /// Join the peers of our hooks `a` and `b` directly to each other and drop
    /// both hooks from this node (neither peer sees a disconnect).
    pub fn bypass(&mut self, a: &str, b: &str) {
        let (Some((na, ha)), Some((nb, hb))) = (self.hook_peer(a), self.hook_peer(b)) else {
            return;
        };
        for (n, h, pn, ph) in [(na, &ha, nb, &hb), (nb, &hb, na, &ha)] {
            if let Some(node) = self.core.nodes.get_mut(&n) {
                if let Some(e) = node.hooks.iter_mut().find(|e| e.name == *h) {
                    e.peer_node = pn;
                    e.peer_hook = Arc::from(ph.as_str());
                }
            }
        }
        if let Some(me) = self.core.nodes.get_mut(&self.node) {
            me.hooks.retain(|e| e.name != a && e.name != b);
        }
    }
}

/// Whether node `id` exists and is not being shut down.
fn alive(core: &Core, id: NodeId) -> bool {
    core.nodes.get(&id).is_some_and(|n| !n.dying)
}

fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

/// Check a node name: 1–31 bytes, no `.`/`:`, not shaped like an ID `[…]`.
pub fn valid_node_name(s: &str) -> Result<(), Errno> {
    if s.is_empty() || s.len() >= NG_NODESIZ || s.contains(['.', ':']) || s.contains('\0') {
        return Err(Errno::EINVAL);
    }
    if s.starts_with('[') && s.ends_with(']') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Check a hook name: 1–31 bytes, no `.`/`:`.
pub fn valid_hook_name(s: &str) -> Result<(), Errno> {
    if s.is_empty() || s.len() >= NG_HOOKSIZ || s.contains(['.', ':']) || s.contains('\0') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Resolve `path` as seen from node `from`: the node, and the last hook walked
/// (the destination's hook facing the path), if any.
fn resolve(core: &Core, from: NodeId, path: &str) -> Result<(NodeId, Option<String>), Errno> {
    if path.is_empty() || path.len() >= NG_PATHSIZ {
        return Err(Errno::EINVAL);
    }
    let (start, hooks) = match path.split_once(':') {
        Some((node, rest)) => {
            if rest.contains(':') || node.is_empty() {
                return Err(Errno::EINVAL);
            }
            let id = if node == "." {
                from
            } else if let Some(hex) = node.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                if hex.is_empty() || hex.len() > 8 {
                    return Err(Errno::ENOENT);
                }
                u32::from_str_radix(hex, 16).map_err(|_| Errno::ENOENT)?
            } else {
                *core.names.get(node).ok_or(Errno::ENOENT)?
            };
            (id, rest)
        }
        None => (from, path),
    };
    if !alive(core, start) {
        return Err(Errno::ENOENT);
    }
    if hooks.contains("..") {
        // No "parent" in a graph: `..` is malformed, not "here".
        return Err(Errno::EINVAL);
    }
    let mut hooks = hooks.strip_prefix('.').unwrap_or(hooks);
    hooks = hooks.strip_suffix('.').unwrap_or(hooks);
    let mut cur = start;
    let mut last = None;
    if !hooks.is_empty() {
        for seg in hooks.split('.') {
            if seg.is_empty() {
                return Err(Errno::EINVAL);
            }
            let h = core
                .nodes
                .get(&cur)
                .and_then(|n| n.hook(seg))
                .ok_or(Errno::ENOENT)?;
            last = Some(h.peer_hook.to_string());
            cur = h.peer_node;
        }
    }
    Ok((cur, last))
}

macro_rules! s32 {
    ($n:expr) => {
        NgField {
            name: $n,
            ty: NgParseType::FixedString(32),
        }
    };
}

/// ASCII layout of `ngm_mkpeer`.
pub static NG_MKPEER_TYPE: NgParseType =
    NgParseType::Struct(&[s32!("type"), s32!("ourhook"), s32!("peerhook")]);
/// ASCII layout of `ngm_connect`.
pub static NG_CONNECT_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "path",
        ty: NgParseType::FixedString(NG_PATHSIZ),
    },
    s32!("ourhook"),
    s32!("peerhook"),
]);
/// ASCII layout of `ngm_name`.
pub static NG_NAME_TYPE: NgParseType = NgParseType::Struct(&[s32!("name")]);
/// ASCII layout of `ngm_rmhook`.
pub static NG_RMHOOK_TYPE: NgParseType = NgParseType::Struct(&[s32!("hook")]);
/// Members of `struct nodeinfo`.
const NODEINFO_FIELDS: &[NgField] = &[
    s32!("name"),
    s32!("type"),
    NgField {
        name: "id",
        ty: NgParseType::X32,
    },
    NgField {
        name: "hooks",
        ty: NgParseType::U32,
    },
];
/// ASCII layout of `nodeinfo`.
pub static NG_NODEINFO_TYPE: NgParseType = NgParseType::Struct(NODEINFO_FIELDS);
static NG_LINKINFO_TYPE: NgParseType = NgParseType::Struct(&[
    s32!("ourhook"),
    s32!("peerhook"),
    NgField {
        name: "nodeinfo",
        ty: NgParseType::Struct(NODEINFO_FIELDS),
    },
]);
/// ASCII layout of `hooklist`.
pub static NG_HOOKLIST_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "nodeinfo",
        ty: NgParseType::Struct(NODEINFO_FIELDS),
    },
    NgField {
        name: "linkinfo",
        ty: NgParseType::VarArray(&NG_LINKINFO_TYPE, "nodeinfo.hooks"),
    },
]);
/// ASCII layout of `namelist`.
pub static NG_NAMELIST_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "numnames",
        ty: NgParseType::U32,
    },
    NgField {
        name: "nodeinfo",
        ty: NgParseType::VarArray(&NG_NODEINFO_TYPE, "numnames"),
    },
]);
static NG_TYPEINFO_TYPE: NgParseType = NgParseType::Struct(&[
    s32!("typename"),
    NgField {
        name: "numnodes",
        ty: NgParseType::U32,
    },
]);
/// ASCII layout of `typelist`.
pub static NG_TYPELIST_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "numtypes",
        ty: NgParseType::U32,
    },
    NgField {
        name: "typeinfo",
        ty: NgParseType::VarArray(&NG_TYPEINFO_TYPE, "numtypes"),
    },
]);

macro_rules! gcmd {
    ($cmd:expr, $name:expr, $arg:expr, $resp:expr) => {
        NgCmd {
            cookie: NGM_GENERIC_COOKIE,
            cmd: $cmd,
            name: $name,
            arg: $arg,
            resp: $resp,
        }
    };
}

/// The generic commands every node understands.
pub static NG_GENERIC_CMDS: &[NgCmd] = &[
    gcmd!(NGM_SHUTDOWN, "shutdown", None, None),
    gcmd!(NGM_MKPEER, "mkpeer", Some(&NG_MKPEER_TYPE), None),
    gcmd!(NGM_CONNECT, "connect", Some(&NG_CONNECT_TYPE), None),
    gcmd!(NGM_NAME, "name", Some(&NG_NAME_TYPE), None),
    gcmd!(NGM_RMHOOK, "rmhook", Some(&NG_RMHOOK_TYPE), None),
    gcmd!(NGM_NODEINFO, "nodeinfo", None, Some(&NG_NODEINFO_TYPE)),
    gcmd!(NGM_LISTHOOKS, "listhooks", None, Some(&NG_HOOKLIST_TYPE)),
    gcmd!(NGM_LISTNAMES, "listnames", None, Some(&NG_NAMELIST_TYPE)),
    gcmd!(NGM_LISTNODES, "listnodes", None, Some(&NG_NAMELIST_TYPE)),
    gcmd!(NGM_LISTTYPES, "listtypes", None, Some(&NG_TYPELIST_TYPE)),
    gcmd!(
        NGM_TEXT_STATUS,
        "textstatus",
        None,
        Some(&NgParseType::String)
    ),
    gcmd!(NGM_BINARY2ASCII, "binary2ascii", None, None),
    gcmd!(NGM_ASCII2BINARY, "ascii2binary", None, None),
    gcmd!(
        NGM_TEXT_CONFIG,
        "textconfig",
        Some(&NgParseType::String),
        Some(&NgParseType::String)
    ),
];

/// One independent netgraph space (one per vnet).
pub struct NgSpace {
    core: Core,
}

impl NgSpace {
    /// An empty space using the kernel-wide type list; `tag` is handed to nodes
    /// ([`NgCtx::space_tag`]), e.g. the vnet's ID.  Node IDs start at 1.
    pub fn new(types: Arc<NgTypeList>, tag: u64) -> Self {
        NgSpace {
            core: Core {
                types,
                nodes: BTreeMap::new(),
                names: HashMap::new(),
                next_id: 1,
                queue: VecDeque::new(),
                queued_data: 0,
                queue_limit: NG_QUEUE_LIMIT,
                run_budget: NG_RUN_BUDGET,
                max_hops: NG_MAXHOPS,
                cur_hops: 0,
                stats: NgStats::default(),
                timers: BinaryHeap::new(),
                timer_seq: 0,
                outbox: VecDeque::new(),
                now_ns: 0,
                rng: 0x2545_f491_4f6c_dd1d ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                tag,
                max_nodes: 0,
                zone: None,
                finish: None,
            },
        }
    }

    /// Set how frames with offload work left ([`NgType::offload`]) are
    /// finished before a node that does not take them gets them; without one
    /// they are delivered as they are.
    pub fn set_finish(&mut self, f: NgFinish) {
        self.core.finish = Some(f);
    }

    /// Reseed the space's random generator (link emulation draws from it).
    pub fn set_seed(&mut self, seed: u64) {
        self.core.rng = if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        };
    }

    /// Bound the nodes of this space (its vimage's `security.vimage.maxngnodes`;
    /// 0: none): past it [`make_node`](Self::make_node) fails with `ENOMEM`.
    pub fn set_max_nodes(&mut self, n: usize) {
        self.core.max_nodes = n;
    }

    /// Count this space's nodes in the kernel-wide `zone` (`ENOMEM` when it is
    /// full), moving those it has from the zone it was in.
    pub fn set_node_zone(&mut self, zone: Option<Arc<NgNodeZone>>) {
        let n = self.core.nodes.len();
        if let Some(z) = &self.core.zone {
            z.free(n);
        }
        if let Some(z) = &zone {
            z.count
                .fetch_add(i64::try_from(n).unwrap_or(i64::MAX), Ordering::AcqRel);
        }
        self.core.zone = zone;
    }

    /// Change the bound on queued data frames.
    pub fn set_queue_limit(&mut self, n: usize) {
        self.core.queue_limit = n.max(1);
    }

    /// Change the most work items one [`run`](Self::run) handles (default
    /// [`NG_RUN_BUDGET`]); a forwarding loop costs at most this much per call.
    pub fn set_run_budget(&mut self, n: usize) {
        self.core.run_budget = n.max(1);
    }

    /// Change the hop budget of frames (default [`NG_MAXHOPS`], clamped to
    /// `1..=`[`NG_MAXHOPS_LIMIT`]).
    pub fn set_max_hops(&mut self, n: u32) {
        self.core.max_hops = n.clamp(1, NG_MAXHOPS_LIMIT);
    }

    /// The hop budget of frames.
    pub fn max_hops(&self) -> u32 {
        self.core.max_hops
    }

    /// The space's counters.
    pub fn stats(&self) -> NgStats {
        self.core.stats
    }

    /// The shared type list.
    pub fn types(&self) -> &Arc<NgTypeList> {
        &self.core.types
    }

    /// Tell the space the current time (monotonic ns); it never goes backwards.
    pub fn set_now(&mut self, now_ns: u64) {
        self.core.now_ns = self.core.now_ns.max(now_ns);
    }

    /// The space's notion of the current time.
    pub fn now_ns(&self) -> u64 {
        self.core.now_ns
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.core.nodes.len()
    }

    /// Number of live nodes of type `type_name` (for [`NgTypeList::unregister`]).
    pub fn count_type(&self, type_name: &str) -> usize {
        self.core
            .nodes
            .values()
            .filter(|n| n.ty.name() == type_name)
            .count()
    }

    /// IDs of all nodes, newest first (the order `listnodes` reports).
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.core.nodes.keys().rev().copied().collect()
    }

    /// Description of node `id`.
    pub fn node_info(&self, id: NodeId) -> Option<NodeInfo> {
        let n = self.core.nodes.get(&id)?;
        Some(NodeInfo {
            name: n.name.clone().unwrap_or_default(),
            type_name: n.ty.name().to_owned(),
            id,
            hooks: n.hooks.len() as u32,
        })
    }

    /// The node named `name`.
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.core.names.get(name).copied()
    }

    /// Resolve an address as seen from node `from` (0: absolute addresses only).
    pub fn resolve(&self, from: NodeId, path: &str) -> Result<NodeId, Errno> {
        resolve(&self.core, from, path).map(|r| r.0)
    }

    /// The peer (node, hook) of hook `hook` on node `id`.
    pub fn hook_peer(&self, id: NodeId, hook: &str) -> Option<(NodeId, String)> {
        let h = self.core.nodes.get(&id)?.hook(hook)?;
        Some((h.peer_node, h.peer_hook.to_string()))
    }

    /// Downcast the private state of node `id` to the kernel's own type `T`.
    pub fn node_mut<T: Any>(&mut self, id: NodeId) -> Option<&mut T> {
        self.core
            .nodes
            .get_mut(&id)?
            .private
            .as_mut()?
            .as_any_mut()
            .downcast_mut::<T>()
    }

    /// Call `f` with the private state of node `id` (as `T`) and a context, so the
    /// kernel can act for its node (e.g. an interface sending a frame out a hook).
    /// Queued work is run afterwards.
    pub fn with_node<T: Any, R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut T, &mut NgCtx<'_>) -> R,
    ) -> Result<R, Errno> {
        let r = self
            .call(id, |p, ctx| {
                p.as_any_mut().downcast_mut::<T>().map(|t| f(t, ctx))
            })
            .flatten()
            .ok_or(Errno::ENOENT)?;
        self.run();
        Ok(r)
    }

    /// Everything nodes handed to the kernel since the last call, in order.
    pub fn take_output(&mut self) -> Vec<NgOutput> {
        self.core.outbox.drain(..).collect()
    }

    /// Whether queued work remains (after a [`run`](Self::run) that hit its budget).
    pub fn has_work(&self) -> bool {
        !self.core.queue.is_empty()
    }

    /// Check the space's structural invariants between calls (for tests and
    /// debugging): every hook has a valid, unique name and a live peer whose hook
    /// points back; the name table and the nodes' names agree; no node is left
    /// half shut down or without its private state; IDs are below the next ID;
    /// the queued-frame count is right.  Returns the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let c = &self.core;
        for (&id, n) in &c.nodes {
            if id == 0 || id >= c.next_id {
                return Err(format!("node [{id:x}] outside 1..{:x}", c.next_id));
            }
            if n.dying {
                return Err(format!("node [{id:x}] left dying"));
            }
            if n.private.is_none() {
                return Err(format!("node [{id:x}] lost its private state"));
            }
            if let Some(name) = &n.name {
                if c.names.get(name) != Some(&id) {
                    return Err(format!(
                        "node [{id:x}] named {name:?} missing from the names"
                    ));
                }
            }
            for (i, h) in n.hooks.iter().enumerate() {
                valid_hook_name(&h.name)
                    .map_err(|_| format!("node [{id:x}] has bad hook name {:?}", h.name))?;
                if n.hooks[..i].iter().any(|o| o.name == h.name) {
                    return Err(format!("node [{id:x}] has hook {:?} twice", h.name));
                }
                let back = c.nodes.get(&h.peer_node).and_then(|p| p.hook(&h.peer_hook));
                match back {
                    Some(b) if b.peer_node == id && *b.peer_hook == *h.name => {}
                    _ => {
                        return Err(format!(
                            "hook [{id:x}]:{} -> [{:x}]:{} does not point back",
                            h.name, h.peer_node, h.peer_hook
                        ))
                    }
                }
            }
        }
        for (name, id) in &c.names {
            if c.nodes.get(id).and_then(|n| n.name.as_deref()) != Some(name.as_str()) {
                return Err(format!("name {name:?} -> [{id:x}] is stale"));
            }
        }
        let data = c
            .queue
            .iter()
            .filter(|w| matches!(w, Work::Data { .. }))
            .count();
        if data != c.queued_data {
            return Err(format!("{data} frames queued, counted {}", c.queued_data));
        }
        Ok(())
    }

    fn call<R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut dyn NgNode, &mut NgCtx<'_>) -> R,
    ) -> Option<R> {
        let mut p = self.core.nodes.get_mut(&id)?.private.take()?;
        let r = {
            let mut ctx = NgCtx {
                core: &mut self.core,
                node: id,
            };
            f(&mut *p, &mut ctx)
        };
        // A frame's hops count only within the callback that handles it.
        self.core.cur_hops = 0;
        if let Some(n) = self.core.nodes.get_mut(&id) {
            n.private = Some(p);
        }
        Some(r)
    }

    /// Create a node of type `type_name` (`ENXIO` if the type is not installed;
    /// `ENOMEM`, as `ng_make_node` when a node cannot be allocated, past the
    /// space's bound or its zone's).
    pub fn make_node(&mut self, type_name: &str) -> Result<NodeId, Errno> {
        let ty = self.core.types.find(type_name).ok_or(Errno::ENXIO)?;
        if self.core.max_nodes != 0 && self.core.nodes.len() >= self.core.max_nodes {
            return Err(Errno::ENOMEM);
        }
        let id = self.core.next_id;
        let next = id.checked_add(1).ok_or(Errno::ENOMEM)?;
        if self.core.zone.as_ref().is_some_and(|z| !z.alloc()) {
            return Err(Errno::ENOMEM);
        }
        self.core.next_id = next;
        self.core.nodes.insert(
            id,
            Node {
                name: None,
                ty: ty.clone(),
                hooks: Vec::new(),
                private: None,
                dying: false,
            },
        );
        let r = {
            let mut ctx = NgCtx {
                core: &mut self.core,
                node: id,
            };
            ty.constructor(&mut ctx)
        };
        match r {
            Ok(p) => {
                if let Some(n) = self.core.nodes.get_mut(&id) {
                    n.private = Some(p);
                }
                Ok(id)
            }
            Err(e) => {
                // The constructor may have named the node before failing.
                if let Some(n) = self.core.nodes.remove(&id) {
                    self.core.node_freed();
                    if let Some(name) = n.name {
                        self.core.names.remove(&name);
                    }
                }
                Err(e)
            }
        }
    }

    /// Name node `id`: `EINVAL` for a bad name, `EADDRINUSE` if taken.
    pub fn name_node(&mut self, id: NodeId, name: &str) -> Result<(), Errno> {
        valid_node_name(name)?;
        if self.core.names.contains_key(name) {
            return Err(Errno::EADDRINUSE);
        }
        let n = self.core.nodes.get_mut(&id).ok_or(Errno::ENOENT)?;
        if let Some(old) = n.name.replace(name.to_owned()) {
            self.core.names.remove(&old);
        }
        self.core.names.insert(name.to_owned(), id);
        Ok(())
    }

    /// Connect hook `ha` of node `a` to hook `hb` of node `b`.
    pub fn connect(&mut self, a: NodeId, ha: &str, b: NodeId, hb: &str) -> Result<(), Errno> {
        let r = self.connect_inner(a, ha, b, hb);
        self.run();
        r
    }

    fn connect_inner(&mut self, a: NodeId, ha: &str, b: NodeId, hb: &str) -> Result<(), Errno> {
        valid_hook_name(ha)?;
        valid_hook_name(hb)?;
        for (n, h) in [(a, ha), (b, hb)] {
            let node = self
                .core
                .nodes
                .get(&n)
                .filter(|x| !x.dying)
                .ok_or(Errno::ENOENT)?;
            if node.hook(h).is_some() {
                return Err(Errno::EEXIST);
            }
        }
        if a == b && ha == hb {
            return Err(Errno::EEXIST);
        }
        self.call(a, |p, ctx| p.newhook(ctx, ha))
            .ok_or(Errno::ENOENT)??;
        if let Some(n) = self.core.nodes.get_mut(&a) {
            n.hooks.push(HookEnd {
                name: ha.to_owned(),
                peer_node: b,
                peer_hook: Arc::from(hb),
            });
        }
        let rb = self
            .call(b, |p, ctx| p.newhook(ctx, hb))
            .unwrap_or(Err(Errno::ENOENT));
        if let Err(e) = rb {
            if let Some(n) = self.core.nodes.get_mut(&a) {
                n.hooks.retain(|h| h.name != ha);
            }
            self.call(a, |p, ctx| p.disconnect(ctx, ha));
            return Err(e);
        }
        if let Some(n) = self.core.nodes.get_mut(&b) {
            n.hooks.push(HookEnd {
                name: hb.to_owned(),
                peer_node: a,
                peer_hook: Arc::from(ha),
            });
        }
        let ca = self.call(a, |p, ctx| p.connect(ctx, ha)).unwrap_or(Ok(()));
        let cb = self.call(b, |p, ctx| p.connect(ctx, hb)).unwrap_or(Ok(()));
        if let Err(e) = ca.and(cb) {
            self.destroy_hook(a, ha);
            return Err(e);
        }
        Ok(())
    }

    /// Remove hook `hook` of node `id` (and its peer end); both nodes see a
    /// disconnect.  A missing hook is not an error.
    pub fn rmhook(&mut self, id: NodeId, hook: &str) {
        self.destroy_hook(id, hook);
        self.run();
    }

    fn destroy_hook(&mut self, id: NodeId, hook: &str) {
        let Some(h) = self.core.nodes.get_mut(&id).and_then(|n| {
            let i = n.hooks.iter().position(|h| h.name == hook)?;
            Some(n.hooks.remove(i))
        }) else {
            return;
        };
        let peer_had = self.core.nodes.get_mut(&h.peer_node).is_some_and(|n| {
            let before = n.hooks.len();
            n.hooks.retain(|x| {
                !(*x.name == *h.peer_hook && x.peer_node == id && &*x.peer_hook == hook)
            });
            n.hooks.len() != before
        });
        self.call(id, |p, ctx| p.disconnect(ctx, hook));
        if peer_had {
            self.call(h.peer_node, |p, ctx| p.disconnect(ctx, &h.peer_hook));
        }
    }

    /// Shut node `id` down: its hooks go (peers see disconnects), then the type's
    /// shutdown runs; the node is destroyed unless the type keeps it.
    pub fn shutdown_node(&mut self, id: NodeId) -> Result<(), Errno> {
        self.shutdown_inner(id)?;
        self.run();
        Ok(())
    }

    fn shutdown_inner(&mut self, id: NodeId) -> Result<(), Errno> {
        let n = self.core.nodes.get_mut(&id).ok_or(Errno::ENOENT)?;
        if n.dying {
            return Ok(());
        }
        n.dying = true;
        self.call(id, |p, ctx| p.close(ctx));
        while let Some(h) = self
            .core
            .nodes
            .get(&id)
            .and_then(|n| n.hooks.first().map(|h| h.name.clone()))
        {
            self.destroy_hook(id, &h);
        }
        let destroy = self.call(id, |p, ctx| p.shutdown(ctx)).unwrap_or(true);
        if destroy {
            if let Some(n) = self.core.nodes.remove(&id) {
                self.core.node_freed();
                if let Some(name) = n.name {
                    self.core.names.remove(&name);
                }
            }
        } else if let Some(n) = self.core.nodes.get_mut(&id) {
            n.dying = false;
        }
        Ok(())
    }

    /// Send a control message from node `from` (e.g. a socket node) to the node at
    /// `path`.  Addressing and the target's handling errors are returned; replies go
    /// back to `from` through its `rcvmsg` (a socket node emits them as
    /// [`NgOutput::Msg`]).  Queued work is run before returning.
    pub fn send_msg(&mut self, from: NodeId, path: &str, msg: NgMesg) -> Result<(), Errno> {
        let (to, _) = resolve(&self.core, from, path)?;
        let r = self.deliver_msg(to, from, msg);
        self.run();
        r
    }

    /// Send a frame out of hook `hook` of node `id` (a socket's data, an
    /// interface's output); `ENOTCONN` if the node has no such hook.  The frame
    /// enters the graph here: its hop budget starts afresh.
    pub fn send_data(
        &mut self,
        id: NodeId,
        hook: &str,
        frame: impl Into<Mbuf>,
    ) -> Result<(), Errno> {
        let (to, ph) = {
            let h = self
                .core
                .nodes
                .get(&id)
                .and_then(|n| n.hook(hook))
                .ok_or(Errno::ENOTCONN)?;
            (h.peer_node, h.peer_hook.clone())
        };
        let r = self.core.push_data(to, ph, frame.into(), 1);
        self.run();
        r
    }

    /// Earliest pending timer, if any.
    pub fn next_timer(&self) -> Option<u64> {
        self.core.timers.peek().map(|Reverse((t, ..))| *t)
    }

    /// Advance the time to `now_ns`, fire every due timer in order, run the queue.
    /// At most the run budget of timers fire in one call (a node that keeps
    /// re-arming for the current time cannot hang the kernel); what is left is
    /// still due ([`next_timer`](Self::next_timer)).
    pub fn run_timers(&mut self, now_ns: u64) {
        self.set_now(now_ns);
        let mut fired = 0;
        while let Some(Reverse((t, _, node, tag))) = self.core.timers.peek().copied() {
            if t > self.core.now_ns || fired >= self.core.run_budget {
                break;
            }
            fired += 1;
            self.core.timers.pop();
            self.call(node, |p, ctx| p.timeout(ctx, tag));
            self.run();
        }
    }

    /// Process queued work (frames, messages, shutdowns) until the queue is empty
    /// or the run budget ([`NG_RUN_BUDGET`] unless [`set_run_budget`](Self::set_run_budget)
    /// changed it) is spent; returns the number handled.
    pub fn run(&mut self) -> usize {
        let mut n = 0;
        while n < self.core.run_budget {
            let Some(w) = self.core.queue.pop_front() else {
                break;
            };
            n += 1;
            match w {
                Work::Data {
                    to,
                    hook,
                    frame,
                    hops,
                } => {
                    self.core.queued_data = self.core.queued_data.saturating_sub(1);
                    let Some(x) = self.core.nodes.get(&to) else {
                        continue;
                    };
                    if x.dying || x.hook(&hook).is_none() {
                        continue;
                    }
                    let finish = match self.core.finish {
                        Some(f) if frame.csum_flags & CSUM_OFFLOAD != 0 && !x.ty.offload() => {
                            Some(f)
                        }
                        _ => None,
                    };
                    self.core.stats.frames += 1;
                    self.core.cur_hops = hops;
                    match finish {
                        None => {
                            self.call(to, |p, ctx| p.rcvdata(ctx, &hook, frame));
                        }
                        Some(f) => {
                            let mut pieces = Vec::new();
                            f(frame, &mut pieces);
                            self.call(to, |p, ctx| {
                                for m in pieces {
                                    let h = ctx.hops();
                                    p.rcvdata(ctx, &hook, m);
                                    ctx.set_hops(h);
                                }
                            });
                        }
                    }
                    self.core.cur_hops = 0;
                }
                Work::Msg { to, from, msg } => {
                    let _ = self.deliver_msg(to, from, msg);
                }
                Work::Shutdown(id) => {
                    let _ = self.shutdown_inner(id);
                }
                Work::Rmhook(id, h) => self.destroy_hook(id, &h),
            }
        }
        n
    }

    fn deliver_msg(&mut self, to: NodeId, from: NodeId, msg: NgMesg) -> Result<(), Errno> {
        if !alive(&self.core, to) {
            return Err(Errno::ENOENT);
        }
        self.core.stats.messages += 1;
        if msg.is_resp() {
            return self
                .call(to, |p, ctx| p.rcvmsg(ctx, &msg, from).map(|_| ()))
                .unwrap_or(Err(Errno::ENOENT));
        }
        let generic = msg.header.typecookie == NGM_GENERIC_COOKIE
            && msg.header.cmd != NGM_TEXT_STATUS
            && msg.header.cmd != NGM_TEXT_CONFIG;
        let reply = if generic {
            self.generic_msg(to, from, &msg)
        } else {
            self.call(to, |p, ctx| p.rcvmsg(ctx, &msg, from))
                .unwrap_or(Err(Errno::ENOENT))
        }?;
        if let Some(data) = reply {
            if from != 0 && self.core.nodes.contains_key(&from) {
                let mut h = msg.header.clone();
                h.flags |= NGF_RESP;
                h.arglen = data.len() as u32;
                self.core.queue.push_back(Work::Msg {
                    to: from,
                    from: to,
                    msg: NgMesg { header: h, data },
                });
            }
        }
        Ok(())
    }

    fn nodeinfo_of(&self, id: NodeId) -> NodeInfo {
        self.node_info(id).unwrap_or_default()
    }

    fn find_cmd(&self, here: NodeId, by: impl Fn(&NgCmd) -> bool) -> Option<&'static NgCmd> {
        let ty = self.core.nodes.get(&here)?.ty.clone();
        ty.cmdlist()
            .iter()
            .find(|c| by(c))
            .or_else(|| NG_GENERIC_CMDS.iter().find(|c| by(c)))
    }

    fn generic_msg(
        &mut self,
        here: NodeId,
        _from: NodeId,
        msg: &NgMesg,
    ) -> Result<Option<Vec<u8>>, Errno> {
        let d = &msg.data;
        match msg.header.cmd {
            NGM_SHUTDOWN => {
                self.shutdown_inner(here)?;
                Ok(None)
            }
            NGM_MKPEER => {
                let m = NgmMkpeer::from_bytes(d)?;
                valid_hook_name(&m.ourhook)?;
                valid_hook_name(&m.peerhook)?;
                if self
                    .core
                    .nodes
                    .get(&here)
                    .is_some_and(|n| n.hook(&m.ourhook).is_some())
                {
                    return Err(Errno::EEXIST);
                }
                let peer = self.make_node(&m.type_name)?;
                if let Err(e) = self.connect_inner(here, &m.ourhook, peer, &m.peerhook) {
                    let _ = self.shutdown_inner(peer);
                    return Err(e);
                }
                Ok(None)
            }
            NGM_CONNECT => {
                let m = NgmConnect::from_bytes(d)?;
                let (peer, _) = resolve(&self.core, here, &m.path)?;
                self.connect_inner(here, &m.ourhook, peer, &m.peerhook)?;
                Ok(None)
            }
            NGM_NAME => {
                let m = NgmName::from_bytes(d)?;
                self.name_node(here, &m.name)?;
                Ok(None)
            }
            NGM_RMHOOK => {
                let m = NgmRmhook::from_bytes(d)?;
                self.destroy_hook(here, &m.ourhook);
                Ok(None)
            }
            NGM_NODEINFO => Ok(Some(self.nodeinfo_of(here).to_bytes()?)),
            NGM_LISTHOOKS => {
                let n = self.core.nodes.get(&here).ok_or(Errno::ENOENT)?;
                let links = n
                    .hooks
                    .iter()
                    .rev()
                    .map(|h| LinkInfo {
                        ourhook: h.name.clone(),
                        peerhook: h.peer_hook.to_string(),
                        nodeinfo: self.nodeinfo_of(h.peer_node),
                    })
                    .collect();
                let hl = HookList {
                    nodeinfo: self.nodeinfo_of(here),
                    links,
                };
                Ok(Some(hl.to_bytes()?))
            }
            NGM_LISTNAMES | NGM_LISTNODES => {
                let named_only = msg.header.cmd == NGM_LISTNAMES;
                let nodes = self
                    .node_ids()
                    .into_iter()
                    .filter_map(|id| self.node_info(id))
                    .filter(|i| !named_only || !i.name.is_empty())
                    .collect();
                Ok(Some(NameList { nodes }.to_bytes()?))
            }
            NGM_LISTTYPES => {
                let types = self
                    .core
                    .types
                    .names()
                    .into_iter()
                    .map(|t| TypeInfo {
                        type_name: t.to_owned(),
                        numnodes: self.count_type(t) as u32,
                    })
                    .collect();
                Ok(Some(TypeList { types }.to_bytes()?))
            }
            NGM_BINARY2ASCII => {
                let inner = NgMesg::from_bytes(d)?;
                let h = &inner.header;
                let cmd = self
                    .find_cmd(here, |c| c.cookie == h.typecookie && c.cmd == h.cmd)
                    .ok_or(Errno::EINVAL)?;
                let ty = if inner.is_resp() { cmd.resp } else { cmd.arg };
                let text = match ty {
                    Some(t) => ng_parse::binary_to_ascii(t, &inner.data)?,
                    None if inner.data.is_empty() => String::new(),
                    None => return Err(Errno::EINVAL),
                };
                let mut out = text.into_bytes();
                out.push(0);
                let mut hdr = h.clone();
                hdr.cmdstr = cmd.name.to_owned();
                Ok(Some(
                    NgMesg {
                        header: hdr,
                        data: out,
                    }
                    .to_bytes()?,
                ))
            }
            NGM_ASCII2BINARY => {
                let inner = NgMesg::from_bytes(d)?;
                let h = &inner.header;
                let cmd = self
                    .find_cmd(here, |c| c.name == h.cmdstr)
                    .ok_or(Errno::EINVAL)?;
                let n = inner
                    .data
                    .iter()
                    .position(|&c| c == 0)
                    .unwrap_or(inner.data.len());
                let text = std::str::from_utf8(&inner.data[..n]).map_err(|_| Errno::EINVAL)?;
                let ty = if inner.is_resp() { cmd.resp } else { cmd.arg };
                let bin = match ty {
                    Some(t) => ng_parse::ascii_to_binary(t, text)?,
                    None if text.trim().is_empty() => Vec::new(),
                    None => return Err(Errno::EINVAL),
                };
                let mut hdr = h.clone();
                hdr.typecookie = cmd.cookie;
                hdr.cmd = cmd.cmd;
                hdr.cmdstr = cmd.name.to_owned();
                Ok(Some(
                    NgMesg {
                        header: hdr,
                        data: bin,
                    }
                    .to_bytes()?,
                ))
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Drop for NgSpace {
    /// Nodes left in a space that goes (persistent ones) leave its zone.
    fn drop(&mut self) {
        if let Some(z) = &self.core.zone {
            z.free(self.core.nodes.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn info(s: &mut NgSpace, me: NodeId, path: &str) -> Result<NodeInfo, Errno> {
        let r = generic(s, me, path, NGM_NODEINFO, vec![])?;
        assert_eq!(r.len(), 1);
        assert!(r[0].is_resp());
        assert_eq!(r[0].header.token, 7);
        NodeInfo::from_bytes(&r[0].data)
    }

    #[test]
    fn mkpeer_name_and_addressing() {
        let (mut s, me) = space();
        assert_eq!(me, 1);
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        let hub = s.hook_peer(me, "h0").unwrap().0;
        assert_eq!(hub, 2);
        // relative hook path, `.` and `.:`
        assert_eq!(info(&mut s, me, "h0").unwrap().id, hub);
        assert_eq!(info(&mut s, me, ".").unwrap().type_name, "socket");
        assert_eq!(info(&mut s, me, ".:h0").unwrap().id, hub);
        assert_eq!(info(&mut s, me, "h0.").unwrap().id, hub);
        name(&mut s, me, "h0", "hub0").unwrap();
        let i = info(&mut s, me, "hub0:").unwrap();
        assert_eq!(
            (i.name.as_str(), i.type_name.as_str(), i.hooks),
            ("hub0", "hub", 1)
        );
        assert_eq!(info(&mut s, me, "[2]:").unwrap().name, "hub0");
        assert_eq!(info(&mut s, me, "[00000002]:").unwrap().name, "hub0");
        assert_eq!(info(&mut s, me, "hub0:a").unwrap().id, me);
        assert_eq!(info(&mut s, me, "hub0:a.h0").unwrap().id, hub);
        assert_eq!(info(&mut s, me, "ngctl:h0.a").unwrap().id, me);
        // errors
        assert_eq!(info(&mut s, me, "nosuch:").unwrap_err(), Errno::ENOENT);
        assert_eq!(info(&mut s, me, "[99]:").unwrap_err(), Errno::ENOENT);
        assert_eq!(info(&mut s, me, "hub0:nohook").unwrap_err(), Errno::ENOENT);
        assert_eq!(info(&mut s, me, "h0..a").unwrap_err(), Errno::EINVAL);
        assert_eq!(info(&mut s, me, "..").unwrap_err(), Errno::EINVAL);
        assert_eq!(info(&mut s, me, "ngctl:..").unwrap_err(), Errno::EINVAL);
        assert_eq!(info(&mut s, me, "a:b:").unwrap_err(), Errno::EINVAL);
        assert_eq!(info(&mut s, me, "").unwrap_err(), Errno::EINVAL);
        assert_eq!(
            info(&mut s, me, &"x".repeat(600)).unwrap_err(),
            Errno::EINVAL
        );
    }

    #[test]
    fn name_and_hook_errors() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        for bad in ["a.b", "a:b", "[12]", "", &"n".repeat(31)] {
            let e = if bad.len() == 31 {
                None
            } else {
                Some(Errno::EINVAL)
            };
            assert_eq!(name(&mut s, me, "h0", bad).err(), e, "{bad}");
        }
        assert_eq!(
            name(&mut s, me, "h0", &"n".repeat(32)).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            name(&mut s, me, "h0", "ngctl").unwrap_err(),
            Errno::EADDRINUSE
        );
        // hook errors
        assert_eq!(
            mkpeer(&mut s, me, ".", "hub", "h0", "x").unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            mkpeer(&mut s, me, ".", "hub", "a.b", "x").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            mkpeer(&mut s, me, ".", "nosuchtype", "h1", "x").unwrap_err(),
            Errno::ENXIO
        );
        assert_eq!(
            mkpeer(&mut s, me, ".", "tee", "h1", "bogus").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(s.node_count(), 2, "failed mkpeer leaves no node behind");
        assert_eq!(
            connect(&mut s, me, ".", "h0", "h2", "b.c").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            connect(&mut s, me, ".", "h0", "h0", "b").unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            connect(&mut s, me, ".", "h0", "h2", "a").unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            connect(&mut s, me, ".", "nosuch:", "h2", "b").unwrap_err(),
            Errno::ENOENT
        );
        connect(&mut s, me, ".", "h0", "h2", "b").unwrap();
        assert_eq!(info(&mut s, me, "h2").unwrap().hooks, 2);
        // truncated and unknown messages
        assert_eq!(
            generic(&mut s, me, ".", NGM_MKPEER, vec![0; 10]).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            generic(&mut s, me, ".", NGM_NAME, vec![]).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            generic(&mut s, me, ".", 99, vec![]).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            msg(&mut s, me, "h0", 12345, 1, vec![]).unwrap_err(),
            Errno::EINVAL
        );
    }

    #[test]
    fn lists_and_rmhook_shutdown() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        mkpeer(&mut s, me, ".", "tee", "t", "left").unwrap();
        name(&mut s, me, "h0", "hub0").unwrap();
        let r = generic(&mut s, me, ".", NGM_LISTNODES, vec![]).unwrap();
        let l = NameList::from_bytes(&r[0].data).unwrap();
        let ids: Vec<u32> = l.nodes.iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![3, 2, 1], "newest first");
        let r = generic(&mut s, me, ".", NGM_LISTNAMES, vec![]).unwrap();
        assert_eq!(NameList::from_bytes(&r[0].data).unwrap().nodes.len(), 2);
        let r = generic(&mut s, me, ".", NGM_LISTHOOKS, vec![]).unwrap();
        let hl = HookList::from_bytes(&r[0].data).unwrap();
        assert_eq!(hl.links.len(), 2);
        assert_eq!(hl.links[1].ourhook, "h0");
        assert_eq!(hl.links[1].peerhook, "a");
        assert_eq!(hl.links[1].nodeinfo.name, "hub0");
        let r = generic(&mut s, me, ".", NGM_LISTTYPES, vec![]).unwrap();
        let tl = TypeList::from_bytes(&r[0].data).unwrap();
        let hub = tl.types.iter().find(|t| t.type_name == "hub").unwrap();
        assert_eq!(hub.numnodes, 1);
        // rmhook of the hub's last hook shuts it down; the tee goes when left goes.
        let rm = NgmRmhook {
            ourhook: "h0".into(),
        };
        generic(&mut s, me, ".", NGM_RMHOOK, rm.to_bytes().unwrap()).unwrap();
        assert_eq!(s.find_node("hub0"), None);
        s.rmhook(me, "t");
        assert_eq!(s.node_count(), 1);
        // rmhook of a missing hook is not an error
        generic(&mut s, me, ".", NGM_RMHOOK, rm.to_bytes().unwrap()).unwrap();
        // persistent hub survives
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        msg(&mut s, me, "h0", crate::ng_hub::NGM_HUB_COOKIE, 1, vec![]).unwrap();
        s.rmhook(me, "h0");
        assert_eq!(s.count_type("hub"), 1);
        // explicit shutdown removes it and its name
        name(&mut s, me, "[4]:", "p").unwrap();
        generic(&mut s, me, "p:", NGM_SHUTDOWN, vec![]).unwrap();
        assert_eq!(s.count_type("hub"), 0);
        assert_eq!(s.find_node("p"), None);
    }

    #[test]
    fn ascii_conversion_of_generic_messages() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        let r = ascii(&mut s, me, ".", "nodeinfo", "").unwrap().unwrap();
        assert_eq!(r, "{ name=\"ngctl\" type=\"socket\" id=0x1 hooks=1 }");
        let r = ascii(&mut s, me, "h0", "listhooks", "").unwrap().unwrap();
        assert!(
            r.contains("linkinfo=[ { ourhook=\"a\" peerhook=\"h0\""),
            "{r}"
        );
        assert_eq!(
            ascii(
                &mut s,
                me,
                ".",
                "mkpeer",
                "{ type=\"hub\" ourhook=\"x\" peerhook=\"y\" }"
            )
            .unwrap(),
            None
        );
        assert_eq!(s.count_type("hub"), 2);
        assert_eq!(
            ascii(&mut s, me, ".", "name", "{ name=\"a b\" ").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            ascii(&mut s, me, ".", "nosuchcmd", "").unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            ascii(&mut s, me, ".", "nodeinfo", "junk").unwrap_err(),
            Errno::EINVAL
        );
        // a non-ng_mesg argument to binary2ascii
        assert_eq!(
            generic(&mut s, me, ".", NGM_BINARY2ASCII, vec![1, 2]).unwrap_err(),
            Errno::EINVAL
        );
    }

    #[test]
    fn two_spaces_are_independent() {
        let types = NgTypeList::with_builtin();
        let mut a = NgSpace::new(types.clone(), 1);
        let mut b = NgSpace::new(types, 2);
        let na = a.make_node("hub").unwrap();
        a.make_node("hub").unwrap();
        let nb = b.make_node("hub").unwrap();
        assert_eq!((na, nb), (1, 1));
        a.name_node(na, "x").unwrap();
        b.name_node(nb, "x").unwrap();
        assert_eq!(a.count_type("hub"), 2);
        assert_eq!(b.count_type("hub"), 1);
        a.shutdown_node(na).unwrap();
        assert_eq!(b.find_node("x"), Some(1));
        assert_eq!(a.find_node("x"), None);
    }

    #[test]
    fn type_registry() {
        let l = NgTypeList::with_builtin();
        assert_eq!(
            l.register(Arc::new(crate::ng_hub::HubType)),
            Err(Errno::EEXIST)
        );
        let mut s = NgSpace::new(l.clone(), 0);
        s.make_node("hub").unwrap();
        assert_eq!(l.unregister("hub", s.count_type("hub")), Err(Errno::EBUSY));
        assert_eq!(l.unregister("nosuch", 0), Err(Errno::ENOENT));
        assert_eq!(l.unregister("tee", s.count_type("tee")), Ok(()));
        assert!(l.find("tee").is_none());
        assert_eq!(s.make_node("tee"), Err(Errno::ENXIO));
    }

    #[test]
    fn hub_storm_is_bounded() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "a").unwrap();
        mkpeer(&mut s, me, "h0", "hub", "b", "a").unwrap();
        connect(&mut s, me, "h0", "b", "c", "c").unwrap();
        connect(&mut s, me, "h0", "b", "d", "d").unwrap();
        s.set_queue_limit(64);
        // With the largest hop budget the storm outlasts one run: run is
        // bounded, drops are counted.
        s.set_max_hops(NG_MAXHOPS_LIMIT);
        s.set_run_budget(10_000);
        s.send_data(me, "h0", vec![1, 2, 3]).unwrap();
        assert!(s.has_work());
        assert!(s.stats().queue_drops > 0);
        for _ in 0..3 {
            s.run();
        }
        s.shutdown_node(2).unwrap();
        s.run();
        s.run();
        assert!(!s.has_work());
        assert!(!s.take_output().is_empty());
    }

    /// Run until the space is idle; the number of work items handled.
    fn drain(s: &mut NgSpace) -> usize {
        let mut n = 0;
        for _ in 0..1000 {
            if !s.has_work() {
                return n;
            }
            n += s.run();
        }
        panic!("the graph never went idle");
    }

    #[test]
    fn hub_joined_to_itself_ends_by_itself() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "in").unwrap();
        connect(&mut s, me, "h0", ".", "x", "y").unwrap();
        s.send_data(me, "h0", vec![1, 2, 3]).unwrap();
        // Two copies circle (x -> y and y -> x), each leaving a copy for us
        // at every turn, until their hop budget is spent: within one run.
        // The last turn's four copies (two round, two for us) are dropped.
        assert!(!s.has_work(), "the loop outlived its hop budget");
        let st = s.stats();
        assert_eq!(st.hop_drops, 4, "{st:?}");
        let back = frames(&s.take_output(), me, "h0");
        assert_eq!(back.len(), 2 * (NG_MAXHOPS as usize - 2));
        assert_eq!(st.frames, 1 + 2 + 4 * (u64::from(NG_MAXHOPS) - 2), "{st:?}");
        // Later operations find nothing left to do.
        assert_eq!(s.run(), 0);
        assert_eq!(info_hooks(&mut s, me, "h0"), 3);
        s.check_invariants().unwrap();
    }

    fn info_hooks(s: &mut NgSpace, me: NodeId, path: &str) -> u32 {
        let r = generic(s, me, path, NGM_NODEINFO, vec![]).unwrap();
        NodeInfo::from_bytes(&r[0].data).unwrap().hooks
    }

    #[test]
    fn hub_pair_with_parallel_links_is_bounded() {
        // Every turn doubles the frames (three links between two hubs): the
        // queue bounds the width, the hop budget the depth.
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h0", "in").unwrap();
        mkpeer(&mut s, me, "h0", "hub", "l0", "l0").unwrap();
        connect(&mut s, me, "h0", "l0", "l1", "l1").unwrap();
        connect(&mut s, me, "h0", "l0", "l2", "l2").unwrap();
        s.set_max_hops(32);
        s.send_data(me, "h0", vec![7; 60]).unwrap();
        let n = drain(&mut s);
        assert!(n <= NG_QUEUE_LIMIT * 32, "{n} items");
        assert!(s.stats().hop_drops > 0);
        assert_eq!(s.run(), 0);
        s.check_invariants().unwrap();
    }

    #[test]
    fn tee_ring_is_bounded() {
        // t1.right -> t2.left, t2.right -> t1.left: what enters goes round,
        // copied to us out of t1's left2right each time.
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "tee", "t", "left2right").unwrap();
        name(&mut s, me, "t", "t1").unwrap();
        mkpeer(&mut s, me, "t1:", "tee", "right", "left").unwrap();
        name(&mut s, me, "t1:right", "t2").unwrap();
        connect(&mut s, me, "t2:", "t1:", "right", "left").unwrap();
        s.send_data(me, "t", vec![1]).unwrap();
        drain(&mut s);
        assert_eq!(s.stats().hop_drops, 1);
        // In through left2right (hop 1), then t2 and t1 in turn, t1 leaving a
        // copy for us each time.
        let copies = frames(&s.take_output(), me, "t").len() as u64;
        assert!(
            copies > 0 && copies <= u64::from(NG_MAXHOPS) / 2,
            "{copies}"
        );
        assert!(s.stats().frames <= u64::from(NG_MAXHOPS) + copies);
        assert_eq!(s.run(), 0);
    }

    #[test]
    fn pipe_keeps_the_hop_count_of_delayed_frames() {
        // A hub whose two hooks are joined through a delaying pipe: frames go
        // round on timers, and still run out of hops.
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "hub", "h", "in").unwrap();
        name(&mut s, me, "h", "h0").unwrap();
        mkpeer(&mut s, me, "h0:", "pipe", "x", "upper").unwrap();
        connect(&mut s, me, "h0:x", "h0:", "lower", "y").unwrap();
        ascii(&mut s, me, "h0:x", "setcfg", "{ delay=1000 }").unwrap();
        s.set_max_hops(20);
        s.send_data(me, "h", vec![1; 20]).unwrap();
        let mut now = s.now_ns();
        for _ in 0..100 {
            let Some(t) = s.next_timer() else { break };
            now = now.max(t);
            s.run_timers(now);
        }
        assert_eq!(s.next_timer(), None, "the pipe loop kept going");
        assert!(s.stats().hop_drops > 0);
    }

    #[test]
    fn hop_budget_is_per_frame_entering() {
        // A long chain passes when within the budget, and each new frame gets
        // the whole budget again.
        let (mut s, me) = space();
        s.set_max_hops(10);
        mkpeer(&mut s, me, ".", "tee", "a", "left").unwrap();
        let mut last = "a".to_string();
        for _ in 0..8 {
            mkpeer(&mut s, me, &last, "tee", "right", "left").unwrap();
            last = format!("{last}.right");
        }
        connect(&mut s, me, ".", &last, "z", "right").unwrap();
        // 9 tees then us: 10 hooks crossed.
        for _ in 0..3 {
            s.send_data(me, "a", vec![5]).unwrap();
            assert_eq!(frames(&s.take_output(), me, "z"), vec![vec![5]]);
        }
        assert_eq!(s.stats().hop_drops, 0);
        s.set_max_hops(9);
        s.send_data(me, "a", vec![5]).unwrap();
        assert!(frames(&s.take_output(), me, "z").is_empty());
        assert_eq!(s.stats().hop_drops, 1);
    }

    #[test]
    fn numbered_hook_names_are_built_on_the_stack() {
        assert_eq!(&*HookName::new("link", 3), "link3");
        assert_eq!(&*HookName::new("many", 1023), "many1023");
        let long = "x".repeat(40);
        assert_eq!(HookName::new(&long, 7).len(), NG_HOOKSIZ - 1);
    }

    #[test]
    fn offloaded_frames_are_finished_only_for_nodes_that_do_not_take_them() {
        // The finisher halves a frame and clears its offload flags.
        fn halve(m: Mbuf, out: &mut Vec<Mbuf>) {
            let d = m.data();
            let h = d.len() / 2;
            out.push(Mbuf::from_slice(&d[..h]));
            out.push(Mbuf::from_slice(&d[h..]));
        }
        let (mut s, me) = space();
        s.set_finish(halve);
        // us -a- tee -b- us: the tee takes the frame whole, we (a socket
        // node, handing frames to a process) get it finished.
        mkpeer(&mut s, me, ".", "tee", "a", "left").unwrap();
        connect(&mut s, me, ".", "a", "b", "right").unwrap();
        let mut m = Mbuf::from_slice(&[1, 2, 3, 4]);
        m.csum_flags = vimage_mbuf::CSUM_TSO;
        s.send_data(me, "a", m).unwrap();
        assert_eq!(
            frames(&s.take_output(), me, "b"),
            vec![vec![1, 2], vec![3, 4]]
        );
        // Without offload work left, frames go as they are.
        s.send_data(me, "a", vec![1, 2, 3, 4]).unwrap();
        assert_eq!(frames(&s.take_output(), me, "b"), vec![vec![1, 2, 3, 4]]);
    }

    /// A type for framework corner cases: its constructor names the node and
    /// fails when told to, and its timer re-arms for the current time.
    struct Odd {
        fail: bool,
    }
    struct OddNode;
    impl NgType for Odd {
        fn name(&self) -> &'static str {
            if self.fail {
                "oddfail"
            } else {
                "odd"
            }
        }
        fn cookie(&self) -> u32 {
            1
        }
        fn constructor(&self, ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
            ctx.name_self("odd0")?;
            if self.fail {
                return Err(Errno::ENOMEM);
            }
            ctx.set_timer(ctx.now_ns(), 0);
            Ok(Box::new(OddNode))
        }
    }
    impl NgNode for OddNode {
        fn newhook(&mut self, _ctx: &mut NgCtx<'_>, _name: &str) -> Result<(), Errno> {
            Ok(())
        }
        fn timeout(&mut self, ctx: &mut NgCtx<'_>, _tag: u64) {
            ctx.set_timer(ctx.now_ns(), 0);
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn failed_constructor_leaves_no_name() {
        let types = NgTypeList::with_builtin();
        types.register(Arc::new(Odd { fail: true })).unwrap();
        let mut s = NgSpace::new(types, 0);
        assert_eq!(s.make_node("oddfail"), Err(Errno::ENOMEM));
        assert_eq!(s.find_node("odd0"), None);
        s.check_invariants().unwrap();
        let h = s.make_node("hub").unwrap();
        s.name_node(h, "odd0").unwrap();
    }

    #[test]
    fn timer_storm_is_bounded() {
        let types = NgTypeList::with_builtin();
        types.register(Arc::new(Odd { fail: false })).unwrap();
        let mut s = NgSpace::new(types, 0);
        s.make_node("odd").unwrap();
        s.set_run_budget(1000);
        // Re-arming for "now" forever: each call returns, the timer stays due.
        s.run_timers(5);
        s.run_timers(5);
        assert_eq!(s.next_timer(), Some(5));
        s.check_invariants().unwrap();
    }

    #[test]
    fn data_path_and_errors() {
        let (mut s, me) = space();
        assert_eq!(s.send_data(me, "nohook", vec![1]), Err(Errno::ENOTCONN));
        mkpeer(&mut s, me, ".", "hub", "a", "1").unwrap();
        connect(&mut s, me, ".", "a", "b", "2").unwrap();
        s.send_data(me, "a", vec![9]).unwrap();
        let out = s.take_output();
        assert_eq!(frames(&out, me, "b"), vec![vec![9]]);
        assert!(frames(&out, me, "a").is_empty());
    }

    #[test]
    fn node_limits_of_a_space_and_of_its_zone() {
        let zone = NgNodeZone::new(Arc::new(AtomicI64::new(4)));
        let (mut a, me) = space();
        a.set_node_zone(Some(zone.clone()));
        assert_eq!(zone.count(), 1, "the socket node moves into the zone");
        a.set_max_nodes(2);
        mkpeer(&mut a, me, ".", "hub", "h", "x").unwrap();
        assert_eq!(
            mkpeer(&mut a, me, ".", "hub", "h2", "x"),
            Err(Errno::ENOMEM),
            "the space's own bound"
        );
        assert_eq!(a.node_count(), 2);
        a.set_max_nodes(0);
        mkpeer(&mut a, me, ".", "hub", "h2", "x").unwrap();
        let types = NgTypeList::with_builtin();
        types.register(Arc::new(Odd { fail: true })).unwrap();
        let mut b = NgSpace::new(types, 2);
        b.set_node_zone(Some(zone.clone()));
        b.make_node("hub").unwrap();
        assert_eq!(zone.count(), 4);
        assert_eq!(b.make_node("hub"), Err(Errno::ENOMEM), "the zone is full");
        // A node that goes gives its place back, as does a failed constructor.
        let h2 = a.resolve(me, "h2").unwrap();
        a.shutdown_node(h2).unwrap();
        assert_eq!(zone.count(), 3);
        assert_eq!(b.make_node("oddfail"), Err(Errno::ENOMEM));
        assert_eq!(zone.count(), 3);
        b.make_node("hub").unwrap();
        drop(b);
        assert_eq!(zone.count(), 2, "a space that goes takes its nodes along");
        a.set_node_zone(None);
        assert_eq!(zone.count(), 0);
        a.check_invariants().unwrap();
    }
}
