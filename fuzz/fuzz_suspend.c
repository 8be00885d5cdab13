/*
 * fuzz_suspend - the milter's suspension file (milter/suspend.c,
 * suspend_set_decode), read at every start from journal_directory.
 *
 * Input: the file's bytes. Oracles: a refusal gives "line N: reason";
 * an accepted file encodes (suspend_set_encode, what the milter writes)
 * to a text that decodes again to a set that encodes to the very same
 * bytes, with the same count and generation; every suspension of it is
 * found by a lookup (a login by itself and upper-cased, a network by
 * its first address), and its count is at most the entry lines of the
 * input. And the input taken as a login (up to its first NUL): its text
 * form (utf8_text: what the shipper stores and what suspend_set_lookup
 * looks for when a login is too long or not UTF-8), for several limits,
 * is valid UTF-8 within the limit, the login itself exactly when that is
 * valid UTF-8 within the limit, else said to differ; for valid UTF-8 a
 * prefix cut only where the next character does not fit (utf8_prefix
 * gives the same length).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "oracle.h"
#include "suspend.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_suspend", 0);
	return 0;
}

/* Each "user"/"address" line of the text is looked up in s. */
static void check_lookups(const struct suspend_set *s, const char *text,
			  size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* the line alone, as a string */
		char *body = malloc(n + 64);

		if (body == NULL)
			abort();
		if (n > 5 && (memcmp(p, "user ", 5) == 0 ||
			      memcmp(p, "address ", 8) == 0)) {
			struct suspend_hit hit;
			struct pm_cidr c;
			const char *why;

			snprintf(body, n + 64, "%.*s", (int)n, p);
			if (memcmp(p, "user ", 5) == 0) {
				const char *subj = strchr(body + 5, ' ');
				char *upper;

				if (subj == NULL)
					fuzz_fail("encoded user line without a subject");
				/* escaped subjects are looked up by encode's own
				 * round trip instead */
				if (strchr(subj + 1, '\\') == NULL) {
					upper = strdup(subj + 1);
					if (upper == NULL)
						abort();
					for (char *u = upper; *u; u++)
						if (*u >= 'a' && *u <= 'z')
							*u = (char)(*u - 'a' + 'A');
					if (!suspend_set_lookup(s, subj + 1, NULL, 0, &hit) ||
					    !suspend_set_lookup(s, upper, NULL, 0, &hit))
						fuzz_fail("user \"%s\" of the file not found",
							  fuzz_esc(subj + 1));
					free(upper);
				}
			} else {
				const char *subj = strchr(body + 8, ' ');

				if (subj == NULL || !cidr_parse(subj + 1, &c, &why))
					fuzz_fail("encoded address line with a bad network");
				if (!suspend_set_lookup(s, NULL, &c.net, 0, &hit))
					fuzz_fail("network %s of the file not found",
						  fuzz_esc(subj + 1));
			}
		}
		free(body);
		p += n + 1;
	}
}

static void check_text_form(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = {0, 1, 3, 4, 16, SUSPEND_SUBJECT_MAX};
	char *in = malloc(size + 1), *out = malloc(SUSPEND_SUBJECT_MAX + 1);

	if (in == NULL || out == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		size_t max = maxes[i], n, len = strlen(in);
		bool differs, valid = utf8_valid(in);

		n = utf8_text(out, in, max, &differs);
		if (n > max || strlen(out) != n || !utf8_valid(out))
			fuzz_fail("utf8_text(%zu): %zu bytes, not valid UTF-8 within the limit",
				  max, n);
		if (differs == (valid && len <= max))
			fuzz_fail("utf8_text(%zu) says differs = %d for \"%s\"", max,
				  differs, fuzz_esc(in));
		if (!differs && strcmp(out, in) != 0)
			fuzz_fail("utf8_text(%zu) changed \"%s\" without saying so",
				  max, fuzz_esc(in));
		if (valid) {
			unsigned cp;

			if (n != utf8_prefix(in, max) || memcmp(out, in, n) != 0)
				fuzz_fail("utf8_text(%zu) of valid \"%s\": not its prefix",
					  max, fuzz_esc(in));
			if (n < len &&
			    utf8_decode((const unsigned char *)in + n, &cp) <= max - n)
				fuzz_fail("utf8_text(%zu) cut \"%s\" at %zu: the next character fits",
					  max, fuzz_esc(in), n);
		}
	}
	free(in);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[300] = "";
	struct suspend_set *s, *t;
	char *enc, *enc2;
	size_t len, len2, lines = 0;

	if (size > 65536)
		return 0;
	check_text_form(data, size);
	s = suspend_set_decode((const char *)data, size, err, sizeof(err));
	if (s == NULL) {
		if (strncmp(err, "line ", 5) != 0 || strchr(err, ':') == NULL)
			fuzz_fail("refused without \"line N: reason\": \"%s\"",
				  fuzz_esc(err));
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (suspend_set_count(s) + 3 > lines)
		fuzz_fail("%zu suspensions from %zu lines", suspend_set_count(s),
			  lines);
	enc = suspend_set_encode(s, &len);
	t = suspend_set_decode(enc, len, err, sizeof(err));
	if (t == NULL)
		fuzz_fail("the encoded set is refused: %s", fuzz_esc(err));
	enc2 = suspend_set_encode(t, &len2);
	if (len != len2 || memcmp(enc, enc2, len) != 0)
		fuzz_fail("encode, decode, encode is not stable");
	if (suspend_set_count(t) != suspend_set_count(s) ||
	    suspend_set_generation(t) != suspend_set_generation(s))
		fuzz_fail("count or generation changed in the round trip");
	check_lookups(t, enc, len);
	free(enc);
	free(enc2);
	suspend_set_free(s);
	suspend_set_free(t);
	return 0;
}
