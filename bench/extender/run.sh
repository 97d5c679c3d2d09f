#!/bin/bash
# heteropod-extender benchmarks (make bench).  Prints figures side by side
# with the baseline measured in the same run:
#   1. memory: RSS of an empty server vs. after a 10k-node x 500-image push
#   2. prioritize latency at 100/1000/5000 nodes vs. GET /healthz (the cost
#      of the HTTP round trip alone), one keep-alive connection
#   3. wrk req/s, prioritize of 100 nodes vs. /healthz
#   4. the FaaS simulation: ImageLocality-only vs heteropod scoring
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
EXT=$BUILD/scheduler-plugin/heteropod-extender
BENCH=$BUILD/bench/extender/extbench
SIM=$BUILD/bench/extender/extsim
tmp=$(mktemp -d /tmp/hp-extbench-$$.XXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

printf 'staleAfter: 1h\nthreads: 2\nmaxBodyBytes: 67108864\nlogLevel: warn\n' >"$tmp/serve.yaml"
"$EXT" serve --listen 127.0.0.1:0 --config "$tmp/serve.yaml" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do grep -q 'event=listening' "$tmp/log" 2>/dev/null && break; sleep 0.1; done
# logLevel warn hides the listening line: find the port from the socket table
addr=$(ss -Hltnp 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p {print $4; exit}')
[ -n "$addr" ] || { echo "extender did not start: $(cat "$tmp/log")"; exit 1; }
URL=http://$addr
echo "== heteropod-extender benchmark ($(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg); server threads 2)"

empty=$(rss_kib "$pid")
"$BENCH" push --server "$URL" --nodes 10000 --per-node 500 --pool 5000 --digests
full=$(rss_kib "$pid")
state=$(curl -s "$URL/metrics" | sed -n 's/^heteropod_extender_state_bytes //p')
printf 'memory: RSS empty %.1f MiB, with 10k nodes x 500 images %.1f MiB (state %.1f MiB); target <= 64 MiB\n' \
	"$(echo "$empty / 1024" | bc -l)" "$(echo "$full / 1024" | bc -l)" "$(echo "$state / 1048576" | bc -l)"

# server-side p99 of prioritize from the /metrics histogram, over one run
hist() { curl -s "$URL/metrics" | sed -n 's/^heteropod_extender_request_duration_seconds_bucket{route="prioritize",le="\([^"]*\)"} \([0-9]*\)/\1 \2/p'; }
server_p99() { # BEFORE AFTER: upper bound (ms) of the bucket holding the 99th percentile
	paste "$1" "$2" | awk '{ le[NR] = $1; d[NR] = $4 - $2 } END {
		total = d[NR]; for (i = 1; i <= NR; i++) if (d[i] >= 0.99 * total) {
			if (le[i] == "+Inf") print "> 1000 ms"; else printf "<= %g ms\n", le[i] * 1000; exit } }'
}

base=$("$BENCH" latency --server "$URL" --nodes 100 --requests 2000 --path /healthz)
b50=$(echo "$base" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
echo "latency baseline: $base"
for n in 100 1000 5000; do
	hist >"$tmp/h0"
	r=$("$BENCH" latency --server "$URL" --nodes "$n" --requests 2000)
	hist >"$tmp/h1"
	p50=$(echo "$r" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
	printf '%s  (p50 %.1fx the /healthz round trip; server-side p99 %s)\n' "$r" \
		"$(echo "$p50 / $b50" | bc -l)" "$(server_p99 "$tmp/h0" "$tmp/h1")"
done
echo "target: p99 <= 2000 us at 5000 nodes"

"$BENCH" body --nodes 100 >"$tmp/body.json"
cat >"$tmp/post.lua" <<EOL
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json", "rb"); wrk.body = f:read("*a"); f:close()
EOL
hz=$(wrk -t2 -c32 -d5s "$URL/healthz" | sed -n 's/^Requests\/sec:[[:space:]]*//p')
pr=$(wrk -t2 -c32 -d5s -s "$tmp/post.lua" "$URL/prioritize" | sed -n 's/^Requests\/sec:[[:space:]]*//p')
printf 'wrk -t2 -c32 -d5s: prioritize(100 nodes) %.0f req/s vs /healthz %.0f req/s (%.2fx); target >= 20000 req/s\n' \
	"$pr" "$hz" "$(echo "$pr / $hz" | bc -l)"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

echo "== trace-driven FaaS simulation"
"$SIM"
