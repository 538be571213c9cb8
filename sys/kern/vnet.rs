//! `struct vnet`, per-module state registration and `curvnet`.
//!
//! Every stateful network module declares itself with a [`VnetModInfo`]: an id, the
//! modules it depends on, an attach function that builds its state for one vnet and a
//! detach function that tears it down.  Registering a module attaches it in every
//! existing vnet; creating a vnet attaches every registered module in registration
//! (dependency) order; destroying a vnet detaches them in reverse.
//!
//! Code reaches its state through [`curvnet`], the vnet the current thread works for,
//! and the [`V`] accessor (the `V_` idea): `V::<VnetNet>(VNET_MOD_NET)` gives this
//! vnet's network-interface state.  Entry points (a syscall, a packet arriving on an
//! ifnet, a timer) set curvnet with [`CurvnetGuard::set`], which restores the previous
//! value when dropped.
//!
//! Without `options VIMAGE` (the `vimage` Cargo feature off) there is exactly one
//! vnet, `vnet0`; curvnet is a plain global and setting it is a no-op, so the same code
//! runs on one global stack.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use vimage_abi::Errno;

use crate::kern_timeout::{CallWheel, KernTime, KERN_TIME_SLOT};

/// Magic number of a live vnet; checked on every curvnet switch in debug builds.
pub const VNET_MAGIC_N: u32 = 0x3e0d_8f29;
/// Magic number of a freed vnet.
pub const VNET_MAGIC_DEAD: u32 = 0xdead_beef;

/// Module ids (the 7.0 patch's `VNET_MOD_*`): stateful modules first.
pub const VNET_MOD_NET: usize = 0;
/// Netgraph's per-vnet name space.
pub const VNET_MOD_NETGRAPH: usize = 1;
/// IPv4.
pub const VNET_MOD_INET: usize = 2;
/// IPv6.
pub const VNET_MOD_INET6: usize = 3;
/// IPFW firewall.
pub const VNET_MOD_IPFW: usize = 5;
/// ng_ether: one node per Ethernet interface.
pub const VNET_MOD_NG_ETHER: usize = 20;
/// ng_iface: point-to-point interfaces.
pub const VNET_MOD_NG_IFACE: usize = 21;
/// ng_eiface: virtual Ethernet interfaces.
pub const VNET_MOD_NG_EIFACE: usize = 22;
/// First id for modules registered at run time.
pub const VNET_MOD_DYNAMIC_START: usize = 32;
/// Number of module slots in a vnet.
pub const VNET_MOD_MAX: usize = 64;

/// Per-vnet state of one module, as stored in the vnet.
pub type ModState = Arc<dyn Any + Send + Sync>;

/// One virtualized symbol of a module, readable by name through `kldsym`
/// (the tutorial's extension for netstat-style readers).
pub struct VnetSymmap {
    /// Symbol name (without the `V_` prefix).
    pub name: &'static str,
    /// Render the symbol's current value in this vnet.
    pub get: fn(&(dyn Any + Send + Sync)) -> String,
}

/// A module's declaration (`VNET_MOD_DECLARE`).
pub struct VnetModInfo {
    /// Slot in [`Vnet`]'s module table.
    pub id: usize,
    /// Short name (`net`, `inet`, `netgraph`).
    pub name: &'static str,
    /// Modules that must be attached first (NET is implied for every other module).
    pub depends: &'static [usize],
    /// Build this module's state for the vnet curvnet points at.
    pub iattach: fn(&Arc<Vnet>) -> Result<ModState, Errno>,
    /// Tear the state down (curvnet is set); runs before the state is dropped.
    pub idetach: fn(&Arc<Vnet>, &ModState),
    /// The declaring layer's own hooks, which the kernel core does not
    /// interpret: the network layer reads its interface arrival and departure
    /// hooks from here (`vimage_net::r#if::IfHooks`).
    pub ext: Option<&'static (dyn Any + Send + Sync)>,
    /// Virtualized symbols this module exports.
    pub symmap: &'static [VnetSymmap],
}

impl std::fmt::Debug for VnetModInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vnet module {}({})", self.name, self.id)
    }
}

/// One module's state in a vnet, with what typed access needs without a
/// virtual call: the state's type and where its data is.
struct ModSlot {
    state: ModState,
    ty: TypeId,
    /// `Arc::as_ptr` of `state`: the `T` inside.
    data: usize,
}

/// A network stack instance: one slot of state per registered module.
pub struct Vnet {
    id: u32,
    magic: AtomicU32,
    /// `vnet_destroy` has begun: entries are refused from now on.
    dying: AtomicBool,
    /// Entries in flight ([`Vnet::enter`]): what `vnet_destroy` waits for.
    entries: AtomicU32,
    /// One slot per module id: a pointer to a boxed [`ModState`], or null.
    /// Read without a lock (a load and a bounds check); a state replaced or
    /// detached goes to `retired` and is freed with the vnet, so a pointer
    /// once read stays valid for as long as the vnet is borrowed.
    mod_data: Box<[AtomicPtr<ModSlot>]>,
    /// (Boxed: a reader's reference points into the box itself.)
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<ModSlot>>>,
    /// The kernel's time services, cached on first use (the clock is read
    /// several times per packet; the registry is kernel-wide and shared).
    time: OnceLock<Arc<KernTime>>,
    /// This vnet's own callouts (`Vnet::callwheel`), made on first use: its
    /// timers never share a lock with another vnet's.
    pub(crate) callwheel: OnceLock<Arc<CallWheel>>,
    /// Interfaces attached to this vnet.
    pub ifcnt: AtomicU32,
    /// Sockets created in this vnet.
    pub sockcnt: AtomicU32,
    /// Name of the vimage owning this vnet (for messages).
    name: RwLock<String>,
    /// Back pointer to the registry of modules (to run their hooks).
    pub(crate) modules: Weak<ModRegistry>,
}

