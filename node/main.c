/* main.c - ayaflow-node: loads the classifier, attaches it to the interfaces, drains
 * its maps once a second into the live table and publishes snapshots for the HTTP API.
 * Pipeline: bpf/flow.bpf.c -> drain.c -> live.c -> api.c. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "api.h"
#include "attach.h"
#include "cidr.h"
#include "drain.h"
#include "export.h"
#include "grow.h"
#include "inspect.h"
#include "resolve.h"
#include "flow.skel.h"
#include "http.h"
#include "log.h"
#include "node.h"
#include "privs.h"
#include "transport.h"
#include "version.h"

#define NODE_TICK_S	 1
#define NODE_EXIT_CONFIG 2

#define OPT(field) offsetof(struct node_opts, field)
/* Requests in flight to the collector. Each holds a copy of its batch (nng's REQ keeps it
 * for resends) until the reply, on top of the spool's: 8 were +200 KiB of RSS for the
 * second of each export at 10 000 flows (benchmark 4). Two keep the collector's writer
 * busy, one batch being stored while the next waits. */
#define NODE_EXPORT_INFLIGHT	2
#define NODE_EXPORT_TIMEOUT_MS	10000
#define NODE_SNIPPET_RING_BYTES (1u << 20) /* with --deep-inspect; one page without */
#define NODE_INSPECT_MAX_NAMES	4096
#define NODE_RESOLVE_MAX_NAMES	4096
#define NODE_RESOLVE_RATE	20 /* reverse lookups per second */
/* glibc malloc (see node_tune_malloc). */
#define NODE_MALLOC_MMAP_THRESHOLD (16 * 1024)
#define NODE_MALLOC_ARENAS	   1

static int node_check_url(const char *value, char *err, size_t errlen)
{
	if ((strncmp(value, "tcp://", 6) != 0 || strlen(value) <= 6) &&
	    (strncmp(value, "tls+tcp://", 10) != 0 || strlen(value) <= 10)) {
		snprintf(err, errlen,
			 "'%s' is not a collector URL (tcp://host:port or tls+tcp://host:port)",
			 value);
		return -EINVAL;
	}
	return 0;
}

static int node_check_attach(const char *value, char *err, size_t errlen)
{
	enum attach_mode mode;

	if (attach_parse_mode(value, &mode) < 0) {
		snprintf(err, errlen, "'%s' is not an attach mode (auto, tcx or tc)", value);
		return -EINVAL;
	}
	return 0;
}

