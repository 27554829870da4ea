/*
 * Shared-memory protocol between the JS API server (ts/api/server.ts, in the
 * worker's own thread) and the API shim (shim.c, this directory), a C
 * program whose threads call the real libusb. scripts/gen-protocol.mjs
 * generates its TypeScript side (ts/api/api-protocol.gen.ts) from this file;
 * test/protocol.test.ts checks the two agree.
 *
 * Both directions are lock-free stacks of messages in wasm memory, the same
 * style as the backend's channel to the transport host:
 *  - JS allocates a message (malloc), fills it and pushes it onto cmd_head,
 *    then bumps cmd_bell. The command thread takes the whole stack at once.
 *  - When C is done with a command it fills in the results and pushes the
 *    same message onto evt_head, then bumps evt_bell; JS waits on it with
 *    Atomics.waitAsync. Events C starts itself (hotplug, log lines) are
 *    messages C allocates; JS frees them after reading.
 *  - Transfers are commands too (LWA_OP_SUBMIT); they come back when libusb
 *    completes them, from the event thread.
 * A message belongs to whoever has it: JS until pushed, C until pushed back.
 * The one exception is a transfer in flight, which C touches only under its
 * transfer lock, so LWA_OP_CANCEL can find it safely.
 */
#ifndef LIBUSB_WASM_API_PROTOCOL_H
#define LIBUSB_WASM_API_PROTOCOL_H

#include <stdint.h>
#include <stddef.h>
#include <stdatomic.h>

#define LWA_MAGIC   0x6170776cu /* "lwpa" little-endian */
#define LWA_VERSION 2u /* 2: the record counts are the descriptors' own (no num_configs, num_interfaces) */

/* Commands (struct lwa_msg.kind), JS -> C. Arguments in arg[], results in
 * result (0 or a libusb error) and arg[]. */
enum lwa_op {
	LWA_OP_INIT = 1,            /* arg0 = log level, arg1 = LWA_INIT_* flags */
	LWA_OP_EXIT = 2,            /* closes every handle, libusb_exit, the program ends */
	LWA_OP_SET_LOG_LEVEL = 3,   /* arg0 = level */
	LWA_OP_GET_DEVICE_LIST = 4, /* -> data/len: device list record (C malloc, JS frees) */
	LWA_OP_OPEN = 5,            /* arg0 = device id -> arg1 = handle id */
	LWA_OP_CLOSE = 6,           /* arg0 = handle */
	LWA_OP_GET_CONFIGURATION = 7, /* arg0 = handle -> arg1 = bConfigurationValue */
	LWA_OP_SET_CONFIGURATION = 8, /* arg0 = handle, arg1 = value (int32, -1 = unconfigured) */
	LWA_OP_CLAIM_INTERFACE = 9,   /* arg0 = handle, arg1 = interface */
	LWA_OP_RELEASE_INTERFACE = 10,/* arg0 = handle, arg1 = interface */
	LWA_OP_SET_ALTSETTING = 11,   /* arg0 = handle, arg1 = interface, arg2 = alternate */
	LWA_OP_CLEAR_HALT = 12,       /* arg0 = handle, arg1 = endpoint */
	LWA_OP_RESET_DEVICE = 13,     /* arg0 = handle */
	LWA_OP_KERNEL_DRIVER_ACTIVE = 14, /* arg0 = handle, arg1 = interface -> arg2 = 0/1 */
	LWA_OP_DETACH_KERNEL_DRIVER = 15, /* arg0 = handle, arg1 = interface */
	LWA_OP_ATTACH_KERNEL_DRIVER = 16, /* arg0 = handle, arg1 = interface */
	LWA_OP_SET_AUTO_DETACH = 17,      /* arg0 = handle, arg1 = 0/1 */
	LWA_OP_GET_STRING_DESCRIPTOR = 18,/* arg0 = handle, arg1 = index, arg2 = langid (0: the first
	                                     the device lists) -> data/len: the descriptor's UTF-16LE text,
	                                     arg3 = langid used */
	LWA_OP_GET_BOS = 19,          /* arg0 = handle -> data/len: BOS record */
	LWA_OP_SUBMIT = 20,           /* struct lwa_transfer */
	LWA_OP_CANCEL = 21,           /* arg0 = struct lwa_transfer* (still owned by C) */
	LWA_OP_COUNT
};

