/*
 * shipper - journal to PostgreSQL. See shipper.h for the contract.
 *
 * libpq use follows PostgreSQL's own client code: the session opened by
 * pgconn_open() (pgconn.h: application_name, connect_timeout, the schema
 * version, search_path emptied and every name schema-qualified), COPY
 * for the data, success statuses listed and everything else treated as
 * failure, PQclear on every path, one PGconn owned by this thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "catchup.h"
#include "event.h"
#include "journal.h"
#include "msg.h"
#include "pgconn.h"
#include "shipper.h"
#include "util.h"

#define BATCH_MAX	10000		/* records per transaction */
#define BACKOFF_MAX	30		/* seconds */
#define DOWN_LOG_EVERY	60		/* seconds between "database down" logs */
#define GATHER_MS	200		/* after a partial batch, wait this long */

/*
 * A batch of journal records as COPY text, journal positions [pos, next).
 * The shipper holds two: the one being shipped, and the next one, read
 * while the server works on the first one's COPY (read ahead), so that
 * the journal's decoding and the COPY text's encoding overlap with the
 * server's work instead of adding to it.
 */
struct batch {
	struct shipper *s;
	struct strbuf rows;		/* COPY text */
	size_t *row_end;		/* end offset of each row in rows */
	size_t nrows, row_cap;
	int64_t head_us;		/* event time (us) of its first record */
	bool publish;			/* add_row publishes head_us (the batch
					 * in hand, not the one read ahead) */
	bool ready;			/* the read-ahead batch holds records */
	struct journal_pos pos, next;
};

struct shipper {
	struct journal *j;
	pthread_t tid;
	pthread_mutex_t lock;
	char *conninfo;			/* under lock */
	bool conninfo_changed;		/* under lock */
	bool stopping;			/* under lock */
	time_t deadline;		/* under lock, with stopping */
	char *node;			/* node_name: its watermark row */
	char run[37];			/* this run's id (a UUID) */
	PGconn *conn;
	/* The node's watermark (sql/011_ship.sql), read on every
	 * connection: every record of this run's journal before wm is
	 * stored; (0, 0) when the row names another run. */
	bool wm_known;			/* the schema has the table */
	struct journal_pos wm;
	struct batch batch[2];
	struct batch *cur;		/* the batch in hand */
	struct batch *ahead;		/* the one after it, read ahead */
	uint64_t shipped;		/* atomic reads only */
	int64_t head_us;		/* atomic: event time (us) of the first
					 * record of the batch in hand, 0 none */
	bool up;			/* atomic: connection up */
	time_t down_logged;
};

/* The 27 event fields, then the raw bytes of 4 untrusted ones: their
 * text columns hold at most EVENT_TEXT_MAX bytes (milter/event.h), the
 * *_raw ones the exact bytes whenever the text is not them. */
static const enum event_field raw_fields[] = {
	EV_HELO, EV_CLIENT_NAME, EV_SASL_USER, EV_SENDER
};
static const char *const raw_columns[] = {
	"helo_raw", "client_name_raw", "sasl_user_raw", "sender_raw"
};
#define NRAW (sizeof(raw_fields) / sizeof(raw_fields[0]))

/* ---- COPY text format -------------------------------------------------- */

/* A text value for COPY: escaped, invalid UTF-8 bytes as U+FFFD. */
static void copy_text(struct strbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		strbuf_str(b, "\\N");
		return;
	}
	while (*p) {
		unsigned cp;
		size_t n;
		const unsigned char *run = p;

		/* A run of printable ASCII other than '\\' goes in at once. */
		while (*p >= 0x20 && *p < 0x7f && *p != '\\')
			p++;
		if (p > run)
			strbuf_add(b, (const char *)run, (size_t)(p - run));
		if (*p == '\0')
			break;
		n = utf8_decode(p, &cp);

		if (n == 0) {
			strbuf_str(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		switch (*p) {
		case '\\': strbuf_str(b, "\\\\"); break;
		case '\n': strbuf_str(b, "\\n"); break;
		case '\r': strbuf_str(b, "\\r"); break;
		case '\t': strbuf_str(b, "\\t"); break;
		default: strbuf_add(b, (const char *)p, n); break;
		}
		p += n;
	}
}

/* A bytea value for COPY text format: "\\x" and hex digits. */
static void copy_bytea(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	strbuf_str(b, "\\\\x");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char h[2] = {hex[*p >> 4], hex[*p & 0xf]};

		strbuf_add(b, h, 2);
	}
}

