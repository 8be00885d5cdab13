/*
 * portmilter-watch - detects abused accounts in the recorded events and
 * alerts (doc/watch.md, portmilter-watch(8)).
 *
 * usage: portmilter-watch [-c FILE] [-f] [-v] [-1 [-T TIME]]
 *        portmilter-watch -n [-c FILE]
 *        portmilter-watch -x [-c FILE]
 *
 *   -n  check the configuration ([watch], [detector NAME] and the rest of
 *       portmilter.conf), print the effective detectors, exit 0 or 1
 *   -x  print the EXPLAIN of every enabled detector's query, exit
 *   -1  one evaluation (if this instance gets the leader lock), then exit
 *   -T  with -1 or -x: evaluate as if it were TIME (a timestamptz text):
 *       a replay of recorded days (bench/watch-bench.sh); the cool-down
 *       still counts in real time, and nothing is resolved
 *   -f  log on stderr too (it always runs in the foreground: systemd)
 *
 * One leader. Several instances (one per node) may run against one
 * PostgreSQL: each opens a dedicated connection and asks for the session
 * advisory lock WATCH_LOCK_KEY with pg_try_advisory_lock(). The one that
 * holds it is the leader and runs the detectors and the deliveries; the
 * others stand by and try again every cycle, so when the leader dies (its
 * session ends and PostgreSQL releases the lock) another takes over within
 * one cycle. The alert itself is deduplicated by a unique key in the same
 * transaction (portmilter.watch_fire()), so even two leaders in a split
 * moment (a lock connection lost but its session not yet ended) alert
 * once.
 *
 * Signals: SIGHUP reloads the file (kept only if valid: the old settings
 * stay otherwise, logged); SIGTERM and SIGINT stop at the end of the
 * current step. Waiting between cycles is a sigtimedwait(), so a signal
 * is handled at once.
 *
 * Database trouble is a warning: the connections are dropped and made
 * again with a backoff of one cycle; nothing is lost, since the detectors
 * read windows of recorded events, and deliveries are queued in the
 * database.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "detect.h"
#include "geo.h"
#include "msg.h"
#include "notify.h"
#include "schema.h"
#include "util.h"
#include "wconf.h"

#define WATCH_LOCK_KEY	"1886221175"	/* "pm watch": the leader */
#define WATCH_SCHEMA	7		/* sql/007_watch.sql */

struct opts {
	const char *config;
	const char *as_of;		/* -T */
	bool foreground, check_only, explain, once;
	int verbose;
};

struct state {
	struct wconf *w;
	struct geo *geo;
	PGconn *lock;			/* holds the advisory lock */
	PGconn *conn;			/* detectors and deliveries */
	bool leader;
	bool said_standby;
};

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: portmilter-watch [-c FILE] [-f] [-v] [-1]\n"
		"       portmilter-watch -n [-c FILE]   check the configuration\n"
		"       portmilter-watch -x [-c FILE]   EXPLAIN each detector's query\n"
		"  -f  log on stderr too   -1  one evaluation, then exit\n"
		"  -T TIME  (with -1 or -x) evaluate as of TIME (a replay)\n"
		"configuration: [watch] and [detector NAME] in %s\n",
		CFG_DEFAULT_PATH);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt(argc, argv, "c:fnx1T:vhV")) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = true; break;
		case 'n': o->check_only = true; break;
		case 'x': o->explain = true; break;
		case '1': o->once = true; break;
		case 'T': o->as_of = optarg; break;
		case 'v': o->verbose++; break;
		case 'V': printf("portmilter-watch %s\n", PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || (o->as_of && !o->once && !o->explain)) {
		usage(stderr);
		exit(2);
	}
}

/* The configuration, or NULL with the errors logged. */
static struct wconf *load(const char *path)
{
	char *errs = NULL, *line, *save = NULL;
	struct cfg *cfg = cfg_load(path, &errs);
	struct wconf *w = NULL;

