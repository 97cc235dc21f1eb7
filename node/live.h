/* live.h - the node's live connection table: the kernel flow map's keys with what user
 * space must remember between reads of the map (the counters already exported, and what
 * decides when a connection has ended), and the immutable snapshots the HTTP thread reads.
 * The counters themselves are not mirrored (48 bytes a connection): the drain hands every
 * value it reads to live_table_update, which keeps the busiest for the next snapshot, and
 * the window export reads the map again (drain_walk_flows).
 *
 * Threads: the main thread alone writes the table; readers only ever see snapshots
 * (struct live_snapshot), published and reference-counted under one mutex. */
#ifndef AYAFLOW_NODE_LIVE_H
#define AYAFLOW_NODE_LIVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/flow.h"
#include "export.h"
#include "inspect.h"

/* The counters a window export subtracts (flags and times are not deltas). */
struct live_counts {
	uint64_t packets[FLOW_WAY_MAX];
	uint64_t bytes[FLOW_WAY_MAX];
};

/* A connection as read from the kernel map: what snapshots, the export and deep
 * inspection see. */
struct live_flow {
	struct flow_key key;
	struct flow_value val; /* cumulative */
};

/* One connection in the table: 88 bytes, held as one kvmap entry (key first, not stored
 * twice). */
struct live_conn {
	struct flow_key key;
	struct live_counts exported; /* counters at the last window export (0 when new) */
	/* The value last read: its last_seen_ns in whole seconds, rounded up (timeouts are
	 * whole seconds, and an end is never seen early; u32 lasts 136 years of uptime). */
	uint32_t last_seen_s;
	uint32_t closed : 1; /* live_conn_closed() */
	uint32_t gen : 31;   /* the table's snapshot generation it was last read in */
};

/* Connections a snapshot carries (the busiest): at least what one API answer can show
 * (node/api.c API_LIVE_MAX, 1000), so that a snapshot costs the same at any table size. */
#define LIVE_SNAPSHOT_CONNS 1000

struct live_table;

/* max: the bound (the kernel map's, so the mirror can never overflow). Memory follows the
 * connections present (kvmap.h), not max. */
struct live_table *live_table_new(size_t max);
void live_table_free(struct live_table *t);
size_t live_table_count(const struct live_table *t);
/* Inserts or overwrites what the table keeps of the kernel's value, and offers the value to
 * the next snapshot (the busiest LIVE_SNAPSHOT_CONNS values read since the last one).
 * -ENOSPC when full (cannot happen while max >= map size), -ENOMEM when the table could
 * not grow or had no room for the snapshot's candidates. */
int live_table_update(struct live_table *t, const struct flow_key *key,
		      const struct flow_value *val);
/* 0, or -ENOENT. */
int live_table_remove(struct live_table *t, const struct flow_key *key);
/* The connection with this key, or NULL. The pointer is valid until the next change. */
struct live_conn *live_table_find(struct live_table *t, const struct flow_key *key);
/* True when the TCP connection has ended: FIN seen both ways, or a RST. */
bool live_conn_closed(const struct flow_value *val);
/* Writes up to max keys of connections that ended: idle longer than idle_ns, or
 * closed (live_conn_closed) and quiet longer than closed_ns. Returns how many. */
size_t live_table_expired(const struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
			  uint64_t closed_ns, struct flow_key *out, size_t max);
/* A connection seen from the side that started it (src). Pointers into the key. */
struct live_orient {
	const uint8_t *src_addr;
	const uint8_t *dst_addr;
	uint16_t src_port;
	uint16_t dst_port;
	int fwd; /* the enum flow_way index of src -> dst; !fwd is dst -> src */
};

void live_flow_orient(const struct live_flow *f, struct live_orient *o);

/* Names of one connection in a snapshot (deep inspection, reverse DNS); NULL: unknown. */
struct live_names {
	const char *domain;
	const char *src_hostname;
	const char *dst_hostname;
};

/* What the HTTP thread reads: taken once per drain tick by the main thread. */
struct live_snapshot {
	int refs;		 /* under live_publisher.lock */
	uint64_t taken_ms;	 /* Unix ms */
	int64_t mono_to_unix_ns; /* add to a CLOCK_MONOTONIC value (the classifier's clocks) for
				    Unix ns */
	struct flow_total totals[FLOW_TOTAL_SLOTS]; /* summed over CPUs */
	uint64_t counters[FLOW_CNT_MAX];
	double packets_per_second; /* over the last aggregation window */
	double bytes_per_second;
	size_t count;		  /* connections in the table */
	size_t nconns;		  /* in conns: <= min(count, LIVE_SNAPSHOT_CONNS) */
	struct live_flow *conns;  /* nconns entries, most packets first */
	struct live_names *names; /* NULL, or nconns entries pointing into arena */
	char *arena;		  /* owned */
};

/* A new snapshot (refs = 1) of the table: its count and the LIVE_SNAPSHOT_CONNS busiest
 * values given to live_table_update since the last snapshot whose connections are still in
 * the table (the last value read of each), sorted (most packets first, then oldest, then
 * key); one removed after it was read leaves its place empty until the next read. The next
 * update starts a new selection. NULL on ENOMEM. */
struct live_snapshot *live_table_snapshot(struct live_table *t);

struct live_publisher {
	pthread_mutex_t lock;
	struct live_snapshot *current;
	/* The export counters change with every acknowledgement, between snapshots. */
	bool export_enabled;
	struct export_stats export;
	bool inspect_enabled;
	struct inspect_stats inspect;
};

int live_publisher_init(struct live_publisher *p);
void live_publisher_fini(struct live_publisher *p);
/* Replaces the current snapshot; takes the caller's reference to snap. */
void live_publisher_set(struct live_publisher *p, struct live_snapshot *snap);
/* A reference to the current snapshot (NULL before the first), released with put. */
struct live_snapshot *live_publisher_get(struct live_publisher *p);
void live_publisher_put(struct live_publisher *p, struct live_snapshot *snap);
/* Publishes the export counters (main thread) / copies them out (readers); get returns
 * false, leaving *out zeroed, while no collector is configured. */
void live_publisher_set_export(struct live_publisher *p, const struct export_stats *x);
bool live_publisher_get_export(struct live_publisher *p, struct export_stats *out);
/* The same for the deep-inspection counters. */
void live_publisher_set_inspect(struct live_publisher *p, const struct inspect_stats *x);
bool live_publisher_get_inspect(struct live_publisher *p, struct inspect_stats *out);

#endif
