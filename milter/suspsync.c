/*
 * suspsync - the suspension list from PostgreSQL to every node. See
 * suspsync.h for the contract.
 *
 * libpq as in shipper.c: PQconnectdbParams with application_name and
 * connect_timeout, search_path emptied and every name schema-qualified,
 * statuses listed, PQclear on every path, one PGconn owned by this
 * thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "msg.h"
#include "suspend.h"
#include "suspsync.h"
#include "util.h"

#define DOWN_LOG_EVERY	60	/* seconds between "cannot read" logs */
#define BAD_ROW_LOGS	5	/* rows refused logged per load */
#define ERR_MAX		1200

static const char sql_generation[] =
	"SELECT g.generation FROM portmilter.suspension_generation AS g";
/* One statement: the generation and the list from one snapshot. */
static const char sql_list[] =
	"SELECT g.generation, a.kind, a.subject,"
	" CASE WHEN a.until IS NULL THEN 0"
	" ELSE pg_catalog.ceil(pg_catalog.date_part('epoch', a.until))::bigint END"
	" FROM portmilter.suspension_generation AS g"
	" LEFT JOIN portmilter.suspensions_active AS a ON true";

struct suspsync {
	pthread_t tid;
	bool running;
	pthread_mutex_t lock;		/* conninfo, stopping */
	pthread_cond_t wake;
	char *conninfo;
	bool conninfo_changed;
	bool stopping;
	char *dir;			/* journal_directory: the file */
	PGconn *conn;
	time_t down_logged;
};

static struct suspsync sync_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};

/* The published set: read under rdlock, swapped under wrlock. */
static pthread_rwlock_t set_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct suspend_set *set_current;
static size_t stat_users, stat_addresses;	/* under set_lock */
static int64_t stat_synced;			/* atomic */

bool suspsync_lookup(const char *login, const struct pm_addr *client,
		     struct suspend_hit *hit)
{
	bool found;

	pthread_rwlock_rdlock(&set_lock);
	found = suspend_set_lookup(set_current, login, client,
				   (int64_t)time(NULL), hit);
	pthread_rwlock_unlock(&set_lock);
	return found;
}

void suspsync_stats(struct suspsync_stats *st)
{
	pthread_rwlock_rdlock(&set_lock);
	st->users = stat_users;
	st->addresses = stat_addresses;
	st->loaded = set_current != NULL;
	pthread_rwlock_unlock(&set_lock);
	st->synced = __atomic_load_n(&stat_synced, __ATOMIC_RELAXED);
}

/* Make s the current set; the old one is freed after the swap (no
 * reader holds it once the write lock was had). */
static void publish(struct suspend_set *s)
{
	struct suspend_set *old;

	pthread_rwlock_wrlock(&set_lock);
	old = set_current;
	set_current = s;
	stat_users = suspend_set_count_kind(s, SUSPEND_USER);
	stat_addresses = suspend_set_count_kind(s, SUSPEND_ADDRESS);
	pthread_rwlock_unlock(&set_lock);
	suspend_set_free(old);
}

/* ---- the file at start ---------------------------------------------------- */

static void load_file(const char *dir)
{
	char err[ERR_MAX];
	bool missing;
	struct suspend_set *s = suspend_file_load(dir, &missing, err, sizeof(err));

	if (s == NULL) {
		if (!missing)
			msg_warn("suspensions: %s: ignored; nobody is suspended "
				 "until the database answers", err);
		return;
	}
	msg_info("suspensions: %zu in force from %s/%s (generation %" PRIu64 ")",
		 suspend_set_count(s), dir, SUSPEND_FILE,
		 suspend_set_generation(s));
	publish(s);
}

/* ---- the database --------------------------------------------------------- */

static void log_down(struct suspsync *y, const char *what)
{
	time_t now = time(NULL);
	struct suspsync_stats st;

	if (now - y->down_logged < DOWN_LOG_EVERY)
		return;
	y->down_logged = now;
	suspsync_stats(&st);
	msg_warn("suspensions: %s; the last list stays in force (%zu users, "
		 "%zu addresses)", what, st.users, st.addresses);
}

