//! `list`: every node (or every named node) of this vimage's netgraph.

use libnetgraph::*;

use crate::cmds::{cmd_getopt, NgCmd, Rtn};
use crate::generic::request;
use crate::{show, Ctx};

/// What an unnamed node is called in listings.
pub const UNNAMED: &str = "<unnamed>";

/// `list`.
pub const LIST_CMD: NgCmd = NgCmd {
    synopsis: "list [-ln]",
    desc: "Show every node",
    help: Some(
        "Lists every node that exists in the netgraph of this vimage. With -n \
         only nodes that have a name are listed; with -l each node is shown \
         with its hooks, as the show command does.",
    ),
    aliases: &["ls"],
    hidden: &["1"],
    func: list_cmd,
};

/// One node's line: `  Name: %-15s Type: %-15s ID: %08x   Num hooks: %d`.
pub fn node_line(ni: &NodeInfo) -> String {
    let name = if ni.name.is_empty() {
        UNNAMED
    } else {
        &ni.name
    };
    format!(
        "  Name: {:<15} Type: {:<15} ID: {:08x}   Num hooks: {}",
        name, ni.type_name, ni.id, ni.hooks
    )
}

/// The heading: `There are %d total nodes:` (`named nodes` with -n).
pub fn heading(n: usize, named_only: bool) -> String {
    let named = if named_only { "named " } else { "" };
    format!("There are {n} total {named}nodes:")
}

/// The whole listing without hooks.
pub fn format_list(nl: &NameList, named_only: bool) -> String {
    let mut s = heading(nl.nodes.len(), named_only);
    s.push('\n');
    for ni in &nl.nodes {
        s.push_str(&node_line(ni));
        s.push('\n');
    }
    s
}

fn list_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let o = match cmd_getopt(av, "ln") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let list_hooks = o.opts.iter().any(|(c, _)| *c == 'l');
    let named_only = o.opts.iter().any(|(c, _)| *c == 'n');
    if !o.operands.is_empty() {
        return Rtn::Usage;
    }
    let cmd = if named_only {
        NGM_LISTNAMES
    } else {
        NGM_LISTNODES
    };
    let rep = match request(ctx, ".", cmd, "send msg", "recv msg") {
        Ok(m) => m,
        Err(r) => return r,
    };
    let nl = match NameList::from_bytes(&rep.data) {
        Ok(nl) => nl,
        Err(e) => {
            libvimage::warn("recv msg", e);
            return Rtn::Error;
        }
    };
    if !list_hooks {
        print!("{}", format_list(&nl, named_only));
        return Rtn::Ok;
    }
    println!("{}", heading(nl.nodes.len(), named_only));
    for ni in &nl.nodes {
        let r = show::show_node(ctx, &format!("[{:x}]:", ni.id), false);
        if r != Rtn::Ok {
            return r;
        }
    }
    Rtn::Ok
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
    fn tutorial_listing() {
        let nl = NameList {
            nodes: vec![
                ni("ngctl9290", "socket", 0x40, 0),
                ni("", "bridge", 0x3f, 1),
                ni("em0", "ether", 0x3a, 1),
            ],
        };
        assert_eq!(
            format_list(&nl, false),
            "There are 3 total nodes:\n\
             \x20 Name: ngctl9290       Type: socket          ID: 00000040   Num hooks: 0\n\
             \x20 Name: <unnamed>       Type: bridge          ID: 0000003f   Num hooks: 1\n\
             \x20 Name: em0             Type: ether           ID: 0000003a   Num hooks: 1\n"
        );
        assert_eq!(
            format_list(&NameList { nodes: vec![] }, true),
            "There are 0 total named nodes:\n"
        );
        assert_eq!(heading(1, false), "There are 1 total nodes:");
        // Long names are not cut.
        assert_eq!(
            node_line(&ni("a_very_long_node_name", "t", 0xdeadbeef, 12)),
            "  Name: a_very_long_node_name Type: t               ID: deadbeef   Num hooks: 12"
        );
    }
}
