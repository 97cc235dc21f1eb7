/* test_prom.c - unit tests of lib/prom.c: exact text of families and samples (escaping,
 * number formats), sticky errors and the size bound, the process_* metrics, and (when
 * promtool is installed, as on CI) that promtool accepts a whole document. */
#include "prom.h"
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROMTOOL "/usr/bin/promtool"

static void test_family_and_samples_exact_text(void)
{
	struct prom_writer w;
	size_t len = 0;
	char *text;

	prom_init(&w);
	prom_family(&w, "ayaflow_flows_total", "counter",
		    "Flows seen, \"quoted\".\nSecond line with a \\ backslash.");
	prom_sample_u64(&w, "ayaflow_flows_total", 42, "iface", "eth0", "dir", "in", NULL);
	prom_sample_u64(&w, "ayaflow_flows_total", UINT64_MAX, "iface", "a\"b\\c\nd", "dir", "",
			NULL);
	prom_family(&w, "ayaflow_up", "gauge", "Whether the node is up.");
	prom_sample_u64(&w, "ayaflow_up", 0, NULL);
	text = prom_take(&w, &len);
	CHECK_EQ_STR(text, "# HELP ayaflow_flows_total Flows seen, \"quoted\".\\nSecond line "
			   "with a \\\\ backslash.\n"
			   "# TYPE ayaflow_flows_total counter\n"
			   "ayaflow_flows_total{iface=\"eth0\",dir=\"in\"} 42\n"
			   "ayaflow_flows_total{iface=\"a\\\"b\\\\c\\nd\",dir=\"\"} "
			   "18446744073709551615\n"
			   "# HELP ayaflow_up Whether the node is up.\n"
			   "# TYPE ayaflow_up gauge\n"
			   "ayaflow_up 0\n");
	CHECK_EQ_U64(len, text ? strlen(text) : 0);
	/* The writer is reset and reusable after prom_take. */
	CHECK(w.buf == NULL);
	CHECK_EQ_U64(w.len, 0);
	CHECK_EQ_INT(w.err, 0);
	free(text);
	prom_fini(&w);
}

static void test_f64_formats(void)
{
	struct prom_writer w;
	char *text;

	prom_init(&w);
	prom_family(&w, "t_seconds", "gauge", NULL);
	prom_sample_f64(&w, "t_seconds", 1.5, "k", "a", NULL);
	prom_sample_f64(&w, "t_seconds", 0.1, "k", "b", NULL);
	prom_sample_f64(&w, "t_seconds", 0.0, "k", "c", NULL);
	prom_sample_f64(&w, "t_seconds", -2.0, "k", "d", NULL);
	prom_sample_f64(&w, "t_seconds", 1e300, "k", "e", NULL);
	prom_sample_f64(&w, "t_seconds", NAN, "k", "f", NULL);
	prom_sample_f64(&w, "t_seconds", INFINITY, "k", "g", NULL);
	prom_sample_f64(&w, "t_seconds", -INFINITY, "k", "h", NULL);
	prom_sample_f64(&w, "t_seconds", 9007199254740993.0, "k", "i", NULL);
	text = prom_take(&w, NULL);
	CHECK_EQ_STR(text, "# TYPE t_seconds gauge\n"
			   "t_seconds{k=\"a\"} 1.5\n"
			   "t_seconds{k=\"b\"} 0.10000000000000001\n"
			   "t_seconds{k=\"c\"} 0\n"
			   "t_seconds{k=\"d\"} -2\n"
			   "t_seconds{k=\"e\"} 1.0000000000000001e+300\n"
			   "t_seconds{k=\"f\"} NaN\n"
			   "t_seconds{k=\"g\"} +Inf\n"
			   "t_seconds{k=\"h\"} -Inf\n"
			   "t_seconds{k=\"i\"} 9007199254740992\n");
	free(text);
	prom_fini(&w);
}

static void test_empty_writer_takes_empty_string(void)
{
	struct prom_writer w;
	size_t len = 99;
	char *text;

	prom_init(&w);
	text = prom_take(&w, &len);
	CHECK_EQ_STR(text, "");
	CHECK_EQ_U64(len, 0);
	free(text);
	prom_fini(&w);
	prom_fini(NULL);
}

static void test_invalid_names_set_einval(void)
{
	struct prom_writer w;
	char *text;

	prom_init(&w);
	prom_family(&w, "1bad", "gauge", "x");
	CHECK_EQ_INT(w.err, -EINVAL);
	errno = 0;
	text = prom_take(&w, NULL);
	CHECK(text == NULL);
	CHECK_EQ_INT(errno, EINVAL);

	prom_init(&w);
	prom_family(&w, "good", "gaugeish", "x");
	CHECK_EQ_INT(w.err, -EINVAL);
	prom_fini(&w);

	prom_init(&w);
	prom_sample_u64(&w, "good", 1, "bad-label", "v", NULL);
	CHECK_EQ_INT(w.err, -EINVAL);
	prom_fini(&w);

	prom_init(&w);
	prom_sample_u64(&w, "good", 1, "a:b", "v", NULL);
	CHECK_EQ_INT(w.err, -EINVAL);
	prom_fini(&w);

	/* A label name without a value (odd number of arguments). */
	prom_init(&w);
	prom_sample_u64(&w, "good", 1, "lonely", NULL);
	CHECK_EQ_INT(w.err, -EINVAL);
	prom_fini(&w);
}

static void test_first_error_is_sticky(void)
{
	struct prom_writer w;

	prom_init(&w);
	prom_sample_u64(&w, "ok_total", 1, NULL);
	prom_sample_u64(&w, "", 1, NULL);
	CHECK_EQ_INT(w.err, -EINVAL);
	prom_sample_u64(&w, "ok_total", 2, NULL);
	CHECK_EQ_STR(w.buf, "ok_total 1\n");
	CHECK_EQ_INT(prom_write_process(&w), -EINVAL);
	CHECK_EQ_STR(w.buf, "ok_total 1\n");
	prom_fini(&w);
}

