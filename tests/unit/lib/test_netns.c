// SPDX-License-Identifier: GPL-2.0
/* Needs root (creates namespaces under /var/run/netns); skips otherwise. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/netns.h"

static char name[64];

static int setup(void **state)
{
	(void)state;
	snprintf(name, sizeof(name), "hp-libtest-%d", getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hp_netns_delete(name);
	return 0;
}

static void require_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void test_create_enter_restore(void **state)
{
	int orig, target, saved, now, again;

	(void)state;
	require_root();
	assert_int_equal(hp_netns_create(name), 0);
	assert_int_equal(hp_netns_create(name), -EEXIST);
	orig = hp_netns_open_current();
	assert_true(orig >= 0);
	target = hp_netns_open(name);
	assert_true(target >= 0);
	assert_int_equal(hp_netns_same(orig, target), 0);

	assert_int_equal(hp_netns_enter(name, &saved), 0);
	now = hp_netns_open_current();
	assert_int_equal(hp_netns_same(now, target), 1);
	close(now);
	assert_int_equal(hp_netns_restore(saved), 0);

	again = hp_netns_open_current();
	assert_int_equal(hp_netns_same(again, orig), 1);
	close(again);
	close(target);
	close(orig);
	assert_int_equal(hp_netns_delete(name), 0);
	assert_int_equal(hp_netns_delete(name), -ENOENT);
}

static void test_path_and_cloexec(void **state)
{
	char path[64];
	int a, b;

	(void)state;
	require_root();
	snprintf(path, sizeof(path), "/proc/%d/ns/net", getpid());
	a = hp_netns_open(path);
	b = hp_netns_open_current();
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(hp_netns_same(a, b), 1);
	assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
	close(a);
	close(b);
}

static void test_enter_missing_keeps_namespace(void **state)
{
	int orig, now, saved = -1;

	(void)state;
	orig = hp_netns_open_current();
	assert_int_equal(hp_netns_enter("hp-no-such-ns", &saved), -ENOENT);
	assert_int_equal(saved, -1);
	now = hp_netns_open_current();
	assert_int_equal(hp_netns_same(orig, now), 1);
	close(now);
	close(orig);
	assert_int_equal(hp_netns_open(""), -EINVAL);
	assert_int_equal(hp_netns_open(".."), -EINVAL);
	assert_int_equal(hp_netns_create("a/b"), -EINVAL);
}

/* setns is per thread: another thread's namespace must not move. */
static void *thread_ns(void *arg)
{
	int *fd = arg;

	*fd = hp_netns_open_current();
	return NULL;
}

static void test_enter_is_per_thread(void **state)
{
	int saved, mine, other = -1, target;
	pthread_t t;

	(void)state;
	require_root();
	assert_int_equal(hp_netns_create(name), 0);
	assert_int_equal(hp_netns_enter(name, &saved), 0);
	assert_int_equal(pthread_create(&t, NULL, thread_ns, &other), 0);
	pthread_join(t, NULL);
	/* a new thread inherits the creating thread's namespace */
	target = hp_netns_open(name);
	assert_int_equal(hp_netns_same(other, target), 1);
	mine = hp_netns_open_current();
	assert_int_equal(hp_netns_same(mine, target), 1);
	assert_int_equal(hp_netns_restore(saved), 0);
	close(mine);
	close(other);
	close(target);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_enter_restore, setup, teardown),
		cmocka_unit_test(test_path_and_cloexec),
		cmocka_unit_test(test_enter_missing_keeps_namespace),
		cmocka_unit_test_setup_teardown(test_enter_is_per_thread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
