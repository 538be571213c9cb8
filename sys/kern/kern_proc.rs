//! Which vimage a host process belongs to.
//!
//! vkernel's processes are ordinary host processes.  A process is placed in a vimage
//! by `vimage NAME ...`, whose helper asks the kernel to *anchor* its own pid to NAME
//! (VI_SWITCHTO) and then becomes a child subreaper.  A process belongs to the vimage
//! of its nearest anchored ancestor (default if none); orphans of anything below the
//! anchor are reparented to it, so double-forking daemons stay inside.  Once a
//! process has been seen inside a vimage it is remembered by (pid, start time), so it
//! stays there even if its anchor later dies.  Nothing the process can change in its
//! own memory or environment moves it.
//!
//! The host's process table is injected ([`HostProcs`]) so tests can fake it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::kern_vimage::Vimage;
use vimage_abi::user::{KinfoProc, KINFO_PROC_MAX};

/// The host's process table, as vkernel reads it (`/proc` on Linux).
pub trait HostProcs: Send + Sync {
    /// Parent pid of `pid`.
    fn ppid(&self, pid: u32) -> Option<u32>;
    /// Start time of `pid` (to tell a reused pid from the original).
    fn start_time(&self, pid: u32) -> Option<u64>;
    /// All live pids.
    fn pids(&self) -> Vec<u32>;
    /// The kernel's own pid (never counted in any vimage).
    fn self_pid(&self) -> u32;
    /// What ps shows of `pid` (`None`: gone, or not known).
    fn info(&self, _pid: u32) -> Option<KinfoProc> {
        None
    }
}

struct Entry {
    start: u64,
    vimage: Weak<Vimage>,
    /// Anchors are the `vimage` tool's bookkeeping processes, not counted.
    anchor: bool,
}

/// The kernel's record of process membership.
pub struct ProcTable {
    host: Arc<dyn HostProcs>,
    entries: Mutex<HashMap<u32, Entry>>,
}

/// Longest ancestry walked before giving up (a bound on hostile tables).
const MAX_DEPTH: usize = 1024;

