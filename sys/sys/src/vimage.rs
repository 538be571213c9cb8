//! The vimage management request (the 7.0 patch's `struct vi_req`) and its ioctls.

use crate::ioccom::{iow, iowr};
use crate::wire::{get_cstr, put_cstr};
use crate::{Errno, IFNAMSIZ, MAXHOSTNAMELEN};

/// Create a vimage.
pub const VI_CREATE: u32 = 0x0000_0001;
/// Destroy a vimage.
pub const VI_DESTROY: u32 = 0x0000_0002;
/// Move the calling process into a vimage.
pub const VI_SWITCHTO: u32 = 0x0000_0008;
/// Move an interface into a vimage.
pub const VI_IFACE: u32 = 0x0000_0010;
/// Get one vimage's counters.
pub const VI_GET: u32 = 0x0000_0100;
/// Get the next sibling.
pub const VI_GETNEXT: u32 = 0x0000_0200;
/// Get the next vimage in a depth-first walk of the caller's subtree.
pub const VI_GETNEXT_RECURSE: u32 = 0x0000_0300;

/// Version of the request layout; a mismatch is answered with `EDOOFUS`.
pub const VI_API_VERSION: u32 = 1;
/// The API cookie: struct size in the high half, version in the low half.
pub const VI_API_COOKIE: u32 = ((ViReq::SIZE as u32) << 16) | VI_API_VERSION;

/// `SIOCSPVIMAGE`: create / destroy / switch.
pub const SIOCSPVIMAGE: u32 = iow(b'i', 101, ViReq::SIZE);
/// `SIOCGPVIMAGE`: get / getnext / getnext-recurse.
pub const SIOCGPVIMAGE: u32 = iowr(b'i', 102, ViReq::SIZE);
/// `SIOCSIFVIMAGE`: move an interface.
pub const SIOCSIFVIMAGE: u32 = iowr(b'i', 103, ViReq::SIZE);

/// One vimage request or reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViReq {
    /// Must be [`VI_API_COOKIE`].
    pub api_cookie: u32,
    /// One of the `VI_*` actions.
    pub action: u32,
    /// Processes in the vimage (reply).
    pub proc_count: u32,
    /// Interfaces in the vimage (reply).
    pub if_count: u32,
    /// Sockets in the vimage's stack (reply).
    pub sock_count: u32,
    /// Most sockets the vimage may have, 0 for no limit of its own (reply;
    /// the 7.0 patch's `vi_maxsockets`, `security.vimage.maxsockets`).
    pub sock_max: u32,
    /// Vimage name, relative to the caller (`.` is the caller's own).
    pub name: String,
    /// Parent's name relative to the caller (reply; empty at the top).
    pub parent_name: String,
    /// Interface name (`VI_IFACE`; reply: the new name).
    pub if_xname: String,
    /// Requested new interface name (`VI_IFACE`, optional).
    pub if_newname: String,
}

impl Default for ViReq {
    fn default() -> Self {
        ViReq {
            api_cookie: VI_API_COOKIE,
            action: 0,
            proc_count: 0,
            if_count: 0,
            sock_count: 0,
            sock_max: 0,
            name: String::new(),
            parent_name: String::new(),
            if_xname: String::new(),
            if_newname: String::new(),
        }
    }
}

impl ViReq {
    /// Size of the fixed wire image.
    pub const SIZE: usize = 6 * 4 + 2 * MAXHOSTNAMELEN + 2 * IFNAMSIZ;

    /// A request for `action` on vimage `name`.
    pub fn new(action: u32, name: &str) -> Self {
        ViReq {
            action,
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Encode into the fixed image; `ENAMETOOLONG` if a name does not fit.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.api_cookie.to_le_bytes());
        b[4..8].copy_from_slice(&self.action.to_le_bytes());
        b[8..12].copy_from_slice(&self.proc_count.to_le_bytes());
        b[12..16].copy_from_slice(&self.if_count.to_le_bytes());
        b[16..20].copy_from_slice(&self.sock_count.to_le_bytes());
        b[20..24].copy_from_slice(&self.sock_max.to_le_bytes());
        let mut o = 24;
        put_cstr(&mut b[o..o + MAXHOSTNAMELEN], &self.name)?;
        o += MAXHOSTNAMELEN;
        put_cstr(&mut b[o..o + MAXHOSTNAMELEN], &self.parent_name)?;
        o += MAXHOSTNAMELEN;
        put_cstr(&mut b[o..o + IFNAMSIZ], &self.if_xname)?;
        o += IFNAMSIZ;
        put_cstr(&mut b[o..o + IFNAMSIZ], &self.if_newname)?;
        Ok(b)
    }

    /// Decode a wire image: `EINVAL` on a wrong size or unterminated name,
    /// `EDOOFUS` on an API cookie mismatch (as the 7.0 patch answers).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != Self::SIZE {
            return Err(Errno::EINVAL);
        }
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let api_cookie = u(0);
        if api_cookie != VI_API_COOKIE {
            return Err(Errno::EDOOFUS);
        }
        let mut o = 24;
        let name = get_cstr(&b[o..o + MAXHOSTNAMELEN])?.to_string();
        o += MAXHOSTNAMELEN;
        let parent_name = get_cstr(&b[o..o + MAXHOSTNAMELEN])?.to_string();
        o += MAXHOSTNAMELEN;
        let if_xname = get_cstr(&b[o..o + IFNAMSIZ])?.to_string();
        o += IFNAMSIZ;
        let if_newname = get_cstr(&b[o..o + IFNAMSIZ])?.to_string();
        Ok(ViReq {
            api_cookie,
            action: u(4),
            proc_count: u(8),
            if_count: u(12),
            sock_count: u(16),
            sock_max: u(20),
            name,
            parent_name,
            if_xname,
            if_newname,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut r = ViReq::new(VI_IFACE, "n1");
        r.if_xname = "ngeth0".into();
        r.proc_count = 3;
        r.sock_max = 7;
        let b = r.to_bytes().unwrap();
        assert_eq!(b.len(), ViReq::SIZE);
        assert_eq!(ViReq::from_bytes(&b).unwrap(), r);
    }

    #[test]
    fn bad_images() {
        let r = ViReq::new(VI_GET, ".");
        let mut b = r.to_bytes().unwrap();
        assert_eq!(ViReq::from_bytes(&b[1..]), Err(Errno::EINVAL));
        b[0] ^= 1;
        assert_eq!(ViReq::from_bytes(&b), Err(Errno::EDOOFUS));
        b[0] ^= 1;
        let o = 24;
        b[o..o + MAXHOSTNAMELEN].fill(b'a');
        assert_eq!(ViReq::from_bytes(&b), Err(Errno::EINVAL));
        let long = "x".repeat(MAXHOSTNAMELEN);
        assert_eq!(
            ViReq::new(VI_CREATE, &long).to_bytes(),
            Err(Errno::ENAMETOOLONG)
        );
    }
}
