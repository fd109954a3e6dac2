// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * semi_uplink, TC flavour: clsact ingress of the uplink.  Finishes what the
 * XDP program defers (copies, targets without XDP) and does everything on
 * an uplink whose driver lacks XDP.
 */
#include "bpf/lib/ctx_tc.h"
#include "bpf/lib/uplink.h"

SEC("tc")
int semi_uplink_tc(struct __sk_buff *ctx)
{
	return semi_uplink(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
