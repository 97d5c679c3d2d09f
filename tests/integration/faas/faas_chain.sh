#!/bin/bash
# A FaaS chain end to end in local mode.  Pods of chain "thumb" (label, or
# the annotation a Knative Service's template puts on its pods) are
# grouped and placed as a unit (DPU while healthy, CPU fallback when it is
# lost, CPU when a member's mode says so); the host role writes each
# member's hsock allowlist with its member <-> member links and rewrites or
# removes them as members come and go.  The demo chain: three unmodified
# TCP functions (faas/examples/fn.c), one network namespace per pod on a
# bridge, each under hsock-run with the agent's allowlist; a caller that is
# not a member calls the first one.  hsock's stats must show the chain
# links over GShm and the caller's link (not in any allowlist) over TCP.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"
require_root || exit 0
FN=$BUILD/faas/hpfaas-fn
HSR=$BUILD/hsock/hsock-run
[ -x "$FN" ] && [ -x "$AGENT" ] || { skip all "not built (make)"; exit 0; }

agent_tmp T
mkdir -p "$T/m" "$T/host" "$T/dpu"
HALF=hpf-$$-h-
at_exit del_halves "$HALF"
NET=10.78.$(($$ % 200)).
A=${NET}1 B=${NET}2 C=${NET}3 X=${NET}9

# --- pods: one namespace each on a bridge ---
ns() {
	local n="hpf-$$-$2"
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up
	at_exit ip netns del "$n"
	printf -v "$1" '%s' "$n"
}
ns BR br || { fail "namespaces"; exit 0; }
ip -n "$BR" link add br0 type bridge && ip -n "$BR" link set br0 up
pod_ns() { # VAR TAG IP
	ns "$1" "$2" || return 1
	ip -n "${!1}" link add eth0 type veth peer name "v$2" netns "$BR"
	ip -n "$BR" link set "v$2" master br0 up
	ip -n "${!1}" addr add "$3/24" dev eth0 && ip -n "${!1}" link set eth0 up
}
pod_ns NA a $A && pod_ns NB b $B && pod_ns NC c $C && pod_ns NX x $X ||
	{ fail "pod namespaces"; exit 0; }

# --- manifests ---
cat >"$T/m/ns.yaml" <<EOT
apiVersion: v1
kind: Namespace
metadata:
  name: fx
  annotations: {heteropod.io/offload: all}
EOT
member() { # NAME IP PORT META (labels/annotations YAML)
	cat >"$T/m/$1.yaml.tmp" <<EOT
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: fx
  uid: uid-$1-$$
$4
spec:
  nodeName: n1
  containers:
  - name: fn
    image: example.com/$1:1
    ports: [{containerPort: $3}, {containerPort: 9999, protocol: UDP}]
status: {phase: Running, podIPs: [{ip: $2}]}
EOT
	mv "$T/m/$1.yaml.tmp" "$T/m/$1.yaml"
}
member fn-a $A 8081 "  labels: {heteropod.io/chain: thumb}"
# fn-b as a Knative Service's pods carry it: the template's annotation
member fn-b $B 8082 "  labels: {serving.knative.dev/service: fn-b}
  annotations: {heteropod.io/chain: thumb}"
member fn-c $C 8083 "  labels: {heteropod.io/chain: thumb}"
member lone $X 8089 "  labels: {heteropod.io/chain: solo}"
member bad 10.79.0.1 8000 "  annotations: {heteropod.io/chain: 'not a name!'}"

# --- agents (local mode, both roles on this machine) ---
printf 'dpu:\n  half-prefix: %s\nheartbeat:\n  interval: 100ms\n  misses: 3\nhsock:\n  allow-dir: %s\n' \
	"$HALF" "$T/allow" >"$T/cfg.yaml"
run_dpu() { # [CONFIG]
	start_agent DPU "$T/dpu.log" --role dpu --node n1 --local "$T/m" --config "${1:-$T/cfg.yaml}" \
		--state-dir "$T/dpu" --peer "127.0.0.1:$PORT_BASE" --zds-socket "$T/zt.sock"
}
run_dpu
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE"

