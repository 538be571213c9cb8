//! The lookup structure behind the routing tables (FreeBSD's sys/net/radix.c role).
//!
//! FreeBSD keeps routes in a PATRICIA tree of sockaddr keys.  Here a table is an
//! array of hash maps, one per prefix length, plus the list of lengths in use,
//! longest first (the "per-prefix-length hash" scheme of Waldvogel et al., without
//! the binary search over lengths).  Why this rather than a trie:
//!
//! * longest-prefix match costs one masked hash probe per prefix length in use,
//!   longest first, stopping at the first hit.  Real tables use few lengths (a full
//!   IPv4 Internet table about 25, an IPv6 one about 40), so a lookup is a handful
//!   of O(1) probes on contiguous memory, independent of the number of routes:
//!   100,000 routes cost no more per lookup than 10;
//! * insert and delete are O(1) (plus an O(lengths) update of the length list when
//!   a length appears or disappears), with no rebalancing, node splitting or
//!   parent pointers to get wrong;
//! * memory is one hash slot per route;
//! * the one operation a trie does better, an ordered walk (`netstat -r`, `route
//!   flush`), is rare; [`PrefixTable::sorted`] sorts a snapshot, O(n log n).
//!
//! Keys are `u128`, left-aligned: an IPv4 address occupies the top 32 bits, so one
//! implementation serves both families ([`PrefixTable::new`] takes the key width).
//! The hash is a keyed 64-bit mixer (seeded per table from the standard library's
//! random state), so a local user adding crafted prefixes cannot force collisions.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Mask with the top `plen` bits of a 128-bit key set.
pub fn mask128(plen: u8) -> u128 {
    if plen == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(plen.min(128)))
    }
}

/// `fmix64` of MurmurHash3: a cheap full-avalanche 64-bit mixer.
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Builds [`KeyHasher`]s with one table's secret seed.
#[derive(Clone, Copy, Debug)]
pub struct KeyHashBuilder {
    seed: u64,
}

impl KeyHashBuilder {
    fn new() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x7275_6f74_6521);
        KeyHashBuilder {
            seed: h.finish() | 1,
        }
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { h: self.seed }
    }
}

/// A fast keyed hasher for `u128` route keys.
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher {
    h: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.h = fmix64(self.h ^ u64::from_le_bytes(b));
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.h = fmix64(fmix64(self.h ^ (v >> 64) as u64) ^ v as u64);
    }
    fn finish(&self) -> u64 {
        self.h
    }
}

/// A longest-prefix-match table of `V` keyed by (left-aligned key, prefix length).
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    width: u8,
    by_len: Vec<HashMap<u128, V, KeyHashBuilder>>,
    /// Prefix lengths with at least one entry, longest first.
    lens: Vec<u8>,
    count: usize,
}

impl<V> PrefixTable<V> {
    /// An empty table for keys of `width` bits (32 for IPv4, 128 for IPv6).
    pub fn new(width: u8) -> Self {
        let width = width.clamp(1, 128);
        let hb = KeyHashBuilder::new();
        PrefixTable {
            width,
            by_len: (0..=width).map(|_| HashMap::with_hasher(hb)).collect(),
            lens: Vec::new(),
            count: 0,
        }
    }

