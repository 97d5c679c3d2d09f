// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-plugin/intern.h"
#include "scheduler-plugin/score.h"
#include "scheduler-plugin/sets.h"
#include "scheduler-plugin/state.h"

typedef Heteropod__Nodestate__StatePush push_msg;
typedef Heteropod__Nodestate__Image image_msg;
typedef Heteropod__Nodestate__NodeState node_msg;
typedef Heteropod__Nodestate__NodeDelta delta_msg;

#define REPLY(s) HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__##s
#define DPU(s) HETEROPOD__NODESTATE__DPU_STATE__DPU_##s

struct node {
	struct ext_vlist images;	/* image name ids (the truth) */
	struct ext_idset templates;	/* template name ids */
	uint32_t source;	/* owning source id (valid when present) */
	uint32_t mark;		/* snapshot epoch that last listed the node */
	uint8_t dpu;		/* enum ext_dpu */
	bool present;
};

struct source {
	uint64_t generation;	/* last applied */
	int64_t last_seen;
	bool known;
	bool stale;
};

struct image_info {
	int64_t size;		/* from the latest report naming the image */
	struct ext_posting holders;	/* live nodes holding it (index for scoring) */
};

struct ext_state {
	pthread_rwlock_t lock;
	long stale_ms;
	struct ext_intern *image_names, *template_names, *node_names, *source_names;
	struct image_info *info;
	uint32_t info_cap;
	struct node *nodes;	/* indexed by node name id */
	uint32_t nodes_cap;
	struct source *sources;	/* indexed by source name id */
	uint32_t sources_cap;
	uint32_t present, stale, epoch;
	uint64_t image_refs;
};

/* ---- growth of the per-id arrays ---- */

/* Grow *@arr (of @elem-byte items, *@cap of them) to hold index @id. */
static int reserve(void **arr, uint32_t *cap, size_t elem, uint32_t id)
{
	uint32_t n = *cap ? *cap : 16;
	void *p;

	if (id < *cap)
		return 0;
	while (n <= id)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
	*arr = p;
	*cap = n;
	return 0;
}

static uint32_t image_id(struct ext_state *st, const char *name, int64_t size)
{
	uint32_t id = ext_intern_add(st->image_names, name, strlen(name));

	if (id == EXT_ID_NONE ||
	    reserve((void **)&st->info, &st->info_cap, sizeof(*st->info), id))
		return EXT_ID_NONE;
	st->info[id].size = size;
	return id;
}

static uint32_t node_id(struct ext_state *st, const char *name)
{
	uint32_t id = ext_intern_add(st->node_names, name, strlen(name));

	if (id == EXT_ID_NONE ||
	    reserve((void **)&st->nodes, &st->nodes_cap, sizeof(*st->nodes), id))
		return EXT_ID_NONE;
	return id;
}

static uint32_t source_id(struct ext_state *st, const char *name)
{
	uint32_t id = ext_intern_add(st->source_names, name, strlen(name));

	if (id == EXT_ID_NONE ||
	    reserve((void **)&st->sources, &st->sources_cap, sizeof(*st->sources), id))
		return EXT_ID_NONE;
	return id;
}

/* ---- lifecycle ---- */

struct ext_state *ext_state_create(long stale_ms)
{
	struct ext_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->stale_ms = stale_ms;
	if (pthread_rwlock_init(&st->lock, NULL))
		goto err_free;
	st->image_names = ext_intern_create();
	st->template_names = ext_intern_create();
	st->node_names = ext_intern_create();
	st->source_names = ext_intern_create();
	if (!st->image_names || !st->template_names || !st->node_names ||
	    !st->source_names)
		goto err_interns;
	return st;

err_interns:
	ext_intern_destroy(st->image_names);
	ext_intern_destroy(st->template_names);
	ext_intern_destroy(st->node_names);
	ext_intern_destroy(st->source_names);
	pthread_rwlock_destroy(&st->lock);
err_free:
	free(st);
	return NULL;
}

