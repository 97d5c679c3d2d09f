// SPDX-License-Identifier: GPL-2.0
/* The top-level scanner: strict JSON, in-place strings, positions. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/scan.h"

struct res {
	char *buf;
	const char **strs;
	size_t n;
	bool have;
	struct ext_scan_member m[4];
	struct ext_scan_pos at;
	const char *why;
	int ret;
};

static void scan(struct res *r, const char *json)
{
	memset(r, 0, sizeof(*r));
	r->buf = strdup(json);
	r->ret = ext_scan_object(r->buf, strlen(json), "names", &r->strs, &r->n, &r->have,
				 r->m, 4, &r->at, &r->why);
}

static void done(struct res *r)
{
	free(r->buf);
	free(r->strs);
}

static void strings_decoded_in_place(void **unused)
{
	struct res r;

	(void)unused;
	scan(&r, " {\"NAMES\" : [\"a\\\"b\", \"\\u00e9\\ud83d\\ude00\", \"x\\/y\\n\"],"
		 " \"pod\": {\"k\": \"\\u0041\\n\"}, \"n\": [1, -2.5e3, true, null, {}]}\r\n");
	assert_int_equal(r.ret, 3);
	assert_true(r.have);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.strs[0], "a\"b");
	assert_string_equal(r.strs[1], "\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(r.strs[2], "x/y\n");
	assert_string_equal(r.m[1].key, "pod");
	/* other values are left byte for byte, for jansson */
	assert_memory_equal(r.buf + r.m[1].start, "{\"k\": \"\\u0041\\n\"}",
			    r.m[1].end - r.m[1].start);
	assert_int_equal(r.m[1].at.line, 1);
	done(&r);
}

static void last_member_wins(void **unused)
{
	struct res r;

	(void)unused;
	scan(&r, "{\"names\":[\"a\"],\"Names\":null}");
	assert_int_equal(r.ret, 2);
	assert_false(r.have);
	done(&r);
	scan(&r, "{\"names\":[1]}");
	assert_int_equal(r.ret, 1);
	assert_false(r.have);
	done(&r);
	/* strings decoded before a non-string do not break validation */
	scan(&r, "{\"names\":[\"a\",\"b\\n\",3,\"c\",[\"d\"]],\"x\":1}");
	assert_int_equal(r.ret, 2);
	assert_false(r.have);
	done(&r);
}

static void rejected(const char *json, size_t line, size_t col, const char *why)
{
	struct res r;

	scan(&r, json);
	assert_int_equal(r.ret, -EINVAL);
	if (r.at.line != line || r.at.col != col || !strstr(r.why, why))
		fail_msg("%s: got %zu:%zu %s, want %zu:%zu %s", json, r.at.line,
			 r.at.col, r.why, line, col, why);
	done(&r);
}

static void invalid_inputs(void **unused)
{
	char deep[2000];

	(void)unused;
	rejected("", 1, 1, "expected a JSON object");
	rejected("[]", 1, 1, "expected a JSON object");
	rejected("{\"a\":1,}", 1, 8, "expected a string key");
	rejected("{\"a\":01}", 1, 7, "expected ',' or '}'");
	rejected("{\"a\":1.}", 1, 8, "invalid number");
	rejected("{\"a\":-}", 1, 7, "invalid number");
	rejected("{\"a\":tru}", 1, 6, "invalid literal");
	rejected("{\n\"a\":\n  \"x\ty\"}", 3, 5, "control character");
	rejected("{\"a\":\"\\x\"}", 1, 8, "invalid escape");
	rejected("{\"a\":\"\\udc00\"}", 1, 13, "surrogate");
	rejected("{\"a\":\"\\u0000\"}", 1, 13, "NUL");
	rejected("{\"a\":\"\xc0\xaf\"}", 1, 7, "invalid UTF-8");
	rejected("{\"a\":\"\xed\xa0\x80\"}", 1, 7, "invalid UTF-8");
	rejected("{\"a\":\"abc", 1, 10, "unterminated string");
	rejected("{\"a\":1} {}", 1, 9, "trailing data");
	rejected("{\"a\" 1}", 1, 6, "expected ':'");
	rejected("{\"names\":[\"a\" \"b\"]}", 1, 15, "expected ',' or ']'");
	memset(deep, '[', sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	deep[sizeof(deep) - 1] = '\0';
	rejected(deep, 1, 5 + EXT_SCAN_DEPTH + 1, "nesting too deep");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_decoded_in_place),
		cmocka_unit_test(last_member_wins),
		cmocka_unit_test(invalid_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
