// SPDX-License-Identifier: GPL-2.0
/* Helpers over jansson; see json.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "lib/json.h"

static json_t *vget(const json_t *obj, va_list ap)
{
	const char *key;
	json_t *cur = (json_t *)obj;

	while (cur && (key = va_arg(ap, const char *)))
		cur = json_object_get(cur, key);
	return cur;
}

json_t *hp_json_get(const json_t *obj, ...)
{
	va_list ap;
	json_t *v;

	va_start(ap, obj);
	v = vget(obj, ap);
	va_end(ap);
	return v;
}

const char *hp_json_str(const json_t *obj, ...)
{
	va_list ap;
	json_t *v;

	va_start(ap, obj);
	v = vget(obj, ap);
	va_end(ap);
	return json_string_value(v);
}

int hp_json_int(json_int_t *out, const json_t *obj, ...)
{
	va_list ap;
	json_t *v;

	va_start(ap, obj);
	v = vget(obj, ap);
	va_end(ap);
	if (!v)
		return -ENOENT;
	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

json_t *hp_json_iget(const json_t *obj, const char *key)
{
	const char *k;
	json_t *v;

	v = json_object_get(obj, key);
	if (v)
		return v;
	json_object_foreach((json_t *)obj, k, v) {
		if (!strcasecmp(k, key))
			return v;
	}
	return NULL;
}

json_t *hp_json_parse(const char *name, const char *buf, size_t len,
		      char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		snprintf(err, errlen, "%s:%d:%d: %s", name, jerr.line,
			 jerr.column, jerr.text);
	return v;
}

char *hp_json_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
