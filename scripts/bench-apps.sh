#!/bin/bash
# make bench-apps: unmodified Linux programs inside vimages, next to the same
# programs in Linux network namespaces, in one run:
#
#   1. iperf3 TCP throughput: two vimages n1 (10.0.0.20) and n2 (10.0.0.21)
#      joined by two ng_eiface nodes wired back to back, server in n1, client
#      in n2; against two network namespaces joined by a veth pair.
#   2. HTTP requests per second: busybox httpd (else python3 -m http.server)
#      serving a 1 KiB file in n1, a python3 client in n2 doing sequential GETs,
#      a new TCP connection each; the same between the namespaces.
#   3. The notification path: a python3 loop of socket()+connect()+accept()+
#      close() over 127.0.0.1 inside one vimage (socket, connect and accept are
#      each a seccomp notification served by the supervisor and the kernel),
#      against the same loop in a namespace; both fresh each round.
#
# Safety: every unmodified program that talks to a vimage address runs in a
# fresh network namespace holding nothing but a down lo (unshare -n), and each
# server's port is first shown in its vimage's sockstat, so a capture failure
# cannot put traffic on the host's stack.  That needs root, as the veth side
# does; without root both sides print why they were skipped.
#
# usage: bench-apps.sh BINDIR   (env: SECS=5 ROUNDS=3 CONNS=2000)
set -u
B=$(cd "${1:?usage: bench-apps.sh BINDIR}" && pwd)
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-2000}
TMP=$(mktemp -d)
export VIMAGE_SOCKET=$TMP/kernel.sock
NS1=vbapps-1
NS2=vbapps-2
KP=
NETNS=
PGS=()
cleanup() {
  local p
  for p in "${PGS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  [ -n "$KP" ] && kill "$KP" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$NETNS" ]; then
    ip netns del "$NS1" 2>/dev/null
    ip netns del "$NS2" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "$*" >&2; }

if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3 || true); fi
[ -n "$PY" ] || { say "bench-apps: python3 is needed"; exit 1; }
# Bound to 0.0.0.0 on both sides: an IPv4 socket, whatever IPV6_V6ONLY an
# AF_INET6 socket starts with (busybox's default is [::]:8080).
if command -v busybox >/dev/null; then
  HTTPD="busybox httpd -f -p 0.0.0.0:8080 -h $TMP/www"
  HTTPD_NAME="busybox httpd"
else
  HTTPD="$PY -m http.server 8080 --bind 0.0.0.0 -d $TMP/www"
  HTTPD_NAME="python3 -m http.server"
fi
mkdir -p "$TMP/www"
head -c 1024 /dev/zero | tr '\0' x >"$TMP/www/small.txt"

# The HTTP load generator: sequential GETs for SECS seconds, each over a new
# TCP connection; prints "REQUESTS SECONDS SHORT FAILED" (SHORT: a response
# cut off or empty; FAILED: a socket error or a 5 s timeout).
cat >"$TMP/httpc.py" <<'EOF'
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
req = b"GET /small.txt HTTP/1.0\r\nHost: bench\r\n\r\n"
n = short = failed = 0
t0 = time.perf_counter()
end = t0 + secs
while True:
    now = time.perf_counter()
    if now >= end:
        break
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(req)
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        if buf.startswith(b"HTTP/1.") and b" 200 " in buf[:16] and buf.endswith(b"x" * 1024):
            n += 1
        else:
            short += 1
    except OSError:
        failed += 1
print(n, time.perf_counter() - t0, short, failed)
EOF

# The notification path: N x (socket, connect, accept, close both) over
# 127.0.0.1 in one process; prints "US_PER_PAIR SOCKET CONNECT ACCEPT CLOSE"
# (µs each).  With "vimage" it first checks that its listener is not on the
# process's own (host) stack.
cat >"$TMP/cab.py" <<'EOF'
import socket, sys, time
n, mode = int(sys.argv[1]), sys.argv[2]
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(128)
port = l.getsockname()[1]
if mode == "vimage":
    for f in ("tcp", "tcp6"):
        with open("/proc/self/net/" + f) as t:
            if (":%04X " % port) in t.read():
                sys.exit("listener is on the host stack: capture failed")
addr = ("127.0.0.1", port)
pc = time.perf_counter
ts = tc = ta = tx = 0.0
for _ in range(50):
    c = socket.socket(); c.connect(addr); a, _ = l.accept(); c.close(); a.close()
