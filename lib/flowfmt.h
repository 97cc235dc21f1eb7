/* flowfmt.h - one way to show a flow, for every program: addresses, endpoints,
 * protocol names, TCP flag lists and the JSON object of a connection (the
 * ayaFlow-compatible field names of /api/live and, later, history items). */
#ifndef AYAFLOW_FLOWFMT_H
#define AYAFLOW_FLOWFMT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define FLOWFMT_ADDR_LEN 46 /* INET6_ADDRSTRLEN */
#define FLOWFMT_ENDPOINT_LEN (FLOWFMT_ADDR_LEN + 10)
#define FLOWFMT_FLAGS_LEN 40

/* A connection oriented for display: src started it. Addresses are 16 bytes, IPv4 as
 * ::ffff:a.b.c.d. Strings are borrowed for the duration of the call. */
struct flowfmt_conn {
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t ip_version;
	uint32_t tcp_flags; /* OR of both directions */
	uint64_t first_seen_ms; /* Unix ms */
	uint64_t last_seen_ms;
	uint64_t packets_sent; /* src -> dst */
	uint64_t packets_received;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	const char *domain; /* NULL = unknown */
	const char *src_hostname; /* reverse DNS; NULL = unknown */
	const char *dst_hostname;
	const char *node;
	const char *interface;
};

/* "10.0.0.1" or "2001:db8::1" (IPv4 shown from its mapped form when ip_version is 4). */
void flowfmt_addr(const uint8_t addr[16], uint8_t ip_version, char *buf, size_t len);
/* "10.0.0.1:443" or "[2001:db8::1]:443". */
void flowfmt_endpoint(const uint8_t addr[16], uint16_t port, uint8_t ip_version, char *buf,
		      size_t len);
/* "tcp", "udp", "icmp", "icmpv6", else the number ("47"). */
void flowfmt_proto(uint8_t proto, char *buf, size_t len);
/* "SYN,ACK,FIN": the flags seen, in connection-life order; "" if none. */
void flowfmt_tcp_flags(uint32_t flags, char *buf, size_t len);
/* The connection object of /api/live (new reference, NULL on ENOMEM). */
json_t *flowfmt_conn_json(const struct flowfmt_conn *c);

#endif
