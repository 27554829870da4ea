/* Lists the USB devices libusb sees: vendor:product, bus and address. */
#include <stdio.h>
#include <libusb.h>

int main(void)
{
	libusb_device **list;
	int r = libusb_init_context(NULL, NULL, 0);
	if (r < 0) {
		fprintf(stderr, "libusb_init_context: %s\n", libusb_strerror(r));
		return 1;
	}
	ssize_t count = libusb_get_device_list(NULL, &list);
	if (count < 0) {
		fprintf(stderr, "libusb_get_device_list: %s\n", libusb_strerror((int)count));
		libusb_exit(NULL);
		return 1;
	}
	for (ssize_t i = 0; i < count; i++) {
		struct libusb_device_descriptor desc;
		if (libusb_get_device_descriptor(list[i], &desc) == 0)
			printf("%04x:%04x bus %d address %d\n", desc.idVendor, desc.idProduct,
			       libusb_get_bus_number(list[i]), libusb_get_device_address(list[i]));
	}
	printf("%zd device(s)\n", count);
	libusb_free_device_list(list, 1);
	libusb_exit(NULL);
	return 0;
}
