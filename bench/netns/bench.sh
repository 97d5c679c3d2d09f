#!/bin/bash
# netns benchmark (make bench): request latency through a split pod vs the
# same proxy unsplit (interleaved, same run), time to split one pod until
# its rules are live, and port-map update time.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
SHARED=${SHARED:-$(cd "$TOP/.." && pwd)/shared}
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/netns/topo.inc"
N=${BENCH_REQUESTS:-2000}
GOLDEN=$SHARED/corpus/istio-inpod/iptables/default.golden
[ "$(id -u)" = 0 ] || { echo "bench/netns: needs root, skipped"; exit 0; }

cfg=$(mktemp); at_exit rm -f "$cfg"
haproxy_cfg "$cfg"
pod() { # SUFFIX: a pod with Istio's rules and a remote server
	topo_create "$1" && istio_install "$GOLDEN" || exit 1
	bg "$REM" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 8080 remote
	wait_port "$REM" tcp 8080 || exit 1
}
pod u; U_CPU=$CPU U_DPU=$DPU
proxy_unsplit "$U_CPU" "$cfg" || exit 1
pod s; S_CPU=$CPU S_DPU=$DPU
$HPN split --cpu "$S_CPU" --dpu "$S_DPU" --pod-ip $POD4 --rules "$GOLDEN" || exit 1
bg "$S_DPU" /dev/null haproxy -f "$cfg" -db
wait_port "$S_DPU" tcp 15001 || exit 1

echo "netns: app -> remote through haproxy, $N interleaved requests each (us)"
res=$("$PY" "$TOP/bench/netns/latpair.py" "$N" "unsplit:$U_CPU:$REM4:8080" \
	"split:$S_CPU:$REM4:8080") || exit 1
echo "$res" | awk '{ printf "  %-10s median %7s   p99 %7s\n", $1, $2, $3; m[$1] = $2; p[$1] = $3 }
	END { printf "  split/unsplit ratio: median %.2fx  p99 %.2fx   (target <= 1.10x)\n",
		m["split"] / m["unsplit"], p["split"] / p["unsplit"] }'

split_bench() {
	"$BUILD/bench/netns/bench_split" "$S_CPU" "$S_DPU" $POD4 "$GOLDEN" 100 |
		sed 's/^/  /; /split (/s/$/   (target p99 <= 5 ms)/; /port-map/s/$/   (target <= 1 ms)/'
}
echo "netns: split one pod (library call: link, both halves' batches and routing), port sync, port-map updates"
echo " the only split pod on the host (each unsplit removes the last nftables"
echo " NAT/filter hooks, so the next split pays the kernel's static-key patching):"
split_bench
# the first pod is done measuring latency: split it too, as on a node
# that already runs split pods
$HPN split --cpu "$U_CPU" --dpu "$U_DPU" --pod-ip $POD4 --rules "$GOLDEN" || exit 1
echo " with another pod split on the host (steady state):"
split_bench
