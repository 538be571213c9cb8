//! `vlan`: IEEE 802.1Q multiplexing.  `downstream` carries tagged frames; each
//! filter binds a hook to a VLAN ID (tag removed towards the hook, added towards
//! `downstream`); untagged or unknown frames go to `nomatch`, and frames from
//! `nomatch` go out `downstream` unchanged.

use std::any::Any;

use vimage_abi::netgraph::{NgMesg, NG_HOOKSIZ};
use vimage_abi::Errno;

use crate::ng_base::{Mbuf, NgCmd, NgCtx, NgNode, NgType, NodeId};
use crate::ng_parse::{self, NgField, NgParseType, NgValue};

/// Type cookie of `vlan`.
pub const NGM_VLAN_COOKIE: u32 = 1_068_486_472;
/// Command: bind a hook to a VLAN.
pub const NGM_VLAN_ADD_FILTER: u32 = 1;
/// Command: remove a hook's filter.
pub const NGM_VLAN_DEL_FILTER: u32 = 2;
/// Command: list filters.
pub const NGM_VLAN_GET_TABLE: u32 = 3;
/// The trunk hook.
pub const NG_VLAN_HOOK_DOWNSTREAM: &str = "downstream";
/// The hook for frames matching no filter.
pub const NG_VLAN_HOOK_NOMATCH: &str = "nomatch";

const ETHERTYPE_VLAN: u16 = 0x8100;

/// ASCII layout of one filter.
pub static VLAN_FILTER_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "hook",
        ty: NgParseType::FixedString(NG_HOOKSIZ),
    },
    NgField {
        name: "vlan",
        ty: NgParseType::U16,
    },
]);
/// ASCII layout of the filter table.
pub static VLAN_TABLE_TYPE: NgParseType = NgParseType::Struct(&[
    NgField {
        name: "n",
        ty: NgParseType::U32,
    },
    NgField {
        name: "filter",
        ty: NgParseType::VarArray(&VLAN_FILTER_TYPE, "n"),
    },
]);
static HOOKBUF: NgParseType = NgParseType::FixedString(NG_HOOKSIZ);

static CMDS: &[NgCmd] = &[
    NgCmd {
        cookie: NGM_VLAN_COOKIE,
        cmd: NGM_VLAN_ADD_FILTER,
        name: "addfilter",
        arg: Some(&VLAN_FILTER_TYPE),
        resp: None,
    },
    NgCmd {
        cookie: NGM_VLAN_COOKIE,
        cmd: NGM_VLAN_DEL_FILTER,
        name: "delfilter",
        arg: Some(&HOOKBUF),
        resp: None,
    },
    NgCmd {
        cookie: NGM_VLAN_COOKIE,
        cmd: NGM_VLAN_GET_TABLE,
        name: "gettable",
        arg: None,
        resp: Some(&VLAN_TABLE_TYPE),
    },
];

/// The `vlan` node type.
pub struct VlanType;

impl NgType for VlanType {
    /// Frames pass through untouched: offload work left stays for the far end.
    fn offload(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "vlan"
    }
    fn cookie(&self) -> u32 {
        NGM_VLAN_COOKIE
    }
    fn constructor(&self, _ctx: &mut NgCtx<'_>) -> Result<Box<dyn NgNode>, Errno> {
        Ok(Box::new(Vlan {
            filters: Vec::new(),
        }))
    }
    fn cmdlist(&self) -> &'static [NgCmd] {
        CMDS
    }
}

struct Vlan {
    /// (hook, vlan) in insertion order.
    filters: Vec<(String, u16)>,
}

impl NgNode for Vlan {
    fn newhook(&mut self, _ctx: &mut NgCtx<'_>, _name: &str) -> Result<(), Errno> {
        Ok(())
    }

