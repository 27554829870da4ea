/*
 * A plain libusb program for the fault tests: what a program sees when
 * something below libusb misbehaves (a transport that answers nonsense, a
 * device that never answers, a host that dies). Each mode prints one line
 * per attempt, so the test can check every outcome.
 *
 *   faults list                          time libusb_init, list VID:PID
 *   faults in VID:PID EP LEN [N]         N (default 2) bulk/interrupt INs
 *   faults out VID:PID EP LEN [N]        N bulk/interrupt OUTs
 *   faults iso VID:PID EP PACKETS SIZE   one isochronous IN, per packet
 *   faults claim VID:PID IFACE           claim, then list devices again
 *   faults hold VID:PID EP TIMEOUT_MS    one IN that waits; how it ended and when
 *   faults hold-async VID:PID EP TIMEOUT_MS   the same, submitted and waited for with handle_events
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>
#include "harness.h"

static const char *err(int r)
{
	return r >= 0 ? "OK" : libusb_error_name(r);
}

static libusb_device_handle *open_vidpid(const char *vidpid)
{
	unsigned int vid, pid;
	libusb_device_handle *h;

	if (sscanf(vidpid, "%x:%x", &vid, &pid) != 2) {
		printf("bad VID:PID %s\n", vidpid);
		return NULL;
	}
	h = libusb_open_device_with_vid_pid(NULL, (uint16_t)vid, (uint16_t)pid);
	printf("open %s %s\n", vidpid, h ? "OK" : "FAILED");
	fflush(stdout);
	return h;
}

/* Claim the interface that has the endpoint in the active configuration. */
static int claim_for(libusb_device_handle *h, unsigned char ep)
{
	struct libusb_config_descriptor *c;
	int iface = -1, alt = 0, r;

	if (libusb_get_active_config_descriptor(libusb_get_device(h), &c) != 0)
		return LIBUSB_ERROR_NOT_FOUND;
	for (int i = 0; i < c->bNumInterfaces && iface < 0; i++)
		for (int a = 0; a < c->interface[i].num_altsetting && iface < 0; a++)
			for (int e = 0; e < c->interface[i].altsetting[a].bNumEndpoints; e++)
				if (c->interface[i].altsetting[a].endpoint[e].bEndpointAddress == ep) {
					iface = c->interface[i].altsetting[a].bInterfaceNumber;
					alt = c->interface[i].altsetting[a].bAlternateSetting;
				}
	libusb_free_config_descriptor(c);
	if (iface < 0)
		return LIBUSB_ERROR_NOT_FOUND;
	r = libusb_claim_interface(h, iface);
	printf("claim %d %s\n", iface, err(r));
	if (r == 0 && alt)
		printf("altsetting %d %s\n", alt, err(r = libusb_set_interface_alt_setting(h, iface, alt)));
	return r;
}

static int list(void)
{
	libusb_device **devs;
	ssize_t n = libusb_get_device_list(NULL, &devs);

	printf("devices %zd\n", n);
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor d;
		libusb_get_device_descriptor(devs[i], &d);
		printf("device %04x:%04x\n", d.idVendor, d.idProduct);
	}
	if (n >= 0)
		libusb_free_device_list(devs, 1);
	return 0;
}

static int transfers(int argc, char **argv, int in)
{
	libusb_device_handle *h;
	unsigned char ep;
	int len, count, r;
	unsigned char *buf;

	if (argc < 5)
		return 2;
	h = open_vidpid(argv[2]);
	if (!h)
		return 1;
	ep = (unsigned char)strtol(argv[3], NULL, 0);
	len = atoi(argv[4]);
	count = argc > 5 ? atoi(argv[5]) : 2;
	buf = calloc(1, len ? len : 1);
	claim_for(h, ep);
	for (int i = 0; i < count; i++) {
		int transferred = -1;
		r = libusb_bulk_transfer(h, ep, buf, len, &transferred, 2000);
		printf("%s %d %s transferred %d\n", in ? "in" : "out", i, err(r), transferred);
		fflush(stdout);
	}
	free(buf);
	libusb_close(h);
	return 0;
}

static void LIBUSB_CALL iso_done(struct libusb_transfer *t)
{
	*(int *)t->user_data = 1;
}

