/* trafficgen.c - known workloads for the end-to-end tests (the tests/e2e scripts).
 *
 * Every mode sends an exactly known number of packets or bytes so that the tests can
 * assert exact counters on the node's API. Only libc is used.
 *
 *   tcp-server PORT [--count N] [--bind ADDR]
 *	accepts N connections (default 1) one after another; each client first sends an
 *	8-byte header (u32 up, u32 down, network order; `up` counts the whole request
 *	including the header), the server reads `up` bytes, writes `down` bytes, waits for
 *	the client's FIN and closes.
 *   tcp-client HOST PORT UP_BYTES DOWN_BYTES [--sport PORT]
 *	sends UP_BYTES (>= 8, header included), reads DOWN_BYTES, shuts down its side,
 *	reads to EOF and closes, so FIN goes both ways.
 *   udp-sink PORT COUNT [--timeout SECONDS] [--bind ADDR]
 *	receives until COUNT datagrams arrived or no datagram came for SECONDS (default
 *	10); prints "received N" (also on SIGINT/SIGTERM).
 *   udp-send HOST PORT COUNT PAYLOAD_SIZE [--sport PORT] [--interval-us N]
 *   udp4-frame SRC_MAC DST_MAC SRC_IP DST_IP SPORT DPORT PAYLOAD_SIZE [--vlan TPID:VID]...
 *	prints one Ethernet frame as hex: tags outermost first (TPID 0x8100 or 0x88a8),
 *	IPv4 with a correct header checksum, UDP with checksum 0 (allowed in IPv4).
 *   raw-send IFACE HEXFRAME...
 *	sends each frame unchanged through an AF_PACKET socket bound to IFACE.
 *   dns-server PORT ZONEFILE [--bind ADDR]
 *	a tiny authoritative DNS responder on UDP and TCP PORT (TCP: 2-byte length prefix,
 *	several messages per connection, one connection at a time). ZONEFILE has one record
 *	per line, "name type value ttl" ('#' starts a comment): type A (IPv4), AAAA (IPv6),
 *	CNAME or PTR (a name); RCODE (value = a response code 0..15 given for that name, no
 *	answers) or DROP (value "-": the query is never answered). A query follows the
 *	CNAME chain through the zone and answers with the records of the asked type of
 *	its end (no name compression, nothing in the authority and additional sections);
 *	an unknown name is NXDOMAIN, a known name without such records NOERROR with no
 *	answers. Prints one line per query ("query NAME TYPE rcode N answers M") and
 *	"served N queries" on SIGTERM/SIGINT, then exits 0.
 *   dns-query SERVER PORT NAME TYPE [--tcp] [--sport PORT] [--id N] [--timeout SECONDS]
 *	sends one query (TYPE: A, AAAA, CNAME or a number; RD set; over TCP the length
 *	prefix and the message go in one write) and waits for the response (default 5 s).
 *	Prints "rcode NAME" (noerror, nxdomain, ... or the number), then one line per
 *	answer: "OWNER TYPE VALUE TTL". Exit 0 when a response came (whatever its
 *	rcode), 3 when none came within the timeout.
 *
 * HOST and ADDR are numeric IPv4 or IPv6 addresses. Exit status 0 on success, 1 with a
 * message on stderr on any error, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <ctype.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TG_HDR_LEN   8
#define TG_BUF_LEN   65536
#define TG_MAX_VLAN  4
#define TG_MAX_FRAME 9000

static volatile sig_atomic_t tg_stop;

static void tg_on_signal(int sig)
{
	(void)sig;
	tg_stop = 1;
}

static void tg_usage(void)
{
	fprintf(stderr,
		"usage: trafficgen tcp-server PORT [--count N] [--bind ADDR]\n"
		"       trafficgen tcp-client HOST PORT UP_BYTES DOWN_BYTES [--sport PORT]\n"
		"       trafficgen udp-sink PORT COUNT [--timeout SECONDS] [--bind ADDR]\n"
		"       trafficgen udp-send HOST PORT COUNT PAYLOAD_SIZE [--sport PORT] "
		"[--interval-us N]\n"
		"       trafficgen udp4-frame SRC_MAC DST_MAC SRC_IP DST_IP SPORT DPORT "
		"PAYLOAD_SIZE [--vlan TPID:VID]...\n"
		"       trafficgen raw-send IFACE HEXFRAME...\n"
		"       trafficgen dns-server PORT ZONEFILE [--bind ADDR]\n"
		"       trafficgen dns-query SERVER PORT NAME TYPE [--tcp] [--sport PORT] [--id N] "
		"[--timeout SECONDS]\n");
	exit(2);
}

static int tg_fail(const char *what)
{
	fprintf(stderr, "trafficgen: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Parses a decimal number in [min, max]; exits with a usage error otherwise. */
static unsigned long long tg_num(const char *s, const char *name, unsigned long long min,
				 unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "trafficgen: bad %s '%s' (expected %llu..%llu)\n", name, s, min,
			max);
		exit(2);
	}
	return v;
}

/* Fills *ss with a numeric IPv4/IPv6 address and port; NULL host = any (IPv6, dual). */
static int tg_addr(const char *host, unsigned int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!host) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	fprintf(stderr, "trafficgen: '%s' is not a numeric IPv4 or IPv6 address\n", host);
	return -1;
}

