/* batchsend.c - test client of the e2e scenarios: builds one flow batch from the command
 * line, encodes it with lib/wire and sends it to a collector with lib/transport (the
 * node's own code path), then prints the acknowledgement as one line:
 *   ok=1 duplicate=0 seq=7 reason=none message=""
 * For malformed input it can send raw bytes from a file, cut bytes off the encoding or
 * append raw bytes to it (protobuf concatenation: e.g. an extra, broken record).
 *
 * usage: batchsend [OPTIONS] URL
 *   --node NAME --boot ID --agent VERSION --seq N --start MS --end MS
 *   --totals PACKETS,BYTES,ACTIVE   the node's cumulative counters
 *   --lost REASON=N                 a loss counter (wire_loss_name), repeatable
 *   --record SPEC                   a flow record, repeatable; SPEC is key=value,...
 *       src, dst (IPv4/IPv6 text), sport, dport, proto, flags, ps, pr, bs, br (packets
 *       and bytes sent/received), first, last (Unix ms), if, domain, shost, dhost
 *       (reverse-DNS names of src and dst)
 *   --dns SPEC                      a DNS record, repeatable; SPEC is key=value,...
 *       ts (Unix ms), name, qtype, rcode, answered (0/1), lat (latency, us), client,
 *       server (IPv4/IPv6 text), cport, sport (client and server port), an (an answer,
 *       repeatable: TYPE/TTL/VALUE, e.g. 1/300/93.184.216.34, 28/60/2001:db8::1,
 *       5/60/edge.example.net)
 *   --raw FILE          send FILE as is (no batch is built)
 *   --truncate N        drop the last N bytes of the encoding
 *   --append-hex HEX    append these bytes to the encoding
 *   --out FILE          write the bytes to FILE instead of sending
 *   --timeout MS        reply timeout (default 5000)
 * Exit status: 0 when an acknowledgement came back, 1 otherwise, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"
#include "wire.h"

struct batchsend {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
	struct wire_ack ack;
	int decode_err;
};

static void batchsend_usage(void)
{
	fprintf(stderr,
		"usage: batchsend [--node N --boot B --agent V --seq S --start MS --end MS "
		"--totals P,B,A --lost R=N --record SPEC --dns SPEC | --raw FILE] [--truncate N] "
		"[--append-hex HEX] [--out FILE] [--timeout MS] URL\n");
	exit(2);
}

static uint64_t batchsend_u64(const char *what, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno) {
		fprintf(stderr, "batchsend: %s: '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

static uint8_t batchsend_addr(const char *s, uint8_t out[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		memset(out, 0, 16);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, v4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, s, out) == 1)
		return 6;
	fprintf(stderr, "batchsend: '%s' is not an address\n", s);
	exit(2);
}

static void batchsend_record(const char *spec, struct wire_record *r)
{
	char *copy = strdup(spec), *save = NULL, *kv;

	if (!copy)
		exit(1);
	memset(r, 0, sizeof(*r));
	for (kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v) {
			fprintf(stderr, "batchsend: record: '%s' is not key=value\n", kv);
			exit(2);
		}
		*v++ = '\0';
		if (!strcmp(kv, "src"))
			r->ip_version = batchsend_addr(v, r->src_addr);
		else if (!strcmp(kv, "dst"))
			r->ip_version = batchsend_addr(v, r->dst_addr);
		else if (!strcmp(kv, "sport"))
			r->src_port = (uint16_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "dport"))
			r->dst_port = (uint16_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "proto"))
			r->proto = (uint8_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "flags"))
			r->tcp_flags = (uint32_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "ps"))
			r->packets_sent = batchsend_u64(kv, v);
		else if (!strcmp(kv, "pr"))
			r->packets_received = batchsend_u64(kv, v);
		else if (!strcmp(kv, "bs"))
			r->bytes_sent = batchsend_u64(kv, v);
		else if (!strcmp(kv, "br"))
			r->bytes_received = batchsend_u64(kv, v);
		else if (!strcmp(kv, "first"))
			r->first_seen_ms = batchsend_u64(kv, v);
		else if (!strcmp(kv, "last"))
			r->last_seen_ms = batchsend_u64(kv, v);
		else if (!strcmp(kv, "if"))
			snprintf(r->interface, sizeof(r->interface), "%s", v);
		else if (!strcmp(kv, "domain"))
			snprintf(r->domain, sizeof(r->domain), "%s", v);
		else if (!strcmp(kv, "shost"))
			snprintf(r->src_hostname, sizeof(r->src_hostname), "%s", v);
		else if (!strcmp(kv, "dhost"))
			snprintf(r->dst_hostname, sizeof(r->dst_hostname), "%s", v);
		else {
			fprintf(stderr, "batchsend: record: unknown key '%s'\n", kv);
			exit(2);
		}
	}
	free(copy);
}

/* "TYPE/TTL/VALUE": an address for types 1 and 28, else a CNAME target. */
static void batchsend_answer(const char *spec, struct wire_dns *d)
{
	struct wire_dns_answer *a;
	unsigned int type, ttl;
	int used = 0;

	if (d->nanswers >= WIRE_DNS_MAX_ANSWERS ||
	    sscanf(spec, "%u/%u/%n", &type, &ttl, &used) != 2 || used == 0) {
		fprintf(stderr, "batchsend: dns: answer '%s' is not TYPE/TTL/VALUE (at most %d)\n",
			spec, WIRE_DNS_MAX_ANSWERS);
		exit(2);
	}
	a = &d->answers[d->nanswers++];
	a->type = (uint16_t)type;
	a->ttl = ttl;
	if (type == 1 || type == 28)
		batchsend_addr(spec + used, a->addr);
	else
		snprintf(a->target, sizeof(a->target), "%s", spec + used);
}

