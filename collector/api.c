/* api.c - routes of the collector's HTTP API (see api.h). Field and metric names follow
 * the node's API (and ayaFlow) so that a dashboard can point at either. Every query
 * parameter is checked here; a bad one is a 400 naming it, and /api/history, /api/dns and
 * /api/domains refuse parameters they do not know, so a typo never silently widens a
 * query. The three share the parsing of their parameters (api_args_*, api_arg_*). */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flowfmt.h"
#include "grow.h"
#include "log.h"
#include "params.h"
#include "prom.h"
#include "store/store.h"
#include "version.h"
#include "web.h"

#define API_OFFSET_MAX (1ull << 53)

struct api {
	struct api_config cfg;
	/* The HTTP thread's read-only connection to the store, opened on first use; only
	 * libmicrohttpd's single polling thread touches it. */
	struct store_reader *reader;
};

struct api *api_new(const struct api_config *cfg)
{
	struct api *api = calloc(1, sizeof(*api));

	if (!api)
		return NULL;
	api->cfg = *cfg;
	return api;
}

void api_free(struct api *api)
{
	if (!api)
		return;
	store_reader_close(api->reader);
	free(api);
}

static uint64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t api_uptime_s(const struct api *api, uint64_t now_ms)
{
	return now_ms > api->cfg.start_unix_ms ? (now_ms - api->cfg.start_unix_ms) / 1000 : 0;
}

static struct store_reader *api_reader(struct api *api, struct http_reply *reply)
{
	char err[256] = "";

	if (api->reader)
		return api->reader;
	api->reader = store_reader_open(api->cfg.store, err, sizeof(err));
	if (!api->reader) {
		log_error("opening the history for reading: %s", err);
		http_reply_error(reply, 503, "history not available: %s", err);
	}
	return api->reader;
}

/* Answers -EAGAIN from a store call (the store is unreachable or did not answer in time)
 * with a 503 and closes the reader, so that the next request connects again; the reader
 * is this thread's alone and used by no one past this request. false for other errors. */
static bool api_store_unavailable(struct api *api, int err, struct http_reply *reply)
{
	if (err != -EAGAIN)
		return false;
	log_warn("history store unavailable: %s", store_reader_last_error(api->reader));
	http_reply_error(reply, 503, "history store unavailable: %s",
			 store_reader_last_error(api->reader));
	store_reader_close(api->reader);
	api->reader = NULL;
	return true;
}

/* {"unparsable": n, ...}: a loss ledger as JSON. */
static json_t *api_lost_json(const uint64_t lost[WIRE_LOSS_MAX])
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (int i = 0; i < WIRE_LOSS_MAX; i++) {
		if (json_object_set_new(o, wire_loss_name((enum wire_loss)i),
					json_integer((json_int_t)lost[i])) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* The cluster sums over the live view's nodes. */
struct api_cluster {
	struct live_node_info *nodes;
	size_t n;
	uint64_t connected;
	uint64_t total_packets; /* every node's latest cumulative total */
	uint64_t total_bytes;
	uint64_t active_connections; /* of the connected nodes */
	double packets_per_second;   /* of the connected nodes */
	double bytes_per_second;
	uint64_t lost[WIRE_LOSS_MAX];
};

static int api_cluster_get(struct api *api, uint64_t now_ms, struct api_cluster *c)
{
	int err;

	memset(c, 0, sizeof(*c));
	err = live_view_nodes(api->cfg.live, now_ms, &c->nodes, &c->n);
	if (err)
		return err;
	for (size_t i = 0; i < c->n; i++) {
		const struct live_node_info *n = &c->nodes[i];

		c->total_packets += n->total_packets;
		c->total_bytes += n->total_bytes;
		for (int r = 0; r < WIRE_LOSS_MAX; r++)
			c->lost[r] += n->lost[r];
		if (!n->connected)
			continue;
		c->connected++;
		c->active_connections += n->active_connections;
		c->packets_per_second += n->packets_per_second;
		c->bytes_per_second += n->bytes_per_second;
	}
	return 0;
}

static void api_health(struct api *api, struct http_reply *reply)
{
	uint64_t now = api_now_ms();
	struct ingest_stats st;
	struct api_cluster c;
	json_t *body;

	if (api_cluster_get(api, now, &c) < 0) {
		http_reply_error(reply, 500, "out of memory");
		return;
	}
	/* "degraded" (still 200: the process is alive, a restart would not help) while the
	 * store refuses writes, e.g. a full disk: batches are not acknowledged, the nodes
	 * keep them in their spools and resend them. */
	ingest_stats_get(api->cfg.ingest, &st);
	body = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "status",
			 st.store_failing ? "degraded" : "ok", "uptime_seconds",
			 (json_int_t)api_uptime_s(api, now), "nodes", (json_int_t)c.connected,
			 "active_connections", (json_int_t)c.active_connections, "total_packets",
			 (json_int_t)c.total_packets, "total_bytes", (json_int_t)c.total_bytes);
	if (body && st.store_failing)
		json_object_set_new(body, "store_error", json_string(st.store_error));
	if (http_reply_json(reply, 200, body) < 0)
		http_reply_error(reply, 500, "out of memory");
	free(c.nodes);
}

static json_t *api_ingest_json(const struct ingest_stats *st)
{
	json_t *reasons = json_object();

	if (!reasons)
		return NULL;
	for (int i = WIRE_REJECT_NONE + 1; i < WIRE_REJECT_MAX; i++)
		json_object_set_new(reasons, wire_reject_name((enum wire_reject)i),
				    json_integer((json_int_t)st->by_reason[i]));
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batches_received",
	    (json_int_t)st->received, "batches_stored", (json_int_t)st->stored, "batches_duplicate",
	    (json_int_t)st->duplicate, "batches_rejected", (json_int_t)st->rejected,
	    "batches_retry", (json_int_t)st->retry, "rejected_by_reason", reasons, "records_stored",
	    (json_int_t)st->records_stored, "dns_records_stored",
	    (json_int_t)st->dns_records_stored, "queue_depth", (json_int_t)st->queue_depth,
	    "queue_capacity", (json_int_t)INGEST_QUEUE_MAX, "queue_full",
	    (json_int_t)st->queue_full, "retention_deleted", (json_int_t)st->retention_deleted,
	    "batches_followed", (json_int_t)st->followed);
}

