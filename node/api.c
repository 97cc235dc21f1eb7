/* api.c - routes of the node's HTTP API (see api.h). Field and metric names follow
 * ayaFlow so its users can switch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "attach.h"
#include "flowfmt.h"
#include "prom.h"
#include "version.h"

#define API_LIVE_DEFAULT 50
#define API_LIVE_MAX	 1000
_Static_assert(API_LIVE_MAX <= LIVE_SNAPSHOT_CONNS,
	       "a snapshot holds every connection an answer can show");

static const char *const api_loss_names[FLOW_LOSS_MAX] = {
    [FLOW_LOSS_UNPARSABLE] = "unparsable",
    [FLOW_LOSS_FLOW_MAP_FULL] = "flow_map_full",
    [FLOW_LOSS_IPV6_DISABLED] = "ipv6_disabled",
    [FLOW_LOSS_PAYLOAD_RINGBUF_FULL] = "payload_ringbuf_full",
};

static const char *const api_event_names[FLOW_CNT_MAX] = {
    [FLOW_CNT_NON_IP] = "non_ip",
    [FLOW_CNT_L4_TRUNCATED] = "l4_truncated",
    [FLOW_CNT_FRAGMENT] = "fragment",
    [FLOW_CNT_SNIPPET] = "snippet",
};

static const char *const api_proto_names[FLOW_PROTO_MAX] = {
    [FLOW_PROTO_TCP] = "tcp",	    [FLOW_PROTO_UDP] = "udp",	  [FLOW_PROTO_ICMP] = "icmp",
    [FLOW_PROTO_ICMPV6] = "icmpv6", [FLOW_PROTO_OTHER] = "other",
};

static const char *const api_hook_names[FLOW_HOOK_MAX] = {"ingress", "egress"};

struct api_sums {
	uint64_t packets;
	uint64_t bytes;
};

static struct api_sums api_sum_totals(const struct live_snapshot *s)
{
	struct api_sums sum = {0, 0};

	for (int i = 0; i < FLOW_TOTAL_SLOTS; i++) {
		sum.packets += s->totals[i].packets;
		sum.bytes += s->totals[i].bytes;
	}
	return sum;
}

static uint64_t api_uptime_s(const struct node_ctx *ctx, const struct live_snapshot *s)
{
	return s->taken_ms > ctx->start_unix_ms ? (s->taken_ms - ctx->start_unix_ms) / 1000 : 0;
}

static void api_health(struct node_ctx *ctx, const struct live_snapshot *s,
		       struct http_reply *reply)
{
	struct api_sums sum = api_sum_totals(s);

	http_reply_json(reply, 200,
			json_pack("{s:s, s:I, s:I, s:I, s:I}", "status", "ok", "uptime_seconds",
				  (json_int_t)api_uptime_s(ctx, s), "active_connections",
				  (json_int_t)s->count, "total_packets", (json_int_t)sum.packets,
				  "total_bytes", (json_int_t)sum.bytes));
}

/* The export counters, or null when no collector is configured. */
static json_t *api_export_json(const struct export_stats *x, bool enabled)
{
	if (!enabled)
		return json_null();
	return json_pack(
	    "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connected",
	    x->connected, "batches_sent", (json_int_t)x->batches_sent, "records_sent",
	    (json_int_t)x->records_sent, "batches_acked", (json_int_t)x->batches_acked,
	    "records_acked", (json_int_t)x->records_acked, "batches_resent",
	    (json_int_t)x->batches_resent, "batches_rejected", (json_int_t)x->batches_rejected,
	    "batches_duplicate", (json_int_t)x->batches_duplicate, "batches_dropped",
	    (json_int_t)x->batches_dropped, "spool_bytes", (json_int_t)x->spool_bytes,
	    "spool_batches", (json_int_t)x->spool_batches, "connections_closed",
	    (json_int_t)x->connections_closed, "collector_holds", (json_int_t)x->collector_holds);
}

