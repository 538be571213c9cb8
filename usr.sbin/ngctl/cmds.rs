//! The command table and everything around it: splitting a line into words,
//! finding a command by unambiguous prefix, running it, `getopt` for command
//! options, and the commands that live with the table (`help`, `read`, `quit`).

use std::fs::File;
use std::io::{BufRead, BufReader};

use libvimage::atoi;
use libvimage::getopt::{Args, Getopt};

use crate::{dot, generic, list, msg, show, status, types, write, Ctx};

/// Characters that separate words on a command line.
pub const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n', '\u{b}', '\u{c}'];
/// Most words taken from one line (the rest are ignored).
pub const MAX_ARGS: usize = 511;
/// Deepest nesting of `read` commands before a file is refused (`EMFILE`).
pub const MAX_READ_DEPTH: usize = 64;

/// What a command returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rtn {
    /// Success.
    Ok,
    /// Wrong arguments: the caller prints the command's synopsis.
    Usage,
    /// The command failed (and said why).
    Error,
    /// Leave the program.
    Quit,
}

impl Rtn {
    /// The process exit status for a final return (`sysexits(3)`).
    pub fn exit_code(self) -> i32 {
        match self {
            Rtn::Ok | Rtn::Quit => 0,
            Rtn::Usage => 64,
            Rtn::Error => 71,
        }
    }
}

/// A command: how it is called and what it does.
pub struct NgCmd {
    /// The synopsis; its first word is the command's name.
    pub synopsis: &'static str,
    /// One-line summary for `help`.
    pub desc: &'static str,
    /// Longer description for `help COMMAND`, if any.
    pub help: Option<&'static str>,
    /// Other names, shown by `help`.
    pub aliases: &'static [&'static str],
    /// Other names not shown anywhere (the tutorial's `ngctl 1`).
    pub hidden: &'static [&'static str],
    /// The implementation; `av[0]` is the word that named the command.
    pub func: fn(&mut Ctx, &[String]) -> Rtn,
}

impl NgCmd {
    /// The command's name: the first word of its synopsis.
    pub fn name(&self) -> &'static str {
        self.synopsis
            .split(WHITESPACE)
            .next()
            .unwrap_or(self.synopsis)
    }
}

/// Every command, in the order `help` lists them.
pub static CMDS: &[NgCmd] = &[
    status::CONFIG_CMD,
    generic::CONNECT_CMD,
    DEBUG_CMD,
    dot::DOT_CMD,
    HELP_CMD,
    list::LIST_CMD,
    generic::MKPEER_CMD,
    msg::MSG_CMD,
    generic::NAME_CMD,
    READ_CMD,
    generic::RMHOOK_CMD,
    show::SHOW_CMD,
    generic::SHUTDOWN_CMD,
    status::STATUS_CMD,
    types::TYPES_CMD,
    write::WRITE_CMD,
    QUIT_CMD,
];

/// `read`.
pub const READ_CMD: NgCmd = NgCmd {
    synopsis: "read <filename>",
    desc: "Run the commands in a file",
    help: None,
    aliases: &["source", "."],
    hidden: &[],
    func: read_cmd,
};

/// `help`.
pub const HELP_CMD: NgCmd = NgCmd {
    synopsis: "help [command]",
    desc: "List the commands, or describe one of them",
    help: None,
    aliases: &["?"],
    hidden: &[],
    func: help_cmd,
};

/// `quit`.
pub const QUIT_CMD: NgCmd = NgCmd {
    synopsis: "quit",
    desc: "Leave ngctl",
    help: None,
    aliases: &["exit"],
    hidden: &[],
    func: |_, _| Rtn::Quit,
};

/// `debug`.
pub const DEBUG_CMD: NgCmd = NgCmd {
    synopsis: "debug [level]",
    desc: "Show or change the library's debugging level",
    help: Some(
        "With no argument, the current debugging level is shown. \"+\" raises it \
         by one and \"-\" lowers it by one; any other argument is taken as the new \
         level, which must not be negative.",
    ),
    aliases: &[],
    hidden: &[],
    func: debug_cmd,
};

