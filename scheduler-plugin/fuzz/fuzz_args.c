// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness of the request decoder: any bytes as an ExtenderArgs
 * body, then the seed messages and both replies built from what was
 * decoded (as the server does).
 *   make fuzz && build/fuzz/scheduler-plugin/fuzz_args -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/args.h"
#include "scheduler-plugin/reply.h"
#include "scheduler-plugin/scan.h"

/*
 * Differential check of the scanner against jansson: any object jansson
 * accepts must be accepted by the scanner too.  Known, intended differences
 * are left out: the scanner refuses "\u0000" in strings, raw NUL bytes
 * (which jansson lets through between tokens; RFC 8259 does not) and
 * nesting deeper than EXT_SCAN_DEPTH.
 */
static void differential(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct ext_scan_member m[4];
	struct ext_scan_pos at;
	const char **strs = NULL, *why;
	size_t n;
	bool have;
	char *copy;
	int ret;

	if (!j || !json_is_object(j) || memmem(data, size, "\\u0000", 6) ||
	    memchr(data, 0, size)) {
		json_decref(j);
		return;
	}
	copy = malloc(size + 1);
	if (copy) {
		memcpy(copy, data, size);
		ret = ext_scan_object(copy, size, "NodeNames", &strs, &n, &have, m, 4, &at, &why);
		/* jansson nests up to 2048 levels, the scanner EXT_SCAN_DEPTH */
		if (ret == -EINVAL && strcmp(why, "nesting too deep"))
			abort(); /* jansson accepted what the scanner refused */
	}
	free(strs);
	free(copy);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ext_args a;
	struct ext_buf b = { 0 };
	char err[256], *copy = malloc(size + 1);

	if (!copy)
		return 0;
	differential(data, size);
	memcpy(copy, data, size);	/* the decoder works in place */
	if (!ext_args_decode(&a, copy, size, err, sizeof(err))) {
		enum ext_fail_kind *kind = calloc(a.n_nodes + 1, sizeof(*kind));
		const char **reason = calloc(a.n_nodes + 1, sizeof(*reason));
		int *scores = calloc(a.n_nodes + 1, sizeof(*scores));

		Heteropod__Nodestate__NodeState **seed;
		long n = ext_args_seed(&a, &seed);

		ext_args_free_seed(seed, n);
		if (kind && reason && scores) {
			ext_reply_filter(&b, a.nodes, a.n_nodes, kind, reason,
					 a.by_name ? NULL : a.node_items, err);
			ext_buf_free(&b);
			ext_reply_priorities(&b, a.nodes, a.n_nodes, scores);
		}
		free(kind);
		free(reason);
		free(scores);
	} else {
		ext_reply_error(&b, err);
	}
	ext_buf_free(&b);
	ext_args_free(&a);
	free(copy);
	return 0;
}
