// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "scheduler-plugin/args.h"
#include "scheduler-plugin/scan.h"
#include "scheduler-plugin/score.h"

/* Case-insensitive path lookup: iget(obj, "spec", "containers", NULL). */
static json_t *iget(json_t *obj, ...) __attribute__((sentinel));
static json_t *iget(json_t *obj, ...)
{
	const char *key;
	va_list ap;

	va_start(ap, obj);
	while (obj && (key = va_arg(ap, const char *)))
		obj = json_is_object(obj) ? hp_json_iget(obj, key) : NULL;
	va_end(ap);
	return obj;
}

static const char *str_or_empty(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static int bad_items(char *err, size_t errlen, size_t idx)
{
	snprintf(err, errlen, "request: Nodes.items[%zu]: expected an object with metadata.name",
		 idx);
	return -EINVAL;
}

/* Node names from Nodes.items[].metadata.name (nodeCacheCapable: false). */
static int names_from_items(struct ext_args *a, char *err, size_t errlen)
{
	size_t i, n = json_array_size(a->node_items);

	free(a->nodes); /* an overridden NodeNames may have left one */
	a->nodes = calloc(n ? n : 1, sizeof(*a->nodes));
	if (!a->nodes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *v = iget(json_array_get(a->node_items, i), "metadata", "name", NULL);

		if (!json_is_string(v))
			return bad_items(err, errlen, i);
		a->nodes[i] = json_string_value(v);
	}
	a->n_nodes = n;
	return 0;
}

static void add_images(struct ext_args *a, json_t *containers, size_t *k)
{
	size_t i;

	for (i = 0; i < json_array_size(containers); i++)
		a->images[(*k)++] = str_or_empty(iget(json_array_get(containers, i),
						      "image", NULL));
}

/* The template to look for: the label, else the first container's image. */
static int decode_template(struct ext_args *a, json_t *pod, json_t *regular)
{
	json_t *labels = iget(pod, "metadata", "labels", NULL);
	json_t *label = json_is_object(labels) ?
		json_object_get(labels, EXT_LABEL_TEMPLATE) : NULL;
	const char *img;
	size_t size;

	if (json_is_string(label)) {
		a->template_key = strdup(json_string_value(label));
		goto out;
	}
	if (!json_array_size(regular))
		return 0;
	img = str_or_empty(iget(json_array_get(regular, 0), "image", NULL));
	size = strlen(img) + sizeof(":latest");
	a->template_key = malloc(size);
	if (a->template_key)
		ext_score_normalize_image(img, a->template_key, size);
out:
	a->pod.template_key = a->template_key;
	return a->template_key ? 0 : -ENOMEM;
}

static void decode_dpu(struct ext_args *a, json_t *pod)
{
	json_t *ann = iget(pod, "metadata", "annotations", NULL);
	const char *off, *req;

	if (!json_is_object(ann))
		return;
	off = str_or_empty(json_object_get(ann, EXT_ANN_OFFLOAD));
	req = str_or_empty(json_object_get(ann, EXT_ANN_REQUIRES_DPU));
	if (!strcmp(off, "all") || !strcmp(off, "waypoint") || !strcmp(req, "true"))
		a->needs_dpu = true;
	else if (off[0] && strcmp(off, "none"))
		a->bad_offload = off;
}

static int decode_pod(struct ext_args *a, char *err, size_t errlen)
{
	json_t *pod = a->root;
	json_t *init, *regular;
	size_t k = 0;

	(void)err, (void)errlen;
	a->pod_name = str_or_empty(iget(pod, "metadata", "name", NULL));
	a->pod_ns = str_or_empty(iget(pod, "metadata", "namespace", NULL));
	init = iget(pod, "spec", "initContainers", NULL);
	regular = iget(pod, "spec", "containers", NULL);
	a->images = calloc(json_array_size(init) + json_array_size(regular) + 1,
			   sizeof(*a->images));
	if (!a->images)
		return -ENOMEM;
	add_images(a, init, &k);
	add_images(a, regular, &k);
	a->pod.images = a->images;
	a->pod.n_images = k;
	decode_dpu(a, pod);
	return decode_template(a, pod, regular);
}

/* Parse one member's value with jansson; errors positioned in the request. */
static json_t *parse_member(const char *buf, const struct ext_scan_member *m,
			    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v = json_loadb(buf + m->start, m->end - m->start, 0, &jerr);
	size_t line = m->at.line, col = m->at.col;

	if (v)
		return v;
	if (jerr.line > 1)
		line += (size_t)jerr.line - 1, col = (size_t)jerr.column;
	else if (jerr.column > 0)
		col += (size_t)jerr.column - 1;
	snprintf(err, errlen, "request:%zu:%zu: %s: %s", line, col, m->key, jerr.text);
	return NULL;
}

/* The last member whose key is @key ignoring case (Go's rule), or NULL. */
static const struct ext_scan_member *member(const struct ext_scan_member *m, int n,
					    const char *key)
{
	const struct ext_scan_member *found = NULL;
	int i;

	for (i = 0; i < n; i++)
		if (!strcasecmp(m[i].key, key))
			found = &m[i];
	return found;
}

static bool is_null(const char *buf, const struct ext_scan_member *m)
{
	return m->end - m->start == 4 && !memcmp(buf + m->start, "null", 4);
}

static int decode_nodes(struct ext_args *a, const char *buf,
			const struct ext_scan_member *m, int n, char *err, size_t errlen)
{
	const struct ext_scan_member *names = member(m, n, "NodeNames");
	const struct ext_scan_member *nodes = member(m, n, "Nodes");

	if (names && !a->by_name && !is_null(buf, names)) {
		snprintf(err, errlen, "request:%zu:%zu: NodeNames: expected an array of strings or null",
			 names->at.line, names->at.col);
		return -EINVAL;
	}
	if (a->by_name)
		return 0;
	if (nodes && !is_null(buf, nodes)) {
		a->nodes_root = parse_member(buf, nodes, err, errlen);
		if (!a->nodes_root)
			return -EINVAL;
		a->node_items = iget(a->nodes_root, "items", NULL);
	}
	if (!json_is_array(a->node_items)) {
		a->node_items = NULL;
		snprintf(err, errlen, "request: neither NodeNames (array of strings) "
			 "nor Nodes (NodeList with items) present");
		return -EINVAL;
	}
	return names_from_items(a, err, errlen);
}

int ext_args_decode(struct ext_args *a, char *buf, size_t len,
		    char *err, size_t errlen)
{
	struct ext_scan_member m[16];
	const struct ext_scan_member *pod;
	struct ext_scan_pos at;
	const char *why;
	int n;

	memset(a, 0, sizeof(*a));
	n = ext_scan_object(buf, len, "NodeNames", &a->nodes, &a->n_nodes, &a->by_name,
			    m, 16, &at, &why);
	if (n == -ENOMEM)
		return n;
	if (n < 0) {
		snprintf(err, errlen, "request:%zu:%zu: %s", at.line, at.col, why);
		return -EINVAL;
	}
	if (!a->by_name)
		a->n_nodes = 0;
	pod = member(m, n, "Pod");
	if (!pod || buf[pod->start] != '{') {
		snprintf(err, errlen, "request: Pod missing or not an object");
		return -EINVAL;
	}
	a->root = parse_member(buf, pod, err, errlen);
	if (!a->root)
		return -EINVAL;
	n = decode_nodes(a, buf, m, n, err, errlen);
	return n ? n : decode_pod(a, err, errlen);
}

void ext_args_free(struct ext_args *a)
{
	if (!a)
		return;
	free(a->nodes);
	free(a->images);
	free(a->template_key);
	json_decref(a->root);
	json_decref(a->nodes_root);
	memset(a, 0, sizeof(*a));
}

/* One status.images entry; NULL when malformed (skipped, never fatal). */
static Heteropod__Nodestate__Image *seed_image(json_t *img)
{
	static const Heteropod__Nodestate__Image init = HETEROPOD__NODESTATE__IMAGE__INIT;
	json_t *names = iget(img, "names", NULL), *size = iget(img, "sizeBytes", NULL);
	Heteropod__Nodestate__Image *m;
	size_t i;

	if (!json_array_size(names) || !json_is_integer(size) || json_integer_value(size) < 0)
		return NULL;
	m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	*m = init;
	m->size_bytes = json_integer_value(size);
	m->names = calloc(json_array_size(names), sizeof(*m->names));
	for (i = 0; m->names && i < json_array_size(names); i++) {
		const char *s = str_or_empty(json_array_get(names, i));

		if (s[0])
			m->names[m->n_names++] = (char *)s; /* borrowed from the request */
	}
	if (!m->n_names) {
		free(m->names);
		free(m);
		return NULL;
	}
	return m;
}

static Heteropod__Nodestate__NodeState *seed_node(const char *name, json_t *item)
{
	static const Heteropod__Nodestate__NodeState init =
		HETEROPOD__NODESTATE__NODE_STATE__INIT;
	json_t *imgs = iget(item, "status", "images", NULL);
	Heteropod__Nodestate__NodeState *m = malloc(sizeof(*m));
	size_t i;

	if (!m)
		return NULL;
	*m = init;
	m->name = (char *)name;
	m->images = calloc(json_array_size(imgs) + 1, sizeof(*m->images));
	if (!m->images) {
		free(m);
		return NULL;
	}
	for (i = 0; i < json_array_size(imgs); i++) {
		Heteropod__Nodestate__Image *img = seed_image(json_array_get(imgs, i));

		if (img)
			m->images[m->n_images++] = img;
	}
	return m;
}

long ext_args_seed(const struct ext_args *a, Heteropod__Nodestate__NodeState ***out)
{
	long n = 0;
	size_t i;

	*out = NULL;
	if (a->by_name || !a->n_nodes)
		return 0;
	*out = calloc(a->n_nodes, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < a->n_nodes; i++) {
		json_t *item = json_array_get(a->node_items, i);

		if (!json_is_array(iget(item, "status", "images", NULL)))
			continue;
		(*out)[n] = seed_node(a->nodes[i], item);
		if (!(*out)[n]) {
			ext_args_free_seed(*out, n);
			*out = NULL;
			return -ENOMEM;
		}
		n++;
	}
	return n;
}

void ext_args_free_seed(Heteropod__Nodestate__NodeState **nodes, long n)
{
	long i;
	size_t j;

	for (i = 0; nodes && i < n; i++) {
		for (j = 0; j < nodes[i]->n_images; j++) {
			free(nodes[i]->images[j]->names);
			free(nodes[i]->images[j]);
		}
		free(nodes[i]->images);
		free(nodes[i]);
	}
	free(nodes);
}
