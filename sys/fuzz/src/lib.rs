//! Shared entry points of the kernel's fuzz targets (and of the RIP
//! daemons' decoders, [`rip`], replayed by `lib/librip/tests/corpus_replay.rs`).
//!
//! [`packet`] uses only `vimage_kern`, `vimage_abi` and `std`, so the stable
//! replay test `sys/tests/corpus_replay.rs` includes the very same file with
//! `#[path]` and runs it over the corpus kept in `corpus/`.

pub mod packet;
pub mod rip;
