/* clickhouse_internal.h - shared by the ClickHouse backend's files (private to them):
 * its writer and reader, the table columns, and the SQL text helpers.
 *
 * Tables (clickhouse_schema.c creates them; README "ClickHouse schema" documents them):
 *   flows        one row per flow record; ORDER BY (node, ts)
 *   flows_addr   each record once per distinct address (src, dst), fed by a materialized
 *                view of flows; ORDER BY (addr, ts): the address filters
 *   flows_domain the records that have a domain, with domain_rev, fed likewise;
 *                ORDER BY (domain_rev, ts): domain filters and top domains
 *   dns          one row per DNS record; ORDER BY (node, ts)
 *   batches      one row per stored batch, (node, boot_id, seq): the dedup set, shared
 *                by every collector; partitioned by the day it was stored
 *   nodes        per node, the aggregate states of its batches (AggregatingMergeTree fed
 *                by a materialized view): newest report, first/last seen, counts
 *   batch_log    the batches' keys by the time they were stored (a materialized view of
 *                batches): what store_follow reads
 *   ayaflow_schema  the versions applied
 * Every time is Unix ms (UInt64); every table with records is partitioned by the day of
 * ts (intDiv(ts, 86400000)), which retention drops whole. */
#ifndef AYAFLOW_COLLECTOR_STORE_CLICKHOUSE_INTERNAL_H
#define AYAFLOW_COLLECTOR_STORE_CLICKHOUSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "ch_http.h"
#include "ch_rowbin.h"

#define CH_DAY_MS 86400000ull

/* The columns of flows in the order the writer sends them (clickhouse_write.c). */
#define CH_FLOW_COLUMNS                                                                            \
	"ts, window_end, node, boot_id, seq, idx, id, proto, ip_version, src_ip, dst_ip,"          \
	" src_port, dst_port, tcp_flags, packets_sent, packets_received, bytes_sent,"              \
	" bytes_received, first_seen, last_seen, interface, domain, src_hostname, dst_hostname"
#define CH_DNS_COLUMNS                                                                             \
	"ts, node, boot_id, seq, idx, id, name, qtype, rcode, answered, latency_us, ip_version,"   \
	" client_ip, server_ip, client_port, server_port, answer_type, answer_ttl, answer_addr,"   \
	" answer_target"
#define CH_BATCH_COLUMNS                                                                           \
	"node, boot_id, seq, window_start, window_end, agent_version, total_packets,"              \
	" total_bytes, active_connections, lost, records, dns_records, stored_ms, collector"

/* Owned by the writer thread. */
struct ch_store {
	struct store base;
	struct ch_conn *conn;
	char db[STORE_DB_MAX + 1];
	char collector[STORE_HOST_MAX + 1]; /* store_config.collector */
	uint64_t next_id;		    /* of the next stored row: see clickhouse_write.c */
	/* store_follow: the hashes of the batches in its last window that were delivered,
	 * sorted (clickhouse_follow.c) */
	uint64_t *followed;
	size_t nfollowed;
	struct ch_out rows;
	char *sql; /* a growing statement buffer */
	size_t sqlcap;
	char errmsg[512];
};

/* Owned by one HTTP thread. */
struct ch_reader {
	struct store_reader base;
	struct ch_conn *conn;
	char db[STORE_DB_MAX + 1];
	char *sql;
	size_t sqlcap;
	char errmsg[512];
};

extern const struct store_ops ch_ops;

/* A growing SQL text: appends a printf-style piece; sticky failure (out of memory). */
struct ch_sql {
	char *p;
	size_t len;
	size_t *cap; /* the owner's capacity (the buffer is reused across statements) */
	char **buf;
	bool failed;
};

void ch_sql_start(struct ch_sql *q, char **buf, size_t *cap);
void ch_sql_add(struct ch_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string literal: 'text' with \ and ' escaped (our strings are UTF-8 without control
 * characters, validated by lib/wire, but every byte is escaped right regardless). */
void ch_sql_str(struct ch_sql *q, const char *s);
/* A 16-byte address literal: toFixedString(unhex('...'), 16). */
void ch_sql_addr(struct ch_sql *q, const uint8_t a[16]);

/* "." + name, reversed, ASCII lower case, as the domain_rev and name_rev columns hold
 * them; out has room for WIRE_NAME_MAX + 2 bytes. Its length. */
size_t ch_name_reverse(const char *name, char *out);

/* Writer's implementations (clickhouse_write.c). */
void ch_store_close(struct store *s);
int ch_store_append(struct store *s, const struct wire_batch *const *batches, size_t n,
		    bool *duplicate);
int ch_store_retention_step(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			    unsigned *deleted);
int64_t ch_store_db_bytes(struct store *s);
const char *ch_store_last_error(const struct store *s);
int ch_store_follow(struct store *s, store_follow_fn fn, void *arg, size_t *n, bool *more);

/* One row of CH_FLOW_SELECT (clickhouse_query.c) into *fl. */
#define CH_FLOW_SELECT                                                                             \
	"ts, window_end, node, id, proto, ip_version, src_ip, dst_ip, src_port, dst_port,"         \
	" tcp_flags, packets_sent, packets_received, bytes_sent, bytes_received, first_seen,"      \
	" last_seen, interface, domain, src_hostname, dst_hostname"
void ch_get_flow(struct ch_in *in, struct store_flow *fl);

/* Reader's implementations (clickhouse_query.c). */
void ch_reader_close(struct store_reader *r);
const char *ch_reader_last_error(const struct store_reader *r);
int ch_query_history(struct store_reader *r, const struct store_filter *f,
		     struct store_history *out);
int ch_query_dns(struct store_reader *r, const struct store_dns_filter *f,
		 struct store_dns_result *out);
int ch_query_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms, const char *node,
		     unsigned limit, struct store_domains *out);
int ch_list_nodes(struct store_reader *r, struct store_node **nodes, size_t *n);

#endif
