/* test_flowkeys.c - the store's per-batch index keys (collector/store/flowkeys.c) and
 * record blocks (collector/store/flowblock.c): which keys a batch gets and their exact
 * entries, and records read back by position, byte for byte, from a block; malformed
 * blocks refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "collector/store/flowblock.h"
#include "collector/store/flowkeys.h"
#include "tests/unit/check.h"

static void addr(uint8_t out[16], const char *text)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET6, text, out) == 1)
		return;
	out[10] = out[11] = 0xff;
	CHECK(inet_pton(AF_INET, text, out + 12) == 1);
}

static void rec(struct wire_record *r, const char *src, uint16_t sport, const char *dst,
		uint16_t dport, uint8_t proto, const char *domain, uint64_t packets)
{
	memset(r, 0, sizeof(*r));
	r->ip_version = strchr(src, ':') ? 6 : 4;
	addr(r->src_addr, src);
	addr(r->dst_addr, dst);
	r->src_port = sport;
	r->dst_port = dport;
	r->proto = proto;
	r->packets_sent = packets;
	r->packets_received = 1;
	r->bytes_sent = packets * 100;
	r->bytes_received = 60;
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	snprintf(r->interface, sizeof(r->interface), "eth0");
}

/* "pos:last:sides ..." of the key (kind, value); "absent" when there is none. */
static void key_entries(const struct flowkeys *k, enum flowkeys_kind kind, int64_t ivalue,
			const uint8_t *data, size_t len, char *out, size_t outlen,
			uint64_t *packets)
{
	struct flowkeys_key key;
	size_t used = 0;

	snprintf(out, outlen, "absent");
	for (size_t i = 0; i < flowkeys_count(k); i++) {
		flowkeys_get(k, i, &key);
		if (key.kind != kind ||
		    (key.is_int ? key.ivalue != ivalue
				: key.len != len || memcmp(key.data, data, len)))
			continue;
		out[0] = '\0';
		for (size_t j = 0; j < key.n; j++) {
			struct flowkeys_entry e;

			flowkeys_entry(key.entries, j, &e);
			used += (size_t)snprintf(out + used, outlen - used, "%s%u:%u:%u",
						 j ? " " : "", e.pos, e.last, e.sides);
		}
		if (packets)
			*packets = key.packets;
		return;
	}
}

static void test_keys(void)
{
	struct flowkeys *k = flowkeys_new();
	struct wire_record r[4];
	uint8_t v4[16], v6[16], rev[WIRE_NAME_MAX + 2];
	char got[256];
	uint64_t packets = 0;
	size_t n;

	if (!CHECK(k != NULL))
		return;
	rec(&r[0], "10.0.0.1", 40000, "10.0.0.2", 443, 6, "A.Example.com", 10);
	rec(&r[1], "10.0.0.2", 443, "10.0.0.1", 40000, 6, "", 20);
	rec(&r[2], "10.0.0.5", 53, "10.0.0.5", 53, 17, "a.example.com", 30);
	rec(&r[3], "2001:db8::1", 1000, "2001:db8::2", 1001, 17, "", 40);
	if (!CHECK_EQ_INT(flowkeys_build(k, r, 4), 0))
		goto out;
	/* 2 protocols, 2 address prefixes, 4 port prefixes, 1 domain (case-folded) */
	CHECK_EQ_U64(flowkeys_count(k), 9);

	key_entries(k, FLOWKEYS_PROTO, 6, NULL, 0, got, sizeof(got), &packets);
	CHECK_EQ_STR(got, "0:0:0 1:0:0");
	CHECK_EQ_U64(packets, 10 + 1 + 20 + 1);
	key_entries(k, FLOWKEYS_PROTO, 17, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "2:0:0 3:0:0");
	key_entries(k, FLOWKEYS_PROTO, 1, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "absent");

	/* one key for 10.0.0.0/24 (::ffff:10.0.0.x without its last byte): each side an
	 * entry with its last byte, one entry for both sides when they are equal */
	addr(v4, "10.0.0.0");
	key_entries(k, FLOWKEYS_IP, 0, v4, FLOWKEYS_IP_PREFIX, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "0:1:1 0:2:2 1:2:1 1:1:2 2:5:3");
	addr(v6, "2001:db8::");
	key_entries(k, FLOWKEYS_IP, 0, v6, FLOWKEYS_IP_PREFIX, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "3:1:1 3:2:2");

	/* ports by their high byte: 40000 = 156 * 256 + 64, 443 = 1 * 256 + 187 */
	key_entries(k, FLOWKEYS_PORT, 156, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "0:64:1 1:64:2");
	key_entries(k, FLOWKEYS_PORT, 1, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "0:187:2 1:187:1");
	key_entries(k, FLOWKEYS_PORT, 0, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "2:53:3");
	key_entries(k, FLOWKEYS_PORT, 3, NULL, 0, got, sizeof(got), NULL);
	CHECK_EQ_STR(got, "3:232:1 3:233:2");

	n = flowkeys_domain_reverse("a.example.com", 13, rev);
	CHECK_EQ_INT(n, 14);
	CHECK(memcmp(rev, "moc.elpmaxe.a.", 14) == 0);
	key_entries(k, FLOWKEYS_DOMAIN, 0, rev, n, got, sizeof(got), &packets);
	CHECK_EQ_STR(got, "0:0:0 2:0:0");
	CHECK_EQ_U64(packets, 10 + 1 + 30 + 1);

	/* a second build replaces the first */
	if (CHECK_EQ_INT(flowkeys_build(k, &r[3], 1), 0)) {
		CHECK_EQ_U64(flowkeys_count(k), 3);
		key_entries(k, FLOWKEYS_IP, 0, v6, FLOWKEYS_IP_PREFIX, got, sizeof(got), NULL);
		CHECK_EQ_STR(got, "0:1:1 0:2:2");
		key_entries(k, FLOWKEYS_PROTO, 6, NULL, 0, got, sizeof(got), NULL);
		CHECK_EQ_STR(got, "absent");
	}
	CHECK_EQ_INT(flowkeys_build(k, r, WIRE_MAX_RECORDS + 1), -EINVAL);
	CHECK_EQ_INT(flowkeys_build(k, r, 0), 0);
	CHECK_EQ_U64(flowkeys_count(k), 0);
out:
	flowkeys_free(k);
}

