//! `types`: the node types installed in the kernel.

use libnetgraph::*;

use crate::cmds::{NgCmd, Rtn};
use crate::generic::request;
use crate::Ctx;

/// `types`.
pub const TYPES_CMD: NgCmd = NgCmd {
    synopsis: "types",
    desc: "Show every installed node type",
    help: None,
    aliases: &[],
    hidden: &[],
    func: types_cmd,
};

/// The table: `There are %d total types:`, a heading and `%15s   %5d` rows.
pub fn format_types(tl: &TypeList) -> String {
    let mut s = format!("There are {} total types:\n", tl.types.len());
    if !tl.types.is_empty() {
        s.push_str(&format!("{:>15}   Number of living nodes\n", "Type name"));
        s.push_str(&format!("{:>15}   ----------------------\n", "---------"));
    }
    for t in &tl.types {
        s.push_str(&format!("{:>15}   {:>5}\n", t.type_name, t.numnodes));
    }
    s
}

fn types_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() != 1 {
        return Rtn::Usage;
    }
    let rep = match request(ctx, ".", NGM_LISTTYPES, "send msg", "recv msg") {
        Ok(m) => m,
        Err(r) => return r,
    };
    match TypeList::from_bytes(&rep.data) {
        Ok(tl) => {
            print!("{}", format_types(&tl));
            Rtn::Ok
        }
        Err(e) => {
            libvimage::warn("recv msg", e);
            Rtn::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let tl = TypeList {
            types: vec![
                TypeInfo {
                    type_name: "socket".into(),
                    numnodes: 1,
                },
                TypeInfo {
                    type_name: "bridge".into(),
                    numnodes: 12,
                },
            ],
        };
        assert_eq!(
            format_types(&tl),
            "There are 2 total types:\n\
             \x20     Type name   Number of living nodes\n\
             \x20     ---------   ----------------------\n\
             \x20        socket       1\n\
             \x20        bridge      12\n"
        );
        assert_eq!(
            format_types(&TypeList { types: vec![] }),
            "There are 0 total types:\n"
        );
    }
}