const struct config_option node_options[] = {
    {"config", 'c', CONFIG_PATH_CONFIG, OPT(config), NULL, 0, 0, "FILE",
     "YAML file with these options (keys use '_' for '-'); flags override it", NULL},
    {"interface", 'i', CONFIG_LIST, OPT(interface), NULL, 0, 0, "IFACES",
     "interfaces to watch, comma-separated (default: the default route's)", NULL},
    {"port", 'p', CONFIG_UINT, OPT(port), "3001", 1, 65535, "PORT", "HTTP API port", NULL},
    {"connection-timeout", 0, CONFIG_UINT, OPT(connection_timeout), "60", 1, 86400, "SECONDS",
     "idle connections leave the live table after this", NULL},
    {"closed-timeout", 0, CONFIG_UINT, OPT(closed_timeout), "5", 0, 86400, "SECONDS",
     "closed TCP connections (FIN both ways, RST) leave after this", NULL},
    {"aggregation-window", 0, CONFIG_UINT, OPT(aggregation_window), "5", 1, 3600, "SECONDS",
     "window of flow records and of the per-second rates", NULL},
    {"enable-ipv6", 0, CONFIG_BOOL, OPT(enable_ipv6), NULL, 0, 0, NULL,
     "capture IPv6 too (else IPv6 packets are counted as lost: ipv6_disabled)", NULL},
    {"allowed-ips", 0, CONFIG_LIST, OPT(allowed_ips), NULL, 0, 0, "CIDRS",
     "clients allowed to use the HTTP API (default: everybody)", cidr_check},
    {"node-name", 0, CONFIG_STRING, OPT(node_name), NULL, 0, 0, "NAME",
     "name of this node (default: $NODE_NAME, else the host name)", NULL},
    /* 131072: 100 000 concurrent flows fit with room (BENCHMARKS.md, 3); the node's own
     * memory follows the flows present, not this bound (kvmap.h). */
    {"max-flows", 0, CONFIG_UINT, OPT(max_flows), "131072", 16, 16777216, "N",
     "capacity of the kernel flow map; more flows are counted as lost", NULL},
    {"attach", 0, CONFIG_STRING, OPT(attach), "auto", 0, 0, "MODE",
     "how the classifier is attached: tcx (links, Linux >= 6.6), tc (clsact filters), "
     "auto (tcx where the kernel has it, else tc)",
     node_check_attach},
    {"deep-inspect", 0, CONFIG_BOOL, OPT(deep_inspect), NULL, 0, 0, NULL,
     "learn domains from DNS and TLS SNI (payload snippets of those packets only)", NULL},
    {"resolve-dns", 0, CONFIG_BOOL, OPT(resolve_dns), NULL, 0, 0, NULL,
     "reverse DNS (PTR) names for addresses, asynchronous and rate-limited", NULL},
    {"collector", 0, CONFIG_LIST, OPT(collector), NULL, 0, 0, "URL",
     "send flow records to this collector (tcp://host:7400); repeatable", node_check_url},
    {"spool-size", 0, CONFIG_UINT, OPT(spool_size), "67108864", 1024, 4294967296ull, "BYTES",
     "batches kept until the collector acknowledges them", NULL},
    {"tls-ca", 0, CONFIG_STRING, OPT(tls_ca), NULL, 0, 0, "FILE",
     "CA (PEM) that signed the collector's certificate (tls+tcp:// collectors)", NULL},
    {"tls-cert", 0, CONFIG_STRING, OPT(tls_cert), NULL, 0, 0, "FILE",
     "this node's certificate (PEM) for tls+tcp:// collectors", NULL},
    {"tls-key", 0, CONFIG_STRING, OPT(tls_key), NULL, 0, 0, "FILE",
     "the private key (PEM) of --tls-cert", NULL},
    {"tls-server-name", 0, CONFIG_STRING, OPT(tls_server_name), NULL, 0, 0, "NAME",
     "name the collector's certificate must carry (default: the host of its URL)", NULL},
    {"api-token-file", 0, CONFIG_STRING, OPT(api_token_file), NULL, 0, 0, "FILE",
     "require 'Authorization: Bearer <token>' on /api/* and /metrics (token in FILE)", NULL},
    {"api-health-open", 0, CONFIG_BOOL, OPT(api_health_open), NULL, 0, 0, NULL,
     "with --api-token-file, /api/health answers without the token (probes)", NULL},
    {"quiet", 'q', CONFIG_BOOL, OPT(quiet), NULL, 0, 0, NULL, "log errors only", NULL},
    {"verbose", 'v', CONFIG_BOOL, OPT(verbose), NULL, 0, 0, NULL, "log debug messages", NULL},
    {"help", 'h', CONFIG_ACTION_HELP, 0, NULL, 0, 0, NULL, "show this help", NULL},
    {"version", 0, CONFIG_ACTION_VERSION, 0, NULL, 0, 0, NULL, "show the version", NULL},
};
const size_t node_options_count = sizeof(node_options) / sizeof(node_options[0]);

/* Packets/bytes totals at past ticks, for rates over the aggregation window. */
struct node_rate_sample {
	uint64_t ns;
	uint64_t packets;
	uint64_t bytes;
};

struct node_main {
	struct node_ctx ctx;
	struct flow_bpf *skel;
	struct drain *drain;
	struct live_table *live;
	struct cidr_list *allow;
	struct http_server *http;
	struct export *export;	 /* NULL without --collector */
	struct inspect *inspect; /* NULL without --deep-inspect */
	struct resolve *resolve; /* NULL without --resolve-dns */
	uint64_t window_start_ms;
	struct node_rate_sample *rates; /* ring of aggregation_window + 1 */
	size_t rates_len;
	size_t rates_next;
	size_t rates_used;
	int64_t mono_to_unix_ns; /* at the current tick */
};

static int node_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int node_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* One level down: libbpf's warnings are ours to report when they matter. */
	log_msg(level == LIBBPF_WARN ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "libbpf: %s", msg);
	return 0;
}

