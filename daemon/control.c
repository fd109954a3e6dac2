// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket, after OpenBSD bgpd's control.c: refuse to start when
 * another daemon answers on the socket, create it under a restrictive
 * umask, check every peer's credentials, bound every message, answer every
 * request exactly once, and never let bad input end the connection or the
 * daemon.
 *
 * A connection reads one line at a time and stops reading while its output
 * is congested (a client that does not read cannot make the daemon buffer
 * without bound); replies are never dropped, watch events are, and the
 * watcher is told how many.
 *
 * A request whose handler must wait (a migration step whose peer is being
 * resolved) is parked in its connection: the connection reads nothing more
 * until it is answered (replies keep the requests' order), the loop serves
 * everyone else, and a timer runs the request again every PEER_POLL_MS,
 * the last time at PEER_WAIT_MS, when it must answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/netd.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS	59
#endif

#define OUT_HIGH	(1u << 20)	/* stop reading requests above this */
#define TRIM_REPLY	(256u << 10)	/* a reply this long gives memory back */
#define OUT_EVENTS_MAX	(4u << 20)	/* drop watch events above this */

static void conn_io(struct netd *d, struct evsrc *src, uint32_t events);

static size_t conn_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

static void conn_mask(struct conn *c, uint32_t mask)
{
	if (c->dead || c->epoll_mask == mask)
		return;
	c->epoll_mask = mask;
	netd_epoll_mod(c->d, &c->src, mask);
}

static void conn_unpark(struct conn *c)
{
	if (!c->parked)
		return;
	request_free(c->parked);
	free(c->parked);
	c->parked = NULL;
	c->park_final = false;
}

static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	if (c->parked) {
		/* Nobody to tell: the change is not made. */
		pr_info("client %llu: gone while its %s waited: not done",
			(unsigned long long)c->id, c->parked->cmd->words);
		conn_unpark(c);
	}
	c->dead = true;
	epoll_ctl(c->d->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	if (c->watching)
		conn_set_watch(c, false, false, NULL);
}

/* Write what can be written now; EPOLLOUT for the rest. */
static void conn_flush(struct conn *c)
{
	while (conn_pending(c)) {
		ssize_t n = send(c->src.fd, c->out + c->out_off, conn_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			pr_debug("client %llu: write failed: %s", (unsigned long long)c->id,
				 n < 0 ? strerror(errno) : "closed");
			conn_kill(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (!conn_pending(c)) {
		c->out_off = c->out_len = 0;
		if (c->close_after_flush) {
			conn_kill(c);
			return;
		}
	}
}

static int conn_append(struct conn *c, const char *data, size_t n)
{
	if (c->dead)
		return -EPIPE;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, conn_pending(c));
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap > c->out_cap) {
			p = realloc(c->out, cap);
			if (!p)
				return -ENOMEM;
			c->out = p;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return 0;
}

static void conn_send_obj(struct conn *c, json_object *o)
{
	size_t len;
	char *line = proto_line(o, &len);

	if (!line || conn_append(c, line, len)) {
		pr_err("client %llu: out of memory for a reply: closing the connection",
		       (unsigned long long)c->id);
		conn_kill(c);
	}
	/* Its object tree was many times its length: see run_loop(). */
	if (line && len >= TRIM_REPLY)
		c->d->trim_heap = true;
	free(line);
}

static void conn_update_mask(struct conn *c)
{
	uint32_t mask = 0;

	if (c->dead)
		return;
	if (!c->close_after_flush && !c->parked && conn_pending(c) < OUT_HIGH)
		mask |= EPOLLIN;
	if (conn_pending(c))
		mask |= EPOLLOUT;
	conn_mask(c, mask);
}

void conn_reply(struct conn *c, json_object *reply)
{
	conn_send_obj(c, reply);
	json_object_put(reply);
	if (!c->dead)
		conn_flush(c);
}

void conn_set_watch(struct conn *c, bool on, bool stats, const char *port)
{
	struct netd *d = c->d;

	if (c->watching) {
		d->nwatchers--;
		if (c->watch_stats)
			d->nstat_watchers--;
	}
	c->watching = on;
	c->watch_stats = on && stats;
	snprintf(c->watch_port, sizeof(c->watch_port), "%s", on && port ? port : "");
	if (on) {
		d->nwatchers++;
		if (c->watch_stats)
			d->nstat_watchers++;
	}
	if (d->nstat_watchers && !d->t_stats.armed)
		timer_arm(d, &d->t_stats, (uint64_t)d->cfg.stats_interval_ms * 1000000ull);
	else if (!d->nstat_watchers)
		timer_cancel(d, &d->t_stats);
}

void control_event(struct netd *d, const char *port, json_object *ev, bool is_stats)
{
	const char *s = NULL;
	size_t len = 0;

	for (struct conn *c = d->conns; c; c = c->next) {
		if (c->dead || !c->watching || (is_stats && !c->watch_stats))
			continue;
		if (c->watch_port[0] && (!port || strcmp(port, c->watch_port)))
			continue;
		if (conn_pending(c) > OUT_EVENTS_MAX) {
			c->events_dropped++;
			continue;
		}
		if (c->events_dropped) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "event", json_object_new_string("overflow"));
			json_object_object_add(o, "dropped",
					       json_object_new_uint64(c->events_dropped));
			conn_send_obj(c, o);
			json_object_put(o);
			c->events_dropped = 0;
		}
		if (!s) {
			s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
			len = strlen(s);
		}
		if (conn_append(c, s, len) || conn_append(c, "\n", 1)) {
			conn_kill(c);
			continue;
		}
		conn_flush(c);
		conn_update_mask(c);
	}
	json_object_put(ev);
}

/*
 * port.add requests that arrive together -- a client that sends many
 * before it reads a reply, as an orchestrator adding a host's VMs does --
 * are applied as they come and written to the state file once, before
 * any of their replies (DESIGN invariant 5 holds for each: group commit).
 * Any other line ends the batch first, so replies keep the requests' order.
 */
#define BATCH_MAX	1024

struct batch {
	struct request req[BATCH_MAX];
	json_object *reply[BATCH_MAX];
	size_t n;
};

static void batch_flush(struct conn *c, struct batch *b)
{
	size_t k;

	if (!b || !b->n)
		return;
	if (b->n == 1)
		b->reply[0] = handle_request(c->d, c, &b->req[0]);
	else
		handle_port_add_batch(c->d, c, b->req, b->n, b->reply);
	for (k = 0; k < b->n; k++) {
		if (!c->dead)	/* the client may be gone: the changes stand */
			conn_send_obj(c, b->reply[k]);
		json_object_put(b->reply[k]);
		request_free(&b->req[k]);
	}
	b->n = 0;
}

static void conn_park(struct conn *c, struct request *req)
{
	struct netd *d = c->d;

	c->parked = malloc(sizeof(*c->parked));
	if (!c->parked) {
		json_object *o = proto_reply_err(req->id, E_INTERNAL, "out of memory");

		conn_send_obj(c, o);
		json_object_put(o);
		request_free(req);
		return;
	}
	*c->parked = *req;	/* it owns the request's JSON from here */
	c->park_deadline_ns = now_ns() + PEER_WAIT_MS * 1000000ull;
	c->park_final = false;
	pr_debug("client %llu: %s waits for its peer", (unsigned long long)c->id,
		 req->cmd->words);
	if (!d->t_parked.armed)
		timer_arm(d, &d->t_parked, PEER_POLL_MS * 1000000ull);
}

static void conn_request(struct conn *c, char *line, size_t len, struct batch *b)
{
	struct proto_error err = {};
	struct request req;
	json_object *reply;

	if (proto_parse_request(line, len, &req, &err)) {
		batch_flush(c, b);
		pr_debug("client %llu: %s: %s", (unsigned long long)c->id, err.code, err.message);
		reply = proto_reply_err(req.id, err.code, err.message);
	} else if (b && req.cmd->id == CMD_PORT_ADD) {
		b->req[b->n++] = req;
		if (b->n == BATCH_MAX)
			batch_flush(c, b);
		return;
	} else {
		batch_flush(c, b);
		reply = handle_request(c->d, c, &req);
		if (!reply) {
			conn_park(c, &req);
			return;
		}
	}
	conn_send_obj(c, reply);
	json_object_put(reply);
	request_free(&req);
}

/* Answer the buffered lines while the output has room. */
static void conn_process(struct conn *c, struct batch *b)
{
	while (!c->dead && !c->parked && conn_pending(c) < OUT_HIGH && c->d->stop == NETD_RUN) {
		char *line;
		size_t len;
		enum lb_result r = linebuf_next(&c->in, &line, &len);

		if (r == LB_NONE)
			break;
		if (r == LB_TOO_LONG) {
			json_object *o;
			char msg[128];

			batch_flush(c, b);
			snprintf(msg, sizeof(msg), "request longer than %d bytes: skipped up "
				 "to its end of line", PROTO_MAX_LINE);
			o = proto_reply_err(NULL, E_TOO_LONG, msg);
			conn_send_obj(c, o);
			json_object_put(o);
			continue;
		}
		conn_request(c, line, len, b);
	}
}

/* Read and answer until the socket has nothing more; b: the batch. */
static void conn_read_batch(struct conn *c, struct batch *b)
{
	for (;;) {
		char *space;
		size_t size;
		ssize_t n;

		conn_process(c, b);
		if (c->dead || c->parked || conn_pending(c) >= OUT_HIGH || c->close_after_flush ||
		    c->d->stop != NETD_RUN)
			return;
		if (linebuf_space(&c->in, &space, &size)) {
			pr_err("client %llu: out of memory: closing the connection",
			       (unsigned long long)c->id);
			conn_kill(c);
			return;
		}
		if (!size)
			return;	/* cannot happen: lines are pulled before each read */
		n = recv(c->src.fd, space, size, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			pr_debug("client %llu: read failed: %s", (unsigned long long)c->id,
				 strerror(errno));
			conn_kill(c);
			return;
		}
		if (n == 0) {
			/* The client is done sending: answer what it sent, then close. */
			conn_process(c, b);
			batch_flush(c, b);
			c->close_after_flush = true;
			if (!conn_pending(c) && !c->parked)
				conn_kill(c);
			return;
		}
		linebuf_commit(&c->in, (size_t)n);
	}
}

static void conn_read(struct conn *c)
{
	struct batch *b = malloc(sizeof(*b));

	/* Without memory for a batch, one request at a time. */
	if (b)
		b->n = 0;
	conn_read_batch(c, b);
	if (b)
		batch_flush(c, b);
	free(b);
}

static void conn_io(struct netd *d, struct evsrc *src, uint32_t events)
{
	struct conn *c = (struct conn *)src;

	if (c->dead)
		return;
	if (events & EPOLLOUT)
		conn_flush(c);
	/* Readable, or drained enough to answer what waited. */
	if (!c->dead && !c->close_after_flush && !c->parked)
		conn_read(c);
	if (!c->dead)
		conn_flush(c);
	/* Hung up while a request waits: EPOLLHUP cannot be masked. */
	if (!c->dead && (events & (EPOLLERR | (c->parked ? EPOLLHUP : 0))))
		conn_kill(c);
	conn_update_mask(c);
}

bool conn_may_wait(const struct conn *c)
{
	return c && !c->park_final;
}

/* Run a parked request again; answered: the connection reads on. */
static void conn_retry(struct conn *c, uint64_t now)
{
	struct request *req = c->parked;
	json_object *reply;

	c->park_final = now >= c->park_deadline_ns;
	reply = handle_request(c->d, c, req);
	if (!reply)
		return;
	conn_send_obj(c, reply);
	json_object_put(reply);
	conn_unpark(c);
	/* What it sent meanwhile, then whatever comes. */
	if (!c->close_after_flush)
		conn_read(c);
	else
		conn_process(c, NULL);
	conn_flush(c);
	if (!c->dead && c->close_after_flush && !conn_pending(c) && !c->parked)
		conn_kill(c);
	conn_update_mask(c);
}

void control_parked_tick(struct netd *d, struct timer *t)
{
	uint64_t now = now_ns();
	bool waiting = false;

	if (d->stop != NETD_RUN)
		return;
	for (struct conn *c = d->conns; c; c = c->next) {
		if (c->dead || !c->parked)
			continue;
		conn_retry(c, now);
		if (d->stop != NETD_RUN)
			return;
		waiting |= !c->dead && c->parked;
	}
	if (waiting)
		timer_arm(d, t, PEER_POLL_MS * 1000000ull);
}

/* One line, then close: for clients that are refused before any request. */
static void refuse(int fd, const char *code, const char *msg)
{
	json_object *o = proto_reply_err(NULL, code, msg);
	size_t len;
	char *line = proto_line(o, &len);

	if (line && send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pr_debug("cannot tell a refused client why: %s", strerror(errno));
	free(line);
	json_object_put(o);
	close(fd);
}

static bool peer_allowed(struct netd *d, int fd, struct ucred *uc, char *why, size_t len)
{
	socklen_t sl = sizeof(*uc);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &sl) < 0) {
		snprintf(why, len, "cannot read the peer's credentials: %s", strerror(errno));
		return false;
	}
	if (uc->uid == 0)
		return true;
	if (d->cfg.socket_group[0]) {
		if (uc->gid == d->cfg.gid)
			return true;
		sl = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &sl) == 0) {
			for (size_t i = 0; i < sl / sizeof(gid_t); i++)
				if (groups[i] == d->cfg.gid)
					return true;
		}
		snprintf(why, len, "permission denied: uid %u (pid %d) is neither root nor in "
			 "group %s", uc->uid, uc->pid, d->cfg.socket_group);
		return false;
	}
	snprintf(why, len, "permission denied: uid %u (pid %d) is not root, and semi-netd "
		 "has no socket_group configured", uc->uid, uc->pid);
	return false;
}

