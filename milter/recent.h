/*
 * recent - accepted transactions waiting for their exact size from
 * Postfix's log (doc/events.md, "The size of a message").
 *
 * At end of message the milter records a transaction with the size the
 * client declared (it does not read the message unless a port has a
 * limit_bytes budget). Postfix's qmgr logs the exact size a moment
 * later; the log reader (logreader.h) then journals a row of kind size
 * that names the transaction by its (event_time, event_id), and the
 * database sets that transaction's size (sql/012_perf.sql). This module
 * is the memory between the two: queue id -> (event_id, event_time).
 *
 * recent_enable() allocates the table (the log reader calls it when it
 * starts); until then recent_put() does nothing, so a milter without
 * postfix_log pays nothing. recent_put() remembers a transaction (a
 * fixed table of RECENT_SLOTS entries, in sets of 4 chosen by a hash of
 * the queue id; a full set forgets its oldest entry, and that message
 * keeps its declared size: with a log reader a second behind, 4 of the
 * few entries waiting at any time would have to share a set);
 * recent_take()
 * returns and forgets it. Both are thread-safe (one mutex, held for a
 * copy of about 100 bytes), never allocate, never fail loudly. Strings
 * too long for the table (a queue id of 32 bytes or more) are ignored.
 */
#ifndef PM_RECENT_H
#define PM_RECENT_H

#include <stdbool.h>

#define RECENT_SLOTS	16384
#define RECENT_ID_LEN	40	/* event id or time text, with its NUL */

void recent_enable(void);
void recent_put(const char *queue_id, const char *event_id,
		const char *event_time);
bool recent_take(const char *queue_id, char event_id[RECENT_ID_LEN],
		 char event_time[RECENT_ID_LEN]);

#endif
