/* prom.h - Prometheus text exposition format 0.0.4 writer, plus the standard
 * process_* metrics. Output must pass `promtool check metrics`. */
#ifndef AYAFLOW_PROM_H
#define AYAFLOW_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom_writer {
	char *buf; /* owned, NUL-terminated */
	size_t len;
	size_t cap;
	int err; /* first error (-ENOMEM); later calls do nothing once set */
};

void prom_init(struct prom_writer *w);
void prom_fini(struct prom_writer *w);
/* Hands the buffer to the caller (free()); the writer is reset. NULL if w->err. */
char *prom_take(struct prom_writer *w, size_t *len);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, untyped). */
void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help);
/* One sample; labels are name/value pairs ending with NULL, values are escaped. */
void prom_sample_u64(struct prom_writer *w, const char *name, uint64_t value, ...)
	__attribute__((sentinel));
void prom_sample_f64(struct prom_writer *w, const char *name, double value, ...)
	__attribute__((sentinel));
/* process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
 * process_start_time_seconds, process_open_fds, process_max_fds from /proc/self. */
int prom_write_process(struct prom_writer *w);

#endif
