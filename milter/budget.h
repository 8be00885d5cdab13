/*
 * budget - per-user sending budgets: sliding-window counters in memory.
 * No libmilter, no I/O; the clock is the caller's (seconds, monotonic).
 *
 * Who is counted. A key: the SASL login ("u:" LOGIN, ASCII case
 * folded, as the limit_classes file is looked up) when the client
 * authenticated, else the client address ("a:" ADDRESS: IPv4 as is,
 * IPv6 its /64). The counters of a key are shared by every port: a port's
 * limit_* are checked against the key's usage on all ports, so a user
 * does not get three budgets by using 587, 5870 and 12345 (give those
 * ports the same limits, "like = 587").
 *
 * Other nodes. The other nodes' usage (budget_remote_add, fed by the
 * usage puller, milter/usage.h) is added to the same counters as this
 * node's (budget_charge), at the time it happened: a check compares the
 * whole with the limit, and a user seen on several nodes costs no more
 * memory than one seen here only. The caller must never feed back what
 * this node counted itself (the puller reads this node's rows only from
 * before its process started), or it would count twice.
 *
 * What is counted (budget_charge, at end of message, only when the
 * message is accepted): 1 message, the recipients accepted, the size in
 * KiB rounded up (bytes budgets are compared in bytes against that
 * count, so they never undercount). A refused or aborted transaction
 * consumes nothing.
 *
 * Windows slide. A window W is a ring of BUDGET_SLOTS slots of
 * w = ceil(W / (BUDGET_SLOTS - 1)) seconds; an event counts from when it
 * happens until at least W and at most W + w - 1 seconds later, so a
 * budget N/W never lets more than N through in any W seconds and no
 * counter ever resets at a fixed hour. A clock that goes back counts in
 * the newest slot; one that jumps forward drains what it jumped over.
 * Every check and charge is O(BUDGET_SLOTS) = O(1).
 *
 * Memory. One entry per key with one meter per distinct (key, window)
 * of the configuration; an entry whose windows have all drained is
 * evicted (least recently used first, a few per operation), and beyond
 * max_entries the least recently used entry is evicted even if not
 * drained. budget_configure() on a reload keeps every counter of a
 * window that is still configured.
 *
 * Thread safety: every function may be called from any thread (the
 * table is split into shards with a mutex each).
 */
#ifndef PM_BUDGET_H
#define PM_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define BUDGET_SLOTS	8
#define BUDGET_KEY_MAX	520	/* "u:" + a login of up to 511 bytes + ... */

/* The ring of one window: pure arithmetic, unit-tested on its own. */
struct budget_ring {
	uint32_t head;			/* slot index (time / width) of b[head % N] */
	uint32_t b[BUDGET_SLOTS];	/* saturating counts */
};

/* Move the ring to time now (seconds) for a slot width; drains slots. */
void budget_ring_advance(struct budget_ring *r, uint32_t width, uint64_t now);
/* Usage within window seconds of now (after advancing). */
uint64_t budget_ring_sum(struct budget_ring *r, uint32_t width,
			 uint32_t window, uint64_t now);
void budget_ring_add(struct budget_ring *r, uint32_t width, uint64_t now,
		     uint64_t n);
/* Add n at time when <= now (a later one counts at now); nothing if the
 * slot of when has already drained out of the ring. */
void budget_ring_add_at(struct budget_ring *r, uint32_t width, uint64_t now,
			uint64_t when, uint64_t n);
/* The slot width of a window. */
uint32_t budget_width(uint32_t window);

struct budget;

struct budget *budget_new(const struct cfg *cfg, size_t max_entries);
void budget_free(struct budget *b);

/* Take a new configuration's windows; counters of kept windows stay. */
void budget_configure(struct budget *b, const struct cfg *cfg);

/* "u:login" or "a:address" into buf; false when there is no key
 * (no login and no known address). The login ASCII lower-cased and cut
 * to fit; one that is not valid UTF-8 by its text form (utf8_text, as
 * the events and the usage rows made from them hold it). */
bool budget_key(const char *login, const struct pm_addr *client, char *buf,
		size_t len);

/* Which limit is spent, for the reply and the record. */
struct budget_over {
	enum cfg_limit_key key;
	struct cfg_limit limit;		/* the N/WINDOW that is spent */
	uint64_t used;			/* in that window (bytes for bytes) */
};

/*
 * Would `pending` more of key k (messages, recipients or bytes) exceed
 * one of the limits? For bytes, a limit whose window is already full
 * counts as spent even with pending = 0. True with *over filled.
 */
bool budget_check(struct budget *b, const char *key,
		  const struct cfg_limits *limits, enum cfg_limit_key k,
		  uint64_t pending, uint64_t now, struct budget_over *over);

/* Count an accepted message: 1 message, nrcpt recipients, size bytes. */
void budget_charge(struct budget *b, const char *key, uint64_t nrcpt,
		   uint64_t size, uint64_t now);

/*
 * Another node's usage of key: nmsg messages, nrcpt recipients and
 * kbytes KiB, which happened at time when (same clock as now; a time
 * after now counts at now). Counted in every window like a charge made
 * then, into the same counters; usage older than every window
 * (now - when >= the longest window plus its slot) is ignored, and
 * without any budget configured nothing is kept.
 */
void budget_remote_add(struct budget *b, const char *key, uint64_t nmsg,
		       uint64_t nrcpt, uint64_t kbytes, uint64_t when,
		       uint64_t now);

/* Key k's usage in the configured window (seconds) at now, this node's
 * and the other nodes' together (bytes in KiB), in *used; false (0) if
 * no budget has that window. For tests and reports. */
bool budget_usage(struct budget *b, const char *key, enum cfg_limit_key k,
		  unsigned window, uint64_t now, uint64_t *used);

/* Entries held (for tests and the benchmark). */
size_t budget_entries(struct budget *b);

/* The limits that apply to a login on a port: the class's where its
 * class sets them, else the port's. */
const struct cfg_limits *budget_limits(const struct cfg *cfg,
				       const struct cfg_port *port,
				       const char *login,
				       enum cfg_limit_key k);

#endif
