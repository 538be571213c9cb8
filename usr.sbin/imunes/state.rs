//! Where a running experiment is remembered, so that `himage`, `vlink` and
//! `imunes -b -e ID` work from any shell.
//!
//! IMUNES keeps `/var/run/imunes/EID/`.  Here several kernels may run side by
//! side, so the directory is keyed by the kernel's socket too:
//!
//! ```text
//! RUNDIR/K/EID/state        what was made, one object a line (appended as it is made)
//! RUNDIR/K/EID/config.imn   the topology file as read
//! RUNDIR/K/socket           the kernel socket's path
//! ```
//!
//! `RUNDIR` is `$IMUNES_RUNDIR`, else `/var/run/imunes` for root, else
//! `$XDG_RUNTIME_DIR/imunes`, else `/tmp/imunes-UID`; `K` is a 16-hex-digit
//! FNV-1a hash of the kernel socket's canonical path.  Directories are made
//! with mode 0700.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::topo::LinkParams;

/// The runtime directory of this user (see the module's documentation).
pub fn rundir() -> PathBuf {
    if let Some(d) = std::env::var_os("IMUNES_RUNDIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if libvimage::is_root() {
        return PathBuf::from("/var/run/imunes");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("imunes"),
        // SAFETY: getuid has no preconditions.
        None => PathBuf::from(format!("/tmp/imunes-{}", unsafe { libc::getuid() })),
    }
}

/// FNV-1a, 64 bits.
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The directory of the experiments of the kernel at [`libvimage::socket_path`].
pub fn kernel_dir() -> PathBuf {
    let p = libvimage::socket_path();
    let p = fs::canonicalize(&p).unwrap_or(p);
    rundir().join(format!(
        "{:016x}",
        fnv1a(p.as_os_str().to_string_lossy().as_bytes())
    ))
}

/// The directory of experiment `eid`.
pub fn exp_dir(eid: &str) -> PathBuf {
    kernel_dir().join(eid)
}

/// Make `d` and its parents with mode 0700.
pub fn mkdirs(d: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(d)
}

/// Refuse a run directory someone else could have prepared (the state
/// decides what teardown shuts down and which processes it signals): it
/// must belong to the user or root and be writable by no one else.
pub fn check_rundir() -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let d = rundir();
    let m = match fs::metadata(&d) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if m.uid() != me && m.uid() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to you or root: refusing it",
                d.display(),
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is writable by others: refusing it", d.display()),
        ));
    }
    Ok(())
}

/// The experiments with state for this kernel, sorted.
pub fn experiments() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(kernel_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("state").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A node of a running experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The file's id (`n1`).
    pub id: String,
    /// Its hostname.
    pub hostname: String,
    /// `vimage` (L3) or `ng` (bridge, hub).
    pub kind: String,
    /// The vimage or netgraph node name (`e0_n1`).
    pub object: String,
}

/// A link of a running experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// The file's id.
    pub id: String,
    /// Node ids of the ends (the pipe's upper side first).
    pub a: String,
    /// See `a`.
    pub b: String,
    /// The pipe's name, `None` for a direct link.
    pub pipe: Option<String>,
    /// Parameters now applied.
    pub params: LinkParams,
}

/// Everything recorded about an experiment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Its id.
    pub eid: String,
    /// The topology file's name.
    pub name: String,
    /// When it started.
    pub timestamp: String,
    /// Its nodes.
    pub nodes: Vec<NodeState>,
    /// Eiface node paths (`[5]:`) and their interface names as made.
    pub eifaces: Vec<String>,
    /// Its links.
    pub links: Vec<LinkState>,
    /// Whether the build finished.
    pub complete: bool,
    /// The kernel it was built in ([`kernel_instance`]); `None` in a state
    /// written before this was recorded.
    pub kernel: Option<String>,
}

