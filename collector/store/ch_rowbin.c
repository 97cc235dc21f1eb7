/* ch_rowbin.c - RowBinary writing and reading (see ch_rowbin.h). Errors are sticky
 * flags, checked once per buffer or row, so that row code reads like the schema. */
#include <stdlib.h>
#include <string.h>

#include "ch_rowbin.h"
#include "grow.h"

void ch_out_reset(struct ch_out *o)
{
	o->len = 0;
	o->failed = false;
}

void ch_out_fini(struct ch_out *o)
{
	free(o->p);
	memset(o, 0, sizeof(*o));
}

void ch_put_bytes(struct ch_out *o, const void *p, size_t n)
{
	if (o->failed)
		return;
	if (grow_reserve((void **)&o->p, &o->cap, o->len + n, 1, 64 * 1024) < 0) {
		o->failed = true;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void ch_put_le(struct ch_out *o, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ch_put_bytes(o, b, n);
}

void ch_put_u8(struct ch_out *o, uint8_t v)
{
	ch_put_le(o, v, 1);
}

void ch_put_u16(struct ch_out *o, uint16_t v)
{
	ch_put_le(o, v, 2);
}

void ch_put_u32(struct ch_out *o, uint32_t v)
{
	ch_put_le(o, v, 4);
}

void ch_put_u64(struct ch_out *o, uint64_t v)
{
	ch_put_le(o, v, 8);
}

void ch_put_varint(struct ch_out *o, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	ch_put_bytes(o, b, n);
}

void ch_put_str(struct ch_out *o, const char *s)
{
	size_t n = strlen(s);

	ch_put_varint(o, n);
	ch_put_bytes(o, s, n);
}

void ch_in_init(struct ch_in *in, const uint8_t *p, size_t len)
{
	in->p = p;
	in->left = len;
	in->failed = false;
}

void ch_get_bytes(struct ch_in *in, void *out, size_t n)
{
	if (in->failed || in->left < n) {
		in->failed = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
}

static uint64_t ch_get_le(struct ch_in *in, size_t n)
{
	uint8_t b[8];
	uint64_t v = 0;

	ch_get_bytes(in, b, n);
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

uint8_t ch_get_u8(struct ch_in *in)
{
	return (uint8_t)ch_get_le(in, 1);
}

uint16_t ch_get_u16(struct ch_in *in)
{
	return (uint16_t)ch_get_le(in, 2);
}

uint32_t ch_get_u32(struct ch_in *in)
{
	return (uint32_t)ch_get_le(in, 4);
}

uint64_t ch_get_u64(struct ch_in *in)
{
	return ch_get_le(in, 8);
}

uint64_t ch_get_varint(struct ch_in *in)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b = ch_get_u8(in);

		if (in->failed)
			return 0;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	in->failed = true; /* more than 10 bytes: not a varint */
	return 0;
}

void ch_get_str(struct ch_in *in, char *buf, size_t size)
{
	uint64_t n = ch_get_varint(in);

	buf[0] = '\0';
	if (in->failed || n >= size || n > in->left) {
		in->failed = true;
		return;
	}
	memcpy(buf, in->p, n);
	buf[n] = '\0';
	if (memchr(buf, '\0', n))
		in->failed = true;
	in->p += n;
	in->left -= n;
}
