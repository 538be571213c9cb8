//! `status` and `config`: a node's human-readable status, its text configuration.

use libnetgraph::*;
use libvimage::MSG_DONTWAIT;

use crate::cmds::{NgCmd, Rtn};
use crate::Ctx;

/// `status`.
pub const STATUS_CMD: NgCmd = NgCmd {
    synopsis: "status <path>",
    desc: "Show the status text of the node at <path>",
    help: None,
    aliases: &[],
    hidden: &[],
    func: status_cmd,
};

/// `config`.
pub const CONFIG_CMD: NgCmd = NgCmd {
    synopsis: "config <path> [arguments]",
    desc: "Show or change the text configuration of the node at <path>",
    help: None,
    aliases: &[],
    hidden: &[],
    func: config_cmd,
};

/// What `status`/`config` print: `WHAT for "PATH":` and the text, or
/// `No WHAT available for "PATH"` (`what` is `Status` or `Config`).
pub fn format_text(what: &str, path: &str, text: Option<&str>) -> String {
    match text {
        Some(t) => format!("{what} for \"{path}\":\n{t}\n"),
        None => format!("No {} available for \"{path}\"\n", what.to_lowercase()),
    }
}

/// Send a text command; `Ok(None)` if the node has no such text (it refused
/// the command with `EINVAL`, or sent no response).
fn text_request(ctx: &mut Ctx, path: &str, cmd: u32, arg: &[u8]) -> Result<Option<String>, Rtn> {
    let token = match ctx.ng.send_msg(path, NGM_GENERIC_COOKIE, cmd, arg) {
        Ok(t) => t,
        Err(Errno::EINVAL) => return Ok(None),
        Err(e) => {
            libvimage::warn("send msg", e);
            return Err(Rtn::Error);
        }
    };
    // The kernel queues a response before sendto returns, so one that is not
    // there now is not coming.
    Ok(ctx
        .ng
        .recv_reply(token, MSG_DONTWAIT)
        .ok()
        .map(|(m, _)| ascii_text(&m)))
}

fn status_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let [_, path] = av else {
        return Rtn::Usage;
    };
    match text_request(ctx, path, NGM_TEXT_STATUS, &[]) {
        Ok(t) => {
            print!("{}", format_text("Status", path, t.as_deref()));
            Rtn::Ok
        }
        Err(r) => r,
    }
}

fn config_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() < 2 {
        return Rtn::Usage;
    }
    let path = &av[1];
    let args = av[2..].join(" ");
    let arg = if args.is_empty() {
        Vec::new()
    } else {
        let mut a = args.into_bytes();
        a.push(0);
        a
    };
    match text_request(ctx, path, NGM_TEXT_CONFIG, &arg) {
        Ok(t) => {
            print!("{}", format_text("Config", path, t.as_deref()));
            Rtn::Ok
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(
            format_text("Status", "p0:", Some("queue: 0")),
            "Status for \"p0:\":\nqueue: 0\n"
        );
        assert_eq!(
            format_text("Status", "hub0:", None),
            "No status available for \"hub0:\"\n"
        );
        assert_eq!(
            format_text("Config", "x:", None),
            "No config available for \"x:\"\n"
        );
        assert_eq!(
            format_text("Config", "x:", Some("")),
            "Config for \"x:\":\n\n"
        );
    }
}
