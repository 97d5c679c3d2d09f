// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/json.h"
#include "offloader/state.h"

const char *const agent_split_names[] = { "none", "pending", "split", "error", NULL };
const char *const agent_place_names[] = { "cpu", "dpu", NULL };

void agent_state_init(struct agent_state *st, const char *role, const char *node)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->role, sizeof(st->role), "%s", role);
	snprintf(st->node, sizeof(st->node), "%s", node);
}

/* Drop every pod record (and what it owns). */
static void drop_pods(struct agent_state *st)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		free(st->pods[i].links);
	st->n = 0;
}

void agent_state_uninit(struct agent_state *st)
{
	drop_pods(st);
	free(st->pods);
	st->pods = NULL;
	st->n = st->cap = 0;
}

struct agent_pod_rec *agent_state_find(struct agent_state *st, const char *uid)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (!strcmp(st->pods[i].uid, uid))
			return &st->pods[i];
	return NULL;
}

struct agent_pod_rec *agent_state_get(struct agent_state *st, const char *uid)
{
	struct agent_pod_rec *p = agent_state_find(st, uid), *np;

	if (p)
		return p;
	if (st->n == st->cap) {
		np = realloc(st->pods, (st->cap ? st->cap * 2 : 64) * sizeof(*np));
		if (!np)
			return NULL;
		st->pods = np;
		st->cap = st->cap ? st->cap * 2 : 64;
	}
	p = &st->pods[st->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	p->netns_fd = -1;
	return p;
}

/* Swap-remove: pointers into st->pods are invalid afterwards. */
void agent_state_remove(struct agent_state *st, struct agent_pod_rec *p)
{
	size_t i = (size_t)(p - st->pods);

	if (p->netns_fd >= 0)
		close(p->netns_fd);
	free(p->links);
	st->pods[i] = st->pods[--st->n];
}

int agent_pod_set_links(struct agent_pod_rec *p, const char *lines)
{
	char *copy = lines && *lines ? strdup(lines) : NULL;

	if (lines && *lines && !copy)
		return -ENOMEM;
	free(p->links);
	p->links = copy;
	return 0;
}

/* ---- JSON ---- */

/* The hsock links written for the pod (allow.h), one string per line. */
static json_t *links_json(const struct agent_pod_rec *p)
{
	json_t *a = json_array();
	char *buf = strdup(p->allowed && p->links ? p->links : ""), *save = NULL, *l;

	for (l = buf ? strtok_r(buf, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		json_array_append_new(a, json_string(l));
	free(buf);
	return a;
}

/* Back from the checkpoint: the lines joined again. */
static int links_from(struct agent_pod_rec *p, const json_t *arr)
{
	size_t i, len = 0;
	char *text;
	json_t *l;
	int ret;

	json_array_foreach(arr, i, l)
		len += json_string_length(l) + 1;
	text = calloc(1, len + 1);
	if (!text)
		return -ENOMEM;
	len = 0;
	json_array_foreach(arr, i, l)
		if (json_is_string(l))
			len += (size_t)sprintf(text + len, "%s\n", json_string_value(l));
	ret = agent_pod_set_links(p, text);
	free(text);
	p->allowed = p->links != NULL;
	return ret;
}

static json_t *pod_json(const struct agent_pod_rec *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:o}",
			 "uid", p->uid, "namespace", p->ns, "name", p->name,
			 "service_account", p->sa,
			 "class", agent_class_names[p->cls],
			 "mode", agent_mode_names[p->mode],
			 "mode_source", agent_mode_src_names[p->mode_src],
			 "placement", agent_place_names[p->place],
			 "split", agent_split_names[p->split], "reason", p->reason,
			 "relayed", p->relayed, "dpu_half", p->half, "netns", p->netns,
			 "ips", p->ips, "chain", p->chain, "hsock_links", links_json(p));
}

static json_t *dpu_json(const struct agent_dpu_state *d)
{
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "connected", d->connected, "healthy", d->healthy,
			 "cpu_free_millis", (json_int_t)d->cpu_free_millis,
			 "mem_free_bytes", (json_int_t)d->mem_free_bytes,
			 "halves", (json_int_t)d->halves,
			 "max_halves", (json_int_t)d->max_halves,
			 "last_heartbeat_ms", (json_int_t)d->last_heartbeat_ms,
			 "failovers", (json_int_t)d->failovers);
}

