// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include "scheduler-plugin/score.h"

int64_t ext_score_scaled_image(int64_t size, uint32_t nodes_having,
			       uint32_t total_nodes)
{
	double spread;

	if (!total_nodes)
		return 0;
	spread = (double)nodes_having / (double)total_nodes;
	return (int64_t)((double)size * spread);
}

int ext_score_image_priority(int64_t sum, size_t containers)
{
	return ext_score_image_priority_max(sum, containers, EXT_MAX_PRIORITY);
}

int ext_score_image_priority_max(int64_t sum, size_t containers, int max_score)
{
	int64_t max = EXT_MAX_CONTAINER_THRESHOLD * (int64_t)containers;

	/* Same order of tests as upstream: with no container, max < min. */
	if (sum < EXT_MIN_THRESHOLD)
		sum = EXT_MIN_THRESHOLD;
	else if (sum > max)
		sum = max;
	return (int)(max_score * (sum - EXT_MIN_THRESHOLD) /
		     (max - EXT_MIN_THRESHOLD));
}

int ext_score_total(int image_priority, int has_template, int template_bonus)
{
	int s = image_priority + (has_template ? template_bonus : 0);

	if (s < 0)
		return 0;
	return s > EXT_MAX_PRIORITY ? EXT_MAX_PRIORITY : s;
}

int ext_score_normalize_image(const char *image, char *buf, size_t size)
{
	const char *colon = strrchr(image, ':'), *slash = strrchr(image, '/');
	long ci = colon ? colon - image : -1, si = slash ? slash - image : -1;
	size_t len = strlen(image);
	int add = ci <= si; /* Go: LastIndex(":") <= LastIndex("/"), -1 if absent */

	if (len + (add ? 7 : 0) + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, image, len);
	if (add)
		memcpy(buf + len, ":latest", 7), len += 7;
	buf[len] = '\0';
	return (int)len;
}
