/* flowblock.c - one batch's records as one BLOB (flowblock.h). The encoder writes the
 * records first, then fills in the offsets; the reader fetches only the offsets and
 * bytes of the record it wants. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowblock.h"
#include "grow.h"

struct flowblock {
	uint8_t *buf;
	size_t len;
	size_t cap;
};

struct flowblock *flowblock_new(void)
{
	struct flowblock *b = calloc(1, sizeof(*b));

	if (!b)
		errno = ENOMEM;
	return b;
}

void flowblock_free(struct flowblock *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b);
}

static int fb_reserve(struct flowblock *b, size_t want)
{
	return grow_reserve((void **)&b->buf, &b->cap, want, 1, 4096);
}

static void fb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t fb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int flowblock_encode(struct flowblock *b, const struct wire_record *recs, size_t n)
{
	size_t head = FLOWBLOCK_HEADER_BYTES(n);
	size_t used = 0;
	int err;

	if (n > WIRE_MAX_RECORDS)
		return -EINVAL;
	b->len = 0;
	if (fb_reserve(b, head + n * 128))
		return -ENOMEM;
	fb_put32(b->buf, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (fb_reserve(b, head + used + WIRE_RECORD_MAX_BYTES))
			return -ENOMEM;
		err =
		    wire_encode_record(&recs[i], b->buf + head + used, WIRE_RECORD_MAX_BYTES, &len);
		if (err)
			return err == -EMSGSIZE ? -EINVAL : err;
		fb_put32(b->buf + 4 + 4 * i, (uint32_t)used);
		used += len;
	}
	fb_put32(b->buf + 4 + 4 * n, (uint32_t)used);
	b->len = head + used;
	return 0;
}

const uint8_t *flowblock_data(const struct flowblock *b)
{
	return b->buf;
}

size_t flowblock_len(const struct flowblock *b)
{
	return b->len;
}

int flowblock_count(flowblock_read_fn read, void *arg, size_t size, size_t *n)
{
	uint8_t p[4];
	size_t count;
	int err;

	if (size < FLOWBLOCK_HEADER_BYTES(0))
		return -EBADMSG;
	err = read(arg, 0, p, sizeof(p));
	if (err)
		return err;
	count = fb_get32(p);
	if (count > WIRE_MAX_RECORDS || FLOWBLOCK_HEADER_BYTES(count) > size)
		return -EBADMSG;
	*n = count;
	return 0;
}

int flowblock_record(flowblock_read_fn read, void *arg, size_t size, size_t n, size_t i,
		     struct wire_record *r, char *err, size_t errlen)
{
	size_t head = FLOWBLOCK_HEADER_BYTES(n);
	uint8_t rec[WIRE_RECORD_MAX_BYTES];
	uint8_t off[8];
	uint32_t start, end;
	int e;

	if (i >= n || head > size) {
		snprintf(err, errlen, "record %zu of a block of %zu", i, n);
		return -EBADMSG;
	}
	e = read(arg, 4 + 4 * i, off, sizeof(off));
	if (e)
		return e;
	start = fb_get32(off);
	end = fb_get32(off + 4);
	if (start > end || end - start > sizeof(rec) || end > size - head) {
		snprintf(err, errlen, "record %zu: bytes %u..%u of %zu", i, (unsigned int)start,
			 (unsigned int)end, size - head);
		return -EBADMSG;
	}
	e = read(arg, head + start, rec, end - start);
	if (e)
		return e;
	e = wire_decode_record(rec, end - start, r, err, errlen);
	return e == -EINVAL ? -EBADMSG : e;
}
