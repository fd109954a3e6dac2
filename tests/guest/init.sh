#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# The test guest's /init (tests/guest/guestimage.py packs it with busybox,
# iproute2's ip and the failover modules).  It loads the modules in the
# order net_failover needs, puts the lab guest's addresses on the failover
# master, tells the host on the serial console, then reports every change of
# the master's slaves and keeps a shell on the console for the host's
# commands.
#
# Console lines for the host start with "SEMI-GUEST ":
#   SEMI-GUEST READY master=eth0 standby=eth1 uptime=4.12
#   SEMI-GUEST SLAVES primary=eth2 standby=eth1 active=eth2 uptime=9.80
#   SEMI-GUEST ERROR <what>
# Kernel command line: semi.ip4=ADDR/LEN semi.ip6=ADDR/LEN (both optional).

/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# iproute2's ip: busybox's shell would run its own applet for plain "ip".
IP=/usr/sbin/ip
say() { echo "SEMI-GUEST $* uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0; }

ip4= ip6=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	semi.ip4=*) ip4=${arg#semi.ip4=} ;;
	semi.ip6=*) ip6=${arg#semi.ip6=} ;;
	esac
done

# IPv6 on the failover master only: a slave with IPv6 transmits by itself
# (MLD, router solicitations) and drags a learning bridge's FDB entry for
# the shared MAC to its tap.  Every device made from now on starts with
# IPv6 off; the master gets it back below.
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
$IP link set dev lo up

for m in $(cat /etc/semi-modules); do
	insmod "/lib/modules/$m.ko" || say "ERROR insmod $m"
done

# The master: the upper device of the virtio-net standby.
master= standby=
i=0
while [ $i -lt 200 ]; do
	for d in /sys/class/net/*; do
		drv=$(readlink "$d/device/driver" 2>/dev/null)
		if [ "${drv##*/}" = virtio_net ] && [ -e "$d/master" ]; then
			standby=${d##*/}
			master=$(readlink "$d/master")
			master=${master##*/}
		fi
	done
	[ -n "$master" ] && break
	i=$((i + 1))
	sleep 0.05
done
if [ -z "$master" ]; then
	say "ERROR no failover master (did QEMU offer VIRTIO_NET_F_STANDBY?)"
else
	echo 0 > "/proc/sys/net/ipv6/conf/$master/disable_ipv6"
	$IP link set dev "$master" up
	[ -n "$ip4" ] && $IP addr add "$ip4" dev "$master"
	[ -n "$ip6" ] && $IP addr add "$ip6" dev "$master" nodad
	say "READY master=$master standby=$standby"
fi

# The slaves as net_failover sees them, one line per change.  A primary is
# a lower device of the master that is not the standby; it is "active"
# when it is running (transmit goes there).
watch_slaves() {
	last=
	while :; do
		primary=none active=$standby
		for l in /sys/class/net/$master/lower_*; do
			[ -e "$l" ] || continue
			s=${l##*/lower_}
			[ "$s" = "$standby" ] && continue
			primary=$s
			if [ "$(cat /sys/class/net/$s/operstate 2>/dev/null)" = up ]; then
				active=$s
			fi
		done
		now="primary=$primary standby=$standby active=$active"
		if [ "$now" != "$last" ]; then
			say "SLAVES $now"
			last=$now
		fi
		sleep 0.05
	done
}
[ -n "$master" ] && watch_slaves &

# Commands from the host on the console, one per line, no echo and no line
# editing (tests/guest/qemuvm.py Console.run brackets each with markers).
stty -F /dev/ttyS0 -echo 2>/dev/null
while :; do
	while read -r line; do
		eval "$line"
	done < /dev/ttyS0 > /dev/ttyS0 2>&1
	sleep 0.1
done
