// SPDX-License-Identifier: GPL-2.0
/* hsock allowlists of split pods: see allow.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offloader/allow.h"

void agent_allow_lines(const char *ips, char *buf, size_t n)
{
	char copy[128], *save = NULL, *ip;
	size_t len = strlen(buf);

	snprintf(copy, sizeof(copy), "%s", ips);
	for (ip = strtok_r(copy, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
		snprintf(buf + len, n - len, strchr(ip, ':') ? "[%s]:* *\n" : "%s:* *\n", ip);
		len = strlen(buf);
	}
}

void agent_allow_name(const char *ns, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s_%s.allow", ns, name);
}

static int write_all(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t w;

	while (off < len) {
		w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return fsync(fd) ? -errno : 0;
}

int agent_allow_put(const char *dir, const char *file, const char *text)
{
	char path[4096], tmp[4200];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!text)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, text);
	close(fd);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int agent_allow_sweep(const char *dir, int (*keep)(const char *file, void *arg),
		      void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t len;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if ((len > 6 && !strcmp(de->d_name + len - 6, ".allow") &&
		     !keep(de->d_name, arg)) ||
		    (len > 10 && !strcmp(de->d_name + len - 10, ".allow.tmp"))) {
			if (!unlinkat(dirfd(d), de->d_name, 0))
				n++;
		}
	}
	closedir(d);
	return n;
}
