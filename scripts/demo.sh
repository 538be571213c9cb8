#!/bin/sh
# make demo: boot a VIMAGE kernel and walk the tutorial's vimage steps with our own
# tools (by path: never the host's hostname/ping).
set -eu
BIN=$(cd "$1" && pwd)
: "${VIMAGE_SOCKET:?}"
export VIMAGE_SOCKET
run() { echo "tpx32# $*"; "$@"; }
v() { echo "tpx32# vimage $*"; "$BIN/vimage" "$@"; }
# t TOOL ARGS: run one of our tools, echoed as the tutorial types it.
t() { c=$1; shift; echo "tpx32# $c $*"; "$BIN/$c" "$@"; }

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
t kldload if_edsc
t ifconfig edsc create
t ifconfig edsc create
v -i n0 edsc0
v -i n1 edsc1
v n1 hostname n1
v n1 hostname
v n1 ifconfig
v -i n1 lo0 || true
v n1 sysctl net.inet.ip.forwarding=1
t sysctl net.inet.ip.forwarding
echo "tpx32# vimage n1   (interactive shell, fed: vimage -c n3; vimage -l; exit)"
printf 'vimage -c n3\nvimage -l\nexit\n' | SHELL=/bin/sh "$BIN/vimage" n1
run sh -c "$BIN/vimage -l | fgrep -v CPU | fgrep -v limit"
v -d n1.n3
v -d n0
v -d n1
v -d n2
v -l

echo
echo "### Exercise 1: create, connect and assign virtual interfaces (netgraph)"
t ngctl l
t ngctl mkpeer eiface ether ether
t ngctl mkpeer eiface ether ether
t ngctl l
t ifconfig ngeth0
t ifconfig ngeth1
t ngctl connect ngeth0: ngeth1: ether ether
t ngctl l
v -c n0
v -c n1
v -i n0 ngeth0
v -i n1 ngeth1
v n1 ifconfig
v n0 ifconfig lo0 localhost
v n0 ifconfig eth0 link 40:a:b:c:d:00
v n0 ifconfig eth0 10.0.0.1/24
v n1 ifconfig lo0 localhost
v n1 ifconfig eth0 link 40:a:b:c:d:01
v n1 ifconfig eth0 10.0.0.20/24
v n1 route add default 10.0.0.1
v n1 hostname n1
v n1 ping -c 3 10.0.0.1
v n1 ifconfig
v n1 netstat -rnf inet
v n1 arp -an
echo "tpx32# vimage n1 ngctl l      (independent netgraph space!)"
"$BIN/vimage" n1 ngctl l

echo
echo "### Exercise 2: clean up, then a bridge with a physical interface"
v -d n0
v -d n1
t ngctl shutdown ngeth0:
t ngctl shutdown ngeth1:
t ngctl l
v -c n1
v -c n2
t ngctl mkpeer eiface ether ether
t ngctl mkpeer eiface ether ether
echo "# (this laptop's em0 and iwi0: the edsc interfaces that came home from n0 and n1)"
t ifconfig edsc0 name em0
t ifconfig edsc1 name iwi0
t kldload ng_ether
t ngctl l
t ngctl mkpeer em0: bridge lower link0
t ngctl l
t ngctl name em0:lower bridge0
t ngctl connect em0: bridge0: upper link1
t ngctl connect ngeth0: bridge0: ether link2
t ngctl connect ngeth1: bridge0: ether link3
t ngctl l
t ngctl show bridge0:
v n1 ifconfig
v -i n1 ngeth0 e0
v -i n2 ngeth1 e0
v n1 ifconfig lo0 localhost
v n1 ifconfig e0 link 40:a:b:c:d:01
v n1 ifconfig e0 10.0.1.10/24
v n2 ifconfig lo0 localhost
v n2 ifconfig e0 link 40:a:b:c:d:02
v n2 ifconfig e0 10.0.1.11/24
v n1 ping -c 2 10.0.1.11
if [ -x "$BIN/ipfw" ]; then
  t kldload ipfw
  v n1 ping -c 1 10.0.1.11 || true
  v n1 ipfw list
  v n1 ipfw add 100 accept ip from any to any
  v n2 ipfw add 100 accept ip from any to any
  v n1 ping -c 2 10.0.1.11