json_t *agent_state_to_json(const struct agent_state *st)
{
	json_t *pods = json_array();
	size_t i;

	for (i = 0; i < st->n; i++)
		json_array_append_new(pods, pod_json(&st->pods[i]));
	return json_pack("{s:i, s:s, s:s, s:I, s:o, s:o, s:s, s:s}",
			 "version", AGENT_STATE_VERSION, "role", st->role,
			 "node", st->node, "generation", (json_int_t)st->generation,
			 "pods", pods, "dpu", dpu_json(&st->dpu),
			 "last_error", st->last_error, "extender", st->extender);
}

static int name_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; s && names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

static void copy_str(char *dst, size_t n, const json_t *o, const char *key)
{
	snprintf(dst, n, "%s", hp_json_str(o, key, NULL) ?: "");
}

static int pod_from(struct agent_state *st, const json_t *o)
{
	struct agent_pod_rec *p;
	int c = name_index(agent_class_names, hp_json_str(o, "class", NULL));
	int m = name_index(agent_mode_names, hp_json_str(o, "mode", NULL));
	int s = name_index(agent_mode_src_names, hp_json_str(o, "mode_source", NULL));
	int pl = name_index(agent_place_names, hp_json_str(o, "placement", NULL));
	int sp = name_index(agent_split_names, hp_json_str(o, "split", NULL));
	const char *uid = hp_json_str(o, "uid", NULL);

	if (!uid || c < 0 || m < 0 || s < 0 || pl < 0 || sp < 0)
		return -EINVAL;
	p = agent_state_get(st, uid);
	if (!p)
		return -ENOMEM;
	copy_str(p->ns, sizeof(p->ns), o, "namespace");
	copy_str(p->name, sizeof(p->name), o, "name");
	copy_str(p->sa, sizeof(p->sa), o, "service_account");
	copy_str(p->reason, sizeof(p->reason), o, "reason");
	copy_str(p->netns, sizeof(p->netns), o, "netns");
	copy_str(p->ips, sizeof(p->ips), o, "ips");
	copy_str(p->chain, sizeof(p->chain), o, "chain");
	if (links_from(p, json_object_get(o, "hsock_links")))
		return -ENOMEM;
	p->cls = (enum agent_class)c;
	p->mode = (enum agent_mode)m;
	p->mode_src = (enum agent_mode_src)s;
	p->place = (enum agent_place)pl;
	p->split = (enum agent_split)sp;
	p->relayed = json_is_true(json_object_get(o, "relayed"));
	p->half = json_is_true(json_object_get(o, "dpu_half"));
	return 0;
}

int agent_state_from_json(struct agent_state *st, const json_t *doc)
{
	json_int_t v = 0, gen = 0;
	json_t *it;
	size_t i;
	int ret;

	if (hp_json_int(&v, doc, "version", NULL) || v != AGENT_STATE_VERSION)
		return -EINVAL;
	hp_json_int(&gen, doc, "generation", NULL);
	st->generation = (uint64_t)gen;
	drop_pods(st);
	json_array_foreach(json_object_get(doc, "pods"), i, it) {
		ret = pod_from(st, it);
		if (ret)
			return ret;
	}
	hp_json_int(&v, doc, "dpu", "failovers", NULL);
	st->dpu.failovers = (uint64_t)v;
	return 0;
}

