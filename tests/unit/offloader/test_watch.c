// SPDX-License-Identifier: GPL-2.0
/*
 * The watch client against tests/integration/offloader/apidouble.py, which
 * replays the recorded PodList and a timeline of changes while injecting one
 * class of faults per test.  Every test asserts convergence: once the double
 * has applied its timeline, the client's view (name -> resourceVersion of
 * this node's pods) equals the double's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "offloader/kube.h"
#include "offloader/watch.h"

extern char **environ;

struct view {
	pthread_mutex_t lock;
	json_t *pods;		/* "ns/name" -> rv */
	json_t *seen;		/* during a relist */
	unsigned long relists;
};

struct fixture {
	pid_t pid;
	char dir[64];
	char kubeconfig[128];
	struct agent_kube *kube;
	struct view view;
};

static void pod_key(json_t *obj, char *buf, size_t n)
{
	json_t *md = json_object_get(obj, "metadata");

	snprintf(buf, n, "%s/%s", json_string_value(json_object_get(md, "namespace")),
		 json_string_value(json_object_get(md, "name")));
}

static void v_begin(void *arg)
{
	struct view *v = arg;

	pthread_mutex_lock(&v->lock);
	json_decref(v->seen);
	v->seen = json_object();
	pthread_mutex_unlock(&v->lock);
}

static void v_object(void *arg, enum agent_watch_event ev, json_t *obj)
{
	struct view *v = arg;
	const char *rv = json_string_value(json_object_get(
		json_object_get(obj, "metadata"), "resourceVersion"));
	char k[256];

	pod_key(obj, k, sizeof(k));
	pthread_mutex_lock(&v->lock);
	if (ev == AGENT_WATCH_DELETED)
		json_object_del(v->pods, k);
	else
		json_object_set_new(v->pods, k, json_string(rv));
	if (v->seen)
		json_object_set_new(v->seen, k, json_true());
	pthread_mutex_unlock(&v->lock);
}

static void v_end(void *arg)
{
	struct view *v = arg;
	const char *k;
	json_t *val;
	void *tmp;

	pthread_mutex_lock(&v->lock);
	json_object_foreach_safe(v->pods, tmp, k, val)
		if (!json_object_get(v->seen, k))
			json_object_del(v->pods, k);
	json_decref(v->seen);
	v->seen = NULL;
	v->relists++;
	pthread_mutex_unlock(&v->lock);
}

static const struct agent_watch_ops ops = { v_begin, v_object, v_end };

static const char *shared(void)
{
	const char *s = getenv("SHARED");

	return s ? s : "../shared";
}

static int start_double(struct fixture *f, const char *faults)
{
	char corpus[512], token[160], port[32] = "";
	char *argv[] = { "/usr/bin/python3", NULL, "--corpus", corpus, "--faults",
			 (char *)faults, "--token-file", token, NULL };
	char script[512];
	const char *top = getenv("TOP");
	posix_spawn_file_actions_t fa;
	int pfd[2];
	FILE *fp;

	snprintf(script, sizeof(script), "%s/tests/integration/offloader/apidouble.py",
		 top ? top : ".");
	argv[1] = script;
	snprintf(corpus, sizeof(corpus), "%s/corpus/k8s-objects", shared());
	snprintf(token, sizeof(token), "%s/token", f->dir);
	if (pipe(pfd))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	if (posix_spawn(&f->pid, argv[0], &fa, NULL, argv, environ))
		return -errno;
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	fp = fdopen(pfd[0], "r");
	if (!fp || !fgets(port, sizeof(port), fp))
		return -EIO;
	fclose(fp);
	fp = fopen(f->kubeconfig, "w");
	if (!fp)
		return -errno;
	fprintf(fp, "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
		"clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:%d/\n"
		"users:\n- name: u\n  user:\n    tokenFile: token\n"
		"contexts:\n- name: t\n  context: {cluster: c, user: u}\n", atoi(port));
	fclose(fp);
	return 0;
}

static json_t *debug_state(struct fixture *f)
{
	json_t *st = NULL;

	if (agent_kube_request(f->kube, "GET", "/debug/state", NULL, &st) != 200) {
		json_decref(st);
		return NULL;
	}
	return st;
}

