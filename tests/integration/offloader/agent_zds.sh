#!/bin/bash
# ZDS both ways through the real agents: a fake istio-cni hands the host
# role two pod netns fds; the host asks the dpu role for DPU halves; a fake
# ztunnel on the DPU side receives exactly those halves (fstat identity)
# with the snapshot/ack sequence Istio uses.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpa-$$-h-
halves_are() { [ "$(ls /var/run/netns | grep -c "^$HALF")" = "$1" ]; }
at_exit del_halves "$HALF"
agent_ns P1 p1
agent_ns P2 p2
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: 100ms\n' "$HALF" >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
manifest_ns "$T/m/pods.yaml" shop all
manifest_pod "$T/m/pods.yaml" shop web "uid-web-$$"
manifest_pod "$T/m/pods.yaml" shop db "uid-db-$$"

/usr/bin/python3 "$HERE/zdsfake.py" cni --socket "$T/cni.sock" --out "$T/cni.json" \
	--workload "uid-web-$$=$P1" --workload "uid-db-$$=$P2" &
CNI=$!
at_exit kill "$CNI"
wait_for 5 test -S "$T/cni.sock"
start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/ztunnel.sock"
wait_for 5 test -S "$T/ztunnel.sock"
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE" --cni-zds "$T/cni.sock"

if wait_for 10 test -s "$T/cni.json"; then
	pass "istio-cni snapshot acked"
else
	fail "istio-cni snapshot acked" "$(tail -3 "$T/host.log")"
fi
check "agent sent ZdsHello V1" jpy 'assert d["hello"] == 1' <"$T/cni.json"
# Each ack came after the DPU half existed; these pod namespaces hold no
# Istio rules, so the error names that (the CPU half), never a timeout.
check "acks after the DPU half, reason given" jpy '
a = d["acks"]
assert len(a) == 3, a
for x in a[:2]:
    assert "CPU half" in x["error"] and "no interception rules" in x["error"], x
assert a[2]["error"] == "", a' <"$T/cni.json"
check "two DPU halves exist" test "$(ls /var/run/netns | grep -c "^$HALF")" = 2
check "host status: both on the DPU" sh -c "\"$AGENT\" status --state-dir \"$T/host\" --json | /usr/bin/python3 -c '
import json,sys
d = json.load(sys.stdin)
p = {x[\"name\"]: x for x in d[\"pods\"]}
assert p[\"web\"][\"placement\"] == \"dpu\" and p[\"web\"][\"dpu_half\"] and p[\"web\"][\"relayed\"], p
assert p[\"db\"][\"placement\"] == \"dpu\" and p[\"db\"][\"dpu_half\"], p'"

/usr/bin/python3 "$HERE/zdsfake.py" ztunnel --socket "$T/ztunnel.sock" --out "$T/zt.json"
check "ztunnel: snapshot of two adds then SnapshotSent" jpy '
assert d["seq"] == ["add", "add", "snapshot_sent"], d["seq"]' <"$T/zt.json"
ids=""
for n in $(ls /var/run/netns | grep "^$HALF"); do
	ids="$ids $(stat -L -c '%i:%d' "/var/run/netns/$n")"
done
check "ztunnel received exactly the DPU halves (fstat identity)" jpy "
import os
want = set('$ids'.split())
got = set('%d:%d' % (a['ino'], a['dev']) for a in d['adds'])
assert got == want, (got, want)
assert sorted(a['uid'] for a in d['adds']) == sorted(['uid-web-$$', 'uid-db-$$'])
assert all(a['nfds'] == 1 for a in d['adds'])
assert set(a['sa'] for a in d['adds']) == {'sa-web', 'sa-db'}" <"$T/zt.json"
check "the CPU halves are not what ztunnel got" jpy "
import os
cpu = set('%d:%d' % (os.stat('/var/run/netns/' + n).st_ino, os.stat('/var/run/netns/' + n).st_dev)
          for n in ['$P1', '$P2'])
assert not cpu & set('%d:%d' % (a['ino'], a['dev']) for a in d['adds'])" <"$T/zt.json"

# DelWorkload from istio-cni deletes the pod's DPU half.
kill -USR1 "$CNI"
if wait_for 5 halves_are 1; then
	pass "DelWorkload deletes the DPU half"
else
	fail "DelWorkload deletes the DPU half" "$(ls /var/run/netns | grep "^$HALF")"
fi
check "DelWorkload acked" jpy 'assert d["acks"][-1] == {"uid": "del uid-db-'$$'", "error": ""}, d' <"$T/cni.json"
kill "$HOST" "$DPU"
wait "$HOST" "$DPU"
check "SIGTERM leaves the remaining half in place" test "$(ls /var/run/netns | grep -c "^$HALF")" = 1
