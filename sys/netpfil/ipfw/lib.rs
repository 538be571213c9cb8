//! ipfw, the IP firewall (FreeBSD's sys/netinet/ipfw: ipfw2), per vnet.
//!
//! A loadable module (`kldload ipfw`) above IPv4 and IPv6: loading it
//! registers the IPFW vnet module, which gives every existing vnet, and
//! every one made later, its own chain holding only the default rule
//! `65535 deny ip from any to any`, hooks the chain on the vnet's pfil(9)
//! heads (so filtering is on at once), and takes the vnet's raw socket
//! `IP_FW_*` options (`V_ip_fw_ctl_ptr`).  ipfw(8) run inside a vimage
//! therefore edits that vimage's rules only; a packet meets the rules of the
//! vnet whose interface or socket it goes through.
//!
//! | file | what (FreeBSD's) |
//! |---|---|
//! | [`ip_fw2`] | the chain, rule evaluation (`ipfw_chk`), dynamic rules |
//! | [`ip_fw_pfil`] | the pfil hooks, reject notices |
//! | [`ip_fw_sockopt`] | `ipfw_ctl`: the socket options |
//! | [`ip_fw_table`] | lookup tables (`table(N)`) |
//! | [`ip_fw_log`] | log lines on the kernel console |
//!
//! The module's tunables are the `net.inet.ip.fw.*` sysctls (and with
//! INET6 `net.inet6.ip6.fw.*`), one value per vnet, added while it is
//! loaded.  The rule encoding is `vimage_abi::ip_fw`.

pub mod ip_fw2;
pub mod ip_fw_log;
pub mod ip_fw_pfil;
pub mod ip_fw_sockopt;
pub mod ip_fw_table;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use vimage_abi::sysctl::{SysctlValue, CTLFLAG_RD, CTLFLAG_RW, CTLFLAG_VNET};
use vimage_abi::Errno;
use vimage_kern::kern_linker::KldModule;
use vimage_kern::kern_sysctl::{int_of, Oid, SysctlTree};
use vimage_kern::vnet::{ModState, Vnet, VnetModInfo, VnetSymmap, VNET_MOD_INET, VNET_MOD_IPFW};
use vimage_kern::Kernel;

use ip_fw2::{VnetIpfw, IPFW_DYN_MAX_LIMIT, VNET_IPFW};

/// What loading prints on the kernel console (`ipfw_init`'s line, for a
/// module built without IPDIVERT, IPFIREWALL_FORWARD, IPFIREWALL_VERBOSE
/// and IPFIREWALL_DEFAULT_TO_ACCEPT).
pub const IPFW_LOAD_LINE: &str = if cfg!(feature = "inet6") {
    "ipfw2 (+ipv6) initialized, divert loadable, nat loadable, rule-based forwarding disabled, default to deny, logging disabled"
} else {
    "ipfw2 initialized, divert loadable, nat loadable, rule-based forwarding disabled, default to deny, logging disabled"
};

/// What unloading prints.
pub const IPFW_UNLOAD_LINE: &str = "IP firewall unloaded";

/// `vnet_ipfw_init`: the vnet's chain with the default rule, hooked on its
/// pfil heads, and its raw sockets' firewall options.
fn ipfw_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    let st = Arc::new(VnetIpfw::new());
    ip_fw_pfil::ipfw_hook()?;
    vimage_inet::VNET_INET.with(|i| i.ip_fw_ctl.replace(Some(ip_fw_sockopt::ipfw_ctl)));
    Ok(st)
}

/// `vnet_ipfw_uninit`: unhook; the chain and dynamic rules go with the state.
fn ipfw_idetach(_v: &Arc<Vnet>, s: &ModState) {
    ip_fw_pfil::ipfw_unhook();
    vimage_inet::VNET_INET.try_with(|i| i.ip_fw_ctl.replace(None));
    if let Some(st) = s.downcast_ref::<VnetIpfw>() {
        st.flush();
        st.tables.clear();
    }
}

