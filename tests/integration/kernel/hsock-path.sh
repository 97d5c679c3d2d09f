#!/bin/bash
# hsock on the kernel path: boot Debian's kernel under qemu with hsock.ko
# loaded and run hsock's own test programs there (test_chan, and the
# hsock-probe semantics cases compared with plain TCP, and hsock-kpath:
# exec mid-stream, a lying peer), via
# `make -C kernel qemu-run`.  In the guest /dev/hsock exists, so every
# records channel takes, commits and releases its records through the
# module (hsock/kmod.c); tests/integration/hsock/guest-matrix also checks
# the stats key connections_kernel.  The same programs run on the host on
# the user-space path (tests/integration/hsock/, tests/unit/hsock/).
. "$TOP/tests/lib.sh"

if ! sh "$TOP/kernel/guest/install-deps" "$TOP/kernel/packages.txt" >/dev/null 2>&1 &&
	[ "$(id -u)" != 0 ]; then
	skip "hsock path" "kernel/packages.txt not installed and not root"
	exit 0
fi
for f in unit/hsock/test_chan hsock/libhsock.so hsock/hsock-run hsock/hsock-probe \
	 hsock/hsock-splice hsock/hsock-wout; do
	if [ ! -e "$BUILD/$f" ]; then
		fail "hsock path" "$BUILD/$f not built (make && make tests)"
		exit 0
	fi
done
log=$(mktemp)
at_exit rm -f "$log"
start=$(date +%s)
if ! make --no-print-directory -C "$TOP/kernel" BUILD="$BUILD" hsock-progs >"$log" 2>&1; then
	fail "hsock path" "hsock-kpath: $(tail -3 "$log" | tr '\n' ' ')"
	exit 0
fi
make --no-print-directory -C "$TOP/kernel" BUILD="$BUILD" qemu-run \
	GUEST_EXTRA="$BUILD/unit/hsock/test_chan $BUILD/hsock/libhsock.so $BUILD/hsock/hsock-run $BUILD/hsock/hsock-probe $BUILD/hsock/hsock-splice $BUILD/hsock/hsock-wout $BUILD/kernel/hsock-kpath $TOP/tests/integration/hsock/guest-matrix" \
	GUEST_RUN="sh $TOP/tests/integration/hsock/guest-matrix $BUILD" >"$log" 2>&1
rc=$?
grep -E '^(PASS|FAIL): hsock path' "$log"
guest_result "hsock path: " "$log" $rc "hsock path: guest boot and unload clean ($(( $(date +%s) - start )) s)"
exit 0