/* Wait until the double is done and the view equals its state. */
static bool converged(struct fixture *f, json_t **final)
{
	struct timespec d = { 0, 100 * 1000 * 1000 };
	bool same = false;
	int i;

	for (i = 0; i < 300 && !same; i++) {
		json_t *st = debug_state(f);

		if (st && json_is_true(json_object_get(st, "done"))) {
			pthread_mutex_lock(&f->view.lock);
			same = json_equal(f->view.pods, json_object_get(st, "pods"));
			pthread_mutex_unlock(&f->view.lock);
		}
		if (same)
			*final = st;
		else
			json_decref(st);
		if (!same)
			nanosleep(&d, NULL);
	}
	return same;
}

static void run(struct fixture *f, const char *faults, long limit,
		struct agent_watch_stats *stats, json_t **final)
{
	struct agent_watch_cfg cfg = {
		.path = "/api/v1/pods", .field_selector = "spec.nodeName=v1.36-control-plane",
		.page_limit = limit, .timeout_s = 2, .backoff_min_ms = 20,
		.backoff_max_ms = 400,
	};
	struct agent_watch *w = NULL;
	char err[256];

	assert_int_equal(start_double(f, faults), 0);
	f->kube = agent_kube_from_kubeconfig(f->kubeconfig, err, sizeof(err));
	if (!f->kube)
		fail_msg("%s", err);
	assert_int_equal(agent_watch_start(f->kube, &cfg, &ops, &f->view, &w), 0);
	if (!converged(f, final)) {
		agent_watch_get_stats(w, stats);
		agent_watch_stop(w);
		fail_msg("no convergence with faults \"%s\": lists %lu watches %lu "
			 "events %lu gone %lu errors %lu", faults, stats->lists,
			 stats->watches, stats->events, stats->gone, stats->errors);
	}
	agent_watch_get_stats(w, stats);
	agent_watch_stop(w);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/hpa-watch-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->kubeconfig, sizeof(f->kubeconfig), "%s/kubeconfig", f->dir);
	pthread_mutex_init(&f->view.lock, NULL);
	f->view.pods = json_object();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
	}
	agent_kube_destroy(f->kube);
	json_decref(f->view.pods);
	json_decref(f->view.seen);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static void test_plain(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "", 500, &s, &st);
	assert_int_equal(s.lists, 1);
	assert_true(s.events > 0);
	assert_int_equal(s.gone, 0);
	json_decref(st);
}

static void test_split_slow(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "split,slow", 500, &s, &st);
	assert_int_equal(s.errors, 0);
	json_decref(st);
}

static void test_drop(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "drop", 500, &s, &st);
	/* Dropped watches resume from the last rv: no relist needed. */
	assert_int_equal(s.lists, 1);
	assert_true(s.watches > 3);
	json_decref(st);
}

static void test_gone_event(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "gone-event,drop", 500, &s, &st);
	assert_true(s.gone >= 1);
	assert_true(s.lists >= 2);
	json_decref(st);
}

static void test_gone_http(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "gone-http,drop", 500, &s, &st);
	assert_true(s.gone >= 1);
	assert_true(s.lists >= 2);
	json_decref(st);
}

static void test_paging_gone_continue(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "gone-cont", 3, &s, &st);
	assert_true(s.gone >= 1);
	json_decref(st);
}

static void test_5xx_retry_after(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "5xx,drop", 4, &s, &st);
	assert_true(s.errors >= 1);
	/* Backoff starts at 20 ms, but the server asked for 1 s. */
	assert_true(json_real_value(json_object_get(st, "min_retry_gap")) >= 0.95);
	json_decref(st);
}

static void test_truncated(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "truncate,split,drop", 500, &s, &st);
	assert_true(s.watches >= 2);
	json_decref(st);
}

static void test_token_rotation(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "token,drop", 5, &s, &st);
	json_decref(st);
}

static void test_everything(void **state)
{
	struct agent_watch_stats s;
	json_t *st;

	run(*state, "split,drop,gone-event,gone-http,truncate,token,gone-cont", 4, &s, &st);
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_slow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging_gone_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5xx_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_everything, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("offloader/watch", tests, NULL, NULL);
}
