/*
 * The small test harness our C test programs share: named cases that print
 * "PASS <name>" or "FAIL <name>: <why>", chosen on the command line.
 */
#ifndef LIBUSB_WASM_TEST_HARNESS_H
#define LIBUSB_WASM_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>
#include <time.h>

struct test_case {
	const char *name;
	int (*fn)(void);
};

/* Why the running case failed; CHECK fills it in. */
static char why[256];

/* Fail the case (return 1) with a message when cond is false. */
#define CHECK(cond, ...) do { if (!(cond)) { snprintf(why, sizeof(why), __VA_ARGS__); return 1; } } while (0)

static inline double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * Run the cases named in argv (all of them when none is named and
 * all_by_default is set). Returns the number of failures, or 100 when no
 * case matched.
 */
static inline int run_cases(int argc, char **argv, const struct test_case *tests, size_t count, int all_by_default)
{
	int failures = 0, ran = 0;

	for (size_t i = 0; i < count; i++) {
		int wanted = argc < 2 && all_by_default;
		for (int a = 1; a < argc; a++)
			wanted |= strcmp(argv[a], tests[i].name) == 0;
		if (!wanted)
			continue;
		ran++;
		why[0] = 0;
		if (tests[i].fn()) {
			printf("FAIL %s: %s\n", tests[i].name, why);
			failures++;
		} else {
			printf("PASS %s\n", tests[i].name);
		}
	}
	if (!ran) {
		printf("FAIL no such test\n");
		return 100;
	}
	return failures;
}

#endif
