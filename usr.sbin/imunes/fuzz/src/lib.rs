//! Entry point of the imunes fuzz target.
//!
//! Self-contained (it uses only `imunes` and `std`), so the stable replay
//! test in `usr.sbin/imunes/tests/corpus_replay.rs` includes the very same
//! file with `#[path]` and runs it over the corpus kept in `corpus/`.

pub mod imn;
