#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what semi-net needs to build, test and demo -- only what is missing.
# Debian 12 (bookworm) package names.  Run as root; safe to run repeatedly.
set -euo pipefail

PKGS=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
	libjson-c-dev libcmocka-dev
	python3 python3-pytest python3-scapy
	iproute2 iputils-ping tcpdump ethtool procps psmisc kmod util-linux
)
[ "${1:-}" = "--list" ] && { printf '%s\n' "${PKGS[@]}"; exit 0; }

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root (or: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
