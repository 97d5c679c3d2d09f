#!/bin/bash
# hsock's rdma backend on soft-RoCE: boot Debian's kernel under qemu, load
# rdma_rxe (with ib_core, ib_uverbs and their dependencies) from its
# /lib/modules, put an rxe device on the guest's lo and run
# tests/integration/hsock/rdma-guest there: the verbs layer
# (hsock/ial_rdma.h) between two processes - RDMA WRITE of a checksummed
# 8 MiB pattern, WRITE WITH IMMEDIATE as the notify, READ back, bounds
# refused locally, a wrong rkey refused by the target - and hsock with
# HSOCK_GSHM=rdma:... saying what it found and staying on TCP.  Nothing
# RDMA is created on the host.
. "$TOP/tests/lib.sh"

if ! sh "$TOP/kernel/guest/install-deps" "$TOP/kernel/packages.txt" >/dev/null 2>&1 &&
	[ "$(id -u)" != 0 ]; then
	skip "rdma" "kernel/packages.txt not installed and not root"
	exit 0
fi
for f in hsock/libhsock.so hsock/hsock-run hsock/hsock-probe hsock/hsock-rdmacheck; do
	if [ ! -e "$BUILD/$f" ]; then
		fail "rdma" "$BUILD/$f not built (make)"
		exit 0
	fi
done
lib=$(ls /usr/lib/*/libibverbs.so.1 2>/dev/null | head -1)
rxe=$(ls /usr/lib/*/libibverbs/librxe-rdmav*.so 2>/dev/null | head -1)
if [ -z "$lib" ] || [ -z "$rxe" ] || [ ! -e /etc/libibverbs.d/rxe.driver ] || [ ! -x /usr/bin/rdma ]; then
	fail "rdma" "libibverbs1, ibverbs-providers (rxe) or iproute2's rdma missing (mk/packages.txt)"
	exit 0
fi
kver=$(make --no-print-directory -s -C "$TOP/kernel" kver)
mods=$(readlink -f "/lib/modules/$kver/kernel")
kos=
for m in crypto/crc32_generic net/ipv4/udp_tunnel net/ipv6/ip6_udp_tunnel \
	drivers/infiniband/core/ib_core drivers/infiniband/core/ib_uverbs \
	drivers/infiniband/sw/rxe/rdma_rxe; do
	kos="$kos $mods/$m.ko"
done
log=$(mktemp)
at_exit rm -f "$log"
start=$(date +%s)
make --no-print-directory -C "$TOP/kernel" BUILD="$BUILD" qemu-run \
	GUEST_EXTRA="$BUILD/hsock/libhsock.so $BUILD/hsock/hsock-run $BUILD/hsock/hsock-probe $BUILD/hsock/hsock-rdmacheck $lib $rxe /etc/libibverbs.d/rxe.driver /usr/bin/rdma $TOP/tests/integration/hsock/rdma-guest $kos" \
	GUEST_RUN="sh $TOP/tests/integration/hsock/rdma-guest $BUILD $mods" >"$log" 2>&1
rc=$?
grep -E '^(PASS|FAIL): rdma' "$log"
guest_result "" "$log" $rc "guest boot, soft-RoCE, unload clean ($(( $(date +%s) - start )) s)" \
	'^PASS: rdma: two processes, one-sided writes'
exit 0