	if (cfg != NULL) {
		w = wconf_build(cfg, &errs);
		cfg_unref(cfg);
	}
	if (w == NULL && errs != NULL)
		for (line = strtok_r(errs, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			msg_warn("%s", line);
	free(errs);
	return w;
}

static struct geo *geo_start(const struct wconf *w)
{
	char err[256];
	struct geo *g;

	if (w->geoip_country_db[0] == '\0' && w->geoip_asn_db[0] == '\0') {
		msg_info("no geoip_country_db or geoip_asn_db: many_places counts "
			 "addresses and networks only, new_place is off");
		return NULL;
	}
	g = geo_open(w->geoip_country_db[0] ? w->geoip_country_db : NULL,
		     w->geoip_asn_db[0] ? w->geoip_asn_db : NULL, err,
		     sizeof(err));
	if (g == NULL)
		msg_warn("GeoIP databases not usable (%s): many_places counts "
			 "addresses and networks only, new_place is off", err);
	return g;
}

static const char *as_of;	/* -T */

static PGconn *db_open(const char *conninfo, const char *role)
{
	const char *keys[] = {"application_name", "connect_timeout", "dbname",
			      NULL};
	const char *vals[] = {role, "5", conninfo, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r;
	char q[512];

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		msg_warn("cannot connect to the database: %s",
			 str_escape(q, sizeof(q), c ? PQerrorMessage(c) :
				    "out of memory"));
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, "SET search_path = ''; SET TimeZone = 'UTC'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		msg_warn("database session setup: %s",
			 str_escape(q, sizeof(q), PQerrorMessage(c)));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	if (as_of != NULL) {
		r = PQexecParams(c, "SELECT pg_catalog.set_config("
				 "'portmilter.watch_now', $1::timestamptz::text,"
				 " false)", 1, NULL, &as_of, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			msg_fatal("-T %s: %s", str_escape(q, 64, as_of),
				  str_escape(q + 64, sizeof(q) - 64,
					     PQerrorMessage(c)));
		PQclear(r);
	}
	return c;
}

/* Is the schema at least 007 (and not newer than this build)? */
static bool schema_ok(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT max(version) FROM "
			     "portmilter.schema_version");
	long v = -1;
	bool ok;
	char q[512];

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0))
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	else
		msg_warn("cannot read portmilter.schema_version: %s",
			 str_escape(q, sizeof(q), PQerrorMessage(c)));
	PQclear(r);
	ok = v >= WATCH_SCHEMA && v <= PM_SCHEMA_VERSION;
	if (v >= 0 && v < WATCH_SCHEMA)
		msg_warn("database schema %ld is older than %d: run "
			 "portmilter-report migrate", v, WATCH_SCHEMA);
	else if (v > PM_SCHEMA_VERSION)
		msg_warn("database schema %ld is newer than this "
			 "portmilter-watch (%d): upgrade portmilter", v,
			 PM_SCHEMA_VERSION);
	return ok;
}

static void drop(struct state *s)
{
	if (s->leader)
		msg_info("no longer the leader (database connection closed)");
	PQfinish(s->lock);
	PQfinish(s->conn);
	s->lock = s->conn = NULL;
	s->leader = false;
}

/* Become (or stay) the leader if the lock is free. */
static bool lead(struct state *s)
{
	PGresult *r;
	bool got;

	if (s->lock != NULL && PQstatus(s->lock) != CONNECTION_OK)
		drop(s);
	if (s->lock == NULL) {
		if ((s->lock = db_open(s->w->database,
				       "portmilter-watch lock")) == NULL)
			return false;
		if (!schema_ok(s->lock)) {
			drop(s);
			return false;
		}
	}
	if (s->leader) {
		/* Still holding it? The session may have been cut. */
		r = PQexec(s->lock, "SELECT 1");
		got = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		if (!got)
			drop(s);
		return got;
	}
	r = PQexec(s->lock, "SELECT pg_catalog.pg_try_advisory_lock("
		   WATCH_LOCK_KEY ")");
	got = PQresultStatus(r) == PGRES_TUPLES_OK &&
	      strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		drop(s);
		return false;
	}
	PQclear(r);
	if (got) {
		msg_info("leader: node %s runs the detectors", s->w->node);
		s->leader = true;
		s->said_standby = false;
	} else if (!s->said_standby) {
		msg_info("standing by: another portmilter-watch holds the "
			 "leader lock");
		s->said_standby = true;
	}
	return got;
}

/* The delivery settings (notify.h: NULL = not configured). */
static void notify_cfg_of(const struct wconf *w, struct notify_cfg *nc)
{
	memset(nc, 0, sizeof(*nc));
	nc->webhook_url = *w->webhook_url ? w->webhook_url : NULL;
	nc->webhook_secret_file = *w->webhook_secret_file ?
				  w->webhook_secret_file : NULL;
	nc->webhook_ca_file = *w->webhook_ca_file ? w->webhook_ca_file : NULL;
	nc->webhook_timeout_s = (int) w->webhook_timeout;
	nc->mail_to = *w->mail_to ? w->mail_to : NULL;
	nc->mail_from = *w->mail_from ? w->mail_from : NULL;
	nc->sendmail_path = w->sendmail_path;
	nc->syslog = w->syslog;
}