impl std::fmt::Debug for Vnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vnet{}({})", self.id, self.name())
    }
}

impl Vnet {
    /// Numeric id (0 for the boot vnet).
    pub fn id(&self) -> u32 {
        self.id
    }
    /// The owning vimage's name.
    pub fn name(&self) -> String {
        self.name.read().map(|n| n.clone()).unwrap_or_default()
    }
    /// Whether the vnet is still alive (not destroyed).
    pub fn is_alive(&self) -> bool {
        self.magic.load(Ordering::Acquire) == VNET_MAGIC_N
    }
    fn slot(&self, id: usize) -> Option<&ModSlot> {
        let p = self.mod_data.get(id)?.load(Ordering::Acquire);
        // SAFETY: a non-null slot points to a Box leaked by set_mod_state;
        // it is freed only in Drop (directly, or from `retired`), never while
        // `self` is borrowed.
        unsafe { p.as_ref() }
    }
    /// This vnet's state of module `id`, borrowed: a bounds check and a
    /// load, no lock and no reference count.
    pub fn mod_state_ref(&self, id: usize) -> Option<&ModState> {
        self.slot(id).map(|s| &s.state)
    }
    /// This vnet's state of module `id`, if attached.
    pub fn mod_state(&self, id: usize) -> Option<ModState> {
        self.mod_state_ref(id).cloned()
    }
    /// Typed access to a module's state in this vnet.
    pub fn state<T: Any + Send + Sync>(&self, id: usize) -> Option<Arc<T>> {
        let s = self.slot(id)?;
        if s.ty != TypeId::of::<T>() {
            return None;
        }
        let p = s.data as *const T;
        // SAFETY: the slot's state is an Arc<T> (checked by its TypeId)
        // whose data `p` points to; it holds a count, so taking another is
        // what Arc::clone does (and Arc::downcast, without the virtual call).
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }
    /// Typed access to a module's state in this vnet, borrowed: a bounds
    /// check, a load and a type comparison.
    pub fn state_ref<T: Any + Send + Sync>(&self, id: usize) -> Option<&T> {
        let s = self.slot(id)?;
        if s.ty != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: as in `state`; the slot outlives the borrow of `self`.
        Some(unsafe { &*(s.data as *const T) })
    }
    fn set_mod_state(&self, id: usize, s: Option<ModState>) {
        let Some(slot) = self.mod_data.get(id) else {
            return;
        };
        let new = s.map_or(std::ptr::null_mut(), |s| {
            let ty = (*s).type_id();
            let data = Arc::as_ptr(&s) as *const () as usize;
            Box::into_raw(Box::new(ModSlot { state: s, ty, data }))
        });
        let old = slot.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from Box::into_raw here and is out of the
            // slot now; readers that loaded it may still hold it, so it is
            // kept until the vnet goes.
            let b = unsafe { Box::from_raw(old) };
            if let Ok(mut g) = self.retired.lock() {
                g.push(b);
            } else {
                std::mem::forget(b);
            }
        }
    }
    /// The kernel's time services (cached in the vnet).
    pub fn kern_time(&self) -> Option<&Arc<KernTime>> {
        if let Some(t) = self.time.get() {
            return Some(t);
        }
        let t = self.registry()?.global::<KernTime>(KERN_TIME_SLOT)?;
        Some(self.time.get_or_init(|| t))
    }
    /// Approximate kernel memory held by the vnet container itself.
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Vnet>()
            + self.mod_data.len() * std::mem::size_of::<AtomicPtr<ModSlot>>()
    }
}

