//! `struct vimage` and the vimage management operations (the 7.0 patch's
//! kern_vimage.c): create, destroy, switch, move an interface, list.
//!
//! Vimages form a tree rooted at "default", which exists from boot and cannot be
//! destroyed.  Every name a process gives is relative to its own vimage (`.` is
//! itself, `a.b` is child `b` of child `a`); a process sees and manages only its own
//! vimage and its descendants.
//!
//! # Limits
//!
//! A process inside a vimage may create vimages below it, so the tree is bounded as
//! FreeBSD bounds hierarchical jails (`children.max`, the prison name length), with
//! the same errors:
//!
//! | sysctl | default | refused with |
//! |---|---|---|
//! | `security.vimage.max` | 32768 vimages besides default | `EPERM` |
//! | `security.vimage.max_depth` | 32 levels below default | `EPERM` |
//! | `security.vimage.children.max` | 1024 descendants of any vimage below default | `EPERM` |
//! | full name (as default names it, `a.b.c`) | 255 bytes (`MAXHOSTNAMELEN` - 1) | `ENAMETOOLONG` |
//!
//! The three sysctls are written from default only; `security.vimage.children.cur`
//! reads how many descendants the caller's vimage has.  Like a jail's
//! `children.cur`, descendants count against every ancestor: a vimage cannot escape
//! its limit by nesting.  The name bound keeps every name the kernel reports
//! (`vimage -l`) within a `vi_req`.  Reserved names are refused with `EINVAL`:
//! `default`, and anything empty or starting with `.` (`.`, `..`, `.x`).
//! What a vimage holds (sockets, interfaces, netgraph nodes) is bounded by
//! [`super::kern_resource`] (`security.vimage.maxsockets` and friends).
//!
//! Every walk of the tree is iterative (a chain of any depth cannot exhaust a
//! syscall thread's stack), a child is found by name through a hash, and the
//! depth-first successor used by `vimage -l` is found from the previous entry in
//! O(depth + log n), so listing n vimages costs O(n log n) in all.
//!
//! Destroying a vimage detaches it from the tree under the tree lock and tears its
//! stack (interfaces, netgraph graph, sockets' protocol state) down after the lock
//! is released: creating, destroying or entering other vimages does not wait for
//! a big graph to go.  Its parent stays busy (`EBUSY` for `vimage -d`) until the
//! teardown has finished, since the teardown hands interfaces back to it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD};
use vimage_abi::vimage::*;
use vimage_abi::{Errno, MAXHOSTNAMELEN};

use super::kern_syscall::{Kernel, Td};
use super::kern_sysctl::{Oid, SysctlCtx, SysctlTree};
use super::vnet::Vnet;

/// Registry slot of the vimage tree's root ([`VimageRoot`]): how the network
/// stack finds the hostname that goes with a vnet.
pub const KERN_HOSTNAME_SLOT: usize = 64;

/// The root of a kernel's vimage tree, held weakly (the kernel owns the
/// tree) where every vnet's registry reaches it.
pub struct VimageRoot(pub Weak<Vimage>);

/// The hostname of the vimage whose stack `vnet` is (7.0's `V_hostname` of
/// the vprocg beside the vnet): what IPv6 hashes into an interface
/// identifier when an interface has no hardware address to make one from.
/// Empty when unset or unknown.
pub fn vnet_hostname(vnet: &Arc<Vnet>) -> String {
    let Some(root) = vnet
        .registry()
        .and_then(|r| r.global::<VimageRoot>(KERN_HOSTNAME_SLOT))
        .and_then(|r| r.0.upgrade())
    else {
        return String::new();
    };
    root.subtree()
        .into_iter()
        .find(|v| Arc::ptr_eq(&v.vnet, vnet))
        .map(|v| v.hostname())
        .unwrap_or_default()
}

