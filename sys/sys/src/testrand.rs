//! Test support shared by every crate's deterministic fuzz tests (the ABI's
//! decoders, netgraph, the kernel layers, the tools): the one seeded
//! generator and a packet mutator, here in the lowest crate so that all can
//! use it.  No fuzzing engine or nightly toolchain is needed; `FUZZ_SEED`
//! varies the runs and `FUZZ_ITERS` their length (the cargo-fuzz targets
//! reuse the corpora these tests replay).  Not for anything that must be
//! unpredictable: the kernel's randomness is injected (`kern_random`).

/// A small deterministic generator (xorshift64): not secret, reproducible.
pub struct Rng(u64);

impl Rng {
    /// A generator for one test (`salt`), varied by `FUZZ_SEED` if set.
    pub fn new(salt: u64) -> Self {
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        Rng((seed ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// A generator from `seed` alone (the same draws in every run).
    pub fn from_seed(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    /// Up to `max` random bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.byte()).collect()
    }
    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Rounds per fuzz test: `FUZZ_ITERS`, else 100,000 (well under a second
/// each in a debug build).
pub fn rounds() -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// A mutation of `valid`: random bytes, bit flips, truncation, extension, or a
/// length field (`(offset, width)` in `len_fields`) set to an extreme.
pub fn mutate(rng: &mut Rng, valid: &[u8], len_fields: &[(usize, usize)]) -> Vec<u8> {
    let mut v = valid.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        match rng.below(7) {
            0 => {
                let n = rng.below(valid.len() + 16);
                v = (0..n).map(|_| rng.byte()).collect();
            }
            1 => {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] = rng.byte();
                }
            }
            3 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            4 => {
                for _ in 0..rng.below(32) {
                    v.push(rng.byte());
                }
            }
            _ => {
                if len_fields.is_empty() {
                    continue;
                }
                let (at, width) = len_fields[rng.below(len_fields.len())];
                let val: u64 = match rng.below(5) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => rng.below(8) as u64,
                    3 => valid.len() as u64 + rng.below(3) as u64,
                    _ => rng.next(),
                };
                let bytes = val.to_be_bytes();
                for k in 0..width {
                    if let Some(slot) = v.get_mut(at + k) {
                        *slot = bytes[8 - width + k];
                    }
                }
            }
        }
    }
    v
}

/// Parse a hex string (whitespace ignored) into bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| (c as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}
