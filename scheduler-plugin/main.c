// SPDX-License-Identifier: GPL-2.0
/*
 * heteropod-extender: kube-scheduler extender with image- and
 * template-aware scoring (serve), and a tool to push node state (push).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "lib/config.h"
#include "lib/log.h"
#include "scheduler-plugin/nodefile.h"
#include "scheduler-plugin/server.h"
#include "scheduler-plugin/state.h"

#define PROG "heteropod-extender"

struct serve_cfg {
	struct ext_server_config srv;
	long stale_ms;
	int log_level;
};

static const char *const dpu_unknown_choices[] = { "fail", "pass", NULL };
static const char *const level_choices[] = { "error", "warn", "info", "debug", NULL };

static const struct hp_cfg_field serve_fields[] = {
	HP_CFG_STR(struct serve_cfg, srv.listen, "listen", "ADDR:PORT to serve on"),
	HP_CFG_STR(struct serve_cfg, srv.filter_path, "filterPath",
		   "path of filter (\"/\" + filterVerb)"),
	HP_CFG_STR(struct serve_cfg, srv.prioritize_path, "prioritizePath",
		   "path of prioritize (\"/\" + prioritizeVerb)"),
	HP_CFG_STR(struct serve_cfg, srv.state_path, "statePath",
		   "path where agents POST StatePush messages"),
	HP_CFG_INT(struct serve_cfg, srv.max_body, "maxBodyBytes", 1024, 1L << 30,
		   "largest request body accepted (413 above)"),
	HP_CFG_INT(struct serve_cfg, srv.threads, "threads", 1, 64, "HTTP worker threads"),
	HP_CFG_INT(struct serve_cfg, srv.template_bonus, "templateBonus", 0, 10,
		   "points (of 10) for a node holding the pod's warm template"),
	HP_CFG_ENUM(struct serve_cfg, srv.dpu_unknown, "dpuUnknown", dpu_unknown_choices,
		    "filter verdict for DPU pods on nodes without current DPU state"),
	HP_CFG_STR(struct serve_cfg, srv.tls_cert, "tls.certFile", "PEM certificate (HTTPS)"),
	HP_CFG_STR(struct serve_cfg, srv.tls_key, "tls.keyFile", "PEM private key (HTTPS)"),
	HP_CFG_DURATION(struct serve_cfg, stale_ms, "staleAfter", 100, 86400000L,
			"nodes not refreshed for this long hold nothing"),
	HP_CFG_ENUM(struct serve_cfg, log_level, "logLevel", level_choices, "log level"),
	{ 0 }
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " serve --listen ADDR:PORT [--config FILE]\n"
		"       " PROG " push --server http://ADDR:PORT --file STATE.yaml\n"
		"            [--delta] [--source NAME] [--generation N] [--path /v1/state]\n"
		"\n"
		"serve   run the extender (filter, prioritize, state push, /healthz, /metrics)\n"
		"push    send node state read from a YAML file (a full snapshot, or with\n"
		"        --delta a delta) and print the reply; exit 0 when applied,\n"
		"        2 when the server asks for a snapshot, 1 on any other error\n"
		"See scheduler-plugin/README.md for the config keys and the file format.\n");
}

static int serve_defaults(struct serve_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->srv.listen = strdup("127.0.0.1:8888");
	c->srv.filter_path = strdup("/filter");
	c->srv.prioritize_path = strdup("/prioritize");
	c->srv.state_path = strdup("/v1/state");
	c->srv.max_body = 16L << 20;
	c->srv.threads = 2;
	c->srv.template_bonus = 5;
	c->stale_ms = 30000;
	c->log_level = HP_LOG_INFO;
	return c->srv.listen && c->srv.filter_path && c->srv.prioritize_path &&
	       c->srv.state_path ? 0 : -ENOMEM;
}

static int check_paths(const struct serve_cfg *c)
{
	const char *p[] = { c->srv.filter_path, c->srv.prioritize_path, c->srv.state_path };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (p[i][0] != '/') {
			fprintf(stderr, PROG ": path \"%s\" must start with '/'\n", p[i]);
			return -EINVAL;
		}
	}
	if (!c->srv.tls_cert != !c->srv.tls_key) {
		fprintf(stderr, PROG ": tls.certFile and tls.keyFile go together\n");
		return -EINVAL;
	}
	return 0;
}

/* Wait for SIGINT/SIGTERM, sweeping stale nodes meanwhile. */
static void run_until_signal(struct ext_state *st, long stale_ms)
{
	long tick = stale_ms / 4;
	struct timespec ts;
	sigset_t set;

	if (tick < 50)
		tick = 50;
	if (tick > 1000)
		tick = 1000;
	ts.tv_sec = tick / 1000;
	ts.tv_nsec = (tick % 1000) * 1000000L;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &ts);
		unsigned n;

		if (sig == SIGINT || sig == SIGTERM)
			break;
		n = ext_state_sweep(st, ext_now_ms());
		if (n)
			hp_info("stale", "nodes=%u", n);
	}
}