static void control_accept(struct netd *d, struct evsrc *src, uint32_t events)
{
	for (;;) {
		struct ucred uc = {};
		struct conn *c;
		char why[256];
		int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pr_warn("cannot accept on %s: %s", d->cfg.socket, strerror(errno));
			return;
		}
		if (!peer_allowed(d, fd, &uc, why, sizeof(why))) {
			pr_warn("control socket: %s", why);
			refuse(fd, E_PERMISSION, why);
			continue;
		}
		if (d->nconns >= d->cfg.max_clients) {
			snprintf(why, sizeof(why), "too many clients (%u): try again later",
				 d->cfg.max_clients);
			pr_warn("control socket: refusing pid %d: %s", uc.pid, why);
			refuse(fd, E_BUSY, why);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			refuse(fd, E_INTERNAL, "out of memory");
			continue;
		}
		c->src.fd = fd;
		c->src.fn = conn_io;
		c->d = d;
		c->uid = uc.uid;
		c->pid = uc.pid;
		c->id = ++d->next_conn_id;
		c->epoll_mask = EPOLLIN;
		if (netd_epoll_add(d, &c->src, EPOLLIN)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->conns;
		d->conns = c;
		d->nconns++;
		pr_debug("client %llu: pid %d uid %u connected", (unsigned long long)c->id,
			 uc.pid, uc.uid);
	}
}

