# SPDX-License-Identifier: GPL-2.0
# tests/guest/: a real Linux guest with net_failover in QEMU on the lab's
# hosts (nothing to compile: the guest image is built from Debian packages
# at test time, under $(B)/guest/).
#
#   make check-guest [GUEST_RUNS=10]   per series -- without semi-net (learning
#                                      bridges), with semi-net (semi-netd on both
#                                      hosts, steps from QEMU's events) -- boot once,
#                                      GUEST_RUNS live migrations hostA -> hostB ->
#                                      hostA ... under 100 pings/s; print both
#                                      distributions of lost pings and outages side
#                                      by side (GUEST_ARGS: more `guest measure`
#                                      options, e.g. --semi-net, -v)
# The behaviour tests (tests/guest/test_guest*.py) run in `make check`.

GUEST_RUNS ?= 10
GUEST_ARGS ?=

.PHONY: check-guest
check-guest: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)SEMI_BUILD=$(abspath $(B)) $(PYTHON) tests/guest/guest measure \
		--runs $(GUEST_RUNS) $(GUEST_ARGS)
