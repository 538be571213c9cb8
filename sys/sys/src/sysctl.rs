//! sysctl(3) types and flags (sys/sys/sysctl.h), and the value encoding used on the wire.

use crate::wire::{Reader, Writer};
use crate::Errno;

/// An interior node.
pub const CTLTYPE_NODE: u32 = 1;
/// A C `int`.
pub const CTLTYPE_INT: u32 = 2;
/// A NUL-free string.
pub const CTLTYPE_STRING: u32 = 3;
/// A signed 64-bit integer.
pub const CTLTYPE_S64: u32 = 4;
/// An opaque structure.
pub const CTLTYPE_OPAQUE: u32 = 5;
/// A C `unsigned int`.
pub const CTLTYPE_UINT: u32 = 6;
/// A C `long`.
pub const CTLTYPE_LONG: u32 = 7;
/// A C `unsigned long`.
pub const CTLTYPE_ULONG: u32 = 8;
/// An unsigned 64-bit integer.
pub const CTLTYPE_U64: u32 = 9;

/// Readable.
pub const CTLFLAG_RD: u32 = 0x8000_0000;
/// Writable.
pub const CTLFLAG_WR: u32 = 0x4000_0000;
/// Readable and writable.
pub const CTLFLAG_RW: u32 = CTLFLAG_RD | CTLFLAG_WR;
/// Settable only from the boot loader.
pub const CTLFLAG_TUN: u32 = 0x0008_0000;
/// The variable is virtualized: reads and writes act on the caller's vnet.
pub const CTLFLAG_VNET: u32 = 0x0002_0000;

/// One sysctl value as it crosses the boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysctlValue {
    /// `CTLTYPE_INT` (also LONG/S64: the tool prints them the same way).
    Int(i64),
    /// `CTLTYPE_UINT` (also ULONG/U64).
    UInt(u64),
    /// `CTLTYPE_STRING`.
    Str(String),
    /// `CTLTYPE_OPAQUE` with its format string (e.g. `S,loadavg`).
    Opaque(String, Vec<u8>),
}

impl SysctlValue {
    /// Encode for the wire.
    pub fn encode(&self, w: &mut Writer) {
        match self {
            SysctlValue::Int(v) => {
                w.u32(CTLTYPE_INT).i64(*v);
            }
            SysctlValue::UInt(v) => {
                w.u32(CTLTYPE_UINT).u64(*v);
            }
            SysctlValue::Str(s) => {
                w.u32(CTLTYPE_STRING).str(s);
            }
            SysctlValue::Opaque(f, b) => {
                w.u32(CTLTYPE_OPAQUE).str(f).bytes(b);
            }
        }
    }
    /// Decode from the wire.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Errno> {
        Ok(match r.u32()? {
            CTLTYPE_INT => SysctlValue::Int(r.i64()?),
            CTLTYPE_UINT => SysctlValue::UInt(r.u64()?),
            CTLTYPE_STRING => SysctlValue::Str(r.str()?.to_string()),
            CTLTYPE_OPAQUE => SysctlValue::Opaque(r.str()?.to_string(), r.bytes()?.to_vec()),
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// What a sysctl read returns: the value, the node's flags and its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysctlReply {
    /// `CTLFLAG_*` bits of the node.
    pub flags: u32,
    /// The value before any write in the same request.
    pub value: SysctlValue,
    /// The one-line description (`sysctl -d`).
    pub descr: String,
}

impl SysctlReply {
    /// Encode for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.flags);
        self.value.encode(&mut w);
        w.str(&self.descr);
        w.finish()
    }
    /// Decode from the wire.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader::new(b);
        let flags = r.u32()?;
        let value = SysctlValue::decode(&mut r)?;
        let descr = r.str()?.to_string();
        r.end()?;
        Ok(SysctlReply {
            flags,
            value,
            descr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for v in [
            SysctlValue::Int(-3),
            SysctlValue::UInt(7),
            SysctlValue::Str("n1".into()),
            SysctlValue::Opaque("S,x".into(), vec![1, 2]),
        ] {
            let r = SysctlReply {
                flags: CTLFLAG_RW | CTLFLAG_VNET,
                value: v,
                descr: "d".into(),
            };
            assert_eq!(SysctlReply::from_bytes(&r.to_bytes()).unwrap(), r);
        }
        assert_eq!(SysctlReply::from_bytes(&[0; 3]), Err(Errno::EINVAL));
    }
}
