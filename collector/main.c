/* main.c - ayaflow-collector: receives the nodes' flow batches over nng, stores them in
 * the history store named by --store (SQLite by default; one writer thread, batched
 * transactions, acknowledgement after commit), keeps a cluster-wide live view and serves
 * the cluster-wide REST API and /metrics.
 * Pipeline: lib/transport -> ingest.c (validate, queue, writer) -> store/store.c (a
 * backend: store/sqlite_*.c or store/clickhouse.c) -> live.c -> api.c.
 *
 * Threads: the main thread sets everything up and then waits for SIGINT/SIGTERM; nng's
 * threads run ingest's on_request; ingest's writer thread owns the store; the HTTP
 * server's one thread runs api_handle. Shutdown: stop ingest (stop accepting, store and
 * acknowledge what is queued), stop HTTP, close the store. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cidr.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "log.h"
#include "store/store.h"
#include "transport.h"
#include "version.h"

#define COLLECTOR_EXIT_CONFIG	 2
#define COLLECTOR_LIVE_MAX_CONNS 65536
#define COLLECTOR_LIVE_MAX_NODES 4096
#define COLLECTOR_PASSWORD_MAX	 1024

struct collector_opts {
	char *config;
	struct config_list listen;
	uint64_t port;
	char *db_path;
	char *store;
	char *store_password_file;
	uint64_t data_retention;
	uint64_t connection_timeout;
	struct config_list allowed_ips;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *api_token_file;
	bool api_health_open;
	bool quiet;
	bool verbose;
};

#define OPT(field) offsetof(struct collector_opts, field)

static const struct config_option collector_options[] = {
    {"config", 'c', CONFIG_PATH_CONFIG, OPT(config), NULL, 0, 0, "FILE",
     "YAML file with these options (keys use '_' for '-'); flags override it", NULL},
    {"listen", 0, CONFIG_LIST, OPT(listen), "tcp://0.0.0.0:7400", 0, 0, "URL",
     "where nodes send their batches (nng URL; repeat or comma-separate for several)", NULL},
    {"port", 'p', CONFIG_UINT, OPT(port), "3000", 1, 65535, "PORT", "HTTP API port", NULL},
    {"db-path", 0, CONFIG_STRING, OPT(db_path), "traffic.db", 0, 0, "FILE",
     "SQLite file of the flow history, short for --store sqlite://FILE", NULL},
    {"store", 0, CONFIG_STRING, OPT(store), NULL, 0, 0, "URL",
     "where the flow history is kept, over --db-path: sqlite://FILE or "
     "clickhouse[+https]://[user@]host[:port]/database",
     NULL},
    {"store-password-file", 0, CONFIG_STRING, OPT(store_password_file), NULL, 0, 0, "FILE",
     "password of the ClickHouse user (the file's one line)", NULL},
    {"data-retention", 0, CONFIG_UINT, OPT(data_retention), "0", 0, 100ull * 365 * 86400, "SECONDS",
     "delete flow records older than this (SQLite: in small steps; ClickHouse: whole days) "
     "(0: keep everything)",
     NULL},
    {"connection-timeout", 0, CONFIG_UINT, OPT(connection_timeout), "60", 1, 86400, "SECONDS",
     "connections idle this long leave the cluster live view", NULL},
    {"allowed-ips", 0, CONFIG_LIST, OPT(allowed_ips), NULL, 0, 0, "CIDRS",
     "clients allowed to use the HTTP API (default: everybody)", cidr_check},
    {"tls-ca", 0, CONFIG_STRING, OPT(tls_ca), NULL, 0, 0, "FILE",
     "CA (PEM) whose node certificates tls+tcp:// listeners accept (only those)", NULL},
    {"tls-cert", 0, CONFIG_STRING, OPT(tls_cert), NULL, 0, 0, "FILE",
     "the collector's certificate (PEM) for tls+tcp:// listeners", NULL},
    {"tls-key", 0, CONFIG_STRING, OPT(tls_key), NULL, 0, 0, "FILE",
     "the private key (PEM) of --tls-cert", NULL},
    {"api-token-file", 0, CONFIG_STRING, OPT(api_token_file), NULL, 0, 0, "FILE",
     "require 'Authorization: Bearer <token>' on /api/* and /metrics (token in FILE)", NULL},
    {"api-health-open", 0, CONFIG_BOOL, OPT(api_health_open), NULL, 0, 0, NULL,
     "with --api-token-file, /api/health answers without the token (probes)", NULL},
    {"quiet", 'q', CONFIG_BOOL, OPT(quiet), NULL, 0, 0, NULL, "log errors only", NULL},
    {"verbose", 'v', CONFIG_BOOL, OPT(verbose), NULL, 0, 0, NULL, "log debug messages", NULL},
    {"help", 'h', CONFIG_ACTION_HELP, 0, NULL, 0, 0, NULL, "show this help", NULL},
    {"version", 0, CONFIG_ACTION_VERSION, 0, NULL, 0, 0, NULL, "show the version", NULL},
};
#define COLLECTOR_NOPTIONS (sizeof(collector_options) / sizeof(collector_options[0]))

/* The one context of this process; main() owns it. The modules it points to say who
 * may touch them from which thread. */
