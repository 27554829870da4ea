/*
 * Idle: what waiting costs. bench/idle.mjs measures the process's CPU time
 * while this program waits, with nothing happening, for --ms milliseconds
 * (default 5000) in one of two ways:
 *
 *   events    libusb_handle_events_timeout_completed() in a loop, no
 *             transfer in flight (a program's event thread between events)
 *   transfer  one synchronous bulk IN that gets no data and times out
 *             (libusb_bulk_transfer with a --ms timeout on the loopback
 *             device's 0x81, which answers only what was sent to 0x01)
 *
 * It prints "idle=<mode> start" before the wait and
 * "idle=<mode> ms=<elapsed> result=<libusb result>" after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libusb.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "events";
	int ms = 5000, r, completed = 0, n = 0;
	libusb_context *ctx;
	libusb_device_handle *h;
	unsigned char buf[512];
	double t0, end;

	for (int i = 2; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "--ms") == 0)
			ms = atoi(argv[i + 1]);
	r = libusb_init_context(&ctx, NULL, 0);
	if (r) {
		printf("error: libusb_init_context: %s\n", libusb_error_name(r));
		return 1;
	}
	h = libusb_open_device_with_vid_pid(ctx, 0x1209, 0x0001);
	if (!h || libusb_claim_interface(h, 0)) {
		printf("error: no loopback device 1209:0001 (run with --devices loopback)\n");
		return 1;
	}
	printf("idle=%s start\n", mode);
	fflush(stdout);
	t0 = now_ms();
	end = t0 + ms;
	if (strcmp(mode, "events") == 0) {
		while (now_ms() < end) {
			double left = end - now_ms();
			struct timeval tv = { (time_t)(left / 1000), (suseconds_t)((long)left % 1000) * 1000 };

			r = libusb_handle_events_timeout_completed(ctx, &tv, &completed);
			if (r)
				break;
		}
	} else if (strcmp(mode, "transfer") == 0) {
		r = libusb_bulk_transfer(h, 0x81, buf, sizeof(buf), &n, (unsigned int)ms);
	} else {
		printf("error: unknown mode '%s' (events, transfer)\n", mode);
		return 2;
	}
	printf("idle=%s ms=%.1f result=%s\n", mode, now_ms() - t0, r ? libusb_error_name(r) : "0");
	fflush(stdout);
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(ctx);
	return 0;
}