static void api_stats(struct node_ctx *ctx, const struct live_snapshot *s,
		      const struct export_stats *x, bool x_enabled, struct http_reply *reply)
{
	const struct attach_set *attach = node_attach_set(ctx);
	struct api_sums sum = api_sum_totals(s);
	json_t *lost = json_object();
	json_t *events = json_object();
	json_t *runtime = config_to_json(node_options, node_options_count, &ctx->opts);
	json_t *body;

	if (!lost || !events || !runtime)
		goto oom;
	for (int i = 0; i < FLOW_LOSS_MAX; i++)
		json_object_set_new(lost, api_loss_names[i],
				    json_integer((json_int_t)s->counters[i]));
	json_object_set_new(lost, "export_spool_full",
			    json_integer((json_int_t)x->lost_spool_full));
	json_object_set_new(lost, "collector_rejected",
			    json_integer((json_int_t)x->lost_collector_rejected));
	for (int i = FLOW_LOSS_MAX; i < FLOW_CNT_MAX; i++)
		json_object_set_new(events, api_event_names[i],
				    json_integer((json_int_t)s->counters[i]));
	json_object_set_new(runtime, "node_name", json_string(ctx->node_name));
	body = json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:s, s:o, s:o, s:o, s:o}",
			 "uptime_seconds", (json_int_t)api_uptime_s(ctx, s), "total_packets",
			 (json_int_t)sum.packets, "total_bytes", (json_int_t)sum.bytes,
			 "active_connections", (json_int_t)s->count, "packets_per_second",
			 s->packets_per_second, "bytes_per_second", s->bytes_per_second,
			 "attach_mode", attach ? attach_mode_name(attach) : "none", "lost_packets",
			 lost, "classifier_events", events, "export", api_export_json(x, x_enabled),
			 "runtime", runtime);
	http_reply_json(reply, 200, body);
	return;
oom:
	json_decref(lost);
	json_decref(events);
	json_decref(runtime);
	http_reply_error(reply, 500, "out of memory");
}

/* Orients a kernel flow for display: src is the side that started it. */
static void api_conn_view(const struct node_ctx *ctx, const struct live_snapshot *s,
			  const struct live_flow *c, struct flowfmt_conn *out)
{
	const struct attach_set *attach = node_attach_set(ctx);
	const struct flow_key *k = &c->key;
	const struct flow_value *v = &c->val;
	struct live_orient o;
	int fwd;

	live_flow_orient(c, &o);
	fwd = o.fwd;
	memset(out, 0, sizeof(*out));
	memcpy(out->src_addr, o.src_addr, 16);
	memcpy(out->dst_addr, o.dst_addr, 16);
	out->src_port = o.src_port;
	out->dst_port = o.dst_port;
	out->proto = k->proto;
	out->ip_version = k->ip_version;
	out->tcp_flags = v->tcp_flags[0] | v->tcp_flags[1];
	out->first_seen_ms = (uint64_t)((int64_t)v->first_seen_ns + s->mono_to_unix_ns) / 1000000;
	out->last_seen_ms = (uint64_t)((int64_t)v->last_seen_ns + s->mono_to_unix_ns) / 1000000;
	out->packets_sent = v->packets[fwd];
	out->packets_received = v->packets[!fwd];
	out->bytes_sent = v->bytes[fwd];
	out->bytes_received = v->bytes[!fwd];
	if (s->names) {
		const struct live_names *n = &s->names[c - s->conns];

		out->domain = n->domain;
		out->src_hostname = n->src_hostname;
		out->dst_hostname = n->dst_hostname;
	}
	out->node = ctx->node_name;
	out->interface = attach ? attach_name_of(attach, k->ifindex) : NULL;
}

