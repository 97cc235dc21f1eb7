/* fuzz_config.c - libFuzzer target for the YAML configuration loader: config_parse()
 * (lib/config.c) with an option table like the node's (every option type, ranges, a
 * repeatable list with a check, short flags, the -c option itself) and the fuzzer input as
 * the YAML file given with -c. The input goes to a memfd (a regular file, as the loader
 * requires), read back through /proc/self/fd/N, so the real fopen/libyaml path runs.
 * Besides "no crash, no leak" it checks the loader's contract: it returns CONFIG_OK or
 * -EINVAL/-ENOMEM with a message, the values it accepted are within their ranges, and the
 * effective configuration renders as JSON (config_to_json).
 *
 * Built twice by tests/fuzz/fuzz.cmake: as fuzz_config (clang, -DAYAFLOW_FUZZ=ON) and with
 * fuzz_main.c as fuzz_config_corpus, CTest's fuzz.config_corpus over tests/fuzz/corpus/config. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_opts {
	char *config;
	uint64_t port;
	uint64_t timeout;
	uint64_t spool;
	bool ipv6;
	bool quiet;
	char *name;
	struct config_list allowed;
	struct config_list collectors;
};

#define OPT(f) offsetof(struct fuzz_opts, f)

static int fuzz_check_url(const char *value, char *err, size_t errlen)
{
	if (strncmp(value, "tcp://", 6) != 0) {
		snprintf(err, errlen, "'%s' is not a tcp:// URL", value);
		return -EINVAL;
	}
	return 0;
}

static const struct config_option fuzz_table[] = {
    {"config", 'c', CONFIG_PATH_CONFIG, OPT(config), NULL, 0, 0, "FILE", "YAML file", NULL},
    {"port", 'p', CONFIG_UINT, OPT(port), "3001", 1, 65535, "PORT", "HTTP port", NULL},
    {"connection-timeout", 0, CONFIG_UINT, OPT(timeout), "60", 1, 86400, "SECONDS", "idle",
     NULL},
    {"spool-size", 0, CONFIG_UINT, OPT(spool), "67108864", 1024, 4294967296ull, "BYTES", "spool",
     NULL},
    {"enable-ipv6", 0, CONFIG_BOOL, OPT(ipv6), NULL, 0, 0, NULL, "IPv6", NULL},
    {"quiet", 'q', CONFIG_BOOL, OPT(quiet), NULL, 0, 0, NULL, "quiet", NULL},
    {"node-name", 0, CONFIG_STRING, OPT(name), NULL, 0, 0, "NAME", "name", NULL},
    {"allowed-ips", 0, CONFIG_LIST, OPT(allowed), NULL, 0, 0, "CIDRS", "allowlist", cidr_check},
    {"collector", 0, CONFIG_LIST, OPT(collectors), NULL, 0, 0, "URL", "collector",
     fuzz_check_url},
    {"help", 'h', CONFIG_ACTION_HELP, 0, NULL, 0, 0, NULL, "help", NULL},
    {"version", 0, CONFIG_ACTION_VERSION, 0, NULL, 0, 0, NULL, "version", NULL},
};
#define FUZZ_NOPTS (sizeof(fuzz_table) / sizeof(fuzz_table[0]))

static int fuzz_fd = -1;
static char fuzz_path[64];

static void fuzz_fail(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_config: %s (%s)\n", what, err ? err : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_opts o;
	char err[512] = "";
	char *argv[] = {"fuzz_config", "-c", fuzz_path, NULL};
	int ret;

	if (fuzz_fd < 0) {
		fuzz_fd = memfd_create("fuzz_config.yaml", MFD_CLOEXEC);
		if (fuzz_fd < 0)
			fuzz_fail("memfd_create", strerror(errno));
		snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	}
	if (ftruncate(fuzz_fd, 0) != 0 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		fuzz_fail("writing the memfd", strerror(errno));

	memset(&o, 0, sizeof(o));
	ret = config_parse(fuzz_table, FUZZ_NOPTS, 3, argv, &o, err, sizeof(err));
	if (ret == CONFIG_OK) {
		json_t *j;

		if (o.port < 1 || o.port > 65535 || o.timeout < 1 || o.timeout > 86400 ||
		    o.spool < 1024 || o.spool > 4294967296ull)
			fuzz_fail("an accepted value is out of its range", NULL);
		for (size_t i = 0; i < o.collectors.count; i++) {
			if (strncmp(o.collectors.items[i], "tcp://", 6) != 0)
				fuzz_fail("a list item passed around its check", o.collectors.items[i]);
		}
		j = config_to_json(fuzz_table, FUZZ_NOPTS, &o);
		if (!j)
			fuzz_fail("config_to_json failed on an accepted configuration", NULL);
		json_decref(j);
	} else if (ret == -EINVAL || ret == -ENOMEM) {
		if (err[0] == '\0')
			fuzz_fail("an error without a message", NULL);
	} else {
		fuzz_fail("an unexpected return value", err);
	}
	config_free(fuzz_table, FUZZ_NOPTS, &o);
	return 0;
}
