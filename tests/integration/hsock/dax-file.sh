#!/bin/bash
# hsock's data path on the dax backend's region directory, on the host: a
# regular file stands in for the device (HSOCK_GSHM=dax:FILE, no
# libdaxctl).  hsock-probe cases must match plain TCP with their bytes on
# GShm and no object in the shm directory; afterwards hsock-run's sweep
# leaves the directory empty.  The real device-dax runs in qemu
# (tests/integration/kernel/dax.sh).
. "$TOP/tests/lib.sh"
probe=$BUILD/hsock/hsock-probe
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((21000 + $$ % 1000 * 4))
dev=$tmp/dax
truncate -s 64M "$dev"
mkdir "$tmp/shm"
export HSOCK_GSHM=dax:$dev HSOCK_POOL=16M HSOCK_KERNEL=0 HSOCK_SHM_DIR=$tmp/shm

# (not death-reader: a bell rung after the reader settled can stay in the
# killed server's socket, whose close then sends RST instead of FIN: 4 of
# 30 runs on dax:FILE, 0 of 30 on shm; the bells are io.c's)
for c in stream fork-dup exec threads epoll-et death-writer close-inflight; do
	port=$((port + 2))
	plain=$(timeout 30 "$probe" "$c" "$port" 2>&1 | sort)
	hs=$(timeout 30 "$run" --stats "$tmp/$c" -- "$probe" "$c" $((port + 1)) 2>&1 | sort)
	gshm=$(awk '$1 == "bytes_gshm_rx" { print $2 }' "$tmp/$c")
	if [ -z "$plain" ] || [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $(echo $plain) / hsock: $(echo $hs)"
	elif [ "${gshm:-0}" -le 0 ]; then
		fail "$c" "no byte crossed GShm"
	elif [ -n "$(ls "$tmp/shm")" ]; then
		fail "$c" "objects outside the device: $(ls "$tmp/shm")"
	else
		pass "$c on dax:FILE ($(echo $hs | cut -c1-50); $gshm B over GShm)"
	fi
done
left=$("$run" -- "$BUILD/hsock/hsock-daxcheck" ls "$dev" 2>&1)
if [ -n "$left" ]; then
	fail "sweep" "the directory still holds: $(echo $left | cut -c1-200)"
else
	pass "sweep: the directory is empty once no process maps a region"
fi
