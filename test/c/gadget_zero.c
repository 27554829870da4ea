/*
 * libusb transfer semantics against a real USB device: the Linux gadget the
 * real-kernel tests make with dummy_hcd and configfs (GADGET_ZERO in
 * test/qemu/guest/gadget.mjs), 1209:000a, high speed, bulk endpoints of 512
 * bytes. Configuration 1 is a SourceSink function: its bulk IN always has
 * data and its bulk OUT takes data, both bytes (i % 512) % 63 in requests of
 * 4096 bytes (a wrong byte halts the OUT endpoint), and vendor requests 0x5b
 * and 0x5c write and read back a control buffer. Configuration 2 is a
 * Loopback function: what goes OUT comes back IN, in requests of 512 bytes.
 * Endpoint addresses are read from the descriptors.
 *
 * A plain libusb program, the same on every transport. Each case prints
 * "PASS <name>" or "FAIL <name>: <why>"; the exit status is the number of
 * failures. Every case but `unplug` runs when none is named; `unplug` waits
 * until the device is taken away (it prints "waiting" first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>
#include "harness.h"

#define VID 0x1209
#define PID 0x000a
#define CONFIG_SOURCESINK 1
#define CONFIG_LOOPBACK 2
#define PACKET 512

static libusb_device_handle *h;
/* the bulk endpoints of the configuration in use */
static unsigned char ep_in, ep_out;

/* Switch to a configuration (interface 0 released and claimed again) and find its bulk endpoints. */
static int use_config(int value)
{
	struct libusb_config_descriptor *c;
	int current = -1, r;

	r = libusb_get_configuration(h, &current);
	if (r)
		return r;
	if (current != value) {
		libusb_release_interface(h, 0);
		if ((r = libusb_set_configuration(h, value)))
			return r;
	}
	if ((r = libusb_claim_interface(h, 0)))
		return r;
	if ((r = libusb_get_active_config_descriptor(libusb_get_device(h), &c)))
		return r;
	ep_in = ep_out = 0;
	const struct libusb_interface_descriptor *alt = &c->interface[0].altsetting[0];
	for (int i = 0; i < alt->bNumEndpoints; i++) {
		unsigned char a = alt->endpoint[i].bEndpointAddress;
		if ((alt->endpoint[i].bmAttributes & 3) == LIBUSB_TRANSFER_TYPE_BULK)
			*((a & LIBUSB_ENDPOINT_IN) ? &ep_in : &ep_out) = a;
	}
	libusb_free_config_descriptor(c);
	return ep_in && ep_out ? 0 : LIBUSB_ERROR_NOT_FOUND;
}

#define USE(config) do { int r_ = use_config(config); \
	CHECK(r_ == 0, "configuration %d: %s", config, libusb_error_name(r_)); } while (0)

static unsigned char pattern(int i, int seed)
{
	return (unsigned char)(i * 7 + seed);
}

/* What SourceSink sends and wants: (i % 512) % 63, packet by packet. */
static unsigned char source_byte(int i)
{
	return (unsigned char)((i % PACKET) % 63);
}

/* Send `len` bytes through the loopback function and read them back, exactly. */
static int round_trip(int len, int seed)
{
	unsigned char *out = malloc(len), *in = calloc(1, len + 1);
	int n = -1, r, failed = 1;

	for (int i = 0; i < len; i++)
		out[i] = pattern(i, seed);
	r = libusb_bulk_transfer(h, ep_out, out, len, &n, 5000);
	if (r || n != len) {
		snprintf(why, sizeof(why), "OUT %d: %s, %d sent", len, libusb_error_name(r), n);
		goto done;
	}
	r = libusb_bulk_transfer(h, ep_in, in, len, &n, 5000);
	if (r || n != len) {
		snprintf(why, sizeof(why), "IN %d: %s, %d received", len, libusb_error_name(r), n);
		goto done;
	}
	for (int i = 0; i < len; i++) {
		if (in[i] != out[i]) {
			snprintf(why, sizeof(why), "%d bytes: byte %d is 0x%02x, sent 0x%02x", len, i, in[i], out[i]);
			goto done;
		}
	}
	failed = 0;
done:
	free(out);
	free(in);
	return failed;
}