static void api_live(struct node_ctx *ctx, const struct live_snapshot *s,
		     const struct http_request *req, struct http_reply *reply)
{
	struct api_sums sum = api_sum_totals(s);
	uint64_t limit;
	json_t *conns, *body;

	if (http_request_arg_uint(req, "limit", API_LIVE_DEFAULT, 1, API_LIVE_MAX, &limit, reply) <
	    0)
		return;
	conns = json_array();
	if (!conns)
		goto oom;
	for (size_t i = 0; i < s->nconns && i < limit; i++) {
		struct flowfmt_conn view;

		api_conn_view(ctx, s, &s->conns[i], &view);
		if (json_array_append_new(conns, flowfmt_conn_json(&view)) < 0) {
			json_decref(conns);
			goto oom;
		}
	}
	body = json_pack("{s:o, s:I, s:I}", "connections", conns, "total_packets",
			 (json_int_t)sum.packets, "total_bytes", (json_int_t)sum.bytes);
	if (http_reply_json(reply, 200, body) < 0)
		goto oom;
	return;
oom:
	http_reply_error(reply, 500, "out of memory");
}

/* GET /api/stream: one WebSocket message a second, from the same snapshot as /api/stats.
 * Runs on lib/http.c's stream thread; the publisher's lock makes that safe. */
static json_t *api_stream_message(void *arg)
{
	struct node_ctx *ctx = arg;
	struct live_snapshot *s = live_publisher_get(&ctx->publisher);
	struct timespec now;
	struct api_sums sum;
	json_t *msg;

	if (!s)
		return NULL;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0) {
		live_publisher_put(&ctx->publisher, s);
		return NULL;
	}
	sum = api_sum_totals(s);
	msg = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "timestamp",
			(json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, "uptime_seconds",
			(json_int_t)api_uptime_s(ctx, s), "active_connections",
			(json_int_t)s->count, "total_packets", (json_int_t)sum.packets,
			"total_bytes", (json_int_t)sum.bytes, "packets_per_second",
			s->packets_per_second, "bytes_per_second", s->bytes_per_second);
	live_publisher_put(&ctx->publisher, s);
	return msg;
}

static void api_metrics_export(struct prom_writer *w, const struct export_stats *x)
{
	prom_family(w, "ayaflow_export_batches_total", "counter",
		    "Flow batches sent to the collector, by outcome.");
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_sent, "result", "sent", NULL);
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_acked, "result", "acked",
			NULL);
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_resent, "result", "resent",
			NULL);
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_rejected, "result",
			"rejected", NULL);
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_duplicate, "result",
			"duplicate", NULL);
	prom_sample_u64(w, "ayaflow_export_batches_total", x->batches_dropped, "result", "dropped",
			NULL);
	prom_family(w, "ayaflow_export_records_total", "counter",
		    "Flow records sent to the collector, by outcome.");
	prom_sample_u64(w, "ayaflow_export_records_total", x->records_sent, "result", "sent", NULL);
	prom_sample_u64(w, "ayaflow_export_records_total", x->records_acked, "result", "acked",
			NULL);
	prom_family(w, "ayaflow_export_spool_bytes", "gauge",
		    "Bytes of batches waiting for the collector's acknowledgement.");
	prom_sample_u64(w, "ayaflow_export_spool_bytes", x->spool_bytes, NULL);
	prom_family(w, "ayaflow_export_spool_batches", "gauge",
		    "Batches waiting for the collector's acknowledgement.");
	prom_sample_u64(w, "ayaflow_export_spool_batches", x->spool_batches, NULL);
	prom_family(w, "ayaflow_collector_connected", "gauge",
		    "1 while connected to a collector (0 also when none is configured).");
	prom_sample_u64(w, "ayaflow_collector_connected", x->connected ? 1 : 0, NULL);
	prom_family(w, "ayaflow_export_connections_closed_total", "counter",
		    "Connections to a collector closed because it sent no acknowledgement within "
		    "the export timeout.");
	prom_sample_u64(w, "ayaflow_export_connections_closed_total", x->connections_closed, NULL);
	prom_family(w, "ayaflow_export_collector_holds_total", "counter",
		    "Of those, the times the collector was then left out for a while because "
		    "another one answered.");
	prom_sample_u64(w, "ayaflow_export_collector_holds_total", x->collector_holds, NULL);
}

