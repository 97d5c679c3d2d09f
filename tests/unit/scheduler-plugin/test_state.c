// SPDX-License-Identifier: GPL-2.0
/* State pushes: snapshots, deltas, generation gaps, staleness, ownership. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/nodefile.h"
#include "scheduler-plugin/state.h"

#define ST(s) HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__##s

static int push(struct ext_state *st, const char *source, uint64_t gen, bool delta,
		const char *yaml, int64_t now, uint64_t *gen_out)
{
	Heteropod__Nodestate__PushReply reply = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	Heteropod__Nodestate__StatePush *msg;
	char err[256];

	msg = ext_nodefile_parse("t.yaml", yaml, strlen(yaml), delta, source, gen,
				 err, sizeof(err));
	assert_non_null(msg);
	assert_int_equal(ext_state_apply(st, msg, now, &reply, err, sizeof(err)), 0);
	heteropod__nodestate__state_push__free_unpacked(msg, NULL);
	if (gen_out)
		*gen_out = reply.generation;
	return reply.status;
}

/* Score of a 1-container pod running @image (bonus 10 for template @tpl). */
static int score(struct ext_state *st, const char *node, const char *image,
		 const char *tpl)
{
	struct ext_pod_images pod = { &image, 1, tpl };
	int s = -1;

	assert_int_equal(ext_state_prioritize(st, &pod, &node, 1, 10, &s), 0);
	return s;
}

static enum ext_dpu dpu(struct ext_state *st, const char *node)
{
	enum ext_dpu d;

	ext_state_dpu(st, &node, 1, &d);
	return d;
}

static const char two_nodes[] =
	"nodes:\n"
	"- {name: a, dpu: up, images: [{names: ['img:1'], sizeBytes: 2097152000}], templates: [t1]}\n"
	"- {name: b, dpu: down, images: [{names: ['img:1'], sizeBytes: 2097152000}]}\n";

static void snapshot_then_deltas(void **unused)
{
	struct ext_state *st = ext_state_create(1000);
	struct ext_state_stats s;
	uint64_t gen;

	(void)unused;
	assert_int_equal(push(st, "ag", 7, false, two_nodes, 0, &gen), ST(APPLIED));
	assert_int_equal(gen, 7);
	assert_int_equal(score(st, "a", "img:1", "t1"), 10);
	assert_int_equal(dpu(st, "a"), EXT_DPU_UP);
	assert_int_equal(dpu(st, "b"), EXT_DPU_DOWN);
	assert_int_equal(dpu(st, "zzz"), EXT_DPU_UNKNOWN);
	/* gen 8: b's DPU comes up, a loses its template, c appears */
	assert_int_equal(push(st, "ag", 8, true,
			      "nodes: [{name: b, dpu: up}, {name: a, removeTemplates: [t1]},"
			      " {name: c, addImages: [{names: ['x:1'], sizeBytes: 1}]}]", 1, &gen),
			 ST(APPLIED));
	assert_int_equal(gen, 8);
	assert_int_equal(dpu(st, "b"), EXT_DPU_UP);
	/* image on 2 of 3 nodes now: 2000Mi*2/3 = 1333Mi > 1000Mi -> 10 */
	assert_int_equal(score(st, "a", "img:1", "t1"), 10);
	/* gen 9: b drops the image; 2000Mi * 1/3 = 666Mi -> 10*643/977 = 6 */
	assert_int_equal(push(st, "ag", 9, true,
			      "nodes: [{name: b, removeImages: ['img:1']}]", 2, NULL), ST(APPLIED));
	assert_int_equal(score(st, "a", "img:1", NULL), 6);
	assert_int_equal(score(st, "b", "img:1", NULL), 0);
	/* gen 10 forgets c */
	assert_int_equal(push(st, "ag", 10, true, "nodes: [{name: c, remove: true}]", 3, NULL),
			 ST(APPLIED));
	ext_state_stats(st, &s);
	assert_int_equal(s.nodes, 2);
	assert_int_equal(s.image_refs, 1);
	ext_state_destroy(st);
}

static void gap_asks_for_snapshot(void **unused)
{
	struct ext_state *st = ext_state_create(1000);
	uint64_t gen;

	(void)unused;
	/* unknown source: a delta is refused */
	assert_int_equal(push(st, "ag", 1, true, "nodes: [{name: a, dpu: down}]", 0, &gen),
			 ST(NEED_SNAPSHOT));
	assert_int_equal(dpu(st, "a"), EXT_DPU_UNKNOWN);
	assert_int_equal(push(st, "ag", 5, false, two_nodes, 0, NULL), ST(APPLIED));
	/* 5 -> 7 skips 6: refused, nothing applied */
	assert_int_equal(push(st, "ag", 7, true, "nodes: [{name: a, dpu: down}]", 0, &gen),
			 ST(NEED_SNAPSHOT));
	assert_int_equal(gen, 5);
	assert_int_equal(dpu(st, "a"), EXT_DPU_UP);
	/* an old generation is a duplicate, also ignored */
	assert_int_equal(push(st, "ag", 4, true, "nodes: [{name: a, dpu: down}]", 0, NULL),
			 ST(DUPLICATE));
	assert_int_equal(dpu(st, "a"), EXT_DPU_UP);
	/* same generation, no change: keepalive */
	assert_int_equal(push(st, "ag", 5, true, "nodes: []", 0, NULL), ST(KEEPALIVE));
	/* a new snapshot (an agent restart) resets the stream at any number */
	assert_int_equal(push(st, "ag", 1, false, "nodes: [{name: a, dpu: down}]", 0, &gen),
			 ST(APPLIED));
	assert_int_equal(gen, 1);
	assert_int_equal(dpu(st, "a"), EXT_DPU_DOWN);
	/* b was not in the new snapshot of its source: forgotten */
	assert_int_equal(dpu(st, "b"), EXT_DPU_UNKNOWN);
	assert_int_equal(push(st, "ag", 2, true, "nodes: [{name: a, dpu: up}]", 0, NULL),
			 ST(APPLIED));
	assert_int_equal(dpu(st, "a"), EXT_DPU_UP);
	ext_state_destroy(st);
}

