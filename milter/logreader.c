/*
 * logreader - Postfix's log to journal events. See logreader.h.
 *
 * One thread. The file is polled (every POLL_MS when idle): read what
 * is new, cut it into lines, parse each (lib/maillog), journal the
 * events of each line, then advance the position; the position is
 * saved when the file is idle (a poll found nothing new), at least
 * every SAVE_MS while busy (a busy Postfix writes between two polls:
 * saving at each end of file made a file, an fdatasync and a rename 5
 * times a second, a fifth of the milter's CPU under load), at a
 * rotation, and at stop. Naps wait on a condition variable that
 * logreader_stop() signals (one wake-up per nap, not one per 50 ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "logjournal.h"
#include "logreader.h"
#include "maillog.h"
#include "metrics.h"
#include "milter.h"
#include "msg.h"
#include "recent.h"
#include "recorder.h"
#include "util.h"

#define POLL_MS		200		/* idle: look for new lines this often */
#define SAVE_MS		1000		/* busy: save the position this often */
#define CHUNK		65536		/* read size */
#define STATS_EVERY	3600		/* seconds between count lines */
#define UNKNOWN_LOGS	10		/* unknown lines logged per STATS_EVERY */
#define PIDS		1024		/* connections tracked (by smtpd pid) */
#define POS_NAME	"logreader.pos"

/* What a connect line told, for the events of the same smtpd process. */
struct conn {
	long pid;			/* 0 = free */
	char conn_id[37];
	char conn_time[64];
};

struct reader {
	char *path;			/* postfix_log */
	const char *jdir;		/* journal: NULL (the system's) or DIR */
	bool journal;			/* postfix_log = journal[:DIR] */
	char cursor[LJOURNAL_CURSOR_MAX];	/* journal: the last entry done */
	char *pos_path;			/* JOURNAL_DIRECTORY/logreader.pos */
	char *node;
	int fd;				/* -1 = no file open */
	dev_t dev;
	ino_t ino;
	uint64_t off;			/* file offset of the next unread line */
	uint64_t last_len, last_hash;	/* the line that ends at off */
	bool dirty;			/* position not saved yet */
	bool new_file_seen;		/* a new file at path: drain, switch */
	char *buf;			/* unprocessed bytes, from off */
	size_t len, cap;
	bool skipping;			/* inside an over-long line */
	struct conn conns[PIDS];
	uint64_t count[ML_NKINDS], events, lines;
	unsigned unknown_logged;
	time_t stats_time;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* signalled at stop */
	bool stopping;			/* under lock */
};

static struct reader *reader;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_BASIS	0xcbf29ce484222325ull

