#!/bin/sh
# make demo, part 1: the tutorial's Demo 1 ("network simulation / emulation").
# Boot a VIMAGE kernel, build the slides' IMUNES topology (routers e0_n0,
# e0_n1, e0_n2 with RIP and RIPng daemons, hosts e0_n3 and e0_n4, ng_pipe
# links), look inside a node as the slides do, traceroute across, break a
# link as IMUNES does (ng_pipe BER), watch RIP reroute, restore, tear down.
# As root, the slides' link to the outside world is added too (a veth pair
# standing in for the laptop's em0, its far end in a network namespace).
# Every tool is ours, by path: never the host's ping, traceroute or ps.
set -eu
BIN=$(cd "$1" && pwd)
TOP=$(cd "$(dirname "$0")/.." && pwd)
: "${VIMAGE_SOCKET:?}"
export VIMAGE_SOCKET
# Lab timers: RIP updates every 3 s, routes time out after 18 s (routed's
# and route6d's -P timescale=10, which imunes passes on).
export IMUNES_RIP_PARMS=timescale=10
# Linux's own ping, for the external host in its namespace (found before
# our tools go first in PATH).
HOSTPING=$(command -v ping || true)
PATH="$BIN:$PATH"
export PATH
say() { echo "tpx32# $*"; }
t() { say "$*"; "$@"; }
# In node N, as `vimage e0_N CMD` (the slides' "Switched to vimage e0_n1").
node() { n=$1; shift; echo "$n# $*"; "$BIN/vimage" "e0_$n" "$@"; }

# until SECS MSG CMD...: run CMD every half second until it succeeds,
# printing a dot a second; fail after SECS.
until_ok() {
  secs=$1; msg=$2; shift 2
  printf '%s' "# $msg "
  i=0
  while ! "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge $((secs * 2)) ]; then echo " gave up after ${secs} s"; return 1; fi
    [ $((i % 2)) -eq 0 ] && printf '.'
    sleep 0.5
  done
  echo " after $((i / 2)) s"
}
# route_via NODE DST GW: NODE's route to DST goes through GW.
route_via() {
  "$BIN/vimage" "e0_$1" netstat -rnf inet | grep -q "^$2 *$3 *UG1"
}

# The kernel's console (its messages) goes to a file of our own.
CONSOLE=$(mktemp "${TMPDIR:-/tmp}/vkernel-demo1.XXXXXX")
"$BIN/vkernel" -s "$VIMAGE_SOCKET" > "$CONSOLE" 2>&1 &
KPID=$!
NS=
cleanup() {
  rm -f "$CONSOLE"
  "$BIN/imunes" -b -e e0 >/dev/null 2>&1 || true
  kill $KPID 2>/dev/null || true
  if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; ip link del "$VH" 2>/dev/null || true; fi
}
trap cleanup EXIT
i=0
while ! "$BIN/vimage" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "vkernel did not start" >&2; exit 1; }
  sleep 0.05
done

# (An experiment e0 left over by an interrupted run on this socket goes.)
"$BIN/imunes" -b -e e0 >/dev/null 2>&1 || true

echo
echo "### Demo 1: network simulation / emulation"
echo "# (share/examples/imunes/demo1.imn: the slides' topology; n1's eth0 is 10.0.1.2)"
t imunes -b -e e0 "$TOP/share/examples/imunes/demo1.imn"
# Converged: n1 reaches n3's networks through n0, n0 n4's through n1.
converged() {
  route_via n1 10.0.3.0/24 10.0.1.1 && route_via n0 10.0.4.0/24 10.0.1.2 &&
    "$BIN/vimage" e0_n1 netstat -rnf inet6 | grep -q "^a:3::/64 .*UG1" &&
    "$BIN/vimage" e0_n0 netstat -rnf inet6 | grep -q "^a:4::/64 .*UG1"
}
until_ok 60 "waiting for RIP to converge" converged

