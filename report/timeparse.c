/*
 * timeparse - --since/--until values to UTC instants. See report.h.
 *
 * Strict on purpose: every character is accounted for, every field is
 * range-checked, and relative values are bounded, so a typo is an error
 * and never a silently different window.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "util.h"

#define TP_DAY		86400LL
#define TP_RELATIVE_MAX	(100LL * 366 * TP_DAY)	/* 100 years */
#define TP_YEAR_MIN	1900
#define TP_YEAR_MAX	9999

static const struct {
	char unit;
	long long seconds;
} tp_units[] = {
	{'m', 60},
	{'h', 3600},
	{'d', TP_DAY},
	{'w', 7 * TP_DAY},
};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t tp_days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int tp_days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Exactly n decimal digits at *p; advance past them. */
static bool tp_digits(const char **p, int n, int *val)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*val = v;
	return true;
}

static bool tp_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* "30m", "24h", "7d", "2w". Called only for digits followed by one letter. */
static bool tp_relative(const char *text, int64_t now, int64_t *out,
			const char **why)
{
	size_t n = strspn(text, "0123456789");
	long long value = 0;

	for (size_t i = 0; i < sizeof(tp_units) / sizeof(tp_units[0]); i++) {
		if (text[n] != tp_units[i].unit)
			continue;
		for (size_t k = 0; k < n; k++) {
			value = value * 10 + (text[k] - '0');
			if (value > TP_RELATIVE_MAX / tp_units[i].seconds) {
				*why = "too far back (at most 100 years)";
				return false;
			}
		}
		*out = now - value * tp_units[i].seconds;
		return true;
	}
	*why = "unknown unit (use m, h, d or w: 30m, 24h, 7d, 2w)";
	return false;
}

/* "", "Z", "+HH", "+HHMM", "+HH:MM" (or "-"): seconds east of UTC. */
static bool tp_zone(const char *p, int *offset, const char **why)
{
	int sign, hh, mm = 0;

	*offset = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return true;
	if (*p != '+' && *p != '-') {
		*why = "unexpected text after the time (zone: Z, +HH:MM or -HH:MM)";
		return false;
	}
	sign = *p++ == '-' ? -1 : 1;
	if (!tp_digits(&p, 2, &hh))
		goto bad;
	if (*p == ':') {
		p++;
		if (!tp_digits(&p, 2, &mm))
			goto bad;
	} else if (*p != '\0' && !tp_digits(&p, 2, &mm)) {
		goto bad;
	}
	if (*p != '\0')
		goto bad;
	if (hh > 23 || mm > 59) {
		*why = "zone offset out of range";
		return false;
	}
	*offset = sign * (hh * 3600 + mm * 60);
	return true;
bad:
	*why = "malformed zone offset (use Z, +HH, +HHMM or +HH:MM)";
	return false;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS][zone]]". */
static bool tp_absolute(const char *p, int64_t *out, const char **why)
{
	int y, mo, d, h = 0, mi = 0, s = 0, offset = 0;

	if (!tp_digits(&p, 4, &y) || !tp_char(&p, '-') || !tp_digits(&p, 2, &mo) ||
	    !tp_char(&p, '-') || !tp_digits(&p, 2, &d)) {
		*why = "not a time (use YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], "
		       "ISO 8601, or 30m, 24h, 7d, 2w)";
		return false;
	}
	if (*p != '\0') {
		if (*p != ' ' && *p != 'T' && *p != 't') {
			*why = "unexpected text after the date";
			return false;
		}
		p++;
		if (!tp_digits(&p, 2, &h) || !tp_char(&p, ':') ||
		    !tp_digits(&p, 2, &mi) ||
		    (tp_char(&p, ':') && !tp_digits(&p, 2, &s))) {
			*why = "malformed time of day (use HH:MM or HH:MM:SS)";
			return false;
		}
		if (!tp_zone(p, &offset, why))
			return false;
	}
	if (y < TP_YEAR_MIN || y > TP_YEAR_MAX) {
		*why = "year out of range (1900..9999)";
		return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > tp_days_in_month(y, mo)) {
		*why = "no such date";
		return false;
	}
	if (h > 23 || mi > 59 || s > 59) {
		*why = "no such time of day";
		return false;
	}
	*out = tp_days_from_civil(y, mo, d) * TP_DAY + h * 3600 + mi * 60 + s - offset;
	return true;
}

bool tp_parse(const char *text, int64_t now, int64_t *out, char **err)
{
	const char *why = "empty";
	size_t n;
	bool ok = false;

	if (text != NULL && *text != '\0') {
		n = strspn(text, "0123456789");
		if (n > 0 && isalpha((unsigned char)text[n]) && text[n + 1] == '\0')
			ok = tp_relative(text, now, out, &why);
		else
			ok = tp_absolute(text, out, &why);
	}
	if (!ok)
		*err = xstrdup(why);
	return ok;
}

void tp_format(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S+00", &tm) == 0)
		snprintf(buf, len, "invalid");
}