struct collector {
	struct collector_opts opts;
	struct store_config store_cfg; /* what --store (or --db-path) names */
	char *store_password;	       /* of --store-password-file; wiped at exit */
	char name[STORE_HOST_MAX + 1]; /* host:port, stored with each batch (store_config) */
	uint64_t start_unix_ms;
	struct cidr_list *allow;
	struct store *store; /* the writer thread's while ingest runs */
	struct live_view *live;
	struct ingest *ingest;
	struct api *api;
	struct http_server *http;
};

static uint64_t collector_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Blocks until SIGINT or SIGTERM (blocked in every thread since before they started). */
static void collector_wait_signal(const sigset_t *mask)
{
	int sig = 0;

	for (;;) {
		int err = sigwait(mask, &sig);

		if (err == 0)
			break;
		if (err != EINTR) {
			log_error("waiting for signals: %s", strerror(err));
			return;
		}
	}
	log_info("signal %d: stopping", sig);
}

/* Nodes the store knows appear in /api/stats at once after a restart. */
static void collector_restore_nodes(struct collector *col)
{
	struct store_reader *r;
	struct store_node *nodes = NULL;
	size_t n = 0;
	char err[512];

	r = store_reader_open(&col->store_cfg, err, sizeof(err));
	if (!r) {
		log_warn("history store %s (nodes appear with their next batch)", err);
		return;
	}
	if (store_list_nodes(r, &nodes, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct live_node_info info = {0};

			snprintf(info.name, sizeof(info.name), "%s", nodes[i].name);
			snprintf(info.boot_id, sizeof(info.boot_id), "%s", nodes[i].boot_id);
			snprintf(info.agent_version, sizeof(info.agent_version), "%s",
				 nodes[i].agent_version);
			info.total_packets = nodes[i].total_packets;
			info.total_bytes = nodes[i].total_bytes;
			info.active_connections = nodes[i].active_connections;
			memcpy(info.lost, nodes[i].lost, sizeof(info.lost));
			info.last_seen_ms = nodes[i].last_seen_ms;
			live_view_restore_node(col->live, &info);
		}
		store_nodes_free(nodes);
	}
	store_reader_close(r);
}

/* The security options' config checks: a tls+tcp:// listener needs the three TLS files,
 * and the API token file must hold a token. 0 and *token (malloc'd, NULL without
 * --api-token-file) or -EINVAL with a message. */
static int collector_check_security(const struct collector_opts *o, char **token, char *err,
				    size_t errlen)
{
	struct transport_tls tls = {o->tls_ca, o->tls_cert, o->tls_key, NULL};

	if (transport_tls_check(o->listen.items, o->listen.count, &tls, "--listen URL", err,
				errlen) < 0)
		return -EINVAL;
	return http_token_read(o->api_token_file, token, err, errlen) < 0 ? -EINVAL : 0;
}

