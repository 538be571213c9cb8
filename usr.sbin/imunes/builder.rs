//! Building a topology in a running kernel, and tearing it down, through the
//! door only: vimage requests (as vimage(8) makes them) and netgraph messages
//! (as ngctl(8) sends them) from this process; each node's own configuration
//! (hostname, addresses, routes, sysctls) from a child process that moves
//! itself into the node's vimage; routing daemons through `vimage NODE
//! /path/routed`, the way a user starts them.
//!
//! Every object is recorded in the experiment's state file as soon as it
//! exists, so a build that fails half way is undone by [`teardown`] from the
//! same record, and nothing is left behind.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libnetgraph::NgSock;
use libvimage::{Errno, Sys};
use vimage_abi::netgraph::{
    NgmConnect, NgmMkpeer, NgmRmhook, NodeInfo, NGM_CONNECT, NGM_GENERIC_COOKIE, NGM_MKPEER,
    NGM_NODEINFO, NGM_RMHOOK, NGM_SHUTDOWN,
};
use vimage_abi::vimage::*;

use crate::state::{self, LinkState, NodeState, Record, State};
use crate::topo::*;

/// The longest netgraph node name.
pub const NG_NAME_MAX: usize = 31;

/// The environment variable that marks every process started for an
/// experiment (routing daemons, `himage` commands): its value is the
/// experiment's state directory.  Teardown ends the processes carrying it.
pub const MARK: &str = "IMUNES_EXPERIMENT";

/// Why a build or a link change failed.
#[derive(Debug)]
pub enum BuildError {
    /// A kernel call failed: what was being done, and the errno.
    Kernel(String, Errno),
    /// Something in the node's own configuration failed.
    Node(String, String),
    /// A name that cannot be made (too long, already taken).
    Name(String),
    /// The kernel could not be reached.
    Door(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Kernel(what, e) => write!(f, "{what}: {}", libvimage::strerror(*e)),
            BuildError::Node(n, s) => write!(f, "node {n}: {s}"),
            BuildError::Name(s) => write!(f, "{s}"),
            BuildError::Door(s) => write!(f, "cannot reach kernel at {s}"),
        }
    }
}

impl std::error::Error for BuildError {}

fn kerr(what: impl Into<String>) -> impl FnOnce(Errno) -> BuildError {
    let w = what.into();
    move |e| BuildError::Kernel(w, e)
}

/// The vimage of node `id` in experiment `eid` (`e0_n1`).
pub fn vimage_name(eid: &str, id: &str) -> String {
    format!("{eid}_{id}")
}

/// The pipe of a link from `a` to `b` (`e0_n1-n0`).
pub fn pipe_name(eid: &str, a: &str, b: &str) -> String {
    format!("{eid}_{a}-{b}")
}

/// Whether `s` may be an experiment id: 1 to 8 ASCII letters or digits.
pub fn valid_eid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 8 && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// How to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The experiment id.
    pub eid: String,
    /// Where our tools are (vimage, routed, route6d).
    pub bindir: PathBuf,
    /// `-P` parameters for routed and route6d (`timescale=10`), if any.
    pub rip_parms: Option<String>,
}

/// The names a build will make, checked before anything is made.
pub struct Plan {
    /// Per node: its vimage or netgraph node name.
    pub objects: Vec<String>,
    /// Per link: its pipe name (`None`: direct).
    pub pipes: Vec<Option<String>>,
    /// Per L2 node and interface index: the bridge or hub hook.
    pub hooks: HashMap<(usize, usize), String>,
    /// Per L3 node and interface index: the MAC address given to a
    /// physical interface the file has none for (IMUNES's next free
    /// `42:00:aa:00:00:NN`; an eiface starts with all zeros).
    pub macs: HashMap<(usize, usize), [u8; 6]>,
}

