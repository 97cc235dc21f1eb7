/* main.c - ayaflowctl, the command-line client of the collector's HTTP API: the end of
 * the pipeline, where a row of the collector's SQLite history or of its live view
 * becomes a line on the terminal. Subcommands are one table (ctl_commands): each names
 * the API path it reads, its options (most of them API query parameters passed
 * through) and how its reply is shown; adding one (e.g. `domains`) is one entry there
 * plus its columns. HTTP is http_client.c (libcurl), tables and CSV are output.c.
 *
 * Exit status: 0 success, 1 bad usage, 2 the collector is unreachable, answers an error
 * or anything else fails at run time. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/http_client.h"
#include "cli/output.h"
#include "version.h"

#define CTL_EXIT_OK	0
#define CTL_EXIT_USAGE	1
#define CTL_EXIT_FAIL	2
#define CTL_DEFAULT_URL "http://localhost:3000"
#define CTL_TIMEOUT_S	10
#define CTL_MAX_BODY	(64u << 20) /* history pages are at most 1000 rows */
#define CTL_PARAMS_MAX	16
#define CTL_OPTS_MAX	32
#define CTL_WATCH_MS	1000

/* Set by SIGINT/SIGTERM during `watch`; the one mutable global. */
static volatile sig_atomic_t ctl_stop;

enum ctl_opt_kind {
	CTL_OPT_PARAM, /* passed to the API as it is: the collector checks it */
	CTL_OPT_UINT,  /* a whole number, checked here, passed to the API */
	CTL_OPT_TIME,  /* a duration ago (15m, 1h30m) becomes Unix ms; else passed as it is */
	CTL_OPT_COUNT, /* a whole number > 0 kept here (watch --count) */
};

struct ctl_option {
	const char *name; /* long option */
	const char *metavar;
	const char *param; /* API query parameter; NULL for CTL_OPT_COUNT */
	enum ctl_opt_kind kind;
	const char *help;
};

/* A reply that is a list of objects: the array member, its table and its CSV fields. */
struct ctl_view {
	const char *array;
	const struct output_column *cols;
	size_t ncols;
	const char *const *csv_keys;
	size_t ncsv_keys;
	/* true: when a row has src_hostname or dst_hostname, the table shows them after
	 * DST and the CSV ends with them (so that replies without names look as before) */
	bool hosts;
	/* NULL, or the rows the table shows: a new array of the objects with members for
	 * what the columns cannot compute (e.g. a list of answers as one text) */
	json_t *(*table_rows)(const json_t *rows);
};

struct ctl;

struct ctl_command {
	const char *name;
	const char *summary;
	const char *path; /* API path it reads */
	const struct ctl_option *opts;
	size_t nopts;
	const struct ctl_view *view; /* list replies; NULL: render() shows it */
	int (*render)(const struct ctl *ctl, const json_t *body, FILE *out);
	int (*run)(struct ctl *ctl); /* NULL: one GET, shown once */
};

/* The process' one context. */
struct ctl {
	const char *collector;
	const char *token;
	long timeout_s;
	enum output_format format;
	const struct ctl_command *cmd;
	struct http_client_param params[CTL_PARAMS_MAX];
	size_t nparams;
	char *owned[CTL_PARAMS_MAX]; /* parameter values made here (times) */
	size_t nowned;
	unsigned long count; /* watch --count; 0 = until interrupted */
	unsigned int width;
	struct http_client *http;
};

/* --- columns of each reply --- */

#define CTL_N(a) (sizeof(a) / sizeof((a)[0]))

