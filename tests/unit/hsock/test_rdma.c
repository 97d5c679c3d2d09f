// SPDX-License-Identifier: GPL-2.0
/*
 * The rdma backend without hardware: the wire descriptor, the bounds
 * check, the dlopen table and a missing device.  Queue pairs and
 * one-sided writes run on soft-RoCE in tests/integration/kernel/rdma.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsock/ial.h"
#include "hsock/ial_rdma.h"

static const struct ial_rdma_desc good = {
	.qpn = 0x000123,
	.psn = 0xabcdef,
	.rkey = 0xdeadbeef,
	.addr = 0x00007f0012345000ull,
	.len = 8 << 20,
	.gid = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 },
	.lid = 0,
};

static void test_desc_round_trip_and_layout(void **state)
{
	uint8_t buf[IAL_RDMA_DESC_LEN];
	struct ial_rdma_desc d;

	(void)state;
	ial_rdma_desc_encode(&good, buf);
	assert_memory_equal(buf, "HRD1", 4);
	assert_memory_equal(buf + 4, "\x00\x00\x01\x23", 4);	/* big-endian */
	assert_memory_equal(buf + 8, "\x00\xab\xcd\xef", 4);
	assert_memory_equal(buf + 12, "\xde\xad\xbe\xef", 4);
	assert_memory_equal(buf + 16, "\x00\x00\x7f\x00\x12\x34\x50\x00", 8);
	assert_memory_equal(buf + 24, "\x00\x00\x00\x00\x00\x80\x00\x00", 8);
	assert_memory_equal(buf + 32, good.gid, 16);
	assert_memory_equal(buf + 48, "\0\0\0\0", 4);
	memset(&d, 0x55, sizeof(d));
	assert_int_equal(ial_rdma_desc_decode(buf, sizeof(buf), &d), 0);
	assert_int_equal(d.qpn, good.qpn);
	assert_int_equal(d.psn, good.psn);
	assert_int_equal(d.rkey, good.rkey);
	assert_int_equal(d.addr, good.addr);
	assert_int_equal(d.len, good.len);
	assert_memory_equal(d.gid, good.gid, 16);
	assert_int_equal(d.lid, 0);
}

/* Encode @d, overwrite @n bytes at @at with @bytes, decode. */
static int decode_with(struct ial_rdma_desc d, size_t at, const void *bytes,
		       size_t n)
{
	uint8_t buf[IAL_RDMA_DESC_LEN];
	struct ial_rdma_desc out;

	ial_rdma_desc_encode(&d, buf);
	if (n)
		memcpy(buf + at, bytes, n);
	return ial_rdma_desc_decode(buf, sizeof(buf), &out);
}

static void test_desc_rejects(void **state)
{
	uint8_t buf[IAL_RDMA_DESC_LEN + 1] = { 0 };
	struct ial_rdma_desc d = good, out;

	(void)state;
	ial_rdma_desc_encode(&good, buf);
	assert_int_equal(ial_rdma_desc_decode(buf, IAL_RDMA_DESC_LEN - 1, &out), -EPROTO);
	assert_int_equal(ial_rdma_desc_decode(buf, IAL_RDMA_DESC_LEN + 1, &out), -EPROTO);
	assert_int_equal(decode_with(good, 0, "HRD2", 4), -EPROTO);
	assert_int_equal(decode_with(good, 50, "\0\1", 2), -EINVAL);
	d.qpn = 1;		/* QP 0 and 1 are the management QPs */
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d.qpn = 0x1000000;	/* 24 bits */
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d = good;
	d.psn = 0x1000000;
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d = good;
	d.len = 0;
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d.addr = UINT64_MAX - 4095;	/* the region would wrap */
	d.len = 4097;
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d.len = 4096;			/* ends at 2^64: wraps to 0 */
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d.len = 4095;
	assert_int_equal(decode_with(d, 0, NULL, 0), 0);
	d = good;
	memset(d.gid, 0, sizeof(d.gid));	/* no GID needs a LID */
	assert_int_equal(decode_with(d, 0, NULL, 0), -EINVAL);
	d.lid = 7;
	assert_int_equal(decode_with(d, 0, NULL, 0), 0);
}

static void test_range(void **state)
{
	(void)state;
	assert_int_equal(ial_rdma_range(100, 0, 100), 0);
	assert_int_equal(ial_rdma_range(100, 99, 1), 0);
	assert_int_equal(ial_rdma_range(100, 100, 0), 0);
	assert_int_equal(ial_rdma_range(100, 101, 0), -ERANGE);
	assert_int_equal(ial_rdma_range(100, 50, 51), -ERANGE);
	assert_int_equal(ial_rdma_range(100, 0, 101), -ERANGE);
	assert_int_equal(ial_rdma_range(100, UINT64_MAX, 2), -ERANGE);
	assert_int_equal(ial_rdma_range(100, 1, UINT64_MAX), -ERANGE);
	assert_int_equal(ial_rdma_range(UINT64_MAX, UINT64_MAX - 1, 1), 0);
	assert_int_equal(ial_rdma_range(UINT64_MAX, UINT64_MAX - 1, 2), -ERANGE);
}

static void test_load_missing_library(void **state)
{
	struct ial_rdma_lib *lib = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(ial_rdma_load("libhsock-nosuch.so.1", &lib, err, sizeof(err)), -ENOENT);
	assert_null(lib);
	assert_non_null(strstr(err, "libhsock-nosuch.so.1 not found"));
	/* a library without the verbs: the first missing symbol is named */
	assert_int_equal(ial_rdma_load("libc.so.6", &lib, err, sizeof(err)), -ENOSYS);
	assert_null(lib);
	assert_non_null(strstr(err, "libc.so.6 unusable: no ibv_get_device_list"));
	ial_rdma_unload(NULL);
}

static void test_missing_device(void **state)
{
	struct ial_rdma_lib *lib;
	struct ial_rdma *r = NULL;
	char err[256] = "";
	static char region[4096];

	(void)state;
	if (ial_rdma_load("libibverbs.so.1", &lib, err, sizeof(err))) {
		print_message("libibverbs.so.1: %s\n", err);
		skip();
	}
	assert_int_equal(ial_rdma_open(lib, "nosuchdev0", region, sizeof(region), &r, err, sizeof(err)), -ENODEV);
	assert_null(r);
	assert_non_null(strstr(err, "rdma:nosuchdev0: no such RDMA device"));
	assert_int_equal(ial_rdma_open(lib, "nosuchdev0", region, 0, &r, err, sizeof(err)), -EINVAL);
	ial_rdma_close(NULL);
	ial_rdma_unload(lib);
	/* through ial_open(): the same words, and TCP */
	assert_int_equal(ial_rdma_probe("nosuchdev0", err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "rdma:nosuchdev0: no such RDMA device"));
	assert_non_null(strstr(err, "; staying on TCP"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_desc_round_trip_and_layout),
		cmocka_unit_test(test_desc_rejects),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_load_missing_library),
		cmocka_unit_test(test_missing_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
