//! Shared entry point of the kernel's fuzz target.
//!
//! [`packet`] uses only `vimage_kern`, `vimage_abi` and `std`, so the stable
//! replay test `sys/tests/corpus_replay.rs` includes the very same file with
//! `#[path]` and runs it over the corpus kept in `corpus/`.

pub mod packet;
