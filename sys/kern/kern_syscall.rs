//! The kernel object, boot, and the system call dispatcher.
//!
//! [`Kernel::syscall`] is the only door into the kernel: it runs one decoded
//! [`Request`] for a process context ([`Td`]) with curvnet set to the process's
//! vnet, and answers a [`Reply`] carrying a FreeBSD errno.  Bad requests get an errno;
//! nothing a process sends can take the kernel down.

use super::kern_intr::SwiSection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use vimage_abi::socket::XFile;
use vimage_abi::syscall::{Reply, Request};
use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RW, CTLFLAG_VNET};
use vimage_abi::vimage::*;
use vimage_abi::wire::Reader;
use vimage_abi::Errno;
use vimage_mbuf::MbufChain;

use super::kern_conf::{IfMoveFn, IoctlFn, KernConf};
use super::kern_linker::{KldModule, Linker};
use super::kern_proc::{HostProcs, ProcTable};
use super::kern_resource::{ResLimits, SoCharge, KERN_RESOURCE_SLOT};
use super::kern_sysctl::{Oid, SysctlCtx, SysctlTree};
use super::kern_timeout::{Callouts, Clock};
use super::kern_vimage::{ViLimits, Vimage};
use super::uipc_socket::{Domain, FdTable, Socket, WeakFdTable};
use super::uipc_syscalls as so_calls;
use super::vnet::{CurvnetGuard, ModRegistry, ModState};

/// What the embedding supplies at boot.
pub struct KernelConfig {
    /// The host's process table.
    pub host: Arc<dyn HostProcs>,
    /// Kernel ident (`VIMAGE`).
    pub ident: String,
    /// Version string for `kern.version`.
    pub version: String,
    /// The monotonic clock (vkernel: the host's; tests: a fake one).
    pub clock: Arc<dyn Clock>,
    /// The entropy source (vkernel: the host's getrandom; tests: seeded).
    pub random: Arc<dyn super::kern_random::Entropy>,
}

impl KernelConfig {
    /// What a test kernel runs on: no host processes of its own, time that
    /// moves only when `clock` is advanced, seeded randomness (the same
    /// draws every run).
    pub fn for_tests(clock: Arc<super::kern_timeout::FakeClock>) -> KernelConfig {
        KernelConfig {
            host: Arc::new(super::kern_proc::FakeHost::default()),
            ident: "VIMAGE".into(),
            version: "test".into(),
            clock,
            random: super::kern_random::SeededRandom::arc(1),
        }
    }
}

/// A booted kernel.
pub struct Kernel {
    reg: Arc<ModRegistry>,
    vimage0: Arc<Vimage>,
    tree: Mutex<()>,
    vi_limits: ViLimits,
    res: Arc<ResLimits>,
    /// The sysctl tree.
    pub sysctl: SysctlTree,
    /// Loaded and loadable modules.
    pub linker: Mutex<Linker>,
    /// Process membership.
    pub procs: Arc<ProcTable>,
    domains: RwLock<Vec<Arc<dyn Domain>>>,
    /// Ioctl groups the configuration's options handle (`'i'`: interfaces).
    ioctls: Vec<(u8, IoctlFn)>,
    /// How interfaces move between vnets (`vimage -i`), if configured.
    pub(crate) ifmove: Option<IfMoveFn>,
    halting: AtomicBool,
    /// `kern.ident`.
    pub ident: String,
    /// The clock everything in the kernel reads time from.
    pub clock: Arc<dyn Clock>,
    /// The callouts of every vnet and the kernel-wide ones (run by vkernel's
    /// softclock threads, or by tests through [`Kernel::softclock`]).
    pub callouts: Arc<Callouts>,
    /// Descriptor tables by host pid (held by the process's contexts, not by
    /// this index).
    /// Descriptor tables by host process: pid and start time, so a process
    /// that reuses the pid of one that exited never finds its sockets.
    files: Arc<Mutex<HashMap<(u32, u64), WeakFdTable>>>,
}

