/* config.h - one option table per program feeds the command line, the YAML file
 * (-c/--config) and the effective configuration shown by the API, so a flag and its
 * YAML key never drift apart. YAML key = long flag name with '-' replaced by '_'.
 * Precedence: defaults < YAML file < command-line flags. */
#ifndef AYAFLOW_CONFIG_H
#define AYAFLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

enum config_type {
	CONFIG_BOOL,   /* bool; a flag takes no argument; YAML true/false */
	CONFIG_UINT,   /* uint64_t within [min, max] */
	CONFIG_STRING, /* char * (owned by the options struct, NULL if unset) */
	CONFIG_LIST, /* struct config_list: comma-separated and/or repeated; YAML list or string */
	CONFIG_PATH_CONFIG, /* the -c/--config file itself (char *): read first, not a YAML key */
	CONFIG_ACTION_HELP, /* -h/--help: config_parse returns CONFIG_HELP */
	CONFIG_ACTION_VERSION, /* --version: config_parse returns CONFIG_VERSION */
};

struct config_list {
	char **items; /* owned */
	size_t count;
};

struct config_option {
	const char *name; /* long flag, e.g. "connection-timeout" */
	char short_name;  /* 'p', or 0 */
	enum config_type type;
	size_t offset;	   /* offsetof(struct options, field); unused for actions */
	const char *def;   /* default, parsed like user input; NULL = unset/empty/false/0 */
	uint64_t min, max; /* CONFIG_UINT range, inclusive */
	const char *arg;   /* placeholder in --help, e.g. "SECONDS" */
	const char *help;
	/* Optional check of each value (each item of a list). 0 or -EINVAL with a message. */
	int (*check)(const char *value, char *err, size_t errlen);
};

enum {
	CONFIG_OK = 0,
	CONFIG_HELP = 1,
	CONFIG_VERSION = 2,
};

/* Fills *opts (zeroed by the caller) from defaults, the YAML file and argv.
 * Returns CONFIG_OK, CONFIG_HELP, CONFIG_VERSION, or -EINVAL/-ENOENT/-ENOMEM with a message
 * in err naming the flag or key, the bad value and for YAML the file and line, e.g.
 * "node.yaml:4: unknown key 'prot'" or "--port: '70000' is out of range 1..65535".
 * On error *opts may hold partial values: the caller frees it and exits. */
int config_parse(const struct config_option *table, size_t n, int argc, char **argv, void *opts,
		 char *err, size_t errlen);
/* config_parse for a program's main(): prints the help (usage, then the options) to
 * stdout, "PROG VERSION", or the error and a hint to stderr, and returns the exit status
 * (0, or CONFIG_EXIT_USAGE); -1 when the program should go on with *opts. */
#define CONFIG_EXIT_USAGE 2
int config_parse_main(const struct config_option *table, size_t n, int argc, char **argv,
		      void *opts, const char *prog, const char *version, const char *summary);
void config_free(const struct config_option *table, size_t n, void *opts);
void config_print_help(const struct config_option *table, size_t n, const char *usage, FILE *out);
/* The effective configuration as a JSON object keyed by YAML key (new reference). */
json_t *config_to_json(const struct config_option *table, size_t n, const void *opts);

#endif
