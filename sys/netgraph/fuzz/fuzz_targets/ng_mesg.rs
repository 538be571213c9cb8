//! Binary control messages, frames and time on a live netgraph space (see
//! `vimage_netgraph_fuzz::ng::mesg`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vimage_netgraph_fuzz::ng::mesg(data));
