/*
 * catchup - the rollups' catch-up in its own thread. See catchup.h for
 * the contract.
 *
 * libpq as in shipper.c: the session of pgconn_open(), statuses listed,
 * PQclear on every path, one PGconn owned by this thread only. Its
 * statements are sent with PQsendQuery and waited for in 100 ms polls,
 * so that a stop is seen while a step runs and the step cancelled.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "catchup.h"
#include "msg.h"
#include "pgconn.h"
#include "util.h"

#define DOWN_LOG_EVERY	60	/* seconds between "cannot connect" logs */
#define POLL_MS		100	/* while a statement runs: stop asked? */

struct catchup {
	pthread_t tid;
	pthread_mutex_t lock;		/* the fields down to kicked */
	pthread_cond_t wake;		/* on CLOCK_MONOTONIC */
	bool running;			/* kicks are taken */
	char *conninfo;
	bool conninfo_changed;
	bool stopping;
	bool kicked;			/* rows stored since the last round */
	PGconn *conn;			/* the thread's alone */
	time_t down_logged;
	int64_t backoff;		/* seconds, before a new connection */
	bool rollups;			/* the schema has rollup_catchup() */
	bool steps;			/* ... and rollup_catchup_step() (025) */
};

static struct catchup catchup_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static struct timespec mono_at(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	return ts;
}

static bool stopping(struct catchup *c)
{
	bool stop;

	pthread_mutex_lock(&c->lock);
	stop = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

/* Wait up to ms, or until asked to stop; true when stopping. */
static bool nap(struct catchup *c, int64_t ms)
{
	struct timespec ts = mono_at(mono_ms() + ms);
	bool stop;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping &&
	       pthread_cond_timedwait(&c->wake, &c->lock, &ts) != ETIMEDOUT)
		continue;
	stop = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

enum wake {
	WAKE_ROUND,	/* a round is due */
	WAKE_RELOAD,	/* a new conninfo while connected */
	WAKE_STOP
};

/*
 * Wait until a round is due: rows stored (a kick), and CATCHUP_EVERY
 * seconds after the last round began (last_ms; 0: none yet); the kick
 * is taken. A new conninfo while connected wakes the thread too, so
 * that no connection to the old database lingers until the next round.
 */
static enum wake wait_round(struct catchup *c, int64_t last_ms)
{
	int64_t due = last_ms == 0 ? 0 : last_ms + CATCHUP_EVERY * 1000;
	enum wake w = WAKE_ROUND;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping && !(c->conninfo_changed && c->conn != NULL) &&
	       !(c->kicked && mono_ms() >= due)) {
		struct timespec ts = mono_at(due);

		if (c->kicked)
			pthread_cond_timedwait(&c->wake, &c->lock, &ts);
		else
			pthread_cond_wait(&c->wake, &c->lock);
	}
	if (c->stopping)
		w = WAKE_STOP;
	else if (c->conninfo_changed && c->conn != NULL)
		w = WAKE_RELOAD;
	else
		c->kicked = false;
	pthread_mutex_unlock(&c->lock);
	return w;
}

/* A round not done (no connection): due again. */
static void pending(struct catchup *c)
{
	pthread_mutex_lock(&c->lock);
	c->kicked = true;
	pthread_mutex_unlock(&c->lock);
}

static void log_down(struct catchup *c, const char *what)
{
	time_t now = time(NULL);

	if (now - c->down_logged < DOWN_LOG_EVERY)
		return;
	c->down_logged = now;
	msg_warn("rollups: %s; the catch-up retries in %" PRId64 " s", what,
		 c->backoff);
}

