// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "hsock/allow.h"

static struct sockaddr_storage ep(const char *addr, int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;

	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	}
	return ss;
}

static struct hsock_allow *parse_ok(const char *text)
{
	struct hsock_allow *al = NULL;
	char err[256] = "";

	assert_int_equal(hsock_allow_parse("allow", text, strlen(text), &al, err, sizeof(err)), 0);
	return al;
}

static bool match(struct hsock_allow *al, const char *a, int pa, const char *b, int pb)
{
	struct sockaddr_storage x = ep(a, pa), y = ep(b, pb);

	return hsock_allow_match(al, (void *)&x, (void *)&y);
}

static void test_links_both_directions(void **state)
{
	struct hsock_allow *al = parse_ok("# pods\n127.0.0.1:5201 127.0.0.1:*  # iperf\n\n[::1]:80 *\n*:9000 10.0.0.1:*\n");

	(void)state;
	assert_int_equal(hsock_allow_count(al), 3);
	assert_true(match(al, "127.0.0.1", 40000, "127.0.0.1", 5201));
	assert_true(match(al, "127.0.0.1", 5201, "127.0.0.1", 40000));
	assert_false(match(al, "127.0.0.2", 40000, "127.0.0.1", 5201));
	assert_true(match(al, "::1", 80, "::2", 1));
	assert_false(match(al, "::1", 81, "::2", 1));
	assert_true(match(al, "10.0.0.1", 1234, "192.168.1.1", 9000));
	assert_false(match(al, "10.0.0.2", 1234, "192.168.1.1", 9000));
	hsock_allow_free(al);
}

static void test_empty_allows_nothing(void **state)
{
	struct hsock_allow *al = parse_ok("# nothing\n");

	(void)state;
	assert_false(match(al, "127.0.0.1", 1, "127.0.0.1", 2));
	hsock_allow_free(al);
	hsock_allow_free(NULL);
}

static void expect_error(const char *text, const char *where, const char *what)
{
	struct hsock_allow *al = NULL;
	char err[256] = "";

	assert_int_equal(hsock_allow_parse("f", text, strlen(text), &al, err, sizeof(err)), -EINVAL);
	assert_null(al);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, what));
	assert_non_null(strstr(err, "accepted"));
}

static void test_errors_name_position(void **state)
{
	(void)state;
	expect_error("1.2.3.4:80\n", "f:1:", "two endpoints");
	expect_error("ok:1 *\n", "f:1:1:", "bad address");
	expect_error("* *\n1.2.3.4:99999 *\n", "f:2:9:", "bad port");
	expect_error("* * *\n", "f:1:5:", "more than two");
	expect_error("[::1:80 *\n", "f:1:1:", "IPv6");
	expect_error("1.2.3.4 *\n", "f:1:1:", ":PORT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links_both_directions),
		cmocka_unit_test(test_empty_allows_nothing),
		cmocka_unit_test(test_errors_name_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