/* An event_time ("YYYY-MM-DD HH:MM:SS.ffffff+00", event_time_now()) in
 * microseconds since the epoch; 0 if it is not one. */
static int64_t event_time_us(const char *t)
{
	struct tm tm = {0};
	int n = 0, y, mo, d, h, mi, sec;
	long us = 0;
	time_t secs;

	if (t == NULL || sscanf(t, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d,
				&h, &mi, &sec, &n) != 6 || n != 19)
		return 0;
	if (t[n] == '.') {
		char *end;

		errno = 0;
		us = strtol(t + n + 1, &end, 10);
		if (errno != 0 || end != t + n + 7 || us < 0)
			return 0;
	}
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	if ((secs = timegm(&tm)) == (time_t)-1 || secs <= 0)
		return 0;
	return (int64_t)secs * 1000000 + us;
}

static void add_row(void *arg, const unsigned char *payload, size_t len)
{
	struct batch *b = arg;
	struct shipper *s = b->s;
	struct event ev;
	char text[NRAW][EVENT_TEXT_MAX + 1];
	const char *col[EVENT_NFIELDS], *raw[NRAW];

	if (!event_decode(payload, len, &ev)) {
		msg_warn("shipper: undecodable journal record of %zu bytes skipped", len);
		return;
	}
	/* Published before journal_read() clears the journal's unread
	 * time, so the oldest unshipped event never looks absent. A batch
	 * read ahead keeps its own: the one in hand is older. */
	if (b->nrows == 0) {
		int64_t us = event_time_us(ev.f[EV_EVENT_TIME]);

		if (us == 0)	/* not a time: the journal's view at least */
			us = journal_unread_since(s->j);
		b->head_us = us;
		if (b->publish)
			__atomic_store_n(&s->head_us, us, __ATOMIC_RELAXED);
	}
	/* The text columns of the untrusted values: their text form when
	 * it is not the value itself, which then goes to *_raw. */
	memcpy(col, ev.f, sizeof(col));
	for (size_t i = 0; i < NRAW; i++) {
		const char *v = ev.f[raw_fields[i]];
		bool differs = false;

		if (v != NULL)
			utf8_text(text[i], v, EVENT_TEXT_MAX, &differs);
		raw[i] = differs ? v : NULL;
		if (differs)
			col[raw_fields[i]] = text[i];
	}
	for (int i = 0; i < EVENT_NFIELDS; i++) {
		if (i)
			strbuf_str(&b->rows, "\t");
		copy_text(&b->rows, col[i]);
	}
	for (size_t i = 0; i < NRAW; i++) {
		strbuf_str(&b->rows, "\t");
		if (raw[i] == NULL)
			strbuf_str(&b->rows, "\\N");
		else
			copy_bytea(&b->rows, raw[i]);
	}
	strbuf_str(&b->rows, "\n");
	event_free(&ev);
	if (b->nrows == b->row_cap) {
		b->row_cap = b->row_cap ? 2 * b->row_cap : 1024;
		b->row_end = xrealloc(b->row_end, b->row_cap * sizeof(*b->row_end));
	}
	b->row_end[b->nrows++] = b->rows.len;
}

/*
 * Read up to BATCH_MAX records from pos into b (emptied first); the
 * number read. A batch in hand publishes its first event's time.
 */
static size_t batch_read(struct shipper *s, struct batch *b,
			 const struct journal_pos *pos, bool publish)
{
	b->rows.len = 0;
	b->nrows = 0;
	b->head_us = 0;
	b->publish = publish;
	b->ready = false;
	b->pos = *pos;
	b->next = *pos;
	return journal_read(s->j, pos, BATCH_MAX, add_row, b, &b->next);
}

/*
 * While the server works on a full batch's COPY: read the next batch,
 * which starts where the one in hand ends. Nothing is read ahead of a
 * partial batch (it reached the journal's end) or twice.
 */
static void read_ahead(struct shipper *s)
{
	struct batch *a = s->ahead;

	if (s->cur->nrows < BATCH_MAX || a->ready)
		return;
	if (batch_read(s, a, &s->cur->next, false) > 0)
		a->ready = true;
}

/* ---- database ---------------------------------------------------------- */

/* After pgconn_open()'s settings: this month's partitions, then the
 * staging table (stage_sql()). */
