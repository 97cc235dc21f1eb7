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
		"       trafficgen raw-send IFACE HEXFRAME...\n");
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
	tg_usage();
	return 2;
}
