// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include "lib/json.h"
#include "offloader/classify.h"

const char *const agent_class_names[] = {
	"none", "ztunnel", "waypoint", "app", "chain", NULL,
};
const char *const agent_mode_names[] = { "none", "waypoint", "all", NULL };
const char *const agent_mode_src_names[] = { "default", "namespace", "pod", NULL };

int agent_mode_parse(const char *s, enum agent_mode *mode)
{
	int i;

	for (i = 0; agent_mode_names[i]; i++) {
		if (!strcmp(s, agent_mode_names[i])) {
			*mode = (enum agent_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *label(const json_t *obj, const char *key)
{
	return hp_json_str(obj, "metadata", "labels", key, NULL);
}

static const char *annotation(const json_t *obj, const char *key)
{
	return hp_json_str(obj, "metadata", "annotations", key, NULL);
}

static enum agent_class pod_class(const json_t *pod, const char *istio_ns)
{
	const char *ns = hp_json_str(pod, "metadata", "namespace", NULL);
	const char *app = label(pod, "app");
	const char *managed = label(pod, "gateway.istio.io/managed");

	if (app && !strcmp(app, "ztunnel") && ns && !strcmp(ns, istio_ns))
		return AGENT_CLASS_ZTUNNEL;
	if (managed && !strcmp(managed, "istio.io-mesh-controller") &&
	    label(pod, "gateway.networking.k8s.io/gateway-name"))
		return AGENT_CLASS_WAYPOINT;
	if (label(pod, AGENT_LABEL_CHAIN) || annotation(pod, AGENT_LABEL_CHAIN))
		return AGENT_CLASS_CHAIN;
	return AGENT_CLASS_NONE;
}

/*
 * Ambient enrolment as istio-cni decides it: the pod's label wins ("none"
 * opts out), else the namespace's.
 */
static bool is_ambient(const json_t *pod, const json_t *ns)
{
	const char *p = label(pod, "istio.io/dataplane-mode");
	const char *n = ns ? label(ns, "istio.io/dataplane-mode") : NULL;

	if (p)
		return !strcmp(p, "ambient");
	return n && !strcmp(n, "ambient");
}

/* Namespace value first, then the pod's override; a bad value is none. */
static void offload_mode(const json_t *pod, const json_t *ns,
			 struct agent_verdict *v)
{
	const char *nv = ns ? annotation(ns, AGENT_ANN_OFFLOAD) : NULL;
	const char *pv = annotation(pod, AGENT_ANN_OFFLOAD);

	v->mode = AGENT_MODE_NONE;
	v->mode_src = AGENT_SRC_DEFAULT;
	if (nv) {
		v->mode_src = AGENT_SRC_NAMESPACE;
		if (agent_mode_parse(nv, &v->mode)) {
			v->bad_on = AGENT_BAD_NAMESPACE;
			v->bad_value = nv;
		}
	}
	if (pv) {
		v->mode_src = AGENT_SRC_POD;
		v->mode = AGENT_MODE_NONE;
		if (agent_mode_parse(pv, &v->mode)) {
			v->bad_on = AGENT_BAD_POD;
			v->bad_value = pv;
		}
	}
}

void agent_classify(const json_t *pod, const json_t *ns, const char *istio_ns,
		    struct agent_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->cls = pod_class(pod, istio_ns);
	v->ambient = is_ambient(pod, ns);
	/* the label, or the annotation as a Knative Service's template
	 * annotations reach its pods */
	v->chain = label(pod, AGENT_LABEL_CHAIN) ?: annotation(pod, AGENT_LABEL_CHAIN);
	if (v->cls == AGENT_CLASS_NONE && v->ambient)
		v->cls = AGENT_CLASS_APP;
	offload_mode(pod, ns, v);
}

bool agent_wants_dpu(const struct agent_verdict *v)
{
	switch (v->cls) {
	case AGENT_CLASS_ZTUNNEL:
	case AGENT_CLASS_APP:
	case AGENT_CLASS_CHAIN:
		return v->mode == AGENT_MODE_ALL;
	case AGENT_CLASS_WAYPOINT:
		return v->mode != AGENT_MODE_NONE;
	default:
		return false;
	}
}
