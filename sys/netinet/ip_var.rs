//! Protocol statistics of one vnet (`struct ipstat`, `icmpstat`, `udpstat`,
//! `arpstat`): what `netstat -s` prints, exported through `net.inet.*.stats`.

use std::sync::atomic::{AtomicU64, Ordering};
use vimage_abi::netinet_in::ProtoStats;

macro_rules! stats {
    ($(#[$m:meta])* $name:ident { $($f:ident : $d:literal,)* }) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        pub struct $name {
            $(#[doc = $d] pub $f: AtomicU64,)*
        }
        impl $name {
            /// The counters by their FreeBSD field names, in declaration order.
            pub fn snapshot(&self) -> ProtoStats {
                ProtoStats(vec![$((stringify!($f).to_string(), self.$f.load(Ordering::Relaxed)),)*])
            }
        }
    };
}

/// Add one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

stats! {
    /// `struct ipstat`.
    IpStat {
        ips_total: "total packets received",
        ips_badsum: "checksum bad",
        ips_tooshort: "packet too short",
        ips_toosmall: "not enough data",
        ips_badhlen: "ip header length < data size",
        ips_badlen: "ip length < ip header length",
        ips_fragments: "fragments received",
        ips_fragdropped: "frags dropped (dups, out of space)",
        ips_fragtimeout: "fragments timed out",
        ips_forward: "packets forwarded",
        ips_cantforward: "packets rcvd for unreachable dest",
        ips_redirectsent: "packets forwarded on same net",
        ips_noproto: "unknown or unsupported protocol",
        ips_delivered: "datagrams delivered to upper level",
        ips_localout: "total ip packets generated here",
        ips_odropped: "lost packets due to nobufs, etc.",
        ips_reassembled: "total packets reassembled ok",
        ips_fragmented: "datagrams successfully fragmented",
        ips_ofragments: "output fragments created",
        ips_cantfrag: "don't fragment flag was set, etc.",
        ips_badoptions: "error in option processing",
        ips_noroute: "packets discarded due to no route",
        ips_badvers: "ip version != 4",
        ips_rawout: "total raw ip packets generated",
        ips_toolong: "ip length > max ip packet size",
        ips_notmember: "multicasts for unregistered grps",
        ips_nogif: "no match gif found",
        ips_badaddr: "invalid address on header",
        ips_timeexceeded: "packets whose TTL expired in transit (vimage)",
    }
}

stats! {
    /// `struct icmpstat` without its histograms (kept in [`IcmpStat::outhist`] and
    /// [`IcmpStat::inhist`]).
    IcmpStat {
        icps_error: "calls to icmp_error",
        icps_oldshort: "no error 'cuz old ip too short",
        icps_oldicmp: "no error 'cuz old was icmp",
        icps_badcode: "icmp_code out of range",
        icps_tooshort: "packet < ICMP_MINLEN",
        icps_checksum: "bad checksum",
        icps_badlen: "calculated bound mismatch",
        icps_reflect: "number of responses",
        icps_bmcastecho: "b/mcast echo requests dropped",
        icps_bmcasttstamp: "b/mcast tstamp requests dropped",
        icps_badaddr: "bad return address",
        icps_noroute: "no route back",
        icps_ratelimited: "responses suppressed by icmplim",
    }
}

stats! {
    /// `struct udpstat`.
    UdpStat {
        udps_ipackets: "total input packets",
        udps_hdrops: "packet shorter than header",
        udps_badsum: "checksum error",
        udps_nosum: "no checksum",
        udps_badlen: "data length larger than packet",
        udps_noport: "no socket on port",
        udps_noportbcast: "of above, arrived as broadcast",
        udps_fullsock: "not delivered, input socket full",
        udps_opackets: "total output packets",
    }
}

stats! {
    /// ARP counters (`struct arpstat` of later FreeBSD).
    ArpStat {
        txrequests: "# of ARP requests sent",
        txreplies: "# of ARP replies sent",
        rxrequests: "# of ARP requests received",
        rxreplies: "# of ARP replies received",
        received: "# of ARP packets received",
        dropped: "# of packets dropped waiting for a reply",
        timeouts: "# of entries that timed out",
        dupips: "# of duplicate IPs detected",
        bad: "# of malformed ARP packets",
        ignored: "# of ARP packets for someone else",
        movedaddr: "# of entries whose address changed",
    }
}

/// ICMP type histogram (`icps_outhist` / `icps_inhist`).
#[derive(Debug)]
pub struct IcmpHist(pub [AtomicU64; 41]);

impl Default for IcmpHist {
    fn default() -> Self {
        IcmpHist(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl IcmpHist {
    /// Count one message of `ty` (types beyond 40 are not counted).
    pub fn inc(&self, ty: u8) {
        if let Some(c) = self.0.get(usize::from(ty)) {
            inc(c);
        }
    }
    /// The count of type `ty`.
    pub fn get(&self, ty: u8) -> u64 {
        self.0
            .get(usize::from(ty))
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }
    fn append(&self, prefix: &str, out: &mut ProtoStats) {
        for (i, c) in self.0.iter().enumerate() {
            let v = c.load(Ordering::Relaxed);
            if v != 0 {
                out.0.push((format!("{prefix}.{i}"), v));
            }
        }
    }
}

/// ICMP counters and histograms of one vnet.
#[derive(Default, Debug)]
pub struct IcmpStats {
    /// The scalar counters.
    pub st: IcmpStat,
    /// Messages sent, by type.
    pub outhist: IcmpHist,
    /// Messages received, by type.
    pub inhist: IcmpHist,
}

impl IcmpStats {
    /// Counters, then the non-zero histogram slots.
    pub fn snapshot(&self) -> ProtoStats {
        let mut s = self.st.snapshot();
        self.outhist.append("icps_outhist", &mut s);
        self.inhist.append("icps_inhist", &mut s);
        s
    }
}
