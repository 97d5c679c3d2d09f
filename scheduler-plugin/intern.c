// SPDX-License-Identifier: GPL-2.0
/*
 * Open-addressing hash table of ids (linear probing, load <= 1/2) over
 * strings stored back to back in large chunks, so a string costs its bytes
 * plus a NUL, a 4-byte slot and an 8-byte pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/intern.h"

#define CHUNK_SIZE (64 * 1024)

struct chunk {
	struct chunk *next;
	size_t used;
	size_t size;
	char data[];
};

struct ext_intern {
	uint32_t *slots;	/* id + 1, 0 = empty */
	uint32_t nslots;	/* power of two */
	uint32_t count;
	char **strs;		/* id -> string */
	uint32_t *hashes;	/* id -> hash, for rehashing */
	uint32_t cap;
	struct chunk *chunks;
	size_t bytes;
};

static uint32_t hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct ext_intern *ext_intern_create(void)
{
	struct ext_intern *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->nslots = 64;
	in->slots = calloc(in->nslots, sizeof(*in->slots));
	if (!in->slots) {
		free(in);
		return NULL;
	}
	return in;
}

void ext_intern_destroy(struct ext_intern *in)
{
	struct chunk *c, *next;

	if (!in)
		return;
	for (c = in->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(in->slots);
	free(in->strs);
	free(in->hashes);
	free(in);
}

static uint32_t *probe(const struct ext_intern *in, const char *s, size_t len,
		       uint32_t h)
{
	uint32_t mask = in->nslots - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t id = in->slots[i];

		if (!id)
			return &in->slots[i];
		id--;
		if (in->hashes[id] == h && !strncmp(in->strs[id], s, len) &&
		    in->strs[id][len] == '\0')
			return &in->slots[i];
	}
}

uint32_t ext_intern_find(const struct ext_intern *in, const char *s, size_t len)
{
	return *probe(in, s, len, hash(s, len)) - 1;
}

static int grow_slots(struct ext_intern *in)
{
	uint32_t n = in->nslots * 2, mask = n - 1, id;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (id = 0; id < in->count; id++) {
		uint32_t i = in->hashes[id] & mask;

		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = id + 1;
	}
	free(in->slots);
	in->slots = slots;
	in->nslots = n;
	return 0;
}

static int grow_ids(struct ext_intern *in)
{
	uint32_t cap = in->cap ? in->cap * 2 : 64;
	char **strs = realloc(in->strs, cap * sizeof(*strs));
	uint32_t *hashes;

	if (!strs)
		return -ENOMEM;
	in->strs = strs;
	hashes = realloc(in->hashes, cap * sizeof(*hashes));
	if (!hashes)
		return -ENOMEM;
	in->hashes = hashes;
	in->cap = cap;
	return 0;
}

/* Copy @len bytes + NUL into the chunk store; NULL on ENOMEM. */
static char *store(struct ext_intern *in, const char *s, size_t len)
{
	struct chunk *c = in->chunks;
	char *p;

	if (!c || c->size - c->used < len + 1) {
		size_t size = len + 1 > CHUNK_SIZE ? len + 1 : CHUNK_SIZE;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = in->chunks;
		in->chunks = c;
		in->bytes += sizeof(*c) + size;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

uint32_t ext_intern_add(struct ext_intern *in, const char *s, size_t len)
{
	uint32_t h = hash(s, len), *slot = probe(in, s, len, h), id;

	if (*slot)
		return *slot - 1;
	if (in->count == EXT_ID_NONE - 1)
		return EXT_ID_NONE;
	/* Keep the load at most 1/2 so probing always meets an empty slot. */
	if ((in->count + 1) * 2 > in->nslots) {
		if (grow_slots(in))
			return EXT_ID_NONE;
		slot = probe(in, s, len, h);
	}
	if (in->count == in->cap && grow_ids(in))
		return EXT_ID_NONE;
	id = in->count;
	in->strs[id] = store(in, s, len);
	if (!in->strs[id])
		return EXT_ID_NONE;
	in->hashes[id] = h;
	*slot = id + 1;
	in->count++;
	return id;
}

const char *ext_intern_str(const struct ext_intern *in, uint32_t id)
{
	return id < in->count ? in->strs[id] : NULL;
}

uint32_t ext_intern_count(const struct ext_intern *in)
{
	return in->count;
}

size_t ext_intern_bytes(const struct ext_intern *in)
{
	return sizeof(*in) + in->nslots * sizeof(*in->slots) +
	       in->cap * (sizeof(*in->strs) + sizeof(*in->hashes)) + in->bytes;
}
