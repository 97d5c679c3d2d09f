/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Encoding of extender v1 replies, byte-compatible with Go's encoding/json
 * of the upstream types (field order and spelling of the Go structs, Go's
 * string escaping including \u003c \u003e \u0026 \u2028 \u2029):
 *
 *   ExtenderFilterResult: {"Nodes":..,"NodeNames":..,"FailedNodes":{..},
 *                          "FailedAndUnresolvableNodes":{..},"Error":".."}
 *   HostPriorityList:     [{"Host":"..","Score":N},...]
 */
#ifndef EXT_REPLY_H
#define EXT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* A growable output buffer; on ENOMEM it sets .failed and stops growing. */
struct ext_buf {
	char *data;
	size_t len, cap;
	bool failed;
};

void ext_buf_put(struct ext_buf *b, const char *s, size_t len);
void ext_buf_puts(struct ext_buf *b, const char *s);
/* @s as a JSON string literal, escaped as Go does. */
void ext_buf_json_str(struct ext_buf *b, const char *s);
void ext_buf_free(struct ext_buf *b);

enum ext_fail_kind {
	EXT_PASS,
	EXT_FAIL,		/* -> FailedNodes */
	EXT_FAIL_UNRESOLVABLE,	/* -> FailedAndUnresolvableNodes */
};

/*
 * Filter reply.  @nodes/@n: the request's node names; @kind[i] and
 * @reason[i] say whether node i passes.  With @items (the request's
 * Nodes.items, i.e. nodeCacheCapable false) the surviving nodes are sent
 * back as full objects in "Nodes" and "NodeNames" is null; otherwise
 * "NodeNames" lists them and "Nodes" is null.
 */
void ext_reply_filter(struct ext_buf *b, const char *const *nodes, size_t n,
		      const enum ext_fail_kind *kind, const char *const *reason,
		      json_t *items, const char *error);
void ext_reply_priorities(struct ext_buf *b, const char *const *nodes, size_t n,
			  const int *scores);
/* {"Error":"..."} — what the extender answers with 4xx/5xx statuses. */
void ext_reply_error(struct ext_buf *b, const char *error);

#endif