/* Reads the password of --store-password-file: the file's one line, without its line
 * break. 0 and *out (malloc'd; the caller wipes and frees it), or -EINVAL (-ENOMEM) with
 * a message, which never holds the password. */
static int collector_read_password(const char *path, char **out, char *err, size_t errlen)
{
	char buf[COLLECTOR_PASSWORD_MAX + 4]; /* room to tell a longer one */
	const char *why = NULL;
	char *copy;
	bool failed;
	size_t len;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "--store-password-file: %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	failed = ferror(f) != 0;
	fclose(f);
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (failed)
		why = "read error";
	else if (len == 0)
		why = "empty password file";
	else if (len > COLLECTOR_PASSWORD_MAX)
		why = "too long for a password";
	else if (strlen(buf) != len || strpbrk(buf, "\r\n"))
		why = "the password must be one line";
	if (why) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen, "--store-password-file: %s: %s", path, why);
		return -EINVAL;
	}
	copy = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = copy;
	return 0;
}

/* The store options' config checks: --store, else --db-path as sqlite://FILE, parsed
 * into cfg->url, and --store-password-file read into *password (malloc'd, NULL without
 * the option; cfg->password points to it). 0, or a negative errno with a message. */
static int collector_store_config(const struct collector_opts *o, struct store_config *cfg,
				  char **password, char *err, size_t errlen)
{
	char url[sizeof(cfg->url.path) + 16];
	const char *spec = o->store;
	int e;

	if (!spec) {
		snprintf(url, sizeof(url), "sqlite://%s", o->db_path);
		spec = url;
	}
	if (store_url_parse(spec, &cfg->url, err, errlen) < 0)
		return -EINVAL;
	if (o->store_password_file) {
		e = collector_read_password(o->store_password_file, password, err, errlen);
		if (e)
			return e;
	}
	cfg->password = *password;
	return 0;
}

/* "host:port": unique among collectors sharing a store (one HTTP port per host). */
static void collector_name(const struct collector_opts *o, char *buf, size_t len)
{
	char host[STORE_HOST_MAX - 8] = "";

	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "collector");
	snprintf(buf, len, "%s:%llu", host, (unsigned long long)o->port);
}

