/* store.h - the collector's history store: the whole interface between ingest/API and
 * the database. Ingest hands validated batches (lib/wire.h) to the writer; the HTTP
 * handlers read history and nodes through readers. The interface is backend-neutral:
 * no database notion appears here. The backend is chosen at run time by the store URL
 * (store_url_parse): sqlite.h's backend (the embedded default: one file, WAL, one
 * writer) or clickhouse.h's (a ClickHouse server over HTTP, shared by any number of
 * collectors). store.c dispatches; tests/unit/test_store.c runs one conformance suite
 * against both.
 *
 * Threads: a struct store is owned by one writer thread, which alone calls the writer
 * functions on it. Each HTTP thread opens its own struct store_reader and is the only
 * thread using it; readers never block the writer nor each other, and each query sees
 * data that was committed (acknowledged) when it started, a batch's flow records all or
 * none (SQLite: one snapshot of everything. ClickHouse, which reads a query's rows and
 * its total with two statements: the total may also count batches committed after the
 * rows were read).
 *
 * Errors: functions return 0 or a negative errno; constructors return NULL, set errno
 * and write a message into err. Output parameters are written only on success. After a
 * failed call, store_last_error()/store_reader_last_error() say what failed. -EAGAIN
 * from any call means the store is unreachable or did not answer in time: a later call
 * may succeed (the API answers 503). */
#ifndef AYAFLOW_COLLECTOR_STORE_H
#define AYAFLOW_COLLECTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* ---- which store: the URL ---- */

enum store_kind {
	STORE_SQLITE,
	STORE_CLICKHOUSE,
};

#define STORE_HOST_MAX 253
#define STORE_USER_MAX 64
#define STORE_DB_MAX   64

/* A parsed store URL. The forms:
 *   sqlite:///var/lib/ayaflow/traffic.db   (absolute path)
 *   sqlite://traffic.db or traffic.db      (relative path; a URL without "://" is a path)
 *   clickhouse://[user@]host[:port]/database          (HTTP, port 8123 by default)
 *   clickhouse+https://[user@]host[:port]/database    (HTTPS, port 8443 by default)
 * host may be a name, an IPv4 address or [IPv6]. A password is never part of the URL
 * (user:password@ is refused): it comes from store_config.password. */
struct store_url {
	enum store_kind kind;
	char path[4096];	       /* STORE_SQLITE */
	bool tls;		       /* STORE_CLICKHOUSE: https */
	char user[STORE_USER_MAX + 1]; /* "" : the server's default user */
	char host[STORE_HOST_MAX + 1]; /* without brackets */
	uint16_t port;
	char database[STORE_DB_MAX + 1]; /* [A-Za-z0-9_]+ */
};

/* 0 and *out, or -EINVAL with the reason in err. */
int store_url_parse(const char *url, struct store_url *out, char *err, size_t errlen);
/* The URL as it may be logged and shown: the canonical form of u (never a password). */
void store_url_format(const struct store_url *u, char *buf, size_t len);
/* "sqlite" or "clickhouse". */
const char *store_kind_name(enum store_kind kind);

/* What store_open and store_reader_open connect to. Borrowed for the call. */
struct store_config {
	struct store_url url;
	const char *password; /* ClickHouse: NULL or the password; never logged */
	/* ClickHouse: upper bound of one request (connect + answer), 0 for the default
	 * (STORE_TIMEOUT_MS_DEFAULT); past it the call fails with -EAGAIN. */
	unsigned timeout_ms;
	/* The name this collector writes under, stored with each batch (ClickHouse:
	 * batches.collector), so that collectors sharing a store tell their batches from
	 * the others'. NULL: "". */
	const char *collector;
};

#define STORE_TIMEOUT_MS_DEFAULT 10000

#define STORE_HISTORY_LIMIT_DEFAULT 100 /* store_filter.limit == 0 */
#define STORE_HISTORY_LIMIT_MAX	    10000
/* store_query_domains: at most this many domains, and at most this many (batch, domain)
 * pairs (the newest of the range) summed, so that a query over a long range stays
 * bounded. */
