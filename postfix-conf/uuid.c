/*
 * uuid - SHA-1 and name-based UUIDs. See uuid.h.
 */
#include <stdint.h>
#include <string.h>

#include "uuid.h"

struct pc_sha1_ctx {
	uint32_t h[5];
	uint64_t bytes;			/* message length so far */
	unsigned char block[64];
	size_t used;			/* bytes in block */
};

static uint32_t rotl(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_init(struct pc_sha1_ctx *c)
{
	static const uint32_t h0[5] = { 0x67452301, 0xefcdab89, 0x98badcfe,
					0x10325476, 0xc3d2e1f0 };

	memcpy(c->h, h0, sizeof(h0));
	c->bytes = 0;
	c->used = 0;
}

/* One 512-bit block (FIPS 180-4, 6.1.2). */
static void sha1_block(struct pc_sha1_ctx *c, const unsigned char *p)
{
	uint32_t w[80], a, b, d, e, f, k, t, cc;

	for (unsigned i = 0; i < 16; i++)
		w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
		       (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
	for (unsigned i = 16; i < 80; i++)
		w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
	for (unsigned i = 0; i < 80; i++) {
		if (i < 20)
			f = (b & cc) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ cc ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & cc) | (b & d) | (cc & d), k = 0x8f1bbcdc;
		else
			f = b ^ cc ^ d, k = 0xca62c1d6;
		t = rotl(a, 5) + f + e + k + w[i];
		e = d, d = cc, cc = rotl(b, 30), b = a, a = t;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e;
}

static void sha1_update(struct pc_sha1_ctx *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t n;

	c->bytes += len;
	while (len > 0) {
		n = sizeof(c->block) - c->used;
		if (n > len)
			n = len;
		memcpy(c->block + c->used, p, n);
		c->used += n, p += n, len -= n;
		if (c->used == sizeof(c->block)) {
			sha1_block(c, c->block);
			c->used = 0;
		}
	}
}

/* Padding: 0x80, zeros, the length in bits (big endian, 64 bits). */
static void sha1_final(struct pc_sha1_ctx *c, unsigned char out[PC_SHA1_LEN])
{
	uint64_t bits = c->bytes * 8;
	unsigned char len[8];

	c->block[c->used++] = 0x80;
	if (c->used > 56) {
		memset(c->block + c->used, 0, sizeof(c->block) - c->used);
		sha1_block(c, c->block);
		c->used = 0;
	}
	memset(c->block + c->used, 0, 56 - c->used);
	for (unsigned i = 0; i < 8; i++)
		len[i] = (unsigned char) (bits >> (56 - 8 * i));
	memcpy(c->block + 56, len, 8);
	sha1_block(c, c->block);
	for (unsigned i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char) (c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char) (c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char) (c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char) c->h[i];
	}
}

void pc_sha1(const void *data, size_t len, unsigned char out[PC_SHA1_LEN])
{
	struct pc_sha1_ctx c;

	sha1_init(&c);
	sha1_update(&c, data, len);
	sha1_final(&c, out);
}

void pc_uuid5(const unsigned char ns[16], const char *name,
	      char out[PC_UUID_TEXT])
{
	static const char hex[] = "0123456789ABCDEF";
	struct pc_sha1_ctx c;
	unsigned char md[PC_SHA1_LEN];
	size_t o = 0;

	sha1_init(&c);
	sha1_update(&c, ns, 16);
	sha1_update(&c, name, strlen(name));
	sha1_final(&c, md);
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