struct done { int completed; enum libusb_transfer_status status; int actual; };

static void LIBUSB_CALL on_done(struct libusb_transfer *t)
{
	struct done *d = t->user_data;
	d->completed = 1;
	d->status = t->status;
	d->actual = t->actual_length;
}

static int wait_done(struct done *d, int max_ms)
{
	double end = now_ms() + max_ms;
	while (!d->completed) {
		if (now_ms() > end)
			return LIBUSB_ERROR_TIMEOUT;
		struct timeval tv = { 0, 100000 };
		libusb_handle_events_timeout_completed(NULL, &tv, &d->completed);
	}
	return 0;
}

/* Vendor control requests with data both ways; one the device does not know stalls. */
static int test_control(void)
{
	unsigned char out[64], in[64];
	int r;

	USE(CONFIG_SOURCESINK);
	for (int i = 0; i < (int)sizeof(out); i++)
		out[i] = pattern(i, 1);
	r = libusb_control_transfer(h, 0x40, 0x5b, 0, 0, out, sizeof(out), 5000);
	CHECK(r == (int)sizeof(out), "control write 0x5b: %s", libusb_error_name(r));
	r = libusb_control_transfer(h, 0xc0, 0x5c, 0, 0, in, sizeof(in), 5000);
	CHECK(r == (int)sizeof(in) && !memcmp(in, out, sizeof(in)), "control read 0x5c: %s", libusb_error_name(r));
	r = libusb_control_transfer(h, 0xc0, 0x5d, 0, 0, in, sizeof(in), 5000);
	CHECK(r == LIBUSB_ERROR_PIPE, "unknown request: got %s, want LIBUSB_ERROR_PIPE", libusb_error_name(r));
	/* the control pipe works again after its stall */
	r = libusb_get_string_descriptor_ascii(h, 2, in, sizeof(in));
	CHECK(r == 11 && !strcmp((char *)in, "Gadget Zero"), "product string after the stall: %d", r);
	return 0;
}

/* The source always has data; the sink takes data in the pattern it wants. */
static int test_source_sink(void)
{
	static unsigned char buf[4096];
	int n = -1, r;

	USE(CONFIG_SOURCESINK);
	r = libusb_bulk_transfer(h, ep_in, buf, sizeof(buf), &n, 5000);
	CHECK(r == 0 && n == (int)sizeof(buf), "source IN: %s, %d bytes", libusb_error_name(r), n);
	for (int i = 0; i < n; i++)
		CHECK(buf[i] == source_byte(i), "source byte %d is %d, want %d", i, buf[i], source_byte(i));
	for (int i = 0; i < (int)sizeof(buf); i++)
		buf[i] = source_byte(i);
	r = libusb_bulk_transfer(h, ep_out, buf, sizeof(buf), &n, 5000);
	CHECK(r == 0 && n == (int)sizeof(buf), "sink OUT: %s, %d bytes", libusb_error_name(r), n);
	return 0;
}

static int endpoint_halted(unsigned char ep)
{
	unsigned char status[2] = { 0xff, 0xff };
	int r = libusb_control_transfer(h, 0x82, LIBUSB_REQUEST_GET_STATUS, 0, ep, status, 2, 5000);
	return r == 2 ? status[0] & 1 : r < 0 ? r : LIBUSB_ERROR_IO;
}

