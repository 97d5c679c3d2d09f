#!/bin/bash
# Local mode end to end with real traffic.  Two PU namespaces (host, DPU)
# joined by a veth interconnect; each role runs in its PU's namespace
# (nsenter --net: same mount namespace, so /var/run/netns is shared).  A
# pod from YAML (heteropod.io/netns) with Istio's default in-pod rules in
# its CPU half (installed as istio-cni does); the host reads them, sends
# them with CreateHalf; each PU configures its half over a VXLAN device
# per pod (or a veth pair: AGENT_SPLIT_LINK=veth, agent_veth.sh); haproxy
# (mode tcp, server 0.0.0.0:0) is the offloaded proxy in
# the DPU half.  Then: port map across the peer link, kill -9 of the dpu
# role -> fallback (CPU half unsplit, traffic through a proxy on the CPU)
# within a measured time, restart -> offload again, kill -9 of either role
# -> nothing duplicated or leaked, pod deletion -> both halves undone.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0
command -v haproxy >/dev/null || { skip all "haproxy not installed"; exit 0; }
command -v nsenter >/dev/null || { skip all "nsenter not installed"; exit 0; }

NETNS_DIR=$TOP/tests/integration/netns	# its tagged server and client
HPN=$BUILD/bin/heteropod-netns
PY=/usr/bin/python3
GOLDEN=$SHARED/corpus/istio-inpod/iptables/default.golden
POD4=10.73.0.2 REM4=10.73.0.1 UL_H=192.0.2.1 UL_D=192.0.2.2
HALF=hpa2-$$-h-
UID1=uid-split-$$
# the per-pod link: a tunnel over the interconnect (vxlan: this kernel has
# no GENEVE) or, with AGENT_SPLIT_LINK=veth, a veth pair (agent_veth.sh)
LINK=${AGENT_SPLIT_LINK:-vxlan}

# ns VAR TAG: a namespace hpa2-$$-TAG with lo up, deleted at exit.
ns() {
	local n="hpa2-$$-$2"
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up
	at_exit ip netns del "$n"
	printf -v "$1" '%s' "$n"
}

# bg NS LOG CMD...: a process in NS, killed at exit; pid in $BG.
bg() {
	local n=$1 log=$2
	shift 2
	ip netns exec "$n" "$@" >"$log" 2>&1 &
	BG=$!
	at_exit kill $BG
}

wait_port() {
	local i
	for i in $(seq 60); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

ask() { ip netns exec "$1" "$PY" "$NETNS_DIR/client.py" tcp "$2" "$3" 2>&1; }

expect() {
	local name=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1)
	case $out in
	*"$want"*) pass "$name" ;;
	*) fail "$name" "want '$want', got '$(echo "$out" | tail -2 | tr '\n' ' ')'" ;;
	esac
}

haproxy_cfg() {
	cat >"$1" <<'CFG'
global
	log stdout format raw local0
defaults
	mode tcp
	log global
	log-format "%ft %ci:%cp orig=%fi:%fp srv=%si:%sp"
	timeout connect 2s
	timeout client 5s
	timeout server 5s
listen outbound
	bind 0.0.0.0:15001
	server s 0.0.0.0:0
listen inbound
	bind 0.0.0.0:15006
	server s 0.0.0.0:0
CFG
}

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
at_exit del_halves "$HALF"

# --- topology: PUs, interconnect, the pod's CPU half and a remote host ---
ns PUH puh && ns PUD pud && ns CPU cpu && ns REM rem || { fail "namespaces"; exit 0; }
ip -n "$PUH" link add ic0 type veth peer name ic0 netns "$PUD"
ip -n "$PUH" addr add $UL_H/24 dev ic0 && ip -n "$PUD" addr add $UL_D/24 dev ic0
ip -n "$PUH" link set ic0 up && ip -n "$PUD" link set ic0 up
ip -n "$CPU" link add eth0 type veth peer name eth0 netns "$REM"
ip -n "$CPU" addr add $POD4/24 dev eth0 && ip -n "$REM" addr add $REM4/24 dev eth0
ip -n "$CPU" link set eth0 up && ip -n "$REM" link set eth0 up
ip -n "$CPU" route add default via $REM4
# Istio's default in-pod rules, as istio-cni installs them (IPv4 block).
awk '/^(iptables|ip6tables)-save$/ { next } /^\* / { if (seen[$2]++) exit } { print }' \
	"$GOLDEN" >"$T/istio.v4"
