/* clickhouse.h - what tests may use of the ClickHouse backend specifically. The schema it
 * creates is a public interface (README, "ClickHouse schema"): users point Grafana or
 * clickhouse-client at it, so it changes only by migrations, and only by adding. */
#ifndef AYAFLOW_COLLECTOR_STORE_CLICKHOUSE_H
#define AYAFLOW_COLLECTOR_STORE_CLICKHOUSE_H

/* The schema version this program writes (max(version) of table ayaflow_schema). A
 * store of a newer version is refused; an older one is migrated by store_open. */
#define STORE_CLICKHOUSE_SCHEMA_VERSION 1

#endif
