/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's actual/decided state per pod and the DPU's health, kept in
 * memory by the reconcile loop and checkpointed as JSON in --state-dir
 * (state.json, replaced atomically: write a temporary file, fsync, rename,
 * fsync the directory).  A crash at any point leaves either the previous or
 * the new checkpoint, never a torn one.  `heteropod-agent status` reads it.
 */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "offloader/classify.h"

#define AGENT_STATE_FILE "state.json"
#define AGENT_STATE_VERSION 1
/* Longest hsock allowlist text of one pod (a chain member's links). */
#define AGENT_LINKS_MAX 8192

enum agent_split {
	AGENT_SPLIT_NONE,	/* not wanted: the pod stays whole on the CPU */
	AGENT_SPLIT_PENDING,	/* wanted, not (yet) done; reason says why */
	AGENT_SPLIT_SPLIT,
	AGENT_SPLIT_ERROR,
};

enum agent_place {
	AGENT_PLACE_CPU,
	AGENT_PLACE_DPU,
};

extern const char *const agent_split_names[];
extern const char *const agent_place_names[];

struct agent_pod_rec {
	char uid[128];
	char ns[128];
	char name[256];
	char sa[128];		/* service account (ZDS WorkloadInfo) */
	enum agent_class cls;
	enum agent_mode mode;
	enum agent_mode_src mode_src;
	enum agent_place place;
	enum agent_split split;
	char reason[256];
	bool relayed;		/* handed over with its netns (ZDS, or local netns) */
	bool half;		/* the DPU half exists (confirmed by the dpu role) */
	char netns[256];	/* local mode: heteropod.io/netns */
	int netns_fd;		/* CPU half fd; -1; never persisted */
	bool mark;		/* reconcile sweep */
	unsigned zds_epoch;	/* host: ZDS snapshot that last named the pod */
	uint64_t inflight;	/* req_id of a peer request awaiting Result, 0 */
	bool inflight_create;	/* that request is a CreateHalf */
	bool half_rules;	/* host: the DPU half was configured with rules */
	bool inflight_rules;	/* the CreateHalf in flight carries rules */
	char ips[96];		/* pod IPs "IPv4[,IPv6]" (status.podIPs) */
	bool allowed;		/* its hsock allowlist is written (allow.h) */
	char *links;		/* the lines of that allowlist (malloc'd), NULL none */
	char chain[64];		/* FaaS chain it belongs to, "" none */
	uint16_t ports[8];	/* TCP containerPorts (chain links) */
	unsigned n_ports;
	/* port map, never persisted (re-sent after a restart or reconnect) */
	uint64_t ports_sig;	/* hash of the listening set last sent, 0 none */
	uint64_t ports_gen_tx, ports_gen_rx;
	uint32_t added[32];	/* host: (proto << 16 | port) it added itself */
	unsigned n_added;
};

struct agent_dpu_state {
	bool connected;
	bool healthy;
	uint32_t cpu_free_millis;
	uint64_t mem_free_bytes;
	uint32_t halves, max_halves;
	int64_t last_heartbeat_ms;	/* wall clock, 0 if never */
	uint64_t failovers;
};

struct agent_state {
	char role[8];
	char node[256];
	uint64_t generation;
	struct agent_pod_rec *pods;
	size_t n, cap;
	struct agent_dpu_state dpu;
	char last_error[512];
	char extender[240];	/* state push: last outcome (status only) */
};

void agent_state_init(struct agent_state *st, const char *role, const char *node);
void agent_state_uninit(struct agent_state *st);
struct agent_pod_rec *agent_state_find(struct agent_state *st, const char *uid);
/* Find or add (zeroed, netns_fd = -1).  NULL on ENOMEM. */
struct agent_pod_rec *agent_state_get(struct agent_state *st, const char *uid);
void agent_state_remove(struct agent_state *st, struct agent_pod_rec *p);
/* p->links := a copy of @lines (NULL or "" for none).  0 or -ENOMEM. */
int agent_pod_set_links(struct agent_pod_rec *p, const char *lines);

json_t *agent_state_to_json(const struct agent_state *st);
/* Replace @st's pods and DPU state by the checkpoint's.  0 or -EINVAL. */
int agent_state_from_json(struct agent_state *st, const json_t *doc);

int agent_checkpoint_write(const char *dir, const json_t *doc, char *err,
			   size_t errlen);
/* NULL with -ENOENT in *ret when there is no checkpoint yet. */
json_t *agent_checkpoint_read(const char *dir, int *ret, char *err,
			      size_t errlen);

/* Human table (one row per pod, then the DPU) or pretty JSON. */
void agent_status_print(FILE *out, const json_t *doc, bool as_json);

#endif
