# SPDX-License-Identifier: GPL-2.0
# tests/datapath/: the BPF_PROG_TEST_RUN fixture table.

TEST_PROGS += $(B)/bin/dp-fixtures

$(B)/bin/dp-fixtures: $(B)/obj/tests/datapath/fixtures.o $(LOADER_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LOADER_LDLIBS)

# The table leaves trailing fields of its rows to their zero defaults.
$(B)/obj/tests/datapath/fixtures.o: CFLAGS += -Wno-missing-field-initializers
