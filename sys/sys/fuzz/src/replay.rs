//! Corpus replay on the stable toolchain: every file of a fuzz target's corpus,
//! and seeded mutations of each, through the target's entry point.
//!
//! Shared (by `#[path]`) by the replay tests of every fuzz crate in the tree:
//! `sys/sys/tests/corpus_replay.rs`, `sys/netgraph/tests/corpus_replay.rs` and
//! `sys/tests/corpus_replay.rs`.  Deterministic: a failure names the corpus file
//! and the mutation, and prints the input in hex so it can be saved and run with
//! `cargo +nightly fuzz run TARGET FILE`.  `FUZZ_REPLAY_MUTATIONS` changes the
//! number of mutations per file; `FUZZ_SEED` the seed.

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The fuzz tests' one generator.
pub use vimage_abi::testrand::Rng;

/// One mutation of `b`, in the spirit of libFuzzer's: bit flips, interesting
/// bytes and lengths, insertions, deletions, duplicated chunks, splices from
/// `other` (another corpus entry), truncation.
pub fn mutate(r: &mut Rng, b: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    for _ in 0..1 + r.below(4) {
        match r.below(10) {
            0 => {
                let n = r.below(v.len() + 1);
                v.truncate(n);
            }
            1 | 2 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
            3 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] = [0, 0xff, 0x7f, 0x80, 1, 2, b'{', b'"'][r.below(8)];
            }
            4 if v.len() >= 2 => {
                let i = r.below(v.len() - 1);
                let x = [0u16, 1, 0xff, 0x100, 0x7fff, 0xffff][r.below(6)];
                v[i..i + 2].copy_from_slice(&x.to_le_bytes());
            }
            5 if v.len() >= 4 => {
                let i = r.below(v.len() - 3);
                let x = [0u32, 1, 4, 0xffff, u32::MAX, 1 << 20, r.next() as u32][r.below(7)];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            6 => {
                let i = r.below(v.len() + 1);
                let n = r.below(9);
                let extra: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
                v.splice(i..i, extra);
            }
            7 if !v.is_empty() => {
                let i = r.below(v.len());
                let n = 1 + r.below((v.len() - i).min(16));
                v.drain(i..i + n);
            }
            8 if !v.is_empty() => {
                let i = r.below(v.len());
                let n = 1 + r.below((v.len() - i).min(64));
                let chunk = v[i..i + n].to_vec();
                let at = r.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ if !other.is_empty() => {
                // Crossover: our head, the other's tail.
                let i = r.below(v.len() + 1);
                let j = r.below(other.len());
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
            _ => v.push(r.next() as u8),
        }
    }
    v
}

/// The files of `dir`, sorted by name, with their names.
pub fn corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("corpus entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("corpus file"))
        })
        .collect();
    v.sort();
    v
}

/// Mutations per corpus file: `FUZZ_REPLAY_MUTATIONS`, else `default`.
pub fn mutations(default: usize) -> usize {
    std::env::var("FUZZ_REPLAY_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// Run `run` on every file of `dir` and on `n` mutations of each; panics with
/// the file, the mutation and the input when `run` does.  Returns the number of
/// inputs run.
pub fn replay(dir: &Path, salt: u64, n: usize, run: impl Fn(&[u8])) -> usize {
    let files = corpus(dir);
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    let mut r = Rng::new(salt);
    let mut count = 0;
    for (i, (name, b)) in files.iter().enumerate() {
        for k in 0..=n {
            let input = if k == 0 {
                b.clone()
            } else {
                let other = &files[r.below(files.len())].1;
                mutate(&mut r, b, other)
            };
            if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
                panic!(
                    "{}/{name} (file {i}), mutation {k}: input {}",
                    dir.display(),
                    hex(&input)
                );
            }
            count += 1;
        }
    }
    count
}

/// `CARGO_MANIFEST_DIR`-relative path.
pub fn path(manifest_dir: &str, rel: &str) -> PathBuf {
    Path::new(manifest_dir).join(rel)
}

/// Write generated seeds into `dir` when `FUZZ_WRITE_CORPUS` is set (how the
/// corpus in the tree was made); otherwise nothing.  The replay tests also run
/// the seeds themselves, so a seed made stale by an encoder change still runs.
pub fn write_seeds(dir: &Path, seeds: &[(String, Vec<u8>)]) {
    if std::env::var_os("FUZZ_WRITE_CORPUS").is_none() {
        return;
    }
    std::fs::create_dir_all(dir).expect("corpus dir");
    for (name, b) in seeds {
        std::fs::write(dir.join(name), b).expect("write seed");
    }
}
