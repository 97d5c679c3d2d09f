// SPDX-License-Identifier: GPL-2.0
/* Peer connection plumbing shared by both roles (protocol in peer.h). */
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "offloader/agent_int.h"

int agent_peer_send_hello(struct agent *a, int fd)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT;
	Heteropod__Peer__Hello h = HETEROPOD__PEER__HELLO__INIT;

	h.version_min = AGENT_PEER_VERSION_MIN;
	h.version_max = AGENT_PEER_VERSION_MAX;
	h.role = a->o->role == AGENT_ROLE_HOST ? HETEROPOD__PEER__ROLE__ROLE_HOST
					       : HETEROPOD__PEER__ROLE__ROLE_DPU;
	h.node = a->o->node;
	h.agent_version = (char *)"heteropod-agent 0.1";
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO;
	m.hello = &h;
	return agent_peer_send(fd, &m);
}

void agent_peer_close(struct agent *a)
{
	size_t i;

	if (a->peer_fd < 0)
		return;
	close(a->peer_fd);
	a->peer_fd = -1;
	a->peer_hello = false;
	a->rx.len = 0;
	agent_placement_connected(&a->place, false, agent_now_ms());
	for (i = 0; i < a->st.n; i++)
		a->st.pods[i].inflight = 0;	/* answers are lost with the link */
	a->dirty = true;
}
