// SPDX-License-Identifier: GPL-2.0
/*
 * Scoring vectors computed by hand from upstream ImageLocality's formula,
 * scaled to the extender range 0..10:
 *   score = 10 * (clamp(sum, 23Mi, 1000Mi*containers) - 23Mi) / (1000Mi*containers - 23Mi)
 * with sum over containers of size * nodesHaving / totalNodes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/nodefile.h"
#include "scheduler-plugin/score.h"
#include "scheduler-plugin/state.h"

#define MI (1024LL * 1024)

static void scaled_image_truncates_like_go(void **unused)
{
	(void)unused;
	/* 200Mi * (1/3) = 69905066.67 -> int64 truncation */
	assert_int_equal(ext_score_scaled_image(200 * MI, 1, 3), 69905066);
	assert_int_equal(ext_score_scaled_image(500 * MI, 4, 4), 500 * MI);
	assert_int_equal(ext_score_scaled_image(500 * MI, 1, 4), 125 * MI);
	assert_int_equal(ext_score_scaled_image(500 * MI, 1, 0), 0);
}

static void priority_thresholds(void **unused)
{
	(void)unused;
	/* below 23Mi: nothing */
	assert_int_equal(ext_score_image_priority(10 * MI, 1), 0);
	assert_int_equal(ext_score_image_priority(23 * MI, 1), 0);
	/* 10*(500-23)/(1000-23) = 4.88 */
	assert_int_equal(ext_score_image_priority(500 * MI, 1), 4);
	/* 10*(125-23)/977 = 1.04 */
	assert_int_equal(ext_score_image_priority(125 * MI, 1), 1);
	/* at and over 1000Mi per container: full */
	assert_int_equal(ext_score_image_priority(1000 * MI, 1), 10);
	assert_int_equal(ext_score_image_priority(5000 * MI, 1), 10);
	/* two containers: 10*(1000-23)/(2000-23) = 4.94 */
	assert_int_equal(ext_score_image_priority(1000 * MI, 2), 4);
	/* no container at all: upstream clamps to min, score 0 */
	assert_int_equal(ext_score_image_priority(0, 0), 0);
}

/* Hand-computed at upstream's own range (MaxNodeScore 100), as ImageLocality scores. */
static void upstream_vectors_at_100(void **unused)
{
	(void)unused;
	/* 40Mi on 1 of 2 nodes, two containers: 20Mi < 23Mi -> 0 */
	assert_int_equal(ext_score_image_priority_max(ext_score_scaled_image(40 * MI, 1, 2), 2, 100), 0);
	/* 250Mi on 1 of 2, two containers: 100 * (125 - 23) / (2000 - 23) = 5.16 */
	assert_int_equal(ext_score_image_priority_max(ext_score_scaled_image(250 * MI, 1, 2), 2, 100), 5);
	/* 300Mi on 1 of 2, two containers: 100 * (150 - 23) / 1977 = 6.42 */
	assert_int_equal(ext_score_image_priority_max(ext_score_scaled_image(300 * MI, 1, 2), 2, 100), 6);
	/* 2000Mi on 1 of 2, one container: 1000Mi, the maximum -> 100 */
	assert_int_equal(ext_score_image_priority_max(ext_score_scaled_image(2000 * MI, 1, 2), 1, 100), 100);
}

static void total_with_template(void **unused)
{
	(void)unused;
	assert_int_equal(ext_score_total(4, 1, 5), 9);
	assert_int_equal(ext_score_total(8, 1, 5), 10);
	assert_int_equal(ext_score_total(8, 0, 5), 8);
	assert_int_equal(ext_score_total(0, 1, 0), 0);
}

