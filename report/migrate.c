/*
 * migrate - apply sql/NNN_*.sql in order. See report.h.
 *
 * A migration file is trusted administrator SQL shipped with the package
 * (or chosen with --sql-dir), like `psql -f`: it is the one text sent
 * with PQexec (several statements, no parameters). Each file runs in its
 * own transaction and must record its version in schema_version (the
 * shipped files do so, and are no-ops when already applied, so that a
 * concurrent or repeated run is harmless); a file that does not is
 * rolled back and reported.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

#define MIGRATE_FILE_MAX (4L * 1024 * 1024)

struct migration {
	long version;
	char *name;
};

/* "NNN_words.sql" (words: letters, digits, '_', '-'); version NNN > 0. */
static bool migrate_name(const char *name, long *version)
{
	size_t len = strlen(name);

	if (len < 9 || strcmp(name + len - 4, ".sql") != 0 || name[3] != '_')
		return false;
	for (size_t i = 0; i < 3; i++)
		if (!isdigit((unsigned char)name[i]))
			return false;
	for (size_t i = 4; i < len - 4; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
			return false;
	*version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
	return *version > 0;
}

static int migrate_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static void migrate_free(struct migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

/* The migration files of dir, sorted; at least one, no version twice. */
static bool migrate_list(const char *dir, struct migration **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct migration *m = NULL;
	long version;

	*n = 0;
	if (d == NULL) {
		report_error("cannot read the migrations directory %s: %s", dir, strerror(errno));
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (!migrate_name(e->d_name, &version))
			continue;
		m = xrealloc(m, (*n + 1) * sizeof(*m));
		m[*n].version = version;
		m[(*n)++].name = xstrdup(e->d_name);
	}
	closedir(d);
	if (*n == 0) {
		report_error("no NNN_*.sql migration files in %s", dir);
		free(m);
		return false;
	}
	qsort(m, *n, sizeof(*m), migrate_cmp);
	for (size_t i = 1; i < *n; i++) {
		if (m[i].version == m[i - 1].version) {
			report_error("%s: two migrations with version %03ld: %s and %s",
				     dir, m[i].version, m[i - 1].name, m[i].name);
			migrate_free(m, *n);
			return false;
		}
	}
	*out = m;
	return true;
}

/* The whole file as a string; no NUL bytes, at most MIGRATE_FILE_MAX. */
static char *migrate_read(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *text;
	size_t len;

	if (fp == NULL) {
		report_error("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	text = xmalloc(MIGRATE_FILE_MAX + 1);
	len = fread(text, 1, MIGRATE_FILE_MAX + 1, fp);
	if (ferror(fp) || len > MIGRATE_FILE_MAX || memchr(text, '\0', len) != NULL) {
		report_error("%s: %s", path, ferror(fp) ? strerror(errno) :
			     len > MIGRATE_FILE_MAX ? "file too large" : "contains NUL bytes");
		fclose(fp);
		free(text);
		return NULL;
	}
	fclose(fp);
	text[len] = '\0';
	return text;
}

/* Is this version recorded? A missing schema means no. false = error. */
static bool migrate_applied(PGconn *conn, long version, bool *applied)
{
	char state[6], msg[1024], vtext[24];
	const char *params[1] = {vtext};
	PGresult *r;

	snprintf(vtext, sizeof(vtext), "%ld", version);
	r = db_query_quiet(conn, "SELECT 1 FROM portmilter.schema_version "
			   "WHERE version = $1::integer", 1, params, state, msg, sizeof(msg));
	if (r == NULL) {
		if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0) {
			*applied = false;
			return true;
		}
		report_error("cannot read portmilter.schema_version: %s", msg);
		return false;
	}
	*applied = PQntuples(r) > 0;
	PQclear(r);
	return true;
}

/* A schema newer than the newest migration here is not ours to touch:
 * false (reported). A missing schema is fine. */
static bool migrate_not_newer(PGconn *conn, long newest, const char *sql_dir)
{
	char state[6], msg[1024];
	PGresult *r = db_query_quiet(conn, "SELECT pg_catalog.max(version) FROM "
				     "portmilter.schema_version", 0, NULL, state,
				     msg, sizeof(msg));
	long version = 0;

	if (r == NULL) {
		if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0)
			return true;
		report_error("cannot read portmilter.schema_version: %s", msg);
		return false;
	}
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		(void) str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &version);
	PQclear(r);
	if (version > newest) {
		report_error("database schema %ld is newer than the migrations in "
			     "%s (%ld): upgrade portmilter", version, sql_dir, newest);
		return false;
	}
	return true;
}

static bool migrate_exec(PGconn *conn, const char *text, const char *name)
{
	PGresult *r = PQexec(conn, text);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		char *msg = xstrdup(r && *PQresultErrorMessage(r) ?
				    PQresultErrorMessage(r) : PQerrorMessage(conn));

		msg[strcspn(msg, "\n")] = '\0';
		report_error("migration %s failed%s%s%s: %s", name, state ? " (SQLSTATE " : "",
			     state ? state : "", state ? ")" : "", msg);
		free(msg);
	}
	PQclear(r);
	return ok;
}

