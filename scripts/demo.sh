#!/bin/sh
# make demo: boot a VIMAGE kernel and walk the tutorial's vimage steps with our own
# tools (by path: never the host's hostname/ping).
set -eu
BIN=$(cd "$1" && pwd)
: "${VIMAGE_SOCKET:?}"
export VIMAGE_SOCKET
run() { echo "tpx32# $*"; "$@"; }
v() { run "$BIN/vimage" "$@"; }

"$BIN/vkernel" -s "$VIMAGE_SOCKET" &
KPID=$!
trap 'kill $KPID 2>/dev/null || true' EXIT
i=0
while ! "$BIN/vimage" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "vkernel did not start" >&2; exit 1; }
  sleep 0.05
done
sleep 0.1
echo
v -l
v -c n0
v -c n1
v -c n2
run "$BIN/kldload" if_edsc
run "$BIN/ifconfig" edsc create
run "$BIN/ifconfig" edsc create
v -i n0 edsc0
v -i n1 edsc1
v n1 hostname n1
v n1 hostname
v n1 ifconfig
v -i n1 lo0 || true
v n1 sysctl net.inet.ip.forwarding=1
run "$BIN/sysctl" net.inet.ip.forwarding
echo "tpx32# vimage n1   (interactive shell, fed: vimage -c n3; vimage -l; exit)"
printf 'vimage -c n3\nvimage -l\nexit\n' | SHELL=/bin/sh "$BIN/vimage" n1
run sh -c "$BIN/vimage -l | fgrep -v CPU | fgrep -v limit"
v -d n1.n3
v -d n0
v -d n1
v -d n2
v -l
run "$BIN/halt"
wait $KPID
trap - EXIT
