//! The commands that send one generic message and expect nothing back —
//! `mkpeer`, `connect`, `name`, `rmhook`, `shutdown` — and [`request`], the
//! send-and-wait step the listing commands share.

use libnetgraph::*;

use crate::cmds::{NgCmd, Rtn};
use crate::Ctx;

/// `mkpeer`.
pub const MKPEER_CMD: NgCmd = NgCmd {
    synopsis: "mkpeer [path] <type> <hook> <peerhook>",
    desc: "Create a node and connect it to the node at \"path\"",
    help: Some(
        "A new node of type \"type\" is created and connected to the node at \
         \"path\" in one step: hook \"hook\" of that node is joined to hook \
         \"peerhook\" of the new node. Without \"path\", \".\" (this socket node) \
         is used.",
    ),
    aliases: &[],
    hidden: &[],
    func: mkpeer_cmd,
};

/// `connect`.
pub const CONNECT_CMD: NgCmd = NgCmd {
    synopsis: "connect [path] <relpath> <hook> <peerhook>",
    desc: "Join hook <hook> to hook <peerhook> of the node at <relpath>",
    help: Some(
        "Links the node at \"path\" and the node at \"relpath\" through hooks \
         \"hook\" (on the first) and \"peerhook\" (on the second). A \"relpath\" \
         that is not absolute is taken relative to \"path\". Without \"path\", \
         \".\" is used.",
    ),
    aliases: &["join"],
    hidden: &[],
    func: connect_cmd,
};

/// `name`.
pub const NAME_CMD: NgCmd = NgCmd {
    synopsis: "name <path> <name>",
    desc: "Give the node at <path> the name <name>",
    help: None,
    aliases: &[],
    hidden: &[],
    func: name_cmd,
};

/// `rmhook`.
pub const RMHOOK_CMD: NgCmd = NgCmd {
    synopsis: "rmhook [path] <hook>",
    desc: "Disconnect hook \"hook\" of the node at \"path\"",
    help: Some(
        "The link made by hook \"hook\" of the node at \"path\" is broken, if there \
         is one. Without \"path\", \".\" is used.",
    ),
    aliases: &["disconnect"],
    hidden: &[],
    func: rmhook_cmd,
};

/// `shutdown`.
pub const SHUTDOWN_CMD: NgCmd = NgCmd {
    synopsis: "shutdown <path>",
    desc: "Shut down the node at <path>",
    help: None,
    aliases: &["kill", "rmnode"],
    hidden: &[],
    func: shutdown_cmd,
};

/// Send a generic message, warning `what: STRERROR` if it fails.
fn send(ctx: &mut Ctx, path: &str, cmd: u32, data: Result<Vec<u8>, Errno>, what: &str) -> Rtn {
    match data.and_then(|d| ctx.ng.send_msg(path, NGM_GENERIC_COOKIE, cmd, &d)) {
        Ok(_) => Rtn::Ok,
        Err(e) => {
            libvimage::warn(what, e);
            Rtn::Error
        }
    }
}

/// Send a generic message with no argument and wait for its response, warning
/// `SEND: STRERROR` or `RECV: STRERROR` on failure.
pub fn request(
    ctx: &mut Ctx,
    path: &str,
    cmd: u32,
    send_what: &str,
    recv_what: &str,
) -> Result<NgMesg, Rtn> {
    let token = ctx
        .ng
        .send_msg(path, NGM_GENERIC_COOKIE, cmd, &[])
        .map_err(|e| {
            libvimage::warn(send_what, e);
            Rtn::Error
        })?;
    ctx.ng.recv_reply(token, 0).map(|(m, _)| m).map_err(|e| {
        libvimage::warn(recv_what, e);
        Rtn::Error
    })
}

/// Split `[path] a b c` into the path (default `.`) and the three words.
fn path_and<const N: usize>(av: &[String]) -> Option<(&str, &[String])> {
    match av.len() {
        n if n == N + 1 => Some((".", &av[1..])),
        n if n == N + 2 => Some((&av[1], &av[2..])),
        _ => None,
    }
}

fn mkpeer_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let Some((path, a)) = path_and::<3>(av) else {
        return Rtn::Usage;
    };
    let arg = NgmMkpeer {
        type_name: cut(&a[0], NG_TYPESIZ),
        ourhook: cut(&a[1], NG_HOOKSIZ),
        peerhook: cut(&a[2], NG_HOOKSIZ),
    };
    send(ctx, path, NGM_MKPEER, arg.to_bytes(), "send msg")
}

fn connect_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let Some((path, a)) = path_and::<3>(av) else {
        return Rtn::Usage;
    };
    let arg = NgmConnect {
        path: cut(&a[0], NG_PATHSIZ),
        ourhook: cut(&a[1], NG_HOOKSIZ),
        peerhook: cut(&a[2], NG_HOOKSIZ),
    };
    send(ctx, path, NGM_CONNECT, arg.to_bytes(), "send msg")
}

fn name_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() != 3 {
        return Rtn::Usage;
    }
    let arg = NgmName {
        name: cut(&av[2], NG_NODESIZ),
    };
    send(ctx, &av[1], NGM_NAME, arg.to_bytes(), "send msg")
}

fn rmhook_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let Some((path, a)) = path_and::<1>(av) else {
        return Rtn::Usage;
    };
    let arg = NgmRmhook {
        ourhook: cut(&a[0], NG_HOOKSIZ),
    };
    send(ctx, path, NGM_RMHOOK, arg.to_bytes(), "send msg")
}

fn shutdown_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() != 2 {
        return Rtn::Usage;
    }
    send(ctx, &av[1], NGM_SHUTDOWN, Ok(Vec::new()), "shutdown")
}

/// Cut `s` to fit a field of `size` bytes with its NUL, as `snprintf` would.
pub fn cut(s: &str, size: usize) -> String {
    let mut n = s.len().min(size - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s[..n].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_fields() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let av = w(&["mkpeer", "eiface", "ether", "ether"]);
        let (p, a) = path_and::<3>(&av).unwrap();
        assert_eq!((p, a.len(), a[0].as_str()), (".", 3, "eiface"));
        let av = w(&["mkpeer", "em0:", "bridge", "lower", "link0"]);
        let (p, a) = path_and::<3>(&av).unwrap();
        assert_eq!((p, a[2].as_str()), ("em0:", "link0"));
        assert!(path_and::<3>(&w(&["mkpeer", "x", "y"])).is_none());
        assert!(path_and::<1>(&w(&["rmhook"])).is_none());
        assert_eq!(path_and::<1>(&w(&["rmhook", "h"])).unwrap().0, ".");
        assert_eq!(cut("abc", 32), "abc");
        assert_eq!(cut(&"x".repeat(40), 32).len(), 31);
        assert_eq!(cut("ééé", 4), "é");
    }
}
