/* pktgen.c - traffic of the benchmarks (the bench scripts): fast IPv4/UDP frames through an
 * AF_PACKET socket (sendmmsg; PACKET_QDISC_BYPASS stays off, so the TC egress hook runs),
 * optionally varying the 5-tuple per packet, and a bulk TCP sender and sink.
 *
 *   pktgen udp IFACE SRC_MAC DST_MAC SRC_IP DST_IP [OPTIONS]
 *	--flows N       cycle through N distinct 5-tuples (default 1): source port
 *	                1024 + i % 50000, source address SRC_IP + i / 50000
 *	--storm         every packet a new 5-tuple (a 32-bit counter spread over the low
 *	                16 bits of the source address and the source port)
 *	--size BYTES    Ethernet frame without FCS (default 60: a 64-byte frame on the wire)
 *	--pps N         pace to N packets/s (default 0: as fast as possible)
 *	--duration S    stop after S seconds (default 10; also stops on SIGINT/SIGTERM)
 *	--count N       stop after N packets
 *	--batch N       frames per sendmmsg (default 64)
 *   pktgen tcp-sink PORT              accepts connections and reads until killed
 *   pktgen tcp-send HOST PORT [--duration S]   writes 128 KiB chunks until the duration
 *
 * Every mode prints one line when it ends: "sent=N seconds=T pps=R" (udp),
 * "bytes=N seconds=T bps=R" (tcp-send). Exit 1 on errors, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PG_MAX_BATCH  256
#define PG_MAX_FRAME  1514
#define PG_FLOW_PORTS 50000u

static volatile sig_atomic_t pg_stop;

static void pg_on_signal(int sig)
{
	(void)sig;
	pg_stop = 1;
}

static void pg_usage(void)
{
	fprintf(stderr,
		"usage: pktgen udp IFACE SRC_MAC DST_MAC SRC_IP DST_IP [--flows N | --storm] "
		"[--size B] [--pps N] [--duration S] [--count N] [--batch N]\n"
		"       pktgen tcp-sink PORT\n"
		"       pktgen tcp-send HOST PORT [--duration S]\n");
	exit(2);
}

static double pg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pg_mac(const char *s, uint8_t mac[6])
{
	unsigned int m[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

static uint16_t pg_csum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Writes the 5-tuple of packet number `seq` into frame f (IPv4 header at 14). */
static void pg_tuple(uint8_t *f, uint32_t src_ip, uint64_t seq, uint64_t flows, int storm)
{
	uint32_t ip;
	uint16_t sport, c;

	if (storm) {
		uint32_t x = (uint32_t)seq;

		sport = (uint16_t)(x & 0xffff);
		ip = (src_ip & 0xffff0000u) | ((src_ip + (x >> 16)) & 0xffffu);
	} else {
		uint64_t i = seq % flows;

		sport = (uint16_t)(1024 + i % PG_FLOW_PORTS);
		ip = src_ip + (uint32_t)(i / PG_FLOW_PORTS);
	}
	f[26] = (uint8_t)(ip >> 24);
	f[27] = (uint8_t)(ip >> 16);
	f[28] = (uint8_t)(ip >> 8);
	f[29] = (uint8_t)ip;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[24] = f[25] = 0;
	c = pg_csum(f + 14, 20);
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
}

