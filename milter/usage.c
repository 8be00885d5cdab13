/*
 * usage - the other nodes' budget usage from PostgreSQL. See usage.h.
 *
 * libpq as in shipper.c: PQconnectdbParams with application_name and
 * connect_timeout, search_path emptied and every name schema-qualified,
 * constant SQL with parameters, success statuses listed, PQclear on
 * every path, one PGconn owned by this thread only. A large first load
 * is read through a cursor, FETCH_ROWS at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "addr.h"
#include "budget.h"
#include "cfg.h"
#include "milter.h"
#include "msg.h"
#include "policy.h"
#include "recorder.h"
#include "schema.h"
#include "usage.h"
#include "util.h"

#define USAGE_SCHEMA		8	/* sql/008_usage.sql */
#define BACKOFF_MAX		10	/* seconds between attempts, at most */
#define DOWN_LOG_EVERY		60	/* seconds between "down" logs */
#define PRUNE_EVERY		60	/* seconds between prunes */
#define KEEP_SLACK		60	/* seconds kept beyond the longest window */
#define KEEP_MAX		(35 * 86400)	/* usage_prune()'s upper bound */
#define FETCH_ROWS		"5000"

static struct {
	pthread_t tid;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;			/* under lock */
	/* the thread's own */
	PGconn *conn;
	char *conninfo;			/* of conn */
	char *snapshot;			/* of the last read; NULL = load all */
	time_t started;			/* this node's rows before: reloaded */
	time_t down_logged, pruned;
} U = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* The rows: other nodes', and this node's from before this process;
 * not a row whose address `portmilter-report maintain` reduced (013:
 * shorter than the key's /32 or /64, it names no client any more).
 * $1 node, $2 start (epoch seconds), $3 span (seconds), $4 the previous
 * snapshot (the incremental read only). */
#define SQL_ROWS \
	"SELECT pg_catalog.date_part('epoch', u.at)::bigint, u.port, u.login," \
	" pg_catalog.host(u.client), u.messages, u.recipients, u.kbytes" \
	" FROM portmilter.usage AS u" \
	" WHERE u.at >= pg_catalog.now() - $3::bigint * interval '1 second'" \
	" AND (u.node <> $1::text OR u.at < pg_catalog.to_timestamp($2::bigint))" \
	" AND (u.client IS NULL OR pg_catalog.masklen(u.client) >=" \
	" CASE pg_catalog.family(u.client) WHEN 4 THEN 32 ELSE 64 END)"
static const char sql_load[] =
	"DECLARE pm_usage NO SCROLL CURSOR FOR " SQL_ROWS;
static const char sql_since[] =
	"DECLARE pm_usage NO SCROLL CURSOR FOR " SQL_ROWS
	" AND u.xid >= pg_catalog.pg_snapshot_xmin($4::pg_snapshot)"
	" AND NOT pg_catalog.pg_visible_in_snapshot(u.xid, $4::pg_snapshot)";

static bool stopping(void)
{
	bool stop;

	pthread_mutex_lock(&U.lock);
	stop = U.stopping;
	pthread_mutex_unlock(&U.lock);
	return stop;
}

/* Sleep up to seconds, waking at once when asked to stop. */
static void nap(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&U.lock);
	while (!U.stopping &&
	       pthread_cond_timedwait(&U.cond, &U.lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&U.lock);
}

static void log_down(const char *what)
{
	time_t now = time(NULL);

	if (now - U.down_logged < DOWN_LOG_EVERY)
		return;
	U.down_logged = now;
	msg_warn("usage: %s; the budgets count this node's usage only until "
		 "it is back", what);
}

static void disconnect(void)
{
	PQfinish(U.conn);
	U.conn = NULL;
	free(U.conninfo);
	U.conninfo = NULL;
}

/* The longest window of any budget, plus its slot: the usage that can
 * still count. 0 without budgets. */
static uint64_t span_of(const struct cfg *cfg)
{
	unsigned w[CFG_WINDOWS_MAX];
	uint64_t span = 0;
	size_t n;

	for (int k = 0; k < CFG_NLIMITS; k++) {
		n = cfg_limit_windows(cfg, k, w);
		if (n > CFG_WINDOWS_MAX)
			n = CFG_WINDOWS_MAX;
		for (size_t i = 0; i < n; i++)
			if ((uint64_t) w[i] + budget_width(w[i]) > span)
				span = (uint64_t) w[i] + budget_width(w[i]);
	}
	return span;
}

static bool exec_ok(const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(U.conn, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		snprintf(err, errlen, "%s%s%s", state ? state : "",
			 state ? " " : "", PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
	}
	PQclear(r);
	return ok;
}

/* Connect and check the schema: 008 or later, and not newer than this
 * build knows. */
static bool connect_db(const char *conninfo, char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout",
			      NULL};
	const char *vals[] = {conninfo, "portmilter-usage", "5", NULL};
	PGresult *r;
	long version = 0;

	U.conn = PQconnectdbParams(keys, vals, 1);
	U.conninfo = xstrdup(conninfo);
	if (PQstatus(U.conn) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s",
			 PQerrorMessage(U.conn));
		err[strcspn(err, "\n")] = '\0';
		return false;
	}
	if (!exec_ok("SELECT pg_catalog.set_config('search_path', '', false)",
		     err, errlen))
		return false;
	r = PQexec(U.conn, "SELECT pg_catalog.max(version) "
		   "FROM portmilter.schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQgetisnull(r, 0, 0) ||
	    !str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &version))
		snprintf(err, errlen, "cannot read the schema version");
	else if (version < USAGE_SCHEMA)
		snprintf(err, errlen, "database schema %ld has no usage table "
			 "(needs %d): run portmilter-report migrate", version,
			 USAGE_SCHEMA);
	else if (version > PM_SCHEMA_VERSION)
		snprintf(err, errlen, "database schema %ld is newer than this "
			 "portmilter (%d): upgrade portmilter", version,
			 PM_SCHEMA_VERSION);
	PQclear(r);
	if (version < USAGE_SCHEMA || version > PM_SCHEMA_VERSION)
		return false;
	msg_info("usage: connected to database %s (sending budgets across "
		 "nodes, read every %d s)", PQdb(U.conn), USAGE_PULL_SECONDS);
	return true;
}