void ext_state_destroy(struct ext_state *st)
{
	uint32_t i;

	if (!st)
		return;
	for (i = 0; i < st->nodes_cap; i++) {
		ext_vlist_free(&st->nodes[i].images);
		ext_idset_free(&st->nodes[i].templates);
	}
	for (i = 0; i < st->info_cap; i++)
		ext_posting_free(&st->info[i].holders);
	free(st->nodes);
	free(st->sources);
	free(st->info);
	ext_intern_destroy(st->image_names);
	ext_intern_destroy(st->template_names);
	ext_intern_destroy(st->node_names);
	ext_intern_destroy(st->source_names);
	pthread_rwlock_destroy(&st->lock);
	free(st);
}

/* ---- node mutation (write lock held) ---- */

static bool node_live(const struct ext_state *st, const struct node *n)
{
	return n->present && !st->sources[n->source].stale;
}

/*
 * The holders index covers live nodes only.  Every change to a node is
 * bracketed by unlink() ... link(), which take the node out of and back into
 * the holders of its images if it is live.  (On ENOMEM a node may miss from
 * a holders set: it then scores as not holding that image, nothing worse.)
 */
static void count_images(struct ext_state *st, const struct node *n, int delta)
{
	uint32_t nid = (uint32_t)(n - st->nodes), id;
	uint32_t universe = ext_intern_count(st->node_names);
	struct ext_viter it;

	ext_viter_init(&it, &n->images);
	while (ext_viter_next(&it, &id)) {
		if (delta > 0)
			ext_posting_add(&st->info[id].holders, nid, universe);
		else
			ext_posting_del(&st->info[id].holders, nid, universe);
	}
}

static void unlink_node(struct ext_state *st, struct node *n)
{
	if (node_live(st, n))
		count_images(st, n, -1);
	if (n->present) {
		st->image_refs -= n->images.n;
		st->stale -= st->sources[n->source].stale;
	}
}

static void link_node(struct ext_state *st, struct node *n)
{
	if (node_live(st, n))
		count_images(st, n, +1);
	if (n->present) {
		st->image_refs += n->images.n;
		st->stale += st->sources[n->source].stale;
	}
}

static void forget_node(struct ext_state *st, struct node *n)
{
	unlink_node(st, n);
	if (n->present)
		st->present--;
	ext_vlist_free(&n->images);
	ext_idset_free(&n->templates);
	n->present = false;
	n->dpu = EXT_DPU_UNKNOWN;
}

/* Make @n present and owned by @sid (between unlink and link). */
static void own_node(struct ext_state *st, struct node *n, uint32_t sid)
{
	if (!n->present)
		st->present++;
	n->present = true;
	n->source = sid;
}

static int set_dpu(struct node *n, int dpu)
{
	if (dpu == DPU(UP))
		n->dpu = EXT_DPU_UP;
	else if (dpu == DPU(DOWN))
		n->dpu = EXT_DPU_DOWN;
	else
		n->dpu = EXT_DPU_UNKNOWN;
	return 0;
}

/* Intern every name of @imgs into a fresh id array (*@out, *@n). */
static int collect_images(struct ext_state *st, image_msg *const *imgs,
			  size_t nimgs, uint32_t **out, uint32_t *n)
{
	size_t i, j, total = 0;
	uint32_t *ids;

	for (i = 0; i < nimgs; i++)
		total += imgs[i]->n_names;
	ids = malloc((total ? total : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	*n = 0;
	for (i = 0; i < nimgs; i++) {
		for (j = 0; j < imgs[i]->n_names; j++) {
			uint32_t id = image_id(st, imgs[i]->names[j], imgs[i]->size_bytes);

			if (id == EXT_ID_NONE) {
				free(ids);
				return -ENOMEM;
			}
			ids[(*n)++] = id;
		}
	}
	*out = ids;
	return 0;
}

static int collect_templates(struct ext_state *st, char *const *names, size_t n,
			     uint32_t **out)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	size_t i;

	if (!ids)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ids[i] = ext_intern_add(st->template_names, names[i], strlen(names[i]));
		if (ids[i] == EXT_ID_NONE) {
			free(ids);
			return -ENOMEM;
		}
	}
	*out = ids;
	return 0;
}

