/*
 * runas - root's start-up work for the -u user. See runas.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "runas.h"
#include "util.h"

#define MAX_GROUPS	256
#define MAX_LINKS	40		/* as the kernel's ELOOP limit */

static char *user;
static uid_t user_uid;
static gid_t user_gid;
static gid_t user_groups[MAX_GROUPS];
static int user_ngroups;
static gid_t root_groups[MAX_GROUPS];
static int root_ngroups;
static gid_t root_gid;

void runas_init(const char *name)
{
	struct passwd *pw;

	if (geteuid() != 0)
		msg_fatal("-u %s needs root privileges", name);
	if ((pw = getpwnam(name)) == NULL)
		msg_fatal("unknown user \"%s\"", name);
	user = xstrdup(name);
	user_uid = pw->pw_uid;
	user_gid = pw->pw_gid;
	user_ngroups = MAX_GROUPS;
	if (getgrouplist(name, user_gid, user_groups, &user_ngroups) < 0)
		msg_fatal("user %s: more than %d groups", name, MAX_GROUPS);
	root_gid = getegid();
	if ((root_ngroups = getgroups(MAX_GROUPS, root_groups)) < 0)
		msg_fatal("getgroups: %s", strerror(errno));
}

const char *runas_name(void)
{
	return user;
}

uid_t runas_uid(void)
{
	return user_uid;
}

gid_t runas_gid(void)
{
	return user_gid;
}

void runas_user(void)
{
	if (setgroups((size_t)user_ngroups, user_groups) != 0 || setegid(user_gid) != 0 ||
	    seteuid(user_uid) != 0)
		msg_fatal("cannot act as %s: %s", user, strerror(errno));
}

void runas_root(void)
{
	if (seteuid(0) != 0 || setegid(root_gid) != 0 ||
	    setgroups((size_t)root_ngroups, root_groups) != 0)
		msg_fatal("cannot act as root again: %s", strerror(errno));
}

bool runas_can_create(const char *dir)
{
	bool ok;

	runas_user();
	ok = faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
	runas_root();
	return ok;
}

static bool in_groups(gid_t gid)
{
	for (int i = 0; i < user_ngroups; i++)
		if (user_groups[i] == gid)
			return true;
	return false;
}

/* Can the user change what the name of entry (NULL: a name root will
 * create) in directory d refers to? */
static bool changeable(const struct stat *d, const struct stat *entry)
{
	bool writable = (d->st_mode & S_IWOTH) ||
			((d->st_mode & S_IWGRP) && in_groups(d->st_gid));

	if (d->st_uid == user_uid)
		return true;
	if (!writable)
		return false;
	if (d->st_mode & S_ISVTX)
		return entry != NULL && entry->st_uid == user_uid;
	return true;
}

/* Walk path from directory fd at (or "/"), checking every directory it
 * leaves by a name; returns an O_PATH descriptor of the directory it
 * names, or -1 with why set. Consumes nothing: at stays open. */
static int walk(int at, const char *path, int depth, char *why, size_t whylen)
{
	char *copy = xstrdup(path), *name, *save = NULL;
	int fd = path[0] == '/' ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) :
		 at == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) :
		 fcntl(at, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
	for (name = strtok_r(copy, "/", &save); fd >= 0 && name;
	     name = strtok_r(NULL, "/", &save)) {
		struct stat dst, est;
		int next = -1;

		if (strcmp(name, ".") == 0)
			continue;
		if (fstat(fd, &dst) != 0 || fstatat(fd, name, &est, AT_SYMLINK_NOFOLLOW) != 0) {
			snprintf(why, whylen, "%s: %s", path, strerror(errno));
		} else if (changeable(&dst, &est)) {
			snprintf(why, whylen, "the way to %s goes through a directory "
				 "%s can change (owner uid %ld, mode %04o), at \"%s\"",
				 path, user, (long)dst.st_uid,
				 (unsigned)(dst.st_mode & 07777), name);
		} else if (S_ISLNK(est.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(fd, name, target, sizeof(target) - 1);

			if (n < 0 || depth >= MAX_LINKS) {
				snprintf(why, whylen, "%s: %s", path,
					 n < 0 ? strerror(errno) : "too many symlinks");
			} else {
				target[n] = '\0';
				next = walk(fd, target, depth + 1, why, whylen);
			}
		} else if (!S_ISDIR(est.st_mode)) {
			snprintf(why, whylen, "%s: %s", path, strerror(ENOTDIR));
		} else if ((next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC)) < 0) {
			snprintf(why, whylen, "%s: %s", path, strerror(errno));
		}
		close(fd);
		fd = next;
	}
	free(copy);
	return fd;
}

bool runas_dir_fixed(const char *dir, char *why, size_t whylen)
{
	int fd = walk(AT_FDCWD, dir, 0, why, whylen);
	struct stat st;
	bool ok = false;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0)
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
	else if (changeable(&st, NULL))
		snprintf(why, whylen, "%s can be changed by %s (owner uid %ld, mode %04o)",
			 dir, user, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
	else
		ok = true;
	close(fd);
	return ok;
}

void runas_drop(void)
{
	if (setgroups((size_t)user_ngroups, user_groups) != 0 || setgid(user_gid) != 0 ||
	    setuid(user_uid) != 0)
		msg_fatal("cannot drop privileges to %s: %s", user, strerror(errno));
	if (setuid(0) == 0)
		msg_fatal("privileges not dropped: setuid(0) still works");
}
