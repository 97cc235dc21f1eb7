/* drain.h - reads the classifier's maps into user space: flow entries into the live
 * table (batched lookups), per-CPU totals and counters summed over CPUs, and the
 * removal of ended connections from the kernel map (lookup-and-delete, so the final
 * counters of a connection are read atomically with its removal). Main thread only. */
#ifndef AYAFLOW_NODE_DRAIN_H
#define AYAFLOW_NODE_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/flow.h"
#include "live.h"

struct drain;

/* Map fds stay owned by the caller (the skeleton) and must outlive the drain. */
struct drain *drain_new(int flows_fd, int totals_fd, int counters_fd);
void drain_free(struct drain *d);
/* Gives every kernel flow entry to t (live_table_update). Returns the number read or
 * -errno. */
int drain_read_flows(struct drain *d, struct live_table *t);
/* Calls fn on every kernel flow entry (the window export reads the map again: the table
 * keeps no counters). Returns the number read or -errno. */
int drain_walk_flows(struct drain *d, void (*fn)(void *arg, const struct live_flow *f), void *arg);
/* Sees a connection just before it leaves the table: last is its final value, read
 * atomically with its removal from the kernel map, or NULL when the map no longer held it;
 * exported may be changed. */
typedef void (*drain_final_fn)(void *arg, const struct live_flow *last, const struct flow_key *key,
			       struct live_counts *exported);
/* Sums the per-CPU totals and counters. 0 or -errno. */
int drain_read_totals(struct drain *d, struct flow_total totals[FLOW_TOTAL_SLOTS],
		      uint64_t counters[FLOW_CNT_MAX]);
/* Removes connections that ended (see live_table_expired) from the kernel map and t.
 * on_final (may be NULL) sees each one just before it goes. Returns how many were removed
 * or -errno. */
int drain_expire(struct drain *d, struct live_table *t, uint64_t now_ns, uint64_t idle_ns,
		 uint64_t closed_ns, drain_final_fn on_final, void *arg);

#endif
