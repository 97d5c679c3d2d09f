// SPDX-License-Identifier: GPL-2.0
/* Push files: the documented snapshot shape, deltas, positioned errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "scheduler-plugin/nodefile.h"

static Heteropod__Nodestate__StatePush *parse(const char *yaml, bool delta, char *err)
{
	return ext_nodefile_parse("s.yaml", yaml, strlen(yaml), delta, "src", 3, err, 256);
}

static void snapshot_shape(void **unused)
{
	char err[256];
	Heteropod__Nodestate__StatePush *m = parse(
		"nodes:\n"
		"  - name: node-1\n"
		"    dpu: up            # up | down\n"
		"    images:\n"
		"      - names: [\"docker.io/library/nginx:1.25\", \"nginx:1.25\"]\n"
		"        sizeBytes: 209715200\n"
		"    templates: [\"fn-alexa-door\"]\n"
		"  - name: node-2\n", false, err);
	Heteropod__Nodestate__NodeState *n;

	(void)unused;
	assert_non_null(m);
	assert_string_equal(m->source, "src");
	assert_int_equal(m->generation, 3);
	assert_int_equal(m->body_case, HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT);
	assert_int_equal(m->snapshot->n_nodes, 2);
	n = m->snapshot->nodes[0];
	assert_string_equal(n->name, "node-1");
	assert_int_equal(n->dpu, HETEROPOD__NODESTATE__DPU_STATE__DPU_UP);
	assert_int_equal(n->n_images, 1);
	assert_int_equal(n->images[0]->n_names, 2);
	assert_string_equal(n->images[0]->names[1], "nginx:1.25");
	assert_int_equal(n->images[0]->size_bytes, 209715200);
	assert_string_equal(n->templates[0], "fn-alexa-door");
	assert_int_equal(m->snapshot->nodes[1]->dpu, HETEROPOD__NODESTATE__DPU_STATE__DPU_UNKNOWN);
	heteropod__nodestate__state_push__free_unpacked(m, NULL);
}

static void delta_shape(void **unused)
{
	char err[256];
	Heteropod__Nodestate__StatePush *m = parse(
		"nodes:\n"
		"- name: a\n"
		"  dpu: down\n"
		"  addImages: [{names: [x], sizeBytes: 1}]\n"
		"  removeImages: [y]\n"
		"  addTemplates: [t]\n"
		"  removeTemplates: [u]\n"
		"- {name: b, remove: true}\n", true, err);

	(void)unused;
	assert_non_null(m);
	assert_int_equal(m->body_case, HETEROPOD__NODESTATE__STATE_PUSH__BODY_DELTA);
	assert_int_equal(m->delta->n_nodes, 2);
	assert_int_equal(m->delta->nodes[0]->n_add_images, 1);
	assert_string_equal(m->delta->nodes[0]->remove_images[0], "y");
	assert_string_equal(m->delta->nodes[0]->add_templates[0], "t");
	assert_string_equal(m->delta->nodes[0]->remove_templates[0], "u");
	assert_true(m->delta->nodes[1]->remove_node);
	heteropod__nodestate__state_push__free_unpacked(m, NULL);
}

static void bad(const char *yaml, bool delta, const char *want)
{
	char err[256] = "";

	assert_null(parse(yaml, delta, err));
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void errors(void **unused)
{
	(void)unused;
	bad("nodes:\n- name: a\n  dpu: sideways\n", false,
	    "s.yaml:3:8: dpu: \"sideways\" is not valid; accepted: up, down, unknown");
	bad("nodes:\n- name: a\n  imgs: []\n", false,
	    "s.yaml:3:3: unknown key \"imgs\"; accepted: name, dpu, images, templates");
	bad("nodes:\n- name: a\n  images: [{names: [x], sizeBytes: -1}]\n", false,
	    "s.yaml:3:36: sizeBytes: expected a non-negative integer");
	bad("nodes:\n- name: a\n  images: [{sizeBytes: 1}]\n", false, "names must list");
	bad("nodes:\n- dpu: up\n", false, "s.yaml:2:3: node: name is required");
	bad("nodes: [\n", false, "s.yaml:");
	bad("nodez: []\n", false, "unknown key \"nodez\"; accepted: nodes");
	bad("", false, "empty document");
	bad("nodes:\n- {name: a, images: []}\n", true, "accepted: name, dpu, addImages");
	bad("nodes:\n- {name: a, remove: maybe}\n", true, "remove: expected true or false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshot_shape),
		cmocka_unit_test(delta_shape),
		cmocka_unit_test(errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
