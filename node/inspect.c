/* inspect.c - deep inspection: snippets -> DNS/TLS parsers -> domain attribution and DNS
 * records (see inspect.h). Three bounded maps: the name of a connection (SNI, or the
 * name a DNS connection asked for), the name of a server address (DNS answers, with
 * TTL), and DNS queries waiting for their response. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "inspect.h"
#include "kvmap.h"
#include "live.h"
#include "log.h"

#define INSPECT_QUERY_TIMEOUT_NS (5ull * 1000000000) /* unanswered after this */
#define INSPECT_TTL_MAX_S	 86400		     /* an address name lives at most this long */

struct inspect_name {
	char name[WIRE_NAME_MAX + 1];
};

struct inspect_addr_name {
	uint64_t expires_ns; /* monotonic clock */
	char name[WIRE_NAME_MAX + 1];
};

struct inspect_qkey {
	uint8_t client[16];
	uint8_t server[16];
	uint16_t client_port;
	uint16_t id;
	uint8_t pad[4]; /* zeroed: keys are compared as bytes */
};

struct inspect_query {
	uint64_t ts_ns;
	uint16_t qtype;
	uint16_t server_port;
	uint8_t ip_version;
	char name[WIRE_NAME_MAX + 1];
};

struct inspect {
	struct inspect_config cfg;
	struct ring_buffer *rb;
	struct kvmap *flow_names; /* struct flow_key -> struct inspect_name */
	struct kvmap *addr_names; /* 16-byte address -> struct inspect_addr_name */
	struct kvmap *queries;	  /* struct inspect_qkey -> struct inspect_query */
	void *expired;		  /* max_names keys, for removal after a walk */
	size_t nexpired;
	int64_t mono_to_unix_ns; /* of the current poll */
	struct inspect_stats stats;
};

const char *inspect_source_name(enum inspect_source s)
{
	static const char *const names[INSPECT_SRC_MAX] = {"dns", "sni", "ptr"};

	return s < INSPECT_SRC_MAX ? names[s] : "unknown";
}

static uint64_t inspect_unix_ms(const struct inspect *x, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + x->mono_to_unix_ns) / 1000000;
}

/* Sets the name of a connection; an SNI is never replaced by a DNS name. */
static void inspect_set_flow_name(struct inspect *x, const struct flow_key *key, const char *name,
				  enum inspect_source src)
{
	bool created;
	struct inspect_name *n;

	if (strlen(name) > WIRE_NAME_MAX) /* a 254/255-byte SNI: no DNS name is that long */
		return;
	n = kvmap_put(x->flow_names, key, &created);
	if (!n) {
		x->stats.cache_full++;
		return;
	}
	if (!created && src != INSPECT_SRC_SNI)
		return;
	if (created || strcmp(n->name, name) != 0) {
		snprintf(n->name, sizeof(n->name), "%s", name);
		if (src == INSPECT_SRC_SNI)
			x->stats.domains[src]++;
	}
}

static void inspect_set_addr_name(struct inspect *x, const uint8_t addr[16], const char *name,
				  uint32_t ttl, uint64_t now_ns)
{
	bool created;
	struct inspect_addr_name *n;

	if (strlen(name) > WIRE_NAME_MAX) /* as for flow names: it would be cut short */
		return;
	n = kvmap_put(x->addr_names, addr, &created);
	if (!n) {
		x->stats.cache_full++;
		return;
	}
	if (ttl > INSPECT_TTL_MAX_S)
		ttl = INSPECT_TTL_MAX_S;
	if (created || strcmp(n->name, name) != 0)
		x->stats.domains[INSPECT_SRC_DNS]++;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->expires_ns = now_ns + (uint64_t)ttl * 1000000000ull;
}

/* A DNS record from a query (q, always) and its response (m, NULL when unanswered). */
static void inspect_emit(struct inspect *x, const struct inspect_qkey *k,
			 const struct inspect_query *q, const struct dns_message *m,
			 uint64_t resp_ns)
{
	struct wire_dns d;

	if (!x->cfg.dns_sink)
		return;
	memset(&d, 0, sizeof(d));
	d.ts_ms = inspect_unix_ms(x, q->ts_ns);
	snprintf(d.name, sizeof(d.name), "%s", q->name);
	d.qtype = q->qtype;
	d.ip_version = q->ip_version;
	memcpy(d.client_addr, k->client, 16);
	memcpy(d.server_addr, k->server, 16);
	d.client_port = k->client_port;
	d.server_port = q->server_port;
	if (m) {
		d.answered = 1;
		d.rcode = m->rcode;
		if (resp_ns > q->ts_ns)
			d.latency_us = (uint32_t)((resp_ns - q->ts_ns) / 1000);
		for (size_t i = 0; i < m->nanswers && d.nanswers < WIRE_DNS_MAX_ANSWERS; i++) {
			struct wire_dns_answer *a = &d.answers[d.nanswers++];

			a->type = m->answers[i].type;
			a->ttl = m->answers[i].ttl;
			memcpy(a->addr, m->answers[i].addr, 16);
			snprintf(a->target, sizeof(a->target), "%.253s", m->answers[i].target);
		}
	}
	x->cfg.dns_sink(x->cfg.sink_arg, &d);
}

