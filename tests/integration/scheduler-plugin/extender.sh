#!/bin/bash
# heteropod-extender end to end: the real server on a loopback port, driven by
# curl with kube-scheduler's golden wire bytes, by `heteropod-extender push`
# with YAML state files, and checked against hand-computed scores.
. "$TOP/tests/lib.sh"

BIN=$BUILD/scheduler-plugin/heteropod-extender
GOLD=$SHARED/corpus/k8s-scheduler/extender-v1-wire-golden
POLICY=$SHARED/corpus/k8s-scheduler/scheduler-policy-config-with-extender.json
tmp=$(mktemp -d /tmp/hp-extender-$$.XXXX)
at_exit rm -rf "$tmp"

# start_server NAME CONFIG: run `serve` on 127.0.0.1:0, set $URL (and $PID_NAME).
start_server() {
	local name=$1 cfg=$2 i addr
	"$BIN" serve --listen 127.0.0.1:0 --config "$cfg" 2>"$tmp/$name.log" &
	eval "PID_$name=$!"
	at_exit kill "$!"
	for i in $(seq 50); do
		addr=$(sed -n 's/.*event=listening addr=\([^ ]*\).*/\1/p' "$tmp/$name.log")
		[ -n "$addr" ] && break
		sleep 0.1
	done
	URL=http://$addr
	[ -n "$addr" ]
}

# post PATH BODY-FILE: prints "STATUS BODY"
post() { curl -sS -o "$tmp/out" -w '%{http_code}' --data-binary @"$2" "$URL$1"; echo " $(cat "$tmp/out")"; }

# keepalive GEN: refresh the "agents" source (a loaded machine can take
# longer than staleAfter between two checks).
printf 'nodes: []\n' >"$tmp/empty.yaml"
keepalive() { "$BIN" push --server "$URL" --file "$tmp/empty.yaml" --delta --source agents --generation "$1" >/dev/null; }

expect() { # NAME WANT GOT
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want [$2] got [$3]"; fi
}

# The legacy policy example names the paths kube-scheduler will call:
# urlPrefix http://127.0.0.1:12346/scheduler + "/" + filterVerb, prioritizeVerb.
prefix=$(sed -n 's|.*"urlPrefix": *"http://[^/]*\(/[^"]*\)".*|\1|p' "$POLICY")
fverb=$(sed -n 's|.*"filterVerb": *"\([^"]*\)".*|\1|p' "$POLICY")
pverb=$(sed -n 's|.*"prioritizeVerb": *"\([^"]*\)".*|\1|p' "$POLICY")
F=$prefix/$fverb P=$prefix/$pverb
cat >"$tmp/serve.yaml" <<EOC
filterPath: $F
prioritizePath: $P
maxBodyBytes: 65536
staleAfter: 2s
templateBonus: 5
threads: 2
EOC
start_server main "$tmp/serve.yaml" || { fail start "$(cat "$tmp/main.log")"; exit 1; }
pass "serve on $URL (paths $F, $P from the upstream policy example)"

expect healthz "ok" "$(curl -sS "$URL/healthz")"

# --- goldens: exactly what kube-scheduler sends ---
expect "golden ExtenderArgs -> filter" \
	'200 {"Nodes":null,"NodeNames":["node1"],"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""}' \
	"$(post "$F" "$GOLD/ExtenderArgs.json")"
expect "golden ExtenderArgs -> prioritize (unknown node scores 0)" \
	'200 [{"Host":"node1","Score":0}]' "$(post "$P" "$GOLD/ExtenderArgs.json")"
tr 'A-Z' 'a-z' <"$GOLD/ExtenderArgs.json" >"$tmp/lower.json"
expect "lowercased golden accepted (Go decodes keys case-insensitively)" \
	'200 [{"Host":"node1","Score":0}]' "$(post "$P" "$tmp/lower.json")"
# reply keys in upstream spelling and order, as in the golden ExtenderFilterResult
want_keys=$(grep -o '"[A-Za-z]*":' "$GOLD/ExtenderFilterResult.json" | grep -E '^"(Nodes|NodeNames|FailedNodes|FailedAndUnresolvableNodes|Error)":' | tr -d '\n')
got_keys=$(post "$F" "$GOLD/ExtenderArgs.json" | grep -o '"[A-Za-z]*":' | grep -E '^"(Nodes|NodeNames|FailedNodes|FailedAndUnresolvableNodes|Error)":' | tr -d '\n')
expect "filter reply keys match golden ExtenderFilterResult" "$want_keys" "$got_keys"

# --- state pushed from a YAML file ---
cat >"$tmp/state.yaml" <<'EOS'
nodes:
  - name: node-1
    dpu: up
    images:
      - names: ["docker.io/library/nginx:1.25", "nginx:1.25"]
        sizeBytes: 1048576000
      - names: ["fn/alexa:latest"]
        sizeBytes: 524288000
    templates: ["fn-alexa-door"]
  - name: node-2
    dpu: down
    images:
      - names: ["nginx:1.25"]
        sizeBytes: 1048576000
  - name: node-3
    dpu: up
