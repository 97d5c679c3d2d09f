#!/bin/bash
# Waypoint placement by the heteropod-leader Lease holder, against the API
# double: Gateways of class istio-waypoint in namespaces in mode waypoint
# get a heteropod ConfigMap (DPU toleration, preferred DPU affinity) through
# spec.infrastructure.parametersRef; a Gateway with its own ConfigMap is left
# alone with an Event; mode none undoes ours.  A live Lease of another agent
# means no writes; an expired one is taken over.  No root needed.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"

agent_tmp T
NODE=v1.36-control-plane
gw() { # NS NAME CLASS [CONFIGMAP]
	printf '{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "%s", "namespace": "%s", "uid": "gw-%s"}, "spec": {"gatewayClassName": "%s"%s}},\n' \
		"$2" "$1" "$2" "$3" "${4:+, \"infrastructure\": {\"parametersRef\": {\"group\": \"\", \"kind\": \"ConfigMap\", \"name\": \"$4\"\}\}}"
}
lease() { # HOLDER RENEWTIME
	printf '{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "heteropod-leader", "namespace": "heteropod-system"}, "spec": {"holderIdentity": "%s", "leaseDurationSeconds": 15, "renewTime": "%s"}},\n' "$1" "$2"
}
objects() { # FILE LEASE-LINE
	{
		echo '['
		gw mesh wp1 istio-waypoint
		gw mesh wp2 istio-waypoint custom
		gw mesh ingress istio
		gw plain wp3 istio-waypoint heteropod-waypoint-wp3
		echo '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "heteropod-waypoint-wp3", "namespace": "plain"}, "data": {"deployment": "old"}},'
		printf '%s' "$2"
		echo '{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "mesh", "annotations": {"heteropod.io/offload": "waypoint"}}},'
		echo '{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "plain", "annotations": {"heteropod.io/offload": "none"}}}'
		echo ']'
	} >"$1"
}
run() { # TAG LEASE-LINE: a double and one host agent; port of the double in $PORT
	objects "$T/$1.json" "$2"
	/usr/bin/python3 "$HERE/apidouble.py" --corpus "$SHARED/corpus/k8s-objects" --changes 0 \
		--objects "$T/$1.json" >"$T/$1.port" &
	at_exit kill "$!"
	wait_for 5 test -s "$T/$1.port"
	PORT=$(head -1 "$T/$1.port")
	printf 'current-context: t\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:%s"}\ncontexts:\n- name: t\n  context: {cluster: c}\n' \
		"$PORT" >"$T/$1.kc"
	printf 'waypoint:\n  interval: 200ms\nheartbeat:\n  interval: 100ms\n' >"$T/$1.yaml"
	mkdir -p "$T/$1"
	start_agent AG "$T/$1.log" --role host --node $NODE --kubeconfig "$T/$1.kc" \
		--config "$T/$1.yaml" --state-dir "$T/$1"
}
state() { curl -sf "http://127.0.0.1:$PORT/debug/state"; }

run lead ""
placed() { state | jpy "
o = d['objects']
gws = o['/apis/gateway.networking.k8s.io/v1/namespaces/mesh/gateways']
assert gws['wp1']['spec']['infrastructure']['parametersRef'] == {'group': '', 'kind': 'ConfigMap', 'name': 'heteropod-waypoint-wp1'}, gws['wp1']
cm = o['/api/v1/namespaces/mesh/configmaps']['heteropod-waypoint-wp1']
dep = cm['data']['deployment']
assert 'heteropod.io/dpu' in dep and 'preferredDuringSchedulingIgnoredDuringExecution' in dep, dep
assert 'requiredDuringScheduling' not in dep
assert gws['wp2']['spec']['infrastructure']['parametersRef']['name'] == 'custom'
assert 'infrastructure' not in gws['ingress']['spec']
assert not any('deployments' in p['path'] for p in d['patches'])"; }
if wait_for 10 placed; then pass "waypoint Gateway points at a heteropod ConfigMap (preferred DPU affinity)"
else fail "waypoint placed" "$(state | head -c 400)"; fi
check "Lease acquired" sh -c "curl -sf http://127.0.0.1:$PORT/debug/state | /usr/bin/python3 -c '
import json,sys
l = json.load(sys.stdin)[\"objects\"][\"/apis/coordination.k8s.io/v1/namespaces/heteropod-system/leases\"][\"heteropod-leader\"]
assert l[\"spec\"][\"holderIdentity\"] == \"$NODE\" and l[\"spec\"][\"leaseDurationSeconds\"] == 15, l'"
undone() { state | jpy "
o = d['objects']
assert 'infrastructure' not in o['/apis/gateway.networking.k8s.io/v1/namespaces/plain/gateways']['wp3']['spec'] or \
  o['/apis/gateway.networking.k8s.io/v1/namespaces/plain/gateways']['wp3']['spec']['infrastructure'] == {}
assert 'heteropod-waypoint-wp3' not in o['/api/v1/namespaces/plain/configmaps']"; }
if wait_for 10 undone; then pass "mode none: reference and ConfigMap removed"; else fail "mode none undo" "$(state | head -c 400)"; fi
check "Event for the Gateway with its own ConfigMap" grep -q 'kind=Gateway object=mesh/wp2 reason=WaypointLeftAlone' "$T/lead.log"
sleep 0.6
check "steady state: ConfigMap written once" test "$(state | jpy "print(sum(1 for p in d['patches'] if 'mesh/configmaps' in p['path'] and p.get('method') in ('POST', 'PUT', 'PATCH')))")" = 1

run live "$(lease other-node 2099-01-01T00:00:00.000000Z)"
sleep 1.5
check "a live Lease of another agent: no writes" test "$(state | jpy "print(sum(1 for p in d['patches'] if p.get('method') and '/nodes/' not in p['path']))")" = 0
check "... and the Lease is untouched" sh -c "curl -sf http://127.0.0.1:$PORT/debug/state | /usr/bin/python3 -c '
import json,sys
l = json.load(sys.stdin)[\"objects\"][\"/apis/coordination.k8s.io/v1/namespaces/heteropod-system/leases\"][\"heteropod-leader\"]
assert l[\"spec\"][\"holderIdentity\"] == \"other-node\", l'"

run expired "$(lease dead-node 2020-01-01T00:00:00.000000Z)"
taken() { state | jpy "
l = d['objects']['/apis/coordination.k8s.io/v1/namespaces/heteropod-system/leases']['heteropod-leader']
assert l['spec']['holderIdentity'] == '$NODE', l
assert 'infrastructure' in d['objects']['/apis/gateway.networking.k8s.io/v1/namespaces/mesh/gateways']['wp1']['spec']"; }
if wait_for 10 taken; then pass "an expired Lease is taken over"; else fail "takeover" "$(state | head -c 300)"; fi