static void normalize(const char *in, const char *want)
{
	char buf[128];

	assert_int_equal(ext_score_normalize_image(in, buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
}

static void normalize_like_upstream(void **unused)
{
	char small[8];

	(void)unused;
	normalize("nginx", "nginx:latest");
	normalize("nginx:1.25", "nginx:1.25");
	normalize("localhost:5000/app", "localhost:5000/app:latest");
	normalize("localhost:5000/app:v2", "localhost:5000/app:v2");
	normalize("nginx@sha256:0123abcd", "nginx@sha256:0123abcd");
	normalize("docker.io/library/nginx", "docker.io/library/nginx:latest");
	normalize("", ":latest");
	assert_int_equal(ext_score_normalize_image("nginx", small, sizeof(small)),
			 -ENAMETOOLONG);
}

/* ---- through the state, with pushes written as YAML ---- */

static struct ext_state *state_with(const char *yaml, int64_t now)
{
	Heteropod__Nodestate__PushReply reply = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	Heteropod__Nodestate__StatePush *msg;
	struct ext_state *st = ext_state_create(1000);
	char err[256];

	assert_non_null(st);
	msg = ext_nodefile_parse("t.yaml", yaml, strlen(yaml), false, "test", 1,
				 err, sizeof(err));
	assert_non_null(msg);
	assert_int_equal(ext_state_apply(st, msg, now, &reply, err, sizeof(err)), 0);
	assert_int_equal(reply.status, HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__APPLIED);
	heteropod__nodestate__state_push__free_unpacked(msg, NULL);
	return st;
}

static const char *const four[] = { "n1", "n2", "n3", "n4" };

static void score4(struct ext_state *st, const char *const *images, size_t n,
		   const char *tpl, int bonus, const int want[4])
{
	struct ext_pod_images pod = { images, n, tpl };
	int got[4];

	assert_int_equal(ext_state_prioritize(st, &pod, four, 4, bonus, got), 0);
	assert_memory_equal(got, want, sizeof(got));
}

/* big:500Mi on all four nodes, rare:500Mi on n1 only, tiny:10Mi on all. */
static const char cluster[] =
	"nodes:\n"
	"- {name: n1, images: [{names: [big:1, 'nginx:latest'], sizeBytes: 524288000},\n"
	"                      {names: ['rare:1'], sizeBytes: 524288000},\n"
	"                      {names: ['tiny:1'], sizeBytes: 10485760},\n"
	"                      {names: ['init:1'], sizeBytes: 943718400}],\n"
	"   templates: [fn-a]}\n"
	"- {name: n2, images: [{names: [big:1, nginx], sizeBytes: 524288000},\n"
	"                      {names: ['tiny:1'], sizeBytes: 10485760},\n"
	"                      {names: ['init:1'], sizeBytes: 943718400}]}\n"
	"- {name: n3, images: [{names: [big:1, 'docker.io/library/nginx:latest'], sizeBytes: 524288000},\n"
	"                      {names: ['tiny:1'], sizeBytes: 10485760},\n"
	"                      {names: ['init:1'], sizeBytes: 943718400}]}\n"
	"- {name: n4, images: [{names: [big:1], sizeBytes: 524288000},\n"
	"                      {names: ['tiny:1'], sizeBytes: 10485760},\n"
	"                      {names: ['init:1'], sizeBytes: 943718400}]}\n";

static void image_on_all_vs_one(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *big[] = { "big:1" }, *rare[] = { "rare:1" };

	(void)unused;
	/* 500Mi * 4/4 -> 4 everywhere */
	score4(st, big, 1, NULL, 0, (int[]){ 4, 4, 4, 4 });
	/* 500Mi * 1/4 = 125Mi -> 1 on n1 only */
	score4(st, rare, 1, NULL, 0, (int[]){ 1, 0, 0, 0 });
	ext_state_destroy(st);
}

static void tiny_image_below_threshold(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *tiny[] = { "tiny:1" };

	(void)unused;
	score4(st, tiny, 1, NULL, 0, (int[]){ 0, 0, 0, 0 });
	ext_state_destroy(st);
}

static void untagged_means_latest(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *untagged[] = { "nginx" };

	(void)unused;
	/*
	 * "nginx" -> "nginx:latest": only n1 reports that exact name (n2's
	 * node-side "nginx" is not normalised, n3's registry-qualified name is
	 * not expanded).  500Mi * 1/4 -> 1.
	 */
	score4(st, untagged, 1, NULL, 0, (int[]){ 1, 0, 0, 0 });
	ext_state_destroy(st);
}

static void multiple_and_init_containers(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *two[] = { "init:1", "tiny:1" };
	const char *same_twice[] = { "big:1", "big:1" };
	const char *with_missing[] = { "init:1", "absent:9" };

	(void)unused;
	/* 900Mi + 10Mi over 2 containers: 10*(910-23)/(2000-23) = 4.48 */
	score4(st, two, 2, NULL, 0, (int[]){ 4, 4, 4, 4 });
	/* the same image in two containers counts twice: 1000Mi/2 -> 4.94 */
	score4(st, same_twice, 2, NULL, 0, (int[]){ 4, 4, 4, 4 });
	/* a missing image still widens the range: 10*(900-23)/1977 = 4.43 */
	score4(st, with_missing, 2, NULL, 0, (int[]){ 4, 4, 4, 4 });
	ext_state_destroy(st);
}

static void template_bonus(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *big[] = { "big:1" };

	(void)unused;
	score4(st, big, 1, "fn-a", 5, (int[]){ 9, 4, 4, 4 });
	score4(st, big, 1, "fn-a", 10, (int[]){ 10, 4, 4, 4 });
	score4(st, big, 1, "fn-unknown", 5, (int[]){ 4, 4, 4, 4 });
	ext_state_destroy(st);
}

static void unknown_nodes_score_zero(void **unused)
{
	struct ext_state *st = state_with(cluster, 0);
	const char *big[] = { "big:1" };
	const char *nodes[] = { "n1", "ghost", "" };
	struct ext_pod_images pod = { big, 1, "fn-a" };
	int got[3];

	(void)unused;
	assert_int_equal(ext_state_prioritize(st, &pod, nodes, 3, 5, got), 0);
	assert_int_equal(got[0], 9);
	assert_int_equal(got[1], 0);
	assert_int_equal(got[2], 0);
	ext_state_destroy(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scaled_image_truncates_like_go),
		cmocka_unit_test(priority_thresholds),
		cmocka_unit_test(upstream_vectors_at_100),
		cmocka_unit_test(total_with_template),
		cmocka_unit_test(normalize_like_upstream),
		cmocka_unit_test(image_on_all_vs_one),
		cmocka_unit_test(tiny_image_below_threshold),
		cmocka_unit_test(untagged_means_latest),
		cmocka_unit_test(multiple_and_init_containers),
		cmocka_unit_test(template_bonus),
		cmocka_unit_test(unknown_nodes_score_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
