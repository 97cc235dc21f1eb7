/* flowkeys.c - groups a batch's records into the store's index keys (flowkeys.h).
 * Two passes over the records: the first finds each record's keys in a hash table
 * (open addressing, sized for the batch) and counts entries per key; the second writes
 * the entries into one array, key after key, so each key's entries are contiguous and
 * in record order. Every buffer is kept for the next batch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowkeys.h"
#include "grow.h"

/* Keys a record can have: protocol, source and destination address, source and
 * destination port, domain. */
#define FK_PER_RECORD 6
#define FK_NONE	      (-1)
#define FK_MERGED     (-2) /* the destination is the source's entry (same value, both sides) */

struct fk_key {
	uint64_t hash;
	int64_t ivalue;
	uint32_t voff; /* into vals, when !is_int */
	uint16_t vlen;
	uint8_t kind;
	bool is_int;
	uint32_t count; /* entries; the fill cursor in the second pass */
	uint32_t off;	/* first entry */
	uint64_t packets;
	uint64_t bytes;
};

struct flowkeys {
	struct fk_key *keys;
	size_t nkeys, keys_cap;
	uint8_t *vals; /* the byte values of the keys, back to back */
	size_t vals_len, vals_cap;
	uint32_t *slots; /* key index + 1; 0 empty */
	size_t slots_cap;
	int32_t *refs; /* FK_PER_RECORD key indexes a record */
	size_t refs_cap;
	uint8_t *entries;
	size_t entries_cap;
	size_t nslots; /* of this build: a power of two */
};

size_t flowkeys_domain_reverse(const char *name, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[len - 1 - i];

		out[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
	}
	out[len] = '.';
	return len + 1;
}

struct flowkeys *flowkeys_new(void)
{
	struct flowkeys *k = calloc(1, sizeof(*k));

	if (!k)
		errno = ENOMEM;
	return k;
}

void flowkeys_free(struct flowkeys *k)
{
	if (!k)
		return;
	free(k->keys);
	free(k->vals);
	free(k->slots);
	free(k->refs);
	free(k->entries);
	free(k);
}

/* Grows *buf to hold want elements of size bytes (contents kept). */
static int fk_reserve(void **buf, size_t *cap, size_t want, size_t size)
{
	return grow_reserve(buf, cap, want, size, 64);
}

