/*
 * libusb device operations against the simulated loopback device: discovery,
 * descriptors, strings, configurations, claims, alternate settings, kernel
 * drivers, reset. Each case prints "PASS <name>" or "FAIL <name>: <why>";
 * the exit status is the number of failures. Which device options a case
 * needs (kernel drivers bound, re-enumeration on reset) is up to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>
#include "harness.h"

#define VID 0x1209
#define PID 0x0001

/* device_ops cases clean up on failure, so their checks jump to `fail` */
#undef CHECK
#define CHECK(cond, ...) do { if (!(cond)) { snprintf(why, sizeof(why), __VA_ARGS__); goto fail; } } while (0)
#define OK(call) do { int r_ = (call); CHECK(r_ == 0, "%s: %s", #call, libusb_error_name(r_)); } while (0)
#define IS(call, want) do { int r_ = (call); CHECK(r_ == (want), "%s: got %s, want %s", #call, \
	libusb_error_name(r_), libusb_error_name(want)); } while (0)

static libusb_device *find(libusb_context *ctx)
{
	libusb_device **list, *found = NULL;
	ssize_t n = libusb_get_device_list(ctx, &list);

	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor d;
		libusb_get_device_descriptor(list[i], &d);
		if (d.idVendor == VID && d.idProduct == PID)
			found = libusb_ref_device(list[i]);
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	return found;
}

static int test_enumerate(void)
{
	libusb_device *dev = find(NULL);
	uint8_t ports[8];
	char s[LIBUSB_DEVICE_STRING_BYTES_MAX];

	CHECK(dev, "loopback not found");
	CHECK(libusb_get_bus_number(dev) == 1, "bus %d", libusb_get_bus_number(dev));
	CHECK(libusb_get_port_numbers(dev, ports, sizeof(ports)) == 1 && ports[0] == 1, "port path");
	CHECK(libusb_get_device_address(dev) >= 1 && libusb_get_device_address(dev) <= 127, "address");
	CHECK(libusb_get_device_speed(dev) == LIBUSB_SPEED_HIGH, "speed %d", libusb_get_device_speed(dev));
	CHECK(libusb_get_parent(dev) == NULL, "parent");
	CHECK(libusb_get_device_string(dev, LIBUSB_DEVICE_STRING_MANUFACTURER, s, sizeof(s)) == 12 && !strcmp(s, "libusb-wasm"),
		"manufacturer string '%s'", s);
	/* truncated to the buffer; the return value is the full length */
	CHECK(libusb_get_device_string(dev, LIBUSB_DEVICE_STRING_SERIAL_NUMBER, s, 4) == 7 && !strcmp(s, "LB0"),
		"truncated serial '%s'", s);
	libusb_unref_device(dev);
	return 0;
fail:
	return 1;
}

