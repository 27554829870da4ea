/*
 * A hostile program, for the sandbox tests: it tries what a careless or
 * malicious program in a web IDE would. Each mode prints what it got, one
 * line per attempt, so the test can compare with the policy.
 *
 *   hostile walk       open every device and claim every interface
 *   hostile protected  claim interfaces of protected classes (HID, mass
 *                      storage, ...), also after detaching kernel drivers
 *   hostile flood      submit transfers past any sane limit
 *   hostile malformed  wrong arguments through libusb, and forged requests
 *                      straight into the shared-memory protocol
 *   hostile spin       claim the loopback device, start transfers, then
 *                      never return (a tight loop)
 *   hostile spam       post requests straight into the protocol without
 *                      pause, forever (the host must stay responsive)
 *   hostile crash      claim the loopback device, start transfers, then
 *                      crash (a wasm trap): the worker dies without closing
 *                      anything
 *   hostile watch      claim the loopback device with a transfer in flight
 *                      and report hotplug events and how the transfer ends
 *                      (for grants and revocations during a run)
 *   hostile reconfigure VID:PID
 *                      on a device whose configuration 2 puts a protected
 *                      class where configuration 1 has a vendor one: change
 *                      the configuration and alternate setting behind the
 *                      libusb calls' back, with raw standard requests
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>
#include "../../wasm/backend/protocol.h"

/* Internal to our libusb; a hostile program can call it all the same. */
extern void lw_post(struct lw_req *req);

static const char *err(int r)
{
	return r >= 0 ? "OK" : libusb_error_name(r);
}

static void describe(libusb_device *dev, char *out, size_t n)
{
	struct libusb_device_descriptor d;
	libusb_get_device_descriptor(dev, &d);
	snprintf(out, n, "%04x:%04x", d.idVendor, d.idProduct);
}

static int walk(int protected_only)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(NULL, &list);

	printf("devices %zd\n", n);
	for (ssize_t i = 0; i < n; i++) {
		char id[16];
		libusb_device_handle *h;
		struct libusb_config_descriptor *c;
		int r;

		describe(list[i], id, sizeof(id));
		r = libusb_open(list[i], &h);
		printf("open %s %s\n", id, err(r));
		if (r < 0)
			continue;
		if (libusb_get_active_config_descriptor(list[i], &c) == 0) {
			for (int k = 0; k < c->bNumInterfaces; k++) {
				const struct libusb_interface_descriptor *a = &c->interface[k].altsetting[0];
				int cls = a->bInterfaceClass;
				int protect = cls == 0x01 || cls == 0x03 || cls == 0x08 || cls == 0x0b || cls == 0x0e ||
					cls == 0x10 || cls == 0xe0;
				if (protected_only && !protect)
					continue;
				if (protected_only) {
					printf("detach %s if%d %s\n", id, a->bInterfaceNumber,
						err(libusb_detach_kernel_driver(h, a->bInterfaceNumber)));
					libusb_set_auto_detach_kernel_driver(h, 1);
				}
				printf("claim %s if%d class %02x %s\n", id, a->bInterfaceNumber, cls,
					err(libusb_claim_interface(h, a->bInterfaceNumber)));
			}
			libusb_free_config_descriptor(c);
		}
		if (!protected_only) {
			printf("reset %s %s\n", id, err(libusb_reset_device(h)));
			printf("set_configuration %s %s\n", id, err(libusb_set_configuration(h, 1)));
		}
		libusb_close(h);
	}
	libusb_free_device_list(list, 1);
	return 0;
}

static void LIBUSB_CALL count_done(struct libusb_transfer *t)
{
	int *counts = t->user_data;
	counts[t->status == LIBUSB_TRANSFER_COMPLETED ? 0 : 1]++;
}

