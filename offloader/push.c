// SPDX-License-Identifier: GPL-2.0
/* State push to heteropod-extender: see push.h and proto/nodestate.proto. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "offloader/push.h"
#include "proto/nodestate.pb-c.h"

struct agent_push {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, started;
	json_t *want;		/* {"dpu": N, "images": {name: size}, "templates": {name: true}} */
	struct agent_push_stats stats;
	/* thread only */
	char *url, *source, *node;
	long interval_ms;
	CURL *curl;
	json_t *applied;	/* what the extender holds, NULL: nothing known */
	uint64_t gen;
};

struct body {
	uint8_t *p;
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	uint8_t *q;

	size *= n;
	if (b->len + size > 65536 || !(q = realloc(b->p, b->len + size)))
		return 0;
	memcpy(q + b->len, ptr, size);
	b->p = q;
	b->len += size;
	return size;
}

/* POST one StatePush; the PushReply status, or -errno on transport errors. */
static int post(struct agent_push *p, const Heteropod__Nodestate__StatePush *m,
		char *err, size_t errlen)
{
	size_t len = heteropod__nodestate__state_push__get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	struct body b = { 0 };
	Heteropod__Nodestate__PushReply *r = NULL;
	long code = 0;
	int ret = -ENOMEM;

	if (!buf || !h)
		goto out;
	heteropod__nodestate__state_push__pack(m, buf);
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, p->url);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, buf);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(p->curl) != CURLE_OK) {
		snprintf(err, errlen, "POST %s: no answer", p->url);
		ret = -EHOSTUNREACH;
		goto out;
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
	r = heteropod__nodestate__push_reply__unpack(NULL, b.len, b.p);
	if (!r) {
		snprintf(err, errlen, "POST %s: HTTP %ld without a PushReply", p->url, code);
		ret = -EPROTO;
		goto out;
	}
	snprintf(err, errlen, "%s", r->error ?: "");
	ret = (int)r->status;
out:
	heteropod__nodestate__push_reply__free_unpacked(r, NULL);
	curl_slist_free_all(h);
	free(b.p);
	free(buf);
	return ret;
}

/* ---- messages ---- */

struct images {
	Heteropod__Nodestate__Image *img;
	Heteropod__Nodestate__Image **ptr;
	char **names;		/* one name per image */
	size_t n;
};

/* Images of @map (name -> size) for which @keep(name) holds. */
static int images_of(json_t *map, json_t *other, struct images *out)
{
	size_t cap = json_object_size(map) + 1, i = 0;
	const char *name;
	json_t *v;

	out->img = calloc(cap, sizeof(*out->img));
	out->ptr = calloc(cap, sizeof(*out->ptr));
	out->names = calloc(cap, sizeof(*out->names));
	if (!out->img || !out->ptr || !out->names)
		return -ENOMEM;
	json_object_foreach(map, name, v) {
		json_t *o = other ? json_object_get(other, name) : NULL;

		if (o && json_equal(o, v))
			continue;	/* unchanged */
		heteropod__nodestate__image__init(&out->img[i]);
		out->names[i] = (char *)name;
		out->img[i].n_names = 1;
		out->img[i].names = &out->names[i];
		out->img[i].size_bytes = json_integer_value(v);
		out->ptr[i] = &out->img[i];
		i++;
	}
	out->n = i;
	return 0;
}

static void images_free(struct images *im)
{
	free(im->img);
	free(im->ptr);
	free(im->names);
}

/* The keys of @map not in @other into @out; their count. */
static size_t names_of(json_t *map, json_t *other, char **out)
{
	const char *name;
	size_t n = 0;
	json_t *v;

	json_object_foreach(map, name, v)
		if (!other || !json_object_get(other, name))
			out[n++] = (char *)name;
	return n;
}