#define STORE_DOMAINS_LIMIT_MAX 1000
#define STORE_DOMAINS_SCAN_MAX	1000000
/* store_retention_step never deletes dedup entries younger than this, so that a node
 * retrying a batch within a day is still recognised as a duplicate. */
#define STORE_DEDUP_WINDOW_MS (24ull * 3600 * 1000)

/* ---- writer side: one thread owns a struct store ---- */

struct store;

/* Opens the store (a SQLite file is created if needed; a ClickHouse database must exist)
 * and migrates its schema to the version this program writes. NULL on failure, with
 * errno set and the reason in err, which names the store (store_url_format): EPROTO:
 * the store has a newer schema than this program knows; ENOENT: no such ClickHouse
 * database; EACCES: the server refused the user or password; EAGAIN: the server is
 * unreachable or did not answer in time; EIO otherwise. */
struct store *store_open(const struct store_config *cfg, char *err, size_t errlen);
/* Closes; accepts NULL. */
void store_close(struct store *s);

/* Stores n batches in one transaction. For each batch, if (node, boot_id, seq) has been
 * stored before, duplicate[i] is set to true and nothing of it is written; otherwise
 * its flow records, its DNS records, the batch's dedup entry and the node's latest state
 * are written and duplicate[i] is false. Returns 0 only once the transaction has committed. On any
 * error nothing of this call is stored, duplicate[] is untouched, and a negative errno
 * is returned (-ENOMEM, -EBUSY: locked by someone else, -ENOSPC: disk full, -EINVAL:
 * a value the schema rejects, -EIO: anything else): the caller nacks every batch.
 * (ClickHouse, which has no transactions: an error after part of the call was written
 * may leave records of its batches visible to readers, but no batch is marked stored,
 * counted for its node or deduplicated; the batch sent again completes them, never
 * writing them twice: clickhouse_write.c.) The batches are borrowed for the duration of
 * the call, and are what lib/wire's decoder accepts: other values are the caller's
 * error, which a backend need not detect. */
int store_append(struct store *s, const struct wire_batch *const *batches, size_t n,
		 bool *duplicate);

/* One small retention step, cheap enough to run between appends: deletes flow records
 * and DNS records with ts < older_than_ms, oldest first, and dedup entries stored
 * before both older_than_ms and now - STORE_DEDUP_WINDOW_MS; nodes keep what they
 * counted (struct store_node). *deleted is the number of rows deleted, as the backend
 * counts rows: call again while it is max_rows or more. max_rows 0 deletes nothing.
 *   SQLite deletes exactly that, up to max_rows rows a step: first blocks of flow
 *   records (a batch's records are one row and go together), then the index keys of
 *   those times, then DNS records, then dedup entries; and gives freed pages back to
 *   the file system.
 *   ClickHouse deletes whole days (UTC days of ts; of the store time for dedup
 *   entries), all that are due at once, whatever max_rows: a day goes once all of it
 *   is before the cutoff, so records up to a day older than older_than_ms remain.
 *   *deleted counts flow and DNS records and dedup entries, and may exceed max_rows.
 * The two agree where no record lies between the start of the cutoff's day and the
 * cutoff (tests/unit/test_store.c). */
int store_retention_step(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			 unsigned *deleted);

/* Called by store_follow for each batch; b is borrowed for the call. */
typedef void (*store_follow_fn)(void *arg, const struct wire_batch *b);

#define STORE_FOLLOW_MAX_RECORDS 200000 /* per store_follow call, in whole batches */

/* The batches that other collectors stored into a shared store since the last call
 * (the first call: since STORE_FOLLOW_BACK_MS ago), each once, with their flow records
 * (not their DNS records), for the live view: every collector of a shared store shows
 * the whole cluster. At most about STORE_FOLLOW_MAX_RECORDS records a call; *n is the
 * number of batches, and *more says there are others waiting: call again soon. A
 * batch that waited longer than STORE_FOLLOW_BACK_MS is not delivered (the live view
 * is about now). A store that only its own collector writes (SQLite) has none. */
