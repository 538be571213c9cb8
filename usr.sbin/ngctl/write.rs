//! `write`: send a frame out of one of our socket node's hooks.

use std::fs::File;
use std::io::Read;

use crate::cmds::{io_strerror, NgCmd, Rtn};
use crate::Ctx;

/// Largest frame `write` sends (longer files are cut).
pub const BUF_SIZE: usize = 8192;

/// `write`.
pub const WRITE_CMD: NgCmd = NgCmd {
    synopsis: "write hook < -f file | byte ... >",
    desc: "Send a data frame out of hook \"hook\"",
    help: Some(
        "The frame is the contents of a file, or the bytes given on the command \
         line (numbers in C notation: decimal, 0x hexadecimal or 0 octal, from \
         -128 to 255).",
    ),
    aliases: &["w"],
    hidden: &[],
    func: write_cmd,
};

/// Parse a number as `sscanf("%i")` does: blanks, a sign, then `0x` hex, `0`
/// octal or decimal digits; text after the number is ignored.  `None` if no
/// digit is there or it does not fit an `i64`.
pub fn scan_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = t.as_bytes();
    let hex = b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit();
    let (radix, digits) = if hex {
        (16, &t[2..])
    } else if b.first() == Some(&b'0') {
        (8, t)
    } else {
        (10, t)
    };
    let n = digits
        .bytes()
        .take_while(|c| char::from(*c).is_digit(radix))
        .count();
    if n == 0 {
        return None;
    }
    let v = i64::from_str_radix(&digits[..n], radix).ok()?;
    Some(if neg { -v } else { v })
}

/// The frame given as bytes on the command line; `Err(word)` names the first
/// word that is not a byte.  At most [`BUF_SIZE`] bytes are taken.
pub fn parse_bytes(words: &[String]) -> Result<Vec<u8>, &str> {
    words
        .iter()
        .take(BUF_SIZE)
        .map(|w| match scan_int(w) {
            Some(v) if (-128..=255).contains(&v) => Ok(v as u8),
            _ => Err(w.as_str()),
        })
        .collect()
}

fn read_frame(file: &str) -> Result<Vec<u8>, Rtn> {
    let mut buf = Vec::with_capacity(BUF_SIZE);
    let r = File::open(file).and_then(|f| f.take(BUF_SIZE as u64).read_to_end(&mut buf));
    match r {
        Err(e) => {
            libvimage::warnx(format!("can't read file \"{file}\": {}", io_strerror(&e)));
            Err(Rtn::Error)
        }
        Ok(0) => {
            libvimage::warnx(format!("file \"{file}\" is empty"));
            Err(Rtn::Error)
        }
        Ok(_) => Ok(buf),
    }
}

fn write_cmd(ctx: &mut Ctx, av: &[String]) -> Rtn {
    if av.len() < 3 {
        return Rtn::Usage;
    }
    let hook = &av[1];
    let frame = if av[2] == "-f" {
        if av.len() != 4 {
            return Rtn::Usage;
        }
        match read_frame(&av[3]) {
            Ok(b) => b,
            Err(r) => return r,
        }
    } else {
        match parse_bytes(&av[2..]) {
            Ok(b) => b,
            Err(w) => {
                libvimage::warnx(format!("invalid byte \"{w}\""));
                return Rtn::Error;
            }
        }
    };
    match ctx.ng.send_data(hook, &frame) {
        Ok(()) => Rtn::Ok,
        Err(e) => {
            libvimage::warn(format!("writing to hook \"{hook}\""), e);
            Rtn::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(scan_int("10"), Some(10));
        assert_eq!(scan_int("0x1F"), Some(31));
        assert_eq!(scan_int("0X1f"), Some(31));
        assert_eq!(scan_int("017"), Some(15));
        assert_eq!(scan_int("0"), Some(0));
        assert_eq!(scan_int("-128"), Some(-128));
        assert_eq!(scan_int("+5"), Some(5));
        assert_eq!(scan_int("12abc"), Some(12));
        assert_eq!(scan_int("09"), Some(0));
        assert_eq!(scan_int("0x"), Some(0));
        assert_eq!(scan_int("0xg"), Some(0));
        assert_eq!(scan_int("x1"), None);
        assert_eq!(scan_int(""), None);
        assert_eq!(scan_int("-"), None);
        assert_eq!(scan_int("99999999999999999999"), None);
    }

    #[test]
    fn bytes() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_bytes(&w(&["1", "0xff", "-1", "-128", "010"])),
            Ok(vec![1, 255, 255, 128, 8])
        );
        assert_eq!(parse_bytes(&w(&["1", "256"])), Err("256"));
        assert_eq!(parse_bytes(&w(&["-129"])), Err("-129"));
        assert_eq!(parse_bytes(&w(&["zz"])), Err("zz"));
        assert_eq!(parse_bytes(&w(&[])), Ok(vec![]));
        assert_eq!(
            parse_bytes(&vec!["1".to_string(); BUF_SIZE + 5]).map(|v| v.len()),
            Ok(BUF_SIZE)
        );
    }
}
