/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Ethernet and at most one 802.1Q tag.  Every read is bounds-checked against
 * data_end; the verifier refuses anything else, the fixture tests prove what
 * happens to frames that are too short.
 */
#ifndef SEMI_LIB_PARSE_H
#define SEMI_LIB_PARSE_H

#include "common.h"

enum semi_tag {
	SEMI_TAG_NONE = 0,
	SEMI_TAG_DATA = 1,	/* 802.1Q header in the frame bytes */
	SEMI_TAG_META = 2,	/* tag held by the skb (TC, after the stack untagged it) */
};

struct semi_frame {
	union {
		struct semi_port_key dst;	/* destination MAC + VID */
		__u64 dst_word;			/* the same 8 bytes */
	};
	__u8 tag;			/* enum semi_tag */
	__u8 inner_tag;			/* a second tag follows (not ours) */
	__u16 proto;			/* ethertype after the tag, network order */
	__u32 len;			/* frame length as delivered, without the tag */
};

/* A MAC address in the low 48 bits of a word, as struct semi_port_key lays it out. */
static __always_inline __u64 mac_word(const __u8 *mac)
{
	return (__u64)*(const __u32 *)mac | (__u64)*(const __u16 *)(mac + 4) << 32;
}

struct vlan_hdr_s {
	__be16 tci;
	__be16 proto;
};

/*
 * Returns 0 or a drop reason + 1.  len is the whole frame's length (data to
 * data_end is only its linear part when it has fragments).  meta_vid and
 * meta_present describe a tag the skb carries outside the data (TC only).
 */
static __always_inline int semi_parse(void *data, void *data_end, __u32 len,
				      __u32 meta_present, __u16 meta_vid, struct semi_frame *f)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return SEMI_DROP_RUNT + 1;

	/* Two loads, not six: x86 and arm64 take unaligned packet reads. */
	f->dst_word = mac_word(eth->h_dest);
	f->tag = SEMI_TAG_NONE;
	f->inner_tag = 0;
	f->proto = eth->h_proto;
	f->len = len;

	if (meta_present) {
		f->tag = SEMI_TAG_META;
		f->dst.vlan = meta_vid & VLAN_VID_MASK;
	}
	/* The source MAC is read where it is needed (ports, floods): not on
	 * the unicast fast path. */
	if (eth->h_proto == ETH_P_8021Q_BE) {
		struct vlan_hdr_s *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return SEMI_DROP_TRUNC_VLAN + 1;
		if (f->tag == SEMI_TAG_META) {
			/* Tag in the skb and another in the data: QinQ. */
			f->inner_tag = 1;
			return 0;
		}
		f->tag = SEMI_TAG_DATA;
		f->dst.vlan = bpf_ntohs(vh->tci) & VLAN_VID_MASK;
		f->proto = vh->proto;
		f->len -= VLAN_HLEN;
		if (vh->proto == ETH_P_8021Q_BE || vh->proto == ETH_P_8021AD_BE)
			f->inner_tag = 1;
	} else if (eth->h_proto == ETH_P_8021AD_BE) {
		/* Service tag: a provider's frame, not a VM's. */
		f->inner_tag = 1;
	}
	return 0;
}

#endif