static int serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *listen_arg = NULL, *config = NULL;
	struct ext_server *srv = NULL;
	struct ext_state *st = NULL;
	struct serve_cfg c;
	char err[512];
	sigset_t set;
	int o, ret = 1;

	while ((o = getopt_long(argc, argv, "l:c:h", opts, NULL)) != -1) {
		if (o == 'l')
			listen_arg = optarg;
		else if (o == 'c')
			config = optarg;
		else
			return usage(o == 'h' ? stdout : stderr), o == 'h' ? 0 : 1;
	}
	if (serve_defaults(&c))
		goto out;
	if (config && hp_cfg_load_file(config, serve_fields, &c, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		goto out;
	}
	if (listen_arg) {
		free(c.srv.listen);
		c.srv.listen = strdup(listen_arg);
	}
	if (!c.srv.listen || check_paths(&c))
		goto out;
	hp_log_set_level(c.log_level);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Blocked before the server threads exist, so only sigtimedwait sees them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	st = ext_state_create(c.stale_ms);
	if (!st)
		goto out;
	srv = ext_server_create(&c.srv, st, err, sizeof(err));
	if (!srv) {
		hp_err("start_failed", "error=%s", hp_log_q((char[512]){ 0 }, 512, err));
		goto out;
	}
	hp_info("listening", "addr=%s filter=%s prioritize=%s state=%s tls=%s",
		ext_server_address(srv), c.srv.filter_path, c.srv.prioritize_path,
		c.srv.state_path, c.srv.tls_cert ? "on" : "off");
	run_until_signal(st, c.stale_ms);
	hp_info("stopping", "addr=%s", ext_server_address(srv));
	ret = 0;
out:
	ext_server_destroy(srv);
	ext_state_destroy(st);
	hp_cfg_free(serve_fields, &c);
	return ret;
}

/* ---- push ---- */

struct push_opts {
	const char *server, *file, *source, *path;
	unsigned long long generation;
	bool delta;
};

static size_t collect(char *data, size_t size, size_t n, void *user)
{
	struct { char *buf; size_t len; } *r = user;
	char *p = realloc(r->buf, r->len + size * n);

	if (!p)
		return 0;
	memcpy(p + r->len, data, size * n);
	r->buf = p;
	r->len += size * n;
	return size * n;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

static int report(long http, const char *body, size_t len)
{
	static const char *const names[] = {
		"applied", "duplicate", "keepalive", "need_snapshot", "invalid",
	};
	Heteropod__Nodestate__PushReply *r;
	int ret;

	r = heteropod__nodestate__push_reply__unpack(NULL, len, (const uint8_t *)body);
	if (!r || r->status > 4) {
		fprintf(stderr, PROG ": push: HTTP %ld without a PushReply\n", http);
		heteropod__nodestate__push_reply__free_unpacked(r, NULL);
		return 1;
	}
	printf("status=%s generation=%llu http=%ld%s%s\n", names[r->status],
	       (unsigned long long)r->generation, http, r->error[0] ? " error=" : "",
	       r->error);
	ret = r->status <= HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__KEEPALIVE ? 0 :
	      r->status == HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__NEED_SNAPSHOT ? 2 : 1;
	heteropod__nodestate__push_reply__free_unpacked(r, NULL);
	return ret;
}

static int post(const struct push_opts *o, const uint8_t *data, size_t len)
{
	struct { char *buf; size_t len; } resp = { 0 };
	struct curl_slist *hdr = NULL;
	char url[1024];
	long http = 0;
	CURLcode rc;
	CURL *curl;
	int ret = 1;

	snprintf(url, sizeof(url), "%s%s", o->server, o->path);
	curl = curl_easy_init();
	hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	if (!curl || !hdr)
		goto out;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)data);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, PROG ": push to %s: %s\n", url, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
	ret = report(http, resp.buf ? resp.buf : "", resp.len);
out:
	free(resp.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(curl);
	return ret;
}

static int push_file(const struct push_opts *o)
{
	Heteropod__Nodestate__StatePush *msg;
	char err[512], *text;
	uint8_t *packed;
	size_t len;
	int ret = 1;

	text = read_file(o->file, &len);
	if (!text) {
		fprintf(stderr, PROG ": %s: %s\n", o->file, strerror(errno));
		return 1;
	}
	msg = ext_nodefile_parse(o->file, text, len, o->delta, o->source,
				 o->generation, err, sizeof(err));
	free(text);
	if (!msg) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	len = heteropod__nodestate__state_push__get_packed_size(msg);
	packed = malloc(len + 1);
	if (packed) {
		heteropod__nodestate__state_push__pack(msg, packed);
		ret = post(o, packed, len);
	}
	free(packed);
	heteropod__nodestate__state_push__free_unpacked(msg, NULL);
	return ret;
}

static int push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "source", required_argument, NULL, 'S' },
		{ "generation", required_argument, NULL, 'g' },
		{ "path", required_argument, NULL, 'p' },
		{ "delta", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct push_opts o = { .source = "push-cli", .path = "/v1/state", .generation = 1 };
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "s:f:S:g:p:dh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.server = optarg; break;
		case 'f': o.file = optarg; break;
		case 'S': o.source = optarg; break;
		case 'p': o.path = optarg; break;
		case 'd': o.delta = true; break;
		case 'g':
			errno = 0;
			o.generation = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg) {
				fprintf(stderr, PROG ": --generation \"%s\": expected a number\n", optarg);
				return 1;
			}
			break;
		default:
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 1;
		}
	}
	if (!o.server || !o.file) {
		fprintf(stderr, PROG ": push needs --server URL and --file STATE.yaml\n");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = push_file(&o);
	curl_global_cleanup();
	return ret;
}

int main(int argc, char **argv)
{
	hp_log_init(PROG, HP_LOG_INFO);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "push"))
		return push(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, PROG ": unknown command \"%s\"; accepted: serve, push\n", argv[1]);
	return 1;
}