/// Split a command line into words at blanks; a double-quoted string (with
/// backslash escapes inside it) stays within one word, quotes included, so that
/// message arguments such as `{ hook="a b" }` reach the node as typed.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut in_quote = false;
    let mut it = line.chars();
    while let Some(c) = it.next() {
        if !in_quote && WHITESPACE.contains(&c) {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            continue;
        }
        in_word = true;
        cur.push(c);
        if c == '"' {
            in_quote = !in_quote;
        } else if in_quote && c == '\\' {
            if let Some(n) = it.next() {
                cur.push(n);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words.truncate(MAX_ARGS);
    words
}

/// Whether `s` names `cmd`: a case-insensitive prefix of its name or of one of
/// its aliases.
pub fn match_command(cmd: &NgCmd, s: &str) -> bool {
    let prefix_of = |full: &str| {
        s.len() <= full.len()
            && full.is_char_boundary(s.len())
            && full[..s.len()].eq_ignore_ascii_case(s)
    };
    prefix_of(cmd.name())
        || cmd.aliases.iter().any(|a| prefix_of(a))
        || cmd.hidden.iter().any(|a| prefix_of(a))
}

/// Why a word names no command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindError {
    /// It names several.
    Ambiguous,
    /// It names none.
    Unknown,
}

/// The one command `s` names.
pub fn lookup(s: &str) -> Result<&'static NgCmd, FindError> {
    let mut found = None;
    for c in CMDS {
        if match_command(c, s) {
            if found.is_some() {
                return Err(FindError::Ambiguous);
            }
            found = Some(c);
        }
    }
    found.ok_or(FindError::Unknown)
}

/// [`lookup`], warning `"X": ambiguous command` or `"X": unknown command`.
pub fn find_command(s: &str) -> Option<&'static NgCmd> {
    match lookup(s) {
        Ok(c) => Some(c),
        Err(FindError::Ambiguous) => {
            libvimage::warnx(format!("\"{s}\": ambiguous command"));
            None
        }
        Err(FindError::Unknown) => {
            libvimage::warnx(format!("\"{s}\": unknown command"));
            None
        }
    }
}

/// Run the command named by `av[0]`; on a usage error print its synopsis.
pub fn do_command(ctx: &mut Ctx, av: &[String]) -> Rtn {
    let Some(first) = av.first().filter(|w| !w.is_empty()) else {
        return Rtn::Ok;
    };
    let Some(cmd) = find_command(first) else {
        return Rtn::Error;
    };
    let rtn = (cmd.func)(ctx, av);
    if rtn == Rtn::Usage {
        libvimage::warnx(format!("usage: {}", cmd.synopsis));
    }
    rtn
}

/// Split a line into words and run it.
pub fn do_parse_command(ctx: &mut Ctx, line: &str) -> Rtn {
    let av = split_words(line);
    do_command(ctx, &av)
}

/// Run a script: every line but those starting with `#` (blank lines do
/// nothing).  Stops at the first line that does not return [`Rtn::Ok`] and
/// returns that result with the line's number (lines counted from 1).
pub fn run_script(r: &mut dyn BufRead, exec: &mut dyn FnMut(&str) -> Rtn) -> (Rtn, Option<usize>) {
    let mut buf = Vec::new();
    let mut num = 0;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return (Rtn::Ok, None),
            Ok(_) => {}
        }
        num += 1;
        let line = String::from_utf8_lossy(&buf);
        if line.trim_start_matches(WHITESPACE).starts_with('#') {
            continue;
        }
        let rtn = exec(&line);
        if rtn != Rtn::Ok {
            return (rtn, Some(num));
        }
    }
}