t0 = pc()
for _ in range(n):
    t1 = pc(); c = socket.socket()
    t2 = pc(); c.connect(addr)
    t3 = pc(); a, _ = l.accept()
    t4 = pc(); c.close(); a.close()
    t5 = pc()
    ts += t2 - t1; tc += t3 - t2; ta += t4 - t3; tx += t5 - t4
tot = pc() - t0
print("%.1f %.1f %.1f %.1f %.1f" % tuple(x * 1e6 / n for x in (tot, ts, tc, ta, tx)))
EOF

# bg PREFIX...: start a server in its own process group (killed on exit).
bg() {
  setsid "$@" >>"$TMP/servers.log" 2>&1 &
  PGS+=($!)
  LAST=$!
}
stop() { kill -KILL -- "-$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# wait_vport VIMAGE PORT: sockstat in the vimage lists PORT (the server's
# socket is in the vimage's stack: capture works).
wait_vport() {
  local i
  for i in $(seq 1 100); do
    "$B/vimage" "$1" "$B/sockstat" 2>/dev/null | grep -q ":$2 " && return 0
    sleep 0.1
  done
  say "port $2 never showed in $1's sockstat: capture not proven"
  return 1
}
# wait_nport NETNS PORT
wait_nport() {
  local i
  for i in $(seq 1 100); do
    [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}
# The receiver's bits/s from iperf3 -J, in Mbit/s.
iperf_mbps() {
  "$PY" -c 'import json, sys
try:
    print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    pass' "$1"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# --- Can each side run? ---------------------------------------------------
VWHY=
NWHY=
if [ "$(id -u)" != 0 ]; then
  VWHY="skipped: needs root (unshare -n)"
  NWHY="skipped: needs root (network namespaces)"
else
  unshare -n true 2>/dev/null || VWHY="skipped: unshare -n does not work here"
  command -v ip >/dev/null || NWHY="skipped: ip (iproute2) not installed"
  if [ -z "$NWHY" ] && ! ip netns add "$NS1" 2>/dev/null; then
    NWHY="skipped: ip netns add failed"
  fi
  [ -n "$NWHY" ] || ip netns del "$NS1"
fi
IWHY=
command -v iperf3 >/dev/null || IWHY="skipped: iperf3 not installed"

# --- The vimages ----------------------------------------------------------
V=
if [ -z "$VWHY" ]; then
  "$B/vkernel" -s "$VIMAGE_SOCKET" -q >"$TMP/vkernel.log" 2>&1 &
  KP=$!
  for i in $(seq 1 100); do [ -S "$VIMAGE_SOCKET" ] && break; sleep 0.05; done
  if [ ! -S "$VIMAGE_SOCKET" ]; then
    VWHY="failed: vkernel did not start"
  elif ! {
    "$B/vimage" -c n1 && "$B/vimage" -c n2 &&
      "$B/ngctl" mkpeer eiface ether ether && "$B/ngctl" mkpeer eiface ether ether &&
      "$B/ngctl" connect ngeth0: ngeth1: ether ether &&
      "$B/vimage" -i n1 ngeth0 >/dev/null && "$B/vimage" -i n2 ngeth1 >/dev/null &&
      "$B/vimage" n1 "$B/ifconfig" lo0 localhost && "$B/vimage" n2 "$B/ifconfig" lo0 localhost &&
      "$B/vimage" n1 "$B/ifconfig" eth0 link 40:a:b:c:d:01 &&
      "$B/vimage" n2 "$B/ifconfig" eth0 link 40:a:b:c:d:02 &&
      "$B/vimage" n1 "$B/ifconfig" eth0 10.0.0.20/24 &&
      "$B/vimage" n2 "$B/ifconfig" eth0 10.0.0.21/24
  }; then
    VWHY="failed: vimage setup (see above)"
  else
    V=1
    if [ "$("$B/sysctl" -n kern.ident)" != VIMAGE ]; then
      VWHY="skipped: vkernel built without options VIMAGE"
      V=
    fi
  fi
fi

# --- The namespaces -------------------------------------------------------
N=
if [ -z "$NWHY" ]; then
  NETNS=1
  ip netns del "$NS1" 2>/dev/null
  ip netns del "$NS2" 2>/dev/null
  if ip netns add "$NS1" && ip netns add "$NS2" &&
    ip link add vbapps0 netns "$NS1" type veth peer name vbapps1 netns "$NS2" &&
    ip -n "$NS1" addr add 10.99.0.1/24 dev vbapps0 &&
    ip -n "$NS2" addr add 10.99.0.2/24 dev vbapps1 &&
    ip -n "$NS1" link set lo up && ip -n "$NS2" link set lo up &&
    ip -n "$NS1" link set vbapps0 up && ip -n "$NS2" link set vbapps1 up; then
    N=1
  else
    NWHY="failed: netns/veth setup (see above)"
  fi
fi

# --- One measurement of each kind, per side -------------------------------
# Each sets RES (no subshell, so that the servers' process groups are known
# to cleanup).  Clients run under timeout, which kills their whole group.
TO=$((SECS + 30))
# iperf SERVER_PREFIX CLIENT_PREFIX ADDRESS WAIT_FN WAIT_WHERE
iperf() {
  local p rc
  bg $1 iperf3 -s -1 -p 5201
  p=$LAST
  if ! $4 "$5" 5201; then
    stop "$p"
    RES="failed: server not proven listening"
    return
  fi
  timeout "$TO" $2 iperf3 -c "$3" -p 5201 -t "$SECS" -J >"$TMP/iperf.json" 2>>"$TMP/clients.log"
  rc=$?
  stop "$p"
  if [ $rc = 124 ]; then RES="failed: timeout"; else RES=$(iperf_mbps "$TMP/iperf.json"); fi
  RES=${RES:-failed}
}
# http CLIENT_PREFIX ADDRESS: "REQ/S SHORT FAILED" (the servers stay up
# across rounds).
http() {
  local o
  o=$(timeout "$TO" $1 "$PY" "$TMP/httpc.py" "$2" 8080 "$SECS" 2>>"$TMP/clients.log")
  if [ -n "$o" ]; then RES=$(awk '{printf "%.0f %d %d\n", $1 / $2, $3, $4}' <<<"$o"); else RES=failed; fi
}
# cab v|n ROUND: the loop in a fresh vimage / a fresh namespace, lo up, so
# that the TIME_WAIT blocks of earlier rounds (and of the other tests) are
# not in its tables.
cab() {
  if [ "$1" = v ]; then
    local vn=cab$2
    "$B/vimage" -c "$vn" && "$B/vimage" "$vn" "$B/ifconfig" lo0 localhost
    RES=$(timeout "$TO" unshare -n -- "$B/vimage" "$vn" "$PY" "$TMP/cab.py" "$CONNS" vimage 2>>"$TMP/clients.log")
  else
    RES=$(timeout "$TO" unshare -n -- sh -c 'ip link set lo up && exec "$0" "$@"' \
      "$PY" "$TMP/cab.py" "$CONNS" netns 2>>"$TMP/clients.log")
  fi
  RES=${RES:-failed}
}
VP="unshare -n -- $B/vimage n1"
VQ="unshare -n -- $B/vimage n2"
NP="ip netns exec $NS1"
NQ="ip netns exec $NS2"

VI=() NI=() VH=() NH=() VC=() NC=()
VHP= NHP=
if [ -n "$V" ]; then
  bg $VP $HTTPD
  VHP=$LAST
  wait_vport n1 8080 || { V=; VWHY="failed: capture of $HTTPD_NAME not proven"; }
fi
if [ -n "$N" ]; then
  bg $NP $HTTPD
  NHP=$LAST
  wait_nport "$NS1" 8080 || { N=; NWHY="failed: $HTTPD_NAME did not listen"; }
fi
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which side goes first.
  if [ $((r % 2)) = 1 ]; then order="v n"; else order="n v"; fi
  for s in $order; do
    if [ $s = v ] && [ -n "$V" ]; then
      RES=$IWHY
      [ -n "$IWHY" ] || { iperf "$VP" "$VQ" 10.0.0.20 wait_vport n1; VI+=("$RES"); }
      i=$RES
      http "$VQ" 10.0.0.20; VH+=("$RES")
      cab v "$r"; VC+=("$RES")
      say "round $r vimage: iperf3 $i Mbit/s; HTTP ${VH[-1]} (req/s short failed); connect+accept ${VC[-1]} (µs: pair socket connect accept close)"
    elif [ $s = n ] && [ -n "$N" ]; then
      RES=$IWHY
      [ -n "$IWHY" ] || { iperf "$NP" "$NQ" 10.99.0.1 wait_nport "$NS1"; NI+=("$RES"); }
      i=$RES
      http "$NQ" 10.99.0.1; NH+=("$RES")
      cab n "$r"; NC+=("$RES")
      say "round $r netns:  iperf3 $i Mbit/s; HTTP ${NH[-1]} (req/s short failed); connect+accept ${NC[-1]} (µs: pair socket connect accept close)"
    fi
  done
done
[ -z "$VHP" ] || stop "$VHP"
[ -z "$NHP" ] || stop "$NHP"

# med VALUES...: the median of the numeric first fields; "failed" if none.
med() {
  local m
  m=$(printf '%s\n' "$@" | awk '$1 ~ /^[0-9.]+$/ {print $1}' | median)
  echo "${m:-failed}"
}
# cell SIDE_OK WHY VALUES...
cell() {
  local ok=$1 why=$2
  shift 2
  if [ -z "$ok" ]; then echo "$why"; else med "$@"; fi
}
isnum() { [[ $1 =~ ^[0-9.]+$ ]]; }
ratio() { if isnum "$1" && isnum "$2"; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo "-"; fi; }

if [ -n "$IWHY" ]; then
  vi=$IWHY
  ni=$IWHY
else
  vi=$(cell "$V" "$VWHY" "${VI[@]}")
  ni=$(cell "$N" "$NWHY" "${NI[@]}")
fi
vh=$(cell "$V" "$VWHY" "${VH[@]}")
nh=$(cell "$N" "$NWHY" "${NH[@]}")
vc=$(cell "$V" "$VWHY" "${VC[@]}")
nc=$(cell "$N" "$NWHY" "${NC[@]}")
# The breakdown of the connect+accept loop (medians per column).
breakdown() {
  printf '%s\n' "$@" | awk '$1 ~ /^[0-9.]+$/' | "$PY" -c 'import sys, statistics
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
if rows:
    m = [statistics.median(c) for c in zip(*rows)]
    print("socket %.1f, connect %.1f, accept %.1f, close both %.1f" % tuple(m[1:5]))'
}
vb=$([ -n "$V" ] && breakdown "${VC[@]}")
nb=$([ -n "$N" ] && breakdown "${NC[@]}")
errs() { printf '%s\n' "$@" | awk '{s += $2; f += $3} END {printf "%d short or empty, %d failed", s, f}'; }
verr=$(errs "${VH[@]}")
nerr=$(errs "${NH[@]}")

echo
printf '%-24s %-34s %-42s %s\n' "" "vimage (eiface)" "netns (veth)" "ratio"
printf '%-24s %-34s %-42s %s\n' "iperf3 TCP Mbit/s" "$vi" "$ni" "$(ratio "$vi" "$ni")"
printf '%-24s %-34s %-42s %s\n' "HTTP req/s" "$vh" "$nh" "$(ratio "$vh" "$nh")"
printf "%-25s %-34s %-42s %s\n" "connect+accept µs" "$vc" "$nc" "$(ratio "$vc" "$nc")"
echo
echo "Medians of $ROUNDS rounds (sides alternating which goes first), on $(nproc) cores."
echo "iperf3: -t $SECS, one stream, default writes; server in n1 / the first namespace."
echo "HTTP: $HTTPD_NAME serving 1 KiB, sequential GETs for $SECS s, a new connection each."
echo "  responses: vimage $verr; netns $nerr."
echo "connect+accept: python3, $CONNS x socket()+connect()+accept()+close() over 127.0.0.1 in one process,"
echo "  in a fresh vimage / a fresh namespace each round; µs per pair."
[ -z "$vb" ] || echo "  vimage, µs per call: $vb"
[ -z "$nb" ] || echo "  netns,  µs per call: $nb"
echo
echo "Targets:"
r=$(ratio "$vi" "$ni")
if isnum "$r"; then
  met=$(awk -v r="$r" 'BEGIN {print (r >= 0.5) ? "met" : "NOT met"}')
  echo "  iperf3 between vimages >= 1/2 of veth: $met ($vi against $ni Mbit/s, $(awk -v r="$r" 'BEGIN {printf "%.0f", 100 * r}') %)"
else
  echo "  iperf3 between vimages >= 1/2 of veth: not measured"
fi
if isnum "$vc"; then
  met=$(awk -v v="$vc" 'BEGIN {print (v < 10) ? "met" : "NOT met"}')
  extra=
  isnum "$nc" && extra=$(awk -v v="$vc" -v n="$nc" 'BEGIN {printf "; %.1f µs more than the same loop in a namespace", v - n}')
  echo "  connect+accept through the notification path < 10 µs: $met ($vc µs per pair$extra)"
else
  echo "  connect+accept through the notification path < 10 µs: not measured"
fi