ip netns exec "$CPU" iptables-restore --noflush "$T/istio.v4" || { fail "istio rules"; exit 0; }
ip -n "$CPU" rule add fwmark 0x111/0xfff pref 32764 lookup 100
ip -n "$CPU" route add local default dev lo table 100
cpu_snapshot() {
	# (IPv6 link-local routes appear whenever DAD is done: not ours)
	ip -n "$CPU" rule; ip -n "$CPU" route show table all | grep -v fe80; ip -n "$CPU" -br link
	ip netns exec "$CPU" nft -s list ruleset 2>/dev/null
}
BEFORE=$(cpu_snapshot)
pu_sockets() { ip netns exec "$1" ss -Hunl | wc -l; }
TUN=1; [ "$LINK" = veth ] && TUN=0	# tunnel sockets per PU while split
PUD_SOCKS=$(pu_sockets "$PUD") PUH_SOCKS=$(pu_sockets "$PUH")

bg "$REM" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp 0.0.0.0 8080 remote
bg "$CPU" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp 0.0.0.0 9080 app
wait_port "$REM" 8080 && wait_port "$CPU" 9080 || { fail "servers"; exit 0; }

# --- the agents ---
HB=100 MISSES=3
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: %dms\n  misses: %d\nlink:\n  kind: %s\n' \
	"$HALF" $HB $MISSES "$LINK" >"$T/cfg.yaml"
printf 'hsock:\n  allow-dir: %s\n' "$T/allow" >>"$T/cfg.yaml"
manifest_ns "$T/m/ns.yaml" shop all
cat >"$T/m/pod.yaml" <<EOT
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: $UID1
  annotations: {heteropod.io/netns: $CPU}
spec: {nodeName: n1}
status: {podIPs: [{ip: $POD4}]}
EOT
PEER="$UL_D:$PORT_BASE"
run_dpu() {
	nsenter --net=/var/run/netns/$PUD "$AGENT" run --role dpu --node n1 --local "$T/m" \
		--config "$T/cfg.yaml" --state-dir "$T/dpu" --peer "$PEER" \
		--zds-socket "$T/zt.sock" 2>>"$T/dpu.log" &
	DPU=$!
	at_exit kill -9 $DPU
}
run_host() {
	nsenter --net=/var/run/netns/$PUH "$AGENT" run --role host --node n1 --local "$T/m" \
		--config "$T/cfg.yaml" --state-dir "$T/host" --peer "$PEER" 2>>"$T/host.log" &
	HOST=$!
	at_exit kill -9 $HOST
}
split_is() {
	status_json "$T/host" | jpy "p = d['pods'][0]; assert p['split'] == '$1', p"
}
has_table() { ip netns exec "$1" nft list table inet heteropod >/dev/null 2>&1; }
dpu_half() { ls /var/run/netns | grep "^$HALF"; }

run_dpu
run_host
if wait_for 10 split_is split; then pass "pod split (CPU half by the host, DPU half by the dpu role)"
else fail "pod split" "$(status_json "$T/host"; tail -3 "$T/host.log" "$T/dpu.log")"; exit 0; fi
DH=$(dpu_half)
check "one DPU half namespace" test "$(dpu_half | wc -l)" = 1
if [ "$LINK" = veth ]; then
	expect "CPU half: veth end" "veth" ip -n "$CPU" -d link show hpn0
	expect "DPU half: veth end" "veth" ip -n "$DH" -d link show hpn0
	check "the two ends are one pair" test "$(ip -n "$CPU" -o link show hpn0 | sed 's/^\([0-9]*\):.*/\1/')" = \
		"$(ip -n "$DH" -o link show hpn0 | sed -n 's/.*hpn0@if\([0-9]*\).*/\1/p')"
else
	expect "CPU half: vxlan device to the DPU's PU" "vxlan id" ip -n "$CPU" -d link show hpn0
	expect "DPU half: vxlan device to the host's PU" "remote $UL_H" ip -n "$DH" -d link show hpn0
