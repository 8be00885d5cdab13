/*
 * event - one record of what happened: a transaction, or a connection that
 * ended without one. Columns and meaning: doc/events.md.
 *
 * An event is a fixed array of optional strings, one per column, in the
 * order of enum event_field; numbers and times are stored in their text
 * form, ready for PostgreSQL. NULL means SQL NULL.
 *
 * event_encode() turns an event into a journal payload (one buffer the
 * caller frees); event_decode() checks and splits such a payload, with
 * the strings pointing into a copy owned by the event (event_free()).
 * Decoding distrusts its input: a payload that does not have exactly
 * EVENT_NFIELDS well-formed fields is refused.
 *
 * The four untrusted values that have a *_raw column (HELO, client name,
 * SASL user, sender) are stored by the shipper in their text form
 * (utf8_text: invalid bytes as U+FFFD, cut at a character boundary to at
 * most EVENT_TEXT_MAX bytes), and whenever that text is not the value
 * itself, the exact bytes go to the *_raw column: nothing is lost. The
 * journal keeps the values whole (up to the milter's 16 kB).
 *
 * Why EVENT_TEXT_MAX is 1024: a btree entry of PostgreSQL holds at most
 * 2704 bytes (a third of a page), and sasl_user is a key or an included
 * column of several indexes (events_user_time_idx, events_auth_time_idx,
 * events_old_tls_idx, rollup_user_names, rollup_users): a user name of
 * ~2.7 kB that does not compress made PostgreSQL refuse the whole row
 * (SQLSTATE 54000, which also held the shipper's batch back until it was
 * taken for a data error: shipper.c). 1024 leaves room for the other columns
 * of those entries; it is the longest login a suspension may name
 * (SUSPEND_SUBJECT_MAX, portmilter-report suspend), so the name an
 * analyst reads in the events can be suspended and the milter matches it
 * (suspend_set_lookup); and it is longer than a budget's key
 * (BUDGET_KEY_MAX), so a usage row made from the stored name names the
 * same budget. No legitimate value is that long: RFC 5321 caps a path at
 * 256 octets and a domain at 255, and a SASL login is a mailbox or a
 * short name.
 */
#ifndef PM_EVENT_H
#define PM_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#define EVENT_TEXT_MAX	1024	/* bytes of a text column with a *_raw one */

enum event_field {
	EV_EVENT_ID,
	EV_EVENT_TIME,
	EV_CONN_ID,
	EV_CONN_TIME,
	EV_KIND,
	EV_NODE,
	EV_PORT,
	EV_PORT_KNOWN,
	EV_SERVICE,
	EV_CLIENT_ADDR,
	EV_CLIENT_NAME,
	EV_HELO,
	EV_TLS_VERSION,
	EV_TLS_CIPHER,
	EV_SASL_METHOD,
	EV_SASL_USER,
	EV_SENDER,
	EV_NRCPT,
	EV_NRCPT_REJECTED,
	EV_NRCPT_TEMPFAILED,
	EV_NRCPT_REFUSED,
	EV_SIZE,
	EV_QUEUE_ID,
	EV_VERDICT,
	EV_RULE,
	EV_REPLY,
	EV_CREDENTIAL_EXPOSURE,
	EVENT_NFIELDS
};

struct event {
	const char *f[EVENT_NFIELDS];
	char *storage;			/* owned by decoded events */
};

/* Column name of a field, as in portmilter.events. */
const char *event_column(enum event_field field);

/* Its SQL type, as in sql/001_schema.sql. */
const char *event_column_type(enum event_field field);

/* Serialize; *len receives the payload size. Never fails (xmalloc). */
unsigned char *event_encode(const struct event *ev, size_t *len);

/* Parse a payload; false if malformed (ev untouched then). */
bool event_decode(const unsigned char *buf, size_t len, struct event *ev);

void event_free(struct event *ev);

/* A random (version 4) UUID in text form; buf has >= 37 bytes. */
void event_uuid(char *buf);

/* Wall-clock time as PostgreSQL timestamptz text in UTC; buf >= 40. */
void event_time_now(char *buf, size_t len);

#endif
