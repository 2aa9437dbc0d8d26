/*
 * replay.c: main() for fuzz targets in ordinary builds.
 *
 * Without --enable-fuzzers every tests/fuzz/fuzz_X is linked with this
 * driver instead of libFuzzer.  Run with no arguments it replays every
 * file of $top_srcdir/tests/fuzz/corpus/fuzz_X/ (and crashes/fuzz_X/ when
 * present) through LLVMFuzzerTestOneInput, one TAP test per input: a
 * seed that crashes or trips a sanitizer fails make check.  With
 * arguments it replays exactly those files (reproducing a crash).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX_INPUT (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ntests;

static int
replay_file(const char *path)
{
	uint8_t *buf;
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		printf("not ok %d - cannot open %s\n", ++ntests, path);
		return -1;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* Copy to an exact-size buffer so ASan sees overreads. */
	{
		uint8_t *exact = malloc(n ? n : 1);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, n);
		free(buf);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	printf("ok %d - %s (%zu bytes)\n", ++ntests, path, n);
	fflush(stdout);
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
replay_dir(const char *dir)
{
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	int rc = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL)
				break;
			names = nn;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (replay_file(path) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *base, *srcdir;
	char dir[4096];
	int i, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_file(argv[i]) < 0)
				rc = 1;
		printf("1..%d\n", ntests);
		return rc;
	}
	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strncmp(base, "lt-", 3) == 0)
		base += 3;
	srcdir = getenv("top_srcdir");
	if (srcdir == NULL)
		srcdir = ".";
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir, base);
	if (replay_dir(dir) < 0)
		rc = 1;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/crashes/%s", srcdir, base);
	if (replay_dir(dir) < 0)
		rc = 1;
	if (ntests == 0) {
		printf("1..0 # SKIP no seed corpus in %s/tests/fuzz/corpus/%s\n",
		       srcdir, base);
		return 0;
	}
	printf("1..%d\n", ntests);
	return rc;
}
