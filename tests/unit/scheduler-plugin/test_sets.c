// SPDX-License-Identifier: GPL-2.0
/* Compact id sets: varint lists round-trip, postings switch forms correctly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/sets.h"

static void vlist_roundtrip(void **unused)
{
	uint32_t ids[] = { 0, 1, 127, 128, 300, 16384, 2097151, 2097152, 4294967295u };
	struct ext_vlist v = { 0 };
	struct ext_viter it;
	uint32_t *back, id, i = 0;

	(void)unused;
	assert_int_equal(ext_vlist_set(&v, ids, 9), 0);
	assert_int_equal(v.n, 9);
	/* gaps 0,1,126,1,172,16084,2080767,1,4292870143: 1+1+1+1+2+2+3+1+5 bytes */
	assert_int_equal(v.len, 17);
	assert_int_equal(ext_vlist_get(&v, &back), 0);
	assert_memory_equal(back, ids, sizeof(ids));
	free(back);
	ext_viter_init(&it, &v);
	while (ext_viter_next(&it, &id))
		assert_int_equal(id, ids[i++]);
	assert_int_equal(i, 9);
	assert_int_equal(ext_vlist_set(&v, NULL, 0), 0);
	assert_int_equal(ext_vlist_get(&v, &back), 0);
	assert_null(back);
	ext_vlist_free(&v);
	ext_vlist_free(&v);
}

static void posting_forms(void **unused)
{
	struct ext_posting p = { 0 };
	uint32_t i, universe = 4096;

	(void)unused;
	/* sparse while 32 * n < universe (and n < 64) */
	for (i = 0; i < 127; i++)
		assert_int_equal(ext_posting_add(&p, i * 3, universe), 0);
	assert_false(p.dense);
	assert_int_equal(ext_posting_add(&p, 5000, universe), 0); /* 128th: dense */
	assert_true(p.dense);
	assert_int_equal(p.n, 128);
	assert_true(ext_posting_has(&p, 5000));
	assert_true(ext_posting_has(&p, 3));
	assert_false(ext_posting_has(&p, 4));
	assert_false(ext_posting_has(&p, 1u << 30));
	assert_int_equal(ext_posting_add(&p, 3, universe), 0);	/* no double count */
	assert_int_equal(p.n, 128);
	/* back to sparse below half the threshold (64 * n < universe) */
	for (i = 0; i < 70; i++)
		ext_posting_del(&p, i * 3, universe);
	assert_false(p.dense);
	assert_int_equal(p.n, 58);
	assert_false(ext_posting_has(&p, 3));
	assert_true(ext_posting_has(&p, 70 * 3));
	assert_true(ext_posting_has(&p, 5000));
	ext_posting_del(&p, 7, universe);	/* absent: nothing */
	assert_int_equal(p.n, 58);
	ext_posting_free(&p);
	ext_posting_free(&p);
}

static void idset_basics(void **unused)
{
	struct ext_idset s = { 0 };
	uint32_t *ids = malloc(5 * sizeof(*ids));

	(void)unused;
	memcpy(ids, (uint32_t[]){ 9, 3, 9, 1, 3 }, 5 * sizeof(*ids));
	ext_idset_replace(&s, ids, 5);
	assert_int_equal(s.n, 3);
	assert_true(ext_idset_has(&s, 9));
	assert_int_equal(ext_idset_add(&s, 4), 0);
	ext_idset_del(&s, 1);
	assert_memory_equal(s.ids, ((uint32_t[]){ 3, 4, 9 }), 3 * sizeof(uint32_t));
	ext_idset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vlist_roundtrip),
		cmocka_unit_test(posting_forms),
		cmocka_unit_test(idset_basics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
