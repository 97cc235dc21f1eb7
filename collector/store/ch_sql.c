/* ch_sql.c - SQL text for the ClickHouse backend: a growing statement buffer, literals
 * escaped as ClickHouse reads them, and the reversed names of the domain indexes. The
 * HTTP interface of 18.16 has no query parameters, so every value is a literal made
 * here; nothing else writes a value into SQL. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clickhouse_internal.h"
#include "grow.h"

void ch_sql_start(struct ch_sql *q, char **buf, size_t *cap)
{
	q->buf = buf;
	q->cap = cap;
	q->len = 0;
	q->failed = grow_reserve((void **)buf, cap, 1, 1, 4096) < 0;
	if (!q->failed)
		(*buf)[0] = '\0';
	q->p = *buf;
}

void ch_sql_add(struct ch_sql *q, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (q->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(*q->buf + q->len, *q->cap - q->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		q->failed = true;
		return;
	}
	if ((size_t)n >= *q->cap - q->len) {
		if (grow_reserve((void **)q->buf, q->cap, q->len + (size_t)n + 1, 1, 4096) < 0) {
			q->failed = true;
			(*q->buf)[q->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		(void)vsnprintf(*q->buf + q->len, *q->cap - q->len, fmt, ap);
		va_end(ap);
	}
	q->len += (size_t)n;
	q->p = *q->buf;
}

void ch_sql_str(struct ch_sql *q, const char *s)
{
	ch_sql_add(q, "'");
	for (; *s && !q->failed; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '\'')
			ch_sql_add(q, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			ch_sql_add(q, "\\x%02x", c);
		else
			ch_sql_add(q, "%c", c);
	}
	ch_sql_add(q, "'");
}

void ch_sql_addr(struct ch_sql *q, const uint8_t a[16])
{
	ch_sql_add(q, "toFixedString(unhex('");
	for (int i = 0; i < 16; i++)
		ch_sql_add(q, "%02x", a[i]);
	ch_sql_add(q, "'), 16)");
}

size_t ch_name_reverse(const char *name, char *out)
{
	size_t n = strnlen(name, WIRE_NAME_MAX);

	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)name[n - 1 - i]);
	out[n] = '.';
	out[n + 1] = '\0';
	return n + 1;
}
