// SPDX-License-Identifier: GPL-2.0
/* ExtenderArgs decoding, against kube-scheduler's golden wire bytes. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/args.h"

#define GOLDEN "/corpus/k8s-scheduler/extender-v1-wire-golden/"

static char *golden(const char *type, size_t *len)
{
	const char *shared = getenv("SHARED");
	char path[1024], *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if (!shared)
		return NULL;
	snprintf(path, sizeof(path), "%s" GOLDEN "%s.json", shared, type);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	*len = n > 0 ? (size_t)n : 0;
	return buf;
}

/* The decoder works in place and @a points into the buffer: keep copies. */
static char *kept[16];
static unsigned nkept;

static char *copy(const char *json)
{
	char *c = strdup(json);

	free(kept[nkept % 16]);
	kept[nkept++ % 16] = c;
	return c;
}

static void decode_ok(struct ext_args *a, const char *json)
{
	char err[256] = "";
	int ret = ext_args_decode(a, copy(json), strlen(json), err, sizeof(err));

	if (ret)
		fail_msg("decode: %s", err);
}

static void golden_args(void **unused)
{
	struct ext_args a;
	size_t len = 0, i;
	char *buf = golden("ExtenderArgs", &len), err[256];

	(void)unused;
	if (!buf)
		skip();
	assert_int_equal(ext_args_decode(&a, buf, len, err, sizeof(err)), 0);
	/* both forms present: NodeNames wins (nodeCacheCapable) */
	assert_true(a.by_name);
	assert_int_equal(a.n_nodes, 1);
	assert_string_equal(a.nodes[0], "node1");
	assert_string_equal(a.pod_name, "podname");
	assert_int_equal(a.pod.n_images, 0);
	assert_null(a.pod.template_key);
	ext_args_free(&a);
	free(buf);
	/* Go decodes the all-lowercase form too: so must we */
	buf = golden("ExtenderArgs", &len);
	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	assert_int_equal(ext_args_decode(&a, buf, len, err, sizeof(err)), 0);
	assert_true(a.by_name);
	assert_string_equal(a.nodes[0], "node1");
	ext_args_free(&a);
	free(buf);
}

static void full_nodes_without_names(void **unused)
{
	struct ext_args a;

	(void)unused;
	decode_ok(&a, "{\"Pod\":{\"spec\":{}},\"Nodes\":{\"items\":[{\"metadata\":{\"name\":\"x\"}},"
		  "{\"METADATA\":{\"Name\":\"y\"}}]},\"NodeNames\":null}");
	assert_false(a.by_name);
	assert_non_null(a.node_items);
	assert_int_equal(a.n_nodes, 2);
	assert_string_equal(a.nodes[0], "x");
	assert_string_equal(a.nodes[1], "y");
	ext_args_free(&a);
}

static void containers_init_first(void **unused)
{
	struct ext_args a;

	(void)unused;
	decode_ok(&a, "{\"pod\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},"
		  "\"spec\":{\"containers\":[{\"image\":\"app\"},{\"image\":\"side:2\"}],"
		  "\"initContainers\":[{\"image\":\"init:1\"}]}},\"nodenames\":[]}");
	assert_int_equal(a.pod.n_images, 3);
	assert_string_equal(a.pod.images[0], "init:1");
	assert_string_equal(a.pod.images[1], "app");
	assert_string_equal(a.pod.images[2], "side:2");
	/* no template label: the function's image, normalised */
	assert_string_equal(a.pod.template_key, "app:latest");
	assert_string_equal(a.pod_ns, "ns");
	assert_int_equal(a.n_nodes, 0);
	assert_false(a.needs_dpu);
	ext_args_free(&a);
}

static void template_label_and_dpu(void **unused)
{
	struct ext_args a;

	(void)unused;
	decode_ok(&a, "{\"Pod\":{\"metadata\":{\"labels\":{\"heteropod.io/template\":\"fn-x\"},"
		  "\"annotations\":{\"heteropod.io/offload\":\"waypoint\"}},"
		  "\"spec\":{\"containers\":[{\"image\":\"app\"}]}},\"NodeNames\":[\"n\"]}");
	assert_string_equal(a.pod.template_key, "fn-x");
	assert_true(a.needs_dpu);
	ext_args_free(&a);
	decode_ok(&a, "{\"Pod\":{\"metadata\":{\"annotations\":{\"heteropod.io/requires-dpu\":\"true\"}}},"
		  "\"NodeNames\":[]}");
	assert_true(a.needs_dpu);
	ext_args_free(&a);
	decode_ok(&a, "{\"Pod\":{\"metadata\":{\"annotations\":{\"heteropod.io/offload\":\"sometimes\"}}},"
		  "\"NodeNames\":[]}");
	assert_false(a.needs_dpu);
	assert_string_equal(a.bad_offload, "sometimes");
	ext_args_free(&a);
	decode_ok(&a, "{\"Pod\":{\"metadata\":{\"annotations\":{\"heteropod.io/offload\":\"none\"}}},"
		  "\"NodeNames\":[]}");
	assert_false(a.needs_dpu);
	assert_null(a.bad_offload);
	ext_args_free(&a);
}

static void decode_err(const char *json, const char *want)
{
	struct ext_args a;
	char err[256] = "";

	assert_int_equal(ext_args_decode(&a, copy(json), strlen(json), err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	ext_args_free(&a);
}

static void errors_name_the_position(void **unused)
{
	(void)unused;
	decode_err("{\"Pod\":{}", "request:1:10: expected ',' or '}'");
	decode_err("{\n \"Pod\": {},\n \"NodeNames\": [1,]\n}", "request:3:");
	decode_err("[]", "expected a JSON object");
	decode_err("{\"NodeNames\":[]}", "Pod missing");
	decode_err("{\"Pod\":{}}", "neither NodeNames");
	decode_err("{\"Pod\":{},\"NodeNames\":[\"a\",3]}",
		   "request:1:23: NodeNames: expected an array of strings or null");
	decode_err("{\"Pod\":{\"spec\":{\"x\":1e99999}},\"NodeNames\":[]}", "request:1:");
	decode_err("{\"Pod\":{\"a\":\"\\ud800\"},\"NodeNames\":[]}", "surrogate");
	decode_err("{\"Pod\":{},\"NodeNames\":[]} x", "request:1:27: trailing data");
	decode_err("{\"Pod\":{},\"NodeNames\":[\"\xff\"]}", "invalid UTF-8");
	decode_err("{\"Pod\":{},\"Nodes\":{\"items\":[{}]}}", "Nodes.items[0]");
	decode_err("", "request:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_args),
		cmocka_unit_test(full_nodes_without_names),
		cmocka_unit_test(containers_init_first),
		cmocka_unit_test(template_label_and_dpu),
		cmocka_unit_test(errors_name_the_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