static int replace_node(struct ext_state *st, uint32_t sid, const node_msg *m)
{
	uint32_t nid = node_id(st, m->name), nimg = 0, *img, *tpl;
	struct ext_idset sorted = { 0 };
	struct ext_vlist images = { 0 };
	struct node *n;
	int ret;

	if (nid == EXT_ID_NONE || collect_images(st, m->images, m->n_images, &img, &nimg))
		return -ENOMEM;
	ext_idset_replace(&sorted, img, nimg);
	ret = ext_vlist_set(&images, sorted.ids, sorted.n);
	ext_idset_free(&sorted);
	if (ret || collect_templates(st, m->templates, m->n_templates, &tpl)) {
		ext_vlist_free(&images);
		return -ENOMEM;
	}
	n = &st->nodes[nid];
	unlink_node(st, n);
	own_node(st, n, sid);
	ext_vlist_free(&n->images);
	n->images = images;
	ext_idset_replace(&n->templates, tpl, (uint32_t)m->n_templates);
	set_dpu(n, m->dpu);
	n->mark = st->epoch;
	link_node(st, n);
	return 0;
}

static int delta_images(struct ext_state *st, struct node *n, const delta_msg *d)
{
	struct ext_idset set = { 0 };
	size_t i, j;
	uint32_t id;
	int ret = ext_vlist_get(&n->images, &set.ids);

	set.n = set.cap = n->images.n;
	for (i = 0; !ret && i < d->n_remove_images; i++) {
		id = ext_intern_find(st->image_names, d->remove_images[i],
				     strlen(d->remove_images[i]));
		if (id != EXT_ID_NONE)
			ext_idset_del(&set, id);
	}
	for (i = 0; !ret && i < d->n_add_images; i++) {
		for (j = 0; !ret && j < d->add_images[i]->n_names; j++) {
			id = image_id(st, d->add_images[i]->names[j],
				      d->add_images[i]->size_bytes);
			ret = id == EXT_ID_NONE ? -ENOMEM : ext_idset_add(&set, id);
		}
	}
	if (!ret)
		ret = ext_vlist_set(&n->images, set.ids, set.n);
	ext_idset_free(&set);
	return ret;
}

static int delta_sets(struct ext_state *st, struct node *n, const delta_msg *d)
{
	size_t i;
	uint32_t id;

	if ((d->n_remove_images || d->n_add_images) && delta_images(st, n, d))
		return -ENOMEM;
	for (i = 0; i < d->n_remove_templates; i++) {
		id = ext_intern_find(st->template_names, d->remove_templates[i],
				     strlen(d->remove_templates[i]));
		if (id != EXT_ID_NONE)
			ext_idset_del(&n->templates, id);
	}
	for (i = 0; i < d->n_add_templates; i++) {
		id = ext_intern_add(st->template_names, d->add_templates[i],
				    strlen(d->add_templates[i]));
		if (id == EXT_ID_NONE || ext_idset_add(&n->templates, id))
			return -ENOMEM;
	}
	return 0;
}

static int apply_delta_node(struct ext_state *st, uint32_t sid, const delta_msg *d)
{
	uint32_t nid = node_id(st, d->name);
	struct node *n;
	int ret;

	if (nid == EXT_ID_NONE)
		return -ENOMEM;
	n = &st->nodes[nid];
	if (d->remove_node) {
		forget_node(st, n);
		return 0;
	}
	unlink_node(st, n);
	own_node(st, n, sid);
	ret = delta_sets(st, n, d);
	if (d->dpu != DPU(UNKNOWN))
		set_dpu(n, d->dpu);
	link_node(st, n);
	return ret;
}

/* ---- pushes ---- */

static int invalid(char *err, size_t errlen, const char *fmt, const char *what,
		   size_t idx)
{
	snprintf(err, errlen, fmt, what, idx);
	return -EINVAL;
}

static int check_images(image_msg *const *imgs, size_t n, const char *node,
			char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (imgs[i]->size_bytes < 0)
			return invalid(err, errlen, "node %s: image %zu: negative sizeBytes",
				       node, i);
		if (!imgs[i]->n_names)
			return invalid(err, errlen, "node %s: image %zu: no names", node, i);
		for (j = 0; j < imgs[i]->n_names; j++)
			if (!imgs[i]->names[j][0])
				return invalid(err, errlen, "node %s: image %zu: empty name",
					       node, i);
	}
	return 0;
}

