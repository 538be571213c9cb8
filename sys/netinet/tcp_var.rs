//! TCP control blocks and per-vnet TCP state (FreeBSD's sys/netinet/tcp_var.h,
//! tcp_fsm.h, tcp_seq.h): the connection states, `struct tcpcb`, `struct
//! tcpstat`, the `net.inet.tcp.*` sysctls, and the VNET module "tcp".

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use vimage_abi::netinet_in::{InPcbInfo, ProtoStats};
use vimage_abi::Errno;

use super::tcp_subr::TcpTable;
use super::tcp_syncache::SynCache;
use vimage_kern::kern_sysctl::SysctlTree;
use vimage_kern::uipc_socket::{SoWakeup, SockBuf};
use vimage_kern::vnet::{ModState, Vnet, VnetKey, VnetModInfo, V, VNET_MOD_INET};

/// The TCP module's slot in a vnet (`VNET_MOD_TCP`).
pub const VNET_MOD_TCP: usize = 7;

/// Connection states (`TCPS_*`, in FreeBSD's order, as netstat prints them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// Closed.
    Closed = 0,
    /// Listening for connection.
    Listen = 1,
    /// Active, have sent SYN.
    SynSent = 2,
    /// Have sent and received SYN.
    SynReceived = 3,
    /// Established.
    Established = 4,
    /// Received FIN, waiting for close.
    CloseWait = 5,
    /// Have closed, sent FIN.
    FinWait1 = 6,
    /// Closed exchanged FIN; await FIN ACK.
    Closing = 7,
    /// Had FIN and close; await FIN ACK.
    LastAck = 8,
    /// Have closed, FIN is acked.
    FinWait2 = 9,
    /// In 2*MSL quiet wait after close.
    TimeWait = 10,
}

impl TcpState {
    /// `TCPS_HAVERCVDSYN`.
    pub fn have_rcvd_syn(self) -> bool {
        self >= TcpState::SynReceived
    }
    /// `TCPS_HAVEESTABLISHED`.
    pub fn have_established(self) -> bool {
        self >= TcpState::Established
    }
    /// Whether the peer's FIN has arrived (`TCPS_HAVERCVDFIN`).
    pub fn have_rcvd_fin(self) -> bool {
        matches!(
            self,
            TcpState::CloseWait | TcpState::Closing | TcpState::LastAck | TcpState::TimeWait
        )
    }
}

/// `SEQ_LT`.
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
/// `SEQ_LEQ`.
pub fn seq_leq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}
/// `SEQ_GT`.
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
/// `SEQ_GEQ`.
pub fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}
/// `SEQ_MAX`.
pub fn seq_max(a: u32, b: u32) -> u32 {
    if seq_gt(a, b) {
        a
    } else {
        b
    }
}

/// Timer slots of a connection (`TT_*`).
pub const TT_REXMT: usize = 0;
/// Persist (zero window probes).
pub const TT_PERSIST: usize = 1;
/// Keepalive, or connection-establishment limit.
pub const TT_KEEP: usize = 2;
/// 2*MSL (TIME_WAIT) and FIN_WAIT_2 limit.
pub const TT_2MSL: usize = 3;
/// Delayed ACK.
pub const TT_DELACK: usize = 4;
/// Number of timers.
pub const TT_NTIMERS: usize = 5;

