/* test_config.c - unit tests of lib/config.c: defaults, YAML values, flags over YAML, list
 * comma and repeat semantics, exact error messages (file:line and key for YAML, the flag
 * for the command line), help/version, repeated parsing in one process, config_free and
 * config_to_json. Under the sanitizer build a leak fails the test. */
#include "config.h"
#include "check.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_opts {
	uint64_t port;
	bool verbose;
	char *node_name;
	struct config_list interfaces;
	uint64_t timeout;
	uint64_t max_bytes;
	char *config;
};

static int test_check_iface(const char *value, char *err, size_t errlen)
{
	if (strncmp(value, "bad", 3) == 0) {
		snprintf(err, errlen, "interface '%s' is not allowed", value);
		return -EINVAL;
	}
	return 0;
}

static const struct config_option test_table[] = {
    {"port", 'p', CONFIG_UINT, offsetof(struct test_opts, port), "3001", 1, 65535, "PORT",
     "HTTP port", NULL},
    {"verbose", 'v', CONFIG_BOOL, offsetof(struct test_opts, verbose), NULL, 0, 0, NULL, "Log more",
     NULL},
    {"node-name", 0, CONFIG_STRING, offsetof(struct test_opts, node_name), NULL, 0, 0, "NAME",
     "Name of this node", NULL},
    {"interfaces", 'i', CONFIG_LIST, offsetof(struct test_opts, interfaces), "eth0,eth1", 0, 0,
     "IFACES", "Interfaces to watch", test_check_iface},
    {"connection-timeout", 0, CONFIG_UINT, offsetof(struct test_opts, timeout), "60", 1, 86400,
     "SECONDS", "Idle connection timeout", NULL},
    {"max-bytes", 0, CONFIG_UINT, offsetof(struct test_opts, max_bytes), NULL, 0, UINT64_MAX, NULL,
     "Byte budget", NULL},
    {"config", 'c', CONFIG_PATH_CONFIG, offsetof(struct test_opts, config), NULL, 0, 0, "FILE",
     "YAML configuration file", NULL},
    {"help", 'h', CONFIG_ACTION_HELP, 0, NULL, 0, 0, NULL, "Show this help", NULL},
    {"version", 0, CONFIG_ACTION_VERSION, 0, NULL, 0, 0, NULL, "Show the version", NULL},
};
#define TEST_N (sizeof(test_table) / sizeof(test_table[0]))

static char test_err[512];

