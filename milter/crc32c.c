/*
 * crc32c - CRC-32C and its "followed by n bytes" shift. See crc32c.h.
 */
#include <pthread.h>

#include "crc32c.h"

#define CRC_POLY	0x82f63b78u	/* CRC-32C, reflected */

/* A 256-entry table: one step per byte. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC_POLY : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The shift: x8n_table[k][v] = x^(8 * v * 256^k) mod P, so x^(8n) is
 * the product of one entry per byte of n. */
static uint32_t x8n_table[3][256];
static pthread_once_t x8n_once = PTHREAD_ONCE_INIT;

/* a(x) * b(x) mod P(x), reflected (bit 31 is x^0): zlib's multmodp(). */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC_POLY : b >> 1;
	}
	return p;
}

static void x8n_init(void)
{
	uint32_t step = 1u << 23;	/* x^8: one zero byte */

	for (int k = 0; k < 3; k++) {
		x8n_table[k][0] = 1u << 31;	/* x^0 */
		for (int v = 1; v < 256; v++)
			x8n_table[k][v] = multmodp(x8n_table[k][v - 1], step);
		/* x^(8 * 256^(k+1)) = (x^(8 * 255 * 256^k)) * x^(8 * 256^k) */
		step = multmodp(x8n_table[k][255], step);
	}
}

uint32_t crc32c_shift(uint32_t crc, uint32_t n)
{
	uint32_t op;

	pthread_once(&x8n_once, x8n_init);
	op = multmodp(x8n_table[0][n & 0xff], x8n_table[1][(n >> 8) & 0xff]);
	op = multmodp(op, x8n_table[2][(n >> 16) & 0xff]);
	return multmodp(op, crc);
}
