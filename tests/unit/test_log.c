/* test_log.c - the log rate limit: the first message passes, repeats within the interval
 * are held back and counted, and the count comes with the next message written. The
 * interval's end is simulated through next_ms, so nothing here depends on timing. */
#include "log.h"
#include "tests/unit/check.h"

static void test_limit(void)
{
	struct log_limit l = LOG_LIMIT_INIT(3600 * 1000);
	uint64_t held = 99;

	CHECK(log_limit_pass(&l, &held));
	CHECK_EQ_U64(held, 0);
	for (int i = 0; i < 3; i++)
		CHECK(!log_limit_pass(&l, &held));
	CHECK_EQ_U64(held, 0); /* untouched while held back */
	CHECK_EQ_U64(l.held, 3);
	l.next_ms = 1; /* the interval is over */
	CHECK(log_limit_pass(&l, &held));
	CHECK_EQ_U64(held, 3);
	CHECK_EQ_U64(l.held, 0);
	CHECK(!log_limit_pass(&l, &held)); /* a new interval started */
	CHECK_EQ_U64(l.held, 1);
}

int main(void)
{
	test_limit();
	return check_exit();
}