#define STORE_FOLLOW_BACK_MS 30000
int store_follow(struct store *s, store_follow_fn fn, void *arg, size_t *n, bool *more);

/* The bytes the history takes on disk (SQLite: pages in use; ClickHouse: the active
 * parts of ayaflow's tables, compressed), or a negative errno. */
int64_t store_db_bytes(struct store *s);

/* The message of the last failure on s ("" if none). Owned by s; valid until the next
 * call on s. */
const char *store_last_error(const struct store *s);

/* ---- reader side: one struct store_reader per thread ---- */

struct store_reader;

/* Opens a read-only connection to a store that store_open has created and migrated.
 * NULL on failure, with errno set as store_open's (ENOENT also: no such SQLite file;
 * EPROTO: another schema version) and the reason in err. */
struct store_reader *store_reader_open(const struct store_config *cfg, char *err, size_t errlen);
/* Closes; accepts NULL. */
void store_reader_close(struct store_reader *r);
const char *store_reader_last_error(const struct store_reader *r);

/* A history query. Zero-initialised means: no condition, newest
 * STORE_HISTORY_LIMIT_DEFAULT rows. Every condition set must hold (AND). Strings are
 * borrowed for the duration of the call. */
struct store_filter {
	bool has_start;
	bool has_end;
	uint64_t start_ms; /* ts >= start_ms (ts: the record's window start, Unix ms) */
	uint64_t end_ms;   /* ts < end_ms */
	const char *node;  /* NULL: any; else the exact node name */
	bool has_ip;	   /* ip: either side (src or dst) */
	bool has_src_ip;
	bool has_dst_ip;
	uint8_t ip[16]; /* 16 bytes as in wire_record, IPv4 as ::ffff:a.b.c.d */
	uint8_t src_ip[16];
	uint8_t dst_ip[16];
	bool has_port; /* port: either side */
	bool has_src_port;
	bool has_dst_port;
	bool has_proto;
	uint16_t port;
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto; /* IP protocol number */
	/* NULL: any. "example.com": that name exactly. ".example.com": a suffix, matching
	 * "example.com" itself and every name ending in ".example.com" (not
	 * "badexample.com"). Compared without regard to ASCII case (only: "Ü" is not
	 * "ü"). "", "." and a name (after the dot) longer than WIRE_NAME_MAX are
	 * -EINVAL. */
	const char *domain;
	unsigned limit; /* 0: STORE_HISTORY_LIMIT_DEFAULT; over STORE_HISTORY_LIMIT_MAX: -EINVAL */
	uint64_t offset;
};

/* One history item: one flow record of one node's window. */
struct store_flow {
	int64_t id;	/* unique among the stored rows; later rows of a window have higher ids */
	uint64_t ts_ms; /* the window's start */
	uint64_t window_end_ms;
	char node[WIRE_NAME_MAX + 1];
	struct wire_record rec; /* as received; rec.domain and the host names "" when unknown */
};

/* Totals are counted up to a bound: STORE_COUNT_CAP matching rows, or offset + limit + 1
 * when that is more. Below the bound total is exact; at it (as many rows as the bound,
 * or more) total is the bound and total_capped is set: "at least total". */
#define STORE_COUNT_CAP 10000

struct store_history {
	struct store_flow *rows; /* newest first: ts descending, then id descending */
	size_t n;
	uint64_t total; /* rows matching the filter, ignoring limit and offset (see above) */
	bool total_capped;
};

/* On success fills *out (release it with store_history_fini). -EINVAL for an invalid
 * filter, else a negative errno. */
int store_query_history(struct store_reader *r, const struct store_filter *f,
			struct store_history *out);
/* Frees the rows and zeroes *h; accepts a zeroed struct. */
void store_history_fini(struct store_history *h);

/* A DNS query. Zero-initialised means: no condition, newest STORE_HISTORY_LIMIT_DEFAULT
 * rows. Every condition set must hold (AND). Strings are borrowed for the call. */