/// Run the commands read from `r`, warning `line N: error in file` at the line
/// that stops it.
pub fn read_file(ctx: &mut Ctx, r: &mut dyn BufRead) -> Rtn {
    let (rtn, line) = run_script(r, &mut |l| do_parse_command(ctx, l));
    if let Some(n) = line {
        libvimage::warnx(format!("line {n}: error in file"));
    }
    rtn
}

/// A host `io::Error` as the FreeBSD errno text.
pub fn io_strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => libvimage::strerror(libvimage::Errno::from_host(n)),
        None => e.to_string(),
    }
}

fn read_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() != 2 {
        return Rtn::Usage;
    }
    if ctx.read_depth >= MAX_READ_DEPTH {
        libvimage::warn(&av[1], libvimage::Errno::EMFILE);
        return Rtn::Error;
    }
    let f = match File::open(&av[1]) {
        Ok(f) => f,
        Err(e) => {
            libvimage::warnx(format!("{}: {}", av[1], io_strerror(&e)));
            return Rtn::Error;
        }
    };
    ctx.read_depth += 1;
    let rtn = read_file(ctx, &mut BufReader::new(f));
    ctx.read_depth -= 1;
    rtn
}

/// The `help` listing: `Available commands:` and one `  %-10s %s` line each.
pub fn help_summary() -> String {
    let mut s = String::from("Available commands:\n");
    for c in CMDS {
        s.push_str(&format!("  {:<10} {}\n", c.name(), c.desc));
    }
    s
}

/// Break `text` into lines of at most 64 characters at blanks, each printed
/// indented by two spaces (a line keeps the blank it was broken at).
pub fn wrap_help(text: &str) -> Vec<String> {
    const WIDTH: usize = 64;
    let mut lines = Vec::new();
    let mut s = text;
    loop {
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        if s.len() <= WIDTH {
            lines.push(format!("  {s}"));
            break;
        }
        let mut cut = WIDTH;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let head = &s[..cut];
        let len = head
            .rfind(char::is_whitespace)
            .map(|i| i + 1)
            .filter(|&n| n > 0)
            .unwrap_or(cut);
        lines.push(format!("  {}", &s[..len]));
        s = &s[len..];
    }
    lines
}