static void inspect_dns(struct inspect *x, const struct flow_snippet *sn)
{
	const struct flow_key *k = &sn->key;
	bool from_a = sn->way == FLOW_WAY_AB;
	const uint8_t *sender = from_a ? k->addr_a : k->addr_b;
	const uint8_t *receiver = from_a ? k->addr_b : k->addr_a;
	uint16_t sport = from_a ? k->port_a : k->port_b;
	uint16_t dport = from_a ? k->port_b : k->port_a;
	struct inspect_qkey qk;
	struct dns_message m;
	enum dns_error why;
	int rc;

	rc = sn->kind == FLOW_SNIPPET_DNS_TCP ? dns_parse_tcp(sn->data, sn->len, &m, &why)
					      : dns_parse(sn->data, sn->len, &m, &why);
	if (rc < 0) {
		x->stats.dns_parse_failures[why < DNS_ERR_MAX ? why : 0]++;
		return;
	}
	memset(&qk, 0, sizeof(qk));
	qk.id = m.id;
	if (!m.response) {
		struct inspect_query *q;
		bool created;

		x->stats.dns_queries++;
		if (m.qname[0])
			inspect_set_flow_name(x, k, m.qname, INSPECT_SRC_DNS);
		memcpy(qk.client, sender, 16);
		memcpy(qk.server, receiver, 16);
		qk.client_port = sport;
		q = kvmap_put(x->queries, &qk, &created);
		if (!q) {
			x->stats.cache_full++;
			return;
		}
		q->ts_ns = sn->ts_ns;
		q->qtype = m.qtype;
		q->server_port = dport;
		q->ip_version = k->ip_version;
		snprintf(q->name, sizeof(q->name), "%.253s", m.qname);
		return;
	}

	/* A response: the sender is the server. */
	x->stats.dns_responses[m.rcode & 15]++;
	if (m.qname[0])
		inspect_set_flow_name(x, k, m.qname, INSPECT_SRC_DNS);
	memcpy(qk.client, receiver, 16);
	memcpy(qk.server, sender, 16);
	qk.client_port = dport;
	{
		const uint8_t *addrs[DNS_MAX_ANSWERS];
		size_t n = dns_resolved_addrs(&m, addrs, DNS_MAX_ANSWERS);
		struct inspect_query *q = kvmap_get(x->queries, &qk);
		struct inspect_query unmatched;

		for (size_t i = 0; i < n; i++) {
			/* addrs point at answers[j].addr: recover j for the record's TTL. */
			size_t j = (size_t)((const char *)addrs[i] - (const char *)m.answers) /
				   sizeof(m.answers[0]);

			inspect_set_addr_name(x, addrs[i], m.qname, m.answers[j].ttl, sn->ts_ns);
		}
		if (!q) {
			/* The query was not seen (started before us, or lost): a record
			 * without latency. */
			memset(&unmatched, 0, sizeof(unmatched));
			unmatched.ts_ns = sn->ts_ns; /* latency 0: resp_ns == ts_ns */
			unmatched.qtype = m.qtype;
			unmatched.server_port = sport;
			unmatched.ip_version = k->ip_version;
			snprintf(unmatched.name, sizeof(unmatched.name), "%.253s", m.qname);
			inspect_emit(x, &qk, &unmatched, &m, sn->ts_ns);
			return;
		}
		inspect_emit(x, &qk, q, &m, sn->ts_ns);
		kvmap_del(x->queries, &qk);
	}
}

static void inspect_tls(struct inspect *x, const struct flow_snippet *sn)
{
	struct tls_client_hello h;
	enum tls_error why;

	if (tls_parse_client_hello(sn->data, sn->len, &h, &why) < 0) {
		x->stats.tls_parse_failures[why < TLS_ERR_MAX ? why : 0]++;
		return;
	}
	if (h.max_version >= TLS_VERSION_SSL3_0 && h.max_version <= TLS_VERSION_TLS1_3)
		x->stats.tls_versions[h.max_version - TLS_VERSION_SSL3_0]++;
	inspect_set_flow_name(x, &sn->key, h.sni, INSPECT_SRC_SNI);
}