    fn rcvmsg(
        &mut self,
        ctx: &mut NgCtx<'_>,
        msg: &NgMesg,
        _from: NodeId,
    ) -> Result<Option<Vec<u8>>, Errno> {
        if msg.header.typecookie != NGM_VLAN_COOKIE {
            return Err(Errno::EINVAL);
        }
        match msg.header.cmd {
            NGM_VLAN_ADD_FILTER => {
                let v = ng_parse::decode(&VLAN_FILTER_TYPE, &msg.data)?;
                let hook = v.str_at("hook");
                let vid = v.u64_at("vlan");
                if vid >= 4096 {
                    return Err(Errno::EINVAL);
                }
                if !ctx.has_hook(&hook) {
                    return Err(Errno::ENOENT);
                }
                if hook == NG_VLAN_HOOK_DOWNSTREAM || hook == NG_VLAN_HOOK_NOMATCH {
                    return Err(Errno::EINVAL);
                }
                if self
                    .filters
                    .iter()
                    .any(|(h, t)| *h == hook || u64::from(*t) == vid)
                {
                    return Err(Errno::EEXIST);
                }
                self.filters.push((hook, vid as u16));
                Ok(None)
            }
            NGM_VLAN_DEL_FILTER => {
                let hook = match ng_parse::decode(&HOOKBUF, &msg.data)? {
                    NgValue::Str(b) => String::from_utf8_lossy(&b).into_owned(),
                    _ => return Err(Errno::EINVAL),
                };
                if !ctx.has_hook(&hook) {
                    return Err(Errno::ENOENT);
                }
                let before = self.filters.len();
                self.filters.retain(|(h, _)| *h != hook);
                if self.filters.len() == before {
                    return Err(Errno::ENOENT);
                }
                Ok(None)
            }
            NGM_VLAN_GET_TABLE => {
                let items: Vec<_> = self
                    .filters
                    .iter()
                    .map(|(h, t)| {
                        NgValue::record(vec![
                            ("hook", NgValue::string(h)),
                            ("vlan", NgValue::Int(*t as i128)),
                        ])
                    })
                    .collect();
                let v = NgValue::record(vec![
                    ("n", NgValue::Int(items.len() as i128)),
                    ("filter", NgValue::Array(items)),
                ]);
                Ok(Some(ng_parse::encode(&VLAN_TABLE_TYPE, &v)?))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn rcvdata(&mut self, ctx: &mut NgCtx<'_>, hook: &str, mut frame: Mbuf) {
        if frame.len() < 14 {
            return;
        }
        match hook {
            NG_VLAN_HOOK_DOWNSTREAM => {
                let d = frame.data();
                let etype = u16::from_be_bytes([d[12], d[13]]);
                if etype == ETHERTYPE_VLAN && frame.len() >= 18 {
                    let vid = u16::from_be_bytes([d[14], d[15]]) & 0x0fff;
                    if let Some((h, _)) = self.filters.iter().find(|(_, t)| *t == vid) {
                        let h = h.clone();
                        frame.close_gap(12, 4);
                        let _ = ctx.send_data(&h, frame);
                        return;
                    }
                }
                let _ = ctx.send_data(NG_VLAN_HOOK_NOMATCH, frame);
            }
            NG_VLAN_HOOK_NOMATCH => {
                let _ = ctx.send_data(NG_VLAN_HOOK_DOWNSTREAM, frame);
            }
            _ => {
                let Some(&(_, vid)) = self.filters.iter().find(|(h, _)| h == hook) else {
                    return;
                };
                if let Some(tag) = frame.open_gap(12, 4) {
                    tag[..2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                    tag[2..].copy_from_slice(&vid.to_be_bytes());
                }
                let _ = ctx.send_data(NG_VLAN_HOOK_DOWNSTREAM, frame);
            }
        }
    }

    fn disconnect(&mut self, ctx: &mut NgCtx<'_>, hook: &str) {
        self.filters.retain(|(h, _)| h != hook);
        if ctx.num_hooks() == 0 {
            ctx.shutdown_self();
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn untagged() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x40, 0, 0, 0, 0, 1, 0x08, 0x00, 0xaa, 0xbb]);
        f
    }

    #[test]
    fn filters_tag_and_untag() {
        let (mut s, me) = space();
        mkpeer(&mut s, me, ".", "vlan", "trunk", "downstream").unwrap();
        name(&mut s, me, "trunk", "v").unwrap();
        connect(&mut s, me, ".", "v:", "nm", "nomatch").unwrap();
        connect(&mut s, me, ".", "v:", "h101", "vl101").unwrap();
        ascii(&mut s, me, "v:", "addfilter", "{ hook=\"vl101\" vlan=101 }").unwrap();
        assert_eq!(
            ascii(&mut s, me, "v:", "addfilter", "{ hook=\"vl101\" vlan=102 }").unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            ascii(
                &mut s,
                me,
                "v:",
                "addfilter",
                "{ hook=\"nohook\" vlan=102 }"
            )
            .unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            ascii(
                &mut s,
                me,
                "v:",
                "addfilter",
                "{ hook=\"vl101\" vlan=4096 }"
            )
            .unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            ascii(&mut s, me, "v:", "gettable", "").unwrap().unwrap(),
            "{ n=1 filter=[ { hook=\"vl101\" vlan=101 } ] }"
        );
        // hook → downstream gets a tag
        s.send_data(me, "h101", untagged()).unwrap();
        let out = frames(&s.take_output(), me, "trunk");
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][12..16], &[0x81, 0x00, 0, 101]);
        // tagged from downstream → untagged on the hook
        s.send_data(me, "trunk", out[0].clone()).unwrap();
        assert_eq!(frames(&s.take_output(), me, "h101"), vec![untagged()]);
        // untagged from downstream → nomatch; nomatch → downstream unchanged
        s.send_data(me, "trunk", untagged()).unwrap();
        assert_eq!(frames(&s.take_output(), me, "nm"), vec![untagged()]);
        s.send_data(me, "nm", untagged()).unwrap();
        assert_eq!(frames(&s.take_output(), me, "trunk"), vec![untagged()]);
        // delfilter
        ascii(&mut s, me, "v:", "delfilter", "\"vl101\"").unwrap();
        assert_eq!(
            ascii(&mut s, me, "v:", "delfilter", "\"vl101\"").unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            ascii(&mut s, me, "v:", "gettable", "").unwrap().unwrap(),
            "{ }"
        );
    }
}
