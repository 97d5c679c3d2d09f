// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "scheduler-plugin/args.h"
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

static int bad(char *err, size_t errlen, const char *what, size_t idx)
{
	snprintf(err, errlen, "request: %s%zu%s", what, idx,
		 "]: expected an object with metadata.name, or a string");
	return -EINVAL;
}

static int names_from_list(struct ext_args *a, json_t *list, char *err,
			   size_t errlen)
{
	size_t i, n = json_array_size(list);

	a->nodes = calloc(n ? n : 1, sizeof(*a->nodes));
	if (!a->nodes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(list, i);

		if (!a->by_name)
			v = iget(v, "metadata", "name", NULL);
		if (!json_is_string(v))
			return bad(err, errlen, a->by_name ? "NodeNames[" :
				   "Nodes.items[", i);
		a->nodes[i] = json_string_value(v);
	}
	a->n_nodes = n;
	return 0;
}

static int decode_nodes(struct ext_args *a, char *err, size_t errlen)
{
	json_t *names = hp_json_iget(a->root, "NodeNames");
	json_t *nodes = hp_json_iget(a->root, "Nodes");

	if (json_is_array(names)) {
		a->by_name = true;
		return names_from_list(a, names, err, errlen);
	}
	if (!json_is_object(nodes) || !json_is_array(iget(nodes, "items", NULL))) {
		snprintf(err, errlen, "request: neither NodeNames (array of strings) "
			 "nor Nodes (NodeList with items) present");
		return -EINVAL;
	}
	a->node_items = iget(nodes, "items", NULL);
	return names_from_list(a, a->node_items, err, errlen);
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
	json_t *pod = hp_json_iget(a->root, "Pod");
	json_t *init, *regular;
	size_t k = 0;

	if (!json_is_object(pod)) {
		snprintf(err, errlen, "request: Pod missing or not an object");
		return -EINVAL;
	}
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

int ext_args_decode(struct ext_args *a, const char *buf, size_t len,
		    char *err, size_t errlen)
{
	int ret;

	memset(a, 0, sizeof(*a));
	a->root = hp_json_parse("request", buf, len, err, errlen);
	if (!a->root)
		return -EINVAL;
	if (!json_is_object(a->root)) {
		snprintf(err, errlen, "request:1:1: expected a JSON object (ExtenderArgs)");
		return -EINVAL;
	}
	ret = decode_pod(a, err, errlen);
	if (!ret)
		ret = decode_nodes(a, err, errlen);
	return ret;
}

void ext_args_free(struct ext_args *a)
{
	if (!a)
		return;
	free(a->nodes);
	free(a->images);
	free(a->template_key);
	json_decref(a->root);
	memset(a, 0, sizeof(*a));
}
