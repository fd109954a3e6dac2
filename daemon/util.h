/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by semi-netd's and semi-netctl's sources: whole
 * reads and writes that retry on EINTR and short counts.
 */
#ifndef SEMI_NETD_UTIL_H
#define SEMI_NETD_UTIL_H

#include <stddef.h>

/*
 * Read size bytes of fd into a new NUL-terminated buffer (*out; free it).
 * 0, or -errno: -EIO when the file ends before size bytes.
 */
int read_all(int fd, size_t size, char **out);

/*
 * Write n bytes of buf: with send(send_flags) when send_flags >= 0 (a
 * socket: MSG_NOSIGNAL), with write() otherwise.  0, or -errno.
 */
int write_all(int fd, const void *buf, size_t n, int send_flags);

#endif
