// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "offloader/backoff.h"
#include "offloader/lines.h"
#include "offloader/watch.h"

#define MAX_EVENT_BYTES (64u << 20)

enum outcome {
	OK,		/* list complete, or watch ended cleanly */
	GONE,		/* 410: relist */
	FAILED,		/* back off, then retry */
	STOPPED,
};

struct agent_watch {
	struct agent_kube *kube;
	struct agent_watch_cfg cfg;
	const struct agent_watch_ops *ops;
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct agent_watch_stats stats;	/* under lock */
	struct agent_backoff backoff;
	char *rv;			/* last resourceVersion seen */
	char *selector;			/* URL-encoded field selector */
	long retry_after_ms;		/* of the last response, -1 if none */
	/* per watch transfer */
	CURL *curl;
	struct agent_lines lines;
	enum outcome verdict;
	bool got_event;
};

static bool stopping(struct agent_watch *w)
{
	bool s;

	pthread_mutex_lock(&w->lock);
	s = w->stop;
	pthread_mutex_unlock(&w->lock);
	return s;
}

static void count(struct agent_watch *w, unsigned long *field)
{
	pthread_mutex_lock(&w->lock);
	(*field)++;
	pthread_mutex_unlock(&w->lock);
}

static void set_rv(struct agent_watch *w, const char *rv)
{
	char *n;

	if (!rv || !*rv)
		return;
	n = strdup(rv);
	if (n) {
		free(w->rv);
		w->rv = n;
	}
}

static int progress_cb(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return stopping(arg);
}

static size_t header_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct agent_watch *w = arg;
	size_t len = sz * n;
	char val[128];

	if (len > 12 && !strncasecmp(p, "Retry-After:", 12) && len - 12 < sizeof(val)) {
		memcpy(val, p + 12, len - 12);
		val[len - 12] = '\0';
		val[strcspn(val, "\r\n")] = '\0';
		w->retry_after_ms = agent_retry_after_ms(val, (long)time(NULL));
	}
	return len;
}

/* Common options; the caller adds URL-specific ones. */
static int setup(struct agent_watch *w, CURL *c, const char *pq,
		 struct curl_slist **hdrs)
{
	w->retry_after_ms = -1;
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	return agent_kube_prepare(w->kube, c, pq, hdrs);
}

/* Map a finished transfer's status to an outcome. */
static enum outcome classify_status(struct agent_watch *w, CURLcode rc, long code)
{
	if (stopping(w))
		return STOPPED;
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR)
		return FAILED;
	if (code == 410)
		return GONE;
	if (code == 401)
		agent_kube_auth_failed(w->kube);
	return code == 200 ? OK : FAILED;
}

/* ---- list ---- */

struct page {
	FILE *f;
	char *data;
	size_t len;
};

static size_t page_write(char *p, size_t sz, size_t n, void *arg)
{
	return fwrite(p, sz, n, ((struct page *)arg)->f) * sz;
}

static char *list_url(struct agent_watch *w, const char *cont)
{
	char *url, *enc = NULL;
	CURL *c = curl_easy_init();
	int ret;

	if (cont && c)
		enc = curl_easy_escape(c, cont, 0);
	ret = asprintf(&url, "%s?limit=%ld%s%s%s%s", w->cfg.path, w->cfg.page_limit,
		       w->selector ? "&fieldSelector=" : "",
		       w->selector ? w->selector : "", enc ? "&continue=" : "",
		       enc ? enc : "");
	curl_free(enc);
	curl_easy_cleanup(c);
	return ret < 0 ? NULL : url;
}

/* GET one page; *@doc is the parsed PodList-like object on OK. */
static enum outcome get_page(struct agent_watch *w, const char *cont, json_t **doc)
{
	struct page pg = { 0 };
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	char *url = list_url(w, cont);
	enum outcome o = FAILED;
	long code = 0;
	CURLcode rc;

