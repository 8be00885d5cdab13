/*
 * suspend - the set of suspended users and client addresses, as a milter
 * holds it in memory, and its local file. No libmilter, no libpq, no
 * global state; the clock is the caller's (Unix seconds).
 *
 * A set is built once (suspend_set_add), then only read: the caller
 * publishes a finished set and replaces it whole (milter/suspsync.h), so
 * a lookup never sees one half built and needs no lock of its own.
 *
 * What matches (suspend_set_lookup):
 *   user     the SASL login, ASCII case-insensitively (as the budgets
 *            and sql/006_suspensions.sql compare logins): one hash
 *            probe; a login longer than SUSPEND_SUBJECT_MAX or not
 *            valid UTF-8 is also looked for as the events' sasl_user
 *            holds it (utf8_text: cut to SUSPEND_SUBJECT_MAX bytes at a
 *            character boundary, invalid bytes as U+FFFD; milter/event.h),
 *            the name portmilter-watch and the analysts see and suspend
 *            (a second probe);
 *   address  a client address inside a suspended network (a bare
 *            address is a /32 or /128; IPv4-mapped IPv6 is IPv4, as
 *            everywhere in addr.h): one hash probe per distinct prefix
 *            length in the set (at most 33 + 129), longest first.
 * A suspension whose until has passed (until != 0 and until <= now)
 * does not match. Adding the same subject twice keeps the later until
 * (0, "until lifted", is the latest).
 *
 * The file (suspend_file_save/suspend_file_load): text, one line each,
 *   portmilter-suspensions 1
 *   generation G
 *   user UNTIL SUBJECT          (UNTIL: Unix seconds, 0 = until lifted)
 *   address UNTIL NET/PREFIX
 *   end N CRC                   (N entries; CRC32C of every byte before
 *                                this line, 8 lower-case hex digits)
 * with the bytes 0x00-0x20, 0x7f and '\' of a subject written \xHH. It
 * is written to DIR/suspensions.tmp (0640, never through a symlink),
 * flushed to disk and renamed over DIR/suspensions, so a crash leaves
 * the old file or the new one. Loading is strict: a file that is cut,
 * altered (CRC) or malformed anywhere is refused whole, with the line
 * number; nothing of it is used.
 */
#ifndef PM_SUSPEND_H
#define PM_SUSPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum suspend_kind {
	SUSPEND_USER = 1,
	SUSPEND_ADDRESS = 2,
};

/* A longer subject is refused by suspend_set_add: the longest name the
 * events store (EVENT_TEXT_MAX); a longer login matches by that name. */
#define SUSPEND_SUBJECT_MAX	1024
#define SUSPEND_FILE		"suspensions"

struct suspend_set;

/* An empty set (generation 0). Never fails (xmalloc). */
struct suspend_set *suspend_set_new(void);
void suspend_set_free(struct suspend_set *s);

/*
 * Add a suspension: kind, subject (a login; or an address or network
 * for cidr_parse: host bits set are refused), until (Unix seconds, 0 =
 * until lifted). false with *why (a static text) for an empty or too
 * long subject, a bad network or an unknown kind.
 */
bool suspend_set_add(struct suspend_set *s, enum suspend_kind kind,
		     const char *subject, int64_t until, const char **why);

/* Suspensions held (after merging duplicates), and of one kind. */
size_t suspend_set_count(const struct suspend_set *s);
size_t suspend_set_count_kind(const struct suspend_set *s,
			      enum suspend_kind kind);

/* The database's generation number this set was loaded at. */
uint64_t suspend_set_generation(const struct suspend_set *s);
void suspend_set_set_generation(struct suspend_set *s, uint64_t generation);

struct suspend_hit {
	enum suspend_kind kind;
	int64_t until;				/* 0 = until lifted */
	char subject[SUSPEND_SUBJECT_MAX + 1];	/* as added; a network as
						 * cidr_to_text prints it */
};

/*
 * Is the login (NULL: not authenticated) or the client address (family
 * 0: unknown, never matches) suspended at now? A user suspension is
 * looked for first, then the longest suspended network. true with *hit
 * filled (hit may be NULL). s may be NULL: nothing is suspended.
 */
bool suspend_set_lookup(const struct suspend_set *s, const char *login,
			const struct pm_addr *client, int64_t now,
			struct suspend_hit *hit);

/* The file's text (malloc'd, *len bytes, no NUL counted). */
char *suspend_set_encode(const struct suspend_set *s, size_t *len);

/* A set from the file's text; NULL with "line N: what" in err. */
struct suspend_set *suspend_set_decode(const char *buf, size_t len, char *err,
				       size_t errlen);

/* Write DIR/suspensions atomically; false with the reason in err. */
bool suspend_file_save(const char *dir, const struct suspend_set *s,
		       char *err, size_t errlen);

/*
 * Read DIR/suspensions. NULL with the reason in err, and *missing set
 * when there is no such file (a first start: not an error).
 */
struct suspend_set *suspend_file_load(const char *dir, bool *missing,
				      char *err, size_t errlen);

#endif
