/*
 * event - event records and their journal encoding. See event.h.
 *
 * Payload layout (little-endian):
 *     u8 version (1) | u16 field count | per field: u32 length, bytes
 * A length of 0xffffffff stands for NULL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "event.h"
#include "msg.h"
#include "util.h"

#define EVENT_VERSION	1
#define LEN_NULL	0xffffffffu

static const char *const columns[EVENT_NFIELDS] = {
	[EV_EVENT_ID] = "event_id",
	[EV_EVENT_TIME] = "event_time",
	[EV_CONN_ID] = "conn_id",
	[EV_CONN_TIME] = "conn_time",
	[EV_KIND] = "kind",
	[EV_NODE] = "node",
	[EV_PORT] = "port",
	[EV_PORT_KNOWN] = "port_known",
	[EV_SERVICE] = "service",
	[EV_CLIENT_ADDR] = "client_addr",
	[EV_CLIENT_NAME] = "client_name",
	[EV_HELO] = "helo",
	[EV_TLS_VERSION] = "tls_version",
	[EV_TLS_CIPHER] = "tls_cipher",
	[EV_SASL_METHOD] = "sasl_method",
	[EV_SASL_USER] = "sasl_user",
	[EV_SENDER] = "sender",
	[EV_NRCPT] = "nrcpt",
	[EV_NRCPT_REJECTED] = "nrcpt_rejected",
	[EV_NRCPT_TEMPFAILED] = "nrcpt_tempfailed",
	[EV_NRCPT_REFUSED] = "nrcpt_refused",
	[EV_SIZE] = "size",
	[EV_QUEUE_ID] = "queue_id",
	[EV_VERDICT] = "verdict",
	[EV_RULE] = "rule",
	[EV_REPLY] = "reply",
	[EV_CREDENTIAL_EXPOSURE] = "credential_exposure",
};

/* SQL types, as in sql/001_schema.sql (the shipper's staging table). */
static const char *const types[EVENT_NFIELDS] = {
	[EV_EVENT_ID] = "uuid", [EV_EVENT_TIME] = "timestamptz",
	[EV_CONN_ID] = "uuid", [EV_CONN_TIME] = "timestamptz",
	[EV_KIND] = "text", [EV_NODE] = "text", [EV_PORT] = "integer",
	[EV_PORT_KNOWN] = "boolean", [EV_SERVICE] = "text",
	[EV_CLIENT_ADDR] = "inet", [EV_CLIENT_NAME] = "text",
	[EV_HELO] = "text", [EV_TLS_VERSION] = "text", [EV_TLS_CIPHER] = "text",
	[EV_SASL_METHOD] = "text", [EV_SASL_USER] = "text",
	[EV_SENDER] = "text", [EV_NRCPT] = "integer",
	[EV_NRCPT_REJECTED] = "integer", [EV_NRCPT_TEMPFAILED] = "integer",
	[EV_NRCPT_REFUSED] = "integer", [EV_SIZE] = "bigint",
	[EV_QUEUE_ID] = "text", [EV_VERDICT] = "text", [EV_RULE] = "text",
	[EV_REPLY] = "text", [EV_CREDENTIAL_EXPOSURE] = "boolean",
};

const char *event_column_type(enum event_field field)
{
	if ((unsigned)field >= EVENT_NFIELDS)
		msg_panic("event_column_type: bad field %d", (int)field);
	return types[field];
}

const char *event_column(enum event_field field)
{
	if ((unsigned)field >= EVENT_NFIELDS)
		msg_panic("event_column: bad field %d", (int)field);
	return columns[field];
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

unsigned char *event_encode(const struct event *ev, size_t *len)
{
	size_t total = 3, o;
	unsigned char *buf;

	for (int i = 0; i < EVENT_NFIELDS; i++) {
		size_t n = ev->f[i] ? strlen(ev->f[i]) : 0;

		if (n >= LEN_NULL || total > SIZE_MAX - 4 - n)
			msg_panic("event_encode: field %s too large", columns[i]);
		total += 4 + n;
	}
	buf = xmalloc(total);
	buf[0] = EVENT_VERSION;
	buf[1] = EVENT_NFIELDS & 0xff;
	buf[2] = EVENT_NFIELDS >> 8;
	o = 3;
	for (int i = 0; i < EVENT_NFIELDS; i++) {
		size_t n = ev->f[i] ? strlen(ev->f[i]) : 0;

		put_u32(buf + o, ev->f[i] ? (uint32_t)n : LEN_NULL);
		o += 4;
		if (n)
			memcpy(buf + o, ev->f[i], n);
		o += n;
	}
	*len = total;
	return buf;
}

bool event_decode(const unsigned char *buf, size_t len, struct event *ev)
{
	size_t o = 3, so = 0;
	char *storage;
	struct event out;

	if (buf == NULL || len < 3 || buf[0] != EVENT_VERSION ||
	    (size_t)(buf[1] | buf[2] << 8) != EVENT_NFIELDS)
		return false;
	/* Worst case the strings take len bytes plus a NUL each. */
	storage = xmalloc(len + EVENT_NFIELDS);
	memset(&out, 0, sizeof(out));
	for (int i = 0; i < EVENT_NFIELDS; i++) {
		uint32_t n;

		if (len - o < 4)
			goto bad;
		n = get_u32(buf + o);
		o += 4;
		if (n == LEN_NULL)
			continue;
		if (n > len - o || memchr(buf + o, '\0', n) != NULL)
			goto bad;
		memcpy(storage + so, buf + o, n);
		storage[so + n] = '\0';
		out.f[i] = storage + so;
		so += n + 1;
		o += n;
	}
	if (o != len)
		goto bad;
	out.storage = storage;
	*ev = out;
	return true;
bad:
	free(storage);
	return false;
}

void event_free(struct event *ev)
{
	free(ev->storage);
	memset(ev, 0, sizeof(*ev));
}

void event_uuid(char *buf)
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n <= 0)
			msg_fatal("getrandom failed");
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
		 b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void event_time_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ld+00", base, ts.tv_nsec / 1000);
}
