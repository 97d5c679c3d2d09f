#!/bin/bash
# Crash consistency: kill -9 either role at random points while it
# reconciles 50 pods, restart, and compare the kernel's state (the DPU
# halves in /var/run/netns) with the desired state: one half per pod,
# nothing leaked, nothing duplicated; then shrink the set and check again.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpa-$$-h-
at_exit del_halves "$HALF"
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: 50ms\n  misses: 3\n' "$HALF" >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
N=50
M=$T/m/pods.yaml
manifest_ns "$M" shop all
for i in $(seq 1 $N); do manifest_pod "$M" shop "p$i" "uid-p$i-$$" "/var/run/netns/cpu-p$i"; done
# Kernel leftovers from an earlier crash that no checkpoint knows: the dpu
# role must delete them when it starts.
ip netns add "${HALF}orphan"

run_dpu() { start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/zt.sock"; }
run_host() { start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE"; }
halves() { ls /var/run/netns | grep -c "^$HALF"; }
host_halves() { status_json "$T/host" | jpy 'print(sum(p["dpu_half"] for p in d["pods"]))'; }
converged() { # N halves in the kernel, N in the DPU's checkpoint, N believed by the host
	[ "$(halves)" = "$1" ] && [ "$(host_halves)" = "$1" ] &&
	[ "$(status_json "$T/dpu" | jpy 'print(len(d["pods"]))')" = "$1" ]
}

RANDOM=$$
at_least() { [ "$(halves)" -ge "$1" ]; }
for round in $(seq 1 8); do
	run_dpu
	run_host
	# Kill in the middle of reconciling: after a random number of halves.
	wait_for 10 at_least $((RANDOM % N))
	case $((RANDOM % 3)) in
	0) kill -9 "$DPU" ;;
	1) kill -9 "$HOST" ;;
	2) kill -9 "$DPU" "$HOST" ;;
	esac
	sleep 0.05
	kill -9 "$DPU" "$HOST" 2>/dev/null
	wait "$DPU" "$HOST" 2>/dev/null
done
echo "after 8 random kills: $(halves) halves in the kernel"
run_dpu
run_host
if wait_for 20 converged $N; then
	pass "converged: $N pods, $N halves, no leak, no duplicate"
else
	fail "converged" "kernel $(halves), host $(host_halves)"
fi
check "orphan namespace from a crash deleted" test ! -e "/var/run/netns/${HALF}orphan"
check "halves are exactly the checkpoint's" sh -c "\"$AGENT\" status --state-dir \"$T/dpu\" --json | /usr/bin/python3 -c '
import json, os, sys
want = sorted(p[\"netns\"] for p in json.load(sys.stdin)[\"pods\"])
got = sorted(n for n in os.listdir(\"/var/run/netns\") if n.startswith(\"$HALF\"))
assert want == got, (len(want), len(got))'"

# Remove 20 pods, killing the dpu role in the middle of the deletions.
/usr/bin/python3 - "$M" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("---\n")
keep = [d for d in docs if not any("name: p%d\n" % i in d for i in range(31, 51))]
open(p + ".new", "w").write("---\n".join(keep))
PY
mv "$M.new" "$M"
sleep 0.0$((RANDOM % 10))
kill -9 "$DPU"
wait "$DPU" 2>/dev/null
run_dpu
if wait_for 20 converged 30; then
	pass "shrunk to 30 across a crash: nothing leaked"
else
	fail "shrunk to 30" "kernel $(halves), host $(host_halves); $(grep -c half-deleted "$T/dpu.log") deletions; $(tail -3 "$T/host.log")"
fi
kill "$HOST" "$DPU"
wait "$HOST" "$DPU" 2>/dev/null
check "SIGTERM keeps the 30 halves" test "$(halves)" = 30
