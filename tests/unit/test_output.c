/* test_output.c - ayaflowctl's rendering (cli/output.c): human units, aligned tables
 * (alignment, "-" for missing values, endpoints, times, fitting a narrow terminal by
 * truncating and dropping the least important columns) and CSV (RFC 4180 quoting, values
 * as the API wrote them, flattened objects), each against the exact expected text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/output.h"
#include "tests/unit/check.h"

/* Renders into memory: out() starts a capture, text() ends it (the caller frees). */
struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *cap_start(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	return c->f;
}

static char *cap_end(struct capture *c)
{
	if (c->f)
		fclose(c->f);
	c->f = NULL;
	return c->buf;
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (!j)
		fprintf(stderr, "bad test JSON: %s\n", err.text);
	return j;
}

static void test_human_bytes(void)
{
	char b[OUTPUT_HUMAN_LEN];

	output_human_bytes(0, b, sizeof(b));
	CHECK_EQ_STR(b, "0 B");
	output_human_bytes(1023, b, sizeof(b));
	CHECK_EQ_STR(b, "1023 B");
	output_human_bytes(1024, b, sizeof(b));
	CHECK_EQ_STR(b, "1.0 KiB");
	output_human_bytes(1536, b, sizeof(b));
	CHECK_EQ_STR(b, "1.5 KiB");
	/* 1023.95 KiB would print as 1024.0 KiB: it is 1.0 MiB */
	output_human_bytes(1048524, b, sizeof(b));
	CHECK_EQ_STR(b, "1023.9 KiB");
	output_human_bytes(1048525, b, sizeof(b));
	CHECK_EQ_STR(b, "1.0 MiB");
	output_human_bytes(3ull << 20, b, sizeof(b));
	CHECK_EQ_STR(b, "3.0 MiB");
	output_human_bytes((2ull << 30) + (1ull << 27), b, sizeof(b));
	CHECK_EQ_STR(b, "2.1 GiB");
	output_human_bytes(5ull << 40, b, sizeof(b));
	CHECK_EQ_STR(b, "5.0 TiB");
	output_human_byte_rate(100.7, b, sizeof(b));
	CHECK_EQ_STR(b, "100.7 B/s");
	output_human_byte_rate(0, b, sizeof(b));
	CHECK_EQ_STR(b, "0.0 B/s");
	output_human_byte_rate(1536, b, sizeof(b));
	CHECK_EQ_STR(b, "1.5 KiB/s");
	output_human_byte_rate(-3, b, sizeof(b));
	CHECK_EQ_STR(b, "0.0 B/s");
}

static void test_human_counts(void)
{
	char b[OUTPUT_HUMAN_LEN];

	output_human_count(0, b, sizeof(b));
	CHECK_EQ_STR(b, "0");
	output_human_count(999, b, sizeof(b));
	CHECK_EQ_STR(b, "999");
	output_human_count(1000, b, sizeof(b));
	CHECK_EQ_STR(b, "1.0k");
	output_human_count(1234, b, sizeof(b));
	CHECK_EQ_STR(b, "1.2k");
	output_human_count(999949, b, sizeof(b));
	CHECK_EQ_STR(b, "999.9k");
	output_human_count(999950, b, sizeof(b));
	CHECK_EQ_STR(b, "1.0M");
	output_human_count(2500000000ull, b, sizeof(b));
	CHECK_EQ_STR(b, "2.5G");
	output_human_rate(1.2, b, sizeof(b));
	CHECK_EQ_STR(b, "1.2");
	output_human_rate(12345, b, sizeof(b));
	CHECK_EQ_STR(b, "12.3k");
	output_human_rate(0, b, sizeof(b));
	CHECK_EQ_STR(b, "0.0");
	output_human_duration(45, b, sizeof(b));
	CHECK_EQ_STR(b, "45s");
	output_human_duration(307, b, sizeof(b));
	CHECK_EQ_STR(b, "5m7s");
	output_human_duration(14700, b, sizeof(b));
	CHECK_EQ_STR(b, "4h5m");
	output_human_duration(93600, b, sizeof(b));
	CHECK_EQ_STR(b, "1d2h");
}

