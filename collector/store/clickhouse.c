/* clickhouse.c - the ClickHouse backend of the history store (clickhouse:// URLs). A stub
 * until the backend is written: every open fails with ENOTSUP. */
#include <errno.h>
#include <stdio.h>

#include "backend.h"

struct store *store_clickhouse_open(const struct store_config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	snprintf(err, errlen, "ClickHouse backend not built yet");
	errno = ENOTSUP;
	return NULL;
}

struct store_reader *store_clickhouse_reader_open(const struct store_config *cfg, char *err,
						  size_t errlen)
{
	(void)cfg;
	snprintf(err, errlen, "ClickHouse backend not built yet");
	errno = ENOTSUP;
	return NULL;
}
