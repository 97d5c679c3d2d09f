/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How to reach the Kubernetes API: server URL, TLS trust and client identity,
 * from a kubeconfig file or from the in-cluster service account.
 *
 * A connection is shared by the watch threads and the Event poster; it is
 * thread-safe.  In-cluster bearer tokens are projected files that kubelet
 * rotates, so the token is re-read from its file every minute and after any
 * 401 (agent_kube_auth_failed()).
 */
#ifndef AGENT_KUBE_H
#define AGENT_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>
#include <jansson.h>

#define AGENT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct agent_kube;

/* From a kubeconfig (its current-context).  NULL with a message on error. */
struct agent_kube *agent_kube_from_kubeconfig(const char *path, char *err,
					      size_t errlen);
/*
 * In-cluster: KUBERNETES_SERVICE_HOST/PORT (IPv6 literal put in brackets),
 * @sa_dir/ca.crt and @sa_dir/token (@sa_dir NULL: AGENT_SA_DIR).
 */
struct agent_kube *agent_kube_in_cluster(const char *sa_dir, char *err,
					 size_t errlen);
void agent_kube_destroy(struct agent_kube *k);

/* Server base URL, e.g. "https://[fd00::1]:443". */
const char *agent_kube_server(const struct agent_kube *k);

/*
 * Prepare @c for a request to @path_query (appended to the server URL):
 * URL, TLS options, and the Authorization header added to *@hdrs (the
 * caller frees the list after the transfer).  Returns 0 or -errno.
 */
int agent_kube_prepare(struct agent_kube *k, CURL *c, const char *path_query,
		       struct curl_slist **hdrs);
/* The server answered 401: re-read the token before the next request. */
void agent_kube_auth_failed(struct agent_kube *k);

/*
 * One request with a JSON body (@body may be NULL; a PATCH body is a JSON
 * merge patch) and a JSON answer.
 * Returns the HTTP status (> 0) with *@out the parsed answer (may be NULL
 * if not JSON), or -errno on transport failure.
 */
long agent_kube_request(struct agent_kube *k, const char *method,
			const char *path_query, const json_t *body,
			json_t **out);

#endif
