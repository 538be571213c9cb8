//! `show`: one node and its hooks.

use libnetgraph::*;

use crate::cmds::{cmd_getopt, NgCmd, Rtn};
use crate::generic::request;
use crate::list::{node_line, UNNAMED};
use crate::Ctx;

/// `show`.
pub const SHOW_CMD: NgCmd = NgCmd {
    synopsis: "show [-n] <path>",
    desc: "Show the node at <path>",
    help: Some("With -n the node's hooks are left out."),
    aliases: &["inquire", "info"],
    hidden: &[],
    func: show_cmd,
};

/// One row of the hook table: `  %-15s %-15s %-12s %-15s %-15s`.
pub fn hook_row(a: &str, b: &str, c: &str, d: &str, e: &str) -> String {
    format!("  {a:<15} {b:<15} {c:<12} {d:<15} {e:<15}")
}

/// The node line, then (unless `no_hooks`, and if it has any) the hook table.
pub fn format_show(hl: &HookList, no_hooks: bool) -> String {
    let mut s = node_line(&hl.nodeinfo);
    s.push('\n');
    if no_hooks || hl.links.is_empty() {
        return s;
    }
    let mut row = |r: String| {
        s.push_str(&r);
        s.push('\n');
    };
    row(hook_row(
        "Local hook",
        "Peer name",
        "Peer type",
        "Peer ID",
        "Peer hook",
    ));
    row(hook_row(
        "----------",
        "---------",
        "---------",
        "-------",
        "---------",
    ));
    for l in &hl.links {
        let peer = &l.nodeinfo;
        let name = if peer.name.is_empty() {
            UNNAMED
        } else {
            &peer.name
        };
        row(hook_row(
            &l.ourhook,
            name,
            &peer.type_name,
            &format!("{:08x}", peer.id),
            &l.peerhook,
        ));
    }
    s
}

/// Ask the node at `path` for its hooks and print them.
pub fn show_node(ctx: &mut Ctx, path: &str, no_hooks: bool) -> Rtn {
    let rep = match request(ctx, path, NGM_LISTHOOKS, "send msg", "recv msg") {
        Ok(m) => m,
        Err(r) => return r,
    };
    match HookList::from_bytes(&rep.data) {
        Ok(hl) => {
            print!("{}", format_show(&hl, no_hooks));
            Rtn::Ok
        }
        Err(e) => {
            libvimage::warn("recv msg", e);
            Rtn::Error
        }
    }
}

fn show_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let o = match cmd_getopt(av, "n") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let no_hooks = !o.opts.is_empty();
    match o.operands.as_slice() {
        [path] => show_node(ctx, path, no_hooks),
        _ => Rtn::Usage,
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
    fn hook_table() {
        let hl = HookList {
            nodeinfo: ni("em0", "ether", 0x3a, 2),
            links: vec![
                LinkInfo {
                    ourhook: "lower".into(),
                    peerhook: "link0".into(),
                    nodeinfo: ni("bridge0", "bridge", 0x3f, 4),
                },
                LinkInfo {
                    ourhook: "upper".into(),
                    peerhook: "link1".into(),
                    nodeinfo: ni("", "bridge", 0x3f, 4),
                },
            ],
        };
        let want = "\
\x20 Name: em0             Type: ether           ID: 0000003a   Num hooks: 2
\x20 Local hook      Peer name       Peer type    Peer ID         Peer hook      \n\
\x20 ----------      ---------       ---------    -------         ---------      \n\
\x20 lower           bridge0         bridge       0000003f        link0          \n\
\x20 upper           <unnamed>       bridge       0000003f        link1          \n";
        assert_eq!(format_show(&hl, false), want);
        assert_eq!(
            format_show(&hl, true),
            "  Name: em0             Type: ether           ID: 0000003a   Num hooks: 2\n"
        );
        let lonely = HookList {
            nodeinfo: ni("", "hub", 7, 0),
            links: vec![],
        };
        assert_eq!(
            format_show(&lonely, false),
            "  Name: <unnamed>       Type: hub             ID: 00000007   Num hooks: 0\n"
        );
    }
}