EOS
check "push snapshot" "$BIN" push --server "$URL" --file "$tmp/state.yaml" --source agents --generation 10

cat >"$tmp/pod.json" <<'EOJ'
{"Pod":{"metadata":{"name":"door","namespace":"fn","labels":{"heteropod.io/template":"fn-alexa-door"},
 "annotations":{"heteropod.io/offload":"all"}},
 "spec":{"containers":[{"name":"fn","image":"fn/alexa"}],"initContainers":[{"name":"i","image":"nginx:1.25"}]}},
 "Nodes":null,"NodeNames":["node-1","node-2","node-3","node-9"]}
EOJ
# node-1: init nginx 1000Mi*2/3 = 666.67Mi + fn/alexa(:latest) 500Mi*1/3 = 166.67Mi
#         = 833.33Mi over 2 containers: 10*(833.33-23)/(2000-23) = 4.09 -> 4, +5 template = 9
# node-2: 666.67Mi: 10*643.67/1977 = 3.25 -> 3;  node-3, unknown node-9: 0
keepalive 10
expect "prioritize: image locality + template bonus" \
	'200 [{"Host":"node-1","Score":9},{"Host":"node-2","Score":3},{"Host":"node-3","Score":0},{"Host":"node-9","Score":0}]' \
	"$(post "$P" "$tmp/pod.json")"
keepalive 10
expect "filter: DPU pod skips DPU-down and unknown nodes, with reasons" \
	'200 {"Nodes":null,"NodeNames":["node-1","node-3"],"FailedNodes":{},"FailedAndUnresolvableNodes":{"node-2":"heteropod: the node'"'"'s DPU is down and the pod needs a DPU","node-9":"heteropod: no current DPU state for the node (never reported, or stale) and the pod needs a DPU"},"Error":""}' \
	"$(post "$F" "$tmp/pod.json")"

# nodeCacheCapable: false -> full Node objects in, surviving objects out
cat >"$tmp/full.json" <<'EOJ'
{"Pod":{"metadata":{"name":"p","annotations":{"heteropod.io/requires-dpu":"true"}},"spec":{"containers":[{"image":"nginx:1.25"}]}},
 "Nodes":{"metadata":{},"items":[{"metadata":{"name":"node-1"},"spec":{}},{"metadata":{"name":"node-2"},"spec":{}}]}}
EOJ
keepalive 10
expect "filter with full Node objects returns the surviving objects" \
	'200 {"Nodes":{"metadata":{},"items":[{"metadata":{"name":"node-1"},"spec":{}}]},"NodeNames":null,"FailedNodes":{},"FailedAndUnresolvableNodes":{"node-2":"heteropod: the node'"'"'s DPU is down and the pod needs a DPU"},"Error":""}' \
	"$(post "$F" "$tmp/full.json")"

# --- bad input ---
printf '{"Pod":{"metadata":{}},\n "NodeNames":["a",]}' >"$tmp/bad.json"
out=$(post "$P" "$tmp/bad.json")
case $out in "400 {\"Error\":\"request:2:"*) pass "malformed JSON -> 400 with position";;
	*) fail "malformed JSON -> 400 with position" "$out";; esac
head -c 70000 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
expect "body over maxBodyBytes -> 413" 413 "$(post "$P" "$tmp/big.json" | cut -d' ' -f1)"
expect "unknown path -> 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"
expect "GET on filter -> 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$URL$F")"

# --- deltas and generation gaps, through the CLI ---
printf 'nodes:\n- name: node-2\n  dpu: up\n' >"$tmp/d1.yaml"
check "delta with the next generation applies" \
	"$BIN" push --server "$URL" --file "$tmp/d1.yaml" --delta --source agents --generation 11
keepalive 11
expect "filter sees the delta" '"NodeNames":["node-1","node-2","node-3"]' \
	"$(post "$F" "$tmp/pod.json" | grep -o '"NodeNames":\[[^]]*\]')"
out=$("$BIN" push --server "$URL" --file "$tmp/d1.yaml" --delta --source agents --generation 13)
rc=$?
expect "generation gap -> need_snapshot (HTTP 409, exit 2)" \
	"2 status=need_snapshot generation=11 http=409" "$rc ${out%% error=*}"
out=$("$BIN" push --server "$URL" --file "$tmp/d1.yaml" --delta --source nobody --generation 1)
expect "delta from an unknown source -> need_snapshot" "need_snapshot" \
	"$(echo "$out" | sed -n 's/status=\([a-z_]*\).*/\1/p')"
printf 'nodes:\n- name: n\n  dpu: sideways\n' >"$tmp/bad.yaml"
out=$("$BIN" push --server "$URL" --file "$tmp/bad.yaml" 2>&1)
expect "bad push file -> positioned error" \
	"heteropod-extender: $tmp/bad.yaml:3:8: dpu: \"sideways\" is not valid; accepted: up, down, unknown" "$out"