/* Validate everything before changing anything. */
static int check_push(const push_msg *m, char *err, size_t errlen)
{
	size_t i;

	if (!m->source || !m->source[0]) {
		snprintf(err, errlen, "push without a source");
		return -EINVAL;
	}
	if (m->body_case == HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT) {
		for (i = 0; i < m->snapshot->n_nodes; i++) {
			const node_msg *n = m->snapshot->nodes[i];

			if (!n->name[0])
				return invalid(err, errlen, "%snode %zu has no name", "snapshot: ", i);
			if (check_images(n->images, n->n_images, n->name, err, errlen))
				return -EINVAL;
		}
		return 0;
	}
	if (m->body_case != HETEROPOD__NODESTATE__STATE_PUSH__BODY_DELTA) {
		snprintf(err, errlen, "push from %s has neither snapshot nor delta", m->source);
		return -EINVAL;
	}
	for (i = 0; i < m->delta->n_nodes; i++) {
		const delta_msg *d = m->delta->nodes[i];

		if (!d->name[0])
			return invalid(err, errlen, "%snode %zu has no name", "delta: ", i);
		if (check_images(d->add_images, d->n_add_images, d->name, err, errlen))
			return -EINVAL;
	}
	return 0;
}

/* A push from @sid proves it alive: un-stale it and its nodes. */
static void refresh_source(struct ext_state *st, uint32_t sid, int64_t now)
{
	struct source *s = &st->sources[sid];
	uint32_t i;

	s->last_seen = now;
	if (!s->stale)
		return;
	for (i = 0; i < st->nodes_cap; i++)
		if (st->nodes[i].present && st->nodes[i].source == sid)
			unlink_node(st, &st->nodes[i]);
	s->stale = false;
	for (i = 0; i < st->nodes_cap; i++)
		if (st->nodes[i].present && st->nodes[i].source == sid)
			link_node(st, &st->nodes[i]);
}

static int apply_snapshot(struct ext_state *st, uint32_t sid, const push_msg *m)
{
	uint32_t i;
	int ret = 0;

	st->epoch++;
	for (i = 0; i < m->snapshot->n_nodes && !ret; i++)
		ret = replace_node(st, sid, m->snapshot->nodes[i]);
	if (ret)
		return ret;
	/* Nodes the source reported before but not now are gone. */
	for (i = 0; i < st->nodes_cap; i++) {
		struct node *n = &st->nodes[i];

		if (n->present && n->source == sid && n->mark != st->epoch)
			forget_node(st, n);
	}
	st->sources[sid].known = true;
	st->sources[sid].generation = m->generation;
	return 0;
}

/* Classify a delta against its source's stream; APPLIED means "apply it". */
static int delta_status(const struct source *s, const push_msg *m,
			char *err, size_t errlen)
{
	if (!s->known) {
		snprintf(err, errlen, "source %s: no snapshot received yet", m->source);
		return REPLY(NEED_SNAPSHOT);
	}
	if (m->generation == s->generation && !m->delta->n_nodes)
		return REPLY(KEEPALIVE);
	if (m->generation <= s->generation)
		return REPLY(DUPLICATE);
	if (m->generation != s->generation + 1) {
		snprintf(err, errlen,
			 "source %s: generation gap: last applied %llu, got %llu",
			 m->source, (unsigned long long)s->generation,
			 (unsigned long long)m->generation);
		return REPLY(NEED_SNAPSHOT);
	}
	return REPLY(APPLIED);
}

