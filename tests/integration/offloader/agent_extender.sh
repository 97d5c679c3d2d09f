#!/bin/bash
# State push to the real heteropod-extender: both roles in local mode push
# their PU's images (the Node manifests' status.images) and the DPU state;
# the extender's prioritize and filter answers follow: image added/removed
# (deltas), extender restarted (NEED_SNAPSHOT -> snapshot), DPU lost.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0
EXT=$BUILD/scheduler-plugin/heteropod-extender
[ -x "$EXT" ] || { skip all "heteropod-extender not built"; exit 0; }

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpa2-$$-e-
at_exit del_halves "$HALF"
EPORT=$((PORT_BASE + 2))
URL=http://127.0.0.1:$EPORT
printf 'listen: 127.0.0.1:%d\nstaleAfter: 30s\n' $EPORT >"$T/ext.yaml"

start_ext() {
	"$EXT" serve --config "$T/ext.yaml" 2>>"$T/ext.log" &
	EXTPID=$!
	at_exit kill $EXTPID
	wait_for 5 curl -sf "$URL/healthz"
}

# node NAME IMAGE...: a Node manifest with these images (1000 MiB each).
node() {
	local f=$T/m/node-$1.yaml name=$1 i
	shift
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\nstatus:\n  images:\n' "$name" >"$f.tmp"
	for i in "$@"; do
		printf '  - names: ["docker.io/library/%s", "%s"]\n    sizeBytes: 1048576000\n' "$i" "$i" >>"$f.tmp"
	done
	[ $# -gt 0 ] || printf '  []\n' >>"$f.tmp"
	mv "$f.tmp" "$f"
}

cat >"$T/pod.json" <<'EOJ'
{"Pod":{"metadata":{"name":"web","namespace":"shop","annotations":{"heteropod.io/offload":"all"}},
 "spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}},
 "NodeNames":["n1","n1-dpu","n9"]}
EOJ
prio() { curl -sS --data-binary @"$T/pod.json" "$URL/prioritize"; }
filt() { curl -sS --data-binary @"$T/pod.json" "$URL/filter"; }
score_is() { # NODE SCORE
	prio | grep -q "{\"Host\":\"$1\",\"Score\":$2}"
}

node n1 nginx:1.25 busybox:1.36
node n1-dpu envoy:1.30
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: 100ms\n  misses: 3\nextender:\n  interval: 300ms\n' \
	"$HALF" >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
start_ext || { fail "extender did not start" "$(cat "$T/ext.log")"; exit 0; }
start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/zt.sock" --extender "$URL"
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE" --extender "$URL/v1/state"

# n1 holds nginx:1.25 (1000 MiB; 1 of 2 known nodes): 10*(500-23)/(1000-23) = 4
if wait_for 10 score_is n1 4; then pass "prioritize: n1 scores its pushed image (4)"
else fail "prioritize after the push" "$(prio; tail -3 "$T/host.log")"; fi
check "prioritize: the DPU's node (other images) and an unknown node score 0" \
	sh -c "$(declare -f prio); URL=$URL T=$T; prio | grep -q '\"n1-dpu\",\"Score\":0}.*\"n9\",\"Score\":0}'"
filt_ok() { filt | grep -q '"NodeNames":\["n1","n1-dpu"\]'; }
check "filter: the DPU pod passes n1 (DPU up, pushed by the host) and n1-dpu" wait_for 5 filt_ok
check "status shows the push" sh -c "\"$AGENT\" status --state-dir \"$T/host\" | grep -E '^extender: node n1: (applied|keepalive)'"
check "dpu role pushes its own PU as n1-dpu" sh -c "\"$AGENT\" status --state-dir \"$T/dpu\" | grep -E '^extender: node n1-dpu: (applied|keepalive)'"

# a delta: the image leaves n1, then comes back
node n1 busybox:1.36
check "delta: image removed -> n1 scores 0" wait_for 5 score_is n1 0
node n1 nginx:1.25 busybox:1.36
check "delta: image back -> n1 scores 4" wait_for 5 score_is n1 4

# fork templates: a Running pod on n1 labelled heteropod.io/template is a
# warm template held by n1; the extender adds its bonus (5) for a pod of
# that function, and removes it when the template pod goes (deltas)
cat >"$T/fn.json" <<'EOJ'
{"Pod":{"metadata":{"name":"fn-1","namespace":"shop","labels":{"heteropod.io/template":"fn-resize"}},
 "spec":{"containers":[{"name":"fn","image":"example.com/fn-resize:1"}]}},
 "NodeNames":["n1","n1-dpu","n9"]}
EOJ
fn_score_is() { curl -sS --data-binary @"$T/fn.json" "$URL/prioritize" | grep -q "{\"Host\":\"$1\",\"Score\":$2}"; }
snaps() { "$AGENT" status --state-dir "$T/host" | sed -n 's/^extender: .* \([0-9]*\) snapshots.*/\1/p'; }
template_pod() { # PHASE [NODE]
	cat >"$T/m/tpl.yaml.tmp" <<EOT
apiVersion: v1
kind: Pod
metadata:
  name: fn-resize-template
  namespace: shop
  uid: uid-tpl-$$
  labels: {heteropod.io/template: fn-resize}
spec: {nodeName: ${2:-n1}}
status: {phase: $1}
EOT
	mv "$T/m/tpl.yaml.tmp" "$T/m/tpl.yaml"
}
check "templates: none held, the function pod scores 0 on n1" fn_score_is n1 0
S0=$(snaps)
template_pod Pending
sleep 0.5
check "templates: a Pending template pod is not held" fn_score_is n1 0
template_pod Running n2
sleep 0.5
check "templates: a Running template pod bound to another node is not held by n1" fn_score_is n1 0
template_pod Running
check "templates: a Running template pod on n1 -> n1 scores the template bonus (5)" wait_for 5 fn_score_is n1 5
check "templates: other nodes do not (n1-dpu, n9 score 0)" \
	sh -c "curl -sS --data-binary @$T/fn.json $URL/prioritize | grep -q '\"n1-dpu\",\"Score\":0}.*\"n9\",\"Score\":0}'"
check "templates: status counts one template" sh -c "\"$AGENT\" status --state-dir \"$T/host\" | grep -q ', 1 templates'"
rm "$T/m/tpl.yaml"
check "templates: template pod deleted -> the bonus is gone" wait_for 5 fn_score_is n1 0
check "templates: added and removed by deltas (no new snapshot)" test "$(snaps)" = "$S0"

# the extender restarts and forgets everything: NEED_SNAPSHOT, then a snapshot
kill $EXTPID; wait $EXTPID 2>/dev/null
start_ext || fail "extender restart"
check "after an extender restart the agents re-send a snapshot (n1 scores 4)" wait_for 5 score_is n1 4
# Which way the host learns of the restart depends on timing: a push that
# fails while the extender is down, or NEED_SNAPSHOT from the new one.
check "the host noticed the restart (failed push or NEED_SNAPSHOT)" \
	grep -qE "event=extender-need-snapshot|event=extender-push .*error=" "$T/host.log"

# the DPU is lost: the host pushes DPU_DOWN, the filter fails n1
kill -9 $DPU; wait $DPU 2>/dev/null
filt_down() { filt | grep -q '"n1":"heteropod: the node'"'"'s DPU is down'; }
if wait_for 5 filt_down; then pass "DPU lost: the filter fails n1 for DPU pods"
else fail "DPU lost: filter" "$(filt; "$AGENT" status --state-dir "$T/host" | tail -1; grep -i extender "$T/host.log" | tail -3; tail -3 "$T/ext.log")"; fi
