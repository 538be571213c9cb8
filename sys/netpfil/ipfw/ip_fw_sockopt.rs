//! The firewall's control path (FreeBSD's `ipfw_ctl`): the `IP_FW_*`
//! options of a raw IP socket, decoded defensively and applied to the chain
//! of the socket's vnet.

use vimage_abi::ip_fw::*;
use vimage_abi::Errno;
use vimage_inet::raw_ip::SockOpt;

use crate::ip_fw2::VNET_IPFW;

/// `ipfw_ctl`, plugged into each vnet's IPv4 as `V_ip_fw_ctl_ptr`: runs with
/// curvnet set to the socket's vnet; the data a get answers with.
///
/// | option | argument | answer |
/// |---|---|---|
/// | `IP_FW_ADD` | one rule ([`IpFwRule`]) | the rule as stored |
/// | `IP_FW_GET` | none | [`IpFwGet`] |
/// | `IP_FW_DEL` | [`IpFwDel`] | none |
/// | `IP_FW_FLUSH` | none | none |
/// | `IP_FW_ZERO`, `IP_FW_RESETLOG` | none, or a rule number word | none |
/// | `IP_FW_TABLE_ADD`, `IP_FW_TABLE_DEL` | an [`IpFwTableEntry`] | none |
/// | `IP_FW_TABLE_FLUSH` | the table (`u16`) | none |
/// | `IP_FW_TABLE_GETSIZE` | the table | its entries (`u32`) |
/// | `IP_FW_TABLE_LIST` | the table | its entries |
///
/// Anything malformed is `EINVAL`; an unknown option is `EINVAL`, as
/// FreeBSD answers.
pub fn ipfw_ctl(sopt: &SockOpt<'_>) -> Result<Vec<u8>, Errno> {
    VNET_IPFW
        .try_with(|st| match sopt.name {
            IP_FW_GET => st.getrules().to_bytes(),
            IP_FW_ADD => {
                let r = IpFwRule::from_bytes(sopt.val)?;
                st.add_rule(&r)?.to_bytes()
            }
            IP_FW_DEL => {
                match IpFwDel::from_bytes(sopt.val)? {
                    IpFwDel::Cmd(a) => st.del_entry(a)?,
                    IpFwDel::Sets(d, e) => st.set_sets(d, e),
                }
                Ok(Vec::new())
            }
            IP_FW_FLUSH => {
                st.flush();
                Ok(Vec::new())
            }
            IP_FW_ZERO | IP_FW_RESETLOG => {
                st.zero_entry(ipfw_zero_arg(sopt.val)?, sopt.name == IP_FW_RESETLOG)?;
                Ok(Vec::new())
            }
            IP_FW_TABLE_ADD | IP_FW_TABLE_DEL => {
                let e = IpFwTableEntry::from_bytes(sopt.val)?;
                if sopt.name == IP_FW_TABLE_ADD {
                    st.tables.add(&e)?;
                } else {
                    st.tables.del(&e)?;
                }
                Ok(Vec::new())
            }
            IP_FW_TABLE_FLUSH => {
                st.tables.flush(ipfw_table_arg(sopt.val)?);
                Ok(Vec::new())
            }
            IP_FW_TABLE_GETSIZE => Ok(st
                .tables
                .count(ipfw_table_arg(sopt.val)?)
                .to_le_bytes()
                .to_vec()),
            IP_FW_TABLE_LIST => {
                let t = ipfw_table_arg(sopt.val)?;
                Ok(st
                    .tables
                    .list(t)
                    .iter()
                    .flat_map(|e| e.to_bytes())
                    .collect())
            }
            _ => Err(Errno::EINVAL),
        })
        .unwrap_or(Err(Errno::ENOPROTOOPT))
}