/// `TF_ACKNOW`: send an ACK immediately.
pub const TF_ACKNOW: u32 = 0x1;
/// `TF_DELACK`: an ACK is owed, delayed.
pub const TF_DELACK: u32 = 0x2;
/// `TF_NODELAY`: `TCP_NODELAY`, no Nagle.
pub const TF_NODELAY: u32 = 0x4;
/// `TF_REQ_SCALE`: ask for window scaling.
pub const TF_REQ_SCALE: u32 = 0x20;
/// `TF_RCVD_SCALE`: the peer offered window scaling.
pub const TF_RCVD_SCALE: u32 = 0x40;
/// `TF_REQ_TSTMP`: ask for timestamps.
pub const TF_REQ_TSTMP: u32 = 0x80;
/// `TF_RCVD_TSTMP`: the peer offered timestamps.
pub const TF_RCVD_TSTMP: u32 = 0x100;
/// `TF_SACK_PERMIT`: both sides allow SACK.
pub const TF_SACK_PERMIT: u32 = 0x200;
/// `TF_SENTFIN`: our FIN has gone out.
pub const TF_SENTFIN: u32 = 0x400;
/// `TF_FASTRECOVERY`: in NewReno fast recovery.
pub const TF_FASTRECOVERY: u32 = 0x800;
/// `TF_FORCEDATA`: send one byte despite a zero window (persist probe).
pub const TF_FORCEDATA: u32 = 0x1000;
/// The socket was closed by its user (`SS_NOFDREF`).
pub const TF_NOFDREF: u32 = 0x2000;
/// `SBS_CANTSENDMORE`: shutdown(SHUT_WR) or close.
pub const TF_CANTSENDMORE: u32 = 0x4000;
/// The route's interface cuts segments for us (`CSUM_TSO`): send up to 64 KB
/// at a time.
pub const TF_TSO: u32 = 0x0100_0000;

/// A listening socket's queues (`so_incomp` lives in the syncache; `so_comp`).
pub struct ListenQ {
    /// `so_qlimit`.
    pub backlog: usize,
    /// Completed connections waiting for accept.
    pub comp: VecDeque<TcpcbRef>,
    /// Half-open connections (`struct syncache`).
    pub syncache: SynCache,
}

/// The connection's four-tuple: TCP's view of [`InpEndpoints`].
pub use super::in_pcb::InpEndpoints as TcpEndpoints;

