#!/bin/bash
# make bench-tcp: the tutorial's "loopback TCP throughput" experiment, through
# the syscall door as a user runs it: tcpbench server and client are two
# processes over lo0 inside one vimage, on a kernel built with `options VIMAGE`
# and on one built without, booted in turns in the same session (rounds
# alternate which goes first); then two vimages joined by eifaces, and Linux's
# own stack (iperf3 over loopback, and over a veth pair between two network
# namespaces when root).  Prints one markdown table.
#
# With the two builds' tcp_loopback bench binaries as 3rd and 4th arguments,
# also the kernel's CPU cost per MB over lo0 measured on one thread (no
# scheduler noise), alternating the builds, best of ROUNDS each: the figure
# that shows the VIMAGE overhead itself.
#
# usage: bench-tcp.sh VIMAGE_BINDIR NOVIMAGE_BINDIR [VIMAGE_BENCH NOVIMAGE_BENCH]
#        (env: SECS, ROUNDS)
set -eu
VBIN=$(cd "$1" && pwd)
NBIN=$(cd "$2" && pwd)
VBENCH=${3:-}
NBENCH=${4:-}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-5}
TMP=$(mktemp -d)
KP=
NS=
cleanup() {
  [ -n "$KP" ] && kill "$KP" 2>/dev/null || true
  if [ -n "$NS" ]; then
    ip netns del vbench-a 2>/dev/null || true
    ip netns del vbench-b 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
export VIMAGE_SOCKET=$TMP/kernel.sock

# boot BINDIR: start that build's vkernel on our private socket.
boot() {
  rm -f "$VIMAGE_SOCKET"
  "$1/vkernel" -s "$VIMAGE_SOCKET" >"$TMP/vkernel.log" 2>&1 &
  KP=$!
  local i=0
  until "$1/sysctl" -n kern.ident >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "vkernel did not start" >&2; exit 1; }
    sleep 0.05
  done
}

halt() {
  kill "$KP" 2>/dev/null || true
  wait 2>/dev/null || true
  KP=
}

# vkernel's CPU time so far (user + system), in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$KP/stat"; }

# tcpbench BINDIR SERVER_PREFIX CLIENT_PREFIX HOST: the client's average
# Mbit/s, and the kernel's CPU microseconds per MB moved.
tcpbench() {
  local b=$1 sp=$2 cp=$3 host=$4 t0 t1 bytes mbps
  $sp "$b/tcpbench" -s >/dev/null 2>&1 &
  sleep 0.3
  t0=$(ticks)
  $cp "$b/tcpbench" -t "$SECS" "$host" >"$TMP/tb.out" 2>&1 || true
  t1=$(ticks)
  mbps=$(sed -n 's|.*min/avg/max/std-dev = [0-9.]*/\([0-9.]*\)/.*|\1|p' "$TMP/tb.out" | tail -1)
  bytes=$(sed -n 's|^\([0-9]*\) bytes sent.*|\1|p' "$TMP/tb.out" | tail -1)
  awk -v m="$mbps" -v b="$bytes" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f %.1f\n", m, (b > 0) ? t / hz * 1e6 / (b / 1e6) : 0}'
}

# lo0 inside one vimage: n1 on the VIMAGE kernel, the only stack otherwise.
lo_run() {
  local b=$1
  boot "$b"
  if [ "$("$b/sysctl" -n kern.ident)" = VIMAGE ]; then
    "$b/vimage" -c n1
    "$b/vimage" n1 ifconfig lo0 127.0.0.1 up
    tcpbench "$b" "$b/vimage n1" "$b/vimage n1" 127.0.0.1
  else
    tcpbench "$b" "" "" 127.0.0.1
  fi
  halt
}

