/* floodgen.c - the flow flood of tests/e2e/flow_flood.sh: COUNT IPv4/UDP frames through an
 * AF_PACKET socket (sendmmsg, as fast as it goes), each with its own 5-tuple: packet i
 * comes from SRC_IP + i / 50000 (as a 32-bit number), port 1024 + i % 50000, and goes to
 * DST_IP:DPORT. Frames are 60 bytes (IPv4 total length 46, UDP checksum 0). Prints
 * "sent N" at the end. Only libc.
 *
 *   floodgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT COUNT
 * Exit 1 on errors, 2 on bad usage. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FG_FRAME 60
#define FG_BATCH 256
#define FG_PORTS 50000

static int fg_mac(const char *s, uint8_t out[6])
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)b[i];
	return 0;
}

static uint16_t fg_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void fg_frame(uint8_t *f, const uint8_t smac[6], const uint8_t dmac[6], uint32_t src,
		     uint32_t dst, uint16_t sport, uint16_t dport)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t c;

	memset(f, 0, FG_FRAME);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = FG_FRAME - 14; /* total length 46 */
	ip[6] = 0x40;	       /* DF */
	ip[8] = 64;
	ip[9] = 17;
	src = htonl(src);
	dst = htonl(dst);
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	c = fg_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[5] = FG_FRAME - 14 - 20; /* UDP length 26 */
}

int main(int argc, char **argv)
{
	static uint8_t frames[FG_BATCH][FG_FRAME];
	struct mmsghdr msgs[FG_BATCH];
	struct iovec iov[FG_BATCH];
	struct sockaddr_ll sll;
	uint8_t smac[6], dmac[6];
	struct in_addr sa, da;
	unsigned long long count, sent = 0;
	char *end;
	int fd;

	if (argc != 8 || fg_mac(argv[2], smac) || fg_mac(argv[3], dmac) ||
	    inet_pton(AF_INET, argv[4], &sa) != 1 || inet_pton(AF_INET, argv[5], &da) != 1) {
		fprintf(stderr, "usage: floodgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT COUNT\n");
		return 2;
	}
	count = strtoull(argv[7], &end, 10);
	if (*end || !count)
		return 2;
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("floodgen: socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	if (!sll.sll_ifindex) {
		perror("floodgen: interface");
		return 1;
	}
	while (sent < count) {
		unsigned int n = count - sent < FG_BATCH ? (unsigned int)(count - sent) : FG_BATCH;
		int r;

		for (unsigned int i = 0; i < n; i++) {
			unsigned long long k = sent + i;

			fg_frame(frames[i], smac, dmac, ntohl(sa.s_addr) + (uint32_t)(k / FG_PORTS),
				 ntohl(da.s_addr), (uint16_t)(1024 + k % FG_PORTS),
				 (uint16_t)atoi(argv[6]));
			iov[i].iov_base = frames[i];
			iov[i].iov_len = FG_FRAME;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &sll;
			msgs[i].msg_hdr.msg_namelen = sizeof(sll);
		}
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("floodgen: sendmmsg");
			return 1;
		}
		sent += (unsigned int)r;
	}
	printf("sent %llu\n", sent);
	close(fd);
	return 0;
}