/// `struct tcpcb`.
pub struct Tcpcb {
    /// Id in the vnet's table.
    pub id: u64,
    /// Self reference for timers.
    pub me: Weak<Mutex<Tcpcb>>,
    /// The vnet it lives in.
    pub vnet: Weak<Vnet>,
    /// Whether this is an AF_INET6 connection.
    pub v6: bool,
    /// `IN6P_IPV6_V6ONLY`: an AF_INET6 socket that never carries IPv4
    /// (cleared by `IPV6_V6ONLY` 0 before bind: IPv4-mapped addresses).
    pub v6only: bool,
    /// Addresses.
    pub ep: TcpEndpoints,
    /// `t_state`.
    pub state: TcpState,
    /// `t_flags` (`TF_*`).
    pub flags: u32,
    /// Send buffer (bytes from `snd_una` on).
    pub snd: Arc<SockBuf>,
    /// Receive buffer.
    pub rcv: Arc<SockBuf>,
    /// Sleepers of the socket.
    pub wake: Arc<SoWakeup>,
    /// `so_error`.
    pub so_error: Option<Errno>,
    /// `t_softerror`: the last ICMP error about this connection, reported if
    /// it times out (instead of `ETIMEDOUT`).
    pub t_softerror: Option<Errno>,
    /// Listen state.
    pub listen: Option<ListenQ>,
    /// `iss`.
    pub iss: u32,
    /// `snd_una`.
    pub snd_una: u32,
    /// `snd_nxt`.
    pub snd_nxt: u32,
    /// `snd_max`.
    pub snd_max: u32,
    /// `snd_wnd` (already scaled).
    pub snd_wnd: u32,
    /// `snd_wl1`.
    pub snd_wl1: u32,
    /// `snd_wl2`.
    pub snd_wl2: u32,
    /// `max_sndwnd`.
    pub max_sndwnd: u32,
    /// `irs`.
    pub irs: u32,
    /// `rcv_nxt`.
    pub rcv_nxt: u32,
    /// `rcv_adv`: highest sequence advertised.
    pub rcv_adv: u32,
    /// `t_maxseg`.
    pub t_maxseg: u32,
    /// `TCP_MAXSEG` as set by the user: a ceiling on [`Tcpcb::t_maxseg`].
    pub t_maxseg_user: Option<u32>,
    /// `snd_scale`.
    pub snd_scale: u8,
    /// `rcv_scale`.
    pub rcv_scale: u8,
    /// `request_r_scale`.
    pub request_r_scale: u8,
    /// `ts_recent`.
    pub ts_recent: u32,
    /// `ts_recent_age` (ns).
    pub ts_recent_age: u64,
    /// `snd_cwnd`.
    pub snd_cwnd: u32,
    /// `snd_ssthresh`.
    pub snd_ssthresh: u32,
    /// `snd_recover` (NewReno).
    pub snd_recover: u32,
    /// `t_dupacks`.
    pub t_dupacks: u32,
    /// `t_srtt` (ns; 0: no sample yet).
    pub t_srtt: u64,
    /// `t_rttvar` (ns).
    pub t_rttvar: u64,
    /// `t_rxtcur` (ns): current retransmission timeout.
    pub t_rxtcur: u64,
    /// `t_rxtshift`: backoff count.
    pub t_rxtshift: u32,
    /// `t_rtttime`: when the timed segment left (0: none timed).
    pub t_rtttime: u64,
    /// `t_rtseq`: the timed sequence number.
    pub t_rtseq: u32,
    /// `t_rcvtime`: last segment received (ns).
    pub t_rcvtime: u64,
    /// `t_sndrexmitpack`: data segments this connection retransmitted.
    pub t_sndrexmitpack: u32,
    /// Keepalive probes sent without answer.
    pub t_keepcnt: u32,
    /// `SO_KEEPALIVE`.
    pub keepalive: bool,
    /// Timer deadlines (ns).
    pub timers: [Option<u64>; TT_NTIMERS],
    /// The callout pending for this block's earliest timer (its time is
    /// `at()`), stopped when an earlier one supersedes it or the block
    /// closes.
    pub callout: Option<vimage_kern::kern_timeout::CalloutId>,
    /// Start (ns) of the current ACK-war window, and the rate-limited ACKs
    /// sent in it (see `tcp_ack_war_ok`).
    pub ack_war_start: u64,
    /// Rate-limited ACKs sent since [`Tcpcb::ack_war_start`].
    pub ack_war_cnt: u32,
    /// Receive autosizing: when this measurement round began (a timestamp
    /// echo, `rfbuf_ts`; 0: none running) and the bytes received since.
    pub rfbuf_ts: u32,
    /// Bytes received in the current autosizing round (`rfbuf_cnt`).
    pub rfbuf_cnt: u32,
    /// Out-of-order segments (`t_segq`): (seq, data, fin).
    pub segq: Vec<(u32, Vec<u8>, bool)>,
    /// SACK blocks the peer reported (the scoreboard), as (start, end).
    pub sackhint: Vec<(u32, u32)>,
    /// Last SACK blocks to report (most recent first).
    pub sack_blocks: Vec<(u32, u32)>,
}

/// A shared control block.
pub type TcpcbRef = Arc<Mutex<Tcpcb>>;