fi
# (waited for: a heartbeat flap on a loaded machine re-creates a veth pair)
dh_ip() { ip -n "$DH" addr | grep -q "inet $POD4/"; }
check "DPU half carries the pod IP" wait_for 5 dh_ip
expect "status shows the split" "split" "$AGENT" status --state-dir "$T/host"
# hsock allowlists of the app <-> proxy links, checked by hsock's own parser
HSR=$BUILD/hsock/hsock-run
# hsock usable here? (an ASan build of libhsock cannot be preloaded into
# uninstrumented programs such as haproxy)
[ -x "$HSR" ] && "$HSR" -- /bin/true 2>/dev/null || HSR=/nonexistent
expect "host: the pod's hsock allowlist" "$POD4:* *" cat "$T/allow/shop_web.allow"
expect "dpu: the halves' hsock allowlist" "$POD4:* *" cat "$T/allow/dpu.allow"
expect "status lists the pod's hsock links" '"hsock_links": [ "10.73.0.2:* *" ]' \
	sh -c "\"$AGENT\" status --state-dir \"$T/host\" --json | tr -s ' \n' ' '"
if [ -x "$HSR" ]; then
	check "hsock-run accepts both allowlists" sh -c "\"$HSR\" --allow \"$T/allow/shop_web.allow\" -- true &&
		\"$HSR\" --allow \"$T/allow/dpu.allow\" -- true"
else skip "hsock-run accepts the allowlists" "hsock not built"; fi

# --- the offloaded proxy in the DPU half, real traffic ---
haproxy_cfg "$T/hap.cfg"
if [ -x "$HSR" ]; then
	bg "$DH" "$T/hap-dpu.log" "$HSR" --allow "$T/allow/dpu.allow" --stats "$T/hs-dpu.stats" -- haproxy -f "$T/hap.cfg" -db
else
	bg "$DH" "$T/hap-dpu.log" haproxy -f "$T/hap.cfg" -db
fi
HAP_DPU=$BG
wait_port "$DH" 15001 || fail "haproxy in the DPU half"
expect "outbound: app -> remote reaches it through the DPU proxy" "remote local=$REM4:8080" \
	ask "$CPU" $REM4 8080
expect "outbound landed on 15001 in the DPU half with the original destination" \
	"outbound $POD4:" grep "orig=$REM4:8080" "$T/hap-dpu.log"
# inbound needs the port map: the app's 9080 (CPU) in the DPU half's set
ports_has() { ip netns exec "$PUD" "$HPN" ports --netns "$1" | grep -q "$2"; }
if wait_for 5 ports_has "$DH" "tcp 9080"; then pass "port map: CPU listener 9080 sent to the DPU half"
else fail "port map 9080" "$(ip netns exec "$PUD" "$HPN" ports --netns "$DH")"; fi
# the app <-> proxy link over hsock: both ends under hsock-run with the
# agent's allowlists (the shm GShm backend: both halves on this machine)
# hsock reads the agent's allowlist: the app's link with the proxy is
# allowed (attached: both ends run hsock), with an empty list it is not.
hs_app() { # ALLOWLIST STATS
	ip netns exec "$CPU" "$HSR" --allow "$1" --stats "$2" -- \
		"$PY" "$NETNS_DIR/client.py" tcp $REM4 8080
}
if [ -x "$HSR" ]; then
	: >"$T/empty.allow"
	expect "hsock: app -> remote through the DPU proxy, both under hsock" "remote local=$REM4:8080" \
		hs_app "$T/allow/shop_web.allow" "$T/hs1.stats"
	check "hsock: the agent's allowlist allows the app <-> proxy link" \
		sh -c "grep -qx 'connections_attached 1' $T/hs1.stats && grep -qx 'fallback_not_allowed 0' $T/hs1.stats"
	hs_app "$T/empty.allow" "$T/hs2.stats" >/dev/null
	check "hsock: without it the link is not allowed" grep -qx 'fallback_not_allowed 1' "$T/hs2.stats"
