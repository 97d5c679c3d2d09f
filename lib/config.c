// SPDX-License-Identifier: GPL-2.0
/*
 * YAML config loader: walks libyaml's event stream, tracking the dotted key
 * path of nested mappings, and stores each scalar into the field the table
 * names.  Every error carries the position libyaml reports for the
 * offending node (1-based line and column).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "lib/config.h"

#define PATH_MAX_LEN 256

struct loader {
	const char *name;
	const struct hp_cfg_field *fields;
	void *cfg;
	yaml_parser_t parser;
	char *err;
	size_t errlen;
};

static int errorf(struct loader *l, const yaml_mark_t *m, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = snprintf(l->err, l->errlen, "%s:%zu:%zu: ", l->name,
		     m->line + 1, m->column + 1);
	if (n >= l->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Append ", a, b, c" (the accepted words) to the error text. */
static void append_list(struct loader *l, const char *const *words,
			const struct hp_cfg_field *fields)
{
	size_t n = strlen(l->err);
	const char *sep = "";
	int i;

	for (i = 0; words ? words[i] != NULL : fields[i].key != NULL; i++) {
		const char *w = words ? words[i] : fields[i].key;

		n += snprintf(l->err + n, n < l->errlen ? l->errlen - n : 0,
			      "%s%s", sep, w);
		if (n >= l->errlen)
			return;
		sep = ", ";
	}
}

static int next_event(struct loader *l, yaml_event_t *ev)
{
	if (yaml_parser_parse(&l->parser, ev))
		return 0;
	return errorf(l, &l->parser.problem_mark, "%s", l->parser.problem ?
		      l->parser.problem : "malformed YAML");
}

static const struct hp_cfg_field *find_field(struct loader *l, const char *key)
{
	const struct hp_cfg_field *f;

	for (f = l->fields; f->key; f++)
		if (!strcmp(f->key, key))
			return f;
	return NULL;
}

/* Does any field live under "prefix." ? */
static int is_section(struct loader *l, const char *prefix)
{
	size_t n = strlen(prefix);
	const struct hp_cfg_field *f;

	for (f = l->fields; f->key; f++)
		if (!strncmp(f->key, prefix, n) && f->key[n] == '.')
			return 1;
	return 0;
}

int hp_cfg_parse_duration(const char *s, long *ms)
{
	static const struct { const char *unit; long mult; } units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	char *end;
	long v;
	size_t i;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].unit)) {
			if (v > __LONG_MAX__ / units[i].mult)
				return -EINVAL;
			*ms = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	int i;

	for (i = 0; yes[i]; i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	}
	return -EINVAL;
}

static int store_int(struct loader *l, const struct hp_cfg_field *f,
		     const char *v, const yaml_mark_t *m, long *out)
{
	char *end;
	long n;

	errno = 0;
	if (f->type == HP_CFG_T_DURATION) {
		if (hp_cfg_parse_duration(v, &n))
			return errorf(l, m, "\"%s\" is not a valid duration for \"%s\"; accepted: a number with unit ms, s, m or h (e.g. 500ms, 2s)",
				      v, f->key);
	} else {
		n = strtol(v, &end, 0);
		if (errno || end == v || *end)
			return errorf(l, m, "\"%s\" is not an integer for \"%s\"",
				      v, f->key);
	}
	if ((f->min || f->max) && (n < f->min || n > f->max))
		return errorf(l, m, "%s for \"%s\" is out of range; accepted: %ld..%ld",
			      v, f->key, f->min, f->max);
	*out = n;
	return 0;
}

static int store_scalar(struct loader *l, const struct hp_cfg_field *f,
			const char *v, const yaml_mark_t *m)
{
	char *field = (char *)l->cfg + f->offset;
	char *copy;
	int i;

	switch (f->type) {
	case HP_CFG_T_STR:
		copy = strdup(v);
		if (!copy)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	case HP_CFG_T_INT:
	case HP_CFG_T_DURATION:
		return store_int(l, f, v, m, (long *)field);
	case HP_CFG_T_BOOL:
		if (!parse_bool(v, (bool *)field))
			return 0;
		return errorf(l, m, "\"%s\" is not a valid value for \"%s\"; accepted: true, false",
			      v, f->key);
	case HP_CFG_T_ENUM:
		for (i = 0; f->choices[i]; i++) {
			if (!strcmp(v, f->choices[i])) {
				*(int *)field = i;
				return 0;
			}
		}
		errorf(l, m, "\"%s\" is not a valid value for \"%s\"; accepted: ",
		       v, f->key);
		append_list(l, f->choices, NULL);
		return -EINVAL;
	case HP_CFG_T_STRLIST:
		return errorf(l, m, "\"%s\" expects a list", f->key);
	}
	return -EINVAL;
}

static void free_list(char **list)
{
	char **p;

	for (p = list; p && *p; p++)
		free(*p);
	free(list);
}

