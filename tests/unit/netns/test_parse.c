// SPDX-License-Identifier: GPL-2.0
/*
 * Rule-set parsers: every Istio golden parses (rule counts checked against
 * an independent count of the rule lines), malformed input is reported as
 * FILE:LINE:COL naming the problem, and the fuzz corpus replays cleanly.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netns/hpnetns.h"

static const char *shared(void)
{
	const char *s = getenv("SHARED");

	return s ? s : "../shared";
}

struct msgs {
	char text[4096];
	int n;
};

static void collect(void *arg, const char *line)
{
	struct msgs *m = arg;
	size_t len = strlen(m->text);

	snprintf(m->text + len, sizeof(m->text) - len, "%s\n", line);
	m->n++;
}

/* Rule lines counted without the parser: -A/-I lines and add/insert rule. */
static size_t count_rule_lines(const char *path)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "-A ", 3) || !strncmp(line, "-I ", 3) ||
		    !strncmp(line, "add rule ", 9) || !strncmp(line, "insert rule ", 12))
			n++;
	fclose(f);
	return n;
}

/* Parse every *.golden (or *.txt.golden) file of @dir. */
static int parse_dir(const char *sub, size_t *files)
{
	char dir[512], path[1024];
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/corpus/%s", shared(), sub);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		struct hpns_ruleset *rs = NULL;
		struct msgs m = { 0 };

		if (!strstr(d->d_name, ".golden"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (hpns_ruleset_parse_file(path, collect, &m, &rs)) {
			print_error("%s", m.text);
			fail_msg("%s does not parse", path);
		}
		assert_int_equal(m.n, 0);
		assert_int_equal(hpns_ruleset_count(rs), count_rule_lines(path));
		hpns_ruleset_destroy(rs);
		(*files)++;
	}
	closedir(dp);
	return 0;
}

static void inpod_goldens_parse(void **state)
{
	size_t files = 0;

	(void)state;
	parse_dir("istio-inpod/iptables", &files);
	parse_dir("istio-inpod/nftables", &files);
	assert_int_equal(files, 28);
}

static void sidecar_goldens_parse(void **state)
{
	size_t files = 0;

	(void)state;
	parse_dir("istio-sidecar/iptables", &files);
	parse_dir("istio-sidecar/nftables", &files);
	parse_dir("istio-sidecar/cni-plugin", &files);
	assert_int_equal(files, 28);
}

struct bad {
	const char *text;
	const char *expect;   /* prefix of the first message */
	const char *what;     /* substring of it */
};

static const struct bad bad_inputs[] = {
	{ "*nat\n-A OUTPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n",
	  "t:2:26: ", "bad port '99999'" },
	{ "-A OUTPUT -j ACCEPT\n", "t:1:1: ", "rule outside a table" },
	{ "*nat\n-A OUTPUT -x foo\nCOMMIT\n", "t:2:11: ", "unknown option '-x'" },
	{ "*nat\n-A OUTPUT -d 1.2.3/8 -j ACCEPT\nCOMMIT\n", "t:2:14: ",
	  "bad address '1.2.3/8'" },
	{ "*nat\n-A OUTPUT -d 10.0.0.0/33 -j ACCEPT\nCOMMIT\n", "t:2:14: ",
	  "bad address" },
	{ "*nat\n-A OUTPUT -m mark --mark zz -j ACCEPT\nCOMMIT\n", "t:2:26: ",
	  "bad mark 'zz'" },
	{ "*nat\n-A OUTPUT --dport 53 -j ACCEPT\nCOMMIT\n", "t:2:11: ",
	  "needs -p tcp or -p udp" },
	{ "*nat\n-A OUTPUT -j\nCOMMIT\n", "t:2:11: ", "needs a value" },
	{ "*nat\n-A OUTPUT -j ACCEPT\n", "t:", "not closed by COMMIT" },
	{ "*nat\nbogus line\nCOMMIT\n", "t:2:1: ", "unknown line 'bogus'" },
	{ "add chain inet t c { type nat hook output priority -100 ; }\n"
	  "add rule inet t c ip daddr 1.2.3.400 accept\n", "t:2:28: ",
	  "bad ip address '1.2.3.400'" },
	{ "add rule inet t nochain accept\n", "t:1:17: ", "not declared" },
	{ "add chain inet t c\nadd rule inet t c frob 1\n", "t:2:19: ",
	  "unknown statement 'frob'" },
	{ "add chain inet t c\nadd rule inet t c tcp dport\n", "t:2:28: ",
	  "port needs a value" },
	{ "add chain inet t c\nadd rule inet t c accept counter\n", "t:2:26: ",
	  "statement after the verdict" },
	{ "add chain bridge t c\n", "t:1:11: ", "unknown family 'bridge'" },
	{ "add chain inet t c { type nat hook sideways priority 0 ; }\n",
	  "t:1:36: ", "unknown hook 'sideways'" },
	{ "add chain inet t c\nadd rule inet t c mark and 0xfff != zz accept\n",
	  "t:2:37: ", "bad mark 'zz'" },
};

static void malformed_input_is_located(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const struct bad *b = &bad_inputs[i];
		struct hpns_ruleset *rs = (void *)1;
		struct msgs m = { 0 };
		int ret = hpns_ruleset_parse("t", b->text, strlen(b->text),
					     collect, &m, &rs);

		if (ret != -22 || strncmp(m.text, b->expect, strlen(b->expect)) ||
		    !strstr(m.text, b->what))
			fail_msg("input %zu: ret %d, got '%s', want '%s...%s'", i,
				 ret, m.text, b->expect, b->what);
		assert_null(rs);
	}
}