/* The device halts its endpoint (the sink, on a wrong byte): transfers stall until libusb_clear_halt. */
static int test_stall(void)
{
	static unsigned char good[4096], bad[100];
	int n = -1, r;

	USE(CONFIG_SOURCESINK);
	for (int i = 0; i < (int)sizeof(good); i++)
		good[i] = source_byte(i);
	memset(bad, 0xaa, sizeof(bad));
	/* the device takes the bad data, then halts */
	r = libusb_bulk_transfer(h, ep_out, bad, sizeof(bad), &n, 5000);
	CHECK(r == 0 && n == (int)sizeof(bad), "bad data: %s, %d bytes", libusb_error_name(r), n);
	r = libusb_bulk_transfer(h, ep_out, good, sizeof(good), &n, 5000);
	CHECK(r == LIBUSB_ERROR_PIPE, "halted endpoint: got %s, want LIBUSB_ERROR_PIPE", libusb_error_name(r));
	r = endpoint_halted(ep_out);
	CHECK(r == 1, "GET_STATUS(endpoint) while halted: %d", r);
	r = libusb_clear_halt(h, ep_out);
	CHECK(r == 0, "clear_halt: %s", libusb_error_name(r));
	r = endpoint_halted(ep_out);
	CHECK(r == 0, "GET_STATUS(endpoint) after clear_halt: %d", r);
	r = libusb_bulk_transfer(h, ep_out, good, sizeof(good), &n, 5000);
	CHECK(r == 0 && n == (int)sizeof(good), "after clear_halt: %s, %d bytes", libusb_error_name(r), n);
	return 0;
}

/* Bulk loopback, byte-exact, around the packet size and far past the function's request size. */
static int test_loopback(void)
{
	static const int sizes[] = { 1, 511, 512, 513, 65536 };

	USE(CONFIG_LOOPBACK);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (round_trip(sizes[i], (int)i))
			return 1;
	return 0;
}

/* A short packet ends an IN transfer early; with SHORT_NOT_OK it is an error. */
static int test_short(void)
{
	unsigned char out[1000], in[4096];
	int n = -1, r;

	USE(CONFIG_LOOPBACK);
	for (int i = 0; i < (int)sizeof(out); i++)
		out[i] = pattern(i, 3);
	r = libusb_bulk_transfer(h, ep_out, out, 100, &n, 5000);
	CHECK(r == 0 && n == 100, "OUT 100: %s", libusb_error_name(r));
	r = libusb_bulk_transfer(h, ep_in, in, 512, &n, 5000);
	CHECK(r == 0 && n == 100 && !memcmp(in, out, 100), "100 bytes into 512: %s, %d bytes", libusb_error_name(r), n);
	/* 1000 bytes come back as 512 + 488: the short second packet ends a 4096-byte read */
	r = libusb_bulk_transfer(h, ep_out, out, 1000, &n, 5000);
	CHECK(r == 0 && n == 1000, "OUT 1000: %s", libusb_error_name(r));
	r = libusb_bulk_transfer(h, ep_in, in, sizeof(in), &n, 5000);
	CHECK(r == 0 && n == 1000 && !memcmp(in, out, 1000), "1000 bytes into 4096: %s, %d bytes", libusb_error_name(r), n);

	r = libusb_bulk_transfer(h, ep_out, out, 100, &n, 5000);
	CHECK(r == 0 && n == 100, "OUT 100: %s", libusb_error_name(r));
	struct libusb_transfer *t = libusb_alloc_transfer(0);
	struct done d = { 0 };
	libusb_fill_bulk_transfer(t, h, ep_in, in, 512, on_done, &d, 5000);
	t->flags = LIBUSB_TRANSFER_SHORT_NOT_OK;
	CHECK(libusb_submit_transfer(t) == 0, "submit failed");
	r = wait_done(&d, 10000);
	libusb_free_transfer(t);
	CHECK(r == 0, "SHORT_NOT_OK transfer never completed");
	CHECK(d.status == LIBUSB_TRANSFER_ERROR && d.actual == 100,
		"SHORT_NOT_OK: status %d actual %d, want ERROR(1) and 100", d.status, d.actual);
	return 0;
}

/* A packet longer than the buffer is babble: LIBUSB_ERROR_OVERFLOW. */
static int test_overflow(void)
{
	unsigned char out[PACKET], in[100];
	int n = -1, r;

	USE(CONFIG_LOOPBACK);
	memset(out, 0x5a, sizeof(out));
	r = libusb_bulk_transfer(h, ep_out, out, sizeof(out), &n, 5000);
	CHECK(r == 0 && n == PACKET, "OUT: %s", libusb_error_name(r));
	r = libusb_bulk_transfer(h, ep_in, in, sizeof(in), &n, 5000);
	CHECK(r == LIBUSB_ERROR_OVERFLOW, "a 512-byte packet into 100 bytes: got %s (%d bytes), want LIBUSB_ERROR_OVERFLOW",
		libusb_error_name(r), n);
	/* nothing of that packet is left for the next transfer */
	return round_trip(64, 7);
}

