# SPDX-License-Identifier: GPL-2.0
# tests/lab/: the two-host migration lab's programs (test-only binaries).
#   tap-relay       QEMU's part: frames between a host tap and a guest's virtio
#   semi-meter      sequence-numbered UDP stream: loss, duplicates, reorder, timeline
#   semi-lab-guest  the guest's net_failover, in eBPF (lab_guest.bpf.c)
#   lab_steer.bpf.o a stand-in uplink program for tests (XDP into the VF)

LAB_BINS := $(B)/bin/tap-relay $(B)/bin/semi-meter $(B)/bin/semi-lab-guest
LAB_UTIL := $(B)/obj/tests/lab/labutil.o
LAB_LIBBPF := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)

TEST_PROGS += $(LAB_BINS) $(B)/lab/lab_steer.bpf.o

LAB_BPF := $(B)/lab/lab_guest.bpf.o $(B)/lab/lab_steer.bpf.o

$(B)/lab/%.bpf.o: tests/lab/%.bpf.c tests/lab/lab_guest.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(B)/include/lab_guest.skel.h: $(B)/lab/lab_guest.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name lab_guest > $@

$(B)/obj/tests/lab/lab-guest.o: $(B)/include/lab_guest.skel.h

$(B)/bin/tap-relay: $(B)/obj/tests/lab/tap-relay.o $(LAB_UTIL)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

$(B)/bin/semi-meter: $(B)/obj/tests/lab/semi-meter.o $(LAB_UTIL)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lpthread -lm

$(B)/bin/semi-lab-guest: $(B)/obj/tests/lab/lab-guest.o $(LAB_UTIL)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LAB_LIBBPF) -lm

lab: $(LAB_BINS) $(LAB_BPF)
.PHONY: lab
