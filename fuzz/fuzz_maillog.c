/*
 * fuzz_maillog - one Postfix log line (lib/maillog.c), as the log reader
 * gets it from a file any local program may have written into (a client
 * name, a HELO or a SASL user name are the client's bytes, as Postfix
 * logged them).
 *
 * Input: one line, any bytes. Oracles: every line gets a kind in range
 * and a name for it; every text field ends inside its array; a client
 * address, when set, is an address lib/addr parses; the reply code is
 * three digits or empty; a counter's ok never exceeds its total; the
 * same bytes parse to the same record (no state between calls).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "maillog.h"
#include "msg.h"
#include "oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_maillog", 0);
	return 0;
}

#define ENDS(r, f) (memchr((r)->f, '\0', sizeof((r)->f)) != NULL)

static void check_fields(const struct maillog_rec *r)
{
	const struct maillog_count *c[] = {
		&r->ehlo, &r->helo, &r->starttls, &r->auth, &r->mail,
		&r->rcpt, &r->data, &r->commands,
	};
	struct pm_addr a;

	if (!ENDS(r, host) || !ENDS(r, syslog_name) || !ENDS(r, program) ||
	    !ENDS(r, queue_id) || !ENDS(r, client_name) ||
	    !ENDS(r, client_addr) || !ENDS(r, sasl_method) ||
	    !ENDS(r, sasl_user) || !ENDS(r, stage) || !ENDS(r, reply_code) ||
	    !ENDS(r, reply_enh) || !ENDS(r, reply_text) || !ENDS(r, sender) ||
	    !ENDS(r, detail))
		fuzz_fail("maillog: a text field is not terminated");
	if (r->client_addr[0] != '\0' && !addr_parse(r->client_addr, &a))
		fuzz_fail("maillog: client address \"%s\" is not an address",
			  fuzz_esc(r->client_addr));
	if (r->reply_code[0] != '\0' &&
	    (strlen(r->reply_code) != 3 ||
	     strspn(r->reply_code, "0123456789") != 3))
		fuzz_fail("maillog: reply code \"%s\"",
			  fuzz_esc(r->reply_code));
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (c[i]->seen && c[i]->ok > c[i]->total)
			fuzz_fail("maillog: counter %zu: %lu/%lu", i, c[i]->ok,
				  c[i]->total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maillog_rec *r1, *r2;
	enum maillog_kind k;

	if (size > MAILLOG_LINE_MAX + 64)
		return 0;
	r1 = calloc(2, sizeof(*r1));
	if (r1 == NULL)
		return 0;
	r2 = r1 + 1;
	k = maillog_parse((const char *)data, size, r1);
	if ((unsigned)k >= ML_NKINDS || k != r1->kind)
		fuzz_fail("maillog: kind %d out of range or not returned",
			  (int)k);
	if (maillog_kind_name(k) == NULL || *maillog_kind_name(k) == '\0')
		fuzz_fail("maillog: kind %d has no name", (int)k);
	check_fields(r1);
	memset(r2, 0xa5, sizeof(*r2));
	(void)maillog_parse((const char *)data, size, r2);
	if (r2->kind != r1->kind || strcmp(r2->client_addr, r1->client_addr) ||
	    strcmp(r2->sasl_user, r1->sasl_user) ||
	    strcmp(r2->reply_text, r1->reply_text) ||
	    strcmp(r2->detail, r1->detail) || r2->pid != r1->pid ||
	    r2->truncated != r1->truncated)
		fuzz_fail("maillog: the same line parsed twice differs");
	free(r1);
	return 0;
}
