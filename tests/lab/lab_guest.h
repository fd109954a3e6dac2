/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The lab's guest model, shared by the guest eBPF program and its loader.
 *
 * A guest namespace holds three interfaces with the same MAC:
 *   master  ("eth0")   the net_failover device, holds the IP addresses;
 *   virtio  ("virtio") the standby, a tap whose other side is tap-relay;
 *   vf      ("vf")     the primary, a veth whose peer sits on a host.
 * The programs below move frames between them the way Linux
 * drivers/net/net_failover.c does.
 */
#ifndef LAB_GUEST_H
#define LAB_GUEST_H

/* skb->mark of a frame delivered to the master, by the path it came in on;
 * semi-meter reads it with SO_RCVMARK ("-L 1=vf -L 2=virtio"). */
#define LAB_MARK_VF	1
#define LAB_MARK_VIRTIO	2

/* Per-CPU counters, one slot each (map lab_stats). */
enum lab_stat {
	LAB_RX_VF,		/* vf -> master */
	LAB_RX_VIRTIO,		/* virtio -> master (no VF registered) */
	LAB_DROP_VIRTIO_VF,	/* virtio frame dropped: a VF is registered */
	LAB_DROP_VF_UNREG,	/* vf frame dropped: this vf is not registered */
	LAB_TX_VF,		/* master -> vf */
	LAB_TX_VIRTIO,		/* master -> virtio (no VF registered) */
	LAB_TX_VIRTIO_VF_DOWN,	/* master -> virtio because the VF is not running */
	LAB_TX_VIRTIO_VF_GONE,	/* master -> virtio: the registered VF is unlisted */
	LAB_STAT_MAX,
};

struct lab_count {
	__u64 packets;
	__u64 bytes;
};

#define LAB_STAT_NAMES {			\
	[LAB_RX_VF] = "rx_vf",			\
	[LAB_RX_VIRTIO] = "rx_virtio",		\
	[LAB_DROP_VIRTIO_VF] = "drop_virtio_vf_present", \
	[LAB_DROP_VF_UNREG] = "drop_vf_unregistered", \
	[LAB_TX_VF] = "tx_vf",			\
	[LAB_TX_VIRTIO] = "tx_virtio",		\
	[LAB_TX_VIRTIO_VF_DOWN] = "tx_virtio_vf_down", \
	[LAB_TX_VIRTIO_VF_GONE] = "tx_virtio_vf_gone", \
}

#endif /* LAB_GUEST_H */
