#!/bin/bash
# Split network namespace with real traffic: Istio's in-pod rules (the
# goldens, installed as istio-cni installs them) in the CPU half, haproxy
# (mode tcp, server 0.0.0.0:0) as the unmodified proxy in the DPU half.
. "$TOP/tests/lib.sh"
require_root || exit 0
. "$TOP/tests/integration/netns/topo.inc"
. "$TOP/tests/integration/netns/checks.inc"
command -v haproxy >/dev/null || { skip all "haproxy not installed"; exit 0; }

# sync_has LINE: the port map (after a sync) has a line PATTERN.
sync_has() {
	$HPN ports --cpu "$CPU" --dpu "$DPU" --sync | grep -qx "$1"
}

# sync_cases T: `ports --sync` follows listeners that come, move and go.
sync_cases() {
	local t=$1 pid
	bg "$CPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 9091 app2; pid=$!
	wait_port "$CPU" tcp 9091
	check "$t sync adds a new CPU listener" sync_has "tcp 9091 cpu"
	expect "$t direct DPU -> podIP:9091 (CPU)" "app2 local=$POD4:9091" ask "$DPU" tcp $POD4 9091
	kill $pid; wait $pid 2>/dev/null
	bg "$DPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp :: 9091 moved; pid=$!
	wait_port "$DPU" tcp 9091
	check "$t sync moves a port whose listener moved to the DPU" sync_has "tcp 9091 dpu"
	expect "$t direct CPU -> podIP:9091 (now DPU)" "moved local=$POD4:9091" ask "$CPU" tcp $POD4 9091
	kill $pid; wait $pid 2>/dev/null
	if ! $HPN ports --cpu "$CPU" --dpu "$DPU" --sync | grep -q " 9091 "; then
		pass "$t sync removes a port no longer listening"
	else fail "$t sync removes" "$($HPN ports --cpu "$CPU" --dpu "$DPU" | grep 9091)"; fi
	check "$t sync keeps ports the rules declared (udp 15001, nothing bound)" \
		sync_has "udp 15001 dpu"
	check "$t sync keeps the app port" sync_has "tcp 9080 cpu"
}

# run_case LABEL GOLDEN [--rules GOLDEN]: one pod, split, traffic, unsplit.
# Without --rules, split reads Istio's rules back from the CPU half (the
# `legacy` pod has them in iptables-legacy, the others in nf_tables).
run_case() {
	local t=$1 g=$2 before after hlog n
	shift 2
	topo_create "-$t" || { fail "$t topology"; return; }
	istio_install "$g" $([ "$t" = legacy ] && echo legacy) || { fail "$t istio rules"; return; }
	before=$(snapshot "$CPU")

	hlog=$(mktemp); at_exit rm -f "$hlog"
	pod_servers "$t" || return

	check "$t split ${*:-(rules read from the kernel)}" $HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4,$POD6 "$@"
	check "$t split again (idempotent)" \
		$HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4,$POD6 "$@"
	pod_proxy "$t" "$hlog" || return
	expect "$t port map owns the app port" "tcp 9080 cpu" \
		$HPN ports --cpu "$CPU" --dpu "$DPU" --sync

	pod_traffic "$t" "$hlog"
	[ "$t" = ipt ] && sync_cases "$t"

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
if command -v iptables-legacy-restore >/dev/null; then
	run_case legacy "$g/iptables/default_ipv6.golden"          # read from the kernel
else skip "legacy" "iptables-legacy-restore not installed"; fi
