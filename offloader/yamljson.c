// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "offloader/yamljson.h"

struct yctx {
	yaml_parser_t p;
	const char *name;
	char *err;
	size_t errlen;
};

static void yerr(struct yctx *c, const yaml_mark_t *m, const char *what)
{
	snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, m->line + 1,
		 m->column + 1, what);
}

static bool is_int(const char *s, json_int_t *v)
{
	char *end;

	if (!*s || (!strchr("+-0123456789", *s)))
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !errno && !*end && end != s;
}

static json_t *scalar(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	json_int_t v;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_string(s);
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False"))
		return json_false();
	if (is_int(s, &v))
		return json_integer(v);
	return json_string(s);
}

static json_t *node(struct yctx *c, yaml_event_t *ev);

static json_t *next_node(struct yctx *c, bool *end, yaml_event_type_t end_type)
{
	yaml_event_t ev;
	json_t *v = NULL;

	*end = false;
	if (!yaml_parser_parse(&c->p, &ev)) {
		yerr(c, &c->p.problem_mark, c->p.problem ? c->p.problem : "parse error");
		return NULL;
	}
	if (ev.type == end_type)
		*end = true;
	else
		v = node(c, &ev);
	yaml_event_delete(&ev);
	return v;
}

/* A mapping key is taken as text whatever it looks like ("1", "true"). */
static json_t *next_key(struct yctx *c, bool *end)
{
	yaml_event_t ev;
	json_t *k = NULL;

	*end = false;
	if (!yaml_parser_parse(&c->p, &ev)) {
		yerr(c, &c->p.problem_mark, c->p.problem ? c->p.problem : "parse error");
		return NULL;
	}
	if (ev.type == YAML_MAPPING_END_EVENT)
		*end = true;
	else if (ev.type == YAML_SCALAR_EVENT && !ev.data.scalar.anchor)
		k = json_string((const char *)ev.data.scalar.value);
	else
		yerr(c, &ev.start_mark, "mapping key is not a plain scalar");
	yaml_event_delete(&ev);
	return k;
}

static json_t *mapping(struct yctx *c)
{
	json_t *obj = json_object(), *k, *v;
	bool end;

	for (;;) {
		k = next_key(c, &end);
		if (end)
			return obj;
		if (!k)
			goto err;
		v = next_node(c, &end, YAML_MAPPING_END_EVENT);
		if (!v || end) {
			if (end)
				yerr(c, &c->p.mark, "mapping key without value");
			json_decref(k);
			goto err;
		}
		json_object_set_new(obj, json_string_value(k), v);
		json_decref(k);
	}
err:
	json_decref(obj);
	return NULL;
}

static json_t *sequence(struct yctx *c)
{
	json_t *arr = json_array(), *v;
	bool end;

	for (;;) {
		v = next_node(c, &end, YAML_SEQUENCE_END_EVENT);
		if (end)
			return arr;
		if (!v) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, v);
	}
}

static json_t *node(struct yctx *c, yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			break;
		return scalar(ev);
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor)
			break;
		return mapping(c);
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor)
			break;
		return sequence(c);
	default:
		break;
	}
	yerr(c, &ev->start_mark, "anchors and aliases are not supported");
	return NULL;
}

/* One document: its root node, then DOCUMENT-END. */
static int document(struct yctx *c, json_t *docs)
{
	bool end;
	json_t *root = next_node(c, &end, YAML_DOCUMENT_END_EVENT);

	if (end)
		return 0;
	if (!root)
		return -EINVAL;
	next_node(c, &end, YAML_DOCUMENT_END_EVENT);
	if (!end) {
		json_decref(root);
		return -EINVAL;
	}
	if (!json_is_null(root))
		json_array_append(docs, root);
	json_decref(root);
	return 0;
}

json_t *agent_yaml_parse(const char *name, const char *buf, size_t len,
			 char *err, size_t errlen)
{
	struct yctx c = { .name = name, .err = err, .errlen = errlen };
	json_t *docs = json_array();
	yaml_event_t ev;
	bool done = false;

	yaml_parser_initialize(&c.p);
	yaml_parser_set_input_string(&c.p, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&c.p, &ev)) {
			yerr(&c, &c.p.problem_mark, c.p.problem ? c.p.problem : "parse error");
			goto err;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_DOCUMENT_START_EVENT && document(&c, docs)) {
			yaml_event_delete(&ev);
			goto err;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&c.p);
	return docs;
err:
	yaml_parser_delete(&c.p);
	json_decref(docs);
	return NULL;
}

json_t *agent_yaml_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	json_t *v = NULL;
	FILE *m;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	m = open_memstream(&buf, &len);
	if (m) {
		char chunk[8192];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(m);
		v = agent_yaml_parse(path, buf, len, err, errlen);
	}
	free(buf);
	fclose(f);
	return v;
}