/* Resident memory that follows what the node holds (benchmark 4: <= 8 MiB at 10 000
 * flows). A fixed mmap threshold turns off glibc's dynamic one, which after the first
 * free of a large block (a snapshot, an export buffer, an outgrown table) serves blocks
 * of that size from the heap, whose freed middle stays resident; now they are mapped and
 * unmapped (16 KiB: a batch of 512 records encodes to ~27 KiB, so a batch and its copy in
 * flight go back to the kernel when it is acknowledged, not at the next tick's trim).
 * nng's and libmicrohttpd's threads would each get an arena (up to 8 per core) whose
 * touched pages stay; they allocate little, so they share the main one. Failure only
 * costs memory. */
static void node_tune_malloc(void)
{
	if (!mallopt(M_MMAP_THRESHOLD, NODE_MALLOC_MMAP_THRESHOLD) ||
	    !mallopt(M_ARENA_MAX, NODE_MALLOC_ARENAS))
		log_debug("mallopt refused a setting: malloc keeps its defaults");
}

static uint64_t node_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void node_resolve_name(struct node_ctx *ctx)
{
	const char *env = getenv("NODE_NAME");

	if (ctx->opts.node_name && *ctx->opts.node_name)
		snprintf(ctx->node_name, sizeof(ctx->node_name), "%s", ctx->opts.node_name);
	else if (env && *env)
		snprintf(ctx->node_name, sizeof(ctx->node_name), "%s", env);
	else if (gethostname(ctx->node_name, sizeof(ctx->node_name) - 1) < 0)
		snprintf(ctx->node_name, sizeof(ctx->node_name), "unknown");
}

static void node_on_final(void *arg, const struct live_flow *last, const struct flow_key *key,
			  struct live_counts *exported)
{
	struct node_main *m = arg;

	if (m->export && last)
		export_add_final(m->export, last, exported, m->mono_to_unix_ns);
	if (m->inspect)
		inspect_forget(m->inspect, key);
}

static const char *node_domain(void *arg, const struct live_flow *f)
{
	struct node_main *m = arg;

	return m->inspect ? inspect_domain(m->inspect, f, node_clock_ns(CLOCK_MONOTONIC)) : NULL;
}

/* The window export's walk over the kernel map (export_walk_fn). */
static int node_walk_flows(void *arg, void (*fn)(void *fn_arg, const struct live_flow *f),
			   void *fn_arg)
{
	struct node_main *m = arg;

	return drain_walk_flows(m->drain, fn, fn_arg);
}

static void node_on_dns(void *arg, const struct wire_dns *d)
{
	struct node_main *m = arg;

	if (m->export)
		export_add_dns(m->export, d);
}

static const char *node_hostname(void *arg, const uint8_t *addr, uint8_t ip_version)
{
	struct node_main *m = arg;

	return m->resolve
		   ? resolve_lookup(m->resolve, addr, ip_version, node_clock_ns(CLOCK_MONOTONIC))
		   : NULL;
}

/* Publishes the name counters: deep inspection's, with reverse DNS as source "ptr". */
static void node_publish_names(struct node_main *m)
{
	struct inspect_stats st;

	memset(&st, 0, sizeof(st));
	if (m->inspect)
		inspect_get_stats(m->inspect, &st);
	if (m->resolve) {
		struct resolve_stats rs;

		resolve_get_stats(m->resolve, &rs);
		st.domains[INSPECT_SRC_PTR] = rs.resolved;
	}
	live_publisher_set_inspect(&m->ctx.publisher, &st);
}

/* Reads the waiting snippets. */
static void node_process_inspect(struct node_main *m)
{
	int err = inspect_poll(m->inspect, m->mono_to_unix_ns);

	if (err < 0)
		log_warn("reading payload snippets: %s", strerror(-err));
	node_publish_names(m);
}

/* A string arena that grows by doubling; strings are referred to by offset + 1 until the
 * arena stops moving. */
struct node_arena {
	char *buf;
	size_t used;
	size_t cap;
};

static const char *node_arena_add(struct node_arena *a, const char *s)
{
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	if (grow_reserve((void **)&a->buf, &a->cap, a->used + n, 1, 4096) < 0)
		return NULL;
	memcpy(a->buf + a->used, s, n);
	a->used += n;
	return (const char *)(uintptr_t)(a->used - n + 1);
}

static const char *node_arena_ptr(const struct node_arena *a, const char *off)
{
	return off ? a->buf + ((uintptr_t)off - 1) : NULL;
}

/* Copies each connection's domain and host names into the snapshot: the caches belong to
 * this thread, the snapshot to the readers. */
