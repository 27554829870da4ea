/*
 * Baseline for bench/api.mjs: the same loopback exchange the typed JS API
 * benchmark does, from C with libusb's synchronous API, so the difference
 * is what the JS API adds (postMessage to the worker, the command thread).
 *
 *   api_baseline <iterations> <bytes>   prints "us_per_transfer <n>"
 */
#include <stdio.h>
#include <stdlib.h>
#include <emscripten.h>
#include <libusb.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int size = argc > 2 ? atoi(argv[2]) : 64;
	unsigned char *buf = malloc((size_t)size);
	libusb_context *ctx;
	libusb_device_handle *h;
	int done, r;
	double t0;

	if (libusb_init_context(&ctx, NULL, 0) < 0)
		return 1;
	h = libusb_open_device_with_vid_pid(ctx, 0x1209, 0x0001);
	if (!h || libusb_claim_interface(h, 0) < 0)
		return 2;
	for (int warm = 0; warm < 2; warm++) {
		t0 = emscripten_get_now();
		for (int i = 0; i < n; i++) {
			r = libusb_bulk_transfer(h, 0x01, buf, size, &done, 1000);
			if (r == 0)
				r = libusb_bulk_transfer(h, 0x81, buf, size, &done, 1000);
			if (r < 0)
				return printf("error %s\n", libusb_error_name(r)), 3;
		}
	}
	printf("us_per_transfer %.1f\n", (emscripten_get_now() - t0) * 1000.0 / (2.0 * n));
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(ctx);
	return 0;
}