/* Creates a socket of the family of *ss, optionally bound to sport (or to *bind_ss). */
static int tg_socket(int family, int type, const struct sockaddr_storage *bind_ss,
		     socklen_t bind_len)
{
	int one = 1;
	int fd;

	fd = socket(family, type, 0);
	if (fd < 0) {
		tg_fail("socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		tg_fail("setsockopt(SO_REUSEADDR)");
		close(fd);
		return -1;
	}
	if (family == AF_INET6 && bind_ss && type != SOCK_RAW) {
		int zero = 0;

		/* Dual stack when listening on "::": IPv4 clients too. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
			tg_fail("setsockopt(IPV6_V6ONLY)");
			close(fd);
			return -1;
		}
	}
	if (bind_ss && bind(fd, (const struct sockaddr *)bind_ss, bind_len) < 0) {
		tg_fail("bind");
		close(fd);
		return -1;
	}
	return fd;
}

/* Binds fd's source port (any address of the right family) when sport != 0. */
static int tg_bind_sport(int fd, int family, unsigned int sport)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!sport)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(sport);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(sport);
		len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return tg_fail("bind source port");
	return 0;
}

static int tg_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return tg_fail("write");
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Reads exactly len bytes (buf may be NULL to discard). Returns 0, or 1 on error/EOF. */
static int tg_read_exact(int fd, void *buf, size_t len)
{
	static char sink[TG_BUF_LEN];
	char *p = buf;

	while (len) {
		size_t want = len;
		ssize_t n;

		if (!buf && want > sizeof(sink))
			want = sizeof(sink);
		n = read(fd, buf ? p : sink, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return tg_fail("read");
		}
		if (n == 0) {
			fprintf(stderr, "trafficgen: peer closed early (%zu bytes missing)\n", len);
			return 1;
		}
		if (buf)
			p += n;
		len -= n;
	}
	return 0;
}

/* Reads until EOF; any further data is an error (the protocol has none). */
static int tg_read_eof(int fd)
{
	char c;
	ssize_t n;

	do {
		n = read(fd, &c, 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return tg_fail("read (waiting for FIN)");
	if (n > 0) {
		fprintf(stderr, "trafficgen: unexpected data where FIN was expected\n");
		return 1;
	}
	return 0;
}

static int tg_write_n(int fd, unsigned long long n)
{
	static char buf[TG_BUF_LEN];

	memset(buf, 'x', sizeof(buf));
	while (n) {
		size_t chunk = n > sizeof(buf) ? sizeof(buf) : n;

		if (tg_write_all(fd, buf, chunk))
			return 1;
		n -= chunk;
	}
	return 0;
}

static int tg_serve_one(int cfd)
{
	unsigned char hdr[TG_HDR_LEN];
	uint32_t up, down;

	if (tg_read_exact(cfd, hdr, sizeof(hdr)))
		return 1;
	memcpy(&up, hdr, 4);
	memcpy(&down, hdr + 4, 4);
	up = ntohl(up);
	down = ntohl(down);
	if (up < TG_HDR_LEN) {
		fprintf(stderr, "trafficgen: bad request header (up=%u)\n", up);
		return 1;
	}
	if (tg_read_exact(cfd, NULL, up - TG_HDR_LEN))
		return 1;
	if (tg_write_n(cfd, down))
		return 1;
	/* The client closes first; then our close sends the second FIN. */
	return tg_read_eof(cfd);
}

static int tg_tcp_server(int argc, char **argv)
{
	struct sockaddr_storage ss;
	const char *bind_addr = NULL;
	unsigned long long count = 1;
	unsigned int port;
	socklen_t len;
	int fd, i;

	if (argc < 1)
		tg_usage();
	port = tg_num(argv[0], "PORT", 1, 65535);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = tg_num(argv[++i], "--count", 1, UINT32_MAX);
		else if (!strcmp(argv[i], "--bind") && i + 1 < argc)
			bind_addr = argv[++i];
		else
			tg_usage();
	}
	if (tg_addr(bind_addr, port, &ss, &len))
		return 1;
	fd = tg_socket(ss.ss_family, SOCK_STREAM, &ss, len);
	if (fd < 0)
		return 1;
	if (listen(fd, 64) < 0)
		return tg_fail("listen");
	printf("listening on port %u\n", port);
	fflush(stdout);
	for (unsigned long long c = 0; c < count; c++) {
		int cfd = accept(fd, NULL, NULL);
		int err;

		if (cfd < 0) {
			if (errno == EINTR && !tg_stop) {
				c--;
				continue;
			}
			return tg_fail("accept");
		}
		err = tg_serve_one(cfd);
		if (close(cfd) < 0 && !err)
			err = tg_fail("close");
		if (err)
			return 1;
	}
	close(fd);
	printf("served %llu connections\n", count);
	return 0;
}

static int tg_tcp_client(int argc, char **argv)
{
	struct sockaddr_storage ss;
	unsigned long long up, down;
	unsigned char hdr[TG_HDR_LEN];
	unsigned int port, sport = 0;
	uint32_t v;
	socklen_t len;
	int fd, i;

	if (argc < 4)
		tg_usage();
	port = tg_num(argv[1], "PORT", 1, 65535);
	up = tg_num(argv[2], "UP_BYTES", TG_HDR_LEN, UINT32_MAX);
	down = tg_num(argv[3], "DOWN_BYTES", 0, UINT32_MAX);
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--sport") && i + 1 < argc)
			sport = tg_num(argv[++i], "--sport", 1, 65535);
		else
			tg_usage();
	}
	if (tg_addr(argv[0], port, &ss, &len))
		return 1;
	fd = tg_socket(ss.ss_family, SOCK_STREAM, NULL, 0);
	if (fd < 0)
		return 1;
	if (tg_bind_sport(fd, ss.ss_family, sport))
		return 1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return tg_fail("connect");
	v = htonl(up);
	memcpy(hdr, &v, 4);
	v = htonl(down);
	memcpy(hdr + 4, &v, 4);
	if (tg_write_all(fd, hdr, sizeof(hdr)) || tg_write_n(fd, up - TG_HDR_LEN))
		return 1;
	if (tg_read_exact(fd, NULL, down))
		return 1;
	if (shutdown(fd, SHUT_WR) < 0)
		return tg_fail("shutdown");
	if (tg_read_eof(fd))
		return 1;
	if (close(fd) < 0)
		return tg_fail("close");
	printf("sent %llu received %llu\n", up, down);
	return 0;
}

static double tg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int tg_udp_sink(int argc, char **argv)
{
	static char buf[TG_BUF_LEN];
	struct sockaddr_storage ss;
	const char *bind_addr = NULL;
	unsigned long long count, got = 0;
	unsigned int port, timeout = 10;
	struct sigaction sa;
	double deadline;
	socklen_t len;
	int fd, i;

	if (argc < 2)
		tg_usage();
	port = tg_num(argv[0], "PORT", 1, 65535);
	count = tg_num(argv[1], "COUNT", 0, UINT32_MAX);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = tg_num(argv[++i], "--timeout", 1, 86400);
		else if (!strcmp(argv[i], "--bind") && i + 1 < argc)
			bind_addr = argv[++i];
		else
			tg_usage();
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tg_on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (tg_addr(bind_addr, port, &ss, &len))
		return 1;
	fd = tg_socket(ss.ss_family, SOCK_DGRAM, &ss, len);
	if (fd < 0)
		return 1;
	printf("listening on port %u\n", port);
	fflush(stdout);
	deadline = tg_now() + timeout;
	while (got < count && !tg_stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - tg_now();
		int r;

		if (left <= 0)
			break;
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return tg_fail("poll");
		}
		if (r == 0)
			continue;
		if (recv(fd, buf, sizeof(buf), 0) < 0) {
			if (errno == EINTR)
				continue;
			return tg_fail("recv");
		}
		got++;
		deadline = tg_now() + timeout;
	}
	close(fd);
	printf("received %llu\n", got);
	return 0;
}

