// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: the peer protocol decoder (length prefix, protobuf, validation). */
#include <stddef.h>
#include <stdint.h>

#include "offloader/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agent_peer_msg *m;
	long used;

	/* Decode frame after frame, as a connection's receive buffer would. */
	while (size && (used = agent_peer_decode(data, size, &m)) > 0) {
		agent_peer_msg_free(m);
		data += used;
		size -= (size_t)used;
	}
	return 0;
}
