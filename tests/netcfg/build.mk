# SPDX-License-Identifier: GPL-2.0
# tests/netcfg/: the netcfg unit tests (cmocka) and netcfg-tool, the CLI the
# pytest suite drives inside network namespaces.

NETCFG_TOOL := $(B)/bin/netcfg-tool
NETCFG_UNIT := $(B)/bin/netcfg-unit

$(NETCFG_TOOL): $(B)/obj/tests/netcfg/netcfg-tool.o $(NETCFG_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(NETCFG_LDLIBS) $(shell $(PKG_CONFIG) --libs json-c)

$(NETCFG_UNIT): $(B)/obj/tests/netcfg/test_unit.o $(NETCFG_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(NETCFG_LDLIBS) -lcmocka

TEST_PROGS += $(NETCFG_TOOL) $(NETCFG_UNIT)

netcfg-tests: $(NETCFG_TOOL) $(NETCFG_UNIT)
.PHONY: netcfg-tests
