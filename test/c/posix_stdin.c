/*
 * Standard input streamed from the runner (wasm/runtime/stdin.c).
 *   posix_stdin count [pause-after-bytes]
 *       reads stdin to its end with fread, checking every byte against the
 *       test pattern (byte i is (i ^ i >> 8 ^ i >> 16) & 0xff); with
 *       pause-after-bytes, stops reading for a second there ("paused at N")
 *   posix_stdin lines     an interactive prompt, line by line, until EOF
 *   posix_stdin nonblock  O_NONBLOCK: EAGAIN, then poll() until a line comes
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libusb.h>

static unsigned char expected(unsigned long long i)
{
	return (unsigned char)((i ^ (i >> 8) ^ (i >> 16)) & 0xff);
}

static int count(long long pause_after)
{
	static unsigned char buffer[65536];
	unsigned long long total = 0;
	size_t n;

	while ((n = fread(buffer, 1, sizeof(buffer), stdin)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (buffer[i] != expected(total + i)) {
				printf("mismatch at %llu: %u, not %u\n", total + i, buffer[i], expected(total + i));
				return 1;
			}
		}
		total += n;
		if (pause_after >= 0 && total >= (unsigned long long)pause_after) {
			printf("paused at %llu\n", total);
			fflush(stdout);
			sleep(1);
			pause_after = -1;
		}
	}
	if (ferror(stdin)) {
		printf("read error: %s\n", strerror(errno));
		return 1;
	}
	printf("read %llu bytes in order\n", total);
	return 0;
}

static int lines(void)
{
	char line[256];

	for (;;) {
		printf("name? ");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			break;
		printf("hello %s", line);
	}
	printf("bye\n");
	return 0;
}

static int nonblocking(void)
{
	char line[64];
	struct pollfd p = { 0, POLLIN, 0 };
	ssize_t n;

	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	if (!(fcntl(0, F_GETFL) & O_NONBLOCK))
		return printf("O_NONBLOCK did not stick\n"), 1;
	n = read(0, line, sizeof(line));
	if (n != -1 || errno != EAGAIN)
		return printf("read gave %zd (%s), not EAGAIN\n", n, strerror(errno)), 1;
	printf("would block\n");
	fflush(stdout);
	if (poll(&p, 1, 30000) != 1 || !(p.revents & POLLIN))
		return printf("poll: no input\n"), 1;
	n = read(0, line, sizeof(line) - 1);
	if (n <= 0)
		return printf("read after poll gave %zd\n", n), 1;
	line[n] = 0;
	printf("got %s", line);
	return 0;
}

int main(int argc, char **argv)
{
	/* a libusb program like any other */
	if (libusb_init_context(NULL, NULL, 0))
		return 99;
	if (argc > 1 && strcmp(argv[1], "count") == 0)
		return count(argc > 2 ? atoll(argv[2]) : -1);
	if (argc > 1 && strcmp(argv[1], "lines") == 0)
		return lines();
	if (argc > 1 && strcmp(argv[1], "nonblock") == 0)
		return nonblocking();
	fprintf(stderr, "usage: posix_stdin count [pause-after-bytes] | lines | nonblock\n");
	return 2;
}
