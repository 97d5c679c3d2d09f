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
#include <fcntl.h>
#include <sys/mman.h>
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

/* A regular file stands in for a device-dax (dax:FILE, no libdaxctl). */
static void dax_file(char *path, size_t len, off_t size)
{
	int fd;

	snprintf(path, len, "%s/dax", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void test_dax_file_regions(void **state)
{
	char err[256] = "", path[128], spec[160];
	struct ial *a, *b;
	uint32_t *p, *q;
	void *r;

	(void)state;
	dax_file(path, sizeof(path), 8 << 20);
	snprintf(spec, sizeof(spec), "dax:%s", path);
	assert_int_equal(ial_open(spec, &a, err, sizeof(err)), 0);
	assert_int_equal(ial_open(spec, &b, err, sizeof(err)), 0);
	assert_string_equal(ial_backend(a), "dax");
	assert_true(ial_capacity(a) < (8 << 20) && ial_capacity(a) > (7 << 20));
	assert_int_equal(ial_map(a, "r1", 8192, IAL_CREATE, (void **)&p), 0);
	assert_int_equal(ial_map(b, "r1", 8192, IAL_CREATE, (void **)&q), -EEXIST);
	assert_int_equal(ial_map(b, "r1", 8192, 0, (void **)&q), 0);
	assert_ptr_not_equal(p, q);		/* two mappings of the device */
	p[100] = 42;
	assert_int_equal(q[100], 42);
	assert_int_equal(ial_map(b, "r1", 8 << 20, 0, &r), -EINVAL);
	assert_int_equal(ial_map(b, "big", 8 << 20, IAL_CREATE, &r), -ENOSPC);
	assert_int_equal(ial_wait(b, (_Atomic uint32_t *)&q[7], 0, 20), -ETIMEDOUT);
	p[7] = 1;
	ial_notify(a, (_Atomic uint32_t *)&p[7]);
	assert_int_equal(ial_wait(b, (_Atomic uint32_t *)&q[7], 0, 20), 0);
	ial_unmap(a, p, 8192);
	assert_int_equal(ial_unlink(a, "r1"), 0);
	assert_int_equal(ial_map(b, "r1", 8192, 0, &r), -ENOENT);
	ial_unmap(b, q, 8192);
	assert_int_equal(ial_sweep(b), 0);
	ial_close(a);
	ial_close(b);
	unlink(path);
}

static void test_dax_file_refused(void **state)
{
	char err[256] = "", path[128], spec[160];
	struct ial *ial = NULL;
	uint32_t *p;
	int fd;

	(void)state;
	dax_file(path, sizeof(path), 64 << 10);	/* smaller than the directory */
	snprintf(spec, sizeof(spec), "dax:%s", path);
	assert_int_equal(ial_open(spec, &ial, err, sizeof(err)), -ENOSPC);
	assert_null(ial);
	assert_non_null(strstr(err, "cannot hold the region directory"));
	assert_non_null(strstr(err, "staying on TCP"));
	dax_file(path, sizeof(path), 4 << 20);
	fd = open(path, O_RDWR);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	p[0] = 0x78616468;			/* "hdax": some other magic */
	p[1] = 0x31726964;			/* "dir1" */
	p[2] = 7;				/* version 7 */
	munmap(p, 4096);
	assert_int_equal(ial_open(spec, &ial, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "another version"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_create_exclusive_0600),
		cmocka_unit_test(test_shm_refuses_foreign_mode),
		cmocka_unit_test(test_wait_notify),
		cmocka_unit_test(test_missing_devices_fall_back),
		cmocka_unit_test(test_dax_file_regions),
		cmocka_unit_test(test_dax_file_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
