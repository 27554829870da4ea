/*
 * Operations on real devices, for the real-kernel tests (test/qemu/): each
 * subcommand prints what libusb answered, one fact per line, and the test
 * checks it against the kernel's view and QEMU's devices.
 *
 *   realdev kernel-driver VID:PID IFACE
 *       kernel_driver_active, detach, claim, release, attach, in order
 *   realdev read-blocks VID:PID LBA COUNT
 *       READ(10) through the bulk-only transport: "block N <hex>" per block
 *   realdev hold-transfer VID:PID EP TIMEOUT_MS
 *       one interrupt/bulk IN transfer; prints "waiting", then its result
 *   realdev iso VID:PID IFACE ALT EP
 *       submits an isochronous transfer; prints what the submission answered
 *
 * Exit status: 0 when every call could be made (results are printed, not
 * judged), 2 for bad arguments or a missing device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libusb.h>

static libusb_device_handle *open_vidpid(const char *spec)
{
	unsigned vid, pid;
	libusb_device_handle *h;

	if (sscanf(spec, "%x:%x", &vid, &pid) != 2) {
		fprintf(stderr, "bad VID:PID %s\n", spec);
		exit(2);
	}
	libusb_device **list;
	ssize_t n = libusb_get_device_list(NULL, &list);
	int r = LIBUSB_ERROR_NOT_FOUND;

	h = NULL;
	for (ssize_t i = 0; i < n && r == LIBUSB_ERROR_NOT_FOUND; i++) {
		struct libusb_device_descriptor d;
		if (libusb_get_device_descriptor(list[i], &d) == 0 && d.idVendor == vid && d.idProduct == pid)
			r = libusb_open(list[i], &h);
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	if (r != 0) {
		fprintf(stderr, "open %04x:%04x: %s\n", vid, pid, libusb_error_name(r));
		exit(2);
	}
	return h;
}

static const char *name(int r)
{
	return r >= 0 ? "OK" : libusb_error_name(r);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int kernel_driver(libusb_device_handle *h, int iface)
{
	printf("active %d\n", libusb_kernel_driver_active(h, iface));
	printf("claim-while-bound %s\n", name(libusb_claim_interface(h, iface)));
	printf("detach %s\n", name(libusb_detach_kernel_driver(h, iface)));
	printf("active %d\n", libusb_kernel_driver_active(h, iface));
	printf("detach-again %s\n", name(libusb_detach_kernel_driver(h, iface)));
	printf("claim %s\n", name(libusb_claim_interface(h, iface)));
	printf("active-while-claimed %d\n", libusb_kernel_driver_active(h, iface));
	printf("release %s\n", name(libusb_release_interface(h, iface)));
	printf("attach %s\n", name(libusb_attach_kernel_driver(h, iface)));
	printf("active %d\n", libusb_kernel_driver_active(h, iface));
	printf("attach-again %s\n", name(libusb_attach_kernel_driver(h, iface)));
	printf("active-no-such-interface %s\n", name(libusb_kernel_driver_active(h, 9)));
	return 0;
}

/* The bulk endpoints of interface 0. */
static void bulk_endpoints(libusb_device_handle *h, unsigned char *in, unsigned char *out)
{
	struct libusb_config_descriptor *c;
	const struct libusb_interface_descriptor *alt;

	*in = *out = 0;
	if (libusb_get_active_config_descriptor(libusb_get_device(h), &c) != 0)
		return;
	alt = &c->interface[0].altsetting[0];
	for (int i = 0; i < alt->bNumEndpoints; i++) {
		const struct libusb_endpoint_descriptor *e = &alt->endpoint[i];
		if ((e->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK)
			continue;
		if (e->bEndpointAddress & LIBUSB_ENDPOINT_IN)
			*in = e->bEndpointAddress;
		else
			*out = e->bEndpointAddress;
	}
	libusb_free_config_descriptor(c);
}

static int read_blocks(libusb_device_handle *h, unsigned lba, unsigned count)
{
	unsigned char in, out, cbw[31] = { 'U', 'S', 'B', 'C', 7, 0, 0, 0 }, csw[13];
	unsigned len = count * 512;
	unsigned char *data = malloc(len);
	int n = 0, r;

	libusb_set_auto_detach_kernel_driver(h, 1);
	r = libusb_claim_interface(h, 0);
	printf("claim %s\n", name(r));
	if (r)
		return 1;
	bulk_endpoints(h, &in, &out);
	cbw[8] = len & 0xff; cbw[9] = (len >> 8) & 0xff; cbw[10] = (len >> 16) & 0xff; cbw[11] = len >> 24;
	cbw[12] = 0x80; /* data in */
	cbw[14] = 10;   /* CDB length */
	cbw[15] = 0x28; /* READ(10) */
	cbw[17] = lba >> 24; cbw[18] = (lba >> 16) & 0xff; cbw[19] = (lba >> 8) & 0xff; cbw[20] = lba & 0xff;
	cbw[22] = (count >> 8) & 0xff; cbw[23] = count & 0xff;
	r = libusb_bulk_transfer(h, out, cbw, sizeof(cbw), &n, 5000);
	printf("cbw %s %d\n", name(r), n);
	r = libusb_bulk_transfer(h, in, data, (int)len, &n, 5000);
	printf("data %s %d\n", name(r), n);
	for (unsigned b = 0; b * 512 < (unsigned)n; b++) {
		printf("block %u ", lba + b);
		for (int i = 0; i < 512; i++)
			printf("%02x", data[b * 512 + i]);
		printf("\n");
	}
	r = libusb_bulk_transfer(h, in, csw, sizeof(csw), &n, 5000);
	printf("csw %s %d status %d\n", name(r), n, n == 13 ? csw[12] : -1);
	printf("release %s\n", name(libusb_release_interface(h, 0)));
	free(data);
	return 0;
}

static int hold_transfer(libusb_device_handle *h, unsigned char ep, unsigned timeout)
{
	unsigned char buf[64];
	int n = 0, r;
	double t0;

	libusb_set_auto_detach_kernel_driver(h, 1);
	r = libusb_claim_interface(h, 0);
	printf("claim %s\n", name(r));
	if (r)
		return 1;
	printf("waiting\n");
	fflush(stdout);
	t0 = now_ms();
	r = libusb_interrupt_transfer(h, ep, buf, sizeof(buf), &n, timeout);
	printf("result %s %d elapsed %.0f\n", name(r), n, now_ms() - t0);
	printf("release %s\n", name(libusb_release_interface(h, 0)));
	return 0;
}

static void LIBUSB_CALL iso_done(struct libusb_transfer *t)
{
	(void)t;
}

static int iso(libusb_device_handle *h, int iface, int alt, unsigned char ep)
{
	struct libusb_transfer *t = libusb_alloc_transfer(4);
	static unsigned char buf[4 * 192];
	int r;

	libusb_set_auto_detach_kernel_driver(h, 1);
	printf("claim %s\n", name(libusb_claim_interface(h, iface)));
	printf("altsetting %s\n", name(libusb_set_interface_alt_setting(h, iface, alt)));
	libusb_fill_iso_transfer(t, h, ep, buf, sizeof(buf), 4, iso_done, NULL, 1000);
	libusb_set_iso_packet_lengths(t, 192);
	r = libusb_submit_transfer(t);
	printf("submit %s\n", name(r));
	libusb_free_transfer(t);
	printf("release %s\n", name(libusb_release_interface(h, iface)));
	return 0;
}

/* A bus reset with an interface claimed: what libusb says, and that the
 * device (the same one) still answers afterwards. */
static int reset(libusb_device_handle *h)
{
	unsigned char buf[18];

	libusb_set_auto_detach_kernel_driver(h, 1);
	printf("claim %s\n", name(libusb_claim_interface(h, 0)));
	printf("reset %s\n", name(libusb_reset_device(h)));
	printf("descriptor %s\n", name(libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, buf, sizeof(buf))));
	printf("release %s\n", name(libusb_release_interface(h, 0)));
	return 0;
}