impl ProcTable {
    /// A table over `host`.
    pub fn new(host: Arc<dyn HostProcs>) -> Self {
        ProcTable {
            host,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The injected host process table.
    pub fn host(&self) -> &Arc<dyn HostProcs> {
        &self.host
    }

    fn lookup(&self, e: &HashMap<u32, Entry>, pid: u32) -> Option<Arc<Vimage>> {
        let ent = e.get(&pid)?;
        let v = ent.vimage.upgrade()?;
        if v.is_dead() || self.host.start_time(pid) != Some(ent.start) {
            return None;
        }
        Some(v)
    }

    /// The vimage `pid` belongs to, or `None` for the top (default) vimage.
    pub fn resolve(&self, pid: u32) -> Option<Arc<Vimage>> {
        let e = self.entries.lock().ok()?;
        let mut p = pid;
        for _ in 0..MAX_DEPTH {
            if let Some(v) = self.lookup(&e, p) {
                return Some(v);
            }
            match self.host.ppid(p) {
                Some(pp) if pp != p && pp != 0 => p = pp,
                _ => break,
            }
        }
        None
    }

    /// Anchor `pid` to `v` (VI_SWITCHTO).
    pub fn anchor(&self, pid: u32, v: &Arc<Vimage>) {
        self.record(pid, v, true);
    }

    /// Remember that `pid` is in `v` (first contact from inside a vimage).
    pub fn remember(&self, pid: u32, v: &Arc<Vimage>) {
        let known = self
            .entries
            .lock()
            .map(|e| e.contains_key(&pid))
            .unwrap_or(true);
        if !known {
            self.record(pid, v, false);
        }
    }

    fn record(&self, pid: u32, v: &Arc<Vimage>, anchor: bool) {
        let Some(start) = self.host.start_time(pid) else {
            return;
        };
        if let Ok(mut e) = self.entries.lock() {
            e.insert(
                pid,
                Entry {
                    start,
                    vimage: Arc::downgrade(v),
                    anchor,
                },
            );
        }
    }

    /// Forget every entry pointing at `v` (it is being destroyed).
    pub fn purge(&self, v: &Arc<Vimage>) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|_, ent| ent.vimage.upgrade().is_some_and(|x| !Arc::ptr_eq(&x, v)));
        }
    }

    /// Every live host pid with the vimage it belongs to (`None`: the top,
    /// default) and whether it is an anchor; the kernel itself left out.
    /// Dead entries are dropped on the way.
    fn members(&self) -> Vec<(u32, Option<Arc<Vimage>>, bool)> {
        let pids = self.host.pids();
        let me = self.host.self_pid();
        let Ok(mut e) = self.entries.lock() else {
            return Vec::new();
        };
        e.retain(|pid, ent| {
            ent.vimage.strong_count() > 0 && self.host.start_time(*pid) == Some(ent.start)
        });
        let mut memo: HashMap<u32, Option<Arc<Vimage>>> = HashMap::new();
        let mut out = Vec::with_capacity(pids.len());
        for &pid in &pids {
            if pid == me {
                continue;
            }
            // Walk up until a memoized or recorded pid; memoize the whole path.
            let mut path = Vec::new();
            let mut p = pid;
            let mut found = None;
            for _ in 0..MAX_DEPTH {
                if let Some(m) = memo.get(&p) {
                    found = m.clone();
                    break;
                }
                if let Some(v) = self.lookup(&e, p) {
                    found = Some(v);
                    break;
                }
                path.push(p);
                match self.host.ppid(p) {
                    Some(pp) if pp != p && pp != 0 => p = pp,
                    _ => break,
                }
            }
            for q in path {
                memo.insert(q, found.clone());
            }
            let anchor = e.get(&pid).is_some_and(|x| x.anchor);
            out.push((pid, found, anchor));
        }
        out
    }

    /// Process counts per vimage id (id 0 = default) over the whole host table,
    /// excluding the kernel itself and anchors.  Dead entries are dropped.
    pub fn counts(&self) -> HashMap<u32, u32> {
        let mut out: HashMap<u32, u32> = HashMap::new();
        for (_, v, anchor) in self.members() {
            if !anchor {
                *out.entry(v.map_or(0, |v| v.id())).or_default() += 1;
            }
        }
        out
    }

    /// The pids a process in `v` may see (`kern.proc.all`), in increasing
    /// order: the top vimage sees the whole host; any other the processes of
    /// itself and of the vimages below it, without the `vimage` tool's
    /// anchors (as a jail sees only its own and its children's).
    pub fn visible(&self, v: &Arc<Vimage>) -> Vec<u32> {
        let top = v.parent().is_none();
        let mut pids: Vec<u32> = self
            .members()
            .into_iter()
            .filter(|(_, of, anchor)| {
                top || (!anchor && of.as_ref().is_some_and(|of| is_within(of, v)))
            })
            .map(|(pid, _, _)| pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// What the host says of each process `v` may see (ps's `kern.proc.all`),
    /// at most [`KINFO_PROC_MAX`]; a process gone meanwhile is left out.
    pub fn kinfo(&self, v: &Arc<Vimage>) -> Vec<KinfoProc> {
        self.visible(v)
            .into_iter()
            .filter_map(|pid| self.host.info(pid))
            .take(KINFO_PROC_MAX)
            .collect()
    }
}

/// `kern.proc.all` (ps): the processes the caller's vimage sees.
pub fn sysctl_init(t: &super::kern_sysctl::SysctlTree, procs: &Arc<ProcTable>) {
    use super::kern_sysctl::{Oid, SysctlCtx};
    use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD};
    let procs = procs.clone();
    let _ = t.add(
        vimage_abi::user::KERN_PROC_ALL,
        Oid {
            flags: CTLFLAG_RD,
            descr: "Processes of this vimage and the vimages below it (ps)",
            handler: Arc::new(move |ctx: &SysctlCtx<'_>, _| {
                let mut l = procs.kinfo(ctx.vimage);
                // The caller is running (in this very call), though the
                // host sees it waiting for the answer.
                for p in l.iter_mut().filter(|p| p.pid == ctx.pid) {
                    p.state = b'R';
                }
                Ok(SysctlValue::Opaque(
                    "S,proc".into(),
                    KinfoProc::encode_list(&l),
                ))
            }),
        },
    );
}

/// Whether `v` is `top` or below it.
fn is_within(v: &Arc<Vimage>, top: &Arc<Vimage>) -> bool {
    let mut cur = Some(v.clone());
    while let Some(c) = cur {
        if Arc::ptr_eq(&c, top) {
            return true;
        }
        cur = c.parent();
    }
    false
}

/// A fake host process table for tests: pid → (ppid, start time).
#[derive(Default)]
pub struct FakeHost {
    /// The table.
    pub procs: Mutex<HashMap<u32, (u32, u64)>>,
    /// The kernel's pid.
    pub me: u32,
}

impl FakeHost {
    /// Add or replace a process.
    pub fn spawn(&self, pid: u32, ppid: u32, start: u64) {
        if let Ok(mut p) = self.procs.lock() {
            p.insert(pid, (ppid, start));
        }
    }
    /// Remove a process; its children are reparented to `reaper`.
    pub fn exit(&self, pid: u32, reaper: u32) {
        if let Ok(mut p) = self.procs.lock() {
            p.remove(&pid);
            for (_, v) in p.iter_mut() {
                if v.0 == pid {
                    v.0 = reaper;
                }
            }
        }
    }
}

impl HostProcs for FakeHost {
    fn ppid(&self, pid: u32) -> Option<u32> {
        self.procs.lock().ok()?.get(&pid).map(|x| x.0)
    }
    fn start_time(&self, pid: u32) -> Option<u64> {
        self.procs.lock().ok()?.get(&pid).map(|x| x.1)
    }
    fn pids(&self) -> Vec<u32> {
        self.procs
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default()
    }
    fn self_pid(&self) -> u32 {
        self.me
    }
    fn info(&self, pid: u32) -> Option<KinfoProc> {
        let (ppid, start) = *self.procs.lock().ok()?.get(&pid)?;
        Some(KinfoProc {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            state: b'S',
            start,
            nthreads: 1,
            comm: format!("proc{pid}"),
            args: vec![format!("proc{pid}")],
            ..KinfoProc::default()
        })
    }
}