macro_rules! tcpstats {
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

tcpstats! {
    /// `struct tcpstat`.
    TcpStat {
        tcps_connattempt: "connections initiated",
        tcps_accepts: "connections accepted",
        tcps_connects: "connections established",
        tcps_drops: "connections dropped",
        tcps_conndrops: "embryonic connections dropped",
        tcps_closed: "conn. closed (includes drops)",
        tcps_segstimed: "segs where we tried to get rtt",
        tcps_rttupdated: "times we succeeded",
        tcps_delack: "delayed acks sent",
        tcps_timeoutdrop: "conn. dropped in rxmt timeout",
        tcps_rexmttimeo: "retransmit timeouts",
        tcps_persisttimeo: "persist timeouts",
        tcps_keeptimeo: "keepalive timeouts",
        tcps_keepprobe: "keepalive probes sent",
        tcps_keepdrops: "connections dropped in keepalive",
        tcps_sndtotal: "total packets sent",
        tcps_sndpack: "data packets sent",
        tcps_sndbyte: "data bytes sent",
        tcps_sndrexmitpack: "data packets retransmitted",
        tcps_sndrexmitbyte: "data bytes retransmitted",
        tcps_sndrexmitbad: "unnecessary packet retransmissions",
        tcps_sndacks: "ack-only packets sent",
        tcps_sndprobe: "window probes sent",
        tcps_sndurg: "packets sent with URG only",
        tcps_sndwinup: "window update-only packets sent",
        tcps_sndctrl: "control (SYN|FIN|RST) packets sent",
        tcps_rcvtotal: "total packets received",
        tcps_rcvpack: "packets received in sequence",
        tcps_rcvbyte: "bytes received in sequence",
        tcps_rcvbadsum: "packets received with ccksum errs",
        tcps_rcvbadoff: "packets received with bad offset",
        tcps_rcvmemdrop: "packets dropped for lack of memory",
        tcps_rcvshort: "packets received too short",
        tcps_rcvduppack: "duplicate-only packets received",
        tcps_rcvdupbyte: "duplicate-only bytes received",
        tcps_rcvpartduppack: "packets with some duplicate data",
        tcps_rcvpartdupbyte: "dup. bytes in part-dup. packets",
        tcps_rcvoopack: "out-of-order packets received",
        tcps_rcvoobyte: "out-of-order bytes received",
        tcps_rcvpackafterwin: "packets with data after window",
        tcps_rcvbyteafterwin: "bytes rcvd after window",
        tcps_rcvafterclose: "packets rcvd after \"close\"",
        tcps_rcvwinprobe: "rcvd window probe packets",
        tcps_rcvdupack: "rcvd duplicate acks",
        tcps_rcvacktoomuch: "rcvd acks for unsent data",
        tcps_rcvackpack: "rcvd ack packets",
        tcps_rcvackbyte: "bytes acked by rcvd acks",
        tcps_rcvwinupd: "rcvd window update packets",
        tcps_pawsdrop: "segments dropped due to PAWS",
        tcps_predack: "times hdr predict ok for acks",
        tcps_preddat: "times hdr predict ok for data pkts",
        tcps_persistdrop: "timeout in persist state",
        tcps_badsyn: "bogus SYN, e.g. premature ACK",
        tcps_mturesent: "resends due to MTU discovery",
        tcps_listendrop: "listen queue overflows",
        tcps_badrst: "ignored RSTs in the window",
        tcps_sc_added: "entry added to syncache",
        tcps_sc_retransmitted: "syncache entry was retransmitted",
        tcps_sc_dupsyn: "duplicate SYN packet",
        tcps_sc_dropped: "could not reply to packet",
        tcps_sc_completed: "successful extraction of entry",
        tcps_sc_bucketoverflow: "syncache per-bucket limit hit",
        tcps_sc_cacheoverflow: "syncache cache limit hit",
        tcps_sc_reset: "RST removed entry from syncache",
        tcps_sc_stale: "timed out or listen socket gone",
        tcps_sack_recovery_episode: "SACK recovery episodes",
        tcps_sack_rexmits: "SACK rexmit segments",
        tcps_sack_rcv_blocks: "SACK blocks (options) received",
        tcps_sack_send_blocks: "SACK blocks (options) sent",
        tcps_challenge_ack: "challenge ACKs sent (RFC 5961)",
    }
}

/// `struct vnet_inet` TCP part: tunables, statistics and control blocks of one
/// vnet.
pub struct VnetTcp {
    /// `net.inet.tcp.mssdflt`.
    pub mssdflt: AtomicI64,
    /// `net.inet.tcp.v6mssdflt`.
    pub v6mssdflt: AtomicI64,
    /// `net.inet.tcp.rfc1323`: window scaling and timestamps.
    pub rfc1323: AtomicI64,
    /// `net.inet.tcp.sack.enable`.
    pub sack_enable: AtomicI64,
    /// `net.inet.tcp.delayed_ack`.
    pub delayed_ack: AtomicI64,
    /// `net.inet.tcp.tso`: hand interfaces that offer it (`CSUM_TSO`)
    /// segments of up to 64 KB to cut.
    pub tso: AtomicI64,
    /// `net.inet.tcp.keepidle` (ms).
    pub keepidle: AtomicI64,
    /// `net.inet.tcp.keepintvl` (ms).
    pub keepintvl: AtomicI64,
    /// `net.inet.tcp.keepinit` (ms): connection establishment limit.
    pub keepinit: AtomicI64,
    /// `net.inet.tcp.msl` (ms).
    pub msl: AtomicI64,
    /// `net.inet.tcp.sendspace`.
    pub sendspace: AtomicI64,
    /// `net.inet.tcp.recvspace`.
    pub recvspace: AtomicI64,
    /// `net.inet.tcp.syncache.cachelimit`.
    pub sc_limit: AtomicI64,
    /// `net.inet.tcp.ack_war_timewindow` (ms).
    pub ack_war_timewindow: AtomicI64,
    /// `net.inet.tcp.ack_war_cnt`: rate-limited ACKs allowed per window.
    pub ack_war_cnt: AtomicI64,
    /// `net.inet.tcp.sendbuf_auto`: grow send buffers with the window.
    pub sendbuf_auto: AtomicI64,
    /// `net.inet.tcp.sendbuf_inc`.
    pub sendbuf_inc: AtomicI64,
    /// `net.inet.tcp.sendbuf_max`.
    pub sendbuf_max: AtomicI64,
    /// `net.inet.tcp.recvbuf_auto`: grow receive buffers with the data rate.
    pub recvbuf_auto: AtomicI64,
    /// `net.inet.tcp.recvbuf_inc`.
    pub recvbuf_inc: AtomicI64,
    /// `net.inet.tcp.recvbuf_max`.
    pub recvbuf_max: AtomicI64,
    /// `tcpstat`.
    pub stat: TcpStat,
    /// Control blocks (`tcbinfo`), IPv4 and IPv6 sharing one port space.
    pub tcb: TcpTable,
    /// The RFC 6528 secret of this vnet's initial sequence numbers, drawn
    /// from the kernel's entropy when the vnet is made (so no two vnets, and
    /// no two boots, share it).
    pub isn_secret: (u64, u64),
}

impl VnetTcp {
    fn new() -> Self {
        VnetTcp {
            // 7.x's TCP_MSS: 512.
            mssdflt: AtomicI64::new(512),
            v6mssdflt: AtomicI64::new(1220),
            rfc1323: AtomicI64::new(1),
            sack_enable: AtomicI64::new(1),
            delayed_ack: AtomicI64::new(1),
            tso: AtomicI64::new(1),
            keepidle: AtomicI64::new(7_200_000),
            keepintvl: AtomicI64::new(75_000),
            keepinit: AtomicI64::new(75_000),
            msl: AtomicI64::new(30_000),
            sendspace: AtomicI64::new(32_768),
            recvspace: AtomicI64::new(65_536),
            sc_limit: AtomicI64::new(512),
            ack_war_timewindow: AtomicI64::new(1000),
            ack_war_cnt: AtomicI64::new(5),
            sendbuf_auto: AtomicI64::new(1),
            sendbuf_inc: AtomicI64::new(8 * 1024),
            sendbuf_max: AtomicI64::new(256 * 1024),
            recvbuf_auto: AtomicI64::new(1),
            recvbuf_inc: AtomicI64::new(16 * 1024),
            recvbuf_max: AtomicI64::new(256 * 1024),
            stat: TcpStat::default(),
            tcb: TcpTable::default(),
            isn_secret: {
                let mut b = [0u8; 16];
                vimage_kern::kern_random::arc4random_buf(&mut b);
                let (k0, k1) = b.split_at(8);
                (
                    u64::from_le_bytes(k0.try_into().unwrap_or([0; 8])),
                    u64::from_le_bytes(k1.try_into().unwrap_or([0; 8])),
                )
            },
        }
    }

    /// A tunable as milliseconds converted to ns.
    pub fn ms(&self, v: &AtomicI64) -> u64 {
        (v.load(Ordering::Relaxed).max(1) as u64).saturating_mul(1_000_000)
    }
}

/// The TCP module's key: curvnet's TCP state, borrowed.
pub static VNET_TCP: VnetKey<VnetTcp> = VnetKey::new(VNET_MOD_TCP);

/// `V_` access to curvnet's TCP state.
pub fn vnet_tcp() -> Arc<VnetTcp> {
    V::<VnetTcp>(VNET_MOD_TCP)
}

/// curvnet's TCP state, if the module is attached there.
pub fn try_vnet_tcp() -> Option<Arc<VnetTcp>> {
    vimage_kern::vnet::with_curvnet(|v| v?.state::<VnetTcp>(VNET_MOD_TCP))
}

fn tcp_iattach(_v: &Arc<Vnet>) -> Result<ModState, Errno> {
    Ok(Arc::new(VnetTcp::new()))
}

fn tcp_idetach(_v: &Arc<Vnet>, s: &ModState) {
    if let Some(st) = s.downcast_ref::<VnetTcp>() {
        st.tcb.shutdown();
    }
}

/// `VNET_MOD_DECLARE(TCP, tcp, ...)`.
pub static VNET_TCP_MODINFO: VnetModInfo = VnetModInfo {
    id: VNET_MOD_TCP,
    name: "tcp",
    depends: &[VNET_MOD_INET],
    iattach: tcp_iattach,
    idetach: tcp_idetach,
    ext: None,
    symmap: &[],
};

/// `net.inet.tcp.pcblist` of curvnet: every connection, IPv4 and IPv6, as a
/// version 3 [`InPcbInfo`] list (protocol 6, with each connection's
/// `t_state`), which netstat decodes.  As in FreeBSD's one `tcbinfo`, an
/// IPv6 block is `INP_IPV6`, and `INP_IPV4` too while it is an unbound or
/// wildcard socket that also takes IPv4 (`tcp46`); a connection an IPv6
/// listener accepted from an IPv4 peer is an IPv4 block (`tcp4`).
pub fn tcp_pcblist() -> Vec<u8> {
    let Some(t) = try_vnet_tcp() else {
        return InPcbInfo::encode_list_v3(&[]);
    };
    let v: Vec<InPcbInfo> = t
        .tcb
        .list()
        .into_iter()
        .map(|(ep, cb)| {
            let (rcv_cc, snd_cc, tcp_state, is_v6, v6only) = cb
                .lock()
                .map(|tp| {
                    (
                        tp.rcv.cc() as u32,
                        tp.snd.cc() as u32,
                        Some(tp.state as u8),
                        tp.v6,
                        tp.v6only,
                    )
                })
                .unwrap_or((0, 0, None, false, true));
            let v4 = |a: IpAddr| match a {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            let ipv4 = |a: IpAddr| matches!(a, IpAddr::V4(x) if !x.is_unspecified());
            let inet6 = (is_v6 && !ipv4(ep.laddr) && !ipv4(ep.faddr)).then(|| {
                vimage_abi::netinet_in::Inet6Pcb {
                    laddr: v6(ep.laddr),
                    faddr: v6(ep.faddr),
                    v4_too: !v6only && ep.laddr.is_unspecified() && ep.faddr.is_unspecified(),
                }
            });
            InPcbInfo {
                proto: 6,
                laddr: v4(ep.laddr),
                lport: ep.lport,
                faddr: v4(ep.faddr),
                fport: ep.fport,
                rcv_cc,
                snd_cc,
                tcp_state,
                inet6,
            }
        })
        .collect();
    InPcbInfo::encode_list_v3(&v)
}

/// Every connection of curvnet with its state (IPv4 and IPv6), for tests and
/// tools: (endpoints, `t_state`, Recv-Q, Send-Q).
pub fn tcp_conns() -> Vec<(TcpEndpoints, TcpState, usize, usize)> {
    let Some(t) = try_vnet_tcp() else {
        return Vec::new();
    };
    t.tcb
        .list()
        .into_iter()
        .filter_map(|(ep, cb)| {
            let tp = cb.lock().ok()?;
            Some((ep, tp.state, tp.rcv.cc(), tp.snd.cc()))
        })
        .collect()
}

/// The `net.inet.tcp.*` sysctls (virtualized).
pub fn sysctl_init(t: &SysctlTree) {
    type Field = fn(&VnetTcp) -> &AtomicI64;
    let ints: [(&str, &'static str, Field, i64, i64); 21] = [
        (
            "net.inet.tcp.mssdflt",
            "Default TCP Maximum Segment Size",
            |s| &s.mssdflt,
            64,
            65535,
        ),
        (
            "net.inet.tcp.v6mssdflt",
            "Default TCP Maximum Segment Size for IPv6",
            |s| &s.v6mssdflt,
            64,
            65535,
        ),
        (
            "net.inet.tcp.rfc1323",
            "Enable rfc1323 (high performance TCP) extensions",
            |s| &s.rfc1323,
            0,
            1,
        ),
        (
            "net.inet.tcp.sack.enable",
            "Enable/Disable TCP SACK support",
            |s| &s.sack_enable,
            0,
            1,
        ),
        (
            "net.inet.tcp.delayed_ack",
            "Delay ACK to try and piggyback it onto a data packet",
            |s| &s.delayed_ack,
            0,
            1,
        ),
        (
            "net.inet.tcp.tso",
            "Enable TCP Segmentation Offload",
            |s| &s.tso,
            0,
            1,
        ),
        (
            "net.inet.tcp.keepidle",
            "time before keepalive probes begin",
            |s| &s.keepidle,
            1,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.keepintvl",
            "time between keepalive probes",
            |s| &s.keepintvl,
            1,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.keepinit",
            "time to establish connection",
            |s| &s.keepinit,
            1,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.msl",
            "Maximum segment lifetime",
            |s| &s.msl,
            1,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.sendspace",
            "Maximum outgoing TCP datagram size",
            |s| &s.sendspace,
            512,
            1 << 24,
        ),
        (
            "net.inet.tcp.recvspace",
            "Maximum incoming TCP datagram size",
            |s| &s.recvspace,
            512,
            1 << 24,
        ),
        (
            "net.inet.tcp.ack_war_timewindow",
            "Time interval in ms used to limit the number of ACKs in response to bad segments",
            |s| &s.ack_war_timewindow,
            0,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.ack_war_cnt",
            "Maximum number of ACKs in response to bad segments per time interval",
            |s| &s.ack_war_cnt,
            0,
            i64::from(i32::MAX),
        ),
        (
            "net.inet.tcp.sendbuf_auto",
            "Enable automatic send buffer sizing",
            |s| &s.sendbuf_auto,
            0,
            1,
        ),
        (
            "net.inet.tcp.sendbuf_inc",
            "Incrementor step size of automatic send buffer",
            |s| &s.sendbuf_inc,
            1,
            1 << 24,
        ),
        (
            "net.inet.tcp.sendbuf_max",
            "Max size of automatic send buffer",
            |s| &s.sendbuf_max,
            512,
            1 << 24,
        ),
        (
            "net.inet.tcp.recvbuf_auto",
            "Enable automatic receive buffer sizing",
            |s| &s.recvbuf_auto,
            0,
            1,
        ),
        (
            "net.inet.tcp.recvbuf_inc",
            "Incrementor step size of automatic receive buffer",
            |s| &s.recvbuf_inc,
            1,
            1 << 24,
        ),
        (
            "net.inet.tcp.recvbuf_max",
            "Max size of automatic receive buffer",
            |s| &s.recvbuf_max,
            512,
            1 << 24,
        ),
        (
            "net.inet.tcp.syncache.cachelimit",
            "Overall entry limit for syncache",
            |s| &s.sc_limit,
            1,
            1 << 20,
        ),
    ];
    for (name, descr, field, min, max) in ints {
        t.add_vnet_int::<VnetTcp>(name, descr, VNET_MOD_TCP, field, min, max);
    }
    super::add_vnet_opaque(
        t,
        "net.inet.tcp.stats",
        "TCP statistics",
        "S,tcpstat",
        || {
            try_vnet_tcp()
                .map(|s| s.stat.snapshot())
                .unwrap_or_default()
                .to_bytes()
        },
    );
    super::add_vnet_opaque(
        t,
        "net.inet.tcp.pcblist",
        "List of active TCP connections",
        "S,xtcpcb",
        tcp_pcblist,
    );
}
