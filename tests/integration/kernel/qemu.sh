#!/bin/bash
# hsock.ko under qemu: `make -C kernel qemu-test` boots Debian's kernel with
# a busybox initramfs that loads the module, runs kernel/test/ktest and
# unloads it.  Each in-guest marker "HSOCK-TEST PASS|FAIL name" becomes a
# PASS:/FAIL: line here.  Needs root only to install missing packages.
. "$TOP/tests/lib.sh"

if ! sh "$TOP/kernel/guest/install-deps" "$TOP/kernel/packages.txt" >/dev/null 2>&1 &&
	[ "$(id -u)" != 0 ]; then
	skip all "kernel/packages.txt not installed and not root"
	exit 0
fi
log=$(mktemp)
at_exit rm -f "$log"
make --no-print-directory -C "$TOP/kernel" BUILD="$BUILD" qemu-test >"$log" 2>&1
rc=$?
sed -n 's/^HSOCK-TEST PASS \(.*\)/PASS: kernel: \1/p; s/^HSOCK-TEST FAIL \(.*\)/FAIL: kernel: \1/p' "$log"
grep '^HSOCK-INFO' "$log" || true
if ! grep -q '^HSOCK-GUEST END' "$log"; then
	fail "guest run" "no end marker (build failed, crash or timeout): $(grep -v '^HSOCK' "$log" | tail -8 | tr '\n' ' ')"
elif [ $rc -ne 0 ] && ! grep -q '^HSOCK-TEST FAIL' "$log"; then
	fail "guest run" "make exited $rc: $(tail -5 "$log" | tr '\n' ' ')"
fi
exit 0
