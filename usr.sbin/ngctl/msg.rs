//! `msg`: send a control message in its ASCII form and show the response; also
//! how any received message is shown, and the hex dump used for data.

use libnetgraph::*;
use libvimage::MSG_DONTWAIT;

use crate::cmds::{NgCmd, Rtn};
use crate::Ctx;

/// Bytes per line of a hex dump.
const DUMP_BYTES_PER_LINE: usize = 16;

/// `msg`.
pub const MSG_CMD: NgCmd = NgCmd {
    synopsis: "msg path command [args ... ]",
    desc: "Send a control message to the node at \"path\"",
    help: Some(
        "The message is built from the command name and its arguments in ASCII \
         form: the node at \"path\" is first asked to turn the text into a binary \
         message, which is then sent to it. A response, if one comes back, is \
         shown in ASCII form.",
    ),
    aliases: &["cmd"],
    hidden: &[],
    func: msg_cmd,
};

/// A hex dump: `%04x:  `, sixteen `%02x ` columns (blank-filled), a blank, and
/// the bytes as characters (`.` for unprintable ones, blank-filled).
pub fn dump_ascii(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in b.chunks(DUMP_BYTES_PER_LINE).enumerate() {
        s.push_str(&format!("{:04x}:  ", i * DUMP_BYTES_PER_LINE));
        for k in 0..DUMP_BYTES_PER_LINE {
            match chunk.get(k) {
                Some(c) => s.push_str(&format!("{c:02x} ")),
                None => s.push_str("   "),
            }
        }
        s.push(' ');
        for k in 0..DUMP_BYTES_PER_LINE {
            s.push(match chunk.get(k) {
                Some(&c) if (0x20..0x7f).contains(&c) => char::from(c),
                Some(_) => '.',
                None => ' ',
            });
        }
        s.push('\n');
    }
    s
}

/// How a received message is shown: from its ASCII form if the sender could
/// render it (`Rec'd response "CMDSTR" (CMD) from "PATH":` and `Args:\t…` or
/// `No arguments`), else from the binary (`Rec'd response CMD from "PATH":` and
/// a hex dump of the arguments).
pub fn format_msg(bin: &NgMesg, ascii: Option<&NgMesg>, path: &str) -> String {
    let kind = |m: &NgMesg| if m.is_resp() { "response" } else { "command" };
    match ascii {
        Some(a) => {
            let text = ascii_text(a);
            let mut s = format!(
                "Rec'd {} \"{}\" ({}) from \"{}\":\n",
                kind(a),
                a.header.cmdstr,
                a.header.cmd as i32,
                path
            );
            if text.is_empty() {
                s.push_str("No arguments\n");
            } else {
                s.push_str(&format!("Args:\t{text}\n"));
            }
            s
        }
        None => {
            let mut s = format!(
                "Rec'd {} {} from \"{}\":\n",
                kind(bin),
                bin.header.cmd as i32,
                path
            );
            if bin.data.is_empty() {
                s.push_str("No arguments\n");
            } else {
                s.push_str(&dump_ascii(&bin.data));
            }
            s
        }
    }
}

/// Show a received message, asking its sender for the ASCII form.
pub fn print_msg(ctx: &mut Ctx, m: &NgMesg, path: &str) {
    let ascii = ctx.ng.to_ascii(path, m).ok();
    print!("{}", format_msg(m, ascii.as_ref(), path));
}

/// Show the next waiting control message, if any; whether there was one.
/// `before` runs before anything is printed.
pub fn msg_read(ctx: &mut Ctx, before: &mut dyn FnMut()) -> bool {
    match ctx.ng.recv_msg(MSG_DONTWAIT) {
        Ok((m, path)) => {
            let ascii = ctx.ng.to_ascii(&path, &m).ok();
            before();
            print!("{}", format_msg(&m, ascii.as_ref(), &path));
            true
        }
        Err(Errno::EAGAIN) => false,
        Err(e) => {
            before();
            libvimage::warn("recv incoming message", e);
            false
        }
    }
}

/// The ASCII message `msg` sends: the command name, then each argument after a
/// blank.
pub fn ascii_message(cmd: &str, args: &[String]) -> String {
    let mut s = cmd.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn msg_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() < 3 {
        return Rtn::Usage;
    }
    let path = &av[1];
    let text = ascii_message(&av[2], &av[3..]);
    let token = match ctx.ng.send_ascii_msg(path, &text) {
        Ok(t) => t,
        Err(e) => {
            libvimage::warn("send msg", e);
            return Rtn::Error;
        }
    };
    // A synchronous reply is already queued if there is one.
    match ctx.ng.recv_reply(token, MSG_DONTWAIT) {
        Ok((m, from)) => print_msg(ctx, &m, &from),
        Err(Errno::EAGAIN) => {}
        Err(e) => libvimage::warn("recv incoming message", e),
    }
    Rtn::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexdump() {
        assert_eq!(dump_ascii(&[]), "");
        assert_eq!(
            dump_ascii(b"AB\x00"),
            format!(
                "0000:  41 42 00 {} AB.{}\n",
                "   ".repeat(13),
                " ".repeat(13)
            )
        );
        let d: Vec<u8> = (0x30..0x30 + 17).collect();
        let s = dump_ascii(&d);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "0000:  30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f  0123456789:;<=>?"
        );
        assert_eq!(
            lines[1],
            format!("0010:  40 {} @{}", "   ".repeat(15), " ".repeat(15))
        );
        assert_eq!(
            dump_ascii(&[0x7f, 0x20, 0xff])
                .lines()
                .next()
                .map(|l| &l[56..]),
            Some(". .             ")
        );
    }

    #[test]
    fn received_messages() {
        let mut bin = NgMesg::new(4242, 5 | NGM_HASREPLY, "cmd5", 3, vec![1, 2]);
        bin.header.flags = NGF_RESP;
        let mut a = bin.clone();
        a.header.cmdstr = "getconfig".into();
        a.data = b"{ delay=5000 }\0".to_vec();
        assert_eq!(
            format_msg(&bin, Some(&a), "[1f]:"),
            format!(
                "Rec'd response \"getconfig\" ({}) from \"[1f]:\":\nArgs:\t{{ delay=5000 }}\n",
                5 | NGM_HASREPLY
            )
        );
        a.data = b"\0".to_vec();
        assert_eq!(
            format_msg(&bin, Some(&a), "x:"),
            format!(
                "Rec'd response \"getconfig\" ({}) from \"x:\":\nNo arguments\n",
                5 | NGM_HASREPLY
            )
        );
        assert_eq!(
            format_msg(&bin, None, "x:"),
            format!(
                "Rec'd response {} from \"x:\":\n0000:  01 02 {} ..{}\n",
                5 | NGM_HASREPLY,
                "   ".repeat(14),
                " ".repeat(14)
            )
        );
        let cmd = NgMesg::new(NGM_FLOW_COOKIE, NGM_LINK_IS_UP, "cmd32", 0, vec![]);
        assert_eq!(
            format_msg(&cmd, None, "[2]:"),
            "Rec'd command 32 from \"[2]:\":\nNo arguments\n"
        );
        assert_eq!(
            ascii_message("setcfg", &["{".into(), "delay=5000".into(), "}".into()]),
            "setcfg { delay=5000 }"
        );
        assert_eq!(ascii_message("getstats", &[]), "getstats");
    }
}
