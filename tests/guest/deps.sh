#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What the real-guest test needs beyond scripts/deps.sh, installed only when
# missing: QEMU (qemu-system-x86, about 18 MB to download, 85 MB installed).
# Not in scripts/deps.sh so that a plain build does not pay for it; the
# guest test runs this itself and skips, saying why, when it fails.  The
# guest kernel and busybox are not installed: tests/guest/guestimage.py
# fetches them with apt-get download into the build folder.
set -euo pipefail

PKGS=(qemu-system-x86)
[ "${1:-}" = "--list" ] && { printf '%s\n' "${PKGS[@]}"; exit 0; }

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "guest deps: missing ${missing[*]}; run as root (or: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "guest deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