static void batchsend_dns(const char *spec, struct wire_dns *d)
{
	char *copy = strdup(spec), *save = NULL, *kv;

	if (!copy)
		exit(1);
	memset(d, 0, sizeof(*d));
	for (kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v) {
			fprintf(stderr, "batchsend: dns: '%s' is not key=value\n", kv);
			exit(2);
		}
		*v++ = '\0';
		if (!strcmp(kv, "ts"))
			d->ts_ms = batchsend_u64(kv, v);
		else if (!strcmp(kv, "name"))
			snprintf(d->name, sizeof(d->name), "%s", v);
		else if (!strcmp(kv, "qtype"))
			d->qtype = (uint16_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "rcode"))
			d->rcode = (uint8_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "answered"))
			d->answered = (uint8_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "lat"))
			d->latency_us = (uint32_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "client"))
			d->ip_version = batchsend_addr(v, d->client_addr);
		else if (!strcmp(kv, "server"))
			d->ip_version = batchsend_addr(v, d->server_addr);
		else if (!strcmp(kv, "cport"))
			d->client_port = (uint16_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "sport"))
			d->server_port = (uint16_t)batchsend_u64(kv, v);
		else if (!strcmp(kv, "an"))
			batchsend_answer(v, d);
		else {
			fprintf(stderr, "batchsend: dns: unknown key '%s'\n", kv);
			exit(2);
		}
	}
	free(copy);
}

static void batchsend_on_reply(void *arg, uint64_t token, int err, const uint8_t *buf, size_t len)
{
	struct batchsend *bs = arg;

	(void)token;
	pthread_mutex_lock(&bs->lock);
	bs->err = err;
	if (!err)
		bs->decode_err = wire_decode_ack(buf, len, &bs->ack);
	bs->done = true;
	pthread_cond_signal(&bs->cond);
	pthread_mutex_unlock(&bs->lock);
}