static const char *const setup_sql[] = {
	"SELECT portmilter.ensure_partitions()",
};

/*
 * The staging table, columns spelled out: the writer role may only
 * INSERT into portmilter.events, and "LIKE portmilter.events" would
 * need SELECT on it.
 */
static const char *stage_sql(void)
{
	static char sql[2048];

	if (sql[0] == '\0') {
		struct strbuf b = {0};

		strbuf_str(&b, "CREATE TEMP TABLE IF NOT EXISTS pm_stage (");
		for (int i = 0; i < EVENT_NFIELDS; i++) {
			strbuf_str(&b, i ? ", " : "");
			strbuf_str(&b, event_column(i));
			strbuf_str(&b, " ");
			strbuf_str(&b, event_column_type(i));
		}
		for (size_t i = 0; i < NRAW; i++) {
			strbuf_str(&b, ", ");
			strbuf_str(&b, raw_columns[i]);
			strbuf_str(&b, " bytea");
		}
		strbuf_str(&b, ") ON COMMIT DELETE ROWS");
		if (b.len >= sizeof(sql))
			msg_panic("stage_sql: statement too long");
		memcpy(sql, b.p, b.len + 1);
		free(b.p);
	}
	return sql;
}

/* Positions in one journal, in the order records are written. */
static int pos_cmp(const struct journal_pos *a, const struct journal_pos *b)
{
	if (a->seg != b->seg)
		return a->seg < b->seg ? -1 : 1;
	return (a->off > b->off) - (a->off < b->off);
}

/*
 * The node's watermark (sql/011_ship.sql), read on every connection.
 * Journal positions only grow while the journal stays open, so the
 * watermark holds only for the run that set it (this process: a
 * restart, a journal restored from a copy or a snapshot start again
 * from (0, 0), and their replays meet the stored events as unique
 * violations). The row is created at (0, 0) if missing. A schema from
 * before 011 (no table, or no privilege on it) is shipped into as
 * before: every batch through the staging table, with ON CONFLICT.
 * false only when the database fails.
 */
static bool wm_load(struct shipper *s, char *err, size_t errlen)
{
	const char *params[2] = {s->node, s->run};
	PGresult *r = PQexecParams(s->conn, "SELECT run::text, seg, off FROM "
				   "portmilter.ship_watermark WHERE node = $1",
				   1, NULL, params, NULL, NULL, 0);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	long seg, off;
	bool ok = true;

	s->wm_known = false;
	s->wm.seg = s->wm.off = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		if (state != NULL && (strcmp(state, "42P01") == 0 ||
				      strcmp(state, "42501") == 0)) {
			msg_info("shipper: no shipping watermark in this database "
				 "(schema before 011): every batch goes through a "
				 "staging table");
		} else {
			pgconn_error(r, err, errlen);
			ok = false;
		}
		PQclear(r);
		return ok;
	}
	if (PQntuples(r) == 1) {
		if (!str_to_long(PQgetvalue(r, 0, 1), 0, INT64_MAX, &seg) ||
		    !str_to_long(PQgetvalue(r, 0, 2), 0, INT64_MAX, &off)) {
			snprintf(err, errlen, "unexpected watermark in the database");
			PQclear(r);
			return false;
		}
		if (strcmp(PQgetvalue(r, 0, 0), s->run) == 0)
			s->wm.seg = (uint64_t)seg, s->wm.off = (uint64_t)off;
		s->wm_known = true;
		PQclear(r);
		return true;
	}
	PQclear(r);
	r = PQexecParams(s->conn, "INSERT INTO portmilter.ship_watermark "
			 "(node, run, seg, off) VALUES ($1, $2, 0, 0) "
			 "ON CONFLICT DO NOTHING", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		s->wm_known = true;
	else
		pgconn_error(r, err, errlen);
	ok = s->wm_known;
	PQclear(r);
	return ok;
}

