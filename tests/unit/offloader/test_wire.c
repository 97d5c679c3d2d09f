// SPDX-License-Identifier: GPL-2.0
/* Peer protocol framing and validation; ZDS client and server over a real socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "netns/hpnetns.h"
#include "offloader/agent_int.h"
#include "offloader/peer.h"
#include "offloader/zds.h"
#include "proto/zds.pb-c.h"

static size_t frame(const agent_peer_msg *m, uint8_t *buf)
{
	size_t n = heteropod__peer__peer_message__pack(m, buf + 4);

	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	return n + 4;
}

static void test_peer_roundtrip_byte_by_byte(void **state)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT, *out;
	Heteropod__Peer__CreateHalf ch = HETEROPOD__PEER__CREATE_HALF__INIT;
	Heteropod__Peer__WorkloadId w = HETEROPOD__PEER__WORKLOAD_ID__INIT;
	char *ips[] = { "10.0.0.7", "fd00::7" };
	struct agent_peer_rx rx;
	uint8_t buf[512];
	int sv[2], got = 0, ret;
	size_t i;

	(void)state;
	w.uid = "uid-1";
	w.name = "web";
	ch.req_id = 42;
	ch.workload = &w;
	ch.n_pod_ips = 2;
	ch.pod_ips = ips;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF;
	m.create_half = &ch;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(agent_peer_send(sv[0], &m), 0);
	assert_int_equal(agent_peer_send(sv[0], &m), 0);
	agent_peer_rx_init(&rx);
	/* Feed the receiver one byte per read: frames still come out whole. */
	for (i = 0; got < 2 && i < 2 * sizeof(buf); i++) {
		ssize_t n = read(sv[1], buf, 1);

		assert_int_equal(n, 1);
		if (rx.cap - rx.len < 1) {
			rx.buf = realloc(rx.buf, rx.cap + 64);
			rx.cap += 64;
		}
		rx.buf[rx.len++] = buf[0];
		while ((ret = agent_peer_rx_next(&rx, &out)) == 1) {
			assert_int_equal(out->body_case, HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF);
			assert_string_equal(out->create_half->workload->uid, "uid-1");
			assert_int_equal(out->create_half->req_id, 42);
			assert_int_equal(out->create_half->n_pod_ips, 2);
			assert_string_equal(out->create_half->pod_ips[1], "fd00::7");
			agent_peer_msg_free(out);
			got++;
		}
		assert_int_equal(ret, 0);
	}
	assert_int_equal(got, 2);
	agent_peer_rx_uninit(&rx);
	close(sv[0]);
	assert_int_equal(agent_peer_rx_fill(&rx, sv[1]), -ECONNRESET);
	agent_peer_rx_uninit(&rx);
	close(sv[1]);
}

static void test_peer_rejects(void **state)
{
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT, *out;
	Heteropod__Peer__DeleteHalf dh = HETEROPOD__PEER__DELETE_HALF__INIT;
	Heteropod__Peer__Hello h = HETEROPOD__PEER__HELLO__INIT;
	uint8_t buf[256];
	size_t n;

	(void)state;
	/* zero length, oversized length, garbage */
	memcpy(buf, "\0\0\0\0", 4);
	assert_int_equal(agent_peer_decode(buf, 4, &out), -EPROTO);
	memcpy(buf, "\x7f\0\0\0", 4);
	assert_int_equal(agent_peer_decode(buf, 4, &out), -EPROTO);
	memcpy(buf, "\0\0\0\3\xff\xff\xff", 7);
	assert_int_equal(agent_peer_decode(buf, 7, &out), -EPROTO);
	/* incomplete: need more */
	memcpy(buf, "\0\0\0\x10\x0a", 5);
	assert_int_equal(agent_peer_decode(buf, 5, &out), 0);
	/* no body set */
	n = frame(&m, buf);
	assert_int_equal(n, 4);
	/* a valid frame with an empty message has length 0: rejected above */
	/* DeleteHalf without uid */
	dh.uid = "";
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_DELETE_HALF;
	m.delete_half = &dh;
	n = frame(&m, buf);
	assert_int_equal(agent_peer_decode(buf, n, &out), -EPROTO);
	/* Hello with min > max */
	h.version_min = 3;
	h.version_max = 2;
	h.node = "n";
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_HELLO;
	m.hello = &h;
	n = frame(&m, buf);
	assert_int_equal(agent_peer_decode(buf, n, &out), -EPROTO);
	h.version_min = 1;
	n = frame(&m, buf);
	assert_int_equal(agent_peer_decode(buf, n, &out), (long)n);
	agent_peer_msg_free(out);
}

static void test_peer_negotiate(void **state)
{
	(void)state;
	assert_int_equal(agent_peer_negotiate(1, 1, 1, 1), 1);
	assert_int_equal(agent_peer_negotiate(1, 3, 2, 5), 3);
	assert_int_equal(agent_peer_negotiate(1, 1, 2, 3), -EPROTO);
	assert_int_equal(agent_peer_negotiate(4, 6, 1, 3), -EPROTO);
}

