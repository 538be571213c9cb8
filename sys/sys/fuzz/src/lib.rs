//! Shared entry points of the vimage-abi fuzz targets.
//!
//! Each module is self-contained (it uses only `vimage_abi` and `std`), so the
//! stable replay tests in `sys/sys/tests/corpus_replay.rs` include the very same
//! files with `#[path]` and run them over the corpus kept in `corpus/`.

pub mod door;
pub mod replay;