/// `help COMMAND`: usage, aliases, summary and description.
pub fn help_detail(c: &NgCmd) -> String {
    let mut s = format!("usage:    {}\n", c.synopsis);
    if !c.aliases.is_empty() {
        s.push_str(&format!("Aliases:  {}\n", c.aliases.join(", ")));
    }
    s.push_str(&format!("Summary:  {}\n", c.desc));
    if let Some(h) = c.help {
        s.push_str("Description:\n");
        for l in wrap_help(h) {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s
}

/// `help [command]`.
pub fn help_cmd(_ctx: &mut Ctx, av: &[String]) -> Rtn {
    match av.get(1) {
        None => print!("{}", help_summary()),
        Some(w) => {
            if let Some(c) = find_command(w) {
                print!("{}", help_detail(c));
            }
        }
    }
    Rtn::Ok
}

fn debug_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    match av.len() {
        1 => {
            println!("Current debug level is {}", ctx.ng.debug_level());
            Rtn::Ok
        }
        2 => {
            let cur = ctx.ng.debug_level();
            let level = match av[1].as_str() {
                "+" => cur + 1,
                "-" => cur - 1,
                w => {
                    let l = atoi(w);
                    if l < 0 {
                        return Rtn::Usage;
                    }
                    l
                }
            };
            ctx.ng.set_debug(level);
            Rtn::Ok
        }
        _ => Rtn::Usage,
    }
}

/// getopt(3) over a command's words after its name (`av[0]`): an error is
/// warned and becomes [`Rtn::Usage`].
pub fn cmd_getopt(av: &[String], optstring: &str) -> Result<Args, Rtn> {
    Getopt::new(optstring)
        .parse(av.get(1..).unwrap_or_default())
        .map_err(|e| {
            libvimage::warnx(e);
            Rtn::Usage
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn words() {
        assert_eq!(split_words("  list  -l\n"), w(&["list", "-l"]));
        assert_eq!(split_words(""), Vec::<String>::new());
        assert_eq!(split_words(" \t\r\n"), Vec::<String>::new());
        assert_eq!(
            split_words("msg n: setcfg {delay=5000}"),
            w(&["msg", "n:", "setcfg", "{delay=5000}"])
        );
        assert_eq!(
            split_words("msg x: addfilter { hook=\"a\" vlan=5 }\n"),
            w(&["msg", "x:", "addfilter", "{", "hook=\"a\"", "vlan=5", "}"])
        );
        // Blanks inside quotes do not split, escaped quotes do not end them.
        assert_eq!(
            split_words("msg x: cmd \"a b\\\" c\"d e"),
            w(&["msg", "x:", "cmd", "\"a b\\\" c\"d", "e"])
        );
        // An unterminated quote runs to the end of the line.
        assert_eq!(split_words("a \"b c"), w(&["a", "\"b c"]));
        assert_eq!(split_words(&"x ".repeat(600)).len(), MAX_ARGS);
    }

    #[test]
    fn prefixes() {
        let name = |s: &str| lookup(s).map(|c| c.name());
        assert_eq!(name("l"), Ok("list"));
        assert_eq!(name("L"), Ok("list"));
        assert_eq!(name("ls"), Ok("list"));
        assert_eq!(name("LIST"), Ok("list"));
        assert_eq!(name("1"), Ok("list"));
        assert_eq!(name("lists"), Err(FindError::Unknown));
        assert_eq!(name("mk"), Ok("mkpeer"));
        assert_eq!(name("m"), Err(FindError::Ambiguous));
        assert_eq!(name("s"), Err(FindError::Ambiguous));
        assert_eq!(name("sh"), Err(FindError::Ambiguous));
        assert_eq!(name("sho"), Ok("show"));
        assert_eq!(name("shu"), Ok("shutdown"));
        assert_eq!(name("st"), Ok("status"));
        assert_eq!(name("so"), Ok("read"));
        assert_eq!(name("."), Ok("read"));
        assert_eq!(name("?"), Ok("help"));
        assert_eq!(name("c"), Err(FindError::Ambiguous));
        assert_eq!(name("con"), Err(FindError::Ambiguous));
        assert_eq!(name("conn"), Ok("connect"));
        assert_eq!(name("conf"), Err(FindError::Ambiguous));
        assert_eq!(name("confi"), Ok("config"));
        assert_eq!(name("confd"), Ok("dot"));
        assert_eq!(name("cmd"), Ok("msg"));
        assert_eq!(name("join"), Ok("connect"));
        assert_eq!(name("w"), Ok("write"));
        assert_eq!(name("e"), Ok("quit"));
        assert_eq!(name("i"), Ok("show"));
        assert_eq!(name("k"), Ok("shutdown"));
        assert_eq!(name("rmn"), Ok("shutdown"));
        assert_eq!(name("rmh"), Ok("rmhook"));
        assert_eq!(name("r"), Err(FindError::Ambiguous));
        assert_eq!(name("disc"), Ok("rmhook"));
        assert_eq!(name("g"), Ok("dot"));
        assert_eq!(name("t"), Ok("types"));
        assert_eq!(name("d"), Err(FindError::Ambiguous));
        assert_eq!(name("de"), Ok("debug"));
        assert_eq!(name("x"), Err(FindError::Unknown));
        assert_eq!(name("é"), Err(FindError::Unknown));
        // Every name and alias finds its own command.
        for c in CMDS {
            assert_eq!(name(c.name()), Ok(c.name()));
            for a in c.aliases {
                assert_eq!(name(a), Ok(c.name()), "{a}");
            }
        }
    }

    #[test]
    fn help_output() {
        let s = help_summary();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Available commands:");
        assert_eq!(lines.len(), 1 + CMDS.len());
        assert_eq!(lines[1], format!("  config     {}", CMDS[0].desc));
        assert!(lines[6].starts_with("  list       "));
        let d = help_detail(&list::LIST_CMD);
        assert!(d.starts_with("usage:    list [-ln]\nAliases:  ls\nSummary:  "));
        assert!(!d.contains('1'), "the hidden alias stays hidden");
        let d = help_detail(&READ_CMD);
        assert!(d.contains("Aliases:  source, .\n"));
        let d = help_detail(&QUIT_CMD);
        assert_eq!(d, "usage:    quit\nAliases:  exit\nSummary:  Leave ngctl\n");
    }

    #[test]
    fn help_wrapping() {
        let text = "one two three four five six seven eight nine ten eleven twelve thirteen";
        let l = wrap_help(text);
        assert_eq!(
            l,
            vec![
                "  one two three four five six seven eight nine ten eleven twelve ",
                "  thirteen"
            ]
        );
        for c in CMDS {
            for l in wrap_help(c.help.unwrap_or("")) {
                assert!(l.len() <= 66, "{l}");
            }
        }
        assert_eq!(wrap_help(&"x".repeat(70)).len(), 2);
        assert!(wrap_help("  ").is_empty());
    }

    #[test]
    fn script_lines() {
        let text = "# comment\nlist\n\n   \n  # indented comment\nbad\nnever\n";
        let mut seen = Vec::new();
        let mut exec = |l: &str| {
            seen.push(l.to_string());
            if l.starts_with("bad") {
                Rtn::Error
            } else {
                Rtn::Ok
            }
        };
        let r = run_script(&mut text.as_bytes(), &mut exec);
        assert_eq!(r, (Rtn::Error, Some(6)));
        assert_eq!(seen, vec!["list\n", "\n", "   \n", "bad\n"]);

        let mut exec = |_: &str| Rtn::Ok;
        assert_eq!(
            run_script(&mut "a\nb".as_bytes(), &mut exec),
            (Rtn::Ok, None)
        );
        let mut exec = |l: &str| if l == "u" { Rtn::Usage } else { Rtn::Ok };
        assert_eq!(
            run_script(&mut "x\nu".as_bytes(), &mut exec),
            (Rtn::Usage, Some(2))
        );
        let mut exec = |_: &str| Rtn::Quit;
        assert_eq!(
            run_script(&mut "quit\n".as_bytes(), &mut exec),
            (Rtn::Quit, Some(1))
        );
        // Bytes that are not UTF-8 still make a line.
        let mut n = 0;
        let mut exec = |_: &str| {
            n += 1;
            Rtn::Ok
        };
        assert_eq!(
            run_script(&mut &b"\xff\xfe\nx\n"[..], &mut exec),
            (Rtn::Ok, None)
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn options() {
        let o = cmd_getopt(&w(&["list", "-ln"]), "ln").unwrap();
        let flags: Vec<char> = o.opts.iter().map(|(c, _)| *c).collect();
        assert_eq!((flags, o.operands.len()), (vec!['l', 'n'], 0));
        let o = cmd_getopt(&w(&["show", "-n", "foo:", "-l"]), "n").unwrap();
        assert_eq!(o.operands, w(&["foo:", "-l"]));
        assert_eq!(cmd_getopt(&w(&["list", "-lq"]), "ln"), Err(Rtn::Usage));
        assert_eq!(cmd_getopt(&w(&["dot", "-x"]), ""), Err(Rtn::Usage));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Rtn::Ok.exit_code(), 0);
        assert_eq!(Rtn::Quit.exit_code(), 0);
        assert_eq!(Rtn::Usage.exit_code(), 64);
        assert_eq!(Rtn::Error.exit_code(), 71);
    }
}