static int batchsend_read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *g = realloc(buf, cap ? cap * 2 : 4096);

			if (!g) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = g;
			cap = cap ? cap * 2 : 4096;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"node", required_argument, NULL, 'n'},
	    {"boot", required_argument, NULL, 'b'},
	    {"agent", required_argument, NULL, 'a'},
	    {"seq", required_argument, NULL, 's'},
	    {"start", required_argument, NULL, 'S'},
	    {"end", required_argument, NULL, 'E'},
	    {"totals", required_argument, NULL, 'T'},
	    {"lost", required_argument, NULL, 'L'},
	    {"record", required_argument, NULL, 'r'},
	    {"dns", required_argument, NULL, 'D'},
	    {"raw", required_argument, NULL, 'R'},
	    {"truncate", required_argument, NULL, 'x'},
	    {"append-hex", required_argument, NULL, 'H'},
	    {"out", required_argument, NULL, 'o'},
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	static struct wire_batch b;
	static struct wire_record recs[WIRE_MAX_RECORDS]; /* big batches: disk_full, load */
	static struct wire_dns dns[64];
	static struct batchsend bs = {.lock = PTHREAD_MUTEX_INITIALIZER,
				      .cond = PTHREAD_COND_INITIALIZER};
	const char *raw = NULL, *hex = NULL, *outpath = NULL;
	uint64_t truncate_n = 0, timeout = 5000;
	struct transport_client *c;
	char err[256] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			snprintf(b.node, sizeof(b.node), "%s", optarg);
			break;
		case 'b':
			snprintf(b.boot_id, sizeof(b.boot_id), "%s", optarg);
			break;
		case 'a':
			snprintf(b.agent_version, sizeof(b.agent_version), "%s", optarg);
			break;
		case 's':
			b.seq = batchsend_u64("--seq", optarg);
			break;
		case 'S':
			b.window_start_ms = batchsend_u64("--start", optarg);
			break;
		case 'E':
			b.window_end_ms = batchsend_u64("--end", optarg);
			break;
		case 'T': {
			unsigned long long p, by, a;

			if (sscanf(optarg, "%llu,%llu,%llu", &p, &by, &a) != 3)
				batchsend_usage();
			b.total_packets = p;
			b.total_bytes = by;
			b.active_connections = a;
			break;
		}
		case 'L': {
			char *eq = strchr(optarg, '=');
			int i;

			if (!eq)
				batchsend_usage();
			*eq = '\0';
			for (i = 0; i < WIRE_LOSS_MAX; i++) {
				if (!strcmp(optarg, wire_loss_name((enum wire_loss)i)))
					break;
			}
			if (i == WIRE_LOSS_MAX) {
				fprintf(stderr, "batchsend: unknown loss reason '%s'\n", optarg);
				return 2;
			}
			b.lost[i] = batchsend_u64("--lost", eq + 1);
			break;
		}
		case 'r':
			if (b.nrecords >= sizeof(recs) / sizeof(recs[0]))
				batchsend_usage();
			batchsend_record(optarg, &recs[b.nrecords++]);
			break;
		case 'D':
			if (b.ndns >= sizeof(dns) / sizeof(dns[0]))
				batchsend_usage();
			batchsend_dns(optarg, &dns[b.ndns++]);
			break;
		case 'R':
			raw = optarg;
			break;
		case 'x':
			truncate_n = batchsend_u64("--truncate", optarg);
			break;
		case 'H':
			hex = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 't':
			timeout = batchsend_u64("--timeout", optarg);
			break;
		default:
			batchsend_usage();
		}
	}
	if (optind != argc - 1 && !outpath)
		batchsend_usage();

	if (raw) {
		rc = batchsend_read_file(raw, &buf, &len);
		if (rc) {
			fprintf(stderr, "batchsend: %s: %s\n", raw, strerror(-rc));
			return 1;
		}
	} else {
		b.records = b.nrecords ? recs : NULL;
		b.dns = b.ndns ? dns : NULL;
		rc = wire_encode_batch(&b, &buf, &len);
		if (rc) {
			fprintf(stderr, "batchsend: encoding: %s\n", strerror(-rc));
			return 1;
		}
	}
	if (truncate_n) {
		if (truncate_n >= len) {
			fprintf(stderr, "batchsend: --truncate %llu of %zu bytes\n",
				(unsigned long long)truncate_n, len);
			return 2;
		}
		len -= truncate_n;
	}
	if (hex) {
		size_t n = strlen(hex) / 2;
		uint8_t *g = realloc(buf, len + n + 1);

		if (!g || strlen(hex) % 2)
			return 2;
		buf = g;
		for (size_t i = 0; i < n; i++) {
			unsigned int v;

			if (sscanf(hex + 2 * i, "%2x", &v) != 1)
				return 2;
			buf[len++] = (uint8_t)v;
		}
	}
	if (outpath) {
		FILE *f = fopen(outpath, "wb");

		if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
			fprintf(stderr, "batchsend: %s: %s\n", outpath, strerror(errno));
			return 1;
		}
		free(buf);
		return 0;
	}

	c = transport_client_new(&argv[optind], 1, 1, (uint32_t)timeout, batchsend_on_reply, &bs,
				 err, sizeof(err));
	if (!c) {
		fprintf(stderr, "batchsend: %s\n", err);
		free(buf);
		return 1;
	}
	rc = transport_client_send(c, 1, buf, len);
	free(buf);
	if (rc) {
		fprintf(stderr, "batchsend: send: %s\n", strerror(-rc));
		transport_client_free(c);
		return 1;
	}
	pthread_mutex_lock(&bs.lock);
	while (!bs.done)
		pthread_cond_wait(&bs.cond, &bs.lock);
	pthread_mutex_unlock(&bs.lock);
	transport_client_free(c);
	if (bs.err) {
		fprintf(stderr, "batchsend: no reply: %s\n", strerror(-bs.err));
		return 1;
	}
	if (bs.decode_err) {
		fprintf(stderr, "batchsend: the reply is not an Ack: %s\n",
			strerror(-bs.decode_err));
		return 1;
	}
	printf("ok=%d duplicate=%d seq=%llu reason=%s message=\"%s\"\n", bs.ack.ok,
	       bs.ack.duplicate, (unsigned long long)bs.ack.seq, wire_reject_name(bs.ack.reason),
	       bs.ack.message);
	return 0;
}
