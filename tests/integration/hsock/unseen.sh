#!/bin/bash
# I/O that hsock cannot see - dprintf, a stdio stream on the socket - must
# keep the connection on TCP (fallback_unseen_io) and lose nothing: each
# case's output under hsock-run equals its output over plain TCP.
. "$TOP/tests/lib.sh"
probe=$BUILD/hsock/hsock-probe
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((21000 + $$ % 1000 * 2))

for c in unseen-write fdopen; do
	port=$((port + 2))
	plain=$(timeout 30 "$probe" "$c" "$port" 2>&1)
	hs=$(timeout 30 "$run" --stats "$tmp/$c" -- "$probe" "$c" $((port + 1)) 2>&1)
	unseen=$(awk '$1 == "fallback_unseen_io" { print $2 }' "$tmp/$c" 2>/dev/null)
	if [ -z "$plain" ] || echo "$plain" | grep -q "corrupt"; then
		fail "$c" "plain TCP run is wrong: $plain"
	elif [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $plain / hsock: ${hs:-nothing (timed out)}"
	elif [ "${unseen:-0}" -lt 1 ]; then
		fail "$c" "the stats show no fallback_unseen_io"
	else
		pass "$c: $hs; kept on TCP (fallback_unseen_io $unseen)"
	fi
done
