#!/bin/bash
# hsock's dax backend on a real device-dax: boot Debian's kernel under qemu
# with emulated persistent memory (memmap=96M!256M, e820 type 12, which
# nd_e820 exposes as an nvdimm region), let the guest turn it into
# /dev/dax0.0 and run hsock there with HSOCK_GSHM=dax:/dev/dax0.0
# (tests/integration/hsock/dax-guest): two processes through the IAL,
# hsock-probe's checksummed 16 MiB stream with its stats showing the
# bytes on GShm, the directory left with only the pool, and the message
# and TCP fallback for a missing device.
. "$TOP/tests/lib.sh"

if ! sh "$TOP/kernel/guest/install-deps" "$TOP/kernel/packages.txt" >/dev/null 2>&1 &&
	[ "$(id -u)" != 0 ]; then
	skip "dax" "kernel/packages.txt not installed and not root"
	exit 0
fi
lib=$(ls /usr/lib/*/libdaxctl.so.1 2>/dev/null | head -1)
for f in hsock/libhsock.so hsock/hsock-run hsock/hsock-probe hsock/hsock-daxcheck; do
	if [ ! -e "$BUILD/$f" ]; then
		fail "dax" "$BUILD/$f not built (make)"
		exit 0
	fi
done
if [ -z "$lib" ]; then
	fail "dax" "libdaxctl.so.1 not installed (mk/packages.txt)"
	exit 0
fi
kver=$(make --no-print-directory -s -C "$TOP/kernel" kver)
mods=$(readlink -f "/lib/modules/$kver/kernel/drivers")
log=$(mktemp)
at_exit rm -f "$log"
start=$(date +%s)
make --no-print-directory -C "$TOP/kernel" BUILD="$BUILD" qemu-run \
	GUEST_APPEND='memmap=96M!256M' \
	GUEST_EXTRA="$BUILD/hsock/libhsock.so $BUILD/hsock/hsock-run $BUILD/hsock/hsock-probe $BUILD/hsock/hsock-daxcheck $lib $TOP/tests/integration/hsock/dax-guest $mods/nvdimm/libnvdimm.ko $mods/nvdimm/nd_e820.ko $mods/dax/device_dax.ko $mods/dax/dax_pmem.ko" \
	GUEST_RUN="sh $TOP/tests/integration/hsock/dax-guest $BUILD $mods" >"$log" 2>&1
rc=$?
grep -E '^(PASS|FAIL): dax' "$log"
guest_result "" "$log" $rc "guest boot, device-dax, unload clean ($(( $(date +%s) - start )) s)" \
	'^PASS: dax: stream, pool in the device'
exit 0
