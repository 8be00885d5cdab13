/*
 * swapsock - an LD_PRELOAD library for tests/milter/runas.sh: plays the
 * -u user who wins the race of issue 9 item 1 every time.
 *
 * When PM_SWAP_VICTIM is set, every successful bind() of a unix socket
 * is followed at once by what that user would do in a directory it can
 * write: the new socket is renamed to PATH.moved and PATH becomes a
 * symlink to $PM_SWAP_VICTIM. A daemon that then chown()s PATH gives the
 * victim away; one that never operates on PATH as root does not.
 * (Deterministic: no inotify, no timing.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const char *victim = getenv("PM_SWAP_VICTIM");
	int r;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bind");
	r = real(fd, sa, len);
	if (r == 0 && victim != NULL && sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
		char moved[sizeof(un->sun_path) + 8];

		snprintf(moved, sizeof(moved), "%s.moved", un->sun_path);
		if (rename(un->sun_path, moved) != 0 || symlink(victim, un->sun_path) != 0)
			perror("swapsock");
	}
	return r;
}
