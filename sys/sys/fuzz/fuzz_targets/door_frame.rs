//! A door connection's byte stream: frames, requests and their payloads
//! (see `vimage_abi_fuzz::door::frame`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_abi_fuzz::door::frame(data));
