// SPDX-License-Identifier: GPL-2.0
/* Classification, placement health, state checkpoint, store and local source. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/json.h"
#include "offloader/classify.h"
#include "offloader/kube.h"
#include "offloader/local.h"
#include "offloader/placement.h"
#include "offloader/state.h"
#include "offloader/store.h"

static json_t *obj(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	return v;
}

static void classify_text(const char *pod, const char *ns, struct agent_verdict *v,
			  json_t **keep)
{
	json_t *p = obj(pod), *n = ns ? obj(ns) : NULL;

	agent_classify(p, n, "istio-system", v);
	keep[0] = p;
	keep[1] = n;
}

static void drop(json_t **keep)
{
	json_decref(keep[0]);
	json_decref(keep[1]);
}

static void test_classes(void **state)
{
	struct agent_verdict v;
	json_t *k[2];

	(void)state;
	classify_text("{\"metadata\":{\"namespace\":\"istio-system\",\"labels\":{\"app\":\"ztunnel\"}}}",
		      NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_ZTUNNEL);
	drop(k);
	/* app=ztunnel elsewhere is just a pod */
	classify_text("{\"metadata\":{\"namespace\":\"default\",\"labels\":{\"app\":\"ztunnel\"}}}",
		      NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_NONE);
	drop(k);
	classify_text("{\"metadata\":{\"namespace\":\"shop\",\"labels\":{"
		      "\"gateway.istio.io/managed\":\"istio.io-mesh-controller\","
		      "\"gateway.networking.k8s.io/gateway-name\":\"waypoint\"}}}", NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_WAYPOINT);
	drop(k);
	/* managed label without a gateway name is not a waypoint */
	classify_text("{\"metadata\":{\"namespace\":\"shop\",\"labels\":{"
		      "\"gateway.istio.io/managed\":\"istio.io-mesh-controller\"}}}", NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_NONE);
	drop(k);
	classify_text("{\"metadata\":{\"labels\":{\"heteropod.io/chain\":\"c1\"}}}", NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_CHAIN);
	assert_string_equal(v.chain, "c1");
	assert_false(agent_wants_dpu(&v));	/* mode none */
	drop(k);
	/* a Knative Service's template annotation, as it reaches the pods; the
	 * label wins over it; chains go to the DPU in mode all */
	classify_text("{\"metadata\":{\"annotations\":{\"heteropod.io/chain\":\"kn\","
		      "\"heteropod.io/offload\":\"all\"}}}", NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_CHAIN);
	assert_string_equal(v.chain, "kn");
	assert_true(agent_wants_dpu(&v));
	drop(k);
	classify_text("{\"metadata\":{\"labels\":{\"heteropod.io/chain\":\"lbl\"},"
		      "\"annotations\":{\"heteropod.io/chain\":\"ann\",\"heteropod.io/offload\":\"waypoint\"}}}",
		      NULL, &v, k);
	assert_string_equal(v.chain, "lbl");
	assert_false(agent_wants_dpu(&v));
	drop(k);
}

static void test_ambient(void **state)
{
	const char *ns = "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"istio.io/dataplane-mode\":\"ambient\"}}}";
	struct agent_verdict v;
	json_t *k[2];

	(void)state;
	classify_text("{\"metadata\":{\"namespace\":\"shop\"}}", ns, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_APP);
	assert_true(v.ambient);
	drop(k);
	classify_text("{\"metadata\":{\"namespace\":\"shop\",\"labels\":{\"istio.io/dataplane-mode\":\"none\"}}}",
		      ns, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_NONE);
	assert_false(v.ambient);
	drop(k);
	classify_text("{\"metadata\":{\"labels\":{\"istio.io/dataplane-mode\":\"ambient\"}}}", NULL, &v, k);
	assert_int_equal(v.cls, AGENT_CLASS_APP);
	drop(k);
}

