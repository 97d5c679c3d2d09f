#!/bin/bash
# Split network namespace with real traffic: Istio's in-pod rules (the
# goldens, installed as istio-cni installs them) in the CPU half, haproxy
# (mode tcp, server 0.0.0.0:0) as the unmodified proxy in the DPU half.
. "$TOP/tests/lib.sh"
require_root || exit 0
. "$TOP/tests/integration/netns/topo.inc"
command -v haproxy >/dev/null || { skip all "haproxy not installed"; exit 0; }

# expect NAME WANT CMD...: PASS if CMD's output contains WANT.
expect() {
	local name=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1)
	case $out in
	*"$want"*) pass "$name" ;;
	*) fail "$name" "want '$want', got '$(echo "$out" | tail -2 | tr '\n' ' ')'" ;;
	esac
}

# run_case LABEL GOLDEN [--rules GOLDEN]: one pod, split, traffic, unsplit.
# Without --rules, split reads Istio's rules back from the CPU half.
run_case() {
	local t=$1 g=$2 before after hlog n
	shift 2
	topo_create || { fail "$t topology"; return; }
	istio_install "$g" || { fail "$t istio rules"; return; }
	before=$(snapshot "$CPU")

	hlog=$(mktemp); at_exit rm -f "$hlog"
	haproxy_cfg "$hlog.cfg"; at_exit rm -f "$hlog.cfg"
	bg "$REM" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 8080 remote
	bg "$CPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 9080 app
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 15008 hbone
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" both 0.0.0.0 15053 dns4
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" udp :: 15053 dns6
	wait_port "$CPU" tcp 9080 && wait_port "$REM" tcp 8080 || { fail "$t servers"; return; }

	check "$t split ${*:-(rules read from the kernel)}" $HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4,$POD6 "$@"
	check "$t split again (idempotent)" \
		$HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4,$POD6 "$@"
	bg "$DPU" "$hlog" haproxy -f "$hlog.cfg" -db
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp6 :: 15001 out6
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp6 :: 15006 in6
	wait_port "$DPU" tcp 15001 && wait_port "$DPU" tcp 15008 && wait_port "$DPU" udp 15053 ||
		{ fail "$t proxy"; return; }
	expect "$t port map owns the app port" "tcp 9080 cpu" \
		$HPN ports --cpu "$CPU" --dpu "$DPU" --sync

	# 1. outbound: app -> remote lands on 15001 in the DPU half
	expect "$t outbound v4 reaches remote via proxy" "remote local=$REM4:8080" \
		ask "$CPU" tcp $REM4 8080
	expect "$t outbound v4: proxy saw original dst" "outbound $POD4:" grep "orig=$REM4:8080" "$hlog"
	port=$(ask "$CPU" tcp $REM4 8080 | sed -n 's/.* peer=[^ ]*:\([0-9]*\)$/\1/p')
	if [ "${port:-0}" -ge 61000 ]; then pass "$t proxy's source ports are the DPU half's range ($port)"
	else fail "$t proxy source port" "got '$port', want >= 61000"; fi
	# 2. inbound: remote -> podIP:app lands on 15006, proxy reaches the app
	expect "$t inbound v4 reaches app via proxy" "app local=$POD4:9080 orig=$POD4:9080 peer=$POD4:" \
		ask "$REM" tcp $POD4 9080
	expect "$t inbound v4: proxy saw original dst" "inbound $REM4:" grep "orig=$POD4:9080" "$hlog"
	# IPv6: haproxy 2.6 reads SO_ORIGINAL_DST for IPv4 only, so a tagged
	# listener (IP6T_SO_ORIGINAL_DST) stands in for it on [::]:15001/15006
	# and the proxy's onward legs are checked as direct DPU connections.
	expect "$t outbound v6 lands on 15001 in the DPU half" \
		"out6 local=" ask "$CPU" tcp $REM6 8080
	expect "$t outbound v6: original dst seen in the DPU half" \
		"orig=$REM6:8080 peer=$POD6:" ask "$CPU" tcp $REM6 8080
	expect "$t inbound v6 lands on 15006 in the DPU half" \
		"in6 local=" ask "$REM" tcp $POD6 9080
	expect "$t inbound v6: original dst seen in the DPU half" \
		"orig=$POD6:9080 peer=$REM6:" ask "$REM" tcp $POD6 9080
	expect "$t proxy leg DPU -> remote v6" "remote local=$REM6:8080 orig=$REM6:8080 peer=$POD6:" \
		ask "$DPU" tcp $REM6 8080
	expect "$t proxy leg DPU -> app v6" "app local=$POD6:9080 orig=$POD6:9080 peer=$POD6:" \
		ask "$DPU" tcp $POD6 9080
	expect "$t 15008 reaches the DPU half unredirected" \
		"hbone local=$POD4:15008 orig=$POD4:15008 peer=$REM4:" ask "$REM" tcp $POD4 15008
	# 3. DNS: UDP and TCP 53 from the app land on 15053 in the DPU half
	expect "$t DNS udp v4 -> 15053" "dns4 udp peer=$POD4:" ask "$CPU" udp $REM4 53
	expect "$t DNS tcp v4 -> 15053" "dns4 local=169.254.73.2:15053 orig=$REM4:53" \
		ask "$CPU" tcp $REM4 53
	expect "$t DNS udp v6 -> 15053" "dns6 udp peer=$POD6:" ask "$CPU" udp $REM6 53
	# 4. direct calls by port map, both directions
	expect "$t direct CPU -> podIP:15008 (DPU)" "hbone local=$POD4:15008 orig=$POD4:15008 peer=$POD4:" \
		ask "$CPU" tcp $POD4 15008
	expect "$t direct DPU -> podIP:9080 (CPU)" "app local=$POD4:9080 orig=$POD4:9080 peer=$POD4:" \
		ask "$DPU" tcp $POD4 9080
	expect "$t direct CPU -> 127.0.0.1:15008 (DPU)" "hbone local=127.0.0.1:15008 orig=127.0.0.1:15008 peer=169.254.73.1:" \
		ask "$CPU" tcp 127.0.0.1 15008
	expect "$t direct DPU -> 127.0.0.1:9080 (CPU)" "app local=127.0.0.1:9080 orig=127.0.0.1:9080 peer=169.254.73.2:" \
		ask "$DPU" tcp 127.0.0.1 9080
	# 5. no loops: one proxy log line per proxied request, no more
	sleep 0.2
	n=$(grep -c . "$hlog")
	if [ "$n" = 3 ]; then pass "$t no loops (3 proxied connections)"; else
		fail "$t no loops" "haproxy logged $n connections, want 3: $(head -c 300 "$hlog")"; fi

	# Istio's agent reconciles its own rules: heteropod's keep working
	if [ "$t" = nft ]; then
		ip netns exec "$CPU" nft -f "$g"
		expect "$t Istio re-applies its tables: still split" \
			"remote local=$REM4:8080" ask "$CPU" tcp $REM4 8080
	fi

	# 7. unsplit restores the CPU half exactly; twice is fine; the nft pod
	# loses its DPU half first (as after a DPU crash)
	if [ "$t" = nft ]; then
		for p in $(ip netns pids "$DPU"); do kill "$p"; done
		ip netns del "$DPU"
	fi
	check "$t unsplit" $HPN unsplit --cpu "$CPU" --dpu "$DPU"
	check "$t unsplit again" $HPN unsplit --cpu "$CPU" --dpu "$DPU"
	after=$(snapshot "$CPU")
	if [ "$before" = "$after" ]; then pass "$t unsplit restores rules, routes, sysctls"; else
		fail "$t unsplit restores" "$(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"; fi
	expect "$t after unsplit Istio redirects locally again" "refused" ask "$CPU" tcp $REM4 8080
	hp_run_cleanup; HP_CLEANUP=()
}

g=$SHARED/corpus/istio-inpod
run_case ipt "$g/iptables/default_ipv6.golden" --rules "$g/iptables/default_ipv6.golden"
run_case nft "$g/nftables/default_ipv6.golden"                     # read from the kernel
