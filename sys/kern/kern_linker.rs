//! The kld linker (FreeBSD's sys/kern/kern_linker.c), reduced to what a user-space
//! kernel can do: every loadable module is compiled into vkernel and listed in a
//! catalog; `kldload` runs its load routine and gives it a file id, `kldunload` its
//! unload routine (which may refuse with EBUSY while it is in use).

use std::sync::Arc;
use vimage_abi::syscall::KldStat;
use vimage_abi::Errno;

use super::kern_syscall::Kernel;

/// A loadable module (a `.ko` file with one module in it).
pub trait KldModule: Send + Sync {
    /// File/module name (`ng_ether`, `if_vlan`, `ipfw`).
    fn name(&self) -> &str;
    /// Initialise: register types, vnet modules, sysctls.
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno>;
    /// Tear down; EBUSY while in use.
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno>;
    /// Nominal image size, for kldstat.
    fn size(&self) -> u64 {
        0x8000
    }
}

struct File {
    id: i32,
    name: String,
    refs: i32,
    modules: Vec<String>,
    module: Option<Arc<dyn KldModule>>,
}

/// Loaded files and the catalog of loadable ones.
#[derive(Default)]
pub struct Linker {
    catalog: Vec<Arc<dyn KldModule>>,
    files: Vec<File>,
    next_id: i32,
}

/// Base of the fake load addresses kldstat prints.
const KERNBASE: u64 = 0xffff_ffff_8020_0000;

impl Linker {
    /// A linker whose file 1 is the kernel with `builtin` modules in it.
    pub fn new(builtin: Vec<String>) -> Self {
        Linker {
            catalog: Vec::new(),
            files: vec![File {
                id: 1,
                name: "kernel".into(),
                refs: 1,
                modules: builtin,
                module: None,
            }],
            next_id: 2,
        }
    }
    /// Make `m` loadable.
    pub fn add_to_catalog(&mut self, m: Arc<dyn KldModule>) {
        self.catalog.push(m);
    }
    /// The catalog entry for `name` (`ng_ether` or `ng_ether.ko`).
    pub fn find_catalog(&self, name: &str) -> Option<Arc<dyn KldModule>> {
        let n = name.strip_suffix(".ko").unwrap_or(name);
        self.catalog.iter().find(|m| m.name() == n).cloned()
    }
    /// The id of loaded file `name`.
    pub fn find(&self, name: &str) -> Option<i32> {
        let n = name.strip_suffix(".ko").unwrap_or(name);
        self.files
            .iter()
            .find(|f| {
                f.name == n || f.name == format!("{n}.ko") || f.modules.iter().any(|m| m == n)
            })
            .map(|f| f.id)
    }
    /// Record a loaded file.
    pub fn add_file(&mut self, m: Arc<dyn KldModule>) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        self.files.push(File {
            id,
            name: format!("{}.ko", m.name()),
            refs: 1,
            modules: vec![m.name().to_string()],
            module: Some(m),
        });
        self.files[0].refs += 1;
        id
    }
    /// The module of loaded file `id` (ENOENT if none; EBUSY for the kernel itself).
    pub fn file_module(&self, id: i32) -> Result<Arc<dyn KldModule>, Errno> {
        let f = self
            .files
            .iter()
            .find(|f| f.id == id)
            .ok_or(Errno::ENOENT)?;
        f.module.clone().ok_or(Errno::EBUSY)
    }
    /// Forget file `id`.
    pub fn remove_file(&mut self, id: i32) {
        self.files.retain(|f| f.id != id);
        self.files[0].refs -= 1;
    }
    /// kldstat of the file after `id` (0: the first).
    pub fn next(&self, id: i32) -> Option<KldStat> {
        let mut addr = KERNBASE;
        for f in &self.files {
            let size = match &f.module {
                Some(m) => m.size(),
                None => 0xb3_c000,
            };
            if f.id > id {
                return Some(KldStat {
                    id: f.id,
                    refs: f.refs,
                    address: addr,
                    size,
                    name: f.name.clone(),
                    modules: f
                        .modules
                        .iter()
                        .enumerate()
                        .map(|(i, m)| (f.id * 100 + i as i32, m.clone()))
                        .collect(),
                });
            }
            addr += (size + 0xfff) & !0xfff;
        }
        None
    }
}
