/* log.c - the one place every message goes through: one line per message on stderr,
 * "2026-11-28T14:00:00Z ayaflow[level]: msg", filtered by a level set once at start
 * (before any thread exists, so it needs no lock). Each line is written with a single
 * call so that lines from different threads do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Written once by main before threads start; read-only afterwards. */
static enum log_level log_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	if ((int)level < (int)LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[4096];
	char stamp[32];
	struct tm tm;
	time_t now;
	va_list ap;
	size_t len;
	int n;

	if (level > log_level)
		return;
	if ((int)level < (int)LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;

	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strcpy(stamp, "-");

	n = snprintf(line, sizeof(line), "%s ayaflow[%s]: ", stamp, log_level_names[level]);
	if (n < 0)
		return;
	len = (size_t)n;

	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n;
	/* Truncated messages keep their beginning; room is kept for the newline. */
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	while (len > 0 && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';
	line[len] = '\0';

	/* Nothing useful can be done if stderr itself fails. */
	(void)fwrite(line, 1, len, stderr);
}

bool log_limit_pass(struct log_limit *l, uint64_t *held)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (l->next_ms && now < l->next_ms) {
		l->held++;
		return false;
	}
	*held = l->held;
	l->held = 0;
	l->next_ms = now + (l->every_ms ? l->every_ms : 1);
	return true;
}
