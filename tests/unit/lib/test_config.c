// SPDX-License-Identifier: GPL-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/config.h"

struct cfg {
	char *listen;
	long workers;
	int mode;
	bool tls;
	long heartbeat_ms;
	char **peers;
};

static const char *const modes[] = { "all", "waypoint", "none", NULL };
static const struct hp_cfg_field fields[] = {
	HP_CFG_STR(struct cfg, listen, "listen", "address"),
	HP_CFG_INT(struct cfg, workers, "workers", 1, 64, "threads"),
	HP_CFG_ENUM(struct cfg, mode, "offload", modes, "mode"),
	HP_CFG_BOOL(struct cfg, tls, "server.tls", "https"),
	HP_CFG_DURATION(struct cfg, heartbeat_ms, "server.heartbeat", 1, 60000, "interval"),
	HP_CFG_STRLIST(struct cfg, peers, "peers", "peer list"),
	{ 0 }
};

static int load(const char *text, struct cfg *c, char *err, size_t n)
{
	return hp_cfg_load_buf("agent.yaml", text, strlen(text), fields, c, err, n);
}

static void test_good(void **state)
{
	struct cfg c = { .workers = 4, .mode = 2 };
	char err[256];
	const char *y =
		"# comment\n"
		"listen: 0.0.0.0:9000\n"
		"offload: waypoint\n"
		"server:\n"
		"  tls: yes\n"
		"  heartbeat: 2s\n"
		"peers: [a, b]\n";

	(void)state;
	assert_int_equal(load(y, &c, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_int_equal(c.workers, 4); /* default kept */
	assert_int_equal(c.mode, 1);
	assert_true(c.tls);
	assert_int_equal(c.heartbeat_ms, 2000);
	assert_string_equal(c.peers[0], "a");
	assert_string_equal(c.peers[1], "b");
	assert_null(c.peers[2]);
	hp_cfg_free(fields, &c);
	assert_null(c.listen);
	assert_null(c.peers);
}

static void test_unknown_key_position(void **state)
{
	struct cfg c = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(load("listen: x\n\nwrokers: 3\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:3:1: unknown key \"wrokers\"; accepted: listen, workers, offload, server.tls, server.heartbeat, peers");
	hp_cfg_free(fields, &c);
}

static void test_bad_enum_names_choices(void **state)
{
	struct cfg c = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(load("workers: 2\noffload:   sometimes\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:2:12: \"sometimes\" is not a valid value for \"offload\"; accepted: all, waypoint, none");
}

static void test_nested_unknown(void **state)
{
	struct cfg c = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(load("server:\n  tsl: true\n", &c, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "agent.yaml:2:3: unknown key \"server.tsl\""));
}

static void test_range_and_type(void **state)
{
	struct cfg c = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(load("workers: 100\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:1:10: 100 for \"workers\" is out of range; accepted: 1..64");
	assert_int_equal(load("workers: many\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:1:10: \"many\" is not an integer for \"workers\"");
	assert_int_equal(load("server:\n  heartbeat: 5 minutes\n", &c, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "agent.yaml:2:14: \"5 minutes\" is not a valid duration"));
	assert_int_equal(load("server: on\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:1:9: \"server\" expects a mapping");
	assert_int_equal(load("peers: x\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:1:8: \"peers\" expects a list");
}

static void test_syntax_error_position(void **state)
{
	struct cfg c = { 0 };
	char err[512];

	(void)state;
	assert_int_equal(load("listen: a\nserver: {tls: true\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:3:1: did not find expected ',' or '}'");
	assert_int_equal(load("workers: 3\n\tx: 1\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:2:1: found a tab character that violates indentation");
	hp_cfg_free(fields, &c);
}

static void test_empty_and_not_mapping(void **state)
{
	struct cfg c = { .workers = 7 };
	char err[512];

	(void)state;
	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_int_equal(load("# only a comment\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 7);
	assert_int_equal(load("- a\n- b\n", &c, err, sizeof(err)), -22);
	assert_string_equal(err, "agent.yaml:1:1: expected a mapping of settings");
}

static void test_file(void **state)
{
	char path[] = "/tmp/hp-cfg-XXXXXX";
	struct cfg c = { 0 };
	char err[512];
	int fd;

	(void)state;
	assert_int_equal(hp_cfg_load_file("/nonexistent/x.yaml", fields, &c, err, sizeof(err)), -2);
	assert_string_equal(err, "/nonexistent/x.yaml: No such file or directory");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "workers: 9\n", 11), 11);
	close(fd);
	assert_int_equal(hp_cfg_load_file(path, fields, &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 9);
	unlink(path);
}

static void test_duration(void **state)
{
	long ms;

	(void)state;
	assert_int_equal(hp_cfg_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(hp_cfg_parse_duration("3m", &ms), 0);
	assert_int_equal(ms, 180000);
	assert_int_equal(hp_cfg_parse_duration("100", &ms), 0);
	assert_int_equal(ms, 100);
	assert_int_equal(hp_cfg_parse_duration("1d", &ms), -22);
	assert_int_equal(hp_cfg_parse_duration("-1s", &ms), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_unknown_key_position),
		cmocka_unit_test(test_bad_enum_names_choices),
		cmocka_unit_test(test_nested_unknown),
		cmocka_unit_test(test_range_and_type),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_empty_and_not_mapping),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