/* LWA_OP_INIT flags */
#define LWA_INIT_NO_DEVICE_DISCOVERY 0x1u

/* Events (struct lwa_msg.kind), C -> JS, allocated by C. */
#define LWA_EVT_HOTPLUG 0x100u /* arg0 = LWA_HOTPLUG_*, arg1 = device id; arrivals: data/len = device record */
#define LWA_EVT_LOG     0x101u /* arg0 = libusb log level; data/len = the message (UTF-8) */
#define LWA_HOTPLUG_ARRIVED 1u
#define LWA_HOTPLUG_LEFT    2u

struct lwa_msg {
	uint32_t next;    /*  0: link in cmd_head / evt_head */
	uint32_t kind;    /*  4: enum lwa_op or LWA_EVT_* */
	int32_t result;   /*  8: libusb error code; SUBMIT: libusb_transfer_status, or a
	                         libusb error (negative) when submission failed */
	uint32_t arg[6];  /* 12 */
	uint32_t data;    /* 36: payload pointer */
	uint32_t len;     /* 40: payload length */
};
#define LWA_MSG_SIZE 44

/*
 * A transfer: one allocation holding the message, the isochronous packet
 * table and the buffer (control transfers: the 8-byte setup packet first).
 *   msg.arg[0] = handle id    msg.arg[1] = endpoint    msg.arg[2] = libusb transfer type
 *   msg.arg[3] = timeout ms   msg.arg[4] = libusb transfer flags
 *   msg.arg[5] = result: actual_length
 *   msg.data/len = the buffer
 */
struct lwa_transfer {
	struct lwa_msg msg;   /*  0 */
	uint32_t num_iso;     /* 44 */
	uint32_t transfer;    /* 48: libusb_transfer* while in flight (C only) */
	uint32_t state;       /* 52: LWA_XFER_* (C only, under the transfer lock) */
	uint32_t reserved;    /* 56 */
	/* 60: num_iso x struct lwa_iso_packet, then the buffer */
};
#define LWA_TRANSFER_SIZE 60
#define LWA_XFER_QUEUED   0u
#define LWA_XFER_FLYING   1u
#define LWA_XFER_DONE     2u

struct lwa_iso_packet {
	uint32_t length;        /* 0: in */
	uint32_t actual_length; /* 4: out */
	uint32_t status;        /* 8: out, libusb_transfer_status */
};
#define LWA_ISO_PACKET_SIZE 12

/* The block JS attaches to. */
struct lwa_block {
	uint32_t magic;                 /*  0 */
	uint32_t version;               /*  4 */
	_Atomic uint32_t cmd_head;      /*  8 */
	_Atomic uint32_t cmd_bell;      /* 12: the command thread sleeps on it */
	_Atomic uint32_t cmd_sleeping;  /* 16: 1 while it does (JS notifies only then) */
	_Atomic uint32_t evt_head;      /* 20 */
	_Atomic uint32_t evt_bell;      /* 24: JS waits on it */
	_Atomic uint32_t js_waiting;    /* 28: 1 while JS waits (C notifies only then) */
};
#define LWA_BLOCK_SIZE 32