static void staleness(void **unused)
{
	struct ext_state *st = ext_state_create(1000);
	struct ext_state_stats s;

	(void)unused;
	assert_int_equal(push(st, "a1", 1, false,
			      "nodes: [{name: a, dpu: up, images: [{names: ['img:1'], sizeBytes: 2097152000}]}]",
			      0, NULL), ST(APPLIED));
	assert_int_equal(push(st, "a2", 1, false,
			      "nodes: [{name: b, dpu: up, images: [{names: ['img:1'], sizeBytes: 2097152000}]}]",
			      0, NULL), ST(APPLIED));
	/* 2000Mi on 2 of 2 -> 10 */
	assert_int_equal(score(st, "a", "img:1", NULL), 10);
	assert_int_equal(ext_state_sweep(st, 1000), 0);
	/* a2 keeps pushing, a1 goes silent */
	assert_int_equal(push(st, "a2", 1, true, "nodes: []", 900, NULL), ST(KEEPALIVE));
	assert_int_equal(ext_state_sweep(st, 1500), 1);
	ext_state_stats(st, &s);
	assert_int_equal(s.stale_nodes, 1);
	assert_int_equal(s.nodes, 2);
	/* stale a holds nothing; b's image is now on 1 of 2 nodes: 1000Mi -> 10 */
	assert_int_equal(score(st, "a", "img:1", NULL), 0);
	assert_int_equal(dpu(st, "a"), EXT_DPU_UNKNOWN);
	assert_int_equal(score(st, "b", "img:1", NULL), 10);
	/* a1 comes back with a keepalive: its node is live again */
	assert_int_equal(push(st, "a1", 1, true, "nodes: []", 1600, NULL), ST(KEEPALIVE));
	assert_int_equal(dpu(st, "a"), EXT_DPU_UP);
	assert_int_equal(score(st, "a", "img:1", NULL), 10);
	ext_state_stats(st, &s);
	assert_int_equal(s.stale_nodes, 0);
	ext_state_destroy(st);
}

static void spread_counts_follow_staleness(void **unused)
{
	struct ext_state *st = ext_state_create(100);

	(void)unused;
	/* 1000Mi on both nodes of two sources: 10 each */
	assert_int_equal(push(st, "s1", 1, false,
			      "nodes: [{name: a, images: [{names: ['i:1'], sizeBytes: 1048576000}]}]",
			      0, NULL), ST(APPLIED));
	assert_int_equal(push(st, "s2", 1, false,
			      "nodes: [{name: b, images: [{names: ['i:1'], sizeBytes: 1048576000}]}]",
			      50, NULL), ST(APPLIED));
	assert_int_equal(score(st, "a", "i:1", NULL), 10);
	/* s1 stale: a holds nothing, b's copy is now 1 of 2: 500Mi -> 4 */
	assert_int_equal(ext_state_sweep(st, 120), 1);
	assert_int_equal(score(st, "b", "i:1", NULL), 4);
	ext_state_destroy(st);
}

static void node_changes_owner(void **unused)
{
	struct ext_state *st = ext_state_create(1000);

	(void)unused;
	assert_int_equal(push(st, "s1", 1, false, "nodes: [{name: a, dpu: up}]", 0, NULL),
			 ST(APPLIED));
	assert_int_equal(push(st, "s2", 1, false, "nodes: [{name: a, dpu: down}]", 0, NULL),
			 ST(APPLIED));
	/* s1's next snapshot no longer owns a, so it does not forget it */
	assert_int_equal(push(st, "s1", 2, false, "nodes: []", 0, NULL), ST(APPLIED));
	assert_int_equal(dpu(st, "a"), EXT_DPU_DOWN);
	ext_state_destroy(st);
}

static void invalid_push_changes_nothing(void **unused)
{
	Heteropod__Nodestate__PushReply reply = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	Heteropod__Nodestate__StatePush msg = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	struct ext_state *st = ext_state_create(1000);
	char err[256];

	(void)unused;
	assert_int_equal(ext_state_apply(st, &msg, 0, &reply, err, sizeof(err)), 0);
	assert_int_equal(reply.status, ST(INVALID));
	assert_string_equal(reply.error, "push without a source");
	msg.source = "s";
	assert_int_equal(ext_state_apply(st, &msg, 0, &reply, err, sizeof(err)), 0);
	assert_int_equal(reply.status, ST(INVALID));
	assert_non_null(strstr(reply.error, "neither snapshot nor delta"));
	ext_state_destroy(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshot_then_deltas),
		cmocka_unit_test(gap_asks_for_snapshot),
		cmocka_unit_test(staleness),
		cmocka_unit_test(spread_counts_follow_staleness),
		cmocka_unit_test(node_changes_owner),
		cmocka_unit_test(invalid_push_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
