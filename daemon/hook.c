// SPDX-License-Identifier: GPL-2.0
/*
 * The switch hook: an executable from the configuration (hook.path), run
 * after each migration that ends here (migrate done), so that a physical
 * switch's API or an SDN controller can follow the VM.  DESIGN section 8:
 * semi-net programs no vendor switch itself.
 *
 * It runs as `PATH migrated` with one JSON object on its standard input:
 *
 *   {"event":"migrated","port":"vm1","mac":"52:54:00:5e:00:01","vlan":0,
 *    "from":"hostA","to":"hostB","instance":"...","time_ms":...}
 *
 * Never in the way of the migration: started with fork/exec after the step
 * is done and answered, watched through a pidfd in the epoll loop, killed
 * after hook.timeout_ms; its exit status is logged, its stdout and stderr
 * go to the daemon's.  It dies with the daemon (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/netd.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void hook_free(struct netd *d, struct hook_run *h)
{
	struct hook_run **pp;

	for (pp = &d->hooks; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	timer_cancel(d, &h->t);
	if (h->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
		close(h->pidfd);
	}
	free(h);
}

static void on_hook_exit(struct netd *d, struct evsrc *src, uint32_t events)
{
	struct hook_run *h = container_of(src, struct hook_run, src);
	uint64_t ms = (now_ns() - h->start_ns) / 1000000;
	siginfo_t si = {};

	if (waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED | WNOHANG) < 0 || !si.si_pid)
		return;
	if (si.si_code == CLD_EXITED && si.si_status == 0)
		pr_info("switch hook for %s: done in %llu ms", h->what, (unsigned long long)ms);
	else if (si.si_code == CLD_EXITED)
		pr_warn("switch hook %s for %s failed: exit status %d after %llu ms",
			d->cfg.hook.path, h->what, si.si_status, (unsigned long long)ms);
	else
		pr_warn("switch hook %s for %s: killed by signal %d after %llu ms%s",
			d->cfg.hook.path, h->what, si.si_status, (unsigned long long)ms,
			h->killed ? " (timeout)" : "");
	hook_free(d, h);
}

static void on_hook_timeout(struct netd *d, struct timer *t)
{
	struct hook_run *h = container_of(t, struct hook_run, t);

	pr_warn("switch hook %s for %s: no answer after %u ms: killing it", d->cfg.hook.path,
		h->what, d->cfg.hook.timeout_ms);
	h->killed = true;
	kill(h->pid, SIGKILL);	/* the pidfd says when it is gone */
}

static void hook_child(const char *path, const char *event, int in_fd)
{
	sigset_t all;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(in_fd, 0) < 0)
		_exit(127);
	/* The daemon's descriptors are not the hook's business. */
	syscall(SYS_close_range, 3, ~0u, 0);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	execl(path, path, event, (char *)NULL);
	_exit(127);
}

static void hook_run(struct netd *d, const char *event, json_object *ev, const char *what)
{
	const char *text = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	struct hook_run *h;
	int pfd[2];
	pid_t pid;

	h = calloc(1, sizeof(*h));
	if (!h || pipe2(pfd, O_CLOEXEC) < 0) {
		pr_warn("switch hook for %s: cannot start it: %s", what, strerror(errno));
		free(h);
		return;
	}
	pid = fork();
	if (pid == 0)
		hook_child(d->cfg.hook.path, event, pfd[0]);
	close(pfd[0]);
	if (pid < 0) {
		pr_warn("switch hook for %s: cannot fork: %s", what, strerror(errno));
		close(pfd[1]);
		free(h);
		return;
	}
	/* One short line: it fits in the pipe, the write never blocks. */
	fcntl(pfd[1], F_SETFL, O_NONBLOCK);
	if (write(pfd[1], text, strlen(text)) < 0 || write(pfd[1], "\n", 1) < 0)
		pr_debug("switch hook for %s: stdin: %s", what, strerror(errno));
	close(pfd[1]);
	h->pid = pid;
	h->start_ns = now_ns();
	snprintf(h->what, sizeof(h->what), "%s", what);
	h->pidfd = pidfd_open(pid);
	h->src.fd = h->pidfd;
	h->src.fn = on_hook_exit;
	h->t.fn = on_hook_timeout;
	h->next = d->hooks;
	d->hooks = h;
	if (h->pidfd < 0 || netd_epoll_add(d, &h->src, EPOLLIN)) {
		/* Cannot watch it: the timeout still ends it; reaped at exit. */
		pr_warn("switch hook for %s: cannot watch pid %d: %s", what, pid, strerror(errno));
		if (h->pidfd >= 0)
			close(h->pidfd);
		h->pidfd = -1;
	}
	timer_arm(d, &h->t, (uint64_t)d->cfg.hook.timeout_ms * 1000000ull);
	pr_info("switch hook %s for %s: pid %d", d->cfg.hook.path, what, pid);
}

void hook_migrated(struct netd *d, struct port *p, const char *from)
{
	json_object *ev;
	char mac[18], what[64];

	if (!d->cfg.hook.path[0])
		return;
	ev = json_object_new_object();
	json_object_object_add(ev, "event", json_object_new_string("migrated"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "mac", json_object_new_string(mac_str(p->r.mac, mac)));
	json_object_object_add(ev, "vlan", json_object_new_int(p->r.vlan));
	json_object_object_add(ev, "from", json_object_new_string(from));
	json_object_object_add(ev, "to", json_object_new_string(d->cfg.host));
	json_object_object_add(ev, "instance", json_object_new_string(d->cfg.instance));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	snprintf(what, sizeof(what), "%s migrated", p->r.name);
	hook_run(d, "migrated", ev, what);
	json_object_put(ev);
}

void hooks_stop(struct netd *d)
{
	while (d->hooks) {
		struct hook_run *h = d->hooks;

		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		hook_free(d, h);
	}
}
