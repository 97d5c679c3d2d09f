// SPDX-License-Identifier: GPL-2.0
/*
 * The dax backend's region directory (hsock/dax_dir.h) on a memfd standing
 * in for a device-dax mapping: placement, exclusive create, reuse, zeroing,
 * fragmentation, bounds checks on corrupt entries, processes racing, dead
 * lock holders, creators and mappers, the sweep, fork, and the sleep-poll
 * wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsock/dax_dir.h"

#define MiB (1ull << 20)
#define SPACE (16 * MiB)

struct fixture {
	unsigned char *base;
	size_t size;
	struct dax_space s;
};

/* A fresh, zeroed shared mapping of @size bytes (a memfd). */
static unsigned char *shared_map(size_t size)
{
	unsigned char *p;
	int fd = memfd_create("dax", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	return p;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->size = SPACE;
	f->base = shared_map(f->size);
	if (dax_space_attach(&f->s, f->base, f->size, dax_domain()))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	munmap(f->base, f->size);
	free(f);
	return 0;
}

static struct dax_entry *entry_of(struct fixture *f, uint64_t off)
{
	struct dax_entry *e = (struct dax_entry *)(f->base + DAX_PAGE);
	uint32_t i;

	for (i = 0; i < DAX_ENTRIES; i++)
		if (e[i].off == off && atomic_load(&e[i].state) != DAX_FREE)
			return &e[i];
	return NULL;
}

static uint32_t index_of(struct fixture *f, uint64_t off)
{
	return (uint32_t)(entry_of(f, off) - (struct dax_entry *)(f->base + DAX_PAGE));
}

static struct dax_mapping *records(struct fixture *f)
{
	return (struct dax_mapping *)(f->base + DAX_MAP_OFF);
}

/* Forge a mapping record: @who maps the region at @off @n times. */
static void add_record(struct fixture *f, uint64_t off, uint64_t who, uint32_t n)
{
	struct dax_mapping *m = records(f);
	uint32_t i;

	for (i = 0; i < DAX_MAPPINGS && m[i].who; i++)
		;
	assert_true(i < DAX_MAPPINGS);
	m[i] = (struct dax_mapping){ .who = who, .entry = index_of(f, off), .n = n };
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A who of a process of our domain that is gone. */
static uint64_t dead_who(struct fixture *f)
{
	pid_t pid = fork();

	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);
	return (uint64_t)f->s.domain << 32 | (uint32_t)pid;
}

static void test_create_map_unlink(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b;
	size_t i;

	assert_int_equal(dax_region_create(&f->s, "r1", 10000, &a), 0);
	assert_true(a >= DAX_DATA_OFF && a % DAX_PAGE == 0);
	assert_int_equal(entry_of(f, a)->len, 12288);
	assert_int_equal(atomic_load(&entry_of(f, a)->state), DAX_READY);
	for (i = 0; i < 10000; i++)
		assert_int_equal(f->base[a + i], 0);
	f->base[a + 100] = 42;
	assert_int_equal(dax_region_open(&f->s, "r1", 8192, &b), 0);
	assert_int_equal(b, a);
	assert_int_equal(dax_region_open(&f->s, "r1", 12289, &b), -EINVAL);
	assert_int_equal(dax_region_open(&f->s, "nope", 4096, &b), -ENOENT);
	assert_int_equal(dax_region_unlink(&f->s, "r1"), 0);
	assert_int_equal(dax_region_unlink(&f->s, "r1"), -ENOENT);
	assert_int_equal(dax_region_open(&f->s, "r1", 4096, &b), -ENOENT);
	/* still mapped twice: the extent is kept, a new r1 goes elsewhere */
	assert_int_equal(atomic_load(&entry_of(f, a)->state), DAX_UNLINKED);
	assert_int_equal(dax_region_create(&f->s, "r1", 10000, &b), 0);
	assert_true(b >= a + 12288);
	assert_int_equal(f->base[a + 100], 42);
	dax_region_put(&f->s, a);
	assert_non_null(entry_of(f, a));
	dax_region_put(&f->s, a);
	assert_null(entry_of(f, a));	/* last mapping gone: freed */
}

static void test_exclusive_and_names(void **state)
{
	struct fixture *f = *state;
	char longname[DAX_NAME_MAX + 1];
	uint64_t a, b;

	assert_int_equal(dax_region_create(&f->s, "x", 4096, &a), 0);
	assert_int_equal(dax_region_create(&f->s, "x", 4096, &b), -EEXIST);
	assert_int_equal(dax_region_create(&f->s, "x2", 4096, &b), 0);
	assert_int_not_equal(a, b);
	memset(longname, 'n', DAX_NAME_MAX);
	longname[DAX_NAME_MAX] = 0;
	assert_int_equal(dax_region_create(&f->s, longname, 4096, &b), -ENAMETOOLONG);
	longname[DAX_NAME_MAX - 1] = 0;	/* 127 characters fit */
	assert_int_equal(dax_region_create(&f->s, longname, 4096, &b), 0);
	assert_int_equal(dax_region_open(&f->s, longname, 4096, &a), 0);
	assert_int_equal(a, b);
	assert_int_equal(dax_region_create(&f->s, "zero", 0, &b), -EINVAL);
}

static void test_reuse_is_zeroed(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b;
	size_t i;

	assert_int_equal(dax_region_create(&f->s, "z", 3 * DAX_PAGE, &a), 0);
	memset(f->base + a, 0xa5, 3 * DAX_PAGE);
	assert_int_equal(dax_region_unlink(&f->s, "z"), 0);
	dax_region_put(&f->s, a);
	assert_int_equal(dax_region_create(&f->s, "other", 3 * DAX_PAGE, &b), 0);
	assert_int_equal(b, a);	/* first fit: the same extent */
	for (i = 0; i < 3 * DAX_PAGE; i++)
		assert_int_equal(f->base[b + i], 0);
}

static void test_fragmentation_first_fit(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b, c, d, e, g;
	int n = 0;

	assert_int_equal(dax_region_create(&f->s, "a", MiB, &a), 0);
	assert_int_equal(dax_region_create(&f->s, "b", MiB, &b), 0);
	assert_int_equal(dax_region_create(&f->s, "c", MiB, &c), 0);
	assert_int_equal(b, a + MiB);
	assert_int_equal(c, b + MiB);
	assert_int_equal(dax_region_unlink(&f->s, "b"), 0);
	dax_region_put(&f->s, b);
	/* the 1 MiB hole b left is too small for 2 MiB: placed after c */
	assert_int_equal(dax_region_create(&f->s, "d", 2 * MiB, &d), 0);
	assert_int_equal(d, c + MiB);
	/* 1 MiB fits the hole b left */
	assert_int_equal(dax_region_create(&f->s, "e", MiB, &e), 0);
	assert_int_equal(e, b);
	/* fill what is left with 1 MiB regions, then nothing more fits */
	for (;;) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", n++);
		if (dax_region_create(&f->s, name, MiB, &g))
			break;
		assert_true(g + MiB <= f->size);
	}
	assert_int_equal(n - 1, (int)((dax_space_capacity(&f->s) - 5 * MiB) / MiB));
	assert_int_equal(dax_region_create(&f->s, "small", DAX_PAGE, &g),
			 dax_space_capacity(&f->s) % MiB >= DAX_PAGE ? 0 : -ENOSPC);
	assert_int_equal(dax_region_create(&f->s, "big", MiB, &g), -ENOSPC);
}

