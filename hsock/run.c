// SPDX-License-Identifier: GPL-2.0
/*
 * hsock-run [--stats FILE] [--allow FILE] [--gshm SPEC] -- CMD ARGS...
 *
 * Runs CMD with libhsock.so preloaded (found beside this executable, or at
 * $HSOCK_LIB).  --allow is validated here so that a bad file fails loudly
 * before CMD starts; --stats is truncated and then totalled by every
 * process of CMD's tree at its exit.
 */
#include "hsock/allow.h"
#include "hsock/ial.h"
#include "hsock/chan.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: hsock-run [--stats FILE] [--allow FILE] [--gshm shm|dax:/dev/daxX.Y|rdma:DEV] -- CMD [ARGS...]\n");
}

static int find_lib(char *out, size_t len)
{
	char exe[PATH_MAX - 16];
	ssize_t n;
	char *slash;

	if (getenv("HSOCK_LIB")) {
		snprintf(out, len, "%s", getenv("HSOCK_LIB"));
		return access(out, R_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	*slash = 0;
	snprintf(out, len, "%s/libhsock.so", exe);
	return access(out, R_OK) ? -errno : 0;
}

static int set_abs(const char *var, const char *path)
{
	char abs[PATH_MAX];

	if (path[0] == '/')
		return setenv(var, path, 1);
	if (!getcwd(abs, sizeof(abs)) || strlen(abs) + strlen(path) + 2 > sizeof(abs))
		return -1;
	strcat(abs, "/");
	strcat(abs, path);
	return setenv(var, abs, 1);
}

static int check_allow(const char *path)
{
	struct hsock_allow *al = NULL;
	char err[512];
	int ret;

	ret = hsock_allow_load(path, &al, err, sizeof(err));
	if (ret)
		fprintf(stderr, "hsock-run: %s\n", err);
	hsock_allow_free(al);
	return ret;
}

static int setup_preload(void)
{
	char lib[PATH_MAX], *pre;
	const char *old = getenv("LD_PRELOAD");
	int ret;

	if (find_lib(lib, sizeof(lib))) {
		fprintf(stderr, "hsock-run: libhsock.so not found beside hsock-run (set HSOCK_LIB)\n");
		return -1;
	}
	if (!old || !*old)
		return setenv("LD_PRELOAD", lib, 1);
	if (asprintf(&pre, "%s:%s", lib, old) < 0)
		return -1;
	ret = setenv("LD_PRELOAD", pre, 1);
	free(pre);
	return ret;
}

/* A dax device keeps regions no process maps any more: free them. */
static void sweep_gshm(void)
{
	struct ial *ial;
	char err[512];

	if (!ial_open(getenv("HSOCK_GSHM"), &ial, err, sizeof(err))) {
		ial_sweep(ial);
		ial_close(ial);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", required_argument, NULL, 's' },
		{ "allow", required_argument, NULL, 'a' },
		{ "gshm", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int o, fd;

	while ((o = getopt_long(argc, argv, "+s:a:g:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			fd = open(optarg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0 || set_abs("HSOCK_STATS", optarg)) {
				fprintf(stderr, "hsock-run: %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			close(fd);
			break;
		case 'a':
			if (check_allow(optarg) || set_abs("HSOCK_ALLOW", optarg))
				return 2;
			break;
		case 'g':
			setenv("HSOCK_GSHM", optarg, 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (setup_preload())
		return 2;
	hsock_sweep(getenv("HSOCK_SHM_DIR") ? getenv("HSOCK_SHM_DIR") : "/dev/shm");
	sweep_gshm();
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "hsock-run: %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
