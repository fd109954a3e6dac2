/* SPDX-License-Identifier: GPL-2.0 */
/*
 * semi-netd internals: the daemon's one structure and what its source
 * files share.  Single-threaded: everything runs from the epoll loop.
 *
 *   netd.c      main, options, start-up, the loop, signals, timers, logging
 *   ports.c     the port table: apply to the datapath, state changes, link
 *               events, reconcile at start, handover watch, state file
 *   control.c   the control socket: connections, framing, credentials, watch
 *   handlers.c  one function per command of the protocol table
 *   migrate.c   live migration: the migrate verbs, abort, the source's
 *               retirement, the host bridge (FDB, flood flags)
 *   peers.c     migration peers: next hops, the tunnel, the datapath's peers
 *   announce.c  announces after a migration, the addresses they carry
 *   peermsg.c   the source tells the destination its guest's addresses
 *   hook.c      the switch hook: an executable run after each migration
 *   drain.c     the source tap drained at --to; packet and tunnel sends
 *   hold.c      the hold device: frames parked while the guest takes none
 */
#ifndef SEMI_NETD_H
#define SEMI_NETD_H

#include <netinet/in.h>
#include <linux/if_packet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/fsm.h"
#include "daemon/proto.h"
#include "daemon/statefile.h"
#include "loader/log.h"
#include "loader/semi_dp.h"
#include "netcfg/netcfg.h"

#define NETD_VERSION	"0.1"

struct netd;

/* Something in the epoll set. */
struct evsrc {
	int fd;
	void (*fn)(struct netd *d, struct evsrc *src, uint32_t events);
};

/* One-shot timers on CLOCK_MONOTONIC, served by one timerfd. */
struct timer {
	uint64_t due_ns;
	void (*fn)(struct netd *d, struct timer *t);
	struct timer *next;
	bool armed;
};

/* A process's fd on a port's tap (drain.c). */
struct tap_holder {
	pid_t pid;
	int fd;
};

#define DRAIN_MAX_HOLDERS	16	/* queues of a multi-queue tap, or processes */

/* Why a port holds (hold.c). */
enum hold_kind {
	HOLD_UNPLUG,		/* source: from --begin until the guest let its VF go */
	HOLD_INCOMING,		/* destination: from migrate in until migrate done */
	HOLD_PLUG,		/* a VF arriving: until the guest sends through it */
};

/* Where a release sends what was held. */
enum hold_into {
	HOLD_INTO_TAP,		/* toward the guest's standby */
	HOLD_INTO_VF,		/* toward its VF (the guest sends through it) */
	HOLD_INTO_BOTH,		/* a copy each: the guest takes the one it can */
	HOLD_INTO_TUNNEL,	/* to the destination (outgoing) */
};

struct held;

struct port {
	struct port_rec r;
	uint32_t id;			/* datapath port id */
	struct semi_port_stats last;	/* for counter deltas */
	bool have_last;
	bool vf_up;			/* the VF is up with carrier (last seen) */
	struct timer t_announce;	/* the next announce round */
	/* Source of a migration: the guest's addresses sent to the peer (peermsg.c). */
	struct timer t_push;		/* sends again until the peer answers */
	uint32_t push_seq;
	uint8_t push_tries;
	bool push_done;			/* the peer answered */
	/* Source of a migration: who holds the tap, found at --begin (drain.c). */
	struct tap_holder holders[DRAIN_MAX_HOLDERS];
	int nholders;
	bool holders_known;
	/* The hold path (hold.c): p->r.hold says whether the path word holds. */
	struct {
		bool active;		/* a round of holding not yet released */
		enum hold_kind kind;
		uint64_t since_ns;	/* held since */
		uint64_t first_ns;	/* the first frame read, 0 none yet */
		struct timer t_max;	/* hold.max_ms after the first frame */
		struct held *head, *tail;
		size_t n, bytes;
		uint64_t held, released, dropped, overflow;
		enum hold_into into;	/* where this release goes */
		uint64_t tap_dropped_base; /* the tap's tx_dropped before it */
		uint64_t tap_full;	/* of dropped: the tap's queue had no room */
		int last_errno;
	} hold;
	bool drain_ran;			/* --to tried to drain the tap (counts: r.mig) */
};

