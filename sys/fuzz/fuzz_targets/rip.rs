//! RIPv1/v2 datagrams through routed's decoders and router
//! (`vimage_kern_fuzz::rip::run_rip`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_kern_fuzz::rip::run_rip(data));
