/*
 * crc32c - CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * journal's record checksum.
 *
 * crc32c(crc, buf, len) continues crc over len more bytes (start with
 * 0): crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b; the
 * check value of "123456789" is 0xe3069283.
 *
 * crc32c_shift(crc, n) is the linear map "followed by n bytes": for any
 * byte strings A and B, crc32c of A || B == crc32c_shift(crc32c of A,
 * |B|) ^ crc32c of B (zlib's crc32_combine(), by GF(2) multiplication
 * with x^(8n) mod P). n < 2^24; a few hundred operations, whatever n.
 * So the CRC of any slice of a buffer comes from two prefix CRCs in
 * constant time (the journal's resync scan relies on it).
 *
 * Both are thread-safe (tables built once) and cannot fail.
 */
#ifndef PM_CRC32C_H
#define PM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_shift(uint32_t crc, uint32_t n);

#endif