static int flood(void)
{
	enum { MAX = 5000, SIZE = 16384 };
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);
	static struct libusb_transfer *t[MAX];
	int submitted = 0, refused = 0, first_refusal = 0, counts[2] = { 0, 0 };

	if (!h || libusb_claim_interface(h, 0)) {
		printf("no loopback device\n");
		return 1;
	}
	for (int i = 0; i < MAX; i++) {
		unsigned char *buf = malloc(SIZE);
		int r;
		t[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(t[i], h, 0x81, buf, SIZE, count_done, counts, 0);
		t[i]->flags = LIBUSB_TRANSFER_FREE_BUFFER;
		r = libusb_submit_transfer(t[i]);
		if (r == 0) {
			submitted++;
		} else {
			if (!refused)
				first_refusal = r;
			refused++;
			libusb_free_transfer(t[i]); /* and its buffer */
			t[i] = NULL;
		}
	}
	/* let the host answer: what went past its limits completes with an error */
	for (int spins = 0; spins < 30; spins++) {
		struct timeval tv = { 0, 10000 };
		libusb_handle_events_timeout_completed(NULL, &tv, NULL);
	}
	printf("submitted %d refused %d (%s) failed %d\n", submitted, refused, refused ? err(first_refusal) : "-", counts[1]);
	fflush(stdout);
	/* cancel the rest and wait for them: nothing may hang */
	for (int i = 0; i < MAX; i++)
		if (t[i])
			libusb_cancel_transfer(t[i]);
	for (int spins = 0; spins < 500 && counts[0] + counts[1] < submitted; spins++) {
		struct timeval tv = { 0, 10000 };
		libusb_handle_events_timeout_completed(NULL, &tv, NULL);
	}
	printf("settled %d of %d\n", counts[0] + counts[1], submitted);
	libusb_close(h);
	return 0;
}

static struct lw_req forged[8];

static int malformed(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);
	unsigned char buf[64];
	int n, r;
	struct libusb_transfer *t;

	if (!h || libusb_claim_interface(h, 0)) {
		printf("no loopback device\n");
		return 1;
	}
	/* wrong arguments through the API */
	printf("bulk to endpoint 0x8f %s\n", err(libusb_bulk_transfer(h, 0x8f, buf, sizeof(buf), &n, 100)));
	printf("bulk with negative length %s\n", err(libusb_bulk_transfer(h, 0x81, buf, -5, &n, 100)));
	printf("bulk with NULL buffer %s\n", err(libusb_bulk_transfer(h, 0x01, NULL, 64, &n, 100)));
	r = libusb_control_transfer(h, 0xc0, 0x02, 0, 0, buf, 0xffff, 100); /* wLength past the buffer */
	printf("control with oversized wLength %s\n", r >= 0 || r == LIBUSB_ERROR_OVERFLOW || r == LIBUSB_ERROR_PIPE ? "handled" : err(r));
	t = libusb_alloc_transfer(4);
	libusb_fill_iso_transfer(t, h, 0x83, buf, sizeof(buf), 4, NULL, NULL, 100);
	libusb_set_iso_packet_lengths(t, 1000); /* 4000 bytes into a 64-byte buffer */
	printf("iso past its buffer %s\n", err(libusb_submit_transfer(t)));
	libusb_free_transfer(t);

	/* forged requests straight into the protocol */
	memset(forged, 0, sizeof(forged));
	forged[0].op = 9999;                                  /* no such operation */
	forged[1].op = LW_OP_SUBMIT;                          /* pointers past the end of memory */
	forged[1].buf = 0xfffffff0u;
	forged[1].len = 4096;
	forged[1].ctx = 0xfffffff0u;
	forged[1].arg0 = 0x81;
	forged[1].arg1 = LIBUSB_TRANSFER_TYPE_BULK;
	forged[2].op = LW_OP_OPEN;                            /* a device that does not exist */
	forged[2].dev = 0x7fffffff;
	forged[2].arg0 = 3;                                   /* misaligned shared block */
	forged[3].op = LW_OP_CLAIM_INTERFACE;                 /* someone else's handle id */
	forged[3].handle = 0x7ffffff0;
	forged[4].op = LW_OP_LIST_DEVICES;                    /* a buffer past the end of memory */
	forged[4].buf = 0xffffff00u;
	forged[4].len = 0x7fffffff;
	for (int i = 0; i < 5; i++)
		lw_post(&forged[i]);
	/* the same request twice: a cycle in the request stack */
	forged[5].op = LW_OP_GET_CONFIGURATION;
	lw_post(&forged[5]);
	lw_post(&forged[5]);
	/* the host must still answer an honest program */
	r = libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, buf, 18);
	printf("still served after forgeries %s\n", r == 18 ? "yes" : err(r));
	libusb_close(h);
	return 0;
}

