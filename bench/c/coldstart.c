/*
 * Cold start: libusb_init_context to the first device listed. The harness
 * (bench/run.mjs) times the whole thing from the JS side, from
 * runProgram() to this program's line, so worker, wasm and pthread start
 * are included; the program also reports its own part.
 *
 *   bench=cold_start devices=<n> init_to_list_ms=<ms>
 */
#include <stdio.h>
#include <time.h>
#include <libusb.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int main(void)
{
	libusb_context *ctx;
	libusb_device **list;
	double t0 = now_ms();
	ssize_t n;
	int r = libusb_init_context(&ctx, NULL, 0);

	if (r) {
		printf("error: libusb_init_context: %s\n", libusb_error_name(r));
		return 1;
	}
	n = libusb_get_device_list(ctx, &list);
	if (n < 1) {
		printf("error: no device listed (%s)\n", n < 0 ? libusb_error_name((int)n) : "0 devices");
		return 1;
	}
	printf("bench=cold_start devices=%d init_to_list_ms=%.3f\n", (int)n, now_ms() - t0);
	fflush(stdout);
	libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	return 0;
}
