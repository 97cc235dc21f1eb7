/* test_flowfmt.c - addresses, endpoints, protocol names, TCP flags and the connection
 * JSON object of /api/live, with exact expected text. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "flowfmt.h"
#include "tests/unit/check.h"

static void v4(uint8_t out[16], const char *text)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	inet_pton(AF_INET, text, out + 12);
}

static void test_text(void)
{
	uint8_t a[16];
	char buf[128];

	v4(a, "10.0.0.1");
	flowfmt_addr(a, 4, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "10.0.0.1");
	flowfmt_endpoint(a, 4040, 4, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "10.0.0.1:4040");
	inet_pton(AF_INET6, "2001:db8::1", a);
	flowfmt_addr(a, 6, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "2001:db8::1");
	flowfmt_endpoint(a, 443, 6, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "[2001:db8::1]:443");

	flowfmt_proto(6, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "tcp");
	flowfmt_proto(17, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "udp");
	flowfmt_proto(1, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "icmp");
	flowfmt_proto(58, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "icmpv6");
	flowfmt_proto(47, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "47");

	flowfmt_tcp_flags(0, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "");
	flowfmt_tcp_flags(0x02 | 0x10 | 0x01, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "SYN,ACK,FIN");
	flowfmt_tcp_flags(0xff, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "SYN,ACK,PSH,URG,ECE,CWR,FIN,RST");
	/* Truncation never overflows and keeps whole names. */
	flowfmt_tcp_flags(0xff, buf, 9);
	CHECK_EQ_STR(buf, "SYN,ACK");
}

static void test_conn_json(void)
{
	struct flowfmt_conn c;
	json_t *j;
	char *s;

	memset(&c, 0, sizeof(c));
	v4(c.src_addr, "10.0.0.1");
	v4(c.dst_addr, "10.0.0.2");
	c.src_port = 4040;
	c.dst_port = 443;
	c.proto = 6;
	c.ip_version = 4;
	c.tcp_flags = 0x12;
	c.first_seen_ms = 1700000000000ull;
	c.last_seen_ms = 1700000000500ull;
	c.packets_sent = 3;
	c.packets_received = 2;
	c.bytes_sent = 300;
	c.bytes_received = 5000000000ull;
	c.node = "n1";
	c.interface = "eth0";
	j = flowfmt_conn_json(&c);
	CHECK(j != NULL);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_EQ_STR(s, "{\"connection\":\"10.0.0.1:4040 -> 10.0.0.2:443\",\"domain\":null,"
			"\"dst_hostname\":null,\"dst_ip\":\"10.0.0.2\",\"dst_port\":443,\"first_seen\":1700000000000,"
			"\"interface\":\"eth0\",\"ip_version\":4,\"last_seen\":1700000000500,"
			"\"node\":\"n1\",\"protocol\":\"tcp\",\"src_hostname\":null,"
			"\"src_ip\":\"10.0.0.1\","
			"\"src_port\":4040,\"stats\":{\"bytes_received\":5000000000,"
			"\"bytes_sent\":300,\"packets_count\":5,\"packets_received\":2,"
			"\"packets_sent\":3},\"tcp_flags\":\"SYN,ACK\"}");
	free(s);
	json_decref(j);
}

int main(void)
{
	test_text();
	test_conn_json();
	return check_exit();
}
