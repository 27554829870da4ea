/*
 * The typed API's records (api_protocol.h describes them; ts/api/records.ts
 * reads them): each record's fixed fields are written by expanding the
 * header's field list over the libusb struct that has them, the rest as the
 * header's comment describes.
 */
#include <stdlib.h>
#include <string.h>

#include "records.h"

/* ---- the writer ------------------------------------------------------------ */

static void put(struct record *w, const void *src, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		p = realloc(w->bytes, cap);
		if (!p) {
			w->failed = 1;
			return;
		}
		w->bytes = p;
		w->cap = cap;
	}
	memcpy(w->bytes + w->len, src, n);
	w->len += n;
}

static void put_u8(struct record *w, uint8_t v) { put(w, &v, 1); }
static void put_u16(struct record *w, uint16_t v) { uint8_t b[2] = { v & 0xff, v >> 8 }; put(w, b, 2); }
static void put_u32(struct record *w, uint32_t v)
{
	uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
	put(w, b, 4);
}

static void put_bytes(struct record *w, const unsigned char *p, int n)
{
	if (n < 0 || !p)
		n = 0;
	if (n > 0xffff)
		n = 0xffff;
	put_u16(w, (uint16_t)n);
	put(w, p, (size_t)n);
}

/* ---- the records ----------------------------------------------------------- */

static void put_string(struct record *w, libusb_device *dev, enum libusb_device_string_type type)
{
	char text[256];
	int n = libusb_get_device_string(dev, type, text, sizeof(text));

	if (n <= 0) {
		put_u16(w, 0xffff);
		return;
	}
	/* the count includes the terminating NUL */
	put_u16(w, (uint16_t)(n - 1));
	put(w, text, (size_t)(n - 1));
}

/*
 * PUT_FIELDS(LWA_..._FIELDS, from): write the fixed fields a list in
 * api_protocol.h names, from the struct `from` points to; a width in the
 * list that is not the struct's own fails to compile.
 */
typedef uint8_t field_u8;
typedef uint16_t field_u16;
typedef uint32_t field_u32;
#define PUT_FIELD(width, name) \
	_Static_assert(sizeof(from->name) == sizeof(field_##width), "api_protocol.h: " #name " is not " #width); \
	put_##width(w, from->name);
#define PUT_FIELDS(list, src) do { __typeof__(src) from = (src); list(PUT_FIELD) } while (0)
#define DECLARE_FIELD(width, name) field_##width name;

static void put_endpoint(struct record *w, libusb_context *ctx, const struct libusb_endpoint_descriptor *ep)
{
	struct libusb_ss_endpoint_companion_descriptor *comp = NULL;

	PUT_FIELDS(LWA_ENDPOINT_FIELDS, ep);
	put_bytes(w, ep->extra, ep->extra_length);
	if (libusb_get_ss_endpoint_companion_descriptor(ctx, ep, &comp) == 0) {
		put_u8(w, 1);
		PUT_FIELDS(LWA_SS_ENDPOINT_COMPANION_FIELDS, comp);
		libusb_free_ss_endpoint_companion_descriptor(comp);
	} else {
		put_u8(w, 0);
	}
}

static void put_config(struct record *w, libusb_context *ctx, const struct libusb_config_descriptor *c)
{
	PUT_FIELDS(LWA_CONFIG_FIELDS, c);
	put_bytes(w, c->extra, c->extra_length);
	for (int i = 0; i < c->bNumInterfaces; i++) {
		const struct libusb_interface *iface = &c->interface[i];

		put_u8(w, (uint8_t)iface->num_altsetting);
		for (int a = 0; a < iface->num_altsetting; a++) {
			const struct libusb_interface_descriptor *alt = &iface->altsetting[a];

			PUT_FIELDS(LWA_INTERFACE_FIELDS, alt);
			put_bytes(w, alt->extra, alt->extra_length);
			for (int e = 0; e < alt->bNumEndpoints; e++)
				put_endpoint(w, ctx, &alt->endpoint[e]);
		}
	}
}

void record_device(struct record *w, libusb_context *ctx, libusb_device *dev, uint32_t id)
{
	/* the device's own fields, gathered as the list names them: set each one here */
	struct device_fields { LWA_DEVICE_FIELDS(DECLARE_FIELD) } fields = {
		.id = id,
		.busNumber = libusb_get_bus_number(dev),
		.deviceAddress = libusb_get_device_address(dev),
		.speed = (uint8_t)libusb_get_device_speed(dev),
	};
	struct libusb_device_descriptor d;
	uint8_t ports[8];
	int n;

	PUT_FIELDS(LWA_DEVICE_FIELDS, &fields);
	n = libusb_get_port_numbers(dev, ports, sizeof(ports));
	if (n < 0)
		n = 0;
	put_u8(w, (uint8_t)n);
	put(w, ports, (size_t)n);

	libusb_get_device_descriptor(dev, &d);
	PUT_FIELDS(LWA_DEVICE_DESCRIPTOR_FIELDS, &d);
	put_string(w, dev, LIBUSB_DEVICE_STRING_MANUFACTURER);
	put_string(w, dev, LIBUSB_DEVICE_STRING_PRODUCT);
	put_string(w, dev, LIBUSB_DEVICE_STRING_SERIAL_NUMBER);

	for (int i = 0; i < d.bNumConfigurations; i++) {
		struct libusb_config_descriptor *c;
		int r = libusb_get_config_descriptor(dev, (uint8_t)i, &c);

		put_u32(w, (uint32_t)r);
		if (r == 0) {
			put_config(w, ctx, c);
			libusb_free_config_descriptor(c);
		}
	}
}

void record_bos(struct record *w, const struct libusb_bos_descriptor *bos)
{
	PUT_FIELDS(LWA_BOS_FIELDS, bos);
	for (int i = 0; i < bos->bNumDeviceCaps; i++) {
		const struct libusb_bos_dev_capability_descriptor *cap = bos->dev_capability[i];

		PUT_FIELDS(LWA_BOS_DEV_CAPABILITY_FIELDS, cap);
		put_bytes(w, cap->dev_capability_data, cap->bLength > 3 ? cap->bLength - 3 : 0);
	}
}

void record_device_list(struct record *w, libusb_context *ctx, libusb_device **list, size_t n,
	uint32_t (*id_of)(libusb_device *dev))
{
	put_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		record_device(w, ctx, list[i], id_of(list[i]));
}

int record_to_msg(struct record *w, struct lwa_msg *m)
{
	if (w->failed) {
		free(w->bytes);
		return LIBUSB_ERROR_NO_MEM;
	}
	m->data = (uint32_t)(uintptr_t)w->bytes;
	m->len = (uint32_t)w->len;
	return 0;
}