/* Deep inspection; all zero while --deep-inspect is off. */
static void api_metrics_inspect(struct prom_writer *w, const struct live_snapshot *s,
				const struct inspect_stats *in)
{
	static const uint8_t rcodes[] = {0, 1, 2, 3, 4, 5};

	prom_family(w, "ayaflow_deep_inspect_packets_total", "counter",
		    "Packets whose payload snippet went to deep inspection.");
	prom_sample_u64(w, "ayaflow_deep_inspect_packets_total", s->counters[FLOW_CNT_SNIPPET],
			NULL);
	prom_family(w, "ayaflow_domains_resolved_total", "counter",
		    "Domain names learned, by source.");
	for (int i = 0; i < INSPECT_SRC_MAX; i++)
		prom_sample_u64(w, "ayaflow_domains_resolved_total", in->domains[i], "source",
				inspect_source_name(i), NULL);
	prom_family(w, "ayaflow_dns_queries_total", "counter",
		    "DNS queries seen, by the rcode of their response (none: unanswered).");
	for (size_t i = 0; i < sizeof(rcodes); i++)
		prom_sample_u64(w, "ayaflow_dns_queries_total", in->dns_responses[rcodes[i]],
				"rcode", dns_rcode_name(rcodes[i]), NULL);
	{
		uint64_t other = 0;

		for (int r = 6; r < 16; r++)
			other += in->dns_responses[r];
		prom_sample_u64(w, "ayaflow_dns_queries_total", other, "rcode", "other", NULL);
	}
	prom_sample_u64(w, "ayaflow_dns_queries_total", in->dns_unanswered, "rcode", "none", NULL);
	prom_family(w, "ayaflow_inspect_parse_failures_total", "counter",
		    "Snippets the DNS and TLS parsers rejected, by reason.");
	for (int i = 1; i < DNS_ERR_MAX; i++)
		prom_sample_u64(w, "ayaflow_inspect_parse_failures_total",
				in->dns_parse_failures[i], "parser", "dns", "reason",
				dns_error_name(i), NULL);
	for (int i = 1; i < TLS_ERR_MAX; i++)
		prom_sample_u64(w, "ayaflow_inspect_parse_failures_total",
				in->tls_parse_failures[i], "parser", "tls", "reason",
				tls_error_name(i), NULL);
	prom_family(w, "ayaflow_tls_client_hellos_total", "counter",
		    "TLS ClientHellos with a server name, by the highest version offered.");
	for (int i = 0; i < 5; i++)
		prom_sample_u64(w, "ayaflow_tls_client_hellos_total", in->tls_versions[i],
				"version", tls_version_name((uint16_t)(TLS_VERSION_SSL3_0 + i)),
				NULL);
	prom_family(w, "ayaflow_inspect_cache_full_total", "counter",
		    "Names not kept because a deep-inspection cache was full.");
	prom_sample_u64(w, "ayaflow_inspect_cache_full_total", in->cache_full, NULL);
}

static void api_metrics(struct node_ctx *ctx, const struct live_snapshot *s,
			const struct export_stats *x, const struct inspect_stats *in,
			struct http_reply *reply)
{
	const struct attach_set *attach = node_attach_set(ctx);
	struct prom_writer w;
	char *text;
	size_t len;

