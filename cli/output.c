/* output.c - tables and CSV for ayaflowctl (see output.h). A table is built in two
 * passes: every cell is formatted first (so that the column widths are known), then the
 * columns that do not fit are truncated or dropped, least important first, and the
 * lines are written. Widths count UTF-8 code points: jansson hands us valid UTF-8, and
 * names and domains are ASCII in practice. */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_SEP_LEN	 2
#define OUTPUT_KEY_MAX	 256
#define OUTPUT_WIDTH_MAX 10000

int output_format_parse(const char *s, enum output_format *out)
{
	if (strcmp(s, "table") == 0)
		*out = OUTPUT_TABLE;
	else if (strcmp(s, "json") == 0)
		*out = OUTPUT_JSON;
	else if (strcmp(s, "csv") == 0)
		*out = OUTPUT_CSV;
	else
		return -EINVAL;
	return 0;
}

unsigned int output_width(int fd)
{
	const char *env = getenv("COLUMNS");
	struct winsize ws;

	if (env && *env) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(env, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0 && v <= OUTPUT_WIDTH_MAX)
			return (unsigned int)v;
	}
	if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return OUTPUT_DEFAULT_WIDTH;
}

/* --- human units --- */

/* value / base^k with one decimal, k chosen so that the printed number stays below base
 * (1023.96 KiB prints as 1.0 MiB, not 1024.0 KiB). */
static void output_scaled(double v, double base, const char *const *units, size_t nunits,
			  const char *suffix, char *buf, size_t len)
{
	size_t k = 0;

	while (k + 1 < nunits && v >= base - 0.05) {
		v /= base;
		k++;
	}
	snprintf(buf, len, "%.1f%s%s", v, units[k], suffix);
}

static const char *const output_byte_units[] = {" B",	" KiB", " MiB", " GiB",
						" TiB", " PiB", " EiB"};
static const char *const output_count_units[] = {"", "k", "M", "G", "T", "P", "E"};

void output_human_bytes(uint64_t bytes, char *buf, size_t len)
{
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return;
	}
	output_scaled((double)bytes, 1024, output_byte_units, 7, "", buf, len);
}

void output_human_byte_rate(double bytes_per_second, char *buf, size_t len)
{
	if (!(bytes_per_second >= 0)) /* NaN too */
		bytes_per_second = 0;
	output_scaled(bytes_per_second, 1024, output_byte_units, 7, "/s", buf, len);
}

void output_human_count(uint64_t count, char *buf, size_t len)
{
	if (count < 1000) {
		snprintf(buf, len, "%" PRIu64, count);
		return;
	}
	output_scaled((double)count, 1000, output_count_units, 7, "", buf, len);
}

void output_human_rate(double per_second, char *buf, size_t len)
{
	if (!(per_second >= 0))
		per_second = 0;
	output_scaled(per_second, 1000, output_count_units, 7, "", buf, len);
}

void output_human_duration(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* --- cells --- */

/* The member at a '.'-separated path, or NULL. */
static const json_t *output_lookup(const json_t *obj, const char *path)
{
	char seg[OUTPUT_KEY_MAX];

	while (obj && json_is_object(obj)) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		obj = json_object_get(obj, seg);
		if (!dot)
			return obj;
		path = dot + 1;
	}
	return NULL;
}

static bool output_is_numeric(enum output_kind kind)
{
	switch (kind) {
	case OUTPUT_INT:
	case OUTPUT_COUNT:
	case OUTPUT_BYTES:
	case OUTPUT_RATE:
	case OUTPUT_BYTE_RATE:
	case OUTPUT_DURATION:
	case OUTPUT_SUM:
		return true;
	default:
		return false;
	}
}

/* A JSON number as an unsigned count (negative and fractional parts cut). */
static uint64_t output_u64(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	d = json_number_value(v);
	return d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
}

/* A copy of s with control characters replaced, so that a hostile name cannot move the
 * cursor or change colours on the user's terminal. */
static char *output_sanitize(const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return copy;
}

static void output_time(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0 || !localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
}

static char *output_endpoint(const json_t *row, const struct output_column *col)
{
	const json_t *ip = output_lookup(row, col->key);
	const json_t *port = col->key2 ? output_lookup(row, col->key2) : NULL;
	const char *addr;
	char *s = NULL, *clean;
	int n;

	if (!json_is_string(ip))
		return strdup("-");
	addr = json_string_value(ip);
	if (!json_is_integer(port))
		return output_sanitize(addr);
	if (strchr(addr, ':'))
		n = asprintf(&s, "[%s]:%" JSON_INTEGER_FORMAT, addr, json_integer_value(port));
	else
		n = asprintf(&s, "%s:%" JSON_INTEGER_FORMAT, addr, json_integer_value(port));
	if (n < 0)
		return NULL;
	clean = output_sanitize(s);
	free(s);
	return clean;
}

