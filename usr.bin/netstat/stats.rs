//! The engine behind `netstat -s`: a protocol's counters (named as the FreeBSD
//! structure fields are) printed through a table of FreeBSD's lines.
//!
//! A line is printed only when the kernel reports every counter it names, and,
//! with `-s -s`, only when one of them is non-zero — FreeBSD's `p()` macros with
//! `sflag <= 1` meaning "print zeros too".

use crate::names::{cfmt, plural, plurales, pluralies, Arg};

/// Counters by their FreeBSD field names (histogram slots as `FIELD.N`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub Vec<(String, u64)>);

impl Counters {
    /// The counter `name`, if the kernel reports it.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
    /// From field names and values in the same order.
    pub fn from_fields(names: &[&str], values: &[u64]) -> Self {
        Counters(
            names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.to_string(), *v))
                .collect(),
        )
    }
    /// Add histogram slots `prefix.N` for the non-zero entries of `h`.
    pub fn add_hist(&mut self, prefix: &str, h: &[u64]) {
        for (i, v) in h.iter().enumerate() {
            if *v != 0 {
                self.0.push((format!("{prefix}.{i}"), *v));
            }
        }
    }
}

/// One line (or line part) of a statistics block.
pub enum Item {
    /// `p`: the counter and `s` unless one.
    P(&'static str, &'static str),
    /// `p1a`: the counter alone.
    P1a(&'static str, &'static str),
    /// `p2`: two counters, each with its plural.
    P2(&'static str, &'static str, &'static str),
    /// `p2a`: two counters, only the first with a plural.
    P2a(&'static str, &'static str, &'static str),
    /// `p3`: the counter with `y`/`ies`.
    P3(&'static str, &'static str),
    /// The counter with `es` unless one.
    Pes(&'static str, &'static str),
    /// End a line begun by a `P` without newline, on the same condition.
    Newline(&'static str),
    /// A histogram of the non-zero slots `FIELD.N`, under a title line, one
    /// `\t\tNAME: N` line each.
    Hist(&'static str, &'static str, fn(usize) -> String),
    /// A count derived from others: the first counter less the rest.
    Less(&'static str, &'static str, &'static [&'static str]),
}

/// Print `name:` and the items over `c`; `sflag` is how many `-s` were given.
pub fn render(name: &str, items: &[Item], c: &Counters, sflag: u32) -> String {
    let all = sflag <= 1;
    let mut out = format!("{name}:\n");
    for it in items {
        match *it {
            Item::P(f, m) | Item::P3(f, m) | Item::Pes(f, m) => {
                if let Some(v) = c.get(f).filter(|v| *v != 0 || all) {
                    let pl = match it {
                        Item::P3(..) => pluralies(v),
                        Item::Pes(..) => plurales(v),
                        _ => plural(v),
                    };
                    out.push_str(&cfmt(m, &[Arg::N(v), Arg::S(pl)]));
                }
            }
            Item::P1a(f, m) => {
                if let Some(v) = c.get(f).filter(|v| *v != 0 || all) {
                    out.push_str(&cfmt(m, &[Arg::N(v)]));
                }
            }
            Item::P2(f1, f2, m) | Item::P2a(f1, f2, m) => {
                if let (Some(a), Some(b)) = (c.get(f1), c.get(f2)) {
                    if a != 0 || b != 0 || all {
                        let args = match it {
                            Item::P2(..) => {
                                vec![Arg::N(a), Arg::S(plural(a)), Arg::N(b), Arg::S(plural(b))]
                            }
                            _ => vec![Arg::N(a), Arg::S(plural(a)), Arg::N(b)],
                        };
                        out.push_str(&cfmt(m, &args));
                    }
                }
            }
            Item::Newline(f) => {
                if c.get(f).is_some_and(|v| v != 0 || all) {
                    out.push('\n');
                }
            }
            Item::Hist(f, title, names) => {
                let prefix = format!("{f}.");
                let mut slots: Vec<(usize, u64)> =
                    c.0.iter()
                        .filter_map(|(n, v)| {
                            let i = n.strip_prefix(&prefix)?.parse().ok()?;
                            (*v != 0).then_some((i, *v))
                        })
                        .collect();
                slots.sort_unstable();
                if !slots.is_empty() {
                    out.push_str(title);
                }
                for (i, v) in slots {
                    out.push_str(&format!("\t\t{}: {v}\n", names(i)));
                }
            }
            Item::Less(m, base, minus) => {
                if let Some(b) = c.get(base) {
                    let v = minus
                        .iter()
                        .fold(b, |acc, f| acc.saturating_sub(c.get(f).unwrap_or(0)));
                    if v != 0 || all {
                        out.push_str(&cfmt(m, &[Arg::N(v)]));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[(&str, u64)]) -> Counters {
        Counters(v.iter().map(|(n, x)| (n.to_string(), *x)).collect())
    }

    #[test]
    fn zeros_missing_counters_and_plurals() {
        let items = [
            Item::P("a", "\t%lu packet%s\n"),
            Item::P1a("b", "\t%lu with bad checksum\n"),
            Item::P("missing", "\t%lu never\n"),
            Item::P3("c", "\t%lu entr%s\n"),
            Item::Pes("d", "\t%lu address%s\n"),
        ];
        let k = c(&[("a", 1), ("b", 0), ("c", 2), ("d", 1)]);
        assert_eq!(
            render("x", &items, &k, 1),
            "x:\n\t1 packet\n\t0 with bad checksum\n\t2 entries\n\t1 address\n"
        );
        assert_eq!(
            render("x", &items, &k, 2),
            "x:\n\t1 packet\n\t2 entries\n\t1 address\n"
        );
    }

    #[test]
    fn pairs_continuations_and_derived() {
        let items = [
            Item::P2("a", "b", "\t%lu packet%s (%lu byte%s)\n"),
            Item::P2a("a", "c", "\t%lu ack%s (%lu delayed)\n"),
            Item::P2("a", "missing", "\tnever %lu %s %lu %s\n"),
            Item::P("f", "\t%lu packet%s forwarded"),
            Item::P("fast", " (%lu packet%s fast forwarded)"),
            Item::Newline("f"),
            Item::Less("\t%lu delivered\n", "a", &["c", "missing"]),
        ];
        let k = c(&[("a", 5), ("b", 1), ("c", 2), ("f", 3)]);
        assert_eq!(
            render("y", &items, &k, 1),
            "y:\n\t5 packets (1 byte)\n\t5 acks (2 delayed)\n\t3 packets forwarded\n\t3 delivered\n"
        );
        let z = c(&[("a", 0), ("b", 0), ("c", 0), ("f", 0)]);
        assert_eq!(render("y", &items, &z, 2), "y:\n");
    }

    #[test]
    fn histograms_list_nonzero_slots_in_order() {
        fn nm(i: usize) -> String {
            ["zero", "one", "two"]
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("#{i}"))
        }
        let items = [Item::Hist("h", "\tHistogram:\n", nm)];
        let mut k = Counters::default();
        k.add_hist("h", &[0, 0, 4, 0, 0, 7]);
        k.0.push(("h.1".into(), 0));
        assert_eq!(
            render("z", &items, &k, 1),
            "z:\n\tHistogram:\n\t\ttwo: 4\n\t\t#5: 7\n"
        );
        assert_eq!(render("z", &items, &Counters::default(), 1), "z:\n");
        assert_eq!(
            Counters::from_fields(&["p", "q"], &[1, 2]).get("q"),
            Some(2)
        );
    }
}