static void test_too_small(void **state)
{
	struct dax_space s;
	unsigned char *p = shared_map(2 * MiB);
	uint64_t off;

	(void)state;
	/* the directory alone does not fit */
	assert_int_equal(dax_space_attach(&s, p, DAX_DATA_OFF, dax_domain()), -ENOSPC);
	assert_int_equal(dax_space_attach(&s, p, 2 * MiB, dax_domain()), 0);
	assert_int_equal(dax_space_capacity(&s), 2 * MiB - DAX_DATA_OFF);
	assert_int_equal(dax_region_create(&s, "pool", 2 * MiB, &off), -ENOSPC);
	assert_int_equal(dax_region_create(&s, "fits", 2 * MiB - DAX_DATA_OFF, &off), 0);
	/* a directory formatted for a bigger device is refused */
	assert_int_equal(dax_space_attach(&s, p, MiB, dax_domain()), -EPROTO);
	munmap(p, 2 * MiB);
}

static void test_corrupt_entries_rejected(void **state)
{
	struct fixture *f = *state;
	struct dax_dir_hdr *h = (struct dax_dir_hdr *)f->base;
	struct dax_entry *e;
	struct dax_space s2;
	uint64_t a, b, saved;

	assert_int_equal(dax_region_create(&f->s, "c", 2 * DAX_PAGE, &a), 0);
	e = entry_of(f, a);
	saved = e->off;
	e->off = f->size;			/* past the end */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -EPROTO);
	e->off = DAX_PAGE;			/* inside the directory */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -EPROTO);
	e->off = saved + 1;			/* not page aligned */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -EPROTO);
	e->off = saved;
	e->len = UINT64_MAX - DAX_PAGE + 1;	/* off + len wraps */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -EPROTO);
	/* a corrupt entry occupies nothing: its extent is handed out again */
	assert_int_equal(dax_region_create(&f->s, "d", DAX_PAGE, &b), 0);
	assert_int_equal(b, a);
	e->len = 2 * DAX_PAGE;
	e->uid = getuid() + 1;			/* another user's region */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -EPERM);
	assert_int_equal(dax_region_unlink(&f->s, "c"), -EPERM);
	memset(e->name, 'q', DAX_NAME_MAX);	/* name without its NUL */
	atomic_store(&e->state, 77);		/* no such state */
	assert_int_equal(dax_region_open(&f->s, "c", DAX_PAGE, &b), -ENOENT);
	assert_int_equal(dax_region_create(&f->s, "c", DAX_PAGE, &b), 0);
	/* a directory of another version is not used */
	h->version = DAX_DIR_VERSION + 1;
	assert_int_equal(dax_space_attach(&s2, f->base, f->size, dax_domain()), -EPROTO);
	h->version = DAX_DIR_VERSION;
	h->size = f->size * 2;
	assert_int_equal(dax_space_attach(&s2, f->base, f->size, dax_domain()), -EPROTO);
	h->size = f->size;
	assert_int_equal(dax_space_attach(&s2, f->base, f->size, dax_domain()), 0);
}