/// Choose every name and check it fits netgraph's rules.
pub fn plan(t: &Topology, eid: &str) -> Result<Plan, BuildError> {
    if !valid_eid(eid) {
        return Err(BuildError::Name(
            "Experiment ID should only consists of alphanumeric characters.".into(),
        ));
    }
    let mut used = HashSet::new();
    let check =
        |used: &mut HashSet<String>, name: String, what: &str| -> Result<String, BuildError> {
            if name.len() > NG_NAME_MAX {
                return Err(BuildError::Name(format!(
                    "{what}: name '{name}' is longer than {NG_NAME_MAX} characters"
                )));
            }
            if !used.insert(name.clone()) {
                return Err(BuildError::Name(format!(
                    "{what}: name '{name}' used twice"
                )));
            }
            Ok(name)
        };
    let mut objects = Vec::new();
    for n in &t.nodes {
        objects.push(check(
            &mut used,
            vimage_name(eid, &n.id),
            &format!("node {}", n.id),
        )?);
    }
    let mut pipes = Vec::new();
    for l in &t.links {
        if l.direct {
            pipes.push(None);
            continue;
        }
        let (a, b) = (&t.nodes[l.a.node].id, &t.nodes[l.b.node].id);
        let mut p = pipe_name(eid, a, b);
        if used.contains(&p) {
            // A parallel link: its id tells it apart.
            p = format!("{p}_{}", l.id);
        }
        pipes.push(Some(check(&mut used, p, &format!("link {}", l.id))?));
    }
    let mut hooks = HashMap::new();
    for (ni, n) in t.nodes.iter().enumerate() {
        if !n.ty.is_l2() {
            continue;
        }
        let mut ports: Vec<usize> = (0..n.ifaces.len()).collect();
        ports.sort_by(|&x, &y| dict_cmp(&n.ifaces[x].id, &n.ifaces[y].id));
        for (k, i) in ports.into_iter().enumerate() {
            hooks.insert((ni, i), format!("link{k}"));
        }
    }
    let taken: HashSet<[u8; 6]> = t
        .nodes
        .iter()
        .flat_map(|n| n.ifaces.iter().filter_map(|i| i.mac))
        .collect();
    let mut macs = HashMap::new();
    let mut next: u32 = 0;
    for (ni, n) in t.nodes.iter().enumerate().filter(|(_, n)| n.ty.is_l3()) {
        let mut phys: Vec<usize> = (0..n.ifaces.len())
            .filter(|&i| n.ifaces[i].kind == IfaceKind::Phys && n.ifaces[i].mac.is_none())
            .collect();
        phys.sort_by(|&x, &y| dict_cmp(&n.ifaces[x].name, &n.ifaces[y].name));
        for i in phys {
            let mac = loop {
                let b = next.to_be_bytes();
                next += 1;
                let m = [0x42, 0, 0xaa, b[1], b[2], b[3]];
                if !taken.contains(&m) {
                    break m;
                }
            };
            macs.insert((ni, i), mac);
        }
    }
    Ok(Plan {
        objects,
        pipes,
        hooks,
        macs,
    })
}

/// Progress of a build: a phase starts, or `k` of its `n` steps are done.
pub enum Progress<'a> {
    /// A phase starts (`Creating nodes...`).
    Phase(&'a str),
    /// Steps done.
    Step(usize, usize),
    /// A warning to print (the build goes on).
    Warn(String),
}

/// The netgraph control path of an eiface node by ID.
fn id_path(id: u32) -> String {
    format!("[{id:x}]:")
}

struct Ng {
    s: NgSock,
}

impl Ng {
    fn open() -> Result<Ng, BuildError> {
        let sys = Sys::open().map_err(|e| {
            BuildError::Door(format!("{}: {e}", libvimage::socket_path().display()))
        })?;
        let s = NgSock::mk_sock_node(sys, None).map_err(kerr("netgraph socket"))?;
        Ok(Ng { s })
    }

    fn mkpeer(&mut self, path: &str, ty: &str, ours: &str, peers: &str) -> Result<(), BuildError> {
        let m = NgmMkpeer {
            type_name: ty.into(),
            ourhook: ours.into(),
            peerhook: peers.into(),
        }
        .to_bytes()
        .map_err(kerr(format!("mkpeer {path} {ty} {ours} {peers}")))?;
        self.s
            .send_msg(path, NGM_GENERIC_COOKIE, NGM_MKPEER, &m)
            .map(|_| ())
            .map_err(kerr(format!("mkpeer {path} {ty} {ours} {peers}")))
    }

