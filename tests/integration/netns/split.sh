#!/bin/bash
# Split network namespace with real traffic: Istio's in-pod rules (the
# goldens, installed as istio-cni installs them) in the CPU half, haproxy
# (mode tcp, server 0.0.0.0:0) as the unmodified proxy in the DPU half.
. "$TOP/tests/lib.sh"
require_root || exit 0
. "$TOP/tests/integration/netns/topo.inc"
. "$TOP/tests/integration/netns/checks.inc"
command -v haproxy >/dev/null || { skip all "haproxy not installed"; exit 0; }

# run_case LABEL GOLDEN [--rules GOLDEN]: one pod, split, traffic, unsplit.
# Without --rules, split reads Istio's rules back from the CPU half.
run_case() {
	local t=$1 g=$2 before after hlog n
	shift 2
	topo_create || { fail "$t topology"; return; }
	istio_install "$g" || { fail "$t istio rules"; return; }
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
