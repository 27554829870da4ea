/*
 * Data-path benchmark: a plain libusb program, built like any user program,
 * run against the simulated loopback device (ts/sim/models/loopback.ts,
 * 1209:0001: bulk OUT 0x01 is echoed on bulk IN 0x81).
 *
 *   datapath [--ms N] [--warmup N] [case...]
 *
 * Cases (default: all of them, in this order):
 *   control              synchronous GET_DESCRIPTOR(device), 18 bytes
 *   sync:SIZE            synchronous bulk round trips: OUT SIZE bytes, then IN SIZE bytes
 *   async:SIZE:N         the same with the asynchronous API, N round trips in flight
 *   in:SIZE:N            asynchronous bulk IN only, N transfers in flight, from the
 *                        device's endless IN source (vendor request IN_SOURCE)
 *
 * Each case runs `warmup` ms untimed, then `ms` ms timed, and prints one line:
 *
 *   bench=<case> size=<bytes> inflight=<n> ops=<count> bytes=<payload> seconds=<s> per_s=<ops/s> us=<us/op> MBps=<MB/s>
 *
 * An op is one transfer (control, in) or one OUT+IN round trip (sync,
 * async); `bytes` counts the payload of every transfer, both directions
 * (MB = 10^6 bytes). Every transfer's length and first bytes are checked, so
 * a fast wrong answer fails (exit status 1) instead of being reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libusb.h>

#define VID 0x1209
#define PID 0x0001
#define EP_OUT 0x01
#define EP_IN 0x81
#define REQ_IN_SOURCE 0x08
#define TIMEOUT_MS 5000
#define MAX_INFLIGHT 64

static libusb_context *ctx;
static libusb_device_handle *h;
static double run_ms = 500, warmup_ms = 100;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void die(const char *what, int r)
{
	printf("error: %s: %s\n", what, r < 0 ? libusb_error_name(r) : "unexpected result");
	exit(1);
}

static void report(const char *name, int size, int inflight, long ops, double bytes, double ms)
{
	double s = ms / 1000.0;

	printf("bench=%s size=%d inflight=%d ops=%ld bytes=%.0f seconds=%.6f per_s=%.1f us=%.4f MBps=%.2f\n",
		name, size, inflight, ops, bytes, s, ops / s, ms * 1000.0 / ops, bytes / s / 1e6);
	fflush(stdout);
}

static void stamp(unsigned char *buf, int size, unsigned int n)
{
	if (size >= 4)
		memcpy(buf, &n, 4);
	else if (size > 0)
		buf[0] = (unsigned char)n;
}

static int stamp_ok(const unsigned char *buf, int size, unsigned int n)
{
	return size >= 4 ? memcmp(buf, &n, 4) == 0 : size == 0 || buf[0] == (unsigned char)n;
}

/* ---- synchronous -------------------------------------------------------- */

static void bench_control(void)
{
	unsigned char desc[18];
	double end = now_ms() + warmup_ms, t0, t1;
	long ops = 0;

	for (int timed = 0; timed < 2; timed++) {
		t0 = now_ms();
		for (ops = 0;; ops++) {
			int r = libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, desc, sizeof(desc));
			if (r != sizeof(desc) || desc[1] != LIBUSB_DT_DEVICE)
				die("GET_DESCRIPTOR", r);
			if ((ops & 15) == 0 && now_ms() >= end)
				break;
		}
		t1 = now_ms();
		end = t1 + run_ms;
	}
	report("control", 18, 1, ops + 1, 18.0 * (ops + 1), t1 - t0);
}

static void bench_sync(int size)
{
	unsigned char *out = malloc(size), *in = malloc(size);
	double end = now_ms() + warmup_ms, t0, t1;
	long ops = 0;

	for (int i = 0; i < size; i++)
		out[i] = (unsigned char)i;
	for (int timed = 0; timed < 2; timed++) {
		t0 = now_ms();
		for (ops = 0;; ops++) {
			int n = 0, r;

			stamp(out, size, (unsigned int)ops);
			r = libusb_bulk_transfer(h, EP_OUT, out, size, &n, TIMEOUT_MS);
			if (r || n != size)
				die("bulk OUT", r);
			r = libusb_bulk_transfer(h, EP_IN, in, size, &n, TIMEOUT_MS);
			if (r || n != size || !stamp_ok(in, size, (unsigned int)ops))
				die("bulk IN", r);
			if (now_ms() >= end)
				break;
		}
		t1 = now_ms();
		end = t1 + run_ms;
	}
	report("sync", size, 1, ops + 1, 2.0 * size * (ops + 1), t1 - t0);
	free(out);
	free(in);
}

/* ---- asynchronous ------------------------------------------------------- */

/* One slot keeps one round trip (OUT, then IN) or one IN transfer in flight. */
struct slot {
	struct libusb_transfer *out, *in;
	unsigned int seq;
};

static struct {
	struct slot slots[MAX_INFLIGHT];
	int size, active, failed;
	long ops;
	double end, last;
	unsigned int next_seq;
} run;

static int keep_going(struct slot *s)
{
	double t = now_ms();

	run.last = t;
	if (t < run.end)
		return 1;
	run.active--;
	(void)s;
	return 0;
}

static void submit_or_fail(struct libusb_transfer *t)
{
	int r = libusb_submit_transfer(t);

	if (r) {
		printf("error: submit: %s\n", libusb_error_name(r));
		run.failed = 1;
		run.active--;
	}
}

static void start_round_trip(struct slot *s)
{
	s->seq = run.next_seq++;
	stamp(s->out->buffer, run.size, s->seq);
	submit_or_fail(s->out);
}