static bool stopping(struct reader *r)
{
	bool stop;

	pthread_mutex_lock(&r->lock);
	stop = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void nap(struct reader *r, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stopping &&
	       pthread_cond_timedwait(&r->wake, &r->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&r->lock);
}

/* ---- the position file -------------------------------------------------- */

/* "1 DEV INO OFF LASTLEN LASTHASH\n", written to a temporary file and
 * renamed over the old one. */
static void pos_write(struct reader *r, const char *text, int n)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", r->pos_path);
	/* 0640 whatever the umask, never through a symlink (as the
	 * journal's own files) */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0 || fchmod(fd, 0640) != 0 ||
	    write(fd, text, (size_t)n) != n || fdatasync(fd) != 0 ||
	    close(fd) != 0 || rename(tmp, r->pos_path) != 0) {
		msg_warn("logreader: cannot save the position in %s: %s",
			 r->pos_path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	r->dirty = false;
}

static void pos_save(struct reader *r)
{
	char text[160];
	int n;

	if (!r->dirty || r->fd < 0)
		return;
	n = snprintf(text, sizeof(text), "1 %ju %ju %" PRIu64 " %" PRIu64 " %016"
		     PRIx64 "\n", (uintmax_t)r->dev, (uintmax_t)r->ino, r->off,
		     r->last_len, r->last_hash);
	pos_write(r, text, n);
}

struct pos {
	uintmax_t dev, ino;
	uint64_t off, last_len, last_hash;
};

/* The saved position; false if none (or unreadable: said so). */
static bool pos_load(struct reader *r, struct pos *p)
{
	int fd = open(r->pos_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
	char line[200];
	bool ok;

	if (fp == NULL) {
		if (fd >= 0)
			(void)close(fd);
		if (errno != ENOENT)
			msg_warn("logreader: cannot read %s: %s", r->pos_path,
				 strerror(errno));
		return false;
	}
	ok = fgets(line, sizeof(line), fp) != NULL &&
	     sscanf(line, "1 %ju %ju %" SCNu64 " %" SCNu64 " %" SCNx64, &p->dev,
		    &p->ino, &p->off, &p->last_len, &p->last_hash) == 5 &&
	     p->last_len <= p->off;
	fclose(fp);
	if (!ok)
		msg_warn("logreader: %s is not a position: ignored", r->pos_path);
	return ok;
}

/* Does the line before p->off in fd still hash to what was saved? */
static bool pos_matches(int fd, const struct pos *p, off_t size)
{
	char *line;
	bool ok;

	if ((uint64_t)size < p->off)
		return false;		/* truncated below the position */
	if (p->off == 0)
		return true;
	if (p->last_len + 1 > p->off || p->last_len > MAILLOG_LINE_MAX * 64)
		return false;
	line = xmalloc(p->last_len + 1);
	ok = pread(fd, line, p->last_len + 1, (off_t)(p->off - p->last_len - 1)) ==
	     (ssize_t)(p->last_len + 1) && line[p->last_len] == '\n' &&
	     fnv1a(FNV_BASIS, line, p->last_len) == p->last_hash;
	free(line);
	return ok;
}

/* ---- following the file ------------------------------------------------- */

static void file_close(struct reader *r)
{
	if (r->fd >= 0)
		(void)close(r->fd);
	r->fd = -1;
	r->len = 0;
	r->skipping = false;
	r->new_file_seen = false;
}

/* Open path at offset off (the start of a line, with its line's hash). */
static bool file_open_at(struct reader *r, const char *path, uint64_t off,
			 uint64_t last_len, uint64_t last_hash)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 || lseek(fd, (off_t)off, SEEK_SET) < 0) {
		(void)close(fd);
		return false;
	}
	file_close(r);
	r->fd = fd;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->off = off;
	r->last_len = last_len;
	r->last_hash = last_hash;
	r->dirty = true;
	return true;
}

/* ---- events ------------------------------------------------------------- */

/* The port of a syslog name: "postfix/LABEL" of a configured port, or
 * "postfix" for port 25's stock service; 0 if neither. */
static unsigned port_of(const struct cfg *cfg, const char *syslog_name)
{
	const char *label;

	if (strcmp(syslog_name, "postfix") == 0)
		return 25;
	if (strncmp(syslog_name, "postfix/", 8) != 0)
		return 0;
	label = syslog_name + 8;
	for (size_t i = 0; i < cfg->nports; i++) {
		char buf[16];

		if (strcmp(cfg_port_label(cfg->ports[i].port, buf, sizeof(buf)),
			   label) == 0)
			return cfg->ports[i].port;
	}
	return 0;
}

/* The line's time as timestamptz text (UTC). Without a year (the
 * traditional syslog format) the current one, or the last one for a
 * date ahead of now (a December line read in January); without an
 * offset, local time. */
static void line_time(const struct maillog_rec *m, char *buf, size_t len)
{
	struct tm tm = {0};
	time_t t, now = time(NULL);
	struct tm nowtm;

	tm.tm_mon = m->mon - 1;
	tm.tm_mday = m->mday;
	tm.tm_hour = m->hour;
	tm.tm_min = m->min;
	tm.tm_sec = m->sec;
	if (m->year) {
		tm.tm_year = m->year - 1900;
	} else {
		localtime_r(&now, &nowtm);
		tm.tm_year = nowtm.tm_year;
	}
	if (m->tz_known) {
		t = timegm(&tm) - m->tz_offset;
	} else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (!m->year && t > now + 86400) {
			tm.tm_year--;
			tm.tm_isdst = -1;
			t = mktime(&tm);
		}
	}
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, m->usec);
}

