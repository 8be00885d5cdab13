/*
 * sasl - what a port's AUTH depends on, checked. See sasl.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sasl.h"
#include "text.h"
#include "util.h"

/* Where Debian's smtpd has Cyrus SASL look with cyrus_sasl_config_path
 * empty: Debian's policy directory (not $config_directory/sasl: an
 * instance with its own directory still reads /etc/postfix/sasl, as
 * tests/debian/recipes.sh found), then the library's. */
#define PC_SASL_DEFAULT_PATH "/etc/postfix/sasl:/usr/lib/sasl2"

/* The value of "key:" in a Cyrus SASL .conf file ("" if absent). */
static void pc_sasl_conf_get(const char *file, const char *key, char *buf,
			     size_t len)
{
	FILE *fp = fopen(file, "r");
	char line[1024];
	size_t klen = strlen(key);

	buf[0] = '\0';
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *v = line + strspn(line, " \t");

		if (strncmp(v, key, klen) != 0 || v[klen] != ':')
			continue;
		v += klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, " \t\r\n")] = '\0';
		snprintf(buf, len, "%s", v);
	}
	fclose(fp);
}

static bool pc_sasl_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Cyrus: NAME.conf in one of the directories, else the library's
 * defaults (auxprop, sasldb in /etc/sasldb2); the sasldb it uses must
 * be where smtpd opens it: inside the chroot when chrooted. */
static char *pc_sasl_cyrus(const char *name, const char *config_path,
			   const char *queue_dir, bool chroot)
{
	const char *dirs = config_path[0] ? config_path : PC_SASL_DEFAULT_PATH;
	char *list = xstrdup(dirs), *save = NULL, *file = NULL, *conf, *in;
	char *why = NULL;
	char method[256] = "", plugin[256] = "", db[1024] = "";

	for (char *d = strtok_r(list, ":", &save); d && !file;
	     d = strtok_r(NULL, ":", &save)) {
		char *f = pc_strf("%s/%s.conf", d, name);

		if (pc_sasl_exists(f))
			file = f;
		else
			free(f);
	}
	free(list);
	if (file != NULL) {
		pc_sasl_conf_get(file, "pwcheck_method", method, sizeof(method));
		pc_sasl_conf_get(file, "auxprop_plugin", plugin, sizeof(plugin));
		pc_sasl_conf_get(file, "sasldb_path", db, sizeof(db));
		conf = pc_strf("%s uses sasldb", file);
	} else {
		conf = pc_strf("no %s.conf in %s%s, so Cyrus SASL's default sasldb",
			       name, dirs, config_path[0] ? "" :
			       " (cyrus_sasl_config_path is empty)");
	}
	if (db[0] == '\0')
		snprintf(db, sizeof(db), "/etc/sasldb2");
	if ((method[0] == '\0' || strcmp(method, "auxprop") == 0) &&
	    (plugin[0] == '\0' || strcmp(plugin, "sasldb") == 0) && db[0] == '/') {
		in = pc_strf("%s%s", chroot ? queue_dir : "", db);
		if (!pc_sasl_exists(in))
			why = pc_strf("smtpd_sasl_type = cyrus, %s %s, and "
				      "%s does not exist%s", conf, db, in, chroot ?
				      " (smtpd is chrooted: it opens the sasldb "
				      "inside the chroot)" : "");
		free(in);
	}
	free(conf);
	free(file);
	return why;
}

char *pc_sasl_problem(const char *type, const char *path,
		      const char *config_path, const char *queue_dir,
		      bool chroot)
{
	char *sock, *why = NULL;

	if (strcmp(type, "cyrus") == 0)
		return pc_sasl_cyrus(path[0] ? path : "smtpd", config_path,
				     queue_dir, chroot);
	if (strcmp(type, "dovecot") != 0 || strncmp(path, "inet:", 5) == 0)
		return NULL;
	if (path[0] == '\0')
		return pc_strf("smtpd_sasl_type = dovecot and smtpd_sasl_path "
			       "is empty");
	sock = path[0] != '/' ? pc_strf("%s/%s", queue_dir, path) :
	       chroot ? pc_strf("%s%s", queue_dir, path) : xstrdup(path);
	if (!pc_sasl_exists(sock))
		why = pc_strf("smtpd_sasl_type = dovecot and Dovecot's auth "
			      "socket %s (smtpd_sasl_path = %s) does not exist",
			      sock, path);
	free(sock);
	return why;
}
