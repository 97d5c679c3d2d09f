// SPDX-License-Identifier: GPL-2.0
/*
 * Trace-driven simulation of a FaaS cluster: every invocation creates a pod
 * (scale from zero, as Knative does under bursty load), the scheduler places
 * it, and its startup latency depends on what the chosen node already has:
 *
 *   warm template of the function on the node  -> fork:       warm_ms
 *   image on the node, no template              -> cold start: cold_ms
 *   image missing                               -> pull + cold start:
 *                                                  pull_ms + size / bandwidth + cold_ms
 *
 * Policies compared on the same trace:
 *   imagelocality: kube-scheduler defaults that matter here, LeastAllocated
 *                  (100 * free slots / slots) + ImageLocality (upstream
 *                  formula, 0..100), weight 1 each, random tie-break;
 *   heteropod:     the same + heteropod-extender's prioritize score (the real
 *                  ext_state, fed by the node agents' deltas) * weight 5 * 10;
 *                  also run with templateBonus 0, to show what the image part
 *                  alone (upstream's formula, spread-scaled) contributes.
 *
 * Assumptions (printed by the program): Poisson arrivals at a fixed load,
 * Zipf function popularity, log-normal image sizes and run times, per-node
 * image cache with LRU eviction, per-node warm templates kept for an idle
 * timeout (LRU beyond a count), agents push every change before the next
 * pod is scheduled (no state lag), no network between extender and agents.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/extender/cluster.h"
#include "scheduler-plugin/score.h"
#include "scheduler-plugin/state.h"

struct params {
	unsigned nodes, slots, functions, invocations, warmup;
	double load;		/* mean busy fraction of all slots */
	double run_median_s;	/* function run time, log-normal, sigma 1 */
	double disk_gib;	/* image cache per node */
	double tpl_keep_s;	/* idle timeout of a warm template */
	unsigned tpl_max;	/* templates per node */
	double pull_ms, mib_per_s, cold_ms, warm_ms;
	int template_bonus, weight;
};

struct call {
	double t, run;
	unsigned fn;
};

struct node {
	double *slot_end;	/* [slots], 0 = free */
	unsigned *slot_fn;
	unsigned char *image;	/* [functions] */
	double *image_used;	/* LRU stamp */
	double *tpl;		/* [functions] last use, < 0 = none */
	unsigned n_tpl;
	int64_t disk;
};

struct sim {
	const struct params *p;
	struct cluster *cl;
	struct node *n;
	unsigned *having;	/* [functions] nodes holding the image */
	struct ext_state *st;	/* NULL for the imagelocality policy */
	uint64_t gen;
	char (*names)[32];
	struct { double sum; unsigned warm, cold, pulled, count; double *lat; } out;
};

/* ---- agent -> extender deltas (the real push path, in process) ---- */

static void push(struct sim *s, unsigned node, const char *add_img, const char *del_img,
		 const char *add_tpl, const char *del_tpl, int64_t size)
{
	Heteropod__Nodestate__StatePush m = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	Heteropod__Nodestate__Delta d = HETEROPOD__NODESTATE__DELTA__INIT;
	Heteropod__Nodestate__NodeDelta nd = HETEROPOD__NODESTATE__NODE_DELTA__INIT, *ndp = &nd;
	Heteropod__Nodestate__Image img = HETEROPOD__NODESTATE__IMAGE__INIT, *imgp = &img;
	Heteropod__Nodestate__PushReply r = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	char *a = (char *)add_img, *b = (char *)del_img, *c = (char *)add_tpl,
	     *e = (char *)del_tpl, err[128];

	if (!s->st)
		return;
	nd.name = s->names[node];
	if (a) {
		img.names = &a, img.n_names = 1, img.size_bytes = size;
		nd.add_images = &imgp, nd.n_add_images = 1;
	}
	if (b)
		nd.remove_images = &b, nd.n_remove_images = 1;
	if (c)
		nd.add_templates = &c, nd.n_add_templates = 1;
	if (e)
		nd.remove_templates = &e, nd.n_remove_templates = 1;
	d.nodes = &ndp, d.n_nodes = 1;
	m.source = "sim-agents";
	m.generation = ++s->gen;
	m.body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_DELTA;
	m.delta = &d;
	ext_state_apply(s->st, &m, 0, &r, err, sizeof(err));
	if (r.status != HETEROPOD__NODESTATE__PUSH_REPLY__STATUS__APPLIED)
		fprintf(stderr, "extsim: push refused: %s\n", err);
}

