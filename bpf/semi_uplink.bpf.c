// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* semi_uplink, XDP flavour: attached to the uplink (native mode). */
#include "bpf/lib/ctx_xdp.h"
#include "bpf/lib/uplink.h"

/* Fragment-aware: jumbo frames pass through (and go by TC). */
SEC("xdp.frags")
int semi_uplink_xdp(struct xdp_md *ctx)
{
	return semi_uplink(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
