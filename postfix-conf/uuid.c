/*
 * uuid - name-based UUIDs. See uuid.h. The SHA-1 is OpenSSL's (a
 * dependency of the product already: portmilter-probe's TLS).
 */
#include <string.h>

#include <openssl/evp.h>

#include "msg.h"
#include "uuid.h"

void pc_uuid5(const unsigned char ns[16], const char *name,
	      char out[PC_UUID_TEXT])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t o = 0;

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(c, ns, 16) != 1 ||
	    EVP_DigestUpdate(c, name, strlen(name)) != 1 ||
	    EVP_DigestFinal_ex(c, md, &mdlen) != 1 || mdlen < 16)
		msg_fatal("uuid: SHA-1 failed (OpenSSL)");
	EVP_MD_CTX_free(c);
	md[6] = (unsigned char) ((md[6] & 0x0f) | 0x50);	/* version 5 */
	md[8] = (unsigned char) ((md[8] & 0x3f) | 0x80);	/* RFC variant */
	for (unsigned i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0x0f];
	}
	out[o] = '\0';
}