/* Does a budget count this login (NULL: the client address) on port?
 * As budget_begin() in milter.c. */
static bool counted(const struct cfg *cfg, long port, const char *login)
{
	const struct cfg_port *p = policy_profile(cfg, (unsigned) port, NULL);

	for (int k = 0; k < CFG_NLIMITS; k++)
		if (budget_limits(cfg, p, login, k)->n > 0)
			return true;
	return false;
}

static bool num(const PGresult *r, int row, int col, long max, long *out)
{
	return !PQgetisnull(r, row, col) &&
	       str_to_long(PQgetvalue(r, row, col), 0, max, out);
}

/* One fetched row into the counters; false if it makes no sense. */
static bool merge_row(const struct cfg *cfg, struct budget *b,
		      const PGresult *r, int i, time_t wall, uint64_t now)
{
	char key[BUDGET_KEY_MAX];
	const char *login = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
	long at, port, msgs, rcpts, kb, age;
	struct pm_addr a;

	if (!num(r, i, 0, 1L << 40, &at) || !num(r, i, 1, 65535, &port) ||
	    !num(r, i, 4, 1L << 40, &msgs) || !num(r, i, 5, 1L << 40, &rcpts) ||
	    !num(r, i, 6, 1L << 50, &kb))
		return false;
	if (login == NULL && (PQgetisnull(r, i, 3) ||
			      !addr_parse(PQgetvalue(r, i, 3), &a)))
		return false;
	if (!counted(cfg, port, login))
		return true;
	if (!budget_key(login, login ? NULL : &a, key, sizeof(key)))
		return false;
	/* the end of its second, on this node's clock */
	age = (long) wall - (at + 1);
	if (age < 0)
		age = 0;
	if ((uint64_t) age >= now)
		return true;
	budget_remote_add(b, key, (uint64_t) msgs, (uint64_t) rcpts,
			  (uint64_t) kb, now - (uint64_t) age, now);
	return true;
}

/* One read in one REPEATABLE READ transaction; counts rows in *n. */
static bool pull(const struct cfg *cfg, uint64_t span, long *n, char *err,
		 size_t errlen)
{
	char start[24], spantext[24];
	const char *params[4];
	char *snap = NULL;
	PGresult *r;
	bool ok = false;
	long bad = 0;

	*n = 0;
	if (!exec_ok("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
		     errlen))
		return false;
	r = PQexec(U.conn, "SELECT pg_catalog.pg_current_snapshot()::text");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snap = xstrdup(PQgetvalue(r, 0, 0));
	else
		snprintf(err, errlen, "cannot read the snapshot: %s",
			 PQresultErrorMessage(r));
	PQclear(r);
	if (snap == NULL)
		goto done;
	snprintf(start, sizeof(start), "%lld", (long long) U.started);
	snprintf(spantext, sizeof(spantext), "%" PRIu64, span);
	params[0] = recorder_node(cfg);
	params[1] = start;
	params[2] = spantext;
	params[3] = U.snapshot;
	r = PQexecParams(U.conn, U.snapshot ? sql_since : sql_load,
			 U.snapshot ? 4 : 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "cannot read portmilter.usage: %s",
			 PQresultErrorMessage(r));
		PQclear(r);
		goto done;
	}
	PQclear(r);
	for (;;) {
		struct budget *b = milter_budgets();
		time_t wall = time(NULL);
		uint64_t now = milter_budget_now();
		int rows;

		r = PQexec(U.conn, "FETCH " FETCH_ROWS " FROM pm_usage");
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 7) {
			snprintf(err, errlen, "cannot read portmilter.usage: %s",
				 PQresultErrorMessage(r));
			PQclear(r);
			goto done;
		}
		rows = PQntuples(r);
		for (int i = 0; i < rows; i++)
			if (b == NULL || !merge_row(cfg, b, r, i, wall, now))
				bad++;
		PQclear(r);
		*n += rows;
		if (rows == 0)
			break;
	}
	/* Every row the snapshot shows is in: the next read starts there. */
	free(U.snapshot);
	U.snapshot = snap;
	snap = NULL;
	ok = true;
	if (bad > 0)
		msg_warn("usage: %ld rows of portmilter.usage skipped (not "
			 "understood)", bad);
