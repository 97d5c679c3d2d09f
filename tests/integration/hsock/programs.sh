#!/bin/bash
# Unmodified programs under hsock-run (sockperf, iperf3, qperf, curl with a
# Python HTTP server): each must give a correct result AND the --stats of
# both ends must show that the payload crossed GShm.  Then the fallbacks:
# a peer without hsock, and a link outside the allowlist, stay plain TCP.
. "$TOP/tests/lib.sh"
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
base=$((22000 + $$ % 500 * 4))

py=$(command -v /usr/bin/python3 || command -v python3)

stat() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# server_bg VAR CMD...: start CMD in the background, PID in VAR, killed at exit.
server_bg() {
	local var=$1
	shift
	"$@" >"$tmp/server.log" 2>&1 &
	printf -v "$var" '%s' $!
	at_exit kill "${!var}"
	sleep 0.3
}

# wait_listen PORT: until something listens on loopback PORT (max 10 s).
wait_listen() {
	local i
	for i in $(seq 100); do
		ss -ltnH "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# sockperf sizes its table of sequence numbers for about a million round
# trips a second: ping-pong over hsock can go faster ("_seqN >
# m_maxSequenceNo"), so pp runs at a fixed 500000 messages a second.
sockperf_case() { # mode port
	local mode=$1 p=$2 spid out rate=
	[ "$mode" = pp ] && rate=--mps=500000
	server_bg spid "$run" --stats "$tmp/sp-s" -- sockperf sr --tcp -p "$p"
	out=$(timeout 30 "$run" --stats "$tmp/sp-c" -- sockperf "$mode" --tcp -p "$p" -t 2 -m 64 $rate 2>&1)
	kill -INT "$spid"; wait "$spid" 2>/dev/null
	if ! echo "$out" | grep -q "Summary:"; then
		fail "sockperf $mode" "no summary: $(echo "$out" | tail -2)"
	elif [ "$(stat "$tmp/sp-c" bytes_gshm_tx)" -lt 64000 ] || [ "$(stat "$tmp/sp-s" bytes_gshm_rx)" -lt 64000 ]; then
		fail "sockperf $mode" "payload did not cross GShm: $(cat "$tmp/sp-c" | tr '\n' ' ')"
	else
		pass "sockperf $mode ($(echo "$out" | grep -o 'avg-latency=[0-9.]*\|Message Rate is [0-9]* \[msg/sec\]' | head -1); $(stat "$tmp/sp-c" bytes_gshm_tx) B over GShm)"
	fi
}

iperf_case() { # name port extra-args
	local name=$1 p=$2 spid bytes rx
	shift 2
	server_bg spid "$run" --stats "$tmp/ip-s" -- iperf3 -s -1 -p "$p"
	timeout 30 "$run" --stats "$tmp/ip-c" -- iperf3 -c 127.0.0.1 -p "$p" -t 1 -J "$@" >"$tmp/ip.json" 2>&1
	wait "$spid" 2>/dev/null
	bytes=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' "$tmp/ip.json" 2>/dev/null)
	rx=$(stat "$tmp/ip-s" bytes_gshm_rx)
	if [ -z "$bytes" ] || [ "$bytes" -le 0 ]; then
		fail "$name" "no result: $(tail -c 300 "$tmp/ip.json")"
	elif [ "${rx:-0}" -lt "$bytes" ]; then
		fail "$name" "server read $rx B over GShm, iperf3 moved $bytes B"
	else
		pass "$name ($((bytes / 1000000)) MB, all over GShm)"
	fi
}

qperf_case() {
	local p=$1 spid out
	server_bg spid "$run" --stats "$tmp/q-s" -- qperf -lp "$p"
	out=$(timeout 60 "$run" --stats "$tmp/q-c" -- qperf -lp "$p" -ip $((p + 1)) -t 1 127.0.0.1 tcp_lat tcp_bw 2>&1)
	kill "$spid"; wait "$spid" 2>/dev/null
	if ! echo "$out" | grep -q "latency" || ! echo "$out" | grep -q "bw"; then
		fail "qperf tcp_lat tcp_bw" "$(echo $out)"
	elif [ "$(stat "$tmp/q-c" bytes_gshm_tx)" -lt 1000000 ]; then
		fail "qperf tcp_lat tcp_bw" "payload did not cross GShm"
	else
		pass "qperf tcp_lat tcp_bw ($(echo $out | tr -s ' '))"
	fi
}

curl_case() {
	local p=$1 spid dir=$tmp/www got want
	mkdir -p "$dir"
	head -c 8000000 /dev/urandom >"$dir/blob"
	server_bg spid "$run" --stats "$tmp/h-s" -- "$py" -m http.server "$p" --bind 127.0.0.1 --directory "$dir"
	wait_listen "$p"
	timeout 30 "$run" --stats "$tmp/h-c" -- curl -sf -o "$tmp/blob" "http://127.0.0.1:$p/blob"
	kill "$spid"; wait "$spid" 2>/dev/null
	want=$(sha256sum <"$dir/blob") got=$(sha256sum <"$tmp/blob" 2>/dev/null)
	if [ "$want" != "$got" ]; then
		fail "curl" "download differs"
	elif [ "$(stat "$tmp/h-c" bytes_gshm_rx)" -lt 8000000 ]; then
		fail "curl" "curl read $(stat "$tmp/h-c" bytes_gshm_rx) B over GShm"
	else
		pass "curl (8 MB over GShm, sha256 equal)"
	fi
}

fallback_case() { # name port client-prefix server-prefix reason
	local name=$1 p=$2 spid bytes
	server_bg spid $4 iperf3 -s -1 -p "$p"
	timeout 30 $3 iperf3 -c 127.0.0.1 -p "$p" -t 1 -J >"$tmp/fb.json" 2>&1
	wait "$spid" 2>/dev/null
	bytes=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' "$tmp/fb.json" 2>/dev/null)
	if [ -z "$bytes" ] || [ "$bytes" -le 0 ]; then
		fail "$name" "no result"
	elif [ "$(stat "$tmp/fb" bytes_gshm_tx)" != 0 ] || [ "$(stat "$tmp/fb" "$5")" -lt 1 ]; then
		fail "$name" "expected plain TCP with $5: $(cat "$tmp/fb" | tr '\n' ' ')"
	else
		pass "$name (plain TCP, $5)"
	fi
}

sockperf_case pp $((base + 1))
sockperf_case tp $((base + 2))
iperf_case "iperf3" $((base + 3))
iperf_case "iperf3 -Z (sendfile)" $((base + 4)) -Z
qperf_case $((base + 5))
curl_case $((base + 7))
fallback_case "peer without hsock (client accelerated)" $((base + 8)) "$run --stats $tmp/fb --" "" fallback_peer_absent
fallback_case "peer without hsock (server accelerated)" $((base + 9)) "" "$run --stats $tmp/fb --" fallback_peer_absent
echo "127.0.0.1:1 *" >"$tmp/allow"
fallback_case "link outside the allowlist" $((base + 10)) "$run --allow $tmp/allow --" "$run --stats $tmp/fb --allow $tmp/allow --" fallback_not_allowed