static void LIBUSB_CALL ignore(struct libusb_transfer *t)
{
	(void)t;
}

/* Open and claim the loopback device and leave 8 bulk IN transfers pending
 * on it; say `what` the program does next. NULL if there is no device. */
static libusb_device_handle *claim_with_transfers(const char *what)
{
	static unsigned char buf[8][512];
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);

	if (!h || libusb_claim_interface(h, 0)) {
		printf("no loopback device\n");
		return NULL;
	}
	for (int i = 0; i < 8; i++) {
		struct libusb_transfer *t = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(t, h, 0x81, buf[i], sizeof(buf[i]), ignore, NULL, 0);
		libusb_submit_transfer(t);
	}
	printf("%s with the interface claimed and 8 transfers in flight\n", what);
	fflush(stdout);
	return h;
}

static int spin(void)
{
	volatile unsigned long counter = 0;

	if (!claim_with_transfers("spinning"))
		return 1;
	for (;;)
		counter++;
	return 0;
}

static int crash(void)
{
	if (!claim_with_transfers("crashing"))
		return 1;
	__builtin_trap();
}

static struct lw_req spam_ring[64];

static int spam(void)
{
	unsigned long posted = 0;

	memset(spam_ring, 0, sizeof(spam_ring));
	for (int i = 0; i < 64; i++) {
		spam_ring[i].op = LW_OP_GET_CONFIGURATION;
		spam_ring[i].dev = 1;
		spam_ring[i].done = 1;
	}
	printf("spamming the host\n");
	fflush(stdout);
	for (;;) {
		for (int i = 0; i < 64; i++) {
			/* re-post each request once answered: never twice at a time */
			if (!atomic_load(&spam_ring[i].done))
				continue;
			atomic_store(&spam_ring[i].done, 0);
			lw_post(&spam_ring[i]);
			posted++;
		}
	}
	return 0;
}

static int watch_left;

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event event, void *user)
{
	char id[16];

	(void)ctx;
	(void)user;
	describe(dev, id, sizeof(id));
	printf("%s %s\n", event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? "arrived" : "left", id);
	fflush(stdout);
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT)
		watch_left = 1;
	return 0;
}

static void LIBUSB_CALL note_status(struct libusb_transfer *t)
{
	*(int *)t->user_data = t->status;
}

static int watch(void)
{
	static unsigned char buf[512];
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);
	struct libusb_transfer *t;
	int status = -1;

	if (!h || libusb_claim_interface(h, 0)) {
		printf("no loopback device\n");
		return 1;
	}
	libusb_hotplug_register_callback(NULL, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
		0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL, NULL);
	t = libusb_alloc_transfer(0);
	libusb_fill_bulk_transfer(t, h, 0x81, buf, sizeof(buf), note_status, &status, 0);
	printf("submit %s\n", err(libusb_submit_transfer(t)));
	printf("ready\n");
	fflush(stdout);
	/* until the loopback device leaves and the transfer has ended (30 s at most) */
	for (int i = 0; i < 3000 && !(watch_left && status >= 0); i++) {
		struct timeval tv = { 0, 10000 };
		libusb_handle_events_timeout_completed(NULL, &tv, NULL);
	}
	printf("transfer %s\n", status == LIBUSB_TRANSFER_NO_DEVICE ? "NO_DEVICE" : status < 0 ? "still in flight" : "ended otherwise");
	printf("release after revoke %s\n", err(libusb_release_interface(h, 0)));
	printf("control after revoke %s\n", err(libusb_control_transfer(h, 0x80, 0x00, 0, 0, buf, 2, 500)));
	libusb_close(h);
	return 0;
}

