# SPDX-License-Identifier: GPL-2.0
#
# semi-net build.  `make help` lists the targets.
#
# Everything is built under $(B)/ (default build/).  Quiet by default;
# `make V=1` prints full commands.  `make SANITIZE=1` builds the user-space
# programs with AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Each component adds its rules in its own fragment, <folder>/build.mk,
# which appends to PROGS (installed binaries), TEST_PROGS (test-only
# binaries) and LIBS.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
SHELL := /bin/bash

B       ?= build
PREFIX  ?= /usr/local
CLANG   ?= clang
BPFTOOL ?= bpftool
PYTHON  ?= /usr/bin/python3
PKG_CONFIG ?= pkg-config
ifeq ($(origin CC),default)
CC := gcc
endif

V ?= 0
ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-9s %s\n' '$(1)' '$(2)';
endif

MULTIARCH := $(shell $(CC) -dumpmachine 2>/dev/null)
BPF_ARCH  := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# Libraries found through pkg-config; the build says which one is missing.
PC_LIBS := libbpf libnl-3.0 libnl-route-3.0 libnl-genl-3.0 json-c
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PC_LIBS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	  -Wshadow -Wformat=2 -Wmissing-prototypes -fno-strict-aliasing \
	  -D_GNU_SOURCE -I$(B)/include -I. $(PC_CFLAGS)
LDFLAGS ?=
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -target bpf -mcpu=v3 -O2 -g -Wall -Werror -D__TARGET_ARCH_$(BPF_ARCH) \
	      -I/usr/include/$(MULTIARCH) -I. -I$(B)/include

PROGS :=
TEST_PROGS :=
LIBS :=
CLEAN_EXTRA :=

.PHONY: all check check-tools demo bench install clean help deps tests

all: check-tools

include $(sort $(wildcard */build.mk) $(wildcard tests/*/build.mk))

all: $(LIBS) $(PROGS)
tests: all $(TEST_PROGS)

help:
	@echo 'make           build everything under $(B)/'
	@echo 'make check     install missing dependencies, build, run the whole test suite'
	@echo 'make demo      install missing dependencies, build, run the live-migration demo'
	@echo 'make bench     run the benchmarks (bench/), print ratios, write docs/BENCHMARKS.md'
	@echo 'make check-guest  migrate a real QEMU guest N times (GUEST_RUNS=10), print the distribution'
	@echo 'make install   install binaries under $(PREFIX) (DESTDIR honoured)'
	@echo 'make clean     remove $(B)/'
	@echo 'options: V=1 (show commands) SANITIZE=1 (ASan+UBSan) B=dir (build folder)'
	@echo 'tests: make check TESTS="-k pattern" passes arguments to pytest'

deps:
	$(Q)scripts/deps.sh

# The build states what it needs: one line per missing tool or library.
check-tools:
	$(Q)scripts/check-tools.sh "$(CC)" "$(CLANG)" "$(BPFTOOL)" "$(PKG_CONFIG)" $(PC_LIBS)

# make check: the README's test command.  Dependencies first, then the build,
# then one pytest run over tests/ whose summary line ends the output.
TESTS ?=
check: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)SEMI_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -p no:cacheprovider tests $(TESTS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all lab
	$(Q)SEMI_BUILD=$(abspath $(B)) tests/demo/demo

bench: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)if [ -x bench/run.sh ]; then SEMI_BUILD=$(abspath $(B)) bench/run.sh; \
	else echo 'bench: not yet'; fi

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/sbin)
	$(Q)install -d $(DESTDIR)$(PREFIX)/sbin
	$(Q)for p in $(PROGS); do install -m 0755 $$p $(DESTDIR)$(PREFIX)/sbin/; done

clean:
	$(call msg,CLEAN,$(B))
	$(Q)rm -rf $(B) $(CLEAN_EXTRA)

# The flags the objects are built with.  A change (SANITIZE=1 and back, a
# new CFLAGS) rebuilds them all, so that a tree once built for `make check
# SANITIZE=1` never runs -- or benchmarks -- sanitized programs after.
BUILD_FLAGS := $(CC) $(CFLAGS) | $(LDFLAGS)
$(B)/.flags: FORCE
	$(Q)mkdir -p $(@D)
	$(Q)if [ "$$(cat $@ 2>/dev/null)" != '$(BUILD_FLAGS)' ]; then \
		printf '%s\n' '$(BUILD_FLAGS)' > $@; fi
.PHONY: FORCE
FORCE:

# Generic rules shared by every fragment.
$(B)/obj/%.o: %.c $(B)/.flags
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