/* config_parse on a zeroed *o with argv = "prog" followed by the NULL-terminated args. */
static int test_parse_v(struct test_opts *o, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	memset(o, 0, sizeof(*o));
	argv[argc++] = "prog";
	while (*args != NULL && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	memset(test_err, 0, sizeof(test_err));
	return config_parse(test_table, TEST_N, argc, argv, o, test_err, sizeof(test_err));
}

#define PARSE(o, ...) test_parse_v((o), (const char *const[]){__VA_ARGS__, NULL})

/* Writes content to a new temp file; its name goes into path (size >= 64). */
static void test_yaml(char *path, const char *content)
{
	size_t len = strlen(content);
	int fd;

	strcpy(path, "/tmp/ayaflow-test-config-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len || close(fd) != 0) {
		perror("test_yaml");
		exit(2);
	}
}

static void test_unlink(const char *path)
{
	CHECK_EQ_INT(unlink(path), 0);
}

/* Parses a YAML file holding content and expects -EINVAL and "<path>:<tail>" exactly. */
static void test_yaml_error(const char *content, const char *tail, int line)
{
	struct test_opts o;
	char path[64], want[256];
	int ret;

	test_yaml(path, content);
	ret = PARSE(&o, "-c", path);
	snprintf(want, sizeof(want), "%s:%s", path, tail);
	if (!check_eq_int(ret, -EINVAL, __FILE__, line, "yaml error return") ||
	    !check_eq_str(test_err, want, __FILE__, line, "yaml error message"))
		fprintf(stderr, "    yaml: %s\n", content);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

#define YAML_ERROR(content, tail) test_yaml_error((content), (tail), __LINE__)

/* Parses argv and expects ret and the message exactly. */
static void test_flag_error(const char *const *args, int want_ret, const char *want, int line)
{
	struct test_opts o;
	int ret = test_parse_v(&o, args);

	check_eq_int(ret, want_ret, __FILE__, line, "flag error return");
	check_eq_str(test_err, want, __FILE__, line, "flag error message");
	config_free(test_table, TEST_N, &o);
}

#define FLAG_ERROR(msg, ...)                                                                       \
	test_flag_error((const char *const[]){__VA_ARGS__, NULL}, -EINVAL, (msg), __LINE__)

static void test_list_is(const struct config_list *l, const char *const *want, size_t n, int line)
{
	size_t i;

	if (!check_eq_u64(l->count, n, __FILE__, line, "list count"))
		return;
	for (i = 0; i < n; i++)
		check_eq_str(l->items[i], want[i], __FILE__, line, "list item");
}

#define LIST_IS(l, ...)                                                                            \
	test_list_is((l), (const char *const[]){__VA_ARGS__},                                      \
		     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), __LINE__)

static void test_defaults_applied(void)
{
	struct test_opts o;
	char *argv[] = {"prog", NULL};

	memset(&o, 0, sizeof(o));
	CHECK_EQ_INT(config_parse(test_table, TEST_N, 1, argv, &o, test_err, sizeof(test_err)),
		     CONFIG_OK);
	CHECK_EQ_STR(test_err, "");
	CHECK_EQ_U64(o.port, 3001);
	CHECK(!o.verbose);
	CHECK(o.node_name == NULL);
	LIST_IS(&o.interfaces, "eth0", "eth1");
	CHECK_EQ_U64(o.timeout, 60);
	CHECK_EQ_U64(o.max_bytes, 0);
	CHECK(o.config == NULL);
	config_free(test_table, TEST_N, &o);
}

static void test_yaml_values_applied(void)
{
	struct test_opts o;
	char path[64];

	test_yaml(path, "# node settings\n"
			"port: 8080\n"
			"verbose: true\n"
			"node_name: \"node-a\"\n"
			"interfaces: [wlan0, \"eth2, eth3\"]\n"
			"connection_timeout: 30\n"
			"max_bytes: 18446744073709551615\n");
	CHECK_EQ_INT(PARSE(&o, "--config", path), CONFIG_OK);
	CHECK_EQ_STR(test_err, "");
	CHECK_EQ_U64(o.port, 8080);
	CHECK(o.verbose);
	CHECK_EQ_STR(o.node_name, "node-a");
	LIST_IS(&o.interfaces, "wlan0", "eth2", "eth3");
	CHECK_EQ_U64(o.timeout, 30);
	CHECK_EQ_U64(o.max_bytes, UINT64_MAX);
	CHECK_EQ_STR(o.config, path);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_yaml_list_forms(void)
{
	struct test_opts o;
	char path[64];

	test_yaml(path, "interfaces:\n  - eth5\n  - ' eth6 '\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	LIST_IS(&o.interfaces, "eth5", "eth6");
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	test_yaml(path, "interfaces: eth7, eth8\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	LIST_IS(&o.interfaces, "eth7", "eth8");
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	/* An empty YAML list (or null) clears the default. */
	test_yaml(path, "interfaces: []\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	CHECK_EQ_U64(o.interfaces.count, 0);
	CHECK(o.interfaces.items == NULL);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	test_yaml(path, "interfaces:\nnode_name: ~\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	CHECK_EQ_U64(o.interfaces.count, 0);
	CHECK(o.node_name == NULL);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	/* Quoted, "~" is a string. */
	test_yaml(path, "node_name: \"~\"\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	CHECK_EQ_STR(o.node_name, "~");
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_empty_yaml_keeps_defaults(void)
{
	struct test_opts o;
	char path[64];

	test_yaml(path, "");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	CHECK_EQ_U64(o.port, 3001);
	LIST_IS(&o.interfaces, "eth0", "eth1");
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	test_yaml(path, "# only a comment\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), CONFIG_OK);
	CHECK_EQ_U64(o.timeout, 60);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_flags_override_yaml(void)
{
	struct test_opts o;
	char path[64];

	test_yaml(path, "port: 8080\n"
			"verbose: true\n"
			"node_name: from-yaml\n"
			"interfaces: [wlan0]\n");
	/* The config flag may come after the flags it is overridden by. */
	CHECK_EQ_INT(PARSE(&o, "--port", "9090", "--node-name=from-flag", "-i", "x", "-c", path),
		     CONFIG_OK);
	CHECK_EQ_STR(test_err, "");
	CHECK_EQ_U64(o.port, 9090);
	CHECK(o.verbose);
	CHECK_EQ_STR(o.node_name, "from-flag");
	LIST_IS(&o.interfaces, "x");
	CHECK_EQ_U64(o.timeout, 60);
	config_free(test_table, TEST_N, &o);

	CHECK_EQ_INT(PARSE(&o, "-c", path, "-p9091"), CONFIG_OK);
	CHECK_EQ_U64(o.port, 9091);
	LIST_IS(&o.interfaces, "wlan0");
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_bool_flag_sets_true(void)
{
	struct test_opts o;

	CHECK_EQ_INT(PARSE(&o, "-v"), CONFIG_OK);
	CHECK(o.verbose);
	config_free(test_table, TEST_N, &o);
	CHECK_EQ_INT(PARSE(&o, "--verbose"), CONFIG_OK);
	CHECK(o.verbose);
	config_free(test_table, TEST_N, &o);
}

static void test_list_flag_comma_and_repeat(void)
{
	struct test_opts o;

	CHECK_EQ_INT(PARSE(&o, "-i", "a,b", "-i", "c", "--interfaces", " d , e "), CONFIG_OK);
	LIST_IS(&o.interfaces, "a", "b", "c", "d", "e");
	config_free(test_table, TEST_N, &o);

	/* The first occurrence replaces the default. */
	CHECK_EQ_INT(PARSE(&o, "--interfaces=lo"), CONFIG_OK);
	LIST_IS(&o.interfaces, "lo");
	config_free(test_table, TEST_N, &o);

	FLAG_ERROR("-i/--interfaces: empty item in 'a,,b'", "-i", "a,,b");
	FLAG_ERROR("-i/--interfaces: empty item in 'a,'", "-i", "a,");
	FLAG_ERROR("-i/--interfaces: empty item in ''", "-i", "");
	FLAG_ERROR("-i/--interfaces: interface 'bad0' is not allowed", "-i", "eth0", "-i",
		   "x, bad0");
}

static void test_flag_value_errors(void)
{
	FLAG_ERROR("-p/--port: '70000' is out of range 1..65535", "--port", "70000");
	FLAG_ERROR("-p/--port: '0' is out of range 1..65535", "-p", "0");
	FLAG_ERROR("-p/--port: '-1' is not a non-negative decimal number", "-p", "-1");
	FLAG_ERROR("-p/--port: 'abc' is not a non-negative decimal number", "--port=abc");
	FLAG_ERROR("-p/--port: '0x10' is not a non-negative decimal number", "-p", "0x10");
	FLAG_ERROR("-p/--port: '080' is not a non-negative decimal number", "-p", "080");
	FLAG_ERROR("-p/--port: '+80' is not a non-negative decimal number", "-p", "+80");
	FLAG_ERROR("-p/--port: ' 80' is not a non-negative decimal number", "-p", " 80");
	FLAG_ERROR("-p/--port: '' is not a non-negative decimal number", "-p", "");
	FLAG_ERROR("-p/--port: '99999999999999999999999' is out of range 1..65535", "-p",
		   "99999999999999999999999");
	FLAG_ERROR("--connection-timeout: '86401' is out of range 1..86400", "--connection-timeout",
		   "86401");
	FLAG_ERROR("--max-bytes: '18446744073709551616' is out of range 0..18446744073709551615",
		   "--max-bytes", "18446744073709551616");
}

static void test_flag_syntax_errors(void)
{
	FLAG_ERROR("unknown option '--bogus'", "--bogus");
	FLAG_ERROR("unknown option '--bogus=1'", "-v", "--bogus=1");
	FLAG_ERROR("unknown option '-x'", "-x");
	FLAG_ERROR("unknown option '-x'", "-vx");
	FLAG_ERROR("option '-p/--port' requires a value", "--port");
	FLAG_ERROR("option '-p/--port' requires a value", "-v", "-p");
	FLAG_ERROR("option '--node-name' requires a value", "--node-name");
	FLAG_ERROR("option '--verbose' does not take a value", "--verbose=1");
	FLAG_ERROR("option '--version' does not take a value", "--version=2");
	FLAG_ERROR("unexpected argument 'extra'", "extra");
	FLAG_ERROR("unexpected argument 'extra'", "-v", "extra", "--port", "1");
	FLAG_ERROR("unexpected argument 'after'", "--", "after");
}

static void test_help_and_version(void)
{
	struct test_opts o;

	CHECK_EQ_INT(PARSE(&o, "-h"), CONFIG_HELP);
	config_free(test_table, TEST_N, &o);
	CHECK_EQ_INT(PARSE(&o, "--help"), CONFIG_HELP);
	config_free(test_table, TEST_N, &o);
	CHECK_EQ_INT(PARSE(&o, "--version"), CONFIG_VERSION);
	config_free(test_table, TEST_N, &o);
	/* Help works even when the configuration would not load. */
	CHECK_EQ_INT(PARSE(&o, "-c", "/tmp/ayaflow-test-no-such-file.yaml", "-p", "0", "-h"),
		     CONFIG_HELP);
	config_free(test_table, TEST_N, &o);
}

static void test_missing_file_is_enoent(void)
{
	struct test_opts o;

	CHECK_EQ_INT(PARSE(&o, "-c", "/tmp/ayaflow-test-no-such-file.yaml"), -ENOENT);
	CHECK_EQ_STR(test_err, "cannot open config file '/tmp/ayaflow-test-no-such-file.yaml': "
			       "No such file or directory");
	config_free(test_table, TEST_N, &o);

	FLAG_ERROR("config file '/tmp' is not a regular file", "-c", "/tmp");
}

static void test_yaml_errors_name_file_line_and_key(void)
{
	YAML_ERROR("port: 8080\nverbose: true\nprot: 1\n", "3: unknown key 'prot'");
	YAML_ERROR("port: 1\n# comment\n\nconnection-timeout: 5\n",
		   "4: unknown key 'connection-timeout'");
	YAML_ERROR("help: true\n", "1: unknown key 'help'");
	YAML_ERROR("config: other.yaml\n", "1: key 'config' is only valid on the command line");
	YAML_ERROR("port: 1\nverbose: true\n\nport: 2\n", "4: duplicate key 'port'");
	YAML_ERROR("verbose: false\nport: 70000\n", "2: port: '70000' is out of range 1..65535");
	YAML_ERROR("port: 0\n", "1: port: '0' is out of range 1..65535");
	YAML_ERROR("port: -1\n", "1: port: '-1' is not a non-negative decimal number");
	YAML_ERROR("port: abc\n", "1: port: 'abc' is not a non-negative decimal number");
	YAML_ERROR("port: 1.5\n", "1: port: '1.5' is not a non-negative decimal number");
	YAML_ERROR("port: 0x50\n", "1: port: '0x50' is not a non-negative decimal number");
	YAML_ERROR("port: 99999999999999999999\n",
		   "1: port: '99999999999999999999' is out of range 1..65535");
	YAML_ERROR("port:\n", "1: port: missing value");
	YAML_ERROR("verbose: yes\n", "1: verbose: 'yes' is not a boolean (true or false)");
	YAML_ERROR("verbose: 1\n", "1: verbose: '1' is not a boolean (true or false)");
	YAML_ERROR("port: 1\nverbose: [true]\n", "2: verbose: expected a single value, got a list");
	YAML_ERROR("port:\n  value: 1\n", "2: port: expected a single value, got a mapping");
	YAML_ERROR("node_name: {a: 1}\n", "1: node_name: expected a single value, got a mapping");
	YAML_ERROR("interfaces: {a: 1}\n",
		   "1: interfaces: expected a list or a value, got a mapping");
	YAML_ERROR("interfaces:\n  - eth0\n  - [eth1]\n",
		   "3: interfaces: list items must be single values, got a list");
	YAML_ERROR("interfaces:\n  - eth0\n  - bad1\n",
		   "3: interfaces: interface 'bad1' is not allowed");
	YAML_ERROR("interfaces: 'eth0,,eth1'\n", "1: interfaces: empty item in 'eth0,,eth1'");
	YAML_ERROR("- port\n- verbose\n",
		   "1: the top level must be a mapping of keys to values, got a list");
	YAML_ERROR("port\n", "1: the top level must be a mapping of keys to values, got a value");
	YAML_ERROR("port: 1\n---\nport: 2\n", "3: only one YAML document is allowed");
	YAML_ERROR("[a]: 1\n", "1: keys must be option names, got a list");
}

static void test_yaml_syntax_error_names_file_and_line(void)
{
	struct test_opts o;
	char path[64], want[128];

	test_yaml(path, "port: 1\nverbose: [true\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: ", path);
	CHECK_CONTAINS(test_err, want);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);

	test_yaml(path, "port: 1\n  bad indent: 2\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: ", path);
	CHECK_CONTAINS(test_err, want);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_parse_twice_in_one_process(void)
{
	struct test_opts a, b;

	CHECK_EQ_INT(PARSE(&a, "-p", "1", "-i", "x"), CONFIG_OK);
	CHECK_EQ_INT(PARSE(&b, "-p", "2", "-v"), CONFIG_OK);
	CHECK_EQ_U64(a.port, 1);
	LIST_IS(&a.interfaces, "x");
	CHECK(!a.verbose);
	CHECK_EQ_U64(b.port, 2);
	LIST_IS(&b.interfaces, "eth0", "eth1");
	CHECK(b.verbose);
	config_free(test_table, TEST_N, &a);
	config_free(test_table, TEST_N, &b);

	/* An error in the middle of grouped short flags leaves getopt mid-word. */
	FLAG_ERROR("unknown option '-x'", "-vxv");
	CHECK_EQ_INT(PARSE(&a, "-v", "-p", "3"), CONFIG_OK);
	CHECK(a.verbose);
	CHECK_EQ_U64(a.port, 3);
	config_free(test_table, TEST_N, &a);
}

static void test_config_free_clears_everything(void)
{
	struct test_opts o;
	char path[64];

	test_yaml(path, "node_name: n\ninterfaces: [a, b, c]\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path, "-i", "d"), CONFIG_OK);
	config_free(test_table, TEST_N, &o);
	CHECK(o.node_name == NULL);
	CHECK(o.config == NULL);
	CHECK(o.interfaces.items == NULL);
	CHECK_EQ_U64(o.interfaces.count, 0);
	/* Twice is harmless, NULL is accepted. */
	config_free(test_table, TEST_N, &o);
	config_free(test_table, TEST_N, NULL);
	test_unlink(path);

	/* Partial values after an error are freed the same way. */
	CHECK_EQ_INT(PARSE(&o, "--node-name", "n", "-i", "a,b", "-p", "0"), -EINVAL);
	config_free(test_table, TEST_N, &o);
}

static void test_to_json_exact(void)
{
	struct test_opts o;
	char path[64], want[512];
	json_t *j;
	char *s;

	CHECK_EQ_INT(PARSE(&o, "-v"), CONFIG_OK);
	j = config_to_json(test_table, TEST_N, &o);
	s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	CHECK_EQ_STR(s, "{\"config\":null,\"connection_timeout\":60,"
			"\"interfaces\":[\"eth0\",\"eth1\"],\"max_bytes\":0,\"node_name\":null,"
			"\"port\":3001,\"verbose\":true}");
	free(s);
	json_decref(j);
	config_free(test_table, TEST_N, &o);

	test_yaml(path, "node_name: \"n\\\"1\"\nmax_bytes: 18446744073709551615\n");
	CHECK_EQ_INT(PARSE(&o, "-c", path, "-i", "a", "-i", "b,c", "-p", "80"), CONFIG_OK);
	j = config_to_json(test_table, TEST_N, &o);
	s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	snprintf(want, sizeof(want),
		 "{\"config\":\"%s\",\"connection_timeout\":60,"
		 "\"interfaces\":[\"a\",\"b\",\"c\"],\"max_bytes\":\"18446744073709551615\","
		 "\"node_name\":\"n\\\"1\",\"port\":80,\"verbose\":false}",
		 path);
	CHECK_EQ_STR(s, want);
	free(s);
	json_decref(j);
	config_free(test_table, TEST_N, &o);
	test_unlink(path);
}

static void test_print_help_exact(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (!CHECK(f != NULL))
		return;
	config_print_help(test_table, TEST_N, "prog [OPTION]...", f);
	CHECK_EQ_INT(fclose(f), 0);
	CHECK_EQ_STR(text,
		     "Usage: prog [OPTION]...\n"
		     "  -p, --port PORT                   HTTP port (default: 3001)\n"
		     "  -v, --verbose                     Log more\n"
		     "      --node-name NAME              Name of this node\n"
		     "  -i, --interfaces IFACES           Interfaces to watch (default: "
		     "eth0,eth1)\n"
		     "      --connection-timeout SECONDS  Idle connection timeout (default: 60)\n"
		     "      --max-bytes N                 Byte budget\n"
		     "  -c, --config FILE                 YAML configuration file\n"
		     "  -h, --help                        Show this help\n"
		     "      --version                     Show the version\n");
	free(text);
}

int main(void)
{
	test_defaults_applied();
	test_yaml_values_applied();
	test_yaml_list_forms();
	test_empty_yaml_keeps_defaults();
	test_flags_override_yaml();
	test_bool_flag_sets_true();
	test_list_flag_comma_and_repeat();
	test_flag_value_errors();
	test_flag_syntax_errors();
	test_help_and_version();
	test_missing_file_is_enoent();
	test_yaml_errors_name_file_line_and_key();
	test_yaml_syntax_error_names_file_and_line();
	test_parse_twice_in_one_process();
	test_config_free_clears_everything();
	test_to_json_exact();
	test_print_help_exact();
	return check_exit();
}
