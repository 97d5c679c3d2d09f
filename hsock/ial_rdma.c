// SPDX-License-Identifier: GPL-2.0
/*
 * rdma backend: the verbs layer of ial_rdma.h (a registered region, an RC
 * queue pair, one-sided WRITE/READ, WRITE WITH IMMEDIATE as the notify)
 * and the probe ial_open() runs for HSOCK_GSHM=rdma:DEVICE.  hsock's
 * channels are not carried over RDMA (they would need a mirrored,
 * non-coherent ring): the probe opens the device, registers a region to
 * show it can, says so, and hsock stays on TCP.
 */
#include "hsock/ial.h"
#include "hsock/ial_rdma.h"

#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* verbs.h wraps these in inline code that would link them: use the table */
#undef ibv_get_device_list
#undef ibv_query_port
#undef ibv_reg_mr

#define RDMA_PORT	1
#define RDMA_RECVS	16	/* notifications the peer may have in flight */
#define RDMA_SENDS	8
#define RDMA_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

struct ial_rdma_lib {
	void *handle;
	struct ibv_device **(*get_device_list)(int *num);
	void (*free_device_list)(struct ibv_device **list);
	const char *(*get_device_name)(struct ibv_device *dev);
	struct ibv_context *(*open_device)(struct ibv_device *dev);
	int (*close_device)(struct ibv_context *ctx);
	int (*query_port)(struct ibv_context *ctx, uint8_t port,
			  struct ibv_port_attr *attr);
	ssize_t (*query_gid_table)(struct ibv_context *ctx,
				   struct ibv_gid_entry *entries, size_t max,
				   uint32_t flags, size_t entry_size);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len,
				 int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe,
				    void *cq_context,
				    struct ibv_comp_channel *channel,
				    int vector);
	int (*destroy_cq)(struct ibv_cq *cq);
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *attr);
	int (*destroy_qp)(struct ibv_qp *qp);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			 int mask);
	const char *(*wc_status_str)(enum ibv_wc_status status);
};

#define SYM(field, name) { name, offsetof(struct ial_rdma_lib, field) }
static const struct {
	const char *name;
	size_t off;
} lib_syms[] = {
	SYM(get_device_list, "ibv_get_device_list"),
	SYM(free_device_list, "ibv_free_device_list"),
	SYM(get_device_name, "ibv_get_device_name"),
	SYM(open_device, "ibv_open_device"),
	SYM(close_device, "ibv_close_device"),
	SYM(query_port, "ibv_query_port"),
	SYM(query_gid_table, "_ibv_query_gid_table"),
	SYM(alloc_pd, "ibv_alloc_pd"),
	SYM(dealloc_pd, "ibv_dealloc_pd"),
	SYM(reg_mr, "ibv_reg_mr"),
	SYM(dereg_mr, "ibv_dereg_mr"),
	SYM(create_cq, "ibv_create_cq"),
	SYM(destroy_cq, "ibv_destroy_cq"),
	SYM(create_qp, "ibv_create_qp"),
	SYM(destroy_qp, "ibv_destroy_qp"),
	SYM(modify_qp, "ibv_modify_qp"),
	SYM(wc_status_str, "ibv_wc_status_str"),
};
#undef SYM

struct ial_rdma {
	const struct ial_rdma_lib *lib;
	char dev[64];
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;
	uint8_t *buf;
	size_t len;
	struct ibv_port_attr port;
	struct ibv_gid_entry gid;
	uint32_t psn;
	struct ial_rdma_desc peer;
	bool connected;
	uint64_t wr_id;
	char status[96];
};

/* ---- the wire descriptor ---- */

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

void ial_rdma_desc_encode(const struct ial_rdma_desc *d,
			  uint8_t buf[IAL_RDMA_DESC_LEN])
{
	uint16_t lid = htobe16(d->lid);

	put32(buf, IAL_RDMA_MAGIC);
	put32(buf + 4, d->qpn);
	put32(buf + 8, d->psn);
	put32(buf + 12, d->rkey);
	put64(buf + 16, d->addr);
	put64(buf + 24, d->len);
	memcpy(buf + 32, d->gid, 16);
	memcpy(buf + 48, &lid, 2);
	memset(buf + 50, 0, 2);
}

static bool gid_zero(const uint8_t gid[16])
{
	static const uint8_t zero[16];

	return !memcmp(gid, zero, 16);
}

