//! `getopt(3)` for the tools, on clap.
//!
//! A tool names its options with a getopt option string (`"ac:n"`: `-a` and
//! `-n` are flags, `-c` takes an argument) and gets back the options in the
//! order given plus the operands.  The [`clap::Command`] built from the string
//! behaves as BSD getopt does:
//!
//! * flags combine (`-an`), and an option's argument is the rest of its word
//!   or the next word (`-c5`, `-c 5`, also `-c -5`);
//! * parsing stops at the first operand, at `-` alone, and after `--`, so
//!   `vimage n1 ping -c 1 x` leaves `-c 1 x` to ping (unless the tool asked
//!   for [`Getopt::permute`]);
//! * there are no `--help`/`--version` flags and no long options;
//! * an unknown letter or a missing argument is `prog: illegal option -- x` or
//!   `prog: option requires an argument -- x` on stderr, then the tool's own
//!   usage (which decides the stream and exit status); a leading `:` in the
//!   option string turns the message off, as `opterr = 0` does.
//!
//! One difference from getopt remains: clap reads `-c=5` as `-c 5`.

use clap::{parser::ValueSource, Arg, ArgAction, ArgMatches, Command};

/// The printable ASCII characters, for `'static` clap ids of option letters.
const LETTERS: &str =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// The clap id of the operand list.
const OPERANDS: &str = "operands";

/// The clap id (and name) of option letter `c`.
fn id(c: char) -> &'static str {
    assert!(
        c.is_ascii_graphic() && c != '-' && c != ':',
        "bad option letter {c:?}"
    );
    let i = c as usize - 0x20;
    &LETTERS[i..=i]
}

/// What [`Getopt::parse`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// Each option in the order given, with its argument (empty for a flag).
    pub opts: Vec<(char, String)>,
    /// The operands.
    pub operands: Vec<String>,
}

/// Why [`Getopt::parse`] refused the arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptError {
    /// A letter not in the option string.
    Illegal(char),
    /// An option that takes an argument came last.
    MissingArg(char),
}

impl std::fmt::Display for OptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptError::Illegal(c) => write!(f, "illegal option -- {c}"),
            OptError::MissingArg(c) => write!(f, "option requires an argument -- {c}"),
        }
    }
}

/// An option parser: a getopt option string as a [`clap::Command`].
#[derive(Clone, Debug)]
pub struct Getopt {
    cmd: Command,
    letters: Vec<char>,
    opterr: bool,
}

impl Getopt {
    /// The parser for `optstring` (getopt(3)'s: each letter, followed by `:`
    /// if it takes an argument; a leading `:` silences the diagnostics).
    pub fn new(optstring: &str) -> Getopt {
        let (opterr, spec) = match optstring.strip_prefix(':') {
            Some(s) => (false, s),
            None => (true, optstring),
        };
        let mut cmd = Command::new("getopt")
            .no_binary_name(true)
            .disable_help_flag(true)
            .disable_version_flag(true)
            .disable_help_subcommand(true);
        let mut letters = Vec::new();
        let mut it = spec.chars().peekable();
        while let Some(c) = it.next() {
            let arg = Arg::new(id(c)).short(c).action(ArgAction::Append);
            let arg = if it.next_if_eq(&':').is_some() {
                arg.num_args(1).allow_hyphen_values(true)
            } else {
                arg.num_args(0).default_missing_value("")
            };
            cmd = cmd.arg(arg);
            letters.push(c);
        }
        let operands = Arg::new(OPERANDS)
            .num_args(0..)
            .action(ArgAction::Append)
            .trailing_var_arg(true);
        Getopt {
            cmd: cmd.arg(operands),
            letters,
            opterr,
        }
    }

    /// Let options follow operands (GNU getopt's permutation): `nc host port
    /// -v`.  `--` still ends the options.
    pub fn permute(mut self) -> Getopt {
        self.cmd = self.cmd.mut_arg(OPERANDS, |a| a.trailing_var_arg(false));
        self
    }

    /// Parse `args` (the words after the program name).
    pub fn parse<S: AsRef<str>>(&self, args: &[S]) -> Result<Args, OptError> {
        let m = self
            .cmd
            .clone()
            .try_get_matches_from(args.iter().map(|a| a.as_ref()))
            .map_err(|e| opt_error(&e))?;
        Ok(self.collect(&m))
    }

    /// [`Getopt::parse`], or (after the diagnostic) `usage()`.
    pub fn parse_or_usage<S: AsRef<str>>(&self, args: &[S], usage: fn() -> !) -> Args {
        match self.parse(args) {
            Ok(a) => a,
            Err(e) => {
                if self.opterr {
                    crate::warnx(e);
                }
                usage()
            }
        }
    }

    /// [`Getopt::parse_or_usage`] over the process's arguments.
    pub fn parse_env(&self, usage: fn() -> !) -> Args {
        let args: Vec<String> = std::env::args().skip(1).collect();
        self.parse_or_usage(&args, usage)
    }