static bool db_connect(struct catchup *c)
{
	char err[512];
	char *conninfo;

	pthread_mutex_lock(&c->lock);
	conninfo = xstrdup(c->conninfo);
	c->conninfo_changed = false;
	pthread_mutex_unlock(&c->lock);
	c->conn = pgconn_open(conninfo, "portmilter-rollups",
			      "; no catch-up in it", err, sizeof(err));
	free(conninfo);
	if (c->conn == NULL) {
		log_down(c, err);
		return false;
	}
	c->rollups = true;	/* until rollup_catchup() says otherwise */
	c->steps = true;	/* until rollup_catchup_step() does */
	if (c->down_logged != 0)
		msg_info("rollups: connected to the database again");
	c->down_logged = 0;
	return true;
}

/* Cancel the statement running on conn (PQcancel: a request on a
 * connection of its own). */
static void cancel(PGconn *conn)
{
	PGcancel *k = PQgetCancel(conn);
	char err[256] = "no cancel key";

	if (k == NULL || !PQcancel(k, err, sizeof(err))) {
		err[strcspn(err, "\n")] = '\0';
		msg_warn("rollups: cannot cancel the catch-up step: %s", err);
	}
	if (k != NULL)
		PQfreeCancel(k);
}

/*
 * Run sql as PQexec would (its last result; NULL: PQerrorMessage says
 * why), but see a stop every POLL_MS meanwhile and cancel the statement
 * then (*cancelled set).
 */
static PGresult *exec_stoppable(struct catchup *c, const char *sql,
				bool *cancelled)
{
	PGresult *r, *last = NULL;

	*cancelled = false;
	if (!PQsendQuery(c->conn, sql))
		return NULL;
	while (PQisBusy(c->conn)) {
		struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};

		if (!*cancelled && stopping(c)) {
			cancel(c->conn);
			*cancelled = true;
		}
		if (p.fd < 0 || (poll(&p, 1, POLL_MS) < 0 && errno != EINTR) ||
		    !PQconsumeInput(c->conn))
			break;
	}
	while ((r = PQgetResult(c->conn)) != NULL) {
		PQclear(last);
		last = r;
	}
	return last;
}

/* undefined_function, insufficient_privilege: before 014 (025), or
 * no EXECUTE for the writer. */
static bool catchup_missing(const char *state)
{
	return strcmp(state, "42883") == 0 || strcmp(state, "42501") == 0;
}

enum round_end {
	ROUND_DONE,	/* caught up, out of time, or failed (logged) */
	ROUND_LOST,	/* the connection is gone */
	ROUND_STOPPED	/* asked to stop */
};

/*
 * One round: steps (or whole days) until none is left or CATCHUP_MS
 * has passed, each its own transaction (a statement out of any BEGIN).
 */
static enum round_end round_run(struct catchup *c)
{
	int64_t start = mono_ms();
	int days = 0, steps = 0;
	enum round_end end = ROUND_DONE;

	while (c->rollups) {
		bool cancelled, more;
		PGresult *r;
		long n = 0;

		if (stopping(c)) {
			end = ROUND_STOPPED;
			break;
		}
		r = exec_stoppable(c, c->steps ?
				   "SELECT portmilter.rollup_catchup_step()" :
				   "SELECT portmilter.rollup_catchup(1)", &cancelled);

		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
			char err[400], state[8];

			snprintf(state, sizeof(state), "%s", st ? st : "");
			if (r != NULL)
				pgconn_error(r, err, sizeof(err));
			else
				snprintf(err, sizeof(err), "%s", PQerrorMessage(c->conn));
			err[strcspn(err, "\n")] = '\0';
			PQclear(r);
			if (cancelled) {
				msg_info("rollups: the catch-up step running was "
					 "cancelled by the stop; its day stays dirty "
					 "for a later round");
				end = ROUND_STOPPED;
			} else if (PQstatus(c->conn) != CONNECTION_OK) {
				log_down(c, err);
				end = ROUND_LOST;
			} else if (c->steps && catchup_missing(state)) {
				c->steps = false;	/* before 025 */
				continue;
			} else if (catchup_missing(state)) {
				msg_info("rollups: no rollup catch-up in this database "
					 "(schema before 014, or no EXECUTE on "
					 "portmilter.rollup_catchup)");
				c->rollups = false;
			} else {
				msg_warn("rollups: rollup catch-up failed: %s", err);
			}
			break;
		}
		if (c->steps) {
			/* NULL: nothing to do; else the steps left of the day */
			more = !PQgetisnull(r, 0, 0);
			if (more) {
				steps++;
				if (str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &n) && n == 0)
					days++;
			}
		} else {
			(void)str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &n);
			days += (int)n;
			more = n > 0;
		}
		PQclear(r);
		if (!more || mono_ms() - start >= CATCHUP_MS)
			break;
	}
	if (days > 0)
		msg_info("rollups: %d day%s caught up in %" PRId64 " ms",
			 days, days == 1 ? "" : "s", mono_ms() - start);
	else if (steps > 0)
		msg_info("rollups: %d step%s of a day done in %" PRId64 " ms",
			 steps, steps == 1 ? "" : "s", mono_ms() - start);
	return end;
}