/* A UUID (version 8: application-defined) from two hashes of the
 * line's identity: the same line read twice gets the same id. */
static void line_uuid(const struct reader *r, const char *line, size_t n,
		      uint64_t off, unsigned sub, char *out)
{
	unsigned char b[16];
	uint64_t h[2];
	uintmax_t id[2] = {(uintmax_t)r->dev, (uintmax_t)r->ino};

	for (int k = 0; k < 2; k++) {
		h[k] = fnv1a(FNV_BASIS ^ (0x9e3779b97f4a7c15ull * (uint64_t)(k + 1)),
			     r->node, strlen(r->node) + 1);
		h[k] = fnv1a(h[k], id, sizeof(id));
		h[k] = fnv1a(h[k], &off, sizeof(off));
		h[k] = fnv1a(h[k], &sub, sizeof(sub));
		h[k] = fnv1a(h[k], line, n);
	}
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(h[0] >> (8 * i));
		b[8 + i] = (unsigned char)(h[1] >> (8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x80);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
		 b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static struct conn *conn_slot(struct reader *r, long pid)
{
	return &r->conns[(unsigned long)pid % PIDS];
}

/*
 * qmgr's exact size of a message the milter accepted (recent.h): a row
 * of kind size naming the transaction by its (event_time, event_id),
 * applied to it by the database (sql/012_perf.sql) and not stored.
 * Nothing for a message the milter did not record (local submission,
 * bounces, a deferred message's later lines). False if the journal
 * refused it (the line is tried again: the transaction is remembered
 * until the row is journaled).
 */
static bool size_event(struct reader *r, const struct maillog_rec *m)
{
	struct event ev;
	char id[RECENT_ID_LEN], when[RECENT_ID_LEN], size[24];

	if (!recent_take(m->queue_id, id, when))
		return true;
	snprintf(size, sizeof(size), "%llu", m->size);
	memset(&ev, 0, sizeof(ev));
	ev.f[EV_EVENT_ID] = id;
	ev.f[EV_EVENT_TIME] = when;
	ev.f[EV_CONN_ID] = id;
	ev.f[EV_CONN_TIME] = when;
	ev.f[EV_KIND] = "size";
	ev.f[EV_NODE] = r->node;
	ev.f[EV_PORT] = "0";
	ev.f[EV_PORT_KNOWN] = "f";
	ev.f[EV_NRCPT] = "0";
	ev.f[EV_NRCPT_REJECTED] = "0";
	ev.f[EV_NRCPT_TEMPFAILED] = "0";
	ev.f[EV_NRCPT_REFUSED] = "0";
	ev.f[EV_SIZE] = size;
	ev.f[EV_QUEUE_ID] = m->queue_id;
	ev.f[EV_VERDICT] = "none";
	ev.f[EV_CREDENTIAL_EXPOSURE] = "f";
	if (!recorder_put(&ev)) {
		recent_put(m->queue_id, id, when);
		return false;
	}
	r->events++;
	return true;
}

/* The events one parsed line gives (0, 1 or 2), each journaled; false
 * if the journal refused one (the line is then tried again later; the
 * ones already journaled are deduplicated by their ids). */
static bool line_events(struct reader *r, const struct cfg *cfg,
			const struct maillog_rec *m, const char *line, size_t n,
			uint64_t off)
{
	struct event ev;
	char id[37], when[64], port[16], reply[700], rule[48], sender[260];
	unsigned pnum = port_of(cfg, m->syslog_name);
	const struct cfg_port *p = pnum ? cfg_port_find(cfg, pnum) : NULL;
	struct conn *c = m->pid ? conn_slot(r, m->pid) : NULL;
	const char *kind[2] = {NULL, NULL};
	unsigned nev = 0;

	if (m->kind == ML_SIZE)
		return size_event(r, m);
	line_time(m, when, sizeof(when));
	switch (m->kind) {
	case ML_CONNECT:
		if (c != NULL) {
			c->pid = m->pid;
			line_uuid(r, line, n, off, 99, c->conn_id);
			snprintf(c->conn_time, sizeof(c->conn_time), "%s", when);
		}
		return true;
	case ML_SASL_FAILED:
		kind[nev++] = "auth_failure";
		break;
	case ML_REJECT:
		kind[nev++] = "refused";
		break;
	case ML_TLS_FAILED:
		kind[nev++] = "tls_failure";
		break;
	case ML_DISCONNECT:
		/* AUTH tried with no STARTTLS done, where TLS must come first */
		if (p != NULL && p->mode != CFG_MODE_SUBMISSIONS &&
		    p->tls_before_auth && m->auth.total > 0 && m->starttls.ok == 0)
			kind[nev++] = "exposure";
		/* MAIL refused without STARTTLS on a port that requires it:
		 * Postfix answered 530 and logged nothing but the count */
		if (p != NULL && p->mode != CFG_MODE_SUBMISSIONS &&
		    p->require_tls && m->mail.total > m->mail.ok &&
		    m->starttls.ok == 0)
			kind[nev++] = "refused";
		break;
	default:
		return true;
	}
	for (unsigned i = 0; i < nev; i++) {
		bool tied = c != NULL && c->pid == m->pid;

		memset(&ev, 0, sizeof(ev));
		line_uuid(r, line, n, off, i, id);
		snprintf(port, sizeof(port), "%u", pnum);
		ev.f[EV_EVENT_ID] = id;
		ev.f[EV_EVENT_TIME] = when;
		ev.f[EV_CONN_ID] = tied ? c->conn_id : id;
		ev.f[EV_CONN_TIME] = tied ? c->conn_time : when;
		ev.f[EV_KIND] = kind[i];
		ev.f[EV_NODE] = r->node;
		ev.f[EV_PORT] = port;
		ev.f[EV_PORT_KNOWN] = p != NULL ? "t" : "f";
		ev.f[EV_SERVICE] = m->syslog_name;
		ev.f[EV_CLIENT_ADDR] = m->client_addr[0] ? m->client_addr : NULL;
		ev.f[EV_CLIENT_NAME] = m->client_name[0] ? m->client_name : NULL;
		ev.f[EV_NRCPT] = "0";
		ev.f[EV_NRCPT_REJECTED] = "0";
		ev.f[EV_NRCPT_TEMPFAILED] = "0";
		ev.f[EV_NRCPT_REFUSED] = "0";
		ev.f[EV_CREDENTIAL_EXPOSURE] = "f";
		ev.f[EV_VERDICT] = "rejected";
		if (m->kind == ML_SASL_FAILED) {
			ev.f[EV_SASL_METHOD] = m->sasl_method;
			ev.f[EV_SASL_USER] = m->sasl_user[0] ? m->sasl_user : NULL;
			ev.f[EV_RULE] = "auth_failed";
			snprintf(reply, sizeof(reply), "535 5.7.8 Error: "
				 "authentication failed: %s", m->detail);
			ev.f[EV_REPLY] = reply;
		} else if (m->kind == ML_REJECT) {
			snprintf(rule, sizeof(rule), "postfix_%s", m->stage);
			for (char *q = rule; *q; q++)
				if (*q >= 'A' && *q <= 'Z')
					*q = (char)(*q - 'A' + 'a');
			snprintf(reply, sizeof(reply), "%s%s%s %s", m->reply_code,
				 m->reply_enh[0] ? " " : "", m->reply_enh,
				 m->reply_text);
			ev.f[EV_RULE] = rule;
			ev.f[EV_REPLY] = reply;
			ev.f[EV_VERDICT] = m->reply_code[0] == '4' ? "tempfailed" :
					   "rejected";
			ev.f[EV_QUEUE_ID] = m->queue_id[0] ? m->queue_id : NULL;
			if (m->sender_logged) {
				snprintf(sender, sizeof(sender), "<%s>", m->sender);
				ev.f[EV_SENDER] = sender;
			}
		} else if (m->kind == ML_TLS_FAILED) {
			ev.f[EV_VERDICT] = "aborted";
			ev.f[EV_RULE] = "tls_handshake";
			snprintf(reply, sizeof(reply), "SSL_accept error: %s",
				 m->detail);
			ev.f[EV_REPLY] = reply;
		} else if (strcmp(kind[i], "exposure") == 0) {
			ev.f[EV_RULE] = "tls_before_auth";
			ev.f[EV_CREDENTIAL_EXPOSURE] = "t";
			ev.f[EV_VERDICT] = m->auth.ok > 0 ? "none" : "rejected";
		} else {
			ev.f[EV_RULE] = "require_tls";
			ev.f[EV_REPLY] = "530 5.7.0 Must issue a STARTTLS command first";
		}
		if (!recorder_put(&ev))
			return false;
		r->events++;
	}
	/* counted once the whole line is journaled (a line the journal
	 * refused is read again, its events journaled again) */
	for (unsigned i = 0; i < nev; i++)
		if (strcmp(kind[i], "exposure") == 0)
			metrics_exposure(pnum);
	if (m->kind == ML_DISCONNECT && c != NULL && c->pid == m->pid)
		c->pid = 0;
	return true;
}

static void log_unknown(struct reader *r, const char *line, size_t n)
{
	char copy[300], esc[1000];

	if (r->unknown_logged >= UNKNOWN_LOGS)
		return;
	r->unknown_logged++;
	snprintf(copy, sizeof(copy), "%.*s", (int)(n < 299 ? n : 299), line);
	msg_info("logreader: smtpd line of no known pattern (counted): %s",
		 str_escape(esc, sizeof(esc), copy));
}

static void stats(struct reader *r, bool force)
{
	time_t now = time(NULL);

	if (!force && now - r->stats_time < STATS_EVERY)
		return;
	r->stats_time = now;
	r->unknown_logged = 0;
	msg_info("logreader: %s: %" PRIu64 " lines, %" PRIu64 " events; "
		 "sasl_failed %" PRIu64 ", reject %" PRIu64 ", tls_failed %"
		 PRIu64 ", disconnect %" PRIu64 ", other programs %" PRIu64
		 ", sizes %" PRIu64 ", unknown smtpd %" PRIu64 ", not syslog %"
		 PRIu64, r->path,
		 r->lines, r->events, r->count[ML_SASL_FAILED],
		 r->count[ML_REJECT], r->count[ML_TLS_FAILED],
		 r->count[ML_DISCONNECT], r->count[ML_OTHER], r->count[ML_SIZE],
		 r->count[ML_UNKNOWN], r->count[ML_MALFORMED]);
}

/*
 * Process the complete lines in r->buf. Returns false if the journal
 * refused an event: r->off is then the start of that line, and the
 * caller seeks back to it.
 */
static bool process(struct reader *r)
{
	struct cfg *cfg = milter_config_get();
	size_t start = 0;
	bool ok = true;

	if (cfg == NULL)
		return false;

	while (start < r->len) {
		char *nl = memchr(r->buf + start, '\n', r->len - start);
		size_t n;
		struct maillog_rec m;

		if (nl == NULL)
			break;
		n = (size_t)(nl - (r->buf + start));
		if (r->skipping) {
			r->skipping = false;	/* the rest of an over-long line */
		} else {
			maillog_parse(r->buf + start, n, &m);
			if (!line_events(r, cfg, &m, r->buf + start, n, r->off)) {
				ok = false;
				break;
			}
			r->count[m.kind]++;
			r->lines++;
			if (m.kind == ML_UNKNOWN)
				log_unknown(r, r->buf + start, n);
		}
		r->last_len = n;
		r->last_hash = fnv1a(FNV_BASIS, r->buf + start, n);
		r->off += n + 1;
		r->dirty = true;
		start += n + 1;
	}
	cfg_unref(cfg);
	memmove(r->buf, r->buf + start, r->len - start);
	r->len -= start;
	/* A line longer than any Postfix writes: parse its head, skip the
	 * rest (its position still advances line by line). */
	if (ok && r->len > MAILLOG_LINE_MAX * 4) {
		struct maillog_rec m;

		maillog_parse(r->buf, r->len, &m);
		r->count[m.kind]++;
		r->lines++;
		r->off += r->len;
		r->len = 0;
		r->skipping = true;
	}
	return ok;
}

/* Read what is new. Returns bytes read, 0 at end of file, -1 on error
 * or a refused event (retried later). */
static ssize_t read_some(struct reader *r)
{
	ssize_t n;

	if (r->cap - r->len < CHUNK) {
		r->cap = r->len + CHUNK;
		r->buf = xrealloc(r->buf, r->cap);
	}
	n = read(r->fd, r->buf + r->len, CHUNK);
	if (n < 0) {
		if (errno != EINTR)
			msg_warn("logreader: read %s: %s", r->path, strerror(errno));
		return -1;
	}
	r->len += (size_t)n;
	if (n > 0 && !process(r)) {
		/* back to the line the journal refused */
		r->len = 0;
		r->skipping = false;
		if (lseek(r->fd, (off_t)r->off, SEEK_SET) < 0)
			msg_warn("logreader: seek %s: %s", r->path, strerror(errno));
		return -1;
	}
	return n;
}

/* At the end of the file: truncated? replaced? */
static void check_file(struct reader *r)
{
	struct stat st, cur;
	struct pos here = {0, 0, r->off, r->last_len, r->last_hash};

	/* Shorter than what was read, or (copied, truncated and written
	 * again between two looks) the line before the position changed. */
	if (fstat(r->fd, &cur) == 0 &&
	    ((uint64_t)cur.st_size < r->off + r->len ||
	     !pos_matches(r->fd, &here, cur.st_size))) {
		msg_info("logreader: %s was truncated (copytruncate): reading "
			 "it again from its start", r->path);
		file_open_at(r, r->path, 0, 0, 0);
		pos_save(r);
		return;
	}
	if (stat(r->path, &st) != 0 || (st.st_dev == r->dev && st.st_ino == r->ino))
		return;
	/* A new file at the path: take it once the old one has been read
	 * to its end twice in a row (the writer may still finish a line). */
	if (!r->new_file_seen) {
		r->new_file_seen = true;
		return;
	}
	msg_info("logreader: %s was rotated: now reading the new file",
		 r->path);
	if (file_open_at(r, r->path, 0, 0, 0))
		pos_save(r);
}

/* Open the file at the start: at the saved position if it is still
 * there, after finishing the rotated file if it was rotated. */
static void file_start(struct reader *r)
{
	struct pos p;
	struct stat st;
	bool have = pos_load(r, &p);
	char rotated[4200];

	if (stat(r->path, &st) != 0) {
		if (have) {
			/* no file yet: the old one may be PATH.1 */
			snprintf(rotated, sizeof(rotated), "%s.1", r->path);
			goto old;
		}
		return;			/* opened when it appears, at 0 */
	}
	if (!have) {
		file_open_at(r, r->path, (uint64_t)st.st_size, 0, 0);
		/* at a line start: the end of a file written by lines */
		msg_info("logreader: no saved position: starting at the end "
			 "of %s", r->path);
		pos_save(r);
		return;
	}
	if ((uintmax_t)st.st_dev == p.dev && (uintmax_t)st.st_ino == p.ino) {
		if (file_open_at(r, r->path, p.off, p.last_len, p.last_hash) &&
		    !pos_matches(r->fd, &p, st.st_size)) {
			msg_info("logreader: %s is not the file read before "
				 "(copytruncate?): reading it from its start",
				 r->path);
			file_open_at(r, r->path, 0, 0, 0);
		}
		return;
	}
	snprintf(rotated, sizeof(rotated), "%s.1", r->path);
old:
	if (stat(rotated, &st) == 0 && (uintmax_t)st.st_dev == p.dev &&
	    (uintmax_t)st.st_ino == p.ino &&
	    file_open_at(r, rotated, p.off, p.last_len, p.last_hash)) {
		if (pos_matches(r->fd, &p, st.st_size)) {
			/* finish it, then check_file() moves to the new one */
			msg_info("logreader: %s was rotated while stopped: "
				 "finishing %s first", r->path, rotated);
			r->new_file_seen = true;
			return;
		}
		file_close(r);
	}
	msg_warn("logreader: %s was replaced while stopped and the file "
		 "read before was not found as %s: reading the new file from "
		 "its start (lines written in between may be missing)",
		 r->path, rotated);
	file_open_at(r, r->path, 0, 0, 0);
}

/* ---- the systemd journal ------------------------------------------------ */

/* "2 CURSOR\n": the journal's cursor of the last entry journaled. */
static void jpos_save(struct reader *r)
{
	char text[LJOURNAL_CURSOR_MAX + 8];
	int n;

	if (!r->dirty || r->cursor[0] == '\0')
		return;
	n = snprintf(text, sizeof(text), "2 %s\n", r->cursor);
	pos_write(r, text, n);
}

static void jpos_load(struct reader *r)
{
	int fd = open(r->pos_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char text[LJOURNAL_CURSOR_MAX + 8];
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	size_t len;
	const char *blank;

	if (fd >= 0)
		(void)close(fd);
	r->cursor[0] = '\0';
	if (n < 0) {
		if (errno != ENOENT)
			msg_warn("logreader: cannot read %s: %s", r->pos_path,
				 strerror(errno));
		return;
	}
	text[n] = '\0';
	len = strcspn(text, "\n");
	blank = strpbrk(text + 2, " \t");
	if (strncmp(text, "2 ", 2) != 0 || len <= 2 || len - 2 >= sizeof(r->cursor) ||
	    text[len] != '\n' || (blank != NULL && blank < text + len)) {
		msg_warn("logreader: %s is not a journal position: starting at "
			 "the journal's end", r->pos_path);
		return;
	}
	memcpy(r->cursor, text + 2, len - 2);
	r->cursor[len - 2] = '\0';
}

/* One journal entry (as a line, with its cursor): its events. The id of
 * each is derived from the cursor, so an entry read twice is stored
 * once. False if the journal refused one. */
static bool jentry(struct reader *r, const char *line, size_t n,
		   const char *cursor)
{
	struct cfg *cfg = milter_config_get();
	struct maillog_rec m;
	bool ok;

	if (cfg == NULL)
		return false;
	maillog_parse(line, n, &m);
	ok = line_events(r, cfg, &m, line, n,
			 fnv1a(FNV_BASIS, cursor, strlen(cursor)));
	cfg_unref(cfg);
	if (!ok)
		return false;
	r->count[m.kind]++;
	r->lines++;
	if (m.kind == ML_UNKNOWN)
		log_unknown(r, line, n);
	snprintf(r->cursor, sizeof(r->cursor), "%s", cursor);
	r->dirty = true;
	return true;
}

/* Follow the journal through journalctl, from the saved cursor (or its
 * end); journalctl started again after it ends or an entry is refused. */
static void journal_main(struct reader *r)
{
	char line[MAILLOG_LINE_MAX], cursor[LJOURNAL_CURSOR_MAX];
	int64_t saved = mono_ms();
	bool warned = false, ended = false;	/* said so; not since an entry */
	time_t since = 0;	/* no cursor yet: since the first start */

	jpos_load(r);
	if (r->cursor[0] == '\0')
		msg_info("logreader: no saved position: starting at the end of "
			 "the journal");
	while (!stopping(r)) {
		struct ljournal *j = ljournal_open(r->jdir, r->cursor[0] ?
						   r->cursor : NULL, since);
		size_t n;
		int got;

		/* started again before any entry was read: from the time
		 * of the first start, not from the end again */
		if (since == 0)
			since = time(NULL);

		if (j == NULL) {
			nap(r, POLL_MS * 5);
			continue;
		}
		if (!warned)
			msg_info("logreader: reading the journal%s%s",
				 r->jdir ? " in " : "", r->jdir ? r->jdir : "");
		warned = true;
		while (!stopping(r)) {
			got = ljournal_next(j, POLL_MS, line, sizeof(line), &n,
					    cursor);
			if (got < 0) {
				/* once, not every second (an empty journal
				 * directory: journalctl exits at once) */
				if (!ended)
					msg_warn("logreader: journalctl %s: "
						 "starting it again every second",
						 ljournal_why(j));
				ended = true;
				break;
			}
			if (got == 0 || mono_ms() - saved >= SAVE_MS) {
				jpos_save(r);
				saved = mono_ms();
			}
			if (got == 0) {
				stats(r, false);
				continue;
			}
			ended = false;
			if (!jentry(r, line, n, cursor))
				break;	/* again from r->cursor, later */
		}
		ljournal_close(j);
		jpos_save(r);
		if (!stopping(r))
			nap(r, 1000);
	}
	jpos_save(r);
	stats(r, true);
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	int64_t saved = mono_ms();
	bool warned = false, got = false;	/* got: lines since the last nap */

	if (r->journal) {
		journal_main(r);
		return NULL;
	}
	file_start(r);
	while (!stopping(r)) {
		ssize_t n;

		if (r->fd < 0) {
			if (file_open_at(r, r->path, 0, 0, 0)) {
				msg_info("logreader: reading %s", r->path);
				warned = false;
				pos_save(r);
			} else {
				if (!warned)
					msg_warn("logreader: cannot open %s: %s "
						 "(trying again)", r->path,
						 strerror(errno));
				warned = true;
				nap(r, POLL_MS * 5);
				continue;
			}
		}
		n = read_some(r);
		if (n > 0) {
			got = true;
			if (mono_ms() - saved >= SAVE_MS) {
				pos_save(r);
				saved = mono_ms();
			}
			continue;
		}
		if (n < 0) {
			pos_save(r);
			nap(r, 1000);
			continue;
		}
		/* end of file: save if idle (nothing new in the last poll),
		 * else at most every SAVE_MS */
		if (!got || mono_ms() - saved >= SAVE_MS) {
			pos_save(r);
			saved = mono_ms();
		}
		got = false;
		stats(r, false);
		nap(r, POLL_MS);
		/* right before the next read: a copytruncate and a refill past
		 * the old size during the nap must not be read as new lines */
		check_file(r);
	}
	/* stopping: take what is there now, then save */
	while (r->fd >= 0 && read_some(r) > 0)
		;
	pos_save(r);
	stats(r, true);
	return NULL;
}

void logreader_start(const struct cfg *cfg)
{
	struct reader *r;
	sigset_t set, old;
	size_t n;

	if (cfg->postfix_log == NULL || cfg->postfix_log[0] == '\0')
		return;
	r = xcalloc(1, sizeof(*r));
	r->path = xstrdup(cfg->postfix_log);
	if (strcmp(r->path, "journal") == 0 || strncmp(r->path, "journal:", 8) == 0) {
		r->journal = true;
		r->jdir = r->path[7] == ':' ? r->path + 8 : NULL;
	}
	n = strlen(cfg->journal_directory) + sizeof(POS_NAME) + 2;
	r->pos_path = xmalloc(n);
	snprintf(r->pos_path, n, "%s/%s", cfg->journal_directory, POS_NAME);
	r->node = xstrdup(recorder_node(cfg));
	r->fd = -1;
	r->stats_time = time(NULL);
	pthread_mutex_init(&r->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&r->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	recent_enable();	/* the milter remembers transactions for sizes */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (pthread_create(&r->tid, NULL, reader_main, r) != 0)
		msg_fatal("cannot start the log reader thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	reader = r;
	msg_info("logreader: following %s (position in %s)", r->path,
		 r->pos_path);
}

void logreader_stop(void)
{
	struct reader *r = reader;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->tid, NULL);
	file_close(r);
	free(r->buf);
	free(r->path);
	free(r->pos_path);
	free(r->node);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
	reader = NULL;
}