# Linux's own stack, same write size as tcpbench (256 KiB).
iperf() {
  local sp=$1 cp=$2 host=$3
  $sp iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  sleep 0.3
  $cp iperf3 -c "$host" -p 5299 -t "$SECS" -l 262144 -f m 2>/dev/null |
    awk '/receiver/ {for (i = 1; i <= NF; i++) if ($(i+1) == "Mbits/sec") print $i}'
  wait 2>/dev/null || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

V=()
N=()
VC=()
NC=()
R=()
L=()
have_iperf=$(command -v iperf3 || true)
for r in $(seq 1 "$ROUNDS"); do
  # Linux's loopback in every round too: its own figure swings as much.
  if [ -n "$have_iperf" ]; then
    L+=("$(iperf "" "" 127.0.0.1)")
  fi
  if [ $((r % 2)) = 1 ]; then
    n=$(lo_run "$NBIN"); v=$(lo_run "$VBIN")
  else
    v=$(lo_run "$VBIN"); n=$(lo_run "$NBIN")
  fi
  V+=("${v% *}"); N+=("${n% *}"); VC+=("${v#* }"); NC+=("${n#* }")
  R+=("$(awk -v v="${v% *}" -v n="${n% *}" 'BEGIN {printf "%.3f", v / n}')")
  last=?
  [ ${#L[@]} = 0 ] || last=${L[${#L[@]} - 1]}
  echo "round $r: VIMAGE ${v% *} Mbit/s ${v#* } us/MB, no VIMAGE ${n% *} Mbit/s ${n#* } us/MB, Linux $last Mbit/s" >&2
done
vm=$(printf '%s\n' "${V[@]}" | median)
nm=$(printf '%s\n' "${N[@]}" | median)
vc=$(printf '%s\n' "${VC[@]}" | median)
nc=$(printf '%s\n' "${NC[@]}" | median)
rmin=$(printf '%s\n' "${R[@]}" | sort -n | head -1)
rmax=$(printf '%s\n' "${R[@]}" | sort -n | tail -1)

# One-thread CPU cost per MB: many short runs, the builds alternating (and
# which goes first alternating too), compared pair by pair, so that the
# machine's slow and fast spells hit both sides of a pair alike.
vcost=
ncost=
PAIRS=${PAIRS:-15}
if [ -n "$VBENCH" ] && [ -n "$NBENCH" ]; then
  VK=()
  NK=()
  KR=()
  for r in $(seq 1 "$PAIRS"); do
    if [ $((r % 2)) = 1 ]; then
      v=$("$VBENCH" cost | sed -n 's/^cost //p'); n=$("$NBENCH" cost | sed -n 's/^cost //p')
    else
      n=$("$NBENCH" cost | sed -n 's/^cost //p'); v=$("$VBENCH" cost | sed -n 's/^cost //p')
    fi
    VK+=("$v"); NK+=("$n")
    KR+=("$(awk -v v="$v" -v n="$n" 'BEGIN {printf "%.4f", v / n}')")
    echo "cost pair $r: VIMAGE $v, no VIMAGE $n us/MB" >&2
  done
  vcost=$(printf '%s\n' "${VK[@]}" | median)
  ncost=$(printf '%s\n' "${NK[@]}" | median)
  kratio=$(printf '%s\n' "${KR[@]}" | median)
  kq1=$(printf '%s\n' "${KR[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+3)/4)]}')
  kq3=$(printf '%s\n' "${KR[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((3*NR+3)/4)]}')
fi

# Two vimages joined by a pair of eifaces.
boot "$VBIN"
"$VBIN/ngctl" mkpeer eiface ether ether
"$VBIN/ngctl" mkpeer eiface ether ether
"$VBIN/ngctl" connect ngeth0: ngeth1: ether ether
"$VBIN/vimage" -c a
"$VBIN/vimage" -c b
"$VBIN/vimage" -i a ngeth0 >/dev/null
"$VBIN/vimage" -i b ngeth1 >/dev/null
"$VBIN/vimage" a ifconfig eth0 link 40:a:b:c:d:1
"$VBIN/vimage" a ifconfig eth0 10.55.0.1/24
"$VBIN/vimage" b ifconfig eth0 link 40:a:b:c:d:2
"$VBIN/vimage" b ifconfig eth0 10.55.0.2/24
eif=$(tcpbench "$VBIN" "$VBIN/vimage b" "$VBIN/vimage a" 10.55.0.2)
eif=${eif% *}
# The same with jumbo frames (ifconfig eth0 mtu 9000 on both ends).
"$VBIN/vimage" a ifconfig eth0 mtu 9000
"$VBIN/vimage" b ifconfig eth0 mtu 9000
eifj=$(tcpbench "$VBIN" "$VBIN/vimage b" "$VBIN/vimage a" 10.55.0.2)
eifj=${eifj% *}
halt

lnx_lo="(iperf3 not installed)"
lnx_veth="(iperf3 not installed)"
if [ -n "$have_iperf" ]; then
  lnx_lo=$(printf '%s\n' "${L[@]}" | median)
  if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    NS=1
    ip netns add vbench-a
    ip netns add vbench-b
    ip link add vbench0 type veth peer name vbench1
    ip link set vbench0 netns vbench-a
    ip link set vbench1 netns vbench-b
    ip -n vbench-a addr add 10.77.0.1/24 dev vbench0
    ip -n vbench-b addr add 10.77.0.2/24 dev vbench1
    ip -n vbench-a link set vbench0 up
    ip -n vbench-b link set vbench1 up
    lnx_veth=$(iperf "ip netns exec vbench-b" "ip netns exec vbench-a" 10.77.0.2)
  else
    lnx_veth="(needs root)"
  fi
fi

pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f %%", 100 * a / b}'; }
echo
echo "| kernel | path | Mbit/s | kernel CPU µs/MB |"
echo "|---|---|---|---|"
echo "| vkernel, VIMAGE | lo0 in one vimage, tcpbench (median of $ROUNDS) | $vm | $vc |"
echo "| vkernel, no VIMAGE | lo0, tcpbench (median of $ROUNDS) | $nm | $nc |"
echo "| vkernel, VIMAGE | two vimages joined by eifaces, tcpbench | $eif | |"
echo "| vkernel, VIMAGE | the same eifaces at MTU 9000 | $eifj | |"
echo "| Linux | loopback, iperf3 (median of $ROUNDS) | $lnx_lo | |"
echo "| Linux | veth pair between two netns, iperf3 | $lnx_veth | |"
echo
echo "VIMAGE / no VIMAGE throughput: $(awk -v v="$vm" -v n="$nm" 'BEGIN {printf "%.3f", v / n}') (medians; per round $rmin .. $rmax)"
echo "VIMAGE / no VIMAGE kernel CPU per MB: $(awk -v v="$vc" -v n="$nc" 'BEGIN {printf "%.3f", v / n}') (medians)"
if [ -n "$vcost" ]; then
  echo
  echo "| kernel | one thread, lo0, 64 KiB writes | kernel CPU µs/MB (median of $PAIRS) |"
  echo "|---|---|---|"
  echo "| vkernel, VIMAGE | in one vimage | $vcost |"
  echo "| vkernel, no VIMAGE | the only stack | $ncost |"
  echo
  echo "VIMAGE overhead (CPU per MB, median of $PAIRS paired runs): $(awk -v r="$kratio" 'BEGIN {printf "%+.1f %%", 100 * (r - 1)}') (quartiles $(awk -v r="$kq1" 'BEGIN {printf "%+.1f", 100 * (r - 1)}') .. $(awk -v r="$kq3" 'BEGIN {printf "%+.1f", 100 * (r - 1)}') %)"
fi
case $lnx_lo in
  [0-9]*) echo "vkernel lo0 (VIMAGE) / Linux loopback: $(pct "$vm" "$lnx_lo")" ;;
esac
