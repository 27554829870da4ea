/*
 * The typed API's records: libusb's parsed descriptors written for
 * ts/api/records.ts, in the format api_protocol.h describes. A record grows
 * in C memory; record_to_msg hands it to JS as a message's payload.
 */
#ifndef LIBUSB_WASM_API_RECORDS_H
#define LIBUSB_WASM_API_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <libusb.h>

#include "api_protocol.h"

struct record {
	uint8_t *bytes;
	size_t len, cap;
	int failed; /* out of memory: the record is incomplete */
};

/* A device list record; id_of gives each device's id. */
void record_device_list(struct record *w, libusb_context *ctx, libusb_device **list, size_t n,
	uint32_t (*id_of)(libusb_device *dev));
/* A device record (hotplug arrivals). */
void record_device(struct record *w, libusb_context *ctx, libusb_device *dev, uint32_t id);
/* A BOS record. */
void record_bos(struct record *w, const struct libusb_bos_descriptor *bos);
/* The record becomes m's data/len (JS frees it): 0, or LIBUSB_ERROR_NO_MEM (it is freed). */
int record_to_msg(struct record *w, struct lwa_msg *m);

#endif