/*
 * Records written by C (records.c), read by ts/api/records.ts: little-endian,
 * byte-packed. Each record starts with its fixed fields, the list below
 * named for it, in order: X(width, name), width u8, u16 or u32. records.c
 * expands a list over the libusb struct whose fields it names (the compiler
 * checks each width); scripts/gen-protocol.mjs turns it into the table
 * records.ts reads into the public type of the same fields (tsc checks the
 * names). What follows the fixed fields:
 *
 * Device list:   u32 count, count x Device
 * Device:        LWA_DEVICE_FIELDS, u8 num_ports, num_ports x u8 port (libusb_get_port_numbers),
 *                LWA_DEVICE_DESCRIPTOR_FIELDS,
 *                3 x String (manufacturer, product, serial number: libusb_get_device_string),
 *                bNumConfigurations x { i32 status (libusb_get_config_descriptor), Config if status == 0 }
 * Config:        LWA_CONFIG_FIELDS, Bytes extra,
 *                bNumInterfaces x { u8 num_altsetting, num_altsetting x Alternate }
 * Alternate:     LWA_INTERFACE_FIELDS, Bytes extra, bNumEndpoints x Endpoint
 * Endpoint:      LWA_ENDPOINT_FIELDS, Bytes extra,
 *                u8 has_companion, LWA_SS_ENDPOINT_COMPANION_FIELDS if has_companion == 1
 * BOS:           LWA_BOS_FIELDS, bNumDeviceCaps x { LWA_BOS_DEV_CAPABILITY_FIELDS, Bytes data }
 * String:        u16 length (0xffff: not available), length bytes of UTF-8
 * Bytes:         u16 length, length bytes (`extra`: class-specific descriptors)
 *
 * A count named after a descriptor field (bNumConfigurations, ...) is that
 * field as libusb parsed it, which libusb keeps equal to its array's length.
 */
#define LWA_DEVICE_FIELDS(X) /* the shim's id for the device (never reused), bus, address, enum libusb_speed */ \
	X(u32, id) X(u8, busNumber) X(u8, deviceAddress) X(u8, speed)
#define LWA_DEVICE_DESCRIPTOR_FIELDS(X) /* struct libusb_device_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u16, bcdUSB) X(u8, bDeviceClass) \
	X(u8, bDeviceSubClass) X(u8, bDeviceProtocol) X(u8, bMaxPacketSize0) X(u16, idVendor) \
	X(u16, idProduct) X(u16, bcdDevice) X(u8, iManufacturer) X(u8, iProduct) \
	X(u8, iSerialNumber) X(u8, bNumConfigurations)
#define LWA_CONFIG_FIELDS(X) /* struct libusb_config_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u16, wTotalLength) X(u8, bNumInterfaces) \
	X(u8, bConfigurationValue) X(u8, iConfiguration) X(u8, bmAttributes) X(u8, MaxPower)
#define LWA_INTERFACE_FIELDS(X) /* struct libusb_interface_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u8, bInterfaceNumber) X(u8, bAlternateSetting) \
	X(u8, bNumEndpoints) X(u8, bInterfaceClass) X(u8, bInterfaceSubClass) \
	X(u8, bInterfaceProtocol) X(u8, iInterface)
#define LWA_ENDPOINT_FIELDS(X) /* struct libusb_endpoint_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u8, bEndpointAddress) X(u8, bmAttributes) \
	X(u16, wMaxPacketSize) X(u8, bInterval) X(u8, bRefresh) X(u8, bSynchAddress)
#define LWA_SS_ENDPOINT_COMPANION_FIELDS(X) /* struct libusb_ss_endpoint_companion_descriptor */ \
	X(u8, bMaxBurst) X(u8, bmAttributes) X(u16, wBytesPerInterval)
#define LWA_BOS_FIELDS(X) /* struct libusb_bos_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u16, wTotalLength) X(u8, bNumDeviceCaps)
#define LWA_BOS_DEV_CAPABILITY_FIELDS(X) /* struct libusb_bos_dev_capability_descriptor */ \
	X(u8, bLength) X(u8, bDescriptorType) X(u8, bDevCapabilityType)

#ifdef __EMSCRIPTEN__
_Static_assert(sizeof(struct lwa_msg) == LWA_MSG_SIZE, "lwa_msg layout");
_Static_assert(sizeof(struct lwa_transfer) == LWA_TRANSFER_SIZE, "lwa_transfer layout");
_Static_assert(sizeof(struct lwa_iso_packet) == LWA_ISO_PACKET_SIZE, "lwa_iso_packet layout");
_Static_assert(sizeof(struct lwa_block) == LWA_BLOCK_SIZE, "lwa_block layout");
_Static_assert(offsetof(struct lwa_msg, data) == 36, "lwa_msg.data");
#endif

#endif