static void test_peer_tcp(void **state)
{
	int l = agent_peer_listen("127.0.0.1:0"), c, s;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char addr[64];

	(void)state;
	assert_true(l >= 0);
	getsockname(l, (struct sockaddr *)&sa, &len);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	c = agent_peer_connect(addr, 1000);
	assert_true(c >= 0);
	usleep(10000);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	close(s);
	close(c);
	close(l);
	assert_int_equal(agent_peer_connect("nocolon", 10), -EINVAL);
	assert_int_equal(agent_peer_connect("[::1]:notaport", 10), -EINVAL);
	l = agent_peer_listen("[::1]:0");
	if (l >= 0)
		close(l);
}

/* ---- ZDS ---- */

struct zclient {
	char path[108];
	struct stat want[2];
	int acks, adds, snapshot, dels;
	char uid[2][128];
	char sa[256];
	bool identity_ok;
	int fail_with_error;
};

/* A ztunnel-like client: hello, ack every request, check fd identity. */
static void *client_main(void *arg)
{
	struct zclient *z = arg;
	struct agent_zds_msg m;
	struct stat sb;
	int fd = agent_zds_client_connect(z->path);

	z->identity_ok = fd >= 0;
	while (fd >= 0 && agent_zds_client_read(fd, &m) == 0) {
		if (m.type == AGENT_ZDS_ADD) {
			fstat(m.netns_fd, &sb);
			z->identity_ok &= sb.st_ino == z->want[z->adds].st_ino &&
					  sb.st_dev == z->want[z->adds].st_dev;
			snprintf(z->uid[z->adds], sizeof(z->uid[0]), "%s", m.uid);
			snprintf(z->sa, sizeof(z->sa), "%s", m.service_account);
			close(m.netns_fd);
			z->adds++;
		}
		z->snapshot += m.type == AGENT_ZDS_SNAPSHOT_SENT;
		z->dels += m.type == AGENT_ZDS_DEL;
		agent_zds_client_ack(fd, z->fail_with_error ? "no thanks" : NULL);
		z->acks++;
		if (m.type == AGENT_ZDS_DEL)
			break;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_zds_snapshot_and_updates(void **state)
{
	struct zclient z = { 0 };
	struct agent_zds_server *s;
	struct agent_zds_msg ws[2] = { 0 }, del = { .type = AGENT_ZDS_DEL, .netns_fd = -1 };
	char f1[] = "/tmp/hpa-zds-f1-XXXXXX", f2[] = "/tmp/hpa-zds-f2-XXXXXX";
	pthread_t t;
	int i;

	(void)state;
	snprintf(z.path, sizeof(z.path), "/tmp/hpa-zds-%d.sock", getpid());
	ws[0].netns_fd = mkstemp(f1);
	ws[1].netns_fd = mkstemp(f2);
	for (i = 0; i < 2; i++) {
		ws[i].type = AGENT_ZDS_ADD;
		snprintf(ws[i].uid, sizeof(ws[i].uid), "uid-%d", i);
		snprintf(ws[i].service_account, sizeof(ws[i].service_account), "sa");
		fstat(ws[i].netns_fd, &z.want[i]);
	}
	assert_int_equal(agent_zds_server_create(z.path, &s), 0);
	assert_int_equal(agent_zds_server_send(s, &ws[0]), 0);	/* no client: no-op */
	pthread_create(&t, NULL, client_main, &z);
	/* the listening socket is non-blocking: wait for the client */
	for (i = 0; i < 200 && agent_zds_server_conn_fd(s) < 0; i++) {
		assert_true(agent_zds_server_accept(s, ws, 1) >= 0);
		usleep(5000);
	}
	assert_true(agent_zds_server_conn_fd(s) >= 0);
	assert_int_equal(agent_zds_server_send(s, &ws[1]), 0);
	snprintf(del.uid, sizeof(del.uid), "uid-0");
	assert_int_equal(agent_zds_server_send(s, &del), 0);
	pthread_join(t, NULL);
	assert_true(z.identity_ok);
	assert_int_equal(z.adds, 2);
	assert_int_equal(z.snapshot, 1);
	assert_int_equal(z.dels, 1);
	assert_int_equal(z.acks, 4);
	assert_string_equal(z.uid[0], "uid-0");
	assert_string_equal(z.uid[1], "uid-1");
	assert_string_equal(z.sa, "sa");
	assert_int_equal(agent_zds_server_nacks(s), 0);
	agent_zds_server_destroy(s);
	close(ws[0].netns_fd);
	close(ws[1].netns_fd);
	unlink(f1);
	unlink(f2);
}

/* Raw packets a broken server could send: the client refuses them. */
static void test_zds_client_rejects(void **state)
{
	Istio__Workload__Zds__WorkloadRequest r = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__INIT;
	Istio__Workload__Zds__AddWorkload add = ISTIO__WORKLOAD__ZDS__ADD_WORKLOAD__INIT;
	struct agent_zds_msg m;
	uint8_t buf[128];
	size_t n;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(write(sv[0], "\xff\xff", 2), 2);
	assert_int_equal(agent_zds_client_read(sv[1], &m), -EPROTO);
	/* ADD without its fd */
	add.uid = "u";
	r.payload_case = ISTIO__WORKLOAD__ZDS__WORKLOAD_REQUEST__PAYLOAD_ADD;
	r.add = &add;
	n = istio__workload__zds__workload_request__pack(&r, buf);
	assert_int_equal(write(sv[0], buf, n), (ssize_t)n);
	assert_int_equal(agent_zds_client_read(sv[1], &m), -EPROTO);
	/* The wire bytes are Istio's: field 1 (add), field 1 (uid) inside. */
	assert_int_equal(buf[0], 0x0a);
	assert_int_equal(buf[2], 0x0a);
	close(sv[0]);
	assert_int_equal(agent_zds_client_read(sv[1], &m), -ECONNRESET);
	close(sv[1]);
}

/* CreateHalf carries the CPU half's rules: the DPU gets the same rule set;
 * a PortMapUpdate becomes sorted keys, a bad entry refuses the update. */
static void test_create_half_rules_and_port_map(void **state)
{
	const char *shared = getenv("SHARED") ?: "../shared";
	agent_peer_msg m = HETEROPOD__PEER__PEER_MESSAGE__INIT, *back;
	Heteropod__Peer__CreateHalf ch = HETEROPOD__PEER__CREATE_HALF__INIT;
	Heteropod__Peer__PortMapUpdate u = HETEROPOD__PEER__PORT_MAP_UPDATE__INIT;
	Heteropod__Peer__PortEntry e[3], *ep[3];
	struct hpns_ruleset *rs = NULL, *rs2 = NULL;
	uint32_t keys[8];
	char path[512];
	uint8_t *buf;
	size_t len;
	void *blob;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/corpus/istio-inpod/iptables/default.golden", shared);
	assert_int_equal(hpns_ruleset_parse_file(path, NULL, NULL, &rs), 0);
	assert_int_equal(hpns_ruleset_export(rs, &blob, &len), 0);
	ch.rules.data = blob;
	ch.rules.len = len;
	m.body_case = HETEROPOD__PEER__PEER_MESSAGE__BODY_CREATE_HALF;
	m.create_half = &ch;
	buf = malloc(heteropod__peer__peer_message__get_packed_size(&m));
	len = heteropod__peer__peer_message__pack(&m, buf);
	back = heteropod__peer__peer_message__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(hpns_ruleset_import(back->create_half->rules.data,
					     back->create_half->rules.len, &rs2), 0);
	assert_int_equal(hpns_ruleset_count(rs2), hpns_ruleset_count(rs));
	heteropod__peer__peer_message__free_unpacked(back, NULL);
	free(buf);
	free(blob);
	hpns_ruleset_destroy(rs);
	hpns_ruleset_destroy(rs2);

	for (i = 0; i < 3; i++) {
		heteropod__peer__port_entry__init(&e[i]);
		ep[i] = &e[i];
	}
	e[0].proto = HETEROPOD__PEER__PROTO__PROTO_UDP, e[0].port = 53;
	e[1].proto = HETEROPOD__PEER__PROTO__PROTO_TCP, e[1].port = 9080;
	e[2].proto = HETEROPOD__PEER__PROTO__PROTO_TCP, e[2].port = 80;
	u.n_entries = 3;
	u.entries = ep;
	assert_int_equal(agent_ports_keys(&u, keys, 8), 3);
	assert_int_equal(keys[0], IPPROTO_TCP << 16 | 80);
	assert_int_equal(keys[1], IPPROTO_TCP << 16 | 9080);
	assert_int_equal(keys[2], IPPROTO_UDP << 16 | 53);
	e[2].port = 70000;
	assert_int_equal(agent_ports_keys(&u, keys, 8), -EINVAL);
	e[2].port = 80;
	e[2].proto = HETEROPOD__PEER__PROTO__PROTO_UNKNOWN;
	assert_int_equal(agent_ports_keys(&u, keys, 8), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_roundtrip_byte_by_byte),
		cmocka_unit_test(test_peer_rejects),
		cmocka_unit_test(test_peer_negotiate),
		cmocka_unit_test(test_peer_tcp),
		cmocka_unit_test(test_zds_snapshot_and_updates),
		cmocka_unit_test(test_zds_client_rejects),
		cmocka_unit_test(test_create_half_rules_and_port_map),
	};

	return cmocka_run_group_tests_name("offloader/wire", tests, NULL, NULL);
}
