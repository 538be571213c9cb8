//! ipfw(8) (FreeBSD 7.0's sbin/ipfw): the firewall's control tool, talking
//! to the kernel through socket options of a raw IP socket.
//!
//! | module | what |
//! |---|---|
//! | [`ipfw2`] | the command line and the commands |
//! | [`parse`] | the rule compiler (`add`'s grammar) |
//! | [`show`] | how rules and dynamic rules print |

pub mod ipfw2;
pub mod parse;
pub mod show;
