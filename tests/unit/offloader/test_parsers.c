// SPDX-License-Identifier: GPL-2.0
/* Line framing, backoff, YAML to JSON: the parsers of outside input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"
#include "offloader/backoff.h"
#include "offloader/lines.h"
#include "offloader/yamljson.h"

struct got {
	char text[4096];
	int n;
};

static int collect(void *arg, char *line, size_t len)
{
	struct got *g = arg;

	assert_int_equal(strlen(line), len);
	strcat(g->text, line);
	strcat(g->text, "|");
	g->n++;
	return 0;
}

/* Every way of cutting the stream in two or three pieces gives the same lines. */
static void test_lines_every_cut(void **state)
{
	const char *in = "{\"a\":1}\n\n{\"b\":22}\n{\"c\":333}\npartial";
	size_t n = strlen(in), i, j;

	(void)state;
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			struct agent_lines l;
			struct got g = { "", 0 };

			agent_lines_init(&l, 1024);
			assert_int_equal(agent_lines_feed(&l, in, i, collect, &g), 0);
			assert_int_equal(agent_lines_feed(&l, in + i, j - i, collect, &g), 0);
			assert_int_equal(agent_lines_feed(&l, in + j, n - j, collect, &g), 0);
			assert_string_equal(g.text, "{\"a\":1}|{\"b\":22}|{\"c\":333}|");
			assert_int_equal(l.len, strlen("partial"));
			agent_lines_reset(&l);
			assert_int_equal(l.len, 0);
			agent_lines_uninit(&l);
		}
	}
}

static void test_lines_too_long(void **state)
{
	struct agent_lines l;
	struct got g = { "", 0 };
	char big[100];

	(void)state;
	memset(big, 'x', sizeof(big));
	agent_lines_init(&l, 64);
	assert_int_equal(agent_lines_feed(&l, big, sizeof(big), collect, &g), -E2BIG);
	agent_lines_uninit(&l);
}

static int stop_at_second(void *arg, char *line, size_t len)
{
	(void)line, (void)len;
	return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_lines_callback_stops(void **state)
{
	struct agent_lines l;
	int calls = 0;

	(void)state;
	agent_lines_init(&l, 64);
	assert_int_equal(agent_lines_feed(&l, "a\nb\nc\n", 6, stop_at_second, &calls), 7);
	assert_int_equal(calls, 2);
	agent_lines_uninit(&l);
}

static void test_backoff_grows_with_jitter(void **state)
{
	struct agent_backoff b;
	long w, prev_ceil = 100;
	int i;

	(void)state;
	agent_backoff_init(&b, 100, 1600, 42);
	for (i = 0; i < 8; i++) {
		w = agent_backoff_next(&b, -1);
		assert_true(w >= prev_ceil / 2 && w <= prev_ceil);
		prev_ceil = prev_ceil * 2 > 1600 ? 1600 : prev_ceil * 2;
	}
	w = agent_backoff_next(&b, 5000);
	assert_int_equal(w, 5000);	/* Retry-After is a floor */
	agent_backoff_reset(&b);
	w = agent_backoff_next(&b, -1);
	assert_true(w >= 50 && w <= 100);
}

static void test_backoff_spreads(void **state)
{
	struct agent_backoff a, b;
	int same = 0, i;

	(void)state;
	agent_backoff_init(&a, 1000, 1000, 1);
	agent_backoff_init(&b, 1000, 1000, 2);
	for (i = 0; i < 20; i++)
		same += agent_backoff_next(&a, -1) == agent_backoff_next(&b, -1);
	assert_true(same < 5);
}

static void test_retry_after(void **state)
{
	(void)state;
	assert_int_equal(agent_retry_after_ms("3", 0), 3000);
	assert_int_equal(agent_retry_after_ms(" 0 ", 0), 0);
	assert_int_equal(agent_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", 4), 6000);
	assert_int_equal(agent_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", 40), 0);
	assert_int_equal(agent_retry_after_ms("soon", 0), -EINVAL);
	assert_int_equal(agent_retry_after_ms("-1", 0), -EINVAL);
	assert_int_equal(agent_retry_after_ms("99999999", 0), -EINVAL);
}

static void test_yaml_documents(void **state)
{
	const char *y = "---\nkind: Pod\nmetadata:\n  name: a\n  labels: {x: \"1\", y: 2}\n"
			"spec:\n  list: [true, ~, -3, '07', plain]\n---\n---\nkind: Namespace\n";
	char err[256];
	json_t *docs = agent_yaml_parse("t.yaml", y, strlen(y), err, sizeof(err)), *l;

	(void)state;
	assert_non_null(docs);
	assert_int_equal(json_array_size(docs), 2);
	l = json_object_get(json_object_get(json_array_get(docs, 0), "spec"), "list");
	assert_true(json_is_true(json_array_get(l, 0)));
	assert_true(json_is_null(json_array_get(l, 1)));
	assert_int_equal(json_integer_value(json_array_get(l, 2)), -3);
	assert_string_equal(json_string_value(json_array_get(l, 3)), "07");
	assert_string_equal(json_string_value(json_array_get(l, 4)), "plain");
	assert_string_equal(hp_json_str(json_array_get(docs, 0), "metadata", "labels", "x",
				       NULL), "1");
	json_decref(docs);
}

static void test_yaml_errors_name_position(void **state)
{
	const char *bad = "kind: Pod\nmetadata:\n  name: [a\n";
	const char *alias = "a: &x 1\nb: *x\n";
	char err[256];

	(void)state;
	assert_null(agent_yaml_parse("m.yaml", bad, strlen(bad), err, sizeof(err)));
	assert_non_null(strstr(err, "m.yaml:"));
	assert_null(agent_yaml_parse("n.yaml", alias, strlen(alias), err, sizeof(err)));
	assert_non_null(strstr(err, "n.yaml:1:"));
	assert_non_null(strstr(err, "anchors"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_every_cut),
		cmocka_unit_test(test_lines_too_long),
		cmocka_unit_test(test_lines_callback_stops),
		cmocka_unit_test(test_backoff_grows_with_jitter),
		cmocka_unit_test(test_backoff_spreads),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_yaml_documents),
		cmocka_unit_test(test_yaml_errors_name_position),
	};

	return cmocka_run_group_tests_name("offloader/parsers", tests, NULL, NULL);
}
