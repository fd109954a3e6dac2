# SPDX-License-Identifier: GPL-2.0
# loader/: libsemi_dp, the library that loads, pins and drives the datapath.

LOADER_SRCS := $(wildcard loader/*.c)
LOADER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(LOADER_SRCS))
LOADER_LIB := $(B)/lib/libsemi_dp.a
LOADER_LDLIBS := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz
LIBS += $(LOADER_LIB)

# The skeletons are generated headers: build them before any loader object.
$(LOADER_OBJS): | $(BPF_SKELS)
$(B)/obj/loader/dp.o: $(BPF_SKELS)

$(LOADER_LIB): $(LOADER_OBJS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^
