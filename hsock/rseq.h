/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Restartable sequences (rseq) for the per-CPU record arenas of commit.c:
 * the only platform shim of the pool.  glibc >= 2.35 registers a struct
 * rseq for every thread it starts and exports where it is (__rseq_offset
 * from the thread pointer, __rseq_size; 0 when it did not register, e.g.
 * GLIBC_TUNABLES=glibc.pthread.rseq=0).  They are looked up with dlsym so
 * that the library still loads with an older glibc.
 *
 * A critical section below is one asm block: it stores the address of its
 * descriptor (struct rseq_cs, section __rseq_cs) in rseq->rseq_cs, checks
 * that rseq->cpu_id is still the CPU whose arena the caller picked, reads
 * and computes in registers, and ends with a single store, the commit.
 * If the thread is preempted, migrated or gets a signal between the start
 * and the commit, the kernel resumes it at the abort handler instead (its
 * four bytes before hold RSEQ_SIG, 0x53053053 on x86, which glibc
 * registered), which returns HS_RSEQ_ABORT: the caller picks its CPU again
 * and retries.  So a word written only inside such sections, and only by
 * threads running on CPU c, changes as if by one thread per CPU, across
 * every process that maps it - without a lock prefix.
 *
 * Only x86-64 has the sections; elsewhere hs_rseq_offset() fails and the
 * caller uses its compare-and-swap path.
 */
#ifndef HSOCK_RSEQ_H
#define HSOCK_RSEQ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/rseq.h>

enum {
	HS_RSEQ_ABORT = -1,	/* preempted, signalled or migrated: retry */
	HS_RSEQ_MOVED = -2,	/* not on the CPU asked for any more: retry */
	HS_RSEQ_FULL = 1,	/* push: the stack would go over its cap */
};

#if defined(__x86_64__)
#include <dlfcn.h>

/*
 * Offset of this thread's struct rseq from the thread pointer, if glibc
 * registered one for every thread; -ENOSYS otherwise.
 */
static inline int hs_rseq_offset(ptrdiff_t *off)
{
	const unsigned int *size = dlsym(RTLD_DEFAULT, "__rseq_size");
	const ptrdiff_t *o = dlsym(RTLD_DEFAULT, "__rseq_offset");

	if (!size || !o || *size < offsetof(struct rseq, flags))
		return -ENOSYS;
	*off = *o;
	return 0;
}

static inline struct rseq *hs_rseq_area(ptrdiff_t off)
{
	char *tp;

	asm("movq %%fs:0, %0" : "=r"(tp));
	return (struct rseq *)(tp + off);
}

/* The CPU this thread runs on, or -1 while it has no rseq registration. */
static inline int32_t hs_rseq_cpu(struct rseq *rs)
{
	return (int32_t)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
}

/*
 * Descriptor of the section [1, 2) with abort handler 4, and the start:
 * publish it, then check the CPU (label 5 when it changed).
 */
#define HS_RSEQ_START							\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n"							\
	"3:\n\t"							\
	".long 0, 0\n\t"						\
	".quad 1f, 2f - 1f, 4f\n\t"					\
	".popsection\n\t"						\
	"leaq 3b(%%rip), %%rax\n\t"					\
	"movq %%rax, %c[cs](%[rs])\n"					\
	"1:\n\t"							\
	"cmpl %k[cpu], %c[id](%[rs])\n\t"				\
	"jnz 5f\n\t"

/* Out of line: 5 (moved) and 4 (abort, after the signature) set @ret. */
#define HS_RSEQ_END(ret)						\
	"2:\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n"				\
	"5:\n\t"							\
	"movl $-2, %k[" ret "]\n\t"					\
	"jmp 2b\n\t"							\
	".byte 0x0f, 0xb9, 0x3d\n\t"	/* ud1 <sig>(%rip), %edi */	\
	".long 0x53053053\n"						\
	"4:\n\t"							\
	"movl $-1, %k[" ret "]\n\t"					\
	"jmp 2b\n\t"

#define HS_RSEQ_ARGS(rs, cpu)						\
	[rs] "r"(rs), [cpu] "r"((uint64_t)(cpu)),			\
	[cs] "i"(offsetof(struct rseq, rseq_cs)),			\
	[id] "i"(offsetof(struct rseq, cpu_id))

/*
 * On CPU @cpu, pop up to @n records off the stack whose head word is
 * *@head, (count << 32) | (first + 1), linked through @next[] (a link is
 * record + 1, 0 ends the stack); @nr bounds every link.  Returns how many
 * were written to @out (at most @n: no cycle in next[] can keep it
 * walking), or HS_RSEQ_ABORT / HS_RSEQ_MOVED.  A link out of range ends
 * the walk and empties the stack: a corrupt next[] loses records, never
 * loops or reads outside next[].
 */
