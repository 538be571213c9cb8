//! The kernel's random numbers (FreeBSD's `arc4random(9)`), from an injected
//! entropy source: vkernel passes the host's `getrandom(2)`, tests a seeded
//! generator, so the sans-IO kernel never reads a device and runs
//! reproducibly on fake time.

use std::sync::{Arc, Mutex};

/// Where the kernel's random bytes come from.
pub trait Entropy: Send + Sync {
    /// Fill `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// A deterministic source for tests and benches (splitmix64 from a seed):
/// not secret, reproducible.
pub struct SeededRandom(Mutex<u64>);

impl SeededRandom {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom(Mutex::new(seed))
    }
    /// The same, shared.
    pub fn arc(seed: u64) -> Arc<dyn Entropy> {
        Arc::new(SeededRandom::new(seed))
    }
}

impl Entropy for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for chunk in buf.chunks_mut(8) {
            *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// The kernel's entropy source, reachable from any vnet.
pub struct KernRandom(pub Arc<dyn Entropy>);

/// Registry slot holding [`KernRandom`] (kernel-wide, not a vnet module).
pub const KERN_RANDOM_SLOT: usize = 61;

/// `arc4random_buf`: fill `buf` from the entropy source of curvnet's kernel
/// (zeros only if no kernel is reachable, which no protocol path allows).
pub fn arc4random_buf(buf: &mut [u8]) {
    let r = crate::vnet::try_curvnet()
        .and_then(|v| v.registry())
        .and_then(|r| r.global::<KernRandom>(KERN_RANDOM_SLOT));
    match r {
        Some(r) => r.0.fill(buf),
        None => buf.fill(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sources_repeat_and_differ_by_seed() {
        let (a, b, c) = (
            SeededRandom::new(1),
            SeededRandom::new(1),
            SeededRandom::new(2),
        );
        let (mut x, mut y, mut z) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut w = [0u8; 20];
        a.fill(&mut w);
        assert_ne!(x, w);
    }
}