fi
# GShm on that link: a ping-pong on one long-lived connection (hsock
# switches established connections), app -> remote sockperf server through
# the proxy; only the app <-> proxy hop can use shared memory.
gshm() { awk -v k="$2" '$1 == k { s += $2 } END { print s + 0 }' "$1"; }
pp() { # ALLOWLIST STATS
	ip netns exec "$CPU" "$HSR" --allow "$1" --stats "$2" -- \
		sockperf pp --tcp -i $REM4 -p 11111 -m 16 -t 1 >"$2.log" 2>&1
}
if [ -x "$HSR" ] && command -v sockperf >/dev/null; then
	bg "$REM" /dev/null sockperf sr --tcp -i 0.0.0.0 -p 11111
	SP=$BG
	wait_port "$REM" 11111 || fail "sockperf server"
	pp "$T/allow/shop_web.allow" "$T/pp1.stats"
	check "hsock: app <-> DPU proxy bytes over GShm under the agent's allowlists" \
		test "$(gshm "$T/pp1.stats" bytes_gshm_tx)" -gt 0 -a "$(gshm "$T/pp1.stats" bytes_gshm_rx)" -gt 0
	echo "FIGURE: app's bytes over GShm $(gshm "$T/pp1.stats" bytes_gshm_tx) tx, $(gshm "$T/pp1.stats" bytes_gshm_rx) rx"
	if pp "$T/empty.allow" "$T/pp2.stats"; then pass "sockperf through the proxy with an empty allowlist"
	else fail "sockperf with an empty allowlist" "exit status $?: $(grep -i err "$T/pp2.stats.log" | head -2)"; fi
	check "hsock: without the allowlist entry the link stays TCP (refused, no GShm bytes)" \
		test "$(gshm "$T/pp2.stats" bytes_gshm_tx)" = 0 -a "$(gshm "$T/pp2.stats" fallback_not_allowed)" -ge 1
	kill $SP
else skip "hsock: bytes over GShm on the app <-> proxy link" "hsock not built or sockperf missing"; fi
expect "inbound: remote -> podIP:9080 reaches the app through the DPU proxy" \
	"app local=$POD4:9080" ask "$REM" $POD4 9080
expect "inbound landed on 15006 in the DPU half with the original destination" \
	"inbound $REM4:" grep "orig=$POD4:9080" "$T/hap-dpu.log"
bg "$DH" /dev/null "$PY" "$NETNS_DIR/tagsrv.py" tcp 0.0.0.0 9555 dpusvc
SVC=$BG
wait_port "$DH" 9555
if wait_for 5 ports_has "$CPU" "tcp 9555"; then pass "port map: a new DPU listener reaches the CPU half's set"
else fail "port map 9555" "$(ip netns exec "$CPU" nft list set inet heteropod peer_tcp)"; fi
expect "direct CPU -> podIP:9555 reaches the DPU half" "dpusvc local=$POD4:9555" ask "$CPU" $POD4 9555
kill $SVC; wait $SVC 2>/dev/null
no_port() { ! ports_has "$CPU" "tcp 9555"; }
check "port map: a listener gone leaves the CPU half's set" wait_for 5 no_port

mac_of() { ip -n "$1" -br link show hpn0 | awk '{ print $3 }'; }
MAC1=$(mac_of "$CPU")

# --- DPU lost: fallback to the CPU path, measured ---
t0=$(date +%s%N)
kill -9 $DPU; wait $DPU 2>/dev/null
fell_back() { ! has_table "$CPU" && split_is none; }
if wait_for 10 fell_back; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	pass "fallback: CPU half unsplit ${ms} ms after kill -9 of the dpu role"
	echo "FIGURE: fallback ${ms} ms (heartbeat ${HB} ms x ${MISSES}; link closed)"
	[ $ms -le $((HB * MISSES * 4 + 2000)) ] && pass "fallback within bound ($ms ms)" ||
		fail "fallback bound" "$ms ms"
else fail "fallback" "$(status_json "$T/host")"; fi
# (a veth pair goes with its CPU end; a return makes a new one)
check "fallback: no heteropod device left in the CPU half" sh -c "! ip -n $CPU link show hpn0 2>/dev/null"
check "fallback: the pod's hsock allowlist is removed" test ! -e "$T/allow/shop_web.allow"
# Istio's own rules now apply: a proxy on the CPU (the host's ztunnel in a
# cluster; haproxy here, its packets marked 0x539 as ztunnel marks its own)
ip netns exec "$CPU" nft -f - <<'NFT'
table inet hpa2-proxy-mark {
	chain out { type route hook output priority -400; meta skuid nobody meta mark set 0x539; }
}
NFT
sed 's/^global$/global\n\tuser nobody\n\tgroup nogroup/' "$T/hap.cfg" >"$T/hap-cpu.cfg"
bg "$CPU" "$T/hap-cpu.log" haproxy -f "$T/hap-cpu.cfg" -db
HAP_CPU=$BG
wait_port "$CPU" 15001 || fail "haproxy on the CPU"
expect "fallback: app -> remote works" "remote local=$REM4:8080" ask "$CPU" $REM4 8080
expect "fallback: it went through the CPU's proxy (15001, original destination)" \
	"outbound $POD4:" grep "orig=$REM4:8080" "$T/hap-cpu.log"