static int tg_udp_send(int argc, char **argv)
{
	static char buf[TG_BUF_LEN];
	struct sockaddr_storage ss;
	unsigned long long count, size, interval_us = 0;
	unsigned int port, sport = 0;
	socklen_t len;
	int fd, i;

	if (argc < 4)
		tg_usage();
	port = tg_num(argv[1], "PORT", 1, 65535);
	count = tg_num(argv[2], "COUNT", 0, UINT32_MAX);
	size = tg_num(argv[3], "PAYLOAD_SIZE", 0, 1400);
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--sport") && i + 1 < argc)
			sport = tg_num(argv[++i], "--sport", 1, 65535);
		else if (!strcmp(argv[i], "--interval-us") && i + 1 < argc)
			interval_us = tg_num(argv[++i], "--interval-us", 0, 10000000);
		else
			tg_usage();
	}
	if (tg_addr(argv[0], port, &ss, &len))
		return 1;
	fd = tg_socket(ss.ss_family, SOCK_DGRAM, NULL, 0);
	if (fd < 0)
		return 1;
	if (tg_bind_sport(fd, ss.ss_family, sport))
		return 1;
	memset(buf, 'u', size);
	/* Unconnected sendto: an ICMP port unreachable must not fail later sends. */
	for (unsigned long long c = 0; c < count; c++) {
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&ss, len) != (ssize_t)size)
			return tg_fail("sendto");
		if (interval_us)
			usleep(interval_us);
	}
	close(fd);
	printf("sent %llu datagrams of %llu bytes\n", count, size);
	return 0;
}

static int tg_parse_mac(const char *s, unsigned char mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6) {
		fprintf(stderr, "trafficgen: bad MAC address '%s'\n", s);
		return -1;
	}
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff) {
			fprintf(stderr, "trafficgen: bad MAC address '%s'\n", s);
			return -1;
		}
		mac[i] = b[i];
	}
	return 0;
}

