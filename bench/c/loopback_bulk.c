/*
 * Bulk throughput and latency against the simulated loopback device
 * (1209:0001): synchronous round trips (OUT then IN) of one size, then a
 * pipeline of asynchronous transfers. Prints one line per measurement.
 *
 *   loopback_bulk [bytes per transfer (default 16384)] [seconds (default 1)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libusb.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct pipe_state { int inflight; long bytes; long count; int failed; };

static void LIBUSB_CALL on_in(struct libusb_transfer *t)
{
	struct pipe_state *s = t->user_data;
	s->inflight--;
	if (t->status != LIBUSB_TRANSFER_COMPLETED) s->failed = 1;
	s->bytes += t->actual_length;
	s->count++;
}

static void LIBUSB_CALL on_out(struct libusb_transfer *t)
{
	struct pipe_state *s = t->user_data;
	s->inflight--;
	if (t->status != LIBUSB_TRANSFER_COMPLETED) s->failed = 1;
}

int main(int argc, char **argv)
{
	int size = argc > 1 ? atoi(argv[1]) : 16384;
	double seconds = argc > 2 ? atof(argv[2]) : 1.0;
	unsigned char *out = malloc(size), *in = malloc(size);
	libusb_device_handle *h;
	int n, r;
	long rounds = 0;

	if (libusb_init_context(NULL, NULL, 0) || !(h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001))) {
		fprintf(stderr, "no loopback device 1209:0001\n");
		return 1;
	}
	if (libusb_claim_interface(h, 0)) {
		fprintf(stderr, "claim failed\n");
		return 1;
	}
	memset(out, 0x5a, size);

	/* synchronous round trips: latency */
	double t0 = now(), t;
	do {
		r = libusb_bulk_transfer(h, 0x01, out, size, &n, 1000);
		if (!r) r = libusb_bulk_transfer(h, 0x81, in, size, &n, 1000);
		if (r) {
			fprintf(stderr, "round trip failed: %s\n", libusb_error_name(r));
			return 1;
		}
		rounds++;
	} while ((t = now() - t0) < seconds);
	printf("sync round trips: %d bytes, %.1f us per round trip, %.1f MB/s each way\n",
		size, t / rounds * 1e6, rounds * (double)size / t / 1e6);

	/* a pipeline of 8 OUT + 8 IN transfers: throughput */
	enum { DEPTH = 8 };
	struct pipe_state s = { 0 };
	struct libusb_transfer *tin[DEPTH], *tout[DEPTH];
	unsigned char *bin = malloc((size_t)size * DEPTH);
	for (int i = 0; i < DEPTH; i++) {
		tin[i] = libusb_alloc_transfer(0);
		tout[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(tin[i], h, 0x81, bin + (size_t)i * size, size, on_in, &s, 2000);
		libusb_fill_bulk_transfer(tout[i], h, 0x01, out, size, on_out, &s, 2000);
	}
	t0 = now();
	while ((t = now() - t0) < seconds && !s.failed) {
		for (int i = 0; i < DEPTH; i++) {
			if (libusb_submit_transfer(tin[i]) || libusb_submit_transfer(tout[i])) {
				fprintf(stderr, "submit failed\n");
				return 1;
			}
			s.inflight += 2;
		}
		while (s.inflight) libusb_handle_events(NULL);
	}
	if (s.failed) {
		fprintf(stderr, "a pipelined transfer failed\n");
		return 1;
	}
	printf("pipelined (depth %d each way): %d bytes, %.0f transfers/s, %.1f MB/s each way\n",
		DEPTH, size, s.count / t, s.bytes / t / 1e6);
	for (int i = 0; i < DEPTH; i++) {
		libusb_free_transfer(tin[i]);
		libusb_free_transfer(tout[i]);
	}
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(NULL);
	return 0;
}