    fn connect(
        &mut self,
        path: &str,
        peer: &str,
        ours: &str,
        peers: &str,
    ) -> Result<(), BuildError> {
        let m = NgmConnect {
            path: peer.into(),
            ourhook: ours.into(),
            peerhook: peers.into(),
        }
        .to_bytes()
        .map_err(kerr(format!("connect {path} {peer} {ours} {peers}")))?;
        self.s
            .send_msg(path, NGM_GENERIC_COOKIE, NGM_CONNECT, &m)
            .map(|_| ())
            .map_err(kerr(format!("connect {path} {peer} {ours} {peers}")))
    }

    fn rmhook(&mut self, path: &str, hook: &str) -> Result<(), BuildError> {
        let m = NgmRmhook {
            ourhook: hook.into(),
        }
        .to_bytes()
        .map_err(kerr(format!("rmhook {path} {hook}")))?;
        self.s
            .send_msg(path, NGM_GENERIC_COOKIE, NGM_RMHOOK, &m)
            .map(|_| ())
            .map_err(kerr(format!("rmhook {path} {hook}")))
    }

    fn name(&mut self, path: &str, name: &str) -> Result<(), BuildError> {
        self.s
            .name_node(path, name)
            .map_err(kerr(format!("name {path} {name}")))
    }

    fn shutdown(&mut self, path: &str) -> Result<(), Errno> {
        self.s
            .send_msg(path, NGM_GENERIC_COOKIE, NGM_SHUTDOWN, &[])
            .map(|_| ())
    }

    fn nodeinfo(&mut self, path: &str) -> Result<NodeInfo, BuildError> {
        let (r, _) = self
            .s
            .request(path, NGM_GENERIC_COOKIE, NGM_NODEINFO, &[])
            .map_err(kerr(format!("show {path}")))?;
        NodeInfo::from_bytes(&r.data).map_err(kerr(format!("show {path}")))
    }

    /// An ASCII message; with `reply`, the reply's data up to its NUL.
    fn msg(&mut self, path: &str, text: &str, reply: bool) -> Result<String, BuildError> {
        let t = self
            .s
            .send_ascii_msg(path, text)
            .map_err(kerr(format!("msg {path} {text}")))?;
        if !reply {
            return Ok(String::new());
        }
        let (r, _) = self
            .s
            .recv_reply(t, 0)
            .map_err(kerr(format!("msg {path} {text}")))?;
        let n = r.data.iter().position(|&c| c == 0).unwrap_or(r.data.len());
        Ok(String::from_utf8_lossy(&r.data[..n]).into_owned())
    }
}

/// The ng_pipe `setcfg` argument for `p` (0 sent as -1: off / unlimited).
pub fn setcfg_text(p: &LinkParams) -> String {
    let v = |x: u64| {
        if x == 0 {
            "-1".to_string()
        } else {
            x.to_string()
        }
    };
    let dir = format!(
        "{{ BER={} duplicate={} }}",
        v(p.ber),
        v(u64::from(p.duplicate))
    );
    format!(
        "setcfg {{ bandwidth={} delay={} upstream={dir} downstream={dir} }}",
        v(p.bandwidth),
        v(p.delay)
    )
}

/// Apply `p` to pipe `pipe` (vlink).
pub fn set_link(pipe: &str, p: &LinkParams) -> Result<(), BuildError> {
    let mut ng = Ng::open()?;
    ng.msg(&format!("{pipe}:"), &setcfg_text(p), false)?;
    Ok(())
}

