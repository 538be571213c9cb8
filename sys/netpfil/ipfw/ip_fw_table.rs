//! The firewall's lookup tables (FreeBSD's ipfw2 tables, `table(N)`):
//! per vnet, [`IPFW_TABLES_MAX`] tables of IPv4 prefixes, each with a
//! value; `from table(N[,V])` matches a source found in table N (whose
//! longest matching prefix has value V, if given).
//!
//! A table is one map per prefix length, so a lookup is at most 33 hash
//! probes, most specific first (FreeBSD keeps a radix tree).  Entries are
//! bounded per vnet ([`IPFW_TABLE_ENTRIES_MAX`], `ENOSPC` past it).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::RwLock;

use vimage_abi::ip_fw::{IpFwTableEntry, IPFW_TABLES_MAX};
use vimage_abi::Errno;

/// Most entries of all of a vnet's tables together.
pub const IPFW_TABLE_ENTRIES_MAX: usize = 65536;

/// One table: prefix length → masked address → value.
#[derive(Debug, Default, Clone)]
struct Table {
    by_len: Vec<HashMap<u32, u32>>,
}

impl Table {
    fn len(&self) -> usize {
        self.by_len.iter().map(HashMap::len).sum()
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// A vnet's tables.
#[derive(Debug, Default)]
pub struct Tables {
    t: RwLock<HashMap<u16, Table>>,
}

impl Tables {
    fn total(t: &HashMap<u16, Table>) -> usize {
        t.values().map(Table::len).sum()
    }

    /// `add_table_entry`: `EEXIST` if the prefix is there, `EINVAL` for a
    /// bad table or length, `ENOSPC` past the vnet's bound.
    pub fn add(&self, e: &IpFwTableEntry) -> Result<(), Errno> {
        if e.tbl >= IPFW_TABLES_MAX || e.masklen > 32 {
            return Err(Errno::EINVAL);
        }
        let mut g = self.t.write().map_err(|_| Errno::EDOOFUS)?;
        if Self::total(&g) >= IPFW_TABLE_ENTRIES_MAX {
            return Err(Errno::ENOSPC);
        }
        let t = g.entry(e.tbl).or_default();
        if t.by_len.is_empty() {
            t.by_len = vec![HashMap::new(); 33];
        }
        let key = u32::from(e.addr) & mask(e.masklen);
        let m = &mut t.by_len[usize::from(e.masklen)];
        if m.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        m.insert(key, e.value);
        Ok(())
    }

    /// `del_table_entry`: `ESRCH` if the prefix is not there.
    pub fn del(&self, e: &IpFwTableEntry) -> Result<(), Errno> {
        if e.tbl >= IPFW_TABLES_MAX || e.masklen > 32 {
            return Err(Errno::EINVAL);
        }
        let mut g = self.t.write().map_err(|_| Errno::EDOOFUS)?;
        let key = u32::from(e.addr) & mask(e.masklen);
        g.get_mut(&e.tbl)
            .and_then(|t| t.by_len.get_mut(usize::from(e.masklen)))
            .and_then(|m| m.remove(&key))
            .map(drop)
            .ok_or(Errno::ESRCH)
    }

    /// `flush_table`.
    pub fn flush(&self, tbl: u16) {
        if let Ok(mut g) = self.t.write() {
            g.remove(&tbl);
        }
    }

    /// Drop every table (the vnet's firewall goes).
    pub fn clear(&self) {
        if let Ok(mut g) = self.t.write() {
            g.clear();
        }
    }

    /// `count_table`.
    pub fn count(&self, tbl: u16) -> u32 {
        self.t
            .read()
            .ok()
            .and_then(|g| g.get(&tbl).map(|t| t.len() as u32))
            .unwrap_or(0)
    }

    /// `dump_table`: the entries, by address then prefix length.
    pub fn list(&self, tbl: u16) -> Vec<IpFwTableEntry> {
        let Ok(g) = self.t.read() else {
            return Vec::new();
        };
        let Some(t) = g.get(&tbl) else {
            return Vec::new();
        };
        let mut v: Vec<IpFwTableEntry> = t
            .by_len
            .iter()
            .enumerate()
            .flat_map(|(len, m)| {
                m.iter().map(move |(a, v)| IpFwTableEntry {
                    tbl,
                    addr: Ipv4Addr::from(*a),
                    masklen: len as u8,
                    value: *v,
                })
            })
            .collect();
        v.sort_by_key(|e| (u32::from(e.addr), e.masklen));
        v
    }

    /// `lookup_table`: the value of the longest prefix of table `tbl`
    /// holding `a`.
    pub fn lookup(&self, tbl: u16, a: Ipv4Addr) -> Option<u32> {
        let g = self.t.read().ok()?;
        let t = g.get(&tbl)?;
        let a = u32::from(a);
        (0..=32u8).rev().find_map(|len| {
            t.by_len
                .get(usize::from(len))?
                .get(&(a & mask(len)))
                .copied()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(tbl: u16, a: &str, len: u8, value: u32) -> IpFwTableEntry {
        IpFwTableEntry {
            tbl,
            addr: a.parse().unwrap(),
            masklen: len,
            value,
        }
    }

    #[test]
    fn longest_prefix_wins_and_errors_are_freebsds() {
        let t = Tables::default();
        t.add(&e(1, "10.0.0.0", 8, 1)).unwrap();
        t.add(&e(1, "10.1.2.3", 16, 2)).unwrap();
        t.add(&e(1, "10.1.2.3", 32, 3)).unwrap();
        assert_eq!(t.add(&e(1, "10.1.0.0", 16, 9)), Err(Errno::EEXIST));
        assert_eq!(t.add(&e(128, "10.1.0.0", 16, 9)), Err(Errno::EINVAL));
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(t.lookup(1, ip("10.1.2.3")), Some(3));
        assert_eq!(t.lookup(1, ip("10.1.9.9")), Some(2));
        assert_eq!(t.lookup(1, ip("10.9.9.9")), Some(1));
        assert_eq!(t.lookup(1, ip("11.0.0.1")), None);
        assert_eq!(t.lookup(2, ip("10.0.0.1")), None);
        assert_eq!(t.count(1), 3);
        let l = t.list(1);
        assert_eq!(l[0], e(1, "10.0.0.0", 8, 1));
        assert_eq!(l[1], e(1, "10.1.0.0", 16, 2));
        t.del(&e(1, "10.1.2.3", 32, 0)).unwrap();
        assert_eq!(t.del(&e(1, "10.1.2.3", 32, 0)), Err(Errno::ESRCH));
        assert_eq!(t.lookup(1, ip("10.1.2.3")), Some(2));
        t.flush(1);
        assert_eq!(t.count(1), 0);
    }
}
