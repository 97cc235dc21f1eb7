/* prom.c - Prometheus text exposition format 0.0.4 writer used by the /metrics endpoints
 * of node and collector, plus the standard process_* metrics read from /proc/self.
 * The writer appends to one growing buffer (bounded at PROM_MAX_BYTES) and remembers the
 * first error, so callers write a whole document and check w->err (or prom_take) once.
 * Names are validated so a caller's typo yields -EINVAL instead of a document that
 * Prometheus rejects. */
#include "prom.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A scrape larger than this is a bug (unbounded label cardinality), not a metric. */
#define PROM_MAX_BYTES ((size_t)16 << 20)
#define PROM_MIN_CAP   4096

void prom_init(struct prom_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void prom_fini(struct prom_writer *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

char *prom_take(struct prom_writer *w, size_t *len)
{
	char *buf;

	if (w->err != 0) {
		errno = -w->err;
		prom_fini(w);
		return NULL;
	}
	buf = w->buf;
	if (buf == NULL) {
		buf = strdup("");
		if (buf == NULL)
			return NULL;
	}
	if (len != NULL)
		*len = w->len;
	memset(w, 0, sizeof(*w));
	return buf;
}

/* Makes room for n more bytes plus the terminating NUL. */
static bool prom_reserve(struct prom_writer *w, size_t n)
{
	size_t need, cap;
	char *grown;

	if (w->err != 0)
		return false;
	if (n > PROM_MAX_BYTES || w->len + n + 1 > PROM_MAX_BYTES) {
		w->err = -ENOBUFS;
		return false;
	}
	need = w->len + n + 1;
	if (need <= w->cap)
		return true;
	cap = w->cap ? w->cap : PROM_MIN_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > PROM_MAX_BYTES)
		cap = PROM_MAX_BYTES;
	grown = realloc(w->buf, cap);
	if (grown == NULL) {
		w->err = -ENOMEM;
		return false;
	}
	w->buf = grown;
	w->cap = cap;
	return true;
}

static void prom_put(struct prom_writer *w, const char *s, size_t n)
{
	if (!prom_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void prom_puts(struct prom_writer *w, const char *s)
{
	prom_put(w, s, strlen(s));
}

/* Escapes '\\' and '\n' (HELP text) and also '"' when quotes is set (label values). */
static void prom_put_escaped(struct prom_writer *w, const char *s, bool quotes)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quotes)
			rep = "\\\"";
		if (rep == NULL)
			continue;
		prom_put(w, run, (size_t)(s - run));
		prom_puts(w, rep);
		run = s + 1;
	}
	prom_put(w, run, (size_t)(s - run));
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; no ':' in label names. */
static bool prom_valid_name(const char *s, bool colon)
{
	const char *p;

	if (s == NULL || *s == '\0')
		return false;
	for (p = s; *p != '\0'; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (p != s && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static void prom_fail(struct prom_writer *w, int err)
{
	if (w->err == 0)
		w->err = err;
}

void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help)
{
	static const char *const types[] = {"counter", "gauge",	    "untyped",
					    "summary", "histogram", NULL};
	size_t i;

	if (w->err != 0)
		return;
	if (!prom_valid_name(name, true) || type == NULL) {
		prom_fail(w, -EINVAL);
		return;
	}
	for (i = 0; types[i] != NULL; i++)
		if (strcmp(types[i], type) == 0)
			break;
	if (types[i] == NULL) {
		prom_fail(w, -EINVAL);
		return;
	}
	if (help != NULL && *help != '\0') {
		prom_puts(w, "# HELP ");
		prom_puts(w, name);
		prom_puts(w, " ");
		prom_put_escaped(w, help, false);
		prom_puts(w, "\n");
	}
	prom_puts(w, "# TYPE ");
	prom_puts(w, name);
	prom_puts(w, " ");
	prom_puts(w, type);
	prom_puts(w, "\n");
}

/* Writes 'name{l="v",...} ' from the NULL-terminated name/value pairs. */
static void prom_sample_start(struct prom_writer *w, const char *name, va_list ap)
{
	const char *label, *value;
	bool first = true;

	if (!prom_valid_name(name, true)) {
		prom_fail(w, -EINVAL);
		return;
	}
	prom_puts(w, name);
	while ((label = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL || !prom_valid_name(label, false)) {
			prom_fail(w, -EINVAL);
			return;
		}
		prom_puts(w, first ? "{" : ",");
		prom_puts(w, label);
		prom_puts(w, "=\"");
		prom_put_escaped(w, value, true);
		prom_puts(w, "\"");
		first = false;
	}
	prom_puts(w, first ? " " : "} ");
}

void prom_sample_u64(struct prom_writer *w, const char *name, uint64_t value, ...)
{
	char num[32];
	va_list ap;

	if (w->err != 0)
		return;
	va_start(ap, value);
	prom_sample_start(w, name, ap);
	va_end(ap);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", value);
	prom_puts(w, num);
}

void prom_sample_f64(struct prom_writer *w, const char *name, double value, ...)
{
	char num[40];
	va_list ap;

	if (w->err != 0)
		return;
	va_start(ap, value);
	prom_sample_start(w, name, ap);
	va_end(ap);
	if (isnan(value))
		snprintf(num, sizeof(num), "NaN\n");
	else if (isinf(value))
		snprintf(num, sizeof(num), "%s\n", value > 0 ? "+Inf" : "-Inf");
	else
		snprintf(num, sizeof(num), "%.17g\n", value);
	prom_puts(w, num);
}

/* Reads a small /proc file into buf (NUL-terminated). Returns 0 or a negative errno. */
static int prom_read_file(const char *path, char *buf, size_t size)
{
	FILE *f;
	size_t n;
	int ret = 0;

	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	if (ferror(f))
		ret = -EIO;
	buf[n] = '\0';
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* utime, stime and starttime (clock ticks) from /proc/self/stat. */
static int prom_read_stat(uint64_t *utime, uint64_t *stime, uint64_t *starttime)
{
	char buf[4096];
	unsigned long long f[19];
	char *p;
	int ret;

	ret = prom_read_file("/proc/self/stat", buf, sizeof(buf));
	if (ret < 0)
		return ret;
	/* comm may contain spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return -EIO;
	/* Field 3 is the state; f[i] is field i + 4 (ppid) up to field 22 (starttime). */
	if (sscanf(p + 1,
		   " %*c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
		   "%llu %llu %llu %llu %llu",
		   &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
		   &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]) != 19)
		return -EIO;
	*utime = f[14 - 4];
	*stime = f[15 - 4];
	*starttime = f[22 - 4];
	return 0;
}

/* Boot time (seconds since the epoch) from the "btime" line of /proc/stat. The file is
 * read line by line: with many CPUs it is larger than any fixed buffer. */
static int prom_read_btime(uint64_t *btime)
{
	unsigned long long v;
	char *line = NULL;
	size_t size = 0;
	int ret = -EIO;
	FILE *f;

	f = fopen("/proc/stat", "re");
	if (f == NULL)
		return -errno;
	while (getline(&line, &size, f) >= 0) {
		if (strncmp(line, "btime ", 6) == 0) {
			if (sscanf(line + 6, "%llu", &v) == 1) {
				*btime = v;
				ret = 0;
			}
			break;
		}
	}
	free(line);
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* Virtual and resident size in pages from /proc/self/statm. */
static int prom_read_statm(uint64_t *size, uint64_t *resident)
{
	char buf[256];
	unsigned long long s, r;
	int ret;

	ret = prom_read_file("/proc/self/statm", buf, sizeof(buf));
	if (ret < 0)
		return ret;
	if (sscanf(buf, "%llu %llu", &s, &r) != 2)
		return -EIO;
	*size = s;
	*resident = r;
	return 0;
}

/* Open descriptors, not counting the one used to list them. */
static int prom_count_fds(uint64_t *count)
{
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;
	int self;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -errno;
	self = dirfd(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd;

		if (de->d_name[0] == '.')
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end == '\0' && fd == self)
			continue;
		n++;
	}
	if (errno != 0) {
		int ret = -errno;

		closedir(d);
		return ret;
	}
	if (closedir(d) != 0)
		return -errno;
	*count = n;
	return 0;
}

int prom_write_process(struct prom_writer *w)
{
	uint64_t utime = 0, stime = 0, starttime = 0, btime = 0, vsize = 0, rss = 0, fds = 0;
	struct rlimit rl;
	long ticks, page;
	int ret;

	if (w->err != 0)
		return w->err;
	ticks = sysconf(_SC_CLK_TCK);
	page = sysconf(_SC_PAGESIZE);
	if (ticks <= 0 || page <= 0)
		return -EINVAL;
	/* Everything is read first so that a failure writes nothing. */
	ret = prom_read_stat(&utime, &stime, &starttime);
	if (ret < 0)
		return ret;
	ret = prom_read_btime(&btime);
	if (ret < 0)
		return ret;
	ret = prom_read_statm(&vsize, &rss);
	if (ret < 0)
		return ret;
	ret = prom_count_fds(&fds);
	if (ret < 0)
		return ret;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;

	prom_family(w, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.");
	prom_sample_f64(w, "process_cpu_seconds_total", (double)(utime + stime) / (double)ticks,
			NULL);
	prom_family(w, "process_open_fds", "gauge", "Number of open file descriptors.");
	prom_sample_u64(w, "process_open_fds", fds, NULL);
	prom_family(w, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	prom_sample_u64(w, "process_max_fds", (uint64_t)rl.rlim_cur, NULL);
	prom_family(w, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	prom_sample_u64(w, "process_virtual_memory_bytes", vsize * (uint64_t)page, NULL);
	prom_family(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	prom_sample_u64(w, "process_resident_memory_bytes", rss * (uint64_t)page, NULL);
	prom_family(w, "process_start_time_seconds", "gauge",
		    "Start time of the process since unix epoch in seconds.");
	prom_sample_f64(w, "process_start_time_seconds",
			(double)btime + (double)starttime / (double)ticks, NULL);
	return w->err;
}
