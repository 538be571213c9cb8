//! Shared entry point of the netgraph fuzz targets.
//!
//! [`ng`] uses only `vimage_netgraph`, `vimage_abi` and `std`, so the stable
//! replay test `sys/netgraph/tests/corpus_replay.rs` includes the very same
//! file with `#[path]` and runs it over the corpus kept in `corpus/`.

pub mod ng;