static int send_snapshot(struct agent_push *p, json_t *want, char *err, size_t errlen)
{
	Heteropod__Nodestate__StatePush m = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	Heteropod__Nodestate__Snapshot s = HETEROPOD__NODESTATE__SNAPSHOT__INIT;
	Heteropod__Nodestate__NodeState ns = HETEROPOD__NODESTATE__NODE_STATE__INIT;
	Heteropod__Nodestate__NodeState *nsp = &ns;
	json_t *tpl = json_object_get(want, "templates");
	char **names = calloc(json_object_size(tpl) + 1, sizeof(char *));
	struct images im = { 0 };
	int ret = names ? images_of(json_object_get(want, "images"), NULL, &im) : -ENOMEM;

	if (!ret) {
		ns.n_templates = names_of(tpl, NULL, names);
		ns.templates = names;
		ns.name = p->node;
		ns.dpu = (Heteropod__Nodestate__DpuState)json_integer_value(json_object_get(want, "dpu"));
		ns.n_images = im.n;
		ns.images = im.ptr;
		s.n_nodes = 1;
		s.nodes = &nsp;
		m.source = p->source;
		m.generation = p->gen + 1;
		m.body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT;
		m.snapshot = &s;
		ret = post(p, &m, err, errlen);
	}
	images_free(&im);
	free(names);
	return ret;
}

/* A delta from p->applied to @want; with nothing changed, a keepalive. */
static int send_delta(struct agent_push *p, json_t *want, bool *keepalive,
		      char *err, size_t errlen)
{
	Heteropod__Nodestate__StatePush m = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	Heteropod__Nodestate__Delta d = HETEROPOD__NODESTATE__DELTA__INIT;
	Heteropod__Nodestate__NodeDelta nd = HETEROPOD__NODESTATE__NODE_DELTA__INIT;
	Heteropod__Nodestate__NodeDelta *ndp = &nd;
	json_t *old = json_object_get(p->applied, "images"), *cur = json_object_get(want, "images");
	json_t *old_t = json_object_get(p->applied, "templates");
	json_t *cur_t = json_object_get(want, "templates");
	json_int_t dpu = json_integer_value(json_object_get(want, "dpu"));
	struct images im = { 0 };
	char **gone = calloc(json_object_size(old) + 1, sizeof(char *));
	char **t_add = calloc(json_object_size(cur_t) + 1, sizeof(char *));
	char **t_gone = calloc(json_object_size(old_t) + 1, sizeof(char *));
	int ret = gone && t_add && t_gone ? images_of(cur, old, &im) : -ENOMEM;

	if (ret)
		goto out;
	nd.n_remove_images = names_of(old, cur, gone);
	nd.n_add_templates = names_of(cur_t, old_t, t_add);
	nd.add_templates = t_add;
	nd.n_remove_templates = names_of(old_t, cur_t, t_gone);
	nd.remove_templates = t_gone;
	nd.name = p->node;
	if (dpu != json_integer_value(json_object_get(p->applied, "dpu")))
		nd.dpu = (Heteropod__Nodestate__DpuState)dpu;
	nd.n_add_images = im.n;
	nd.add_images = im.ptr;
	nd.remove_images = gone;
	*keepalive = !nd.dpu && !im.n && !nd.n_remove_images && !nd.n_add_templates &&
		     !nd.n_remove_templates;
	d.n_nodes = *keepalive ? 0 : 1;
	d.nodes = &ndp;
	m.source = p->source;
	m.generation = *keepalive ? p->gen : p->gen + 1;
	m.body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_DELTA;
	m.delta = &d;
	ret = post(p, &m, err, errlen);
out:
	images_free(&im);
	free(gone);
	free(t_add);
	free(t_gone);
	return ret;
}

static const char *status_name(int st)
{
	static const char *const names[] = { "applied", "duplicate", "keepalive",
					     "need-snapshot", "invalid" };

	return st >= 0 && st <= 4 ? names[st] : "transport-error";
}