/* A block in memory, read as the store reads one from SQLite. */
struct mem {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *arg, size_t off, void *buf, size_t len)
{
	const struct mem *m = arg;

	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->p + off, len);
	return 0;
}

static void test_block_roundtrip(void)
{
	struct flowblock *b = flowblock_new();
	struct wire_record r[3], got;
	struct mem m;
	char err[128];
	size_t n = 0;

	if (!CHECK(b != NULL))
		return;
	rec(&r[0], "10.0.0.1", 40000, "10.0.0.2", 443, 6, "a.example.com", 10);
	rec(&r[1], "2001:db8::1", 1000, "2001:db8::2", 1001, 17, "", 40);
	/* the largest record: every string at its longest, every number at its widest */
	rec(&r[2], "ffff::ffff", 65535, "ffff::fffe", 65535, 255, "", UINT64_MAX);
	memset(r[2].domain, 'd', WIRE_NAME_MAX);
	memset(r[2].src_hostname, 's', WIRE_NAME_MAX);
	memset(r[2].dst_hostname, 'h', WIRE_NAME_MAX);
	memset(r[2].interface, 'i', WIRE_IFNAME_MAX - 1);
	r[2].packets_received = r[2].bytes_sent = r[2].bytes_received = UINT64_MAX;
	r[2].first_seen_ms = r[2].last_seen_ms = UINT64_MAX;
	r[2].tcp_flags = 0xff;
	if (!CHECK_EQ_INT(flowblock_encode(b, r, 3), 0))
		goto out;
	m = (struct mem){flowblock_data(b), flowblock_len(b)};
	if (!CHECK_EQ_INT(flowblock_count(mem_read, &m, m.len, &n), 0) || !CHECK_EQ_U64(n, 3))
		goto out;
	for (size_t i = 0; i < 3; i++) {
		memset(&got, 0x5a, sizeof(got));
		if (CHECK_EQ_INT(
			flowblock_record(mem_read, &m, m.len, n, i, &got, err, sizeof(err)), 0))
			CHECK(memcmp(&got, &r[i], sizeof(got)) == 0);
	}
	CHECK(m.len < FLOWBLOCK_HEADER_BYTES(3) + 3 * (size_t)WIRE_RECORD_MAX_BYTES);
	CHECK_EQ_INT(flowblock_record(mem_read, &m, m.len, n, 3, &got, err, sizeof(err)), -EBADMSG);

	/* malformed blocks are refused, not read past */
	CHECK_EQ_INT(flowblock_count(mem_read, &m, 7, &n), -EBADMSG);
	{
		uint8_t bad[64];
		struct mem mb = {bad, sizeof(bad)};

		memcpy(bad, m.p, sizeof(bad));
		bad[0] = 0xff; /* n = 255: its offsets do not fit in 64 bytes */
		CHECK_EQ_INT(flowblock_count(mem_read, &mb, sizeof(bad), &n), -EBADMSG);
		memcpy(bad, m.p, sizeof(bad));
		bad[3] = 0x01; /* n over WIRE_MAX_RECORDS */
		CHECK_EQ_INT(flowblock_count(mem_read, &mb, sizeof(bad), &n), -EBADMSG);
		memcpy(bad, m.p, sizeof(bad));
		bad[8] = 0xff; /* record 0 ends past the block */
		bad[9] = 0xff;
		CHECK_EQ_INT(
		    flowblock_record(mem_read, &mb, sizeof(bad), 3, 0, &got, err, sizeof(err)),
		    -EBADMSG);
	}
	{
		uint8_t *bad = malloc(m.len);
		struct mem mb = {bad, m.len};

		if (CHECK(bad != NULL)) {
			memcpy(bad, m.p, m.len);
			memset(bad + FLOWBLOCK_HEADER_BYTES(3), 0xff, 8); /* record 0: garbage */
			CHECK_EQ_INT(
			    flowblock_record(mem_read, &mb, m.len, 3, 0, &got, err, sizeof(err)),
			    -EBADMSG);
			CHECK_CONTAINS(err, "FlowRecord");
			/* the others are still read */
			CHECK_EQ_INT(
			    flowblock_record(mem_read, &mb, m.len, 3, 1, &got, err, sizeof(err)),
			    0);
			free(bad);
		}
	}
	/* a record that cannot be encoded */
	r[1].ip_version = 5;
	CHECK_EQ_INT(flowblock_encode(b, r, 3), -EINVAL);
	CHECK_EQ_INT(flowblock_encode(b, r, WIRE_MAX_RECORDS + 1), -EINVAL);
out:
	flowblock_free(b);
}

int main(void)
{
	test_keys();
	test_block_roundtrip();
	return check_exit();
}