static uint16_t tg_csum(const unsigned char *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static int tg_udp4_frame(int argc, char **argv)
{
	static unsigned char f[TG_MAX_FRAME];
	unsigned char smac[6], dmac[6];
	struct in_addr sip, dip;
	unsigned int sport, dport, size, ip_len;
	unsigned int tpid[TG_MAX_VLAN], vid[TG_MAX_VLAN], nvlan = 0;
	size_t o = 0, l3;
	int i;

	if (argc < 7)
		tg_usage();
	if (tg_parse_mac(argv[0], smac) || tg_parse_mac(argv[1], dmac))
		return 1;
	if (inet_pton(AF_INET, argv[2], &sip) != 1 || inet_pton(AF_INET, argv[3], &dip) != 1) {
		fprintf(stderr, "trafficgen: bad IPv4 address '%s' or '%s'\n", argv[2], argv[3]);
		return 1;
	}
	sport = tg_num(argv[4], "SPORT", 0, 65535);
	dport = tg_num(argv[5], "DPORT", 0, 65535);
	size = tg_num(argv[6], "PAYLOAD_SIZE", 0, 1400);
	for (i = 7; i < argc; i++) {
		char *colon;

		if (strcmp(argv[i], "--vlan") || i + 1 >= argc || nvlan == TG_MAX_VLAN)
			tg_usage();
		i++;
		colon = strchr(argv[i], ':');
		if (!colon)
			tg_usage();
		*colon = '\0';
		tpid[nvlan] = tg_num(argv[i], "TPID", 0x600, 0xffff);
		vid[nvlan] = tg_num(colon + 1, "VID", 0, 4095);
		nvlan++;
	}

	memcpy(f + o, dmac, 6);
	memcpy(f + o + 6, smac, 6);
	o += 12;
	for (unsigned int v = 0; v < nvlan; v++) {
		f[o++] = tpid[v] >> 8;
		f[o++] = tpid[v] & 0xff;
		f[o++] = vid[v] >> 8;
		f[o++] = vid[v] & 0xff;
	}
	f[o++] = 0x08;
	f[o++] = 0x00;
	l3 = o;
	ip_len = 20 + 8 + size;
	f[o++] = 0x45;
	f[o++] = 0;
	f[o++] = ip_len >> 8;
	f[o++] = ip_len & 0xff;
	f[o++] = 0x12; /* id */
	f[o++] = 0x34;
	f[o++] = 0x40; /* DF */
	f[o++] = 0;
	f[o++] = 64; /* ttl */
	f[o++] = IPPROTO_UDP;
	f[o++] = 0; /* checksum, below */
	f[o++] = 0;
	memcpy(f + o, &sip, 4);
	memcpy(f + o + 4, &dip, 4);
	o += 8;
	{
		uint16_t c = tg_csum(f + l3, 20);

		f[l3 + 10] = c >> 8;
		f[l3 + 11] = c & 0xff;
	}
	f[o++] = sport >> 8;
	f[o++] = sport & 0xff;
	f[o++] = dport >> 8;
	f[o++] = dport & 0xff;
	f[o++] = (8 + size) >> 8;
	f[o++] = (8 + size) & 0xff;
	f[o++] = 0; /* no checksum */
	f[o++] = 0;
	memset(f + o, 'v', size);
	o += size;
	for (size_t b = 0; b < o; b++)
		printf("%02x", f[b]);
	printf("\n");
	return 0;
}

static int tg_hex_decode(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max || n < 2 * ETH_HLEN) {
		fprintf(stderr, "trafficgen: bad hex frame (%zu hex digits)\n", n);
		return -1;
	}
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1) {
			fprintf(stderr, "trafficgen: bad hex digit at %zu\n", 2 * i);
			return -1;
		}
		out[i] = b;
	}
	*len = n / 2;
	return 0;
}

