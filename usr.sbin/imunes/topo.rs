//! The typed topology an `.imn` file describes, and the checks that make it
//! buildable (names, counts, links, pseudo nodes).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most nodes in one topology (pseudo nodes included).
pub const MAX_NODES: usize = 8192;
/// Most links in one topology.
pub const MAX_LINKS: usize = 16384;
/// Most interfaces of one node.
pub const MAX_IFACES: usize = 256;
/// Most addresses of one family on one interface.
pub const MAX_ADDRS: usize = 64;
/// Most static routes of one node (both families together).
pub const MAX_ROUTES: usize = 1024;
/// Largest `.imn` file read (bytes).
pub const MAX_FILE: usize = 16 << 20;
/// Deepest nesting of `{…}` groups or JSON values.
pub const MAX_DEPTH: usize = 64;
/// Longest node or link id (`n12345`).
pub const MAX_ID: usize = 12;
/// Longest hostname.
pub const MAX_HOSTNAME: usize = 63;
/// Longest interface name (an ifnet name is at most 15 bytes).
pub const MAX_IFNAME: usize = 15;

/// Where in the file something was read: a 1-based line.
pub type Line = usize;

/// Why a file is not a topology we can build.  Every variant names the line
/// (and the object) at fault; [`fmt::Display`] gives the message after
/// `FILE:LINE: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line of the offending text (0: the file as a whole).
    pub line: Line,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a topology file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad list or JSON syntax.
    Syntax(String),
    /// `CLASS ID BODY` with a class IMUNES does not know.
    UnknownClass(String),
    /// A node type IMUNES does not know.
    UnknownNodeType(String),
    /// A node type IMUNES knows that this implementation cannot build.
    UnsupportedNodeType(String, String),
    /// A routing protocol or model this implementation cannot run.
    Unsupported(String),
    /// A field with a value that cannot be used.
    BadValue {
        /// The object (`node n1`, `link l0`).
        object: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// A required field is missing.
    Missing {
        /// The object.
        object: String,
        /// The field.
        field: String,
    },
    /// Two objects with one id.
    Duplicate(String),
    /// A link or peer naming a node that does not exist.
    UnknownNode {
        /// The object that names it.
        object: String,
        /// The missing node.
        node: String,
    },
    /// A link from a node to itself.
    SelfLink(String),
    /// A link whose end has no interface towards the other end.
    NoInterface {
        /// The link.
        link: String,
        /// The node lacking the interface.
        node: String,
    },
    /// Pseudo nodes that do not pair up into one link.
    Pseudo(String),
    /// A limit of [`crate::topo`] exceeded.
    TooMany(String, usize),
    /// A name that cannot become a vimage, netgraph or interface name.
    BadName {
        /// The object.
        object: String,
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax(s) => write!(f, "syntax error: {s}"),
            ErrorKind::UnknownClass(c) => {
                write!(f, "configuration parsing error: unknown object class {c}")
            }
            ErrorKind::UnknownNodeType(t) => write!(f, "Unknown node type: '{t}'."),
            ErrorKind::UnsupportedNodeType(id, t) => {
                write!(
                    f,
                    "node {id}: node type '{t}' is not supported by this imunes"
                )
            }
            ErrorKind::Unsupported(s) => write!(f, "{s}"),
            ErrorKind::BadValue {
                object,
                field,
                value,
            } => write!(f, "{object}: bad {field} '{value}'"),
            ErrorKind::Missing { object, field } => write!(f, "{object}: no {field}"),
            ErrorKind::Duplicate(o) => write!(f, "duplicate {o}"),
            ErrorKind::UnknownNode { object, node } => {
                write!(f, "{object}: no node named '{node}'")
            }
            ErrorKind::SelfLink(l) => write!(f, "link {l}: a node linked to itself"),
            ErrorKind::NoInterface { link, node } => write!(
                f,
                "link {link}: node {node} has no free interface towards the other end"
            ),
            ErrorKind::Pseudo(s) => write!(f, "pseudo node {s}"),
            ErrorKind::TooMany(what, max) => write!(f, "too many {what} (at most {max})"),
            ErrorKind::BadName { object, name, why } => {
                write!(f, "{object}: bad name '{name}': {why}")
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// An error at `line`.
    pub fn new(line: Line, kind: ErrorKind) -> Self {
        ParseError { line, kind }
    }
}

/// Which grammar a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// IMUNES 1.x/2.x Tcl list.
    Legacy,
    /// IMUNES 3 JSON.
    Json,
}

/// A node's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeType {
    /// `pc`: a vimage, no forwarding.
    Pc,
    /// `host`: a vimage, no forwarding.
    Host,
    /// `router`: a vimage that forwards.
    Router,
    /// `lanswitch`: an `ng_bridge`.
    LanSwitch,
    /// `hub`: an `ng_hub`.
    Hub,
    /// `pseudo`: half of a link drawn across canvases.
    Pseudo,
    /// A type IMUNES knows that is not built here (`rj45`, `ext`, …).
    Other(String),
}

