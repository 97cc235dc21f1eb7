/* check.h - the unit tests' tiny assertion kit. Each CHECK* records a pass or a failure
 * (printing file:line and both values on failure) and goes on; main() ends with
 * `return check_exit();`, which prints "N passed, M failed" and returns 1 on any failure. */
#ifndef AYAFLOW_TESTS_CHECK_H
#define AYAFLOW_TESTS_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_passed;
static int check_failed;

static inline bool check_record(bool ok, const char *file, int line, const char *what)
{
	if (ok) {
		check_passed++;
		return true;
	}
	check_failed++;
	fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
	return false;
}

static inline bool check_eq_int(long long got, long long want, const char *file, int line,
				const char *what)
{
	if (!check_record(got == want, file, line, what)) {
		fprintf(stderr, "    got:  %lld\n    want: %lld\n", got, want);
		return false;
	}
	return true;
}

static inline bool check_eq_u64(uint64_t got, uint64_t want, const char *file, int line,
				const char *what)
{
	if (!check_record(got == want, file, line, what)) {
		fprintf(stderr, "    got:  %" PRIu64 "\n    want: %" PRIu64 "\n", got, want);
		return false;
	}
	return true;
}

static inline bool check_eq_str(const char *got, const char *want, const char *file, int line,
				const char *what)
{
	bool ok = (got == NULL && want == NULL) ||
		  (got != NULL && want != NULL && strcmp(got, want) == 0);

	if (!check_record(ok, file, line, what)) {
		fprintf(stderr, "    got:  %s%s%s\n    want: %s%s%s\n", got ? "\"" : "",
			got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL",
			want ? "\"" : "");
		return false;
	}
	return true;
}

static inline bool check_contains(const char *haystack, const char *needle, const char *file,
				  int line, const char *what)
{
	bool ok = haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;

	if (!check_record(ok, file, line, what)) {
		fprintf(stderr, "    in:      %s%s%s\n    missing: \"%s\"\n", haystack ? "\"" : "",
			haystack ? haystack : "NULL", haystack ? "\"" : "",
			needle ? needle : "NULL");
		return false;
	}
	return true;
}

static inline int check_exit(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#define CHECK(cond)		check_record(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ_INT(got, want) check_eq_int((got), (want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_EQ_U64(got, want) check_eq_u64((got), (want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_EQ_STR(got, want) check_eq_str((got), (want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_CONTAINS(hay, needle)                                                                \
	check_contains((hay), (needle), __FILE__, __LINE__, #hay " contains " #needle)

#endif