impl State {
    /// Whether the kernel it was built in is gone (the socket's kernel was
    /// restarted since): its vimages and nodes went with that kernel, and
    /// the node ids it recorded (`[5]:`) may name another's nodes now.
    pub fn is_stale(&self) -> bool {
        match &self.kernel {
            Some(k) => kernel_instance().as_deref() != Some(k.as_str()),
            None => false,
        }
    }
}

/// The kernel now serving [`libvimage::socket_path`], as `PID:START` (its
/// host pid, from the connected socket's peer credentials, and that
/// process's start time, so a reused pid is another kernel); `None` if
/// none answers.
pub fn kernel_instance() -> Option<String> {
    let s = std::os::unix::net::UnixStream::connect(libvimage::socket_path()).ok()?;
    let cred = libvimage::peer_cred(&s).ok().filter(|c| c.pid > 0)?;
    let stat = fs::read_to_string(format!("/proc/{}/stat", cred.pid)).ok()?;
    // Field 22 (starttime) is the 20th after the command's closing ')'.
    let start = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .nth(19)?;
    Some(format!("{}:{start}", cred.pid))
}

/// One line of the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `eid EID`.
    Eid(String),
    /// `name FILE`.
    Name(String),
    /// `timestamp TEXT`.
    Timestamp(String),
    /// `node ID HOSTNAME KIND OBJECT`.
    Node(NodeState),
    /// `eiface PATH`.
    Eiface(String),
    /// `link ID A B PIPE|- BW DELAY BER DUP` (a later line for the same id
    /// replaces the earlier: `vlink` appends).
    Link(LinkState),
    /// `complete`.
    Complete,
    /// `kernel PID:START`: the kernel it is built in.
    Kernel(String),
}

impl Record {
    /// The line (no newline).
    pub fn line(&self) -> String {
        match self {
            Record::Eid(e) => format!("eid {e}"),
            Record::Name(n) => format!("name {n}"),
            Record::Timestamp(t) => format!("timestamp {t}"),
            Record::Node(n) => format!("node {} {} {} {}", n.id, n.hostname, n.kind, n.object),
            Record::Eiface(p) => format!("eiface {p}"),
            Record::Link(l) => format!(
                "link {} {} {} {} {} {} {} {}",
                l.id,
                l.a,
                l.b,
                l.pipe.as_deref().unwrap_or("-"),
                l.params.bandwidth,
                l.params.delay,
                l.params.ber,
                l.params.duplicate
            ),
            Record::Complete => "complete".into(),
            Record::Kernel(k) => format!("kernel {k}"),
        }
    }
}

/// Parse a state file's text (unknown or broken lines are skipped).
pub fn parse(text: &str) -> State {
    let mut s = State::default();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["eid", e] => s.eid = (*e).into(),
            ["name", ..] => s.name = l[5..].into(),
            ["timestamp", ..] => s.timestamp = l[10..].into(),
            ["node", id, h, k, o] => s.nodes.push(NodeState {
                id: (*id).into(),
                hostname: (*h).into(),
                kind: (*k).into(),
                object: (*o).into(),
            }),
            ["eiface", p] => s.eifaces.push((*p).into()),
            ["link", id, a, b, p, bw, d, e, dup] => {
                let num = |x: &str| x.parse::<u64>().unwrap_or(0);
                let ls = LinkState {
                    id: (*id).into(),
                    a: (*a).into(),
                    b: (*b).into(),
                    pipe: (*p != "-").then(|| (*p).to_string()),
                    params: LinkParams {
                        bandwidth: num(bw),
                        delay: num(d),
                        ber: num(e),
                        duplicate: num(dup).min(100) as u32,
                    },
                };
                match s.links.iter_mut().find(|x| x.id == ls.id) {
                    Some(x) => *x = ls,
                    None => s.links.push(ls),
                }
            }
            ["complete"] => s.complete = true,
            ["kernel", k] => s.kernel = Some((*k).into()),
            _ => {}
        }
    }
    s
}

/// Read experiment `eid`'s state (`None`: no such experiment).
pub fn load(eid: &str) -> Option<State> {
    check_rundir().ok()?;
    let t = fs::read_to_string(exp_dir(eid).join("state")).ok()?;
    Some(parse(&t))
}

