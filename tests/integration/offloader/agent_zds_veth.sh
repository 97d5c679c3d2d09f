#!/bin/bash
# link.kind veth with a pod handed over by istio-cni (ZDS): the host holds
# the CPU half only as a relayed fd, so the dpu role reaches it through
# /proc/<host pid>/fd/<n> (LinkParams.cpu_netns) to make the veth pair.
# The pod's namespace holds Istio's default in-pod rules, so it is split.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0
GOLDEN=$SHARED/corpus/istio-inpod/iptables/default.golden

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpa-$$-zv-
at_exit del_halves "$HALF"
agent_ns P1 zv
ip -n "$P1" link set lo up
ip -n "$P1" link add eth0 type dummy && ip -n "$P1" addr add 10.74.0.2/24 dev eth0 &&
	ip -n "$P1" link set eth0 up
awk '/^(iptables|ip6tables)-save$/ { next } /^\* / { if (seen[$2]++) exit } { print }' \
	"$GOLDEN" >"$T/istio.v4"
ip netns exec "$P1" iptables-restore --noflush "$T/istio.v4" || { fail "istio rules"; exit 0; }
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: 100ms\nlink:\n  kind: veth\nhsock:\n  allow-dir: %s\n' \
	"$HALF" "$T/allow" >"$T/cfg.yaml"
manifest_ns "$T/m/pods.yaml" shop all
cat >>"$T/m/pods.yaml" <<EOT
---
kind: Pod
metadata: {name: web, namespace: shop, uid: uid-zv-$$}
spec: {nodeName: n1}
status: {podIPs: [{ip: 10.74.0.2}]}
EOT
/usr/bin/python3 "$HERE/zdsfake.py" cni --socket "$T/cni.sock" --out "$T/cni.json" \
	--workload "uid-zv-$$=$P1" &
CNI=$!
at_exit kill "$CNI"
wait_for 5 test -S "$T/cni.sock"
start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/ztunnel.sock"
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE" --cni-zds "$T/cni.sock"

split() { status_json "$T/host" | jpy "p = d['pods'][0]; assert p['split'] == 'split', p"; }
if wait_for 10 split; then pass "relayed pod split over a veth pair"
else fail "relayed pod split" "$(status_json "$T/host" | grep -E 'split|reason'; tail -3 "$T/dpu.log")"; exit 0; fi
check "istio-cni acked without error" jpy 'assert d["acks"][0]["error"] == "", d' <"$T/cni.json"
DH=$(ls /var/run/netns | grep "^$HALF")
peer_of() { ip -n "$1" -o link show hpn0 | sed -n 's/.*hpn0@if\([0-9]*\).*/\1/p'; }
idx_of() { ip -n "$1" -o link show hpn0 | sed 's/^\([0-9]*\):.*/\1/'; }
check "the pod's namespace (a relayed fd) holds one end, the DPU half the other" \
	test -n "$DH" -a "$(peer_of "$DH")" = "$(idx_of "$P1")" -a "$(peer_of "$P1")" = "$(idx_of "$DH")"
check "both ends are veth" sh -c "ip -n $P1 -d link show hpn0 | grep -q veth && ip -n $DH -d link show hpn0 | grep -q veth"
