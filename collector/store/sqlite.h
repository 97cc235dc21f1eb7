/* sqlite.h - the SQLite backend of the history store (sqlite:// URLs, store.h): what
 * tests may use of it in particular, its schema version and the query plans of its
 * statements. Everything else of the backend is private (sqlite_internal.h). */
#ifndef AYAFLOW_COLLECTOR_STORE_SQLITE_H
#define AYAFLOW_COLLECTOR_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The schema version this code writes (PRAGMA user_version). A database with a newer
 * version is refused; an older one is migrated on store_open. */
#define STORE_SQLITE_SCHEMA_VERSION 3

/* Test hook: writes into plan the query plan of the exact statements that
 * store_query_history runs for f (the candidates' rows, then a page block's row, one plan
 * step a line). 0, or a negative errno (-ENOSPC if plan is too small, -EINVAL if r is not
 * a SQLite reader or f is invalid). */
int store_sqlite_explain_history(struct store_reader *r, const struct store_filter *f, char *plan,
				 size_t len);
/* Test hook: the query plan of store_query_dns's statements (the rows query, then the
 * count query), as store_sqlite_explain_history. */
int store_sqlite_explain_dns(struct store_reader *r, const struct store_dns_filter *f, char *plan,
			     size_t len);
/* Test hook: the query plan of store_query_domains's statement, as
 * store_sqlite_explain_history. */
int store_sqlite_explain_domains(struct store_reader *r, uint64_t start_ms, uint64_t end_ms,
				 const char *node, unsigned limit, char *plan, size_t len);

#endif
