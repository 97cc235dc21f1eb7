/* ch_rowbin.h - ClickHouse's RowBinary format, both ways: a growing buffer that rows are
 * written into (INSERT bodies) and a cursor that reads an answer's rows back. RowBinary
 * is the server's own column layout with no separators: integers little-endian, String
 * as a LEB128 length then its bytes, FixedString(N) as N bytes, Array as a LEB128 count
 * then its elements. Fast to produce and parse, and binary addresses need no escaping. */
#ifndef AYAFLOW_COLLECTOR_CH_ROWBIN_H
#define AYAFLOW_COLLECTOR_CH_ROWBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- writing ---- */

struct ch_out {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool failed; /* out of memory at some put: the buffer is incomplete */
};

void ch_out_reset(struct ch_out *o);
void ch_out_fini(struct ch_out *o);
void ch_put_u8(struct ch_out *o, uint8_t v);
void ch_put_u16(struct ch_out *o, uint16_t v);
void ch_put_u32(struct ch_out *o, uint32_t v);
void ch_put_u64(struct ch_out *o, uint64_t v);
void ch_put_varint(struct ch_out *o, uint64_t v);
void ch_put_bytes(struct ch_out *o, const void *p, size_t n); /* FixedString(n) */
void ch_put_str(struct ch_out *o, const char *s);	      /* String */

/* ---- reading ---- */

struct ch_in {
	const uint8_t *p;
	size_t left;
	bool failed; /* a read past the end, or a string too long for its buffer */
};

void ch_in_init(struct ch_in *in, const uint8_t *p, size_t len);
uint8_t ch_get_u8(struct ch_in *in);
uint16_t ch_get_u16(struct ch_in *in);
uint32_t ch_get_u32(struct ch_in *in);
uint64_t ch_get_u64(struct ch_in *in);
uint64_t ch_get_varint(struct ch_in *in);
void ch_get_bytes(struct ch_in *in, void *out, size_t n);
/* A String into buf (size bytes, NUL-terminated); longer, or holding a NUL: failed. */
void ch_get_str(struct ch_in *in, char *buf, size_t size);

#endif
