# SPDX-License-Identifier: GPL-2.0
# netcfg/: the libnl-3 mechanism library (links, link events, bridge FDB and
# port flags, VF settings, announce frames).  Users link
# $(B)/lib/libsemi_netcfg.a and $(NETCFG_LDLIBS).

NETCFG_SRCS := $(sort $(wildcard netcfg/*.c))
NETCFG_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(NETCFG_SRCS))
NETCFG_LIB := $(B)/lib/libsemi_netcfg.a
NETCFG_LDLIBS := $(shell $(PKG_CONFIG) --libs libnl-route-3.0 libnl-3.0)

$(NETCFG_LIB): $(NETCFG_OBJS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

LIBS += $(NETCFG_LIB)

netcfg: $(NETCFG_LIB)
.PHONY: netcfg
