/*
 * suspsync - the suspension list on every node: a background thread
 * pulls it from PostgreSQL into memory and into a local file; the SMTP
 * path only reads the copy in memory.
 *
 * suspsync_start() loads journal_directory/suspensions (suspend.h), so
 * that a milter restarted while PostgreSQL is down still refuses whom
 * it refused before (a missing file is a first start; a corrupt one is
 * logged and ignored: nothing is suspended until the database answers),
 * then starts the thread. Call it after the privileges are dropped: the
 * file belongs to the milter's user, 0640.
 *
 * The thread has its own connection (the "database" conninfo, the
 * writer role: SELECT on portmilter.suspensions_active and
 * suspension_generation, sql/006_suspensions.sql). Every
 * SUSPSYNC_POLL_MS it reads the one-row generation; when it changed
 * (and after every new connection) it reads the whole list in one
 * statement, builds a new set, publishes it and writes the file. A
 * suspension thus reaches every node within SUSPSYNC_POLL_MS plus a
 * query. PostgreSQL down, or a schema older than version 6: the last
 * list stays in force, the reason is logged at most once a minute, and
 * the connection is retried (1 s doubling to 10 s).
 *
 * suspsync_lookup() is the only call of the SMTP path: a read lock held
 * for one lookup in the current set (suspend_set_lookup); the thread
 * holds the write lock only to swap the set's pointer, never while it
 * talks to PostgreSQL, so a callback never waits for the database.
 * Suspensions with an until are checked against the wall clock at each
 * lookup, so one expires on time with the database down too.
 */
#ifndef PM_SUSPSYNC_H
#define PM_SUSPSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cfg.h"
#include "suspend.h"

#define SUSPSYNC_POLL_MS	2000
#define SUSPSYNC_BACKOFF_MAX	10	/* seconds */

/* Load the file and start the thread (once). */
void suspsync_start(const struct cfg *cfg);

/* A new conninfo after a reload: reconnect with it. */
void suspsync_reload(const struct cfg *cfg);

/* Stop the thread (bounded); the set stays for lookups until exit. */
void suspsync_stop(void);

/* Is this login (NULL: none) or client address suspended now? */
bool suspsync_lookup(const char *login, const struct pm_addr *client,
		     struct suspend_hit *hit);

/* For /metrics: suspensions in force, and when the list was last read
 * from PostgreSQL (Unix seconds, 0 = not since the start). */
struct suspsync_stats {
	size_t users, addresses;
	int64_t synced;
	bool loaded;		/* a list is in force (file or database) */
};
void suspsync_stats(struct suspsync_stats *st);

#endif
