/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host <-> DPU peer protocol (messages in proto/peer.proto).
 *
 * Transport: one TCP connection over the interconnect; the dpu role
 * listens (--peer ADDR:PORT), the host role connects and reconnects.
 *
 * Framing: every message is a 4-byte big-endian length N (1 <= N <=
 * AGENT_PEER_MAX_FRAME) followed by N bytes of a serialised PeerMessage
 * with exactly one body set.  Anything else is a protocol error: the
 * receiver sends Error and closes.
 *
 * Conversation:
 *  1. Both sides send Hello{version_min, version_max, role, node} first.
 *     The version used is the highest one both ranges contain; if there is
 *     none, or the roles are not host+dpu, or the nodes differ, the side
 *     that notices sends Error and closes.
 *  2. The dpu then sends HalfList: the DPU halves that exist (read back from
 *     its kernel).  The host deletes those it does not want.
 *  3. Both sides send Heartbeat every heartbeat interval; the dpu's carries
 *     Capacity (free CPU in millicores, free memory, halves and the limit).
 *     The host counts the DPU down after `misses` intervals without a
 *     heartbeat, or when the connection closes (see placement.h).
 *  4. The host sends CreateHalf / DeleteHalf with a fresh req_id; the dpu
 *     answers each with Result{req_id, uid, errno_value, message}.  Both
 *     operations are idempotent (create of an existing half and delete of
 *     an absent one succeed), so a host that lost its connection simply
 *     repeats them.  CreateHalf's LinkParams name the per-pod link: a
 *     GENEVE/VXLAN tunnel between the interconnect addresses, or (kind
 *     "veth", both PUs namespaces of one kernel) a veth pair the dpu role
 *     makes between its half and cpu_netns, the CPU half as it can open it.
 *  5. PortMapUpdate carries a pod's whole port map at a generation, either
 *     way; a receiver ignores generations not newer than what it has.
 */
#ifndef AGENT_PEER_H
#define AGENT_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/peer.pb-c.h"

#define AGENT_PEER_VERSION_MIN 1
#define AGENT_PEER_VERSION_MAX 1
#define AGENT_PEER_MAX_FRAME (1u << 20)

typedef Heteropod__Peer__PeerMessage agent_peer_msg;

/* Receive buffer of one connection. */
struct agent_peer_rx {
	uint8_t *buf;
	size_t len, cap;
};

void agent_peer_rx_init(struct agent_peer_rx *rx);
void agent_peer_rx_uninit(struct agent_peer_rx *rx);
/* Read what @fd has (one read).  0, -ECONNRESET at EOF, or -errno. */
int agent_peer_rx_fill(struct agent_peer_rx *rx, int fd);
/*
 * Next complete message from the buffer: 1 with *@out (free with
 * agent_peer_msg_free), 0 when more bytes are needed, -EPROTO on a bad
 * frame or message (the connection must be closed).
 */
int agent_peer_rx_next(struct agent_peer_rx *rx, agent_peer_msg **out);

/*
 * Decode one frame from @buf: the length prefix and the message, validated
 * (one body set, required fields present).  Returns the bytes consumed
 * (> 0) with *@out, 0 if @buf holds less than a frame, -EPROTO.
 */
long agent_peer_decode(const uint8_t *buf, size_t len, agent_peer_msg **out);
void agent_peer_msg_free(agent_peer_msg *m);

/* Frame and send @m (blocking, MSG_NOSIGNAL).  0 or -errno. */
int agent_peer_send(int fd, const agent_peer_msg *m);

/*
 * Version both Hello ranges contain (highest), or -EPROTO.  Pure, so the
 * negotiation rule is tested on its own.
 */
int agent_peer_negotiate(uint32_t my_min, uint32_t my_max, uint32_t their_min,
			 uint32_t their_max);

/* "ADDR:PORT" or "[V6]:PORT" -> connected (host) or listening (dpu) socket. */
int agent_peer_connect(const char *addr_port, int timeout_ms);
int agent_peer_listen(const char *addr_port);

#endif
