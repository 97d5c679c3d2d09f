/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Synthetic clusters for the extender benchmarks.
 *
 * Image pool: @pool images, popularity Zipf(0.9) (a few base images and
 * popular services everywhere, a long tail of rare ones), sizes log-normal
 * with median 120 MiB and sigma 1.0 clamped to [5 MiB, 3 GiB] (the spread of
 * public registry images: small Go binaries to fat ML images).  Each image
 * has a tag name and, with @digests, the repo-digest name kubelet also
 * reports.  Each node holds @per_node distinct images drawn by popularity.
 * Everything is deterministic from the seed.
 */
#ifndef EXTBENCH_CLUSTER_H
#define EXTBENCH_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cluster {
	unsigned nodes, per_node, pool;
	bool digests;
	char **tag;		/* [pool] */
	char **digest;		/* [pool] */
	int64_t *size;		/* [pool] */
	double *cdf;		/* [pool] Zipf CDF */
	uint64_t rng;
};

int cluster_init(struct cluster *c, unsigned nodes, unsigned per_node,
		 unsigned pool, bool digests, uint64_t seed);
void cluster_free(struct cluster *c);
uint64_t cluster_rand(struct cluster *c);
double cluster_unit(struct cluster *c);		/* uniform in [0, 1) */
unsigned cluster_pick(struct cluster *c);	/* an image index by popularity */
/* Fill @out[per_node] with distinct image indexes for one node. */
void cluster_node_images(struct cluster *c, unsigned *out);
void cluster_node_name(unsigned i, char *buf, size_t size);

#endif