static int desc_valid(const struct ial_rdma_desc *d)
{
	if (d->qpn < 2 || d->qpn > 0xffffff || d->psn > 0xffffff)
		return -EINVAL;
	if (!d->len || d->addr + d->len < d->addr)
		return -EINVAL;
	if (gid_zero(d->gid) && !d->lid)
		return -EINVAL;
	return 0;
}

int ial_rdma_desc_decode(const uint8_t *buf, size_t len,
			 struct ial_rdma_desc *d)
{
	uint16_t lid;

	if (len != IAL_RDMA_DESC_LEN || get32(buf) != IAL_RDMA_MAGIC)
		return -EPROTO;
	if (buf[50] || buf[51])
		return -EINVAL;
	d->qpn = get32(buf + 4);
	d->psn = get32(buf + 8);
	d->rkey = get32(buf + 12);
	d->addr = get64(buf + 16);
	d->len = get64(buf + 24);
	memcpy(d->gid, buf + 32, 16);
	memcpy(&lid, buf + 48, 2);
	d->lid = be16toh(lid);
	return desc_valid(d);
}

int ial_rdma_range(uint64_t size, uint64_t off, uint64_t len)
{
	return off > size || len > size - off ? -ERANGE : 0;
}

/* ---- the dlopen table ---- */

int ial_rdma_load(const char *soname, struct ial_rdma_lib **out, char *err,
		  size_t errlen)
{
	struct ial_rdma_lib *lib;
	size_t i;
	void *sym;
	int ret;

	lib = calloc(1, sizeof(*lib));
	if (!lib)
		return -ENOMEM;
	lib->handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib->handle) {
		snprintf(err, errlen, "%s not found (%s)", soname, dlerror());
		ret = -ENOENT;
		goto err_free;
	}
	for (i = 0; i < sizeof(lib_syms) / sizeof(lib_syms[0]); i++) {
		sym = dlsym(lib->handle, lib_syms[i].name);
		if (!sym) {
			snprintf(err, errlen, "%s unusable: no %s", soname,
				 lib_syms[i].name);
			ret = -ENOSYS;
			goto err_close;
		}
		memcpy((char *)lib + lib_syms[i].off, &sym, sizeof(sym));
	}
	*out = lib;
	return 0;
err_close:
	dlclose(lib->handle);
err_free:
	free(lib);
	return ret;
}

void ial_rdma_unload(struct ial_rdma_lib *lib)
{
	if (!lib)
		return;
	dlclose(lib->handle);
	free(lib);
}

/* ---- device, region, queue pair ---- */

static int open_device(struct ial_rdma *r, char *err, size_t errlen)
{
	const struct ial_rdma_lib *lib = r->lib;
	struct ibv_device **list;
	char names[128] = "";
	size_t used = 0;
	int i, n = 0, ret = -ENODEV;

	list = lib->get_device_list(&n);
	if (!list && errno != ENOSYS) {
		ret = -errno;
		snprintf(err, errlen, "rdma:%s: cannot list RDMA devices: %s",
			 r->dev, strerror(errno));
		return ret;
	}
	/* ENOSYS: no uverbs in the kernel, hence no device */
	for (i = 0; list && i < n && !r->ctx; i++) {
		const char *name = lib->get_device_name(list[i]);

		if (used < sizeof(names))
			used += snprintf(names + used, sizeof(names) - used,
					 " %s", name);
		if (strcmp(name, r->dev))
			continue;
		r->ctx = lib->open_device(list[i]);
		ret = r->ctx ? 0 : -errno;
		if (!r->ctx)
			snprintf(err, errlen, "rdma:%s: cannot open the device: %s",
				 r->dev, strerror(-ret));
	}
	if (list)
		lib->free_device_list(list);
	if (ret == -ENODEV)
		snprintf(err, errlen, "rdma:%s: no such RDMA device (%s%s)",
			 r->dev, n ? "found:" : "none found: no RDMA hardware, no soft-RoCE link",
			 n ? names : "");
	return ret;
}

/*
 * Rank of a GID for a RoCE v2 path: RoCE v2 first, then an IPv4-mapped
 * address (::ffff:a.b.c.d) over an IPv6 one, which may be a link-local
 * address the kernel cannot route (fe80:: on lo: ENETUNREACH at RTR).
 */
static int gid_rank(const struct ibv_gid_entry *e)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	return (e->gid_type == IBV_GID_TYPE_ROCE_V2) * 2 +
	       !memcmp(e->gid.raw, v4mapped, sizeof(v4mapped));
}