    /// The options in command-line order, and the operands.
    fn collect(&self, m: &ArgMatches) -> Args {
        let mut seen = Vec::new();
        for &c in &self.letters {
            let id = id(c);
            if m.value_source(id) != Some(ValueSource::CommandLine) {
                continue;
            }
            let (Some(at), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) else {
                continue;
            };
            seen.extend(at.zip(vals).map(|(i, v)| (i, c, v.clone())));
        }
        seen.sort_by_key(|(i, _, _)| *i);
        Args {
            opts: seen.into_iter().map(|(_, c, v)| (c, v)).collect(),
            operands: m
                .get_many::<String>(OPERANDS)
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// getopt's complaint for what clap refused.
fn opt_error(e: &clap::Error) -> OptError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let word = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => "",
    };
    // "-y", "--long" (getopt's letter is then '-') or "-c <c>".
    let c = word.chars().nth(1).unwrap_or('?');
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::WrongNumberOfValues => OptError::MissingArg(c),
        _ => OptError::Illegal(c),
    }
}

/// `getopt(3)` over the process's arguments: the options and operands, or
/// (after `prog: illegal option -- x`) the tool's `usage()`.
pub fn getopt(optstring: &str, usage: fn() -> !) -> Args {
    Getopt::new(optstring).parse_env(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(optstring: &str, args: &[&str]) -> Result<Args, OptError> {
        Getopt::new(optstring).parse(args)
    }

    fn opts(v: &[(char, &str)]) -> Vec<(char, String)> {
        v.iter().map(|(c, s)| (*c, s.to_string())).collect()
    }

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_combine_and_repeat_in_order() {
        let a = parse("anv", &["-an", "-v", "-aa"]).unwrap();
        assert_eq!(
            a.opts,
            opts(&[('a', ""), ('n', ""), ('v', ""), ('a', ""), ('a', "")])
        );
        assert!(a.operands.is_empty());
        let a = parse("46cl", &["-46", "-c"]).unwrap();
        assert_eq!(a.opts, opts(&[('4', ""), ('6', ""), ('c', "")]));
    }

    #[test]
    fn values_attach_or_follow() {
        let a = parse("ac:f:", &["-c5", "-c", "6", "-afinet", "-c", "-7", "x"]).unwrap();
        assert_eq!(
            a.opts,
            opts(&[
                ('c', "5"),
                ('c', "6"),
                ('a', ""),
                ('f', "inet"),
                ('c', "-7")
            ])
        );
        assert_eq!(a.operands, words(&["x"]));
        // The argument may look like an option, or like the end of them.
        let a = parse("ac:", &["-c", "-a", "-c", "--"]).unwrap();
        assert_eq!(a.opts, opts(&[('c', "-a"), ('c', "--")]));
        let a = parse("c:", &["-c", ""]).unwrap();
        assert_eq!(a.opts, opts(&[('c', "")]));
    }

    #[test]
    fn parsing_stops_at_the_first_operand() {
        let a = parse(":cdil", &["n1", "ping", "-c", "1", "x"]).unwrap();
        assert!(a.opts.is_empty());
        assert_eq!(a.operands, words(&["n1", "ping", "-c", "1", "x"]));
        let a = parse("ac:", &["-a", "host", "-c", "5", "--", "-y"]).unwrap();
        assert_eq!(a.opts, opts(&[('a', "")]));
        assert_eq!(a.operands, words(&["host", "-c", "5", "--", "-y"]));
        // `--` ends the options and is dropped; `-` is an operand.
        let a = parse("a", &["-a", "--", "-a"]).unwrap();
        assert_eq!((a.opts.len(), a.operands), (1, words(&["-a"])));
        let a = parse("a", &["-", "-a"]).unwrap();
        assert_eq!((a.opts.len(), a.operands), (0, words(&["-", "-a"])));
        assert_eq!(parse("a", &[] as &[&str]).unwrap(), Args::default());
    }

    #[test]
    fn permuted_options_may_follow_operands() {
        let g = Getopt::new("lvp:").permute();
        let a = g.parse(&["host", "-v", "80", "-p5"]).unwrap();
        assert_eq!(a.opts, opts(&[('v', ""), ('p', "5")]));
        assert_eq!(a.operands, words(&["host", "80"]));
        let a = g.parse(&["host", "--", "-v"]).unwrap();
        assert_eq!((a.opts.len(), a.operands), (0, words(&["host", "-v"])));
        assert_eq!(g.parse(&["host", "-x"]), Err(OptError::Illegal('x')));
    }

    #[test]
    fn illegal_options_and_missing_arguments() {
        assert_eq!(parse("ab", &["-y"]), Err(OptError::Illegal('y')));
        assert_eq!(parse("ab", &["-ay"]), Err(OptError::Illegal('y')));
        assert_eq!(parse("ab", &["-a", "-5"]), Err(OptError::Illegal('5')));
        assert_eq!(parse("ab", &["--help"]), Err(OptError::Illegal('-')));
        // No help or version flags of clap's own.
        assert_eq!(parse("ab", &["-h"]), Err(OptError::Illegal('h')));
        assert_eq!(parse("ab", &["-V"]), Err(OptError::Illegal('V')));
        assert_eq!(parse("af:", &["-f"]), Err(OptError::MissingArg('f')));
        assert_eq!(parse("af:", &["-af"]), Err(OptError::MissingArg('f')));
        assert_eq!(OptError::Illegal('x').to_string(), "illegal option -- x");
        assert_eq!(
            OptError::MissingArg('f').to_string(),
            "option requires an argument -- f"
        );
    }

    #[test]
    fn a_leading_colon_only_silences() {
        let g = Getopt::new(":l");
        assert!(!g.opterr && Getopt::new("l").opterr);
        assert_eq!(g.parse(&["-l"]).unwrap().opts, opts(&[('l', "")]));
        assert_eq!(g.parse(&["-x"]), Err(OptError::Illegal('x')));
    }
}
