#!/bin/bash
# Local mode, both roles as processes on this machine: pods from YAML
# (inotify), classification and Events for bad annotations, /healthz
# /readyz /metrics, DPU loss (kill -9: link closed; SIGSTOP: heartbeats
# missed) -> fallback to the CPU within a measured time, and back.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpa-$$-h-
halves_are() { [ "$(ls /var/run/netns | grep -c "^$HALF")" = "$1" ]; }
at_exit del_halves "$HALF"
HB=100 MISSES=3
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: %dms\n  misses: %d\n' \
	"$HALF" $HB $MISSES >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
M=$T/m/shop.yaml
manifest_ns "$M" shop all
manifest_ns "$M" odd sometimes
for i in 1 2 3; do manifest_pod "$M" shop "web$i" "uid-web$i-$$" "/var/run/netns/cpu-web$i"; done
manifest_pod "$M" odd "o1" "uid-o1-$$" "/var/run/netns/cpu-o1"
cat >>"$M" <<EOT
---
kind: Pod
metadata:
  name: ztunnel-x
  namespace: istio-system
  uid: uid-zt-$$
  labels: {app: ztunnel}
  annotations: {heteropod.io/offload: all}
---
kind: Pod
metadata:
  name: waypoint-0
  namespace: shop
  uid: uid-wp-$$
  labels:
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-name: waypoint
---
kind: Pod
metadata:
  name: bad
  namespace: shop
  uid: uid-bad-$$
  annotations: {heteropod.io/offload: WAYPOINT}
EOT

start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/zt.sock"
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE" --listen "127.0.0.1:$((PORT_BASE + 1))"

on_dpu() { # the number of pods the host has placed on the DPU with a half
	status_json "$T/host" | jpy 'print(sum(1 for p in d["pods"] if p["placement"] == "dpu" and (p["dpu_half"] or p["class"] != "app")))'
}
want_on_dpu() { [ "$(on_dpu)" = "$1" ]; }

# web1-3 (split), ztunnel (mode all) and the waypoint (namespace mode all).
if wait_for 10 want_on_dpu 5; then pass "offload: 3 app halves + ztunnel + waypoint on the DPU"
else fail "offload" "$(status_json "$T/host")"; fi
check "status classes and modes" sh -c "\"$AGENT\" status --state-dir \"$T/host\" --json | /usr/bin/python3 -c '
import json,sys
p = {x[\"name\"]: x for x in json.load(sys.stdin)[\"pods\"]}
assert p[\"ztunnel-x\"][\"class\"] == \"ztunnel\" and p[\"ztunnel-x\"][\"mode_source\"] == \"pod\"
assert p[\"waypoint-0\"][\"class\"] == \"waypoint\" and p[\"waypoint-0\"][\"mode\"] == \"all\"
assert p[\"web1\"][\"class\"] == \"app\" and p[\"web1\"][\"mode_source\"] == \"namespace\"
assert p[\"o1\"][\"mode\"] == \"none\" and p[\"o1\"][\"placement\"] == \"cpu\", p[\"o1\"]
assert p[\"bad\"][\"mode\"] == \"none\" and p[\"bad\"][\"mode_source\"] == \"pod\"'"
check "Event for a bad namespace annotation" grep -q 'kind=Namespace object=odd reason=InvalidOffloadMode.*accepted: all, waypoint, none' "$T/host.log"
check "Event for a bad pod annotation" grep -q 'kind=Pod object=shop/bad reason=InvalidOffloadMode' "$T/host.log"
check "each Event recorded once" test "$(grep -c 'object=shop/bad reason=InvalidOffloadMode' "$T/host.log")" = 1
check "status table" sh -c "\"$AGENT\" status --state-dir \"$T/host\" | grep -E '^shop/web1 +app +all\(namespace\) +dpu'"
check "/healthz" curl -sf "http://127.0.0.1:$((PORT_BASE + 1))/healthz"
check "/readyz" curl -sf "http://127.0.0.1:$((PORT_BASE + 1))/readyz"
check "/metrics" sh -c "curl -sf http://127.0.0.1:$((PORT_BASE + 1))/metrics | grep -q '^heteropod_agent_pods_on_dpu 5$'"
check "3 DPU halves" test "$(ls /var/run/netns | grep -c "^$HALF")" = 3

# inotify: a new pod appears without a restart.
manifest_pod "$M" shop web4 "uid-web4-$$" "/var/run/netns/cpu-web4"
if wait_for 5 want_on_dpu 6; then pass "new manifest picked up (inotify)"; else fail "inotify" "$(on_dpu)"; fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# measure LABEL ACTION: time from ACTION until nothing is on the DPU.
measure() {
	local t0 t1
	t0=$(now_ms)
	eval "$2"
	if wait_for 5 want_on_dpu 0; then
		t1=$(now_ms)
		# The agent's own time of decision, from its log line.
		td=$(date -d "$(grep 'event=fallback' "$T/host.log" | tail -1 | sed 's/^ts=\([^ ]*\) .*/\1/')" +%s%3N)
		echo "failover ($1): decided after $((td - t0)) ms, visible in status after $((t1 - t0)) ms (heartbeat ${HB} ms x ${MISSES})"
		[ $((td - t0)) -le $(( $3 )) ] && pass "fallback on $1 decided within $3 ms" ||
			fail "fallback on $1" "$((td - t0)) ms > $3 ms"
	else
		fail "fallback on $1" "still on the DPU: $(on_dpu)"
	fi
}

measure "kill -9 of the dpu role" 'kill -9 $DPU' 500
check "DPU down Event on the Node" grep -q 'kind=Node object=n1 reason=DPUDown' "$T/host.log"
check "node label down (logged in local mode)" grep -q 'heteropod.io/dpu-state=down' "$T/host.log"
check "status: DPU down, failover counted" sh -c "\"$AGENT\" status --state-dir \"$T/host\" --json | /usr/bin/python3 -c '
import json,sys
d = json.load(sys.stdin)[\"dpu\"]
assert not d[\"healthy\"] and d[\"failovers\"] == 1, d'"
check "the DPU's halves outlive its agent" test "$(ls /var/run/netns | grep -c "^$HALF")" = 4

start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/zt.sock"
if wait_for 10 want_on_dpu 6; then pass "offload resumes when the DPU returns"; else fail "resume" "$(on_dpu)"; fi
check "halves adopted, not duplicated" test "$(ls /var/run/netns | grep -c "^$HALF")" = 4
check "DPU up Event" grep -q 'reason=DPUUp' "$T/host.log"

measure "SIGSTOP of the dpu role (missed heartbeats)" 'kill -STOP $DPU' $((HB * MISSES + 4 * HB))
kill -CONT "$DPU"
if wait_for 10 want_on_dpu 6; then pass "offload resumes after SIGCONT"; else fail "resume after SIGCONT" "$(on_dpu)"; fi

# Changing the namespace's mode to none brings everything back and deletes the halves.
sed -i 's/offload: "all"/offload: "none"/' "$M"
if wait_for 5 halves_are 0; then
	pass "mode none: DPU halves deleted"
else
	fail "mode none: DPU halves deleted" "$(ls /var/run/netns | grep -c "^$HALF") left; $(grep -E 'half-|peer|error' "$T/dpu.log" | tail -4); $("$AGENT" status --state-dir "$T/host" | grep -E 'shop/|DPU')"
fi
kill "$HOST" "$DPU"
wait "$HOST" 2>/dev/null
check "SIGTERM: clean exit" test $? -eq 0
