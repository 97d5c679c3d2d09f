// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/sets.h"

/* ---- sorted arrays ---- */

static uint32_t lower_bound(const uint32_t *ids, uint32_t n, uint32_t id)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Insert @id into the sorted array (*@ids, *@n, *@cap); 1 if it was there. */
static int array_add(uint32_t **ids, uint32_t *n, uint32_t *cap, uint32_t id)
{
	uint32_t pos = lower_bound(*ids, *n, id);

	if (pos < *n && (*ids)[pos] == id)
		return 1;
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 4;
		uint32_t *p = realloc(*ids, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*ids = p;
		*cap = c;
	}
	memmove(*ids + pos + 1, *ids + pos, (*n - pos) * sizeof(**ids));
	(*ids)[pos] = id;
	(*n)++;
	return 0;
}

/* Remove @id; 1 if it was not there. */
static int array_del(uint32_t *ids, uint32_t *n, uint32_t id)
{
	uint32_t pos = lower_bound(ids, *n, id);

	if (pos == *n || ids[pos] != id)
		return 1;
	memmove(ids + pos, ids + pos + 1, (*n - pos - 1) * sizeof(*ids));
	(*n)--;
	return 0;
}

bool ext_idset_has(const struct ext_idset *s, uint32_t id)
{
	uint32_t pos = lower_bound(s->ids, s->n, id);

	return pos < s->n && s->ids[pos] == id;
}

int ext_idset_add(struct ext_idset *s, uint32_t id)
{
	int ret = array_add(&s->ids, &s->n, &s->cap, id);

	return ret < 0 ? ret : 0;
}