fn sym_static_count(s: &(dyn std::any::Any + Send + Sync)) -> String {
    s.downcast_ref::<VnetIpfw>()
        .map(|st| st.static_count().to_string())
        .unwrap_or_default()
}

/// The modules ipfw needs attached first.
#[cfg(feature = "inet6")]
const IPFW_DEPENDS: &[usize] = &[VNET_MOD_INET, vimage_kern::vnet::VNET_MOD_INET6];
#[cfg(not(feature = "inet6"))]
const IPFW_DEPENDS: &[usize] = &[VNET_MOD_INET];

/// `VNET_MOD_DECLARE(IPFW, ipfw, ...)`.
pub static VNET_IPFW_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_IPFW,
    name: "ipfw",
    depends: IPFW_DEPENDS,
    iattach: ipfw_iattach,
    idetach: ipfw_idetach,
    ext: None,
    symmap: &[VnetSymmap {
        name: "static_count",
        get: sym_static_count,
    }],
};

/// A virtualized integer of the firewall: `field` of curvnet's
/// [`VnetIpfw`], writable within `min..=max` (`ENOENT` in a vnet the
/// firewall is not attached to).
fn add_fw_int(
    t: &SysctlTree,
    name: &str,
    descr: &'static str,
    field: fn(&VnetIpfw) -> &AtomicI64,
    min: i64,
    max: i64,
) {
    let _ = t.add(
        name,
        Oid {
            flags: CTLFLAG_RW | CTLFLAG_VNET,
            descr,
            handler: Arc::new(move |_, new| {
                let new = new.map(int_of).transpose()?;
                VNET_IPFW
                    .try_with(|st| {
                        let cell = field(st);
                        let old = cell.load(Ordering::Relaxed);
                        if let Some(n) = new {
                            if !(min..=max).contains(&n) {
                                return Err(Errno::EINVAL);
                            }
                            cell.store(n, Ordering::Relaxed);
                        }
                        Ok(SysctlValue::Int(old))
                    })
                    .unwrap_or(Err(Errno::ENOENT))
            }),
        },
    );
}

/// A read-only virtualized count of the firewall.
fn add_fw_count(t: &SysctlTree, name: &str, descr: &'static str, f: fn(&VnetIpfw) -> i64) {
    let _ = t.add(
        name,
        Oid {
            flags: CTLFLAG_RD | CTLFLAG_VNET,
            descr,
            handler: Arc::new(move |_, new| {
                if new.is_some() {
                    return Err(Errno::EPERM);
                }
                VNET_IPFW
                    .try_with(|st| Ok(SysctlValue::Int(f(st))))
                    .unwrap_or(Err(Errno::ENOENT))
            }),
        },
    );
}