static int pg_udp(int argc, char **argv)
{
	uint8_t smac[6], dmac[6];
	struct in_addr sip, dip;
	uint64_t flows = 1, count = 0, pps = 0, sent = 0;
	double duration = 10;
	unsigned int size = 60, batch = 64;
	int storm = 0, fd, i;
	static uint8_t frames[PG_MAX_BATCH][PG_MAX_FRAME];
	struct mmsghdr msgs[PG_MAX_BATCH];
	struct iovec iov[PG_MAX_BATCH];
	struct sockaddr_ll sll;
	unsigned int ifindex;

	if (argc < 7)
		pg_usage();
	if (pg_mac(argv[3], smac) || pg_mac(argv[4], dmac) ||
	    inet_pton(AF_INET, argv[5], &sip) != 1 || inet_pton(AF_INET, argv[6], &dip) != 1)
		pg_usage();
	for (i = 7; i < argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--storm")) {
			storm = 1;
			continue;
		}
		if (i + 1 >= argc)
			pg_usage();
		if (!strcmp(o, "--flows"))
			flows = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(o, "--size"))
			size = (unsigned int)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(o, "--pps"))
			pps = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(o, "--duration"))
			duration = strtod(argv[++i], NULL);
		else if (!strcmp(o, "--count"))
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(o, "--batch"))
			batch = (unsigned int)strtoul(argv[++i], NULL, 10);
		else
			pg_usage();
	}
	if (flows == 0 || size < 42 || size > PG_MAX_FRAME || batch == 0 || batch > PG_MAX_BATCH)
		pg_usage();
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "pktgen: no interface %s\n", argv[2]);
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: sends only, receives nothing */
	if (fd < 0) {
		perror("pktgen: socket(AF_PACKET)");
		return 1;
	}
	{
		int sz = 4 << 20;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	sll.sll_protocol = htons(ETH_P_IP);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("pktgen: bind");
		return 1;
	}
	for (i = 0; i < (int)batch; i++) {
		uint8_t *f = frames[i];
		uint16_t iplen = (uint16_t)(size - 14), udplen = (uint16_t)(size - 34);

		memset(f, 0, size);
		memcpy(f, dmac, 6);
		memcpy(f + 6, smac, 6);
		f[12] = 0x08;
		f[13] = 0x00;
		f[14] = 0x45;
		f[16] = (uint8_t)(iplen >> 8);
		f[17] = (uint8_t)iplen;
		f[22] = 64;
		f[23] = IPPROTO_UDP;
		memcpy(f + 26, &sip, 4);
		memcpy(f + 30, &dip, 4);
		f[36] = 0x23; /* dst port 9000 */
		f[37] = 0x28;
		f[38] = (uint8_t)(udplen >> 8);
		f[39] = (uint8_t)udplen;
		iov[i].iov_base = f;
		iov[i].iov_len = size;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGINT, pg_on_signal);
	signal(SIGTERM, pg_on_signal);

	uint32_t src_ip = ntohl(sip.s_addr);
	double start = pg_now(), end = start + duration, now = start;

	while (!pg_stop && now < end && (!count || sent < count)) {
		unsigned int n = batch;
		int r;

		if (count && count - sent < n)
			n = (unsigned int)(count - sent);
		for (i = 0; i < (int)n; i++)
			if (flows > 1 || storm || sent == 0)
				pg_tuple(frames[i], src_ip, sent + (uint64_t)i, flows, storm);
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("pktgen: sendmmsg");
			return 1;
		}
		sent += (uint64_t)r;
		now = pg_now();
		if (pps) {
			double due = start + (double)sent / (double)pps;

			if (due > now) {
				struct timespec ts;
				double d = due - now;

				ts.tv_sec = (time_t)d;
				ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
				nanosleep(&ts, NULL);
				now = pg_now();
			}
		}
	}
	now = pg_now();
	printf("sent=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)sent, now - start,
	       (double)sent / (now - start));
	close(fd);
	return 0;
}

static int pg_tcp_sink(int argc, char **argv)
{
	struct sockaddr_in6 a;
	int fd, one = 1, off = 0;
	static char buf[1 << 17];

	if (argc != 3)
		pg_usage();
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return perror("pktgen: socket"), 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons((uint16_t)atoi(argv[2]));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
		return perror("pktgen: bind/listen"), 1;
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return perror("pktgen: accept"), 1;
		}
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
}

static int pg_tcp_send(int argc, char **argv)
{
	struct sockaddr_in a;
	double duration = 10, start, now;
	unsigned long long bytes = 0;
	static char buf[1 << 17];
	int fd, i;

	if (argc < 4)
		pg_usage();
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = strtod(argv[++i], NULL);
		else
			pg_usage();
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
		pg_usage();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return perror("pktgen: connect"), 1;
	signal(SIGINT, pg_on_signal);
	signal(SIGTERM, pg_on_signal);
	signal(SIGPIPE, SIG_IGN);
	start = now = pg_now();
	while (!pg_stop && now - start < duration) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return perror("pktgen: write"), 1;
		}
		bytes += (unsigned long long)w;
		now = pg_now();
	}
	now = pg_now();
	printf("bytes=%llu seconds=%.3f bps=%.0f\n", bytes, now - start,
	       (double)bytes * 8 / (now - start));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		pg_usage();
	if (!strcmp(argv[1], "udp"))
		return pg_udp(argc, argv);
	if (!strcmp(argv[1], "tcp-sink"))
		return pg_tcp_sink(argc, argv);
	if (!strcmp(argv[1], "tcp-send"))
		return pg_tcp_send(argc, argv);
	pg_usage();
	return 2;
}