static void push_snapshot(struct sim *s)
{
	Heteropod__Nodestate__StatePush m = HETEROPOD__NODESTATE__STATE_PUSH__INIT;
	Heteropod__Nodestate__Snapshot snap = HETEROPOD__NODESTATE__SNAPSHOT__INIT;
	Heteropod__Nodestate__NodeState *ns = calloc(s->p->nodes, sizeof(*ns));
	Heteropod__Nodestate__NodeState **nsp = calloc(s->p->nodes, sizeof(*nsp));
	Heteropod__Nodestate__PushReply r = HETEROPOD__NODESTATE__PUSH_REPLY__INIT;
	char err[128];
	unsigned i;

	for (i = 0; i < s->p->nodes; i++) {
		Heteropod__Nodestate__NodeState init = HETEROPOD__NODESTATE__NODE_STATE__INIT;

		ns[i] = init;
		ns[i].name = s->names[i];
		ns[i].dpu = HETEROPOD__NODESTATE__DPU_STATE__DPU_UP;
		nsp[i] = &ns[i];
	}
	snap.nodes = nsp, snap.n_nodes = s->p->nodes;
	m.source = "sim-agents", m.generation = s->gen = 1;
	m.body_case = HETEROPOD__NODESTATE__STATE_PUSH__BODY_SNAPSHOT, m.snapshot = &snap;
	ext_state_apply(s->st, &m, 0, &r, err, sizeof(err));
	free(ns);
	free(nsp);
}

static const char *tpl_name(unsigned fn)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "fn-%u", fn);
	return buf;
}

/* ---- node model ---- */

static void drop_template(struct sim *s, unsigned i, unsigned fn)
{
	s->n[i].tpl[fn] = -1;
	s->n[i].n_tpl--;
	push(s, i, NULL, NULL, NULL, tpl_name(fn), 0);
}

/* A finished instance leaves a warm template (LRU beyond tpl_max). */
static void keep_template(struct sim *s, unsigned i, unsigned fn, double t)
{
	struct node *n = &s->n[i];
	unsigned f, old = 0;

	if (n->tpl[fn] < 0) {
		if (n->n_tpl == s->p->tpl_max) {
			for (f = 0; f < s->p->functions; f++)
				if (n->tpl[f] >= 0 && (n->tpl[old] < 0 || n->tpl[f] < n->tpl[old]))
					old = f;
			drop_template(s, i, old);
		}
		n->n_tpl++;
		push(s, i, NULL, NULL, tpl_name(fn), NULL, 0);
	}
	if (t > n->tpl[fn])
		n->tpl[fn] = t;
}

static void settle(struct sim *s, double t)
{
	unsigned i, k, f;

	for (i = 0; i < s->p->nodes; i++) {
		struct node *n = &s->n[i];

		for (k = 0; k < s->p->slots; k++) {
			if (n->slot_end[k] > 0 && n->slot_end[k] <= t) {
				keep_template(s, i, n->slot_fn[k], n->slot_end[k]);
				n->slot_end[k] = 0;
			}
		}
		for (f = 0; f < s->p->functions; f++)
			if (n->tpl[f] >= 0 && t - n->tpl[f] > s->p->tpl_keep_s)
				drop_template(s, i, f);
	}
}

static bool in_use(const struct sim *s, unsigned i, unsigned fn)
{
	unsigned k;

	if (s->n[i].tpl[fn] >= 0)
		return true;
	for (k = 0; k < s->p->slots; k++)
		if (s->n[i].slot_end[k] > 0 && s->n[i].slot_fn[k] == fn)
			return true;
	return false;
}

static void pull(struct sim *s, unsigned i, unsigned fn, double t)
{
	struct node *n = &s->n[i];
	int64_t cap = (int64_t)(s->p->disk_gib * 1073741824.0);
	unsigned f;

	n->image[fn] = 1;
	n->disk += s->cl->size[fn];
	s->having[fn]++;
	push(s, i, s->cl->tag[fn], NULL, NULL, NULL, s->cl->size[fn]);
	while (n->disk > cap) {	/* evict least recently used, never in use */
		int victim = -1;

		for (f = 0; f < s->p->functions; f++)
			if (n->image[f] && f != fn && !in_use(s, i, f) &&
			    (victim < 0 || n->image_used[f] < n->image_used[victim]))
				victim = (int)f;
		if (victim < 0)
			break;
		n->image[victim] = 0;
		n->disk -= s->cl->size[victim];
		s->having[victim]--;
		push(s, i, NULL, s->cl->tag[victim], NULL, NULL, 0);
	}
	n->image_used[fn] = t;
}