	*doc = NULL;
	pg.f = open_memstream(&pg.data, &pg.len);
	if (!c || !url || !pg.f || setup(w, c, url, &hdrs))
		goto out;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, page_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &pg);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	fflush(pg.f);
	o = classify_status(w, rc, code);
	if (o == OK) {
		*doc = json_loadb(pg.data, pg.len, 0, NULL);
		if (!json_is_array(json_object_get(*doc, "items")))
			o = FAILED;
	}
out:
	if (pg.f)
		fclose(pg.f);
	free(pg.data);
	free(url);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return o;
}

static void deliver_page(struct agent_watch *w, json_t *items)
{
	json_t *it;
	size_t i;

	json_array_foreach(items, i, it)
		w->ops->object(w->arg, AGENT_WATCH_ADDED, it);
}

static void wait_ms(struct agent_watch *w, long ms);

static char *next_continue(json_t *doc)
{
	const char *c = json_string_value(json_object_get(
		json_object_get(doc, "metadata"), "continue"));

	return c && *c ? strdup(c) : NULL;
}

/*
 * One replace: relist_begin, each page's items as it arrives (memory holds
 * one page, not the list), relist_end after the last page; the consumer
 * drops what was not reported only then.  A failed page is retried (after
 * backoff) with the same continue token, so a flaky server does not restart
 * a long list from the beginning; an expired token (410) is GONE and the
 * next list starts with a new relist_begin.
 */
static enum outcome do_list(struct agent_watch *w)
{
	json_t *doc = NULL;
	char *cont = NULL;
	enum outcome o;

	w->ops->relist_begin(w->arg);
	for (;;) {
		o = get_page(w, cont, &doc);
		if (o == FAILED) {
			wait_ms(w, agent_backoff_next(&w->backoff, w->retry_after_ms));
			continue;
		}
		if (o != OK)
			break;
		agent_backoff_reset(&w->backoff);
		deliver_page(w, json_object_get(doc, "items"));
		free(cont);
		cont = next_continue(doc);
		if (!cont)
			break;
		json_decref(doc);
	}
	if (o == OK) {
		set_rv(w, json_string_value(json_object_get(
			json_object_get(doc, "metadata"), "resourceVersion")));
		w->ops->relist_end(w->arg);
		count(w, &w->stats.lists);
		malloc_trim(0);	/* give the pages' parse trees back to the system */
	}
	free(cont);
	json_decref(doc);
	return o;
}

/* ---- watch ---- */

static enum agent_watch_event event_type(const char *t, bool *ok)
{
	*ok = true;
	if (!strcmp(t, "ADDED"))
		return AGENT_WATCH_ADDED;
	if (!strcmp(t, "MODIFIED"))
		return AGENT_WATCH_MODIFIED;
	if (!strcmp(t, "DELETED"))
		return AGENT_WATCH_DELETED;
	*ok = false;
	return AGENT_WATCH_ADDED;
}

/* One line = one event.  Non-zero stops the transfer with w->verdict. */
static int on_line(void *arg, char *line, size_t len)
{
	struct agent_watch *w = arg;
	json_t *ev = json_loadb(line, len, 0, NULL);
	json_t *obj = json_object_get(ev, "object");
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *rv = json_string_value(json_object_get(
		json_object_get(obj, "metadata"), "resourceVersion"));
	enum agent_watch_event et;
	json_int_t code;
	bool known;
	int ret = 0;

	if (!type || !json_is_object(obj)) {
		w->verdict = FAILED;
		ret = 1;
	} else if (!strcmp(type, "ERROR")) {
		code = json_integer_value(json_object_get(obj, "code"));
		w->verdict = code == 410 ? GONE : FAILED;
		ret = 1;
	} else if (!strcmp(type, "BOOKMARK")) {
		set_rv(w, rv);
		count(w, &w->stats.bookmarks);
	} else {
		et = event_type(type, &known);
		if (known) {
			w->ops->object(w->arg, et, obj);
			set_rv(w, rv);
			count(w, &w->stats.events);
			w->got_event = true;
		}
	}
	json_decref(ev);
	return ret;
}

