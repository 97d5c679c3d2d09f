/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Network-namespace helpers.
 *
 * A namespace is named either by a name under /var/run/netns (as `ip netns`
 * makes them) or by a path (anything containing '/', e.g. /proc/PID/ns/net).
 * Every fd returned is O_CLOEXEC.  setns(2) on a network namespace affects
 * only the calling thread, so enter/restore pairs are per thread.
 */
#ifndef HP_NETNS_H
#define HP_NETNS_H

#define HP_NETNS_RUN_DIR "/var/run/netns"

/* Open a namespace by name or path.  Returns an fd or -errno. */
int hp_netns_open(const char *name_or_path);
/* The calling thread's current network namespace.  Returns an fd or -errno. */
int hp_netns_open_current(void);

/*
 * Switch the calling thread into @target_fd's namespace.  On success *saved
 * holds an fd of the namespace the thread was in, for hp_netns_restore();
 * on failure nothing changed.  Returns 0 or -errno.
 */
int hp_netns_enter_fd(int target_fd, int *saved);
/* As hp_netns_enter_fd(), by name or path. */
int hp_netns_enter(const char *name_or_path, int *saved);
/* Return to the saved namespace and close @saved.  Returns 0 or -errno. */
int hp_netns_restore(int saved);

/* 1 when both fds refer to the same namespace, 0 when not, -errno on error. */
int hp_netns_same(int fd_a, int fd_b);

/*
 * Create a named namespace under /var/run/netns, as `ip netns add` does
 * (bind mount of a fresh namespace).  -EEXIST if the name exists.
 * hp_netns_delete() unmounts and removes it; -ENOENT if absent.
 */
int hp_netns_create(const char *name);
int hp_netns_delete(const char *name);

#endif
