// SPDX-License-Identifier: GPL-2.0
/* Network-namespace helpers; see netns.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/netns.h"

static int ns_path(char *buf, size_t size, const char *name_or_path)
{
	int n;

	if (!name_or_path || !*name_or_path)
		return -EINVAL;
	if (strchr(name_or_path, '/'))
		n = snprintf(buf, size, "%s", name_or_path);
	else if (!strcmp(name_or_path, ".") || !strcmp(name_or_path, ".."))
		return -EINVAL;
	else
		n = snprintf(buf, size, HP_NETNS_RUN_DIR "/%s", name_or_path);
	return n < (int)size ? 0 : -ENAMETOOLONG;
}

int hp_netns_open(const char *name_or_path)
{
	char path[PATH_MAX];
	int fd, ret;

	ret = ns_path(path, sizeof(path), name_or_path);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int hp_netns_open_current(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int hp_netns_enter_fd(int target_fd, int *saved)
{
	int cur, ret;

	cur = hp_netns_open_current();
	if (cur < 0)
		return cur;
	if (setns(target_fd, CLONE_NEWNET)) {
		ret = -errno;
		close(cur);
		return ret;
	}
	*saved = cur;
	return 0;
}

int hp_netns_enter(const char *name_or_path, int *saved)
{
	int fd, ret;

	fd = hp_netns_open(name_or_path);
	if (fd < 0)
		return fd;
	ret = hp_netns_enter_fd(fd, saved);
	close(fd);
	return ret;
}

int hp_netns_restore(int saved)
{
	int ret = 0;

	if (setns(saved, CLONE_NEWNET))
		ret = -errno;
	close(saved);
	return ret;
}

int hp_netns_same(int fd_a, int fd_b)
{
	struct stat a, b;

	if (fstat(fd_a, &a) || fstat(fd_b, &b))
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Make /var/run/netns a shared mount point, as iproute2 does, so that the
 * bind mounts under it propagate to mount namespaces created later (a
 * container runtime's, say) and can be unmounted from them.
 */
static int prepare_run_dir(void)
{
	if (mkdir(HP_NETNS_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	if (!mount("", HP_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL))
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Not a mount point yet: bind it onto itself, then share it. */
	if (mount(HP_NETNS_RUN_DIR, HP_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL))
		return -errno;
	if (mount("", HP_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL))
		return -errno;
	return 0;
}

/*
 * The new namespace is made by a child process so that no thread of the
 * caller changes namespace; the child's bind mount of its own ns file keeps
 * the namespace alive after it exits.  Status 0 = success, else errno.
 */
static int spawn_namespace(const char *path)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) ||
		    mount("/proc/self/ns/net", path, "none", MS_BIND, NULL))
			_exit(errno);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

int hp_netns_create(const char *name)
{
	char path[PATH_MAX];
	int fd, ret;

	if (strchr(name, '/'))
		return -EINVAL;
	ret = ns_path(path, sizeof(path), name);
	if (ret)
		return ret;
	ret = prepare_run_dir();
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	ret = spawn_namespace(path);
	if (ret)
		unlink(path);
	return ret;
}

int hp_netns_delete(const char *name)
{
	char path[PATH_MAX];
	int ret;

	if (strchr(name, '/'))
		return -EINVAL;
	ret = ns_path(path, sizeof(path), name);
	if (ret)
		return ret;
	if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT)
		return -errno;
	return unlink(path) ? -errno : 0;
}
