/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Includes and small helpers every datapath header uses. */
#ifndef SEMI_LIB_COMMON_H
#define SEMI_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/semi_common.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))

#define ETH_P_8021Q_BE	bpf_htons(ETH_P_8021Q)
#define ETH_P_8021AD_BE	bpf_htons(ETH_P_8021AD)
#define VLAN_HLEN	4
#define VLAN_VID_MASK	0x0fff

/* Set through the skeleton before load (tests turn the trace on). */
const volatile __u32 semi_cfg_trace = 0;

static __always_inline int mac_is_multicast(const __u8 *mac)
{
	return mac[0] & 1;
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

#endif
