#!/bin/bash
# make demo: one pod split into a CPU half and a DPU half on this machine.
#
#   remote host ns --eth0-- CPU half (app, Istio's in-pod rules)
#                              |hpn0 (per-pod link)
#                           DPU half (haproxy: the offloaded, unmodified proxy)
#
# Sends real requests from the app and from the remote host, prints where
# each connection landed and the original destination the proxy saw, then
# request latency through the split namespace vs the same proxy unsplit.
# Everything it creates is removed on exit and on Ctrl-C.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SHARED=${SHARED:-$(cd "$TOP/.." && pwd)/shared}
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/netns/topo.inc"
N=${DEMO_REQUESTS:-400}
GOLDEN=$SHARED/corpus/istio-inpod/iptables/default.golden

[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)"; exit 1; }
[ -x "$HPN" ] || { echo "demo: build first (make)"; exit 1; }
say() { printf '\n== %s\n' "$*"; }

say "pod halves: CPU, DPU and a remote host (namespaces hpn2-*-$$)"
topo_create || exit 1
istio_install "$GOLDEN" || exit 1
echo "Istio's default in-pod rules installed in the CPU half (iptables-restore, as istio-cni)"
hlog=$(mktemp); at_exit rm -f "$hlog" "$hlog.cfg"
haproxy_cfg "$hlog.cfg"
bg "$REM" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 8080 remote-server
bg "$CPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 9080 app
bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 15008 dpu-hbone
bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" both 0.0.0.0 15053 dpu-dns
wait_port "$CPU" tcp 9080 && wait_port "$REM" tcp 8080 || exit 1

say "split (heteropod-netns split --cpu $CPU --dpu $DPU --pod-ip $POD4)"
t0=$(date +%s%N)
$HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4 --rules "$GOLDEN" || exit 1
echo "split took $(( ($(date +%s%N) - t0) / 1000 )) us (CLI process included)"
bg "$DPU" "$hlog" haproxy -f "$hlog.cfg" -db
HAPROXY=$!
wait_port "$DPU" tcp 15001 && wait_port "$DPU" udp 15053 || exit 1
$HPN ports --cpu "$CPU" --dpu "$DPU" --sync | tr '\n' ' ' | sed 's/^/port map: /'; echo

say "requests"
row() { printf '%-34s %-26s %-22s %s\n' "$@"; }
row REQUEST "LANDED (half:port)" "ORIGINAL DST SEEN" "ANSWERED BY"
proxied() { # what, ns, host, port: one request through haproxy
	local a l
	a=$(ask "$2" tcp "$3" "$4")
	sleep 0.1
	l=$(tail -1 "$hlog")
	row "$1" "dpu:${l%% *}/$( [ "${l%% *}" = outbound ] && echo 15001 || echo 15006)" \
		"$(echo "$l" | sed -n 's/.*orig=\([^ ]*\).*/\1/p')" "${a%% *}"
}
direct() { # what, ns, proto, host, port, half: a tagged listener answers
	local a
	a=$(ask "$2" "$3" "$4" "$5")
	row "$1" "$6:$(echo "$a" | sed -n 's/.*local=[^ ]*:\([0-9]*\) .*/\1/p')" \
		"$(echo "$a" | sed -n 's/.*orig=\([^ ]*\).*/\1/p')" "${a%% *}"
}
proxied "app -> $REM4:8080 (outbound)" "$CPU" $REM4 8080
proxied "remote -> $POD4:9080 (inbound)" "$REM" $POD4 9080
direct "remote -> $POD4:15008 (HBONE)" "$REM" tcp $POD4 15008 dpu
direct "app -> $REM4:53/tcp (DNS)" "$CPU" tcp $REM4 53 dpu
a=$(ask "$CPU" udp $REM4 53); row "app -> $REM4:53/udp (DNS)" "dpu:15053" "(udp)" "${a%% *}"
direct "app -> $POD4:15008 (port map)" "$CPU" tcp $POD4 15008 dpu
direct "dpu -> $POD4:9080 (port map)" "$DPU" tcp $POD4 9080 cpu
direct "app -> 127.0.0.1:15008 (port map)" "$CPU" tcp 127.0.0.1 15008 dpu
direct "dpu -> 127.0.0.1:9080 (port map)" "$DPU" tcp 127.0.0.1 9080 cpu