/// Build `t` as experiment `o.eid`, recording each object in `w` as it is
/// made.  On error the caller tears down what the state file records.
pub fn build(
    t: &Topology,
    o: &Options,
    w: &mut state::Writer,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), BuildError> {
    let plan = plan(t, &o.eid)?;
    let rec = |w: &mut state::Writer, r: Record| {
        w.record(&r)
            .map_err(|e| BuildError::Name(format!("state file: {e}")))
    };
    let mut sys = Sys::open()
        .map_err(|e| BuildError::Door(format!("{}: {e}", libvimage::socket_path().display())))?;
    let mut ng = Ng::open()?;

    // 1. Nodes: a vimage per L3 node, a persistent bridge or hub per L2 node.
    progress(Progress::Phase("Creating nodes..."));
    let total = t.nodes.len();
    for (k, n) in t.nodes.iter().enumerate() {
        let name = &plan.objects[k];
        if n.ty.is_l3() {
            sys.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_CREATE, name))
                .map_err(|e| match e {
                    Errno::EOPNOTSUPP => {
                        BuildError::Name("kernel built without VIMAGE support".into())
                    }
                    e => BuildError::Kernel(format!("vimage -c {name}"), e),
                })?;
            rec(
                w,
                Record::Node(NodeState {
                    id: n.id.clone(),
                    hostname: n.hostname.clone(),
                    kind: "vimage".into(),
                    object: name.clone(),
                }),
            )?;
        } else {
            let ty = if n.ty == NodeType::Hub {
                "hub"
            } else {
                "bridge"
            };
            let hook = format!("imunes{k}");
            ng.mkpeer(".", ty, &hook, "link0")?;
            let at = format!(".:{hook}");
            let made = ng
                .msg(&at, "setpersistent", false)
                .and_then(|_| ng.name(&at, name));
            if let Err(e) = made {
                let _ = ng.shutdown(&at);
                return Err(e);
            }
            rec(
                w,
                Record::Node(NodeState {
                    id: n.id.clone(),
                    hostname: n.hostname.clone(),
                    kind: "ng".into(),
                    object: name.clone(),
                }),
            )?;
            ng.rmhook(".", &hook)?;
        }
        progress(Progress::Step(k + 1, total));
    }

    // 2. Interfaces: an eiface per physical interface of an L3 node, moved
    //    into the node under the file's name.
    progress(Progress::Phase("Creating interfaces..."));
    let mut eif: HashMap<(usize, usize), String> = HashMap::new();
    let todo: Vec<(usize, usize)> = t
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.ty.is_l3())
        .flat_map(|(ni, n)| {
            let mut v: Vec<usize> = (0..n.ifaces.len())
                .filter(|&i| n.ifaces[i].kind == IfaceKind::Phys)
                .collect();
            v.sort_by(|&x, &y| dict_cmp(&n.ifaces[x].name, &n.ifaces[y].name));
            v.into_iter().map(move |i| (ni, i))
        })
        .collect();
    for (k, &(ni, ii)) in todo.iter().enumerate() {
        let hook = "imunes";
        ng.mkpeer(".", "eiface", hook, "ether")?;
        let info = ng.nodeinfo(&format!(".:{hook}"));
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                let _ = ng.shutdown(&format!(".:{hook}"));
                return Err(e);
            }
        };
        let path = id_path(info.id);
        rec(w, Record::Eiface(path.clone()))?;
        let ifname = ng.msg(&path, "getifname", true)?;
        ng.rmhook(".", hook)?;
        let vname = &plan.objects[ni];
        let mut q = ViReq::new(VI_IFACE, vname);
        q.if_xname = ifname.clone();
        q.if_newname = t.nodes[ni].ifaces[ii].name.clone();
        sys.vi_ioctl(SIOCSIFVIMAGE, &q)
            .map_err(kerr(format!("vimage -i {vname} {ifname} {}", q.if_newname)))?;
        eif.insert((ni, ii), path);
        progress(Progress::Step(k + 1, todo.len()));
    }

    // 3. Links: an ng_pipe between the ends, or the hooks joined directly.
    progress(Progress::Phase("Creating links..."));
    let end = |e: &End| -> Result<(String, String), BuildError> {
        let n = &t.nodes[e.node];
        let missing = || {
            BuildError::Name(format!(
                "node {}: interface {} cannot be linked",
                n.id, n.ifaces[e.iface].name
            ))
        };
        if n.ty.is_l3() {
            let p = eif.get(&(e.node, e.iface)).ok_or_else(missing)?;
            Ok((p.clone(), "ether".into()))
        } else {
            let h = plan.hooks.get(&(e.node, e.iface)).ok_or_else(missing)?;
            Ok((format!("{}:", plan.objects[e.node]), h.clone()))
        }
    };
    for (k, l) in t.links.iter().enumerate() {
        let (ap, ah) = end(&l.a)?;
        let (bp, bh) = end(&l.b)?;
        match &plan.pipes[k] {
            None => ng.connect(&ap, &bp, &ah, &bh)?,
            Some(p) => {
                ng.mkpeer(&ap, "pipe", &ah, "upper")?;
                let at = format!("{ap}{ah}");
                if let Err(e) = ng.name(&at, p) {
                    let _ = ng.shutdown(&at);
                    return Err(e);
                }
                rec(
                    w,
                    Record::Link(LinkState {
                        id: l.id.clone(),
                        a: t.nodes[l.a.node].id.clone(),
                        b: t.nodes[l.b.node].id.clone(),
                        pipe: Some(p.clone()),
                        params: l.params,
                    }),
                )?;
                ng.connect(&format!("{p}:"), &bp, "lower", &bh)?;
                ng.msg(&format!("{p}:"), &setcfg_text(&l.params), false)?;
            }
        }
        if l.direct {
            rec(
                w,
                Record::Link(LinkState {
                    id: l.id.clone(),
                    a: t.nodes[l.a.node].id.clone(),
                    b: t.nodes[l.b.node].id.clone(),
                    pipe: None,
                    params: l.params,
                }),
            )?;
        }
        progress(Progress::Step(k + 1, t.links.len()));
    }
    drop(ng);
    drop(sys);

    // 4. Each node's own configuration, from inside it.
    progress(Progress::Phase("Configuring nodes..."));
    let l3: Vec<usize> = (0..t.nodes.len())
        .filter(|&i| t.nodes[i].ty.is_l3())
        .collect();
    for (k, &ni) in l3.iter().enumerate() {
        let mut n = t.nodes[ni].clone();
        for (i, ifc) in n.ifaces.iter_mut().enumerate() {
            if let Some(m) = plan.macs.get(&(ni, i)) {
                ifc.mac = Some(*m);
            }
        }
        let n = &n;
        let routes = node_routes(t, ni);
        let name = plan.objects[ni].clone();
        in_vimage(&name, |s| configure(s, n, &routes))
            .map_err(|e| BuildError::Node(format!("{} ({})", n.id, n.hostname), e))?;
        progress(Progress::Step(k + 1, l3.len()));
    }

    // 5. Routing daemons.
    progress(Progress::Phase("Starting services..."));
    let mut warned = HashSet::new();
    let mark = state::exp_dir(&o.eid).display().to_string();
    for (ni, n) in t.nodes.iter().enumerate() {
        if !n.runs_daemons() {
            continue;
        }
        for p in &n.protocols {
            let daemon = match p {
                Protocol::Rip => "routed",
                Protocol::Ripng => "route6d",
                Protocol::Other(_) => continue,
            };
            let path = o.bindir.join(daemon);
            if !is_executable(&path) {
                if warned.insert(daemon) {
                    progress(Progress::Warn(format!(
                        "{}: not found: routers run no {} (the network is built without it)",
                        path.display(),
                        if daemon == "routed" { "RIP" } else { "RIPng" }
                    )));
                }
                continue;
            }
            let mut args: Vec<String> = Vec::new();
            if daemon == "routed" {
                args.push("-s".into());
            }
            if let Some(parms) = &o.rip_parms {
                args.push("-P".into());
                args.push(parms.clone());
            }
            if let Err(e) = start_daemon(&o.bindir, &plan.objects[ni], &path, &args, &mark) {
                progress(Progress::Warn(format!(
                    "{} in {}: {e}",
                    path.display(),
                    n.hostname
                )));
            }
        }
    }
    rec(w, Record::Complete)?;
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `vimage VNAME DAEMON ARGS…` with the experiment's mark; waits a little
/// for the front to return (a daemon detaches), and leaves it otherwise.
fn start_daemon(
    bindir: &Path,
    vname: &str,
    daemon: &Path,
    args: &[String],
    mark: &str,
) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut c = Command::new(bindir.join("vimage"));
    c.arg(vname)
        .arg(daemon)
        .args(args)
        .env(MARK, mark)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut ch = c.spawn().map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        if let Ok(Some(st)) = ch.try_wait() {
            if st.success() {
                return Ok(());
            }
            let mut e = String::new();
            if let Some(mut x) = ch.stderr.take() {
                let _ = x.read_to_string(&mut e);
            }
            return Err(format!("{st}: {}", e.trim()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The node's static routes, plus default routes via a router on one of its
/// subnets when `auto_default_routes` asks for them.
pub fn node_routes(t: &Topology, ni: usize) -> Vec<Route> {
    let n = &t.nodes[ni];
    let mut v = n.routes.clone();
    if !n.auto_default_routes || n.ty == NodeType::Router {
        return v;
    }
    let has4 = v.iter().any(|r| matches!(r, Route::V4(_, 0, _)));
    let has6 = v.iter().any(|r| matches!(r, Route::V6(_, 0, _)));
    let routers = t.nodes.iter().filter(|r| r.ty == NodeType::Router);
    let mut gw4 = None;
    let mut gw6 = None;
    for r in routers {
        for ri in &r.ifaces {
            for i in n.ifaces.iter().filter(|i| i.kind == IfaceKind::Phys) {
                for (a, l) in &i.ipv4 {
                    for (b, _) in &ri.ipv4 {
                        let m = vimage_abi::netinet_in::in_plen2mask(*l);
                        if gw4.is_none()
                            && u32::from(*a) & u32::from(m) == u32::from(*b) & u32::from(m)
                        {
                            gw4 = Some(*b);
                        }
                    }
                }
                for (a, l) in &i.ipv6 {
                    for (b, _) in &ri.ipv6 {
                        let m = if *l == 0 {
                            0
                        } else {
                            u128::MAX << (128 - u32::from(*l))
                        };
                        if gw6.is_none() && u128::from(*a) & m == u128::from(*b) & m {
                            gw6 = Some(*b);
                        }
                    }
                }
            }
        }
    }
    if let (false, Some(g)) = (has4, gw4) {
        v.push(Route::V4(std::net::Ipv4Addr::UNSPECIFIED, 0, g));
    }
    if let (false, Some(g)) = (has6, gw6) {
        v.push(Route::V6(std::net::Ipv6Addr::UNSPECIFIED, 0, g));
    }
    v
}

/// Run `f` in a child process that has moved itself into vimage `name`; its
/// error text comes back.
pub fn in_vimage(name: &str, f: impl FnOnce(&mut Sys) -> Result<(), String>) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let (mut rd, mut wr) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    // SAFETY: this process is single-threaded; the child runs our code and
    // leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rd);
        let r = (|| {
            let mut s = Sys::open().map_err(|e| format!("cannot reach kernel: {e}"))?;
            s.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_SWITCHTO, name))
                .map_err(|e| format!("vimage {name}: {}", libvimage::strerror(e)))?;
            f(&mut s)
        })();
        let code = match r {
            Ok(()) => 0,
            Err(e) => {
                let _ = wr.write_all(e.as_bytes());
                1
            }
        };
        drop(wr);
        // SAFETY: leaving the child without running the parent's exit code.
        unsafe { libc::_exit(code) }
    }
    drop(wr);
    let mut msg = String::new();
    let _ = rd.read_to_string(&mut msg);
    let mut st = 0;
    // SAFETY: waiting for our own child.
    unsafe {
        while libc::waitpid(pid, &mut st, 0) < 0
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {}
    }
    if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 {
        Ok(())
    } else if msg.is_empty() {
        Err("configuration process failed".into())
    } else {
        Err(msg)
    }
}