impl NodeType {
    /// The type for IMUNES's name of it (aliases folded), or `None` for an
    /// unknown one.
    pub fn from_name(s: &str) -> Option<NodeType> {
        Some(match s {
            "pc" => NodeType::Pc,
            "host" => NodeType::Host,
            "router" => NodeType::Router,
            "lanswitch" => NodeType::LanSwitch,
            "hub" => NodeType::Hub,
            "pseudo" => NodeType::Pseudo,
            "extnat" => NodeType::Other("ext".into()),
            "extelem" => NodeType::Other("rj45".into()),
            "rj45" | "ext" | "stpswitch" | "filter" | "packgen" | "nat64" | "wlan" => {
                NodeType::Other(s.into())
            }
            _ => return None,
        })
    }

    /// IMUNES's name.
    pub fn name(&self) -> &str {
        match self {
            NodeType::Pc => "pc",
            NodeType::Host => "host",
            NodeType::Router => "router",
            NodeType::LanSwitch => "lanswitch",
            NodeType::Hub => "hub",
            NodeType::Pseudo => "pseudo",
            NodeType::Other(s) => s,
        }
    }

    /// A vimage (network layer node).
    pub fn is_l3(&self) -> bool {
        matches!(self, NodeType::Pc | NodeType::Host | NodeType::Router)
    }

    /// A bridge or hub.
    pub fn is_l2(&self) -> bool {
        matches!(self, NodeType::LanSwitch | NodeType::Hub)
    }
}

/// A router's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Routing daemons for its `router` blocks.
    Quagga,
    /// Same as quagga.
    Frr,
    /// Static routes only.
    Static,
}

/// A routing protocol of a `router X` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// RIPv2: our `routed`.
    Rip,
    /// RIPng: our `route6d`.
    Ripng,
    /// Anything else (`ospf`, `bgp 65000`, …): refused for quagga/frr routers.
    Other(String),
}

/// An interface's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfaceKind {
    /// An Ethernet interface (an eiface here).
    Phys,
    /// The loopback.
    Lo,
    /// Something else (`vlan`, `stolen`): refused when it matters.
    Other,
}

/// One interface of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Its name (`eth0`, `lo0`, `e1`).
    pub name: String,
    /// The file's id for it (JSON `ifc1`; legacy: the name).
    pub id: String,
    /// Its kind.
    pub kind: IfaceKind,
    /// IPv4 addresses (first = primary) with prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// Its MAC address.
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Configured down.
    pub shutdown: bool,
    /// The node id its `interface-peer` names (legacy) .
    pub peer: Option<String>,
    /// Index of its link in [`Topology::links`], once bound.
    pub link: Option<usize>,
}

