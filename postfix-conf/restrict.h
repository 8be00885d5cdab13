/*
 * restrict - smtpd restriction lists as properties, not strings: what
 * portmilter needs from a list is checked and, when missing, added to
 * the admin's list without dropping any of its elements.
 *
 * A list is split as Postfix does (elements separated by commas and/or
 * white space outside braces; "{ ... }" is one element: text.h,
 * pc_list_next()). Guards:
 *   PC_GUARD_AUTH  (a port that requires AUTH: client, helo, relay,
 *       recipient restrictions): holds when the list has
 *       permit_sasl_authenticated, ends in reject, and has no bare
 *       "permit". Missing pieces: permit_sasl_authenticated is inserted
 *       before the first reject / reject_unauth_destination /
 *       defer_unauth_destination (else appended), reject appended.
 *   PC_GUARD_MX    (an mx port's relay restrictions): holds when the
 *       list has reject_unauth_destination, no defer_unauth_destination
 *       and no bare "permit" before it. defer_unauth_destination becomes
 *       reject_unauth_destination (554, not 454), else it is appended.
 * A bare "permit" is a conflict: only force drops it (pc_restr_merge
 * returns false without force).
 *
 * A list Postfix cannot parse (pc_list_brace_error(): a "{" left
 * open, text after a group's "}") holds no guard and is never merged:
 * pc_restr_ok is false, pc_restr_merge returns false and *why names
 * the element (an element running to the end of the value would
 * swallow whatever a merge appends, at every run).
 *
 * The merged value is written with commas only (postconf -P refuses
 * white space); an element holding white space ("{ ... }" with blanks)
 * cannot be written: pc_restr_merge returns false, *why says so.
 */
#ifndef PM_RESTRICT_H
#define PM_RESTRICT_H

#include <stdbool.h>

enum pc_guard {
	PC_GUARD_AUTH,
	PC_GUARD_MX,
};

/* Does value (already $name-expanded or not) satisfy the guard? */
bool pc_restr_ok(enum pc_guard guard, const char *value);

/* The admin's value with what the guard needs added. true: *out (the
 * merged list), *added (what was added or changed, "" if nothing) and
 * *dropped (what force dropped, "") are malloc'd. false: *why (malloc'd)
 * says what blocks the merge ("permit" without force, white space). */
bool pc_restr_merge(enum pc_guard guard, const char *value, bool force,
		    char **out, char **added, char **dropped, char **why);

/* The guard's elements, as a new list gets them ("permit_sasl_..."). */
const char *pc_restr_default(enum pc_guard guard);

#endif