fn ok_exists(r: Result<Vec<u8>, Errno>) -> Result<(), Errno> {
    match r {
        Ok(_) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A node's configuration, made from inside its vimage: hostname,
/// forwarding, interfaces (MAC, MTU, addresses, up), static routes.
pub fn configure(s: &mut Sys, n: &Node, routes: &[Route]) -> Result<(), String> {
    use vimage_abi::net_if::*;
    use vimage_abi::netinet6_in6::{In6AliasReq, SIOCAIFADDR_IN6};
    use vimage_abi::netinet_in::{in_plen2mask, InAliasReq, SIOCAIFADDR};
    use vimage_abi::sysctl::SysctlValue;
    let e = |what: String| move |x: Errno| format!("{what}: {}", libvimage::strerror(x));
    s.sysctl_set("kern.hostname", &SysctlValue::Str(n.hostname.clone()))
        .map_err(e(format!("hostname {}", n.hostname)))?;
    let fwd = i64::from(n.ty == NodeType::Router);
    s.sysctl_set("net.inet.ip.forwarding", &SysctlValue::Int(fwd))
        .map_err(e("sysctl net.inet.ip.forwarding".into()))?;
    let _ = s.sysctl_set("net.inet6.ip6.forwarding", &SysctlValue::Int(fwd));
    let _ = s.sysctl_set("net.inet.icmp.bmcastecho", &SysctlValue::Int(1));
    let _ = s.sysctl_set("net.inet.icmp.icmplim", &SysctlValue::Int(0));
    let fd = s.socket(2, 2, 0).map_err(e("socket".into()))?;
    let mut fd6 = None;
    let mut ifs: Vec<&Iface> = n.ifaces.iter().collect();
    ifs.sort_by_key(|i| i.kind != IfaceKind::Phys);
    for i in ifs {
        let name = if i.kind == IfaceKind::Lo {
            "lo0"
        } else {
            i.name.as_str()
        };
        let ifc = |w: &str| format!("ifconfig {name} {w}");
        if let Some(m) = i.mac {
            let mut r = IfReq::new(name);
            r.set_lladdr(m);
            let b = r.to_bytes().map_err(e(ifc("link")))?;
            s.ioctl(fd, SIOCSIFLLADDR, b).map_err(e(ifc("link")))?;
        }
        if let Some(m) = i.mtu {
            let mut r = IfReq::new(name);
            r.set_int(m as i32);
            let b = r.to_bytes().map_err(e(ifc("mtu")))?;
            s.ioctl(fd, SIOCSIFMTU, b).map_err(e(ifc("mtu")))?;
        }
        for &(a, l) in &i.ipv4 {
            let mask = in_plen2mask(l);
            let bcast = (l < 31 && i.kind == IfaceKind::Phys)
                .then(|| std::net::Ipv4Addr::from(u32::from(a) | !u32::from(mask)));
            let w = format!("inet {a}/{l}");
            let b = InAliasReq {
                name: name.into(),
                addr: Some(a),
                broadaddr: bcast,
                mask: Some(mask),
            }
            .to_bytes()
            .map_err(e(ifc(&w)))?;
            ok_exists(s.ioctl(fd, SIOCAIFADDR, b)).map_err(e(ifc(&w)))?;
        }
        for &(a, l) in &i.ipv6 {
            let w = format!("inet6 {a}/{l}");
            let f6 = match fd6 {
                Some(f) => f,
                None => {
                    let f = s.socket(28, 2, 0).map_err(e(ifc(&w)))?;
                    fd6 = Some(f);
                    f
                }
            };
            let b = In6AliasReq::new(name, a, l)
                .to_bytes()
                .map_err(e(ifc(&w)))?;
            ok_exists(s.ioctl(f6, SIOCAIFADDR_IN6, b)).map_err(e(ifc(&w)))?;
        }
        let r = IfReq::new(name);
        let cur = s
            .ioctl(fd, SIOCGIFFLAGS, r.to_bytes().map_err(e(ifc("up")))?)
            .and_then(|b| IfReq::from_bytes(&b))
            .map_err(e(ifc("up")))?;
        let mut r = IfReq::new(name);
        r.set_flags(if i.shutdown {
            cur.flags() & !IFF_UP
        } else {
            cur.flags() | IFF_UP
        });
        let b = r.to_bytes().map_err(e(ifc("up")))?;
        s.ioctl(fd, SIOCSIFFLAGS, b).map_err(e(ifc("up")))?;
    }
    if !routes.is_empty() {
        add_routes(s, routes)?;
    }
    Ok(())
}

fn add_routes(s: &mut Sys, routes: &[Route]) -> Result<(), String> {
    use vimage_abi::route::*;
    let rt = s
        .socket(PF_ROUTE, SOCK_RAW, 0)
        .map_err(|x| format!("socket(PF_ROUTE): {}", libvimage::strerror(x)))?;
    for (k, r) in routes.iter().enumerate() {
        let (dst, plen, gw, v6): (IpAddr, u8, IpAddr, bool) = match r {
            Route::V4(d, l, g) => ((*d).into(), *l, (*g).into(), false),
            Route::V6(d, l, g) => ((*d).into(), *l, (*g).into(), true),
        };
        let what = format!(
            "route add -{} {dst}/{plen} {gw}",
            if v6 { "inet6" } else { "inet" }
        );
        let mut m = RtMsg::new(RTM_ADD);
        let full = if v6 { 128 } else { 32 };
        let mut flags = RTF_UP | RTF_GATEWAY | RTF_STATIC;
        m.sa[0] = Some(Sockaddr::from_ip(dst));
        m.sa[1] = Some(Sockaddr::from_ip(gw));
        if plen == full {
            flags |= RTF_HOST;
        } else {
            m.sa[2] = Some(Sockaddr::user_netmask(v6, plen));
        }
        m.hdr.flags = flags as i32;
        m.hdr.seq = k as i32 + 1;
        m.hdr.pid = std::process::id() as i32;
        let b = m
            .to_bytes()
            .map_err(|x| format!("{what}: {}", libvimage::strerror(x)))?;
        match s.sendto(rt, &b, 0, None) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(x) => return Err(format!("{what}: {}", libvimage::strerror(x))),
        }
    }
    let _ = s.close(rt);
    Ok(())
}

/// The host processes carrying experiment mark `mark` (see [`MARK`]).
pub fn marked_processes(mark: &str) -> Vec<i32> {
    let want = format!("{MARK}={mark}");
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    let Ok(d) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in d.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|&c| c == 0).any(|x| x == want.as_bytes()) {
                v.push(pid);
            }
        }
    }
    v
}