static int tg_raw_send(int argc, char **argv)
{
	static unsigned char frame[TG_MAX_FRAME];
	struct sockaddr_ll sll;
	unsigned int ifindex;
	int fd;

	if (argc < 2)
		tg_usage();
	ifindex = if_nametoindex(argv[0]);
	if (!ifindex) {
		fprintf(stderr, "trafficgen: no interface '%s': %s\n", argv[0], strerror(errno));
		return 1;
	}
	/* Protocol 0: this socket only sends, it receives nothing. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return tg_fail("socket(AF_PACKET)");
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_halen = ETH_ALEN;
	for (int i = 1; i < argc; i++) {
		size_t len;

		if (tg_hex_decode(argv[i], frame, sizeof(frame), &len))
			return 1;
		memcpy(sll.sll_addr, frame, ETH_ALEN);
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)len)
			return tg_fail("sendto(AF_PACKET)");
	}
	close(fd);
	printf("sent %d frames on %s\n", argc - 1, argv[0]);
	return 0;
}

/* --- DNS: a tiny responder and a one-shot client ------------------------------------ */

#define TG_DNS_MAX_RR	 64
#define TG_DNS_NAME_MAX	 253
#define TG_DNS_MSG_MAX	 4096
#define TG_DNS_UDP_MAX	 512
#define TG_DNS_TYPE_A	 1
#define TG_DNS_TYPE_CNAME 5
#define TG_DNS_TYPE_AAAA 28
#define TG_DNS_TYPE_PTR	 12
#define TG_DNS_RR_RCODE	 0x10000 /* zone pseudo-types */
#define TG_DNS_RR_DROP	 0x10001

struct tg_dns_rr {
	char name[TG_DNS_NAME_MAX + 1];
	unsigned int type; /* TG_DNS_TYPE_* or TG_DNS_RR_* */
	unsigned char addr[16];
	char target[TG_DNS_NAME_MAX + 1];
	unsigned int rcode;
	uint32_t ttl;
};

static struct tg_dns_rr tg_zone[TG_DNS_MAX_RR];
static size_t tg_zone_len;

static void tg_lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Strips one trailing dot; lower case. */
static void tg_dns_norm(char *s)
{
	size_t n = strlen(s);

	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
	tg_lower(s);
}

static int tg_dns_type(const char *s)
{
	if (!strcasecmp(s, "A"))
		return TG_DNS_TYPE_A;
	if (!strcasecmp(s, "AAAA"))
		return TG_DNS_TYPE_AAAA;
	if (!strcasecmp(s, "CNAME"))
		return TG_DNS_TYPE_CNAME;
	if (!strcasecmp(s, "PTR"))
		return TG_DNS_TYPE_PTR;
	return (int)tg_num(s, "TYPE", 1, 65535);
}

static const char *tg_dns_type_name(unsigned int t, char *buf, size_t len)
{
	if (t == TG_DNS_TYPE_A)
		return "A";
	if (t == TG_DNS_TYPE_AAAA)
		return "AAAA";
	if (t == TG_DNS_TYPE_CNAME)
		return "CNAME";
	if (t == TG_DNS_TYPE_PTR)
		return "PTR";
	snprintf(buf, len, "TYPE%u", t);
	return buf;
}

static const char *tg_rcode_name(unsigned int r, char *buf, size_t len)
{
	static const char *const names[] = {"noerror", "formerr", "servfail",
					    "nxdomain", "notimp", "refused"};

	if (r < sizeof(names) / sizeof(names[0]))
		return names[r];
	snprintf(buf, len, "%u", r);
	return buf;
}

static int tg_zone_load(const char *path)
{
	char line[1024];
	unsigned int lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return tg_fail(path);
	while (fgets(line, sizeof(line), f)) {
		char name[300], type[16], value[300], extra[2];
		unsigned long ttl;
		struct tg_dns_rr *rr;
		char *hash = strchr(line, '#');
		int n;

		lineno++;
		if (hash)
			*hash = '\0';
		n = sscanf(line, "%299s %15s %299s %lu %1s", name, type, value, &ttl, extra);
		if (n <= 0)
			continue;
		if (n != 4 || strlen(name) > TG_DNS_NAME_MAX || strlen(value) > TG_DNS_NAME_MAX ||
		    ttl > UINT32_MAX || tg_zone_len == TG_DNS_MAX_RR) {
			fprintf(stderr, "trafficgen: %s:%u: expected 'name type value ttl'\n", path,
				lineno);
			fclose(f);
			return 1;
		}
		rr = &tg_zone[tg_zone_len];
		memset(rr, 0, sizeof(*rr));
		snprintf(rr->name, sizeof(rr->name), "%.253s", name);
		tg_dns_norm(rr->name);
		rr->ttl = ttl;
		if (!strcasecmp(type, "A")) {
			rr->type = TG_DNS_TYPE_A;
			n = inet_pton(AF_INET, value, rr->addr);
		} else if (!strcasecmp(type, "AAAA")) {
			rr->type = TG_DNS_TYPE_AAAA;
			n = inet_pton(AF_INET6, value, rr->addr);
		} else if (!strcasecmp(type, "CNAME") || !strcasecmp(type, "PTR")) {
			rr->type = strcasecmp(type, "PTR") ? TG_DNS_TYPE_CNAME : TG_DNS_TYPE_PTR;
			snprintf(rr->target, sizeof(rr->target), "%.253s", value);
			tg_dns_norm(rr->target);
			n = 1;
		} else if (!strcasecmp(type, "RCODE")) {
			char *end;

			rr->type = TG_DNS_RR_RCODE;
			rr->rcode = strtoul(value, &end, 10);
			n = !*end && rr->rcode <= 15;
		} else if (!strcasecmp(type, "DROP")) {
			rr->type = TG_DNS_RR_DROP;
			n = 1;
		} else {
			n = 0;
		}
		if (n != 1) {
			fprintf(stderr, "trafficgen: %s:%u: bad record '%s %s'\n", path, lineno, type,
				value);
			fclose(f);
			return 1;
		}
		tg_zone_len++;
	}
	fclose(f);
	return 0;
}

/* Appends the wire form of a presentation name; returns the new length or 0. */
static size_t tg_dns_put_name(unsigned char *buf, size_t off, size_t max, const char *name)
{
	const char *p = name;

	if (!strcmp(name, ".") || !*name) {
		if (off + 1 > max)
			return 0;
		buf[off++] = 0;
		return off;
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63 || off + 1 + l > max)
			return 0;
		buf[off++] = l;
		memcpy(buf + off, p, l);
		off += l;
		p += l;
		if (*p == '.')
			p++;
	}
	if (off + 1 > max)
		return 0;
	buf[off++] = 0;
	return off;
}

