#!/bin/bash
# The real host/DPU link on one machine, without touching the root
# namespace: two "PU root" namespaces (PUA = host, PUB = DPU) joined by a
# veth are the interconnect (MTU 1400).  Each PU configures its own pod
# half independently (`heteropod-netns half`, run inside its PU namespace):
# the per-pod VXLAN (or GENEVE) device is created there and moved into the
# half.  Then the same real traffic as split.sh, a bulk transfer across
# the reduced MTU, and `unhalf` on each side.
. "$TOP/tests/lib.sh"
require_root || exit 0
. "$TOP/tests/integration/netns/topo.inc"
. "$TOP/tests/integration/netns/checks.inc"
command -v haproxy >/dev/null || { skip all "haproxy not installed"; exit 0; }

UL_A=192.0.2.1 UL_B=192.0.2.2 UL_MTU=1400

# pu_create: the two PU root namespaces and their interconnect.
pu_create() {
	hpn_ns PUA pua && hpn_ns PUB pub || return 1
	ip -n "$PUA" link add ic0 mtu $UL_MTU type veth peer name ic0 mtu $UL_MTU netns "$PUB" &&
	ip -n "$PUA" addr add $UL_A/24 dev ic0 && ip -n "$PUB" addr add $UL_B/24 dev ic0 &&
	ip -n "$PUA" link set ic0 up && ip -n "$PUB" link set ic0 up
}

# kind_works KIND: the kernel has KIND devices (GENEVE is often not built).
kind_works() {
	local n=hpn2-probe-$$ ok=1
	ip netns add $n || return 1
	ip -n $n link add t0 type "$1" id 1 remote $UL_B dstport 4790 2>/dev/null || ok=0
	ip netns del $n
	[ $ok = 1 ]
}

# pu_state NS: the PU namespace's links and UDP sockets.
pu_state() {
	ip -n "$1" -br link | awk '{ print $1 }'
	ip netns exec "$1" ss -Hunl
}

