/*
 * fuzz_timeparse - portmilter-report's --since/--until values
 * (report/timeparse.c).
 *
 * Input: one text. Oracles: a refusal gives a reason; an accepted
 * relative value lies between now - 100 years and now; an accepted
 * absolute value formats (tp_format, what is sent to PostgreSQL) and
 * parses back to itself, and without a zone its date and time of day
 * are the ones written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "oracle.h"
#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW	1798761600LL		/* 2027-01-01 00:00:00 UTC */
#define DAY	86400LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_timeparse", 0);
	return 0;
}

static bool is_relative(const char *t)
{
	size_t n = strspn(t, "0123456789");

	return n > 0 && t[n] != '\0' && t[n + 1] == '\0' &&
	       strchr("0123456789-", t[n]) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, fmt[64];
	char *why = NULL;
	int64_t t, back;

	if (size > 128)
		return 0;
	text = fuzz_text(data, size);
	if (!tp_parse(text, NOW, &t, &why)) {
		if (why == NULL || *why == '\0')
			fuzz_fail("\"%s\" refused without a reason",
				  fuzz_esc(text));
		free(why);
		free(text);
		return 0;
	}
	if (is_relative(text)) {
		if (t > NOW || NOW - t > 100 * 366 * DAY)
			fuzz_fail("\"%s\" = %lld: not within 100 years before now",
				  fuzz_esc(text), (long long)t);
		free(text);
		return 0;
	}
	/* 1900-01-01 - 1 day .. 9999-12-31 + 2 days (zones are < 1 day) */
	if (t < -2208988800LL - DAY || t > 253402300799LL + DAY)
		fuzz_fail("\"%s\" = %lld: outside the years 1900..9999",
			  fuzz_esc(text), (long long)t);
	tp_format(t, fmt, sizeof(fmt));
	if (!tp_parse(fmt, NOW, &back, &why) || back != t) {
		free(why);
		fuzz_fail("\"%s\" = %lld formats as \"%s\", which does not "
			  "parse back", fuzz_esc(text), (long long)t, fmt);
	}
	/* No zone: "YYYY-MM-DD" and "HH:MM[:SS]" are what was written. */
	if (strlen(text) <= 19 && strpbrk(text + 10, "+-Zz") == NULL) {
		size_t n = strlen(text) > 10 ? strlen(text) - 11 : 0;

		if (memcmp(text, fmt, 10) != 0 ||
		    (n > 0 && memcmp(text + 11, fmt + 11, n) != 0))
			fuzz_fail("\"%s\" is %s", fuzz_esc(text), fmt);
	}
	free(text);
	return 0;
}
