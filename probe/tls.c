/*
 * tls - the OpenSSL side of the probe. See probe.h.
 *
 * The handshake never fails because of the certificate (SSL_VERIFY_NONE):
 * the probe wants to see the version, cipher and certificate of a server
 * whose chain may well be untrusted, then reports the verification result
 * (SSL_get_verify_result against the system store or --ca), the name
 * match (X509_check_host, or X509_check_ip_asc for an address literal)
 * and the days to expiry itself.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "msg.h"
#include "probe.h"
#include "util.h"

SSL_CTX *tls_ctx_new(const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		msg_fatal("SSL_CTX_new failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cafile) {
		if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
			msg_fatal("cannot load CA file %s", cafile);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		msg_warn("cannot load the system certificate store");
	}
	return ctx;
}

static bool tls_is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

/* The last OpenSSL error, or what else went wrong. */
static void tls_error(struct tls_info *info, const char *what, int st)
{
	unsigned long e = ERR_peek_last_error();
	char buf[200];

	if (st == NET_TIMEOUT || st == NET_EOF)
		snprintf(buf, sizeof(buf), "%s: %s", what, net_status_name(st));
	else if (e)
		snprintf(buf, sizeof(buf), "%s: %s", what,
			 ERR_reason_error_string(e) ? ERR_reason_error_string(e)
						    : "error");
	else
		snprintf(buf, sizeof(buf), "%s: failed", what);
	str_escape(info->error, sizeof(info->error), buf);
}

/* SSL_connect until done, an error or the deadline. */
static int tls_handshake(struct net_conn *c)
{
	for (;;) {
		int n, st;

		ERR_clear_error();
		n = SSL_connect(c->ssl);
		if (n == 1)
			return NET_OK;
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ: st = net_wait(c, false); break;
		case SSL_ERROR_WANT_WRITE: st = net_wait(c, true); break;
		case SSL_ERROR_SYSCALL:
			return ERR_peek_last_error() ? NET_ERROR : NET_EOF;
		default: return NET_ERROR;
		}
		if (st != NET_OK)
			return st;
	}
}

static void tls_cert_info(SSL *ssl, const char *host, struct tls_info *info)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	X509 *cert = SSL_get1_peer_certificate(ssl);
#else
	X509 *cert = SSL_get_peer_certificate(ssl);
#endif
	long vr = SSL_get_verify_result(ssl);
	int days = 0, secs = 0;

	if (!cert) {
		snprintf(info->verify_error, sizeof(info->verify_error),
			 "no certificate");
		return;
	}
	info->cert_present = true;
	info->chain_valid = vr == X509_V_OK;
	snprintf(info->verify_error, sizeof(info->verify_error), "%s",
		 info->chain_valid ? "" : X509_verify_cert_error_string(vr));
	if (tls_is_ip(host))
		info->name_match = X509_check_ip_asc(cert, host, 0) == 1;
	else
		info->name_match = X509_check_host(cert, host, 0, 0, NULL) == 1;
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
		info->days_left = days;
	X509_free(cert);
}

bool tls_start(struct net_conn *c, SSL_CTX *ctx, const char *host,
	       struct tls_info *info)
{
	int st;

	memset(info, 0, sizeof(*info));
	net_step(c);
	if (c->len != 0) {
		/* plaintext after the 220 reply: injection, refuse it */
		str_escape(info->error, sizeof(info->error),
			   "data sent before the TLS handshake");
		return false;
	}
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		tls_error(info, "SSL_new", NET_ERROR);
		return false;
	}
	if (!tls_is_ip(host))
		SSL_set_tlsext_host_name(c->ssl, host);
	st = tls_handshake(c);
	if (st != NET_OK) {
		tls_error(info, "handshake", st);
		SSL_free(c->ssl);
		c->ssl = NULL;
		return false;
	}
	info->ok = true;
	snprintf(info->version, sizeof(info->version), "%s",
		 SSL_get_version(c->ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s",
		 SSL_get_cipher_name(c->ssl));
	tls_cert_info(c->ssl, host, info);
	return true;
}
