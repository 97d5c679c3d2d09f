// SPDX-License-Identifier: GPL-2.0
/* FaaS chains: names, grouping, placement as a unit, links (faas/chain.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "faas/chain.h"

static const uint16_t p8080[] = { 8080 }, p9000[] = { 9000, 9001 };

static void add(struct faas_chains *c, const char *chain, const char *uid,
		const char *ips, const uint16_t *ports, size_t n, bool wants)
{
	struct faas_member m = { chain, uid, ips, ports, n, wants };

	assert_int_equal(faas_chains_add(c, &m), 0);
}

/* The DPU takes up to *arg more members; accepted chains use them up. */
static bool fits(void *arg, size_t n)
{
	size_t *room = arg;

	if (n > *room)
		return false;
	*room -= n;
	return true;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(faas_chain_name_valid("thumbnail"));
	assert_true(faas_chain_name_valid("a.b_c-1"));
	assert_false(faas_chain_name_valid(""));
	assert_false(faas_chain_name_valid(NULL));
	assert_false(faas_chain_name_valid("-lead"));
	assert_false(faas_chain_name_valid("trail."));
	assert_false(faas_chain_name_valid("has space"));
	assert_false(faas_chain_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_add_refuses(void **state)
{
	struct faas_chains *c;
	struct faas_member bad_name = { "no/slash", "u1", "10.0.0.1", NULL, 0, true };
	struct faas_member ok = { "ch", "u1", "10.0.0.1", NULL, 0, true };
	struct faas_member two_v4 = { "ch", "u2", "10.0.0.1,10.0.0.2", NULL, 0, true };
	uint16_t many[FAAS_MAX_PORTS + 1] = { 0 };
	struct faas_member too_many = { "ch", "u3", "10.0.0.3", many, FAAS_MAX_PORTS + 1, true };

	(void)state;
	assert_int_equal(faas_chains_create(&c), 0);
	assert_int_equal(faas_chains_add(c, &bad_name), -EINVAL);
	assert_int_equal(faas_chains_add(c, &ok), 0);
	assert_int_equal(faas_chains_add(c, &ok), -EINVAL);	/* same uid */
	assert_int_equal(faas_chains_add(c, &two_v4), -EINVAL);
	assert_int_equal(faas_chains_add(c, &too_many), -EINVAL);
	faas_chains_destroy(c);
	faas_chains_destroy(NULL);
}

static void test_place_as_unit(void **state)
{
	struct faas_chains *c;
	enum faas_place pl;
	enum faas_why why;
	size_t room = 3, n;

	(void)state;
	assert_int_equal(faas_chains_create(&c), 0);
	/* chain "a": 2 members; chain "b": 2 members; chain "c": mode none */
	add(c, "b", "b1", "10.0.1.1", NULL, 0, true);
	add(c, "a", "a1", "10.0.0.1", NULL, 0, true);
	add(c, "c", "c1", "10.0.2.1", NULL, 0, true);
	add(c, "a", "a2", "10.0.0.2", NULL, 0, true);
	add(c, "b", "b2", "10.0.1.2", NULL, 0, true);
	add(c, "c", "c2", "10.0.2.2", NULL, 0, false);
	assert_int_equal(faas_chains_place(c, true, fits, &room), 0);
	assert_int_equal(faas_chains_count(c), 3);
	/* name order: a takes 2 of 3, b (2) no longer fits: whole chain on CPU */
	assert_int_equal(faas_member_place(c, "a2", &pl, &why, &n), 0);
	assert_int_equal(pl, FAAS_PLACE_DPU);
	assert_int_equal(n, 2);
	assert_int_equal(faas_member_place(c, "b1", &pl, &why, &n), 0);
	assert_int_equal(pl, FAAS_PLACE_CPU);
	assert_int_equal(why, FAAS_WHY_DPU_FULL);
	assert_int_equal(faas_member_place(c, "b2", &pl, &why, &n), 0);
	assert_int_equal(pl, FAAS_PLACE_CPU);
	assert_int_equal(faas_member_place(c, "c1", &pl, &why, &n), 0);
	assert_int_equal(why, FAAS_WHY_MODE);	/* c2's mode keeps c1 too */
	assert_int_equal(room, 1);		/* c was never offered */
	assert_int_equal(faas_member_place(c, "zz", &pl, &why, &n), -ENOENT);

	/* DPU down: everything falls back */
	room = 10;
	assert_int_equal(faas_chains_place(c, false, fits, &room), 0);
	assert_int_equal(faas_member_place(c, "a1", &pl, &why, &n), 0);
	assert_int_equal(pl, FAAS_PLACE_CPU);
	assert_int_equal(why, FAAS_WHY_DPU_DOWN);
	assert_string_equal(faas_why_text[why], "DPU down: CPU fallback");

	/* reset: nobody is a member any more */
	faas_chains_reset(c);
	assert_int_equal(faas_chains_place(c, true, fits, &room), 0);
	assert_int_equal(faas_member_place(c, "a1", &pl, &why, &n), -ENOENT);
	faas_chains_destroy(c);
}

static void test_links(void **state)
{
	struct faas_chains *c;
	size_t room = 10;
	char buf[1024] = "# head\n", small[40] = "";

	(void)state;
	assert_int_equal(faas_chains_create(&c), 0);
	add(c, "ch", "a", "10.0.0.1,fd00::1", p8080, 1, true);
	add(c, "ch", "b", "10.0.0.2", p9000, 2, true);
	add(c, "ch", "c", "fd00::3", NULL, 0, true);	/* any port */
	add(c, "other", "x", "10.0.0.9", p8080, 1, true);
	assert_int_equal(faas_chains_place(c, true, fits, &room), 0);

	/* a <-> b in IPv4 (b's two ports from a, a's port from b), a <-> c in
	 * IPv6 on any port; nothing with x of another chain */
	assert_int_equal(faas_member_links(c, "a", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "# head\n"
			    "10.0.0.2:9000 10.0.0.1:*\n"
			    "10.0.0.2:9001 10.0.0.1:*\n"
			    "10.0.0.1:8080 10.0.0.2:*\n"
			    "[fd00::1]:* [fd00::3]:*\n");
	/* the same links seen from b; b and c share no family */
	buf[0] = '\0';
	assert_int_equal(faas_member_links(c, "b", buf, sizeof(buf)), 3);
	assert_non_null(strstr(buf, "10.0.0.1:8080 10.0.0.2:*\n"));
	buf[0] = '\0';
	assert_int_equal(faas_member_links(c, "x", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(faas_member_links(c, "nobody", buf, sizeof(buf)), -ENOENT);
	/* too small: nothing half-written */
	assert_int_equal(faas_member_links(c, "a", small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, "");
	faas_chains_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_add_refuses),
		cmocka_unit_test(test_place_as_unit),
		cmocka_unit_test(test_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