/* One exchange (two after NEED_SNAPSHOT).  true when the extender holds @want. */
static bool exchange(struct agent_push *p, json_t *want)
{
	bool snap = !p->applied, keepalive = false;
	char err[256] = "";
	int st;

	st = snap ? send_snapshot(p, want, err, sizeof(err))
		  : send_delta(p, want, &keepalive, err, sizeof(err));
	if (st == HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__NEED_SNAPSHOT && !snap) {
		hp_info("extender-need-snapshot", "url=%s reason=\"%s\"", p->url, err);
		snap = true;
		keepalive = false;
		st = send_snapshot(p, want, err, sizeof(err));
	}
	pthread_mutex_lock(&p->lock);
	p->stats.pushes++;
	p->stats.snapshots += snap;
	snprintf(p->stats.last, sizeof(p->stats.last), "%s", status_name(st));
	if (st == HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__APPLIED ||
	    st == HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__KEEPALIVE) {
		if (!keepalive)
			p->gen++;
		p->stats.generation = p->gen;
	} else {
		p->stats.failures++;
	}
	pthread_mutex_unlock(&p->lock);
	if (st != HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__APPLIED &&
	    st != HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__KEEPALIVE) {
		/* Unknown what the extender holds (a DUPLICATE of a new delta
		 * means our generation is behind): start over with a snapshot. */
		hp_warn("extender-push", "url=%s status=%s error=\"%s\"", p->url,
			status_name(st), err);
		json_decref(p->applied);
		p->applied = NULL;
		return false;
	}
	json_decref(p->applied);
	p->applied = json_deep_copy(want);
	return true;
}

static void deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *run(void *arg)
{
	struct agent_push *p = arg;
	struct timespec ts;
	json_t *want;
	bool ok = true;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!p->want || (ok && p->applied && json_equal(p->want, p->applied))) {
			deadline(&ts, p->interval_ms);
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
			if (p->stop || !p->want)
				continue;
		}
		want = json_deep_copy(p->want);
		pthread_mutex_unlock(&p->lock);
		ok = exchange(p, want);
		json_decref(want);
		pthread_mutex_lock(&p->lock);
		if (!ok) {	/* retry after a second, or sooner on a change */
			deadline(&ts, 1000);
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int agent_push_start(const char *url, const char *source, const char *node,
		     long interval_ms, struct agent_push **out)
{
	struct agent_push *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->url = strdup(url);
	p->source = strdup(source);
	p->node = strdup(node);
	p->interval_ms = interval_ms;
	p->curl = curl_easy_init();
	if (!p->url || !p->source || !p->node || !p->curl ||
	    pthread_create(&p->thread, NULL, run, p)) {
		agent_push_stop(p);
		return -ENOMEM;
	}
	p->started = true;
	*out = p;
	return 0;
}

void agent_push_stop(struct agent_push *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	if (p->curl)
		curl_easy_cleanup(p->curl);
	json_decref(p->want);
	json_decref(p->applied);
	free(p->url);
	free(p->source);
	free(p->node);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void agent_push_set(struct agent_push *p, json_t *images, json_t *templates, int dpu)
{
	json_t *want = json_pack("{s:i,s:{},s:O?}", "dpu", dpu, "images", "templates",
				 templates), *map, *it, *name;
	size_t i, j;

	if (!want)
		return;
	if (!templates)
		json_object_set_new(want, "templates", json_object());
	map = json_object_get(want, "images");
	json_array_foreach(images, i, it) {
		json_t *size = json_object_get(it, "sizeBytes");

		json_array_foreach(json_object_get(it, "names"), j, name)
			if (json_is_string(name))
				json_object_set_new(map, json_string_value(name),
						    json_integer(json_integer_value(size)));
	}
	pthread_mutex_lock(&p->lock);
	if (!p->want || !json_equal(p->want, want)) {
		json_decref(p->want);
		p->want = want;
		want = NULL;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	json_decref(want);
}

void agent_push_stats(struct agent_push *p, struct agent_push_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	pthread_mutex_unlock(&p->lock);
}