static inline int hs_rseq_pop(struct rseq *rs, uint32_t cpu, uint64_t *head,
			      const uint32_t *next, uint32_t nr,
			      uint32_t *out, uint32_t n)
{
	uint64_t h, r;
	uint32_t link;
	int k;

	asm volatile(HS_RSEQ_START
		"movq (%[head]), %[h]\n\t"
		"movl %k[h], %[link]\n\t"
		"xorl %[k], %[k]\n"
		"6:\n\t"
		"cmpl %k[n], %[k]\n\t"
		"jae 7f\n\t"
		"leal -1(%[link]), %k[r]\n\t"	/* 0 wraps: out of range too */
		"cmpl %k[nr], %k[r]\n\t"
		"jae 7f\n\t"
		"movl %k[r], (%[out], %q[k], 4)\n\t"
		"movl (%[next], %[r], 4), %[link]\n\t"
		"incl %[k]\n\t"
		"jmp 6b\n"
		"7:\n\t"
		"testl %[k], %[k]\n\t"
		"jz 2f\n\t"
		"movq %[h], %[r]\n\t"		/* count - k, at least 0 */
		"shrq $32, %[r]\n\t"
		"subq %q[k], %[r]\n\t"
		"jae 8f\n\t"
		"xorl %k[r], %k[r]\n"
		"8:\n\t"
		"leal -1(%[link]), %k[h]\n\t"	/* end or bad link: empty */
		"cmpl %k[nr], %k[h]\n\t"
		"jb 9f\n\t"
		"xorl %[link], %[link]\n\t"
		"xorl %k[r], %k[r]\n"
		"9:\n\t"
		"shlq $32, %[r]\n\t"
		"orq %q[link], %[r]\n\t"
		"movq %[r], (%[head])\n"	/* commit */
		HS_RSEQ_END("k")
		".popsection\n"
		: [k] "=&r"(k), [h] "=&r"(h), [r] "=&r"(r), [link] "=&r"(link)
		: HS_RSEQ_ARGS(rs, cpu), [head] "r"(head), [next] "r"(next),
		  [nr] "r"((uint64_t)nr), [out] "r"(out), [n] "r"((uint64_t)n)
		: "rax", "memory", "cc");
	return k;
}

/*
 * On CPU @cpu, push the chain @first .. @last of @n records (linked but
 * for @last, which gets the old top) unless the stack would then hold
 * more than @cap.  0, HS_RSEQ_FULL, HS_RSEQ_ABORT or HS_RSEQ_MOVED.  The
 * store to next[@last] is not the commit: @last is the caller's until the
 * head names the chain, so an aborted push just writes it again.
 */
static inline int hs_rseq_push(struct rseq *rs, uint32_t cpu, uint64_t *head,
			       uint32_t *next, uint32_t first, uint32_t last,
			       uint32_t n, uint32_t cap)
{
	uint64_t h, t;
	int ret;

	asm volatile("xorl %[ret], %[ret]\n\t"
		HS_RSEQ_START
		"movq (%[head]), %[h]\n\t"
		"movq %[h], %[t]\n\t"
		"shrq $32, %[t]\n\t"
		"addq %[n], %[t]\n\t"
		"cmpq %[cap], %[t]\n\t"
		"ja 6f\n\t"
		"movl %k[h], (%[next], %[last], 4)\n\t"
		"shlq $32, %[t]\n\t"
		"leal 1(%k[first]), %k[h]\n\t"
		"orq %[h], %[t]\n\t"
		"movq %[t], (%[head])\n"	/* commit */
		HS_RSEQ_END("ret")
		"6:\n\t"
		"movl $1, %[ret]\n\t"
		"jmp 2b\n\t"
		".popsection\n"
		: [ret] "=&r"(ret), [h] "=&r"(h), [t] "=&r"(t)
		: HS_RSEQ_ARGS(rs, cpu), [head] "r"(head), [next] "r"(next),
		  [first] "r"((uint64_t)first), [last] "r"((uint64_t)last),
		  [n] "r"((uint64_t)n), [cap] "r"((uint64_t)cap)
		: "rax", "memory", "cc");
	return ret;
}

#else	/* no sections for this architecture: the callers' CAS path */

static inline int hs_rseq_offset(ptrdiff_t *off)
{
	(void)off;
	return -ENOSYS;
}

static inline struct rseq *hs_rseq_area(ptrdiff_t off)
{
	(void)off;
	return NULL;
}

static inline int32_t hs_rseq_cpu(struct rseq *rs)
{
	(void)rs;
	return -1;
}

static inline int hs_rseq_pop(struct rseq *rs, uint32_t cpu, uint64_t *head,
			      const uint32_t *next, uint32_t nr,
			      uint32_t *out, uint32_t n)
{
	(void)rs, (void)cpu, (void)head, (void)next, (void)nr, (void)out, (void)n;
	return HS_RSEQ_ABORT;
}

static inline int hs_rseq_push(struct rseq *rs, uint32_t cpu, uint64_t *head,
			       uint32_t *next, uint32_t first, uint32_t last,
			       uint32_t n, uint32_t cap)
{
	(void)rs, (void)cpu, (void)head, (void)next, (void)first, (void)last;
	(void)n, (void)cap;
	return HS_RSEQ_ABORT;
}

#endif
#endif
