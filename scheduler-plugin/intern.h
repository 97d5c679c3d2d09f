/* SPDX-License-Identifier: GPL-2.0 */
/*
 * String interning: each distinct string gets a dense id (0, 1, 2, ...) and
 * is stored once.  Ids are never recycled, so an id stays valid (and the
 * string behind it readable) for the table's lifetime.  Not thread-safe: the
 * owner serialises writers and readers (ext_state does, with its rwlock).
 */
#ifndef EXT_INTERN_H
#define EXT_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define EXT_ID_NONE UINT32_MAX

struct ext_intern;

struct ext_intern *ext_intern_create(void);
void ext_intern_destroy(struct ext_intern *in);

/* Id of the @len bytes at @s, or EXT_ID_NONE when never interned. */
uint32_t ext_intern_find(const struct ext_intern *in, const char *s, size_t len);
/* Id of @s, interning it if new; EXT_ID_NONE on ENOMEM or table full. */
uint32_t ext_intern_add(struct ext_intern *in, const char *s, size_t len);
/* The NUL-terminated string of @id (borrowed, lives as long as @in). */
const char *ext_intern_str(const struct ext_intern *in, uint32_t id);
uint32_t ext_intern_count(const struct ext_intern *in);
/* Bytes of memory held (for /metrics and the memory benchmark). */
size_t ext_intern_bytes(const struct ext_intern *in);

#endif