static int test_descriptors(void)
{
	libusb_device *dev = find(NULL);
	libusb_device_handle *h = NULL;
	struct libusb_config_descriptor *c = NULL;
	struct libusb_bos_descriptor *bos = NULL;
	static const unsigned char extra[] = { 5, 0x24, 0x01, 0x10, 0x01 };

	CHECK(dev, "loopback not found");
	OK(libusb_get_active_config_descriptor(dev, &c));
	CHECK(c->bConfigurationValue == 1 && c->bNumInterfaces == 2, "config");
	CHECK(c->interface[0].altsetting[0].extra_length == 5 &&
		!memcmp(c->interface[0].altsetting[0].extra, extra, 5), "class-specific extra bytes");
	CHECK(c->interface[1].num_altsetting == 2 && c->interface[1].altsetting[1].bNumEndpoints == 2, "iso alternate");
	libusb_free_config_descriptor(c);
	c = NULL;
	OK(libusb_get_config_descriptor_by_value(dev, 1, &c));
	libusb_free_config_descriptor(c);
	c = NULL;
	IS(libusb_get_config_descriptor(dev, 1, &c), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_open(dev, &h));
	OK(libusb_get_bos_descriptor(h, &bos));
	CHECK(bos->bNumDeviceCaps == 3, "BOS caps %d", bos->bNumDeviceCaps);
	struct libusb_usb_2_0_extension_descriptor *ext = NULL;
	OK(libusb_get_usb_2_0_extension_descriptor(NULL, bos->dev_capability[0], &ext));
	CHECK(ext->bmAttributes == 2, "LPM bit");
	libusb_free_usb_2_0_extension_descriptor(ext);
	struct libusb_container_id_descriptor *cid = NULL;
	OK(libusb_get_container_id_descriptor(NULL, bos->dev_capability[1], &cid));
	CHECK(!memcmp(cid->ContainerID, "libusb-wasm", 11), "container id");
	libusb_free_container_id_descriptor(cid);
	libusb_free_bos_descriptor(bos);
	unsigned char buf[64];
	CHECK(libusb_get_string_descriptor_ascii(h, 2, buf, sizeof(buf)) == 8 && !strcmp((char *)buf, "Loopback"), "string 2");
	CHECK(libusb_get_string_descriptor(h, 0, 0, buf, sizeof(buf)) == 4 && buf[2] == 0x09 && buf[3] == 0x04, "language ids");
	IS(libusb_get_string_descriptor_ascii(h, 200, buf, sizeof(buf)), LIBUSB_ERROR_PIPE);
	libusb_close(h);
	libusb_unref_device(dev);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

static int test_configuration(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	struct libusb_config_descriptor *c = NULL;
	int cfg = -5;

	CHECK(h, "open");
	OK(libusb_get_configuration(h, &cfg));
	CHECK(cfg == 1, "configuration %d", cfg);
	OK(libusb_set_configuration(h, 1));
	IS(libusb_set_configuration(h, 5), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_claim_interface(h, 0));
	IS(libusb_set_configuration(h, 1), LIBUSB_ERROR_BUSY);
	OK(libusb_release_interface(h, 0));
	OK(libusb_set_configuration(h, -1));
	OK(libusb_get_configuration(h, &cfg));
	CHECK(cfg == 0, "unconfigured: configuration %d", cfg);
	IS(libusb_get_active_config_descriptor(libusb_get_device(h), &c), LIBUSB_ERROR_NOT_FOUND);
	IS(libusb_claim_interface(h, 0), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_set_configuration(h, 1));
	OK(libusb_claim_interface(h, 0));
	libusb_close(h);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

static int test_claim(void)
{
	libusb_device_handle *a = libusb_open_device_with_vid_pid(NULL, VID, PID);
	libusb_device_handle *b = libusb_open_device_with_vid_pid(NULL, VID, PID);
	unsigned char buf[8];
	int n;

	CHECK(a && b, "open two handles");
	OK(libusb_claim_interface(a, 0));
	OK(libusb_claim_interface(a, 0));
	IS(libusb_claim_interface(a, 7), LIBUSB_ERROR_NOT_FOUND);
	IS(libusb_claim_interface(b, 0), LIBUSB_ERROR_BUSY);
	IS(libusb_bulk_transfer(b, 0x81, buf, sizeof(buf), &n, 100), LIBUSB_ERROR_NOT_FOUND);
	IS(libusb_release_interface(b, 0), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_release_interface(a, 0));
	IS(libusb_bulk_transfer(a, 0x81, buf, sizeof(buf), &n, 100), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_claim_interface(b, 0));
	libusb_close(a);
	libusb_close(b);
	return 0;
fail:
	if (a)
		libusb_close(a);
	if (b)
		libusb_close(b);
	return 1;
}

static int test_altsetting(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	unsigned char buf[256];
	struct libusb_transfer *t = libusb_alloc_transfer(1);

	CHECK(h, "open");
	OK(libusb_claim_interface(h, 1));
	libusb_fill_iso_transfer(t, h, 0x83, buf, sizeof(buf), 1, NULL, NULL, 1000);
	libusb_set_iso_packet_lengths(t, sizeof(buf));
	IS(libusb_submit_transfer(t), LIBUSB_ERROR_NOT_FOUND); /* alternate 0 has no endpoints */
	IS(libusb_set_interface_alt_setting(h, 1, 5), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_set_interface_alt_setting(h, 1, 1));
	unsigned char alt = 0xff;
	CHECK(libusb_control_transfer(h, 0x81, LIBUSB_REQUEST_GET_INTERFACE, 0, 1, &alt, 1, 1000) == 1 && alt == 1,
		"GET_INTERFACE says %d", alt);
	IS(libusb_set_interface_alt_setting(h, 0, 1), LIBUSB_ERROR_NOT_FOUND); /* not claimed */
	OK(libusb_release_interface(h, 1)); /* back to alternate 0 */
	OK(libusb_claim_interface(h, 1));
	CHECK(libusb_control_transfer(h, 0x81, LIBUSB_REQUEST_GET_INTERFACE, 0, 1, &alt, 1, 1000) == 1 && alt == 0,
		"after release, alternate %d", alt);
	libusb_free_transfer(t);
	libusb_close(h);
	return 0;
fail:
	libusb_free_transfer(t);
	if (h)
		libusb_close(h);
	return 1;
}

/* A transport without kernel drivers answers as libusb documents for "none". */
static int test_kernel_none(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);

	CHECK(h, "open");
	CHECK(libusb_has_capability(LIBUSB_CAP_SUPPORTS_DETACH_KERNEL_DRIVER), "capability");
	IS(libusb_kernel_driver_active(h, 0), 0);
	IS(libusb_detach_kernel_driver(h, 0), LIBUSB_ERROR_NOT_FOUND);
	OK(libusb_set_auto_detach_kernel_driver(h, 1));
	OK(libusb_claim_interface(h, 0));
	libusb_close(h);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

/* Run with interface 0 bound to a (simulated) kernel driver. */
static int test_kernel_bound(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);

	CHECK(h, "open");
	IS(libusb_kernel_driver_active(h, 0), 1);
	IS(libusb_claim_interface(h, 0), LIBUSB_ERROR_BUSY);
	OK(libusb_detach_kernel_driver(h, 0));
	IS(libusb_kernel_driver_active(h, 0), 0);
	OK(libusb_claim_interface(h, 0));
	IS(libusb_attach_kernel_driver(h, 0), LIBUSB_ERROR_BUSY);
	OK(libusb_release_interface(h, 0));
	OK(libusb_attach_kernel_driver(h, 0));
	IS(libusb_kernel_driver_active(h, 0), 1);
	/* libusb's auto-detach: detach on claim, re-attach on release */
	OK(libusb_set_auto_detach_kernel_driver(h, 1));
	OK(libusb_claim_interface(h, 0));
	IS(libusb_kernel_driver_active(h, 0), 0);
	OK(libusb_release_interface(h, 0));
	IS(libusb_kernel_driver_active(h, 0), 1);
	libusb_close(h);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

static int test_reset(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	unsigned char out[8] = "resetok", in[8];
	int n;

	CHECK(h, "open");
	OK(libusb_claim_interface(h, 0));
	OK(libusb_reset_device(h));
	OK(libusb_bulk_transfer(h, 0x01, out, sizeof(out), &n, 1000));
	OK(libusb_bulk_transfer(h, 0x81, in, sizeof(in), &n, 1000));
	CHECK(n == 8 && !memcmp(in, out, 8), "loopback after reset");
	libusb_close(h);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

/* Run with a device that re-enumerates on reset. */
static int test_reset_reenumerate(void)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, VID, PID);
	libusb_device *before, *after = NULL;
	uint8_t old_address;

	CHECK(h, "open");
	before = libusb_get_device(h);
	old_address = libusb_get_device_address(before);
	IS(libusb_reset_device(h), LIBUSB_ERROR_NOT_FOUND);
	libusb_close(h);
	h = NULL;
	for (int i = 0; i < 100 && !after; i++) {
		after = find(NULL);
		if (after && libusb_get_device_address(after) == old_address) {
			libusb_unref_device(after);
			after = NULL;
		}
		if (!after) {
			struct timeval tv = { 0, 20000 };
			libusb_handle_events_timeout_completed(NULL, &tv, NULL);
		}
	}
	CHECK(after, "the re-enumerated device did not appear");
	OK(libusb_open(after, &h));
	libusb_close(h);
	libusb_unref_device(after);
	return 0;
fail:
	if (h)
		libusb_close(h);
	return 1;
}

static int test_no_discovery(void)
{
	libusb_context *ctx = NULL;
	libusb_device **list;
	struct libusb_init_option opt = { .option = LIBUSB_OPTION_NO_DEVICE_DISCOVERY };
	ssize_t n;

	OK(libusb_init_context(&ctx, &opt, 1));
	n = libusb_get_device_list(ctx, &list);
	CHECK(n == 0, "%zd devices listed", n);
	libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	ctx = NULL;
	/* and a normal second context still sees the device */
	OK(libusb_init_context(&ctx, NULL, 0));
	libusb_device *dev = find(ctx);
	CHECK(dev, "second context: no device");
	libusb_unref_device(dev);
	libusb_exit(ctx);
	return 0;
fail:
	if (ctx)
		libusb_exit(ctx);
	return 1;
}

static const struct test_case tests[] = {
	{ "enumerate", test_enumerate },
	{ "descriptors", test_descriptors },
	{ "configuration", test_configuration },
	{ "claim", test_claim },
	{ "altsetting", test_altsetting },
	{ "kernel_none", test_kernel_none },
	{ "kernel_bound", test_kernel_bound },
	{ "reset", test_reset },
	{ "reset_reenumerate", test_reset_reenumerate },
	{ "no_discovery", test_no_discovery },
};

int main(int argc, char **argv)
{
	int failures;

	if (libusb_init_context(NULL, NULL, 0) != 0) {
		printf("FAIL init\n");
		return 100;
	}
	failures = run_cases(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), 0);
	libusb_exit(NULL);
	return failures;
}
