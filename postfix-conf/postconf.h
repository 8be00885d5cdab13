/*
 * postconf - run Postfix's postconf(1) on one configuration directory
 * and read the live configuration from what it prints.
 *
 * postconf runs by fork/exec with an argument vector (never through a
 * shell): PROG -c DIR ARGS... with stdin from /dev/null; its stdout and
 * stderr are captured. A failure (cannot run, killed, exit status not
 * 0) is reported with postconf's own stderr in the message.
 *
 * The live configuration (pc_live_read):
 *   fields     postconf -F: "name/type/field = value" of every service
 *   overrides  postconf -P: "name/type/param = value" (the -o options)
 *   overrides_x  postconf -Px: the same with "$name" expanded
 *   explicit   postconf -n: what main.cf sets
 *   raw        postconf PARAM...: current values, defaults included,
 *              "$name" left as written
 *   expanded   postconf -x PARAM...: the same with "$name" expanded
 *   queue_dir  postconf -xh queue_directory
 */
#ifndef PM_POSTCONF_H
#define PM_POSTCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "text.h"

#define PC_DEFAULT_POSTCONF "/usr/sbin/postconf"
#define PC_DEFAULT_POSTFIX_DIR "/etc/postfix"

struct pc_postconf {
	const char *prog;	/* postconf(1) */
	const char *dir;	/* Postfix configuration directory */
};

/* Run "prog -c dir args..."; true on exit status 0. *out (if out is
 * not NULL) gets stdout; on failure *err gets a message. Both malloc'd. */
bool pc_postconf_run(const struct pc_postconf *pc, const char *const *args,
		     size_t nargs, char **out, char **err);

/* Does dir look like a Postfix configuration directory (main.cf and
 * master.cf)? false with the reason in *err. */
bool pc_postfix_dir_ok(const char *dir, char **err);

struct pc_live {
	struct pc_kvlist fields;
	struct pc_kvlist overrides;
	struct pc_kvlist overrides_x;
	struct pc_kvlist explicit;
	struct pc_kvlist raw;
	struct pc_kvlist expanded;
	char *queue_dir;
};

/* Read the live configuration; params = the main.cf parameters wanted
 * in raw and expanded. */
bool pc_live_read(const struct pc_postconf *pc, const char *const *params,
		  size_t nparams, struct pc_live *live, char **err);
void pc_live_free(struct pc_live *live);

/*
 * A copy of DIR/main.cf and DIR/master.cf taken before apply changes
 * them, so that a failure part way leaves neither half-changed.
 * pc_snap_restore() puts back each file whose content differs (a
 * temporary file in DIR with the original's mode, owner and times,
 * renamed over it); false with *err when it could not.
 */
struct pc_snap {
	char *path[2];
	char *data[2];
	size_t len[2];
	struct stat st[2];
};

bool pc_snap_take(const char *dir, struct pc_snap *snap, char **err);
bool pc_snap_restore(const struct pc_snap *snap, char **err);
void pc_snap_free(struct pc_snap *snap);

/* Just queue_directory (the chroot), for the master and main commands. */
char *pc_queue_dir(const struct pc_postconf *pc, char **err);

#endif
