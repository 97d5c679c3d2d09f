/* SPDX-License-Identifier: GPL-2.0 */
/*
 * heteropod-agent: options (command line and YAML config) and the daemon's
 * entry point.  See README.md for the operator's view.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>

#include "lib/config.h"

enum agent_role {
	AGENT_ROLE_HOST,
	AGENT_ROLE_DPU,
};

struct agent_opts {
	int role;		/* enum agent_role */
	char *node;
	char *kubeconfig;
	bool in_cluster;
	char *local_dir;
	char *state_dir;
	char *listen;		/* ADDR:PORT for /healthz /readyz /metrics */
	char *peer;		/* ADDR:PORT: dpu listens, host connects */
	char *cni_zds;		/* host: istio-cni's ZDS socket */
	char *zds_socket;	/* dpu: where ztunnel connects */
	/* config file only */
	char *istio_namespace;
	char *sa_dir;
	char *half_prefix;	/* dpu: name prefix of DPU half namespaces */
	char *log_level;
	long heartbeat_ms;
	long heartbeat_misses;
	long min_cpu_millis;
	long min_mem_mib;
	long max_halves;
	long watch_timeout_s;
	long page_limit;
	long backoff_min_ms;
	long backoff_max_ms;
	long ack_timeout_ms;
	char *agent_namespace;	/* where the heteropod-leader Lease lives */
	long waypoint_ms;	/* period of the waypoint placement pass */
	char *extender;		/* URL of heteropod-extender's state endpoint */
	char *extender_node;	/* node name reported (default: see README) */
	long extender_ms;	/* keepalive period */
	char *allow_dir;	/* hsock allowlists (allow.h) */
	char *link_kind;	/* per-pod link: geneve | vxlan | veth */
	long link_dstport;	/* 0: the kind's IANA port */
};

extern const struct hp_cfg_field agent_cfg_fields[];
extern const char *const agent_role_names[];

/* Defaults for every option. */
void agent_opts_defaults(struct agent_opts *o);

/*
 * Run until SIGTERM/SIGINT.  Returns 0 on a clean stop, or -errno when
 * start-up failed (with a message in @err).
 */
int agent_run(const struct agent_opts *o, char *err, size_t errlen);

#endif
