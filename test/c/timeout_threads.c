/*
 * A transfer timeout fires on time while another thread is already waiting
 * in libusb_handle_events (the event-thread pattern of hidapi and of the
 * typed JS API). libusb has no OS timer in wasm, so the waiter must learn
 * about a timeout submitted after it went to sleep.
 *
 * Prints PASS or FAIL <why>; run against the loopback device.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <libusb.h>

static libusb_context *ctx;
static volatile int stop, done;
static enum libusb_transfer_status status = -1;

static void *events(void *arg)
{
	(void)arg;
	while (!stop)
		libusb_handle_events_completed(ctx, (int *)&stop);
	return NULL;
}

static void LIBUSB_CALL callback(struct libusb_transfer *t)
{
	status = t->status;
	done = 1;
}

int main(void)
{
	libusb_device_handle *h;
	pthread_t thread;
	unsigned char buf[64];
	struct libusb_transfer *t;
	int waited_ms = 0;

	if (libusb_init_context(&ctx, NULL, 0) < 0)
		return printf("FAIL init\n"), 1;
	h = libusb_open_device_with_vid_pid(ctx, 0x1209, 0x0001);
	if (!h || libusb_claim_interface(h, 0) < 0)
		return printf("FAIL open\n"), 1;
	pthread_create(&thread, NULL, events, NULL);
	usleep(100 * 1000); /* the event thread now sleeps with no timeout to watch */

	t = libusb_alloc_transfer(0);
	libusb_fill_bulk_transfer(t, h, 0x81, buf, sizeof(buf), callback, NULL, 100);
	if (libusb_submit_transfer(t) < 0)
		return printf("FAIL submit\n"), 1;
	/* without the fix the waiter would sleep on (libusb's default is 60 s) */
	while (!done && waited_ms < 10000) {
		usleep(10 * 1000);
		waited_ms += 10;
	}
	stop = 1;
	libusb_interrupt_event_handler(ctx);
	pthread_join(thread, NULL);
	if (!done)
		return printf("FAIL the transfer did not time out within 10 s\n"), 1;
	if (status != LIBUSB_TRANSFER_TIMED_OUT)
		return printf("FAIL status %d, expected LIBUSB_TRANSFER_TIMED_OUT\n", status), 1;
	libusb_free_transfer(t);
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(ctx);
	printf("PASS\n");
	return 0;
}
