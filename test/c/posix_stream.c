/*
 * A streaming tool, as SDR receivers are written: four bulk IN transfers
 * in flight on the loopback device's endless source (EP 0x81), the data
 * written to a file, and a status transfer waiting on the interrupt
 * endpoint (EP 0x82, which has nothing to say until cancelled), Ctrl-C (SIGINT) or SIGTERM caught by a handler that
 * sets a flag, `while (!do_exit) libusb_handle_events()`, then every
 * transfer cancelled, the file flushed, a summary printed, and exit status
 * 3 (its own). With "stubborn" the handler only counts: the program runs
 * on, as a program whose handler does not end it.
 *   posix_stream <output file> [stubborn]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>

#define TRANSFERS 5   /* four on the stream, one for status */
#define LENGTH (16 * 1024)

static volatile sig_atomic_t do_exit, signals;
static int stubborn, cancelled, in_flight;
static long long received;
static FILE *out;

static void on_signal(int sig)
{
	(void)sig;
	signals++;
	if (!stubborn)
		do_exit = 1;
}

static void LIBUSB_CALL on_data(struct libusb_transfer *t)
{
	if (t->status == LIBUSB_TRANSFER_COMPLETED && t->endpoint == 0x81) {
		fwrite(t->buffer, 1, t->actual_length, out);
		received += t->actual_length;
		if (!do_exit && libusb_submit_transfer(t) == 0)
			return;
	} else if (t->status == LIBUSB_TRANSFER_CANCELLED) {
		cancelled++;
	}
	in_flight--;
}

int main(int argc, char **argv)
{
	struct libusb_transfer *transfers[TRANSFERS];
	libusb_device_handle *h;
	struct sigaction sa;
	int announced = 0;

	if (argc < 2)
		return 2;
	stubborn = argc > 2 && strcmp(argv[2], "stubborn") == 0;
	out = fopen(argv[1], "wb");
	if (!out || libusb_init_context(NULL, NULL, 0))
		return 2;
	h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);
	if (!h || libusb_claim_interface(h, 0))
		return 2;
	/* the loopback's IN_SOURCE request: EP 0x81 streams without end */
	if (libusb_control_transfer(h, 0x40, 0x08, 1, 0x81, NULL, 0, 1000) < 0)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 0; i < TRANSFERS; i++) {
		transfers[i] = libusb_alloc_transfer(0);
		if (i < TRANSFERS - 1)
			libusb_fill_bulk_transfer(transfers[i], h, 0x81, malloc(LENGTH), LENGTH, on_data, NULL, 0);
		else
			libusb_fill_interrupt_transfer(transfers[i], h, 0x82, malloc(64), 64, on_data, NULL, 0);
		if (libusb_submit_transfer(transfers[i]))
			return 2;
		in_flight++;
	}
	while (!do_exit) {
		int r = libusb_handle_events(NULL);
		if (r < 0 && r != LIBUSB_ERROR_INTERRUPTED) {
			fprintf(stderr, "libusb_handle_events: %s\n", libusb_error_name(r));
			break;
		}
		if (!announced && received >= 4 * LENGTH) {
			announced = 1;
			printf("streaming\n");
			fflush(stdout);
		}
		if (signals == 1 && stubborn) {
			signals = 2;
			printf("got SIGINT, carrying on\n");
			fflush(stdout);
		}
	}
	for (int i = 0; i < TRANSFERS; i++)
		libusb_cancel_transfer(transfers[i]);
	while (in_flight > 0)
		libusb_handle_events(NULL);
	fclose(out);
	printf("received %lld bytes, %d transfers cancelled\n", received, cancelled);
	for (int i = 0; i < TRANSFERS; i++) {
		free(transfers[i]->buffer);
		libusb_free_transfer(transfers[i]);
	}
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(NULL);
	return 3;
}
