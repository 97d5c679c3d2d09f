/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Istio's ZDS protocol (proto/zds.proto), both ends.
 *
 * Wire: unix SOCK_SEQPACKET, one protobuf message per packet.
 *   client -> server  ZdsHello{version: V1}
 *   server -> client  WorkloadRequest: a snapshot of AddWorkload (each with
 *                     the netns fd as SCM_RIGHTS) or KeepWorkload, then
 *                     SnapshotSent; afterwards AddWorkload / DelWorkload
 *   client -> server  WorkloadResponse{ack} for every request, in order;
 *                     a non-empty Ack.error reports a failure.
 * The server sends the next request only after the previous ack.
 *
 * Host role: the agent is a *client* of istio-cni (agent_zds_client_*),
 * exactly as ztunnel is; it learns enrolled pods and their netns fds there.
 * DPU role: the agent is the *server* (agent_zds_server_*) for an unmodified
 * ztunnel and hands it the DPU halves.
 */
#ifndef AGENT_ZDS_H
#define AGENT_ZDS_H

#include <stddef.h>

enum agent_zds_type {
	AGENT_ZDS_ADD,
	AGENT_ZDS_KEEP,
	AGENT_ZDS_DEL,
	AGENT_ZDS_SNAPSHOT_SENT,
};

struct agent_zds_msg {
	enum agent_zds_type type;
	char uid[128];
	char name[256];
	char ns[128];
	char service_account[256];
	int netns_fd;		/* ADD: owned by the receiver; else -1 */
};

/* ---- client (host role) ---- */

/* Connect to @path and send ZdsHello.  Returns the fd or -errno. */
int agent_zds_client_connect(const char *path);
/*
 * Read one request.  Returns 0, -ECONNRESET at EOF, -EPROTO for a packet
 * that is not a WorkloadRequest (or an ADD without exactly one fd).
 */
int agent_zds_client_read(int fd, struct agent_zds_msg *m);
/* Ack the last request; @error NULL or "" for success. */
int agent_zds_client_ack(int fd, const char *error);

/* ---- server (dpu role) ---- */

struct agent_zds_server;

/* Listen on @path (replacing a stale socket file).  -errno on failure. */
int agent_zds_server_create(const char *path, struct agent_zds_server **out);
void agent_zds_server_destroy(struct agent_zds_server *s);
int agent_zds_server_listen_fd(const struct agent_zds_server *s);
/* The connected ztunnel's fd, or -1. */
int agent_zds_server_conn_fd(const struct agent_zds_server *s);

/*
 * The listening fd is readable: accept the client (replacing a previous
 * one), read its ZdsHello and send the snapshot of @ws (ADD with each fd),
 * then SnapshotSent, waiting for each ack.  Returns 0 or -errno (the client
 * is dropped).  A client ack with an error is counted, not fatal.
 */
int agent_zds_server_accept(struct agent_zds_server *s,
			    const struct agent_zds_msg *ws, size_t n);
/* Send one ADD or DEL to the connected client (no client: 0). */
int agent_zds_server_send(struct agent_zds_server *s,
			  const struct agent_zds_msg *m);
/* The client's fd is readable outside a request: it went away. */
void agent_zds_server_drop(struct agent_zds_server *s);
/* Acks that carried an error so far. */
unsigned long agent_zds_server_nacks(const struct agent_zds_server *s);

#endif
