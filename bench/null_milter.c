/*
 * null_milter - the floors for bench/postfix-bench.sh: do-nothing
 * milters that ask for the same macros at the same stages as portmilter
 * (lib/macros.h) and answer CONTINUE, doing nothing else. What Postfix
 * loses with one is the cost of the milter protocol itself, not of
 * portmilter's work.
 *
 *   null_milter SOCKET       the full protocol portmilter negotiated
 *                            before issue 17 (and negotiates with a
 *                            limit_bytes budget): connect, HELO, MAIL,
 *                            RCPT, headers and body (no reply), end of
 *                            message
 *   null_milter -l SOCKET    lean: connect, HELO, MAIL, RCPT, end of
 *                            message; no headers, no end of headers, no
 *                            body (SMFIP_NOHDRS, SMFIP_NOEOH,
 *                            SMFIP_NOBODY)
 * SOCKET: e.g. unix:/tmp/null.sock
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libmilter/mfapi.h>

#include "macros.h"

static int lean;

static sfsistat nm_continue_conn(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	(void)ctx, (void)host, (void)addr;
	return SMFIS_CONTINUE;
}

static sfsistat nm_continue_arg(SMFICTX *ctx, char *arg)
{
	(void)ctx, (void)arg;
	return SMFIS_CONTINUE;
}

static sfsistat nm_continue_argv(SMFICTX *ctx, char **argv)
{
	(void)ctx, (void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat nm_noreply_hdr(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx, (void)name, (void)value;
	return SMFIS_NOREPLY;
}

static sfsistat nm_noreply_body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	(void)ctx, (void)b, (void)len;
	return SMFIS_NOREPLY;
}

static sfsistat nm_continue(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
			     unsigned long f2, unsigned long f3,
			     unsigned long *pf0, unsigned long *pf1,
			     unsigned long *pf2, unsigned long *pf3)
{
	(void)f2, (void)f3;
	*pf0 = 0;
	/* the same macros as portmilter, at the same stages */
	if ((f0 & SMFIF_SETSYMLIST) &&
	    smfi_setsymlist(ctx, SMFIM_CONNECT, PM_MACROS_CONNECT) == MI_SUCCESS &&
	    smfi_setsymlist(ctx, SMFIM_HELO, PM_MACROS_HELO) == MI_SUCCESS &&
	    smfi_setsymlist(ctx, SMFIM_ENVFROM, PM_MACROS_MAIL) == MI_SUCCESS &&
	    smfi_setsymlist(ctx, SMFIM_ENVRCPT, PM_MACROS_RCPT) == MI_SUCCESS &&
	    smfi_setsymlist(ctx, SMFIM_EOM, PM_MACROS_EOM) == MI_SUCCESS)
		*pf0 = SMFIF_SETSYMLIST;
	*pf1 = f1 & (SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH |
		     SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_RCPT_REJ);
	if (lean)
		*pf1 |= f1 & (SMFIP_NOHDRS | SMFIP_NOBODY);
	*pf2 = *pf3 = 0;
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	struct smfiDesc d;

	if (argc == 3 && strcmp(argv[1], "-l") == 0) {
		lean = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: null_milter [-l] SOCKET\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.xxfi_name = "null_milter";
	d.xxfi_version = SMFI_VERSION;
	d.xxfi_flags = SMFIF_SETSYMLIST;
	d.xxfi_connect = nm_continue_conn;
	d.xxfi_helo = nm_continue_arg;
	d.xxfi_envfrom = nm_continue_argv;
	d.xxfi_envrcpt = nm_continue_argv;
	d.xxfi_header = lean ? NULL : nm_noreply_hdr;
	d.xxfi_body = lean ? NULL : nm_noreply_body;
	d.xxfi_eom = nm_continue;
	d.xxfi_abort = nm_continue;
	d.xxfi_close = nm_continue;
	d.xxfi_negotiate = nm_negotiate;
	umask(0);
	if (smfi_register(d) != MI_SUCCESS || smfi_setconn(argv[1]) != MI_SUCCESS ||
	    smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "null_milter: cannot listen on %s\n", argv[1]);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