/// Default of `security.vimage.max`: vimages the kernel holds besides default.
pub const VIMAGE_MAX: i64 = 32768;
/// Default of `security.vimage.max_depth`: levels below default.
pub const VIMAGE_MAX_DEPTH: i64 = 32;
/// Default of `security.vimage.children.max`: descendants of a vimage below default.
pub const VIMAGE_CHILDREN_MAX: i64 = 1024;
/// Largest value `security.vimage.max` and `security.vimage.children.max` accept
/// (FreeBSD's `JAIL_MAX`).
pub const VIMAGE_MAX_LIMIT: i64 = 999_999;
/// Largest `security.vimage.max_depth`: the deepest chain whose full name still
/// fits in `MAXHOSTNAMELEN` (one-byte names and dots).
pub const VIMAGE_MAX_DEPTH_LIMIT: i64 = (MAXHOSTNAMELEN / 2) as i64;
/// How long (ns) the process counts taken when a `VI_GETNEXT_RECURSE` walk
/// starts serve the rest of it.
const WALK_SNAPSHOT_NS: u64 = 1_000_000_000;

/// A vimage's children: by id (ids grow with creation, so the newest is last) and
/// by name.
#[derive(Default)]
struct Children {
    by_id: BTreeMap<u32, Arc<Vimage>>,
    by_name: HashMap<String, u32>,
}

impl Children {
    fn get(&self, name: &str) -> Option<Arc<Vimage>> {
        self.by_name
            .get(name)
            .and_then(|id| self.by_id.get(id))
            .cloned()
    }
    fn insert(&mut self, v: Arc<Vimage>) {
        self.by_name.insert(v.name.clone(), v.id);
        self.by_id.insert(v.id, v);
    }
    fn remove(&mut self, v: &Vimage) -> Option<Arc<Vimage>> {
        let x = self.by_id.remove(&v.id)?;
        self.by_name.remove(&v.name);
        Some(x)
    }
    /// The newest child.
    fn first(&self) -> Option<Arc<Vimage>> {
        self.by_id.values().next_back().cloned()
    }
    /// The child listed after the one with id `id` (the next older one).
    fn after(&self, id: u32) -> Option<Arc<Vimage>> {
        self.by_id.range(..id).next_back().map(|(_, v)| v.clone())
    }
    fn take(&mut self) -> Vec<Arc<Vimage>> {
        self.by_name.clear();
        std::mem::take(&mut self.by_id).into_values().collect()
    }
}

/// A vimage: a named node of the tree owning a vnet, a hostname and processes.
pub struct Vimage {
    id: u32,
    name: String,
    parent: Option<Weak<Vimage>>,
    children: Mutex<Children>,
    /// Levels below default (0 for default).
    depth: usize,
    /// Length of its full name as default names it (`a.b.c`; 0 for default).
    path_len: usize,
    /// Vimages below it, dying ones included until their teardown ends.
    descendants: AtomicUsize,
    /// Children detached from the tree whose teardown is still running.
    dying: AtomicUsize,
    /// Its network stack.
    pub vnet: Arc<Vnet>,
    /// Its hostname (`kern.hostname` inside it).
    pub hostname: Mutex<String>,
    dead: AtomicBool,
}

impl std::fmt::Debug for Vimage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vimage({})", self.name)
    }
}

impl Drop for Vimage {
    /// Children go one at a time, not by recursion: dropping a deep chain must
    /// not exhaust the stack.
    fn drop(&mut self) {
        let mut stack = lock_children_mut(&mut self.children).take();
        while let Some(c) = stack.pop() {
            if let Ok(mut v) = Arc::try_unwrap(c) {
                stack.extend(lock_children_mut(&mut v.children).take());
            }
        }
    }
}

fn lock_children_mut(m: &mut Mutex<Children>) -> &mut Children {
    match m.get_mut() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    }
}