/* {"backend": "clickhouse", "url": "clickhouse://host:8123/db"}: which store answers
 * (never its password). */
static json_t *api_store_json(const struct api *api)
{
	char url[sizeof(api->cfg.store->url.path) + 16];

	store_url_format(&api->cfg.store->url, url, sizeof(url));
	return json_pack("{s:s, s:s}", "backend", store_kind_name(api->cfg.store->url.kind), "url",
			 url);
}

static void api_stats(struct api *api, struct http_reply *reply)
{
	uint64_t now = api_now_ms();
	struct ingest_stats st;
	struct live_view_counts lc;
	struct api_cluster c;
	json_t *nodes = NULL, *body;

	if (api_cluster_get(api, now, &c) < 0)
		goto oom;
	ingest_stats_get(api->cfg.ingest, &st);
	live_view_counts(api->cfg.live, &lc);
	nodes = json_array();
	if (!nodes)
		goto oom;
	for (size_t i = 0; i < c.n; i++) {
		const struct live_node_info *n = &c.nodes[i];

		if (json_array_append_new(
			nodes,
			json_pack("{s:s, s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:b}", "name", n->name,
				  "packets", (json_int_t)n->total_packets, "bytes",
				  (json_int_t)n->total_bytes, "active_connections",
				  (json_int_t)n->active_connections, "packets_per_second",
				  n->packets_per_second, "bytes_per_second", n->bytes_per_second,
				  "lost_packets", api_lost_json(n->lost), "last_seen",
				  (json_int_t)n->last_seen_ms, "connected", (int)n->connected)) < 0)
			goto oom;
	}
	body =
	    json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:I, s:o, s:I, s:{s:I, s:I, "
		      "s:I, s:I}, s:o}",
		      "uptime_seconds", (json_int_t)api_uptime_s(api, now), "total_packets",
		      (json_int_t)c.total_packets, "total_bytes", (json_int_t)c.total_bytes,
		      "active_connections", (json_int_t)c.active_connections, "packets_per_second",
		      c.packets_per_second, "bytes_per_second", c.bytes_per_second, "lost_packets",
		      api_lost_json(c.lost), "nodes", nodes, "nodes_connected",
		      (json_int_t)c.connected, "ingest", api_ingest_json(&st), "db_bytes",
		      (json_int_t)(st.db_bytes > 0 ? st.db_bytes : 0), "live", "connections",
		      (json_int_t)lc.connections, "nodes", (json_int_t)lc.nodes, "connections_over",
		      (json_int_t)lc.conns_over, "nodes_over", (json_int_t)lc.nodes_over, "runtime",
		      config_to_json(api->cfg.options, api->cfg.noptions, api->cfg.opts));
	nodes = NULL; /* stolen by json_pack, also on failure */
	if (body && json_object_set_new(body, "store", api_store_json(api)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (http_reply_json(reply, 200, body) < 0)
		goto oom;
	free(c.nodes);
	return;
oom:
	json_decref(nodes);
	free(c.nodes);
	http_reply_error(reply, 500, "out of memory");
}

static void api_nodes(struct api *api, struct http_reply *reply)
{
	uint64_t now = api_now_ms();
	struct store_reader *r = api_reader(api, reply);
	struct live_node_info *live = NULL;
	struct store_node *nodes = NULL;
	size_t n = 0, nlive = 0;
	json_t *arr;
	int err;

	if (!r)
		return;
	err = store_list_nodes(r, &nodes, &n);
	if (api_store_unavailable(api, err, reply))
		return;
	if (err) {
		http_reply_error(reply, 500, "listing nodes: %s", store_reader_last_error(r));
		return;
	}
	if (live_view_nodes(api->cfg.live, now, &live, &nlive) < 0)
		goto oom;
	arr = json_array();
	if (!arr)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct store_node *s = &nodes[i];
		bool connected = false;

		for (size_t j = 0; j < nlive; j++) {
			if (strcmp(live[j].name, s->name) == 0)
				connected = live[j].connected;
		}
		if (json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:o, s:I, s:I, "
				  "s:I}",
				  "name", s->name, "boot_id", s->boot_id, "agent_version",
				  s->agent_version, "first_seen", (json_int_t)s->first_seen_ms,
				  "last_seen", (json_int_t)s->last_seen_ms, "connected",
				  (int)connected, "total_packets", (json_int_t)s->total_packets,
				  "total_bytes", (json_int_t)s->total_bytes, "active_connections",
				  (json_int_t)s->active_connections, "lost_packets",
				  api_lost_json(s->lost), "batches", (json_int_t)s->batches,
				  "records", (json_int_t)s->records, "last_seq",
				  (json_int_t)s->last_seq)) < 0) {
			json_decref(arr);
			goto oom;
		}
	}
	if (http_reply_json(reply, 200, json_pack("{s:o}", "nodes", arr)) < 0)
		goto oom;
	store_nodes_free(nodes);
	free(live);
	return;
oom:
	store_nodes_free(nodes);
	free(live);
	http_reply_error(reply, 500, "out of memory");
}

