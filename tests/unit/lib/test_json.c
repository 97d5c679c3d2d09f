// SPDX-License-Identifier: GPL-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"

static const char pod[] =
	"{\"metadata\":{\"name\":\"web\",\"generation\":7,"
	"\"labels\":{\"gateway.networking.k8s.io/gateway-name\":\"wp\"}},"
	"\"Spec\":{\"x\":1}}";

static void test_paths(void **state)
{
	char err[128];
	json_int_t g = 0;
	json_t *v;

	(void)state;
	v = hp_json_parse("pod", pod, strlen(pod), err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(hp_json_str(v, "metadata", "name", NULL), "web");
	/* keys with dots and slashes are literal */
	assert_string_equal(hp_json_str(v, "metadata", "labels",
					"gateway.networking.k8s.io/gateway-name", NULL), "wp");
	assert_null(hp_json_str(v, "metadata", "generation", NULL)); /* not a string */
	assert_null(hp_json_get(v, "metadata", "missing", "deeper", NULL));
	assert_int_equal(hp_json_int(&g, v, "metadata", "generation", NULL), 0);
	assert_int_equal(g, 7);
	assert_int_equal(hp_json_int(&g, v, "metadata", "name", NULL), -22);
	assert_int_equal(hp_json_int(&g, v, "nope", NULL), -2);
	json_decref(v);
}

static void test_iget(void **state)
{
	char err[128];
	json_t *v;

	(void)state;
	v = hp_json_parse("x", pod, strlen(pod), err, sizeof(err));
	assert_non_null(hp_json_iget(v, "spec"));
	assert_ptr_equal(hp_json_iget(v, "SPEC"), hp_json_iget(v, "Spec"));
	assert_null(hp_json_iget(v, "status"));
	json_decref(v);
}

static void test_parse_error_position(void **state)
{
	const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";
	char err[128];

	(void)state;
	assert_null(hp_json_parse("req", bad, strlen(bad), err, sizeof(err)));
	assert_true(!strncmp(err, "req:3:8: ", 9));
	/* duplicate keys are an error, not a silent overwrite */
	assert_null(hp_json_parse("req", "{\"a\":1,\"a\":2}", 13, err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate"));
}

static void test_dump_roundtrip(void **state)
{
	char err[128];
	json_t *v;
	char *s;

	(void)state;
	v = hp_json_parse("x", pod, strlen(pod), err, sizeof(err));
	s = hp_json_dump(v);
	assert_string_equal(s, pod);
	free(s);
	json_decref(v);
}

/* A real Pod object as the API server serialises it. */
static void test_corpus_pod(void **state)
{
	const char *shared = getenv("SHARED");
	char path[512], err[256], *buf;
	json_t *v;
	FILE *f;
	long n;

	(void)state;
	snprintf(path, sizeof(path), "%s/corpus/k8s-objects/k8s-api-testdata-core.v1.Pod.json",
		 shared ? shared : "../shared");
	f = fopen(path, "r");
	if (!f)
		skip();
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n);
	assert_int_equal(fread(buf, 1, n, f), n);
	fclose(f);
	v = hp_json_parse(path, buf, n, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(hp_json_str(v, "kind", NULL), "Pod");
	assert_string_equal(hp_json_str(v, "metadata", "labels", "labelsKey", NULL), "labelsValue");
	assert_true(json_is_array(hp_json_get(v, "spec", "containers", NULL)));
	json_decref(v);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_iget),
		cmocka_unit_test(test_parse_error_position),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_corpus_pod),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
