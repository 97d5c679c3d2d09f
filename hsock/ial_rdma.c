// SPDX-License-Identifier: GPL-2.0
/*
 * rdma backend probe: libibverbs is loaded with dlopen only when
 * HSOCK_GSHM=rdma:DEVICE is chosen and the device is looked up.  Region
 * registration and one-sided writes are not implemented yet: a found
 * device is reported and hsock stays on TCP, as when it is missing.
 */
#include "hsock/ial.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <string.h>

#undef ibv_get_device_list

struct ibv_api {
	struct ibv_device **(*list)(int *num);
	typeof(ibv_free_device_list) *free_list;
	typeof(ibv_get_device_name) *name;
};

static bool has_device(const struct ibv_api *a, const char *dev)
{
	struct ibv_device **l;
	bool found = false;
	int i, n = 0;

	l = a->list(&n);
	if (!l)
		return false;
	for (i = 0; i < n; i++)
		if (!strcmp(a->name(l[i]), dev))
			found = true;
	a->free_list(l);
	return found;
}

int ial_rdma_probe(const char *dev, char *err, size_t errlen)
{
	struct ibv_api api;
	void *h;
	int ret = -ENODEV;

	h = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "rdma:%s: libibverbs.so.1 not found (%s); staying on TCP", dev, dlerror());
		return -ENOENT;
	}
	api.list = dlsym(h, "ibv_get_device_list");
	api.free_list = dlsym(h, "ibv_free_device_list");
	api.name = dlsym(h, "ibv_get_device_name");
	if (!api.list || !api.free_list || !api.name)
		snprintf(err, errlen, "rdma:%s: libibverbs unusable; staying on TCP", dev);
	else if (!has_device(&api, dev))
		snprintf(err, errlen, "rdma:%s: no such RDMA device; staying on TCP", dev);
	else {
		snprintf(err, errlen, "rdma:%s: found, but one-sided channel writes are not implemented; staying on TCP", dev);
		ret = -EOPNOTSUPP;
	}
	dlclose(h);
	return ret;
}