/*
 * An IN that never gets data times out on time; data sent afterwards goes to
 * the next IN transfer, never into the timed-out transfer's buffer.
 */
static int test_timeout(void)
{
	unsigned char buf[64], out[20], next[64];
	int n = -1, r;
	double t0, dt;

	USE(CONFIG_LOOPBACK);
	memset(buf, 0xee, sizeof(buf));
	t0 = now_ms();
	r = libusb_bulk_transfer(h, ep_in, buf, sizeof(buf), &n, 200);
	dt = now_ms() - t0;
	CHECK(r == LIBUSB_ERROR_TIMEOUT && n == 0, "got %s n=%d, want LIBUSB_ERROR_TIMEOUT", libusb_error_name(r), n);
	CHECK(dt >= 190 && dt < 10000, "timed out after %.0f ms for a 200 ms timeout", dt);
	for (int i = 0; i < (int)sizeof(out); i++)
		out[i] = pattern(i, 5);
	r = libusb_bulk_transfer(h, ep_out, out, sizeof(out), &n, 5000);
	CHECK(r == 0 && n == 20, "OUT: %s", libusb_error_name(r));
	/* let the device answer whatever transfer is still waiting on its side */
	struct timeval tv = { 0, 300000 };
	libusb_handle_events_timeout(NULL, &tv);
	CHECK(buf[0] == 0xee, "late data was written into the timed-out transfer's buffer");
	r = libusb_bulk_transfer(h, ep_in, next, sizeof(next), &n, 5000);
	CHECK(r == 0 && n == 20 && !memcmp(next, out, 20), "next read: %s, %d bytes", libusb_error_name(r), n);
	return 0;
}

/* A cancelled IN completes as CANCELLED; data sent afterwards reaches the next transfer. */
static int test_cancel(void)
{
	unsigned char buf[64], out[30];
	struct libusb_transfer *t = libusb_alloc_transfer(0);
	struct done d = { 0 };
	int n, r;

	USE(CONFIG_LOOPBACK);
	libusb_fill_bulk_transfer(t, h, ep_in, buf, sizeof(buf), on_done, &d, 0);
	CHECK(libusb_submit_transfer(t) == 0, "submit failed");
	struct timeval tv = { 0, 200000 };
	libusb_handle_events_timeout_completed(NULL, &tv, &d.completed);
	CHECK(!d.completed, "completed without data (status %d)", d.status);
	r = libusb_cancel_transfer(t);
	CHECK(r == 0, "cancel: %s", libusb_error_name(r));
	CHECK(wait_done(&d, 10000) == 0, "cancelled transfer never completed");
	CHECK(d.status == LIBUSB_TRANSFER_CANCELLED, "status %d, want CANCELLED", d.status);
	r = libusb_cancel_transfer(t);
	CHECK(r == LIBUSB_ERROR_NOT_FOUND, "second cancel: %s, want NOT_FOUND", libusb_error_name(r));
	libusb_free_transfer(t);
	for (int i = 0; i < (int)sizeof(out); i++)
		out[i] = pattern(i, 9);
	r = libusb_bulk_transfer(h, ep_out, out, sizeof(out), &n, 5000);
	CHECK(r == 0 && n == 30, "OUT: %s", libusb_error_name(r));
	r = libusb_bulk_transfer(h, ep_in, buf, sizeof(buf), &n, 5000);
	CHECK(r == 0 && n == 30 && !memcmp(buf, out, 30), "after cancel: %s, %d bytes", libusb_error_name(r), n);
	return 0;
}

/*
 * The host halts an endpoint with SET_FEATURE(ENDPOINT_HALT) (dummy_hcd
 * carries it out for the gadget). Chrome refuses standard OUT requests, so
 * on WebUSB this case fails at the first step, with LIBUSB_ERROR_IO.
 */
