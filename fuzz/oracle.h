/*
 * oracle - what the fuzz harnesses check besides "no crash": helpers
 * shared by fuzz/fuzz_*.c. A broken property is reported on stderr
 * ("ORACLE: ..." with the offending text escaped) and aborts, so that
 * libFuzzer saves the input as a crash.
 *
 *   fuzz_fail()          report and abort(); never returns.
 *   fuzz_text()          the input as a NUL-terminated string (malloc'd;
 *                        an embedded NUL ends it, as in a C parser).
 *   fuzz_word_ok()       no blank, comma, brace, '$' or control byte: a
 *                        word that Postfix takes as one list element and
 *                        never expands.
 *   fuzz_check_cidr()    text was accepted by cidr_parse() as c: it must
 *                        say exactly what c holds (an unsigned decimal
 *                        prefix equal to c's, no host bits silently
 *                        cleared), and c must print (cidr_to_text) and
 *                        parse back to itself.
 *   fuzz_check_nets()    fuzz_check_cidr()'s round trip on every network
 *                        of a parsed list.
 */
#ifndef PM_FUZZ_ORACLE_H
#define PM_FUZZ_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "addr.h"
#include "cfg.h"

noreturn void fuzz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
char *fuzz_text(const uint8_t *data, size_t size);
bool fuzz_word_ok(const char *word);
void fuzz_check_cidr(const char *text, const struct pm_cidr *c);
void fuzz_check_cidr_roundtrip(const struct pm_cidr *c);
void fuzz_check_nets(const struct cfg_nets *nets);

/* str_escape() into a static buffer, for ORACLE messages only. */
const char *fuzz_esc(const char *text);

#endif
