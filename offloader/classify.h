/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a pod is (ztunnel, waypoint, ambient app, chain member) and how much
 * of its infrastructure goes to the DPU, from Istio's real labels and
 * heteropod's annotations.  Pure functions over API objects (JSON).
 *
 * Offload mode: annotation heteropod.io/offload = all | waypoint | none on
 * the namespace, overridable per pod.  A value outside these is reported in
 * the verdict (bad_on, bad_value) so that the caller records an Event on
 * that object; the mode then falls back to none.
 */
#ifndef AGENT_CLASSIFY_H
#define AGENT_CLASSIFY_H

#include <stdbool.h>
#include <jansson.h>

#define AGENT_ANN_OFFLOAD  "heteropod.io/offload"
#define AGENT_ANN_NETNS    "heteropod.io/netns"
#define AGENT_LABEL_CHAIN  "heteropod.io/chain"
#define AGENT_LABEL_TEMPLATE "heteropod.io/template"
#define AGENT_LABEL_DPU_STATE "heteropod.io/dpu-state"

enum agent_class {
	AGENT_CLASS_NONE,
	AGENT_CLASS_ZTUNNEL,
	AGENT_CLASS_WAYPOINT,
	AGENT_CLASS_APP,
	AGENT_CLASS_CHAIN,
};

enum agent_mode {
	AGENT_MODE_NONE,
	AGENT_MODE_WAYPOINT,
	AGENT_MODE_ALL,
};

enum agent_mode_src {
	AGENT_SRC_DEFAULT,
	AGENT_SRC_NAMESPACE,
	AGENT_SRC_POD,
};

enum agent_bad_on {
	AGENT_BAD_NONE,
	AGENT_BAD_NAMESPACE,
	AGENT_BAD_POD,
};

struct agent_verdict {
	enum agent_class cls;
	enum agent_mode mode;
	enum agent_mode_src mode_src;
	bool ambient;		/* istio.io/dataplane-mode=ambient applies */
	const char *chain;	/* label (or annotation) heteropod.io/chain,
				 * borrowed from the pod, or NULL */
	enum agent_bad_on bad_on;
	const char *bad_value;	/* borrowed, when bad_on != NONE */
};

extern const char *const agent_class_names[];	/* indexed by enum agent_class */
extern const char *const agent_mode_names[];	/* NULL-terminated */
extern const char *const agent_mode_src_names[];

/*
 * Classify @pod given its namespace object @ns (NULL if unknown).
 * @istio_ns is the namespace ztunnel runs in (config; "istio-system").
 */
void agent_classify(const json_t *pod, const json_t *ns, const char *istio_ns,
		    struct agent_verdict *v);

/* Parse a mode name; -EINVAL for anything but all, waypoint, none. */
int agent_mode_parse(const char *s, enum agent_mode *mode);

/*
 * Does the verdict put this pod's proxy on the DPU?  ztunnel and ambient
 * apps (served by ztunnel) in mode all; waypoints in all and waypoint;
 * chain members (the functions themselves, placed per chain: faas/chain.h)
 * in mode all.
 */
bool agent_wants_dpu(const struct agent_verdict *v);

#endif
