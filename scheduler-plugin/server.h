/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The extender's HTTP server (libmicrohttpd, epoll, a pool of worker threads,
 * HTTP/1.1 keep-alive):
 *
 *   POST <filterPath>      ExtenderArgs -> ExtenderFilterResult
 *   POST <prioritizePath>  ExtenderArgs -> HostPriorityList
 *   POST <statePath>       StatePush (protobuf) -> PushReply (protobuf)
 *   GET  /healthz          "ok"
 *   GET  /metrics          Prometheus text
 *
 * Errors: malformed request -> 400 {"Error":"request:LINE:COL: ..."}; body
 * over maxBodyBytes -> 413; unknown path -> 404; wrong method -> 405.
 */
#ifndef EXT_SERVER_H
#define EXT_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler-plugin/state.h"

struct ext_server;

struct ext_server_config {
	char *listen;		/* "ADDR:PORT", "[V6ADDR]:PORT"; port 0 = any */
	char *filter_path;
	char *prioritize_path;
	char *state_path;
	long max_body;		/* bytes */
	long threads;
	long template_bonus;	/* 0..10 points */
	int dpu_unknown;	/* 0: fail (default), 1: pass */
	char *tls_cert;		/* PEM file paths; both set = HTTPS */
	char *tls_key;
};

/* Monotonic clock in milliseconds, the time base of ext_state. */
int64_t ext_now_ms(void);

/*
 * Bind and start serving.  @cfg and @st are borrowed and must outlive the
 * server.  On error returns NULL with a message in @err.
 */
struct ext_server *ext_server_create(const struct ext_server_config *cfg,
				     struct ext_state *st, char *err, size_t errlen);
void ext_server_destroy(struct ext_server *srv);
/* The bound address as "ADDR:PORT" (the real port when 0 was asked). */
const char *ext_server_address(const struct ext_server *srv);

#endif
