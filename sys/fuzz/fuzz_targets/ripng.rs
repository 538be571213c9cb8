//! RIPng datagrams through route6d's decoders and router
//! (`vimage_kern_fuzz::rip::run_ripng`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_kern_fuzz::rip::run_ripng(data));