static void test_format_and_width(void)
{
	enum output_format f = OUTPUT_TABLE;

	CHECK_EQ_INT(output_format_parse("csv", &f), 0);
	CHECK_EQ_INT(f, OUTPUT_CSV);
	CHECK_EQ_INT(output_format_parse("json", &f), 0);
	CHECK_EQ_INT(f, OUTPUT_JSON);
	CHECK_EQ_INT(output_format_parse("table", &f), 0);
	CHECK_EQ_INT(f, OUTPUT_TABLE);
	CHECK_EQ_INT(output_format_parse("xml", &f), -EINVAL);
	CHECK_EQ_INT(output_format_parse("JSON", &f), -EINVAL);

	setenv("COLUMNS", "73", 1);
	CHECK_EQ_INT(output_width(-1), 73);
	setenv("COLUMNS", "wide", 1);
	CHECK_EQ_INT(output_width(-1), OUTPUT_DEFAULT_WIDTH);
	unsetenv("COLUMNS");
	CHECK_EQ_INT(output_width(-1), OUTPUT_DEFAULT_WIDTH); /* not a terminal */
}

static const struct output_column conn_cols[] = {
    {"PROTO", "protocol", NULL, OUTPUT_TEXT, 0, 0},
    {"SRC", "src_ip", "src_port", OUTPUT_ENDPOINT, 0, 0},
    {"DST", "dst_ip", "dst_port", OUTPUT_ENDPOINT, 0, 0},
    {"PACKETS", "stats.packets_count", NULL, OUTPUT_COUNT, 0, 0},
    {"BYTES", "stats.bytes", NULL, OUTPUT_BYTES, 1, 0},
    {"DOMAIN", "domain", NULL, OUTPUT_TEXT, 2, 8},
    {"SEEN", "last_seen", NULL, OUTPUT_TIME, 3, 0},
};

static const char conn_json[] =
    "[{\"protocol\":\"udp\",\"src_ip\":\"10.0.0.2\",\"src_port\":7001,\"dst_ip\":\"10.0.0.1\","
    "\"dst_port\":53,\"stats\":{\"packets_count\":5,\"bytes\":240},"
    "\"domain\":\"api.example.com\",\"last_seen\":1795876604776},"
    "{\"protocol\":\"tcp\",\"src_ip\":\"fd00::2\",\"src_port\":443,\"dst_ip\":\"fd00::1\","
    "\"dst_port\":50000,\"stats\":{\"packets_count\":123456,\"bytes\":1536},"
    "\"domain\":null,\"last_seen\":0},"
    "{\"protocol\":\"icmp\",\"src_ip\":\"10.0.0.3\",\"src_port\":0,\"dst_ip\":\"10.0.0.1\","
    "\"dst_port\":0,\"stats\":{\"packets_count\":4},\"domain\":\"bad\\u001b[2Jname\"}]";

static void test_table_wide(void)
{
	struct capture c;
	json_t *rows = parse(conn_json);
	char *text;

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 7, rows, 200), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(
	    text, "PROTO  SRC            DST              PACKETS    BYTES  DOMAIN           SEEN\n"
		  "udp    10.0.0.2:7001  10.0.0.1:53            5    240 B  api.example.com  "
		  "2026-11-28 14:36:44\n"
		  "tcp    [fd00::2]:443  [fd00::1]:50000   123.5k  1.5 KiB  -                -\n"
		  "icmp   10.0.0.3:0     10.0.0.1:0             4        -  bad?[2Jname      -\n");
	free(text);
	json_decref(rows);
}

/* The whole table is 93 columns wide. At 66 the least important columns give way:
 * SEEN (drop 3) is dropped, then DOMAIN (drop 2) is truncated to 9 columns (its minimum
 * is 8); at 60 truncating DOMAIN is not enough and it is dropped too; at 45 BYTES goes;
 * the essential columns stay even when they do not fit (10). */
static void test_table_narrow(void)
{
	struct capture c;
	json_t *rows = parse(conn_json);
	char *text;

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 7, rows, 66), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "PROTO  SRC            DST              PACKETS    BYTES  DOMAIN\n"
			   "udp    10.0.0.2:7001  10.0.0.1:53            5    240 B  api.exam~\n"
			   "tcp    [fd00::2]:443  [fd00::1]:50000   123.5k  1.5 KiB  -\n"
			   "icmp   10.0.0.3:0     10.0.0.1:0             4        -  bad?[2Jn~\n");
	free(text);

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 7, rows, 60), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "PROTO  SRC            DST              PACKETS    BYTES\n"
			   "udp    10.0.0.2:7001  10.0.0.1:53            5    240 B\n"
			   "tcp    [fd00::2]:443  [fd00::1]:50000   123.5k  1.5 KiB\n"
			   "icmp   10.0.0.3:0     10.0.0.1:0             4        -\n");
	free(text);

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 7, rows, 45), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "PROTO  SRC            DST              PACKETS\n"
			   "udp    10.0.0.2:7001  10.0.0.1:53            5\n"
			   "tcp    [fd00::2]:443  [fd00::1]:50000   123.5k\n"
			   "icmp   10.0.0.3:0     10.0.0.1:0             4\n");
	free(text);

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 7, rows, 10), 0);
	text = cap_end(&c);
	CHECK_CONTAINS(text, "PROTO  SRC            DST              PACKETS\n");
	free(text);
	json_decref(rows);
}