echo
echo "### Under the hood: vimages"
say "vimage -l | fgrep -v CPU | fgrep -v limit"
"$BIN/vimage" -l | grep -F -v CPU | grep -F -v limit
say "vimage e0_n1"
echo "Switched to vimage e0_n1"
node n1 ifconfig
node n1 netstat -rnf inet
node n1 netstat -af inet
node n1 ps -ax
say "ngctl l"
"$BIN/ngctl" l

echo
echo "### Traffic: n4 (10.0.4.2) to n3 (10.0.3.2), through n1 and n0"
node n4 ping -c 2 10.0.3.2
node n4 traceroute -n 10.0.3.2 2>&1
node n4 traceroute6 -n a:3::2 2>&1

echo
echo "### Rerouting: the n1-n0 link breaks (its ng_pipe drops every frame)"
t ngctl msg e0_n1-n0: setcfg "{ upstream={ BER=1 } downstream={ BER=1 } }"
node n4 ping -c 1 -W 1000 10.0.3.2 || true
until_ok 60 "waiting for n1's route through n0 to time out and RIP to reroute via n2" \
  route_via n1 10.0.3.0/24 10.0.2.2
node n1 netstat -rnf inet
node n4 traceroute -n 10.0.3.2 2>&1
echo "# the link comes back"
# (in ng_pipe's setcfg 0 leaves a value as it is; -1 turns it off)
t ngctl msg e0_n1-n0: setcfg "{ upstream={ BER=-1 } downstream={ BER=-1 } }"
until_ok 60 "waiting for RIP to prefer the short way again" \
  route_via n1 10.0.3.0/24 10.0.1.1
node n4 traceroute -n 10.0.3.2 2>&1

echo
echo "### Connecting to the external world: eth3 in n0 (192.168.200.1) on em0"
if [ "$(id -u)" -ne 0 ]; then
  echo "# skipped: attaching a host interface needs root (run make demo as root)"
elif ! command -v ip >/dev/null 2>&1 || [ -z "$HOSTPING" ]; then
  echo "# skipped: iproute2's ip or Linux's ping is not installed"
else
  # em0 is one end of a veth pair; the "external" host 192.168.200.2 is
  # the other end, in a network namespace of its own.
  # (Names of this run's own, so two runs never meet.)
  NS=vkdemo$$ VH=vkd$$h VP=vkd$$p
  ip link add "$VH" type veth peer name "$VP"
  ip netns add "$NS"
  ip link set "$VP" netns "$NS"
  ip link set "$VH" up
  ip -n "$NS" link set lo up
  ip -n "$NS" link set "$VP" up
  ip -n "$NS" addr add 192.168.200.2/24 dev "$VP"
  ip -n "$NS" route add 10.0.0.0/16 via 192.168.200.1
  t sysctl net.link.hostif.attach="em0=packet:$VH"
  t kldload ng_ether
  t ngctl mkpeer em0: pipe lower upper
  t ngctl name em0:lower e0_n5-n0
  t ngctl mkpeer e0_n5-n0: eiface lower ether
  eif=$("$BIN/ngctl" show -n e0_n5-n0:lower | sed -n "s/^ *Name: \([^ ]*\).*/\1/p")
  t vimage -i e0_n0 "$eif" eth3
  node n0 ifconfig eth3 192.168.200.1/24
  until_ok 60 "waiting for n1 to learn 192.168.200.0/24 from n0" \
    route_via n1 192.168.200.0/24 10.0.1.1
  say "(external host) ping -c 2 10.0.4.2"
  ip netns exec "$NS" "$HOSTPING" -c 2 10.0.4.2
  node n4 traceroute -n 192.168.200.2 2>&1
fi

echo
echo "### Tear down"
t imunes -b -e e0
if [ -n "$NS" ]; then
  t ngctl shutdown e0_n5-n0:
  t ngctl shutdown "$eif:"
  t sysctl net.link.hostif.detach=em0
fi
t vimage -l
t ngctl l
