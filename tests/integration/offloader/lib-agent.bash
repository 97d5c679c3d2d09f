# Helpers for the agent's integration scripts (sourced; not a test itself).
AGENT=$BUILD/offloader/heteropod-agent
HERE=$TOP/tests/integration/offloader
# Loopback ports from the offloader's range 26000-26999, per process.
PORT_BASE=$((26000 + ($$ % 300) * 3))

# agent_tmp VAR: a scratch directory removed at exit.
agent_tmp() {
	local d
	d=$(mktemp -d "/tmp/hpa-$HP_TEST-$$-XXXX")
	at_exit rm -rf "$d"
	printf -v "$1" '%s' "$d"
}

# agent_ns VAR TAG: a namespace "hpa-$$-TAG", deleted at exit.
agent_ns() {
	local n="hpa-$$-$2"
	ip netns add "$n" || return 1
	at_exit ip netns del "$n"
	printf -v "$1" '%s' "$n"
}

# start_agent VAR LOG ARGS...: run the agent in the background, pid in VAR.
start_agent() {
	local var=$1 log=$2
	shift 2
	"$AGENT" run "$@" 2>>"$log" &
	printf -v "$var" '%s' "$!"
	at_exit kill -9 "$!"
}

# status_json DIR: the checkpoint of the agent with --state-dir DIR.
status_json() { "$AGENT" status --state-dir "$1" --json 2>/dev/null; }

# wait_for SECONDS CMD...: poll CMD every 20 ms until it succeeds.
wait_for() {
	local end=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -gt "$end" ] && return 1
		sleep 0.02
	done
}

# jq-free JSON queries through python.
jpy() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

# Delete the DPU halves with prefix $1 (namespaces under /var/run/netns).
del_halves() {
	local n
	for n in $(ls /var/run/netns 2>/dev/null | grep "^$1"); do ip netns del "$n"; done
}

# manifest_ns FILE NAME MODE: an ambient namespace with an offload mode.
manifest_ns() {
	cat >>"$1" <<EOT
---
apiVersion: v1
kind: Namespace
metadata:
  name: $2
  labels: {istio.io/dataplane-mode: ambient}
  annotations: {heteropod.io/offload: "$3"}
EOT
}

# manifest_pod FILE NS NAME UID [NETNS]: a pod on node n1.
manifest_pod() {
	local ann="{}"
	[ -n "${5:-}" ] && ann="{heteropod.io/netns: '$5'}"
	cat >>"$1" <<EOT
---
apiVersion: v1
kind: Pod
metadata:
  name: $3
  namespace: $2
  uid: $4
  annotations: $ann
spec: {nodeName: n1, serviceAccountName: sa-$3}
status: {podIPs: [{ip: 10.44.0.$((RANDOM % 250 + 2))}]}
EOT
}
