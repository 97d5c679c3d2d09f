// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/json.h"
#include "lib/log.h"
#include "offloader/events.h"

#define RETRY_S 10	/* a failed POST is retried this much later */

struct agent_events {
	struct agent_kube *kube;
	char *node;
	json_t *seen;		/* "kind/ns/name|reason|message" -> true */
	unsigned long count;
};

struct agent_events *agent_events_create(struct agent_kube *kube, const char *node)
{
	struct agent_events *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kube = kube;
	e->node = strdup(node);
	e->seen = json_object();
	if (!e->node) {
		agent_events_destroy(e);
		return NULL;
	}
	return e;
}

void agent_events_destroy(struct agent_events *e)
{
	if (!e)
		return;
	json_decref(e->seen);
	free(e->node);
	free(e);
}

unsigned long agent_events_count(const struct agent_events *e)
{
	return e->count;
}

static json_t *event_body(struct agent_events *e, const char *kind,
			  const json_t *obj, const char *type, const char *reason,
			  const char *message, const char *ns)
{
	const char *name = hp_json_str(obj, "metadata", "name", NULL);
	const char *uid = hp_json_str(obj, "metadata", "uid", NULL) ?: "";
	const char *ons = hp_json_str(obj, "metadata", "namespace", NULL);
	char ts[32], gen[300];
	time_t now = time(NULL);
	json_t *inv;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(gen, sizeof(gen), "%s.", name);
	inv = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion",
			hp_json_str(obj, "apiVersion", NULL) ?: "v1", "kind", kind,
			"name", name, "uid", uid);
	if (ons)
		json_object_set_new(inv, "namespace", json_string(ons));
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s},"
			 " s:s, s:s, s:i, s:s, s:s}",
			 "apiVersion", "v1", "kind", "Event",
			 "metadata", "generateName", gen, "namespace", ns,
			 "involvedObject", inv, "reason", reason, "message", message,
			 "type", type, "source", "component", "heteropod-agent",
			 "host", e->node, "firstTimestamp", ts, "lastTimestamp", ts,
			 "count", 1, "reportingComponent", "heteropod-agent",
			 "reportingInstance", e->node);
}

static int post(struct agent_events *e, const char *kind, const json_t *obj,
		const char *type, const char *reason, const char *message)
{
	const char *ons = hp_json_str(obj, "metadata", "namespace", NULL);
	const char *ns = ons ? ons : "default";
	json_t *body = event_body(e, kind, obj, type, reason, message, ns), *ans = NULL;
	char path[512];
	long code;

	if (!body)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	code = agent_kube_request(e->kube, "POST", path, body, &ans);
	json_decref(body);
	json_decref(ans);
	if (code < 0)
		return (int)code;
	return code == 201 || code == 200 ? 0 : -EPROTO;
}

int agent_event(struct agent_events *e, const char *kind, const json_t *obj,
		const char *type, const char *reason, const char *message)
{
	const char *name = hp_json_str(obj, "metadata", "name", NULL) ?: "?";
	const char *ns = hp_json_str(obj, "metadata", "namespace", NULL) ?: "";
	char key[1024], q[512];
	int ret = 0;

	json_t *seen;
	time_t now = time(NULL);

	snprintf(key, sizeof(key), "%s/%s/%s|%s|%s", kind, ns, name, reason, message);
	seen = json_object_get(e->seen, key);
	/* true: recorded; an integer: when posting last failed */
	if (json_is_true(seen) ||
	    (json_is_integer(seen) && now - json_integer_value(seen) < RETRY_S))
		return 0;
	if (e->kube)
		ret = post(e, kind, obj, type, reason, message);
	hp_log(strcmp(type, "Warning") ? HP_LOG_INFO : HP_LOG_WARN, "k8s-event",
	       "kind=%s object=%s%s%s reason=%s posted=%s message=%s", kind, ns,
	       *ns ? "/" : "", name, reason, e->kube ? (ret ? "failed" : "yes") : "no-api",
	       hp_log_q(q, sizeof(q), message));
	if (ret) {	/* retried after RETRY_S, not on every reconcile pass */
		json_object_set_new(e->seen, key, json_integer((json_int_t)now));
		return ret;
	}
	json_object_set_new(e->seen, key, json_true());
	e->count++;
	return 1;
}