impl Vimage {
    pub(crate) fn new(
        id: u32,
        name: &str,
        parent: Option<&Arc<Vimage>>,
        vnet: Arc<Vnet>,
    ) -> Arc<Self> {
        let (depth, path_len) = match parent {
            None => (0, 0),
            Some(p) if p.depth == 0 => (1, name.len()),
            Some(p) => (p.depth + 1, p.path_len + 1 + name.len()),
        };
        Arc::new(Vimage {
            id,
            name: name.to_string(),
            parent: parent.map(Arc::downgrade),
            children: Mutex::new(Children::default()),
            depth,
            path_len,
            descendants: AtomicUsize::new(0),
            dying: AtomicUsize::new(0),
            vnet,
            hostname: Mutex::new(String::new()),
            dead: AtomicBool::new(false),
        })
    }
    fn kids(&self) -> MutexGuard<'_, Children> {
        match self.children.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Numeric id (0 = default).
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Own name (last component).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Levels below default (0 for default itself).
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// How many vimages are below it (`security.vimage.children.cur`).
    pub fn descendants(&self) -> usize {
        self.descendants.load(Ordering::Acquire)
    }
    /// Parent, `None` at the top.
    pub fn parent(&self) -> Option<Arc<Vimage>> {
        self.parent.as_ref()?.upgrade()
    }
    /// Children, newest first (as the 7.0 patch lists them).
    pub fn children(&self) -> Vec<Arc<Vimage>> {
        self.kids().by_id.values().rev().cloned().collect()
    }
    /// The child called `name`.
    pub fn child(&self, name: &str) -> Option<Arc<Vimage>> {
        self.kids().get(name)
    }
    /// Whether it has been destroyed.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
    /// Whether `self` is `anc` or below it.
    pub fn is_within(self: &Arc<Self>, anc: &Arc<Vimage>) -> bool {
        let mut cur = Some(self.clone());
        while let Some(c) = cur {
            if Arc::ptr_eq(&c, anc) {
                return true;
            }
            cur = c.parent();
        }
        false
    }
    /// `self` strictly below `anc`.
    pub fn is_strictly_within(self: &Arc<Self>, anc: &Arc<Vimage>) -> bool {
        !Arc::ptr_eq(self, anc) && self.is_within(anc)
    }
    /// The hostname.
    pub fn hostname(&self) -> String {
        self.hostname.lock().map(|h| h.clone()).unwrap_or_default()
    }
    /// Depth-first walk of the subtree, self first, children newest first
    /// (iterative: any depth).
    pub fn subtree(self: &Arc<Self>) -> Vec<Arc<Vimage>> {
        let mut out = Vec::new();
        let mut stack = vec![self.clone()];
        while let Some(v) = stack.pop() {
            // Oldest pushed first so the newest is visited first.
            stack.extend(v.kids().by_id.values().cloned());
            out.push(v);
        }
        out
    }
    /// The vimage after `self` in the depth-first walk of `top`'s subtree (what
    /// [`Vimage::subtree`] would list next), without walking the tree.
    pub fn next_within(self: &Arc<Self>, top: &Arc<Vimage>) -> Option<Arc<Vimage>> {
        if let Some(c) = self.kids().first() {
            return Some(c);
        }
        let mut x = self.clone();
        while !Arc::ptr_eq(&x, top) {
            let p = x.parent()?;
            if let Some(s) = p.kids().after(x.id) {
                return Some(s);
            }
            x = p;
        }
        None
    }
    /// Ancestors from the parent up to default.
    fn ancestors(&self) -> impl Iterator<Item = Arc<Vimage>> {
        std::iter::successors(self.parent(), |p| p.parent())
    }
}

