#!/bin/bash
# heteropod-agent benchmark: cold reconcile of 1000 pods, agent RSS, watch
# events per second; each beside the baseline measured in the same run.
#   baseline for the reconcile: curl fetching the same PodList (transport
#   and server cost only, no processing);
#   baseline for RSS: the issue's target (30 MiB) and curl's peak RSS for
#   the same list;
#   baseline for events/s: curl reading the same watch stream to /dev/null.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
SHARED=${SHARED:-$(cd "$TOP/.." && pwd)/shared}
AGENT=$BUILD/offloader/heteropod-agent
DOUBLE=$TOP/tests/integration/offloader/apidouble.py
NODE=v1.36-control-plane
PODS=1000 EVENTS=20000
T=$(mktemp -d /tmp/hpa-bench-$$-XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }

start_double() { # ARGS...: port in $PORT
	/usr/bin/python3 "$DOUBLE" --corpus "$SHARED/corpus/k8s-objects" --changes 0 "$@" >"$T/port" &
	pids+=($!)
	while [ ! -s "$T/port" ]; do sleep 0.02; done
	PORT=$(head -1 "$T/port")
	: >"$T/port"
}

# --- cold reconcile of 1000 pods ---
start_double --pods $PODS
URL=http://127.0.0.1:$PORT
t0=$(ms); curl -s "$URL/api/v1/pods?limit=500&fieldSelector=spec.nodeName%3D$NODE" -o "$T/p1"
c=$(/usr/bin/python3 -c "import json;print(json.load(open('$T/p1'))['metadata'].get('continue',''))")
curl -s "$URL/api/v1/pods?limit=500&continue=$c&fieldSelector=spec.nodeName%3D$NODE" -o "$T/p2"
c=$(/usr/bin/python3 -c "import json;print(json.load(open('$T/p2'))['metadata'].get('continue',''))")
curl -s "$URL/api/v1/pods?limit=500&continue=$c&fieldSelector=spec.nodeName%3D$NODE" -o "$T/p3"
t1=$(ms); base_list=$((t1 - t0))
curl_rss=$( { /usr/bin/time -f %M curl -s "$URL/api/v1/pods?fieldSelector=spec.nodeName%3D$NODE" -o /dev/null; } 2>&1)

printf 'current-context: b\nclusters:\n- name: c\n  cluster: {server: "%s"}\ncontexts:\n- name: b\n  context: {cluster: c}\n' "$URL" >"$T/kc"
mkdir -p "$T/state"
want=$((PODS + 8))
t0=$(ms)
"$AGENT" run --role host --node $NODE --kubeconfig "$T/kc" --state-dir "$T/state" 2>"$T/agent.log" &
apid=$!
pids+=($apid)
until [ "$(grep -c '"uid":' "$T/state/state.json" 2>/dev/null || true)" -ge $want ] 2>/dev/null; do sleep 0.005; done
t1=$(ms); cold=$((t1 - t0))
# CPU the agent itself used for it (user + system), robust to machine load.
cpu_ms=$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' /proc/$apid/stat)
sleep 0.5
rss=$(awk '/VmRSS/ {print $2}' /proc/$apid/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$apid/status)
kill $apid

# --- watch events per second ---
start_double --burst $EVENTS
URL=http://127.0.0.1:$PORT
t0=$(ms); curl -s "$URL/api/v1/pods?watch=1&resourceVersion=554" -o /dev/null; t1=$(ms)
base_eps=$((EVENTS * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1)))
eps=$("$BUILD/bench/agent/bench_watch" "$URL" $EVENTS)

printf '\nheteropod-agent benchmark (%d pods, %d watch events)\n' $PODS $EVENTS
printf '%-44s %12s %12s %8s\n' "measure" "agent" "baseline" "ratio"
printf '%-44s %10d ms %10d ms %7.2fx   (baseline: curl fetching the 3 list pages; target 2000 ms)\n' \
	"cold reconcile, $want pods to checkpoint" $cold $base_list "$(echo "$cold / $base_list" | bc -l)"
printf '%-44s %10d ms\n' "  of which agent CPU (user+system)" "$cpu_ms"
printf '%-44s %9.1f MiB %9.1f MiB %7.2fx   (baseline: issue target; curl list peak %.1f MiB)\n' \
	"agent RSS after reconcile (VmRSS)" "$(echo "$rss / 1024" | bc -l)" 30 \
	"$(echo "$rss / 1024 / 30" | bc -l)" "$(echo "$curl_rss / 1024" | bc -l)"
printf '%-44s %9.1f MiB\n' "agent peak RSS (VmHWM)" "$(echo "$hwm / 1024" | bc -l)"
printf '%-44s %12d %12d %7.2fx   (baseline: curl reading the stream to /dev/null)\n' \
	"watch events processed per second" "$eps" $base_eps "$(echo "$eps / $base_eps" | bc -l)"