    /// Key width in bits.
    pub fn width(&self) -> u8 {
        self.width
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Prefix lengths in use, longest first.
    pub fn lengths(&self) -> &[u8] {
        &self.lens
    }

    fn norm(&self, key: u128, plen: u8) -> Option<(u128, usize)> {
        (plen <= self.width).then(|| (key & mask128(plen), usize::from(plen)))
    }

    /// Add `v` under `key/plen` (host bits of `key` are ignored).  Gives `v` back
    /// if that prefix is present already or `plen` exceeds the width.
    pub fn insert(&mut self, key: u128, plen: u8, v: V) -> Result<(), V> {
        let Some((k, i)) = self.norm(key, plen) else {
            return Err(v);
        };
        let m = &mut self.by_len[i];
        if m.contains_key(&k) {
            return Err(v);
        }
        let was_empty = m.is_empty();
        m.insert(k, v);
        self.count += 1;
        if was_empty {
            let pos = self.lens.partition_point(|&l| l > plen);
            self.lens.insert(pos, plen);
        }
        Ok(())
    }

    /// Replace the value under `key/plen`, returning the old one (`None`, and
    /// nothing stored, if the prefix is absent).
    pub fn replace(&mut self, key: u128, plen: u8, v: V) -> Option<V> {
        let (k, i) = self.norm(key, plen)?;
        let slot = self.by_len[i].get_mut(&k)?;
        Some(std::mem::replace(slot, v))
    }

    /// Remove `key/plen`.
    pub fn remove(&mut self, key: u128, plen: u8) -> Option<V> {
        let (k, i) = self.norm(key, plen)?;
        let v = self.by_len[i].remove(&k)?;
        self.count -= 1;
        if self.by_len[i].is_empty() {
            self.lens.retain(|&l| l != plen);
        }
        Some(v)
    }

    /// Exactly `key/plen`.
    pub fn get(&self, key: u128, plen: u8) -> Option<&V> {
        let (k, i) = self.norm(key, plen)?;
        self.by_len[i].get(&k)
    }

    /// Longest-prefix match of `key`, with its prefix length.
    pub fn lookup(&self, key: u128) -> Option<(u8, &V)> {
        self.lookup_where(key, |_| true)
    }

    /// Longest-prefix match of `key` among the entries `ok` accepts (e.g. skip
    /// routes through an interface that is down).
    pub fn lookup_where(&self, key: u128, ok: impl Fn(&V) -> bool) -> Option<(u8, &V)> {
        for &l in &self.lens {
            if let Some(v) = self.by_len[usize::from(l)].get(&(key & mask128(l))) {
                if ok(v) {
                    return Some((l, v));
                }
            }
        }
        None
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, u8, &V)> {
        self.lens.iter().flat_map(move |&l| {
            self.by_len[usize::from(l)]
                .iter()
                .map(move |(k, v)| (*k, l, v))
        })
    }

    /// Every entry in the order a radix-tree walk visits them: by key ascending,
    /// and for one key the more specific prefix first (FreeBSD keeps duplicate keys
    /// in a chain sorted most specific first).
    pub fn sorted(&self) -> Vec<(u128, u8, &V)> {
        let mut all: Vec<_> = self.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        all
    }

    /// Remove every entry `pred` selects; returns them.
    pub fn drain_where(
        &mut self,
        mut pred: impl FnMut(u128, u8, &V) -> bool,
    ) -> Vec<(u128, u8, V)> {
        let mut out = Vec::new();
        for l in self.lens.clone() {
            let m = &mut self.by_len[usize::from(l)];
            let keys: Vec<u128> = m
                .iter()
                .filter(|(k, v)| pred(**k, l, v))
                .map(|(k, _)| *k)
                .collect();
            for k in keys {
                if let Some(v) = m.remove(&k) {
                    out.push((k, l, v));
                }
            }
            if m.is_empty() {
                self.lens.retain(|&x| x != l);
            }
        }
        self.count -= out.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k4(a: [u8; 4]) -> u128 {
        u128::from(u32::from_be_bytes(a)) << 96
    }

    #[test]
    fn longest_prefix_wins_and_lengths_stay_sorted() {
        let mut t = PrefixTable::new(32);
        t.insert(0, 0, "default").unwrap();
        t.insert(k4([10, 0, 0, 0]), 8, "ten").unwrap();
        t.insert(k4([10, 1, 0, 0]), 16, "ten-one").unwrap();
        t.insert(k4([10, 1, 2, 3]), 32, "host").unwrap();
        assert_eq!(t.lengths(), &[32, 16, 8, 0]);
        assert_eq!(t.lookup(k4([10, 1, 2, 3])), Some((32, &"host")));
        assert_eq!(t.lookup(k4([10, 1, 2, 4])), Some((16, &"ten-one")));
        assert_eq!(t.lookup(k4([10, 2, 0, 1])), Some((8, &"ten")));
        assert_eq!(t.lookup(k4([11, 0, 0, 1])), Some((0, &"default")));
        assert_eq!(t.insert(k4([10, 9, 9, 9]), 8, "dup"), Err("dup"));
        assert_eq!(t.insert(1, 33, "too long"), Err("too long"));
        assert_eq!(t.remove(k4([10, 1, 0, 0]), 16), Some("ten-one"));
        assert_eq!(t.lengths(), &[32, 8, 0]);
        assert_eq!(t.lookup(k4([10, 1, 2, 4])), Some((8, &"ten")));
        assert_eq!(
            t.lookup_where(k4([10, 1, 2, 3]), |v| *v != "host"),
            Some((8, &"ten"))
        );
        assert_eq!(t.len(), 3);
        assert_eq!(t.replace(0, 0, "dflt"), Some("default"));
        assert_eq!(t.replace(0, 1, "x"), None);
        assert_eq!(t.get(0, 0), Some(&"dflt"));
    }

    #[test]
    fn walk_order_is_by_key_then_most_specific_first() {
        let mut t = PrefixTable::new(32);
        for (a, l) in [
            ([10, 0, 0, 0], 8),
            ([10, 0, 0, 0], 24),
            ([0, 0, 0, 0], 0),
            ([10, 0, 0, 1], 32),
            ([127, 0, 0, 1], 32),
            ([10, 0, 0, 0], 32),
        ] {
            t.insert(k4(a), l, ()).unwrap();
        }
        let order: Vec<(u128, u8)> = t.sorted().iter().map(|(k, l, _)| (*k, *l)).collect();
        assert_eq!(
            order,
            vec![
                (0, 0),
                (k4([10, 0, 0, 0]), 32),
                (k4([10, 0, 0, 0]), 24),
                (k4([10, 0, 0, 0]), 8),
                (k4([10, 0, 0, 1]), 32),
                (k4([127, 0, 0, 1]), 32),
            ]
        );
        let gone = t.drain_where(|k, _, _| k >> 120 == 10);
        assert_eq!(gone.len(), 4);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lengths(), &[32, 0]);
    }

    #[test]
    fn hundred_thousand_prefixes() {
        let mut t = PrefixTable::new(32);
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut keys = Vec::new();
        while t.len() < 100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let plen = 8 + (x % 25) as u8;
            let key = u128::from(x as u32) << 96 & mask128(plen);
            if t.insert(key, plen, (key, plen)).is_ok() {
                keys.push((key, plen));
            }
        }
        for (k, l) in &keys {
            // Any address inside a prefix matches it or a more specific one.
            let (got, v) = t.lookup(*k).unwrap();
            assert!(got >= *l);
            assert_eq!(v.0 & mask128(*l), *k);
        }
        assert!(t.lengths().len() <= 25);
    }
}
