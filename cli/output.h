/* output.h - how ayaflowctl shows the collector's JSON: aligned tables with human units
 * that fit the terminal, and CSV. Pure rendering from jansson values to a FILE; no I/O
 * besides the writes, so the unit tests render into memory and compare exact text.
 * (JSON output needs nothing here: it is the API's body, unchanged.) */
#ifndef AYAFLOW_CLI_OUTPUT_H
#define AYAFLOW_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#define OUTPUT_DEFAULT_WIDTH 100 /* columns when stdout is not a terminal */
#define OUTPUT_HUMAN_LEN     32	 /* enough for any output_human_* text */

enum output_format {
	OUTPUT_TABLE,
	OUTPUT_JSON,
	OUTPUT_CSV,
};

/* How a table cell shows its JSON value. Missing or null values show as "-". */
enum output_kind {
	OUTPUT_TEXT,	  /* strings as they are (control characters as '?'), numbers as in JSON */
	OUTPUT_INT,	  /* an integer as it is, right-aligned (ports, versions) */
	OUTPUT_COUNT,	  /* 999, 1.2k, 3.4M, 5.6G */
	OUTPUT_BYTES,	  /* 512 B, 1.5 KiB, 3.0 MiB, 2.1 GiB */
	OUTPUT_RATE,	  /* per second: 0.5, 1.2k */
	OUTPUT_BYTE_RATE, /* 100.7 B/s, 1.5 KiB/s */
	OUTPUT_TIME,	  /* Unix ms as local time 2026-11-28 14:00:05; 0 = "-" */
	OUTPUT_DURATION,  /* seconds: 45s, 5m7s, 4h5m, 1d2h */
	OUTPUT_ENDPOINT,  /* key = address, key2 = port: 10.0.0.1:53, [fd00::1]:53 */
	OUTPUT_BOOL,	  /* yes, no */
	OUTPUT_SUM,	  /* the sum of an object's numbers (a loss ledger), as a count */
};

/* One table column. When the table is wider than the terminal, the columns with the
 * highest `drop` go first: a column with min_width > 0 is first truncated (down to
 * min_width, its last character replaced by '~'), and dropped if that is not enough
 * and drop > 0. Columns with drop = 0 and min_width = 0 always stay whole. */
struct output_column {
	const char *header;
	const char *key;  /* JSON member, '.' descends into objects ("stats.bytes_sent") */
	const char *key2; /* OUTPUT_ENDPOINT: the port member */
	enum output_kind kind;
	unsigned int drop;
	unsigned int min_width;
};

/* "table", "json", "csv" -> *out; -EINVAL for anything else. */
int output_format_parse(const char *s, enum output_format *out);

/* The width to fit: $COLUMNS when it is a number, else the terminal of fd, else
 * OUTPUT_DEFAULT_WIDTH. */
unsigned int output_width(int fd);

/* Human units, always NUL-terminated in buf (len >= OUTPUT_HUMAN_LEN is enough). */
void output_human_bytes(uint64_t bytes, char *buf, size_t len);
void output_human_byte_rate(double bytes_per_second, char *buf, size_t len);
void output_human_count(uint64_t count, char *buf, size_t len);
void output_human_rate(double per_second, char *buf, size_t len);
void output_human_duration(uint64_t seconds, char *buf, size_t len);

/* An aligned table of the objects in the array rows: a header row, then one line per
 * object, columns separated by two spaces, no trailing blanks, fit to width as said at
 * struct output_column. An empty array prints the header only. 0 or -EIO (write error),
 * -ENOMEM, -EINVAL (rows not an array). */
int output_table(FILE *out, const struct output_column *cols, size_t ncols, const json_t *rows,
		 unsigned int width);

/* CSV of the objects in rows: a header row of the keys, then one row per object with
 * the values as the API wrote them (numbers in JSON text, strings unquoted, null empty,
 * arrays and objects as compact JSON). RFC 4180 quoting: a field holding a comma, a
 * double quote, CR or LF is put in double quotes with its quotes doubled. Lines end in
 * "\n". Errors as output_table. */
int output_csv(FILE *out, const char *const *keys, size_t nkeys, const json_t *rows);

/* CSV of one object as one row: nested objects are flattened with '.' between the
 * keys ("lost_packets.unparsable"), arrays are left out. With header false only the
 * value row is written (for a stream of rows under one header). */
int output_csv_object(FILE *out, const json_t *obj, bool header);

#endif