struct store_dns_filter {
	bool has_start;
	bool has_end;
	uint64_t start_ms; /* ts >= start_ms (ts: the query's time, Unix ms) */
	uint64_t end_ms;   /* ts < end_ms */
	const char *node;  /* NULL: any; else the exact node name */
	bool has_client;
	uint8_t client_ip[16]; /* the asking side, 16 bytes, IPv4 as ::ffff:a.b.c.d */
	/* NULL: any; else the queried name, exact or (leading dot) by suffix, as
	 * store_filter.domain. */
	const char *name;
	unsigned limit; /* 0: STORE_HISTORY_LIMIT_DEFAULT; over STORE_HISTORY_LIMIT_MAX: -EINVAL */
	uint64_t offset;
};

struct store_dns_row {
	int64_t id; /* unique; later rows of a batch have higher ids */
	char node[WIRE_NAME_MAX + 1];
	struct wire_dns dns; /* as received */
};

struct store_dns_result {
	struct store_dns_row *rows; /* newest first: ts descending, then id descending */
	size_t n;
	uint64_t total; /* as in struct store_history */
	bool total_capped;
};

/* On success fills *out (release it with store_dns_result_fini). -EINVAL for an invalid
 * filter, else a negative errno. */
int store_query_dns(struct store_reader *r, const struct store_dns_filter *f,
		    struct store_dns_result *out);
void store_dns_result_fini(struct store_dns_result *res);

/* One domain's traffic over a time range: flow records whose domain is it (compared
 * without regard to ASCII case; shown with ASCII letters in lower case). */
struct store_domain {
	char domain[WIRE_NAME_MAX + 1];
	uint64_t bytes;	  /* bytes_sent + bytes_received */
	uint64_t packets; /* packets_sent + packets_received */
	uint64_t flows;	  /* flow records */
};

struct store_domains {
	/* most bytes first; ties in the order of the reversed names ("." + domain reversed,
	 * as store_filter.domain's index: "moc.elpmaxe.z." before "ten.elpmaxe.c.") */
	struct store_domain *rows;
	size_t n;
	/* true: the range held more than STORE_DOMAINS_SCAN_MAX (batch, domain) pairs, and
	 * only the newest that many were summed (SQLite; ClickHouse sums the whole range
	 * and never sets it). */
	bool truncated;
};

/* The top `limit` (1..STORE_DOMAINS_LIMIT_MAX, else -EINVAL) domains by bytes of the
 * flow records with start_ms <= ts < end_ms that have a domain, of one node (node !=
 * NULL) or all. Fills *out (release with store_domains_fini). */
int store_query_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			const char *node, unsigned limit, struct store_domains *out);
void store_domains_fini(struct store_domains *d);

/* A node as last reported: the fields of its newest batch (highest seq of its newest
 * boot), and what the store has seen of it over all boots. The newest batch is the one
 * with the latest window end, seq breaking ties; SQLite orders by seq within a boot,
 * ClickHouse (whose aggregate state has no notion of boots) by window end there too:
 * the two differ only after a node's clock stepped back within one boot. */
struct store_node {
	char name[WIRE_NAME_MAX + 1];
	char boot_id[WIRE_BOOT_ID_MAX + 1];
	char agent_version[WIRE_VERSION_MAX + 1];
	uint64_t last_seq;
	uint64_t first_seen_ms; /* the earliest window start stored */
	uint64_t last_seen_ms;	/* the latest window end stored */
	uint64_t total_packets; /* cumulative since the agent's start (newest batch) */
	uint64_t total_bytes;
	uint64_t active_connections;
	uint64_t lost[WIRE_LOSS_MAX]; /* the loss ledger of the newest batch */
	uint64_t batches;	      /* batches stored, all boots */
	uint64_t records;	      /* flow records stored, all boots */
	/* Retention changes none of these: first_seen_ms, batches and records count what
	 * was ever stored, also when its records are gone. */
};

/* Every node ever seen, ordered by name: *nodes (malloc'd, free with store_nodes_free)
 * and *n; NULL and 0 when there is none. */
int store_list_nodes(struct store_reader *r, struct store_node **nodes, size_t *n);
void store_nodes_free(struct store_node *nodes);

#endif
