/*
 * detect - portmilter-watch's detectors: one evaluation over the recorded
 * events, and the actions it decides (doc/watch.md).
 *
 * detect_cycle() runs every enabled detector once, on the leader's
 * connection. A detector is one SQL query (constant text, parameters
 * only) over its window ending at the server's now(); it returns the
 * subjects (users, or client addresses for spraying and an exposure
 * without a user name) over its threshold, with the evidence as jsonb.
 * For each, portmilter.watch_fire() (sql/007_watch.sql) checks the
 * cool-down, inserts the alert and its deliveries and, with action =
 * suspend, suspends the subject, in one transaction. Then
 * portmilter.watch_resolve() clears the subjects no longer firing and,
 * with resolved_notice, sends "resolved" alerts.
 *
 * Geo (geo != NULL): many_places also counts the countries and ASNs of
 * a user's addresses, and new_place compares them with the user's
 * history. Without geo, new_place is off (said once at start) and
 * many_places counts addresses and networks only.
 *
 * replay (portmilter-watch -T): the windows end at the session's
 * portmilter.watch_now, and nothing is resolved (what fires now is not
 * judged by an evaluation of the past).
 *
 * A database error in one detector is logged (warning) and skips that
 * detector's resolution for this cycle (nothing is resolved on a query
 * that did not answer); the other detectors still run. Returns the
 * number of alerts fired (not counting resolved notices), or -1 if the
 * connection is bad (the caller reconnects).
 */
#ifndef PM_DETECT_H
#define PM_DETECT_H

#include <stdio.h>

#include <libpq-fe.h>

#include "wconf.h"

struct geo;

struct detect_stats {
	unsigned fired, resolved, held;	/* held: within the cool-down */
	unsigned errors;		/* detectors that failed */
	double seconds;			/* the evaluation's wall time */
};

int detect_cycle(PGconn *conn, const struct wconf *w, struct geo *geo,
		 bool replay, struct detect_stats *st);

/* EXPLAIN (no ANALYZE) of every enabled detector's query with the
 * configured parameters, on fp: the proof that they use indexes. false
 * on a database error. */
bool detect_explain(PGconn *conn, const struct wconf *w, FILE *fp);

#endif
