// SPDX-License-Identifier: GPL-2.0
/*
 * Waypoint placement (host role, cluster mode), done by one agent at a
 * time: the holder of the Lease "heteropod-leader" (coordination.k8s.io/v1)
 * in the agent's namespace.
 *
 * For namespaces in offload mode all or waypoint, each Gateway of class
 * istio-waypoint is pointed (spec.infrastructure.parametersRef) at a
 * ConfigMap "heteropod-waypoint-<gateway>" in its namespace whose data key
 * "deployment" is a strategic-merge patch: a toleration of the DPU taint
 * and a *preferred* affinity to DPU nodes, so the scheduler can still fall
 * back to hosts.  Istio renders the waypoint Deployment with it; the
 * Deployment itself is never edited.  A Gateway that references another
 * ConfigMap is left alone with an Event saying so.  In mode none the
 * reference and the ConfigMap are removed again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/json.h"
#include "lib/log.h"
#include "offloader/agent_int.h"

#define LEASE_NAME "heteropod-leader"
#define LEASE_SECONDS 15
#define CM_PREFIX "heteropod-waypoint-"
#define GW_API "/apis/gateway.networking.k8s.io/v1"
#define DPU_TAINT "heteropod.io/dpu"
#define DPU_NODE_LABEL "heteropod.io/pu"

/* The strategic-merge patch Istio applies to the waypoint Deployment. */
static const char deployment_patch[] =
	"spec:\n"
	"  template:\n"
	"    spec:\n"
	"      tolerations:\n"
	"      - {key: " DPU_TAINT ", operator: Exists, effect: NoSchedule}\n"
	"      affinity:\n"
	"        nodeAffinity:\n"
	"          preferredDuringSchedulingIgnoredDuringExecution:\n"
	"          - weight: 100\n"
	"            preference:\n"
	"              matchExpressions:\n"
	"              - {key: " DPU_NODE_LABEL ", operator: In, values: [dpu]}\n";

static void micro_time(char *buf, size_t n, time_t t)
{
	strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&t));
}

static time_t parse_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return timegm(&tm);
}

/* ---- Lease ---- */

static json_t *lease_body(struct agent *a, const json_t *old, time_t now)
{
	char ts[40];
	json_t *l = old ? json_deep_copy(old) : json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}",
		"apiVersion", "coordination.k8s.io/v1", "kind", "Lease", "metadata",
		"name", LEASE_NAME, "namespace", a->o->agent_namespace, "spec");
	json_t *spec = json_object_get(l, "spec");
	const char *holder = hp_json_str(spec, "holderIdentity", NULL);

	micro_time(ts, sizeof(ts), now);
	if (!holder || strcmp(holder, a->o->node)) {
		json_object_set_new(spec, "holderIdentity", json_string(a->o->node));
		json_object_set_new(spec, "acquireTime", json_string(ts));
	}
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(LEASE_SECONDS));
	json_object_set_new(spec, "renewTime", json_string(ts));
	return l;
}

/*
 * Create, renew, or take over an expired Lease.  An update carries the
 * resourceVersion it read, so two agents racing for it cannot both win
 * (the loser gets 409).
 */
bool agent_leader(struct agent *a)
{
	char coll[400], item[512];
	json_t *cur = NULL, *body, *ans = NULL;
	time_t now = time(NULL), renew;
	const char *holder;
	json_int_t dur = LEASE_SECONDS;
	long code;

	snprintf(coll, sizeof(coll), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
		 a->o->agent_namespace);
	snprintf(item, sizeof(item), "%s/%s", coll, LEASE_NAME);
	code = agent_kube_request(a->kube, "GET", item, NULL, &cur);
	holder = hp_json_str(cur, "spec", "holderIdentity", NULL);
	renew = parse_time(hp_json_str(cur, "spec", "renewTime", NULL));
	hp_json_int(&dur, cur, "spec", "leaseDurationSeconds", NULL);
	if (code == 404) {
		body = lease_body(a, NULL, now);
		code = agent_kube_request(a->kube, "POST", coll, body, &ans);
		code = code == 201 ? 200 : code;
	} else if (code != 200 || (holder && strcmp(holder, a->o->node) && renew + dur > now)) {
		json_decref(cur);
		return false;	/* held by a live agent (or unreachable) */
	} else {
		body = lease_body(a, cur, now);
		code = agent_kube_request(a->kube, "PUT", item, body, &ans);
	}
	json_decref(body);
	json_decref(ans);
	json_decref(cur);
	return code == 200;
}

/* ---- waypoints ---- */

