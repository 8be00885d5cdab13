/*
 * uuid - name-based UUIDs (RFC 9562 / RFC 4122 version 5): the SHA-1
 * of a namespace UUID followed by a name, with the version and variant
 * bits set. The same namespace and name always give the same UUID, so
 * a generated file is the same every time it is generated. SHA-1 only
 * derives identifiers here (nothing needs collision resistance).
 */
#ifndef PM_UUID_H
#define PM_UUID_H

#include <stddef.h>

#define PC_UUID_TEXT	37	/* "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" + NUL */

/* The version 5 UUID of name in namespace ns (16 bytes, network
 * order), written in upper case as Apple's tools do. Exits (msg_fatal)
 * if OpenSSL cannot compute a SHA-1. */
void pc_uuid5(const unsigned char ns[16], const char *name,
	      char out[PC_UUID_TEXT]);

#endif
