/* SPDX-License-Identifier: GPL-2.0 */
/*
 * FaaS chains: function pods that call each other, grouped by chain name.
 * A pod is a member of chain NAME when it carries heteropod.io/chain=NAME
 * as a label (`kubectl label pod`, or a label of a Knative Service's
 * spec.template, which Knative copies onto the Revision's pods) or, failing
 * that, as an annotation (a Knative Service's spec.template annotation,
 * copied the same way).  This library knows nothing of Kubernetes: the
 * agent hands it the members it found in one reconcile pass.
 *
 * Placement: a chain is placed as a unit, so that its links stay on one
 * processing unit where hsock can carry them over shared memory: on the
 * DPU when every member's offload mode allows it, the DPU is healthy and
 * it can take all the members at once; otherwise every member runs on the
 * CPU (a DPU that is lost or fills up takes its chains back to the CPU).
 *
 * Links: member <-> member within a chain, both directions: for members A
 * and B, B's ports from A's IP and A's ports from B's IP, one line per
 * address family both have.  A member that declares no ports is reached
 * on any port.  Lines use hsock's allowlist format (hsock/allow.h).
 *
 * Not thread-safe; one struct per caller.  Functions return 0 or -errno.
 */
#ifndef FAAS_CHAIN_H
#define FAAS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAAS_LABEL_CHAIN "heteropod.io/chain"
#define FAAS_MAX_PORTS 8

struct faas_chains;

/* One member as the caller sees it; strings are copied. */
struct faas_member {
	const char *chain;		/* chain name (faas_chain_name_valid) */
	const char *uid;		/* unique per member */
	const char *ips;		/* "IPv4[,IPv6]", "" while it has none */
	const uint16_t *ports;		/* TCP ports it serves, at most FAAS_MAX_PORTS */
	size_t n_ports;
	bool wants_dpu;			/* its offload mode lets it go to the DPU */
};

enum faas_place {
	FAAS_PLACE_CPU,
	FAAS_PLACE_DPU,
};

/* Why a chain is where it is. */
enum faas_why {
	FAAS_WHY_OFFLOADED,		/* on the DPU */
	FAAS_WHY_MODE,			/* a member's offload mode keeps it on the CPU */
	FAAS_WHY_DPU_DOWN,		/* the DPU is not healthy: CPU fallback */
	FAAS_WHY_DPU_FULL,		/* the DPU cannot take the whole chain */
};

extern const char *const faas_why_text[];	/* indexed by enum faas_why */

/* A Kubernetes label value: 1-63 of [A-Za-z0-9._-], alphanumeric ends. */
bool faas_chain_name_valid(const char *name);

int faas_chains_create(struct faas_chains **out);
void faas_chains_destroy(struct faas_chains *c);
/* Forget every member (the start of a pass). */
void faas_chains_reset(struct faas_chains *c);
/* -EINVAL: bad chain name, too many ports, empty or repeated uid. */
int faas_chains_add(struct faas_chains *c, const struct faas_member *m);

/*
 * Place every chain.  @fits(@arg, n) answers whether the DPU can take n
 * more members now; it is asked once per chain that wants the DPU, chains
 * in name order, and a chain it accepts is counted by the caller.  Must
 * run after the last add and before the queries below.
 */
int faas_chains_place(struct faas_chains *c, bool dpu_healthy,
		      bool (*fits)(void *arg, size_t n), void *arg);

size_t faas_chains_count(const struct faas_chains *c);

/* The placement of member @uid's chain; -ENOENT for a non-member. */
int faas_member_place(const struct faas_chains *c, const char *uid,
		      enum faas_place *place, enum faas_why *why,
		      size_t *n_members);
/*
 * Append the allowlist lines of @uid's links to the string @buf (of size
 * @n).  The number of lines, -ENOENT for a non-member, -ENOSPC when they
 * do not fit (@buf is then left as it was).
 */
int faas_member_links(const struct faas_chains *c, const char *uid, char *buf,
		      size_t n);

#endif
