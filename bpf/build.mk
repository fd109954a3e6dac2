# SPDX-License-Identifier: GPL-2.0
# bpf/: the datapath objects and their skeletons.

BPF_OBJS := semi_uplink semi_uplink_tc semi_port semi_xmit_mon
BPF_HDRS := $(wildcard bpf/*.h bpf/lib/*.h)
BPF_SKELS := $(patsubst %,$(B)/include/%.skel.h,$(BPF_OBJS))

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(B)/include/%.skel.h: $(B)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

bpf: $(BPF_SKELS)
.PHONY: bpf
