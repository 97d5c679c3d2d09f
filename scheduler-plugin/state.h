/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cluster state as the extender knows it: per node, the image names and
 * warm templates it holds and its DPU state, fed by StatePush messages
 * (proto/nodestate.proto documents the protocol: sources, generations,
 * snapshots, deltas, staleness).
 *
 * Layout (kept small for 10k nodes x 500 images, see sets.h): image names,
 * template names, node names and source names are interned once
 * (ext_intern); a node holds its image ids as a delta-varint list and its
 * template ids as a sorted array; per image name the state keeps its size
 * and the live nodes holding it (an array or a bitmap of node ids), which is
 * the index prioritize reads.
 *
 * Locking: one rwlock.  ext_state_apply() and ext_state_sweep() take it for
 * writing; scoring and DPU queries take it for reading, so any number of
 * HTTP worker threads score in parallel.  Time is passed in by the caller
 * (milliseconds, any monotonic origin) so tests control it.
 */
#ifndef EXT_STATE_H
#define EXT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nodestate.pb-c.h"

struct ext_state;

enum ext_dpu {
	EXT_DPU_UNKNOWN,	/* not reported, node unknown, or node stale */
	EXT_DPU_UP,
	EXT_DPU_DOWN,
};

/* What scoring needs to know about the pod (see pod.h for decoding). */
struct ext_pod_images {
	const char *const *images;	/* init containers first, then regular */
	size_t n_images;
	const char *template_key;	/* template to look for, or NULL */
};

struct ext_state_stats {
	uint32_t nodes;		/* known nodes, stale included */
	uint32_t stale_nodes;
	uint32_t image_names;	/* interned image names */
	uint32_t template_names;
	uint32_t sources;
	uint64_t image_refs;	/* sum over nodes of images held */
	size_t bytes;		/* memory held by the state */
};

/* @stale_ms: a source not heard from for this long makes its nodes stale. */
struct ext_state *ext_state_create(long stale_ms);
void ext_state_destroy(struct ext_state *st);

/*
 * Apply one push atomically (validated first: on INVALID nothing changed).
 * Fills @reply (status, generation, and error text in @err, which
 * reply->error points to when set).  Returns 0, or -ENOMEM (state unchanged
 * for the failing node; the reply says INVALID).
 */
int ext_state_apply(struct ext_state *st,
		    const Heteropod__Nodestate__StatePush *msg, int64_t now_ms,
		    Heteropod__Nodestate__PushReply *reply,
		    char *err, size_t errlen);

/*
 * Seed nodes from the Node objects of a nodeCacheCapable: false request
 * (their status.images): a node that no agent reports gets these images,
 * owned by the internal source EXT_SEED_SOURCE (refreshed by every seeding
 * request); a node an agent reports is left alone.  Returns 0 or -ENOMEM.
 */
#define EXT_SEED_SOURCE "kube-scheduler-node-status"
int ext_state_seed(struct ext_state *st,
		   Heteropod__Nodestate__NodeState *const *nodes, size_t n,
		   int64_t now_ms);

/* Mark sources (and their nodes) stale; returns the number of nodes that
 * became stale. */
unsigned ext_state_sweep(struct ext_state *st, int64_t now_ms);

/*
 * Score the pod on each of @n named nodes into @scores (0..10).  Unknown and
 * stale nodes score as holding nothing.  Returns 0 or -ENOMEM.
 */
int ext_state_prioritize(struct ext_state *st, const struct ext_pod_images *pod,
			 const char *const *nodes, size_t n, int template_bonus,
			 int *scores);

/* DPU state of each of @n named nodes into @out. */
void ext_state_dpu(struct ext_state *st, const char *const *nodes, size_t n,
		   enum ext_dpu *out);

void ext_state_stats(struct ext_state *st, struct ext_state_stats *out);

#endif
