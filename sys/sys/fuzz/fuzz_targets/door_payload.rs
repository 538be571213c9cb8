//! One door decoder picked by the first byte (see
//! `vimage_abi_fuzz::door::payload`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_abi_fuzz::door::payload(data));
