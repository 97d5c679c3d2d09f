// SPDX-License-Identifier: GPL-2.0
/*
 * The user-space commit step (hsock/commit.h): records taken from per-CPU
 * arenas, committed against ownership and a per-process limit, released
 * by the consumer, reused warm, and given back to the backend by a trim.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsock/commit.h"
#include "hsock/ial.h"

static char dir[64], path[128];
static struct ial *ial;

static int setup(void **state)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/hsock-pool-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("HSOCK_SHM_DIR", dir, 1);
	snprintf(path, sizeof(path), "%s/pool", dir);
	assert_int_equal(ial_open("shm", &ial, err, sizeof(err)), 0);
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	ial_close(ial);
	rmdir(dir);
	return 0;
}

static struct hs_pool *pool(uint32_t nr, uint32_t limit)
{
	struct hs_pool *p;

	unlink(path);
	assert_int_equal(hs_pool_open(ial, "pool", nr, limit, &p), 0);
	return p;
}

static void test_take_commit_release(void **state)
{
	struct hs_pool *p = pool(64, 32);
	uint32_t r[8], again[8];
	int i, j;

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 8), 8);
	for (i = 0; i < 8; i++)
		for (j = 0; j < i; j++)
			assert_int_not_equal(r[i], r[j]);
	assert_int_equal(hs_rec_commit(p, r, 8), 0);
	assert_int_equal(hs_pool_charged(p), 8);
	memset(hs_rec_addr(p, r[3]), 0xab, HS_REC_SIZE);
	assert_int_equal(hs_rec_release(p, r, 8), 0);
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_release(p, r, 8), -EPROTO);	/* named twice */
	assert_int_equal(hs_rec_take(p, again, 8), 8);		/* warm reuse */
	for (i = 0; i < 8; i++) {
		for (j = 0; j < 8 && again[i] != r[j]; j++)
			;
		assert_true(j < 8);
	}
	hs_rec_abort(p, again, 8);
	hs_pool_close(p);
}

static void test_limit_and_ownership(void **state)
{
	struct hs_pool *p = pool(64, 4), *other;
	uint32_t r[6];

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 6), 6);
	assert_int_equal(hs_rec_commit(p, r, 6), -EDQUOT);	/* all or nothing */
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_commit(p, r, 4), 0);
	assert_int_equal(hs_rec_commit(p, r + 4, 1), -EDQUOT);
	assert_int_equal(hs_rec_commit(p, r, 1), -EPERM);	/* already committed */
	assert_int_equal(hs_rec_commit(p, (uint32_t[]){ 63 }, 1), -EPERM);	/* never taken */
	assert_int_equal(hs_rec_commit(p, (uint32_t[]){ 1000 }, 1), -EPERM);	/* out of range */
	assert_null(hs_rec_addr(p, 64));
	assert_int_equal(hs_rec_release(p, (uint32_t[]){ r[4] }, 1), -EPROTO);	/* only taken */
	/* the consumer releases through its own mapping of the pool */
	assert_int_equal(hs_pool_open(ial, "pool", 64, 4, &other), 0);
	assert_int_equal(hs_rec_release(other, r, 4), 0);
	assert_int_equal(hs_pool_charged(p), 0);
	assert_int_equal(hs_rec_commit(p, r + 4, 2), 0);	/* room again */
	assert_int_equal(hs_rec_release(other, r + 4, 2), 0);
	hs_pool_close(other);
	hs_pool_close(p);
}

static void test_exhausted_pool_takes_nothing(void **state)
{
	struct hs_pool *p = pool(16, 64);
	uint32_t r[20];

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 20), 16);
	assert_int_equal(hs_rec_take(p, r + 16, 1), 0);
	hs_rec_abort(p, r, 16);
	assert_int_equal(hs_rec_take(p, r, 20), 16);
	hs_rec_abort(p, r, 16);
	hs_pool_close(p);
}

static long blocks(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_blocks;
}

/* Warm records beyond the per-arena cache go back to the backend. */
static void test_trim_gives_pages_back(void **state)
{
	struct hs_pool *p = pool(2048, 2048);
	uint32_t r[1024];
	long before, after;
	int i;

	(void)state;
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);
	assert_int_equal(hs_rec_commit(p, r, 1024), 0);
	for (i = 0; i < 1024; i++)
		memset(hs_rec_addr(p, r[i]), i, HS_REC_SIZE);
	assert_int_equal(hs_rec_release(p, r, 1024), 0);
	before = blocks();
	hs_pool_trim(p);
	after = blocks();
	assert_true(before - after >= (1024 - 256) * (HS_REC_SIZE / 512));
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);	/* cold ones too */
	hs_rec_abort(p, r, 1024);
	hs_pool_close(p);
}

static bool one_run(uint32_t *r, uint32_t n)
{
	uint32_t i, j, v;

	for (i = 1; i < n; i++) {	/* hs_rec_take() may hand them out unsorted */
		v = r[i];
		for (j = i; j && r[j - 1] > v; j--)
			r[j] = r[j - 1];
		r[j] = v;
	}
	for (i = 1; i < n; i++)
		if (r[i] != r[i - 1] + 1)
			return false;
	return true;
}

/*
 * Records released one by one in scrambled order leave the arena without
 * runs: [768, 1024) stay there warm, [0, 768) go cold in the trim.  A take
 * of several records still gets consecutive ones (from the cold stack,
 * sorted by the trim, then from brk, instead of the scrambled warm ones),
 * and no record is handed out twice.
 */
static void test_take_hands_out_runs(void **state)
{
	struct hs_pool *p = pool(4096, 4096);
	uint32_t r[1024], t[16], i, j, got = 0;
	static uint8_t seen[4096];
	int cpu = sched_getcpu();
	cpu_set_t set;

	(void)state;
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);	/* one arena */
	assert_int_equal(hs_rec_take(p, r, 1024), 1024);
	assert_int_equal(hs_rec_commit(p, r, 1024), 0);
	for (i = 0; i < 256; i++)
		assert_int_equal(hs_rec_release(p, &r[768 + i * 37 % 256], 1), 0);
	for (i = 0; i < 768; i++)
		assert_int_equal(hs_rec_release(p, &r[i * 37 % 768], 1), 0);
	hs_pool_trim(p);
	for (i = 0; i < 1024 / 16; i++) {
		assert_int_equal(hs_rec_take(p, t, 16), 16);
		for (j = 0; j < 16; j++) {
			assert_true(t[j] < 4096);
			assert_int_equal(seen[t[j]]++, 0);
		}
		got += one_run(t, 16);
	}
	assert_int_equal(got, 1024 / 16);	/* before: 48, the cold ones */
	hs_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_commit_release),
		cmocka_unit_test(test_limit_and_ownership),
		cmocka_unit_test(test_exhausted_pool_takes_nothing),
		cmocka_unit_test(test_trim_gives_pages_back),
		cmocka_unit_test(test_take_hands_out_runs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
