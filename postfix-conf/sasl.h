/*
 * sasl - can Postfix's smtpd authenticate at all? A look at the SASL
 * setup a port with smtpd_sasl_auth_enable = yes depends on, as the
 * certificate note of plan.c does for TLS.
 *
 * pc_sasl_problem() returns NULL when it sees nothing wrong, else a
 * heap string saying what is missing (the caller frees it):
 *   - type "cyrus": the sasldb that smtpd will open is missing. The
 *     application's configuration file (smtpd_sasl_path + ".conf",
 *     normally smtpd.conf) is looked for in the directories of
 *     cyrus_sasl_config_path (colon-separated; empty: /etc/postfix/sasl
 *     and /usr/lib/sasl2, Debian's smtpd's); without one, Cyrus SASL's
 *     defaults apply (auxprop with sasldb). When it uses sasldb
 *     (auxprop_plugin sasldb or none named), its sasldb_path (default
 *     /etc/sasldb2) must exist, inside the chroot (queue_directory) for
 *     a chrooted smtpd, which opens it there. Other methods (saslauthd,
 *     other auxprop plugins) are not checked;
 *   - type "dovecot": the smtpd_sasl_path socket does not exist (a
 *     relative path is under queue_directory; an absolute one is inside
 *     the chroot when chrooted); "inet:" sockets are not checked;
 *   - any other type: not checked (NULL).
 * It only reads the file system (stat, the one .conf file); it never
 * fails otherwise.
 */
#ifndef PM_SASL_H
#define PM_SASL_H

#include <stdbool.h>

char *pc_sasl_problem(const char *type, const char *path,
		      const char *config_path, const char *queue_dir,
		      bool chroot);

#endif