static int ensure_configmap(struct agent *a, const char *ns, const char *name)
{
	char path[768];
	json_t *cur = NULL, *ans = NULL, *body;
	const char *have;
	long code;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", ns, name);
	code = agent_kube_request(a->kube, "GET", path, NULL, &cur);
	have = hp_json_str(cur, "data", "deployment", NULL);
	if (code == 200 && have && !strcmp(have, deployment_patch)) {
		json_decref(cur);
		return 0;
	}
	body = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1",
			 "kind", "ConfigMap", "metadata", "name", name, "namespace", ns,
			 "labels", "app.kubernetes.io/managed-by", "heteropod",
			 "data", "deployment", deployment_patch);
	if (code == 200) {
		code = agent_kube_request(a->kube, "PATCH", path, body, &ans);
	} else {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
		code = agent_kube_request(a->kube, "POST", path, body, &ans);
	}
	json_decref(cur);
	json_decref(body);
	json_decref(ans);
	return code == 200 || code == 201 ? 0 : -EIO;
}

static int set_ref(struct agent *a, const char *ns, const char *gw, const char *cm)
{
	char path[768];
	json_t *patch, *ans = NULL;
	long code;

	snprintf(path, sizeof(path), GW_API "/namespaces/%s/gateways/%s", ns, gw);
	patch = json_pack("{s:{s:{s:o}}}", "spec", "infrastructure", "parametersRef",
			  cm ? json_pack("{s:s, s:s, s:s}", "group", "", "kind", "ConfigMap",
					 "name", cm) : json_null());
	code = agent_kube_request(a->kube, "PATCH", path, patch, &ans);
	json_decref(patch);
	json_decref(ans);
	return code == 200 ? 0 : -EIO;
}

static void drop_configmap(struct agent *a, const char *ns, const char *name)
{
	char path[768];
	json_t *ans = NULL;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", ns, name);
	agent_kube_request(a->kube, "DELETE", path, NULL, &ans);
	json_decref(ans);
}

static void one_gateway(struct agent *a, const char *ns, json_t *gw, bool offload)
{
	const char *name = hp_json_str(gw, "metadata", "name", NULL);
	const char *cls = hp_json_str(gw, "spec", "gatewayClassName", NULL);
	json_t *ref = hp_json_get(gw, "spec", "infrastructure", "parametersRef", NULL);
	const char *rkind = hp_json_str(ref, "kind", NULL), *rname = hp_json_str(ref, "name", NULL);
	char cm[300], msg[512];
	bool ours;

	if (!name || !cls || strcmp(cls, "istio-waypoint"))
		return;
	snprintf(cm, sizeof(cm), CM_PREFIX "%s", name);
	ours = rkind && rname && !strcmp(rkind, "ConfigMap") && !strcmp(rname, cm);
	if (ref && !ours) {
		snprintf(msg, sizeof(msg), "Gateway already references %s %s; heteropod "
			 "leaves its placement alone", rkind ? rkind : "?", rname ? rname : "?");
		agent_event(a->events, "Gateway", gw, "Normal", "WaypointLeftAlone", msg);
		return;
	}
	if (offload && (ensure_configmap(a, ns, cm) || (!ours && set_ref(a, ns, name, cm))))
		agent_set_error(a, "waypoint %s/%s: API write failed", ns, name);
	if (!offload && ours && !set_ref(a, ns, name, NULL))
		drop_configmap(a, ns, cm);
	if (offload && !ours)
		hp_info("waypoint-placed", "gateway=%s/%s configmap=%s", ns, name, cm);
}

static void namespace_gateways(struct agent *a, const char *ns, bool offload)
{
	char path[512];
	json_t *list = NULL, *gw;
	size_t i;

	snprintf(path, sizeof(path), GW_API "/namespaces/%s/gateways", ns);
	if (agent_kube_request(a->kube, "GET", path, NULL, &list) == 200)
		json_array_foreach(json_object_get(list, "items"), i, gw)
			one_gateway(a, ns, gw, offload);
	json_decref(list);
}

void agent_waypoints(struct agent *a)
{
	json_t *nss = agent_store_snapshot(a->store, AGENT_KIND_NAMESPACE), *ns;
	enum agent_mode mode;
	const char *name, *v;
	bool was = a->leader;

	a->leader = agent_leader(a);
	if (a->leader != was)
		hp_info("leader", "lease=%s/%s holder=%s", a->o->agent_namespace, LEASE_NAME,
			a->leader ? "self" : "other");
	json_object_foreach(nss, name, ns) {
		if (!a->leader)
			break;
		v = hp_json_str(ns, "metadata", "annotations", AGENT_ANN_OFFLOAD, NULL);
		if (!v || agent_mode_parse(v, &mode))
			continue;	/* never offloaded, or reported elsewhere */
		namespace_gateways(a, name, mode != AGENT_MODE_NONE);
	}
	json_decref(nss);
}