static int apply_locked(struct ext_state *st, const push_msg *m, int64_t now,
			Heteropod__Nodestate__PushReply *reply, char *err,
			size_t errlen)
{
	uint32_t sid = source_id(st, m->source), i;
	int ret = 0;

	if (sid == EXT_ID_NONE)
		return -ENOMEM;
	if (m->body_case == HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT) {
		refresh_source(st, sid, now);
		ret = apply_snapshot(st, sid, m);
		reply->status = REPLY(APPLIED);
		goto out;
	}
	reply->status = delta_status(&st->sources[sid], m, err, errlen);
	if (reply->status == REPLY(NEED_SNAPSHOT))
		goto out;
	refresh_source(st, sid, now);
	if (reply->status != REPLY(APPLIED))
		goto out;
	for (i = 0; i < m->delta->n_nodes && !ret; i++)
		ret = apply_delta_node(st, sid, m->delta->nodes[i]);
	if (!ret)
		st->sources[sid].generation = m->generation;
out:
	reply->generation = st->sources[sid].generation;
	return ret;
}

int ext_state_apply(struct ext_state *st, const push_msg *m, int64_t now_ms,
		    Heteropod__Nodestate__PushReply *reply, char *err, size_t errlen)
{
	int ret;

	err[0] = '\0';
	reply->generation = 0;
	if (check_push(m, err, errlen)) {
		reply->status = REPLY(INVALID);
		goto out;
	}
	pthread_rwlock_wrlock(&st->lock);
	ret = apply_locked(st, m, now_ms, reply, err, errlen);
	pthread_rwlock_unlock(&st->lock);
	if (ret) {
		snprintf(err, errlen, "out of memory applying push from %s", m->source);
		reply->status = REPLY(INVALID);
		return ret;
	}
out:
	if (err[0])
		reply->error = err;
	return 0;
}

int ext_state_seed(struct ext_state *st, node_msg *const *nodes, size_t n,
		   int64_t now_ms)
{
	uint32_t sid, nid;
	size_t i;
	int ret = 0;

	pthread_rwlock_wrlock(&st->lock);
	sid = source_id(st, EXT_SEED_SOURCE);
	if (sid == EXT_ID_NONE) {
		ret = -ENOMEM;
		goto out;
	}
	refresh_source(st, sid, now_ms);
	st->sources[sid].known = true;
	for (i = 0; i < n && !ret; i++) {
		nid = ext_intern_find(st->node_names, nodes[i]->name, strlen(nodes[i]->name));
		if (nid != EXT_ID_NONE && st->nodes[nid].present &&
		    st->nodes[nid].source != sid)
			continue;
		ret = replace_node(st, sid, nodes[i]);
	}
out:
	pthread_rwlock_unlock(&st->lock);
	return ret;
}

unsigned ext_state_sweep(struct ext_state *st, int64_t now_ms)
{
	unsigned newly = 0;
	bool any = false;
	uint32_t i;

	pthread_rwlock_wrlock(&st->lock);
	for (i = 0; i < st->sources_cap; i++) {
		struct source *s = &st->sources[i];

		if (s->known && !s->stale && now_ms - s->last_seen > st->stale_ms)
			any = true;
	}
	for (i = 0; any && i < st->nodes_cap; i++) {
		struct node *n = &st->nodes[i];
		struct source *s = &st->sources[n->source];

		if (n->present && !s->stale && now_ms - s->last_seen > st->stale_ms) {
			count_images(st, n, -1);
			st->stale++;
			newly++;
		}
	}
	for (i = 0; any && i < st->sources_cap; i++) {
		struct source *s = &st->sources[i];

		if (s->known && !s->stale && now_ms - s->last_seen > st->stale_ms)
			s->stale = true;
	}
	pthread_rwlock_unlock(&st->lock);
	return newly;
}

/* ---- queries (read lock) ---- */

/* Id of the live node @name, or EXT_ID_NONE. */
static uint32_t find_live(const struct ext_state *st, const char *name)
{
	uint32_t id = ext_intern_find(st->node_names, name, strlen(name));

	if (id == EXT_ID_NONE || id >= st->nodes_cap || !node_live(st, &st->nodes[id]))
		return EXT_ID_NONE;
	return id;
}

struct pod_terms {
	uint32_t *ids;		/* per container: image name id or EXT_ID_NONE */
	int64_t *scaled;	/* per container: its spread-scaled size */
	uint32_t template_id;
};

static int pod_terms(const struct ext_state *st, const struct ext_pod_images *pod,
		     struct pod_terms *t)
{
	size_t i, k = pod->n_images ? pod->n_images : 1;
	char buf[1024];