placed() { # NAME PLACEMENT [REASON]
	status_json "$T/host" | jpy "p = [p for p in d['pods'] if p['name'] == '$1'][0];
assert p['class'] == 'chain' and p['placement'] == '$2', p
assert '${3:-}' in p['reason'], p"
}
all_placed() { placed fn-a "$@" && placed fn-b "$@" && placed fn-c "$@"; }
if wait_for 10 all_placed dpu; then pass "chain thumb (label and Knative-style annotation) placed on the DPU as a unit"
else fail "chain placed on the DPU" "$(status_json "$T/host" | head -40)"; fi
check "a one-member chain has no links and no allowlist" test ! -e "$T/allow/fx_lone.allow"
check "a bad chain name is an Event and not a member" grep -q 'reason=InvalidChain' "$T/host.log"
check "status shows the chain members" sh -c "\"$AGENT\" status --state-dir \"$T/host\" | grep fx/fn-b | grep -q 'chain=thumb'"

has() { grep -qxF "$2" "$T/allow/$1.allow"; }
check "fn-a's allowlist: calls fn-b's port, is called from fn-b" \
	sh -c "$(declare -f has); T=$T; has fx_fn-a '$B:8082 $A:*' && has fx_fn-a '$A:8081 $B:*'"
check "fn-a's allowlist: fn-c both ways (member <-> member)" \
	sh -c "$(declare -f has); T=$T; has fx_fn-a '$C:8083 $A:*' && has fx_fn-a '$A:8081 $C:*'"
check "fn-b's allowlist: the same links seen from fn-b" \
	sh -c "$(declare -f has); T=$T; has fx_fn-b '$B:8082 $A:*' && has fx_fn-b '$C:8083 $B:*'"
check "no allowlist mentions the non-member (or the UDP port)" \
	sh -c "! cat $T/allow/*.allow | grep -qE '$X|9999'"
[ -x "$HSR" ] && "$HSR" -- /bin/true 2>/dev/null || HSR=
if [ -n "$HSR" ]; then
	check "hsock-run accepts the members' allowlists" sh -c "for f in $T/allow/fx_fn-*.allow; do \"$HSR\" --allow \$f -- true || exit 1; done"
fi

# --- the demo chain under hsock: caller -> fn-a -> fn-b -> fn-c ---
gsum() { awk -v k="$2" '$1 == k { s += $2 } END { print s + 0 }' "$1"; }
if [ -n "$HSR" ]; then
	fn() { # NS NAME [ARGS...]: a function under hsock-run with its pod's allowlist
		local n=$1 name=$2
		shift 2
		ip netns exec "$n" "$HSR" --allow "$T/allow/fx_$name.allow" --stats "$T/$name.stats" -- \
			"$FN" serve "$@" >"$T/$name.log" 2>&1 &
		FN_PIDS+=($!)
		at_exit kill $!
	}
	FN_PIDS=()
	fn "$NC" fn-c c $C:8083
	fn "$NB" fn-b b $B:8082 $C:8083
	fn "$NA" fn-a a $A:8081 $B:8082
	up() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }
	wait_for 5 up "$NC" 8083 && wait_for 5 up "$NB" 8082 && wait_for 5 up "$NA" 8081 ||
		fail "functions listening"
	echo '* *' >"$T/any.allow"	# the caller would switch: only fn-a's list refuses
	out=$(ip netns exec "$NX" "$HSR" --allow "$T/any.allow" --stats "$T/caller.stats" -- \
		"$FN" call $A:8081 2000 2>&1)
	case $out in
	"req-1999 c b a"*) pass "the chain answers through all three functions" ;;
	*) fail "chain answer" "$out" ;;
	esac
	# the functions write their stats when they exit (SIGTERM)
	kill "${FN_PIDS[@]}"
	stats_in() { [ -s "$T/fn-a.stats" ] && [ -s "$T/fn-b.stats" ] && [ -s "$T/fn-c.stats" ]; }
	wait_for 5 stats_in
	echo "FIGURE: GShm bytes tx fn-a $(gsum "$T/fn-a.stats" bytes_gshm_tx)," \
		"fn-b $(gsum "$T/fn-b.stats" bytes_gshm_tx), fn-c $(gsum "$T/fn-c.stats" bytes_gshm_tx);" \
		"caller $(gsum "$T/caller.stats" bytes_gshm_tx)"
	check "link fn-b <-> fn-c over GShm (both ends' stats)" \
		test "$(gsum "$T/fn-c.stats" bytes_gshm_tx)" -gt 0 -a "$(gsum "$T/fn-c.stats" bytes_gshm_rx)" -gt 0
	check "link fn-a <-> fn-b over GShm (fn-b serves fn-a and calls fn-c: both accelerated)" \
		test "$(gsum "$T/fn-b.stats" connections_accelerated)" -ge 2
	check "fn-a: its link to fn-b over GShm" test "$(gsum "$T/fn-a.stats" bytes_gshm_rx)" -gt 0
	check "caller <-> fn-a (no allowlist entry) stayed TCP: refused by fn-a, no GShm bytes at the caller" \
		test "$(gsum "$T/fn-a.stats" fallback_not_allowed)" -ge 1 -a "$(gsum "$T/caller.stats" bytes_gshm_tx)" = 0 \
		-a "$(gsum "$T/caller.stats" bytes_gshm_rx)" = 0
