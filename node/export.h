/* export.h - the node's side of the wire: at the end of every aggregation window the
 * connections with activity in it become flow records (their deltas since the last
 * window, oriented src -> dst), packed into one or more FlowBatches (lib/wire), kept in
 * the bounded spool until the collector acknowledges them, and sent over nng
 * (lib/transport) with several requests in flight. Replies arrive on nng threads and are
 * queued to the main thread through an eventfd; everything else runs on the main thread.
 * A collector that is down never blocks capture or the API: batches wait in the spool. */
#ifndef AYAFLOW_NODE_EXPORT_H
#define AYAFLOW_NODE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/flow.h"
#include "transport.h"
#include "wire.h"

struct live_table;
struct live_flow;
struct live_counts;

/* Calls fn(fn_arg, f) on every flow of the kernel map (drain_walk_flows); returns how many
 * or -errno. */
typedef int (*export_walk_fn)(void *arg, void (*fn)(void *fn_arg, const struct live_flow *f),
			      void *fn_arg);

struct export_config {
	char *const *urls; /* collector URLs (tcp://host:7400) */
	size_t nurls;
	const struct transport_tls *tls; /* for tls+tcp:// URLs (transport.h); NULL: none */
	size_t spool_bytes;		 /* --spool-size */
	unsigned int inflight;		 /* requests in flight */
	uint32_t timeout_ms;		 /* a batch not acknowledged by then is resent */
	const char *node_name;
	const char *agent_version;
	/* The interface name of an ifindex and the domain of a connection, for records
	 * (both may return NULL; domain may be NULL itself). */
	const char *(*ifname)(void *arg, unsigned int ifindex);
	const char *(*domain)(void *arg, const struct live_flow *f);
	const char *(*hostname)(void *arg, const uint8_t *addr, uint8_t ip_version);
	void *ifname_arg; /* arg of all three */
};

/* Counters for /metrics and /api/stats; cumulative since start. */
struct export_stats {
	uint64_t batches_sent; /* first sends */
	uint64_t records_sent;
	uint64_t batches_acked;
	uint64_t records_acked;
	uint64_t batches_resent;
	uint64_t batches_rejected;	  /* the collector refused them: dropped */
	uint64_t batches_duplicate;	  /* acknowledged as already stored */
	uint64_t batches_dropped;	  /* by the full spool (and not stored after all) */
	uint64_t lost_spool_full;	  /* packets: the loss ledger's export_spool_full */
	uint64_t lost_collector_rejected; /* packets: collector_rejected */
	uint64_t spool_bytes;
	uint64_t spool_batches;
	/* Connections to a collector closed for sending no acknowledgement within the
	 * timeout, and of those the ones whose collector was then held off while another
	 * answered (transport.h: "Servers that stop answering"). */
	uint64_t connections_closed;
	uint64_t collector_holds;
	bool connected;
};

struct export;

/* NULL with errno set and a message in err (e.g. a malformed collector URL). */
struct export *export_new(const struct export_config *cfg, char *err, size_t errlen);
/* Stops the transport and frees the spool. Accepts NULL. */
void export_free(struct export *x);
/* The fd to poll for replies (readable: call export_process). */
int export_fd(const struct export *x);
/* Adds the last counters of a connection that is being removed (read atomically with
 * its removal from the kernel map), less those exported before, to the current window. */
void export_add_final(struct export *x, const struct live_flow *f,
		      const struct live_counts *exported, int64_t mono_to_unix_ns);
/* Adds a DNS record to the current window. */
void export_add_dns(struct export *x, const struct wire_dns *d);
/* Closes the window [start_ms, end_ms): records of every connection of t with activity
 * (their counters as walk reads them now, less t's exported ones), batches into the
 * spool, sending. totals/counters are the node's cumulative ones. 0, or walk's -errno
 * (the batch is sent all the same; what was not walked goes with the next window). */
int export_window(struct export *x, struct live_table *t, export_walk_fn walk, void *walk_arg,
		  uint64_t start_ms, uint64_t end_ms, int64_t mono_to_unix_ns,
		  const struct flow_total *totals, const uint64_t *counters);
/* Handles replies and sends what waits. Call when export_fd is readable and each tick. */
void export_process(struct export *x);
void export_get_stats(struct export *x, struct export_stats *out);

#endif
