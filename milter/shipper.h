/*
 * shipper - the writer thread: ships journal records to PostgreSQL.
 *
 * It reads batches (up to 10,000 records) from the journal checkpoint
 * on, sends each batch in one transaction, then advances the checkpoint.
 * HELO, client name, SASL user and sender go in as milter/event.h says:
 * text of at most EVENT_TEXT_MAX bytes of valid UTF-8, the exact bytes
 * in their *_raw column whenever the text differs from them.
 * Exactly once: the database keeps a watermark per node
 * (portmilter.ship_watermark, sql/011_ship.sql: every record of this
 * run's journal before a position is stored; a run is the shipper's life,
 * with a random id, since positions only grow while the journal is open),
 * read on every connection and moved in the batch's own transaction. A
 * batch from the watermark on is COPYed straight into portmilter.events.
 * One from before it (read again after a commit whose outcome was lost),
 * or whose COPY meets an event already stored (a unique violation: a
 * replay after a crash, a journal restored from a copy, a restored
 * database), goes through a temporary staging table and INSERT ... ON
 * CONFLICT DO NOTHING, which stores a record shipped twice once; so does
 * every batch into a schema older than 011. Two milters with the same
 * node_name share the row: each then finds the other's run there and
 * ships from (0, 0), which costs speed, never a record. The database down or
 * slow only delays shipping: the connection is dropped and retried with
 * an exponential backoff (1 s .. 30 s), logged at most once a minute.
 * A batch the server refuses for its data (SQLSTATE class 22 or 23, or
 * 54000: a value too big for an index entry or a row) is retried record
 * by record; a record refused on its own is written to
 * "rejected.log" in the journal directory and logged, never dropped
 * silently and never allowed to block the records behind it.
 *
 * On every connection it first reads portmilter.schema_version: a
 * schema newer than this build knows (PM_SCHEMA_VERSION, schema.h) gets
 * nothing; that is logged like a database that is down, the journal
 * keeps the events and the shipper retries with the same backoff, so
 * shipping resumes by itself once portmilter is upgraded.
 *
 * After a stored batch it kicks the rollups' catch-up (catchup_kick(),
 * catchup.h), which runs in a thread of its own, with its own
 * connection: shipping never waits for a step of it.
 *
 * shipper_stop() ships what it can until the journal is drained or the
 * time is up, then returns; the rest stays in the journal for the next
 * start.
 */
#ifndef PM_SHIPPER_H
#define PM_SHIPPER_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"

struct shipper;

/* node: the node name, the key of its watermark row. */
struct shipper *shipper_start(struct journal *j, const char *conninfo,
			      const char *node);

/* A new conninfo (after a reload): reconnect with it. */
void shipper_set_conninfo(struct shipper *s, const char *conninfo);

void shipper_stop(struct shipper *s, int seconds);

/* Events stored so far (for logs and tests). */
uint64_t shipper_shipped(struct shipper *s);

/*
 * When the oldest event not yet in PostgreSQL happened, in microseconds
 * since the epoch; 0 when everything journaled is shipped. Lock-free:
 * the event time of the first record of the batch the shipper holds
 * (read even while the database is down, so a backlog left by a previous
 * run counts from the shipper's first read, a moment after the start),
 * else the journal's time of the oldest record not read yet.
 */
int64_t shipper_oldest_unshipped(struct shipper *s);

/* Is its database connection up (as last seen by the shipper thread)? */
bool shipper_up(struct shipper *s);

#endif
