// SPDX-License-Identifier: GPL-2.0
/* Reply encoding: spelling and field order of the upstream goldens, Go escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "scheduler-plugin/reply.h"

static json_t *golden(const char *type)
{
	const char *shared = getenv("SHARED");
	char path[1024];

	if (!shared)
		return NULL;
	snprintf(path, sizeof(path),
		 "%s/corpus/k8s-scheduler/extender-v1-wire-golden/%s.json", shared, type);
	return json_load_file(path, JSON_PRESERVE_ORDER, NULL);
}

static const char *const nodes[] = { "n1", "n2", "n3" };
static const enum ext_fail_kind kinds[] = { EXT_PASS, EXT_FAIL, EXT_FAIL_UNRESOLVABLE };
static const char *const reasons[] = { NULL, "bar", "qux" };

static void filter_keys_match_golden(void **unused)
{
	json_t *want = golden("ExtenderFilterResult"), *got;
	struct ext_buf b = { 0 };
	const char *k1, *k2;
	void *i1, *i2;

	(void)unused;
	if (!want)
		skip();
	ext_reply_filter(&b, nodes, 3, kinds, reasons, NULL, "");
	assert_false(b.failed);
	assert_string_equal(b.data,
		"{\"Nodes\":null,\"NodeNames\":[\"n1\"],\"FailedNodes\":{\"n2\":\"bar\"},"
		"\"FailedAndUnresolvableNodes\":{\"n3\":\"qux\"},\"Error\":\"\"}");
	got = json_loads(b.data, JSON_PRESERVE_ORDER, NULL);
	assert_non_null(got);
	/* same keys in the same order as Go's encoding of ExtenderFilterResult */
	for (i1 = json_object_iter(want), i2 = json_object_iter(got); i1 && i2;
	     i1 = json_object_iter_next(want, i1), i2 = json_object_iter_next(got, i2)) {
		k1 = json_object_iter_key(i1);
		k2 = json_object_iter_key(i2);
		assert_string_equal(k1, k2);
	}
	assert_null(i1);
	assert_null(i2);
	json_decref(got);
	json_decref(want);
	ext_buf_free(&b);
}

static void filter_with_full_nodes(void **unused)
{
	json_t *items = json_loads("[{\"metadata\":{\"name\":\"n1\"}},{\"metadata\":{\"name\":\"n2\"}},"
				   "{\"metadata\":{\"name\":\"n3\"}}]", 0, NULL);
	struct ext_buf b = { 0 };

	(void)unused;
	ext_reply_filter(&b, nodes, 3, kinds, reasons, items, "");
	assert_string_equal(b.data,
		"{\"Nodes\":{\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"n1\"}}]},"
		"\"NodeNames\":null,\"FailedNodes\":{\"n2\":\"bar\"},"
		"\"FailedAndUnresolvableNodes\":{\"n3\":\"qux\"},\"Error\":\"\"}");
	json_decref(items);
	ext_buf_free(&b);
}

static void priorities_match_golden(void **unused)
{
	const char *host[] = { "myhost" };
	json_t *want = golden("HostPriority");
	struct ext_buf b = { 0 };
	char *w;

	(void)unused;
	if (!want)
		skip();
	ext_reply_priorities(&b, host, 1, (int[]){ 1 });
	w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
	/* a HostPriorityList of one is "[" + the golden HostPriority + "]" */
	assert_int_equal(b.len, strlen(w) + 2);
	assert_memory_equal(b.data + 1, w, strlen(w));
	free(w);
	json_decref(want);
	ext_buf_free(&b);
}

static void go_string_escaping(void **unused)
{
	struct ext_buf b = { 0 };

	(void)unused;
	ext_buf_json_str(&b, "a\"b\\c<d>e&f\ng\x01h\xe2\x80\xa8i\xc3\xa9");
	assert_string_equal(b.data,
		"\"a\\\"b\\\\c\\u003cd\\u003ee\\u0026f\\ng\\u0001h\\u2028i\xc3\xa9\"");
	ext_buf_free(&b);
	ext_reply_error(&b, "x");
	assert_string_equal(b.data, "{\"Error\":\"x\"}");
	ext_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_keys_match_golden),
		cmocka_unit_test(filter_with_full_nodes),
		cmocka_unit_test(priorities_match_golden),
		cmocka_unit_test(go_string_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
