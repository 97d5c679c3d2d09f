/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Compact sets of uint32 ids, the building blocks of ext_state.
 *
 * ext_idset:   sorted array; small sets (a node's templates).
 * ext_vlist:   sorted ids as delta-encoded varints (LEB128): ~1 byte per id
 *              when ids are dense, as a node's image ids are.  Read whole or
 *              by iteration; changes re-encode it.  Cold path only.
 * ext_posting: the nodes holding one image name (an inverted index): a
 *              sorted array while few nodes hold it, a bitmap over node ids
 *              once that is smaller (4 * count >= nodes / 8), so membership
 *              is one binary search in a small hot array or one bit test.
 *              This is what scoring reads: a pod's few images are looked up
 *              once per request and every node is a probe into them.
 */
#ifndef EXT_SETS_H
#define EXT_SETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ext_idset {
	uint32_t *ids;
	uint32_t n, cap;
};

bool ext_idset_has(const struct ext_idset *s, uint32_t id);
int ext_idset_add(struct ext_idset *s, uint32_t id);
void ext_idset_del(struct ext_idset *s, uint32_t id);
/* Take ownership of malloc'd @ids (any order, duplicates allowed). */
void ext_idset_replace(struct ext_idset *s, uint32_t *ids, uint32_t n);
void ext_idset_free(struct ext_idset *s);

struct ext_vlist {
	uint8_t *bytes;
	uint32_t len;		/* bytes used */
	uint32_t n;		/* ids */
};

struct ext_viter {
	const uint8_t *p;
	uint32_t left, prev;
};

/* Encode @n sorted unique @ids, replacing @v's content. */
int ext_vlist_set(struct ext_vlist *v, const uint32_t *ids, uint32_t n);
/* Decode into a malloc'd array (*@out, @v->n ids; NULL when empty). */
int ext_vlist_get(const struct ext_vlist *v, uint32_t **out);
void ext_vlist_free(struct ext_vlist *v);
void ext_viter_init(struct ext_viter *it, const struct ext_vlist *v);
bool ext_viter_next(struct ext_viter *it, uint32_t *id);

struct ext_posting {
	union {
		uint32_t *ids;	/* sparse: sorted node ids */
		uint64_t *bits;	/* dense: bit per node id */
	};
	uint32_t n;		/* members */
	uint32_t cap;		/* sparse: ids allocated; dense: 64-bit words */
	bool dense;
};

/* @universe: current number of node ids (sizes the bitmap form). */
int ext_posting_add(struct ext_posting *p, uint32_t id, uint32_t universe);
void ext_posting_del(struct ext_posting *p, uint32_t id, uint32_t universe);
bool ext_posting_has(const struct ext_posting *p, uint32_t id);
size_t ext_posting_bytes(const struct ext_posting *p);
void ext_posting_free(struct ext_posting *p);

#endif
