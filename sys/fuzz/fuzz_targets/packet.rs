//! Frames, time and socket calls on a booted sans-IO kernel (see
//! `vimage_kern_fuzz::packet::run`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_kern_fuzz::packet::run(data));