/* Read a sequence of scalars (the SEQUENCE_START was consumed). */
static int store_list(struct loader *l, const struct hp_cfg_field *f)
{
	char ***field = (char ***)((char *)l->cfg + f->offset);
	char **list = calloc(1, sizeof(*list));
	size_t n = 0;
	yaml_event_t ev;
	int ret;

	if (!list)
		return -ENOMEM;
	for (;;) {
		char **grown;

		ret = next_event(l, &ev);
		if (ret)
			goto err_list;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			ret = errorf(l, &ev.start_mark, "\"%s\" expects a list of strings",
				     f->key);
			goto err_event;
		}
		grown = realloc(list, (n + 2) * sizeof(*list));
		if (!grown) {
			ret = -ENOMEM;
			goto err_event;
		}
		list = grown;
		list[n] = strdup((char *)ev.data.scalar.value);
		list[++n] = NULL;
		yaml_event_delete(&ev);
		if (!list[n - 1]) {
			ret = -ENOMEM;
			goto err_list;
		}
	}
	yaml_event_delete(&ev);
	free_list(*field);
	*field = list;
	return 0;

err_event:
	yaml_event_delete(&ev);
err_list:
	free_list(list);
	return ret;
}

static int load_mapping(struct loader *l, const char *prefix);

/* Handle the value that follows key @path (already joined with its prefix). */
static int load_value(struct loader *l, const char *path,
		      const yaml_mark_t *key_mark)
{
	const struct hp_cfg_field *f = find_field(l, path);
	yaml_event_t ev;
	int ret;

	ret = next_event(l, &ev);
	if (ret)
		return ret;
	if (!f && !is_section(l, path)) {
		errorf(l, key_mark, "unknown key \"%s\"; accepted: ", path);
		append_list(l, NULL, l->fields);
		ret = -EINVAL;
	} else if (ev.type == YAML_MAPPING_START_EVENT && !f) {
		ret = load_mapping(l, path);
	} else if (ev.type == YAML_SEQUENCE_START_EVENT && f &&
		   f->type == HP_CFG_T_STRLIST) {
		ret = store_list(l, f);
	} else if (ev.type == YAML_SCALAR_EVENT && f && f->type != HP_CFG_T_STRLIST) {
		ret = store_scalar(l, f, (char *)ev.data.scalar.value,
				   &ev.start_mark);
	} else if (ev.type == YAML_SCALAR_EVENT && f) {
		ret = errorf(l, &ev.start_mark, "\"%s\" expects a list", path);
	} else {
		ret = errorf(l, &ev.start_mark, "\"%s\" expects %s", path,
			     f ? "a single value" : "a mapping");
	}
	yaml_event_delete(&ev);
	return ret;
}

/* Read key/value pairs until MAPPING_END (the MAPPING_START was consumed). */
static int load_mapping(struct loader *l, const char *prefix)
{
	char path[PATH_MAX_LEN];
	yaml_event_t ev;
	int ret;

	for (;;) {
		ret = next_event(l, &ev);
		if (ret)
			return ret;
		if (ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			ret = errorf(l, &ev.start_mark, "expected a key");
			break;
		}
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			 (char *)ev.data.scalar.value);
		ret = load_value(l, path, &ev.start_mark);
		if (ret)
			break;
		yaml_event_delete(&ev);
	}
	yaml_event_delete(&ev);
	return ret;
}

/* STREAM_START, then an empty stream or one document holding a mapping. */
static int load_stream(struct loader *l)
{
	int ret, docs = 0;
	yaml_event_t ev;

	while (!(ret = next_event(l, &ev))) {
		yaml_event_type_t t = ev.type;
		yaml_mark_t m = ev.start_mark;
		int empty = t == YAML_SCALAR_EVENT && !ev.data.scalar.length;

		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			return 0;
		if (t == YAML_DOCUMENT_START_EVENT && docs++)
			return errorf(l, &m, "expected a single YAML document");
		if (t == YAML_MAPPING_START_EVENT)
			ret = load_mapping(l, "");
		else if ((t == YAML_SCALAR_EVENT && !empty) ||
			 t == YAML_SEQUENCE_START_EVENT)
			ret = errorf(l, &m, "expected a mapping of settings");
		if (ret)
			return ret;
	}
	return ret;
}

int hp_cfg_load_buf(const char *name, const char *buf, size_t len,
		    const struct hp_cfg_field *fields, void *cfg,
		    char *err, size_t errlen)
{
	struct loader l = {
		.name = name, .fields = fields, .cfg = cfg,
		.err = err, .errlen = errlen,
	};
	int ret;

	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&l.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);
	ret = load_stream(&l);
	yaml_parser_delete(&l.parser);
	return ret;
}

int hp_cfg_load_file(const char *path, const struct hp_cfg_field *fields,
		     void *cfg, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f, *mem;
	char chunk[4096];
	size_t n;
	int ret;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	mem = open_memstream(&buf, &len);
	if (!mem) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	fclose(mem);
	if (ret)
		snprintf(err, errlen, "%s: read error", path);
	else
		ret = hp_cfg_load_buf(path, buf, len, fields, cfg, err, errlen);
	free(buf);
	return ret;
}

void hp_cfg_free(const struct hp_cfg_field *fields, void *cfg)
{
	const struct hp_cfg_field *f;

	if (!cfg)
		return;
	for (f = fields; f->key; f++) {
		void **field = (void **)((char *)cfg + f->offset);

		if (f->type == HP_CFG_T_STR)
			free(*field);
		else if (f->type == HP_CFG_T_STRLIST)
			free_list(*field);
		else
			continue;
		*field = NULL;
	}
}
