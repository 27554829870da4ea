/*
 * What the POSIX runtime's C tests share: signal helpers, and a thread of
 * the program that is blocked in libusb_handle_events the whole time, with
 * a bulk IN transfer pending on the loopback device (1209:0001), as a
 * streaming tool's event thread is. usb_background_stop() checks that it
 * came through: no error from libusb but LIBUSB_ERROR_INTERRUPTED, and its
 * transfer still pending until cancelled.
 */
#ifndef LIBUSB_WASM_TEST_POSIX_TEST_H
#define LIBUSB_WASM_TEST_POSIX_TEST_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <libusb.h>
#include "harness.h"

/* Install handler for sig with these sa_flags (SA_RESTART...). */
static inline void catch_signal(int sig, void (*handler)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

/* Block (SIG_BLOCK) or unblock (SIG_UNBLOCK) one signal. */
static inline void set_mask(int how, int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(how, &set, NULL);
}

static struct {
	libusb_context *ctx;
	libusb_device_handle *handle;
	struct libusb_transfer *transfer;
	unsigned char buffer[512];
	pthread_t thread;
	atomic_int stop, errors, last_error, interrupted, done;
	int running;
} usb_background;

static void LIBUSB_CALL usb_background_done(struct libusb_transfer *t)
{
	atomic_store(&usb_background.done, t->status == LIBUSB_TRANSFER_CANCELLED ? 1 : 2);
}

static void *usb_background_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&usb_background.stop)) {
		int r = libusb_handle_events(usb_background.ctx);
		if (r == LIBUSB_ERROR_INTERRUPTED) {
			atomic_fetch_add(&usb_background.interrupted, 1);
		} else if (r < 0) {
			atomic_fetch_add(&usb_background.errors, 1);
			atomic_store(&usb_background.last_error, r);
		}
	}
	return NULL;
}

/* Start it: 0, or a message. */
static const char *usb_background_start(void)
{
	if (libusb_init_context(&usb_background.ctx, NULL, 0))
		return "libusb_init_context failed";
	usb_background.handle = libusb_open_device_with_vid_pid(usb_background.ctx, 0x1209, 0x0001);
	if (!usb_background.handle)
		return "no loopback device (1209:0001)";
	if (libusb_claim_interface(usb_background.handle, 0))
		return "claiming the loopback's interface 0 failed";
	usb_background.transfer = libusb_alloc_transfer(0);
	libusb_fill_bulk_transfer(usb_background.transfer, usb_background.handle, 0x81, usb_background.buffer,
		sizeof(usb_background.buffer), usb_background_done, NULL, 0);
	if (libusb_submit_transfer(usb_background.transfer))
		return "submitting the background transfer failed";
	if (pthread_create(&usb_background.thread, NULL, usb_background_thread, NULL))
		return "pthread_create failed";
	usb_background.running = 1;
	return 0;
}

/* Stop it: 0 when libusb and the transfer came through, or a message. */
static const char *usb_background_stop(void)
{
	static char why[128];

	if (!usb_background.running)
		return 0;
	usb_background.running = 0;
	if (atomic_load(&usb_background.done))
		return "the background transfer ended before it was cancelled";
	libusb_cancel_transfer(usb_background.transfer);
	atomic_store(&usb_background.stop, 1);
	libusb_interrupt_event_handler(usb_background.ctx);
	pthread_join(usb_background.thread, NULL);
	while (!atomic_load(&usb_background.done))
		libusb_handle_events(usb_background.ctx);
	libusb_free_transfer(usb_background.transfer);
	libusb_release_interface(usb_background.handle, 0);
	libusb_close(usb_background.handle);
	libusb_exit(usb_background.ctx);
	if (atomic_load(&usb_background.errors)) {
		snprintf(why, sizeof(why), "libusb_handle_events failed %d times (last %s)",
			atomic_load(&usb_background.errors), libusb_error_name(atomic_load(&usb_background.last_error)));
		return why;
	}
	if (atomic_load(&usb_background.done) != 1)
		return "the background transfer did not end as cancelled";
	return 0;
}

/*
 * main() of a test program: `prog [--usb] <case>...` runs the cases, with
 * the background thread around them when --usb comes first; the number of
 * failures.
 */
static int run_cases_with_usb(int argc, char **argv, const struct test_case *tests, size_t count)
{
	int with_usb = argc > 1 && strcmp(argv[1], "--usb") == 0, failures;
	const char *problem;

	if (with_usb && (problem = usb_background_start())) {
		printf("FAIL usb-background: %s\n", problem);
		return 1;
	}
	/* argv[0] stands in for --usb: run_cases looks from argv[1] on */
	failures = run_cases(argc - with_usb, argv + with_usb, tests, count, 0);
	if (with_usb) {
		problem = usb_background_stop();
		if (problem)
			printf("FAIL usb-background: %s\n", problem);
		else
			printf("PASS usb-background\n");
		failures += problem != 0;
	}
	return failures;
}

#endif