/* A raw standard OUT request without data (SET_CONFIGURATION, SET_INTERFACE). */
static int raw(libusb_device_handle *h, uint8_t recipient, uint8_t request, uint16_t value, uint16_t index)
{
	return libusb_control_transfer(h, LIBUSB_ENDPOINT_OUT | LIBUSB_REQUEST_TYPE_STANDARD | recipient, request,
		value, index, NULL, 0, 1000);
}

static int reconfigure(const char *vidpid)
{
	unsigned int vid, pid;
	libusb_device_handle *h;
	unsigned char buf[64];
	int config = -1, transferred;

	if (!vidpid || sscanf(vidpid, "%x:%x", &vid, &pid) != 2) {
		printf("usage: hostile reconfigure VID:PID\n");
		return 100;
	}
	h = libusb_open_device_with_vid_pid(NULL, (uint16_t)vid, (uint16_t)pid);
	printf("open %s\n", h ? "OK" : "FAILED");
	if (!h)
		return 1;
	printf("claim 0 %s\n", err(libusb_claim_interface(h, 0)));
	printf("raw SET_CONFIGURATION 2 while claimed %s\n", err(raw(h, LIBUSB_RECIPIENT_DEVICE, LIBUSB_REQUEST_SET_CONFIGURATION, 2, 0)));
	printf("set_configuration 2 while claimed %s\n", err(libusb_set_configuration(h, 2)));
	printf("raw SET_INTERFACE 0/1 %s\n", err(raw(h, LIBUSB_RECIPIENT_INTERFACE, LIBUSB_REQUEST_SET_INTERFACE, 1, 0)));
	libusb_get_configuration(h, &config);
	printf("configuration %d\n", config);
	printf("release 0 %s\n", err(libusb_release_interface(h, 0)));
	printf("raw SET_INTERFACE 0/0 unclaimed %s\n", err(raw(h, LIBUSB_RECIPIENT_INTERFACE, LIBUSB_REQUEST_SET_INTERFACE, 0, 0)));
	printf("raw SET_CONFIGURATION 2 %s\n", err(raw(h, LIBUSB_RECIPIENT_DEVICE, LIBUSB_REQUEST_SET_CONFIGURATION, 2, 0)));
	libusb_get_configuration(h, &config);
	printf("configuration %d\n", config);
	printf("claim 0 %s\n", err(libusb_claim_interface(h, 0)));
	printf("transfer 0x81 %s\n", err(libusb_interrupt_transfer(h, 0x81, buf, sizeof(buf), &transferred, 100)));
	printf("raw SET_CONFIGURATION 1 %s\n", err(raw(h, LIBUSB_RECIPIENT_DEVICE, LIBUSB_REQUEST_SET_CONFIGURATION, 1, 0)));
	libusb_get_configuration(h, &config);
	printf("configuration %d\n", config);
	libusb_close(h);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int r;

	if (libusb_init_context(NULL, NULL, 0) != 0) {
		printf("init failed\n");
		return 100;
	}
	if (!strcmp(mode, "walk"))
		r = walk(0);
	else if (!strcmp(mode, "protected"))
		r = walk(1);
	else if (!strcmp(mode, "flood"))
		r = flood();
	else if (!strcmp(mode, "malformed"))
		r = malformed();
	else if (!strcmp(mode, "spin"))
		r = spin();
	else if (!strcmp(mode, "crash"))
		r = crash();
	else if (!strcmp(mode, "watch"))
		r = watch();
	else if (!strcmp(mode, "spam"))
		r = spam();
	else if (!strcmp(mode, "reconfigure"))
		r = reconfigure(argc > 2 ? argv[2] : NULL);
	else {
		printf("usage: hostile walk|protected|flood|malformed|spin|spam|crash|watch|reconfigure VID:PID\n");
		r = 100;
	}
	libusb_exit(NULL);
	return r;
}
