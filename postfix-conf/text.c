/*
 * text - formatted strings, "key = value" lists, Postfix lists.
 * See text.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

#define PC_LIST_SEP	", \t\r\n"

char *pc_strf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		msg_fatal("pc_strf: bad format \"%s\"", fmt);
	out = xmalloc((size_t) len + 1);
	va_start(ap, fmt);
	vsnprintf(out, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return out;
}

void pc_kv_add(struct pc_kvlist *l, const char *key, const char *value)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 32;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n].key = xstrdup(key);
	l->v[l->n].value = xstrdup(value);
	l->n++;
}

void pc_kv_set(struct pc_kvlist *l, const char *key, const char *value)
{
	bool found = false;
	size_t j = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].key, key) != 0 || (value != NULL && !found)) {
			if (strcmp(l->v[i].key, key) == 0) {
				free(l->v[i].value);
				l->v[i].value = xstrdup(value);
				found = true;
			}
			l->v[j++] = l->v[i];
			continue;
		}
		free(l->v[i].key);
		free(l->v[i].value);
	}
	l->n = j;
	if (!found && value != NULL)
		pc_kv_add(l, key, value);
}

const char *pc_kv_get(const struct pc_kvlist *l, const char *key)
{
	for (size_t i = l->n; i > 0; i--)
		if (strcmp(l->v[i - 1].key, key) == 0)
			return l->v[i - 1].value;
	return NULL;
}

/* One line "key = value" or "key ="; the key has no blanks. */
static void pc_kv_line(struct pc_kvlist *l, char *line)
{
	char *eq = strstr(line, " =");
	char *value;

	if (eq == NULL || eq == line || strcspn(line, " \t") != (size_t) (eq - line))
		return;
	value = eq + 2;
	if (*value == ' ')
		value++;
	else if (*value != '\0')
		return;
	*eq = '\0';
	pc_kv_add(l, line, value);
}

void pc_kv_parse(struct pc_kvlist *l, const char *text)
{
	char *copy = xstrdup(text), *line = copy, *nl;

	while (*line != '\0') {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		pc_kv_line(l, line);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	free(copy);
}

void pc_kv_free(struct pc_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void pc_strlist_add(struct cfg_strlist *l, const char *s, size_t len)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrndup(s, len);
}

const char *pc_list_next(const char **s, size_t *len)
{
	const char *start = *s + strspn(*s, PC_LIST_SEP), *cp;
	int level = 0;

	for (cp = start; *cp != '\0'; cp++) {
		if (*cp == '{')
			level++;
		else if (level > 0 && *cp == '}')
			level--;
		else if (level == 0 && strchr(PC_LIST_SEP, *cp) != NULL)
			break;
	}
	*s = cp;
	*len = (size_t) (cp - start);
	return *len > 0 ? start : NULL;
}

const char *pc_list_brace_error(const char *value, char **elem)
{
	const char *s = value, *e, *why = NULL;
	size_t len;
	int level;

	while (why == NULL && (e = pc_list_next(&s, &len)) != NULL) {
		level = 0;
		for (size_t i = 0; i < len; i++)
			if (e[i] == '{')
				level++;
			else if (level > 0 && e[i] == '}')
				level--;
		if (level > 0)
			why = "an unbalanced '{' (Postfix warns "
			      "\"missing '}'\")";
		else if (e[0] == '{' && e[len - 1] != '}')
			why = "text after its '}' (Postfix warns "
			      "\"syntax error after '}'\")";
		if (why != NULL && elem != NULL)
			*elem = xstrndup(e, len);
	}
	return why;
}

void pc_list_words(const char *value, bool groups, struct cfg_strlist *out)
{
	const char *s = value, *e, *w, *end;
	size_t len;

	if (!groups) {
		while (*(s += strspn(s, PC_LIST_SEP)) != '\0') {
			pc_strlist_add(out, s, strcspn(s, PC_LIST_SEP));
			s += strcspn(s, PC_LIST_SEP);
		}
		return;
	}
	while ((e = pc_list_next(&s, &len)) != NULL) {
		if (*e != '{') {
			pc_strlist_add(out, e, len);
			continue;
		}
		end = e + len;
		w = e + 1 + strspn(e + 1, PC_LIST_SEP);
		if (w < end && *w != '}' && *w != '{')
			pc_strlist_add(out, w, strcspn(w, PC_LIST_SEP "{}"));
	}
}

void pc_strlist_free(struct cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->n = 0;
	l->v = NULL;
}

char *pc_shell_quote(const char *text)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-";
	size_t n = 0, len = strlen(text);
	char *out, *o;

	if (len > 0 && strspn(text, safe) == len)
		return xstrdup(text);
	for (const char *s = text; *s; s++)
		n += *s == '\'' ? 4 : 1;
	out = o = xmalloc(n + 3);
	*o++ = '\'';
	for (const char *s = text; *s; s++) {
		if (*s == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *s;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}