static void test_table_empty_and_errors(void)
{
	struct capture c;
	json_t *rows = json_array(), *obj = json_object();
	char *text;

	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 4, rows, 100), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "PROTO  SRC  DST  PACKETS\n");
	free(text);
	CHECK_EQ_INT(output_table(cap_start(&c), conn_cols, 4, obj, 100), -EINVAL);
	free(cap_end(&c));
	json_decref(rows);
	json_decref(obj);
}

static void test_table_kinds(void)
{
	static const struct output_column cols[] = {
	    {"NAME", "name", NULL, OUTPUT_TEXT, 0, 0},
	    {"UP", "connected", NULL, OUTPUT_BOOL, 0, 0},
	    {"LOST", "lost", NULL, OUTPUT_SUM, 0, 0},
	    {"RATE", "pps", NULL, OUTPUT_RATE, 0, 0},
	    {"BPS", "bps", NULL, OUTPUT_BYTE_RATE, 0, 0},
	    {"UPTIME", "up", NULL, OUTPUT_DURATION, 0, 0},
	    {"V", "v", NULL, OUTPUT_INT, 0, 0},
	};
	json_t *rows = parse("[{\"name\":\"node-a\",\"connected\":true,"
			     "\"lost\":{\"a\":2,\"b\":1500},\"pps\":1234.5,\"bps\":2048.0,"
			     "\"up\":3700,\"v\":4},"
			     "{\"name\":\"b\",\"connected\":false,\"lost\":{},\"pps\":0.5,"
			     "\"bps\":10,\"up\":5,\"v\":6}]");
	struct capture c;
	char *text;

	CHECK_EQ_INT(output_table(cap_start(&c), cols, 7, rows, 100), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "NAME    UP   LOST  RATE        BPS  UPTIME  V\n"
			   "node-a  yes  1.5k  1.2k  2.0 KiB/s    1h1m  4\n"
			   "b       no      0   0.5   10.0 B/s      5s  6\n");
	free(text);
	json_decref(rows);
}

static void test_csv(void)
{
	static const char *const keys[] = {"name", "n",	      "rate",	"flag",
					   "none", "stats.x", "missing"};
	json_t *rows = parse("[{\"name\":\"a,b\",\"n\":5,\"rate\":0.5,\"flag\":true,\"none\":null,"
			     "\"stats\":{\"x\":240}},"
			     "{\"name\":\"say \\\"hi\\\"\\nbye\",\"n\":18446744073709,"
			     "\"rate\":0.0,\"flag\":false,\"none\":\"x\",\"stats\":{}}]");
	struct capture c;
	char *text;

	CHECK_EQ_INT(output_csv(cap_start(&c), keys, 7, rows), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "name,n,rate,flag,none,stats.x,missing\n"
			   "\"a,b\",5,0.5,true,,240,\n"
			   "\"say \"\"hi\"\"\nbye\",18446744073709,0.0,false,x,,\n");
	free(text);
	json_decref(rows);

	rows = json_array();
	CHECK_EQ_INT(output_csv(cap_start(&c), keys, 2, rows), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "name,n\n");
	free(text);
	json_decref(rows);
}

static void test_csv_object(void)
{
	json_t *obj = parse("{\"uptime\":5,\"lost\":{\"a\":0,\"b\":3},\"nodes\":[1,2],"
			    "\"deep\":{\"x\":{\"y\":\"z\"}},\"note\":null,\"s\":\"q\\\"\"}");
	struct capture c;
	char *text;

	CHECK_EQ_INT(output_csv_object(cap_start(&c), obj, true), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "uptime,lost.a,lost.b,deep.x.y,note,s\n"
			   "5,0,3,z,,\"q\"\"\"\n");
	free(text);
	CHECK_EQ_INT(output_csv_object(cap_start(&c), obj, false), 0);
	text = cap_end(&c);
	CHECK_EQ_STR(text, "5,0,3,z,,\"q\"\"\"\n");
	free(text);
	json_decref(obj);
}

int main(void)
{
	/* table times are local time: make them the same everywhere */
	setenv("TZ", "UTC", 1);
	tzset();
	test_human_bytes();
	test_human_counts();
	test_format_and_width();
	test_table_wide();
	test_table_narrow();
	test_table_empty_and_errors();
	test_table_kinds();
	test_csv();
	test_csv_object();
	return check_exit();
}