/* The reason of a failed query, with a hint for a schema too old. */
static void query_error(PGresult *r, const char *what, char *err, size_t errlen)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	snprintf(err, errlen, "cannot read the %s (%s%s%s)%s", what,
		 state ? state : "", state ? " " : "", PQresultErrorMessage(r),
		 state && (strcmp(state, "42P01") == 0 ||
			   strcmp(state, "3F000") == 0) ?
		 ": schema older than version 6, run portmilter-report migrate" :
		 state && strcmp(state, "42501") == 0 ?
		 ": the milter's role needs portmilter_writer" : "");
	err[strcspn(err, "\n")] = '\0';
}

static bool db_connect(struct suspsync *y)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[4];
	char err[600];
	char *conninfo;
	PGresult *r;
	bool ok;

	pthread_mutex_lock(&y->lock);
	conninfo = xstrdup(y->conninfo);
	y->conninfo_changed = false;
	pthread_mutex_unlock(&y->lock);
	vals[0] = conninfo;
	vals[1] = "portmilter-suspensions";
	vals[2] = "5";
	vals[3] = NULL;
	y->conn = PQconnectdbParams(keys, vals, 1);
	free(conninfo);
	if (PQstatus(y->conn) != CONNECTION_OK) {
		snprintf(err, sizeof(err), "cannot connect to the database: %s",
			 PQerrorMessage(y->conn));
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	r = PQexec(y->conn, "SELECT pg_catalog.set_config('search_path', '', false),"
		   " pg_catalog.set_config('statement_timeout', '10s', false)");
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		query_error(r, "session settings", err, sizeof(err));
	PQclear(r);
	if (ok)
		return true;
fail:
	log_down(y, err);
	PQfinish(y->conn);
	y->conn = NULL;
	return false;
}

/* The generation number; false (logged) on failure. */
static bool read_generation(struct suspsync *y, uint64_t *gen)
{
	PGresult *r = PQexec(y->conn, sql_generation);
	char err[600];
	long long v = 0;
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		  sscanf(PQgetvalue(r, 0, 0), "%lld", &v) == 1 && v >= 0;

	if (!ok) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			snprintf(err, sizeof(err), "portmilter.suspension_generation "
				 "does not hold one row");
		else
			query_error(r, "suspension generation", err, sizeof(err));
		log_down(y, err);
	}
	PQclear(r);
	*gen = (uint64_t)v;
	return ok;
}

/* Read the whole list into a new set; NULL (logged) on failure. */
static struct suspend_set *read_list(struct suspsync *y)
{
	PGresult *r = PQexec(y->conn, sql_list);
	struct suspend_set *s;
	char err[600], shown[200];
	int bad = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
		query_error(r, "suspension list", err, sizeof(err));
		log_down(y, err);
		PQclear(r);
		return NULL;
	}
	s = suspend_set_new();
	suspend_set_set_generation(s, strtoull(PQgetvalue(r, 0, 0), NULL, 10));
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 1), *why = "bad until";
		const char *subject = PQgetvalue(r, i, 2);
		long long until;

		if (PQgetisnull(r, i, 1))
			continue;	/* the LEFT JOIN of an empty list */
		if (sscanf(PQgetvalue(r, i, 3), "%lld", &until) == 1 &&
		    suspend_set_add(s, strcmp(kind, "user") == 0 ? SUSPEND_USER :
				    strcmp(kind, "address") == 0 ? SUSPEND_ADDRESS :
				    (enum suspend_kind)0, subject, until, &why))
			continue;
		if (bad++ < BAD_ROW_LOGS)
			msg_warn("suspensions: %s \"%s\" not used: %s", kind,
				 str_escape(shown, sizeof(shown), subject), why);
	}
	PQclear(r);
	return s;
}

/* ---- the thread ----------------------------------------------------------- */

/* Wait up to ms, or until asked to stop; true when stopping. */
static bool nap(struct suspsync *y, long ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&y->lock);
	while (!y->stopping &&
	       pthread_cond_timedwait(&y->wake, &y->lock, &ts) != ETIMEDOUT)
		continue;
	stop = y->stopping;
	pthread_mutex_unlock(&y->lock);
	return stop;
}