# --- keep-alive: two requests, one connection ---
n=$(curl -sv -o /dev/null -o /dev/null "$URL/healthz" "$URL/healthz" 2>&1 | grep -c 'Re-using existing connection\|Reusing existing')
expect "HTTP keep-alive" 1 "$n"

# --- staleness: no push for > staleAfter (2s) ---
sleep 2.6
expect "stale nodes hold nothing" \
	'200 [{"Host":"node-1","Score":0},{"Host":"node-2","Score":0},{"Host":"node-3","Score":0},{"Host":"node-9","Score":0}]' \
	"$(post "$P" "$tmp/pod.json")"
m=$(curl -sS "$URL/metrics")
expect "metrics: stale nodes gauge" "heteropod_extender_stale_nodes 3" \
	"$(echo "$m" | grep '^heteropod_extender_stale_nodes ')"
expect "metrics: push outcomes" 'heteropod_extender_pushes_total{status="need_snapshot"} 2' \
	"$(echo "$m" | grep 'pushes_total{status="need_snapshot"}')"
check "metrics: 413 counted" grep -q 'requests_total{route="prioritize",code="413"} 1' <<<"$m"
check "push refreshes stale nodes" "$BIN" push --server "$URL" --file "$tmp/state.yaml" --source agents --generation 20
keepalive 20
expect "fresh again after a push" '{"Host":"node-1","Score":9}' \
	"$(post "$P" "$tmp/pod.json" | grep -o '{"Host":"node-1","Score":[0-9]*}')"

# --- nodeCacheCapable: false seeds nodes no agent reports from status.images ---
cat >"$tmp/seed.json" <<'EOJ'
{"Pod":{"metadata":{"name":"s"},"spec":{"containers":[{"image":"seeded:1"}]}},
 "Nodes":{"metadata":{},"items":[
  {"metadata":{"name":"seed-1"},"status":{"images":[{"names":["seeded:1"],"sizeBytes":2097152000}]}},
  {"metadata":{"name":"seed-2"},"status":{"images":[]}},
  {"metadata":{"name":"node-1"},"status":{"images":[{"names":["seeded:1"],"sizeBytes":2097152000}]}}]}}
EOJ
# 5 nodes known (node-1..3 from the agents, seed-1/2 seeded); node-1 is the
# agents' and keeps their state.  seed-1: 2000Mi * 1/5 = 400Mi -> 10*377/977 = 3
keepalive 20
expect "full Node objects seed unreported nodes" \
	'200 [{"Host":"seed-1","Score":3},{"Host":"seed-2","Score":0},{"Host":"node-1","Score":0}]' \
	"$(post "$P" "$tmp/seed.json")"

# --- the shipped kube-scheduler configuration ---
check "kube-scheduler-config.yaml is a v1 KubeSchedulerConfiguration with the extender" /usr/bin/python3 -c '
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["apiVersion"] == "kubescheduler.config.k8s.io/v1", c["apiVersion"]
assert c["kind"] == "KubeSchedulerConfiguration"
assert c["percentageOfNodesToScore"] == 100
e = c["extenders"][0]
for k in ("urlPrefix", "filterVerb", "prioritizeVerb", "weight", "httpTimeout"):
    assert k in e, k
assert e["nodeCacheCapable"] is True and e["ignorable"] is True
assert e["filterVerb"] == "filter" and e["prioritizeVerb"] == "prioritize"
assert 0 < e["weight"]
known = {"urlPrefix","filterVerb","preemptVerb","prioritizeVerb","weight","bindVerb",
         "enableHTTPS","tlsConfig","httpTimeout","nodeCacheCapable","managedResources","ignorable"}
assert set(e) <= known, set(e) - known
' "$TOP/scheduler-plugin/kube-scheduler-config.yaml"

# --- HTTPS ---
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
		-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
	printf 'tls:\n  certFile: %s\n  keyFile: %s\n' "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/tls.yaml"
	if start_server tls "$tmp/tls.yaml"; then
		expect "HTTPS prioritize" '[{"Host":"node1","Score":0}]' \
			"$(curl -sS --cacert "$tmp/cert.pem" --data-binary @"$GOLD/ExtenderArgs.json" "https://${URL#http://}/prioritize")"
	else
		fail "HTTPS server" "$(cat "$tmp/tls.log")"
	fi
else
	skip "HTTPS" "openssl not installed"
fi

# --- config errors name the file and position; clean shutdown ---
printf 'templateBonus: 11\n' >"$tmp/badcfg.yaml"
out=$("$BIN" serve --listen 127.0.0.1:0 --config "$tmp/badcfg.yaml" 2>&1)
case $out in *"badcfg.yaml:1:"*) pass "bad config -> positioned error";;
	*) fail "bad config -> positioned error" "$out";; esac
kill -TERM "$PID_main"
wait "$PID_main"
expect "SIGTERM -> clean exit" 0 $?