static void api_live(struct api *api, const struct http_request *req, struct http_reply *reply)
{
	const char *node = http_request_arg(req, "node");
	uint64_t now = api_now_ms(), limit, packets = 0, bytes = 0;
	struct live_conn_info *conns = NULL;
	struct api_cluster c = {0};
	size_t n = 0;
	json_t *arr = NULL;

	if (http_request_arg_uint(req, "limit", API_LIVE_DEFAULT, 1, API_LIVE_MAX, &limit, reply) <
	    0)
		return;
	if (node && (!*node || strlen(node) > WIRE_NAME_MAX)) {
		http_reply_error(reply, 400, "parameter 'node': empty or longer than %d bytes",
				 WIRE_NAME_MAX);
		return;
	}
	if (live_view_top(api->cfg.live, node, (size_t)limit, now, &conns, &n) < 0 ||
	    api_cluster_get(api, now, &c) < 0)
		goto oom;
	for (size_t i = 0; i < c.n; i++) {
		if (node && strcmp(node, c.nodes[i].name) != 0)
			continue;
		packets += c.nodes[i].total_packets;
		bytes += c.nodes[i].total_bytes;
	}
	arr = json_array();
	if (!arr)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct live_conn_info *l = &conns[i];
		struct flowfmt_conn v = {
		    .src_port = l->src_port,
		    .dst_port = l->dst_port,
		    .proto = l->proto,
		    .ip_version = l->ip_version,
		    .tcp_flags = l->tcp_flags,
		    .first_seen_ms = l->first_seen_ms,
		    .last_seen_ms = l->last_seen_ms,
		    .packets_sent = l->packets_sent,
		    .packets_received = l->packets_received,
		    .bytes_sent = l->bytes_sent,
		    .bytes_received = l->bytes_received,
		    .domain = l->domain[0] ? l->domain : NULL,
		    .src_hostname = l->src_hostname[0] ? l->src_hostname : NULL,
		    .dst_hostname = l->dst_hostname[0] ? l->dst_hostname : NULL,
		    .node = l->node,
		    .interface = l->interface[0] ? l->interface : NULL,
		};

		memcpy(v.src_addr, l->src_addr, 16);
		memcpy(v.dst_addr, l->dst_addr, 16);
		if (json_array_append_new(arr, flowfmt_conn_json(&v)) < 0)
			goto oom;
	}
	if (http_reply_json(reply, 200,
			    json_pack("{s:o, s:I, s:I}", "connections", arr, "total_packets",
				      (json_int_t)packets, "total_bytes", (json_int_t)bytes)) < 0) {
		arr = NULL;
		goto oom;
	}
	free(conns);
	free(c.nodes);
	return;
oom:
	json_decref(arr);
	free(conns);
	free(c.nodes);
	http_reply_error(reply, 500, "out of memory");
}

/* --- /api/history parameters --- */

static int api_arg_time(const struct http_request *req, const char *name, bool *has, uint64_t *out,
			struct http_reply *reply)
{
	const char *s = http_request_arg(req, name);

