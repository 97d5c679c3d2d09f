// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offloader/kube.h"
#include "offloader/yamljson.h"

#define TOKEN_REREAD_S 60

/* PEM material is either a file path or inline bytes (kubeconfig *-data). */
struct pem {
	char *path;
	char *data;
	size_t len;
};

struct agent_kube {
	char *server;
	struct pem ca, cert, key;
	bool insecure;
	char *token;		/* current bearer token, or NULL */
	char *token_file;	/* re-read source, or NULL for a fixed token */
	time_t token_read;
	pthread_mutex_t lock;
};

static void pem_free(struct pem *p)
{
	free(p->path);
	free(p->data);
}

void agent_kube_destroy(struct agent_kube *k)
{
	if (!k)
		return;
	free(k->server);
	pem_free(&k->ca);
	pem_free(&k->cert);
	pem_free(&k->key);
	free(k->token);
	free(k->token_file);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static struct agent_kube *kube_alloc(void)
{
	struct agent_kube *k = calloc(1, sizeof(*k));

	if (k)
		pthread_mutex_init(&k->lock, NULL);
	return k;
}

const char *agent_kube_server(const struct agent_kube *k)
{
	return k->server;
}

/* Whole file into a NUL-terminated string with trailing whitespace cut. */
static char *slurp_trim(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, len;

	if (!f)
		return NULL;
	len = getdelim(&buf, &cap, '\0', f) > 0 ? strlen(buf) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
		       buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

static int reread_token(struct agent_kube *k)
{
	char *t;

	if (!k->token_file)
		return 0;
	t = slurp_trim(k->token_file);
	if (!t)
		return -errno ? -errno : -EIO;
	free(k->token);
	k->token = t;
	k->token_read = time(NULL);
	return 0;
}

void agent_kube_auth_failed(struct agent_kube *k)
{
	pthread_mutex_lock(&k->lock);
	k->token_read = 0;
	pthread_mutex_unlock(&k->lock);
}

/* ---- in-cluster ---- */

struct agent_kube *agent_kube_in_cluster(const char *sa_dir, char *err,
					 size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct agent_kube *k;
	bool v6;

	if (!sa_dir)
		sa_dir = AGENT_SA_DIR;
	if (!host || !*host || !port || !*port) {
		snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST and "
			 "KUBERNETES_SERVICE_PORT must be set");
		return NULL;
	}
	k = kube_alloc();
	if (!k)
		goto nomem;
	v6 = strchr(host, ':') != NULL;
	if (asprintf(&k->server, "https://%s%s%s:%s", v6 ? "[" : "", host,
		     v6 ? "]" : "", port) < 0 ||
	    asprintf(&k->ca.path, "%s/ca.crt", sa_dir) < 0 ||
	    asprintf(&k->token_file, "%s/token", sa_dir) < 0) {
		k->server = k->ca.path = k->token_file = NULL;
		goto nomem;
	}
	if (reread_token(k)) {
		snprintf(err, errlen, "%s: %s", k->token_file, strerror(errno));
		agent_kube_destroy(k);
		return NULL;
	}
	return k;
nomem:
	agent_kube_destroy(k);
	snprintf(err, errlen, "in-cluster: out of memory");
	return NULL;
}

/* ---- kubeconfig ---- */

/* Entry of a kubeconfig named list ("clusters", "users", "contexts"). */
static json_t *named(const json_t *cfg, const char *list, const char *name,
		     const char *field)
{
	json_t *arr = json_object_get(cfg, list), *it;
	size_t i;

	json_array_foreach(arr, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));

		if (n && name && !strcmp(n, name))
			return json_object_get(it, field);
	}
	return NULL;
}

