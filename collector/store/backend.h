/* backend.h - what a store backend implements: the table of functions store.c dispatches
 * store.h's calls through, and each backend's constructors. Private to collector/store/.
 *
 * A backend's writer and reader structs begin with a struct store / struct store_reader
 * (their ops), so that store.c can dispatch on the pointer it is given and the backend
 * can cast it back to its own type. store.c passes the arguments through as they are:
 * what store.h makes the caller's duty (non-NULL pointers) is not checked, and the
 * backends check the values (limits, names) and say what was wrong in last_error. */
#ifndef AYAFLOW_COLLECTOR_STORE_BACKEND_H
#define AYAFLOW_COLLECTOR_STORE_BACKEND_H

#include "store.h"

struct store_ops {
	/* writer */
	void (*close)(struct store *s);
	int (*append)(struct store *s, const struct wire_batch *const *batches, size_t n,
		      bool *duplicate);
	int (*retention_step)(struct store *s, uint64_t older_than_ms, unsigned max_rows,
			      unsigned *deleted);
	int64_t (*db_bytes)(struct store *s);
	/* NULL: no other writer can share the store (store_follow finds nothing) */
	int (*follow)(struct store *s, store_follow_fn fn, void *arg, size_t *n, bool *more);
	const char *(*last_error)(const struct store *s);
	/* reader */
	void (*reader_close)(struct store_reader *r);
	const char *(*reader_last_error)(const struct store_reader *r);
	int (*query_history)(struct store_reader *r, const struct store_filter *f,
			     struct store_history *out);
	int (*query_dns)(struct store_reader *r, const struct store_dns_filter *f,
			 struct store_dns_result *out);
	int (*query_domains)(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
			     const char *node, unsigned limit, struct store_domains *out);
	int (*list_nodes)(struct store_reader *r, struct store_node **nodes, size_t *n);
};

struct store {
	const struct store_ops *ops;
};

struct store_reader {
	const struct store_ops *ops;
};

/* The constructors store_open/store_reader_open call by cfg->url.kind. They return NULL
 * with errno set as store.h says and the reason in err, without the store's name
 * (store.c puts the URL in front). */
struct store *store_sqlite_open(const struct store_config *cfg, char *err, size_t errlen);
struct store_reader *store_sqlite_reader_open(const struct store_config *cfg, char *err,
					      size_t errlen);
struct store *store_clickhouse_open(const struct store_config *cfg, char *err, size_t errlen);
struct store_reader *store_clickhouse_reader_open(const struct store_config *cfg, char *err,
						  size_t errlen);

#endif