/* The text of one cell (a new string), NULL on ENOMEM. */
static char *output_cell(const json_t *row, const struct output_column *col)
{
	const json_t *v;
	char buf[OUTPUT_HUMAN_LEN];

	if (col->kind == OUTPUT_ENDPOINT)
		return output_endpoint(row, col);
	v = output_lookup(row, col->key);
	if (!v || json_is_null(v))
		return strdup("-");
	if (col->kind == OUTPUT_SUM) {
		const char *k;
		const json_t *item;
		uint64_t sum = 0;

		if (!json_is_object(v))
			return strdup("-");
		json_object_foreach((json_t *)v, k, item) sum += output_u64(item);
		output_human_count(sum, buf, sizeof(buf));
		return strdup(buf);
	}
	if (col->kind == OUTPUT_BOOL)
		return strdup(json_is_boolean(v) ? (json_is_true(v) ? "yes" : "no") : "-");
	if (json_is_string(v))
		return output_sanitize(*json_string_value(v) ? json_string_value(v) : "-");
	if (!json_is_number(v)) {
		if (json_is_boolean(v))
			return strdup(json_is_true(v) ? "true" : "false");
		return strdup("-");
	}
	switch (col->kind) {
	case OUTPUT_COUNT:
		output_human_count(output_u64(v), buf, sizeof(buf));
		break;
	case OUTPUT_BYTES:
		output_human_bytes(output_u64(v), buf, sizeof(buf));
		break;
	case OUTPUT_RATE:
		output_human_rate(json_number_value(v), buf, sizeof(buf));
		break;
	case OUTPUT_BYTE_RATE:
		output_human_byte_rate(json_number_value(v), buf, sizeof(buf));
		break;
	case OUTPUT_TIME:
		output_time(output_u64(v), buf, sizeof(buf));
		break;
	case OUTPUT_DURATION:
		output_human_duration(output_u64(v), buf, sizeof(buf));
		break;
	default:
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			snprintf(buf, sizeof(buf), "%.1f", json_real_value(v));
		break;
	}
	return strdup(buf);
}

/* --- tables --- */