	t->ids = malloc(k * sizeof(*t->ids));
	t->scaled = malloc(k * sizeof(*t->scaled));
	if (!t->ids || !t->scaled)
		return -ENOMEM;
	for (i = 0; i < pod->n_images; i++) {
		int len = ext_score_normalize_image(pod->images[i], buf, sizeof(buf));
		uint32_t id = len < 0 ? EXT_ID_NONE :
			ext_intern_find(st->image_names, buf, (size_t)len);

		t->ids[i] = id;
		t->scaled[i] = id == EXT_ID_NONE ? 0 :
			ext_score_scaled_image(st->info[id].size, st->info[id].holders.n,
					       st->present);
	}
	t->template_id = !pod->template_key ? EXT_ID_NONE :
		ext_intern_find(st->template_names, pod->template_key,
				strlen(pod->template_key));
	return 0;
}

/*
 * Membership is read from the holders index of the pod's images (a few hot
 * arrays or bitmaps), not from each node's own list: one probe per node and
 * container instead of a search through thousands of scattered lists.
 */
static int score_node(const struct ext_state *st, uint32_t nid,
		      const struct pod_terms *t, size_t containers, int bonus)
{
	int64_t sum = 0;
	size_t i;
	int has_tpl = 0;

	if (nid != EXT_ID_NONE) {
		for (i = 0; i < containers; i++)
			if (t->ids[i] != EXT_ID_NONE &&
			    ext_posting_has(&st->info[t->ids[i]].holders, nid))
				sum += t->scaled[i];
		has_tpl = t->template_id != EXT_ID_NONE &&
			  ext_idset_has(&st->nodes[nid].templates, t->template_id);
	}
	return ext_score_total(ext_score_image_priority(sum, containers), has_tpl,
			       bonus);
}

int ext_state_prioritize(struct ext_state *st, const struct ext_pod_images *pod,
			 const char *const *nodes, size_t n, int template_bonus,
			 int *scores)
{
	struct pod_terms t = { 0 };
	int ret;
	size_t i;

	pthread_rwlock_rdlock(&st->lock);
	ret = pod_terms(st, pod, &t);
	for (i = 0; !ret && i < n; i++)
		scores[i] = score_node(st, find_live(st, nodes[i]), &t, pod->n_images,
				       template_bonus);
	pthread_rwlock_unlock(&st->lock);
	free(t.ids);
	free(t.scaled);
	return ret;
}

void ext_state_dpu(struct ext_state *st, const char *const *nodes, size_t n,
		   enum ext_dpu *out)
{
	size_t i;

	pthread_rwlock_rdlock(&st->lock);
	for (i = 0; i < n; i++) {
		uint32_t nid = find_live(st, nodes[i]);

		out[i] = nid != EXT_ID_NONE ? st->nodes[nid].dpu : EXT_DPU_UNKNOWN;
	}
	pthread_rwlock_unlock(&st->lock);
}

void ext_state_stats(struct ext_state *st, struct ext_state_stats *out)
{
	size_t bytes = sizeof(*st);
	uint32_t i;

	pthread_rwlock_rdlock(&st->lock);
	for (i = 0; i < st->nodes_cap; i++)
		bytes += st->nodes[i].images.len + st->nodes[i].templates.cap *
			 sizeof(uint32_t);
	for (i = 0; i < st->info_cap; i++)
		bytes += ext_posting_bytes(&st->info[i].holders);
	bytes += st->nodes_cap * sizeof(*st->nodes) +
		 st->sources_cap * sizeof(*st->sources) +
		 st->info_cap * sizeof(*st->info) +
		 ext_intern_bytes(st->image_names) + ext_intern_bytes(st->template_names) +
		 ext_intern_bytes(st->node_names) + ext_intern_bytes(st->source_names);
	out->bytes = bytes;
	out->nodes = st->present;
	out->stale_nodes = st->stale;
	out->image_names = ext_intern_count(st->image_names);
	out->template_names = ext_intern_count(st->template_names);
	out->sources = ext_intern_count(st->source_names);
	out->image_refs = st->image_refs;
	pthread_rwlock_unlock(&st->lock);
}
