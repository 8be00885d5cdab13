/*
 * restrict - restriction lists checked as properties. See restrict.h.
 */
#include <stdlib.h>
#include <string.h>

#include "restrict.h"
#include "text.h"
#include "util.h"

#define SEP	" \t\r\n,"
#define PSA	"permit_sasl_authenticated"
#define RUD	"reject_unauth_destination"
#define DUD	"defer_unauth_destination"

struct pc_elems {
	size_t n;
	char *v[256];
};

/* Split as Postfix does (pc_list_next()); false when there are more
 * than 256 elements. */
static bool pc_elems_split(const char *value, struct pc_elems *e)
{
	const char *s = value, *w;
	size_t len;

	e->n = 0;
	while ((w = pc_list_next(&s, &len)) != NULL) {
		if (e->n == sizeof(e->v) / sizeof(*e->v))
			return false;
		e->v[e->n++] = xstrndup(w, len);
	}
	return true;
}

static void pc_elems_free(struct pc_elems *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

static size_t pc_elems_find(const struct pc_elems *e, const char *word)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i], word) == 0)
			return i;
	return e->n;
}

static void pc_elems_insert(struct pc_elems *e, size_t at, const char *word)
{
	if (e->n == sizeof(e->v) / sizeof(*e->v))
		msg_fatal("restriction list of more than 256 elements");
	memmove(e->v + at + 1, e->v + at, (e->n - at) * sizeof(*e->v));
	e->v[at] = xstrdup(word);
	e->n++;
}

static bool pc_elems_ok(enum pc_guard guard, const struct pc_elems *e)
{
	size_t permit = pc_elems_find(e, "permit");

	if (guard == PC_GUARD_AUTH)
		return permit == e->n && pc_elems_find(e, PSA) < e->n &&
		       e->n > 0 && strcmp(e->v[e->n - 1], "reject") == 0;
	return pc_elems_find(e, DUD) == e->n && pc_elems_find(e, RUD) < e->n &&
	       permit > pc_elems_find(e, RUD);
}

bool pc_restr_ok(enum pc_guard guard, const char *value)
{
	struct pc_elems e;
	bool ok;

	if (pc_list_brace_error(value, NULL) != NULL)
		return false;
	ok = pc_elems_split(value, &e) && pc_elems_ok(guard, &e);

	pc_elems_free(&e);
	return ok;
}

const char *pc_restr_default(enum pc_guard guard)
{
	return guard == PC_GUARD_AUTH ? PSA ",reject" :
	       "permit_mynetworks," PSA "," RUD;
}

/* Append word to a comma list held in *list. */
static void pc_note(char **list, const char *word)
{
	char *t = pc_strf("%s%s%s", *list, (*list)[0] ? "," : "", word);

	free(*list);
	*list = t;
}

static void pc_merge_auth(struct pc_elems *e, char **added)
{
	size_t at = e->n;

	if (pc_elems_find(e, PSA) == e->n) {
		for (size_t i = 0; i < e->n && at == e->n; i++)
			if (strcmp(e->v[i], "reject") == 0 ||
			    strcmp(e->v[i], RUD) == 0 || strcmp(e->v[i], DUD) == 0)
				at = i;
		pc_elems_insert(e, at, PSA);
		pc_note(added, PSA);
	}
	if (strcmp(e->v[e->n - 1], "reject") != 0) {
		pc_elems_insert(e, e->n, "reject");
		pc_note(added, "reject");
	}
}

static void pc_merge_mx(struct pc_elems *e, char **added)
{
	size_t i;

	while ((i = pc_elems_find(e, DUD)) < e->n) {
		free(e->v[i]);
		e->v[i] = xstrdup(RUD);
		pc_note(added, DUD " -> " RUD);
	}
	if (pc_elems_find(e, RUD) == e->n) {
		pc_elems_insert(e, e->n, RUD);
		pc_note(added, RUD);
	}
	/* One reject_unauth_destination is enough: drop later copies. */
	for (i = pc_elems_find(e, RUD) + 1; i < e->n;) {
		if (strcmp(e->v[i], RUD) == 0) {
			free(e->v[i]);
			memmove(e->v + i, e->v + i + 1, (e->n - i - 1) * sizeof(*e->v));
			e->n--;
		} else {
			i++;
		}
	}
}

bool pc_restr_merge(enum pc_guard guard, const char *value, bool force,
		    char **out, char **added, char **dropped, char **why)
{
	struct pc_elems e;
	size_t i;
	struct strbuf b = { 0 };
	const char *brace;
	char *elem;

	if ((brace = pc_list_brace_error(value, &elem)) != NULL) {
		*why = pc_strf("its element %s has %s: fix the braces by "
			       "hand", elem, brace);
		free(elem);
		return false;
	}
	if (!pc_elems_split(value, &e)) {
		pc_elems_free(&e);
		*why = pc_strf("more than 256 elements");
		return false;
	}
	*added = xstrdup("");
	*dropped = xstrdup("");
	while ((i = pc_elems_find(&e, "permit")) < e.n &&
	       (guard == PC_GUARD_AUTH || i < pc_elems_find(&e, RUD))) {
		if (!force) {
			*why = pc_strf("it has \"permit\"%s, which lets any "
				       "client through: --force drops it",
				       guard == PC_GUARD_AUTH ? "" :
				       " before " RUD);
			goto fail;
		}
		free(e.v[i]);
		memmove(e.v + i, e.v + i + 1, (e.n - i - 1) * sizeof(*e.v));
		e.n--;
		pc_note(dropped, "permit");
	}
	if (guard == PC_GUARD_AUTH)
		pc_merge_auth(&e, added);
	else
		pc_merge_mx(&e, added);
	for (i = 0; i < e.n; i++) {
		if (strpbrk(e.v[i], " \t\r\n") != NULL) {
			*why = pc_strf("its element %s holds white space, which "
				       "postconf -P cannot write: edit master.cf "
				       "by hand", e.v[i]);
			free(strbuf_take(&b));
			goto fail;
		}
		if (i > 0)
			strbuf_str(&b, ",");
		strbuf_str(&b, e.v[i]);
	}
	*out = strbuf_take(&b);
	pc_elems_free(&e);
	return true;
fail:
	free(*added);
	free(*dropped);
	*added = *dropped = NULL;
	pc_elems_free(&e);
	return false;
}
