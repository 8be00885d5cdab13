/*
 * macros - the Postfix macros the milter needs at each milter stage:
 * one source of truth for the milter, which asks for them with
 * smfi_setsymlist() (milter/milter.c), and for portmilter-conf, which
 * makes sure main.cf's milter_*_macros list them too (Postfix sends
 * only what those lists name to a milter that cannot ask).
 *
 * Each list replaces Postfix's list for that stage, so it names
 * everything the milter reads there. Why each one is needed: see the
 * comment at the top of milter/milter.c and README.md ("Macros the
 * milter asks for"). String literals only: no data in a header.
 */
#ifndef PM_MACROS_H
#define PM_MACROS_H

/* connect: the port, the service, the client; TLS macros are there
 * from connect on with implicit TLS (465, 4650). */
#define PM_MACROS_CONNECT "{daemon_port} {daemon_name} {daemon_addr} " \
	"{client_addr} {client_name} {client_port} j _ " \
	"{tls_version} {cipher} {cipher_bits}"

/* HELO: after STARTTLS Postfix repeats HELO with the TLS macros. */
#define PM_MACROS_HELO "{tls_version} {cipher} {cipher_bits} " \
	"{cert_subject} {cert_issuer}"

/* MAIL: AUTH, and TLS again (a client may skip the second EHLO). */
#define PM_MACROS_MAIL "i {auth_type} {auth_authen} {auth_author} " \
	"{tls_version} {cipher} {cipher_bits} {mail_addr} {mail_mailer}"

/* RCPT: how Postfix routes the recipient ({rcpt_mailer} = error when
 * Postfix refused it). */
#define PM_MACROS_RCPT "i {rcpt_addr} {rcpt_host} {rcpt_mailer}"

/* end of message: the queue id. */
#define PM_MACROS_EOM "i"

#endif