/* Reads a (possibly compressed) name at *off of msg; advances *off past it. */
static int tg_dns_get_name(const unsigned char *msg, size_t len, size_t *off, char *out)
{
	size_t pos = *off, o = 0;
	int jumped = 0, jumps = 0;

	for (;;) {
		unsigned int l;

		if (pos >= len)
			return -1;
		l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++jumps > 32)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = 1;
			pos = ((l & 0x3f) << 8) | msg[pos + 1];
			continue;
		}
		if (l & 0xc0)
			return -1;
		pos++;
		if (l == 0)
			break;
		if (pos + l > len || o + l + 1 > TG_DNS_NAME_MAX)
			return -1;
		if (o)
			out[o++] = '.';
		memcpy(out + o, msg + pos, l);
		o += l;
		pos += l;
	}
	out[o] = '\0';
	if (!jumped)
		*off = pos;
	tg_lower(out);
	return 0;
}

static void tg_put16(unsigned char *p, unsigned int v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static unsigned int tg_get16(const unsigned char *p)
{
	return (p[0] << 8) | p[1];
}

static const struct tg_dns_rr *tg_zone_find(const char *name, unsigned int type)
{
	for (size_t i = 0; i < tg_zone_len; i++)
		if (tg_zone[i].type == type && !strcmp(tg_zone[i].name, name))
			return &tg_zone[i];
	return NULL;
}

static int tg_zone_has(const char *name)
{
	for (size_t i = 0; i < tg_zone_len; i++)
		if (!strcmp(tg_zone[i].name, name))
			return 1;
	return 0;
}

/* Appends one answer record; returns the new length or 0. */
static size_t tg_dns_put_rr(unsigned char *out, size_t o, size_t max, const struct tg_dns_rr *rr)
{
	size_t rdlen_at;

	o = tg_dns_put_name(out, o, max, rr->name);
	if (!o || o + 10 > max)
		return 0;
	tg_put16(out + o, rr->type);
	tg_put16(out + o + 2, 1); /* IN */
	out[o + 4] = rr->ttl >> 24;
	out[o + 5] = (rr->ttl >> 16) & 0xff;
	out[o + 6] = (rr->ttl >> 8) & 0xff;
	out[o + 7] = rr->ttl & 0xff;
	rdlen_at = o + 8;
	o += 10;
	if (rr->type == TG_DNS_TYPE_A) {
		if (o + 4 > max)
			return 0;
		memcpy(out + o, rr->addr, 4);
		o += 4;
	} else if (rr->type == TG_DNS_TYPE_AAAA) {
		if (o + 16 > max)
			return 0;
		memcpy(out + o, rr->addr, 16);
		o += 16;
	} else {
		o = tg_dns_put_name(out, o, max, rr->target);
		if (!o)
			return 0;
	}
	tg_put16(out + rdlen_at, o - rdlen_at - 2);
	return o;
}

/* Builds the response to the query in msg; returns its length, 0 to stay silent. */
static size_t tg_dns_answer(const unsigned char *msg, size_t len, unsigned char *out, size_t max,
			    unsigned long long *served)
{
	char qname[TG_DNS_NAME_MAX + 1], name[TG_DNS_NAME_MAX + 1], tb[16], rb[16];
	const struct tg_dns_rr *rr;
	unsigned int qtype, rcode = 0, nans = 0, hops;
	size_t off = 12, o;

	if (len < 12 || (msg[2] & 0x80) || tg_get16(msg + 4) != 1)
		return 0; /* a response, or not one question: ignored */
	if (tg_dns_get_name(msg, len, &off, qname) || off + 4 > len)
		return 0;
	qtype = tg_get16(msg + off);
	off += 4;
	if (tg_zone_find(qname, TG_DNS_RR_DROP)) {
		printf("query %s %s dropped\n", qname, tg_dns_type_name(qtype, tb, sizeof(tb)));
		fflush(stdout);
		(*served)++;
		return 0;
	}
	/* Header and question copied; QR, AA, the client's RD, RA. */
	if (off > max)
		return 0;
	memcpy(out, msg, off);
	out[2] = 0x84 | (msg[2] & 0x01);
	out[3] = 0x80;
	tg_put16(out + 6, 0);
	tg_put16(out + 8, 0);
	tg_put16(out + 10, 0);
	o = off;
	snprintf(name, sizeof(name), "%s", qname);
	if ((rr = tg_zone_find(name, TG_DNS_RR_RCODE))) {
		rcode = rr->rcode;
	} else if (!tg_zone_has(name)) {
		rcode = 3;
	} else {
		for (hops = 0; hops < 8 && qtype != TG_DNS_TYPE_CNAME; hops++) {
			rr = tg_zone_find(name, TG_DNS_TYPE_CNAME);
			if (!rr)
				break;
			o = tg_dns_put_rr(out, o, max, rr);
			if (!o)
				return 0;
			nans++;
			snprintf(name, sizeof(name), "%s", rr->target);
		}
		for (size_t i = 0; i < tg_zone_len; i++) {
			if (tg_zone[i].type != qtype || strcmp(tg_zone[i].name, name))
				continue;
			o = tg_dns_put_rr(out, o, max, &tg_zone[i]);
			if (!o)
				return 0;
			nans++;
		}
	}
	out[3] |= rcode & 0x0f;
	tg_put16(out + 6, nans);
	printf("query %s %s rcode %s answers %u\n", qname, tg_dns_type_name(qtype, tb, sizeof(tb)),
	       tg_rcode_name(rcode, rb, sizeof(rb)), nans);
	fflush(stdout);
	(*served)++;
	return o;
}

/* Serves one TCP connection: length-prefixed queries until EOF (or a stop signal). */
static void tg_dns_serve_tcp(int cfd, unsigned long long *served)
{
	static unsigned char msg[TG_DNS_MSG_MAX], out[TG_DNS_MSG_MAX + 2];

	while (!tg_stop) {
		unsigned char pfx[2];
		size_t len, n;
		ssize_t got;
		struct pollfd pfd = {.fd = cfd, .events = POLLIN};
		int r = poll(&pfd, 1, 10000);

		if (r <= 0)
			break; /* stop signal, error or an idle client */
		got = read(cfd, pfx, 1);
		if (got <= 0)
			break; /* EOF: the client is done (or an error) */
		if (tg_read_exact(cfd, pfx + 1, 1))
			break;
		len = tg_get16(pfx);
		if (len > sizeof(msg) || tg_read_exact(cfd, msg, len))
			break;
		n = tg_dns_answer(msg, len, out + 2, TG_DNS_MSG_MAX, served);
		if (!n)
			continue;
		tg_put16(out, n);
		if (tg_write_all(cfd, out, n + 2))
			break;
	}
}

static int tg_dns_server(int argc, char **argv)
{
	static unsigned char msg[TG_DNS_MSG_MAX], out[TG_DNS_UDP_MAX];
	struct sockaddr_storage ss, peer;
	const char *bind_addr = NULL;
	unsigned long long served = 0;
	struct sigaction sa;
	unsigned int port;
	socklen_t len;
	int ufd, tfd, i;

	if (argc < 2)
		tg_usage();
	port = tg_num(argv[0], "PORT", 1, 65535);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--bind") && i + 1 < argc)
			bind_addr = argv[++i];
		else
			tg_usage();
	}
	if (tg_zone_load(argv[1]))
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tg_on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tg_addr(bind_addr, port, &ss, &len))
		return 1;
	ufd = tg_socket(ss.ss_family, SOCK_DGRAM, &ss, len);
	if (ufd < 0)
		return 1;
	tfd = tg_socket(ss.ss_family, SOCK_STREAM, &ss, len);
	if (tfd < 0)
		return 1;
	if (listen(tfd, 16) < 0)
		return tg_fail("listen");
	printf("listening on port %u (udp, tcp), %zu records\n", port, tg_zone_len);
	fflush(stdout);
	while (!tg_stop) {
		struct pollfd pfd[2] = {{.fd = ufd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
		int r = poll(pfd, 2, 1000);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return tg_fail("poll");
		}
		if (pfd[0].revents & POLLIN) {
			socklen_t plen = sizeof(peer);
			ssize_t n = recvfrom(ufd, msg, sizeof(msg), 0, (struct sockaddr *)&peer, &plen);
			size_t m;

			if (n < 0 && errno != EINTR)
				return tg_fail("recvfrom");
			if (n > 0) {
				m = tg_dns_answer(msg, n, out, sizeof(out), &served);
				if (m && sendto(ufd, out, m, 0, (struct sockaddr *)&peer, plen) !=
					     (ssize_t)m)
					return tg_fail("sendto");
			}
		}
		if (pfd[1].revents & POLLIN) {
			int cfd = accept(tfd, NULL, NULL);

			if (cfd < 0) {
				if (errno == EINTR)
					continue;
				return tg_fail("accept");
			}
			tg_dns_serve_tcp(cfd, &served);
			close(cfd);
		}
	}
	close(ufd);
	close(tfd);
	printf("served %llu queries\n", served);
	return 0;
}