static void test_modes(void **state)
{
	const char *ns_all = "{\"metadata\":{\"name\":\"s\",\"annotations\":{\"heteropod.io/offload\":\"all\"}}}";
	const char *ns_bad = "{\"metadata\":{\"name\":\"s\",\"annotations\":{\"heteropod.io/offload\":\"yes\"}}}";
	struct agent_verdict v;
	json_t *k[2];

	(void)state;
	classify_text("{\"metadata\":{}}", NULL, &v, k);
	assert_int_equal(v.mode, AGENT_MODE_NONE);
	assert_int_equal(v.mode_src, AGENT_SRC_DEFAULT);
	drop(k);
	classify_text("{\"metadata\":{}}", ns_all, &v, k);
	assert_int_equal(v.mode, AGENT_MODE_ALL);
	assert_int_equal(v.mode_src, AGENT_SRC_NAMESPACE);
	drop(k);
	classify_text("{\"metadata\":{\"annotations\":{\"heteropod.io/offload\":\"waypoint\"}}}",
		      ns_all, &v, k);
	assert_int_equal(v.mode, AGENT_MODE_WAYPOINT);
	assert_int_equal(v.mode_src, AGENT_SRC_POD);
	assert_int_equal(v.bad_on, AGENT_BAD_NONE);
	drop(k);
	classify_text("{\"metadata\":{\"annotations\":{\"heteropod.io/offload\":\"ALL\"}}}",
		      ns_all, &v, k);
	assert_int_equal(v.mode, AGENT_MODE_NONE);
	assert_int_equal(v.bad_on, AGENT_BAD_POD);
	assert_string_equal(v.bad_value, "ALL");
	drop(k);
	classify_text("{\"metadata\":{}}", ns_bad, &v, k);
	assert_int_equal(v.mode, AGENT_MODE_NONE);
	assert_int_equal(v.bad_on, AGENT_BAD_NAMESPACE);
	drop(k);
}

static void test_wants_dpu(void **state)
{
	struct agent_verdict v = { .cls = AGENT_CLASS_WAYPOINT, .mode = AGENT_MODE_WAYPOINT };

	(void)state;
	assert_true(agent_wants_dpu(&v));
	v.cls = AGENT_CLASS_ZTUNNEL;
	assert_false(agent_wants_dpu(&v));
	v.mode = AGENT_MODE_ALL;
	assert_true(agent_wants_dpu(&v));
	v.cls = AGENT_CLASS_APP;
	assert_true(agent_wants_dpu(&v));
	v.mode = AGENT_MODE_NONE;
	assert_false(agent_wants_dpu(&v));
	v.cls = AGENT_CLASS_NONE;
	v.mode = AGENT_MODE_ALL;
	assert_false(agent_wants_dpu(&v));
}

static void test_placement(void **state)
{
	struct agent_placement p;

	(void)state;
	agent_placement_init(&p, 100, 3, 500, 64 << 20);
	assert_false(agent_placement_healthy(&p, 0));
	agent_placement_connected(&p, true, 1000);
	assert_false(agent_placement_healthy(&p, 1000));	/* no capacity yet */
	agent_placement_heartbeat(&p, 1000, 1000, 128 << 20, 9, 10);
	assert_true(agent_placement_healthy(&p, 1300));
	assert_false(agent_placement_healthy(&p, 1301));
	agent_placement_heartbeat(&p, 1300, 1000, 128 << 20, 9, 10);
	assert_true(agent_placement_healthy(&p, 1550));
	assert_true(agent_placement_room(&p, 1));
	assert_false(agent_placement_room(&p, 2));
	agent_placement_heartbeat(&p, 1400, 400, 128 << 20, 0, 10);
	assert_false(agent_placement_room(&p, 1));	/* CPU below the minimum */
	agent_placement_heartbeat(&p, 1400, 600, 32 << 20, 0, 10);
	assert_false(agent_placement_room(&p, 1));	/* memory below the minimum */
	agent_placement_connected(&p, false, 1500);
	assert_false(agent_placement_healthy(&p, 1500));
}