/* After a new list: publish, save, say so. */
static void take(struct suspsync *y, struct suspend_set *s)
{
	char err[ERR_MAX];
	uint64_t gen = suspend_set_generation(s);
	size_t n = suspend_set_count(s);

	if (!suspend_file_save(y->dir, s, err, sizeof(err)))
		msg_warn("suspensions: %s: a restart without the database would "
			 "use an older list", err);
	publish(s);
	msg_info("suspensions: %zu in force (generation %" PRIu64 ")", n, gen);
}

static void *suspsync_main(void *arg)
{
	struct suspsync *y = arg;
	uint64_t have = 0, gen;
	bool fresh = false, changed, ok;
	long backoff = 1;

	for (;;) {
		pthread_mutex_lock(&y->lock);
		changed = y->conninfo_changed;
		pthread_mutex_unlock(&y->lock);
		if (y->conn != NULL && (changed || PQstatus(y->conn) != CONNECTION_OK)) {
			PQfinish(y->conn);
			y->conn = NULL;
		}
		if (y->conn == NULL) {
			if (!db_connect(y)) {
				if (nap(y, backoff * 1000))
					break;
				backoff = backoff * 2 > SUSPSYNC_BACKOFF_MAX ?
					  SUSPSYNC_BACKOFF_MAX : backoff * 2;
				continue;
			}
			fresh = true;	/* maybe another database: reload */
		}
		ok = read_generation(y, &gen);
		if (ok && (fresh || gen != have)) {
			struct suspend_set *s = read_list(y);

			if ((ok = s != NULL)) {
				have = suspend_set_generation(s);
				fresh = false;
				take(y, s);
			}
		}
		if (!ok) {
			if (nap(y, backoff * 1000))
				break;
			backoff = backoff * 2 > SUSPSYNC_BACKOFF_MAX ?
				  SUSPSYNC_BACKOFF_MAX : backoff * 2;
			continue;
		}
		backoff = 1;
		if (y->down_logged != 0)
			msg_info("suspensions: reading the list from the database "
				 "again");
		y->down_logged = 0;
		__atomic_store_n(&stat_synced, (int64_t)time(NULL), __ATOMIC_RELAXED);
		if (nap(y, SUSPSYNC_POLL_MS))
			break;
	}
	if (y->conn != NULL)
		PQfinish(y->conn);
	y->conn = NULL;
	return NULL;
}

void suspsync_start(const struct cfg *cfg)
{
	struct suspsync *y = &sync_state;
	sigset_t set, old;

	if (y->running)
		return;
	y->dir = xstrdup(cfg->journal_directory);
	y->conninfo = xstrdup(cfg->database ? cfg->database : "");
	load_file(y->dir);
	/* Signals belong to the main thread and libmilter's. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pthread_create(&y->tid, NULL, suspsync_main, y) != 0)
		msg_fatal("cannot start the suspension thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	y->running = true;
}

void suspsync_reload(const struct cfg *cfg)
{
	struct suspsync *y = &sync_state;
	const char *c = cfg->database ? cfg->database : "";

	if (!y->running)
		return;
	pthread_mutex_lock(&y->lock);
	if (strcmp(y->conninfo, c) != 0) {
		free(y->conninfo);
		y->conninfo = xstrdup(c);
		y->conninfo_changed = true;
		pthread_cond_signal(&y->wake);
	}
	pthread_mutex_unlock(&y->lock);
}

void suspsync_stop(void)
{
	struct suspsync *y = &sync_state;
	struct timespec ts;

	if (!y->running)
		return;
	pthread_mutex_lock(&y->lock);
	y->stopping = true;
	pthread_cond_signal(&y->wake);
	pthread_mutex_unlock(&y->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;	/* connect_timeout 5 s, statement_timeout 10 s */
	if (pthread_timedjoin_np(y->tid, NULL, &ts) != 0) {
		msg_warn("suspensions: the thread did not stop within 20 s");
		return;
	}
	y->running = false;
	free(y->conninfo);
	free(y->dir);
	y->conninfo = y->dir = NULL;
	publish(NULL);
}