static int test_set_halt(void)
{
	unsigned char buf[64];
	int n = -1, r;

	USE(CONFIG_LOOPBACK);
	r = libusb_control_transfer(h, 0x02, LIBUSB_REQUEST_SET_FEATURE, 0, ep_in, NULL, 0, 5000);
	CHECK(r == 0, "SET_FEATURE(ENDPOINT_HALT): %s", libusb_error_name(r));
	r = libusb_bulk_transfer(h, ep_in, buf, sizeof(buf), &n, 5000);
	CHECK(r == LIBUSB_ERROR_PIPE, "halted endpoint: got %s, want LIBUSB_ERROR_PIPE", libusb_error_name(r));
	CHECK(libusb_clear_halt(h, ep_in) == 0, "clear_halt");
	return round_trip(10, 11);
}

/* libusb_reset_device: the device stays (same descriptors), the handle and its claim keep working. */
static int test_reset(void)
{
	int r;

	USE(CONFIG_LOOPBACK);
	r = libusb_reset_device(h);
	CHECK(r == 0, "reset: %s", libusb_error_name(r));
	return round_trip(513, 13);
}

static int device_left;

static int LIBUSB_CALL on_left(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event event, void *user_data)
{
	(void)ctx;
	(void)dev;
	(void)user_data;
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT)
		device_left = 1;
	return 0;
}

/*
 * The device is taken away while an IN transfer waits without a timeout:
 * the transfer ends with NO_DEVICE and the hotplug callback hears it left.
 */
static int test_unplug(void)
{
	unsigned char buf[64];
	struct libusb_transfer *t = libusb_alloc_transfer(0);
	struct done d = { 0 };
	libusb_hotplug_callback_handle cb;
	int n = -1, r;

	USE(CONFIG_LOOPBACK);
	r = libusb_hotplug_register_callback(NULL, LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0, VID, PID,
		LIBUSB_HOTPLUG_MATCH_ANY, on_left, NULL, &cb);
	CHECK(r == 0, "hotplug_register_callback: %s", libusb_error_name(r));
	libusb_fill_bulk_transfer(t, h, ep_in, buf, sizeof(buf), on_done, &d, 0);
	CHECK(libusb_submit_transfer(t) == 0, "submit failed");
	printf("waiting\n");
	double t0 = now_ms();
	while (!(d.completed && device_left) && now_ms() - t0 < 120000) {
		struct timeval tv = { 1, 0 };
		libusb_handle_events_timeout(NULL, &tv);
	}
	CHECK(d.completed, "the pending transfer never ended");
	CHECK(d.status == LIBUSB_TRANSFER_NO_DEVICE, "pending transfer: status %d, want NO_DEVICE(5)", d.status);
	CHECK(device_left, "no hotplug DEVICE_LEFT event");
	libusb_free_transfer(t);
	r = libusb_bulk_transfer(h, ep_out, buf, sizeof(buf), &n, 1000);
	CHECK(r == LIBUSB_ERROR_NO_DEVICE, "after the device left: got %s, want LIBUSB_ERROR_NO_DEVICE", libusb_error_name(r));
	return 0;
}

static const struct test_case tests[] = {
	{ "control", test_control },
	{ "source_sink", test_source_sink },
	{ "stall", test_stall },
	{ "loopback", test_loopback },
	{ "short", test_short },
	{ "overflow", test_overflow },
	{ "timeout", test_timeout },
	{ "cancel", test_cancel },
	{ "set_halt", test_set_halt },
	{ "reset", test_reset },
	{ "unplug", test_unplug }, /* only when named: it waits for the device to go */
};

int main(int argc, char **argv)
{
	int failures;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (libusb_init_context(NULL, NULL, 0) != 0) {
		printf("FAIL init\n");
		return 100;
	}
	h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	if (!h) {
		printf("FAIL open: no gadget %04x:%04x\n", VID, PID);
		return 100;
	}
	failures = run_cases(argc, argv, tests, sizeof(tests) / sizeof(tests[0]) - (argc < 2), 1);
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(NULL);
	return failures;
}
