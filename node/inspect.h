/* inspect.h - deep inspection in user space (--deep-inspect): reads the classifier's
 * payload snippets from the ring buffer, parses DNS messages (node/dns.c) and TLS
 * ClientHellos (node/tls.c), and attributes domains to connections:
 *   1. the TLS SNI of that very connection,
 *   2. else the name a DNS answer resolved the connection's server address from
 *      (an address -> name cache bounded in size, entries live for the record's TTL);
 *   DNS connections themselves carry the name they asked for.
 * Matched DNS queries and responses become DNS records (struct wire_dns) handed to a sink
 * (the exporter). Main thread only; everything is bounded and what does not fit is
 * counted. */
#ifndef AYAFLOW_NODE_INSPECT_H
#define AYAFLOW_NODE_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/flow.h"
#include "dns.h"
#include "tls.h"
#include "wire.h"

struct live_flow;

enum inspect_source {
	INSPECT_SRC_DNS = 0,
	INSPECT_SRC_SNI,
	INSPECT_SRC_PTR,
	INSPECT_SRC_MAX,
};

/* "dns", "sni", "ptr" */
const char *inspect_source_name(enum inspect_source s);

struct inspect_stats {
	uint64_t snippets;		   /* snippets read from the ring buffer */
	uint64_t domains[INSPECT_SRC_MAX]; /* names learned, by source */
	uint64_t dns_queries;		   /* queries seen */
	uint64_t dns_responses[16];	   /* responses seen, by rcode */
	uint64_t dns_unanswered;	   /* queries with no response within the timeout */
	uint64_t dns_parse_failures[DNS_ERR_MAX];
	uint64_t tls_parse_failures[TLS_ERR_MAX];
	uint64_t tls_versions[5]; /* ClientHellos by highest version offered: SSL3.0..TLS1.3 */
	uint64_t cache_full;	  /* names not kept: a cache was full */
};

/* Completed DNS exchanges go here (d is valid during the call only). */
typedef void (*inspect_dns_sink)(void *arg, const struct wire_dns *d);

struct inspect_config {
	int ringbuf_fd;		   /* the classifier's `snippets` map; owned by the caller */
	size_t max_names;	   /* per cache: flow names, address names, pending queries */
	inspect_dns_sink dns_sink; /* may be NULL */
	void *sink_arg;
};

/* NULL with errno set and a message in err. */
struct inspect *inspect_new(const struct inspect_config *cfg, char *err, size_t errlen);
void inspect_free(struct inspect *x);
/* An fd that is readable when the kernel woke the ring buffer (batched wakeups). */
int inspect_fd(const struct inspect *x);
/* Reads every waiting snippet. mono_to_unix_ns converts snippet times. 0 or -errno. */
int inspect_poll(struct inspect *x, int64_t mono_to_unix_ns);
/* Drops expired names and turns queries unanswered for too long into records. */
void inspect_expire(struct inspect *x, uint64_t now_mono_ns, int64_t mono_to_unix_ns);
/* The domain of a connection (see above), or NULL. Valid until the next call that
 * changes x. */
const char *inspect_domain(struct inspect *x, const struct live_flow *f, uint64_t now_mono_ns);
/* The connection is gone: forget its own name. */
void inspect_forget(struct inspect *x, const struct flow_key *key);
void inspect_get_stats(const struct inspect *x, struct inspect_stats *out);

#endif
