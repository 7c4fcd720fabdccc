/* A bounded little-endian reader over untrusted bytes, shared by the event
 * log's parsers: every read fails rather than run past the end, and an
 * offset never exceeds the length. Internal to src/eventlog. */
#ifndef A11_EVENTLOG_RD_H
#define A11_EVENTLOG_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t len, off;
};

static inline bool rd_bytes(struct rd *r, uint64_t n, const uint8_t **at)
{
	if (r->off > r->len || n > r->len - r->off)
		return false;
	*at = r->p + r->off;
	r->off += (size_t)n;
	return true;
}

static inline bool rd_u8(struct rd *r, uint8_t *v)
{
	const uint8_t *b;

	if (!rd_bytes(r, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static inline bool rd_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *b;

	if (!rd_bytes(r, 2, &b))
		return false;
	*v = (uint16_t)(b[0] | b[1] << 8);
	return true;
}

static inline bool rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *b;

	if (!rd_bytes(r, 4, &b))
		return false;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

/* A UINT32 or UINT64 (UEFI UINTN, or a fixed UINT64 with size 8). */
static inline bool rd_uint(struct rd *r, unsigned size, uint64_t *v)
{
	const uint8_t *b;

	if ((size != 4 && size != 8) || !rd_bytes(r, size, &b))
		return false;
	*v = 0;
	for (unsigned i = size; i-- > 0;)
		*v = *v << 8 | b[i];
	return true;
}

#endif
