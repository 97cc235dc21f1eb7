/* flowfmt.c - formatting of flows for the APIs (see flowfmt.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "flowfmt.h"

void flowfmt_addr(const uint8_t addr[16], uint8_t ip_version, char *buf, size_t len)
{
	if (ip_version == 4) {
		if (!inet_ntop(AF_INET, addr + 12, buf, len))
			snprintf(buf, len, "?");
	} else if (!inet_ntop(AF_INET6, addr, buf, len)) {
		snprintf(buf, len, "?");
	}
}

void flowfmt_endpoint(const uint8_t addr[16], uint16_t port, uint8_t ip_version, char *buf,
		      size_t len)
{
	char a[FLOWFMT_ADDR_LEN];

	flowfmt_addr(addr, ip_version, a, sizeof(a));
	if (ip_version == 4)
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
}

void flowfmt_proto(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case 6:
		snprintf(buf, len, "tcp");
		break;
	case 17:
		snprintf(buf, len, "udp");
		break;
	case 1:
		snprintf(buf, len, "icmp");
		break;
	case 58:
		snprintf(buf, len, "icmpv6");
		break;
	default:
		snprintf(buf, len, "%u", proto);
	}
}

void flowfmt_tcp_flags(uint32_t flags, char *buf, size_t len)
{
	/* Connection life order, as people read them: SYN,ACK,...,FIN,RST. */
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {0x02, "SYN"}, {0x10, "ACK"}, {0x08, "PSH"}, {0x20, "URG"},
	    {0x40, "ECE"}, {0x80, "CWR"}, {0x01, "FIN"}, {0x04, "RST"},
	};
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n;

		if (!(flags & names[i].bit))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[i].name);
		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0'; /* drop the partial name */
			return;
		}
		used += (size_t)n;
	}
}

json_t *flowfmt_conn_json(const struct flowfmt_conn *c)
{
	char src[FLOWFMT_ADDR_LEN], dst[FLOWFMT_ADDR_LEN];
	char src_ep[FLOWFMT_ENDPOINT_LEN], dst_ep[FLOWFMT_ENDPOINT_LEN];
	char conn[2 * FLOWFMT_ENDPOINT_LEN + 8];
	char proto[8], flags[FLOWFMT_FLAGS_LEN];

	flowfmt_addr(c->src_addr, c->ip_version, src, sizeof(src));
	flowfmt_addr(c->dst_addr, c->ip_version, dst, sizeof(dst));
	flowfmt_endpoint(c->src_addr, c->src_port, c->ip_version, src_ep, sizeof(src_ep));
	flowfmt_endpoint(c->dst_addr, c->dst_port, c->ip_version, dst_ep, sizeof(dst_ep));
	snprintf(conn, sizeof(conn), "%s -> %s", src_ep, dst_ep);
	flowfmt_proto(c->proto, proto, sizeof(proto));
	flowfmt_tcp_flags(c->tcp_flags, flags, sizeof(flags));

	return json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:i, s:I, s:I, s:s, s:s?, s:s?, s:s?,"
			 " s:s?, s:s?, s:{s:I, s:I, s:I, s:I, s:I}}",
			 "connection", conn, "protocol", proto, "ip_version", c->ip_version,
			 "src_ip", src, "src_port", c->src_port, "dst_ip", dst, "dst_port",
			 c->dst_port, "first_seen", (json_int_t)c->first_seen_ms, "last_seen",
			 (json_int_t)c->last_seen_ms, "tcp_flags", flags, "domain", c->domain,
			 "src_hostname", c->src_hostname, "dst_hostname", c->dst_hostname, "node",
			 c->node, "interface", c->interface, "stats", "packets_count",
			 (json_int_t)(c->packets_sent + c->packets_received), "packets_sent",
			 (json_int_t)c->packets_sent, "packets_received",
			 (json_int_t)c->packets_received, "bytes_sent", (json_int_t)c->bytes_sent,
			 "bytes_received", (json_int_t)c->bytes_received);
}
