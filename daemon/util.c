// SPDX-License-Identifier: GPL-2.0
/* Whole reads and writes (util.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/util.h"

int read_all(int fd, size_t size, char **out)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			free(buf);
			return -e;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	return 0;
}

int write_all(int fd, const void *buf, size_t n, int send_flags)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send_flags >= 0 ? send(fd, p, n, send_flags) : write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