/* ---- scheduling ---- */

static unsigned free_slots(const struct sim *s, unsigned i)
{
	unsigned k, f = 0;

	for (k = 0; k < s->p->slots; k++)
		f += s->n[i].slot_end[k] == 0;
	return f;
}

static int choose(struct sim *s, unsigned fn)
{
	const char *names[1024], *img = s->cl->tag[fn];
	unsigned idx[1024], n = 0, i, ties = 0;
	struct ext_pod_images pod = { &img, 1, NULL };
	int ext[1024], best = -1, pick = -1;
	int64_t scaled = ext_score_scaled_image(s->cl->size[fn], s->having[fn], s->p->nodes);

	for (i = 0; i < s->p->nodes; i++)
		if (free_slots(s, i))
			idx[n] = i, names[n++] = s->names[i];
	if (!n)
		return -1;
	pod.template_key = tpl_name(fn);
	if (s->st)
		ext_state_prioritize(s->st, &pod, names, n, s->p->template_bonus, ext);
	for (i = 0; i < n; i++) {
		unsigned node = idx[i];
		int score = 100 * (int)free_slots(s, node) / (int)s->p->slots +
			ext_score_image_priority_max(s->n[node].image[fn] ? scaled : 0, 1, 100);

		if (s->st)
			score += ext[i] * s->p->weight * 10;
		if (score > best)
			best = score, pick = (int)node, ties = 1;
		else if (score == best && cluster_rand(s->cl) % ++ties == 0)
			pick = (int)node;
	}
	return pick;
}