/* A migration peer of the configuration, as resolved on this host. */
struct peer {
	struct netd_peer cfg;		/* name, address */
	bool ipv4;			/* the tunnel is IPv4: others are unusable */
	struct in_addr ip;
	uint8_t mac[6];			/* next hop towards it; zero: not known yet */
	uint8_t local_mac[6];		/* the route's device: outer source */
	bool in_dp;			/* semi_peers holds it with this MAC */
	int tries;			/* resolution requests since the last answer */
};

/* A switch hook that runs (hook.c). */
struct hook_run {
	struct evsrc src;		/* its pidfd */
	struct timer t;			/* its deadline */
	pid_t pid;
	int pidfd;
	char what[64];			/* for the log: "vm1 migrated" */
	uint64_t start_ns;
	bool killed;
	struct hook_run *next;
};

struct conn {
	struct evsrc src;
	struct netd *d;
	struct linebuf in;
	char *out;			/* pending output */
	size_t out_len, out_off, out_cap;
	uint32_t epoll_mask;
	bool dead;			/* freed after the current loop batch */
	bool close_after_flush;
	bool watching;
	bool watch_stats;
	char watch_port[SEMI_NAME_LEN];	/* "" all */
	uint64_t events_dropped;
	uid_t uid;
	pid_t pid;
	uint64_t id;			/* for logs */
	/*
	 * A request that waits (its peer is being resolved): the connection
	 * reads nothing more until it is answered, so replies keep its order.
	 */
	struct request *parked;
	uint64_t park_deadline_ns;
	bool park_final;		/* the last try: waiting is over */
	struct conn *next;
};

enum netd_stop {
	NETD_RUN,
	NETD_STOP,		/* SIGTERM: leave the datapath running */
	NETD_FLUSHED,		/* flush: the datapath is gone */
};

struct netd {
	struct netd_config cfg;
	struct semi_dp *dp;
	struct netcfg *nc;
	struct netcfg_events *nev;
	int epfd;
	struct evsrc sig, tfd, listen, links;
	enum netd_stop stop;
	uint64_t start_ns;
	int lock_fd;

	struct port **ports;
	size_t nports, cap_ports;
	uint64_t generation;		/* of the state file */
	bool state_dirty;		/* a save failed: retried by a timer */
	bool save_pending;		/* an automatic change waits for the loop's end */
	bool trim_heap;			/* a large transient was freed: see run_loop() */

	uint32_t uplink_ifindex;	/* 0 absent or not attached */
	bool uplink_attached;

	struct conn *conns;
	size_t nconns;
	uint64_t next_conn_id;
	size_t nwatchers, nstat_watchers;

	struct timer *timers;
	struct timer t_handover, t_stats, t_save, t_parked;
	uint64_t handover_round_ns;	/* the last handover round took */

	/* Live migration. */
	struct peer peers[NETD_MAX_PEERS];
	int npeers;
	struct in_addr tunnel_ip;	/* 0: no tunnel (tunnel.local unset or IPv6) */
	struct timer t_peers, t_retire;
	struct evsrc pmsg;		/* UDP: messages between peers' daemons */
	uint32_t pmsg_seq;
	struct hook_run *hooks;
	/*
	 * AF_PACKET, sends only (drain.c): kept, as closing one waits for an
	 * RCU grace period (synchronize_net(), ~20 ms) -- in --to, while the
	 * VM is paused.
	 */
	int drain_sock;
	/* The hold device (hold.c): a tap whose only fd is ours. */
	struct {
		int fd;			/* -1: no hold device, ports do not hold */
		uint32_t ifindex;
		char name[16];
		struct evsrc src;
		uint8_t *buf;
		uint64_t stray;		/* frames read that were for no port */
	} hold;
};

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* ---- netd.c ---- */
uint64_t now_ns(void);
int64_t wall_ms(void);
void timer_arm(struct netd *d, struct timer *t, uint64_t delay_ns);
void timer_cancel(struct netd *d, struct timer *t);
int netd_epoll_add(struct netd *d, struct evsrc *src, uint32_t events);
int netd_epoll_mod(struct netd *d, struct evsrc *src, uint32_t events);

