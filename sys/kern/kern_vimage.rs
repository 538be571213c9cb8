//! `struct vimage` and the vimage management operations (the 7.0 patch's
//! kern_vimage.c): create, destroy, switch, move an interface, list.
//!
//! Vimages form a tree rooted at "default", which exists from boot and cannot be
//! destroyed.  Every name a process gives is relative to its own vimage (`.` is
//! itself, `a.b` is child `b` of child `a`); a process sees and manages only its own
//! vimage and its descendants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use vimage_abi::vimage::*;
use vimage_abi::{Errno, MAXHOSTNAMELEN};

use super::kern_syscall::{Kernel, Td};
use super::vnet::{CurvnetGuard, Vnet};
use crate::net::r#if::{if_vmove, ifunit};

/// A vimage: a named node of the tree owning a vnet, a hostname and processes.
pub struct Vimage {
    id: u32,
    name: String,
    parent: Option<Weak<Vimage>>,
    children: Mutex<Vec<Arc<Vimage>>>,
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

impl Vimage {
    pub(crate) fn new(
        id: u32,
        name: &str,
        parent: Option<&Arc<Vimage>>,
        vnet: Arc<Vnet>,
    ) -> Arc<Self> {
        Arc::new(Vimage {
            id,
            name: name.to_string(),
            parent: parent.map(Arc::downgrade),
            children: Mutex::new(Vec::new()),
            vnet,
            hostname: Mutex::new(String::new()),
            dead: AtomicBool::new(false),
        })
    }
    /// Numeric id (0 = default).
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Own name (last component).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Parent, `None` at the top.
    pub fn parent(&self) -> Option<Arc<Vimage>> {
        self.parent.as_ref()?.upgrade()
    }
    /// Children, newest first (as the 7.0 patch lists them).
    pub fn children(&self) -> Vec<Arc<Vimage>> {
        self.children.lock().map(|c| c.clone()).unwrap_or_default()
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
    /// Depth-first walk of the subtree, self first.
    pub fn subtree(self: &Arc<Self>) -> Vec<Arc<Vimage>> {
        let mut out = vec![self.clone()];
        for c in self.children() {
            out.extend(c.subtree());
        }
        out
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

/// Resolve `name` relative to `caller` (ENOENT if absent, EINVAL if malformed).
pub fn vi_lookup(caller: &Arc<Vimage>, name: &str) -> Result<Arc<Vimage>, Errno> {
    if name == "." || name.is_empty() || (caller.parent().is_none() && name == caller.name()) {
        return Ok(caller.clone());
    }
    let mut cur = caller.clone();
    for comp in name.split('.') {
        vi_name_valid(comp)?;
        let next = cur
            .children()
            .into_iter()
            .find(|c| c.name() == comp)
            .ok_or(Errno::ENOENT)?;
        cur = next;
    }
    Ok(cur)
}

impl Kernel {
    /// VI_CREATE: a new child (`a.b`: child `b` of descendant `a`).
    pub fn vi_create(&self, caller: &Arc<Vimage>, name: &str) -> Result<Arc<Vimage>, Errno> {
        if !crate::VIMAGE {
            return Err(Errno::EOPNOTSUPP);
        }
        let (ppath, leaf) = match name.rsplit_once('.') {
            Some((p, l)) => (p, l),
            None => ("", name),
        };
        vi_name_valid(leaf)?;
        let _tree = self.tree_lock();
        let parent = vi_lookup(caller, ppath)?;
        if parent.children().iter().any(|c| c.name() == leaf) {
            return Err(Errno::EEXIST);
        }
        let vnet = self.registry().vnet_alloc(leaf)?;
        let v = Vimage::new(vnet.id(), leaf, Some(&parent), vnet);
        if let Ok(mut c) = parent.children.lock() {
            c.insert(0, v.clone());
        }
        Ok(v)
    }

    /// VI_DESTROY: EPERM unless strictly below the caller; EBUSY while it has child
    /// vimages, processes or sockets.  Its foreign interfaces return where they came
    /// from under their old names; its own (lo0, clones) are destroyed.
    pub fn vi_destroy(&self, caller: &Arc<Vimage>, name: &str) -> Result<(), Errno> {
        let _tree = self.tree_lock();
        let v = vi_lookup(caller, name)?;
        if v.parent().is_none() {
            // "default" always exists.
            return Err(Errno::EBUSY);
        }
        if !v.is_strictly_within(caller) {
            return Err(Errno::EPERM);
        }
        if !v.children().is_empty() {
            return Err(Errno::EBUSY);
        }
        if self.procs.counts().get(&v.id()).copied().unwrap_or(0) > 0 {
            return Err(Errno::EBUSY);
        }
        if v.vnet.sockcnt.load(Ordering::Relaxed) > 0 {
            return Err(Errno::EBUSY);
        }
        self.vi_free(&v);
        Ok(())
    }

    /// Unlink and tear down `v` (no checks).
    pub(crate) fn vi_free(&self, v: &Arc<Vimage>) {
        if let Some(p) = v.parent() {
            if let Ok(mut c) = p.children.lock() {
                c.retain(|x| !Arc::ptr_eq(x, v));
            }
        }
        v.dead.store(true, Ordering::Release);
        self.procs.purge(v);
        self.registry().vnet_destroy(&v.vnet);
    }

    /// VI_SWITCHTO: move the calling process into `name` (strictly below its own).
    pub fn vi_switchto(&self, td: &mut Td, name: &str) -> Result<(), Errno> {
        let v = vi_lookup(&td.vimage, name)?;
        if !v.is_strictly_within(&td.vimage) {
            return Err(Errno::EPERM);
        }
        self.procs.anchor(td.pid, &v);
        td.vimage = v;
        Ok(())
    }

    /// VI_IFACE: move interface `ifname` of the caller's vimage into `target` (`-`:
    /// the parent, restoring the interface's name there).  Returns the new name.
    pub fn vi_iface(
        &self,
        caller: &Arc<Vimage>,
        target: &str,
        ifname: &str,
        newname: Option<&str>,
    ) -> Result<(String, Arc<Vimage>), Errno> {
        let _tree = self.tree_lock();
        let dest = if target == "-" {
            caller.parent().ok_or(Errno::EPERM)?
        } else {
            let d = vi_lookup(caller, target)?;
            if !d.is_strictly_within(caller) {
                return Err(Errno::EPERM);
            }
            d
        };
        let ifp = {
            let _cv = CurvnetGuard::set(&caller.vnet);
            ifunit(ifname).ok_or(Errno::ENOENT)?
        };
        let _cv = CurvnetGuard::set(&caller.vnet);
        let back = ifp
            .came_from()
            .filter(|(v, _)| Arc::ptr_eq(v, &dest.vnet))
            .map(|(_, n)| n);
        let name = match (newname, &back) {
            (Some(n), _) => if_vmove(&ifp, &dest.vnet, Some(n), back.is_some())?,
            (None, Some(n)) => if_vmove(&ifp, &dest.vnet, Some(n), true)?,
            (None, None) => if_vmove(&ifp, &dest.vnet, None, false)?,
        };
        Ok((name, dest))
    }

    /// Counters of `v` as VI_GET reports them.
    pub fn vi_req_of(&self, caller: &Arc<Vimage>, v: &Arc<Vimage>, procs: u32) -> ViReq {
        ViReq {
            proc_count: procs,
            if_count: v.vnet.ifcnt.load(Ordering::Relaxed),
            sock_count: v.vnet.sockcnt.load(Ordering::Relaxed),
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
    /// an empty name starts the walk).
    pub fn vi_get(&self, caller: &Arc<Vimage>, req: &ViReq) -> Result<ViReq, Errno> {
        let counts = self.procs.counts();
        let procs = |v: &Arc<Vimage>| counts.get(&v.id()).copied().unwrap_or(0);
        match req.action {
            VI_GET => {
                let v = vi_lookup(caller, &req.name)?;
                Ok(self.vi_req_of(caller, &v, procs(&v)))
            }
            VI_GETNEXT | VI_GETNEXT_RECURSE => {
                let walk = caller.subtree();
                let next = if req.name.is_empty() {
                    walk.first().cloned()
                } else {
                    let cur = vi_lookup(caller, &req.name)?;
                    let pos = walk
                        .iter()
                        .position(|x| Arc::ptr_eq(x, &cur))
                        .ok_or(Errno::ENOENT)?;
                    walk.get(pos + 1).cloned()
                };
                let v = next.ok_or(Errno::ESRCH)?;
                Ok(self.vi_req_of(caller, &v, procs(&v)))
            }
            _ => Err(Errno::EINVAL),
        }
    }
}
