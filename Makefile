# heteropod — top-level build.  `make help` lists the targets.

# Components, in build order (lib first: everything links it).  A folder
# takes part once it has a Makefile that includes mk/common.mk.
COMPONENTS := $(patsubst %/Makefile,%,$(wildcard $(addsuffix /Makefile, \
	lib netns hsock faas scheduler-plugin offloader bench)))

include mk/common.mk
export BUILD SHARED

.DEFAULT_GOAL := all

# Each component's `tests` and `fuzz` link what its `all` built, so they
# come after `all` even under -j.
all::
	$(Q)for c in $(COMPONENTS); do $(MAKE) --no-print-directory -C $$c $@ || exit 1; done
tests fuzz:: all
	$(Q)for c in $(COMPONENTS); do $(MAKE) --no-print-directory -C $$c $@ || exit 1; done

test: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)tests/run

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(TOP)/build-asan SANITIZE=1 all tests
	$(Q)BUILD=$(TOP)/build-asan tests/run --unit

bench:: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)for c in $(COMPONENTS); do $(MAKE) --no-print-directory -C $$c bench || exit 1; done
	$(Q)$(MAKE) --no-print-directory -C kernel bench

# The split-namespace demo (netns/): a pod's CPU and DPU halves, Istio's
# rules, haproxy as the offloaded proxy, real requests and a latency table.
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)demo/demo.sh

deps:
	$(Q)mk/install-deps

clean:
	$(call msg,RM,build)rm -rf $(TOP)/build $(TOP)/build-asan

help:
	@echo 'make          build every user-space component into build/'
	@echo 'make test     install deps, build, run all tests (unit + integration)'
	@echo 'make asan     unit tests under ASan+UBSan (build-asan/)'
	@echo 'make bench    benchmarks (figures as ratios against baselines)'
	@echo 'make fuzz     libFuzzer harnesses (clang)'
	@echo 'make demo     split a demo pod (netns), send real requests, print the table'
	@echo 'make deps     install the Debian packages the build and tests need'
	@echo 'knobs: V=1 CI=true BUILD=dir SHARED=dir'

.PHONY: test asan demo deps clean help
