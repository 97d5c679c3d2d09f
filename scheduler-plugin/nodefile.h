/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Node state files (YAML or JSON, which is YAML) turned into a StatePush,
 * for `heteropod-extender push` and tests.  Snapshot form, shaped like
 * Kubernetes node status:
 *
 *   nodes:
 *     - name: node-1
 *       dpu: up            # up | down | unknown (default)
 *       images:
 *         - names: ["docker.io/library/nginx:1.25", "nginx:1.25"]
 *           sizeBytes: 209715200
 *       templates: ["fn-alexa-door"]
 *
 * Delta form (@delta true): each node entry takes name, dpu, addImages
 * (like images), removeImages, addTemplates, removeTemplates (lists of
 * names) and remove (bool, forget the node).
 *
 * Errors read "FILE:LINE:COL: what is wrong; accepted: ...".
 */
#ifndef EXT_NODEFILE_H
#define EXT_NODEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/nodestate.pb-c.h"

/*
 * Parse @len bytes named @name into a new StatePush with @source and
 * @generation.  Free it with heteropod__nodestate__state_push__free_unpacked
 * (msg, NULL).  Returns NULL with the message in @err.
 */
Heteropod__Nodestate__StatePush *ext_nodefile_parse(const char *name,
						    const char *buf, size_t len,
						    bool delta, const char *source,
						    uint64_t generation,
						    char *err, size_t errlen);

#endif
