// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* semi_port: clsact ingress of every vf and tap (what the guest sends). */
#include "bpf/lib/ctx_tc.h"
#include "bpf/lib/port.h"

SEC("tc")
int semi_port(struct __sk_buff *ctx)
{
	return semi_port_tx(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