int main(int argc, char **argv)
{
	libusb_device_handle *h;
	int r = 2;

	if (argc < 3) {
		fprintf(stderr, "usage: realdev kernel-driver|read-blocks|hold-transfer|iso|reset VID:PID ...\n");
		return 2;
	}
	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 2;
	h = open_vidpid(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "kernel-driver") && argc == 4)
		r = kernel_driver(h, atoi(argv[3]));
	else if (!strcmp(argv[1], "read-blocks") && argc == 5)
		r = read_blocks(h, (unsigned)strtoul(argv[3], NULL, 0), (unsigned)strtoul(argv[4], NULL, 0));
	else if (!strcmp(argv[1], "hold-transfer") && argc == 5)
		r = hold_transfer(h, (unsigned char)strtoul(argv[3], NULL, 0), (unsigned)strtoul(argv[4], NULL, 0));
	else if (!strcmp(argv[1], "reset") && argc == 3)
		r = reset(h);
	else if (!strcmp(argv[1], "iso") && argc == 6)
		r = iso(h, atoi(argv[3]), atoi(argv[4]), (unsigned char)strtoul(argv[5], NULL, 0));
	else
		fprintf(stderr, "bad arguments\n");
	libusb_close(h);
	libusb_exit(NULL);
	printf("exit\n");
	return r;
}
