// SPDX-License-Identifier: GPL-2.0
/*
 * Built with libyaml's document API.  Messages are assembled with malloc so
 * that protobuf-c's free_unpacked() (system allocator) releases them, also
 * when parsing stops half way: counts only ever cover initialised entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scheduler-plugin/nodefile.h"

typedef Heteropod__Nodestate__Image image_msg;
typedef Heteropod__Nodestate__NodeState node_msg;
typedef Heteropod__Nodestate__NodeDelta delta_msg;

struct ctx {
	yaml_document_t doc;
	const char *name;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name,
			   n->start_mark.line + 1, n->start_mark.column + 1);

	va_start(ap, fmt);
	if (off >= 0 && (size_t)off < c->errlen)
		vsnprintf(c->err + off, c->errlen - (size_t)off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static yaml_node_t *get(struct ctx *c, int id)
{
	return yaml_document_get_node(&c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Append @item to the malloc'd array *@arr of *@n pointers. */
static int push_ptr(void *arr, size_t *n, void *item)
{
	void ***a = arr;
	void **p = realloc(*a, (*n + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	p[(*n)++] = item;
	*a = p;
	return 0;
}

static int str_dup(struct ctx *c, yaml_node_t *n, const char *what, char **out)
{
	const char *s = scalar(n);

	if (!s || !s[0])
		return fail(c, n, "%s: expected a non-empty string", what);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int str_list(struct ctx *c, yaml_node_t *n, const char *what,
		    char ***out, size_t *count)
{
	yaml_node_item_t *it;

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "%s: expected a list of strings", what);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		char *s = NULL;
		int ret = str_dup(c, get(c, *it), what, &s);

		if (ret)
			return ret;
		if (push_ptr(out, count, s)) {
			free(s);
			return -ENOMEM;
		}
	}
	return 0;
}

static int size_of(struct ctx *c, yaml_node_t *n, int64_t *out)
{
	const char *s = scalar(n);
	char *end;
	long long v;

	errno = 0;
	v = s ? strtoll(s, &end, 10) : -1;
	if (!s || !*s || *end || errno || v < 0)
		return fail(c, n, "sizeBytes: expected a non-negative integer");
	*out = v;
	return 0;
}

static int dpu_of(struct ctx *c, yaml_node_t *n, Heteropod__Nodestate__DpuState *out)
{
	const char *s = scalar(n);

	if (s && !strcmp(s, "up"))
		*out = HETEROPOD__NODESTATE__DPU_STATE__DPU_UP;
	else if (s && !strcmp(s, "down"))
		*out = HETEROPOD__NODESTATE__DPU_STATE__DPU_DOWN;
	else if (s && !strcmp(s, "unknown"))
		*out = HETEROPOD__NODESTATE__DPU_STATE__DPU_UNKNOWN;
	else
		return fail(c, n, "dpu: \"%s\" is not valid; accepted: up, down, unknown",
			    s ? s : "(not a string)");
	return 0;
}

static int image_of(struct ctx *c, yaml_node_t *n, image_msg *img)
{
	yaml_node_pair_t *p;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "image: expected a mapping with names and sizeBytes");
	for (p = n->data.mapping.pairs.start; !ret && p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key), *v = get(c, p->value);
		const char *key = scalar(k) ? scalar(k) : "";

		if (!strcmp(key, "names"))
			ret = str_list(c, v, "names", &img->names, &img->n_names);
		else if (!strcmp(key, "sizeBytes"))
			ret = size_of(c, v, &img->size_bytes);
		else
			ret = fail(c, k, "unknown key \"%s\"; accepted: names, sizeBytes", key);
	}
	if (!ret && !img->n_names)
		ret = fail(c, n, "image: names must list at least one name");
	return ret;
}

static int images_of(struct ctx *c, yaml_node_t *n, image_msg ***out, size_t *count)
{
	static const image_msg init = HETEROPOD__NODESTATE__IMAGE__INIT;
	yaml_node_item_t *it;

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "images: expected a list");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		image_msg *img = malloc(sizeof(*img));

		if (!img || push_ptr(out, count, img)) {
			free(img);
			return -ENOMEM;
		}
		*img = init;
		if (image_of(c, get(c, *it), img))
			return -EINVAL;
	}
	return 0;
}

static const char snapshot_keys[] = "name, dpu, images, templates";
static const char delta_keys[] =
	"name, dpu, addImages, removeImages, addTemplates, removeTemplates, remove";

static int snapshot_field(struct ctx *c, node_msg *m, const char *key, yaml_node_t *v)
{
	if (!strcmp(key, "name"))
		return str_dup(c, v, "name", &m->name);
	if (!strcmp(key, "dpu"))
		return dpu_of(c, v, &m->dpu);
	if (!strcmp(key, "images"))
		return images_of(c, v, &m->images, &m->n_images);
	if (!strcmp(key, "templates"))
		return str_list(c, v, "templates", &m->templates, &m->n_templates);
	return 1;
}