	prom_init(&w);
	prom_family(
	    &w, "ayaflow_packets_total", "counter",
	    "Packets seen by the classifier, by hook and protocol (GSO counted per segment).");
	for (int h = 0; h < FLOW_HOOK_MAX; h++)
		for (int p = 0; p < FLOW_PROTO_MAX; p++)
			prom_sample_u64(&w, "ayaflow_packets_total",
					s->totals[FLOW_TOTAL_INDEX(h, p)].packets, "direction",
					api_hook_names[h], "protocol", api_proto_names[p], NULL);
	prom_family(&w, "ayaflow_bytes_total", "counter",
		    "IP bytes seen by the classifier, by hook and protocol.");
	for (int h = 0; h < FLOW_HOOK_MAX; h++)
		for (int p = 0; p < FLOW_PROTO_MAX; p++)
			prom_sample_u64(&w, "ayaflow_bytes_total",
					s->totals[FLOW_TOTAL_INDEX(h, p)].bytes, "direction",
					api_hook_names[h], "protocol", api_proto_names[p], NULL);
	prom_family(&w, "ayaflow_active_connections", "gauge", "Connections in the live table.");
	prom_sample_u64(&w, "ayaflow_active_connections", s->count, NULL);
	prom_family(&w, "ayaflow_flow_map_entries", "gauge",
		    "Entries in the kernel flow map at the last drain.");
	prom_sample_u64(&w, "ayaflow_flow_map_entries", s->count, NULL);
	prom_family(&w, "ayaflow_flow_map_capacity", "gauge", "Capacity of the kernel flow map.");
	prom_sample_u64(&w, "ayaflow_flow_map_capacity", ctx->opts.max_flows, NULL);
	prom_family(&w, "ayaflow_lost_packets_total", "counter",
		    "Packets not (fully) in a flow record, by reason: the loss ledger.");
	for (int i = 0; i < FLOW_LOSS_MAX; i++)
		prom_sample_u64(&w, "ayaflow_lost_packets_total", s->counters[i], "reason",
				api_loss_names[i], NULL);
	prom_sample_u64(&w, "ayaflow_lost_packets_total", x->lost_spool_full, "reason",
			"export_spool_full", NULL);
	prom_sample_u64(&w, "ayaflow_lost_packets_total", x->lost_collector_rejected, "reason",
			"collector_rejected", NULL);
	api_metrics_export(&w, x);
	prom_family(&w, "ayaflow_classifier_events_total", "counter",
		    "Packets the classifier handled specially: non-IP frames, L4 header cut "
		    "short, non-first fragments (the last two still counted by addresses).");
	for (int i = FLOW_LOSS_MAX; i < FLOW_CNT_MAX; i++)
		prom_sample_u64(&w, "ayaflow_classifier_events_total", s->counters[i], "event",
				api_event_names[i], NULL);
	api_metrics_inspect(&w, s, in);
	if (attach) {
		prom_family(&w, "ayaflow_attach_info", "gauge",
			    "How the classifier is attached (mode tcx or tc); the value is 1.");
		prom_sample_u64(&w, "ayaflow_attach_info", 1, "mode", attach_mode_name(attach),
				NULL);
	}
	prom_family(&w, "ayaflow_build_info", "gauge", "Build information; the value is 1.");
	prom_sample_u64(&w, "ayaflow_build_info", 1, "version", AYAFLOW_VERSION, NULL);
	prom_write_process(&w);

	text = prom_take(&w, &len);
	prom_fini(&w);
	if (!text) {
		http_reply_error(reply, 500, "out of memory");
		return;
	}
	http_reply_text(reply, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void api_handle(void *arg, const struct http_request *req, struct http_reply *reply)
{
	static const char *const routes[] = {"/api/health", "/api/stats", "/api/live", "/metrics",
					     "/api/stream"};
	struct node_ctx *ctx = arg;
	const char *path = http_request_path(req);
	const char *method = http_request_method(req);
	struct live_snapshot *s;
	struct export_stats x;
	struct inspect_stats in;
	bool x_enabled;
	int route = -1;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i]) == 0)
			route = (int)i;
	}
	if (route < 0) {
		http_reply_error(reply, 404, "no such endpoint: %.128s", path);
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_error(reply, 405, "method %.16s not allowed on %s (use GET)", method,
				 routes[route]);
		return;
	}
	if (route == 4) {
		http_reply_stream(req, reply, api_stream_message, ctx);
		return;
	}
	x_enabled = live_publisher_get_export(&ctx->publisher, &x);
	live_publisher_get_inspect(&ctx->publisher, &in);
	s = live_publisher_get(&ctx->publisher);
	if (!s) {
		http_reply_error(reply, 503, "starting up");
		return;
	}
	switch (route) {
	case 0:
		api_health(ctx, s, reply);
		break;
	case 1:
		api_stats(ctx, s, &x, x_enabled, reply);
		break;
	case 2:
		api_live(ctx, s, req, reply);
		break;
	default:
		api_metrics(ctx, s, &x, &in, reply);
		http_reply_append_stream_metrics(req, reply);
	}
	live_publisher_put(&ctx->publisher, s);
}
