// SPDX-License-Identifier: GPL-2.0
/*
 * dax backend probe: libdaxctl is loaded with dlopen only when
 * HSOCK_GSHM=dax:... is chosen, and the named device-dax instance is looked
 * up among the daxctl regions.  Channel placement inside a device-dax
 * mapping is not implemented yet: a found device is reported and hsock
 * stays on TCP, as it does when the device or the library is missing.
 */
#include "hsock/ial.h"

#include <daxctl/libdaxctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct daxctl_api {
	typeof(daxctl_new) *new_ctx;
	typeof(daxctl_unref) *unref;
	typeof(daxctl_region_get_first) *region_first;
	typeof(daxctl_region_get_next) *region_next;
	typeof(daxctl_dev_get_first) *dev_first;
	typeof(daxctl_dev_get_next) *dev_next;
	typeof(daxctl_dev_get_devname) *devname;
	typeof(daxctl_dev_get_size) *size;
};

static int load_api(void *h, struct daxctl_api *a)
{
	a->new_ctx = dlsym(h, "daxctl_new");
	a->unref = dlsym(h, "daxctl_unref");
	a->region_first = dlsym(h, "daxctl_region_get_first");
	a->region_next = dlsym(h, "daxctl_region_get_next");
	a->dev_first = dlsym(h, "daxctl_dev_get_first");
	a->dev_next = dlsym(h, "daxctl_dev_get_next");
	a->devname = dlsym(h, "daxctl_dev_get_devname");
	a->size = dlsym(h, "daxctl_dev_get_size");
	return a->new_ctx && a->unref && a->region_first && a->region_next &&
	       a->dev_first && a->dev_next && a->devname && a->size ? 0 : -ENOSYS;
}

/* Size of device @name ("daxX.Y"), or 0 when no region has it. */
static unsigned long long find_dev(const struct daxctl_api *a,
				   struct daxctl_ctx *ctx, const char *name)
{
	struct daxctl_region *r;
	struct daxctl_dev *d;

	for (r = a->region_first(ctx); r; r = a->region_next(r))
		for (d = a->dev_first(r); d; d = a->dev_next(d))
			if (!strcmp(a->devname(d), name))
				return a->size(d);
	return 0;
}

int ial_dax_probe(const char *dev, char *err, size_t errlen)
{
	const char *name = strncmp(dev, "/dev/", 5) ? dev : dev + 5;
	struct daxctl_api api;
	struct daxctl_ctx *ctx;
	unsigned long long size;
	void *h;
	int ret = -ENODEV;

	h = dlopen("libdaxctl.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "dax:%s: libdaxctl.so.1 not found (%s); staying on TCP", dev, dlerror());
		return -ENOENT;
	}
	if (load_api(h, &api) || api.new_ctx(&ctx) < 0) {
		snprintf(err, errlen, "dax:%s: libdaxctl unusable; staying on TCP", dev);
		goto out;
	}
	size = find_dev(&api, ctx, name);
	api.unref(ctx);
	if (!size) {
		snprintf(err, errlen, "dax:%s: no such device-dax instance; staying on TCP", dev);
		goto out;
	}
	snprintf(err, errlen, "dax:%s: found (%llu bytes), but channel placement in device-dax is not implemented; staying on TCP", dev, size);
	ret = -EOPNOTSUPP;
out:
	dlclose(h);
	return ret;
}
