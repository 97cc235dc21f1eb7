/* fuzz_main.c - a plain main() for the fuzz targets, so that every build (any compiler,
 * no libFuzzer) runs each target over its seed corpus: every argument is a file, or a
 * directory whose regular files are all run, through LLVMFuzzerTestOneInput(). Exits 1
 * if a file cannot be read or no input was found; a bad input aborts, as in libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; 0 or -1 (reported). */
static int fuzz_main_run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int ret = -1;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz_main: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *grown;

			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				fprintf(stderr, "fuzz_main: %s: out of memory\n", path);
				goto out;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "fuzz_main: %s: read error\n", path);
		goto out;
	}
	/* An exact-size copy, so that ASan catches a read one past the input. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (exact == NULL) {
			fprintf(stderr, "fuzz_main: %s: out of memory\n", path);
			goto out;
		}
		if (len > 0)
			memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

/* Runs a file or every regular file of a directory; adds to *count. 0 or -1. */
static int fuzz_main_run_path(const char *path, int *count)
{
	char child[4096];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int ret = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz_main: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (fuzz_main_run_file(path) != 0)
			return -1;
		(*count)++;
		return 0;
	}
	dir = opendir(path);
	if (dir == NULL) {
		fprintf(stderr, "fuzz_main: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (stat(child, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (fuzz_main_run_file(child) != 0) {
			ret = -1;
			continue;
		}
		(*count)++;
	}
	closedir(dir);
	return ret;
}

int main(int argc, char **argv)
{
	int i, count = 0, failed = 0;

	for (i = 1; i < argc; i++)
		if (fuzz_main_run_path(argv[i], &count) != 0)
			failed = 1;
	printf("%d inputs run\n", count);
	if (count == 0) {
		fprintf(stderr, "fuzz_main: no inputs\n");
		return 1;
	}
	return failed;
}
