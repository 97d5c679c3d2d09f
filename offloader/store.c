// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/json.h"
#include "offloader/store.h"

struct feed {
	struct agent_store *s;
	enum agent_kind kind;
};

struct agent_store {
	pthread_mutex_t lock;
	json_t *objs[AGENT_KIND__N];
	json_t *seen[AGENT_KIND__N];	/* keys reported during a relist */
	bool synced[AGENT_KIND__N];
	struct feed feeds[AGENT_KIND__N];
	unsigned long gen;
	int notify_fd;
};

struct agent_store *agent_store_create(int notify_fd)
{
	struct agent_store *s = calloc(1, sizeof(*s));
	int i;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->notify_fd = notify_fd;
	for (i = 0; i < AGENT_KIND__N; i++) {
		s->objs[i] = json_object();
		s->feeds[i].s = s;
		s->feeds[i].kind = (enum agent_kind)i;
	}
	return s;
}

void agent_store_destroy(struct agent_store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < AGENT_KIND__N; i++) {
		json_decref(s->objs[i]);
		json_decref(s->seen[i]);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void *agent_store_feed(struct agent_store *s, enum agent_kind kind)
{
	return &s->feeds[kind];
}

/* Called with the lock held. */
static void changed(struct agent_store *s)
{
	uint64_t one = 1;

	s->gen++;
	if (s->notify_fd >= 0 && write(s->notify_fd, &one, sizeof(one)) < 0)
		s->gen += 0;	/* eventfd overflow only: the loop is awake anyway */
}

static int obj_key(const json_t *obj, enum agent_kind kind, char *buf, size_t n)
{
	const char *name = hp_json_str(obj, "metadata", "name", NULL);
	const char *ns = hp_json_str(obj, "metadata", "namespace", NULL);

	if (!name)
		return -EINVAL;
	if (kind == AGENT_KIND_POD)
		snprintf(buf, n, "%s/%s", ns ? ns : "default", name);
	else
		snprintf(buf, n, "%s", name);
	return 0;
}

static void st_begin(void *arg)
{
	struct feed *f = arg;

	pthread_mutex_lock(&f->s->lock);
	json_decref(f->s->seen[f->kind]);
	f->s->seen[f->kind] = json_object();
	pthread_mutex_unlock(&f->s->lock);
}

static void keep(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	if (v)
		json_object_set(dst, key, v);
}

/* The TCP ports the pod's containers declare (containerPort), if any. */
static void keep_ports(json_t *spec, const json_t *pod_spec)
{
	json_t *ports = NULL, *c, *p;
	size_t i, j;

	json_array_foreach(json_object_get(pod_spec, "containers"), i, c) {
		json_array_foreach(json_object_get(c, "ports"), j, p) {
			const char *proto = hp_json_str(p, "protocol", NULL);
			json_int_t port = json_integer_value(json_object_get(p, "containerPort"));

			if ((proto && strcmp(proto, "TCP")) || port < 1 || port > 65535)
				continue;
			if (!ports)
				ports = json_array();
			json_array_append_new(ports, json_integer(port));
		}
	}
	if (ports)
		json_object_set_new(spec, "ports", ports);
}

/*
 * The fields the agent reads, shared with (not copied from) the API
 * object: a Pod's status, managedFields and container specs are most of
 * its bytes and are never used.
 */
static json_t *slim(const json_t *obj, enum agent_kind kind)
{
	static const char *const md_keys[] = { "name", "namespace", "uid",
		"resourceVersion", "labels", "annotations", NULL };
	json_t *md = json_object_get(obj, "metadata"), *out = json_object();
	json_t *m = json_object(), *spec, *st;
	int i;

	for (i = 0; md_keys[i]; i++)
		keep(m, md, md_keys[i]);
	json_object_set_new(out, "metadata", m);
	keep(out, obj, "kind");
	if (kind == AGENT_KIND_POD) {
		spec = json_object();
		st = json_object();
		keep(spec, json_object_get(obj, "spec"), "nodeName");
		keep(spec, json_object_get(obj, "spec"), "serviceAccountName");
		keep_ports(spec, json_object_get(obj, "spec"));
		keep(st, json_object_get(obj, "status"), "podIPs");
		keep(st, json_object_get(obj, "status"), "phase");
		json_object_set_new(out, "spec", spec);
		json_object_set_new(out, "status", st);
	} else if (kind == AGENT_KIND_NODE) {
		st = json_object();	/* the images the state push reports */
		keep(st, json_object_get(obj, "status"), "images");
		json_object_set_new(out, "status", st);
	}
	return out;
}

/* During a relist the loop is told once, at the end. */
static void st_object(void *arg, enum agent_watch_event ev, json_t *obj)
{
	struct feed *f = arg;
	struct agent_store *s = f->s;
	char key[512];

	if (obj_key(obj, f->kind, key, sizeof(key)))
		return;
	pthread_mutex_lock(&s->lock);
	if (ev == AGENT_WATCH_DELETED)
		json_object_del(s->objs[f->kind], key);
	else
		json_object_set_new(s->objs[f->kind], key, slim(obj, f->kind));
	if (s->seen[f->kind])
		json_object_set_new(s->seen[f->kind], key, json_true());
	else
		changed(s);
	pthread_mutex_unlock(&s->lock);
}

static void st_end(void *arg)
{
	struct feed *f = arg;
	struct agent_store *s = f->s;
	const char *key;
	json_t *v;
	void *tmp;

	pthread_mutex_lock(&s->lock);
	json_object_foreach_safe(s->objs[f->kind], tmp, key, v)
		if (!json_object_get(s->seen[f->kind], key))
			json_object_del(s->objs[f->kind], key);
	json_decref(s->seen[f->kind]);
	s->seen[f->kind] = NULL;
	s->synced[f->kind] = true;
	changed(s);
	pthread_mutex_unlock(&s->lock);
}

const struct agent_watch_ops agent_store_ops = { st_begin, st_object, st_end };

json_t *agent_store_snapshot(struct agent_store *s, enum agent_kind kind)
{
	json_t *copy;

	pthread_mutex_lock(&s->lock);
	copy = json_copy(s->objs[kind]);
	pthread_mutex_unlock(&s->lock);
	return copy;
}

unsigned long agent_store_generation(struct agent_store *s)
{
	unsigned long g;

	pthread_mutex_lock(&s->lock);
	g = s->gen;
	pthread_mutex_unlock(&s->lock);
	return g;
}

bool agent_store_synced(struct agent_store *s, enum agent_kind kind)
{
	bool v;

	pthread_mutex_lock(&s->lock);
	v = s->synced[kind];
	pthread_mutex_unlock(&s->lock);
	return v;
}