n_dpu=$(grep -c "orig=$REM4:8080" "$T/hap-dpu.log")

# --- DPU back: offload again ---
kill $HAP_CPU; wait $HAP_CPU 2>/dev/null
ip netns exec "$CPU" nft delete table inet hpa2-proxy-mark
t0=$(date +%s%N)
run_dpu
if wait_for 10 split_is split; then
	pass "DPU back: split again in $((($(date +%s%N) - t0) / 1000000)) ms"
else fail "split again" "$(status_json "$T/host"; tail -3 "$T/dpu.log")"; fi
expect "offloaded again: app -> remote" "remote local=$REM4:8080" ask "$CPU" $REM4 8080
check "offloaded again: the pod's hsock allowlist is back" grep -q "$POD4:\\* \\*" "$T/allow/shop_web.allow"
[ "$LINK" = veth ] || check "the re-created CPU end kept its MAC (the DPU's neighbour entry stays valid)" \
	test "$(mac_of "$CPU")" = "$MAC1"
check "offloaded again: through the DPU proxy" \
	test "$(grep -c "orig=$REM4:8080" "$T/hap-dpu.log")" -gt "$n_dpu"

# --- kill -9 and restart: nothing duplicated, nothing leaked ---
one_each() {
	[ "$(dpu_half | wc -l)" = 1 ] &&
	[ "$(ip netns exec "$CPU" nft list tables | grep -c heteropod)" = 1 ] &&
	[ "$(ip netns exec "$DH" nft list tables | grep -c heteropod)" = 1 ] &&
	[ "$(ip -n "$CPU" -br link | grep -c '^hpn0')" = 1 ] &&
	[ "$(ip -n "$DH" -br link | grep -c '^hpn0')" = 1 ] &&
	[ "$(pu_sockets "$PUD")" = $((PUD_SOCKS + TUN)) ] &&
	[ "$(pu_sockets "$PUH")" = $((PUH_SOCKS + TUN)) ]
}
kill -9 $HOST; wait $HOST 2>/dev/null
# as if the host had died between removing a pod and its checkpoint
echo "10.9.9.9:* *" >"$T/allow/gone_pod.allow"
run_host
sleep 0.5
if wait_for 10 split_is split && one_each; then
	pass "kill -9 host + restart: one half, one table and one device per side"
else fail "host restart" "$(dpu_half; ip netns exec "$CPU" nft list tables; ip -n "$CPU" -br link)"; fi
check "host restart: an allowlist no split pod accounts for is deleted, the pod's kept" \
	sh -c "[ ! -e \"$T/allow/gone_pod.allow\" ] && [ -e \"$T/allow/shop_web.allow\" ] && [ -e \"$T/allow/dpu.allow\" ]"
kill -9 $DPU; wait $DPU 2>/dev/null
run_dpu
sleep 0.5
if wait_for 10 split_is split && one_each; then
	pass "kill -9 dpu + restart: one half, one table and one device per side"
else fail "dpu restart" "$(dpu_half; ip netns exec "$DH" nft list tables; ip -n "$DH" -br link)"; fi
expect "after both restarts: app -> remote through the DPU" "remote local=$REM4:8080" \
	ask "$CPU" $REM4 8080

# --- pod deleted: both halves undone ---
kill $HAP_DPU; wait $HAP_DPU 2>/dev/null
rm "$T/m/pod.yaml"
gone() { [ -z "$(dpu_half)" ] && ! has_table "$CPU"; }
allow_gone() { [ ! -e "$T/allow/shop_web.allow" ] && [ ! -e "$T/allow/dpu.allow" ]; }
if wait_for 10 gone && wait_for 5 allow_gone; then pass "pod deleted: CPU half unsplit, DPU half deleted, both allowlists removed"
else fail "pod deleted" "$(dpu_half; ip netns exec "$CPU" nft list tables)"; fi
if [ "$BEFORE" = "$(cpu_snapshot)" ]; then pass "CPU half exactly as Istio left it"
else fail "CPU half restored" "$(diff <(echo "$BEFORE") <(cpu_snapshot) | head -6 | tr '\n' ' ')"; fi
tunnel_socks_gone() { [ "$(pu_sockets "$PUD")" = "$PUD_SOCKS" ] && [ "$(pu_sockets "$PUH")" = "$PUH_SOCKS" ]; }
check "no tunnel sockets left in either PU namespace" wait_for 5 tunnel_socks_gone
