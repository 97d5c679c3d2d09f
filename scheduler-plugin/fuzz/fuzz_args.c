// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness of the request decoder: any bytes as an ExtenderArgs
 * body, then the seed messages and both replies built from what was
 * decoded (as the server does).
 *   make fuzz && build/fuzz/scheduler-plugin/fuzz_args -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/args.h"
#include "scheduler-plugin/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ext_args a;
	struct ext_buf b = { 0 };
	char err[256], *copy = malloc(size + 1);

	if (!copy)
		return 0;
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