static int node_snapshot_names(struct node_main *m, struct live_snapshot *snap, uint64_t mono_ns)
{
	struct node_arena a = {NULL, 0, 0};

	if ((!m->inspect && !m->resolve) || snap->nconns == 0)
		return 0;
	snap->names = calloc(snap->nconns, sizeof(*snap->names));
	if (!snap->names)
		return -ENOMEM;
	for (size_t i = 0; i < snap->nconns; i++) {
		const struct live_flow *c = &snap->conns[i];
		struct live_names *n = &snap->names[i];

		if (m->inspect)
			n->domain = node_arena_add(&a, inspect_domain(m->inspect, c, mono_ns));
		if (m->resolve) {
			struct live_orient o;

			live_flow_orient(c, &o);
			n->src_hostname = node_arena_add(
			    &a, resolve_lookup(m->resolve, o.src_addr, c->key.ip_version, mono_ns));
			n->dst_hostname = node_arena_add(
			    &a, resolve_lookup(m->resolve, o.dst_addr, c->key.ip_version, mono_ns));
		}
	}
	for (size_t i = 0; i < snap->nconns; i++) {
		struct live_names *n = &snap->names[i];

		n->domain = node_arena_ptr(&a, n->domain);
		n->src_hostname = node_arena_ptr(&a, n->src_hostname);
		n->dst_hostname = node_arena_ptr(&a, n->dst_hostname);
	}
	snap->arena = a.buf;
	return 0;
}

static const char *node_ifname(void *arg, unsigned int ifindex)
{
	struct node_main *m = arg;

	return m->ctx.attach ? attach_name_of(m->ctx.attach, ifindex) : NULL;
}

/* Handles the collector's replies and publishes the export counters at once, so the API
 * shows an acknowledgement without waiting for the next snapshot. */
static void node_process_export(struct node_main *m)
{
	struct export_stats x;

	export_process(m->export);
	export_get_stats(m->export, &x);
	live_publisher_set_export(&m->ctx.publisher, &x);
}

/* One drain tick: kernel maps -> live table -> a new snapshot for the API. */
static int node_tick(struct node_main *m)
{
	const struct node_opts *o = &m->ctx.opts;
	uint64_t mono_ns = node_clock_ns(CLOCK_MONOTONIC);
	uint64_t unix_ns = node_clock_ns(CLOCK_REALTIME);
	struct flow_total totals[FLOW_TOTAL_SLOTS];
	uint64_t counters[FLOW_CNT_MAX];
	struct live_snapshot *snap;
	struct node_rate_sample *now, *old;
	uint64_t packets = 0, bytes = 0;
	int err;

	m->mono_to_unix_ns = (int64_t)(unix_ns - mono_ns);
	err = drain_read_totals(m->drain, totals, counters);
	if (err)
		return err;
	err = drain_read_flows(m->drain, m->live);
	if (err < 0)
		return err;
	/* Names after the flows: the classifier submits a packet's snippet right after
	 * counting it, so (but for a packet being classified at this very moment) the
	 * names of what was just read are in the ring now, and this tick's records and
	 * snapshot carry them. */
	if (m->inspect) {
		node_process_inspect(m);
		inspect_expire(m->inspect, mono_ns, m->mono_to_unix_ns);
	}
	if (m->resolve) {
		resolve_collect(m->resolve, mono_ns);
		node_publish_names(m);
	}
	err = drain_expire(m->drain, m->live, mono_ns, o->connection_timeout * 1000000000ull,
			   o->closed_timeout * 1000000000ull, node_on_final, m);
	if (err < 0) {
		log_error("removing ended connections from the flow map: %s", strerror(-err));
		return err;
	}
	if (m->export) {
		uint64_t now_ms = unix_ns / 1000000;

		if (m->window_start_ms == 0)
			m->window_start_ms = now_ms;
		if (now_ms - m->window_start_ms >= o->aggregation_window * 1000) {
			/* A failed read of the map is logged by the drain; what it missed
			 * goes with the next window. */
			(void)export_window(m->export, m->live, node_walk_flows, m,
					    m->window_start_ms, now_ms, m->mono_to_unix_ns, totals,
					    counters);
			m->window_start_ms = now_ms;
		}
		node_process_export(m);
	}

	snap = live_table_snapshot(m->live);
	if (!snap)
		return -ENOMEM;
	snap->taken_ms = unix_ns / 1000000;
	snap->mono_to_unix_ns = m->mono_to_unix_ns;
	if (node_snapshot_names(m, snap, mono_ns) < 0)
		log_warn("out of memory for the names of the live view");

	memcpy(snap->totals, totals, sizeof(totals));
	memcpy(snap->counters, counters, sizeof(counters));

	for (int i = 0; i < FLOW_TOTAL_SLOTS; i++) {
		packets += totals[i].packets;
		bytes += totals[i].bytes;
	}
	now = &m->rates[m->rates_next];
	*now = (struct node_rate_sample){mono_ns, packets, bytes};
	m->rates_next = (m->rates_next + 1) % m->rates_len;
	if (m->rates_used < m->rates_len)
		m->rates_used++;
	/* The oldest sample in the ring is one aggregation window ago (or start). */
	old = &m->rates[m->rates_used < m->rates_len ? 0 : m->rates_next];
	if (now->ns > old->ns) {
		double secs = (double)(now->ns - old->ns) / 1e9;

		snap->packets_per_second = (double)(now->packets - old->packets) / secs;
		snap->bytes_per_second = (double)(now->bytes - old->bytes) / secs;
	}
	live_publisher_set(&m->ctx.publisher, snap);
	/* Batches freed on acknowledgement, encoder temporaries and replaced snapshots leave
	 * free pages in the middle of the heap, which glibc keeps resident: give them back
	 * once a tick (a walk over the free lists, microseconds at this heap size). Returns
	 * whether anything was released: nothing to check. */
	(void)malloc_trim(0);
	return 0;
}

