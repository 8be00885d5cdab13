/*
 * probe - portmilter-probe: check, from the client's side, what each
 * SMTP port of a host really offers (connect, greeting, EHLO, STARTTLS
 * or implicit TLS, certificate, AUTH before and after TLS).
 *
 * Modules:
 *   net.c   non-blocking connect and line I/O, every step under a
 *           deadline (plain socket or TLS): nothing ever blocks forever;
 *   tls.c   OpenSSL: context, handshake, version/cipher/certificate;
 *   smtp.c  the SMTP dialogue of one port, filling a struct probe_port;
 *   main.c  options, ports (from the config via cfg_load), verdicts;
 *   output.c the table and the JSON.
 *
 * Every string that came from the network is stored already escaped
 * (str_escape(): printable ASCII only) and cut to a fixed size.
 */
#ifndef PM_PROBE_H
#define PM_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "cfg.h"

#define PROBE_LINE_MAX	1024	/* longest reply line kept (RFC 5321: 512) */
#define PROBE_REPLY_MAX	64	/* most lines read for one reply */
#define PROBE_TEXT	256	/* escaped text fields */

/* ---- net.c ------------------------------------------------------------ */

enum net_status {
	NET_OK = 0,
	NET_EOF = -1,		/* the peer closed the connection */
	NET_TIMEOUT = -2,	/* the step's deadline passed */
	NET_ERROR = -3,		/* socket or TLS error */
};

struct net_conn {
	int fd;
	SSL *ssl;		/* NULL until tls_start() succeeded */
	long long deadline;	/* ms on the monotonic clock */
	int timeout_ms;		/* the budget of one step */
	size_t len;		/* bytes waiting in buf */
	char buf[4096];
};

enum conn_result { CONN_OPEN, CONN_REFUSED, CONN_TIMEOUT, CONN_ERROR };

/* Milliseconds on the monotonic clock. */
long long net_now_ms(void);

/* Start a new step: the deadline becomes now + timeout_ms. */
void net_step(struct net_conn *c);

/*
 * Connect to host:port (first address getaddrinfo returns) within
 * timeout_ms. On CONN_OPEN, c is ready (fd non-blocking). *ms is the
 * time taken; err (errlen bytes) says why otherwise.
 */
enum conn_result net_connect(struct net_conn *c, const char *host,
			     unsigned port, int timeout_ms, long *ms,
			     char *err, size_t errlen);

/*
 * Read one line (CRLF or LF stripped) into line (cap bytes, cap >= 2).
 * A longer line is cut to cap-1 bytes and the rest discarded. NUL
 * bytes become '?'. Returns NET_OK or a negative net_status.
 */
int net_read_line(struct net_conn *c, char *line, size_t cap);

/* Write all of s before the deadline. NET_OK or a negative status. */
int net_write(struct net_conn *c, const char *s);

/* Wait until fd is readable (want_write: writable) or the deadline. */
int net_wait(struct net_conn *c, bool want_write);

void net_close(struct net_conn *c);

const char *net_status_name(int status);

/* ---- tls.c ------------------------------------------------------------ */

struct tls_info {
	bool ok;			/* handshake done */
	char error[PROBE_TEXT];		/* why not */
	char version[32];		/* "TLSv1.3" */
	char cipher[64];
	bool cert_present;
	bool chain_valid;		/* against the system store or --ca */
	char verify_error[128];		/* X509_verify_cert_error_string */
	bool name_match;		/* X509_check_host / _ip_asc vs HOST */
	long days_left;			/* to notAfter, may be negative */
};

/* NULL cafile: the system store. Fatal if the CA file cannot be read. */
SSL_CTX *tls_ctx_new(const char *cafile);

/* Handshake on c (deadline: one step), then fill *info. */
bool tls_start(struct net_conn *c, SSL_CTX *ctx, const char *host,
	       struct tls_info *info);

/* ---- smtp.c ----------------------------------------------------------- */

struct probe_port {
	unsigned port;
	enum cfg_mode mode;
	enum conn_result conn;
	long connect_ms;
	char conn_error[PROBE_TEXT];
	char greeting[PROBE_TEXT];	/* first line, escaped */
	int greeting_code;		/* 0: none */
	bool ehlo_ok;
	bool starttls_offered;
	bool tls_tried;
	struct tls_info tls;
	bool auth_before;		/* AUTH in the clear EHLO reply */
	char auth_before_mechs[PROBE_TEXT];
	bool auth_after_checked;	/* an EHLO after TLS was answered */
	bool auth_after;
	char auth_after_mechs[PROBE_TEXT];
	char timeout_step[32];		/* "" or the step that timed out */
	char error[PROBE_TEXT];		/* first dialogue error, escaped */
	long elapsed_ms;
	/* verdict (main.c) */
	bool pass;
	bool warn;
	char reason[PROBE_TEXT];
};

struct probe_opts {
	const char *host;	/* name for SNI and the certificate check */
	const char *address;	/* where to connect (default: host) */
	int timeout_ms;		/* per step */
	SSL_CTX *ctx;
};

/* Probe one port; r->port and r->mode are set by the caller. */
void smtp_probe(const struct probe_opts *o, struct probe_port *r);

/* ---- output.c --------------------------------------------------------- */

/* The per-port table (one row per port, then one line of details each). */
void probe_table(const char *host, const struct probe_port *r, size_t n);

/* The same as one JSON object: {"host", "pass", "ports": [...]}. */
void probe_json(const char *host, const struct probe_port *r, size_t n);

#endif