/// A process context: who is calling, from which vimage, with which descriptors.
pub struct Td {
    /// Host pid (from the connection's credentials).
    pub pid: u32,
    /// The vimage the kernel decided the process is in.
    pub vimage: Arc<Vimage>,
    /// Its descriptors: one table per host process, shared by all of its
    /// connections (threads); it closes when the last of them goes away.
    pub fds: FdTable,
    /// Tells a blocking call that the process went away (its connection closed),
    /// so the call gives up with EINTR instead of sleeping forever.
    pub intr: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Kernel {
    /// Boot configuration `conf`: register its vnet modules, create vimage
    /// "default" with vnet0, add its domains, build the sysctl tree.  Without
    /// VIMAGE only one kernel may be live per process (its stack is the
    /// global one): a second boot fails with EBUSY.
    pub fn boot_conf(cfg: KernelConfig, conf: &KernConf) -> Result<Arc<Kernel>, Errno> {
        let reg = ModRegistry::new();
        // Counted from the first interface (default's lo0) on.
        let res = Arc::new(ResLimits::default());
        reg.set_global(KERN_RESOURCE_SLOT, Some(res.clone() as ModState));
        reg.register(&conf.modules())?;
        for o in conf.options {
            if let Some(f) = o.attach {
                f(&reg)?;
            }
        }
        let vnet0 = reg.vnet_alloc("default")?;
        let vimage0 = Vimage::new(0, "default", None, vnet0);
        reg.set_global(
            super::kern_vimage::KERN_HOSTNAME_SLOT,
            Some(Arc::new(super::kern_vimage::VimageRoot(Arc::downgrade(
                &vimage0,
            )))),
        );
        // The kernel itself, what its options compiled in, and vnet.
        let builtin = std::iter::once("kernel")
            .chain(conf.options.iter().flat_map(|o| o.klds.iter().copied()))
            .chain(std::iter::once("vnet"))
            .map(str::to_string)
            .collect();
        let k = Arc::new(Kernel {
            reg,
            vimage0,
            tree: Mutex::new(()),
            vi_limits: ViLimits::default(),
            res,
            sysctl: SysctlTree::default(),
            linker: Mutex::new(Linker::new(builtin)),
            procs: Arc::new(ProcTable::new(cfg.host.clone())),
            domains: RwLock::new(Vec::new()),
            ioctls: conf.ioctls(),
            ifmove: conf.ifmove(),
            halting: AtomicBool::new(false),
            ident: cfg.ident.clone(),
            clock: cfg.clock.clone(),
            callouts: Arc::new(Callouts::default()),
            files: Arc::new(Mutex::new(HashMap::new())),
        });
        k.reg.set_global(
            super::kern_timeout::KERN_TIME_SLOT,
            Some(Arc::new(super::kern_timeout::KernTime {
                clock: k.clock.clone(),
                callouts: k.callouts.clone(),
            })),
        );
        k.reg.set_global(
            super::kern_random::KERN_RANDOM_SLOT,
            Some(Arc::new(super::kern_random::KernRandom(cfg.random.clone()))),
        );
        k.sysctl_init(&cfg);
        for o in conf.options {
            for f in o.sysctls {
                f(&k.sysctl);
            }
        }
        for o in conf.options {
            for d in (o.domains)() {
                k.domain_add(d);
            }
        }
        Ok(k)
    }

    fn sysctl_init(&self, cfg: &KernelConfig) {
        let t = &self.sysctl;
        t.add_const_str("kern.ostype", "Operating system type", "FreeBSD".into());
        t.add_const_str(
            "kern.osrelease",
            "Operating system release",
            "7.0-CURRENT".into(),
        );
        t.add_const_str("kern.ident", "Kernel identifier", cfg.ident.clone());
        t.add_const_str("kern.version", "Kernel version", cfg.version.clone());
        let _ = t.add(
            "kern.hostname",
            Oid {
                flags: CTLFLAG_RW | CTLFLAG_VNET,
                descr: "Hostname",
                handler: Arc::new(|ctx: &SysctlCtx<'_>, new: Option<&SysctlValue>| {
                    let mut h = ctx.vimage.hostname.lock().map_err(|_| Errno::EDOOFUS)?;
                    let old = h.clone();
                    if let Some(n) = new {
                        let SysctlValue::Str(s) = n else {
                            return Err(Errno::EINVAL);
                        };
                        if s.len() >= vimage_abi::MAXHOSTNAMELEN {
                            return Err(Errno::EINVAL);
                        }
                        *h = s.clone();
                    }
                    Ok(SysctlValue::Str(old))
                }),
            },
        );
        let _ = t.add(
            "kern.vimage",
            Oid {
                flags: vimage_abi::sysctl::CTLFLAG_RD,
                descr: "Name of the caller's vimage",
                handler: Arc::new(|ctx: &SysctlCtx<'_>, _| {
                    Ok(SysctlValue::Str(ctx.vimage.name().to_string()))
                }),
            },
        );
        crate::kern_proc::sysctl_init(t, &self.procs);
        let files = self.files.clone();
        let _ = t.add(
            "kern.file",
            Oid {
                flags: vimage_abi::sysctl::CTLFLAG_RD | CTLFLAG_VNET,
                descr: "Open socket descriptors of this vnet and their owners (sockstat)",
                handler: Arc::new(move |ctx: &SysctlCtx<'_>, _| {
                    Ok(SysctlValue::Opaque(
                        "S,xfile".into(),
                        XFile::encode_list(&kern_file(&files, &ctx.vimage.vnet)),
                    ))
                }),
            },
        );
        self.res.sysctl_init(t);
        if crate::VIMAGE {
            self.vi_limits.sysctl_init(t);
            self.res.vimage_sysctl_init(t);
        }
    }

    /// The kernel-wide module registry.
    pub fn registry(&self) -> &Arc<ModRegistry> {
        &self.reg
    }
    /// The root vimage.
    pub fn vimage0(&self) -> &Arc<Vimage> {
        &self.vimage0
    }
    /// The bounds on the vimage tree (`security.vimage.*`).
    pub fn vi_limits(&self) -> &ViLimits {
        &self.vi_limits
    }
    /// The bounds on sockets, interfaces and netgraph nodes
    /// (`kern.ipc.maxsockets`, `security.vimage.maxsockets`, ...).
    pub fn res_limits(&self) -> &Arc<ResLimits> {
        &self.res
    }
    pub(crate) fn tree_lock(&self) -> MutexGuard<'_, ()> {
        match self.tree.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Every vimage, depth first.
    pub fn all_vimages(&self) -> Vec<Arc<Vimage>> {
        self.vimage0.subtree()
    }

    /// Add a protocol domain (kernel-wide).
    pub fn domain_add(&self, d: Arc<dyn Domain>) {
        if let Ok(mut g) = self.domains.write() {
            g.retain(|x| x.family() != d.family());
            g.push(d);
        }
    }

    /// Protocol domain `family`, if one is added.
    pub fn domain(&self, family: i32) -> Option<Arc<dyn Domain>> {
        self.domains
            .read()
            .ok()?
            .iter()
            .find(|d| d.family() == family)
            .cloned()
    }

    /// Remove protocol domain `family` (its module unloads); existing sockets keep
    /// working until closed.
    pub fn domain_remove(&self, family: i32) {
        if let Ok(mut g) = self.domains.write() {
            g.retain(|x| x.family() != family);
        }
    }

    /// Make module `m` loadable with kldload.
    pub fn kld_catalog_add(&self, m: Arc<dyn KldModule>) {
        if let Ok(mut l) = self.linker.lock() {
            l.add_to_catalog(m);
        }
    }

    /// `kldload`: load `name` from the catalog (ENOENT unknown, EEXIST loaded).
    pub fn kldload(self: &Arc<Self>, name: &str) -> Result<i32, Errno> {
        let m = {
            let l = self.linker.lock().map_err(|_| Errno::EDOOFUS)?;
            if l.find(name).is_some() {
                return Err(Errno::EEXIST);
            }
            l.find_catalog(name).ok_or(Errno::ENOENT)?
        };
        m.load(self)?;
        let mut l = self.linker.lock().map_err(|_| Errno::EDOOFUS)?;
        Ok(l.add_file(m))
    }

    /// `kldunload`.
    pub fn kldunload(self: &Arc<Self>, id: i32) -> Result<(), Errno> {
        let m = self
            .linker
            .lock()
            .map_err(|_| Errno::EDOOFUS)?
            .file_module(id)?;
        m.unload(self)?;
        self.linker
            .lock()
            .map_err(|_| Errno::EDOOFUS)?
            .remove_file(id);
        Ok(())
    }

    /// A process context for host process `pid`, in the vimage the kernel decides.
    pub fn td_attach(&self, pid: u32) -> Td {
        let vimage = match self.procs.resolve(pid) {
            Some(v) => {
                self.procs.remember(pid, &v);
                v
            }
            None => self.vimage0.clone(),
        };
        Td {
            pid,
            vimage,
            fds: self.fd_table(pid),
            intr: Arc::new(|| false),
        }
    }

    /// The descriptor table of host process `pid` (made on first use).
    fn fd_table(&self, pid: u32) -> FdTable {
        let mut g = match self.files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let key = (pid, self.procs.host().start_time(pid).unwrap_or(0));
        match g.get(&key).and_then(WeakFdTable::upgrade) {
            Some(t) => t,
            None => {
                // Forget the tables of processes that are gone.
                g.retain(|_, w| w.upgrade().is_some());
                let t = FdTable::default();
                g.insert(key, t.downgrade());
                t
            }
        }
    }

    /// `SetOwner`: the connection acts for `pid` from now on (its descriptor
    /// table), staying in the caller's vimage.  Only a process of the same
    /// vimage may be named: a supervisor opening the door for a program it
    /// captured, never a way into another vimage's descriptors.
    fn td_setowner(&self, td: &mut Td, pid: u32) -> Result<(), Errno> {
        let theirs = self.vimage_below(&td.vimage, pid)?;
        let fds = self.fd_table(pid);
        // Let go of the old table as an exiting connection would.
        self.td_exit(td);
        td.fds = fds;
        td.pid = pid;
        td.vimage = theirs;
        self.procs.remember(pid, &td.vimage);
        Ok(())
    }

    /// `ActAs`: the connection works in `pid`'s vimage, which must be its
    /// own process's vimage or below it.
    fn td_actas(&self, td: &mut Td, pid: u32) -> Result<Reply, Errno> {
        let home = self
            .procs
            .resolve(td.pid)
            .unwrap_or_else(|| self.vimage0.clone());
        let theirs = self.vimage_below(&home, pid)?;
        let other = !Arc::ptr_eq(&theirs, &home);
        td.vimage = theirs;
        Ok(Reply::val(i64::from(other)))
    }

    /// Whether live host process `pid` is in `td`'s vimage or below it (a
    /// caller may name only such a process as a socket's owner).
    pub fn pid_within(&self, td: &Td, pid: u32) -> bool {
        self.vimage_below(&td.vimage, pid).is_ok()
    }

    /// The vimage of live host process `pid` if it is `top` or below it.
    fn vimage_below(&self, top: &Arc<Vimage>, pid: u32) -> Result<Arc<Vimage>, Errno> {
        let theirs = self
            .procs
            .resolve(pid)
            .unwrap_or_else(|| self.vimage0.clone());
        let mut v = Some(theirs.clone());
        while let Some(x) = v {
            if Arc::ptr_eq(&x, top) {
                if self.procs.host().start_time(pid).is_none() {
                    return Err(Errno::ESRCH);
                }
                return Ok(theirs);
            }
            v = x.parent();
        }
        Err(Errno::EPERM)
    }

    /// Run `f` on socket `so` as a system call of `td` would (curvnet set to
    /// the socket's vnet, frames it sets in motion processed before it
    /// returns): vkernel's splice pumps move data this way.
    pub fn sock_call(
        self: &Arc<Self>,
        td: &mut Td,
        so: &Arc<Socket>,
        f: impl FnOnce(&Td, &Arc<Socket>) -> Result<Reply, Errno>,
    ) -> Reply {
        self.enter(td, |_, td| {
            // The socket's vnet may be gone while a pump still holds it (a
            // vimage destroyed, the kernel halting): the connection is over.
            if !so.vnet.is_alive() {
                return Err(Errno::ECONNABORTED);
            }
            let _cv = CurvnetGuard::set(&so.vnet);
            f(td, so)
        })
    }

    /// One connection of the process is gone; when it was the last, the process
    /// has exited and its descriptors close (peers see the connections end).
    pub fn td_exit(&self, td: &mut Td) {
        let mut g = match self.files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Under the index lock no other connection of the pid can attach, so a
        // lone handle is the last one.
        if td.fds.handles() == 1 {
            g.retain(|_, w| !w.upgrade().is_some_and(|t| t.same(&td.fds)));
            drop(g);
            td.fds.close_all();
        }
    }

    /// Whether `reboot(RB_HALT)` was called.
    pub fn halting(&self) -> bool {
        self.halting.load(Ordering::Acquire)
    }

    /// Halt: destroy every vimage below default (children first), then vnet0's
    /// modules.  Nothing is left attached.
    pub fn shutdown(&self) {
        self.halting.store(true, Ordering::Release);
        // Children before their parents; each is detached under the tree lock
        // and torn down outside it.
        let all = self.all_vimages();
        for v in all.iter().rev() {
            if v.parent().is_some() {
                self.vi_free(v);
            }
        }
        if !self.vimage0.is_dead() {
            self.reg.vnet_destroy(&self.vimage0.vnet);
        }
        // What is left (kernel-wide callouts) goes; the softclock threads
        // stop sleeping and go home.
        self.callouts.halt();
    }

    /// Current kernel time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Run the callouts due now in every wheel, on this thread (softclock
    /// for tests; vkernel's threads take one wheel at a time); how many ran.
    pub fn softclock(&self) -> usize {
        self.callouts.run_due(self.clock.now_ns())
    }

    /// Run one system call for `td`.
    pub fn syscall(self: &Arc<Self>, td: &mut Td, req: Request) -> Reply {
        self.enter(td, |k, td| k.dispatch(td, req))
    }

    /// `sendto(2)` with the payload borrowed from the caller's frame: the
    /// same call as [`Request::Sendto`], without copying the data first.
    pub fn sys_sendto(
        self: &Arc<Self>,
        td: &mut Td,
        fd: i32,
        flags: i32,
        addr: Option<&[u8]>,
        data: &[u8],
    ) -> Reply {
        self.enter(td, |_, td| {
            let so = td.fds.get(fd)?;
            let _cv = CurvnetGuard::set(&so.vnet);
            so_calls::send(td, &so, data, addr, flags)
        })
    }

    /// `send(2)` on a connected socket with the payload in mbufs (the
    /// door's request frame, its data starting at the mbuf's data).  A
    /// stream socket links them into its send buffer instead of copying
    /// them; what was not taken stays in `c`.  Other sockets copy, as
    /// [`Kernel::sys_sendto`].
    ///
    /// The frames the call set in motion (segments over lo0, and all they
    /// lead to) are left queued in the returned section, processed when it
    /// is dropped: the door answers first, as FreeBSD's netisr processes a
    /// loopback packet after the `send` that queued it has returned.
    pub fn sys_send_chain(
        self: &Arc<Self>,
        td: &mut Td,
        fd: i32,
        flags: i32,
        c: &mut MbufChain,
    ) -> (Reply, Option<SwiSection>) {
        let (r, ns) = self.enter_deferred(td, |_, td| {
            let so = td.fds.get(fd)?;
            let _cv = CurvnetGuard::set(&so.vnet);
            so_calls::send_chain_as(td, &so, c, flags, so.is_nonblock())
        });
        (r.into(), ns)
    }

    /// `recvfrom(2)` answered with the data in the mbufs it was received in,
    /// for the door to write with one `writev` (no staging copy); the same
    /// call as [`Request::Recvfrom`].  What the read set in motion (a window
    /// update, and the peer's data it lets through) is left in the returned
    /// section, as by [`Kernel::sys_send_chain`].
    pub fn sys_recvfrom(
        self: &Arc<Self>,
        td: &mut Td,
        fd: i32,
        len: u32,
        flags: i32,
    ) -> (so_calls::ChainReply, Option<SwiSection>) {
        let (r, ns) = self.enter_deferred(td, |_, td| {
            let so = td.fds.get(fd)?;
            let _cv = CurvnetGuard::set(&so.vnet);
            let len = (len as usize).min(vimage_abi::wire::MAX_FRAME);
            let (data, addr) = so_calls::recv_chain_as(td, &so, len, flags, so.is_nonblock())?;
            Ok(so_calls::ChainReply {
                errno: 0,
                val: data.len() as i64,
                data,
                addr,
            })
        });
        (r.into(), ns)
    }

    /// The system call prologue: the caller's vimage is curvnet, and frames the
    /// call sets in motion are processed before it returns.
    fn enter(
        self: &Arc<Self>,
        td: &mut Td,
        f: impl FnOnce(&Arc<Self>, &mut Td) -> Result<Reply, Errno>,
    ) -> Reply {
        self.enter_r(td, f).into()
    }

    /// [`Kernel::enter_r`] with the work the call queued (`swi`) left for
    /// the caller to run by dropping the returned section, after it has
    /// answered.  The section is opened before curvnet is set: the queued
    /// work enters its interfaces' vnets itself (`if_input`).
    fn enter_deferred<R>(
        self: &Arc<Self>,
        td: &mut Td,
        f: impl FnOnce(&Arc<Self>, &mut Td) -> Result<R, Errno>,
    ) -> (Result<R, Errno>, Option<SwiSection>) {
        if td.vimage.is_dead() {
            return (Err(Errno::ESRCH), None);
        }
        let ns = super::kern_intr::swi_enter();
        let vnet = td.vimage.vnet.clone();
        let r = {
            let _cv = CurvnetGuard::set(&vnet);
            f(self, td)
        };
        (r, Some(ns))
    }

    /// [`Kernel::enter`] for a call whose answer is not a plain [`Reply`].
    fn enter_r<R>(
        self: &Arc<Self>,
        td: &mut Td,
        f: impl FnOnce(&Arc<Self>, &mut Td) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        if td.vimage.is_dead() {
            // Its vimage went away under it (cannot happen while it has processes,
            // but a racing destroy is answered, not trusted).
            return Err(Errno::ESRCH);
        }
        let vnet = td.vimage.vnet.clone();
        let _cv = CurvnetGuard::set(&vnet);
        let _ns = super::kern_intr::swi_enter();
        f(self, td)
    }

    fn dispatch(self: &Arc<Self>, td: &mut Td, req: Request) -> Result<Reply, Errno> {
        match req {
            Request::Sysctl { name, new } => {
                let new = match new {
                    Some(b) => {
                        let mut r = Reader::new(&b);
                        let v = SysctlValue::decode(&mut r)?;
                        r.end()?;
                        Some(v)
                    }
                    None => None,
                };
                let ctx = SysctlCtx {
                    vimage: &td.vimage,
                    pid: td.pid,
                };
                let rep = self.sysctl.call(&ctx, &name, new.as_ref())?;
                Ok(Reply::data(rep.to_bytes()))
            }
            Request::SysctlNext { name } => {
                let n = self.sysctl.next(&name).ok_or(Errno::ENOENT)?;
                Ok(Reply::data(n.into_bytes()))
            }
            Request::Socket { domain, ty, proto } => {
                let d = self
                    .domains
                    .read()
                    .map_err(|_| Errno::EDOOFUS)?
                    .iter()
                    .find(|d| d.family() == domain)
                    .cloned()
                    .ok_or(Errno::EAFNOSUPPORT)?;
                let (ty, nonblock) = so_calls::socket_type(ty);
                // socreate: the socket zone first (ENOBUFS past a limit).
                let charge = SoCharge::take(&td.vimage.vnet)?;
                let pcb = d.attach(ty, proto)?;
                let so = Arc::new(Socket::new(charge, domain, ty, proto, pcb));
                so.nonblock.store(nonblock, Ordering::Relaxed);
                Ok(Reply::val(td.fds.alloc(so)? as i64))
            }
            Request::Close { fd } => {
                let so = td.fds.get(fd)?;
                td.fds.close(fd)?;
                so_calls::soclose_linger(td, so);
                Ok(Reply::val(0))
            }
            Request::Ioctl { fd, cmd, data } => {
                let so = td.fds.get(fd)?;
                if vimage_abi::ioccom::iocparm_len(cmd) != data.len() {
                    return Err(Errno::EINVAL);
                }
                // A socket keeps acting in the vnet it was created in.
                let _cv = CurvnetGuard::set(&so.vnet);
                self.ioctl(td, &so, cmd, &data).map(Reply::data)
            }
            Request::Bind { fd, addr } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                let mut p = so.pcb.lock().map_err(|_| Errno::EDOOFUS)?;
                p.bind(&addr).map(|_| Reply::val(0))
            }
            Request::Connect { fd, addr } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::connect(td, &so, &addr)
            }
            Request::Sendto {
                fd,
                flags,
                addr,
                data,
            } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::send(td, &so, &data, addr.as_deref(), flags)
            }
            Request::Recvfrom { fd, len, flags } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                let len = (len as usize).min(vimage_abi::wire::MAX_FRAME);
                so_calls::recv(td, &so, len, flags)
            }
            Request::Setsockopt {
                fd,
                level,
                name,
                val,
            } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::setsockopt(&so, level, name, &val)
            }
            Request::Getsockopt {
                fd,
                level,
                name,
                val,
            } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::getsockopt(&so, level, name, &val)
            }
            Request::Getsockname { fd } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                let p = so.pcb.lock().map_err(|_| Errno::EDOOFUS)?;
                Ok(Reply {
                    addr: p.sockname()?,
                    ..Default::default()
                })
            }
            Request::Listen { fd, backlog } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::listen(&so, backlog)
            }
            Request::Accept { fd, flags } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::accept(td, &so, flags)
            }
            Request::Shutdown { fd, how } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::shutdown(&so, how)
            }
            Request::Getpeername { fd } => {
                let so = td.fds.get(fd)?;
                let _cv = CurvnetGuard::set(&so.vnet);
                so_calls::getpeername(&so)
            }
            Request::Poll { fds, timeout_ms } => so_calls::poll(td, &fds, timeout_ms),
            Request::Fcntl { fd, cmd, arg } => {
                let so = td.fds.get(fd)?;
                so_calls::fcntl(&so, cmd, arg)
            }
            // Host descriptors are the booted kernel's business.
            Request::Export { .. } => Err(Errno::EOPNOTSUPP),
            Request::SetOwner { pid } => self.td_setowner(td, pid).map(|_| Reply::val(0)),
            Request::ActAs { pid } => self.td_actas(td, pid),
            // The caller's memory is the door's business (copyin/copyout):
            // a kernel reached without one says so, and the caller sends
            // the data in the frame instead.
            Request::SendUser { .. } | Request::RecvfromUser { .. } => Err(Errno::ENOSYS),
            Request::Kldload { name } => {
                self.require_top(td)?;
                self.kldload(&name).map(|id| Reply::val(id as i64))
            }
            Request::Kldunload { fileid } => {
                self.require_top(td)?;
                self.kldunload(fileid).map(|_| Reply::val(0))
            }
            Request::Kldfind { name } => {
                let l = self.linker.lock().map_err(|_| Errno::EDOOFUS)?;
                l.find(&name)
                    .map(|id| Reply::val(id as i64))
                    .ok_or(Errno::ENOENT)
            }
            Request::Kldnext { fileid } => {
                let l = self.linker.lock().map_err(|_| Errno::EDOOFUS)?;
                match l.next(fileid) {
                    Some(st) => Ok(Reply {
                        val: st.id as i64,
                        data: st.to_bytes(),
                        ..Default::default()
                    }),
                    None => Ok(Reply::val(0)),
                }
            }
            Request::Kldsym { name } => self
                .reg
                .symbol(&td.vimage.vnet, &name)
                .map(|s| Reply::data(s.into_bytes()))
                .ok_or(Errno::ENOENT),
            Request::Reboot { howto: _ } => {
                self.require_top(td)?;
                // The embedding sees `halting()` once the reply is on its way.
                self.halting.store(true, Ordering::Release);
                Ok(Reply::val(0))
            }
        }
    }

    /// Kernel-wide operations (module loading, halting) only from the default vimage.
    fn require_top(&self, td: &Td) -> Result<(), Errno> {
        if td.vimage.parent().is_some() {
            Err(Errno::EPERM)
        } else {
            Ok(())
        }
    }

    fn ioctl(
        self: &Arc<Self>,
        td: &mut Td,
        so: &Arc<Socket>,
        cmd: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, Errno> {
        if let Some(r) = so_calls::ioctl(so, cmd, data) {
            return r;
        }
        match cmd {
            SIOCSPVIMAGE => {
                let req = ViReq::from_bytes(data)?;
                match req.action {
                    VI_CREATE => {
                        self.vi_create(&td.vimage, &req.name)?;
                    }
                    VI_DESTROY => self.vi_destroy(&td.vimage, &req.name)?,
                    VI_SWITCHTO => self.vi_switchto(td, &req.name)?,
                    _ => return Err(Errno::EINVAL),
                }
                req.to_bytes()
            }
            SIOCGPVIMAGE => {
                let req = ViReq::from_bytes(data)?;
                self.vi_get(&td.vimage, &req)?.to_bytes()
            }
            SIOCSIFVIMAGE => {
                let req = ViReq::from_bytes(data)?;
                if req.action != VI_IFACE {
                    return Err(Errno::EINVAL);
                }
                let newname = (!req.if_newname.is_empty()).then_some(req.if_newname.as_str());
                let (name, dest) = self.vi_iface(&td.vimage, &req.name, &req.if_xname, newname)?;
                let mut rep = req.clone();
                rep.if_xname = name;
                rep.name = super::kern_vimage::relative_name(&td.vimage, &dest);
                rep.to_bytes()
            }
            _ => {
                // The socket's domain first (`pru_control`: address ioctls of
                // its family), then the layer owning the ioctl's group (the
                // interface layer's `'i'`), then the protocol.
                if let Some(r) = self.domain(so.domain).and_then(|d| d.control(cmd, data)) {
                    return r;
                }
                let group = ((cmd >> 8) & 0xff) as u8;
                if let Some((_, f)) = self.ioctls.iter().find(|(g, _)| *g == group) {
                    return f(cmd, data);
                }
                let mut p = so.pcb.lock().map_err(|_| Errno::EDOOFUS)?;
                p.ioctl(cmd, data)
            }
        }
    }
}