/* One file in one transaction. */
static bool migrate_one(PGconn *conn, const char *dir, const struct migration *m)
{
	size_t plen = strlen(dir) + strlen(m->name) + 2;
	char *path = xmalloc(plen), *text;
	bool ok = false, applied = false;
	PGresult *r;

	snprintf(path, plen, "%s/%s", dir, m->name);
	text = migrate_read(path);
	free(path);
	if (text == NULL)
		return false;
	if ((r = db_query(conn, "BEGIN", 0, NULL)) == NULL) {
		free(text);
		return false;
	}
	PQclear(r);
	r = NULL;
	if (migrate_exec(conn, text, m->name) && migrate_applied(conn, m->version, &applied)) {
		if (!applied)
			report_error("migration %s did not record version %ld in "
				     "portmilter.schema_version: rolled back", m->name, m->version);
		else if ((r = db_query(conn, "COMMIT", 0, NULL)) != NULL)
			ok = true;
		PQclear(r);
	}
	free(text);
	if (!ok) {
		char state[6], msg[256];

		PQclear(db_query_quiet(conn, "ROLLBACK", 0, NULL, state, msg, sizeof(msg)));
	}
	return ok;
}

/* ensure_partitions(), printing what it created. */
static bool migrate_partitions(PGconn *conn, FILE *fp)
{
	PGresult *r = db_query(conn, "SELECT p FROM portmilter.ensure_partitions() AS p",
			       0, NULL);

	if (r == NULL)
		return false;
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(fp, "created partition portmilter.%s\n", PQgetvalue(r, i, 0));
	PQclear(r);
	return true;
}

bool migrate_run(PGconn *conn, const char *sql_dir, FILE *fp)
{
	struct migration *m;
	size_t n, done = 0;
	bool ok = true;

	if (!migrate_list(sql_dir, &m, &n))
		return false;
	if (!migrate_not_newer(conn, m[n - 1].version, sql_dir)) {
		migrate_free(m, n);
		return false;
	}
	for (size_t i = 0; i < n && ok; i++) {
		bool applied;

		ok = migrate_applied(conn, m[i].version, &applied);
		if (!ok || applied)
			continue;
		ok = migrate_one(conn, sql_dir, &m[i]);
		if (ok) {
			fprintf(fp, "applied %s\n", m[i].name);
			done++;
		}
	}
	if (ok)
		ok = migrate_partitions(conn, fp);
	if (ok && done == 0)
		fprintf(fp, "schema is up to date (version %ld)\n", m[n - 1].version);
	else if (ok)
		fprintf(fp, "schema is at version %ld\n", m[n - 1].version);
	migrate_free(m, n);
	return ok;
}