void ext_idset_del(struct ext_idset *s, uint32_t id)
{
	array_del(s->ids, &s->n, id);
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void ext_idset_replace(struct ext_idset *s, uint32_t *ids, uint32_t n)
{
	uint32_t i, out = 0, *fit;

	qsort(ids, n, sizeof(*ids), cmp_id);
	for (i = 0; i < n; i++)
		if (!out || ids[out - 1] != ids[i])
			ids[out++] = ids[i];
	if (!out) {
		free(ids);
		ids = NULL;
	} else if ((fit = realloc(ids, out * sizeof(*ids)))) {
		ids = fit;
	}
	free(s->ids);
	s->ids = ids;
	s->n = s->cap = out;
}

void ext_idset_free(struct ext_idset *s)
{
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

/* ---- varint lists ---- */

int ext_vlist_set(struct ext_vlist *v, const uint32_t *ids, uint32_t n)
{
	uint8_t *b = malloc((size_t)n * 5 + 1), *p = b, *fit;
	uint32_t i, prev = 0;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint32_t gap = ids[i] - prev;

		prev = ids[i];
		while (gap >= 0x80) {
			*p++ = (uint8_t)(gap | 0x80);
			gap >>= 7;
		}
		*p++ = (uint8_t)gap;
	}
	fit = realloc(b, (size_t)(p - b) + 1);
	free(v->bytes);
	v->bytes = fit ? fit : b;
	v->len = (uint32_t)(p - b);
	v->n = n;
	return 0;
}

void ext_viter_init(struct ext_viter *it, const struct ext_vlist *v)
{
	it->p = v->bytes;
	it->left = v->n;
	it->prev = 0;
}

bool ext_viter_next(struct ext_viter *it, uint32_t *id)
{
	uint32_t gap = 0;
	unsigned shift = 0;

	if (!it->left)
		return false;
	while (*it->p & 0x80) {
		gap |= (uint32_t)(*it->p++ & 0x7f) << shift;
		shift += 7;
	}
	gap |= (uint32_t)*it->p++ << shift;
	it->prev += gap;
	it->left--;
	*id = it->prev;
	return true;
}

int ext_vlist_get(const struct ext_vlist *v, uint32_t **out)
{
	struct ext_viter it;
	uint32_t i = 0;

	*out = NULL;
	if (!v->n)
		return 0;
	*out = malloc(v->n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	ext_viter_init(&it, v);
	while (ext_viter_next(&it, &(*out)[i]))
		i++;
	return 0;
}

void ext_vlist_free(struct ext_vlist *v)
{
	free(v->bytes);
	memset(v, 0, sizeof(*v));
}

/* ---- postings ---- */

static uint32_t words_for(uint32_t universe)
{
	return (universe + 63) / 64;
}

/* Sparse while 4 bytes per member are fewer than a bit per node. */
static bool want_dense(uint32_t n, uint32_t universe)
{
	return (uint64_t)n * 32 >= universe && n >= 64;
}

static int densify(struct ext_posting *p, uint32_t universe)
{
	uint32_t top = p->ids[p->n - 1] + 1; /* ids may exceed a stale universe */
	uint32_t words = words_for(top > universe ? top : universe), i;
	uint64_t *bits = calloc(words, sizeof(*bits));

	if (!bits)
		return -ENOMEM;
	for (i = 0; i < p->n; i++)
		bits[p->ids[i] / 64] |= 1ULL << (p->ids[i] % 64);
	free(p->ids);
	p->bits = bits;
	p->cap = words;
	p->dense = true;
	return 0;
}

static void sparsify(struct ext_posting *p)
{
	uint32_t *ids = malloc((p->n ? p->n : 1) * sizeof(*ids)), w, k = 0;

	if (!ids)
		return; /* stay dense: correct, only larger */
	for (w = 0; w < p->cap; w++) {
		uint64_t x = p->bits[w];

		while (x) {
			ids[k++] = w * 64 + (uint32_t)__builtin_ctzll(x);
			x &= x - 1;
		}
	}
	free(p->bits);
	p->ids = ids;
	p->cap = p->n;
	p->dense = false;
}

int ext_posting_add(struct ext_posting *p, uint32_t id, uint32_t universe)
{
	int ret;

	if (!p->dense) {
		ret = array_add(&p->ids, &p->n, &p->cap, id);
		if (ret < 0)
			return ret;
		return want_dense(p->n, universe) ? densify(p, universe) : 0;
	}
	if (id / 64 >= p->cap) {
		uint32_t words = words_for(id + 1 > universe ? id + 1 : universe);
		uint64_t *bits = realloc(p->bits, words * sizeof(*bits));

		if (!bits)
			return -ENOMEM;
		memset(bits + p->cap, 0, (words - p->cap) * sizeof(*bits));
		p->bits = bits;
		p->cap = words;
	}
	if (!(p->bits[id / 64] & (1ULL << (id % 64)))) {
		p->bits[id / 64] |= 1ULL << (id % 64);
		p->n++;
	}
	return 0;
}

void ext_posting_del(struct ext_posting *p, uint32_t id, uint32_t universe)
{
	if (!p->dense) {
		array_del(p->ids, &p->n, id);
		return;
	}
	if (id / 64 >= p->cap || !(p->bits[id / 64] & (1ULL << (id % 64))))
		return;
	p->bits[id / 64] &= ~(1ULL << (id % 64));
	p->n--;
	/* Hysteresis: back to an array only at half the threshold. */
	if ((uint64_t)p->n * 64 < universe)
		sparsify(p);
}

bool ext_posting_has(const struct ext_posting *p, uint32_t id)
{
	uint32_t pos;

	if (p->dense)
		return id / 64 < p->cap && (p->bits[id / 64] >> (id % 64)) & 1;
	pos = lower_bound(p->ids, p->n, id);
	return pos < p->n && p->ids[pos] == id;
}

size_t ext_posting_bytes(const struct ext_posting *p)
{
	return p->dense ? p->cap * sizeof(uint64_t) : p->cap * sizeof(uint32_t);
}

void ext_posting_free(struct ext_posting *p)
{
	free(p->ids); /* same pointer as bits */
	memset(p, 0, sizeof(*p));
}
