//! The sysctl tree (FreeBSD's sys/kern/kern_sysctl.c).
//!
//! Leaves are registered by name with a handler.  Nodes flagged `CTLFLAG_VNET` act on
//! the caller's vnet: the dispatcher has already set curvnet, so their handlers reach
//! state through `V_`.  Writing a global (non-VNET) leaf is allowed only from the
//! default vimage.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use vimage_abi::sysctl::*;
use vimage_abi::Errno;

use super::kern_vimage::Vimage;

/// What a handler sees of its caller.
pub struct SysctlCtx<'a> {
    /// The caller's vimage.
    pub vimage: &'a Arc<Vimage>,
    /// The caller's host pid (0: the kernel itself), for the few leaves
    /// that act on the host and want its privilege checked.
    pub pid: u32,
}

/// Reads the leaf and, given a new value, writes it; returns the old value.
pub type SysctlHandler =
    Arc<dyn Fn(&SysctlCtx<'_>, Option<&SysctlValue>) -> Result<SysctlValue, Errno> + Send + Sync>;

/// One leaf.
#[derive(Clone)]
pub struct Oid {
    /// `CTLFLAG_*`.
    pub flags: u32,
    /// One-line description.
    pub descr: &'static str,
    /// The handler.
    pub handler: SysctlHandler,
}

/// The tree: leaves by dotted name.
#[derive(Default)]
pub struct SysctlTree {
    oids: RwLock<BTreeMap<String, Oid>>,
}

impl SysctlTree {
    /// Add a leaf; EEXIST if present.
    pub fn add(&self, name: &str, oid: Oid) -> Result<(), Errno> {
        let mut g = self.oids.write().map_err(|_| Errno::EDOOFUS)?;
        if g.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        g.insert(name.to_string(), oid);
        Ok(())
    }

    /// Remove every leaf under `prefix` (a module unloading).
    pub fn remove_prefix(&self, prefix: &str) {
        if let Ok(mut g) = self.oids.write() {
            g.retain(|k, _| !(k == prefix || k.starts_with(&format!("{prefix}."))));
        }
    }

    /// A read-only constant string.
    pub fn add_const_str(&self, name: &str, descr: &'static str, v: String) {
        let _ = self.add(
            name,
            Oid {
                flags: CTLFLAG_RD,
                descr,
                handler: Arc::new(move |_, new| {
                    if new.is_some() {
                        return Err(Errno::EPERM);
                    }
                    Ok(SysctlValue::Str(v.clone()))
                }),
            },
        );
    }

    /// A global integer backed by `cell`, writable within `[min, max]` if `rw`.
    pub fn add_int(
        &self,
        name: &str,
        descr: &'static str,
        cell: Arc<AtomicI64>,
        rw: bool,
        min: i64,
        max: i64,
    ) {
        let _ = self.add(
            name,
            Oid {
                flags: if rw { CTLFLAG_RW } else { CTLFLAG_RD },
                descr,
                handler: Arc::new(move |_, new| {
                    let old = cell.load(Ordering::Relaxed);
                    if let Some(n) = new {
                        let n = int_of(n)?;
                        if !(min..=max).contains(&n) {
                            return Err(Errno::EINVAL);
                        }
                        cell.store(n, Ordering::Relaxed);
                    }
                    Ok(SysctlValue::Int(old))
                }),
            },
        );
    }

    /// A virtualized integer: `field` picks the cell out of module state `T` in curvnet.
    pub fn add_vnet_int<T: std::any::Any + Send + Sync>(
        &self,
        name: &str,
        descr: &'static str,
        mod_id: usize,
        field: fn(&T) -> &AtomicI64,
        min: i64,
        max: i64,
    ) {
        let _ = self.add(
            name,
            Oid {
                flags: CTLFLAG_RW | CTLFLAG_VNET,
                descr,
                handler: Arc::new(move |_, new| {
                    let st = super::vnet::V::<T>(mod_id);
                    let cell = field(&st);
                    let old = cell.load(Ordering::Relaxed);
                    if let Some(n) = new {
                        let n = int_of(n)?;
                        if !(min..=max).contains(&n) {
                            return Err(Errno::EINVAL);
                        }
                        cell.store(n, Ordering::Relaxed);
                    }
                    Ok(SysctlValue::Int(old))
                }),
            },
        );
    }

    /// `sysctlbyname`: read `name`, optionally writing `new`.  ENOENT for an unknown
    /// name, EISDIR for an interior node, EPERM for a read-only leaf or a global
    /// written from inside a vimage.
    pub fn call(
        &self,
        ctx: &SysctlCtx<'_>,
        name: &str,
        new: Option<&SysctlValue>,
    ) -> Result<SysctlReply, Errno> {
        let oid = {
            let g = self.oids.read().map_err(|_| Errno::EDOOFUS)?;
            match g.get(name) {
                Some(o) => o.clone(),
                None => {
                    let pfx = format!("{name}.");
                    if !name.is_empty()
                        && g.range(pfx.clone()..)
                            .next()
                            .is_some_and(|(k, _)| k.starts_with(&pfx))
                    {
                        return Err(Errno::EISDIR);
                    }
                    return Err(Errno::ENOENT);
                }
            }
        };
        if new.is_some() {
            if oid.flags & CTLFLAG_WR == 0 {
                return Err(Errno::EPERM);
            }
            if oid.flags & CTLFLAG_VNET == 0 && ctx.vimage.parent().is_some() {
                return Err(Errno::EPERM);
            }
        }
        let value = (oid.handler)(ctx, new)?;
        Ok(SysctlReply {
            flags: oid.flags,
            value,
            descr: oid.descr.to_string(),
        })
    }

    /// The first leaf name greater than `name` (`""` gives the first leaf).
    pub fn next(&self, name: &str) -> Option<String> {
        let g = self.oids.read().ok()?;
        g.range::<str, _>((std::ops::Bound::Excluded(name), std::ops::Bound::Unbounded))
            .next()
            .map(|(k, _)| k.clone())
    }
}

/// The integer in a written value (strings are parsed, as sysctl(8) would send).
pub fn int_of(v: &SysctlValue) -> Result<i64, Errno> {
    match v {
        SysctlValue::Int(i) => Ok(*i),
        SysctlValue::UInt(u) => i64::try_from(*u).map_err(|_| Errno::EINVAL),
        SysctlValue::Str(s) => s.trim().parse().map_err(|_| Errno::EINVAL),
        SysctlValue::Opaque(..) => Err(Errno::EINVAL),
    }
}
