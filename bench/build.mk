# SPDX-License-Identifier: GPL-2.0
# bench/: the traffic generator (semi-pktgen) and the counting receivers
# (semi-count).  Their BPF objects build under $(B)/bench/ and their
# skeletons as $(B)/include/bench_NAME.skel.h, apart from bpf/'s.

BENCH_BPF   := pktgen count redirect
BENCH_SKELS := $(patsubst %,$(B)/include/bench_%.skel.h,$(BENCH_BPF))
BENCH_BPF_OBJS := $(patsubst %,$(B)/bench/%.bpf.o,$(BENCH_BPF))
BENCH_HDRS  := bench/bench_common.h
# Atomic fetch-and-add/or with a used result needs BPF ISA v3.
BENCH_BPF_CFLAGS := $(BPF_CFLAGS) -mcpu=v3
BENCH_LIBS  := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null) -lelf -lz
BENCH_JSON_LIBS := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null)

$(BENCH_BPF_OBJS): $(B)/bench/%.bpf.o: bench/%.bpf.c $(BENCH_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BENCH_BPF_CFLAGS) -c $< -o $@

$(BENCH_SKELS): $(B)/include/bench_%.skel.h: $(B)/bench/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name bench_$* > $@

$(B)/obj/bench/pktgen.o: $(B)/include/bench_pktgen.skel.h
$(B)/obj/bench/count.o $(B)/obj/bench/counter.o: $(B)/include/bench_count.skel.h

$(B)/bin/semi-pktgen: $(B)/obj/bench/pktgen.o $(B)/obj/bench/util.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(BENCH_JSON_LIBS) $(BENCH_LIBS) -lpthread -o $@

$(B)/bin/semi-count: $(B)/obj/bench/count.o $(B)/obj/bench/counter.o $(B)/obj/bench/util.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(BENCH_JSON_LIBS) $(BENCH_LIBS) -o $@

PROGS += $(B)/bin/semi-pktgen $(B)/bin/semi-count

bench-tools: $(B)/bin/semi-pktgen $(B)/bin/semi-count
.PHONY: bench-tools

# semi-dpbench: the measuring half of `make bench` (bench/bench.py).
# (loader/build.mk is read after this file: name its library literally.)
$(B)/obj/bench/dpbench.o: $(B)/include/bench_count.skel.h \
	$(B)/include/bench_redirect.skel.h

$(B)/bin/semi-dpbench: $(B)/obj/bench/dpbench.o $(B)/obj/bench/counter.o \
		$(B)/obj/bench/util.o $(B)/lib/libsemi_dp.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(BENCH_JSON_LIBS) $(BENCH_LIBS) -o $@

TEST_PROGS += $(B)/bin/semi-dpbench
bench-tools: $(B)/bin/semi-dpbench