/* ---- ports.c ---- */

/* Filled by the engine when it refuses or fails: the reply's error. */
struct netd_err {
	const char *code;
	char message[512];
};

void nerr_set(struct netd_err *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct port *port_find(struct netd *d, const char *name);
int ports_reconcile(struct netd *d, struct state_doc *doc, bool have_file);
int ports_save(struct netd *d, struct netd_err *e);
void ports_save_soon(struct netd *d);
void ports_free(struct netd *d);

/* Commands (each saves the state file before returning 0). */
int port_add(struct netd *d, const struct port_rec *want, struct port **out,
	     struct netd_err *e);
/* port_add without the state file, for a batch saved once (control.c). */
int port_add_stage(struct netd *d, const struct port_rec *want, struct port **out,
		   struct netd_err *e);
void port_add_unstage(struct netd *d, struct port *p);
/* After the state file has it: watchers (the state event's cause), bridge. */
void port_add_finish(struct netd *d, struct port *p, const char *cause);
/* The state file, then finish; unstaged if it cannot be written. */
int port_add_commit(struct netd *d, struct port *p, const char *cause, struct netd_err *e);
int port_del(struct netd *d, const char *name, struct netd_err *e);
int port_set(struct netd *d, struct port *p, json_object *args, struct netd_err *e);
/* changed: false when the port already was where the switch puts it. */
int port_switch(struct netd *d, struct port *p, enum fsm_event ev, bool *changed,
		struct netd_err *e);

void ports_link_event(const struct netcfg_link_event *ev, void *arg);
void ports_handover_tick(struct netd *d, struct timer *t);
void ports_stats_tick(struct netd *d, struct timer *t);
void ports_save_retry(struct netd *d, struct timer *t);
void ports_rearm_handover(struct netd *d);
int uplink_attach(struct netd *d);

/*
 * ports.c's engine, shared with migrate.c: the order of a change (decide,
 * datapath, state file, watchers) is the same for every command.
 */
struct fsm_facts port_facts(const struct port *p);
/* The path word of a port: its state's, rx hold while it holds. */
union semi_pathw port_pathw(const struct port_rec *r);
void port_enter(struct netd *d, struct port *p, const struct fsm_result *res);
int port_dp_apply(struct netd *d, struct port *p, const struct port_rec *old,
		  struct netd_err *e);
void port_dp_remove(struct netd *d, const struct port_rec *r);
int port_check_unique(struct netd *d, const struct port_rec *r, const struct port *self,
		      struct netd_err *e);
/* A new port as want says (checked against the others), its devices looked up. */
int port_new(struct netd *d, const struct port_rec *want, struct port **out,
	     struct netd_err *e);
/* Into the datapath and the table, counters from now; on failure it is gone. */
int port_install(struct netd *d, struct port *p, struct netd_err *e);
/* A port going: out of the table and the state file (back in if that fails)... */
int port_unlist(struct netd *d, struct port *p, struct netd_err *e);
/* ... then out of the datapath and the bridge, watchers told, freed. */
void port_gone(struct netd *d, struct port *p);
int port_table_add(struct netd *d, struct port *p);
void port_table_remove(struct netd *d, struct port *p);
void port_destroy(struct netd *d, struct port *p);	/* timers, then free */
uint32_t port_dev_lookup(struct netd *d, const char *name);
bool port_dev_up(struct netd *d, uint32_t ifindex);
uint64_t port_vf_tx(struct netd *d, struct port *p);
int port_dp_err(struct netd *d, struct netd_err *e, int err);
void emit_state(struct netd *d, struct port *p, enum port_state from, const char *cause,
		uint64_t t0);
void emit_simple(struct netd *d, const char *port, const char *event, const char *k1,
		 const char *v1, const char *k2, const char *v2);
char *mac_str(const uint8_t mac[6], char *buf);

/* The instance's attachment records (malloc'ed, free them); count or -errno. */
int attachments_get(struct netd *d, struct semi_attachment **out);
uint32_t attached_kinds(struct netd *d, uint32_t ifindex);
json_object *port_json(struct netd *d, struct port *p, bool detail);
json_object *port_stats_json(const struct semi_port_stats *s, bool all);
const char *port_dev_name(uint32_t ifindex, char *buf);

/* ---- migrate.c ---- */
int mig_in(struct netd *d, const struct port_rec *want, const char *from, struct port **out,
	   struct netd_err *e);
int mig_begin(struct netd *d, struct port *p, bool *changed, struct netd_err *e);
int mig_unplugged(struct netd *d, struct port *p, bool *changed, struct netd_err *e);
int mig_out(struct netd *d, struct port *p, const char *to, bool *changed,
	    struct netd_err *e);
int mig_done(struct netd *d, struct port *p, struct netd_err *e);
/* *aborted false: there was nothing to abort; *removed: the port is gone. */
int mig_abort(struct netd *d, struct port *p, bool *aborted, bool *removed,
	      struct netd_err *e);
json_object *mig_json(struct port *p);
void mig_retire_tick(struct netd *d, struct timer *t);
void mig_rearm_retire(struct netd *d);
/* The host bridge: flood flags off on a port's tap, its MAC pointed at the
 * tap while the VM runs here, both undone when the port goes. */
void bridge_sync(struct netd *d, struct port *p);
void bridge_release(struct netd *d, struct port *p);
/* After reconcile: bridge, announces, retirement picked up where they were. */
void mig_resume_all(struct netd *d);

/* ---- drain.c ---- */
/* Source, --begin: find the processes holding the port's tap (slow: /proc). */
void drain_find(struct netd *d, struct port *p);
/*
 * Source, --to, once the path is the tunnel: what the tap still holds goes
 * to the peer (p->drain counts it).  Never fails: a warning says why not.
 */
void drain_tap(struct netd *d, struct port *p);
void drain_close(struct netd *d);
/* The daemon's AF_PACKET socket (sends only), opened on first use; -1 errno. */
int packet_sock(struct netd *d);
bool packet_send(int sock, const struct sockaddr_ll *to, const uint8_t *f, size_t len,
		 int *last_errno);
/* Frames to a port's peer as the datapath's tunnel sends them (VXLAN). */
struct tunnel_tx {
	struct semi_peer peer;
	uint16_t vlan;
	int sock;
	struct sockaddr_ll to;
	int last_errno;		/* of the last send that failed */
};
int tunnel_tx_open(struct netd *d, struct port *p, const char *peer, struct tunnel_tx *tx,
		   char *why, size_t whylen);
/* f: an Ethernet frame with SEMI_ENCAP_LEN bytes of room in front of it. */
bool tunnel_tx_send(struct tunnel_tx *tx, uint8_t *f, size_t len);

/* ---- hold.c ---- */
void hold_name(const char *instance, char *buf, size_t len);	/* "shold" + 8 hex */
int hold_open(struct netd *d);		/* without one (a warning), ports do not hold */
void hold_close(struct netd *d);	/* held ports released into their taps */
bool hold_available(struct netd *d);
/* Does the port's state still call for its hold? */
bool hold_still(const struct port *p);
/* Entered handover from `from` (a VF arrived): with hold.plug, hold. */
void hold_plug(struct netd *d, struct port *p, enum port_state from);
/* p->r.hold on (the caller stores the path), counters from zero. */
void hold_start(struct netd *d, struct port *p, enum hold_kind kind);
/* Read the hold device until empty; releasing: read all (no batch limit). */
void hold_read(struct netd *d, struct port *releasing);
/*
 * Release: begin (held frames into the tap, or to peer through the tunnel
 * when peer is not NULL; p->r.hold off), the caller stores the path, end
 * (stragglers, the event; nothing when the port still holds).
 */
void hold_release_begin(struct netd *d, struct port *p, const char *peer);
void hold_release_end(struct netd *d, struct port *p, const char *cause);
json_object *hold_json(struct port *p);
void hold_reply(struct port *p, json_object *reply);
void hold_port_free(struct netd *d, struct port *p);

/* ---- peers.c ---- */
int peers_init(struct netd *d, const struct state_doc *doc);
struct peer *peer_find(struct netd *d, const char *name);
/*
 * Resolved and in the datapath (0), being resolved (-EAGAIN: ask again
 * later; a request waits PEER_WAIT_MS at most, see control.c), or an error.
 * Never blocks.
 */
int peer_ready(struct netd *d, struct peer *peer, struct netd_err *e);
#define PEER_WAIT_MS	1000	/* a verb waits this long for its peer at most */
#define PEER_POLL_MS	5	/* and asks the kernel this often meanwhile */
void peers_tick(struct netd *d, struct timer *t);
int peers_to_doc(struct netd *d, struct state_doc *doc);
json_object *peers_json(struct netd *d);
json_object *tunnel_json(struct netd *d);
/* "hostA, hostB" or "none": for messages. */
void peers_list(struct netd *d, char *buf, size_t len);

/* ---- announce.c ---- */
int announce_start(struct netd *d, struct port *p, const char *cause, struct netd_err *e);
void announce_stop(struct netd *d, struct port *p, const char *why);
void announce_resume(struct netd *d, struct port *p);
json_object *announce_json(struct port *p);
/* The guest's addresses: this host's datapath learned, then carried (p->r.addrs). */
void port_addrs(struct netd *d, struct port *p, struct addr_set *out);
void addr_set_merge(struct addr_set *to, const struct addr_set *from);
json_object *port_addrs_live_json(struct netd *d, struct port *p);	/* port_addrs() */

/* ---- peermsg.c ---- */
int peermsg_open(struct netd *d);
void peermsg_close(struct netd *d);
/* Read what peers sent that is queued now. */
void peermsg_drain(struct netd *d);
/* Source, at --to: send the guest's addresses to the port's peer until it answers. */
void peermsg_push(struct netd *d, struct port *p);
void peermsg_cancel(struct netd *d, struct port *p);

/* ---- hook.c ---- */
void hook_migrated(struct netd *d, struct port *p, const char *from);
void hooks_stop(struct netd *d);

/* ---- control.c ---- */
int control_check_live(const char *path);
int control_open(struct netd *d);
void control_close(struct netd *d);
void control_reap(struct netd *d);
void control_flush_all(struct netd *d, int timeout_ms);
/* Send an event to every watcher (filtered by port); takes ownership. */
void control_event(struct netd *d, const char *port, json_object *ev, bool is_stats);
void conn_reply(struct conn *c, json_object *reply);
void conn_set_watch(struct conn *c, bool on, bool stats, const char *port);
/* May a handler leave its request waiting (return NULL)?  Not on its last try. */
bool conn_may_wait(const struct conn *c);
void control_parked_tick(struct netd *d, struct timer *t);

/* ---- handlers.c ---- */
/*
 * Run one validated request; produces exactly one reply -- or NULL when the
 * request must wait (conn_may_wait(c)) and be run again later (control.c).
 */
json_object *handle_request(struct netd *d, struct conn *c, struct request *req);
/* n port.add requests, one state file write; replies[k] answers reqs[k]. */
void handle_port_add_batch(struct netd *d, struct conn *c, struct request *reqs, size_t n,
			   json_object **replies);

#endif
