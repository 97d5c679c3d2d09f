// SPDX-License-Identifier: GPL-2.0
/*
 * --stats: at exit every process of the tree adds its counters to the
 * stats file ("key value" lines) under an exclusive flock, so the file
 * holds the totals of all processes that ran under one hsock-run.
 */
#include "hsock/hsock_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const char *const names[S__COUNT] = {
	[S_SEEN] = "connections_seen",
	[S_ATTACHED] = "connections_attached",
	[S_ACCEL] = "connections_accelerated",
	[S_FB_NOT_ALLOWED] = "fallback_not_allowed",
	[S_FB_PEER_ABSENT] = "fallback_peer_absent",
	[S_FB_NO_GSHM] = "fallback_no_gshm",
	[S_FB_ERROR] = "fallback_error",
	[S_FB_UNSEEN] = "fallback_unseen_io",
	[S_GSHM_TX] = "bytes_gshm_tx",
	[S_GSHM_RX] = "bytes_gshm_rx",
	[S_TCP_TX] = "bytes_tcp_tx",
	[S_TCP_RX] = "bytes_tcp_rx",
	[S_BELLS] = "doorbells_rung",
	[S_DRAINED] = "doorbells_drained",
	[S_SPIN_HITS] = "busy_poll_hits",
	[S_RX_SLEEPS] = "sleeps_rx",
	[S_TX_SLEEPS] = "sleeps_tx",
	[S_WAKEUPS] = "wakeups",
	[S_PROBES] = "liveness_probes",
	[S_TRIMS] = "idle_trims",
	[S_REC_LOCAL] = "records_local",
	[S_REC_TAKEN] = "records_taken",
	[S_REC_COMMITS] = "commits",
	[S_REC_RELEASED] = "records_released",
	[S_REC_WAITS] = "commit_waits",
	[S_KMOD_CONNS] = "connections_kernel",
	[S_KMOD_WAITS] = "kernel_tx_waits",
	[S_KMOD_WOKEN] = "kernel_tx_wakeups",
	[S_REC_REUSED] = "records_reused",
};

__thread struct hs_stat_block *hs_stat_tls __attribute__((tls_model("initial-exec")));
static struct hs_stat_block blocks[HS_STAT_BLOCKS];
static _Atomic uint32_t nblocks;

/* This thread's block; NULL once all are taken (it then uses hs.stat). */
struct hs_stat_block *hs_stat_claim(void)
{
	uint32_t i = atomic_load_explicit(&nblocks, memory_order_relaxed);

	do {
		if (i >= HS_STAT_BLOCKS)
			return NULL;
	} while (!atomic_compare_exchange_weak(&nblocks, &i, i + 1));
	hs_stat_tls = &blocks[i];
	return hs_stat_tls;
}

uint64_t hs_stat_sum(enum hs_stat s)
{
	uint32_t i, n = atomic_load(&nblocks);
	uint64_t v = atomic_load_explicit(&hs.stat[s], memory_order_relaxed);

	for (i = 0; i < n && i < HS_STAT_BLOCKS; i++)
		v += atomic_load_explicit(&blocks[i].v[s], memory_order_relaxed);
	return v;
}

/*
 * Only the forking thread lives on in the child; the blocks of the others
 * are zeroed with it and stay claimed (their threads do not exist here).
 */
void hs_stat_reset(void)
{
	uint32_t i, n = atomic_load(&nblocks);
	int s;

	for (s = 0; s < S__COUNT; s++) {
		atomic_store(&hs.stat[s], 0);
		for (i = 0; i < n && i < HS_STAT_BLOCKS; i++)
			atomic_store_explicit(&blocks[i].v[s], 0, memory_order_relaxed);
	}
}

static void parse(char *buf, uint64_t *acc)
{
	char *line, *save = NULL;
	char key[64];
	unsigned long long v;
	int i;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%63s %llu", key, &v) != 2)
			continue;
		for (i = 0; i < S__COUNT; i++)
			if (!strcmp(key, names[i]))
				acc[i] += v;
	}
}

void hs_stats_dump(void)
{
	uint64_t acc[S__COUNT] = { 0 };
	char buf[4096];
	ssize_t n;
	int fd, i, len = 0;

	if (!hs.stats_path[0])
		return;
	fd = open(hs.stats_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	flock(fd, LOCK_EX);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	parse(buf, acc);
	for (i = 0; i < S__COUNT; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s %llu\n", names[i],
				(unsigned long long)(acc[i] + hs_stat_sum(i)));
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, len, 0) != len)
		len = 0;
	flock(fd, LOCK_UN);
	close(fd);
}