impl Iface {
    /// An interface with nothing configured.
    pub fn new(name: &str, kind: IfaceKind) -> Iface {
        Iface {
            name: name.into(),
            id: name.into(),
            kind,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            mac: None,
            mtu: None,
            shutdown: false,
            peer: None,
            link: None,
        }
    }
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// IPv4: destination, prefix length, gateway.
    V4(Ipv4Addr, u8, Ipv4Addr),
    /// IPv6: destination, prefix length, gateway.
    V6(Ipv6Addr, u8, Ipv6Addr),
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The file's id (`n1`).
    pub id: String,
    /// Line of its definition.
    pub line: Line,
    /// Its type.
    pub ty: NodeType,
    /// A router's model.
    pub model: Option<Model>,
    /// Its hostname (default: its id).
    pub hostname: String,
    /// Its interfaces, in the file's order.
    pub ifaces: Vec<Iface>,
    /// Static routes.
    pub routes: Vec<Route>,
    /// Routing protocols of its `router` blocks.
    pub protocols: Vec<Protocol>,
    /// `auto_default_routes enabled`.
    pub auto_default_routes: bool,
    /// `mirror` of a pseudo node.
    pub mirror: Option<String>,
    /// Settings read but not emulated here (moved to
    /// [`Topology::warnings`] once the file is read).
    pub warnings: Vec<(Line, String)>,
}

impl Node {
    /// A node of type `ty` with nothing configured.
    pub fn new(id: &str, line: Line, ty: NodeType) -> Node {
        Node {
            id: id.into(),
            line,
            ty,
            model: None,
            hostname: id.into(),
            ifaces: Vec::new(),
            routes: Vec::new(),
            protocols: Vec::new(),
            auto_default_routes: false,
            mirror: None,
            warnings: Vec::new(),
        }
    }

    /// The interface named `name`.
    pub fn iface(&self, name: &str) -> Option<&Iface> {
        self.ifaces.iter().find(|i| i.name == name)
    }

    /// Whether routing daemons run on it (a quagga/frr router).
    pub fn runs_daemons(&self) -> bool {
        self.ty == NodeType::Router && matches!(self.model, Some(Model::Quagga | Model::Frr) | None)
    }
}

/// One end of a link: a node and one of its interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Index of the node in [`Topology::nodes`].
    pub node: usize,
    /// Index of the interface in the node's [`Node::ifaces`].
    pub iface: usize,
}

/// Link emulation parameters (0: off / unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkParams {
    /// Bandwidth, bit/s.
    pub bandwidth: u64,
    /// Delay, µs.
    pub delay: u64,
    /// Bit error rate: one error per this many bits.
    pub ber: u64,
    /// Duplicated frames, percent.
    pub duplicate: u32,
}

/// One link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The file's id (`l0`).
    pub id: String,
    /// Line of its definition.
    pub line: Line,
    /// The first node of `nodes {A B}` (the pipe's `upper` side).
    pub a: End,
    /// The second.
    pub b: End,
    /// Emulation parameters.
    pub params: LinkParams,
    /// `direct 1`: hooks joined with no pipe.
    pub direct: bool,
}

/// A parsed topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The grammar it was read from.
    pub format: Format,
    /// Its nodes (pseudo nodes removed once their links are joined).
    pub nodes: Vec<Node>,
    /// Its links.
    pub links: Vec<Link>,
    /// Settings read but not emulated here (`loss`, jitter, queue
    /// disciplines), by line: the topology is built without them.
    pub warnings: Vec<(Line, String)>,
}

impl Topology {
    /// The index of node `id`.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The node whose hostname is `h` (`Err(true)`: more than one).
    pub fn by_hostname(&self, h: &str) -> Result<usize, bool> {
        let mut it = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.hostname == h);
        match (it.next(), it.next()) {
            (Some((i, _)), None) => Ok(i),
            (Some(_), Some(_)) => Err(true),
            _ => Err(false),
        }
    }

    /// The L3 and L2 node counts and the link count, for the summary line.
    pub fn counts(&self) -> (usize, usize) {
        (self.nodes.len(), self.links.len())
    }
}

/// Whether `s` may be a node or link id: 1 to [`MAX_ID`] ASCII letters,
/// digits or `_` (they become parts of vimage and netgraph names).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Why `s` cannot be a hostname (himage and vlink find nodes by it), if so.
pub fn hostname_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("empty");
    }
    if s.len() > MAX_HOSTNAME {
        return Some("longer than 63 bytes");
    }
    if s.starts_with('-') {
        return Some("starts with '-'");
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
    {
        return Some("only letters, digits, '-', '_' and '.' are allowed");
    }
    None
}

