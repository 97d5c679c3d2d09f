// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsock/ial.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hsock-ial-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return setenv("HSOCK_SHM_DIR", dir, 1);
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

static void test_shm_create_exclusive_0600(void **state)
{
	struct ial *ial;
	char err[256], path[128];
	uint32_t *a, *b;
	struct stat st;

	(void)state;
	assert_int_equal(ial_open(NULL, &ial, err, sizeof(err)), 0);
	assert_string_equal(ial_backend(ial), "shm");
	assert_int_equal(ial_map(ial, "r1", 8192, IAL_CREATE, (void **)&a), 0);
	assert_int_equal(ial_map(ial, "r1", 8192, IAL_CREATE, (void **)&b), -EEXIST);
	assert_int_equal(ial_map(ial, "r1", 8192, 0, (void **)&b), 0);
	a[100] = 42;
	assert_int_equal(b[100], 42);
	snprintf(path, sizeof(path), "%s/r1", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ial_unmap(ial, a, 8192);
	ial_unmap(ial, b, 8192);
	assert_int_equal(ial_unlink(ial, "r1"), 0);
	assert_int_equal(ial_map(ial, "r1", 8192, 0, (void **)&b), -ENOENT);
	ial_close(ial);
}

static void test_shm_refuses_foreign_mode(void **state)
{
	struct ial *ial;
	char err[256], path[128];
	void *p;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/open", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	chmod(path, 0644);
	truncate(path, 8192);
	assert_int_equal(ial_open("shm", &ial, err, sizeof(err)), 0);
	assert_int_equal(ial_map(ial, "open", 8192, 0, &p), -EPERM);
	unlink(path);
	ial_close(ial);
}

static void test_wait_notify(void **state)
{
	_Atomic uint32_t word = 5;
	struct ial *ial;
	char err[256];

	(void)state;
	assert_int_equal(ial_open("shm", &ial, err, sizeof(err)), 0);
	assert_int_equal(ial_wait(ial, &word, 5, 20), -ETIMEDOUT);
	assert_int_equal(ial_wait(ial, &word, 4, 20), 0);	/* value moved on */
	ial_notify(ial, &word);
	ial_fence(ial);
	ial_close(ial);
}

static void test_missing_devices_fall_back(void **state)
{
	struct ial *ial = NULL;
	char err[256] = "";

	(void)state;
	assert_true(ial_open("dax:/dev/dax99.9", &ial, err, sizeof(err)) < 0);
	assert_null(ial);
	assert_non_null(strstr(err, "dax99.9"));
	assert_non_null(strstr(err, "staying on TCP"));
	err[0] = 0;
	assert_true(ial_open("rdma:nosuchdev0", &ial, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "nosuchdev0"));
	assert_non_null(strstr(err, "staying on TCP"));
	assert_int_equal(ial_open("nvlink", &ial, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "accepted: shm"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_create_exclusive_0600),
		cmocka_unit_test(test_shm_refuses_foreign_mode),
		cmocka_unit_test(test_wait_notify),
		cmocka_unit_test(test_missing_devices_fall_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