# frags: IPv4 fragments created in both PU namespaces so far.
frags() {
	local n s=0
	for n in "$PUA" "$PUB"; do
		n=$(ip netns exec "$n" awk '/^Ip: [A-Z]/ { for (i = 1; i <= NF; i++) if ($i == "FragCreates") f = i }
			/^Ip: [0-9]/ { print $f }' /proc/net/snmp)
		s=$((s + n))
	done
	echo $s
}

# run_case KIND VNI PORT GOLDEN: one pod over a KIND link.  The DPU half
# gets --rules (nothing is installed there); the CPU half reads Istio's
# rules from its own kernel.
run_case() {
	local t=$1 vni=$2 port=$3 g=$4 before pua pub hlog mtu ports f0
	local opts="--link-kind $1 --vni $vni --dstport $port"
	topo_create "-$t" || { fail "$t topology"; return; }
	istio_install "$g" || { fail "$t istio rules"; return; }
	before=$(snapshot "$CPU") pua=$(pu_state "$PUA") pub=$(pu_state "$PUB")
	hlog=$(mktemp); at_exit rm -f "$hlog"
	pod_servers "$t" || return

	check "$t DPU half (in the DPU's PU namespace)" ip netns exec "$PUB" \
		$HPN half --half dpu --netns "$DPU" --pod-ip $POD4,$POD6 $opts \
		--underlay-local $UL_B --underlay-remote $UL_A --rules "$g"
	check "$t CPU half (in the host's PU namespace, rules from the kernel)" \
		ip netns exec "$PUA" $HPN half --half cpu --netns "$CPU" \
		--pod-ip $POD4,$POD6 $opts --underlay-local $UL_A --underlay-remote $UL_B
	check "$t CPU half again (idempotent)" ip netns exec "$PUA" $HPN half \
		--half cpu --netns "$CPU" --pod-ip $POD4,$POD6 $opts \
		--underlay-local $UL_A --underlay-remote $UL_B
	expect "$t device in the CPU half: $t id $vni to the DPU's PU" \
		"$t id $vni remote $UL_B" ip -n "$CPU" -d link show hpn0
	mtu=$(ip -n "$DPU" -j link show hpn0 | sed -n 's/.*"mtu":\([0-9]*\).*/\1/p')
	if [ "$mtu" = $((UL_MTU - 50)) ]; then pass "$t MTU = interconnect - 50 ($mtu)"; else
		fail "$t MTU" "got '$mtu', want $((UL_MTU - 50))"; fi
	if ! ip -n "$PUA" link show hpn0 >/dev/null 2>&1 &&
	   ip netns exec "$PUA" ss -Hunl "sport = :$port" | grep -q .; then
		pass "$t device moved into the half; its UDP socket stays in the PU namespace"
	else fail "$t device placement" "$(pu_state "$PUA" | tr '\n' ' ')"; fi

	pod_proxy "$t" "$hlog" || return
	# the port map, per half: each PU learns the other's listeners
	ports=$($HPN ports --netns "$CPU" --listening | tr ' ' / | paste -sd,)
	check "$t DPU half learns the CPU's listeners" $HPN ports --netns "$DPU" --add "$ports"
	ports=$($HPN ports --netns "$DPU" --listening | tr ' ' / | paste -sd,)
	check "$t CPU half learns the DPU's listeners" $HPN ports --netns "$CPU" --add "$ports"
	expect "$t DPU half sends 9080 to the CPU" "tcp 9080" $HPN ports --netns "$DPU"

	pod_traffic "$t" "$hlog"

	f0=$(frags)
	bg "$REM" /dev/null "$PY" "$NETNS_DIR/bulk.py" serve 0.0.0.0 8081
	bg "$CPU" /dev/null "$PY" "$NETNS_DIR/bulk.py" serve 0.0.0.0 9081
	wait_port "$REM" tcp 8081 && wait_port "$CPU" tcp 9081
	$HPN ports --netns "$DPU" --add tcp/9081 >/dev/null
	expect "$t 4 MiB outbound through the proxy" "got 4194304" \
		ip netns exec "$CPU" "$PY" "$NETNS_DIR/bulk.py" send $REM4 8081 4194304
	expect "$t 4 MiB inbound through the proxy" "got 4194304" \
		ip netns exec "$REM" "$PY" "$NETNS_DIR/bulk.py" send $POD4 9081 4194304
	if [ "$(frags)" = "$f0" ]; then pass "$t no underlay fragmentation"; else
		fail "$t underlay fragmentation" "$f0 -> $(frags) fragments"; fi

	check "$t unhalf CPU" ip netns exec "$PUA" $HPN unhalf --netns "$CPU"
	check "$t unhalf DPU" ip netns exec "$PUB" $HPN unhalf --netns "$DPU"
	check "$t unhalf again" ip netns exec "$PUA" $HPN unhalf --netns "$CPU"
	if ! ip -n "$CPU" link show hpn0 >/dev/null 2>&1 && ! ip -n "$DPU" link show hpn0 >/dev/null 2>&1 &&
	   [ "$(pu_state "$PUA")" = "$pua" ] && [ "$(pu_state "$PUB")" = "$pub" ]; then
		pass "$t devices and their PU-side sockets are gone"
	else fail "$t devices removed" "$(ip -n "$CPU" -br link; ip -n "$DPU" -br link; diff <(echo "$pua") <(pu_state "$PUA"); diff <(echo "$pub") <(pu_state "$PUB"))"; fi
	if [ "$before" = "$(snapshot "$CPU")" ]; then pass "$t unhalf restores the CPU half"; else
		fail "$t unhalf restores" "$(diff <(echo "$before") <(snapshot "$CPU") | head -5 | tr '\n' ' ')"; fi
}

pu_create || { fail "PU namespaces"; exit 0; }
g=$SHARED/corpus/istio-inpod/iptables/default_ipv6.golden
run_case vxlan 73 4789 "$g"
if kind_works geneve; then run_case geneve 74 6081 "$g"
else skip "geneve" "this kernel has no GENEVE (CONFIG_GENEVE); the same code path creates it"; fi

# an IPv6 interconnect: the vxlan pod again (its namespaces, Istio's rules
# and haproxy are still there), MTU 1400 - 70
ip -n "$PUA" addr add fd00:1c::1/64 dev ic0 nodad && ip -n "$PUB" addr add fd00:1c::2/64 dev ic0 nodad
v6="--link-kind vxlan --vni 77 --pod-ip $POD4,$POD6"
check "v6 underlay: DPU half" ip netns exec "$PUB" $HPN half --half dpu --netns "$DPU" $v6 \
	--underlay-local fd00:1c::2 --underlay-remote fd00:1c::1 --rules "$g"
check "v6 underlay: CPU half" ip netns exec "$PUA" $HPN half --half cpu --netns "$CPU" $v6 \
	--underlay-local fd00:1c::1 --underlay-remote fd00:1c::2
expect "v6 underlay: MTU 1330" "mtu $((UL_MTU - 70))" ip -n "$CPU" link show hpn0
$HPN ports --netns "$DPU" --add tcp/9080,tcp/9081 >/dev/null
expect "v6 underlay: outbound through the proxy" "remote local=$REM4:8080" ask "$CPU" tcp $REM4 8080
expect "v6 underlay: 4 MiB inbound through the proxy" "got 4194304" \
	ip netns exec "$REM" "$PY" "$NETNS_DIR/bulk.py" send $POD4 9081 4194304
check "v6 underlay: unhalf CPU" ip netns exec "$PUA" $HPN unhalf --netns "$CPU"
check "v6 underlay: unhalf DPU" ip netns exec "$PUB" $HPN unhalf --netns "$DPU"

# a wrong underlay address is named, and leaves nothing behind
out=$(ip netns exec "$PUA" $HPN half --half cpu --netns "$CPU" --pod-ip $POD4 \
	--link-kind vxlan --vni 75 --underlay-local 192.0.2.9 --underlay-remote $UL_B \
	--rules "$g" 2>&1); rc=$?
if [ $rc = 1 ] && [[ $out == *"192.0.2.9 is not an address"* ]] &&
   ! ip -n "$CPU" link show hpn0 >/dev/null 2>&1; then
	pass "unknown --underlay-local: exit 1 naming it, no device"; else
	fail "unknown --underlay-local" "rc=$rc $out"; fi

# rules the kernel rejects (a jump loop) after the device was created:
# the half fails and takes its new device (and PU-side socket) with it
bad=$(mktemp); at_exit rm -f "$bad"
cat >"$bad" <<'NFT'
add chain inet t output { type nat hook output priority -100 ; }
add chain inet t a
add chain inet t b
add rule inet t output jump a
add rule inet t a meta l4proto tcp jump b
add rule inet t b meta l4proto udp jump a
add rule inet t b meta l4proto tcp redirect to :15001
NFT
pua=$(pu_state "$PUA")
ip netns exec "$PUA" $HPN half --half cpu --netns "$CPU" --pod-ip $POD4 --link-kind vxlan \
	--vni 76 --underlay-local $UL_A --underlay-remote $UL_B --rules "$bad" >/dev/null 2>&1; rc=$?
if [ $rc = 1 ] && ! ip -n "$CPU" link show hpn0 >/dev/null 2>&1 && [ "$(pu_state "$PUA")" = "$pua" ]; then
	pass "a failed half removes the device it created"; else
	fail "failed half leaves nothing" "rc=$rc $(ip -n "$CPU" -br link | tr '\n' ' ')"; fi

# the pod's namespace vanishes (pod deleted, crash): the kernel deletes the
# device with it, its socket leaves the PU namespace; unhalf is then a no-op
pua=$(pu_state "$PUA")
check "half for a pod about to vanish" ip netns exec "$PUA" $HPN half --half cpu --netns "$CPU" \
	--pod-ip $POD4 --link-kind vxlan --vni 78 --underlay-local $UL_A --underlay-remote $UL_B --rules "$g"
for p in $(ip netns pids "$CPU"); do kill "$p"; done
ip netns del "$CPU"
for i in $(seq 40); do [ "$(pu_state "$PUA")" = "$pua" ] && break; sleep 0.05; done
if [ "$(pu_state "$PUA")" = "$pua" ]; then pass "vanished half: no socket left in the PU namespace"; else
	fail "vanished half" "$(diff <(echo "$pua") <(pu_state "$PUA") | tr '\n' ' ')"; fi
check "unhalf of a vanished half exits 0" ip netns exec "$PUA" $HPN unhalf --netns "$CPU"

# a link someone else made (kind veth: the agent's veth pair): unhalf keeps
# the device and takes back exactly the host addresses half added
hpn_ns VA va && hpn_ns VB vb
ip -n "$VA" link add hpn0 type veth peer name hpn0 netns "$VB"
ip -n "$VA" addr add 198.51.100.7/24 dev hpn0
addrs() { ip -n "$1" -o addr show dev hpn0 | awk '{ print $3, $4 }' | sort; }
before=$(addrs "$VA")
check "half on an existing veth" $HPN half --half dpu --netns "$VA" --pod-ip $POD4,$POD6 --rules "$g"
if addrs "$VA" | grep -q "^inet $POD4/32"; then pass "half adds the pod address to the veth"; else
	fail "half adds the pod address" "$(addrs "$VA" | tr '\n' ' ')"; fi
check "unhalf of the veth half" $HPN unhalf --netns "$VA"
if ip -n "$VA" link show hpn0 >/dev/null 2>&1 && [ "$(addrs "$VA")" = "$before" ]; then
	pass "unhalf keeps the veth and removes only the addresses half added"; else
	fail "unhalf on a veth" "$(diff <(echo "$before") <(addrs "$VA") | tr '\n' ' ')"; fi