/* Port 1 active; its best GID by gid_rank(), the first of equals. */
static int pick_port(struct ial_rdma *r, char *err, size_t errlen)
{
	struct ibv_gid_entry *e;
	ssize_t n, i, pick = -1;
	int ret;

	memset(&r->port, 0, sizeof(r->port));
	ret = r->lib->query_port(r->ctx, RDMA_PORT, &r->port);
	if (ret) {
		snprintf(err, errlen, "rdma:%s: port %d: %s", r->dev, RDMA_PORT,
			 strerror(ret));
		return -ret;
	}
	if (r->port.state != IBV_PORT_ACTIVE) {
		snprintf(err, errlen, "rdma:%s: port %d is not active (state %d)",
			 r->dev, RDMA_PORT, r->port.state);
		return -ENETDOWN;
	}
	e = calloc(r->port.gid_tbl_len ? r->port.gid_tbl_len : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	n = r->lib->query_gid_table(r->ctx, e, r->port.gid_tbl_len, 0,
				    sizeof(*e));
	for (i = 0; i < n; i++) {
		if (e[i].port_num != RDMA_PORT || gid_zero(e[i].gid.raw))
			continue;
		if (pick < 0 || gid_rank(&e[i]) > gid_rank(&e[pick]))
			pick = i;
	}
	if (pick >= 0)
		r->gid = e[pick];
	free(e);
	if (pick < 0 && !r->port.lid) {
		snprintf(err, errlen, "rdma:%s: port %d has no GID (RoCE: its netdev has no address)",
			 r->dev, RDMA_PORT);
		return n < 0 ? (int)n : -EADDRNOTAVAIL;
	}
	return 0;
}

static int create_qp(struct ial_rdma *r)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
		.cap = {
			.max_send_wr = RDMA_SENDS,
			.max_recv_wr = RDMA_RECVS,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};

	r->scq = r->lib->create_cq(r->ctx, RDMA_SENDS, NULL, NULL, 0);
	r->rcq = r->lib->create_cq(r->ctx, RDMA_RECVS, NULL, NULL, 0);
	if (!r->scq || !r->rcq)
		return -errno;
	init.send_cq = r->scq;
	init.recv_cq = r->rcq;
	r->qp = r->lib->create_qp(r->pd, &init);
	return r->qp ? 0 : -errno;
}

static int open_region(struct ial_rdma *r, char *err, size_t errlen)
{
	const char *what = "protection domain";
	int ret;

	errno = 0;

	r->pd = r->lib->alloc_pd(r->ctx);
	if (!r->pd)
		goto err;
	what = "memory registration";
	r->mr = r->lib->reg_mr(r->pd, r->buf, r->len, RDMA_ACCESS);
	if (!r->mr)
		goto err;
	what = "queue pair";
	ret = create_qp(r);
	if (ret) {
		errno = -ret;
		goto err;
	}
	if (getrandom(&r->psn, sizeof(r->psn), GRND_NONBLOCK) != sizeof(r->psn))
		r->psn = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	r->psn &= 0xffffff;
	return 0;
err:
	ret = errno ? -errno : -EIO;
	snprintf(err, errlen, "rdma:%s: %s: %s", r->dev, what, strerror(-ret));
	return ret;
}