	if (!s)
		return 0;
	if (params_parse_time(s, out) < 0) {
		http_reply_error(reply, 400,
				 "parameter '%s': '%.64s' is not Unix milliseconds or an RFC 3339 "
				 "time (e.g. 2026-11-28T14:00:00Z)",
				 name, s);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

static int api_arg_ip(const struct http_request *req, const char *name, bool *has, uint8_t out[16],
		      struct http_reply *reply)
{
	const char *s = http_request_arg(req, name);

	if (!s)
		return 0;
	if (params_parse_ip(s, out) < 0) {
		http_reply_error(reply, 400,
				 "parameter '%s': '%.64s' is not an IPv4 or IPv6 address", name, s);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

static int api_arg_port(const struct http_request *req, const char *name, bool *has, uint16_t *out,
			struct http_reply *reply)
{
	uint64_t v;

	if (!http_request_arg(req, name))
		return 0;
	if (http_request_arg_uint(req, name, 0, 0, 65535, &v, reply) < 0)
		return -EINVAL;
	*out = (uint16_t)v;
	*has = true;
	return 0;
}

static int api_arg_name(const struct http_request *req, const char *name, const char **out,
			struct http_reply *reply)
{
	const char *s = http_request_arg(req, name);

	if (!s)
		return 0;
	/* domain and name: a lone "." would be the suffix of nothing */
	if (!*s || strlen(s) > WIRE_NAME_MAX ||
	    ((strcmp(name, "domain") == 0 || strcmp(name, "name") == 0) && !strcmp(s, "."))) {
		http_reply_error(reply, 400, "parameter '%s': empty or longer than %d bytes", name,
				 WIRE_NAME_MAX);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

/* A parameter none of the known ones is a 400 naming it and listing the known ones. */
static int api_args_known(const struct http_request *req, const char *const *known, size_t n,
			  struct http_reply *reply)
{
	const char *unknown = http_request_unknown_arg(req, known, n);
	char list[256];
	size_t used = 0;

	if (!unknown)
		return 0;
	list[0] = '\0';
	for (size_t i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 known[i]);
	http_reply_error(reply, 400, "unknown parameter '%.64s' (known: %s)", unknown, list);
	return -EINVAL;
}

/* limit (1.., default def, larger clamped to max) and offset: the paging of history and
 * DNS queries. */
static int api_args_page(const struct http_request *req, uint64_t def, unsigned max,
			 unsigned *limit, uint64_t *offset, struct http_reply *reply)
{
	uint64_t l;

	if (http_request_arg_uint(req, "limit", def, 1, UINT64_MAX, &l, reply) < 0 ||
	    http_request_arg_uint(req, "offset", 0, 0, API_OFFSET_MAX, offset, reply) < 0)
		return -EINVAL;
	*limit = l > max ? max : (unsigned)l;
	return 0;
}

/* start_time and end_time, each optional. */
static int api_args_range(const struct http_request *req, bool *has_start, uint64_t *start,
			  bool *has_end, uint64_t *end, struct http_reply *reply)
{
	if (api_arg_time(req, "start_time", has_start, start, reply) < 0 ||
	    api_arg_time(req, "end_time", has_end, end, reply) < 0)
		return -EINVAL;
	return 0;
}

static int api_history_filter(const struct http_request *req, struct store_filter *f,
			      struct http_reply *reply)
{
	static const char *const known[] = {
	    "limit",  "offset", "start_time", "end_time", "node",     "ip",	"src_ip",
	    "dst_ip", "port",	"src_port",   "dst_port", "protocol", "domain",
	};
	const char *proto;

	if (api_args_known(req, known, sizeof(known) / sizeof(known[0]), reply) < 0)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	if (api_args_page(req, API_HISTORY_DEFAULT, API_HISTORY_MAX, &f->limit, &f->offset, reply) <
		0 ||
	    api_args_range(req, &f->has_start, &f->start_ms, &f->has_end, &f->end_ms, reply) < 0 ||
	    api_arg_name(req, "node", &f->node, reply) < 0 ||
	    api_arg_name(req, "domain", &f->domain, reply) < 0 ||
	    api_arg_ip(req, "ip", &f->has_ip, f->ip, reply) < 0 ||
	    api_arg_ip(req, "src_ip", &f->has_src_ip, f->src_ip, reply) < 0 ||
	    api_arg_ip(req, "dst_ip", &f->has_dst_ip, f->dst_ip, reply) < 0 ||
	    api_arg_port(req, "port", &f->has_port, &f->port, reply) < 0 ||
	    api_arg_port(req, "src_port", &f->has_src_port, &f->src_port, reply) < 0 ||
	    api_arg_port(req, "dst_port", &f->has_dst_port, &f->dst_port, reply) < 0)
		return -EINVAL;
	proto = http_request_arg(req, "protocol");
	if (proto) {
		if (params_parse_proto(proto, &f->proto) < 0) {
			http_reply_error(reply, 400,
					 "parameter 'protocol': '%.64s' is not tcp, udp, icmp, "
					 "icmpv6 or a number 0..255",
					 proto);
			return -EINVAL;
		}
		f->has_proto = true;
	}
	return 0;
}

/* --- /api/history encoding ---
 * jansson encodes every value, but one item object is reused for all rows: its values are
 * updated in place (json_integer_set, json_string_setn_nocheck) and each row is dumped
 * straight after the previous one. Building 1 000 objects of 22 fields (json_pack, then
 * json_dumps) cost ~8 ms of a newest-1000 answer's ~10 (BENCHMARKS.md, 6). The item keeps
 * its keys in insertion order, which is the order jansson dumps them in. Strings need no
 * UTF-8 scan (_nocheck): lib/wire validated them (UTF-8, no control characters) before
 * they were stored; jansson still escapes what JSON requires. */

enum api_item_field {
	AI_TIMESTAMP,
	AI_WINDOW_END,
	AI_NODE,
	AI_PROTOCOL,
	AI_IP_VERSION,
	AI_SRC_IP,
	AI_SRC_PORT,
	AI_DST_IP,
	AI_DST_PORT,
	AI_PACKETS_SENT,
	AI_PACKETS_RECEIVED,
	AI_BYTES_SENT,
	AI_BYTES_RECEIVED,
	AI_PACKET_COUNT,
	AI_LENGTH,
	AI_TCP_FLAGS,
	AI_DOMAIN,
	AI_FIRST_SEEN,
	AI_LAST_SEEN,
	AI_INTERFACE,
	AI_SRC_HOSTNAME,
	AI_DST_HOSTNAME,
	AI_FIELDS,
};

static const struct {
	const char *key;
	bool text;     /* string (else integer) */
	bool nullable; /* a text that is null when empty */
} api_item_fields[AI_FIELDS] = {
    [AI_TIMESTAMP] = {"timestamp", false},
    [AI_WINDOW_END] = {"window_end", false},
    [AI_NODE] = {"node", true},
    [AI_PROTOCOL] = {"protocol", true},
    [AI_IP_VERSION] = {"ip_version", false},
    [AI_SRC_IP] = {"src_ip", true},
    [AI_SRC_PORT] = {"src_port", false},
    [AI_DST_IP] = {"dst_ip", true},
    [AI_DST_PORT] = {"dst_port", false},
    [AI_PACKETS_SENT] = {"packets_sent", false},
    [AI_PACKETS_RECEIVED] = {"packets_received", false},
    [AI_BYTES_SENT] = {"bytes_sent", false},
    [AI_BYTES_RECEIVED] = {"bytes_received", false},
    [AI_PACKET_COUNT] = {"packet_count", false},
    [AI_LENGTH] = {"length", false},
    [AI_TCP_FLAGS] = {"tcp_flags", true},
    [AI_DOMAIN] = {"domain", true, true},
    [AI_FIRST_SEEN] = {"first_seen", false},
    [AI_LAST_SEEN] = {"last_seen", false},
    [AI_INTERFACE] = {"interface", true, true},
    [AI_SRC_HOSTNAME] = {"src_hostname", true, true},
    [AI_DST_HOSTNAME] = {"dst_hostname", true, true},
};

/* The reused item: obj holds v[i] under api_item_fields[i].key. */
struct api_item {
	json_t *obj;
	json_t *v[AI_FIELDS]; /* borrowed from obj */
};

static void api_item_fini(struct api_item *it)
{
	json_decref(it->obj);
}

static int api_item_init(struct api_item *it)
{
	it->obj = json_object();
	if (!it->obj)
		return -ENOMEM;
	for (int i = 0; i < AI_FIELDS; i++) {
		it->v[i] = api_item_fields[i].text ? json_string_nocheck("") : json_integer(0);
		if (!it->v[i] ||
		    json_object_set_new_nocheck(it->obj, api_item_fields[i].key, it->v[i]) < 0) {
			api_item_fini(it);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Sets a text field: the string value updated in place, or null for "" where the field is
 * nullable. A field that was null gets a new string value under the same key (its place
 * in the order stays). */
static int api_item_text(struct api_item *it, enum api_item_field f, const char *s)
{
	const char *key = api_item_fields[f].key;

	if (!s[0] && api_item_fields[f].nullable) {
		it->v[f] = json_null();
		return json_object_set_new_nocheck(it->obj, key, it->v[f]);
	}
	if (json_is_string(it->v[f]))
		return json_string_setn_nocheck(it->v[f], s, strlen(s));
	it->v[f] = json_string_nocheck(s);
	return it->v[f] ? json_object_set_new_nocheck(it->obj, key, it->v[f]) : -1;
}

static int api_item_set(struct api_item *it, const struct store_flow *fl)
{
	const struct wire_record *r = &fl->rec;
	char src[FLOWFMT_ADDR_LEN], dst[FLOWFMT_ADDR_LEN], proto[8], flags[FLOWFMT_FLAGS_LEN];
	const uint64_t ints[AI_FIELDS] = {
	    [AI_TIMESTAMP] = fl->ts_ms,
	    [AI_WINDOW_END] = fl->window_end_ms,
	    [AI_IP_VERSION] = r->ip_version,
	    [AI_SRC_PORT] = r->src_port,
	    [AI_DST_PORT] = r->dst_port,
	    [AI_PACKETS_SENT] = r->packets_sent,
	    [AI_PACKETS_RECEIVED] = r->packets_received,
	    [AI_BYTES_SENT] = r->bytes_sent,
	    [AI_BYTES_RECEIVED] = r->bytes_received,
	    [AI_PACKET_COUNT] = r->packets_sent + r->packets_received,
	    [AI_LENGTH] = r->bytes_sent + r->bytes_received,
	    [AI_FIRST_SEEN] = r->first_seen_ms,
	    [AI_LAST_SEEN] = r->last_seen_ms,
	};
	const char *texts[AI_FIELDS] = {
	    [AI_NODE] = fl->node,
	    [AI_PROTOCOL] = proto,
	    [AI_SRC_IP] = src,
	    [AI_DST_IP] = dst,
	    [AI_TCP_FLAGS] = flags,
	    [AI_DOMAIN] = r->domain,
	    [AI_INTERFACE] = r->interface,
	    [AI_SRC_HOSTNAME] = r->src_hostname,
	    [AI_DST_HOSTNAME] = r->dst_hostname,
	};
	int err = 0;

	flowfmt_addr(r->src_addr, r->ip_version, src, sizeof(src));
	flowfmt_addr(r->dst_addr, r->ip_version, dst, sizeof(dst));
	flowfmt_proto(r->proto, proto, sizeof(proto));
	flowfmt_tcp_flags(r->tcp_flags, flags, sizeof(flags));
	for (int i = 0; i < AI_FIELDS && !err; i++) {
		if (api_item_fields[i].text)
			err = api_item_text(it, (enum api_item_field)i, texts[i]);
		else
			err = json_integer_set(it->v[i], (json_int_t)ints[i]);
	}
	return err ? -ENOMEM : 0;
}

/* A growing output buffer; each piece is jansson's dump of a value. */
struct api_out {
	char *p;
	size_t len;
	size_t cap;
};

static int api_out_room(struct api_out *o, size_t n)
{
	return grow_reserve((void **)&o->p, &o->cap, o->len + n, 1, 64 * 1024);
}

static int api_out_raw(struct api_out *o, const char *s, size_t n)
{
	if (api_out_room(o, n) < 0)
		return -ENOMEM;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	return 0;
}

static int api_out_piece(const char *buf, size_t n, void *data)
{
	return api_out_raw(data, buf, n) < 0 ? -1 : 0;
}

/* Appends jansson's compact dump of v. */
static int api_out_json(struct api_out *o, const json_t *v)
{
	return json_dump_callback(v, api_out_piece, o, JSON_COMPACT) == 0 ? 0 : -ENOMEM;
}

/* {"items":[...],"limit":..,"offset":..,"returned":..,"total":..,"total_capped":..,
 * "has_more":..} into o. */
static int api_history_encode(struct api_out *o, const struct store_filter *f,
			      const struct store_history *h)
{
	struct api_item it;
	json_t *tail;
	int err;

	if (api_item_init(&it) < 0)
		return -ENOMEM;
	err = api_out_raw(o, "{\"items\":[", 10);
	for (size_t i = 0; i < h->n && !err; i++) {
		err = api_item_set(&it, &h->rows[i]);
		if (!err && i)
			err = api_out_raw(o, ",", 1);
		if (!err)
			err = api_out_json(o, it.obj);
	}
	api_item_fini(&it);
	if (err)
		return err;
	tail = json_pack("{s:I, s:I, s:I, s:I, s:b, s:b}", "limit", (json_int_t)f->limit, "offset",
			 (json_int_t)f->offset, "returned", (json_int_t)h->n, "total",
			 (json_int_t)h->total, "total_capped", (int)h->total_capped, "has_more",
			 (int)(f->offset + h->n < h->total));
	if (!tail)
		return -ENOMEM;
	/* "]," then the tail object's members: its dump without its opening brace. */
	err = api_out_raw(o, "],", 2);
	if (!err) {
		size_t brace = o->len;

		err = api_out_json(o, tail);
		if (!err) {
			memmove(o->p + brace, o->p + brace + 1, o->len - brace - 1);
			o->len--;
		}
	}
	json_decref(tail);
	return err;
}

static void api_history(struct api *api, const struct http_request *req, struct http_reply *reply)
{
	struct store_history h = {0};
	struct api_out out = {NULL, 0, 0};
	struct store_filter f;
	struct store_reader *r;
	int err;

	if (api_history_filter(req, &f, reply) < 0)
		return;
	r = api_reader(api, reply);
	if (!r)
		return;
	err = store_query_history(r, &f, &h);
	if (api_store_unavailable(api, err, reply))
		return;
	if (err == -EINVAL) {
		http_reply_error(reply, 400, "invalid query: %s", store_reader_last_error(r));
		return;
	}
	if (err) {
		log_error("history query: %s", store_reader_last_error(r));
		http_reply_error(reply, 500, "history query failed: %s",
				 store_reader_last_error(r));
		return;
	}
	err = api_history_encode(&out, &f, &h);
	store_history_fini(&h);
	if (err) {
		free(out.p);
		http_reply_error(reply, 500, "out of memory");
		return;
	}
	http_reply_text(reply, 200, "application/json", out.p, out.len); /* owns out.p now */
}

/* --- /api/dns and /api/domains --- */

#define API_DNS_DEFAULT	     100
#define API_DNS_MAX	     1000 /* larger limits are clamped to this */
#define API_DOMAINS_DEFAULT  10
#define API_DOMAINS_RANGE_MS (3600ull * 1000) /* default range: the last hour */

/* "A", "AAAA", ...; other types as RFC 3597's "TYPE<n>". */
static const char *api_dns_type(unsigned int type, char *buf, size_t len)
{
	static const struct {
		unsigned int type;
		const char *name;
	} names[] = {
	    {1, "A"},	    {2, "NS"},	  {5, "CNAME"},	 {6, "SOA"},	{12, "PTR"},  {15, "MX"},
	    {16, "TXT"},    {28, "AAAA"}, {33, "SRV"},	 {35, "NAPTR"}, {43, "DS"},   {46, "RRSIG"},
	    {48, "DNSKEY"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},	{255, "ANY"}, {257, "CAA"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].type == type)
			return names[i].name;
	}
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

/* "noerror", "nxdomain", ... (RFC 1035, 2136, 8490); others "rcode<n>". */
static const char *api_dns_rcode(unsigned int rcode, char *buf, size_t len)
{
	static const char *const names[] = {
	    "noerror",	"formerr", "servfail", "nxdomain", "notimp",  "refused",
	    "yxdomain", "yxrrset", "nxrrset",  "notauth",  "notzone", "dsotypeni",
	};

	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "rcode%u", rcode);
	return buf;
}

static json_t *api_dns_answers(const struct wire_dns *d)
{
	json_t *arr = json_array();

	for (size_t j = 0; arr && j < d->nanswers; j++) {
		const struct wire_dns_answer *a = &d->answers[j];
		char tbuf[16], addr[FLOWFMT_ADDR_LEN];
		const char *type = api_dns_type(a->type, tbuf, sizeof(tbuf));
		json_t *o;

		if (a->type == 1 || a->type == 28) {
			flowfmt_addr(a->addr, a->type == 1 ? 4 : 6, addr, sizeof(addr));
			o = json_pack("{s:s, s:I, s:s}", "type", type, "ttl", (json_int_t)a->ttl,
				      "address", addr);
		} else {
			o = json_pack("{s:s, s:I, s:s}", "type", type, "ttl", (json_int_t)a->ttl,
				      "target", a->target);
		}
		if (json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static json_t *api_dns_item(const struct store_dns_row *row)
{
	const struct wire_dns *d = &row->dns;
	char client[FLOWFMT_ADDR_LEN], server[FLOWFMT_ADDR_LEN], tbuf[16], rbuf[16];
	json_t *latency_ms;

	flowfmt_addr(d->client_addr, d->ip_version, client, sizeof(client));
	flowfmt_addr(d->server_addr, d->ip_version, server, sizeof(server));
	/* null when not measured (no query or no response seen) */
	latency_ms = d->latency_us ? json_real(d->latency_us / 1000.0) : json_null();
	return json_pack("{s:I, s:s, s:s, s:s, s:i, s:s?, s:b, s:o, s:I, s:i, s:s, s:i, s:s, s:i,"
			 " s:o}",
			 "timestamp", (json_int_t)d->ts_ms, "node", row->node, "name", d->name,
			 "type", api_dns_type(d->qtype, tbuf, sizeof(tbuf)), "qtype", (int)d->qtype,
			 "rcode", d->answered ? api_dns_rcode(d->rcode, rbuf, sizeof(rbuf)) : NULL,
			 "answered", (int)d->answered, "latency_ms", latency_ms, "latency_us",
			 (json_int_t)d->latency_us, "ip_version", (int)d->ip_version, "client_ip",
			 client, "client_port", (int)d->client_port, "server_ip", server,
			 "server_port", (int)d->server_port, "answers", api_dns_answers(d));
}

static int api_dns_filter(const struct http_request *req, struct store_dns_filter *f,
			  struct http_reply *reply)
{
	static const char *const known[] = {
	    "limit", "offset", "start_time", "end_time", "node", "client", "name",
	};

	if (api_args_known(req, known, sizeof(known) / sizeof(known[0]), reply) < 0)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	if (api_args_page(req, API_DNS_DEFAULT, API_DNS_MAX, &f->limit, &f->offset, reply) < 0 ||
	    api_args_range(req, &f->has_start, &f->start_ms, &f->has_end, &f->end_ms, reply) < 0 ||
	    api_arg_name(req, "node", &f->node, reply) < 0 ||
	    api_arg_name(req, "name", &f->name, reply) < 0 ||
	    api_arg_ip(req, "client", &f->has_client, f->client_ip, reply) < 0)
		return -EINVAL;
	return 0;
}

static void api_dns(struct api *api, const struct http_request *req, struct http_reply *reply)
{
	struct store_dns_result res = {0};
	struct store_dns_filter f;
	struct store_reader *r;
	json_t *items;
	int err;

	if (api_dns_filter(req, &f, reply) < 0)
		return;
	r = api_reader(api, reply);
	if (!r)
		return;
	err = store_query_dns(r, &f, &res);
	if (api_store_unavailable(api, err, reply))
		return;
	if (err == -EINVAL) {
		http_reply_error(reply, 400, "invalid query: %s", store_reader_last_error(r));
		return;
	}
	if (err) {
		log_error("DNS query: %s", store_reader_last_error(r));
		http_reply_error(reply, 500, "DNS query failed: %s", store_reader_last_error(r));
		return;
	}
	items = json_array();
	if (!items)
		goto oom;
	for (size_t i = 0; i < res.n; i++) {
		if (json_array_append_new(items, api_dns_item(&res.rows[i])) < 0) {
			json_decref(items);
			goto oom;
		}
	}
	if (http_reply_json(reply, 200,
			    json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:b}", "items", items,
				      "limit", (json_int_t)f.limit, "offset", (json_int_t)f.offset,
				      "returned", (json_int_t)res.n, "total", (json_int_t)res.total,
				      "total_capped", (int)res.total_capped, "has_more",
				      (int)(f.offset + res.n < res.total))) < 0)
		goto oom;
	store_dns_result_fini(&res);
	return;
oom:
	store_dns_result_fini(&res);
	http_reply_error(reply, 500, "out of memory");
}

static void api_domains(struct api *api, const struct http_request *req, struct http_reply *reply)
{
	static const char *const known[] = {"start_time", "end_time", "node", "limit"};
	struct store_domains d = {0};
	uint64_t start = 0, end = api_now_ms(), limit;
	bool has_start = false, has_end = false;
	const char *node = NULL;
	struct store_reader *r;
	json_t *arr;
	int err;

	if (api_args_known(req, known, sizeof(known) / sizeof(known[0]), reply) < 0 ||
	    api_args_range(req, &has_start, &start, &has_end, &end, reply) < 0 ||
	    api_arg_name(req, "node", &node, reply) < 0 ||
	    http_request_arg_uint(req, "limit", API_DOMAINS_DEFAULT, 1, STORE_DOMAINS_LIMIT_MAX,
				  &limit, reply) < 0)
		return;
	/* The default range is the hour up to end_time (or now). */
	if (!has_start)
		start = end > API_DOMAINS_RANGE_MS ? end - API_DOMAINS_RANGE_MS : 0;
	if (start >= end) {
		http_reply_error(reply, 400, "parameter 'end_time': not after start_time");
		return;
	}
	r = api_reader(api, reply);
	if (!r)
		return;
	err = store_query_domains(r, start, end, node, (unsigned)limit, &d);
	if (api_store_unavailable(api, err, reply))
		return;
	if (err) {
		log_error("domains query: %s", store_reader_last_error(r));
		http_reply_error(reply, err == -EINVAL ? 400 : 500, "domains query failed: %s",
				 store_reader_last_error(r));
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < d.n; i++) {
		const struct store_domain *x = &d.rows[i];

		if (json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}", "domain",
							 x->domain, "bytes", (json_int_t)x->bytes,
							 "packets", (json_int_t)x->packets, "flows",
							 (json_int_t)x->flows)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr || http_reply_json(reply, 200,
				    json_pack("{s:o, s:I, s:I, s:b}", "domains", arr, "start_time",
					      (json_int_t)start, "end_time", (json_int_t)end,
					      "truncated", (int)d.truncated)) < 0)
		http_reply_error(reply, 500, "out of memory");
	store_domains_fini(&d);
}

/* --- /api/stream --- */

/* One WebSocket message a second: the cluster sums of /api/stats and one compact object
 * per node (the keys of /api/stats' nodes). Runs on lib/http.c's stream thread; the live
 * view copies out under its own lock. */
static json_t *api_stream_message(void *arg)
{
	struct api *api = arg;
	uint64_t now = api_now_ms();
	struct api_cluster c;
	json_t *nodes, *msg;

	if (api_cluster_get(api, now, &c) < 0)
		return NULL;
	nodes = json_array();
	for (size_t i = 0; nodes && i < c.n; i++) {
		const struct live_node_info *n = &c.nodes[i];

		if (json_array_append_new(
			nodes,
			json_pack("{s:s, s:b, s:I, s:I, s:I, s:f, s:f}", "name", n->name,
				  "connected", (int)n->connected, "active_connections",
				  (json_int_t)n->active_connections, "packets",
				  (json_int_t)n->total_packets, "bytes", (json_int_t)n->total_bytes,
				  "packets_per_second", n->packets_per_second, "bytes_per_second",
				  n->bytes_per_second)) < 0) {
			json_decref(nodes);
			nodes = NULL;
		}
	}
	free(c.nodes);
	if (!nodes)
		return NULL;
	msg = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:o}", "timestamp",
			(json_int_t)now, "uptime_seconds", (json_int_t)api_uptime_s(api, now),
			"active_connections", (json_int_t)c.active_connections, "total_packets",
			(json_int_t)c.total_packets, "total_bytes", (json_int_t)c.total_bytes,
			"packets_per_second", c.packets_per_second, "bytes_per_second",
			c.bytes_per_second, "nodes_connected", (json_int_t)c.connected, "nodes",
			nodes);
	return msg; /* nodes stolen by json_pack, also on failure */
}

/* --- /metrics --- */

static void api_metrics(struct api *api, struct http_reply *reply)
{
	static const char *const results[] = {"stored", "duplicate", "rejected", "retry"};
	uint64_t now = api_now_ms(), cumulative = 0;
	struct live_view_counts lc;
	struct ingest_stats st;
	struct api_cluster c;
	struct prom_writer w;
	uint64_t result_vals[4];
	char *text;
	size_t len;

	if (api_cluster_get(api, now, &c) < 0) {
		http_reply_error(reply, 500, "out of memory");
		return;
	}
	ingest_stats_get(api->cfg.ingest, &st);
	live_view_counts(api->cfg.live, &lc);
	result_vals[0] = st.stored;
	result_vals[1] = st.duplicate;
	result_vals[2] = st.rejected;
	result_vals[3] = st.retry;

	prom_init(&w);
	prom_family(&w, "ayaflow_collector_batches_total", "counter",
		    "Batches answered, by result: stored, duplicate (acknowledged again, not "
		    "stored twice), rejected (invalid, dropped by the node), retry (not stored "
		    "now, the node resends).");
	for (int i = 0; i < 4; i++)
		prom_sample_u64(&w, "ayaflow_collector_batches_total", result_vals[i], "result",
				results[i], NULL);
	prom_family(&w, "ayaflow_collector_records_stored_total", "counter",
		    "Flow records stored.");
	prom_sample_u64(&w, "ayaflow_collector_records_stored_total", st.records_stored, NULL);
	prom_family(&w, "ayaflow_collector_dns_records_stored_total", "counter",
		    "DNS records stored.");
	prom_sample_u64(&w, "ayaflow_collector_dns_records_stored_total", st.dns_records_stored,
			NULL);
	prom_family(&w, "ayaflow_collector_rejected_batches_total", "counter",
		    "Batches answered with ok=0, by reason (store: retried by the node).");
	for (int i = WIRE_REJECT_NONE + 1; i < WIRE_REJECT_MAX; i++)
		prom_sample_u64(&w, "ayaflow_collector_rejected_batches_total", st.by_reason[i],
				"reason", wire_reject_name((enum wire_reject)i), NULL);
	prom_family(&w, "ayaflow_collector_store_errors_total", "counter",
		    "Failed store transactions (up to 64 batches each, all retried by their "
		    "nodes), by reason: full (no space left, SQLITE_FULL), other.");
	prom_sample_u64(&w, "ayaflow_collector_store_errors_total", st.store_errors_full, "reason",
			"full", NULL);
	prom_sample_u64(&w, "ayaflow_collector_store_errors_total",
			st.store_errors - st.store_errors_full, "reason", "other", NULL);
	prom_family(&w, "ayaflow_collector_store_healthy", "gauge",
		    "0 while the latest store transaction failed (see /api/health), else 1.");
	prom_sample_u64(&w, "ayaflow_collector_store_healthy", st.store_failing ? 0 : 1, NULL);
	prom_family(&w, "ayaflow_collector_nodes_connected", "gauge",
		    "Nodes with a batch within 3 aggregation windows or 30 s.");
	prom_sample_u64(&w, "ayaflow_collector_nodes_connected", c.connected, NULL);
	prom_family(&w, "ayaflow_collector_ingest_queue_depth", "gauge",
		    "Batches waiting for the writer thread.");
	prom_sample_u64(&w, "ayaflow_collector_ingest_queue_depth", st.queue_depth, NULL);
	prom_family(&w, "ayaflow_collector_commit_seconds", "histogram",
		    "Time of one store_append (one transaction of up to 64 batches).");
	for (int i = 0; i < INGEST_COMMIT_BUCKETS; i++) {
		char le[32];

		cumulative += st.commit_buckets[i];
		snprintf(le, sizeof(le), "%g", ingest_commit_bounds[i]);
		prom_sample_u64(&w, "ayaflow_collector_commit_seconds_bucket", cumulative, "le", le,
				NULL);
	}
	prom_sample_u64(&w, "ayaflow_collector_commit_seconds_bucket", st.commit_count, "le",
			"+Inf", NULL);
	prom_sample_f64(&w, "ayaflow_collector_commit_seconds_sum", st.commit_seconds_sum, NULL);
	prom_sample_u64(&w, "ayaflow_collector_commit_seconds_count", st.commit_count, NULL);
	prom_family(&w, "ayaflow_collector_store_info", "gauge",
		    "The history store's backend (sqlite or clickhouse); always 1.");
	prom_sample_u64(&w, "ayaflow_collector_store_info", 1, "backend",
			store_kind_name(api->cfg.store->url.kind), NULL);
	prom_family(
	    &w, "ayaflow_collector_followed_batches_total", "counter",
	    "Batches other collectors stored into the shared store, added to the live view.");
	prom_sample_u64(&w, "ayaflow_collector_followed_batches_total", st.followed, NULL);
	prom_family(&w, "ayaflow_collector_database_bytes", "gauge",
		    "Bytes the history takes on disk (SQLite: pages in use; ClickHouse: active "
		    "parts).");
	prom_sample_u64(&w, "ayaflow_collector_database_bytes",
			st.db_bytes > 0 ? (uint64_t)st.db_bytes : 0, NULL);
	prom_family(&w, "ayaflow_collector_retention_deleted_total", "counter",
		    "Rows deleted by the retention (--data-retention).");
	prom_sample_u64(&w, "ayaflow_collector_retention_deleted_total", st.retention_deleted,
			NULL);
	prom_family(&w, "ayaflow_collector_live_connections", "gauge",
		    "Connections in the cluster-wide live view.");
	prom_sample_u64(&w, "ayaflow_collector_live_connections", lc.connections, NULL);
	prom_family(&w, "ayaflow_collector_live_overflow_total", "counter",
		    "Records (what=connection) and batches (what=node) left out of the live "
		    "view because it was full; they are stored all the same.");
	prom_sample_u64(&w, "ayaflow_collector_live_overflow_total", lc.conns_over, "what",
			"connection", NULL);
	prom_sample_u64(&w, "ayaflow_collector_live_overflow_total", lc.nodes_over, "what", "node",
			NULL);
	prom_family(&w, "ayaflow_packets_total", "counter",
		    "Packets seen by each node's classifier, from its latest batch.");
	for (size_t i = 0; i < c.n; i++)
		prom_sample_u64(&w, "ayaflow_packets_total", c.nodes[i].total_packets, "node",
				c.nodes[i].name, NULL);
	prom_family(&w, "ayaflow_bytes_total", "counter",
		    "Bytes seen by each node's classifier, from its latest batch.");
	for (size_t i = 0; i < c.n; i++)
		prom_sample_u64(&w, "ayaflow_bytes_total", c.nodes[i].total_bytes, "node",
				c.nodes[i].name, NULL);
	prom_family(&w, "ayaflow_lost_packets_total", "counter",
		    "Packets not in a flow record, by node and reason: the cluster loss ledger.");
	for (size_t i = 0; i < c.n; i++)
		for (int r = 0; r < WIRE_LOSS_MAX; r++)
			prom_sample_u64(&w, "ayaflow_lost_packets_total", c.nodes[i].lost[r],
					"node", c.nodes[i].name, "reason",
					wire_loss_name((enum wire_loss)r), NULL);
	prom_family(&w, "ayaflow_build_info", "gauge", "Build information; the value is 1.");
	prom_sample_u64(&w, "ayaflow_build_info", 1, "version", AYAFLOW_VERSION, NULL);
	if (prom_write_process(&w) < 0)
		log_debug("process metrics incomplete");
	free(c.nodes);

	text = prom_take(&w, &len);
	prom_fini(&w);
	if (!text) {
		http_reply_error(reply, 500, "cannot write the metrics");
		return;
	}
	http_reply_text(reply, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* GET / and the dashboard's files (web.h): true when path is one of them (reply filled). */
static bool api_web(const struct http_request *req, const char *path, struct http_reply *reply)
{
	const char *method = http_request_method(req), *type;
	const uint8_t *data;
	size_t len;
	char *copy;

	if (web_find(path, &data, &len, &type) < 0)
		return false;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_error(reply, 405, "method %.16s not allowed on %s (use GET)", method,
				 path);
		return true;
	}
	copy = malloc(len ? len : 1); /* the server frees the body after sending */
	if (!copy) {
		http_reply_error(reply, 500, "out of memory");
		return true;
	}
	memcpy(copy, data, len);
	http_reply_text(reply, 200, type, copy, len);
	reply->content_security_policy = WEB_CONTENT_SECURITY_POLICY;
	return true;
}

void api_handle(void *arg, const struct http_request *req, struct http_reply *reply)
{
	static const char *const routes[] = {"/api/health", "/api/stats",   "/api/nodes",
					     "/api/live",   "/api/history", "/metrics",
					     "/api/stream", "/api/dns",	    "/api/domains"};
	struct api *api = arg;
	const char *path = http_request_path(req);
	const char *method = http_request_method(req);
	int route = -1;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i]) == 0)
			route = (int)i;
	}
	if (route < 0 && api_web(req, path, reply))
		return;
	if (route < 0) {
		http_reply_error(reply, 404, "no such endpoint: %.128s", path);
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_error(reply, 405, "method %.16s not allowed on %s (use GET)", method,
				 routes[route]);
		return;
	}
	switch (route) {
	case 0:
		api_health(api, reply);
		break;
	case 1:
		api_stats(api, reply);
		break;
	case 2:
		api_nodes(api, reply);
		break;
	case 3:
		api_live(api, req, reply);
		break;
	case 4:
		api_history(api, req, reply);
		break;
	case 6:
		http_reply_stream(req, reply, api_stream_message, api);
		break;
	case 7:
		api_dns(api, req, reply);
		break;
	case 8:
		api_domains(api, req, reply);
		break;
	default:
		api_metrics(api, reply);
		http_reply_append_stream_metrics(req, reply);
	}
}