/// The firewall's sysctls (`SYSCTL_NODE(_net_inet_ip, OID_AUTO, fw, ...)`),
/// all per vnet.
pub fn sysctl_init(t: &SysctlTree) {
    type Field = fn(&VnetIpfw) -> &AtomicI64;
    let int = i64::from(i32::MAX);
    let ints: [(&str, &'static str, Field, i64, i64); 15] = [
        ("enable", "Enable the firewall", |s| &s.fw_enable, 0, 1),
        (
            "one_pass",
            "Reinjected packets leave the firewall at once",
            |s| &s.one_pass,
            0,
            1,
        ),
        (
            "autoinc_step",
            "Numbering step of rules added without a number",
            |s| &s.autoinc_step,
            -int,
            int,
        ),
        (
            "verbose",
            "Log packets of log rules",
            |s| &s.verbose,
            0,
            int,
        ),
        (
            "verbose_limit",
            "Log lines per rule by default (0: no limit)",
            |s| &s.verbose_limit,
            0,
            int,
        ),
        (
            "dyn_buckets",
            "Hash size for dynamic rules",
            |s| &s.dyn_buckets,
            1,
            65536,
        ),
        (
            "dyn_max",
            "Most dynamic rules",
            |s| &s.dyn_max,
            0,
            IPFW_DYN_MAX_LIMIT,
        ),
        (
            "dyn_ack_lifetime",
            "Lifetime of established TCP dynamic rules (s)",
            |s| &s.dyn_ack_lifetime,
            0,
            int,
        ),
        (
            "dyn_syn_lifetime",
            "Lifetime of opening TCP dynamic rules (s)",
            |s| &s.dyn_syn_lifetime,
            0,
            int,
        ),
        (
            "dyn_fin_lifetime",
            "Lifetime of closing TCP dynamic rules (s)",
            |s| &s.dyn_fin_lifetime,
            0,
            int,
        ),
        (
            "dyn_rst_lifetime",
            "Lifetime of reset TCP dynamic rules (s)",
            |s| &s.dyn_rst_lifetime,
            0,
            int,
        ),
        (
            "dyn_udp_lifetime",
            "Lifetime of UDP dynamic rules (s)",
            |s| &s.dyn_udp_lifetime,
            0,
            int,
        ),
        (
            "dyn_short_lifetime",
            "Lifetime of other dynamic rules (s)",
            |s| &s.dyn_short_lifetime,
            0,
            int,
        ),
        (
            "dyn_keepalive",
            "Keep expiring TCP dynamic rules alive",
            |s| &s.dyn_keepalive,
            0,
            1,
        ),
        ("debug", "", |s| &s.verbose, 0, 0),
    ];
    // `debug` is gone from 7.x kernels: the last entry is not added.
    for (name, descr, field, min, max) in &ints[..ints.len() - 1] {
        add_fw_int(
            t,
            &format!("net.inet.ip.fw.{name}"),
            descr,
            *field,
            *min,
            *max,
        );
    }
    add_fw_count(
        t,
        "net.inet.ip.fw.static_count",
        "Rules in the chain, the default included",
        |s| s.static_count() as i64,
    );
    add_fw_count(t, "net.inet.ip.fw.dyn_count", "Dynamic rules now", |s| {
        s.dyn_count() as i64
    });
    add_fw_count(
        t,
        "net.inet.ip.fw.curr_dyn_buckets",
        "Hash size of the dynamic rules in use",
        VnetIpfw::curr_dyn_buckets,
    );
    if cfg!(feature = "inet6") {
        add_fw_int(
            t,
            "net.inet6.ip6.fw.enable",
            "Enable the firewall for IPv6",
            |s| &s.fw6_enable,
            0,
            1,
        );
        add_fw_int(
            t,
            "net.inet6.ip6.fw.deny_unknown_exthdrs",
            "Deny packets with unknown IPv6 extension headers",
            |s| &s.deny_unknown_exthdrs,
            0,
            1,
        );
    }
}

/// Take the sysctls away again.
fn sysctl_fini(t: &SysctlTree) {
    t.remove_prefix("net.inet.ip.fw");
    t.remove_prefix("net.inet6.ip6.fw");
}

/// `ipfw.ko`.
pub struct IpfwModule;

impl KldModule for IpfwModule {
    fn name(&self) -> &str {
        "ipfw"
    }
    fn load(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        k.registry().register(&[&VNET_IPFW_MODINFO])?;
        sysctl_init(&k.sysctl);
        ip_fw_log::console(IPFW_LOAD_LINE);
        Ok(())
    }
    fn unload(&self, k: &Arc<Kernel>) -> Result<(), Errno> {
        sysctl_fini(&k.sysctl);
        if let Err(e) = k.registry().deregister(VNET_MOD_IPFW) {
            sysctl_init(&k.sysctl);
            return Err(e);
        }
        ip_fw_log::console(IPFW_UNLOAD_LINE);
        Ok(())
    }
    fn size(&self) -> u64 {
        0x1_3000
    }
}
