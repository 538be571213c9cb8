//! Any bytes as an `.imn` file (see `imunes_fuzz::imn::imn`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imunes_fuzz::imn::imn(data));