/* Display width: UTF-8 code points. */
static size_t output_dwidth(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* A line being written: blanks are held back until something follows them, so that no
 * line ends in blanks (a last column of "" or a left-aligned cell). */
struct output_line {
	FILE *out;
	size_t blanks;
};

static void output_blanks(struct output_line *l, size_t n)
{
	l->blanks += n;
}

static void output_text(struct output_line *l, const char *s, size_t n)
{
	if (n == 0)
		return;
	fprintf(l->out, "%*s", (int)l->blanks, "");
	l->blanks = 0;
	fwrite(s, 1, n, l->out);
}

/* Writes s in exactly w columns: truncated with '~' when longer, else padded with blanks
 * on the left (right aligned) or on the right. */
static void output_put(struct output_line *l, const char *s, size_t w, bool right)
{
	size_t dw = output_dwidth(s);

	if (dw > w) {
		size_t cps = 0;
		const char *p = s;

		if (w == 0)
			return;
		/* w - 1 code points, then the mark */
		while (*p) {
			if (((unsigned char)*p & 0xc0) != 0x80) {
				if (cps == w - 1)
					break;
				cps++;
			}
			p++;
		}
		output_text(l, s, (size_t)(p - s));
		output_text(l, "~", 1);
		return;
	}
	if (right)
		output_blanks(l, w - dw);
	output_text(l, s, strlen(s));
	if (!right)
		output_blanks(l, w - dw);
}

/* The columns that may give up space, least important first: higher drop first, the
 * rightmost first among equals. Writes their indexes to order[]; returns how many. */
static size_t output_shrink_order(const struct output_column *cols, size_t ncols, size_t *order)
{
	size_t n = 0;

	for (size_t i = ncols; i-- > 0;) {
		size_t j;

		if (cols[i].drop == 0 && cols[i].min_width == 0)
			continue;
		/* insertion sort, stable: i runs right to left */
		for (j = n; j > 0 && cols[order[j - 1]].drop < cols[i].drop; j--)
			order[j] = order[j - 1];
		order[j] = i;
		n++;
	}
	return n;
}

/* Decides each column's width; 0 = dropped. */
static void output_fit(const struct output_column *cols, size_t ncols, size_t *w,
		       unsigned int width, size_t *order)
{
	size_t total = 0, nvis = ncols, n;

	for (size_t i = 0; i < ncols; i++)
		total += w[i];
	total += (ncols - 1) * OUTPUT_SEP_LEN;
	n = output_shrink_order(cols, ncols, order);
	for (size_t k = 0; k < n && total > width; k++) {
		size_t i = order[k], excess = total - width;
		size_t min = cols[i].min_width;

		if (min > 0 && w[i] > min && w[i] - min >= excess) {
			w[i] -= excess;
			total -= excess;
		} else if (cols[i].drop > 0 && nvis > 1) {
			total -= w[i] + OUTPUT_SEP_LEN;
			w[i] = 0;
			nvis--;
		} else if (min > 0 && w[i] > min) {
			total -= w[i] - min;
			w[i] = min;
		}
	}
}

int output_table(FILE *out, const struct output_column *cols, size_t ncols, const json_t *rows,
		 unsigned int width)
{
	size_t nrows, *w = NULL, *order = NULL;
	char **cells = NULL;
	int ret = -ENOMEM;

	if (!json_is_array(rows) || ncols == 0)
		return -EINVAL;
	nrows = json_array_size(rows);
	cells = calloc((nrows + 1) * ncols, sizeof(*cells));
	w = calloc(ncols, sizeof(*w));
	order = calloc(ncols, sizeof(*order));
	if (!cells || !w || !order)
		goto out;
	for (size_t c = 0; c < ncols; c++) {
		cells[c] = strdup(cols[c].header);
		if (!cells[c])
			goto out;
		w[c] = output_dwidth(cells[c]);
	}
	for (size_t r = 0; r < nrows; r++) {
		const json_t *row = json_array_get(rows, r);

		for (size_t c = 0; c < ncols; c++) {
			char *s = output_cell(row, &cols[c]);
			size_t dw;

			if (!s)
				goto out;
			cells[(r + 1) * ncols + c] = s;
			dw = output_dwidth(s);
			if (dw > w[c])
				w[c] = dw;
		}
	}
	output_fit(cols, ncols, w, width, order);
	for (size_t r = 0; r <= nrows; r++) {
		struct output_line line = {.out = out};
		bool first = true;

		for (size_t c = 0; c < ncols; c++) {
			if (!w[c])
				continue;
			if (!first)
				output_blanks(&line, OUTPUT_SEP_LEN);
			first = false;
			output_put(&line, cells[r * ncols + c], w[c],
				   output_is_numeric(cols[c].kind));
		}
		fputc('\n', out);
	}
	ret = ferror(out) ? -EIO : 0;
out:
	if (cells) {
		for (size_t i = 0; i < (nrows + 1) * ncols; i++)
			free(cells[i]);
	}
	free(cells);
	free(w);
	free(order);
	return ret;
}

/* --- CSV --- */

static void output_csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* A value as the API wrote it: strings without quotes, null empty, the rest as compact
 * JSON (jansson prints numbers the way the collector, also jansson, did). */
static int output_csv_value(FILE *out, const json_t *v)
{
	char *s;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		output_csv_field(out, json_string_value(v));
		return 0;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return -ENOMEM;
	output_csv_field(out, s);
	free(s);
	return 0;
}

int output_csv(FILE *out, const char *const *keys, size_t nkeys, const json_t *rows)
{
	size_t i;
	const json_t *row;

	if (!json_is_array(rows))
		return -EINVAL;
	for (size_t k = 0; k < nkeys; k++) {
		if (k)
			fputc(',', out);
		output_csv_field(out, keys[k]);
	}
	fputc('\n', out);
	json_array_foreach(rows, i, row)
	{
		for (size_t k = 0; k < nkeys; k++) {
			if (k)
				fputc(',', out);
			if (output_csv_value(out, output_lookup(row, keys[k])) < 0)
				return -ENOMEM;
		}
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}

/* Walks obj depth first in document order, writing either the flattened keys (prefix
 * joined with '.') or the values; *first tracks the separators. */
static int output_csv_walk(FILE *out, const json_t *obj, const char *prefix, bool header,
			   bool *first)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		char path[OUTPUT_KEY_MAX * 2];

		if (json_is_array(v))
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (json_is_object(v)) {
			if (output_csv_walk(out, v, path, header, first) < 0)
				return -ENOMEM;
			continue;
		}
		if (!*first)
			fputc(',', out);
		*first = false;
		if (header)
			output_csv_field(out, path);
		else if (output_csv_value(out, v) < 0)
			return -ENOMEM;
	}
	return 0;
}

int output_csv_object(FILE *out, const json_t *obj, bool header)
{
	bool first = true;

	if (!json_is_object(obj))
		return -EINVAL;
	if (header) {
		if (output_csv_walk(out, obj, "", true, &first) < 0)
			return -ENOMEM;
		fputc('\n', out);
		first = true;
	}
	if (output_csv_walk(out, obj, "", false, &first) < 0)
		return -ENOMEM;
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}