/* @n processes attach a fresh space and create @name at once. */
static void race(unsigned char *base, int n, const char *name, int *res,
		 uint64_t *offs)
{
	_Atomic int *go = (_Atomic int *)(base + SPACE), *rc = go + 1;
	uint64_t *out = (uint64_t *)(base + SPACE + 64);
	pid_t pid[16];
	int i;

	for (i = 0; i < n; i++) {
		pid[i] = fork();
		if (!pid[i]) {
			struct dax_space s;
			char own[32];

			while (!atomic_load(go))
				;
			if (dax_space_attach(&s, base, SPACE, dax_domain()))
				_exit(1);
			snprintf(own, sizeof(own), "own-%d", i);
			rc[2 + i] = dax_region_create(&s, name, DAX_PAGE, &out[i]);
			if (dax_region_create(&s, own, DAX_PAGE, &out[16 + i]))
				_exit(2);
			_exit(0);
		}
	}
	atomic_store(go, 1);
	for (i = 0; i < n; i++) {
		int st;

		waitpid(pid[i], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		res[i] = rc[2 + i];
		offs[i] = out[16 + i];
	}
}

static void test_processes_race(void **state)
{
	unsigned char *base = shared_map(SPACE + DAX_PAGE);
	int res[8], i, j, won = 0;
	uint64_t offs[8];
	struct dax_space s;

	(void)state;
	race(base, 8, "same", res, offs);
	for (i = 0; i < 8; i++) {
		if (!res[i])
			won++;
		else
			assert_int_equal(res[i], -EEXIST);
		for (j = 0; j < i; j++)	/* distinct extents for distinct names */
			assert_true(offs[i] != offs[j]);
	}
	assert_int_equal(won, 1);
	assert_int_equal(dax_space_attach(&s, base, SPACE, dax_domain()), 0);
	for (i = 0; i < 8; i++) {
		char own[32];
		uint64_t off;

		snprintf(own, sizeof(own), "own-%d", i);
		assert_int_equal(dax_region_open(&s, own, DAX_PAGE, &off), 0);
		assert_int_equal(off, offs[i]);
	}
	munmap(base, SPACE + DAX_PAGE);
}

static void test_dead_holders_do_not_wedge(void **state)
{
	struct fixture *f = *state;
	struct dax_dir_hdr *h = (struct dax_dir_hdr *)f->base;
	struct dax_entry *e;
	uint64_t a, b, t0;

	/* a lock holder of our domain that died: taken over at once */
	atomic_store(&h->lock, dead_who(f));
	t0 = now_ms();
	assert_int_equal(dax_region_create(&f->s, "l", DAX_PAGE, &a), 0);
	assert_true(now_ms() - t0 < 1000);
	/* a creator that died while zeroing: not waited for, name reusable */
	e = entry_of(f, a);
	atomic_store(&e->state, DAX_CREATING);
	e->creator = dead_who(f);
	assert_int_equal(dax_region_open(&f->s, "l", DAX_PAGE, &b), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(dax_region_create(&f->s, "l", DAX_PAGE, &b), 0);
	/* an unlinked region whose only other mapper died is reused */
	assert_int_equal(dax_region_create(&f->s, "m", DAX_PAGE, &a), 0);
	add_record(f, a, dead_who(f), 3);
	dax_region_put(&f->s, a);
	assert_int_equal(dax_region_unlink(&f->s, "m"), 0);
	assert_null(entry_of(f, a));
	/* a holder of another domain (host): taken over after its lease */
	atomic_store(&h->lock, (uint64_t)(f->s.domain ^ 2) << 32 | 1);
	t0 = now_ms();
	assert_int_equal(dax_region_create(&f->s, "n", DAX_PAGE, &b), 0);
	assert_true(now_ms() - t0 >= DAX_LEASE_MS - 50);
	assert_int_equal(atomic_load(&h->lock), 0);
}

static void test_sweep_frees_unmapped(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b, c, d;
	struct dax_entry *e;

	assert_int_equal(dax_region_create(&f->s, "alive", DAX_PAGE, &a), 0);
	assert_int_equal(dax_region_create(&f->s, "killed", DAX_PAGE, &b), 0);
	assert_int_equal(dax_region_create(&f->s, "theirs", DAX_PAGE, &c), 0);
	assert_int_equal(dax_region_create(&f->s, "far", DAX_PAGE, &d), 0);
	/* mapped only by a process that died (SIGKILL: no unmap) */
	add_record(f, b, dead_who(f), 1);
	dax_region_put(&f->s, b);
	add_record(f, c, dead_who(f), 1);
	dax_region_put(&f->s, c);
	e = entry_of(f, c);
	e->uid = getuid() + 1;			/* another user's: not ours to free */
	add_record(f, d, (uint64_t)(f->s.domain ^ 2) << 32 | 1, 1);
	dax_region_put(&f->s, d);
	assert_int_equal(dax_space_sweep(&f->s), 1);
	assert_int_equal(dax_region_open(&f->s, "killed", DAX_PAGE, &b), -ENOENT);
	assert_int_equal(dax_region_open(&f->s, "alive", DAX_PAGE, &b), 0);
	assert_int_equal(b, a);
	assert_non_null(entry_of(f, c));
	assert_non_null(entry_of(f, d));	/* another host may map it */
	assert_int_equal(dax_space_sweep(&f->s), 0);
}

/* More processes than any fixed per-region table: each is accounted. */
static void test_many_mappers_killed(void **state)
{
	struct fixture *f = *state;
	int go[2], ready[2], i;
	pid_t pid[12];
	uint64_t a, b;
	char c;

	assert_int_equal(dax_region_create(&f->s, "many", DAX_PAGE, &a), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	for (i = 0; i < 12; i++) {
		pid[i] = fork();
		if (!pid[i]) {
			uint64_t off;

			c = dax_region_open(&f->s, "many", DAX_PAGE, &off) ? 'e' : 'r';
			c = write(ready[1], &c, 1) == 1 ? c : 'e';
			while (read(go[0], &c, 1) < 0)
				;
			_exit(0);
		}
	}
	for (i = 0; i < 12; i++) {
		assert_int_equal(read(ready[0], &c, 1), 1);
		assert_int_equal(c, 'r');
	}
	dax_region_put(&f->s, a);
	assert_int_equal(dax_region_unlink(&f->s, "many"), 0);
	assert_non_null(entry_of(f, a));	/* 12 processes still map it */
	assert_int_equal(dax_region_create(&f->s, "next", DAX_PAGE, &b), 0);
	assert_int_not_equal(b, a);
	for (i = 0; i < 12; i++)
		kill(pid[i], SIGKILL);		/* no unmap */
	for (i = 0; i < 12; i++)
		waitpid(pid[i], NULL, 0);
	/* the next allocation that runs short reclaims it; the sweep does */
	assert_int_equal(dax_space_sweep(&f->s), 0);
	assert_null(entry_of(f, a));
	assert_int_equal(dax_region_create(&f->s, "again", DAX_PAGE, &b), 0);
	assert_int_equal(b, a);
	close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
}

/* A full mapping table refuses a mapping instead of losing track of it. */
static void test_mapping_table_full(void **state)
{
	struct fixture *f = *state;
	struct dax_mapping *m = records(f);
	uint64_t a, b;
	uint32_t i;

	assert_int_equal(dax_region_create(&f->s, "a", DAX_PAGE, &a), 0);
	assert_int_equal(dax_region_create(&f->s, "b", DAX_PAGE, &b), 0);
	for (i = 0; i < DAX_MAPPINGS; i++)
		if (!m[i].who)
			m[i] = (struct dax_mapping){ getpid() | (uint64_t)f->s.domain << 32,
						     index_of(f, a) + 0, 1 };
	/* every record names a live process (us): nothing to reclaim */
	assert_int_equal(dax_region_create(&f->s, "c", DAX_PAGE, &b), -ENOSPC);
	assert_int_equal(dax_region_open(&f->s, "b", DAX_PAGE, &b), 0);	/* has one */
	m[DAX_MAPPINGS - 1].who = 0;
	assert_int_equal(dax_region_create(&f->s, "c", DAX_PAGE, &b), 0);
}

static void test_fork_child_keeps_region(void **state)
{
	struct fixture *f = *state;
	int to_child[2], to_parent[2];
	uint64_t a, b, parent = dax_self(&f->s);
	char c;
	pid_t pid;

	assert_int_equal(dax_region_create(&f->s, "fk", DAX_PAGE, &a), 0);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	if (!pid) {
		dax_space_forked(&f->s, parent);
		c = write(to_parent[1], "r", 1) == 1;
		c = read(to_child[0], &c, 1);
		_exit(0);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	dax_region_put(&f->s, a);
	assert_int_equal(dax_region_unlink(&f->s, "fk"), 0);
	assert_non_null(entry_of(f, a));	/* the child still maps it */
	assert_int_equal(dax_region_create(&f->s, "fk2", DAX_PAGE, &b), 0);
	assert_int_not_equal(b, a);
	assert_int_equal(write(to_child[1], "x", 1), 1);
	waitpid(pid, NULL, 0);
	assert_int_equal(dax_space_sweep(&f->s), 0);	/* fk2 is mapped */
	assert_null(entry_of(f, a));		/* the child is gone: freed */
	assert_int_equal(dax_region_create(&f->s, "fk3", DAX_PAGE, &b), 0);
	assert_int_equal(b, a);
	close(to_child[0]); close(to_child[1]);
	close(to_parent[0]); close(to_parent[1]);
}

static void *bump_later(void *arg)
{
	usleep(30000);
	atomic_store((_Atomic uint32_t *)arg, 8);
	return NULL;
}

static void test_wait_poll(void **state)
{
	_Atomic uint32_t word = 7;
	pthread_t t;
	uint64_t t0;

	(void)state;
	t0 = now_ms();
	assert_int_equal(dax_wait_poll(&word, 7, 30), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 30);
	assert_int_equal(dax_wait_poll(&word, 6, 1000), 0);	/* moved on */
	pthread_create(&t, NULL, bump_later, (void *)&word);
	t0 = now_ms();
	assert_int_equal(dax_wait_poll(&word, 7, 5000), 0);
	assert_true(now_ms() - t0 < 1000);	/* woken by the change: <= 1 ms steps */
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_map_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_is_zeroed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragmentation_first_fit, setup, teardown),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test_setup_teardown(test_corrupt_entries_rejected, setup, teardown),
		cmocka_unit_test(test_processes_race),
		cmocka_unit_test_setup_teardown(test_dead_holders_do_not_wedge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_frees_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_mappers_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_child_keeps_region, setup, teardown),
		cmocka_unit_test(test_wait_poll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
