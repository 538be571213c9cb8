//! `dot`: the whole netgraph as a GraphViz graph.

use std::fs::File;
use std::io::{self, Write};

use libnetgraph::*;

use crate::cmds::{cmd_getopt, io_strerror, NgCmd, Rtn};
use crate::generic::request;
use crate::Ctx;

/// What an unnamed node is called in a record label (`<>` escaped).
const UNNAMED: &str = "\\<unnamed\\>";

/// `dot`.
pub const DOT_CMD: NgCmd = NgCmd {
    synopsis: "dot [outputfile]",
    desc: "Write the whole netgraph as a GraphViz (.dot) graph",
    help: Some("The graph goes to standard output unless an output file is given."),
    aliases: &["graphviz", "confdot"],
    hidden: &[],
    func: dot_cmd,
};

/// The start of the graph: every node as a record, then the nodes without hooks
/// in a pink cluster.
pub fn dot_head(nodes: &[NodeInfo]) -> String {
    let mut s = String::from("graph netgraph {\n");
    s.push_str("\tedge [ weight = 1.0 ];\n");
    s.push_str("\tnode [ shape = record, fontsize = 12 ] {\n");
    for n in nodes {
        let name = if n.name.is_empty() { UNNAMED } else { &n.name };
        s.push_str(&format!(
            "\t\t\"{:x}\" [ label = \"{{{}:|{{{}|[{:x}]:}}}}\" ];\n",
            n.id, name, n.type_name, n.id
        ));
    }
    s.push_str("\t};\n");
    s.push_str("\tsubgraph cluster_disconnected {\n");
    s.push_str("\t\tbgcolor = pink;\n");
    for n in nodes.iter().filter(|n| n.hooks == 0) {
        s.push_str(&format!("\t\t\"{:x}\";\n", n.id));
    }
    s.push_str("\t};\n");
    s
}

/// One node's part: its hooks as octagons, bold edges from the node to them,
/// and an edge per link (drawn once, from the node with the larger ID).
pub fn dot_node(id: u32, hl: &HookList) -> String {
    if hl.links.is_empty() {
        return String::new();
    }
    let mut s = String::from("\tnode [ shape = octagon, fontsize = 10 ] {\n");
    for l in &hl.links {
        s.push_str(&format!(
            "\t\t\"{id:x}.{}\" [ label = \"{}\" ];\n",
            l.ourhook, l.ourhook
        ));
    }
    s.push_str("\t};\n");
    s.push_str("\t{\n\t\tedge [ weight = 2.0, style = bold ];\n");
    for l in &hl.links {
        s.push_str(&format!("\t\t\"{id:x}\" -- \"{id:x}.{}\";\n", l.ourhook));
    }
    s.push_str("\t};\n");
    for l in hl.links.iter().filter(|l| l.nodeinfo.id <= id) {
        s.push_str(&format!(
            "\t\"{id:x}.{}\" -- \"{:x}.{}\";\n",
            l.ourhook, l.nodeinfo.id, l.peerhook
        ));
    }
    s
}

/// The end of the graph.
pub const DOT_TAIL: &str = "};\n";

fn dot_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let o = match cmd_getopt(av, "") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut out: Box<dyn Write> = match o.operands.as_slice() {
        [] => Box::new(io::stdout()),
        [file] => match File::create(file) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                libvimage::warnx(format!(
                    "Could not open {file} for writing: {}",
                    io_strerror(&e)
                ));
                return Rtn::Error;
            }
        },
        _ => return Rtn::Usage,
    };
    let rep = match request(
        ctx,
        ".",
        NGM_LISTNODES,
        "send listnodes msg",
        "recv listnodes msg",
    ) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let nl = match NameList::from_bytes(&rep.data) {
        Ok(nl) => nl,
        Err(e) => {
            libvimage::warn("recv listnodes msg", e);
            return Rtn::Error;
        }
    };
    let mut w = |s: &str| out.write_all(s.as_bytes());
    let mut ok = w(&dot_head(&nl.nodes)).is_ok();
    for n in &nl.nodes {
        let path = format!("[{:x}]:", n.id);
        let rep = match request(
            ctx,
            &path,
            NGM_LISTHOOKS,
            "send listhooks msg",
            "recv listhooks msg",
        ) {
            Ok(m) => m,
            Err(r) => return r,
        };
        let hl = match HookList::from_bytes(&rep.data) {
            Ok(hl) => hl,
            Err(e) => {
                libvimage::warn("recv listhooks msg", e);
                return Rtn::Error;
            }
        };
        ok &= w(&dot_node(n.id, &hl)).is_ok();
    }
    ok &= w(DOT_TAIL).is_ok();
    if ok && out.flush().is_ok() {
        Rtn::Ok
    } else {
        libvimage::warn("write", Errno::EIO);
        Rtn::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ni(name: &str, t: &str, id: u32, hooks: u32) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            type_name: t.into(),
            id,
            hooks,
        }
    }

    #[test]
    fn graph() {
        let nodes = vec![
            ni("ngctl5", "socket", 0x40, 0),
            ni("", "bridge", 0x3f, 1),
            ni("em0", "ether", 0x3a, 1),
        ];
        let bridge = HookList {
            nodeinfo: nodes[1].clone(),
            links: vec![LinkInfo {
                ourhook: "link0".into(),
                peerhook: "lower".into(),
                nodeinfo: nodes[2].clone(),
            }],
        };
        let em0 = HookList {
            nodeinfo: nodes[2].clone(),
            links: vec![LinkInfo {
                ourhook: "lower".into(),
                peerhook: "link0".into(),
                nodeinfo: nodes[1].clone(),
            }],
        };
        let lonely = HookList {
            nodeinfo: nodes[0].clone(),
            links: vec![],
        };
        let g = dot_head(&nodes)
            + &dot_node(0x40, &lonely)
            + &dot_node(0x3f, &bridge)
            + &dot_node(0x3a, &em0)
            + DOT_TAIL;
        let want = r#"graph netgraph {
	edge [ weight = 1.0 ];
	node [ shape = record, fontsize = 12 ] {
		"40" [ label = "{ngctl5:|{socket|[40]:}}" ];
		"3f" [ label = "{\<unnamed\>:|{bridge|[3f]:}}" ];
		"3a" [ label = "{em0:|{ether|[3a]:}}" ];
	};
	subgraph cluster_disconnected {
		bgcolor = pink;
		"40";
	};
	node [ shape = octagon, fontsize = 10 ] {
		"3f.link0" [ label = "link0" ];
	};
	{
		edge [ weight = 2.0, style = bold ];
		"3f" -- "3f.link0";
	};
	"3f.link0" -- "3a.lower";
	node [ shape = octagon, fontsize = 10 ] {
		"3a.lower" [ label = "lower" ];
	};
	{
		edge [ weight = 2.0, style = bold ];
		"3a" -- "3a.lower";
	};
};
"#;
        assert_eq!(g, want);
    }
}