static const struct output_column ctl_health_cols[] = {
    {"STATUS", "status", NULL, OUTPUT_TEXT, 0, 0},
    {"UPTIME", "uptime_seconds", NULL, OUTPUT_DURATION, 0, 0},
    {"NODES", "nodes", NULL, OUTPUT_INT, 0, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "total_packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "total_bytes", NULL, OUTPUT_BYTES, 0, 0},
};

static const struct output_column ctl_stats_cols[] = {
    {"UPTIME", "uptime_seconds", NULL, OUTPUT_DURATION, 0, 0},
    {"NODES", "nodes_connected", NULL, OUTPUT_INT, 2, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "total_packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "total_bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"PKT/S", "packets_per_second", NULL, OUTPUT_RATE, 1, 0},
    {"BYTES/S", "bytes_per_second", NULL, OUTPUT_BYTE_RATE, 1, 0},
    {"LOST", "lost_packets", NULL, OUTPUT_SUM, 0, 0},
    {"DB", "db_bytes", NULL, OUTPUT_BYTES, 3, 0},
};

/* The messages of /api/stream: the cluster sums and compact per-node objects. */
static const struct output_column ctl_stream_cols[] = {
    {"UPTIME", "uptime_seconds", NULL, OUTPUT_DURATION, 0, 0},
    {"NODES", "nodes_connected", NULL, OUTPUT_INT, 2, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "total_packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "total_bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"PKT/S", "packets_per_second", NULL, OUTPUT_RATE, 1, 0},
    {"BYTES/S", "bytes_per_second", NULL, OUTPUT_BYTE_RATE, 1, 0},
};

static const struct output_column ctl_stream_node_cols[] = {
    {"NODE", "name", NULL, OUTPUT_TEXT, 0, 8},
    {"CONNECTED", "connected", NULL, OUTPUT_BOOL, 0, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"PKT/S", "packets_per_second", NULL, OUTPUT_RATE, 1, 0},
    {"BYTES/S", "bytes_per_second", NULL, OUTPUT_BYTE_RATE, 1, 0},
};

static const struct output_column ctl_ledger_cols[] = {
    {"LOST REASON", "reason", NULL, OUTPUT_TEXT, 0, 0},
    {"PACKETS", "packets", NULL, OUTPUT_COUNT, 0, 0},
};

static const struct output_column ctl_ingest_cols[] = {
    {"BATCHES", "batches_received", NULL, OUTPUT_COUNT, 0, 0},
    {"STORED", "batches_stored", NULL, OUTPUT_COUNT, 0, 0},
    {"DUPLICATE", "batches_duplicate", NULL, OUTPUT_COUNT, 1, 0},
    {"REJECTED", "batches_rejected", NULL, OUTPUT_COUNT, 0, 0},
    {"RETRY", "batches_retry", NULL, OUTPUT_COUNT, 2, 0},
    {"RECORDS", "records_stored", NULL, OUTPUT_COUNT, 0, 0},
    {"QUEUE", "queue_depth", NULL, OUTPUT_COUNT, 3, 0},
    {"QUEUE FULL", "queue_full", NULL, OUTPUT_COUNT, 3, 0},
};

static const struct output_column ctl_stats_node_cols[] = {
    {"NODE", "name", NULL, OUTPUT_TEXT, 0, 8},
    {"CONNECTED", "connected", NULL, OUTPUT_BOOL, 0, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"PKT/S", "packets_per_second", NULL, OUTPUT_RATE, 1, 0},
    {"BYTES/S", "bytes_per_second", NULL, OUTPUT_BYTE_RATE, 1, 0},
    {"LOST", "lost_packets", NULL, OUTPUT_SUM, 0, 0},
    {"LAST SEEN", "last_seen", NULL, OUTPUT_TIME, 2, 0},
};

static const struct output_column ctl_nodes_cols[] = {
    {"NODE", "name", NULL, OUTPUT_TEXT, 0, 8},
    {"CONNECTED", "connected", NULL, OUTPUT_BOOL, 0, 0},
    {"CONNS", "active_connections", NULL, OUTPUT_COUNT, 0, 0},
    {"PACKETS", "total_packets", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "total_bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"LOST", "lost_packets", NULL, OUTPUT_SUM, 0, 0},
    {"BATCHES", "batches", NULL, OUTPUT_COUNT, 2, 0},
    {"RECORDS", "records", NULL, OUTPUT_COUNT, 2, 0},
    {"LAST SEEN", "last_seen", NULL, OUTPUT_TIME, 1, 0},
    {"FIRST SEEN", "first_seen", NULL, OUTPUT_TIME, 4, 0},
    {"VERSION", "agent_version", NULL, OUTPUT_TEXT, 3, 0},
    {"BOOT ID", "boot_id", NULL, OUTPUT_TEXT, 5, 0},
};

static const char *const ctl_nodes_csv[] = {
    "name",
    "boot_id",
    "agent_version",
    "first_seen",
    "last_seen",
    "connected",
    "total_packets",
    "total_bytes",
    "active_connections",
    "lost_packets.unparsable",
    "lost_packets.flow_map_full",
    "lost_packets.ipv6_disabled",
    "lost_packets.export_spool_full",
    "lost_packets.collector_rejected",
    "lost_packets.payload_ringbuf_full",
    "batches",
    "records",
};

static const struct output_column ctl_live_cols[] = {
    {"PROTO", "protocol", NULL, OUTPUT_TEXT, 0, 0},
    {"SRC", "src_ip", "src_port", OUTPUT_ENDPOINT, 0, 0},
    {"DST", "dst_ip", "dst_port", OUTPUT_ENDPOINT, 0, 0},
    {"PACKETS", "stats.packets_count", NULL, OUTPUT_COUNT, 0, 0},
    {"SENT", "stats.bytes_sent", NULL, OUTPUT_BYTES, 1, 0},
    {"RECEIVED", "stats.bytes_received", NULL, OUTPUT_BYTES, 1, 0},
    {"NODE", "node", NULL, OUTPUT_TEXT, 2, 6},
    {"DOMAIN", "domain", NULL, OUTPUT_TEXT, 3, 12},
    {"FLAGS", "tcp_flags", NULL, OUTPUT_TEXT, 4, 0},
    {"LAST SEEN", "last_seen", NULL, OUTPUT_TIME, 5, 0},
    {"IFACE", "interface", NULL, OUTPUT_TEXT, 6, 0},
};

static const char *const ctl_live_csv[] = {
    "connection",
    "protocol",
    "ip_version",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "first_seen",
    "last_seen",
    "tcp_flags",
    "domain",
    "node",
    "interface",
    "stats.packets_count",
    "stats.packets_sent",
    "stats.packets_received",
    "stats.bytes_sent",
    "stats.bytes_received",
};

static const struct output_column ctl_history_cols[] = {
    {"TIME", "timestamp", NULL, OUTPUT_TIME, 0, 0},
    {"PROTO", "protocol", NULL, OUTPUT_TEXT, 0, 0},
    {"SRC", "src_ip", "src_port", OUTPUT_ENDPOINT, 0, 0},
    {"DST", "dst_ip", "dst_port", OUTPUT_ENDPOINT, 0, 0},
    {"PACKETS", "packet_count", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "length", NULL, OUTPUT_BYTES, 0, 0},
    {"NODE", "node", NULL, OUTPUT_TEXT, 1, 6},
    {"DOMAIN", "domain", NULL, OUTPUT_TEXT, 2, 12},
    {"FLAGS", "tcp_flags", NULL, OUTPUT_TEXT, 3, 0},
    {"IFACE", "interface", NULL, OUTPUT_TEXT, 4, 0},
};

static const char *const ctl_history_csv[] = {
    "timestamp",	"window_end", "node",		"protocol",	"ip_version",
    "src_ip",		"src_port",   "dst_ip",		"dst_port",	"packets_sent",
    "packets_received", "bytes_sent", "bytes_received", "packet_count", "length",
    "tcp_flags",	"domain",     "first_seen",	"last_seen",	"interface",
};

static const struct output_column ctl_domains_cols[] = {
    {"DOMAIN", "domain", NULL, OUTPUT_TEXT, 0, 16},
    {"BYTES", "bytes", NULL, OUTPUT_BYTES, 0, 0},
    {"PACKETS", "packets", NULL, OUTPUT_COUNT, 0, 0},
    {"FLOWS", "flows", NULL, OUTPUT_COUNT, 0, 0},
};

static const char *const ctl_domains_csv[] = {"domain", "bytes", "packets", "flows"};

/* latency_text and answers_text are made by ctl_dns_rows. */
static const struct output_column ctl_dns_cols[] = {
    {"TIME", "timestamp", NULL, OUTPUT_TIME, 0, 0},
    {"NODE", "node", NULL, OUTPUT_TEXT, 2, 6},
    {"CLIENT", "client_ip", "client_port", OUTPUT_ENDPOINT, 0, 0},
    {"NAME", "name", NULL, OUTPUT_TEXT, 0, 16},
    {"TYPE", "type", NULL, OUTPUT_TEXT, 0, 0},
    {"RCODE", "rcode", NULL, OUTPUT_TEXT, 0, 0},
    {"LATENCY", "latency_text", NULL, OUTPUT_TEXT, 1, 0},
    {"ANSWERS", "answers_text", NULL, OUTPUT_TEXT, 3, 12},
};

static const char *const ctl_dns_csv[] = {
    "timestamp",  "node",	"name",	     "type",	    "qtype",	 "rcode",	"answered",
    "latency_us", "latency_ms", "client_ip", "client_port", "server_ip", "server_port", "answers",
};

static json_t *ctl_dns_rows(const json_t *rows);

static const struct ctl_view ctl_nodes_view = {
    .array = "nodes",
    .cols = ctl_nodes_cols,
    .ncols = CTL_N(ctl_nodes_cols),
    .csv_keys = ctl_nodes_csv,
    .ncsv_keys = CTL_N(ctl_nodes_csv),
};
static const struct ctl_view ctl_live_view = {
    .array = "connections",
    .cols = ctl_live_cols,
    .ncols = CTL_N(ctl_live_cols),
    .csv_keys = ctl_live_csv,
    .ncsv_keys = CTL_N(ctl_live_csv),
    .hosts = true,
};
static const struct ctl_view ctl_history_view = {
    .array = "items",
    .cols = ctl_history_cols,
    .ncols = CTL_N(ctl_history_cols),
    .csv_keys = ctl_history_csv,
    .ncsv_keys = CTL_N(ctl_history_csv),
    .hosts = true,
};
static const struct ctl_view ctl_domains_view = {
    .array = "domains",
    .cols = ctl_domains_cols,
    .ncols = CTL_N(ctl_domains_cols),
    .csv_keys = ctl_domains_csv,
    .ncsv_keys = CTL_N(ctl_domains_csv),
};
static const struct ctl_view ctl_dns_view = {
    .array = "items",
    .cols = ctl_dns_cols,
    .ncols = CTL_N(ctl_dns_cols),
    .csv_keys = ctl_dns_csv,
    .ncsv_keys = CTL_N(ctl_dns_csv),
    .table_rows = ctl_dns_rows,
};

/* --- options of each subcommand --- */

static const struct ctl_option ctl_live_opts[] = {
    {"node", "NAME", "node", CTL_OPT_PARAM, "only the connections of this node"},
    {"limit", "N", "limit", CTL_OPT_UINT,
     "at most N connections, most packets first "
     "(collector default 50, at most 1000)"},
};

static const struct ctl_option ctl_history_opts[] = {
    {"node", "NAME", "node", CTL_OPT_PARAM, "records of this node"},
    {"ip", "ADDR", "ip", CTL_OPT_PARAM, "either endpoint has this IPv4 or IPv6 address"},
    {"src-ip", "ADDR", "src_ip", CTL_OPT_PARAM, "the source has this address"},
    {"dst-ip", "ADDR", "dst_ip", CTL_OPT_PARAM, "the destination has this address"},
    {"port", "PORT", "port", CTL_OPT_PARAM, "either endpoint has this port"},
    {"src-port", "PORT", "src_port", CTL_OPT_PARAM, "the source has this port"},
    {"dst-port", "PORT", "dst_port", CTL_OPT_PARAM, "the destination has this port"},
    {"protocol", "PROTO", "protocol", CTL_OPT_PARAM, "tcp, udp, icmp, icmpv6 or a number"},
    {"domain", "NAME", "domain", CTL_OPT_PARAM, "flows to this domain"},
    {"since", "TIME", "start_time", CTL_OPT_TIME,
     "from TIME: a duration ago (30s, 15m, 2h, 7d, 1h30m), Unix ms or RFC 3339"},
    {"until", "TIME", "end_time", CTL_OPT_TIME, "up to TIME (same forms as --since)"},
    {"limit", "N", "limit", CTL_OPT_UINT, "at most N records (collector default 100)"},
    {"offset", "N", "offset", CTL_OPT_UINT, "skip the first N records (paging)"},
};

static const struct ctl_option ctl_domains_opts[] = {
    {"since", "TIME", "start_time", CTL_OPT_TIME,
     "from TIME: a duration ago (30s, 15m, 2h, 7d, 1h30m), Unix ms or RFC 3339 "
     "(default: one hour before --until)"},
    {"until", "TIME", "end_time", CTL_OPT_TIME, "up to TIME (default: now)"},
    {"node", "NAME", "node", CTL_OPT_PARAM, "the flows of this node"},
    {"limit", "N", "limit", CTL_OPT_UINT, "the top N domains (collector default 10, at most 1000)"},
};

static const struct ctl_option ctl_dns_opts[] = {
    {"since", "TIME", "start_time", CTL_OPT_TIME,
     "from TIME: a duration ago (30s, 15m, 2h, 7d, 1h30m), Unix ms or RFC 3339"},
    {"until", "TIME", "end_time", CTL_OPT_TIME, "up to TIME (same forms as --since)"},
    {"node", "NAME", "node", CTL_OPT_PARAM, "queries seen by this node"},
    {"client", "ADDR", "client", CTL_OPT_PARAM, "queries asked by this IPv4 or IPv6 address"},
    {"name", "NAME", "name", CTL_OPT_PARAM,
     "queries for this name, or with a leading dot (.example.com) for it and its subdomains"},
    {"limit", "N", "limit", CTL_OPT_UINT, "at most N records (collector default 100)"},
    {"offset", "N", "offset", CTL_OPT_UINT, "skip the first N records (paging)"},
};

static const struct ctl_option ctl_watch_opts[] = {
    {"count", "N", NULL, CTL_OPT_COUNT, "stop after N updates (default: until interrupted)"},
};

/* --- rendering --- */

/* An object shown as a one-row table. */
static int ctl_table_object(const json_t *obj, const struct output_column *cols, size_t ncols,
			    unsigned int width, FILE *out)
{
	json_t *rows = json_array();
	int err;

	if (!rows)
		return -ENOMEM;
	if (json_array_append(rows, (json_t *)obj) < 0) {
		json_decref(rows);
		return -ENOMEM;
	}
	err = output_table(out, cols, ncols, rows, width);
	json_decref(rows);
	return err;
}

static int ctl_render_health(const struct ctl *ctl, const json_t *body, FILE *out)
{
	if (ctl->format == OUTPUT_CSV)
		return output_csv_object(out, body, true);
	return ctl_table_object(body, ctl_health_cols, CTL_N(ctl_health_cols), ctl->width, out);
}

/* The loss ledger {"reason": count, ...} as rows {"reason": ..., "packets": ...}. */
static int ctl_table_ledger(const json_t *ledger, unsigned int width, FILE *out)
{
	json_t *rows = json_array();
	const char *reason;
	json_t *count;
	int err = 0;

	if (!rows)
		return -ENOMEM;
	if (json_is_object(ledger)) {
		json_object_foreach((json_t *)ledger, reason, count)
		{
			if (json_array_append_new(rows, json_pack("{s:s, s:O}", "reason", reason,
								  "packets", count)) < 0) {
				err = -ENOMEM;
				break;
			}
		}
	}
	if (!err)
		err = output_table(out, ctl_ledger_cols, CTL_N(ctl_ledger_cols), rows, width);
	json_decref(rows);
	return err;
}

static int ctl_table_nodes(const json_t *body, unsigned int width, FILE *out)
{
	const json_t *nodes = json_object_get(body, "nodes");
	json_t *empty = NULL;
	int err;

	if (!json_is_array(nodes)) {
		empty = json_array();
		if (!empty)
			return -ENOMEM;
		nodes = empty;
	}
	err = output_table(out, ctl_stats_node_cols, CTL_N(ctl_stats_node_cols), nodes, width);
	json_decref(empty);
	return err;
}

/* Totals, the loss ledger, ingest counters and the nodes, each a table, a blank line
 * between them. */
static int ctl_render_stats(const struct ctl *ctl, const json_t *body, FILE *out)
{
	const json_t *ingest = json_object_get(body, "ingest");
	int err;

	if (ctl->format == OUTPUT_CSV)
		return output_csv_object(out, body, true);
	err = ctl_table_object(body, ctl_stats_cols, CTL_N(ctl_stats_cols), ctl->width, out);
	if (!err) {
		fputc('\n', out);
		err = ctl_table_ledger(json_object_get(body, "lost_packets"), ctl->width, out);
	}
	if (!err && json_is_object(ingest)) {
		fputc('\n', out);
		err = ctl_table_object(ingest, ctl_ingest_cols, CTL_N(ctl_ingest_cols), ctl->width,
				       out);
	}
	if (!err) {
		fputc('\n', out);
		err = ctl_table_nodes(body, ctl->width, out);
	}
	return err;
}

/* The DNS rows with latency_text ("1.5 ms", null when not measured) and answers_text
 * (the addresses and CNAME targets, comma-separated; null when none). */
static json_t *ctl_dns_rows(const json_t *rows)
{
	json_t *out = json_array();
	const json_t *row;
	size_t i;

	json_array_foreach((json_t *)rows, i, row)
	{
		json_t *copy = json_copy((json_t *)row), *lat = json_object_get(row, "latency_us");
		const json_t *answers = json_object_get(row, "answers"), *a;
		char text[2048] = "", latency[32];
		size_t used = 0, j;

		if (!out || !copy) {
			json_decref(copy);
			json_decref(out);
			return NULL;
		}
		json_array_foreach((json_t *)answers, j, a)
		{
			const json_t *v = json_object_get(a, "address");

			if (!json_is_string(v))
				v = json_object_get(a, "target");
			if (json_is_string(v) && used < sizeof(text))
				used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
							 used ? "," : "", json_string_value(v));
		}
		snprintf(latency, sizeof(latency), "%.1f ms",
			 (double)json_integer_value(lat) / 1000.0);
		if (json_object_set_new(copy, "answers_text",
					used ? json_string(text) : json_null()) < 0 ||
		    json_object_set_new(copy, "latency_text",
					json_integer_value(lat) > 0 ? json_string(latency)
								    : json_null()) < 0 ||
		    json_array_append_new(out, copy) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Does a row have a reverse-DNS name? */
static bool ctl_rows_have_hosts(const json_t *rows)
{
	const json_t *row;
	size_t i;

	json_array_foreach((json_t *)rows, i, row)
	{
		if (json_is_string(json_object_get(row, "src_hostname")) ||
		    json_is_string(json_object_get(row, "dst_hostname")))
			return true;
	}
	return false;
}

#define CTL_VIEW_COLS_MAX 24

static int ctl_render_view(const struct ctl *ctl, const json_t *body, FILE *out)
{
	static const struct output_column host_cols[] = {
	    {"SRC HOST", "src_hostname", NULL, OUTPUT_TEXT, 3, 10},
	    {"DST HOST", "dst_hostname", NULL, OUTPUT_TEXT, 3, 10},
	};
	static const char *const host_keys[] = {"src_hostname", "dst_hostname"};
	const struct ctl_view *v = ctl->cmd->view;
	const json_t *rows = json_object_get(body, v->array);
	struct output_column cols[CTL_VIEW_COLS_MAX];
	const char *keys[CTL_VIEW_COLS_MAX];
	size_t ncols = 0, nkeys = 0;
	json_t *shown;
	int err;

	if (!json_is_array(rows)) {
		fprintf(stderr, "ayaflowctl: collector: reply has no '%s' array\n", v->array);
		return -EPROTO;
	}
	if (!v->hosts || !ctl_rows_have_hosts(rows) || v->ncols + 2 > CTL_VIEW_COLS_MAX ||
	    v->ncsv_keys + 2 > CTL_VIEW_COLS_MAX) {
		if (ctl->format == OUTPUT_CSV)
			return output_csv(out, v->csv_keys, v->ncsv_keys, rows);
		if (!v->table_rows)
			return output_table(out, v->cols, v->ncols, rows, ctl->width);
		shown = v->table_rows(rows);
		if (!shown)
			return -ENOMEM;
		err = output_table(out, v->cols, v->ncols, shown, ctl->width);
		json_decref(shown);
		return err;
	}
	/* the host names: after DST in the table, at the end of the CSV */
	for (size_t i = 0; i < v->ncsv_keys; i++)
		keys[nkeys++] = v->csv_keys[i];
	keys[nkeys++] = host_keys[0];
	keys[nkeys++] = host_keys[1];
	if (ctl->format == OUTPUT_CSV)
		return output_csv(out, keys, nkeys, rows);
	for (size_t i = 0; i < v->ncols; i++) {
		cols[ncols++] = v->cols[i];
		if (strcmp(v->cols[i].key, "dst_ip") == 0) {
			cols[ncols++] = host_cols[0];
			cols[ncols++] = host_cols[1];
		}
	}
	return output_table(out, cols, ncols, rows, ctl->width);
}

/* --- talking to the collector --- */

/* GETs the command's path with its parameters. On success *json is the parsed body and
 * resp holds the raw one (the caller frees both). On failure says why on stderr. */
static int ctl_fetch(struct ctl *ctl, struct http_client_response *resp, json_t **json)
{
	char err[HTTP_CLIENT_ERR_LEN];
	json_error_t jerr;
	json_t *j;
	int ret;

	ret = http_client_get(ctl->http, ctl->cmd->path, ctl->params, ctl->nparams, resp, err,
			      sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ayaflowctl: cannot reach the collector: %s\n", err);
		return ret;
	}
	j = json_loadb(resp->body, resp->len, 0, &jerr);
	if (resp->status < 200 || resp->status > 299) {
		const json_t *msg = json_object_get(json_object_get(j, "error"), "message");

		if (json_is_string(msg))
			fprintf(stderr, "ayaflowctl: collector: %s\n", json_string_value(msg));
		else
			fprintf(stderr, "ayaflowctl: collector: HTTP status %ld\n", resp->status);
		json_decref(j);
		http_client_response_fini(resp);
		return -EPROTO;
	}
	if (!j) {
		fprintf(stderr, "ayaflowctl: collector: reply is not JSON: %s (line %d)\n",
			jerr.text, jerr.line);
		http_client_response_fini(resp);
		return -EPROTO;
	}
	*json = j;
	return 0;
}

/* JSON output is the API's body as it came; a newline is added only for a terminal,
 * so that the prompt does not follow the JSON on its line. */
static void ctl_print_body(const struct http_client_response *resp, FILE *out, bool newline)
{
	fwrite(resp->body, 1, resp->len, out);
	if (newline && (resp->len == 0 || resp->body[resp->len - 1] != '\n'))
		fputc('\n', out);
}

static int ctl_render(const struct ctl *ctl, const struct http_client_response *resp,
		      const json_t *json, FILE *out)
{
	if (ctl->format == OUTPUT_JSON) {
		ctl_print_body(resp, out, isatty(fileno(out)));
		return 0;
	}
	if (ctl->cmd->view)
		return ctl_render_view(ctl, json, out);
	return ctl->cmd->render(ctl, json, out);
}

/* Paging hint for tables: the rest of a history query is one --offset away. */
static void ctl_history_hint(const struct ctl *ctl, const json_t *json)
{
	json_int_t offset = json_integer_value(json_object_get(json, "offset"));
	json_int_t returned = json_integer_value(json_object_get(json, "returned"));
	json_int_t total = json_integer_value(json_object_get(json, "total"));

	if (ctl->format != OUTPUT_TABLE || !json_is_true(json_object_get(json, "has_more")))
		return;
	fprintf(stderr,
		"ayaflowctl: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
		" records shown; --offset %" JSON_INTEGER_FORMAT " for the next ones\n",
		returned, total, offset + returned);
}

static int ctl_run_once(struct ctl *ctl)
{
	struct http_client_response resp;
	json_t *json = NULL;
	int err;

	if (ctl_fetch(ctl, &resp, &json) < 0)
		return CTL_EXIT_FAIL;
	err = ctl_render(ctl, &resp, json, stdout);
	if (!err && (ctl->cmd->view == &ctl_history_view || ctl->cmd->view == &ctl_dns_view))
		ctl_history_hint(ctl, json);
	json_decref(json);
	http_client_response_fini(&resp);
	if (err) {
		if (err != -EPROTO)
			fprintf(stderr, "ayaflowctl: cannot show the reply: %s\n", strerror(-err));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

/* --- watch --- */

static void ctl_on_signal(int sig)
{
	(void)sig;
	ctl_stop = 1;
}

/* Sleeps until the monotonic deadline or a signal. */
static void ctl_sleep_until(const struct timespec *deadline)
{
	while (!ctl_stop &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) == EINTR)
		;
}

/* One update of the live view: totals and the nodes (a table), the body (json, one line
 * each), or one CSV row under a header written once. */
static int ctl_watch_update(struct ctl *ctl, const struct http_client_response *resp,
			    const json_t *json, unsigned long n, bool tty, bool stream)
{
	int err;

	if (ctl->format == OUTPUT_JSON) {
		ctl_print_body(resp, stdout, true);
		return 0;
	}
	if (ctl->format == OUTPUT_CSV)
		return output_csv_object(stdout, json, n == 0);
	if (tty) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		if (!localtime_r(&now, &tm) ||
		    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			strcpy(stamp, "-");
		/* home, clear screen: only for a terminal */
		printf("\033[H\033[2J%s  every 1s  %s\n\n", ctl->collector, stamp);
		ctl->width = output_width(STDOUT_FILENO); /* follows a resized window */
	} else if (n > 0) {
		fputc('\n', stdout);
	}
	if (stream) {
		const json_t *nodes = json_object_get(json, "nodes");

		err = ctl_table_object(json, ctl_stream_cols, CTL_N(ctl_stream_cols), ctl->width,
				       stdout);
		if (!err && json_is_array(nodes)) {
			fputc('\n', stdout);
			err = output_table(stdout, ctl_stream_node_cols,
					   CTL_N(ctl_stream_node_cols), nodes, ctl->width);
		}
		return err;
	}
	err = ctl_table_object(json, ctl_stats_cols, CTL_N(ctl_stats_cols), ctl->width, stdout);
	if (!err) {
		fputc('\n', stdout);
		err = ctl_table_nodes(json, ctl->width, stdout);
	}
	return err;
}

/* Shows one update and counts it; 1 when --count is reached, -1 when the view cannot be
 * written (reported), else 0. */
static int ctl_watch_show(struct ctl *ctl, const struct http_client_response *resp,
			  const json_t *json, unsigned long *n, bool tty, bool stream)
{
	int err = ctl_watch_update(ctl, resp, json, *n, tty, stream);

	if (err || fflush(stdout) != 0) {
		fprintf(stderr, "ayaflowctl: writing the view: %s\n", strerror(err ? -err : errno));
		return -1;
	}
	(*n)++;
	return ctl->count && *n >= ctl->count ? 1 : 0;
}

/* Follows /api/stream: one update per message. Returns 0 when done (interrupted or
 * --count), -EPROTO when the collector refuses the upgrade (older collector: the caller
 * polls instead), -1 on a failure to report as exit 2. A broken stream after the first
 * update is reported and reopened a second later. */
static int ctl_watch_stream(struct ctl *ctl, bool tty, unsigned long *n)
{
	char err[HTTP_CLIENT_ERR_LEN];
	struct http_client_ws *ws = NULL;
	struct timespec next;
	long status;
	int ret;

	while (!ctl_stop) {
		char *text = NULL;
		size_t len = 0;
		json_error_t jerr;
		json_t *json;

		if (!ws) {
			ret = http_client_ws_open(ctl->http, "/api/stream", &ws, &status, err,
						  sizeof(err));
			if (ret == -EPROTO && *n == 0) {
				fprintf(stderr,
					"ayaflowctl: watch: no stream at the collector (HTTP %ld): "
					"polling /api/stats\n",
					status);
				return -EPROTO;
			}
			if (ret < 0 && *n == 0) {
				if (ret == -EINTR)
					return 0;
				fprintf(stderr, "ayaflowctl: cannot reach the collector: %s\n",
					err);
				return -1;
			}
			if (ret < 0)
				goto retry;
		}
		/* a message a second; allow --timeout for one to come */
		ret = http_client_ws_recv(ws, ctl->timeout_s * 1000 + 1000, &text, &len, err,
					  sizeof(err));
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			http_client_ws_close(ws);
			ws = NULL;
			if (*n == 0) {
				fprintf(stderr, "ayaflowctl: collector stream: %s\n", err);
				return -1;
			}
			goto retry;
		}
		json = json_loadb(text, len, 0, &jerr);
		if (!json || !json_is_object(json)) {
			fprintf(stderr, "ayaflowctl: collector: message is not a JSON object: %s\n",
				jerr.text);
			json_decref(json);
			free(text);
			http_client_ws_close(ws);
			return -1;
		}
		ret = ctl_watch_show(ctl, &(struct http_client_response){200, text, len}, json, n,
				     tty, true);
		json_decref(json);
		free(text);
		if (ret != 0) {
			http_client_ws_close(ws);
			return ret < 0 ? -1 : 0;
		}
		continue;
	retry:
		fprintf(stderr, "ayaflowctl: collector stream: %s (retrying)\n", err);
		if (clock_gettime(CLOCK_MONOTONIC, &next) < 0)
			break;
		next.tv_sec += CTL_WATCH_MS / 1000;
		ctl_sleep_until(&next);
	}
	http_client_ws_close(ws);
	return 0;
}

/* Follows the collector until interrupted (exit 0) or --count updates: its WebSocket
 * /api/stream, or, when the collector has none (older versions), /api/stats polled once
 * a second. A failure before the first update is an error (exit 2); later ones are
 * reported and retried, so that a collector restart does not end the view. */
static int ctl_run_watch(struct ctl *ctl)
{
	struct sigaction sa = {.sa_handler = ctl_on_signal};
	bool tty = isatty(STDOUT_FILENO);
	struct timespec next;
	unsigned long n = 0;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    clock_gettime(CLOCK_MONOTONIC, &next) < 0) {
		fprintf(stderr, "ayaflowctl: watch: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	switch (ctl_watch_stream(ctl, tty, &n)) {
	case 0:
		return CTL_EXIT_OK;
	case -EPROTO:
		break; /* poll /api/stats as older versions did */
	default:
		return CTL_EXIT_FAIL;
	}
	while (!ctl_stop) {
		struct http_client_response resp;
		json_t *json = NULL;
		int err;

		if (ctl_fetch(ctl, &resp, &json) < 0) {
			if (n == 0)
				return CTL_EXIT_FAIL;
		} else {
			err = ctl_watch_show(ctl, &resp, json, &n, tty, false);
			json_decref(json);
			http_client_response_fini(&resp);
			if (err < 0)
				return CTL_EXIT_FAIL;
			if (err > 0)
				break;
		}
		next.tv_sec += CTL_WATCH_MS / 1000;
		ctl_sleep_until(&next);
	}
	return CTL_EXIT_OK;
}

/* --- the subcommand table --- */

static const struct ctl_command ctl_commands[] = {
    {"health", "collector status and cluster totals", "/api/health", NULL, 0, NULL,
     ctl_render_health, NULL},
    {"stats", "totals, rates, the loss ledger, ingest and per-node counters", "/api/stats", NULL, 0,
     NULL, ctl_render_stats, NULL},
    {"nodes", "the nodes that report to the collector", "/api/nodes", NULL, 0, &ctl_nodes_view,
     NULL, NULL},
    {"live", "the cluster's live connections, most packets first", "/api/live", ctl_live_opts,
     CTL_N(ctl_live_opts), &ctl_live_view, NULL, NULL},
    {"history", "stored flow records, newest first, filtered", "/api/history", ctl_history_opts,
     CTL_N(ctl_history_opts), &ctl_history_view, NULL, NULL},
    {"domains", "the top domains by bytes over a time range (default: the last hour)",
     "/api/domains", ctl_domains_opts, CTL_N(ctl_domains_opts), &ctl_domains_view, NULL, NULL},
    {"dns", "stored DNS queries and answers, newest first, filtered", "/api/dns", ctl_dns_opts,
     CTL_N(ctl_dns_opts), &ctl_dns_view, NULL, NULL},
    {"watch", "a live view of the totals and nodes, redrawn every second", "/api/stats",
     ctl_watch_opts, CTL_N(ctl_watch_opts), NULL, NULL, ctl_run_watch},
};

/* --- command line --- */

enum {
	CTL_G_COLLECTOR = 1,
	CTL_G_OUTPUT,
	CTL_G_TOKEN,
	CTL_G_TIMEOUT,
	CTL_G_HELP,
	CTL_G_VERSION,
	CTL_G_CMD_BASE = 0x100, /* + index into the command's options */
};

static const struct option ctl_global_opts[] = {
    {"collector", required_argument, NULL, CTL_G_COLLECTOR},
    {"output", required_argument, NULL, CTL_G_OUTPUT},
    {"token", required_argument, NULL, CTL_G_TOKEN},
    {"timeout", required_argument, NULL, CTL_G_TIMEOUT},
    {"help", no_argument, NULL, CTL_G_HELP},
    {"version", no_argument, NULL, CTL_G_VERSION},
};

static const char ctl_global_help[] =
    "Global options (before or after the subcommand):\n"
    "      --collector URL   collector API (default: $AYAFLOW_COLLECTOR, else " CTL_DEFAULT_URL
    ")\n"
    "  -o, --output FORMAT   table, json (the API's JSON as it is) or csv (default: table)\n"
    "      --token TOKEN     bearer token for the API (default: $AYAFLOW_TOKEN)\n"
    "      --timeout SECONDS give up on a request after this long (default: 10)\n"
    "  -h, --help            show the help (of the subcommand, after one)\n"
    "      --version         show the version\n";

static void ctl_usage_line(FILE *f, const struct ctl_command *cmd)
{
	if (cmd)
		fprintf(f, "usage: ayaflowctl %s [OPTIONS]\n", cmd->name);
	else
		fprintf(f, "usage: ayaflowctl [OPTIONS] COMMAND [COMMAND OPTIONS]\n");
}

static void ctl_help(const struct ctl_command *cmd)
{
	ctl_usage_line(stdout, cmd);
	if (!cmd) {
		printf("Queries the ayaflow collector's API.\n\nCommands:\n");
		for (size_t i = 0; i < CTL_N(ctl_commands); i++)
			printf("  %-9s %s\n", ctl_commands[i].name, ctl_commands[i].summary);
		printf("\n%s\n'ayaflowctl COMMAND --help' shows the options of a command.\n"
		       "Exit status: 0 success, 1 bad usage, 2 the collector is unreachable or "
		       "answered an error.\n",
		       ctl_global_help);
		return;
	}
	printf("%s (GET %s).\n\n", cmd->summary, cmd->path);
	if (cmd->nopts) {
		printf("Options:\n");
		for (size_t i = 0; i < cmd->nopts; i++) {
			char left[48];

			snprintf(left, sizeof(left), "--%s %s", cmd->opts[i].name,
				 cmd->opts[i].metavar);
			printf("      %-21s %s\n", left, cmd->opts[i].help);
		}
		printf("\n");
	}
	printf("%s", ctl_global_help);
}

/* Prints "ayaflowctl: MSG", the usage line and a hint to stderr; returns CTL_EXIT_USAGE. */
static int ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ctl_usage_error(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("ayaflowctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctl_usage_line(stderr, cmd);
	fprintf(stderr, "Try 'ayaflowctl %s%s--help'.\n", cmd ? cmd->name : "", cmd ? " " : "");
	return CTL_EXIT_USAGE;
}

static const struct ctl_command *ctl_command_find(const char *name)
{
	for (size_t i = 0; i < CTL_N(ctl_commands); i++) {
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	}
	return NULL;
}

/* Does argv word a consume the next word as a global option's value? Long options may
 * be abbreviated, as getopt_long allows. */
static bool ctl_takes_value(const char *a)
{
	size_t n;

	if (strcmp(a, "-o") == 0)
		return true;
	if (strncmp(a, "--", 2) != 0 || strchr(a, '='))
		return false;
	n = strlen(a + 2);
	for (size_t i = 0; n > 0 && i < CTL_N(ctl_global_opts); i++) {
		if (ctl_global_opts[i].has_arg == required_argument &&
		    strncmp(ctl_global_opts[i].name, a + 2, n) == 0)
			return true;
	}
	return false;
}

/* The index in argv of the subcommand: the first word that is not an option or an
 * option's value; 0 when there is none. */
static int ctl_find_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? i + 1 : 0;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			return i;
		if (ctl_takes_value(argv[i]))
			i++;
	}
	return 0;
}

/* Whole number in decimal digits only (no sign, no blanks), at most 2^63. */
static int ctl_parse_uint(const char *s, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > (1ull << 63))
		return -ERANGE;
	*out = v;
	return 0;
}

/* "15m", "2h", "1h30m", "7d", "30s" -> milliseconds; -EINVAL when s is not a duration. */
static int ctl_parse_duration(const char *s, unsigned long long *ms)
{
	unsigned long long total = 0;

	if (!*s)
		return -EINVAL;
	while (*s) {
		unsigned long long v = 0, unit;
		size_t nd = strspn(s, "0123456789");

		if (nd == 0 || nd > 9)
			return -EINVAL;
		for (size_t i = 0; i < nd; i++)
			v = v * 10 + (unsigned long long)(s[i] - '0');
		s += nd;
		switch (*s) {
		case 's':
			unit = 1000ull;
			break;
		case 'm':
			unit = 60 * 1000ull;
			break;
		case 'h':
			unit = 3600 * 1000ull;
			break;
		case 'd':
			unit = 86400 * 1000ull;
			break;
		default:
			return -EINVAL;
		}
		s++;
		total += v * unit; /* < 10^9 * 8.64e7 per part: no overflow for a few parts */
		if (total > (1ull << 62))
			return -ERANGE;
	}
	*ms = total;
	return 0;
}

static int ctl_add_param(struct ctl *ctl, const char *name, const char *value)
{
	/* a repeated option replaces its earlier value */
	for (size_t i = 0; i < ctl->nparams; i++) {
		if (strcmp(ctl->params[i].name, name) == 0) {
			ctl->params[i].value = value;
			return 0;
		}
	}
	if (ctl->nparams >= CTL_PARAMS_MAX)
		return -E2BIG;
	ctl->params[ctl->nparams].name = name;
	ctl->params[ctl->nparams].value = value;
	ctl->nparams++;
	return 0;
}

/* Applies one subcommand option; returns 0, or CTL_EXIT_USAGE / CTL_EXIT_FAIL after
 * saying why. */
static int ctl_apply_option(struct ctl *ctl, const struct ctl_option *o, const char *value)
{
	unsigned long long v;
	const char *param = value;

	switch (o->kind) {
	case CTL_OPT_UINT:
	case CTL_OPT_COUNT:
		if (ctl_parse_uint(value, &v) < 0 || (o->kind == CTL_OPT_COUNT && v == 0))
			return ctl_usage_error(ctl->cmd, "--%s: '%s' is not a whole number%s",
					       o->name, value,
					       o->kind == CTL_OPT_COUNT ? " above 0" : "");
		if (o->kind == CTL_OPT_COUNT) {
			ctl->count = (unsigned long)v;
			return 0;
		}
		break;
	case CTL_OPT_TIME:
		if (ctl_parse_duration(value, &v) == 0) {
			struct timespec now;
			unsigned long long now_ms;
			char *s;

			if (clock_gettime(CLOCK_REALTIME, &now) < 0)
				return ctl_usage_error(ctl->cmd, "--%s: no clock", o->name);
			now_ms = (unsigned long long)now.tv_sec * 1000 +
				 (unsigned long long)now.tv_nsec / 1000000;
			if (ctl->nowned >= CTL_PARAMS_MAX ||
			    asprintf(&s, "%llu", v > now_ms ? 0 : now_ms - v) < 0) {
				fprintf(stderr, "ayaflowctl: out of memory\n");
				return CTL_EXIT_FAIL;
			}
			ctl->owned[ctl->nowned++] = s;
			param = s;
		}
		/* anything else (Unix ms, RFC 3339, a typo) goes to the collector, which
		 * names a bad value in its error */
		break;
	case CTL_OPT_PARAM:
		break;
	}
	if (ctl_add_param(ctl, o->param, param) < 0)
		return ctl_usage_error(ctl->cmd, "too many options");
	return 0;
}

/* Parses the whole command line into ctl. Returns -1 to go on, or an exit status
 * (after --help, --version or a usage error). */
static int ctl_parse(struct ctl *ctl, int argc, char **argv)
{
	struct option opts[CTL_N(ctl_global_opts) + CTL_OPTS_MAX + 1];
	const struct ctl_command *cmd = NULL;
	char **args = NULL;
	int ci, nargs = 0, ret = -1, c;
	size_t nopts = 0;

	ci = ctl_find_command(argc, argv);
	if (ci > 0) {
		cmd = ctl_command_find(argv[ci]);
		if (!cmd)
			return ctl_usage_error(NULL, "unknown command '%s'", argv[ci]);
	}
	ctl->cmd = cmd;
	memcpy(opts, ctl_global_opts, sizeof(ctl_global_opts));
	nopts = CTL_N(ctl_global_opts);
	for (size_t i = 0; cmd && i < cmd->nopts && i < CTL_OPTS_MAX; i++)
		opts[nopts++] = (struct option){cmd->opts[i].name, required_argument, NULL,
						CTL_G_CMD_BASE + (int)i};
	memset(&opts[nopts], 0, sizeof(opts[nopts]));

	/* argv without the subcommand word, so that getopt sees only options */
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		fprintf(stderr, "ayaflowctl: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	for (int i = 0; i < argc; i++) {
		if (i != ci || ci == 0)
			args[nargs++] = argv[i];
	}

	opterr = 0;
	optind = 1;
	while (ret < 0 && (c = getopt_long(nargs, args, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case CTL_G_COLLECTOR:
			ctl->collector = optarg;
			break;
		case 'o':
		case CTL_G_OUTPUT:
			if (output_format_parse(optarg, &ctl->format) < 0)
				ret = ctl_usage_error(
				    cmd, "--output: '%s' is not table, json or csv", optarg);
			break;
		case CTL_G_TOKEN:
			ctl->token = optarg;
			break;
		case CTL_G_TIMEOUT: {
			unsigned long long v;

			if (ctl_parse_uint(optarg, &v) < 0 || v == 0 || v > 3600)
				ret = ctl_usage_error(cmd, "--timeout: '%s' is not 1..3600 seconds",
						      optarg);
			else
				ctl->timeout_s = (long)v;
			break;
		}
		case 'h':
		case CTL_G_HELP:
			ctl_help(cmd);
			ret = CTL_EXIT_OK;
			break;
		case CTL_G_VERSION:
			printf("ayaflowctl %s\n", AYAFLOW_VERSION);
			ret = CTL_EXIT_OK;
			break;
		case ':':
			ret = ctl_usage_error(cmd, "option '%s' needs a value", args[optind - 1]);
			break;
		case '?':
			ret = ctl_usage_error(cmd, "unknown option '%s'", args[optind - 1]);
			break;
		default:
			if (c >= CTL_G_CMD_BASE && cmd &&
			    (size_t)(c - CTL_G_CMD_BASE) < cmd->nopts) {
				int r =
				    ctl_apply_option(ctl, &cmd->opts[c - CTL_G_CMD_BASE], optarg);

				if (r)
					ret = r;
			} else {
				ret = ctl_usage_error(cmd, "unknown option '%s'", args[optind - 1]);
			}
			break;
		}
	}
	if (ret < 0 && optind < nargs)
		ret = ctl_usage_error(cmd, "unexpected argument '%s'", args[optind]);
	if (ret < 0 && !cmd)
		ret = ctl_usage_error(NULL, "no command given");
	free(args);
	return ret;
}

static void ctl_fini(struct ctl *ctl)
{
	http_client_free(ctl->http);
	for (size_t i = 0; i < ctl->nowned; i++)
		free(ctl->owned[i]);
}

int main(int argc, char **argv)
{
	struct ctl ctl = {
	    .collector = getenv("AYAFLOW_COLLECTOR"),
	    .token = getenv("AYAFLOW_TOKEN"),
	    .timeout_s = CTL_TIMEOUT_S,
	    .format = OUTPUT_TABLE,
	};
	struct http_client_config hc;
	int rc;

	if (!ctl.collector || !*ctl.collector)
		ctl.collector = CTL_DEFAULT_URL;
	rc = ctl_parse(&ctl, argc, argv);
	if (rc >= 0)
		goto out;
	ctl.width = output_width(STDOUT_FILENO);
	hc = (struct http_client_config){
	    .base_url = ctl.collector,
	    .token = ctl.token,
	    .timeout_ms = ctl.timeout_s * 1000,
	    .max_body = CTL_MAX_BODY,
	};
	ctl.http = http_client_new(&hc);
	if (!ctl.http) {
		fprintf(stderr, "ayaflowctl: cannot start the HTTP client: %s\n", strerror(errno));
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	rc = ctl.cmd->run ? ctl.cmd->run(&ctl) : ctl_run_once(&ctl);
out:
	ctl_fini(&ctl);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ayaflowctl: writing the output: %s\n", strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAIL;
	}
	return rc;
}