static size_t watch_write(char *p, size_t sz, size_t n, void *arg)
{
	struct agent_watch *w = arg;
	long code = 0;

	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return sz * n;	/* an error body; the status decides */
	if (agent_lines_feed(&w->lines, p, sz * n, on_line, w)) {
		if (w->verdict == OK)
			w->verdict = FAILED;	/* line too long */
		return 0;
	}
	return sz * n;
}

static char *watch_url(struct agent_watch *w)
{
	char *url;

	if (asprintf(&url, "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true"
		     "&timeoutSeconds=%ld%s%s", w->cfg.path, w->rv ? w->rv : "",
		     w->cfg.timeout_s, w->selector ? "&fieldSelector=" : "",
		     w->selector ? w->selector : "") < 0)
		return NULL;
	return url;
}

static enum outcome do_watch(struct agent_watch *w)
{
	struct curl_slist *hdrs = NULL;
	char *url = watch_url(w);
	enum outcome o = FAILED;
	long code = 0;
	CURLcode rc;

	w->curl = curl_easy_init();
	agent_lines_reset(&w->lines);
	w->verdict = OK;
	w->got_event = false;
	if (!w->curl || !url || setup(w, w->curl, url, &hdrs))
		goto out;
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, w->cfg.timeout_s + 30);
	count(w, &w->stats.watches);
	rc = curl_easy_perform(w->curl);
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	o = classify_status(w, rc, code);
	if (o == OK && w->verdict != OK)
		o = w->verdict;
	/* A watch cut mid-stream (truncated chunk) resumes from the last rv. */
	if (o == FAILED && code == 200 && w->verdict == OK && !stopping(w))
		o = w->got_event ? OK : FAILED;
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(w->curl);
	w->curl = NULL;
	free(url);
	return o;
}

/* ---- thread ---- */

static void wait_ms(struct agent_watch *w, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	w->stats.last_backoff_ms = ms;
	w->stats.errors++;
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->lock);
}

static void *watch_main(void *arg)
{
	struct agent_watch *w = arg;
	bool need_list = true;
	enum outcome o;

	while (!stopping(w)) {
		o = need_list ? do_list(w) : do_watch(w);
		switch (o) {
		case OK:
			need_list = false;
			agent_backoff_reset(&w->backoff);
			break;
		case GONE:
			count(w, &w->stats.gone);
			need_list = true;
			break;
		case FAILED:
			wait_ms(w, agent_backoff_next(&w->backoff, w->retry_after_ms));
			break;
		case STOPPED:
			break;
		}
	}
	return NULL;
}

static void watch_free(struct agent_watch *w)
{
	agent_lines_uninit(&w->lines);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	curl_free(w->selector);
	free(w->rv);
	free(w);
}

int agent_watch_start(struct agent_kube *k, const struct agent_watch_cfg *cfg,
		      const struct agent_watch_ops *ops, void *arg,
		      struct agent_watch **out)
{
	struct agent_watch *w = calloc(1, sizeof(*w));
	CURL *c;
	int ret;

	if (!w)
		return -ENOMEM;
	w->kube = k;
	w->cfg = *cfg;
	w->ops = ops;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	agent_lines_init(&w->lines, MAX_EVENT_BYTES);
	agent_backoff_init(&w->backoff, cfg->backoff_min_ms, cfg->backoff_max_ms,
			   (uint64_t)time(NULL) ^ (uintptr_t)w);
	if (cfg->field_selector && (c = curl_easy_init())) {
		w->selector = curl_easy_escape(c, cfg->field_selector, 0);
		curl_easy_cleanup(c);
	}
	ret = pthread_create(&w->thread, NULL, watch_main, w);
	if (ret) {
		watch_free(w);
		return -ret;
	}
	*out = w;
	return 0;
}

void agent_watch_stop(struct agent_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	watch_free(w);
}

void agent_watch_get_stats(struct agent_watch *w, struct agent_watch_stats *s)
{
	pthread_mutex_lock(&w->lock);
	*s = w->stats;
	pthread_mutex_unlock(&w->lock);
}
