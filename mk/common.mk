# Shared build rules, included by every component's Makefile.
#
# Output goes to $(BUILD) (default: build/ at the top), mirroring the source
# tree: foo/bar.c -> $(BUILD)/foo/bar.o.  Unit-test executables go to
# $(BUILD)/unit/<component>/, where tests/run finds them.
#
# Knobs: V=1 (show commands), CI=true (warnings are errors), SANITIZE=1
# (ASan+UBSan), BUILD=dir, SHARED=dir (the corpus, default ../shared).

TOP    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BUILD  ?= $(TOP)/build
SHARED ?= $(abspath $(TOP)/../shared)

CC      ?= cc
CLANG   ?= clang
PROTOC_C ?= protoc-c

CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -MMD -MP -D_GNU_SOURCE \
	   -I$(TOP) -I$(BUILD) $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)
ifeq ($(CI),true)
CFLAGS  += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q   :=
msg  =
else
Q   := @
msg  = @printf '  %-7s %s\n' '$(1)' '$(patsubst $(TOP)/%,%,$(2))';
endif

# $(call pkg,NAMES): compiler and linker flags of pkg-config packages.
pkg_cflags = $(shell pkg-config --cflags $(1))
pkg_libs   = $(shell pkg-config --libs $(1))

LIBHP := $(BUILD)/lib/libhp.a

$(BUILD)/%.o: $(TOP)/%.c
	$(call msg,CC,$<)mkdir -p $(@D) && $(CC) $(CFLAGS) -c $< -o $@

# Generated protobuf-c sources: proto/NAME.proto -> $(BUILD)/proto/NAME.pb-c.{c,h};
# include them as "proto/NAME.pb-c.h".  Never committed.
$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: $(TOP)/proto/%.proto
	$(call msg,PROTOC,$<)mkdir -p $(BUILD)/proto && \
		$(PROTOC_C) --proto_path=$(TOP)/proto --c_out=$(BUILD)/proto $<
.PRECIOUS: $(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h
# Keep intermediate objects (make would delete those of pattern chains).
.SECONDARY:

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	$(call msg,CC,$<)$(CC) $(CFLAGS) $(call pkg_cflags,libprotobuf-c) -c $< -o $@

# $(call link,OUT,INPUTS,LIBS)
link = $(call msg,LD,$(1))mkdir -p $(dir $(1)) && $(CC) $(LDFLAGS) -o $(1) $(2) $(3)

# Standard targets a component may extend with its own prerequisites.
all::
tests::
fuzz::
bench::
.PHONY: all tests fuzz bench

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