fi
t ngctl msg bridge0: getconfig

echo
echo "### Exercise 2a: nested virtual hosting (n1 bridges its e0 with an eiface for n3)"
v n1 vimage -c n3
v n1 vimage n3 hostname n3
v n1 ngctl mkpeer eiface ether ether
v n1 ngctl mkpeer ngeth0: bridge ether link0
v n1 ngctl name ngeth0:ether bridge_n1
v n1 ngctl connect e0: bridge_n1: lower link1
v n1 ngctl connect e0: bridge_n1: upper link2
v n1 ngctl l
v n1 vimage -i n3 ngeth0
v n1.n3 ifconfig lo0 localhost
v n1.n3 ifconfig eth0 link 40:a:b:c:d:03
v n1.n3 ifconfig eth0 10.0.1.23/24
if [ -x "$BIN/ipfw" ]; then v n1.n3 ipfw -q add 100 allow ip from any to any; fi
v n1.n3 ping -c 2 10.0.1.11
v n1 ping -c 1 10.0.1.23
v -l

echo
echo "### A link as IMUNES builds it: ngctl -f - with a pipe"
script='rmhook ngeth1: ether
mkpeer ngeth1: pipe ether upper
name ngeth1:ether e0_n2-br
connect e0_n2-br: bridge0: lower link3
msg e0_n2-br: setcfg {bandwidth=-1 delay=-1 upstream={BER=-1 duplicate=-1} downstream={BER=-1 duplicate=-1}}
msg e0_n2-br: setcfg {bandwidth=10000000}
msg e0_n2-br: setcfg {delay=5000}'
echo "tpx32# ngctl -f - <<EOF"
echo "$script"
echo "EOF"
echo "$script" | "$BIN/ngctl" -f -
t ngctl msg e0_n2-br: getcfg
t ngctl types
v -d n1.n3
v -d n1
v -d n2

echo
echo "### Exercise 3: two VLANs with the same addresses over one trunk"
echo "# (iwi0 here is an eiface, whose cable leads to far0, where p1 and p2 hang their VLANs)"
t ifconfig iwi0 destroy
t ngctl mkpeer eiface ether ether
t ngctl mkpeer eiface ether ether
t ngctl connect ngeth2: ngeth3: ether ether
t ifconfig ngeth2 name iwi0
t ifconfig ngeth3 name far0
t ifconfig iwi0 link 00:16:6f:37:f8:36
t ifconfig far0 link 00:16:6f:37:f8:99
v -c n1
v -c n2
v -c p1
v -c p2
t kldload if_vlan
t ifconfig iwi0.101 create
t ifconfig iwi0.102 create
t ifconfig far0.101 create
t ifconfig far0.102 create
t ifconfig iwi0.101
t ifconfig iwi0.102
v -i n1 iwi0.101
v -i n2 iwi0.102
v -i p1 far0.101
v -i p2 far0.102
t ifconfig iwi0 up
t ifconfig far0 up
v n1 ifconfig eth0 10.0.1.101/24
v n2 ifconfig eth0 10.0.1.101/24
v p1 ifconfig eth0 10.0.1.102/24
v p2 ifconfig eth0 10.0.1.102/24
if [ -x "$BIN/ipfw" ]; then
  echo "# (ipfw is loaded: new vimages start with deny all)"
  for n in n1 n2 p1 p2; do "$BIN/vimage" $n ipfw -q add 100 allow ip from any to any; done
fi
v n1 ifconfig
v n2 ifconfig
v n1 ping -c 2 10.0.1.102
v n2 ping -c 3 10.0.1.102
echo "# each reached its own peer: p1 answered n1's 2 echoes, p2 n2's 3"
run sh -c "$BIN/vimage p1 netstat -s -p icmp | grep -A2 'Input histogram'"
run sh -c "$BIN/vimage p2 netstat -s -p icmp | grep -A2 'Input histogram'"
v -d n1
v -d n2
v -d p1
v -d p2
t halt
wait $KPID
trap - EXIT
