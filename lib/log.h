/* log.h - one place every message goes through (stderr, with level and time).
 * The level is set once at start, before any thread exists. */
#ifndef AYAFLOW_LOG_H
#define AYAFLOW_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* At most one message per interval for a condition that can repeat thousands of times a
 * second (a failing disk, a flood of bad batches); the ones held back are counted and
 * reported with the next. No lock inside: use it under the caller's lock or from one
 * thread. */
struct log_limit {
	uint64_t every_ms;
	uint64_t next_ms; /* CLOCK_MONOTONIC; 0: the first message passes */
	uint64_t held;
};

#define LOG_LIMIT_INIT(ms)                                                                         \
	{                                                                                          \
		.every_ms = (ms), .next_ms = 0, .held = 0                                          \
	}

/* true when a message may be written now; *held then gets the number of messages held
 * back since the last one written (0 if none). */
bool log_limit_pass(struct log_limit *l, uint64_t *held);

#endif