/// Why `s` cannot be an interface name, if so.
pub fn ifname_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("empty");
    }
    if s.len() > MAX_IFNAME {
        return Some("longer than 15 bytes");
    }
    if !s.as_bytes()[0].is_ascii_alphabetic() {
        return Some("does not start with a letter");
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Some("only letters, digits and '_' are allowed");
    }
    None
}

/// Whether `s` may be a routing protocol's words (`bgp 65000`): ASCII
/// letters, digits, blanks and `.:/_-` only, so it is written back as read.
pub fn valid_protocol(s: &str) -> bool {
    !s.trim().is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b" .:/_-".contains(&c))
}

/// Tcl's `lsort -dictionary` order: digit runs compare as numbers.
pub fn dict_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut v = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let d = b[i].is_ascii_digit();
            let j = (i..b.len())
                .find(|&k| b[k].is_ascii_digit() != d)
                .unwrap_or(b.len());
            v.push((d, &s[i..j]));
            i = j;
        }
        v
    }
    let (x, y) = (chunks(a), chunks(b));
    for (p, q) in x.iter().zip(y.iter()) {
        let o = match (p, q) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then(p.cmp(q))
            }
            ((_, p), (_, q)) => p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase()),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len()).then(a.cmp(b))
}

/// Parse `A/len` for IPv4.
pub fn parse_cidr4(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some((a.parse().ok()?, l))
}

/// Parse `A/len` for IPv6.
pub fn parse_cidr6(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 128)?;
    Some((a.parse().ok()?, l))
}

/// Parse `xx:xx:xx:xx:xx:xx`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for p in s.split(':') {
        if n == 6 || p.is_empty() || p.len() > 2 {
            return None;
        }
        m[n] = u8::from_str_radix(p, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(m)
}

/// Parse a route line's destination and gateway (`0.0.0.0/0 10.0.0.1`).
pub fn parse_route(v6: bool, dst: &str, gw: &str) -> Option<Route> {
    if v6 {
        let (d, l) = parse_cidr6(dst)?;
        Some(Route::V6(d, l, gw.parse().ok()?))
    } else {
        let (d, l) = parse_cidr4(dst)?;
        Some(Route::V4(d, l, gw.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_order() {
        let mut v = vec!["e10", "e2", "eth1", "e0", "eth0", "E1"];
        v.sort_by(|a, b| dict_cmp(a, b));
        assert_eq!(v, ["e0", "E1", "e2", "e10", "eth0", "eth1"]);
    }

    #[test]
    fn names() {
        assert!(valid_id("n0") && valid_id("n_12"));
        assert!(!valid_id("") && !valid_id("n.1") && !valid_id("n:1") && !valid_id("a-b"));
        assert!(!valid_id("n1234567890123"));
        assert_eq!(hostname_problem("router1"), None);
        assert!(hostname_problem("a b").is_some());
        assert!(hostname_problem("a:b").is_some());
        assert!(hostname_problem("x[1]").is_some());
        assert_eq!(ifname_problem("eth0"), None);
        assert!(ifname_problem("eth0.1").is_some());
        assert!(ifname_problem("0eth").is_some());
    }

    #[test]
    fn values() {
        assert_eq!(
            parse_mac("42:00:aa:00:00:0a"),
            Some([0x42, 0, 0xaa, 0, 0, 10])
        );
        assert_eq!(parse_mac("42:00:aa:00:00"), None);
        assert_eq!(parse_mac("42:00:aa:00:00:00:01"), None);
        assert_eq!(
            parse_cidr4("10.0.0.1/24"),
            Some(("10.0.0.1".parse().unwrap(), 24))
        );
        assert_eq!(parse_cidr4("10.0.0.1/33"), None);
        assert_eq!(
            parse_cidr6("a:0::1/64"),
            Some(("a::1".parse().unwrap(), 64))
        );
        assert!(parse_route(false, "0.0.0.0/0", "10.0.0.1").is_some());
        assert!(parse_route(true, "::/0", "10.0.0.1").is_none());
    }
}