/// `kern.file`: every socket descriptor whose socket lives in `vnet`, with its
/// owner's pid, ordered by pid and descriptor.
fn kern_file(
    files: &Mutex<HashMap<(u32, u64), WeakFdTable>>,
    vnet: &Arc<super::vnet::Vnet>,
) -> Vec<XFile> {
    let tables: Vec<(u32, FdTable)> = {
        let g = match files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.iter()
            .filter_map(|((p, _), w)| w.upgrade().map(|t| (*p, t)))
            .collect()
    };
    let mut out = Vec::new();
    for (pid, t) in tables {
        for (fd, so) in t.entries() {
            if !Arc::ptr_eq(&so.vnet, vnet) {
                continue;
            }
            let _cv = CurvnetGuard::set(&so.vnet);
            let (laddr, faddr) = match so.pcb.lock() {
                Ok(p) => (
                    p.sockname().unwrap_or_default(),
                    p.peername().unwrap_or_default(),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            };
            // An exported socket is its program's, not the supervisor's
            // whose table holds it.
            let owner = so.owner_pid.load(Ordering::Relaxed);
            out.push(XFile {
                pid: if owner != 0 { owner } else { pid },
                fd,
                domain: so.domain,
                ty: so.ty,
                proto: so.proto,
                listening: so.listening.load(Ordering::Relaxed),
                laddr,
                faddr,
            });
        }
    }
    out.sort_by_key(|x| (x.pid, x.fd));
    out
}

/// What [`test_lock`] hands out.
#[doc(hidden)]
pub struct TestGuard(#[allow(dead_code)] Option<MutexGuard<'static, ()>>);

/// Serializes tests that boot kernels when the single-stack (non-VIMAGE)
/// build keeps its stack in a global.  With VIMAGE every kernel's state is
/// its own (vnets, registries, the clock; per-thread netisr queues), so
/// kernel tests run in parallel and this takes no lock.
#[doc(hidden)]
pub fn test_lock() -> TestGuard {
    if crate::VIMAGE {
        return TestGuard(None);
    }
    static L: Mutex<()> = Mutex::new(());
    TestGuard(Some(match L.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }))
}