static void cycle(struct state *s)
{
	const struct wconf *w = s->w;
	struct notify_cfg nc;
	struct detect_stats st;
	int n;

	notify_cfg_of(w, &nc);
	if (!lead(s))
		return;
	if (s->conn == NULL &&
	    (s->conn = db_open(w->database, "portmilter-watch")) == NULL)
		return;
	if (detect_cycle(s->conn, w, s->geo, as_of != NULL, &st) < 0) {
		drop(s);
		return;
	}
	if (st.fired || st.resolved || st.errors || msg_verbose())
		msg_info("evaluation: %u fired, %u held by the cool-down, %u "
			 "resolved, %u errors, %.3f s", st.fired, st.held,
			 st.resolved, st.errors, st.seconds);
	n = notify_run(s->conn, &nc, w->node);
	if (n < 0)
		msg_warn("delivering alerts failed: will retry");
	if (PQstatus(s->conn) != CONNECTION_OK)
		drop(s);
}

static void reload(struct state *s, const char *path)
{
	struct wconf *w = load(path);

	if (w == NULL) {
		msg_warn("reload: %s has errors, keeping the running settings",
			 path);
		return;
	}
	if (strcmp(w->database, s->w->database) != 0)
		drop(s);
	geo_close(s->geo);
	wconf_free(s->w);
	s->w = w;
	s->geo = geo_start(w);
	msg_info("reloaded %s", path);
}

static int explain(struct wconf *w)
{
	PGconn *c = db_open(w->database, "portmilter-watch");
	bool ok;

	if (c == NULL)
		return 1;
	ok = detect_explain(c, w, stdout);
	PQfinish(c);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct state s = {0};
	struct opts o;
	struct timespec ts;
	sigset_t set;
	int sig;
	const char *path;

	parse_opts(argc, argv, &o);
	as_of = o.as_of;
	path = o.config ? o.config : CFG_DEFAULT_PATH;
	msg_init("portmilter-watch", o.check_only || o.explain ? MSG_TO_STDERR :
		 MSG_TO_SYSLOG | (o.foreground || o.once ? MSG_TO_STDERR : 0));
	msg_set_verbose(o.verbose);
	if ((s.w = load(path)) == NULL) {
		if (o.check_only)
			return 1;
		msg_fatal("%s: configuration errors (see above), not starting",
			  path);
	}
	if (o.check_only) {
		struct notify_cfg nc;
		char err[256], *why = NULL;

		notify_cfg_of(s.w, &nc);
		if (!notify_check(&nc, &why)) {
			msg_warn("%s: [watch]: %s", path, why ? why : "?");
			free(why);
			wconf_free(s.w);
			return 1;
		}

		if (*s.w->geoip_country_db || *s.w->geoip_asn_db) {
			if ((s.geo = geo_open(*s.w->geoip_country_db ?
					      s.w->geoip_country_db : NULL,
					      *s.w->geoip_asn_db ?
					      s.w->geoip_asn_db : NULL,
					      err, sizeof(err))) == NULL) {
				msg_warn("%s: GeoIP: %s", path, err);
				wconf_free(s.w);
				return 1;
			}
			geo_close(s.geo);
		}
		wconf_print(s.w, stdout);
		wconf_free(s.w);
		return 0;
	}
	if (o.explain) {
		sig = explain(s.w);
		wconf_free(s.w);
		return sig;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.geo = geo_start(s.w);
	msg_info("starting: node %s, an evaluation every %ld s", s.w->node,
		 s.w->interval);
	for (;;) {
		cycle(&s);
		if (o.once)
			break;
		ts.tv_sec = s.w->interval;
		ts.tv_nsec = 0;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGHUP) {
			reload(&s, path);
		} else if (sig == SIGTERM || sig == SIGINT) {
			msg_info("stopping on signal %d", sig);
			break;
		} else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			msg_fatal("sigtimedwait: %s", strerror(errno));
		}
	}
	drop(&s);
	geo_close(s.geo);
	wconf_free(s.w);
	return 0;
}
