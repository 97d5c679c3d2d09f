/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Decoding of kube-scheduler's ExtenderArgs (extender v1 wire format, the
 * body of POST filter/prioritize):
 *
 *   {"Pod": <v1.Pod>, "Nodes": <v1.NodeList>|null, "NodeNames": [..]|null}
 *
 * The Go types carry no JSON tags and encoding/json matches keys ignoring
 * case, so every key is looked up case-insensitively (exact spelling first);
 * label and annotation keys are map keys and match exactly.  NodeNames is
 * used when present (nodeCacheCapable: true), else Nodes.items (false); the
 * reply must use the same form (args.by_name).
 */
#ifndef EXT_ARGS_H
#define EXT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "scheduler-plugin/state.h"

#define EXT_LABEL_TEMPLATE "heteropod.io/template"
#define EXT_ANN_OFFLOAD "heteropod.io/offload"
#define EXT_ANN_REQUIRES_DPU "heteropod.io/requires-dpu"

struct ext_args {
	json_t *root;		/* the Pod, owned */
	json_t *nodes_root;	/* the Nodes NodeList when used, owned */
	const char *pod_ns, *pod_name;	/* "" when absent */
	const char **nodes;	/* node names, in request order (malloc'd array
				 * of pointers into the request or nodes_root) */
	size_t n_nodes;
	json_t *node_items;	/* Nodes.items when !by_name, else NULL */
	bool by_name;
	struct ext_pod_images pod;	/* images: init then regular */
	const char **images;	/* storage of pod.images */
	char *template_key;	/* storage of pod.template_key (malloc'd) */
	bool needs_dpu;
	const char *bad_offload; /* unrecognised heteropod.io/offload value */
};

/*
 * Parse @len bytes.  The top level is scanned without building JSON objects
 * (scan.h): NodeNames are decoded in place in @buf and point into it, so
 * @buf must outlive @a; only the Pod (and Nodes, when used) go through
 * jansson.  Returns 0, -EINVAL with "request:LINE:COL: reason" or
 * "request: what is wrong" in @err, or -ENOMEM.  @a is valid for
 * ext_args_free() in every case.
 */
int ext_args_decode(struct ext_args *a, char *buf, size_t len,
		    char *err, size_t errlen);
void ext_args_free(struct ext_args *a);

/*
 * The request's Node objects (nodeCacheCapable: false) as NodeState
 * messages from their status.images, for ext_state_seed().  Entries without
 * a valid image list are skipped.  *@out is malloc'd (free with
 * ext_args_free_seed); returns the count or -ENOMEM.
 */
long ext_args_seed(const struct ext_args *a, Heteropod__Nodestate__NodeState ***out);
void ext_args_free_seed(Heteropod__Nodestate__NodeState **nodes, long n);

#endif