/* Prints the response; 0, or 1 when it is not a response to our query. */
static int tg_dns_print(const unsigned char *msg, size_t len, unsigned int id)
{
	char name[TG_DNS_NAME_MAX + 1], tb[16], rb[16];
	unsigned int an;
	size_t off = 12;

	if (len < 12 || tg_get16(msg) != id || !(msg[2] & 0x80)) {
		fprintf(stderr, "trafficgen: not a response to query id %u\n", id);
		return 1;
	}
	printf("rcode %s\n", tg_rcode_name(msg[3] & 0x0f, rb, sizeof(rb)));
	an = tg_get16(msg + 6);
	for (unsigned int q = tg_get16(msg + 4); q; q--) {
		if (tg_dns_get_name(msg, len, &off, name) || off + 4 > len)
			goto bad;
		off += 4;
	}
	for (; an; an--) {
		char owner[TG_DNS_NAME_MAX + 1], value[TG_DNS_NAME_MAX + 1];
		unsigned int type, rdlen;
		uint32_t ttl;

		if (tg_dns_get_name(msg, len, &off, owner) || off + 10 > len)
			goto bad;
		type = tg_get16(msg + off);
		ttl = ((uint32_t)msg[off + 4] << 24) | (msg[off + 5] << 16) | (msg[off + 6] << 8) |
		      msg[off + 7];
		rdlen = tg_get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			goto bad;
		if (type == TG_DNS_TYPE_A && rdlen == 4) {
			inet_ntop(AF_INET, msg + off, value, sizeof(value));
		} else if (type == TG_DNS_TYPE_AAAA && rdlen == 16) {
			inet_ntop(AF_INET6, msg + off, value, sizeof(value));
		} else if (type == TG_DNS_TYPE_CNAME) {
			size_t t = off;

			if (tg_dns_get_name(msg, len, &t, value))
				goto bad;
		} else {
			snprintf(value, sizeof(value), "(%u bytes)", rdlen);
		}
		printf("%s %s %s %u\n", owner, tg_dns_type_name(type, tb, sizeof(tb)), value, ttl);
		off += rdlen;
	}
	return 0;
bad:
	fprintf(stderr, "trafficgen: malformed DNS response\n");
	return 1;
}