static void *catchup_main(void *arg)
{
	struct catchup *c = arg;
	int64_t last = 0;
	bool changed;

	c->backoff = 1;
	for (;;) {
		enum wake w = wait_round(c, last);
		enum round_end end = ROUND_LOST;
		int64_t start = mono_ms();

		if (w == WAKE_STOP)
			break;
		if (w == WAKE_RELOAD) {	/* the next round connects anew */
			PQfinish(c->conn);
			c->conn = NULL;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		changed = c->conninfo_changed;
		pthread_mutex_unlock(&c->lock);
		if (c->conn != NULL && (changed || PQstatus(c->conn) != CONNECTION_OK)) {
			PQfinish(c->conn);
			c->conn = NULL;
		}
		if (c->conn != NULL || db_connect(c))
			end = round_run(c);
		if (end == ROUND_STOPPED)
			break;
		if (end == ROUND_LOST) {
			PQfinish(c->conn);
			c->conn = NULL;
			pending(c);
			if (nap(c, c->backoff * 1000))
				break;
			c->backoff = c->backoff * 2 > CATCHUP_EVERY ? CATCHUP_EVERY :
				     c->backoff * 2;
			continue;
		}
		c->backoff = 1;
		last = start;
	}
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
	return NULL;
}

void catchup_start(const struct cfg *cfg)
{
	struct catchup *c = &catchup_state;
	pthread_condattr_t attr;
	sigset_t set, old;

	if (c->running || cfg->database == NULL)
		return;
	c->conninfo = xstrdup(cfg->database);
	c->stopping = c->kicked = c->conninfo_changed = false;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
	/* Signals belong to the main thread and libmilter's. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pthread_create(&c->tid, NULL, catchup_main, c) != 0)
		msg_fatal("cannot start the rollups' catch-up thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&c->lock);
	c->running = true;
	pthread_mutex_unlock(&c->lock);
}

void catchup_reload(const struct cfg *cfg)
{
	struct catchup *c = &catchup_state;

	pthread_mutex_lock(&c->lock);
	if (c->running && cfg->database != NULL &&
	    strcmp(c->conninfo, cfg->database) != 0) {
		free(c->conninfo);
		c->conninfo = xstrdup(cfg->database);
		c->conninfo_changed = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
}

void catchup_kick(void)
{
	struct catchup *c = &catchup_state;

	pthread_mutex_lock(&c->lock);
	if (c->running && !c->kicked) {
		c->kicked = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
}

void catchup_stop(void)
{
	struct catchup *c = &catchup_state;
	struct timespec ts;
	bool running;

	pthread_mutex_lock(&c->lock);
	running = c->running;
	c->stopping = true;
	if (running)
		pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (!running)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CATCHUP_STOP_WAIT;
	if (pthread_timedjoin_np(c->tid, NULL, &ts) != 0) {
		msg_warn("rollups: the catch-up thread did not stop within %d s",
			 CATCHUP_STOP_WAIT);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->running = false;
	free(c->conninfo);
	c->conninfo = NULL;
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&c->wake);
}
