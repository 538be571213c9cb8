//! `ngctl msg`: a command in ASCII converted, sent and answered (see
//! `vimage_netgraph_fuzz::ng::ascii`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_netgraph_fuzz::ng::ascii(data));