static int iso(int argc, char **argv)
{
	libusb_device_handle *h;
	struct libusb_transfer *t;
	int packets, size, done = 0, r;
	unsigned char ep, *buf;

	if (argc < 6)
		return 2;
	h = open_vidpid(argv[2]);
	if (!h)
		return 1;
	ep = (unsigned char)strtol(argv[3], NULL, 0);
	packets = atoi(argv[4]);
	size = atoi(argv[5]);
	claim_for(h, ep);
	buf = calloc(1, (size_t)(packets * size));
	t = libusb_alloc_transfer(packets);
	libusb_fill_iso_transfer(t, h, ep, buf, packets * size, packets, iso_done, &done, 2000);
	libusb_set_iso_packet_lengths(t, (unsigned int)size);
	r = libusb_submit_transfer(t);
	printf("submit %s\n", err(r));
	while (r == 0 && !done)
		libusb_handle_events_completed(NULL, &done);
	printf("iso status %d actual %d\n", t->status, t->actual_length);
	for (int i = 0; i < packets; i++)
		printf("packet %d status %d actual %u\n", i, t->iso_packet_desc[i].status, t->iso_packet_desc[i].actual_length);
	libusb_free_transfer(t);
	free(buf);
	libusb_close(h);
	return 0;
}

static int claim(int argc, char **argv)
{
	libusb_device_handle *h;
	double t0;
	int r;

	if (argc < 4)
		return 2;
	h = open_vidpid(argv[2]);
	if (!h)
		return 1;
	t0 = now_ms();
	r = libusb_claim_interface(h, atoi(argv[3]));
	printf("claim %s %s after %.0f ms\n", argv[3], err(r), now_ms() - t0);
	fflush(stdout);
	list();
	libusb_close(h);
	return 0;
}

static void LIBUSB_CALL hold_done(struct libusb_transfer *t)
{
	*(int *)t->user_data = 1;
}

static int hold(int argc, char **argv, int async)
{
	libusb_device_handle *h;
	unsigned char ep, buf[64];
	unsigned int timeout;
	double t0;
	int r, transferred = 0;

	if (argc < 5)
		return 2;
	h = open_vidpid(argv[2]);
	if (!h)
		return 1;
	ep = (unsigned char)strtol(argv[3], NULL, 0);
	timeout = (unsigned int)atoi(argv[4]);
	claim_for(h, ep);
	printf("waiting\n");
	fflush(stdout);
	t0 = now_ms();
	if (!async) {
		r = libusb_bulk_transfer(h, ep, buf, sizeof(buf), &transferred, timeout);
		printf("hold %s after %.0f ms\n", err(r), now_ms() - t0);
	} else {
		struct libusb_transfer *t = libusb_alloc_transfer(0);
		int done = 0;

		libusb_fill_bulk_transfer(t, h, ep, buf, sizeof(buf), hold_done, &done, timeout);
		r = libusb_submit_transfer(t);
		while (r == 0 && !done) {
			int e = libusb_handle_events_completed(NULL, &done);
			if (e < 0 && e != LIBUSB_ERROR_INTERRUPTED) {
				printf("handle_events %s\n", err(e));
				break;
			}
		}
		printf("hold status %d after %.0f ms\n", done ? t->status : -1, now_ms() - t0);
		libusb_free_transfer(t);
	}
	fflush(stdout);
	/* later calls fail at once too */
	t0 = now_ms();
	r = libusb_set_interface_alt_setting(h, 0, 0);
	printf("after: altsetting %s in %.0f ms\n", err(r), now_ms() - t0);
	libusb_close(h);
	return 0;
}

int main(int argc, char **argv)
{
	double t0 = now_ms();
	int r = libusb_init_context(NULL, NULL, 0);

	printf("init %s after %.0f ms\n", err(r), now_ms() - t0);
	fflush(stdout);
	if (r < 0)
		return 3;
	if (argc < 2)
		r = 2;
	else if (!strcmp(argv[1], "list"))
		r = list();
	else if (!strcmp(argv[1], "in"))
		r = transfers(argc, argv, 1);
	else if (!strcmp(argv[1], "out"))
		r = transfers(argc, argv, 0);
	else if (!strcmp(argv[1], "iso"))
		r = iso(argc, argv);
	else if (!strcmp(argv[1], "claim"))
		r = claim(argc, argv);
	else if (!strcmp(argv[1], "hold"))
		r = hold(argc, argv, 0);
	else if (!strcmp(argv[1], "hold-async"))
		r = hold(argc, argv, 1);
	else
		r = 2;
	if (r == 2)
		printf("usage: faults list | in|out VID:PID EP LEN [N] | iso VID:PID EP PACKETS SIZE | claim VID:PID IFACE | hold[-async] VID:PID EP TIMEOUT_MS\n");
	libusb_exit(NULL);
	return r;
}
