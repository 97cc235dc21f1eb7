/* config.c - the configuration loader both programs use. One option table (see config.h)
 * drives getopt_long, the YAML file and the JSON shown by the API. Values are applied in
 * order defaults < YAML file < command line into the caller's (zeroed) options struct.
 * This is the only file that speaks libyaml; errors are turned into -EINVAL/-ENOENT and
 * one message naming the flag or file:line and key. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* A configuration file is a few dozen lines; anything this large is a mistake. */
#define CONFIG_FILE_MAX (1 << 20)
/* getopt_long value of option i when it has no short name: out of the char range. */
#define CONFIG_LONG_BASE 256

/* State of one config_parse() call. */
struct config_ctx {
	const struct config_option *table;
	size_t n;
	void *opts;
	char *err;
	size_t errlen;
	bool *cli_seen; /* per option: a list flag was already given on the command line */
};

static void config_err(struct config_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void config_err(struct config_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err == NULL || c->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

static void *config_field(const struct config_option *o, void *opts)
{
	return (char *)opts + o->offset;
}

static const void *config_cfield(const struct config_option *o, const void *opts)
{
	return (const char *)opts + o->offset;
}

static bool config_is_action(const struct config_option *o)
{
	return o->type == CONFIG_ACTION_HELP || o->type == CONFIG_ACTION_VERSION;
}

static bool config_takes_value(const struct config_option *o)
{
	return o->type == CONFIG_UINT || o->type == CONFIG_STRING || o->type == CONFIG_LIST ||
	       o->type == CONFIG_PATH_CONFIG;
}

/* Does YAML key equal the option's long name with '-' read as '_'? */
static bool config_key_equal(const char *name, const char *key)
{
	for (; *name != '\0' && *key != '\0'; name++, key++) {
		char want = *name == '-' ? '_' : *name;

		if (*key != want)
			return false;
	}
	return *name == '\0' && *key == '\0';
}

/* The YAML/JSON key of an option (malloc'd), or NULL with errno set. */
static char *config_key_dup(const char *name)
{
	char *key = strdup(name);
	char *p;

	if (key == NULL)
		return NULL;
	for (p = key; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	return key;
}

/* Decimal digits only: no sign, no spaces, no base prefix, no leading zeros (YAML 1.1
 * would read "010" as octal). Returns 0, -EINVAL (not a number) or -ERANGE. */
static int config_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	for (p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	for (p = s; *p != '\0'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The YAML 1.2 core schema booleans. */
static int config_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int config_run_check(struct config_ctx *c, const struct config_option *o, const char *value,
			    const char *where)
{
	char msg[256];
	int ret;

	if (o->check == NULL)
		return 0;
	msg[0] = '\0';
	ret = o->check(value, msg, sizeof(msg));
	if (ret == 0)
		return 0;
	if (msg[0] == '\0')
		snprintf(msg, sizeof(msg), "invalid value '%.200s'", value);
	config_err(c, "%s: %s", where, msg);
	return ret < 0 ? ret : -EINVAL;
}

static void config_list_clear(struct config_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static int config_list_push(struct config_ctx *c, struct config_list *list, const char *item,
			    size_t len)
{
	char **grown;
	char *copy;

	copy = strndup(item, len);
	if (copy == NULL)
		goto nomem;
	grown = reallocarray(list->items, list->count + 1, sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		goto nomem;
	}
	list->items = grown;
	list->items[list->count++] = copy;
	return 0;
nomem:
	config_err(c, "out of memory");
	return -ENOMEM;
}

/* Splits text on commas, trims each item, rejects empty ones, checks and appends them. */
static int config_list_add_text(struct config_ctx *c, const struct config_option *o,
				struct config_list *list, const char *text, const char *where)
{
	const char *p = text;
	int ret;

	for (;;) {
		const char *end = strchr(p, ',');
		const char *b = p, *e;
		char item[1024];
		size_t len;

		if (end == NULL)
			end = p + strlen(p);
		e = end;
		while (b < e && (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			e--;
		len = (size_t)(e - b);
		if (len == 0) {
			config_err(c, "%s: empty item in '%s'", where, text);
			return -EINVAL;
		}
		if (len >= sizeof(item)) {
			config_err(c, "%s: item longer than %zu bytes in '%s'", where,
				   sizeof(item) - 1, text);
			return -EINVAL;
		}
		memcpy(item, b, len);
		item[len] = '\0';
		ret = config_run_check(c, o, item, where);
		if (ret < 0)
			return ret;
		ret = config_list_push(c, list, item, len);
		if (ret < 0)
			return ret;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

/* Sets a bool, uint or string option from text. A list is not replaced here. */
static int config_set_value(struct config_ctx *c, const struct config_option *o, const char *value,
			    const char *where)
{
	void *field = config_field(o, c->opts);
	uint64_t u;
	char *s;
	bool b;
	int ret;

	switch (o->type) {
	case CONFIG_BOOL:
		if (config_parse_bool(value, &b) < 0) {
			config_err(c, "%s: '%s' is not a boolean (true or false)", where, value);
			return -EINVAL;
		}
		ret = config_run_check(c, o, b ? "true" : "false", where);
		if (ret < 0)
			return ret;
		*(bool *)field = b;
		return 0;
	case CONFIG_UINT:
		ret = config_parse_u64(value, &u);
		if (ret == -EINVAL) {
			config_err(c, "%s: '%s' is not a non-negative decimal number", where,
				   value);
			return -EINVAL;
		}
		if (ret < 0 || u < o->min || u > o->max) {
			config_err(c, "%s: '%s' is out of range %" PRIu64 "..%" PRIu64, where,
				   value, o->min, o->max);
			return -EINVAL;
		}
		ret = config_run_check(c, o, value, where);
		if (ret < 0)
			return ret;
		*(uint64_t *)field = u;
		return 0;
	case CONFIG_STRING:
	case CONFIG_PATH_CONFIG:
		ret = config_run_check(c, o, value, where);
		if (ret < 0)
			return ret;
		s = strdup(value);
		if (s == NULL) {
			config_err(c, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	case CONFIG_LIST:
		return config_list_add_text(c, o, field, value, where);
	case CONFIG_ACTION_HELP:
	case CONFIG_ACTION_VERSION:
		break;
	}
	return 0;
}

static int config_apply_defaults(struct config_ctx *c)
{
	char where[160];
	size_t i;
	int ret;

	for (i = 0; i < c->n; i++) {
		const struct config_option *o = &c->table[i];

		if (config_is_action(o) || o->def == NULL)
			continue;
		snprintf(where, sizeof(where), "default of --%s", o->name);
		if (o->type == CONFIG_LIST)
			config_list_clear(config_field(o, c->opts));
		ret = config_set_value(c, o, o->def, where);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- YAML file --- */

static const char *config_node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "a value";
	}
}

static size_t config_node_line(const yaml_node_t *node)
{
	return node->start_mark.line + 1;
}

/* A plain empty, "~" or "null" scalar: no value. */
static bool config_scalar_is_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool config_scalar_has_nul(const yaml_node_t *node)
{
	return strlen((const char *)node->data.scalar.value) != node->data.scalar.length;
}

static int config_yaml_value(struct config_ctx *c, const struct config_option *o,
			     yaml_document_t *doc, yaml_node_t *val, const char *path,
			     const char *key)
{
	void *field = config_field(o, c->opts);
	char where[512];
	yaml_node_item_t *it;
	int ret;

	snprintf(where, sizeof(where), "%s:%zu: %s", path, config_node_line(val), key);

	if (val->type == YAML_SCALAR_NODE) {
		if (config_scalar_has_nul(val)) {
			config_err(c, "%s: value contains a NUL byte", where);
			return -EINVAL;
		}
		if (config_scalar_is_null(val)) {
			if (o->type == CONFIG_STRING) {
				free(*(char **)field);
				*(char **)field = NULL;
				return 0;
			}
			if (o->type == CONFIG_LIST) {
				config_list_clear(field);
				return 0;
			}
			config_err(c, "%s: missing value", where);
			return -EINVAL;
		}
		if (o->type == CONFIG_LIST)
			config_list_clear(field);
		return config_set_value(c, o, (const char *)val->data.scalar.value, where);
	}

	if (val->type != YAML_SEQUENCE_NODE || o->type != CONFIG_LIST) {
		config_err(c, "%s: expected %s, got %s", where,
			   o->type == CONFIG_LIST ? "a list or a value" : "a single value",
			   config_node_kind(val));
		return -EINVAL;
	}

	/* A YAML list replaces the default; each item is split on commas like a flag. */
	config_list_clear(field);
	for (it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);

		if (item == NULL)
			continue;
		snprintf(where, sizeof(where), "%s:%zu: %s", path, config_node_line(item), key);
		if (item->type != YAML_SCALAR_NODE) {
			config_err(c, "%s: list items must be single values, got %s", where,
				   config_node_kind(item));
			return -EINVAL;
		}
		if (config_scalar_has_nul(item)) {
			config_err(c, "%s: value contains a NUL byte", where);
			return -EINVAL;
		}
		ret =
		    config_list_add_text(c, o, field, (const char *)item->data.scalar.value, where);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int config_yaml_mapping(struct config_ctx *c, yaml_document_t *doc, yaml_node_t *root,
			       const char *path)
{
	yaml_node_pair_t *pair;
	bool *seen;
	int ret = 0;

	seen = calloc(c->n ? c->n : 1, sizeof(*seen));
	if (seen == NULL) {
		config_err(c, "out of memory");
		return -ENOMEM;
	}
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(doc, pair->key);
		yaml_node_t *val = yaml_document_get_node(doc, pair->value);
		const struct config_option *o = NULL;
		const char *name;
		size_t i, line;

		if (key == NULL || val == NULL)
			continue;
		line = config_node_line(key);
		if (key->type != YAML_SCALAR_NODE || config_scalar_has_nul(key)) {
			config_err(c, "%s:%zu: keys must be option names, got %s", path, line,
				   config_node_kind(key));
			ret = -EINVAL;
			goto out;
		}
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < c->n; i++) {
			if (!config_is_action(&c->table[i]) &&
			    config_key_equal(c->table[i].name, name)) {
				o = &c->table[i];
				break;
			}
		}
		if (o == NULL) {
			config_err(c, "%s:%zu: unknown key '%s'", path, line, name);
			ret = -EINVAL;
			goto out;
		}
		if (o->type == CONFIG_PATH_CONFIG) {
			config_err(c, "%s:%zu: key '%s' is only valid on the command line", path,
				   line, name);
			ret = -EINVAL;
			goto out;
		}
		if (seen[i]) {
			config_err(c, "%s:%zu: duplicate key '%s'", path, line, name);
			ret = -EINVAL;
			goto out;
		}
		seen[i] = true;
		ret = config_yaml_value(c, o, doc, val, path, name);
		if (ret < 0)
			goto out;
	}
out:
	free(seen);
	return ret;
}

static int config_yaml_error(struct config_ctx *c, yaml_parser_t *parser, const char *path)
{
	if (parser->error == YAML_MEMORY_ERROR) {
		config_err(c, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (parser->error == YAML_READER_ERROR) {
		config_err(c, "%s: %s at byte %zu", path,
			   parser->problem ? parser->problem : "cannot read",
			   parser->problem_offset);
		return -EINVAL;
	}
	if (parser->context != NULL)
		config_err(c, "%s:%zu: %s %s", path, parser->problem_mark.line + 1,
			   parser->problem ? parser->problem : "syntax error", parser->context);
	else
		config_err(c, "%s:%zu: %s", path, parser->problem_mark.line + 1,
			   parser->problem ? parser->problem : "syntax error");
	return -EINVAL;
}

static int config_load_yaml(struct config_ctx *c, const char *path)
{
	yaml_document_t doc, extra;
	yaml_parser_t parser;
	yaml_node_t *root;
	struct stat st;
	FILE *f;
	int ret;

	f = fopen(path, "re");
	if (f == NULL) {
		ret = -errno;
		config_err(c, "cannot open config file '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fileno(f), &st) != 0) {
		ret = -errno;
		config_err(c, "cannot stat config file '%s': %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		config_err(c, "config file '%s' is not a regular file", path);
		ret = -EINVAL;
		goto out_close;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		config_err(c, "config file '%s' is larger than %d bytes", path, CONFIG_FILE_MAX);
		ret = -EINVAL;
		goto out_close;
	}
	if (!yaml_parser_initialize(&parser)) {
		config_err(c, "out of memory");
		ret = -ENOMEM;
		goto out_close;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = config_yaml_error(c, &parser, path);
		goto out_parser;
	}

	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		ret = 0; /* an empty file sets nothing */
		goto out_doc;
	}
	if (root->type != YAML_MAPPING_NODE) {
		config_err(c, "%s:%zu: the top level must be a mapping of keys to values, got %s",
			   path, config_node_line(root), config_node_kind(root));
		ret = -EINVAL;
		goto out_doc;
	}
	ret = config_yaml_mapping(c, &doc, root, path);
	if (ret < 0)
		goto out_doc;

	/* A second document ("---") would be silently ignored: refuse it. */
	if (!yaml_parser_load(&parser, &extra)) {
		ret = config_yaml_error(c, &parser, path);
		goto out_doc;
	}
	root = yaml_document_get_root_node(&extra);
	if (root != NULL) {
		config_err(c, "%s:%zu: only one YAML document is allowed", path,
			   config_node_line(root));
		ret = -EINVAL;
	}
	yaml_document_delete(&extra);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
out_close:
	fclose(f);
	return ret;
}

/* --- command line --- */

/* Builds getopt_long's tables from the option table. */
static int config_getopt_tables(struct config_ctx *c, struct option **longopts_out,
				char **shortopts_out)
{
	struct option *longopts;
	char *shortopts, *p;
	size_t i;

	longopts = calloc(c->n + 1, sizeof(*longopts));
	/* "+": stop at the first positional argument (and never permute argv);
	 * ":": report a missing argument as ':' rather than '?'. */
	shortopts = malloc(2 * c->n + 3);
	if (longopts == NULL || shortopts == NULL) {
		free(longopts);
		free(shortopts);
		config_err(c, "out of memory");
		return -ENOMEM;
	}
	p = shortopts;
	*p++ = '+';
	*p++ = ':';
	for (i = 0; i < c->n; i++) {
		const struct config_option *o = &c->table[i];

		longopts[i].name = o->name;
		longopts[i].has_arg = config_takes_value(o) ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = o->short_name ? o->short_name : CONFIG_LONG_BASE + (int)i;
		if (o->short_name) {
			*p++ = o->short_name;
			if (config_takes_value(o))
				*p++ = ':';
		}
	}
	*p = '\0';
	*longopts_out = longopts;
	*shortopts_out = shortopts;
	return 0;
}

static int config_index_of(const struct config_ctx *c, int ch)
{
	size_t i;

	if (ch >= CONFIG_LONG_BASE && (size_t)(ch - CONFIG_LONG_BASE) < c->n)
		return ch - CONFIG_LONG_BASE;
	for (i = 0; i < c->n; i++)
		if (c->table[i].short_name != 0 && c->table[i].short_name == ch)
			return (int)i;
	return -1;
}

/* "-p/--port" or "--port": as the user may have typed it, and always with the long name. */
static void config_flag_name(const struct config_option *o, char *buf, size_t size)
{
	if (o->short_name)
		snprintf(buf, size, "-%c/--%s", o->short_name, o->name);
	else
		snprintf(buf, size, "--%s", o->name);
}

/* Turns getopt_long's '?' and ':' into a message. */
static int config_getopt_error(struct config_ctx *c, int ch, int argc, char **argv)
{
	char flag[160];
	int idx = config_index_of(c, optopt);

	if (ch == ':') {
		if (idx >= 0)
			config_flag_name(&c->table[idx], flag, sizeof(flag));
		else
			snprintf(flag, sizeof(flag), "-%c", optopt);
		config_err(c, "option '%s' requires a value", flag);
		return -EINVAL;
	}
	if (optopt != 0 && idx >= 0) {
		/* Only a long flag without a value can get '?' while being known. */
		config_err(c, "option '--%s' does not take a value", c->table[idx].name);
		return -EINVAL;
	}
	if (optopt != 0) {
		config_err(c, "unknown option '-%c'", optopt);
		return -EINVAL;
	}
	if (optind > 0 && optind <= argc && argv[optind - 1] != NULL)
		config_err(c, "unknown option '%s'", argv[optind - 1]);
	else
		config_err(c, "unknown option");
	return -EINVAL;
}

/* Pass 1: syntax of every flag, help/version, the config file path. Nothing is set but
 * the config path, so that -h works even when the configuration would not load. */
static int config_scan_argv(struct config_ctx *c, int argc, char **argv,
			    const struct option *longopts, const char *shortopts, int *action)
{
	const struct config_option *o;
	int ch, idx, ret;

	*action = CONFIG_OK;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return config_getopt_error(c, ch, argc, argv);
		idx = config_index_of(c, ch);
		if (idx < 0) {
			config_err(c, "unknown option");
			return -EINVAL;
		}
		o = &c->table[idx];
		if (o->type == CONFIG_ACTION_HELP && *action == CONFIG_OK)
			*action = CONFIG_HELP;
		else if (o->type == CONFIG_ACTION_VERSION && *action == CONFIG_OK)
			*action = CONFIG_VERSION;
		else if (o->type == CONFIG_PATH_CONFIG) {
			char flag[160];

			config_flag_name(o, flag, sizeof(flag));
			ret = config_set_value(c, o, optarg, flag);
			if (ret < 0)
				return ret;
		}
	}
	if (optind < argc) {
		config_err(c, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Pass 2: apply every value flag over the defaults and the YAML file. */
static int config_apply_argv(struct config_ctx *c, int argc, char **argv,
			     const struct option *longopts, const char *shortopts)
{
	const struct config_option *o;
	char flag[160];
	int ch, idx, ret;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		idx = config_index_of(c, ch);
		if (idx < 0)
			return -EINVAL; /* cannot happen: pass 1 accepted the same argv */
		o = &c->table[idx];
		if (config_is_action(o) || o->type == CONFIG_PATH_CONFIG)
			continue;
		config_flag_name(o, flag, sizeof(flag));
		if (o->type == CONFIG_BOOL) {
			ret = config_set_value(c, o, "true", flag);
		} else {
			/* The first list flag replaces the file/default value; more append. */
			if (o->type == CONFIG_LIST && !c->cli_seen[idx]) {
				config_list_clear(config_field(o, c->opts));
				c->cli_seen[idx] = true;
			}
			ret = config_set_value(c, o, optarg, flag);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

int config_parse(const struct config_option *table, size_t n, int argc, char **argv, void *opts,
		 char *err, size_t errlen)
{
	struct config_ctx c = {
	    .table = table,
	    .n = n,
	    .opts = opts,
	    .err = err,
	    .errlen = errlen,
	};
	struct option *longopts = NULL;
	char *shortopts = NULL;
	const char *path = NULL;
	int action = CONFIG_OK;
	size_t i;
	int ret;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (table == NULL || opts == NULL || argc < 0) {
		config_err(&c, "invalid arguments");
		return -EINVAL;
	}
	c.cli_seen = calloc(n ? n : 1, sizeof(*c.cli_seen));
	if (c.cli_seen == NULL) {
		config_err(&c, "out of memory");
		return -ENOMEM;
	}
	ret = config_getopt_tables(&c, &longopts, &shortopts);
	if (ret < 0)
		goto out;

	ret = config_apply_defaults(&c);
	if (ret < 0)
		goto out;
	if (argc > 0) {
		ret = config_scan_argv(&c, argc, argv, longopts, shortopts, &action);
		if (ret < 0)
			goto out;
	}
	if (action != CONFIG_OK) {
		ret = action;
		goto out;
	}

	for (i = 0; i < n; i++) {
		if (table[i].type == CONFIG_PATH_CONFIG) {
			path = *(char **)config_field(&table[i], opts);
			break;
		}
	}
	if (path != NULL) {
		ret = config_load_yaml(&c, path);
		if (ret < 0)
			goto out;
	}

	if (argc > 0) {
		ret = config_apply_argv(&c, argc, argv, longopts, shortopts);
		if (ret < 0)
			goto out;
	}
	ret = CONFIG_OK;
out:
	/* Leave getopt's globals as a fresh process would have them. */
	optind = 1;
	free(shortopts);
	free(longopts);
	free(c.cli_seen);
	return ret;
}

void config_free(const struct config_option *table, size_t n, void *opts)
{
	size_t i;

	if (table == NULL || opts == NULL)
		return;
	for (i = 0; i < n; i++) {
		const struct config_option *o = &table[i];
		void *field = config_field(o, opts);

		if (o->type == CONFIG_STRING || o->type == CONFIG_PATH_CONFIG) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (o->type == CONFIG_LIST) {
			config_list_clear(field);
		}
	}
}

static const char *config_placeholder(const struct config_option *o)
{
	if (o->arg != NULL)
		return o->arg;
	switch (o->type) {
	case CONFIG_UINT:
		return "N";
	case CONFIG_LIST:
		return "LIST";
	case CONFIG_PATH_CONFIG:
		return "FILE";
	default:
		return "VALUE";
	}
}

/* "  -p, --port PORT" or "      --version" into buf; returns its length. */
static int config_help_left(const struct config_option *o, char *buf, size_t size)
{
	char shortpart[8];
	int len;

	if (o->short_name)
		snprintf(shortpart, sizeof(shortpart), "-%c, ", o->short_name);
	else
		snprintf(shortpart, sizeof(shortpart), "    ");
	if (config_takes_value(o))
		len = snprintf(buf, size, "  %s--%s %s", shortpart, o->name, config_placeholder(o));
	else
		len = snprintf(buf, size, "  %s--%s", shortpart, o->name);
	if (len < 0)
		return 0;
	return (size_t)len < size ? len : (int)size - 1;
}

int config_parse_main(const struct config_option *table, size_t n, int argc, char **argv,
		      void *opts, const char *prog, const char *version, const char *summary)
{
	char err[512] = "";
	char usage[512];
	int rc = config_parse(table, n, argc, argv, opts, err, sizeof(err));

	switch (rc) {
	case CONFIG_OK:
		return -1;
	case CONFIG_HELP:
		snprintf(usage, sizeof(usage), "%s [OPTIONS]\n%s", prog, summary);
		config_print_help(table, n, usage, stdout);
		return 0;
	case CONFIG_VERSION:
		printf("%s %s\n", prog, version);
		return 0;
	default:
		fprintf(stderr, "%s: %s\n", prog, err);
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return CONFIG_EXIT_USAGE;
	}
}

void config_print_help(const struct config_option *table, size_t n, const char *usage, FILE *out)
{
	char left[256];
	int width = 0, len;
	size_t i;

	fprintf(out, "Usage: %s\n", usage != NULL ? usage : "");
	for (i = 0; i < n; i++) {
		len = config_help_left(&table[i], left, sizeof(left));
		if (len > width)
			width = len;
	}
	for (i = 0; i < n; i++) {
		const struct config_option *o = &table[i];

		config_help_left(o, left, sizeof(left));
		fprintf(out, "%-*s  %s", width, left, o->help != NULL ? o->help : "");
		if (o->def != NULL && !config_is_action(o))
			fprintf(out, " (default: %s)", o->def);
		fputc('\n', out);
	}
}

/* json_string() refuses invalid UTF-8 (possible in argv); such bytes become '?'. */
static json_t *config_json_string(const char *s)
{
	json_t *j;
	char *copy, *p;

	j = json_string(s);
	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *config_json_value(const struct config_option *o, const void *field)
{
	const struct config_list *list;
	const char *s;
	json_t *arr;
	uint64_t u;
	size_t i;

	switch (o->type) {
	case CONFIG_BOOL:
		return json_boolean(*(const bool *)field);
	case CONFIG_UINT:
		u = *(const uint64_t *)field;
		if (u <= INT64_MAX)
			return json_integer((json_int_t)u);
		/* Beyond json_int_t: a decimal string keeps the value exact. */
		{
			char num[32];

			snprintf(num, sizeof(num), "%" PRIu64, u);
			return json_string(num);
		}
	case CONFIG_STRING:
	case CONFIG_PATH_CONFIG:
		s = *(char *const *)field;
		return s != NULL ? config_json_string(s) : json_null();
	case CONFIG_LIST:
		list = field;
		arr = json_array();
		if (arr == NULL)
			return NULL;
		for (i = 0; i < list->count; i++) {
			if (json_array_append_new(arr, config_json_string(list->items[i])) != 0) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	case CONFIG_ACTION_HELP:
	case CONFIG_ACTION_VERSION:
		break;
	}
	return NULL;
}

json_t *config_to_json(const struct config_option *table, size_t n, const void *opts)
{
	json_t *obj, *val;
	size_t i;
	char *key;

	obj = json_object();
	if (obj == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct config_option *o = &table[i];

		if (config_is_action(o))
			continue;
		key = config_key_dup(o->name);
		val = config_json_value(o, config_cfield(o, opts));
		if (key == NULL || val == NULL || json_object_set_new(obj, key, val) != 0) {
			if (key == NULL)
				json_decref(val);
			free(key);
			json_decref(obj);
			errno = ENOMEM;
			return NULL;
		}
		free(key);
	}
	return obj;
}
