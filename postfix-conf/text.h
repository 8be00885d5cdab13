/*
 * text - small text helpers of portmilter-conf: formatted strings,
 * "key = value" lists as postconf prints them, and Postfix lists.
 *
 * pc_strf() either succeeds or does not return (out of memory is fatal,
 * as with the x* allocators of lib/util.h).
 *
 * Postfix lists (smtpd_milters, milter_*_macros): elements separated by
 * white space and/or commas; since Postfix 3.0 an element may be a
 * "{ ... }" group (a milter with its own settings), whose first word is
 * what it names. pc_list_words() returns those names, in order.
 */
#ifndef PM_TEXT_H
#define PM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "msg.h"

char *pc_strf(const char *fmt, ...) PM_PRINTF(1, 2);

struct pc_kv {
	char *key;
	char *value;
};

struct pc_kvlist {
	size_t n, alloc;
	struct pc_kv *v;
};

void pc_kv_add(struct pc_kvlist *l, const char *key, const char *value);

/* Replace key's value (every copy), or add it; value NULL removes it. */
void pc_kv_set(struct pc_kvlist *l, const char *key, const char *value);

/* The value of key, NULL if absent (the last one if listed twice). */
const char *pc_kv_get(const struct pc_kvlist *l, const char *key);

/* Append the "key = value" lines of text (postconf -n, -F, -P, or
 * "postconf PARAM..."); "key =" is an empty value; other lines are
 * ignored. */
void pc_kv_parse(struct pc_kvlist *l, const char *text);

void pc_kv_free(struct pc_kvlist *l);

/* The next element of a Postfix list from *s on, split as Postfix's
 * mystrtokq() splits it: white space and commas end an element only
 * outside braces, and "{" and "}" nest anywhere in it (so an element
 * with a "{" left open runs to the end of the value). Its start, its
 * length in *len, *s moved past it; NULL when there is none left. */
const char *pc_list_next(const char **s, size_t *len);

/* Why Postfix cannot parse a list, NULL when it can: "an unbalanced
 * '{' (Postfix warns "missing '}'")" when an element leaves a "{" open,
 * "text after its '}' (...)" when a "{ ... }" element goes on after
 * its "}" (static strings). *elem (if elem is not NULL) is then
 * that element, malloc'd. A value with such an element must be left
 * to the admin: what it lists is not what we would read. */
const char *pc_list_brace_error(const char *value, char **elem);

/* The names of the elements of a Postfix list (see above); groups:
 * "{ ... }" is a group (smtpd_milters) and elements are split as
 * pc_list_next() does, else a "{" is part of a word and only white
 * space and commas split (milter_*_macros: "{daemon_port}"). Check
 * pc_list_brace_error() first: the names of a list Postfix cannot
 * parse are meaningless. */
void pc_list_words(const char *value, bool groups, struct cfg_strlist *out);

void pc_strlist_free(struct cfg_strlist *l);

/* text quoted for a POSIX shell when it needs it (for messages that
 * show a command to run); malloc'd. */
char *pc_shell_quote(const char *text);

#endif