/* Insert positions (-I CHAIN N, insert rule ... index N) keep order. */
static void insert_positions(void **state)
{
	static const char ipt[] =
		"*nat\n-A OUTPUT -d 1.1.1.1 -j ACCEPT\n-A OUTPUT -d 3.3.3.3 -j ACCEPT\n"
		"-I OUTPUT 2 -d 2.2.2.2 -j ACCEPT\n-I OUTPUT -d 0.0.0.1 -j RETURN\nCOMMIT\n";
	struct hpns_ruleset *rs = NULL;
	struct hpns_half_conf c = { .half = HPNS_HALF_CPU, .link = "hpn0" };
	struct hpns_redo *redo = NULL;
	char *text, *a, *b, *d, *z;

	(void)state;
	assert_int_equal(hpns_ruleset_parse("t", ipt, sizeof(ipt) - 1, NULL, NULL, &rs), 0);
	assert_int_equal(hpns_addrs_parse("10.0.0.5", &c.pod), 0);
	assert_int_equal(hpns_translate(rs, &c, NULL, NULL, &redo), 0);
	text = hpns_redo_format(redo);
	z = strstr(text, "0.0.0.1/32");
	a = strstr(text, "1.1.1.1/32");
	b = strstr(text, "2.2.2.2/32");
	d = strstr(text, "3.3.3.3/32");
	assert_true(z && a && b && d && z < a && a < b && b < d);
	free(text);
	hpns_redo_destroy(redo);
	hpns_ruleset_destroy(rs);
}

/* Replay the fuzz corpus (seeds and past crashers): no crash, no leak
 * under ASan, and the parse result is either a rule set or an error. */
static void fuzz_corpus_replays(void **state)
{
	char dir[512], path[1024];
	const char *top = getenv("TOP");
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/unit/netns/fuzz-corpus", top ? top : ".");
	dp = opendir(dir);
	if (!dp)
		skip();
	while ((d = readdir(dp))) {
		struct hpns_ruleset *rs = NULL;
		int ret;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		ret = hpns_ruleset_parse_file(path, NULL, NULL, &rs);
		assert_true(ret == 0 ? rs != NULL : rs == NULL);
		hpns_ruleset_destroy(rs);
		n++;
	}
	closedir(dp);
	assert_true(n > 0);
}

static void addrs_parse(void **state)
{
	struct hpns_addrs a;

	(void)state;
	assert_int_equal(hpns_addrs_parse("10.1.2.3", &a), 0);
	assert_true(a.has_v4 && !a.has_v6);
	assert_int_equal(hpns_addrs_parse("10.1.2.3,fd00::1", &a), 0);
	assert_true(a.has_v4 && a.has_v6);
	assert_int_equal(hpns_addrs_parse("fd00::1", &a), 0);
	assert_int_equal(hpns_addrs_parse("10.1.2.3,10.1.2.4", &a), -22);
	assert_int_equal(hpns_addrs_parse("nope", &a), -22);
	assert_int_equal(hpns_addrs_parse("", &a), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inpod_goldens_parse),
		cmocka_unit_test(sidecar_goldens_parse),
		cmocka_unit_test(malformed_input_is_located),
		cmocka_unit_test(insert_positions),
		cmocka_unit_test(fuzz_corpus_replays),
		cmocka_unit_test(addrs_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
