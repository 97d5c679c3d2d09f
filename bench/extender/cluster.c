// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/extender/cluster.h"

#define MIB (1024.0 * 1024.0)

uint64_t cluster_rand(struct cluster *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return c->rng = x;
}

double cluster_unit(struct cluster *c)
{
	return (double)(cluster_rand(c) >> 11) / 9007199254740992.0;
}

static double normal(struct cluster *c)
{
	double u = cluster_unit(c) + 1e-12, v = cluster_unit(c);

	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

int cluster_init(struct cluster *c, unsigned nodes, unsigned per_node,
		 unsigned pool, bool digests, uint64_t seed)
{
	double total = 0, acc = 0;
	unsigned i;

	memset(c, 0, sizeof(*c));
	c->nodes = nodes, c->per_node = per_node, c->pool = pool;
	c->digests = digests;
	c->rng = seed | 1;
	c->tag = calloc(pool, sizeof(*c->tag));
	c->digest = calloc(pool, sizeof(*c->digest));
	c->size = calloc(pool, sizeof(*c->size));
	c->cdf = calloc(pool, sizeof(*c->cdf));
	if (!c->tag || !c->digest || !c->size || !c->cdf || per_node > pool)
		return -EINVAL;
	for (i = 0; i < pool; i++)
		total += 1.0 / pow(i + 1, 0.9);
	for (i = 0; i < pool; i++) {
		double mib = 120 * exp(normal(c));

		acc += 1.0 / pow(i + 1, 0.9);
		c->cdf[i] = acc / total;
		c->size[i] = (int64_t)(fmin(fmax(mib, 5), 3072) * MIB);
		if (asprintf(&c->tag[i], "registry.example.com/team-%02u/svc-%05u:v%u",
			     i % 50, i, i % 7 + 1) < 0 ||
		    asprintf(&c->digest[i], "registry.example.com/team-%02u/svc-%05u@sha256:%016llx%016llx%016llx%016llx",
			     i % 50, i, (unsigned long long)cluster_rand(c),
			     (unsigned long long)cluster_rand(c), (unsigned long long)cluster_rand(c),
			     (unsigned long long)cluster_rand(c)) < 0)
			return -ENOMEM;
	}
	return 0;
}

void cluster_free(struct cluster *c)
{
	unsigned i;

	for (i = 0; c->tag && i < c->pool; i++) {
		free(c->tag[i]);
		free(c->digest[i]);
	}
	free(c->tag);
	free(c->digest);
	free(c->size);
	free(c->cdf);
}

unsigned cluster_pick(struct cluster *c)
{
	double u = cluster_unit(c);
	unsigned lo = 0, hi = c->pool - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (c->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void cluster_node_images(struct cluster *c, unsigned *out)
{
	unsigned char *seen = calloc(c->pool, 1);
	unsigned n = 0, tries = 0;

	while (n < c->per_node) {
		/* Popularity first; once the head is taken, uniform over the rest. */
		unsigned i = ++tries < 8 * c->per_node ? cluster_pick(c) :
			(unsigned)(cluster_rand(c) % c->pool);

		if (seen && seen[i])
			continue;
		if (seen)
			seen[i] = 1;
		out[n++] = i;
	}
	free(seen);
}

void cluster_node_name(unsigned i, char *buf, size_t size)
{
	snprintf(buf, size, "node-%05u", i);
}
