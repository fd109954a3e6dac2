#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Say clearly what the build is missing.  Usage: check-tools.sh CC CLANG BPFTOOL PKG_CONFIG LIB...
set -u
cc=$1 clang=$2 bpftool=$3 pkgconfig=$4; shift 4
bad=0
for t in "$cc" "$clang" "$bpftool" "$pkgconfig"; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "build: missing tool '$t'" >&2
		bad=1
	fi
done
if command -v "$pkgconfig" >/dev/null 2>&1; then
	for l in "$@"; do
		if ! "$pkgconfig" --exists "$l"; then
			echo "build: missing library '$l' (pkg-config cannot find it)" >&2
			bad=1
		fi
	done
fi
for h in cmocka.h; do
	if ! echo "#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <$h>" | "$cc" -E -x c - >/dev/null 2>&1; then
		echo "build: missing header <$h>" >&2
		bad=1
	fi
done
if [ $bad -ne 0 ]; then
	echo "build: run 'scripts/deps.sh' as root (Debian 12) to install what is missing" >&2
	exit 1
fi
