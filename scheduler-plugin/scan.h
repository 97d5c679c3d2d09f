/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A validating JSON scanner for the top level of ExtenderArgs, so that a
 * request naming thousands of nodes does not build thousands of JSON objects:
 * it walks the top-level object, decodes the strings of one array member
 * in place (pointers into the caller's buffer, NUL-terminated there) and
 * reports every other member as a byte range for a full parser (jansson).
 * It accepts exactly RFC 8259 JSON (UTF-8 checked, depth <= EXT_SCAN_DEPTH).
 */
#ifndef EXT_SCAN_H
#define EXT_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define EXT_SCAN_DEPTH 512

/* 1-based line and column (in bytes) of a place in the input. */
struct ext_scan_pos {
	size_t line, col;
};

struct ext_scan_member {
	const char *key;	/* decoded key (in place, NUL-terminated) */
	size_t start, end;	/* value's byte range in the buffer */
	struct ext_scan_pos at;	/* where the value starts */
};

/*
 * Scan @buf (@len bytes, modified in place) as one JSON object.  The members
 * are stored in @members (at most @max; later ones are validated and
 * dropped).  If a member whose key equals @array_key ignoring ASCII case has
 * an array of strings as its value, its strings (the last such member's) are
 * decoded into @strs (malloc'd array, *@nstrs entries) and *@have_strs set.
 * Only the top-level keys and those strings are rewritten; the bytes of
 * every other value are left as they were.  Returns the number of members,
 * or -EINVAL with the failing position in *@err_at and a reason in *@why,
 * or -ENOMEM.
 */
int ext_scan_object(char *buf, size_t len, const char *array_key,
		    const char ***strs, size_t *nstrs, bool *have_strs,
		    struct ext_scan_member *members, size_t max,
		    struct ext_scan_pos *err_at, const char **why);

#endif