else skip "the demo chain under hsock" "hsock not built"; fi

# --- fallback with the DPU, and back ---
kill -9 $DPU; wait $DPU 2>/dev/null
if wait_for 10 all_placed cpu "DPU down"; then pass "DPU lost: the whole chain falls back to the CPU"
else fail "chain fallback" "$(status_json "$T/host" | head -30)"; fi
check "the chain's allowlists stay while it runs on the CPU" has fx_fn-a "$B:8082 $A:*"
run_dpu
check "DPU back: the chain returns to the DPU" wait_for 10 all_placed dpu
# a DPU with room for two members cannot take the chain of three
kill -9 $DPU; wait $DPU 2>/dev/null
sed 's/^dpu:$/dpu:\n  max-halves: 2/' "$T/cfg.yaml" >"$T/cfg-small.yaml"
run_dpu "$T/cfg-small.yaml"
check "a DPU without room for the whole chain keeps all of it on the CPU" wait_for 10 all_placed cpu "DPU full"
kill -9 $DPU; wait $DPU 2>/dev/null
run_dpu
check "room again: the chain returns to the DPU" wait_for 10 all_placed dpu

# --- a member's mode keeps the whole chain on the CPU ---
member fn-c $C 8083 "  labels: {heteropod.io/chain: thumb}
  annotations: {heteropod.io/offload: none}"
check "a member in mode none keeps the whole chain on the CPU" wait_for 10 all_placed cpu "offload mode"
member fn-c $C 8083 "  labels: {heteropod.io/chain: thumb}"
check "and back on the DPU when it allows it again" wait_for 10 all_placed dpu

# --- kill -9 of the host role and a restart: the same files, no orphans ---
snap() { for f in "$T"/allow/*.allow; do echo "== $f"; cat "$f"; done; }
BEFORE=$(snap)
kill -9 $HOST; wait $HOST 2>/dev/null
echo "$A:1 $B:*" >"$T/allow/fx_gone.allow"	# as if it died before its checkpoint
start_agent HOST "$T/host.log" --role host --node n1 --local "$T/m" --config "$T/cfg.yaml" \
	--state-dir "$T/host" --peer "127.0.0.1:$PORT_BASE"
same() { [ "$(snap)" = "$BEFORE" ]; }
if wait_for 10 all_placed dpu && wait_for 5 same; then
	pass "kill -9 host + restart: the members' allowlists as before, an orphan deleted"
else fail "host restart" "$(diff <(echo "$BEFORE") <(snap) | head -5 | tr '\n' ' ')"; fi

# --- a member goes away: its allowlist and its links are removed ---
rm "$T/m/fn-c.yaml"
gone() { [ ! -e "$T/allow/fx_fn-c.allow" ] && ! grep -q "$C" "$T/allow/fx_fn-a.allow" "$T/allow/fx_fn-b.allow"; }
if wait_for 10 gone; then pass "member deleted: its allowlist removed, the others no longer name it"
else fail "member deleted" "$(ls "$T/allow"; cat "$T/allow/fx_fn-a.allow")"; fi
check "the remaining members keep their link" has fx_fn-b "$B:8082 $A:*"
rm "$T/m/fn-b.yaml"
check "a chain of one has no links: fn-a's allowlist removed" wait_for 10 test ! -e "$T/allow/fx_fn-a.allow"