done:
	free(snap);
	err[strcspn(err, "\n")] = '\0';
	if (PQstatus(U.conn) == CONNECTION_OK) {
		char why[256];

		if (!exec_ok(ok ? "COMMIT" : "ROLLBACK", why, sizeof(why)) && ok) {
			snprintf(err, errlen, "%s", why);
			ok = false;
		}
	}
	return ok;
}

/* Delete the rows no window needs; a failure is only logged (down). */
static void prune(uint64_t span)
{
	char keep[24];
	const char *params[] = {keep};
	uint64_t k = span + KEEP_SLACK;
	PGresult *r;

	snprintf(keep, sizeof(keep), "%" PRIu64, k > KEEP_MAX ? KEEP_MAX : k);
	r = PQexecParams(U.conn, "SELECT portmilter.usage_prune("
			 "$1::bigint * interval '1 second')", 1, NULL, params,
			 NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		msg_debug("usage: pruned %s rows older than %s s",
			  PQgetvalue(r, 0, 0), keep);
	else
		msg_warn("usage: cannot prune portmilter.usage: %s",
			 PQresultErrorMessage(r));
	PQclear(r);
	U.pruned = time(NULL);
}

/* One round; false if the database could not be read. */
static bool round_once(void)
{
	struct cfg *cfg = milter_config_get();
	char err[600] = "";
	uint64_t span;
	long n;
	bool first;

	if (cfg == NULL)
		return true;
	span = span_of(cfg);
	if (span == 0) {		/* no budgets: nothing to learn, only */
		free(U.snapshot);	/* the table to keep short */
		U.snapshot = NULL;
		if (U.conn != NULL && time(NULL) - U.pruned < PRUNE_EVERY) {
			cfg_unref(cfg);
			return true;
		}
	}
	if (U.conn != NULL && (PQstatus(U.conn) != CONNECTION_OK ||
			       strcmp(U.conninfo, cfg->database) != 0))
		disconnect();
	if (U.conn == NULL && !connect_db(cfg->database, err, sizeof(err))) {
		disconnect();
		if (span > 0)
			log_down(err);
		cfg_unref(cfg);
		return false;
	}
	if (span == 0) {
		prune(0);
		cfg_unref(cfg);
		return true;
	}
	first = U.snapshot == NULL;
	if (!pull(cfg, span, &n, err, sizeof(err))) {
		log_down(err);
		if (PQstatus(U.conn) != CONNECTION_OK)
			disconnect();
		cfg_unref(cfg);
		return false;
	}
	U.down_logged = 0;
	if (first)
		msg_info("usage: loaded %ld rows of the last %" PRIu64 " s of "
			 "budget usage", n, span);
	else if (n > 0)
		msg_debug("usage: %ld new rows of the other nodes", n);
	if (time(NULL) - U.pruned >= PRUNE_EVERY)
		prune(span);
	cfg_unref(cfg);
	return true;
}

static void *usage_main(void *arg)
{
	int backoff = USAGE_PULL_SECONDS;

	(void) arg;
	while (!stopping()) {
		if (round_once()) {
			backoff = USAGE_PULL_SECONDS;
			nap(USAGE_PULL_SECONDS);
		} else {
			nap(backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
				  backoff * 2;
		}
	}
	disconnect();
	free(U.snapshot);
	U.snapshot = NULL;
	return NULL;
}

void usage_start(void)
{
	sigset_t set, old;

	U.started = time(NULL);
	U.stopping = false;
	/* Signals belong to the main thread and libmilter's. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pthread_create(&U.tid, NULL, usage_main, NULL) != 0)
		msg_fatal("cannot start the usage thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	U.running = true;
}

void usage_stop(void)
{
	if (!U.running)
		return;
	pthread_mutex_lock(&U.lock);
	U.stopping = true;
	pthread_cond_broadcast(&U.cond);
	pthread_mutex_unlock(&U.lock);
	pthread_join(U.tid, NULL);
	U.running = false;
}
