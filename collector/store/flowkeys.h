/* flowkeys.h - the history store's inverted index of one batch: which records of a batch
 * carry which address, port, protocol and domain. The SQLite store (sqlite_write.c)
 * writes one key row per distinct key of each batch instead of one entry per record in
 * each of eight indexes: at hundreds of thousands of records/s a per-record index entry
 * is what a single writer cannot afford (BENCHMARKS.md, 5), while a batch of one node
 * holds few distinct keys.
 *
 * A key is (kind, value). To keep high-cardinality columns (addresses, ephemeral ports)
 * to a few keys a batch, their value is a prefix: an address without its last byte, a
 * port without its low byte; each entry then carries the last byte, so a lookup is still
 * exact without reading the record. An entry is 4 bytes:
 *   position in the batch (u16 little endian), last byte (0 for exact kinds), sides
 * where sides says where the value is: FLOWKEYS_SRC, FLOWKEYS_DST (0 for protocol and
 * domain). Entries of a key are in position order; a record can have two entries in one
 * key (source and destination with the same prefix but another last byte).
 *
 * Kinds and encodings are stored in databases: never renumber, only add. */
#ifndef AYAFLOW_COLLECTOR_FLOWKEYS_H
#define AYAFLOW_COLLECTOR_FLOWKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum flowkeys_kind {
	FLOWKEYS_IP = 1,     /* value: the 16-byte address's first 15 bytes (BLOB) */
	FLOWKEYS_PORT = 2,   /* value: port >> 8 (integer) */
	FLOWKEYS_PROTO = 3,  /* value: the protocol number (integer) */
	FLOWKEYS_DOMAIN = 4, /* value: the domain reversed (flowkeys_domain_reverse, BLOB) */
};
#define FLOWKEYS_KINDS 4 /* kinds 1..FLOWKEYS_KINDS */

enum { FLOWKEYS_SRC = 1, FLOWKEYS_DST = 2 };

#define FLOWKEYS_ENTRY_BYTES 4
#define FLOWKEYS_IP_PREFIX   15

/* out = reverse("." + name), ASCII lower-cased: "a.Example.com" -> "moc.elpmaxe.a.", so
 * that a domain and all names below it are one range of keys. out has room for len + 1
 * bytes; returns len + 1. */
size_t flowkeys_domain_reverse(const char *name, size_t len, uint8_t *out);

/* One key of a batch, pointing into the builder (valid until its next build). */
struct flowkeys_key {
	enum flowkeys_kind kind;
	bool is_int; /* value is ivalue (PORT, PROTO), else data (IP, DOMAIN) */
	int64_t ivalue;
	const uint8_t *data;
	size_t len;
	const uint8_t *entries; /* n entries of FLOWKEYS_ENTRY_BYTES */
	size_t n;
	/* packets and bytes (sent + received) summed over the entries: the key's traffic
	 * for exact kinds (PROTO, DOMAIN: one entry a record) */
	uint64_t packets;
	uint64_t bytes;
};

/* A decoded entry. */
struct flowkeys_entry {
	uint16_t pos;
	uint8_t last;
	uint8_t sides;
};

struct flowkeys;

/* A reusable builder; NULL with errno ENOMEM. Owned by one thread. */
struct flowkeys *flowkeys_new(void);
void flowkeys_free(struct flowkeys *k);

/* Groups recs[0..n) (n <= WIRE_MAX_RECORDS, else -EINVAL) into keys. 0 or -ENOMEM. */
int flowkeys_build(struct flowkeys *k, const struct wire_record *recs, size_t n);
/* The keys of the last successful build, in no particular order. */
size_t flowkeys_count(const struct flowkeys *k);
void flowkeys_get(const struct flowkeys *k, size_t i, struct flowkeys_key *out);

/* Entry i of an entries blob (i < n, n = length / FLOWKEYS_ENTRY_BYTES). */
void flowkeys_entry(const uint8_t *entries, size_t i, struct flowkeys_entry *out);

#endif
