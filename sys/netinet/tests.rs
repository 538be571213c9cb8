//! Kernel-level IPv4 tests: several vnets wired back to back on fake time.
