/* sqlite_util.c - what the SQLite backend's files share (sqlite_internal.h): SQLite's
 * result codes as negative errno values with a message, a column's text, a reader's read
 * transaction, and the pieces every reader query uses: name ranges, count bounds and
 * query plans (the explain test hooks). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

static int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

/* Records what failed and returns the matching negative errno. */
int sqlite_db_fail(sqlite3 *db, int rc, char *msg, size_t len, const char *what)
{
	snprintf(msg, len, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return store_errno(rc);
}

/* The column's text (up to its first NUL), cut to size - 1 bytes; "" for NULL. */
void sqlite_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? strnlen((const char *)t, (size_t)sqlite3_column_bytes(st, col)) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

int sqlite_reader_fail(struct sqlite_reader *r, int rc, const char *what)
{
	return sqlite_db_fail(r->db, rc, r->errmsg, sizeof(r->errmsg), what);
}

/* A read transaction makes the statements inside it see one committed state. */
int sqlite_reader_begin(struct sqlite_reader *r)
{
	int rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqlite_reader_fail(r, rc, "beginning a read");
}

void sqlite_reader_end(struct sqlite_reader *r)
{
	/* A read transaction has nothing to lose: an error here only means it is over. */
	if (!sqlite3_get_autocommit(r->db))
		(void)sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
}

/* -EINVAL for "" and ".". */
int sqlite_name_range_of(const char *name, struct sqlite_name_range *d)
{
	size_t len;

	d->suffix = name[0] == '.';
	if (d->suffix)
		name++;
	len = strlen(name);
	if (len == 0 || len > WIRE_NAME_MAX)
		return -EINVAL;
	d->len = flowkeys_domain_reverse(name, len, d->lo);
	memcpy(d->hi, d->lo, d->len);
	d->hi[d->len - 1] = '.' + 1;
	return 0;
}

/* Enough to tell whether there is a page after this one, and at least STORE_COUNT_CAP. */
int64_t sqlite_count_bound(uint64_t limit, uint64_t offset)
{
	uint64_t b = offset + limit + 1;

	if (b < offset || b > INT64_MAX)
		return INT64_MAX;
	return (int64_t)(b > STORE_COUNT_CAP ? b : STORE_COUNT_CAP);
}

/* Appends the plan of sql (its parameters unbound), one step a line. */
int sqlite_explain_sql(struct sqlite_reader *r, const char *sql, char *plan, size_t len,
		       size_t *used)
{
	char eqp[2048];
	sqlite3_stmt *st;
	int err = 0;
	int rc;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	rc = sqlite3_prepare_v2(r->db, eqp, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_reader_fail(r, rc, "explaining a query");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *detail = sqlite3_column_text(st, 3);
		int n =
		    snprintf(plan + *used, len - *used, "%s\n", detail ? (const char *)detail : "");

		if (n < 0 || (size_t)n >= len - *used) {
			err = -ENOSPC;
			break;
		}
		*used += (size_t)n;
	}
	if (!err && rc != SQLITE_DONE)
		err = sqlite_reader_fail(r, rc, "explaining a query");
	(void)sqlite3_finalize(st);
	return err;
}
