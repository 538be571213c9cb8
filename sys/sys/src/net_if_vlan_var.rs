//! 802.1Q VLAN interfaces (net/if_vlan_var.h): `struct vlanreq`, the ioctls
//! that carry it, and the tag's layout on the wire.
//!
//! `ifconfig vlan0 vlan 101 vlandev em0` sends a `vlanreq` naming the parent
//! and the tag with `SIOCSETVLAN`; `ifconfig vlan0 create vlan 101 vlandev
//! em0` sends it with `SIOCIFCREATE2`; `-vlandev` sends one with an empty
//! parent.  The door carries it after the ifreq (see
//! [`crate::net_if::ifr_data_cmd`]).  On the wire the header follows the
//! source MAC: `ETHERTYPE_VLAN` (0x8100), then the tag control word.

use crate::net_if::{ifr_data_cmd, SIOCGIFGENERIC, SIOCIFCREATE2, SIOCSIFGENERIC};
use crate::wire::{get_cstr, put_cstr};
use crate::{Errno, IFNAMSIZ};

/// Size of `struct vlanreq { char vlr_parent[IFNAMSIZ]; u_short vlr_tag; }`.
pub const VLANREQ_SIZE: usize = IFNAMSIZ + 2;

/// `SIOCSETVLAN` (= `SIOCSIFGENERIC`): configure or (empty parent)
/// unconfigure a vlan.
pub const SIOCSETVLAN: u32 = ifr_data_cmd(SIOCSIFGENERIC, VLANREQ_SIZE);
/// `SIOCGETVLAN` (= `SIOCGIFGENERIC`): a vlan's parent and tag.
pub const SIOCGETVLAN: u32 = ifr_data_cmd(SIOCGIFGENERIC, VLANREQ_SIZE);
/// `SIOCIFCREATE2` with a `vlanreq`: create a vlan already configured.
pub const SIOCIFCREATE2_VLAN: u32 = ifr_data_cmd(SIOCIFCREATE2, VLANREQ_SIZE);

/// Bytes an 802.1Q header adds to a frame (`ETHER_VLAN_ENCAP_LEN`).
pub const ETHER_VLAN_ENCAP_LEN: usize = 4;
/// The VLAN identifier bits of a tag control word (`EVL_VLID_MASK`).
pub const EVL_VLID_MASK: u16 = 0x0fff;

/// `EVL_VLANOFTAG`: the VLAN identifier of a tag control word (priority
/// and CFI bits dropped).
pub const fn evl_vlanoftag(tci: u16) -> u16 {
    tci & EVL_VLID_MASK
}

/// `struct vlanreq`: a vlan's parent interface (empty: none) and tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VlanReq {
    /// `vlr_parent`: the parent's name; empty to unconfigure.
    pub parent: String,
    /// `vlr_tag`: the 802.1Q VLAN identifier.
    pub tag: u16,
}

impl VlanReq {
    /// Encode the 18-byte image (`ENAMETOOLONG` for a parent name that does
    /// not fit).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; VLANREQ_SIZE];
        put_cstr(&mut b[..IFNAMSIZ], &self.parent)?;
        b[IFNAMSIZ..].copy_from_slice(&self.tag.to_le_bytes());
        Ok(b)
    }

    /// Decode an 18-byte image (`EINVAL` on a wrong size or an unterminated
    /// name).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        if b.len() != VLANREQ_SIZE {
            return Err(Errno::EINVAL);
        }
        let parent = get_cstr(&b[..IFNAMSIZ])?.to_string();
        let tag = u16::from_le_bytes([b[IFNAMSIZ], b[IFNAMSIZ + 1]]);
        Ok(VlanReq { parent, tag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioccom::iocparm_len;
    use crate::net_if::{ifreq_cmd, IFREQ_SIZE};

    #[test]
    fn vlanreq_round_trip() {
        let r = VlanReq {
            parent: "em0".into(),
            tag: 101,
        };
        let b = r.to_bytes().unwrap();
        assert_eq!(b.len(), 18);
        assert_eq!(&b[..4], b"em0\0");
        assert_eq!(&b[16..], &[101, 0]);
        assert_eq!(VlanReq::from_bytes(&b).unwrap(), r);
        assert_eq!(VlanReq::from_bytes(&b[1..]), Err(Errno::EINVAL));
        assert_eq!(VlanReq::from_bytes(&[b'x'; 18]), Err(Errno::EINVAL));
        assert_eq!(
            VlanReq {
                parent: "0123456789abcdef".into(),
                tag: 1
            }
            .to_bytes(),
            Err(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn commands_carry_ifreq_and_vlanreq() {
        for c in [SIOCSETVLAN, SIOCGETVLAN, SIOCIFCREATE2_VLAN] {
            assert_eq!(iocparm_len(c), IFREQ_SIZE + VLANREQ_SIZE);
        }
        assert_eq!(ifreq_cmd(SIOCSETVLAN), SIOCSIFGENERIC);
        assert_eq!(ifreq_cmd(SIOCGETVLAN), SIOCGIFGENERIC);
        assert_eq!(ifreq_cmd(SIOCIFCREATE2_VLAN), SIOCIFCREATE2);
        assert_eq!(evl_vlanoftag(0xe065), 101);
    }
}
