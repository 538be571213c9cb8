//! The library's debugging output (`NgSetDebug`): what is sent and received, shown
//! as text lines.  The functions here only format; [`crate::NgSock`] decides by
//! its debug level whether to print them (to stderr, prefixed with the program
//! name, as `warnx(3)` would).

use vimage_abi::netgraph::*;

/// Bytes per line of a debugging hex dump.
const BYTES_PER_LINE: usize = 16;

/// Type cookies the debugging output knows by name.
const COOKIES: &[(u32, &str)] = &[
    (884_298_942, "ECHO"),
    (948_105_892, "EIFACE"),
    (917_786_906, "ETHER"),
    (NGM_GENERIC_COOKIE, "GENERIC"),
    (NGM_FLOW_COOKIE, "FLOW"),
    (915_433_206, "HOLE"),
    (1_082_189_597, "HUB"),
    (1_108_312_559, "IFACE"),
    (942_710_669, "KSOCKET"),
    (1_100_897_444, "ONE2MANY"),
    (200_708_191, "PIPE"),
    (967_239_368, "BRIDGE"),
    (NGM_SOCKET_COOKIE, "SOCKET"),
    (916_107_047, "TEE"),
    (1_068_486_472, "VLAN"),
];

/// The name of the node type whose command set `cookie` identifies, or `??`.
pub fn cookie_name(cookie: u32) -> &'static str {
    COOKIES
        .iter()
        .find(|(c, _)| *c == cookie)
        .map(|(_, n)| *n)
        .unwrap_or("??")
}

/// One line describing a netgraph socket address as it is sent.
pub fn sockaddr_line(addr: &str) -> String {
    format!(
        "SOCKADDR: {{ fam={} len={} addr=\"{}\" }}",
        AF_NETGRAPH,
        addr.len() + 3,
        addr
    )
}

/// The lines describing a control message: header fields, then its argument bytes.
pub fn msg_lines(m: &NgMesg) -> Vec<String> {
    let h = &m.header;
    let mut v = vec![
        "NG_MESG :".to_string(),
        format!("  vers   {}", h.version),
        format!("  arglen {}", m.data.len()),
        format!("  flags  {}", h.flags),
        format!("  token  {}", h.token),
        format!(
            "  cookie {} ({})",
            cookie_name(h.typecookie),
            h.typecookie as i32
        ),
        format!("  cmd    {}", h.cmd as i32),
        format!("  args ({} bytes)", m.data.len()),
    ];
    v.extend(bytes_lines(&m.data));
    v
}

/// A debugging hex dump: `%04x:  `, sixteen `%02x ` columns, two spaces, the
/// printable characters (others as `.`).
pub fn bytes_lines(b: &[u8]) -> Vec<String> {
    b.chunks(BYTES_PER_LINE)
        .enumerate()
        .map(|(i, chunk)| {
            let mut s = format!("{:04x}:  ", i * BYTES_PER_LINE);
            for k in 0..BYTES_PER_LINE {
                match chunk.get(k) {
                    Some(c) => s.push_str(&format!("{c:02x} ")),
                    None => s.push_str("   "),
                }
            }
            s.push_str("  ");
            for k in 0..BYTES_PER_LINE {
                match chunk.get(k) {
                    Some(&c) if (0x20..0x7f).contains(&c) => s.push(char::from(c)),
                    Some(_) => s.push('.'),
                    None => s.push_str("  "),
                }
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lines() {
        assert_eq!(cookie_name(NGM_GENERIC_COOKIE), "GENERIC");
        assert_eq!(cookie_name(967_239_368), "BRIDGE");
        assert_eq!(cookie_name(1), "??");
        assert_eq!(
            sockaddr_line("em0:"),
            "SOCKADDR: { fam=32 len=7 addr=\"em0:\" }"
        );
        let m = NgMesg::new(
            NGM_GENERIC_COOKIE,
            NGM_NODEINFO,
            "cmd1",
            3,
            b"AB\n".to_vec(),
        );
        let l = msg_lines(&m);
        assert_eq!(l[0], "NG_MESG :");
        assert_eq!(l[2], "  arglen 3");
        assert_eq!(l[4], "  token  3");
        assert_eq!(l[5], "  cookie GENERIC (1137070366)");
        assert_eq!(l[6], format!("  cmd    {}", NGM_NODEINFO));
        assert_eq!(l[7], "  args (3 bytes)");
        assert_eq!(
            l[8],
            format!(
                "0000:  41 42 0a {}  AB.{}",
                "   ".repeat(13),
                "  ".repeat(13)
            )
        );
        assert!(bytes_lines(&[]).is_empty());
        assert_eq!(bytes_lines(&[0; 17]).len(), 2);
        assert!(bytes_lines(&[0; 17])[1].starts_with("0010:  00 "));
    }
}