/// Appends records to an experiment's state file as objects are made.
pub struct Writer {
    f: fs::File,
}

impl Writer {
    /// Create experiment `eid`'s directory and state file; `Err` with
    /// `AlreadyExists` if it is in use.
    pub fn create(eid: &str) -> io::Result<Writer> {
        let kd = kernel_dir();
        check_rundir()?;
        mkdirs(&kd)?;
        check_rundir()?;
        let p = libvimage::socket_path();
        let _ = fs::write(
            kd.join("socket"),
            p.as_os_str().to_string_lossy().as_bytes(),
        );
        let d = kd.join(eid);
        // mkdir (not -p) is the lock: one experiment per id.
        fs::create_dir(&d)?;
        let f = fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(d.join("state"))?;
        Ok(Writer { f })
    }

    /// Open an existing experiment's state file for appending.
    pub fn open(eid: &str) -> io::Result<Writer> {
        check_rundir()?;
        let f = fs::OpenOptions::new()
            .append(true)
            .open(exp_dir(eid).join("state"))?;
        Ok(Writer { f })
    }

    /// Append one record.
    pub fn record(&mut self, r: &Record) -> io::Result<()> {
        writeln!(self.f, "{}", r.line())
    }
}

/// Remove experiment `eid`'s directory, and the kernel's when it was the
/// last experiment.
pub fn remove(eid: &str) -> io::Result<()> {
    fs::remove_dir_all(exp_dir(eid))?;
    let kd = kernel_dir();
    let others = fs::read_dir(&kd)
        .map(|d| d.flatten().any(|e| e.path().is_dir()))
        .unwrap_or(true);
    if !others {
        let _ = fs::remove_file(kd.join("socket"));
        let _ = fs::remove_dir(&kd);
    }
    Ok(())
}

/// Why a node could not be found by its hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindError {
    /// No node has it.
    NotFound,
    /// Several nodes have it.
    NotUnique,
}

/// The experiment and node whose hostname is `host` (in experiment `eid`
/// only, if given).  `want` filters the kind of node (`vimage`, `ng`).
pub fn find_node(
    host: &str,
    eid: Option<&str>,
    want: Option<&str>,
) -> Result<(State, NodeState), FindError> {
    let exps = match eid {
        Some(e) => vec![e.to_string()],
        None => experiments(),
    };
    let mut found = Vec::new();
    for e in exps {
        let Some(st) = load(&e) else { continue };
        for n in &st.nodes {
            if n.hostname == host && (want.is_none() || want == Some(n.kind.as_str())) {
                found.push((st.clone(), n.clone()));
            }
        }
    }
    match found.len() {
        0 => Err(FindError::NotFound),
        1 => Ok(found.remove(0)),
        _ => Err(FindError::NotUnique),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let l = LinkState {
            id: "l0".into(),
            a: "n1".into(),
            b: "n0".into(),
            pipe: Some("e0_n1-n0".into()),
            params: LinkParams {
                bandwidth: 10,
                delay: 20,
                ber: 1,
                duplicate: 5,
            },
        };
        let n = NodeState {
            id: "n1".into(),
            hostname: "pc1".into(),
            kind: "vimage".into(),
            object: "e0_n1".into(),
        };
        let mut l2 = l.clone();
        l2.params.ber = 0;
        let text: String = [
            Record::Eid("e0".into()),
            Record::Name("p s p.imn".into()),
            Record::Node(n.clone()),
            Record::Eiface("[3]:".into()),
            Record::Link(l),
            Record::Link(l2.clone()),
            Record::Complete,
        ]
        .iter()
        .map(|r| r.line() + "\n")
        .collect();
        let s = parse(&text);
        assert_eq!(s.eid, "e0");
        assert_eq!(s.name, "p s p.imn");
        assert_eq!(s.nodes, [n]);
        assert_eq!(s.eifaces, ["[3]:"]);
        assert_eq!(s.links, [l2]);
        assert!(s.complete);
    }
}
