//! ngctl(8): netgraph control utility.
//!
//! `ngctl [-d] [-f file] [-n name] [command ...]` creates a socket node (named
//! `ngctlPID` unless `-n` says otherwise) in the caller's vimage and runs one
//! command, a script (`-f file`, `-f -` for standard input), or commands read
//! interactively (with line editing and history on a terminal, see
//! [`editline`]).  Commands are matched by unambiguous prefix; their output and
//! messages are those of FreeBSD's ngctl.

mod cmds;
mod dot;
mod editline;
mod generic;
mod list;
mod msg;
mod show;
mod status;
mod types;
mod write;

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write as _};
use std::time::Duration;

use cmds::{do_command, do_parse_command, io_strerror, read_file, Rtn};
use libnetgraph::{Errno, NgSock, NG_NODESIZ};
use libvimage::getopt::Getopt;
use libvimage::{Sys, MSG_DONTWAIT};

/// `EX_USAGE`.
const EX_USAGE: i32 = 64;
/// `EX_NOINPUT`.
const EX_NOINPUT: i32 = 66;
/// `EX_OSERR`.
const EX_OSERR: i32 = 71;
/// The interactive prompt.
const PROMPT: &str = "+ ";
/// How long a command waits for a node's reply before giving up (`EAGAIN`).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What every command works with: the socket node.
pub struct Ctx {
    /// Our socket node.
    pub ng: NgSock<Sys>,
    /// How many `read` commands are running inside each other.
    pub read_depth: usize,
}

/// Print the usage line and exit 64.
fn usage(msg: Option<&str>) -> ! {
    if let Some(m) = msg {
        libvimage::warnx(m);
    }
    eprintln!("usage: ngctl [-d] [-f file] [-n name] [command ...]");
    std::process::exit(EX_USAGE)
}

/// Where the script comes from.
enum Script {
    Stdin,
    File(BufReader<File>),
}

/// Cut a node name as `snprintf` into `char[NG_NODESIZ]` would.
fn node_name(s: &str) -> String {
    let mut n = s.len().min(NG_NODESIZ - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s[..n].to_string()
}

/// Print every unsolicited message and frame waiting on the sockets; `before`
/// runs before anything is printed.
fn read_sockets(ctx: &mut Ctx, before: &mut dyn FnMut()) {
    loop {
        let got_msg = msg::msg_read(ctx, before);
        let got_data = match ctx.ng.recv_data(MSG_DONTWAIT) {
            Ok((data, hook)) => {
                before();
                if data.is_empty() {
                    libvimage::errx(EX_OSERR, format!("EOF from hook \"{hook}\"?"));
                }
                print!(
                    "Rec'd data packet on hook \"{hook}\":\n{}",
                    msg::dump_ascii(&data)
                );
                true
            }
            Err(Errno::EAGAIN) => false,
            Err(e) => {
                before();
                libvimage::err(EX_OSERR, "reading hook \"\"", e)
            }
        };
        if !got_msg && !got_data {
            break;
        }
    }
    let _ = io::stdout().flush();
}

/// Commands from standard input until EOF or `quit`; a prompt and the command
/// summary only when it is a terminal, and line editing when standard output
/// is one too.
fn do_interactive(ctx: &mut Ctx) -> Rtn {
    let tty = io::stdin().is_terminal();
    if tty {
        print!("{}", cmds::help_summary());
        if io::stdout().is_terminal() {
            if let Ok(ed) = editline::LineEditor::new() {
                return do_interactive_edit(ctx, ed);
            }
        }
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        read_sockets(ctx, &mut || {});
        if tty {
            print!("{PROMPT}");
            let _ = io::stdout().flush();
        }
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => {
                if tty {
                    println!();
                }
                break;
            }
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        if do_parse_command(ctx, &line) == Rtn::Quit {
            break;
        }
        let _ = io::stdout().flush();
    }
    Rtn::Quit
}

/// Interactive mode with line editing: what arrives on the sockets is printed
/// before each prompt and, while a line is being typed, above it.
fn do_interactive_edit(ctx: &mut Ctx, mut ed: editline::LineEditor) -> Rtn {
    loop {
        read_sockets(ctx, &mut || {});
        let line = ed.read_line(PROMPT, &mut |clear| read_sockets(ctx, clear));
        match line {
            Ok(Some(line)) => {
                if do_parse_command(ctx, &line) == Rtn::Quit {
                    break;
                }
                let _ = io::stdout().flush();
            }
            Ok(None) => {
                println!();
                break;
            }
            Err(e) => {
                println!();
                libvimage::warnx(format!("stdin: {}", io_strerror(&e)));
                break;
            }
        }
    }
    Rtn::Quit
}

/// The command line: the node's name and debug level, the script, the
/// command.
struct Opts {
    name: String,
    debug: i32,
    script: Option<Script>,
    words: Vec<String>,
}

fn parse_args() -> Opts {
    let a = Getopt::new("df:n:").parse_env(|| usage(None));
    let mut o = Opts {
        name: node_name(&format!("ngctl{}", std::process::id())),
        debug: 0,
        script: None,
        words: a.operands,
    };
    for (c, arg) in a.opts {
        match c {
            'd' => o.debug += 1,
            'f' if arg == "-" => o.script = Some(Script::Stdin),
            'f' => match File::open(&arg) {
                Ok(f) => o.script = Some(Script::File(BufReader::new(f))),
                Err(e) => libvimage::errx(EX_NOINPUT, format!("{arg}: {}", io_strerror(&e))),
            },
            _ => o.name = node_name(&arg),
        }
    }
    o
}

/// Our socket node, called `name`.
fn open_node(name: &str, debug: i32) -> Ctx {
    let sys = Sys::open_or_exit();
    let ng = match NgSock::mk_sock_node_debug(sys, Some(name), debug) {
        Ok(ng) => ng,
        Err(e) => libvimage::err(EX_OSERR, "can't create node", e),
    };
    let mut ctx = Ctx { ng, read_depth: 0 };
    // A reply that never comes should not hang a script; old kernels may lack
    // the option, which only costs that protection.
    let _ = ctx.ng.set_recv_timeout(Some(REPLY_TIMEOUT));
    ctx
}

fn main() {
    libvimage::sigpipe_default();
    let o = parse_args();
    let mut ctx = open_node(&o.name, o.debug);
    let rtn = match (o.words.is_empty(), o.script) {
        (false, _) => do_command(&mut ctx, &o.words),
        (true, Some(Script::Stdin)) => read_file(&mut ctx, &mut io::stdin().lock()),
        (true, Some(Script::File(mut f))) => read_file(&mut ctx, &mut f),
        (true, None) => do_interactive(&mut ctx),
    };
    let _ = io::stdout().flush();
    ctx.ng.close();
    std::process::exit(rtn.exit_code());
}
