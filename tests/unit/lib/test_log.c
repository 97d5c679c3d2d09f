// SPDX-License-Identifier: GPL-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/log.h"

/* Log into a pipe and return what one call wrote. */
static void capture(char *out, size_t size, void (*fn)(void))
{
	int p[2];
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	hp_log_set_fd(p[1]);
	fn();
	close(p[1]);
	n = read(p[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	hp_log_set_fd(2);
}

static void emit_info(void)
{
	char q[64];

	hp_info("split", "pod=%s reason=%s", "default/web",
		hp_log_q(q, sizeof(q), "no such \"file\""));
}

static void test_line_format(void **state)
{
	char buf[512];

	(void)state;
	hp_log_init("test-prog", HP_LOG_INFO);
	capture(buf, sizeof(buf), emit_info);
	assert_true(!strncmp(buf, "ts=", 3));
	assert_non_null(strstr(buf, " level=info prog=test-prog event=split pod=default/web reason=\"no such \\\"file\\\"\"\n"));
	/* exactly one line */
	assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
}

static void emit_debug(void)
{
	hp_debug("noisy", "x=1");
}

static void test_level_filter(void **state)
{
	char buf[512];

	(void)state;
	hp_log_init("t", HP_LOG_INFO);
	capture(buf, sizeof(buf), emit_debug);
	assert_string_equal(buf, "");
	hp_log_set_level(HP_LOG_DEBUG);
	capture(buf, sizeof(buf), emit_debug);
	assert_non_null(strstr(buf, "level=debug prog=t event=noisy x=1\n"));
}

static void emit_long(void)
{
	static char big[10000];

	memset(big, 'a', sizeof(big) - 1);
	hp_info("long", "v=%s", big);
}

static void test_long_line_truncated_not_split(void **state)
{
	char buf[16384];

	(void)state;
	hp_log_init("t", HP_LOG_INFO);
	capture(buf, sizeof(buf), emit_long);
	assert_true(strlen(buf) <= 4096);
	assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
}

static void test_parse_level(void **state)
{
	enum hp_log_level l = HP_LOG_INFO;

	(void)state;
	assert_int_equal(hp_log_parse_level("DEBUG", &l), 0);
	assert_int_equal(l, HP_LOG_DEBUG);
	assert_int_equal(hp_log_parse_level("verbose", &l), -22);
	assert_int_equal(l, HP_LOG_DEBUG);
}

static void test_quote(void **state)
{
	char b[16];

	(void)state;
	assert_string_equal(hp_log_q(b, sizeof(b), "plain"), "plain");
	assert_string_equal(hp_log_q(b, sizeof(b), ""), "\"\"");
	assert_string_equal(hp_log_q(b, sizeof(b), "a=b"), "\"a=b\"");
	/* truncated, still quoted and terminated */
	assert_string_equal(hp_log_q(b, 8, "a b c d e f"), "\"a b c\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_long_line_truncated_not_split),
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