int ial_rdma_open(struct ial_rdma_lib *lib, const char *dev, void *buf,
		  size_t len, struct ial_rdma **out, char *err, size_t errlen)
{
	struct ial_rdma *r;
	int ret;

	if (!len || strlen(dev) >= sizeof(r->dev)) {
		snprintf(err, errlen, "rdma:%.64s: bad device name or empty region", dev);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->lib = lib;
	r->buf = buf;
	r->len = len;
	strcpy(r->dev, dev);
	ret = open_device(r, err, errlen);
	if (!ret)
		ret = pick_port(r, err, errlen);
	if (!ret)
		ret = open_region(r, err, errlen);
	if (ret) {
		ial_rdma_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void ial_rdma_close(struct ial_rdma *r)
{
	if (!r)
		return;
	if (r->qp)
		r->lib->destroy_qp(r->qp);
	if (r->scq)
		r->lib->destroy_cq(r->scq);
	if (r->rcq)
		r->lib->destroy_cq(r->rcq);
	if (r->mr)
		r->lib->dereg_mr(r->mr);
	if (r->pd)
		r->lib->dealloc_pd(r->pd);
	if (r->ctx)
		r->lib->close_device(r->ctx);
	free(r);
}

void ial_rdma_local(const struct ial_rdma *r, struct ial_rdma_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->qpn = r->qp->qp_num;
	d->psn = r->psn;
	d->rkey = r->mr->rkey;
	d->addr = (uintptr_t)r->buf;
	d->len = r->len;
	memcpy(d->gid, r->gid.gid.raw, 16);
	d->lid = r->port.lid;
}

/* A zero-length receive: what a WRITE WITH IMMEDIATE consumes. */
static int post_recv(struct ial_rdma *r)
{
	struct ibv_recv_wr wr = { .wr_id = 0 }, *bad;

	return -ibv_post_recv(r->qp, &wr, &bad);
}

static int modify(struct ial_rdma *r, struct ibv_qp_attr *attr, int mask,
		  const char *state, char *err, size_t errlen)
{
	int ret = r->lib->modify_qp(r->qp, attr, mask);

	if (ret)
		snprintf(err, errlen, "rdma:%s: queue pair to %s: %s", r->dev,
			 state, strerror(ret));
	return -ret;
}

static int to_init(struct ial_rdma *r, char *err, size_t errlen)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = RDMA_PORT,
		.qp_access_flags = RDMA_ACCESS,
	};
	int i, ret;

	ret = modify(r, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		     IBV_QP_ACCESS_FLAGS, "INIT", err, errlen);
	for (i = 0; !ret && i < RDMA_RECVS; i++)
		ret = post_recv(r);
	return ret;
}

static int to_rtr(struct ial_rdma *r, const struct ial_rdma_desc *peer,
		  char *err, size_t errlen)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = r->port.active_mtu,
		.dest_qp_num = peer->qpn,
		.rq_psn = peer->psn,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.dlid = peer->lid,
			.port_num = RDMA_PORT,
			.is_global = !gid_zero(peer->gid),
			.grh = {
				.sgid_index = r->gid.gid_index,
				.hop_limit = 64,
			},
		},
	};

	memcpy(a.ah_attr.grh.dgid.raw, peer->gid, 16);
	return modify(r, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		      IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		      IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER,
		      "RTR", err, errlen);
}

static int to_rts(struct ial_rdma *r, char *err, size_t errlen)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,		/* 4.096 us << 14: 67 ms */
		.retry_cnt = 7,
		.rnr_retry = 7,		/* retry forever while no receive */
		.sq_psn = r->psn,
		.max_rd_atomic = 1,
	};

	return modify(r, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		      IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC,
		      "RTS", err, errlen);
}

int ial_rdma_connect(struct ial_rdma *r, const struct ial_rdma_desc *peer,
		     char *err, size_t errlen)
{
	int ret;

	if (r->connected)
		return -EISCONN;
	ret = desc_valid(peer);
	if (ret) {
		snprintf(err, errlen, "rdma:%s: invalid peer descriptor", r->dev);
		return ret;
	}
	ret = to_init(r, err, errlen);
	if (!ret)
		ret = to_rtr(r, peer, err, errlen);
	if (!ret)
		ret = to_rts(r, err, errlen);
	if (ret)
		return ret;
	r->peer = *peer;
	r->connected = true;
	return 0;
}

/* ---- one-sided operations ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One completion from @cq within @timeout_ms: busy-poll a little, then
 * sleep 10 us doubling to 1 ms.  0, -ETIMEDOUT or -EIO.
 */
static int poll_one(struct ial_rdma *r, struct ibv_cq *cq, struct ibv_wc *wc,
		    int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	long nap = 10000;
	int n, spins = 0;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n > 0)
			return 0;
		if (n < 0) {
			snprintf(r->status, sizeof(r->status), "poll_cq failed");
			return -EIO;
		}
		if (now_ms() >= end) {
			snprintf(r->status, sizeof(r->status),
				 "no completion in %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		if (++spins > 1000) {
			struct timespec ts = { 0, nap };

			nanosleep(&ts, NULL);
			if (nap < 1000000)
				nap *= 2;
		}
	}
}