/* ---- checkpoint file ---- */

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int agent_checkpoint_write(const char *dir, const json_t *doc, char *err,
			   size_t errlen)
{
	char tmp[4096], path[4096];
	char *text = json_dumps(doc, JSON_INDENT(1));
	int fd = -1, ret = -ENOMEM;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, AGENT_STATE_FILE);
	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_STATE_FILE);
	if (!text)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, text, strlen(text));
	if (!ret && fsync(fd))
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (!ret)
		ret = fsync_dir(dir);
out:
	if (ret)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

json_t *agent_checkpoint_read(const char *dir, int *ret, char *err,
			      size_t errlen)
{
	char path[4096];
	json_error_t je;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_STATE_FILE);
	if (access(path, F_OK)) {
		*ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	doc = json_load_file(path, 0, &je);
	*ret = doc ? 0 : -EINVAL;
	if (!doc)
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	return doc;
}

/* ---- status ---- */

static void print_pod(FILE *out, const json_t *p)
{
	char nsname[400], mode[64], split[320];
	const char *reason = hp_json_str(p, "reason", NULL), *chain;

	snprintf(nsname, sizeof(nsname), "%s/%s", hp_json_str(p, "namespace", NULL) ?: "",
		 hp_json_str(p, "name", NULL) ?: "");
	snprintf(mode, sizeof(mode), "%s(%s)", hp_json_str(p, "mode", NULL) ?: "?",
		 hp_json_str(p, "mode_source", NULL) ?: "?");
	snprintf(split, sizeof(split), "%s%s%s", hp_json_str(p, "split", NULL) ?: "?",
		 reason && *reason ? ": " : "", reason && *reason ? reason : "");
	chain = hp_json_str(p, "chain", NULL);
	fprintf(out, "%-40s %-9s %-20s %-4s %-6zu %s%s%s\n", nsname,
		hp_json_str(p, "class", NULL) ?: "?", mode,
		hp_json_str(p, "placement", NULL) ?: "?",
		json_array_size(json_object_get(p, "hsock_links")), split,
		chain && *chain ? " chain=" : "", chain && *chain ? chain : "");
}

static void print_dpu(FILE *out, const json_t *d, const char *last_error)
{
	json_int_t cpu = 0, mem = 0, halves = 0, max = 0, fo = 0;

	hp_json_int(&cpu, d, "cpu_free_millis", NULL);
	hp_json_int(&mem, d, "mem_free_bytes", NULL);
	hp_json_int(&halves, d, "halves", NULL);
	hp_json_int(&max, d, "max_halves", NULL);
	hp_json_int(&fo, d, "failovers", NULL);
	fprintf(out, "\nDPU: %s, %s; capacity: cpu %lldm free, memory %lld MiB free, "
		"halves %lld/%lld; failovers %lld\n",
		json_is_true(json_object_get(d, "connected")) ? "connected" : "disconnected",
		json_is_true(json_object_get(d, "healthy")) ? "healthy" : "down",
		(long long)cpu, (long long)(mem >> 20), (long long)halves,
		(long long)max, (long long)fo);
	fprintf(out, "last error: %s\n", last_error && *last_error ? last_error : "none");
}

void agent_status_print(FILE *out, const json_t *doc, bool as_json)
{
	json_t *p;
	size_t i;

	if (as_json) {
		json_dumpf(doc, out, JSON_INDENT(2));
		fputc('\n', out);
		return;
	}
	fprintf(out, "role %s, node %s, generation %lld\n\n",
		hp_json_str(doc, "role", NULL) ?: "?", hp_json_str(doc, "node", NULL) ?: "?",
		(long long)json_integer_value(json_object_get(doc, "generation")));
	fprintf(out, "%-40s %-9s %-20s %-4s %-6s %s\n", "POD", "CLASS", "OFFLOAD(FROM)",
		"ON", "HSOCK", "SPLIT");
	json_array_foreach(json_object_get(doc, "pods"), i, p)
		print_pod(out, p);
	print_dpu(out, json_object_get(doc, "dpu"), hp_json_str(doc, "last_error", NULL));
	fprintf(out, "extender: %s\n", hp_json_str(doc, "extender", NULL) ?: "not configured");
}
