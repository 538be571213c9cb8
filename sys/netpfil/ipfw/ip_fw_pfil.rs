//! The firewall on the packet path (FreeBSD's netinet/ip_fw_pfil.c): the
//! pfil(9) hooks ipfw puts on each vnet's IPv4 and IPv6 heads, and the
//! notices `reject`, `unreach` and `reset` send.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use vimage_abi::ip_fw::{ICMP_REJECT_RST, TH_RST};
use vimage_abi::Errno;
use vimage_net::if_var::Ifnet;
use vimage_net::pfil::{
    pfil_add_hook, pfil_remove_hook, PfilAf, PfilDir, PfilFunc, PfilHook, PfilPacket, PfilVerdict,
    PFIL_IN, PFIL_OUT,
};

use crate::ip_fw2::{ipfw_chk, ipfw_chk_frame, FwVerdict, Pkt, VNET_IPFW};

/// The name ipfw's hooks go by on the heads.
const HOOK: &str = "ipfw";

/// `ipfw_check_in`/`ipfw_check_out` for IPv4: curvnet's chain decides,
/// unless `net.inet.ip.fw.enable` is 0.
fn ipfw_check(p: &PfilPacket<'_>) -> PfilVerdict {
    check(p, false)
}

/// The IPv6 hooks (`net.inet6.ip6.fw.enable`).
fn ipfw6_check(p: &PfilPacket<'_>) -> PfilVerdict {
    check(p, true)
}

fn check(p: &PfilPacket<'_>, v6: bool) -> PfilVerdict {
    VNET_IPFW
        .try_with(|st| {
            let on = if v6 { &st.fw6_enable } else { &st.fw_enable };
            if on.load(Ordering::Relaxed) == 0 {
                return PfilVerdict::Pass;
            }
            match ipfw_chk(st, p.data, v6, p.dir, p.ifp) {
                FwVerdict::Pass => PfilVerdict::Pass,
                FwVerdict::Deny => PfilVerdict::Drop,
            }
        })
        .unwrap_or(PfilVerdict::Pass)
}

/// `ether_ipfw_chk`: an Ethernet frame in `ether_demux` or
/// `ether_output_frame` (the link head runs only while
/// `net.link.ether.ipfw` is 1); `net.inet.ip.fw.enable` does not apply
/// here, as in FreeBSD 7.
fn ipfw_check_l2(p: &PfilPacket<'_>) -> PfilVerdict {
    VNET_IPFW
        .try_with(|st| match ipfw_chk_frame(st, p.data, p.dir, p.ifp) {
            FwVerdict::Pass => PfilVerdict::Pass,
            FwVerdict::Deny => PfilVerdict::Drop,
        })
        .unwrap_or(PfilVerdict::Pass)
}

/// The heads ipfw hooks on, and its function on each.
fn hooks() -> Vec<(PfilAf, PfilHook)> {
    let flags = PFIL_IN | PFIL_OUT;
    let h = |func| PfilHook {
        name: HOOK,
        func,
        flags,
    };
    let mut v = vec![(PfilAf::Inet, h(ipfw_check as PfilFunc))];
    if cfg!(feature = "inet6") {
        v.push((PfilAf::Inet6, h(ipfw6_check)));
    }
    v.push((PfilAf::Link, h(ipfw_check_l2)));
    v
}

/// `ipfw_hook`: put the hooks on curvnet's heads (both directions: IPv4,
/// with INET6 IPv6, and Ethernet for layer 2); all or none.
pub fn ipfw_hook() -> Result<(), Errno> {
    let hs = hooks();
    for (i, (af, h)) in hs.iter().enumerate() {
        if let Err(e) = pfil_add_hook(*af, *h) {
            for (af, _) in &hs[..i] {
                let _ = pfil_remove_hook(*af, HOOK);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `ipfw_unhook`: take them off again.
pub fn ipfw_unhook() {
    for (af, _) in hooks() {
        let _ = pfil_remove_hook(af, HOOK);
    }
}

/// ICMP types that are queries (a reject answers those, never errors).
fn is_icmp_query(t: u8) -> bool {
    matches!(t, 8 | 10 | 13 | 15 | 17)
}

/// `send_reject`: for an IPv4 packet, not a fragment past the first, not
/// multicast, not an ICMP error: a TCP RST for `reset` (a TCP segment that
/// is not itself a RST), else an ICMP unreachable with `code`.  IPv6 packets
/// are only dropped (`unreach6` is not implemented).
pub fn send_reject(p: &Pkt<'_>, code: u16, dir: PfilDir, ifp: &Arc<Ifnet>) {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (p.src, p.dst) else {
        return;
    };
    if !p.ip {
        return;
    }
    if p.offset != 0
        || dst.is_multicast()
        || (p.proto == 1 && !p.icmp.is_some_and(|(t, _)| is_icmp_query(t)))
    {
        return;
    }
    if code == ICMP_REJECT_RST {
        let Some((flags, seq, ack, dlen)) = p.tcp else {
            return;
        };
        if p.proto != 6 || flags & TH_RST != 0 {
            return;
        }
        // From the packet's destination back to its source.
        let ep = vimage_inet::in_pcb::InpEndpoints {
            laddr: dst.into(),
            lport: p.dport,
            faddr: src.into(),
            fport: p.sport,
            zone: 0,
        };
        let seglen = dlen + u32::from(flags & 0x02 != 0) + u32::from(flags & 0x01 != 0);
        vimage_inet::tcp_subr::tcp_reset_for(&ep, flags, seq, ack, seglen);
        return;
    }
    let rcvif = (dir == PfilDir::In).then_some(ifp);
    vimage_inet::icmp_input::icmp_error(p.data, rcvif, 3, code as u8, 0);
}