int main(int argc, char **argv)
{
	static struct collector col; /* the one context of this process */
	struct collector_opts *o = &col.opts;
	char store_name[sizeof(col.store_cfg.url.path) + 16];
	char err[sizeof(store_name) + 256] = "";
	sigset_t mask;
	int rc, status = 1;
	char *api_token = NULL;

	status =
	    config_parse_main(collector_options, COLLECTOR_NOPTIONS, argc, argv, o,
			      "ayaflow-collector", AYAFLOW_VERSION,
			      "Receives flow batches from ayaflow-node agents, keeps their "
			      "history (SQLite or ClickHouse) and serves the cluster-wide API.");
	if (status >= 0)
		goto out_opts;
	status = 1;
	if ((!o->store && (!o->db_path || !*o->db_path)) || o->listen.count == 0) {
		fprintf(stderr, "ayaflow-collector: %s must not be empty\n",
			o->listen.count == 0 ? "--listen" : "--db-path");
		status = COLLECTOR_EXIT_CONFIG;
		goto out_opts;
	}
	rc = collector_store_config(o, &col.store_cfg, &col.store_password, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ayaflow-collector: %s\n", err);
		status = rc == -ENOMEM ? 1 : COLLECTOR_EXIT_CONFIG;
		goto out_opts;
	}
	if (collector_check_security(o, &api_token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ayaflow-collector: %s\n", err);
		status = COLLECTOR_EXIT_CONFIG;
		goto out_opts;
	}
	log_set_level(o->quiet ? LOG_LEVEL_ERROR : o->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (col.store_password && col.store_cfg.url.kind != STORE_CLICKHOUSE)
		log_warn("--store-password-file: a %s store has no password; ignored",
			 store_kind_name(col.store_cfg.url.kind));
	store_url_format(&col.store_cfg.url, store_name, sizeof(store_name));
	collector_name(o, col.name, sizeof(col.name));
	col.store_cfg.collector = col.name;
	col.start_unix_ms = collector_now_ms();
	signal(SIGPIPE, SIG_IGN);

	col.allow = cidr_list_new();
	if (!col.allow) {
		log_error("out of memory");
		goto out_opts;
	}
	for (size_t i = 0; i < o->allowed_ips.count; i++) {
		if (cidr_list_add(col.allow, o->allowed_ips.items[i]) < 0) {
			fprintf(stderr, "ayaflow-collector: --allowed-ips: bad CIDR '%s'\n",
				o->allowed_ips.items[i]);
			status = COLLECTOR_EXIT_CONFIG;
			goto out_allow;
		}
	}

	/* SIGINT/SIGTERM are taken by sigwait; block them before any thread starts. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	rc = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (rc) {
		log_error("blocking signals: %s", strerror(rc));
		goto out_allow;
	}

	/* A store that cannot be opened (no such file or database, unreachable, refused)
	 * is a configuration to fix: exit 2. */
	col.store = store_open(&col.store_cfg, err, sizeof(err));
	if (!col.store) {
		log_error("cannot open the history store %s", err);
		status = COLLECTOR_EXIT_CONFIG;
		goto out_allow;
	}
	col.live = live_view_new(COLLECTOR_LIVE_MAX_CONNS, COLLECTOR_LIVE_MAX_NODES,
				 o->connection_timeout * 1000);
	if (!col.live) {
		log_error("out of memory for the live view");
		goto out_store;
	}
	collector_restore_nodes(&col);
	col.ingest = ingest_new(
	    &(struct ingest_config){.urls = o->listen.items,
				    .nurls = o->listen.count,
				    .tls = &(struct transport_tls){.ca_file = o->tls_ca,
								   .cert_file = o->tls_cert,
								   .key_file = o->tls_key},
				    .store = col.store,
				    .live = col.live,
				    .retention_s = o->data_retention},
	    err, sizeof(err));
	if (!col.ingest) {
		log_error("ingest: %s", err);
		goto out_live;
	}
	col.api = api_new(&(struct api_config){.store = &col.store_cfg,
					       .live = col.live,
					       .ingest = col.ingest,
					       .start_unix_ms = col.start_unix_ms,
					       .options = collector_options,
					       .noptions = COLLECTOR_NOPTIONS,
					       .opts = o});
	if (!col.api) {
		log_error("out of memory");
		goto out_ingest;
	}
	col.http =
	    http_server_new((uint16_t)o->port, col.allow, api_handle, col.api, err, sizeof(err));
	if (!col.http) {
		log_error("HTTP API: %s", err);
		goto out_api;
	}
	if (http_server_set_token(col.http, api_token, o->api_health_open) < 0) {
		log_error("out of memory");
		goto out_api;
	}
	if (http_server_start(col.http, err, sizeof(err)) < 0) {
		log_error("HTTP API: %s", err);
		goto out_api;
	}
	for (size_t i = 0; i < o->listen.count; i++)
		log_info("ingest listening on %s", o->listen.items[i]);
	log_info("collector: HTTP API on port %llu, history store %s", (unsigned long long)o->port,
		 store_name);

	collector_wait_signal(&mask);
	status = 0;

	/* Stop accepting, then store and acknowledge what is queued. */
	ingest_stop(col.ingest);
out_api:
	http_server_free(col.http); /* handlers read ingest, live and the api: stop first */
	api_free(col.api);
out_ingest:
	ingest_free(col.ingest);
out_live:
	live_view_free(col.live);
out_store:
	store_close(col.store);
out_allow:
	cidr_list_free(col.allow);
out_opts:
	if (api_token) {
		explicit_bzero(api_token, strlen(api_token));
		free(api_token);
	}
	if (col.store_password) {
		explicit_bzero(col.store_password, strlen(col.store_password));
		free(col.store_password);
	}
	config_free(collector_options, COLLECTOR_NOPTIONS, o);
	return status;
}