/* Inside the batch's transaction: the watermark moves to next. */
static bool wm_move(struct shipper *s, const struct journal_pos *next,
		    char *err, size_t errlen)
{
	char seg[24], off[24];
	const char *params[4] = {s->node, seg, off, s->run};
	PGresult *r;
	bool ok;

	snprintf(seg, sizeof(seg), "%" PRIu64, next->seg);
	snprintf(off, sizeof(off), "%" PRIu64, next->off);
	r = PQexecParams(s->conn, "UPDATE portmilter.ship_watermark SET run = $4, "
			 "seg = $2, off = $3, shipped_at = pg_catalog.now() "
			 "WHERE node = $1", 4, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (ok && strcmp(PQcmdTuples(r), "1") != 0) {
		snprintf(err, errlen, "the watermark row of node %s is gone", s->node);
		ok = false;
	}
	if (!ok)
		pgconn_error(r, err, errlen);
	PQclear(r);
	return ok;
}

static void log_down(struct shipper *s, const char *what, int backoff)
{
	time_t now = time(NULL);

	if (now - s->down_logged < DOWN_LOG_EVERY)
		return;
	s->down_logged = now;
	msg_warn("shipper: %s; retrying in %d s; journal holds %" PRIu64
		 " bytes, mail keeps flowing", what, backoff, journal_size(s->j));
}

static bool db_connect(struct shipper *s, int backoff)
{
	char err[512];
	char *conninfo;

	pthread_mutex_lock(&s->lock);
	conninfo = xstrdup(s->conninfo);
	s->conninfo_changed = false;
	pthread_mutex_unlock(&s->lock);
	/* A schema newer than this build: nothing is shipped (the caller
	 * retries with the same backoff, so shipping resumes by itself once
	 * portmilter is upgraded). */
	s->conn = pgconn_open(conninfo, "portmilter", "; nothing is shipped "
			      "into it, the journal keeps every event",
			      err, sizeof(err));
	free(conninfo);
	if (s->conn == NULL)
		goto fail;
	for (size_t i = 0; i <= sizeof(setup_sql) / sizeof(setup_sql[0]); i++) {
		const char *sql = i < sizeof(setup_sql) / sizeof(setup_sql[0]) ?
				  setup_sql[i] : stage_sql();

		if (!pgconn_setup(s->conn, sql, err, sizeof(err)))
			goto fail;
	}
	if (!wm_load(s, err, sizeof(err)))
		goto fail;
	msg_info("shipper: connected to database %s on %s port %s", PQdb(s->conn),
		 PQhost(s->conn) ? PQhost(s->conn) : "local socket", PQport(s->conn) ? PQport(s->conn) : "?");
	s->down_logged = 0;
	return true;
fail:
	log_down(s, err, backoff);
	PQfinish(s->conn);
	s->conn = NULL;
	return false;
}

/* COPY (the statement given) rows [from, to) of the batch in hand;
 * with ahead, the next batch is read while the server works on them. */
static bool copy_rows(struct shipper *s, const char *sql, size_t from,
		      size_t to, bool ahead, char *err, size_t errlen)
{
	const struct batch *c = s->cur;
	size_t a = from ? c->row_end[from - 1] : 0, b = c->row_end[to - 1];
	PGresult *r = PQexec(s->conn, sql);
	bool ok = PQresultStatus(r) == PGRES_COPY_IN;

	if (!ok)
		pgconn_error(r, err, errlen);
	PQclear(r);
	if (ok)
		ok = PQputCopyData(s->conn, c->rows.p + a, (int)(b - a)) == 1 &&
		     PQputCopyEnd(s->conn, NULL) == 1;
	if (ok && ahead)
		read_ahead(s);
	while ((r = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && ok) {
			pgconn_error(r, err, errlen);
			ok = false;
		}
		PQclear(r);
	}
	if (!ok && err[0] == '\0')
		snprintf(err, errlen, "COPY failed: %s", PQerrorMessage(s->conn));
	return ok;
}

enum ship_how {
	SHIP_DIRECT,	/* COPY into portmilter.events: none can be stored */
	SHIP_STAGED	/* COPY into pm_stage, INSERT ... ON CONFLICT DO NOTHING */
};

/*
 * Store rows [from, to) in one transaction, the direct or the staged
 * way; with next (the whole batch), move the watermark to it in the
 * same transaction, and read the next batch ahead during the COPY.
 * Whatever else must commit with a batch, and only with it, goes
 * between the rows and the COMMIT, like the watermark.
 */
static bool ship_rows(struct shipper *s, enum ship_how how, size_t from,
		      size_t to, const struct journal_pos *next, char *err,
		      size_t errlen)
{
	static char cols_sql[1024], direct_sql[2048], copy_sql[2048],
		    insert_sql[4096];
	bool ok;

	if (copy_sql[0] == '\0') {
		struct strbuf cols = {0};

		for (int i = 0; i < EVENT_NFIELDS; i++) {
			strbuf_str(&cols, i ? ", " : "");
			strbuf_str(&cols, event_column(i));
		}
		for (size_t i = 0; i < NRAW; i++) {
			strbuf_str(&cols, ", ");
			strbuf_str(&cols, raw_columns[i]);
		}
		if (cols.len >= sizeof(cols_sql))
			msg_panic("ship_rows: column list too long");
		memcpy(cols_sql, cols.p, cols.len + 1);
		free(cols.p);
		snprintf(direct_sql, sizeof(direct_sql), "COPY portmilter.events (%s) "
			 "FROM STDIN", cols_sql);
		snprintf(insert_sql, sizeof(insert_sql), "INSERT INTO portmilter.events (%s) "
			 "SELECT %s FROM pg_temp.pm_stage ON CONFLICT DO NOTHING",
			 cols_sql, cols_sql);
		snprintf(copy_sql, sizeof(copy_sql), "COPY pg_temp.pm_stage (%s) FROM STDIN",
			 cols_sql);
	}
	if (!pgconn_exec(s->conn, "BEGIN", err, errlen))
		return false;
	if (how == SHIP_DIRECT)
		ok = copy_rows(s, direct_sql, from, to, next != NULL, err, errlen);
	else
		ok = copy_rows(s, copy_sql, from, to, next != NULL, err, errlen) &&
		     pgconn_exec(s->conn, insert_sql, err, errlen);
	ok = ok && (next == NULL || !s->wm_known || wm_move(s, next, err, errlen)) &&
	     pgconn_exec(s->conn, "COMMIT", err, errlen);
	if (!ok && PQstatus(s->conn) == CONNECTION_OK) {
		char ignored[64];

		(void)pgconn_exec(s->conn, "ROLLBACK", ignored, sizeof(ignored));
	}
	if (ok && next != NULL && s->wm_known)
		s->wm = *next;
	return ok;
}

/* A row the server refuses on its own: keep it aside, never block on it. */
static void quarantine(struct shipper *s, size_t row, const char *why)
{
	size_t a = row ? s->cur->row_end[row - 1] : 0, b = s->cur->row_end[row];
	char *path;
	size_t n;
	FILE *fp = NULL;
	int fd;
	bool ok;

	n = strlen(journal_dir(s->j)) + 16;
	path = xmalloc(n);
	snprintf(path, n, "%s/rejected.log", journal_dir(s->j));
	/* 0640 and no symlink followed, like every journal file. */
	fd = journal_file_open(s->j, "rejected.log", O_WRONLY | O_CREAT | O_APPEND);
	if (fd >= 0 && (fp = fdopen(fd, "a")) == NULL)
		close(fd);
	ok = fp != NULL && fprintf(fp, "# %s\n%.*s", why, (int)(b - a), s->cur->rows.p + a) >= 0;
	if (fp != NULL && fclose(fp) != 0)
		ok = false;
	if (!ok)
		msg_warn("shipper: cannot write %s: %s", path,
			 errno == EINVAL ? "not a regular file" : strerror(errno));
	msg_warn("shipper: the database refused a record (%s): kept in %s", why,
		 path);
	free(path);
}

/*
 * Refused for what a row holds: data exceptions (class 22), constraints
 * (23), and a value too big for the server (54000, program_limit_exceeded:
 * "index row size ... exceeds btree version 4 maximum 2704", "row is too
 * big"), which a batch would otherwise meet again on every retry, holding
 * back every record behind it.
 */
static bool data_error(const char *err)
{
	return strncmp(err, "22", 2) == 0 || strncmp(err, "23", 2) == 0 ||
	       strncmp(err, "54000", 5) == 0;
}

/*
 * Ship the batch in hand, journal positions [pos, next); false = try
 * again later. A batch from the watermark on cannot hold a stored event
 * of this run: it is COPYed straight into events. One that starts behind
 * it (read again after a commit whose outcome was lost with the
 * connection), or whose direct COPY meets an event stored before this
 * run (a unique violation: a crash between commit and checkpoint, a
 * restored journal, a restore of the database), goes through the
 * staging table, which drops what is stored.
 */
static bool ship_batch(struct shipper *s, const struct journal_pos *pos,
		       const struct journal_pos *next, size_t *stored)
{
	char err[600] = "";
	enum ship_how how = SHIP_STAGED;

	*stored = s->cur->nrows;
	if (s->wm_known && pos_cmp(pos, &s->wm) >= 0)
		how = SHIP_DIRECT;
	else if (s->wm_known)
		msg_info("shipper: a batch from before the watermark "
			 "(%016" PRIx64 ":%" PRIu64 "): through the staging table",
			 s->wm.seg, s->wm.off);
	if (ship_rows(s, how, 0, s->cur->nrows, next, err, sizeof(err)))
		return true;
	if (how == SHIP_DIRECT && PQstatus(s->conn) == CONNECTION_OK &&
	    strncmp(err, "23505", 5) == 0) {
		msg_info("shipper: a batch holds events already stored (%s): "
			 "shipping it through the staging table", err);
		err[0] = '\0';
		if (ship_rows(s, SHIP_STAGED, 0, s->cur->nrows, next, err, sizeof(err)))
			return true;
	}
	if (PQstatus(s->conn) != CONNECTION_OK || !data_error(err)) {
		log_down(s, err, 1);
		return false;
	}
	/* One bad record: ship one by one and put the bad ones aside. */
	for (size_t i = 0; i < s->cur->nrows; i++) {
		err[0] = '\0';
		if (ship_rows(s, SHIP_STAGED, i, i + 1, NULL, err, sizeof(err)))
			continue;
		if (PQstatus(s->conn) != CONNECTION_OK || !data_error(err))
			return false;
		quarantine(s, i, err);
	}
	/* Every row is stored or put aside: the watermark may move. */
	err[0] = '\0';
	if (s->wm_known && !(pgconn_exec(s->conn, "BEGIN", err, sizeof(err)) &&
			     wm_move(s, next, err, sizeof(err)) &&
			     pgconn_exec(s->conn, "COMMIT", err, sizeof(err)))) {
		/* Harmless: behind, the watermark only costs a staged batch. */
		msg_warn("shipper: cannot move the watermark: %s", err);
		if (PQstatus(s->conn) == CONNECTION_OK)
			(void)pgconn_exec(s->conn, "ROLLBACK", err, sizeof(err));
	} else if (s->wm_known) {
		s->wm = *next;
	}
	return true;
}

static bool stopping(struct shipper *s, bool *past_deadline)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stopping;
	*past_deadline = stop && time(NULL) >= s->deadline;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* Sleep up to ms milliseconds (in 100 ms steps), waking early when
 * asked to stop. */
static void nap_ms(struct shipper *s, int ms)
{
	for (int i = 0; i < (ms + 99) / 100; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		bool late;

		if (stopping(s, &late))
			return;
		nanosleep(&ts, NULL);
	}
}

/*
 * The batch is read before the database is connected, so that with the
 * database down (a restart with a backlog included) head_us still gives
 * the oldest unshipped event's time for the metrics; a batch that could
 * not be shipped is kept and sent again.
 */
static void *shipper_main(void *arg)
{
	struct shipper *s = arg;
	struct journal_pos pos = journal_checkpoint(s->j);
	struct batch *c;
	int backoff = 1;
	size_t stored = 0;
	bool late, changed, have_batch = false;

	for (;;) {
		bool stop = stopping(s, &late);

		if (late)
			break;
		if (!have_batch && s->ahead->ready) {
			/* Read during the last COPY, from where it ended. */
			c = s->cur, s->cur = s->ahead, s->ahead = c;
			s->ahead->ready = false;
			s->cur->publish = true;
			__atomic_store_n(&s->head_us, s->cur->head_us, __ATOMIC_RELAXED);
			have_batch = true;
		} else if (!have_batch) {
			if (batch_read(s, s->cur, &pos, true) > 0) {
				have_batch = true;
			} else {
				struct journal_pos next = s->cur->next;

				__atomic_store_n(&s->head_us, 0, __ATOMIC_RELAXED);
				/* Nothing new, but the read may have moved past
				 * the end of a segment: save that, so the
				 * segment can go. */
				if ((next.seg != pos.seg || next.off != pos.off) &&
				    journal_commit(s->j, &next))
					pos = next;
			}
		}
		pthread_mutex_lock(&s->lock);
		changed = s->conninfo_changed;
		pthread_mutex_unlock(&s->lock);
		if (s->conn && (changed || PQstatus(s->conn) != CONNECTION_OK)) {
			PQfinish(s->conn);
			s->conn = NULL;
		}
		if (s->conn == NULL && !db_connect(s, backoff)) {
			__atomic_store_n(&s->up, false, __ATOMIC_RELAXED);
			if (stop)
				break;
			nap_ms(s, backoff * 1000);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			continue;
		}
		__atomic_store_n(&s->up, PQstatus(s->conn) == CONNECTION_OK,
				 __ATOMIC_RELAXED);
		if (!have_batch) {
			if (stop)
				break;	/* drained */
			journal_wait(s->j, 250);
			continue;
		}
		stored = 0;
		c = s->cur;
		if (c->nrows > 0 && !ship_batch(s, &c->pos, &c->next, &stored)) {
			__atomic_store_n(&s->up, PQstatus(s->conn) == CONNECTION_OK,
					 __ATOMIC_RELAXED);
			if (PQstatus(s->conn) != CONNECTION_OK || !stop)
				nap_ms(s, backoff * 1000);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			continue;	/* same batch again */
		}
		backoff = 1;
		have_batch = false;
		__atomic_add_fetch(&s->shipped, stored, __ATOMIC_RELAXED);
		if (journal_commit(s->j, &c->next))
			pos = c->next;
		else	/* read again from pos, as without a read-ahead */
			s->ahead->ready = false;
		/* A full batch: head_us stays (a little old) until the next
		 * batch takes over; a partial one reached the journal's end,
		 * which now knows of anything newer. */
		if (c->nrows < BATCH_MAX)
			__atomic_store_n(&s->head_us, 0, __ATOMIC_RELAXED);
		catchup_kick();	/* rows stored: the rollups' catch-up may run */
		/* A partial batch: let records gather a moment rather than
		 * pay a transaction and a checkpoint for every few of them
		 * (the CPU is shared with Postfix and the SMTP path). */
		if (c->nrows < BATCH_MAX && !stop)
			nap_ms(s, GATHER_MS);
	}
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	__atomic_store_n(&s->up, false, __ATOMIC_RELAXED);
	return NULL;
}

struct shipper *shipper_start(struct journal *j, const char *conninfo,
			       const char *node)
{
	struct shipper *s = xcalloc(1, sizeof(*s));
	sigset_t set, old;

	s->j = j;
	for (int i = 0; i < 2; i++)
		s->batch[i].s = s;
	s->cur = &s->batch[0];
	s->ahead = &s->batch[1];
	s->node = xstrdup(node);
	event_uuid(s->run);
	s->conninfo = xstrdup(conninfo);
	pthread_mutex_init(&s->lock, NULL);
	/* Signals belong to the main thread and libmilter's. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pthread_create(&s->tid, NULL, shipper_main, s) != 0)
		msg_fatal("cannot start the shipper thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return s;
}

void shipper_set_conninfo(struct shipper *s, const char *conninfo)
{
	pthread_mutex_lock(&s->lock);
	if (strcmp(s->conninfo, conninfo) != 0) {
		free(s->conninfo);
		s->conninfo = xstrdup(conninfo);
		s->conninfo_changed = true;
	}
	pthread_mutex_unlock(&s->lock);
}

void shipper_stop(struct shipper *s, int seconds)
{
	struct timespec ts;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	s->deadline = time(NULL) + seconds;
	pthread_mutex_unlock(&s->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds + 10;	/* a stuck libpq call: give up on it */
	if (pthread_timedjoin_np(s->tid, NULL, &ts) != 0) {
		msg_warn("shipper: still busy after %d s: leaving the rest in the "
			 "journal for the next start", seconds + 10);
		return;
	}
	if (journal_size(s->j) > 0)
		msg_info("shipper: stopped; %" PRIu64 " journal bytes kept for the "
			 "next start", journal_size(s->j));
	free(s->conninfo);
	free(s->node);
	for (int i = 0; i < 2; i++) {
		free(s->batch[i].rows.p);
		free(s->batch[i].row_end);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool shipper_up(struct shipper *s)
{
	return __atomic_load_n(&s->up, __ATOMIC_RELAXED);
}

int64_t shipper_oldest_unshipped(struct shipper *s)
{
	int64_t head = __atomic_load_n(&s->head_us, __ATOMIC_RELAXED);
	int64_t unread = journal_unread_since(s->j);

	if (head == 0 || (unread != 0 && unread < head))
		return unread;
	return head;
}

uint64_t shipper_shipped(struct shipper *s)
{
	return __atomic_load_n(&s->shipped, __ATOMIC_RELAXED);
}