say "latency: app -> remote through haproxy, $N requests per side (median / p99, us)"
echo "(the same haproxy config runs in the DPU half and, as the unsplit baseline,"
echo " in the CPU half; rounds alternate split and unsplit so machine noise hits both)"
proxy_unsplit "$CPU" "$hlog.cfg" "$hlog.cpu" || exit 1
at_exit rm -f "$hlog.cpu"
d0=$(grep -c outbound "$hlog")
R=10 ss= us=
for r in $(seq $R); do
	ss="$ss $(ip netns exec "$CPU" "$PY" "$NETNS_DIR/lat.py" $REM4 8080 $((N / R)) raw)"
	$HPN unsplit --cpu "$CPU" --dpu "$DPU" || exit 1
	us="$us $(ip netns exec "$CPU" "$PY" "$NETNS_DIR/lat.py" $REM4 8080 $((N / R)) raw)"
	$HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4 --rules "$GOLDEN" || exit 1
done
stats() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1], v[int(NR * 0.99) + 1] }'; }
read -r s50 s99 < <(echo "$ss" | stats)
read -r u50 u99 < <(echo "$us" | stats)
printf '%-28s %10s %10s\n' "" median p99
printf '%-28s %10s %10s\n' "same proxy, unsplit" "$u50" "$u99"
printf '%-28s %10s %10s\n' "proxy in the DPU half" "$s50" "$s99"
awk -v s="$s50" -v u="$u50" 'BEGIN { printf "split / unsplit (median): %.2fx\n", s / u }'
sleep 0.2
echo "connections handled: haproxy in the DPU half $(( $(grep -c outbound "$hlog") - d0 )), same haproxy unsplit in the CPU half $(grep -c outbound "$hlog.cpu")"

# hsock on the app<->proxy link.  The request/response rounds above open a
# connection per request; hsock accelerates established connections, so
# this part measures a 16 B ping-pong on one long-lived connection: app ->
# remote sockperf server, captured by Istio's rules into haproxy in the DPU
# half.  Only the app<->proxy hop can use shared memory (the remote host is
# another machine in a cluster), so the same proxy serves both columns: a
# plain client stays TCP to it, a client under hsock-run switches.
HSR=$BUILD/hsock/hsock-run
sockperf_p50() { # ns, [wrapper...]: median round trip, us
	local ns=$1
	shift
	ip netns exec "$ns" "$@" sockperf pp --tcp -i $REM4 -p 11111 -m 16 -t 2 2>&1 |
		sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p'
}
if [ -x "$HSR" ] && command -v sockperf >/dev/null; then
	say "hsock on the app<->proxy link: 16 B ping-pong on one connection through haproxy (median round trip, us)"
	kill "$HAPROXY" 2>/dev/null
	hst=$(mktemp); at_exit rm -f "$hst" "$hst.app"
	bg "$DPU" "$hlog" "$HSR" --stats "$hst" -- haproxy -f "$hlog.cfg" -db
	bg "$REM" /dev/null sockperf sr --tcp -i 0.0.0.0 -p 11111
	wait_port "$DPU" tcp 15001 && wait_port "$REM" tcp 11111 || exit 1
	tcp= hs=
	for r in 1 2 3; do
		tcp="$tcp $(sockperf_p50 "$CPU")"
		hs="$hs $(sockperf_p50 "$CPU" "$HSR" --stats "$hst.app" --)"
	done
	med() { tr ' ' '\n' | grep . | sort -n | sed -n 2p; }
	t50=$(echo "$tcp" | med) h50=$(echo "$hs" | med)
	printf '%-40s %10s\n' "app -> proxy over TCP (split netns)" "$t50"
	printf '%-40s %10s\n' "app -> proxy over hsock (split netns)" "$h50"
	awk -v t="$t50" -v h="$h50" 'BEGIN { if (h > 0) printf "TCP / hsock (median): %.2fx\n", t / h }'
	echo "app's bytes over shared memory: $(awk '$1 == "bytes_gshm_tx" { s += $2 } END { print s + 0 }' "$hst.app")" \
		"(hsock stats; the proxy->remote hop stays TCP)"
else
	echo "hsock: not built in this tree (make), or sockperf missing; the app<->proxy link under hsock-run is not shown"
fi
say "cleaning up (namespaces, processes)"