static int node_loop(struct node_main *m)
{
	struct itimerspec its = {.it_interval = {NODE_TICK_S, 0}, .it_value = {NODE_TICK_S, 0}};
	struct epoll_event ev, events[4];
	sigset_t mask;
	int ep = -1, tfd = -1, sfd = -1, err = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		err = -errno;
		log_error("event loop setup: %s", strerror(-err));
		goto out;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = sfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
		goto fail_errno;
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = tfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0)
		goto fail_errno;
	if (m->inspect) {
		ev = (struct epoll_event){.events = EPOLLIN, .data.fd = inspect_fd(m->inspect)};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, inspect_fd(m->inspect), &ev) < 0)
			goto fail_errno;
	}
	if (m->resolve) {
		ev = (struct epoll_event){.events = EPOLLIN, .data.fd = resolve_fd(m->resolve)};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, resolve_fd(m->resolve), &ev) < 0)
			goto fail_errno;
	}
	if (m->export) {
		ev = (struct epoll_event){.events = EPOLLIN, .data.fd = export_fd(m->export)};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, export_fd(m->export), &ev) < 0)
			goto fail_errno;
	}

	for (;;) {
		int n = epoll_wait(ep, events, 4, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail_errno;
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					log_info("signal %u: stopping", si.ssi_signo);
					goto out;
				}
			} else if (m->resolve && events[i].data.fd == resolve_fd(m->resolve)) {
				resolve_collect(m->resolve, node_clock_ns(CLOCK_MONOTONIC));
			} else if (m->inspect && events[i].data.fd == inspect_fd(m->inspect)) {
				node_process_inspect(m);
			} else if (m->export && events[i].data.fd == export_fd(m->export)) {
				node_process_export(m);
			} else {
				uint64_t expirations;

				if (read(tfd, &expirations, sizeof(expirations)) < 0 &&
				    errno != EAGAIN)
					goto fail_errno;
				err = node_tick(m);
				if (err)
					log_error("drain failed: %s (continuing)", strerror(-err));
				err = 0;
			}
		}
	}
fail_errno:
	err = -errno;
	log_error("event loop: %s", strerror(-err));
out:
	if (ep >= 0)
		close(ep);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

