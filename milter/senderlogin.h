/*
 * senderlogin - does an authenticated user own the envelope sender?
 * (sender_login, per port). Pure: no libmilter, no I/O, no allocation.
 *
 *   exact   the sender is the login
 *   domain  the sender's domain is the login's (a login without '@'
 *           owns nothing)
 *   map     the sender_login_map lists the login among the owners of the
 *           sender, or, when the sender itself is not listed, of its
 *           @domain (Postfix's smtpd_sender_login_maps lookup order); an
 *           address listed nowhere is owned by nobody
 * Comparisons ignore ASCII case and one trailing dot of the domain. The
 * null sender (<>, bounces) is always allowed; a sender-routed address
 * (policy_addr_is_routed) or one longer than 512 bytes never is.
 */
#ifndef PM_SENDERLOGIN_H
#define PM_SENDERLOGIN_H

#include <stdbool.h>

#include "cfg.h"

/* sender: the MAIL FROM argument as sent ("<a@b>" or bare). */
bool senderlogin_owned(const struct cfg *cfg, enum cfg_sender_login mode,
		       const char *login, const char *sender);

#endif
