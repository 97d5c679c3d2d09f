/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scoring formula, as pure functions (no state, no locks).
 *
 * Image part: kube-scheduler's ImageLocality plugin
 * (pkg/scheduler/framework/plugins/imagelocality), scaled to the extender
 * range 0..EXT_MAX_PRIORITY instead of 0..100:
 *
 *   for each container c (init and regular) whose image the node holds:
 *       sum += int64(size(image) * nodesHaving(image) / totalNodes)
 *   sum    = clamp(sum, 23 MiB, 1000 MiB * containers)
 *   image  = EXT_MAX_PRIORITY * (sum - 23 MiB) / (1000 MiB * containers - 23 MiB)
 *
 * in the same integer/double arithmetic as the Go code, so that equal
 * inputs give equal results.  Template part: + bonus when the node holds a
 * warm template of the pod's function.  The total is clamped to
 * 0..EXT_MAX_PRIORITY (kube-scheduler's MaxExtenderPriority).
 */
#ifndef EXT_SCORE_H
#define EXT_SCORE_H

#include <stddef.h>
#include <stdint.h>

#define EXT_MAX_PRIORITY 10
#define EXT_MIB (1024LL * 1024)
#define EXT_MIN_THRESHOLD (23 * EXT_MIB)
#define EXT_MAX_CONTAINER_THRESHOLD (1000 * EXT_MIB)

/* size * (nodes_having / total_nodes), truncated like Go's int64(float64). */
int64_t ext_score_scaled_image(int64_t size, uint32_t nodes_having,
			       uint32_t total_nodes);
/* The clamped, linearly scaled image part, 0..EXT_MAX_PRIORITY. */
int ext_score_image_priority(int64_t sum, size_t containers);
/* The same on 0..@max (100 is upstream's MaxNodeScore: ImageLocality itself). */
int ext_score_image_priority_max(int64_t sum, size_t containers, int max);
/* image + template bonus (if @has_template), clamped to 0..EXT_MAX_PRIORITY. */
int ext_score_total(int image_priority, int has_template, int template_bonus);

/*
 * Normalise a pod's image reference the way ImageLocality does: a name
 * whose last ':' is not after its last '/' gets ":latest" appended
 * ("nginx" -> "nginx:latest", "host:5000/app" -> "host:5000/app:latest";
 * "nginx@sha256:..." and "nginx:1.25" are unchanged).  No registry or
 * "library/" expansion.  Writes into @buf (NUL-terminated); returns the
 * length, or -ENAMETOOLONG when @size is too small.
 */
int ext_score_normalize_image(const char *image, char *buf, size_t size);

#endif
