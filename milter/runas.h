/*
 * runas - the start-up work root does for the -u user, done so that no
 * file operation as root follows a path that user can change.
 *
 * The user "can change" a directory when it owns it, or may write to it
 * (as owner, through its primary or a supplementary group, or as
 * anyone); in a sticky directory it owns nothing else's name, so a
 * sticky directory counts only for the names the user owns. Anything
 * reached through such a directory may be swapped for a symlink at any
 * moment. So root either acts with the user's identity (runas_user():
 * then it can reach nothing the user could not reach anyway), or acts
 * only where runas_dir_fixed() has checked that no directory on the way
 * can be changed by the user.
 *
 * Single-threaded start-up only: the effective ids are per process.
 *   runas_init(name)       looks the user up (fatal: unknown user, or
 *                          not root).
 *   runas_user()           effective uid, gid and groups become the
 *   runas_root()           user's / root's again (fatal on failure).
 *   runas_can_create(dir)  as the user: may it create names in dir?
 *   runas_dir_fixed(dir)   true when no directory met on the way to dir
 *                          (every component, symlinks followed and their
 *                          own ways checked too) can be changed by the
 *                          user; else false with the offending directory
 *                          in why.
 *   runas_drop()           drops root for good (fatal if setuid(0) still
 *                          works afterwards).
 *   runas_uid(), runas_gid()  the user's ids.
 */
#ifndef PM_RUNAS_H
#define PM_RUNAS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

void runas_init(const char *name);
const char *runas_name(void);
uid_t runas_uid(void);
gid_t runas_gid(void);
void runas_user(void);
void runas_root(void);
bool runas_can_create(const char *dir);
bool runas_dir_fixed(const char *dir, char *why, size_t whylen);
void runas_drop(void);

#endif