/* Free the connections that died during the last loop batch. */
void control_reap(struct netd *d)
{
	struct conn **pp = &d->conns;

	while (*pp) {
		struct conn *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		d->nconns--;
		conn_unpark(c);
		close(c->src.fd);
		linebuf_free(&c->in);
		free(c->out);
		pr_debug("client %llu: closed", (unsigned long long)c->id);
		free(c);
	}
}

static int mkdir_parent(const char *path)
{
	char dir[NETD_SOCK_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int control_check_live(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pr_err("socket path %s is too long (at most %zu bytes)", path,
		       sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Someone answers: another daemon is live on this socket. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		pr_err("another semi-netd is listening on %s: refusing to start", path);
		close(fd);
		return -EADDRINUSE;
	}
	err = errno;
	close(fd);
	if (err == ECONNREFUSED) {
		/* A dead daemon's socket. */
		pr_info("removing the stale socket %s", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			err = errno;
			pr_err("cannot remove the stale socket %s: %s", path, strerror(err));
			return -err;
		}
	} else if (err != ENOENT) {
		pr_err("cannot check socket %s: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

int control_open(struct netd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.socket;
	mode_t old;
	int fd, err;

	err = control_check_live(path);
	if (err)
		return err;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	err = mkdir_parent(path);
	if (err) {
		pr_err("cannot create the directory of %s: %s", path, strerror(-err));
		return err;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(d->cfg.socket_group[0] ? 0117 : 0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (err) {
		pr_err("cannot bind %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	if (d->cfg.socket_group[0] && chown(path, (uid_t)-1, d->cfg.gid) < 0) {
		err = -errno;
		pr_err("cannot give %s to group %s: %s", path, d->cfg.socket_group,
		       strerror(-err));
		goto out_unlink;
	}
	if (listen(fd, 128) < 0) {
		err = -errno;
		pr_err("cannot listen on %s: %s", path, strerror(-err));
		goto out_unlink;
	}
	d->listen.fd = fd;
	d->listen.fn = control_accept;
	err = netd_epoll_add(d, &d->listen, EPOLLIN);
	if (err)
		goto out_unlink;
	pr_info("listening on %s (mode %s)", path, d->cfg.socket_group[0] ? "0660" : "0600");
	return 0;

out_unlink:
	unlink(path);
	close(fd);
	return err;
}

void control_flush_all(struct netd *d, int timeout_ms)
{
	for (struct conn *c = d->conns; c; c = c->next) {
		int left = timeout_ms;

		while (!c->dead && conn_pending(c) && left > 0) {
			struct pollfd pfd = { .fd = c->src.fd, .events = POLLOUT };

			if (poll(&pfd, 1, 10) < 0 && errno != EINTR)
				break;
			conn_flush(c);
			left -= 10;
		}
	}
}

void control_close(struct netd *d)
{
	for (struct conn *c = d->conns; c; c = c->next)
		conn_kill(c);
	control_reap(d);
	if (d->listen.fd >= 0) {
		close(d->listen.fd);
		d->listen.fd = -1;
		unlink(d->cfg.socket);
	}
}
