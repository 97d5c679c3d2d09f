/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers over jansson for reading Kubernetes-style objects.
 * Lookups never fail loudly: a missing key or a value of another type
 * reads as NULL / the caller's default.
 */
#ifndef HP_JSON_H
#define HP_JSON_H

#include <stddef.h>
#include <jansson.h>

/*
 * Follow a key path: hp_json_get(obj, "metadata", "labels", "app", NULL).
 * Keys are taken literally (label keys contain '.' and '/').  Returns a
 * borrowed reference or NULL.
 */
json_t *hp_json_get(const json_t *obj, ...) __attribute__((sentinel));
/* Like hp_json_get() but the value must be a string; NULL otherwise. */
const char *hp_json_str(const json_t *obj, ...) __attribute__((sentinel));

/* Object member whose key equals @key ignoring ASCII case (exact match first). */
json_t *hp_json_iget(const json_t *obj, const char *key);

/*
 * Parse @len bytes.  On error returns NULL and writes
 * "NAME:LINE:COLUMN: reason" into @err.
 */
json_t *hp_json_parse(const char *name, const char *buf, size_t len,
		      char *err, size_t errlen);

/* Integer at a path; returns 0, -ENOENT if absent, -EINVAL if not an integer. */
int hp_json_int(json_int_t *out, const json_t *obj, ...) __attribute__((sentinel));

/* Compact, key-order-preserving serialisation; caller frees.  NULL on ENOMEM. */
char *hp_json_dump(const json_t *v);

#endif