/// Check a vimage name component: 1..MAXHOSTNAMELEN-1 bytes of letters, digits,
/// `_` and `-`, not starting with `-` (EINVAL; ENAMETOOLONG when too long).
pub fn vi_name_valid(name: &str) -> Result<(), Errno> {
    if name.len() >= MAXHOSTNAMELEN {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty()
        || name.starts_with('-')
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Check a name given to VI_CREATE: every component valid (so no empty one, as
/// `.x`, `..x` or `a..b` would have), and the new leaf not a reserved name
/// (`default`).  EINVAL, or ENAMETOOLONG for a component that is too long.
pub fn vi_create_name_valid(name: &str) -> Result<(), Errno> {
    if name.len() >= MAXHOSTNAMELEN {
        return Err(Errno::ENAMETOOLONG);
    }
    for comp in name.split('.') {
        vi_name_valid(comp)?;
    }
    match name.rsplit('.').next() {
        Some("default") | None => Err(Errno::EINVAL),
        Some(_) => Ok(()),
    }
}

/// `v`'s name as seen from `caller`: the path below it joined with `.`, or its own
/// name for the caller itself and for vimages outside the caller's subtree (its
/// parent, when an interface is handed back with `-`).
pub fn relative_name(caller: &Arc<Vimage>, v: &Arc<Vimage>) -> String {
    if Arc::ptr_eq(caller, v) || !v.is_within(caller) {
        return v.name().to_string();
    }
    let mut parts = Vec::new();
    let mut cur = Some(v.clone());
    while let Some(c) = cur {
        if Arc::ptr_eq(&c, caller) {
            break;
        }
        parts.push(c.name().to_string());
        cur = c.parent();
    }
    parts.reverse();
    parts.join(".")
}

/// Resolve `name` relative to `caller` (ESRCH if absent, EINVAL if malformed).
pub fn vi_lookup(caller: &Arc<Vimage>, name: &str) -> Result<Arc<Vimage>, Errno> {
    if name == "." || name.is_empty() || (caller.parent().is_none() && name == caller.name()) {
        return Ok(caller.clone());
    }
    vi_walk(caller, name)
}

/// Walk `path` down from `caller`, component by component (`default.k` is
/// a child `default` of the caller, which none has: ESRCH, as 7.0's
/// `vimage_by_name`).
fn vi_walk(caller: &Arc<Vimage>, path: &str) -> Result<Arc<Vimage>, Errno> {
    let mut cur = caller.clone();
    for comp in path.split('.') {
        vi_name_valid(comp)?;
        cur = cur.child(comp).ok_or(Errno::ESRCH)?;
    }
    Ok(cur)
}

/// The bounds on the tree (`security.vimage.*`) and the process counts a
/// listing in progress reads.  The kernel holds one.
pub struct ViLimits {
    /// `security.vimage.max`.
    pub max: Arc<AtomicI64>,
    /// `security.vimage.max_depth`.
    pub max_depth: Arc<AtomicI64>,
    /// `security.vimage.children.max`.
    pub children_max: Arc<AtomicI64>,
    /// Process counts taken when the latest `VI_GETNEXT_RECURSE` walk started,
    /// with the kernel time they were taken.
    walk_counts: Mutex<Option<WalkCounts>>,
}

/// Process counts per vimage id, and the kernel time they were taken.
type WalkCounts = (u64, Arc<HashMap<u32, u32>>);

impl Default for ViLimits {
    fn default() -> Self {
        ViLimits {
            max: Arc::new(AtomicI64::new(VIMAGE_MAX)),
            max_depth: Arc::new(AtomicI64::new(VIMAGE_MAX_DEPTH)),
            children_max: Arc::new(AtomicI64::new(VIMAGE_CHILDREN_MAX)),
            walk_counts: Mutex::new(None),
        }
    }
}

impl ViLimits {
    /// Register the `security.vimage.*` sysctls.
    pub fn sysctl_init(&self, t: &SysctlTree) {
        t.add_int(
            "security.vimage.max",
            "Maximum number of vimages besides default",
            self.max.clone(),
            true,
            0,
            VIMAGE_MAX_LIMIT,
        );
        t.add_int(
            "security.vimage.max_depth",
            "Maximum depth of the vimage tree below default",
            self.max_depth.clone(),
            true,
            0,
            VIMAGE_MAX_DEPTH_LIMIT,
        );
        t.add_int(
            "security.vimage.children.max",
            "Maximum number of descendants of a vimage below default",
            self.children_max.clone(),
            true,
            0,
            VIMAGE_MAX_LIMIT,
        );
        let _ = t.add(
            "security.vimage.children.cur",
            Oid {
                flags: CTLFLAG_RD,
                descr: "Current number of descendants of this vimage",
                handler: Arc::new(|ctx: &SysctlCtx<'_>, new| {
                    if new.is_some() {
                        return Err(Errno::EPERM);
                    }
                    Ok(SysctlValue::Int(
                        i64::try_from(ctx.vimage.descendants()).unwrap_or(i64::MAX),
                    ))
                }),
            },
        );
    }

    fn get(cell: &AtomicI64) -> usize {
        usize::try_from(cell.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Whether `parent` may have one more child: depth, then the descendant
    /// limit of every ancestor (default's is `security.vimage.max`).  EPERM.
    fn admit(&self, parent: &Arc<Vimage>) -> Result<(), Errno> {
        if parent.depth + 1 > Self::get(&self.max_depth) {
            return Err(Errno::EPERM);
        }
        for a in std::iter::once(parent.clone()).chain(parent.ancestors()) {
            let limit = if a.depth == 0 {
                Self::get(&self.max)
            } else {
                Self::get(&self.children_max)
            };
            if a.descendants() >= limit {
                return Err(Errno::EPERM);
            }
        }
        Ok(())
    }
}

impl Kernel {
    /// VI_CREATE: a new child (`a.b`: child `b` of descendant `a`).  EINVAL for a
    /// malformed or reserved name, ENAMETOOLONG when its full name would not fit
    /// in MAXHOSTNAMELEN, EPERM past a limit (see the module documentation).
    pub fn vi_create(&self, caller: &Arc<Vimage>, name: &str) -> Result<Arc<Vimage>, Errno> {
        if !crate::VIMAGE {
            return Err(Errno::EOPNOTSUPP);
        }
        vi_create_name_valid(name)?;
        let (ppath, leaf) = match name.rsplit_once('.') {
            Some((p, l)) => (p, l),
            None => ("", name),
        };
        let _tree = self.tree_lock();
        // The parent part is a path below the caller, walked as every other
        // operation walks it (the caller's own name is no component of it).
        let parent = if ppath.is_empty() {
            caller.clone()
        } else {
            vi_walk(caller, ppath)?
        };
        if parent.is_dead() {
            return Err(Errno::ESRCH);
        }
        if parent.child(leaf).is_some() {
            return Err(Errno::EEXIST);
        }
        let path_len = if parent.depth == 0 {
            leaf.len()
        } else {
            parent.path_len + 1 + leaf.len()
        };
        if path_len >= MAXHOSTNAMELEN {
            return Err(Errno::ENAMETOOLONG);
        }
        self.vi_limits().admit(&parent)?;
        let vnet = self.registry().vnet_alloc(leaf)?;
        let v = Vimage::new(vnet.id(), leaf, Some(&parent), vnet);
        parent.kids().insert(v.clone());
        for a in v.ancestors() {
            a.descendants.fetch_add(1, Ordering::AcqRel);
        }
        Ok(v)
    }

    /// VI_DESTROY: EPERM unless strictly below the caller; EBUSY while it has child
    /// vimages (dying ones included), processes or sockets.  Its foreign interfaces
    /// return where they came from under their old names; its own (lo0, clones) are
    /// destroyed.  The tree lock is held only to check and detach it: the teardown
    /// runs after.
    pub fn vi_destroy(&self, caller: &Arc<Vimage>, name: &str) -> Result<(), Errno> {
        let v = {
            let _tree = self.tree_lock();
            let v = vi_lookup(caller, name)?;
            if v.parent().is_none() {
                // "default" always exists.
                return Err(Errno::EBUSY);
            }
            if !v.is_strictly_within(caller) {
                return Err(Errno::EPERM);
            }
            if !v.kids().by_id.is_empty() || v.dying.load(Ordering::Acquire) > 0 {
                return Err(Errno::EBUSY);
            }
            if self.procs.counts().get(&v.id()).copied().unwrap_or(0) > 0 {
                return Err(Errno::EBUSY);
            }
            if v.vnet.sockcnt.load(Ordering::Relaxed) > 0 {
                return Err(Errno::EBUSY);
            }
            self.vi_detach(&v);
            v
        };
        self.vi_teardown(&v);
        Ok(())
    }

    /// Unlink and tear down `v` without `vi_destroy`'s checks (processes,
    /// sockets): what halting does, and tests of teardown with state left.
    pub fn vi_free(&self, v: &Arc<Vimage>) {
        let detached = {
            let _tree = self.tree_lock();
            !v.is_dead() && self.vi_detach(v)
        };
        if detached {
            self.vi_teardown(v);
        }
    }

    /// Take `v` out of the tree (the tree lock held): nobody finds it by name
    /// any more, its processes are forgotten, and its parent counts it as dying.
    fn vi_detach(&self, v: &Arc<Vimage>) -> bool {
        let Some(p) = v.parent() else {
            return false;
        };
        p.kids().remove(v);
        p.dying.fetch_add(1, Ordering::AcqRel);
        v.dead.store(true, Ordering::Release);
        self.procs.purge(v);
        true
    }

    /// Tear down detached `v`'s stack (without the tree lock), then let its
    /// ancestors stop counting it.
    fn vi_teardown(&self, v: &Arc<Vimage>) {
        self.registry().vnet_destroy(&v.vnet);
        for a in v.ancestors() {
            a.descendants.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(p) = v.parent() {
            p.dying.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// VI_SWITCHTO: move the calling process into `name` (strictly below its own).
    pub fn vi_switchto(&self, td: &mut Td, name: &str) -> Result<(), Errno> {
        // Under the tree lock: a destroy either sees the anchor or has already
        // taken the vimage out of the tree.
        let _tree = self.tree_lock();
        let v = vi_lookup(&td.vimage, name)?;
        if !v.is_strictly_within(&td.vimage) {
            return Err(Errno::EPERM);
        }
        if v.is_dead() {
            return Err(Errno::ESRCH);
        }
        self.procs.anchor(td.pid, &v);
        td.vimage = v;
        Ok(())
    }

    /// VI_IFACE: move interface `ifname` of the caller's vimage into `target`
    /// (`..` or `-`: the parent, restoring the interface's name there).
    /// Returns the new name.
    pub fn vi_iface(
        &self,
        caller: &Arc<Vimage>,
        target: &str,
        ifname: &str,
        newname: Option<&str>,
    ) -> Result<(String, Arc<Vimage>), Errno> {
        let _tree = self.tree_lock();
        // `..` (and the tool's `-`) is the parent; an unknown target, like
        // an unknown interface, is ENXIO, as 7.0's interface move says.
        let dest = if target == "-" || target == ".." {
            caller.parent().ok_or(Errno::ENXIO)?
        } else {
            let d = vi_lookup(caller, target).map_err(|e| match e {
                Errno::ESRCH => Errno::ENXIO,
                e => e,
            })?;
            if !d.is_strictly_within(caller) {
                return Err(Errno::EPERM);
            }
            d
        };
        let ifmove = self.ifmove.ok_or(Errno::EOPNOTSUPP)?;
        let name = ifmove(&caller.vnet, ifname, &dest.vnet, newname)?;
        Ok((name, dest))
    }

    /// Counters of `v` as VI_GET reports them; the socket limit is the one in
    /// force for it (`security.vimage.maxsockets` below default, 0: none).
    pub fn vi_req_of(&self, caller: &Arc<Vimage>, v: &Arc<Vimage>, procs: u32) -> ViReq {
        ViReq {
            proc_count: procs,
            if_count: v.vnet.ifcnt.load(Ordering::Relaxed),
            sock_count: v.vnet.sockcnt.load(Ordering::Relaxed),
            sock_max: u32::try_from(self.res_limits().vimage_maxsockets(&v.vnet))
                .unwrap_or(u32::MAX),
            name: relative_name(caller, v),
            parent_name: match v.parent() {
                Some(p) if !Arc::ptr_eq(v, caller) => relative_name(caller, &p),
                Some(p) => p.name().to_string(),
                None => String::new(),
            },
            ..ViReq::default()
        }
    }

    /// SIOCGPVIMAGE: VI_GET of `req.name`, or VI_GETNEXT_RECURSE: the vimage after
    /// `req.name` in a depth-first walk of the caller's subtree (ESRCH at the end;
    /// an empty name starts the walk).  A step costs O(depth + log n), whatever
    /// the size of the tree; the process counts of a walk are those taken when it
    /// started (refreshed after a second), as ps(1) shows a snapshot.
    ///
    /// The process asking is not counted in its own vimage: the tutorial's
    /// shell in n1 running `vimage -l` sees `1 processes`.
    pub fn vi_get(&self, caller: &Arc<Vimage>, req: &ViReq) -> Result<ViReq, Errno> {
        let others = |v: &Arc<Vimage>, n: u32| {
            if Arc::ptr_eq(v, caller) {
                n.saturating_sub(1)
            } else {
                n
            }
        };
        match req.action {
            VI_GET => {
                let v = vi_lookup(caller, &req.name)?;
                let n = self.procs.counts().get(&v.id()).copied().unwrap_or(0);
                Ok(self.vi_req_of(caller, &v, others(&v, n)))
            }
            VI_GETNEXT | VI_GETNEXT_RECURSE => {
                let start = req.name.is_empty();
                let v = if start {
                    caller.clone()
                } else {
                    vi_lookup(caller, &req.name)?
                        .next_within(caller)
                        .ok_or(Errno::ESRCH)?
                };
                let counts = self.walk_counts(start);
                let n = counts.get(&v.id()).copied().unwrap_or(0);
                Ok(self.vi_req_of(caller, &v, others(&v, n)))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Process counts for a listing: fresh when a walk starts or the last ones
    /// are over a second old, else those already taken (one scan of the host's
    /// processes per listing, not one per vimage).
    fn walk_counts(&self, fresh: bool) -> Arc<HashMap<u32, u32>> {
        let now = self.now_ns();
        let lim = self.vi_limits();
        let mut g = match lim.walk_counts.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !fresh {
            if let Some((t, c)) = g.as_ref() {
                if now.saturating_sub(*t) < WALK_SNAPSHOT_NS {
                    return c.clone();
                }
            }
        }
        let c = Arc::new(self.procs.counts());
        *g = Some((now, c.clone()));
        c
    }
}

#[cfg(all(test, feature = "vimage"))]
mod tests {
    use super::*;
    use crate::vnet::ModRegistry;

    /// A chain far deeper than any limit allows (built directly, below the
    /// limits), walked and dropped on a syscall thread's 256 KiB stack.
    #[test]
    fn walks_and_drop_are_iterative() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let reg = ModRegistry::new();
                let vnet = reg.vnet_alloc("chain").expect("vnet");
                let root = Vimage::new(0, "default", None, vnet.clone());
                let mut last = root.clone();
                for i in 1..=100_000u32 {
                    let v = Vimage::new(i, "a", Some(&last), vnet.clone());
                    last.kids().insert(v.clone());
                    last = v;
                }
                assert_eq!(last.depth(), 100_000);
                assert_eq!(root.subtree().len(), 100_001);
                assert!(last.is_within(&root));
                assert_eq!(relative_name(&root, &last).len(), 2 * 100_000 - 1);
                let mut n = 1;
                let mut cur = root.clone();
                while let Some(x) = cur.next_within(&root) {
                    n += 1;
                    cur = x;
                }
                assert_eq!(n, 100_001);
                drop((cur, last));
                drop(root);
                reg.vnet_destroy(&vnet);
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
    }

    #[test]
    fn create_names() {
        for ok in ["a", "a.b", "n1.n2.n3", "default1", "x-y_z"] {
            assert_eq!(vi_create_name_valid(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".x",
            "..x",
            "x.",
            "a..b",
            "default",
            "a.default",
            "-x",
        ] {
            assert_eq!(vi_create_name_valid(bad), Err(Errno::EINVAL), "{bad}");
        }
        assert_eq!(
            vi_create_name_valid(&"x".repeat(256)),
            Err(Errno::ENAMETOOLONG)
        );
    }
}
