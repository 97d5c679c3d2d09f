#!/bin/bash
# Cluster mode against the API-server double (recorded kind-cluster objects
# plus a test namespace): Events for bad annotations are POSTed through the
# API, the node label heteropod.io/dpu-state=down is PATCHed when no DPU is
# there, heteropod.io/netns is ignored outside local mode, /readyz follows
# the first lists.  No root needed.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"

agent_tmp T
NODE=v1.36-control-plane
cat >"$T/objects.json" <<EOT
[
 {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "shop", "uid": "ns-shop",
  "labels": {"istio.io/dataplane-mode": "ambient"},
  "annotations": {"heteropod.io/offload": "sometimes"}}},
 {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "kube-system"}},
 {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "$NODE", "uid": "node-uid"}},
 {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "sneaky", "namespace": "shop",
  "uid": "uid-sneaky", "annotations": {"heteropod.io/netns": "/proc/1/ns/net",
  "heteropod.io/offload": "all"}}, "spec": {"nodeName": "$NODE"}}
]
EOT
/usr/bin/python3 "$HERE/apidouble.py" --corpus "$SHARED/corpus/k8s-objects" --changes 5 \
	--objects "$T/objects.json" --token-file "$T/token" >"$T/port" &
API=$!
at_exit kill "$API"
wait_for 5 test -s "$T/port"
PORT=$(head -1 "$T/port")
cat >"$T/kubeconfig" <<EOT
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: double
  cluster: {server: "http://127.0.0.1:$PORT"}
users:
- name: agent
  user: {tokenFile: token}
contexts:
- name: test
  context: {cluster: double, user: agent}
EOT
printf 'heartbeat:\n  interval: 100ms\n  misses: 2\nkube:\n  watch-timeout: 2\n' >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
LISTEN=127.0.0.1:$((PORT_BASE + 2))
start_agent HOST "$T/host.log" --role host --node "$NODE" --kubeconfig "$T/kubeconfig" \
	--config "$T/cfg.yaml" --state-dir "$T" --listen "$LISTEN" --cni-zds "$T/no-cni.sock"

state() { curl -sf "http://127.0.0.1:$PORT/debug/state"; }
posted() { state | jpy "
e = [x for x in d['events_posted'] if x['reason'] == 'InvalidOffloadMode']
assert any(x['involvedObject']['kind'] == 'Namespace' and x['involvedObject']['name'] == 'shop'
           and x['metadata']['namespace'] == 'default' and 'accepted: all, waypoint, none' in x['message']
           and x['type'] == 'Warning' for x in e), d['events_posted']"; }
if wait_for 10 posted; then pass "Event POSTed for the bad namespace annotation"
else fail "Event POSTed" "$(state | head -c 300)"; fi
check "/readyz after the first lists" curl -sf "http://$LISTEN/readyz"
labelled() { state | jpy "
p = [x for x in d['patches'] if x['path'] == '/api/v1/nodes/$NODE']
assert p and p[-1]['body'] == {'metadata': {'labels': {'heteropod.io/dpu-state': 'down'}}}, p
assert p[-1]['type'] == 'application/merge-patch+json', p"; }
if wait_for 10 labelled; then pass "node labelled dpu-state=down (no DPU)"
else fail "node label" "$(state | head -c 300)"; fi
same_pods() { # the agent's rows are the double's pods of this node
	[ "$(status_json "$T" | jpy 'print(sorted(p["namespace"] + "/" + p["name"] for p in d["pods"]))')" = \
	  "$(state | jpy 'assert d["done"]; print(sorted(d["pods"]))')" ]
}
if wait_for 10 same_pods; then pass "one row per pod of the node (recorded list + changes)"
else fail "rows" "$(status_json "$T" | head -c 300)"; fi
check "heteropod.io/netns is not honoured in cluster mode" sh -c "\"$AGENT\" status --state-dir \"$T\" --json | /usr/bin/python3 -c '
import json,sys
p = [p for p in json.load(sys.stdin)[\"pods\"] if p[\"name\"] == \"sneaky\"][0]
assert p[\"mode\"] == \"all\" and p[\"mode_source\"] == \"pod\", p
assert not p[\"relayed\"] and p[\"netns\"] == \"\" and p[\"placement\"] == \"cpu\" and p[\"split\"] == \"none\", p'"
check "watch metrics" sh -c "curl -sf http://$LISTEN/metrics | grep -E '^heteropod_agent_lists_total [3-9]'"
kill "$HOST"
wait "$HOST"
check "SIGTERM: clean exit" test $? -eq 0
