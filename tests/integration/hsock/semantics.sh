#!/bin/bash
# The semantics matrix: every case of hsock-probe runs over plain TCP and
# under hsock-run; the application-visible results must be identical, and
# the stats must show that the case's data really crossed GShm.
. "$TOP/tests/lib.sh"
probe=$BUILD/hsock/hsock-probe
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((20000 + $$ % 1000 * 4))

cases="stream ipv6 prefix close-inflight peek waitall nonblock shutdown death-reader
death-writer sigpipe eintr iov sendfile fork-dup exec threads poll ppoll select
pselect epoll epoll-et oneshot nested two-sets after-close shut-rd mmsg epollout-et splice
poll-chk ppoll-chk epoll-pwait2 sigio sigio-ioctl first-epoll first-poll death-et"

for c in $cases; do
	port=$((port + 2))
	plain=$(timeout 30 "$probe" "$c" "$port" 2>&1 | sort)
	hs=$(timeout 30 "$run" --stats "$tmp/$c" -- "$probe" "$c" $((port + 1)) 2>&1 | sort)
	gshm=$(awk '$1 == "bytes_gshm_rx" { print $2 }' "$tmp/$c")
	if [ -z "$plain" ] || echo "$plain" | grep -q "mismatch\|corrupt\|error\|more than"; then
		fail "$c" "plain TCP run is wrong: $plain"
	elif [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $(echo $plain) / hsock: $(echo $hs)"
	elif [ "${gshm:-0}" -le 0 ]; then
		fail "$c" "no byte crossed GShm"
	else
		pass "$c ($(echo $hs | cut -c1-60); $gshm B over GShm)"
	fi
done
