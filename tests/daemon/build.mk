# SPDX-License-Identifier: GPL-2.0
# tests/daemon/: cmocka unit tests of semi-netd's pure parts (protocol,
# state machine, state file, configuration); test_*.py runs them and the
# daemon integration tests.

DAEMON_UNIT := fsm proto statefile
DAEMON_UNIT_BINS := $(patsubst %,$(B)/bin/test-daemon-%,$(DAEMON_UNIT))
DAEMON_UNIT_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka) \
		    $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)

TEST_PROGS += $(DAEMON_UNIT_BINS)

$(B)/bin/test-daemon-%: $(B)/obj/tests/daemon/test_%.o $(DAEMON_COMMON_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_UNIT_LIBS)

daemon-tests: $(DAEMON_UNIT_BINS) $(B)/bin/semi-netd $(B)/bin/semi-netctl
.PHONY: daemon-tests