static int tg_dns_query(int argc, char **argv)
{
	static unsigned char q[TG_DNS_MSG_MAX + 2], resp[TG_DNS_MSG_MAX];
	struct sockaddr_storage ss;
	unsigned int port, sport = 0, timeout = 5, id, qtype;
	int tcp = 0, fd, i, rc;
	char name[TG_DNS_NAME_MAX + 2];
	size_t qlen, rlen = 0;
	double deadline;
	socklen_t len;

	if (argc < 4)
		tg_usage();
	port = tg_num(argv[1], "PORT", 1, 65535);
	if (strlen(argv[2]) > TG_DNS_NAME_MAX) {
		fprintf(stderr, "trafficgen: name too long\n");
		return 2;
	}
	snprintf(name, sizeof(name), "%s", argv[2]);
	tg_dns_norm(name);
	qtype = tg_dns_type(argv[3]);
	id = (getpid() * 2654435761u) & 0xffff;
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--tcp"))
			tcp = 1;
		else if (!strcmp(argv[i], "--sport") && i + 1 < argc)
			sport = tg_num(argv[++i], "--sport", 1, 65535);
		else if (!strcmp(argv[i], "--id") && i + 1 < argc)
			id = tg_num(argv[++i], "--id", 0, 65535);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = tg_num(argv[++i], "--timeout", 1, 3600);
		else
			tg_usage();
	}
	/* The message, after 2 bytes kept for the TCP length prefix. */
	memset(q, 0, 14);
	tg_put16(q + 2, id);
	q[4] = 0x01; /* RD */
	tg_put16(q + 6, 1);
	qlen = tg_dns_put_name(q + 2, 12, TG_DNS_MSG_MAX - 4, name);
	if (!qlen) {
		fprintf(stderr, "trafficgen: bad name '%s'\n", name);
		return 2;
	}
	tg_put16(q + 2 + qlen, qtype);
	tg_put16(q + 2 + qlen + 2, 1);
	qlen += 4;
	tg_put16(q, qlen);

	if (tg_addr(argv[0], port, &ss, &len))
		return 1;
	fd = tg_socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, NULL, 0);
	if (fd < 0)
		return 1;
	if (tg_bind_sport(fd, ss.ss_family, sport))
		return 1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return tg_fail("connect");
	if (tcp) {
		if (tg_write_all(fd, q, qlen + 2))
			return 1;
	} else if (send(fd, q + 2, qlen, 0) != (ssize_t)qlen) {
		return tg_fail("send");
	}
	deadline = tg_now() + timeout;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - tg_now();
		ssize_t n;
		int r;

		if (left <= 0) {
			printf("no response\n");
			close(fd);
			return 3;
		}
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return tg_fail("poll");
		if (r <= 0)
			continue;
		if (!tcp) {
			n = recv(fd, resp, sizeof(resp), 0);
			if (n < 0)
				return tg_fail("recv");
			rlen = n;
			break;
		}
		{
			unsigned char pfx[2];

			if (tg_read_exact(fd, pfx, 2))
				return 1;
			rlen = tg_get16(pfx);
			if (rlen > sizeof(resp) || tg_read_exact(fd, resp, rlen))
				return 1;
			break;
		}
	}
	rc = tg_dns_print(resp, rlen, id);
	if (tcp) {
		/* FIN both ways: ours first, then the server's on our EOF. */
		if (shutdown(fd, SHUT_WR) < 0)
			return tg_fail("shutdown");
		if (tg_read_eof(fd))
			return 1;
	}
	if (close(fd) < 0)
		return tg_fail("close");
	return rc;
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 2)
		tg_usage();
	mode = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "tcp-server"))
		return tg_tcp_server(argc - 2, argv + 2);
	if (!strcmp(mode, "tcp-client"))
		return tg_tcp_client(argc - 2, argv + 2);
	if (!strcmp(mode, "udp-sink"))
		return tg_udp_sink(argc - 2, argv + 2);
	if (!strcmp(mode, "udp-send"))
		return tg_udp_send(argc - 2, argv + 2);
	if (!strcmp(mode, "udp4-frame"))
		return tg_udp4_frame(argc - 2, argv + 2);
	if (!strcmp(mode, "raw-send"))
		return tg_raw_send(argc - 2, argv + 2);
	if (!strcmp(mode, "dns-server"))
		return tg_dns_server(argc - 2, argv + 2);
	if (!strcmp(mode, "dns-query"))
		return tg_dns_query(argc - 2, argv + 2);
	tg_usage();
	return 2;
}
