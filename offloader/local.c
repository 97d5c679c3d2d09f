// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/json.h"
#include "offloader/local.h"
#include "offloader/yamljson.h"

struct agent_local {
	char *dir;
	char *node;
	struct agent_store *store;
	int ifd;
	json_t *files;		/* file name -> array of documents */
};

int agent_local_create(const char *dir, const char *node,
		       struct agent_store *store, struct agent_local **out)
{
	struct agent_local *l = calloc(1, sizeof(*l));
	int ret = -ENOMEM;

	if (!l)
		return -ENOMEM;
	l->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	l->dir = strdup(dir);
	l->node = strdup(node);
	l->files = json_object();
	l->store = store;
	if (l->ifd < 0) {
		ret = -errno;
		goto err;
	}
	if (!l->dir || !l->node)
		goto err;
	if (inotify_add_watch(l->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
			      IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
		ret = -errno;
		goto err;
	}
	*out = l;
	return 0;
err:
	agent_local_destroy(l);
	return ret;
}

void agent_local_destroy(struct agent_local *l)
{
	if (!l)
		return;
	if (l->ifd >= 0)
		close(l->ifd);
	json_decref(l->files);
	free(l->dir);
	free(l->node);
	free(l);
}

int agent_local_fd(const struct agent_local *l)
{
	return l->ifd;
}

static bool manifest_name(const char *n)
{
	return n[0] != '.' && (!fnmatch("*.yaml", n, 0) || !fnmatch("*.yml", n, 0) ||
			       !fnmatch("*.json", n, 0));
}

/* Re-parse every manifest; failures keep the file's previous documents. */
static int scan(struct agent_local *l, char *err, size_t errlen)
{
	json_t *now = json_object(), *docs;
	struct dirent **ents;
	char path[4096], e[512];
	int n, i, bad = 0;

	n = scandir(l->dir, &ents, NULL, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", l->dir, strerror(errno));
		json_decref(now);
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (manifest_name(name)) {
			snprintf(path, sizeof(path), "%s/%s", l->dir, name);
			docs = agent_yaml_load(path, e, sizeof(e));
			if (!docs) {
				if (!bad++)
					snprintf(err, errlen, "%s", e);
				docs = json_incref(json_object_get(l->files, name));
			}
			if (docs)
				json_object_set_new(now, name, docs);
		}
		free(ents[i]);
	}
	free(ents);
	json_decref(l->files);
	l->files = now;
	return bad;
}

static enum agent_kind kind_of(const json_t *doc, bool *ok)
{
	const char *k = hp_json_str(doc, "kind", NULL);

	*ok = true;
	if (k && !strcmp(k, "Pod"))
		return AGENT_KIND_POD;
	if (k && !strcmp(k, "Namespace"))
		return AGENT_KIND_NAMESPACE;
	if (k && !strcmp(k, "Node"))
		return AGENT_KIND_NODE;
	*ok = false;
	return AGENT_KIND_POD;
}

/* Fill what the API server would: namespace, uid. */
static json_t *normalise(struct agent_local *l, json_t *doc, enum agent_kind kind)
{
	json_t *copy = json_deep_copy(doc), *md;
	const char *node = hp_json_str(doc, "spec", "nodeName", NULL);
	char uid[512];

	md = json_object_get(copy, "metadata");
	if (!json_is_object(md) || !json_is_string(json_object_get(md, "name")))
		goto skip;
	if (kind == AGENT_KIND_POD) {
		if (node && strcmp(node, l->node))
			goto skip;
		if (!json_object_get(md, "namespace"))
			json_object_set_new(md, "namespace", json_string("default"));
		snprintf(uid, sizeof(uid), "local-%s-%s",
			 hp_json_str(md, "namespace", NULL), hp_json_str(md, "name", NULL));
		if (!json_object_get(md, "uid"))
			json_object_set_new(md, "uid", json_string(uid));
	}
	return copy;
skip:
	json_decref(copy);
	return NULL;
}

static void feed_kind(struct agent_local *l, enum agent_kind kind)
{
	void *arg = agent_store_feed(l->store, kind);
	const char *fname;
	json_t *docs, *doc, *obj;
	size_t i;
	bool ok;

	agent_store_ops.relist_begin(arg);
	json_object_foreach(l->files, fname, docs) {
		json_array_foreach(docs, i, doc) {
			if (kind_of(doc, &ok) != kind || !ok)
				continue;
			obj = normalise(l, doc, kind);
			if (obj)
				agent_store_ops.object(arg, AGENT_WATCH_ADDED, obj);
			json_decref(obj);
		}
	}
	agent_store_ops.relist_end(arg);
}

int agent_local_reload(struct agent_local *l, char *err, size_t errlen)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int bad, k;

	while (read(l->ifd, buf, sizeof(buf)) > 0)
		;
	bad = scan(l, err, errlen);
	for (k = 0; k < AGENT_KIND__N; k++)
		feed_kind(l, (enum agent_kind)k);
	return bad;
}