static int inspect_on_snippet(void *ctx, void *data, size_t size)
{
	struct inspect *x = ctx;
	const struct flow_snippet *sn = data;

	if (size < sizeof(*sn) || sn->len > FLOW_SNIPPET_MAX)
		return 0;
	x->stats.snippets++;
	if (sn->kind == FLOW_SNIPPET_TLS)
		inspect_tls(x, sn);
	else
		inspect_dns(x, sn);
	return 0;
}

struct inspect *inspect_new(const struct inspect_config *cfg, char *err, size_t errlen)
{
	struct inspect *x = calloc(1, sizeof(*x));
	size_t keysz = sizeof(struct inspect_qkey) > sizeof(struct flow_key)
			   ? sizeof(struct inspect_qkey)
			   : sizeof(struct flow_key);

	if (!x)
		goto oom;
	x->cfg = *cfg;
	x->flow_names =
	    kvmap_new(sizeof(struct flow_key), sizeof(struct inspect_name), cfg->max_names);
	x->addr_names = kvmap_new(16, sizeof(struct inspect_addr_name), cfg->max_names);
	x->queries =
	    kvmap_new(sizeof(struct inspect_qkey), sizeof(struct inspect_query), cfg->max_names);
	x->expired = calloc(cfg->max_names, keysz);
	if (!x->flow_names || !x->addr_names || !x->queries || !x->expired)
		goto oom;
	x->rb = ring_buffer__new(cfg->ringbuf_fd, inspect_on_snippet, x, NULL);
	if (!x->rb) {
		snprintf(err, errlen, "cannot read the snippet ring buffer: %s", strerror(errno));
		inspect_free(x);
		return NULL;
	}
	return x;
oom:
	snprintf(err, errlen, "out of memory for deep inspection");
	inspect_free(x);
	errno = ENOMEM;
	return NULL;
}

void inspect_free(struct inspect *x)
{
	if (!x)
		return;
	ring_buffer__free(x->rb);
	kvmap_free(x->flow_names);
	kvmap_free(x->addr_names);
	kvmap_free(x->queries);
	free(x->expired);
	free(x);
}

int inspect_fd(const struct inspect *x)
{
	return ring_buffer__epoll_fd(x->rb);
}

int inspect_poll(struct inspect *x, int64_t mono_to_unix_ns)
{
	int n;

	x->mono_to_unix_ns = mono_to_unix_ns;
	n = ring_buffer__consume(x->rb);
	return n < 0 ? n : 0;
}

struct inspect_walk {
	struct inspect *x;
	uint64_t now_ns;
};

static void inspect_expire_addr(void *arg, const void *key, void *val)
{
	struct inspect_walk *w = arg;
	const struct inspect_addr_name *n = val;

	if (n->expires_ns <= w->now_ns)
		memcpy((uint8_t *)w->x->expired + w->x->nexpired++ * 16, key, 16);
}

static void inspect_expire_query(void *arg, const void *key, void *val)
{
	struct inspect_walk *w = arg;
	const struct inspect_query *q = val;

	if (q->ts_ns + INSPECT_QUERY_TIMEOUT_NS <= w->now_ns) {
		const struct inspect_qkey *k = key;

		w->x->stats.dns_unanswered++;
		inspect_emit(w->x, k, q, NULL, 0);
		memcpy((struct inspect_qkey *)w->x->expired + w->x->nexpired++, key, sizeof(*k));
	}
}

void inspect_expire(struct inspect *x, uint64_t now_mono_ns, int64_t mono_to_unix_ns)
{
	struct inspect_walk w = {x, now_mono_ns};

	x->mono_to_unix_ns = mono_to_unix_ns;
	x->nexpired = 0;
	kvmap_foreach(x->addr_names, inspect_expire_addr, &w);
	for (size_t i = 0; i < x->nexpired; i++)
		kvmap_del(x->addr_names, (uint8_t *)x->expired + i * 16);
	x->nexpired = 0;
	kvmap_foreach(x->queries, inspect_expire_query, &w);
	for (size_t i = 0; i < x->nexpired; i++)
		kvmap_del(x->queries, (struct inspect_qkey *)x->expired + i);
	x->nexpired = 0;
}

const char *inspect_domain(struct inspect *x, const struct live_flow *f, uint64_t now_mono_ns)
{
	const struct inspect_name *n = kvmap_get(x->flow_names, &f->key);
	const struct inspect_addr_name *a;
	struct live_orient o;

	if (n)
		return n->name;
	live_flow_orient(f, &o);
	a = kvmap_get(x->addr_names, o.dst_addr);
	if (a && a->expires_ns > now_mono_ns)
		return a->name;
	return NULL;
}

void inspect_forget(struct inspect *x, const struct flow_key *key)
{
	kvmap_del(x->flow_names, key);
}

void inspect_get_stats(const struct inspect *x, struct inspect_stats *out)
{
	*out = x->stats;
}