/* Place one call at time t; returns its startup latency in ms. */
static double start(struct sim *s, const struct call *c, bool count)
{
	double t = c->t, wait = 0, lat;
	struct node *n;
	int i;
	unsigned k;

	settle(s, t);
	while ((i = choose(s, c->fn)) < 0) {	/* all full: wait for a slot */
		double next = 1e300;
		unsigned j;

		for (j = 0; j < s->p->nodes; j++)
			for (k = 0; k < s->p->slots; k++)
				if (s->n[j].slot_end[k] > 0 && s->n[j].slot_end[k] < next)
					next = s->n[j].slot_end[k];
		wait += next - t;
		t = next;
		settle(s, t);
	}
	n = &s->n[i];
	if (n->tpl[c->fn] >= 0) {
		lat = s->p->warm_ms;
		s->out.warm += count;
	} else if (n->image[c->fn]) {
		lat = s->p->cold_ms;
		s->out.cold += count;
	} else {
		lat = s->p->pull_ms + s->cl->size[c->fn] / 1048576.0 / s->p->mib_per_s * 1000 +
		      s->p->cold_ms;
		pull(s, (unsigned)i, c->fn, t);
		s->out.pulled += count;
	}
	n->image_used[c->fn] = t;
	lat += wait * 1000;
	for (k = 0; n->slot_end[k] > 0; k++)
		;
	n->slot_end[k] = t + lat / 1000 + c->run;
	n->slot_fn[k] = c->fn;
	if (count) {
		s->out.lat[s->out.count++] = lat;
		s->out.sum += lat;
	}
	return lat;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run(const struct params *p, const struct call *trace, bool heteropod,
		double *mean_out)
{
	struct cluster cl;
	struct sim s = { .p = p, .cl = &cl };
	unsigned i;

	cluster_init(&cl, p->nodes, 1, p->functions, false, 1234);
	s.n = calloc(p->nodes, sizeof(*s.n));
	s.having = calloc(p->functions, sizeof(*s.having));
	s.names = calloc(p->nodes, sizeof(*s.names));
	s.out.lat = calloc(p->invocations, sizeof(double));
	for (i = 0; i < p->nodes; i++) {
		unsigned f;

		s.n[i].slot_end = calloc(p->slots, sizeof(double));
		s.n[i].slot_fn = calloc(p->slots, sizeof(unsigned));
		s.n[i].image = calloc(p->functions, 1);
		s.n[i].image_used = calloc(p->functions, sizeof(double));
		s.n[i].tpl = malloc(p->functions * sizeof(double));
		for (f = 0; f < p->functions; f++)
			s.n[i].tpl[f] = -1;
		snprintf(s.names[i], sizeof(s.names[i]), "node-%03u", i);
	}
	if (heteropod) {
		s.st = ext_state_create(1L << 40);
		push_snapshot(&s);
	}
	for (i = 0; i < p->invocations + p->warmup; i++)
		start(&s, &trace[i], i >= p->warmup);
	qsort(s.out.lat, s.out.count, sizeof(double), cmp_d);
	printf("%-22s mean_ms=%7.1f p50_ms=%7.1f p99_ms=%7.1f warm=%5.1f%% cold=%5.1f%% pulled=%5.1f%%\n",
	       !heteropod ? "imagelocality" :
	       p->template_bonus ? "heteropod" : "heteropod(bonus 0)",
	       s.out.sum / s.out.count,
	       s.out.lat[s.out.count / 2], s.out.lat[s.out.count * 99 / 100],
	       100.0 * s.out.warm / s.out.count, 100.0 * s.out.cold / s.out.count,
	       100.0 * s.out.pulled / s.out.count);
	*mean_out = s.out.sum / s.out.count;
	ext_state_destroy(s.st);
	for (i = 0; i < p->nodes; i++) {
		free(s.n[i].slot_end), free(s.n[i].slot_fn), free(s.n[i].image);
		free(s.n[i].image_used), free(s.n[i].tpl);
	}
	free(s.n), free(s.having), free(s.names), free(s.out.lat);
	cluster_free(&cl);
}

static struct call *make_trace(const struct params *p)
{
	unsigned n = p->invocations + p->warmup, i;
	struct call *tr = calloc(n, sizeof(*tr));
	struct cluster cl;
	double mean_run = p->run_median_s * exp(0.5);	/* log-normal, sigma 1 */
	double rate = p->load * p->nodes * p->slots / mean_run, t = 0;

	cluster_init(&cl, 1, 1, p->functions, false, 99);
	for (i = 0; tr && i < n; i++) {
		double u = cluster_unit(&cl) + 1e-12, v = cluster_unit(&cl);

		t += -log(cluster_unit(&cl) + 1e-12) / rate;
		tr[i].t = t;
		tr[i].fn = cluster_pick(&cl);
		tr[i].run = p->run_median_s * exp(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
	}
	cluster_free(&cl);
	return tr;
}

int main(int argc, char **argv)
{
	struct params p = {
		.nodes = 50, .slots = 8, .functions = 1000, .invocations = 20000,
		.warmup = 5000, .load = 0.3, .run_median_s = 1.0, .disk_gib = 8,
		.tpl_keep_s = 60, .tpl_max = 4, .pull_ms = 50, .mib_per_s = 100,
		.cold_ms = 400, .warm_ms = 10, .template_bonus = 5, .weight = 5,
	};
	double base, het;
	struct call *tr;

	if (argc > 1)
		p.invocations = (unsigned)atoi(argv[1]);
	printf("FaaS simulation: %u nodes x %u slots, %u functions (Zipf 0.9), %u invocations"
	       " after %u warm-up, load %.0f%%, run time log-normal median %.1fs\n"
	       "  image sizes log-normal median 120MiB; pull %.0fms + size at %.0fMiB/s;"
	       " cold start %.0fms; warm fork %.0fms\n"
	       "  image cache %.0fGiB/node LRU; templates kept %.0fs idle, %u/node;"
	       " extender weight %d, templateBonus %d; agents push each change at once\n",
	       p.nodes, p.slots, p.functions, p.invocations, p.warmup, p.load * 100,
	       p.run_median_s, p.pull_ms, p.mib_per_s, p.cold_ms, p.warm_ms, p.disk_gib,
	       p.tpl_keep_s, p.tpl_max, p.weight, p.template_bonus);
	tr = make_trace(&p);
	if (!tr)
		return 1;
	run(&p, tr, false, &base);
	run(&p, tr, true, &het);
	{
		/* the extender's image part alone (same formula as ImageLocality) */
		struct params no_tpl = p;
		double images_only;

		no_tpl.template_bonus = 0;
		run(&no_tpl, tr, true, &images_only);
	}
	printf("average startup: imagelocality %.1f ms, heteropod %.1f ms (%.1fx lower)\n",
	       base, het, base / het);
	free(tr);
	return 0;
}