/* A failed or missing completion leaves the queue pair unusable. */
static int completion_error(struct ial_rdma *r, const struct ibv_wc *wc)
{
	r->connected = false;
	snprintf(r->status, sizeof(r->status), "%s (status %d, vendor error 0x%x)",
		 r->lib->wc_status_str(wc->status), wc->status, wc->vendor_err);
	switch (wc->status) {
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
		return -EACCES;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -EHOSTUNREACH;
	case IBV_WC_WR_FLUSH_ERR:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

/* Post one work request and wait for its completion; ranges checked. */
static int post_wait(struct ial_rdma *r, enum ibv_wr_opcode op, size_t off,
		     uint64_t roff, size_t len, uint32_t imm, int timeout_ms)
{
	struct ibv_send_wr wr = { .opcode = op }, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;
	int ret;

	if (!r->connected)
		return -ENOTCONN;
	if (ial_rdma_range(r->len, off, len) ||
	    ial_rdma_range(r->peer.len, roff, len))
		return -ERANGE;
	if (len > r->port.max_msg_sz || len > UINT32_MAX)
		return -EMSGSIZE;
	sge.addr = (uintptr_t)(r->buf + off);
	sge.length = (uint32_t)len;
	sge.lkey = r->mr->lkey;
	wr.wr_id = ++r->wr_id;
	wr.sg_list = &sge;
	wr.num_sge = len ? 1 : 0;
	wr.imm_data = htobe32(imm);
	wr.wr.rdma.remote_addr = r->peer.addr + roff;
	wr.wr.rdma.rkey = r->peer.rkey;
	ret = ibv_post_send(r->qp, &wr, &bad);
	if (ret)
		return -ret;
	ret = poll_one(r, r->scq, &wc, timeout_ms);
	if (ret) {
		r->connected = false;
		return ret;
	}
	if (wc.status != IBV_WC_SUCCESS)
		return completion_error(r, &wc);
	return 0;
}

int ial_rdma_write(struct ial_rdma *r, size_t off, uint64_t roff, size_t len,
		   int timeout_ms)
{
	return post_wait(r, IBV_WR_RDMA_WRITE, off, roff, len, 0, timeout_ms);
}

int ial_rdma_read(struct ial_rdma *r, size_t off, uint64_t roff, size_t len,
		  int timeout_ms)
{
	return post_wait(r, IBV_WR_RDMA_READ, off, roff, len, 0, timeout_ms);
}

int ial_rdma_notify(struct ial_rdma *r, size_t off, uint64_t roff,
		    size_t len, uint32_t imm, int timeout_ms)
{
	return post_wait(r, IBV_WR_RDMA_WRITE_WITH_IMM, off, roff, len, imm,
			 timeout_ms);
}

int ial_rdma_wait_notify(struct ial_rdma *r, uint32_t *imm, uint32_t *bytes,
			 int timeout_ms)
{
	struct ibv_wc wc;
	int ret;

	if (!r->connected)
		return -ENOTCONN;
	ret = poll_one(r, r->rcq, &wc, timeout_ms);
	if (ret)
		return ret;
	if (wc.status != IBV_WC_SUCCESS)
		return completion_error(r, &wc);
	if (wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM ||
	    !(wc.wc_flags & IBV_WC_WITH_IMM)) {
		snprintf(r->status, sizeof(r->status),
			 "unexpected receive (opcode %d)", wc.opcode);
		return -EPROTO;
	}
	*imm = be32toh(wc.imm_data);
	*bytes = wc.byte_len;
	return post_recv(r);
}

const char *ial_rdma_status(const struct ial_rdma *r)
{
	return r->status[0] ? r->status : "no error";
}

/* ---- the probe of ial_open() ---- */

static int probe_region(struct ial_rdma_lib *lib, const char *dev, char *err,
			size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ial_rdma *r = NULL;
	void *buf;
	int ret;

	buf = aligned_alloc(page, page);
	if (!buf)
		return -ENOMEM;
	ret = ial_rdma_open(lib, dev, buf, page, &r, err, errlen);
	if (!ret) {
		snprintf(err, errlen, "rdma:%s: device found, port active, a region registered (GID index %u%s); hsock channels over RDMA are not implemented",
			 dev, r->gid.gid_index,
			 r->gid.gid_type == IBV_GID_TYPE_ROCE_V2 ? ", RoCE v2" : "");
		ret = -EOPNOTSUPP;
	}
	ial_rdma_close(r);
	free(buf);
	return ret;
}

int ial_rdma_probe(const char *dev, char *err, size_t errlen)
{
	struct ial_rdma_lib *lib;
	char why[200];
	int ret;

	ret = ial_rdma_load("libibverbs.so.1", &lib, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "rdma:%s: %s; staying on TCP", dev, why);
		return ret;
	}
	ret = probe_region(lib, dev, why, sizeof(why));
	snprintf(err, errlen, "%s; staying on TCP", why);
	ial_rdma_unload(lib);
	return ret;
}