static const char *sget(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Relative paths in a kubeconfig are relative to the file's directory. */
static char *resolve(const char *cfg_path, const char *p)
{
	const char *slash = strrchr(cfg_path, '/');
	char *out;

	if (p[0] == '/' || !slash)
		return strdup(p);
	if (asprintf(&out, "%.*s/%s", (int)(slash - cfg_path), cfg_path, p) < 0)
		return NULL;
	return out;
}

static int b64val(int c)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decode base64 (whitespace ignored).  Returns 0 or -EINVAL. */
static int b64decode(const char *in, char **out, size_t *outlen)
{
	size_t n = strlen(in), o = 0;
	unsigned int acc = 0, bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);
	int v;

	if (!buf)
		return -ENOMEM;
	for (; *in && *in != '='; in++) {
		if (*in == '\n' || *in == '\r' || *in == ' ')
			continue;
		v = b64val(*in);
		if (v < 0) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
}

/* Fill @p from "<field>" (a path) or "<field>-data" (base64 PEM). */
static int pem_from(struct pem *p, const json_t *o, const char *field,
		    const char *cfg_path)
{
	char key[64];
	const char *v;

	snprintf(key, sizeof(key), "%s-data", field);
	v = sget(o, key);
	if (v)
		return b64decode(v, &p->data, &p->len);
	v = sget(o, field);
	if (v) {
		p->path = resolve(cfg_path, v);
		return p->path ? 0 : -ENOMEM;
	}
	return 0;
}

static int user_from(struct agent_kube *k, const json_t *user,
		     const char *path)
{
	const char *tok = sget(user, "token"), *tf = sget(user, "tokenFile");
	int ret;

	ret = pem_from(&k->cert, user, "client-certificate", path);
	if (!ret)
		ret = pem_from(&k->key, user, "client-key", path);
	if (ret)
		return ret;
	if (tf) {
		k->token_file = resolve(path, tf);
		return k->token_file ? reread_token(k) : -ENOMEM;
	}
	if (tok)
		k->token = strdup(tok);
	return tok && !k->token ? -ENOMEM : 0;
}

static int kubeconfig_fill(struct agent_kube *k, const json_t *cfg,
			   const char *path, char *err, size_t errlen)
{
	const char *ctxname = sget(cfg, "current-context");
	json_t *ctx = named(cfg, "contexts", ctxname, "context");
	json_t *cluster = named(cfg, "clusters", sget(ctx, "cluster"), "cluster");
	json_t *user = named(cfg, "users", sget(ctx, "user"), "user");
	const char *server = sget(cluster, "server");

	if (!ctx || !cluster || !server) {
		snprintf(err, errlen, "%s: current-context \"%s\" names no cluster "
			 "with a server", path, ctxname ? ctxname : "");
		return -EINVAL;
	}
	k->server = strdup(server);
	while (k->server && *k->server && k->server[strlen(k->server) - 1] == '/')
		k->server[strlen(k->server) - 1] = '\0';
	k->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	if (!k->server || pem_from(&k->ca, cluster, "certificate-authority", path) ||
	    (user && user_from(k, user, path))) {
		snprintf(err, errlen, "%s: cannot read the credentials of context "
			 "\"%s\" (bad base64 or unreadable file)", path, ctxname);
		return -EINVAL;
	}
	return 0;
}

struct agent_kube *agent_kube_from_kubeconfig(const char *path, char *err,
					      size_t errlen)
{
	json_t *docs = agent_yaml_load(path, err, errlen);
	struct agent_kube *k = NULL;

	if (!docs)
		return NULL;
	if (json_array_size(docs) != 1) {
		snprintf(err, errlen, "%s: expected one YAML document", path);
		goto out;
	}
	k = kube_alloc();
	if (k && kubeconfig_fill(k, json_array_get(docs, 0), path, err, errlen)) {
		agent_kube_destroy(k);
		k = NULL;
	}
out:
	json_decref(docs);
	return k;
}

/* ---- requests ---- */

static void pem_apply(CURL *c, const struct pem *p, CURLoption file_opt,
		      CURLoption blob_opt)
{
	struct curl_blob blob;

	if (p->data) {
		blob.data = p->data;
		blob.len = p->len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(c, blob_opt, &blob);
	} else if (p->path) {
		curl_easy_setopt(c, file_opt, p->path);
	}
}

int agent_kube_prepare(struct agent_kube *k, CURL *c, const char *path_query,
		       struct curl_slist **hdrs)
{
	char *url = NULL, *auth = NULL;
	int ret = -ENOMEM;

	if (asprintf(&url, "%s%s", k->server, path_query) < 0)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	pem_apply(c, &k->ca, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB);
	pem_apply(c, &k->cert, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB);
	pem_apply(c, &k->key, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB);
	if (k->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	pthread_mutex_lock(&k->lock);
	if (k->token_file && time(NULL) - k->token_read >= TOKEN_REREAD_S)
		reread_token(k);	/* on failure keep the previous token */
	if (k->token && asprintf(&auth, "Authorization: Bearer %s", k->token) < 0)
		auth = NULL;
	pthread_mutex_unlock(&k->lock);
	*hdrs = curl_slist_append(*hdrs, "Accept: application/json");
	if (auth)
		*hdrs = curl_slist_append(*hdrs, auth);
	if (*hdrs)
		ret = 0;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	free(auth);
	free(url);
	return ret;
}

struct membuf {
	char *data;
	size_t len;
	FILE *f;
};

static size_t membuf_write(char *p, size_t sz, size_t n, void *arg)
{
	return fwrite(p, sz, n, ((struct membuf *)arg)->f) * sz;
}

long agent_kube_request(struct agent_kube *k, const char *method,
			const char *path_query, const json_t *body,
			json_t **out)
{
	struct membuf mb = { 0 };
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long code = -ENOMEM;
	CURLcode rc;

	*out = NULL;
	mb.f = open_memstream(&mb.data, &mb.len);
	if (!c || !mb.f || (body && !payload) ||
	    agent_kube_prepare(k, c, path_query, &hdrs))
		goto out;
	if (payload) {
		hdrs = curl_slist_append(hdrs, strcmp(method, "PATCH") ?
					 "Content-Type: application/json" :
					 "Content-Type: application/merge-patch+json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &mb);
	/* Called from the agent's loop: keep a dead API from stalling it. */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1500L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	rc = curl_easy_perform(c);
	fflush(mb.f);
	if (rc != CURLE_OK) {
		code = -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code == 401)
		agent_kube_auth_failed(k);
	*out = json_loadb(mb.data, mb.len, 0, NULL);
out:
	if (mb.f)
		fclose(mb.f);
	free(mb.data);
	free(payload);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return code;
}
