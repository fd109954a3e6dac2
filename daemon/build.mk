# SPDX-License-Identifier: GPL-2.0
# daemon/: semi-netd (the daemon, the only place with policy) and semi-netctl
# (its command line).  The protocol table, the state machine, the state file
# and the configuration parser are shared and unit-tested (tests/daemon/).

DAEMON_COMMON_SRCS := daemon/proto.c daemon/fsm.c daemon/statefile.c daemon/config.c \
		      daemon/util.c
DAEMON_COMMON_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(DAEMON_COMMON_SRCS))
NETD_OBJS := $(patsubst %.c,$(B)/obj/%.o,daemon/netd.c daemon/ports.c daemon/control.c \
	     daemon/handlers.c daemon/migrate.c daemon/peers.c daemon/announce.c daemon/hook.c \
	     daemon/peermsg.c daemon/drain.c daemon/hold.c)
NETCTL_OBJS := $(B)/obj/daemon/netctl.o
DAEMON_JSON_LIBS := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)
# Named by path: this fragment is read before loader/ and netcfg/ define them.
DAEMON_DP_LIB := $(B)/lib/libsemi_dp.a
DAEMON_NC_LIB := $(B)/lib/libsemi_netcfg.a

# The loader's skeletons are generated headers that semi_dp.h's users do not
# need, but the generic rule has no ordering: build the libraries first.
$(DAEMON_COMMON_OBJS) $(NETD_OBJS) $(NETCTL_OBJS): | $(BPF_SKELS)

$(B)/bin/semi-netd: $(NETD_OBJS) $(DAEMON_COMMON_OBJS) $(DAEMON_DP_LIB) $(DAEMON_NC_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_JSON_LIBS) $(NETCFG_LDLIBS) $(LOADER_LDLIBS)

$(B)/bin/semi-netctl: $(NETCTL_OBJS) $(DAEMON_COMMON_OBJS) $(DAEMON_DP_LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_JSON_LIBS) $(LOADER_LDLIBS)

PROGS += $(B)/bin/semi-netd $(B)/bin/semi-netctl

daemon: $(B)/bin/semi-netd $(B)/bin/semi-netctl
.PHONY: daemon