impl Drop for Vnet {
    fn drop(&mut self) {
        for slot in self.mod_data.iter() {
            let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: from Box::into_raw in set_mod_state; no borrow of
                // the vnet is left.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// Most times `vnet_destroy` yields waiting for entries in flight before it
/// goes on regardless (an entry never sleeps, so this is never reached
/// unless one is stuck; a stuck one must not hang the kernel's halt).
pub const VNET_DRAIN_SPINS: u32 = 1 << 22;

thread_local! {
    /// The vnets this thread has entered, innermost last.
    static ENTERED: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An entry into a vnet from outside it (`CURVNET_SET` at an entry point: a
/// frame arriving on one of its interfaces, a callout, a netgraph delivery):
/// curvnet is the vnet until it drops, and the vnet counts it, so
/// `vnet_destroy` detaches no module while another thread is still working
/// in the vnet.  Entries never sleep.
#[must_use = "the entry ends when dropped"]
pub struct VnetEntry {
    vnet: Arc<Vnet>,
    _cv: CurvnetGuard,
}

impl Vnet {
    /// Enter the vnet (see [`VnetEntry`]); `None` once it is dying or dead,
    /// so late packets and timers find it gone instead of half torn down.
    pub fn enter(self: &Arc<Self>) -> Option<VnetEntry> {
        // SeqCst pairs with vnet_destroy's store of `dying` and load of
        // `entries`: either it sees this entry, or this sees it dying.
        self.entries.fetch_add(1, Ordering::SeqCst);
        if self.dying.load(Ordering::SeqCst) || !self.is_alive() {
            self.entries.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        ENTERED.with(|e| e.borrow_mut().push(Arc::as_ptr(self) as usize));
        Some(VnetEntry {
            vnet: self.clone(),
            _cv: CurvnetGuard::set(self),
        })
    }

    /// Whether `vnet_destroy` has begun.
    pub fn is_dying(&self) -> bool {
        self.dying.load(Ordering::SeqCst)
    }

    /// Entries in flight now.
    pub fn entries(&self) -> u32 {
        self.entries.load(Ordering::SeqCst)
    }
}

impl VnetEntry {
    /// The vnet entered.
    pub fn vnet(&self) -> &Arc<Vnet> {
        &self.vnet
    }
}

impl Drop for VnetEntry {
    fn drop(&mut self) {
        let me = Arc::as_ptr(&self.vnet) as usize;
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(i) = e.iter().rposition(|p| *p == me) {
                e.remove(i);
            }
        });
        self.vnet.entries.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Mark `vnet` dying and wait until no other thread is inside it (the
/// caller's own entries, if any, excepted).
fn vnet_quiesce(vnet: &Arc<Vnet>) {
    vnet.dying.store(true, Ordering::SeqCst);
    let me = Arc::as_ptr(vnet) as usize;
    let own = ENTERED.with(|e| e.borrow().iter().filter(|p| **p == me).count()) as u32;
    let mut spins = 0;
    while vnet.entries.load(Ordering::SeqCst) > own && spins < VNET_DRAIN_SPINS {
        std::thread::yield_now();
        spins += 1;
    }
}

/// Run `f` with curvnet borrowed (no reference count taken, no atomic
/// operation), or with `None` when none is set: the cheap way for code that
/// only reads through it (FreeBSD's `V_` is a load off curvnet).  `f` may set
/// curvnet again (a frame handed to another vnet's interface): the borrowed
/// vnet stays valid, because no vnet reference this thread drops is released
/// before the outermost borrow ends.
pub fn with_curvnet<R>(f: impl FnOnce(Option<&Vnet>) -> R) -> R {
    #[cfg(feature = "vimage")]
    {
        let p = CURVNET.with(|c| c.borrow().as_ref().map(Arc::as_ptr));
        let _lend = Lend::begin();
        // SAFETY: the Arc behind `p` is held by CURVNET or, once replaced, by
        // the guard that saved it; a guard dropping it while a lend is open
        // parks it in DEFERRED until the last lend ends (`Lend::drop`), so the
        // vnet outlives `f`.
        f(p.map(|p| unsafe { &*p }))
    }
    #[cfg(not(feature = "vimage"))]
    {
        let v = VNET0.read().ok().and_then(|g| g.clone());
        f(v.as_deref())
    }
}

/// A typed key of one module's per-vnet state (the `VNET_DEFINE`d symbol):
/// reaching it is a bounds check, a load and a type comparison.
pub struct VnetKey<T> {
    id: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Any + Send + Sync> VnetKey<T> {
    /// The key of module `id`'s state, of type `T`.
    pub const fn new(id: usize) -> Self {
        VnetKey {
            id,
            _t: std::marker::PhantomData,
        }
    }
    /// The module id.
    pub const fn id(&self) -> usize {
        self.id
    }
    /// The state in `vnet`, borrowed.
    pub fn get<'a>(&self, vnet: &'a Vnet) -> Option<&'a T> {
        vnet.state_ref::<T>(self.id)
    }
    /// `f` with the state in curvnet, borrowed (`V_name`).
    ///
    /// # Panics
    /// If the module is not attached in curvnet: a kernel bug (a module
    /// must declare its dependencies), as [`V`].
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        with_curvnet(|v| match v.and_then(|v| v.state_ref::<T>(self.id)) {
            Some(s) => f(s),
            None => panic!("V_: module {} not attached in {v:?}", self.id),
        })
    }
    /// `f` with the state in curvnet, if curvnet has the module.
    pub fn try_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        with_curvnet(|v| v.and_then(|v| v.state_ref::<T>(self.id)).map(f))
    }
}

#[cfg(feature = "vimage")]
thread_local! {
    /// Borrows of curvnet open on this thread ([`with_curvnet`]).
    static LENT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Vnet references dropped while a borrow was open, released when the
    /// last one ends.
    static DEFERRED: std::cell::RefCell<Vec<Arc<Vnet>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Whether DEFERRED holds anything (checked without touching it).
    static PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One open borrow of curvnet; ending the last releases deferred references
/// (also on unwinding).
#[cfg(feature = "vimage")]
struct Lend;

#[cfg(feature = "vimage")]
impl Lend {
    fn begin() -> Lend {
        LENT.with(|l| l.set(l.get() + 1));
        Lend
    }
}

#[cfg(feature = "vimage")]
impl Drop for Lend {
    fn drop(&mut self) {
        let left = LENT.with(|l| {
            let n = l.get().saturating_sub(1);
            l.set(n);
            n
        });
        if left == 0 && PENDING.with(|p| p.replace(false)) {
            let d = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
            drop(d);
        }
    }
}

/// Release a vnet reference this thread held as curvnet: now, or when the
/// last borrow of curvnet ends.
#[cfg(feature = "vimage")]
fn release(v: Option<Arc<Vnet>>) {
    if let Some(v) = v {
        if LENT.with(|l| l.get()) > 0 {
            DEFERRED.with(|d| d.borrow_mut().push(v));
            PENDING.with(|p| p.set(true));
        }
    }
}

// ---------------------------------------------------------------------------
// curvnet

#[cfg(feature = "vimage")]
thread_local! {
    static CURVNET: std::cell::RefCell<Option<Arc<Vnet>>> = const { std::cell::RefCell::new(None) };
}

/// Without VIMAGE the single stack is a plain global.
#[cfg(not(feature = "vimage"))]
static VNET0: RwLock<Option<Arc<Vnet>>> = RwLock::new(None);

/// The vnet the current thread works for.
///
/// # Panics
/// Using curvnet when none is set is a kernel bug: debug builds panic with a clear
/// message (FreeBSD's `VNET_ASSERT`); release builds fall back to the boot vnet.
pub fn curvnet() -> Arc<Vnet> {
    match try_curvnet() {
        Some(v) => v,
        None => {
            #[cfg(feature = "vimage")]
            {
                if let Some(v) = FALLBACK_VNET0.read().ok().and_then(|g| g.upgrade_any()) {
                    debug_assert!(false, "curvnet used outside CURVNET_SET");
                    return v;
                }
            }
            panic!("curvnet used with no vnet set and no kernel booted")
        }
    }
}

/// The vnet the current thread works for, if any.
pub fn try_curvnet() -> Option<Arc<Vnet>> {
    #[cfg(feature = "vimage")]
    {
        CURVNET.with(|c| c.borrow().clone())
    }
    #[cfg(not(feature = "vimage"))]
    {
        VNET0.read().ok().and_then(|g| g.clone())
    }
}

/// Weak handles to the boot vnets of live kernels (release-build fallback only).
#[cfg(feature = "vimage")]
static FALLBACK_VNET0: RwLock<Vec<Weak<Vnet>>> = RwLock::new(Vec::new());

#[cfg(feature = "vimage")]
trait UpgradeAny {
    fn upgrade_any(&self) -> Option<Arc<Vnet>>;
}
#[cfg(feature = "vimage")]
impl UpgradeAny for Vec<Weak<Vnet>> {
    fn upgrade_any(&self) -> Option<Arc<Vnet>> {
        self.iter().find_map(|w| w.upgrade())
    }
}

/// `CURVNET_SET(vnet)` … `CURVNET_RESTORE()`: sets curvnet for a scope and restores
/// the previous value when dropped.  Nesting is allowed.
#[must_use = "curvnet is restored when the guard drops"]
pub struct CurvnetGuard {
    #[cfg(feature = "vimage")]
    saved: Option<Arc<Vnet>>,
}

impl CurvnetGuard {
    /// Make `vnet` current until the guard drops.
    pub fn set(vnet: &Arc<Vnet>) -> CurvnetGuard {
        debug_assert_eq!(
            vnet.magic.load(Ordering::Acquire),
            VNET_MAGIC_N,
            "CURVNET_SET on a dead vnet {}",
            vnet.id
        );
        #[cfg(feature = "vimage")]
        {
            let saved = CURVNET.with(|c| c.replace(Some(vnet.clone())));
            CurvnetGuard { saved }
        }
        #[cfg(not(feature = "vimage"))]
        {
            let _ = vnet;
            CurvnetGuard {}
        }
    }
}

impl Drop for CurvnetGuard {
    fn drop(&mut self) {
        #[cfg(feature = "vimage")]
        {
            let saved = self.saved.take();
            let old = CURVNET.with(|c| std::mem::replace(&mut *c.borrow_mut(), saved));
            release(old);
        }
    }
}

/// `V_name`: module `id`'s state of type `T` in curvnet.
///
/// # Panics
/// If the module is not attached in curvnet or has another type: a kernel bug
/// (a module must declare its dependencies).
#[allow(non_snake_case)]
pub fn V<T: Any + Send + Sync>(id: usize) -> Arc<T> {
    if let Some(s) = with_curvnet(|v| v.and_then(|v| v.state::<T>(id))) {
        return s;
    }
    let v = curvnet();
    match v.state::<T>(id) {
        Some(s) => s,
        None => panic!("V_: module {id} not attached in {v:?}"),
    }
}

// ---------------------------------------------------------------------------
// module registry

/// Registered modules in attach order, plus the live vnets they are attached to.
///
/// It also holds the kernel-wide state of modules code deep in the stack
/// needs (interface cloners, the clock), reached from any vnet.
#[derive(Default)]
pub struct ModRegistry {
    inner: RwLock<RegInner>,
    globals: RwLock<Vec<(usize, ModState)>>,
}

#[derive(Default)]
struct RegInner {
    mods: Vec<&'static VnetModInfo>,
    vnets: Vec<Weak<Vnet>>,
    next_id: u32,
}

impl ModRegistry {
    /// A registry with no modules.
    pub fn new() -> Arc<Self> {
        Arc::new(ModRegistry::default())
    }

    /// Registered modules, in attach order.
    pub fn modules(&self) -> Vec<&'static VnetModInfo> {
        self.inner
            .read()
            .map(|g| g.mods.clone())
            .unwrap_or_default()
    }

    /// Whether module `id` is registered.
    pub fn is_registered(&self, id: usize) -> bool {
        self.modules().iter().any(|m| m.id == id)
    }

    /// Live vnets.
    pub fn vnets(&self) -> Vec<Arc<Vnet>> {
        self.inner
            .read()
            .map(|g| g.vnets.iter().filter_map(|w| w.upgrade()).collect())
            .unwrap_or_default()
    }

    /// `vnet_mod_register` for a set of modules: orders them by their dependencies,
    /// refuses a duplicate (EEXIST), a missing dependency (ENOENT), a dependency cycle
    /// (EDEADLK) or a bad id (EINVAL), then attaches each in every existing vnet.
    pub fn register(&self, set: &[&'static VnetModInfo]) -> Result<(), Errno> {
        let order = {
            let g = self.inner.read().map_err(|_| Errno::EDOOFUS)?;
            order_modules(&g.mods, set)?
        };
        for m in order {
            let vnets = {
                let mut g = self.inner.write().map_err(|_| Errno::EDOOFUS)?;
                g.mods.push(m);
                g.vnets.retain(|w| w.strong_count() > 0);
                g.vnets
                    .iter()
                    .filter_map(|w| w.upgrade())
                    .collect::<Vec<_>>()
            };
            for v in vnets {
                let _cv = CurvnetGuard::set(&v);
                match (m.iattach)(&v) {
                    Ok(s) => v.set_mod_state(m.id, Some(s)),
                    Err(e) => {
                        // Undo: detach from the vnets already done, forget the module.
                        let _ = self.deregister(m.id);
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// `vnet_mod_deregister`: EBUSY while another registered module depends on it,
    /// ENOENT if not registered; else detach it from every vnet.
    pub fn deregister(&self, id: usize) -> Result<(), Errno> {
        let (m, vnets) = {
            let mut g = self.inner.write().map_err(|_| Errno::EDOOFUS)?;
            let pos = g
                .mods
                .iter()
                .position(|m| m.id == id)
                .ok_or(Errno::ENOENT)?;
            if g.mods
                .iter()
                .any(|o| o.id != id && (o.depends.contains(&id) || (id == VNET_MOD_NET)))
            {
                return Err(Errno::EBUSY);
            }
            let m = g.mods.remove(pos);
            (
                m,
                g.vnets
                    .iter()
                    .filter_map(|w| w.upgrade())
                    .collect::<Vec<_>>(),
            )
        };
        for v in vnets {
            if let Some(s) = v.mod_state(m.id) {
                let _cv = CurvnetGuard::set(&v);
                (m.idetach)(&v, &s);
                v.set_mod_state(m.id, None);
            }
        }
        Ok(())
    }

    /// `vnet_alloc`: a new vnet with every registered module attached in order.  On a
    /// failing attach the modules already attached are detached again.
    pub fn vnet_alloc(self: &Arc<Self>, name: &str) -> Result<Arc<Vnet>, Errno> {
        let (id, mods) = {
            let mut g = self.inner.write().map_err(|_| Errno::EDOOFUS)?;
            let id = g.next_id;
            #[cfg(not(feature = "vimage"))]
            if id != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            g.next_id += 1;
            (id, g.mods.clone())
        };
        let vnet = Arc::new(Vnet {
            id,
            magic: AtomicU32::new(VNET_MAGIC_N),
            dying: AtomicBool::new(false),
            entries: AtomicU32::new(0),
            mod_data: (0..VNET_MOD_MAX)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            retired: Mutex::new(Vec::new()),
            time: OnceLock::new(),
            callwheel: OnceLock::new(),
            ifcnt: AtomicU32::new(0),
            sockcnt: AtomicU32::new(0),
            name: RwLock::new(name.to_string()),
            modules: Arc::downgrade(self),
        });
        #[cfg(not(feature = "vimage"))]
        if let Ok(mut g) = VNET0.write() {
            if g.as_ref().is_some_and(|v| v.is_alive()) {
                return Err(Errno::EBUSY);
            }
            *g = Some(vnet.clone());
        }
        #[cfg(feature = "vimage")]
        if id == 0 {
            if let Ok(mut g) = FALLBACK_VNET0.write() {
                g.retain(|w| w.strong_count() > 0);
                g.push(Arc::downgrade(&vnet));
            }
        }
        {
            let _cv = CurvnetGuard::set(&vnet);
            for (i, m) in mods.iter().enumerate() {
                match (m.iattach)(&vnet) {
                    Ok(s) => vnet.set_mod_state(m.id, Some(s)),
                    Err(e) => {
                        for m in mods[..i].iter().rev() {
                            if let Some(s) = vnet.mod_state(m.id) {
                                (m.idetach)(&vnet, &s);
                                vnet.set_mod_state(m.id, None);
                            }
                        }
                        vnet.magic.store(VNET_MAGIC_DEAD, Ordering::Release);
                        #[cfg(not(feature = "vimage"))]
                        if let Ok(mut g) = VNET0.write() {
                            *g = None;
                        }
                        return Err(e);
                    }
                }
            }
        }
        if let Ok(mut g) = self.inner.write() {
            g.vnets.push(Arc::downgrade(&vnet));
        }
        Ok(vnet)
    }

    /// `vnet_destroy`: mark the vnet dying (new entries are refused), wait for
    /// the entries in flight on other threads, then detach every module in
    /// reverse order, mark the vnet dead and drop its pending callouts.
    pub fn vnet_destroy(&self, vnet: &Arc<Vnet>) {
        vnet_quiesce(vnet);
        let mods = self.modules();
        {
            let _cv = CurvnetGuard::set(vnet);
            for m in mods.iter().rev() {
                if let Some(s) = vnet.mod_state(m.id) {
                    (m.idetach)(vnet, &s);
                    vnet.set_mod_state(m.id, None);
                }
            }
        }
        vnet.magic.store(VNET_MAGIC_DEAD, Ordering::Release);
        // Its pending callouts go now, with whatever they hold, rather than
        // when the last reference to the vnet does.
        crate::kern_timeout::callwheel_drain(vnet);
        if let Ok(mut g) = self.inner.write() {
            g.vnets
                .retain(|w| w.upgrade().is_some_and(|v| !Arc::ptr_eq(&v, vnet)));
        }
        #[cfg(not(feature = "vimage"))]
        if let Ok(mut g) = VNET0.write() {
            if g.as_ref().is_some_and(|v| Arc::ptr_eq(v, vnet)) {
                *g = None;
            }
        }
    }

    /// Set (or with `None` clear) the kernel-wide state of module `id`: what one
    /// module shares across all vnets (netgraph's type list), reachable from any
    /// vnet through [`Vnet::registry`].
    pub fn set_global(&self, id: usize, s: Option<ModState>) {
        if let Ok(mut g) = self.globals.write() {
            g.retain(|(i, _)| *i != id);
            if let Some(s) = s {
                g.push((id, s));
            }
        }
    }

    /// The kernel-wide state of module `id`, as `T`, made with `f` first if
    /// unset (`None` if set with another type).
    pub fn global_or_init<T: Any + Send + Sync>(
        &self,
        id: usize,
        f: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let mut g = self.globals.write().ok()?;
        if let Some((_, s)) = g.iter().find(|(i, _)| *i == id) {
            return s.clone().downcast::<T>().ok();
        }
        let s = Arc::new(f());
        g.push((id, s.clone()));
        Some(s)
    }

    /// The kernel-wide state of module `id`, as `T`.
    pub fn global<T: Any + Send + Sync>(&self, id: usize) -> Option<Arc<T>> {
        let s = self
            .globals
            .read()
            .ok()?
            .iter()
            .find(|(i, _)| *i == id)?
            .1
            .clone();
        s.downcast::<T>().ok()
    }

    /// Look up a virtualized symbol in `vnet` (kldsym).
    pub fn symbol(&self, vnet: &Vnet, name: &str) -> Option<String> {
        let name = name.strip_prefix("V_").unwrap_or(name);
        for m in self.modules() {
            for s in m.symmap {
                if s.name == name {
                    let st = vnet.mod_state(m.id)?;
                    return Some((s.get)(st.as_ref()));
                }
            }
        }
        None
    }
}

/// Order `set` so that every module follows its dependencies, given the already
/// registered `have`.
fn order_modules(
    have: &[&'static VnetModInfo],
    set: &[&'static VnetModInfo],
) -> Result<Vec<&'static VnetModInfo>, Errno> {
    let known = |id: usize, done: &[&VnetModInfo]| {
        have.iter().any(|m| m.id == id) || done.iter().any(|m| m.id == id)
    };
    for (i, m) in set.iter().enumerate() {
        if m.id >= VNET_MOD_MAX {
            return Err(Errno::EINVAL);
        }
        if have.iter().any(|h| h.id == m.id) || set[..i].iter().any(|o| o.id == m.id) {
            return Err(Errno::EEXIST);
        }
        for d in m.depends.iter().chain(if m.id == VNET_MOD_NET {
            [].iter()
        } else {
            [VNET_MOD_NET].iter()
        }) {
            if !have.iter().any(|h| h.id == *d) && !set.iter().any(|o| o.id == *d) {
                return Err(Errno::ENOENT);
            }
        }
    }
    let mut done: Vec<&'static VnetModInfo> = Vec::new();
    let mut left: Vec<&'static VnetModInfo> = set.to_vec();
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            let m = left[i];
            let deps_ok = m.depends.iter().all(|d| known(*d, &done))
                && (m.id == VNET_MOD_NET || known(VNET_MOD_NET, &done));
            if deps_ok {
                done.push(m);
                left.remove(i);
            } else {
                i += 1;
            }
        }
        if left.len() == before {
            return Err(Errno::EDEADLK);
        }
    }
    Ok(done)
}

impl Vnet {
    /// The kernel-wide registries this vnet belongs to.
    pub fn registry(&self) -> Option<Arc<ModRegistry>> {
        self.modules.upgrade()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static ATT: AtomicUsize = AtomicUsize::new(0);

    /// The tests of this module share LOG and ATT: one at a time.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static S: Mutex<()> = Mutex::new(());
        S.lock().unwrap_or_else(|p| p.into_inner())
    }

    struct NetS(u32);
    struct AS(u32);

    fn net_at(v: &Arc<Vnet>) -> Result<ModState, Errno> {
        LOG.lock().unwrap().push(format!("net+{}", v.id()));
        Ok(Arc::new(NetS(v.id())))
    }
    fn net_de(v: &Arc<Vnet>, _: &ModState) {
        LOG.lock().unwrap().push(format!("net-{}", v.id()));
    }
    fn a_at(v: &Arc<Vnet>) -> Result<ModState, Errno> {
        // The attach runs with curvnet set and may use its dependency's state.
        let n = V::<NetS>(VNET_MOD_NET);
        assert_eq!(n.0, curvnet().id());
        ATT.fetch_add(1, Ordering::SeqCst);
        LOG.lock().unwrap().push(format!("a+{}", v.id()));
        Ok(Arc::new(AS(n.0 + 100)))
    }
    fn a_de(v: &Arc<Vnet>, _: &ModState) {
        LOG.lock().unwrap().push(format!("a-{}", v.id()));
    }
    fn sym(s: &(dyn Any + Send + Sync)) -> String {
        s.downcast_ref::<AS>()
            .map(|a| a.0.to_string())
            .unwrap_or_default()
    }
    static NET: VnetModInfo = VnetModInfo {
        id: VNET_MOD_NET,
        name: "net",
        depends: &[],
        iattach: net_at,
        idetach: net_de,
        ext: None,
        symmap: &[],
    };
    static A: VnetModInfo = VnetModInfo {
        id: VNET_MOD_INET,
        name: "a",
        depends: &[VNET_MOD_NET],
        iattach: a_at,
        idetach: a_de,
        ext: None,
        symmap: &[VnetSymmap {
            name: "a_value",
            get: sym,
        }],
    };
    static B: VnetModInfo = VnetModInfo {
        id: 40,
        name: "b",
        depends: &[41],
        iattach: a_at,
        idetach: a_de,
        ext: None,
        symmap: &[],
    };
    static C: VnetModInfo = VnetModInfo {
        id: 41,
        name: "c",
        depends: &[40],
        iattach: a_at,
        idetach: a_de,
        ext: None,
        symmap: &[],
    };

    #[test]
    fn module_state_read_without_locks_stays_valid_until_the_vnet_goes() {
        let _l = crate::kern_syscall::test_lock();
        let _s = serial();
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted(u32);
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        DROPS.store(0, Ordering::SeqCst);
        let reg = ModRegistry::new();
        reg.register(&[&NET]).unwrap();
        let v = reg.vnet_alloc("default").unwrap();
        v.set_mod_state(50, Some(Arc::new(Counted(7))));
        let r: &Counted = v.state_ref::<Counted>(50).unwrap();
        assert!(v.state_ref::<NetS>(50).is_none(), "wrong type");
        assert!(
            v.state_ref::<Counted>(VNET_MOD_MAX).is_none(),
            "out of range"
        );
        // Detached (or replaced), the slot reads empty at once, while a
        // reference taken before stays valid: it is retired, not freed.
        v.set_mod_state(50, None);
        assert!(v.mod_state(50).is_none());
        v.set_mod_state(50, Some(Arc::new(Counted(8))));
        assert_eq!(r.0, 7);
        assert_eq!(v.state::<Counted>(50).unwrap().0, 8);
        assert_eq!(DROPS.load(Ordering::SeqCst), 0);
        // Freed with the vnet.
        reg.vnet_destroy(&v);
        drop(v);
        assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn registration_attach_detach_order() {
        let _l = crate::kern_syscall::test_lock();
        let _s = serial();
        LOG.lock().unwrap().clear();
        let reg = ModRegistry::new();
        // Dependencies are satisfied within one batch whatever the order given.
        reg.register(&[&A, &NET]).unwrap();
        let v0 = reg.vnet_alloc("default").unwrap();
        assert_eq!(reg.symbol(&v0, "V_a_value").as_deref(), Some("100"));
        assert_eq!(reg.register(&[&A]), Err(Errno::EEXIST));
        assert_eq!(reg.register(&[&B]), Err(Errno::ENOENT));
        assert_eq!(reg.register(&[&B, &C]), Err(Errno::EDEADLK));
        assert_eq!(reg.deregister(VNET_MOD_NET), Err(Errno::EBUSY));
        #[cfg(feature = "vimage")]
        {
            let v1 = reg.vnet_alloc("n1").unwrap();
            assert_eq!(reg.symbol(&v1, "a_value").as_deref(), Some("101"));
            reg.vnet_destroy(&v1);
            assert!(!v1.is_alive());
        }
        #[cfg(not(feature = "vimage"))]
        assert_eq!(reg.vnet_alloc("n1").err(), Some(Errno::EOPNOTSUPP));
        reg.deregister(VNET_MOD_INET).unwrap();
        assert!(v0.mod_state(VNET_MOD_INET).is_none());
        reg.vnet_destroy(&v0);
        let log = LOG.lock().unwrap().join(" ");
        #[cfg(feature = "vimage")]
        assert_eq!(log, "net+0 a+0 net+1 a+1 a-1 net-1 a-0 net-0");
        #[cfg(not(feature = "vimage"))]
        assert_eq!(log, "net+0 a+0 a-0 net-0");
    }

    /// vnet_destroy waits for an entry in flight on another thread before
    /// detaching anything, and refuses entries from then on.
    #[test]
    fn destroy_waits_for_entries_in_flight() {
        use std::sync::mpsc;
        let _l = crate::kern_syscall::test_lock();
        let _s = serial();
        static DETACHED: AtomicUsize = AtomicUsize::new(0);
        fn de(_: &Arc<Vnet>, _: &ModState) {
            DETACHED.fetch_add(1, Ordering::SeqCst);
        }
        static M: VnetModInfo = VnetModInfo {
            id: VNET_MOD_NET,
            name: "net",
            depends: &[],
            iattach: net_at,
            idetach: de,
            ext: None,
            symmap: &[],
        };
        DETACHED.store(0, Ordering::SeqCst);
        let reg = ModRegistry::new();
        reg.register(&[&M]).unwrap();
        let v = reg.vnet_alloc("default").unwrap();
        let (in_tx, in_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let worker = {
            let v = v.clone();
            std::thread::spawn(move || {
                let e = v.enter().expect("alive");
                assert_eq!(curvnet().id(), v.id());
                in_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                // Still attached: destroy has not gone past the wait.
                assert!(e.vnet().mod_state(VNET_MOD_NET).is_some());
                assert_eq!(DETACHED.load(Ordering::SeqCst), 0);
            })
        };
        in_rx.recv().unwrap();
        assert_eq!(v.entries(), 1);
        let destroyer = {
            let (reg, v) = (reg.clone(), v.clone());
            std::thread::spawn(move || reg.vnet_destroy(&v))
        };
        while !v.is_dying() {
            std::thread::yield_now();
        }
        // Dying: a late frame or timer finds it gone.
        assert!(v.enter().is_none());
        go_tx.send(()).unwrap();
        worker.join().unwrap();
        destroyer.join().unwrap();
        assert_eq!(DETACHED.load(Ordering::SeqCst), 1);
        assert!(!v.is_alive() && v.entries() == 0);
    }

    #[cfg(feature = "vimage")]
    #[test]
    fn curvnet_nesting_restores() {
        let reg = ModRegistry::new();
        reg.register(&[&NET]).unwrap();
        let a = reg.vnet_alloc("a").unwrap();
        let b = reg.vnet_alloc("b").unwrap();
        assert!(try_curvnet().is_none());
        {
            let _g = CurvnetGuard::set(&a);
            assert_eq!(curvnet().id(), a.id());
            {
                let _g2 = CurvnetGuard::set(&b);
                assert_eq!(V::<NetS>(VNET_MOD_NET).0, b.id());
            }
            assert_eq!(V::<NetS>(VNET_MOD_NET).0, a.id());
        }
        assert!(try_curvnet().is_none());
        // Module registered late is attached in every existing vnet.
        reg.register(&[&A]).unwrap();
        assert!(a.state::<AS>(VNET_MOD_INET).is_some());
        assert!(b.state::<AS>(VNET_MOD_INET).is_some());
    }

    /// A borrowed curvnet stays valid while the guard that held it goes
    /// away inside the borrow; the reference is released when it ends.
    #[cfg(feature = "vimage")]
    #[test]
    fn a_borrowed_curvnet_outlives_its_guard_until_the_borrow_ends() {
        let reg = ModRegistry::new();
        reg.register(&[&NET]).unwrap();
        let (g, w, other) = {
            let a = reg.vnet_alloc("a").unwrap();
            (
                CurvnetGuard::set(&a),
                Arc::downgrade(&a),
                reg.vnet_alloc("b").unwrap(),
            )
        };
        static KEY: VnetKey<NetS> = VnetKey::new(VNET_MOD_NET);
        let w2 = w.clone();
        let id = with_curvnet(move |v| {
            let v = v.expect("curvnet");
            // Nested sets inside a borrow are fine.
            {
                let _g2 = CurvnetGuard::set(&other);
                assert_eq!(KEY.with(|n| n.0), other.id());
            }
            // The only reference to `a` goes; the borrow keeps it.
            drop(g);
            assert!(try_curvnet().is_none());
            assert!(w2.upgrade().is_some());
            assert_eq!(KEY.get(v).map(|n| n.0), Some(v.id()));
            v.id()
        });
        assert_eq!(id, 0);
        assert!(w.upgrade().is_none(), "released when the borrow ended");
        assert!(KEY.try_with(|n| n.0).is_none());
    }

    #[cfg(all(feature = "vimage", debug_assertions))]
    #[test]
    #[should_panic(expected = "curvnet")]
    fn curvnet_unset_is_caught() {
        let _ = curvnet();
    }
}