static void test_growth_is_bounded(void)
{
	size_t big = (size_t)1 << 20;
	struct prom_writer w;
	char *value;
	int i;

	value = malloc(big);
	if (!CHECK(value != NULL))
		return;
	memset(value, 'x', big - 1);
	value[big - 1] = '\0';
	prom_init(&w);
	for (i = 0; i < 15; i++)
		prom_sample_u64(&w, "big", (uint64_t)i, "v", value, NULL);
	CHECK_EQ_INT(w.err, 0);
	CHECK(w.len > (size_t)15 << 20);
	for (i = 0; i < 3; i++)
		prom_sample_u64(&w, "big", (uint64_t)i, "v", value, NULL);
	CHECK_EQ_INT(w.err, -ENOBUFS);
	CHECK(w.len < (size_t)16 << 20);
	CHECK(w.cap <= (size_t)16 << 20);
	errno = 0;
	CHECK(prom_take(&w, NULL) == NULL);
	CHECK_EQ_INT(errno, ENOBUFS);
	prom_fini(&w);
	free(value);
}

/* The value of the unlabelled sample 'name' in text, or -1. */
static double test_sample_value(const char *text, const char *name)
{
	char pattern[128];
	const char *p;

	snprintf(pattern, sizeof(pattern), "\n%s ", name);
	p = strstr(text, pattern);
	if (p == NULL)
		return -1;
	return strtod(p + strlen(pattern), NULL);
}

static void test_process_metrics(void)
{
	static const char *const families[] = {
	    "process_cpu_seconds_total",
	    "process_open_fds",
	    "process_max_fds",
	    "process_virtual_memory_bytes",
	    "process_resident_memory_bytes",
	    "process_start_time_seconds",
	};
	struct prom_writer w;
	struct rlimit rl;
	char line[128];
	double now = (double)time(NULL);
	double v;
	char *text;
	size_t i;

	prom_init(&w);
	CHECK_EQ_INT(prom_write_process(&w), 0);
	text = prom_take(&w, NULL);
	if (!CHECK(text != NULL))
		return;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# HELP %s ", families[i]);
		CHECK_CONTAINS(text, line);
		snprintf(line, sizeof(line), "# TYPE %s %s\n", families[i],
			 i == 0 ? "counter" : "gauge");
		CHECK_CONTAINS(text, line);
		snprintf(line, sizeof(line), "\n%s ", families[i]);
		CHECK_CONTAINS(text, line);
	}
	CHECK(test_sample_value(text, "process_resident_memory_bytes") > 0);
	CHECK(test_sample_value(text, "process_virtual_memory_bytes") >=
	      test_sample_value(text, "process_resident_memory_bytes"));
	/* stdin, stdout and stderr at least. */
	CHECK(test_sample_value(text, "process_open_fds") >= 3);
	CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK(test_sample_value(text, "process_max_fds") == (double)rl.rlim_cur);
	CHECK(test_sample_value(text, "process_cpu_seconds_total") >= 0);
	v = test_sample_value(text, "process_start_time_seconds");
	CHECK(v > now - 600 && v < now + 2);
	free(text);
	prom_fini(&w);
}

static void test_promtool_accepts_document(void)
{
	char path[] = "/tmp/ayaflow-test-prom-XXXXXX";
	struct prom_writer w;
	char cmd[128];
	size_t len = 0;
	char *text;
	int fd, status;

	if (access(PROMTOOL, X_OK) != 0) {
		printf("note: %s not found, skipping the promtool check\n", PROMTOOL);
		return;
	}
	prom_init(&w);
	prom_family(&w, "ayaflow_flows_total", "counter", "Flows seen.\nBy interface.");
	prom_sample_u64(&w, "ayaflow_flows_total", 7, "iface", "eth\"0\\\n", NULL);
	prom_sample_u64(&w, "ayaflow_flows_total", UINT64_MAX, "iface", "lo", NULL);
	prom_family(&w, "ayaflow_rtt_seconds", "gauge", "Last round-trip time.");
	prom_sample_f64(&w, "ayaflow_rtt_seconds", 0.001, "peer", "a", NULL);
	prom_sample_f64(&w, "ayaflow_rtt_seconds", NAN, "peer", "b", NULL);
	prom_sample_f64(&w, "ayaflow_rtt_seconds", INFINITY, "peer", "c", NULL);
	prom_sample_f64(&w, "ayaflow_rtt_seconds", -INFINITY, "peer", "d", NULL);
	CHECK_EQ_INT(prom_write_process(&w), 0);
	text = prom_take(&w, &len);
	if (!CHECK(text != NULL))
		return;

	fd = mkstemp(path);
	if (!CHECK(fd >= 0)) {
		free(text);
		return;
	}
	CHECK_EQ_INT(write(fd, text, len), (long long)len);
	CHECK_EQ_INT(close(fd), 0);
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s", PROMTOOL, path);
	status = system(cmd);
	CHECK(status != -1 && WIFEXITED(status));
	if (!CHECK_EQ_INT(WEXITSTATUS(status), 0))
		fprintf(stderr, "    document:\n%s", text);
	CHECK_EQ_INT(unlink(path), 0);
	free(text);
}

int main(void)
{
	test_family_and_samples_exact_text();
	test_f64_formats();
	test_empty_writer_takes_empty_string();
	test_invalid_names_set_einval();
	test_first_error_is_sticky();
	test_growth_is_bounded();
	test_process_metrics();
	test_promtool_accepts_document();
	return check_exit();
}