static void LIBUSB_CALL on_out(struct libusb_transfer *t)
{
	struct slot *s = t->user_data;

	if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != run.size) {
		printf("error: async OUT: status %d, %d bytes\n", t->status, t->actual_length);
		run.failed = 1;
		run.active--;
		return;
	}
	submit_or_fail(s->in);
}

static void LIBUSB_CALL on_in_echo(struct libusb_transfer *t)
{
	struct slot *s = t->user_data;

	if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != run.size) {
		printf("error: async IN: status %d, %d bytes\n", t->status, t->actual_length);
		run.failed = 1;
		run.active--;
		return;
	}
	/* Slots complete in submission order, so each IN carries its own OUT's data. */
	if (!stamp_ok(t->buffer, run.size, s->seq)) {
		printf("error: async IN: data of another round trip\n");
		run.failed = 1;
	}
	run.ops++;
	if (keep_going(s))
		start_round_trip(s);
}

static void LIBUSB_CALL on_in_stream(struct libusb_transfer *t)
{
	struct slot *s = t->user_data;

	if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != run.size
	    || t->buffer[1] != 1 || t->buffer[run.size - 1] != (unsigned char)(run.size - 1)) {
		printf("error: streaming IN: status %d, %d bytes\n", t->status, t->actual_length);
		run.failed = 1;
		run.active--;
		return;
	}
	run.ops++;
	if (keep_going(s))
		submit_or_fail(t);
}

static void set_source(int on)
{
	int r = libusb_control_transfer(h, LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_ENDPOINT_OUT,
		REQ_IN_SOURCE, (uint16_t)on, EP_IN, NULL, 0, TIMEOUT_MS);

	if (r < 0)
		die("IN_SOURCE request", r);
}

/* in_only: every slot keeps one IN in flight; otherwise one round trip. */
static void bench_async(int size, int inflight, int in_only)
{
	double t0 = 0;

	if (inflight < 1 || inflight > MAX_INFLIGHT)
		die("in flight count out of range", 0);
	memset(&run, 0, sizeof(run));
	run.size = size;
	for (int i = 0; i < inflight; i++) {
		struct slot *s = &run.slots[i];

		s->in = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(s->in, h, EP_IN, malloc(size), size,
			in_only ? on_in_stream : on_in_echo, s, TIMEOUT_MS);
		if (!in_only) {
			unsigned char *buf = malloc(size);

			for (int j = 0; j < size; j++)
				buf[j] = (unsigned char)j;
			s->out = libusb_alloc_transfer(0);
			libusb_fill_bulk_transfer(s->out, h, EP_OUT, buf, size, on_out, s, TIMEOUT_MS);
		}
	}
	if (in_only)
		set_source(1);

	for (int timed = 0; timed < 2; timed++) {
		t0 = now_ms();
		run.end = t0 + (timed ? run_ms : warmup_ms);
		run.ops = 0;
		run.active = inflight;
		for (int i = 0; i < inflight; i++) {
			if (in_only)
				submit_or_fail(run.slots[i].in);
			else
				start_round_trip(&run.slots[i]);
		}
		while (run.active > 0) {
			int r = libusb_handle_events(ctx);
			if (r)
				die("libusb_handle_events", r);
		}
		if (run.failed)
			exit(1);
	}
	if (in_only)
		set_source(0);
	report(in_only ? "in" : "async", size, inflight, run.ops,
		(in_only ? 1.0 : 2.0) * size * run.ops, run.last - t0);

	for (int i = 0; i < inflight; i++) {
		struct slot *s = &run.slots[i];

		free(s->in->buffer);
		libusb_free_transfer(s->in);
		if (s->out) {
			free(s->out->buffer);
			libusb_free_transfer(s->out);
		}
	}
}

/* ---- main ---------------------------------------------------------------- */

static const char *const default_cases[] = {
	"control",
	"sync:64", "sync:512", "sync:4096", "sync:65536", "sync:1048576",
	"async:64:8", "async:512:8", "async:4096:8", "async:65536:8", "async:1048576:8",
	"in:512:32",
};

static int run_case(const char *c)
{
	int size, n;

	if (strcmp(c, "control") == 0)
		bench_control();
	else if (sscanf(c, "sync:%d", &size) == 1 && size > 0)
		bench_sync(size);
	else if (sscanf(c, "async:%d:%d", &size, &n) == 2 && size > 0)
		bench_async(size, n, 0);
	else if (sscanf(c, "in:%d:%d", &size, &n) == 2 && size > 1)
		bench_async(size, n, 1);
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int first_case = argc, r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
			run_ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup_ms = atof(argv[++i]);
		else {
			first_case = i;
			break;
		}
	}

	r = libusb_init_context(&ctx, NULL, 0);
	if (r)
		die("libusb_init_context", r);
	h = libusb_open_device_with_vid_pid(ctx, VID, PID);
	if (!h)
		die("no loopback device 1209:0001 (run with --devices loopback)", 0);
	r = libusb_claim_interface(h, 0);
	if (r)
		die("claim interface 0", r);

	if (first_case == argc) {
		for (size_t i = 0; i < sizeof(default_cases) / sizeof(*default_cases); i++)
			run_case(default_cases[i]);
	} else {
		for (int i = first_case; i < argc; i++) {
			if (run_case(argv[i])) {
				printf("error: unknown case '%s' (control, sync:SIZE, async:SIZE:N, in:SIZE:N)\n", argv[i]);
				return 2;
			}
		}
	}

	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(ctx);
	return 0;
}
