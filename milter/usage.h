/*
 * usage - the sending budgets across nodes: a background thread of the
 * milter (never on the SMTP path) that learns the other nodes' usage from
 * PostgreSQL and feeds it to the budget counters as remote usage
 * (budget_remote_add(), milter/budget.h).
 *
 * Where the usage comes from. Every node's shipper stores its events;
 * a trigger (sql/008_usage.sql) adds, in the same transaction, one row
 * of portmilter.usage per node, second, port and budget key for the
 * accepted transactions really inserted: messages, recipients, KiB. So
 * the usage of a node is in PostgreSQL as soon as its events are, and
 * never twice.
 *
 * What this thread does, every USAGE_PULL_SECONDS while a budget is
 * configured: in one REPEATABLE READ transaction, read the snapshot and
 * the rows committed since the previous one (xid not visible in the
 * previous snapshot: exactly once, whatever order the shippers'
 * transactions commit in) of the other nodes, and of this node those
 * older than this process (the usage of before a restart, which its
 * memory lost; never this process's own, which budget_charge() already
 * put in the same counters: usage_start() runs before libmilter takes
 * a connection, so every row of this process is at or after its
 * start, unless node_name changes or the wall clock steps back). Its
 * first read (at start, after the database comes back for the first
 * time, or when budgets are first configured)
 * loads every row of the longest window instead. Each row counts as
 * the other node's usage at the end of its second, if the port it was
 * made on has a budget for that login or address (the same rule as the
 * local count, milter.c), under the same key (budget_key()). About
 * every minute it deletes the rows older than the longest window
 * (usage_prune()); without any budget it only does that, keeping one
 * minute (the trigger writes usage whatever the configuration).
 *
 * The database down, or its schema older than 008: the budgets count
 * this node's usage only; that is logged at most once a minute, the
 * thread retries every USAGE_PULL_SECONDS (backing off to 10 s) and,
 * once connected again, takes every row committed meanwhile (nothing
 * is missed: the snapshot of its last read is kept).
 *
 * usage_start() starts the thread (after recorder_start()); it reads
 * the configuration with milter_config_get() every round, so a reload's
 * database, node_name and budgets apply at once. usage_stop() joins it
 * (within about a second, or at most connect_timeout = 5 s).
 */
#ifndef PM_USAGE_H
#define PM_USAGE_H

#include <stdint.h>

#define USAGE_PULL_SECONDS	2

void usage_start(void);
void usage_stop(void);

#endif