/* FNV-1a: the values are short and the table is rebuilt every batch. */
static uint64_t fk_hash(uint8_t kind, const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ kind;

	h *= 1099511628211ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The index of key (kind, value), added if new; counts one entry more. -ENOMEM. */
static int fk_key(struct flowkeys *k, uint8_t kind, bool is_int, int64_t ivalue,
		  const uint8_t *bytes, size_t len)
{
	uint8_t ibuf[sizeof(int64_t)];
	const uint8_t *hp = bytes;
	size_t hn = len;
	uint64_t h;
	size_t s;

	if (is_int) {
		memcpy(ibuf, &ivalue, sizeof(ibuf));
		hp = ibuf;
		hn = sizeof(ibuf);
	}
	h = fk_hash(kind, hp, hn);
	for (s = h & (k->nslots - 1);; s = (s + 1) & (k->nslots - 1)) {
		struct fk_key *e;

		if (!k->slots[s])
			break;
		e = &k->keys[k->slots[s] - 1];
		if (e->hash == h && e->kind == kind && e->is_int == is_int &&
		    (is_int ? e->ivalue == ivalue
			    : e->vlen == len && !memcmp(k->vals + e->voff, bytes, len))) {
			e->count++;
			return (int)(k->slots[s] - 1);
		}
	}
	if (fk_reserve((void **)&k->keys, &k->keys_cap, k->nkeys + 1, sizeof(*k->keys)) ||
	    (!is_int && fk_reserve((void **)&k->vals, &k->vals_cap, k->vals_len + len, 1)))
		return -ENOMEM;
	k->keys[k->nkeys] = (struct fk_key){.hash = h,
					    .ivalue = is_int ? ivalue : 0,
					    .voff = (uint32_t)k->vals_len,
					    .vlen = (uint16_t)(is_int ? 0 : len),
					    .kind = kind,
					    .is_int = is_int,
					    .count = 1};
	if (!is_int) {
		memcpy(k->vals + k->vals_len, bytes, len);
		k->vals_len += len;
	}
	k->slots[s] = (uint32_t)++k->nkeys;
	return (int)(k->nkeys - 1);
}

/* Finds the keys of one side pair (addresses or ports): ref[0] the source's, ref[1] the
 * destination's or FK_MERGED when both are the same value (one entry, both sides). */
static int fk_pair(struct flowkeys *k, uint8_t kind, bool is_int, int64_t src_i, int64_t dst_i,
		   const uint8_t *src, const uint8_t *dst, size_t len, bool same, int32_t *ref)
{
	int a = fk_key(k, kind, is_int, src_i, src, len);

	if (a < 0)
		return a;
	ref[0] = a;
	if (same) {
		ref[1] = FK_MERGED;
		return 0;
	}
	a = fk_key(k, kind, is_int, dst_i, dst, len);
	if (a < 0)
		return a;
	ref[1] = a;
	return 0;
}

static int fk_first_pass(struct flowkeys *k, const struct wire_record *recs, size_t n)
{
	uint8_t rev[WIRE_NAME_MAX + 2];

	for (size_t i = 0; i < n; i++) {
		const struct wire_record *r = &recs[i];
		int32_t *ref = &k->refs[i * FK_PER_RECORD];
		size_t dlen = strnlen(r->domain, sizeof(r->domain));
		int a;

		a = fk_key(k, FLOWKEYS_PROTO, true, r->proto, NULL, 0);
		if (a < 0)
			return a;
		ref[0] = a;
		a = fk_pair(k, FLOWKEYS_IP, false, 0, 0, r->src_addr, r->dst_addr,
			    FLOWKEYS_IP_PREFIX, !memcmp(r->src_addr, r->dst_addr, 16), &ref[1]);
		if (!a)
			a = fk_pair(k, FLOWKEYS_PORT, true, r->src_port >> 8, r->dst_port >> 8,
				    NULL, NULL, 0, r->src_port == r->dst_port, &ref[3]);
		if (a < 0)
			return a;
		ref[5] = FK_NONE;
		if (dlen) {
			a = fk_key(k, FLOWKEYS_DOMAIN, false, 0, rev,
				   flowkeys_domain_reverse(r->domain, dlen, rev));
			if (a < 0)
				return a;
			ref[5] = a;
		}
	}
	return 0;
}

static void fk_put(struct flowkeys *k, int32_t ref, const struct wire_record *r, size_t pos,
		   uint8_t last, uint8_t sides)
{
	struct fk_key *e;
	uint8_t *p;

	if (ref < 0)
		return;
	e = &k->keys[ref];
	e->packets += r->packets_sent + r->packets_received;
	e->bytes += r->bytes_sent + r->bytes_received;
	p = k->entries + (size_t)(e->off + e->count++) * FLOWKEYS_ENTRY_BYTES;
	p[0] = (uint8_t)pos;
	p[1] = (uint8_t)(pos >> 8);
	p[2] = last;
	p[3] = sides;
}

int flowkeys_build(struct flowkeys *k, const struct wire_record *recs, size_t n)
{
	size_t total = 0;
	size_t want = 64;
	int err;

	if (n > WIRE_MAX_RECORDS)
		return -EINVAL;
	k->nkeys = 0;
	k->vals_len = 0;
	while (want < 2 * FK_PER_RECORD * n) /* at most half full */
		want *= 2;
	if (fk_reserve((void **)&k->slots, &k->slots_cap, want, sizeof(*k->slots)) ||
	    fk_reserve((void **)&k->refs, &k->refs_cap, n * FK_PER_RECORD, sizeof(*k->refs)))
		return -ENOMEM;
	k->nslots = want;
	memset(k->slots, 0, want * sizeof(*k->slots));
	err = fk_first_pass(k, recs, n);
	if (err) {
		k->nkeys = 0;
		return err;
	}
	for (size_t g = 0; g < k->nkeys; g++) {
		k->keys[g].off = (uint32_t)total;
		total += k->keys[g].count;
		k->keys[g].count = 0;
		k->keys[g].packets = 0;
		k->keys[g].bytes = 0;
	}
	if (fk_reserve((void **)&k->entries, &k->entries_cap, total * FLOWKEYS_ENTRY_BYTES, 1)) {
		k->nkeys = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct wire_record *r = &recs[i];
		const int32_t *ref = &k->refs[i * FK_PER_RECORD];
		uint8_t both = FLOWKEYS_SRC | FLOWKEYS_DST;

		fk_put(k, ref[0], r, i, 0, 0);
		fk_put(k, ref[1], r, i, r->src_addr[15], ref[2] == FK_MERGED ? both : FLOWKEYS_SRC);
		fk_put(k, ref[2], r, i, r->dst_addr[15], FLOWKEYS_DST);
		fk_put(k, ref[3], r, i, (uint8_t)r->src_port,
		       ref[4] == FK_MERGED ? both : FLOWKEYS_SRC);
		fk_put(k, ref[4], r, i, (uint8_t)r->dst_port, FLOWKEYS_DST);
		fk_put(k, ref[5], r, i, 0, 0);
	}
	return 0;
}

size_t flowkeys_count(const struct flowkeys *k)
{
	return k->nkeys;
}

void flowkeys_get(const struct flowkeys *k, size_t i, struct flowkeys_key *out)
{
	const struct fk_key *e = &k->keys[i];

	out->kind = (enum flowkeys_kind)e->kind;
	out->is_int = e->is_int;
	out->ivalue = e->ivalue;
	out->data = e->is_int ? NULL : k->vals + e->voff;
	out->len = e->vlen;
	out->entries = k->entries + (size_t)e->off * FLOWKEYS_ENTRY_BYTES;
	out->n = e->count;
	out->packets = e->packets;
	out->bytes = e->bytes;
}

void flowkeys_entry(const uint8_t *entries, size_t i, struct flowkeys_entry *out)
{
	const uint8_t *p = entries + i * FLOWKEYS_ENTRY_BYTES;

	out->pos = (uint16_t)(p[0] | p[1] << 8);
	out->last = p[2];
	out->sides = p[3];
}