static void test_state_roundtrip_and_checkpoint(void **state)
{
	char dir[] = "/tmp/hpa-state-XXXXXX", err[512], path[600];
	struct agent_state a, b;
	struct agent_pod_rec *p;
	json_t *doc, *back;
	struct stat sb;
	int ret;

	(void)state;
	assert_non_null(mkdtemp(dir));
	agent_state_init(&a, "host", "n1");
	p = agent_state_get(&a, "u1");
	snprintf(p->ns, sizeof(p->ns), "shop");
	snprintf(p->name, sizeof(p->name), "web");
	p->cls = AGENT_CLASS_APP;
	p->mode = AGENT_MODE_ALL;
	p->mode_src = AGENT_SRC_NAMESPACE;
	p->place = AGENT_PLACE_DPU;
	p->split = AGENT_SPLIT_PENDING;
	p->half = true;
	snprintf(p->reason, sizeof(p->reason), "waiting");
	assert_ptr_equal(agent_state_get(&a, "u1"), p);
	agent_state_get(&a, "u2");
	a.dpu.failovers = 3;
	doc = agent_state_to_json(&a);
	assert_int_equal(agent_checkpoint_write(dir, doc, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/.state.json.tmp", dir);
	assert_int_not_equal(stat(path, &sb), 0);	/* renamed, not left */
	back = agent_checkpoint_read(dir, &ret, err, sizeof(err));
	assert_non_null(back);
	assert_true(json_equal(doc, back));
	agent_state_init(&b, "host", "n1");
	assert_int_equal(agent_state_from_json(&b, back), 0);
	assert_int_equal(b.n, 2);
	p = agent_state_find(&b, "u1");
	assert_non_null(p);
	assert_string_equal(p->name, "web");
	assert_int_equal(p->split, AGENT_SPLIT_PENDING);
	assert_true(p->half);
	assert_int_equal(p->netns_fd, -1);
	assert_int_equal(b.dpu.failovers, 3);
	agent_state_remove(&b, p);
	assert_null(agent_state_find(&b, "u1"));
	assert_non_null(agent_state_find(&b, "u2"));
	json_decref(doc);
	json_decref(back);
	agent_state_uninit(&a);
	agent_state_uninit(&b);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	unlink(path);
	rmdir(dir);
}

static void test_checkpoint_errors(void **state)
{
	char dir[] = "/tmp/hpa-state-XXXXXX", err[512], path[600];
	struct agent_state st;
	json_t *doc;
	FILE *f;
	int ret;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_null(agent_checkpoint_read(dir, &ret, err, sizeof(err)));
	assert_int_equal(ret, -ENOENT);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	f = fopen(path, "w");
	fputs("{\"version\": 1, \"pods\": [\n", f);
	fclose(f);
	assert_null(agent_checkpoint_read(dir, &ret, err, sizeof(err)));
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err, "state.json:"));
	doc = obj("{\"version\":1,\"pods\":[{\"uid\":\"x\",\"class\":\"martian\"}]}");
	agent_state_init(&st, "host", "n");
	assert_int_equal(agent_state_from_json(&st, doc), -EINVAL);
	json_decref(doc);
	doc = obj("{\"version\":2,\"pods\":[]}");
	assert_int_equal(agent_state_from_json(&st, doc), -EINVAL);
	assert_int_not_equal(agent_checkpoint_write("/nonexistent/dir", doc, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/dir/state.json"));
	json_decref(doc);
	agent_state_uninit(&st);
	unlink(path);
	rmdir(dir);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_local_source(void **state)
{
	char dir[] = "/tmp/hpa-local-XXXXXX", err[512], cmd[128];
	struct agent_store *s = agent_store_create(-1);
	struct agent_local *l;
	json_t *pods, *nss;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "a.yaml", "kind: Namespace\nmetadata: {name: shop}\n---\n"
		   "kind: Pod\nmetadata: {name: web, namespace: shop}\n---\n"
		   "kind: Pod\nmetadata: {name: far}\nspec: {nodeName: other}\n");
	write_file(dir, "b.yml", "kind: Pod\nmetadata: {name: db, uid: u-db}\nspec: {nodeName: n1}\n");
	write_file(dir, "notes.txt", "kind: Pod\nmetadata: {name: ignored}\n");
	assert_int_equal(agent_local_create(dir, "n1", s, &l), 0);
	assert_int_equal(agent_local_reload(l, err, sizeof(err)), 0);
	assert_true(agent_store_synced(s, AGENT_KIND_POD));
	pods = agent_store_snapshot(s, AGENT_KIND_POD);
	assert_int_equal(json_object_size(pods), 2);
	assert_string_equal(hp_json_str(json_object_get(pods, "shop/web"), "metadata", "uid", NULL),
			    "local-shop-web");
	assert_string_equal(hp_json_str(json_object_get(pods, "default/db"), "metadata", "uid", NULL),
			    "u-db");
	json_decref(pods);
	nss = agent_store_snapshot(s, AGENT_KIND_NAMESPACE);
	assert_non_null(json_object_get(nss, "shop"));
	json_decref(nss);

	/* A broken edit keeps the file's previous objects and names the position. */
	write_file(dir, "b.yml", "kind: Pod\nmetadata: {name: [db\n");
	assert_int_equal(agent_local_reload(l, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "b.yml:"));
	pods = agent_store_snapshot(s, AGENT_KIND_POD);
	assert_non_null(json_object_get(pods, "default/db"));
	json_decref(pods);

	/* Removing a file removes its objects. */
	snprintf(cmd, sizeof(cmd), "%s/a.yaml", dir);
	unlink(cmd);
	assert_int_equal(agent_local_reload(l, err, sizeof(err)), 1);
	pods = agent_store_snapshot(s, AGENT_KIND_POD);
	assert_null(json_object_get(pods, "shop/web"));
	json_decref(pods);
	agent_local_destroy(l);
	agent_store_destroy(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_kubeconfig(void **state)
{
	char dir[] = "/tmp/hpa-kube-XXXXXX", path[256], err[512];
	struct agent_kube *k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "config", "apiVersion: v1\ncurrent-context: b\nclusters:\n"
		   "- name: one\n  cluster: {server: 'https://a:6443'}\n"
		   "- name: two\n  cluster:\n    server: https://[fd00::1]:6443/\n"
		   "    certificate-authority-data: aGVsbG8=\n"
		   "users:\n- name: u\n  user: {token: abc}\n"
		   "contexts:\n- name: a\n  context: {cluster: one, user: u}\n"
		   "- name: b\n  context: {cluster: two, user: u}\n");
	snprintf(path, sizeof(path), "%s/config", dir);
	k = agent_kube_from_kubeconfig(path, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(agent_kube_server(k), "https://[fd00::1]:6443");
	agent_kube_destroy(k);
	write_file(dir, "config", "current-context: nope\ncontexts: []\n");
	assert_null(agent_kube_from_kubeconfig(path, err, sizeof(err)));
	assert_non_null(strstr(err, "nope"));
	write_file(dir, "config", "current-context: a\nclusters:\n- name: one\n  cluster: {server: 'https://a', "
		   "certificate-authority-data: '@@@'}\ncontexts:\n- name: a\n  context: {cluster: one}\n");
	assert_null(agent_kube_from_kubeconfig(path, err, sizeof(err)));
	unlink(path);
	rmdir(dir);
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/hpa-sa-XXXXXX", err[512], path[256];
	struct agent_kube *k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_null(agent_kube_in_cluster(dir, err, sizeof(err)));
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_null(agent_kube_in_cluster(dir, err, sizeof(err)));	/* no token */
	assert_non_null(strstr(err, "token"));
	write_file(dir, "token", "t1\n");
	k = agent_kube_in_cluster(dir, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(agent_kube_server(k), "https://[fd00:10::1]:443");
	agent_kube_destroy(k);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	k = agent_kube_in_cluster(dir, err, sizeof(err));
	assert_string_equal(agent_kube_server(k), "https://10.96.0.1:443");
	agent_kube_destroy(k);
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_ambient),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_wants_dpu),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_state_roundtrip_and_checkpoint),
		cmocka_unit_test(test_checkpoint_errors),
		cmocka_unit_test(test_local_source),
		cmocka_unit_test(test_kubeconfig),
		cmocka_unit_test(test_in_cluster),
	};

	return cmocka_run_group_tests_name("offloader/model", tests, NULL, NULL);
}
