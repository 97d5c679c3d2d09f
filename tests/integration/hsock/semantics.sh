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

# probe CASE STAT: plain TCP and hsock print the same, and the hsock run's
# STAT (bytes_gshm_rx: the data crossed GShm; fallback_unseen_io: kept on
# TCP) is positive
probe() {
	local c=$1 key=$2 plain hs n
	port=$((port + 2))
	plain=$(timeout 30 "$probe" "$c" "$port" 2>&1 | sort)
	hs=$(timeout 30 "$run" --stats "$tmp/$c" -- "$probe" "$c" $((port + 1)) 2>&1 | sort)
	n=$(awk -v k="$key" '$1 == k { print $2 }' "$tmp/$c" 2>/dev/null)
	if [ -z "$plain" ] || echo "$plain" | grep -q "mismatch\|corrupt\|error\|more than"; then
		fail "$c" "plain TCP run is wrong: $plain"
	elif [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $(echo $plain) / hsock: $(echo ${hs:-nothing (timed out)})"
	elif [ "${n:-0}" -le 0 ]; then
		fail "$c" "the stats show no $key"
	else
		pass "$c ($(echo $hs | cut -c1-60); $key $n)"
	fi
}

for c in $cases; do
	probe "$c" bytes_gshm_rx
done
# I/O hsock cannot see (dprintf, a stdio stream on the socket) keeps the
# connection on TCP and loses nothing
for c in unseen-write fdopen; do
	probe "$c" fallback_unseen_io
done
