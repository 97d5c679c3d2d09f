// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness of the state-push path: any bytes as a StatePush body,
 * applied to a state that persists across inputs (so deltas meet earlier
 * snapshots), then a sweep and a prioritize over what is there.
 */
#include <stdint.h>
#include <stdlib.h>

#include "scheduler-plugin/state.h"

static struct ext_state *st;
static int64_t now;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Heteropod__Nodestate__PushReply reply = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	Heteropod__Nodestate__StatePush *msg;
	const char *images[] = { "a", "b:1" }, *nodes[] = { "a", "b", "" };
	struct ext_pod_images pod = { images, 2, "a" };
	int scores[3];
	char err[256];

	if (!st)
		st = ext_state_create(50);
	msg = heteropod__nodestate__state_push__unpack(NULL, size, data);
	if (msg) {
		ext_state_apply(st, msg, now, &reply, err, sizeof(err));
		heteropod__nodestate__state_push__free_unpacked(msg, NULL);
	}
	now += 10;
	ext_state_sweep(st, now);
	ext_state_prioritize(st, &pod, nodes, 3, 5, scores);
	return 0;
}
