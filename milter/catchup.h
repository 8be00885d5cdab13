/*
 * catchup - the rollups' catch-up (sql/014_rollups.sql,
 * sql/025_catchup_steps.sql) in a thread of its own, so that shipping
 * never waits for it: one step of a day can take seconds to tens of
 * seconds on a large provider's day, during which the shipper would
 * ship nothing.
 *
 * The shipper calls catchup_kick() after every batch it stored. The
 * thread then runs a round, at most every CATCHUP_EVERY seconds (the
 * first one at the first kick): for about CATCHUP_MS, one step per call
 * of portmilter.rollup_catchup_step() (one rollup of the oldest dirty
 * day before today), each in its own transaction, until none is left;
 * a schema before 025, or a writer without EXECUTE on the step
 * function, gets rollup_catchup(1) instead (a whole day per call). The
 * time is checked between steps: a round may outlast CATCHUP_MS by one
 * step (at most the statement_timeout, 60 s). Only one session at a
 * time does the work, whichever node it belongs to: both functions
 * return at once when another holds their advisory lock. A schema
 * without rollup_catchup() (before 014), or a writer not allowed to run
 * it, is said once and left alone until the next connection; any other
 * failure is logged and the next round tries again. Logs, prefixed
 * "rollups:": "N days caught up in M ms", "N steps of a day done in M
 * ms".
 *
 * The thread has its own connection, opened as the shipper's is
 * (pgconn.h: the "database" conninfo, the writer role, search_path
 * emptied, statement_timeout 60 s; application_name
 * "portmilter-rollups"), at the first round and again at the next one
 * after the connection was lost or a reload changed the conninfo (the
 * old connection is closed at once); a failure is logged at most once a
 * minute and retried (1 s doubling to CATCHUP_EVERY) as long as a round
 * is due.
 *
 * catchup_stop() does not wait for a step: the thread checks every
 * 100 ms while a statement runs and cancels it (PQcancel; the step's
 * transaction is rolled back, the day stays dirty and is taken again by
 * the next round of any node); the join is bounded.
 */
#ifndef PM_CATCHUP_H
#define PM_CATCHUP_H

#include "cfg.h"

#define CATCHUP_EVERY	60	/* seconds between rounds, at most one */
#define CATCHUP_MS	1000	/* steps begun within this time of a round */
#define CATCHUP_STOP_WAIT 15	/* seconds: connect_timeout 5 s, a cancel */

/* Start the thread (once), for cfg->database. */
void catchup_start(const struct cfg *cfg);

/* A new conninfo after a reload: the next round reconnects with it. */
void catchup_reload(const struct cfg *cfg);

/* Rows were stored: a round is due (now, or CATCHUP_EVERY after the
 * last one). Cheap (a mutex and a condition); a no-op when the thread
 * is not running. */
void catchup_kick(void);

/* Stop the thread, cancelling the statement it runs (bounded). */
void catchup_stop(void);

#endif
