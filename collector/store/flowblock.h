/* flowblock.h - the history store's form of one batch's flow records: one BLOB a batch
 * (a row of flow_blocks of the SQLite store) instead of one table row a record. A record
 * is read by its position without decoding the others; together with the batch's keys
 * (flowkeys.h) that is all a query needs.
 *
 * Layout (integers little endian):
 *   u32 n                      records
 *   u32 offset[n + 1]          record i is bytes [offset[i], offset[i + 1]) of the
 *                              record area, which starts right after offset[n]
 *   record area                each record a FlowRecord message (wire_encode_record)
 * The layout is stored in databases: change it only with a new schema version. */
#ifndef AYAFLOW_COLLECTOR_FLOWBLOCK_H
#define AYAFLOW_COLLECTOR_FLOWBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Bytes before the record area. */
#define FLOWBLOCK_HEADER_BYTES(n) (4 + 4 * ((size_t)(n) + 1))

struct flowblock;

/* A reusable encoder; NULL with errno ENOMEM. Owned by one thread. */
struct flowblock *flowblock_new(void);
void flowblock_free(struct flowblock *b);

/* Encodes recs[0..n) (n <= WIRE_MAX_RECORDS). 0, -EINVAL (a record wire_encode_record
 * refuses) or -ENOMEM. */
int flowblock_encode(struct flowblock *b, const struct wire_record *recs, size_t n);
/* The last encoding: valid until the next call on b. */
const uint8_t *flowblock_data(const struct flowblock *b);
size_t flowblock_len(const struct flowblock *b);

/* Reading: the caller fetches bytes of a stored block through read (e.g. SQLite's
 * incremental BLOB I/O): read(arg, offset, buf, len) returns 0 or a negative errno. */
typedef int (*flowblock_read_fn)(void *arg, size_t offset, void *buf, size_t len);

/* The number of records of a block of size bytes. -EBADMSG when malformed. */
int flowblock_count(flowblock_read_fn read, void *arg, size_t size, size_t *n);
/* Decodes record i of a block of n records and size bytes into *r. -EBADMSG when the
 * block or the record is malformed (the reason in err), -ENOMEM, or read's error. */
int flowblock_record(flowblock_read_fn read, void *arg, size_t size, size_t n, size_t i,
		     struct wire_record *r, char *err, size_t errlen);

#endif
