# SPDX-License-Identifier: GPL-2.0
# tests/tools/: test and debugging tools built on the libraries.

TEST_PROGS += $(B)/bin/semi-dpctl

$(B)/bin/semi-dpctl: $(B)/obj/tests/tools/semi-dpctl.o $(LOADER_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LOADER_LDLIBS)