/// End the experiment's processes: SIGTERM, then SIGKILL after 2 s.
pub fn kill_processes(mark: &str) {
    let pids = marked_processes(mark);
    if pids.is_empty() {
        return;
    }
    for &p in &pids {
        // SAFETY: signalling a process of ours.
        unsafe {
            libc::kill(p, libc::SIGTERM);
        }
    }
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        if marked_processes(mark).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in marked_processes(mark) {
        // SAFETY: as above.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) && !marked_processes(mark).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tear down everything `st` records: processes, pipes, bridges and hubs,
/// eifaces, vimages.  Returns what could not be removed.
pub fn teardown(st: &State) -> Vec<String> {
    let mut left = Vec::new();
    kill_processes(&state::exp_dir(&st.eid).display().to_string());
    // Built in a kernel that is gone: what it made went with it, and the
    // node ids it recorded may be another's now.  Nothing to undo.
    if st.is_stale() {
        return left;
    }
    let mut ng = match Ng::open() {
        Ok(n) => Some(n),
        Err(e) => {
            left.push(e.to_string());
            None
        }
    };
    if let Some(ng) = ng.as_mut() {
        let paths = st
            .links
            .iter()
            .filter_map(|l| l.pipe.as_ref().map(|p| format!("{p}:")))
            .chain(
                st.nodes
                    .iter()
                    .filter(|n| n.kind == "ng")
                    .map(|n| format!("{}:", n.object)),
            )
            .chain(st.eifaces.iter().cloned());
        for p in paths {
            match ng.shutdown(&p) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => left.push(format!("shutdown {p}: {}", libvimage::strerror(e))),
            }
        }
    }
    drop(ng);
    let mut sys = match Sys::open() {
        Ok(s) => s,
        Err(e) => {
            left.push(format!("cannot reach kernel: {e}"));
            return left;
        }
    };
    for n in st.nodes.iter().filter(|n| n.kind == "vimage") {
        let t0 = Instant::now();
        loop {
            match sys.vi_ioctl(SIOCSPVIMAGE, &ViReq::new(VI_DESTROY, &n.object)) {
                Ok(_) | Err(Errno::ENXIO) | Err(Errno::ESRCH) | Err(Errno::ENOENT) => break,
                Err(Errno::EBUSY) if t0.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    left.push(format!(
                        "vimage -d {}: {}",
                        n.object,
                        libvimage::strerror(e)
                    ));
                    break;
                }
            }
        }
    }
    left
}