static int delta_field(struct ctx *c, delta_msg *m, const char *key, yaml_node_t *v)
{
	const char *s = scalar(v);

	if (!strcmp(key, "name"))
		return str_dup(c, v, "name", &m->name);
	if (!strcmp(key, "dpu"))
		return dpu_of(c, v, &m->dpu);
	if (!strcmp(key, "addImages"))
		return images_of(c, v, &m->add_images, &m->n_add_images);
	if (!strcmp(key, "removeImages"))
		return str_list(c, v, key, &m->remove_images, &m->n_remove_images);
	if (!strcmp(key, "addTemplates"))
		return str_list(c, v, key, &m->add_templates, &m->n_add_templates);
	if (!strcmp(key, "removeTemplates"))
		return str_list(c, v, key, &m->remove_templates, &m->n_remove_templates);
	if (strcmp(key, "remove"))
		return 1;
	if (!s || (strcmp(s, "true") && strcmp(s, "false")))
		return fail(c, v, "remove: expected true or false");
	m->remove_node = !strcmp(s, "true");
	return 0;
}

/* One node entry; @m is a NodeState or a NodeDelta (both start with name). */
static int node_of(struct ctx *c, yaml_node_t *n, bool delta, void *m)
{
	yaml_node_pair_t *p;
	int ret = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "node: expected a mapping; keys: %s",
			    delta ? delta_keys : snapshot_keys);
	for (p = n->data.mapping.pairs.start; !ret && p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key);
		const char *key = scalar(k) ? scalar(k) : "";

		ret = delta ? delta_field(c, m, key, get(c, p->value)) :
			      snapshot_field(c, m, key, get(c, p->value));
		if (ret == 1)
			ret = fail(c, k, "unknown key \"%s\"; accepted: %s", key,
				   delta ? delta_keys : snapshot_keys);
	}
	if (!ret && !((node_msg *)m)->name[0])
		ret = fail(c, n, "node: name is required");
	return ret;
}

static int nodes_of(struct ctx *c, yaml_node_t *n, bool delta,
		    Heteropod__Nodestate__StatePush *msg)
{
	static const node_msg ninit = HETEROPOD__NODESTATE__NODE_STATE__INIT;
	static const delta_msg dinit = HETEROPOD__NODESTATE__NODE_DELTA__INIT;
	yaml_node_item_t *it;

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "nodes: expected a list of nodes");
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		void *m = malloc(delta ? sizeof(delta_msg) : sizeof(node_msg));
		int ret;

		if (!m)
			return -ENOMEM;
		if (delta)
			*(delta_msg *)m = dinit;
		else
			*(node_msg *)m = ninit;
		ret = delta ? push_ptr(&msg->delta->nodes, &msg->delta->n_nodes, m) :
			      push_ptr(&msg->snapshot->nodes, &msg->snapshot->n_nodes, m);
		if (ret) {
			free(m);
			return ret;
		}
		ret = node_of(c, get(c, *it), delta, m);
		if (ret)
			return ret;
	}
	return 0;
}

static int top_of(struct ctx *c, bool delta, Heteropod__Nodestate__StatePush *msg)
{
	yaml_node_t *root = yaml_document_get_root_node(&c->doc);
	yaml_node_pair_t *p;
	int ret = 0;

	if (!root) {
		snprintf(c->err, c->errlen, "%s: empty document; expected a mapping with \"nodes\"",
			 c->name);
		return -EINVAL;
	}
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, root, "expected a mapping with \"nodes\"");
	for (p = root->data.mapping.pairs.start; !ret && p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get(c, p->key);
		const char *key = scalar(k) ? scalar(k) : "";

		if (strcmp(key, "nodes"))
			ret = fail(c, k, "unknown key \"%s\"; accepted: nodes", key);
		else
			ret = nodes_of(c, get(c, p->value), delta, msg);
	}
	return ret;
}

static Heteropod__Nodestate__StatePush *new_push(bool delta, const char *source,
						 uint64_t generation)
{
	static const Heteropod__Nodestate__StatePush init =
		HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	static const Heteropod__Nodestate__Snapshot sinit =
		HETEROPOD__NODESTATE__SNAPSHOT__INIT;
	static const Heteropod__Nodestate__Delta dinit = HETEROPOD__NODESTATE__DELTA__INIT;
	Heteropod__Nodestate__StatePush *msg = malloc(sizeof(*msg));

	if (!msg)
		return NULL;
	*msg = init;
	msg->generation = generation;
	msg->source = strdup(source);
	if (delta) {
		msg->body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_DELTA;
		msg->delta = malloc(sizeof(*msg->delta));
		if (msg->delta)
			*msg->delta = dinit;
	} else {
		msg->body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT;
		msg->snapshot = malloc(sizeof(*msg->snapshot));
		if (msg->snapshot)
			*msg->snapshot = sinit;
	}
	if (!msg->source || (delta ? !msg->delta : !msg->snapshot)) {
		heteropod__nodestate__state_push__free_unpacked(msg, NULL);
		return NULL;
	}
	return msg;
}

Heteropod__Nodestate__StatePush *ext_nodefile_parse(const char *name,
						    const char *buf, size_t len,
						    bool delta, const char *source,
						    uint64_t generation,
						    char *err, size_t errlen)
{
	struct ctx c = { .name = name, .err = err, .errlen = errlen };
	Heteropod__Nodestate__StatePush *msg = NULL;
	yaml_parser_t parser;
	int ret;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "invalid YAML");
		goto out_parser;
	}
	msg = new_push(delta, source, generation);
	ret = msg ? top_of(&c, delta, msg) : -ENOMEM;
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (ret && msg) {
		heteropod__nodestate__state_push__free_unpacked(msg, NULL);
		msg = NULL;
	}
	yaml_document_delete(&c.doc);
out_parser:
	yaml_parser_delete(&parser);
	return msg;
}
