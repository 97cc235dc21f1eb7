/* test_http_auth.c - the API token helpers of lib/http.c: the constant-time compare
 * (equal, different at the first/last byte, prefixes, different lengths, empty) and the
 * token file reader (trailing newline dropped; empty, missing, spaced, control
 * characters and oversize refused with the file named). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/http.h"
#include "tests/unit/check.h"

static bool eq(const char *a, const char *b)
{
	return http_token_equal(a, strlen(a), b, strlen(b));
}

static void test_token_equal(void)
{
	CHECK(eq("s3cret-token", "s3cret-token"));
	CHECK(!eq("s3cret-token", "X3cret-token")); /* first byte */
	CHECK(!eq("s3cret-token", "s3cret-tokeX")); /* last byte */
	CHECK(!eq("s3cret-token", "s3cret-toke"));  /* prefix */
	CHECK(!eq("s3cret-toke", "s3cret-token"));
	CHECK(!eq("", "s3cret-token"));
	CHECK(!eq("s3cret-token", ""));
	CHECK(eq("", ""));
	/* Bytes past the shorter length read as 0: a NUL-padded copy still differs. */
	CHECK(!http_token_equal("ab\0", 3, "ab", 2));
	CHECK(!http_token_equal("\xff", 1, "\x7f", 1));
}

/* Writes content to a temp file; returns its path (static buffer). */
static const char *tmpfile_with(const char *content, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_http_auth.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (write(fd, content, len) != (ssize_t)len)
		CHECK(false);
	close(fd);
	return path;
}

static void test_token_read(void)
{
	char err[256], *tok = NULL;
	const char *p;
	char big[5000];

	p = tmpfile_with("abc123\n", 7);
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), 0);
	CHECK_EQ_STR(tok ? tok : "", "abc123");
	free(tok);
	unlink(p);

	p = tmpfile_with("abc123\r\n", 8);
	tok = NULL;
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), 0);
	CHECK_EQ_STR(tok ? tok : "", "abc123");
	free(tok);
	unlink(p);

	p = tmpfile_with("", 0);
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "empty");
	CHECK_CONTAINS(err, p);
	unlink(p);

	p = tmpfile_with("\n", 1);
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "empty");
	unlink(p);

	p = tmpfile_with("two words\n", 10);
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "one line");
	unlink(p);

	p = tmpfile_with("line1\nline2\n", 12);
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), -EINVAL);
	unlink(p);

	memset(big, 'a', sizeof(big));
	p = tmpfile_with(big, sizeof(big));
	CHECK_EQ_INT(http_token_read(p, &tok, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "at most");
	unlink(p);

	CHECK_EQ_INT(http_token_read("/nonexistent/token", &tok, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "/nonexistent/token");
}

int main(void)
{
	test_token_equal();
	test_token_read();
	return check_exit();
}