static int node_load(struct node_main *m)
{
	const struct node_opts *o = &m->ctx.opts;
	int err;

	m->skel = flow_bpf__open();
	if (!m->skel) {
		err = -errno;
		log_error("cannot open the BPF classifier: %s", strerror(-err));
		return err;
	}
	m->skel->rodata->cfg_enable_ipv6 = o->enable_ipv6;
	m->skel->rodata->cfg_deep_inspect = o->deep_inspect;
	err = bpf_map__set_max_entries(m->skel->maps.flows, (__u32)o->max_flows);
	if (!err) /* off: the smallest ring there is (the program never writes to it) */
		err = bpf_map__set_max_entries(m->skel->maps.snippets,
					       o->deep_inspect ? NODE_SNIPPET_RING_BYTES
							       : (__u32)sysconf(_SC_PAGESIZE));
	if (!err)
		err = flow_bpf__load(m->skel);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			log_error("cannot load the BPF classifier: %s; ayaflow-node needs "
				  "CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or root)",
				  strerror(-err));
		else
			log_error("cannot load the BPF classifier: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* The security options' config checks: a tls+tcp:// collector needs the three TLS files,
 * and the API token file must hold a token. 0 and *token (malloc'd, NULL without
 * --api-token-file) or -EINVAL with a message. */
static int node_check_security(const struct node_opts *o, char **token, char *err, size_t errlen)
{
	struct transport_tls tls = {o->tls_ca, o->tls_cert, o->tls_key, NULL};

	if (transport_tls_check(o->collector.items, o->collector.count, &tls, "collector", err,
				errlen) < 0)
		return -EINVAL;
	return http_token_read(o->api_token_file, token, err, errlen) < 0 ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	static struct node_main m; /* the one context of this process */
	struct node_ctx *ctx = &m.ctx;
	char err[512] = "";
	char *default_if[1];
	char ifbuf[64];
	char *const *ifnames;
	size_t nif;
	int rc, status = 1;
	char *api_token = NULL;
	enum attach_mode attach_mode;
	struct attach_set *attached;

	node_tune_malloc(); /* before any thread and any large allocation */
	status = config_parse_main(node_options, node_options_count, argc, argv, &ctx->opts,
				   "ayaflow-node", AYAFLOW_VERSION,
				   "Watches network flows on this node with an eBPF TC classifier "
				   "and serves them over HTTP.");
	if (status >= 0)
		goto out_opts;
	status = 1;
	if (node_check_security(&ctx->opts, &api_token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ayaflow-node: %s\n", err);
		status = NODE_EXIT_CONFIG;
		goto out_opts;
	}
	log_set_level(ctx->opts.quiet	  ? LOG_LEVEL_ERROR
		      : ctx->opts.verbose ? LOG_LEVEL_DEBUG
					  : LOG_LEVEL_INFO);
	libbpf_set_print(node_libbpf_print);
	node_resolve_name(ctx);
	ctx->start_unix_ms = node_clock_ns(CLOCK_REALTIME) / 1000000;
	signal(SIGPIPE, SIG_IGN);

	m.allow = cidr_list_new();
	if (!m.allow)
		goto out_opts;
	for (size_t i = 0; i < ctx->opts.allowed_ips.count; i++) {
		if (cidr_list_add(m.allow, ctx->opts.allowed_ips.items[i]) < 0) {
			fprintf(stderr, "ayaflow-node: --allowed-ips: bad CIDR '%s'\n",
				ctx->opts.allowed_ips.items[i]);
			status = NODE_EXIT_CONFIG;
			goto out_allow;
		}
	}
	if (ctx->opts.interface.count) {
		ifnames = ctx->opts.interface.items;
		nif = ctx->opts.interface.count;
	} else {
		if (attach_default_ifname(ifbuf, sizeof(ifbuf)) < 0) {
			log_error("no default route: name the interfaces with -i");
			goto out_allow;
		}
		default_if[0] = ifbuf;
		ifnames = default_if;
		nif = 1;
	}

	/* SIGINT/SIGTERM are read from a signalfd; block them before any thread starts. */
	{
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &mask, NULL);
	}

	if (live_publisher_init(&ctx->publisher) < 0)
		goto out_allow;
	if (node_load(&m) < 0)
		goto out_skel;
	m.live = live_table_new(ctx->opts.max_flows);
	m.drain = drain_new(bpf_map__fd(m.skel->maps.flows), bpf_map__fd(m.skel->maps.totals),
			    bpf_map__fd(m.skel->maps.counters));
	m.rates_len = ctx->opts.aggregation_window / NODE_TICK_S + 1;
	m.rates = calloc(m.rates_len, sizeof(*m.rates));
	if (!m.live || !m.drain || !m.rates) {
		log_error("out of memory for %llu flows", (unsigned long long)ctx->opts.max_flows);
		goto out_drain;
	}

	/* Bind the port before touching any interface: a busy port leaves nothing behind. */
	m.http =
	    http_server_new((uint16_t)ctx->opts.port, m.allow, api_handle, ctx, err, sizeof(err));
	if (!m.http) {
		log_error("HTTP API: %s", err);
		goto out_drain;
	}
	if (http_server_set_token(m.http, api_token, ctx->opts.api_health_open) < 0) {
		log_error("out of memory");
		goto out_http;
	}
	if (attach_parse_mode(ctx->opts.attach, &attach_mode) < 0) { /* checked by config */
		log_error("bad attach mode '%s'", ctx->opts.attach);
		goto out_http;
	}
	attached =
	    attach_new(ifnames, nif, attach_mode, bpf_program__fd(m.skel->progs.flow_ingress),
		       bpf_program__fd(m.skel->progs.flow_egress), err, sizeof(err));
	/* The HTTP thread already serves: it sees the set once complete (node_attach_set). */
	__atomic_store_n(&ctx->attach, attached, __ATOMIC_RELEASE);
	if (!attached) {
		if (errno == EPERM || errno == EACCES)
			log_error("%s; ayaflow-node needs CAP_NET_ADMIN", err);
		else
			log_error("%s", err);
		goto out_http;
	}
	/* Loaded and attached: from here on only CAP_NET_ADMIN (to detach) is kept, and it
	 * is dropped before the HTTP thread starts so that thread never holds more. */
	rc = privs_drop();
	if (rc < 0)
		log_warn("cannot drop capabilities: %s", strerror(-rc));
	if (ctx->opts.deep_inspect) {
		struct inspect_config ic = {
		    .ringbuf_fd = bpf_map__fd(m.skel->maps.snippets),
		    .max_names = NODE_INSPECT_MAX_NAMES,
		    .dns_sink = node_on_dns,
		    .sink_arg = &m,
		};

		m.inspect = inspect_new(&ic, err, sizeof(err));
		if (!m.inspect) {
			log_error("deep inspection: %s", err);
			goto out_export;
		}
	}
	if (ctx->opts.resolve_dns) {
		m.resolve = resolve_new(NODE_RESOLVE_MAX_NAMES, NODE_RESOLVE_RATE);
		if (!m.resolve) {
			log_error("reverse DNS: %s", strerror(errno));
			goto out_export;
		}
	}
	if (ctx->opts.collector.count) {
		struct transport_tls tls = {.ca_file = ctx->opts.tls_ca,
					    .cert_file = ctx->opts.tls_cert,
					    .key_file = ctx->opts.tls_key,
					    .server_name = ctx->opts.tls_server_name};
		struct export_config xc = {
		    .urls = ctx->opts.collector.items,
		    .nurls = ctx->opts.collector.count,
		    .tls = &tls,
		    .spool_bytes = ctx->opts.spool_size,
		    .inflight = NODE_EXPORT_INFLIGHT,
		    .timeout_ms = NODE_EXPORT_TIMEOUT_MS,
		    .node_name = ctx->node_name,
		    .agent_version = AYAFLOW_VERSION,
		    .ifname = node_ifname,
		    .domain = node_domain,
		    .hostname = node_hostname,
		    .ifname_arg = &m,
		};

		m.export = export_new(&xc, err, sizeof(err));
		if (!m.export) {
			log_error("collector: %s", err);
			goto out_export;
		}
	}
	if (node_tick(&m) < 0)
		goto out_export;
	if (http_server_start(m.http, err, sizeof(err)) < 0) {
		log_error("HTTP API: %s", err);
		goto out_export;
	}
	for (size_t i = 0; i < nif; i++)
		log_info("watching %s (ingress, egress)", ifnames[i]);
	log_info("node '%s': HTTP API on port %llu", ctx->node_name,
		 (unsigned long long)ctx->opts.port);

	status = node_loop(&m) < 0 ? 1 : 0;

out_export:
	http_server_free(m.http); /* handlers read the attach set: stop them first */
	m.http = NULL;
	export_free(m.export);
	inspect_free(m.inspect);
	resolve_free(m.resolve);
	attach_free(ctx->attach);
	ctx->attach = NULL;
out_http:
	http_server_free(m.http);
out_drain:
	free(m.rates);
	drain_free(m.drain);
	live_table_free(m.live);
out_skel:
	flow_bpf__destroy(m.skel);
	live_publisher_fini(&ctx->publisher);
out_allow:
	cidr_list_free(m.allow);
out_opts:
	if (api_token) {
		explicit_bzero(api_token, strlen(api_token));
		free(api_token);
	}
	config_free(node_options, node_options_count, &ctx->opts);
	return status;
}
