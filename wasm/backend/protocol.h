/*
 * Shared-memory protocol between the wasm backend (C, this directory) and the
 * transport host (TypeScript, ts/host/). Both sides read and write these
 * structures in the wasm memory; nothing here crosses threads by postMessage.
 *
 * This header is the one source of the contract: scripts/gen-protocol.mjs
 * generates the TypeScript side (ts/host/protocol.gen.ts) from it at build
 * time, so every #define, enum and struct here is the host's too. The
 * _Static_asserts pin the C layout; test/protocol.test.ts checks that the
 * compiler and the generator lay every field out alike.
 *
 * Ownership rules (the whole concurrency story):
 *  - A request is written by C, then posted. From the post until the host
 *    completes it, only the host touches it. After completion only C does.
 *  - Posting pushes the request onto lw_shared.req_head (a lock-free stack,
 *    many C producers, one host consumer that takes the whole stack at once).
 *  - Synchronous requests complete by setting `done` and waking its futex.
 *  - Transfer requests complete by being pushed onto the owning context's
 *    done_head stack, followed by a bump of the context's `wake` futex.
 *    Whoever completes a transfer first takes its `done` word from 0 to 1
 *    (compare-and-swap) and only then pushes it: the host, or the program
 *    itself when the host is gone (every transfer then ends NO_DEVICE), so
 *    a transfer is never completed twice.
 *  - A thread that sleeps on a futex word writes the word's address into a
 *    free slot of lw_shared.sleeping_on first (and clears it after), so that
 *    whoever marks the host GONE can wake every sleeping thread at once.
 */
#ifndef LIBUSB_WASM_PROTOCOL_H
#define LIBUSB_WASM_PROTOCOL_H

#include <stdint.h>
#include <stddef.h>
#include <stdatomic.h>

#define LW_MAGIC            0x6273756cu /* "lusb" little-endian */
#define LW_PROTOCOL_VERSION 4u

/* Request operations. Values are part of the protocol. */
enum lw_op {
	LW_OP_CTX_ATTACH = 1,   /* arg0 = lw_ctx_shared*, arg1 = flags (LW_CTX_*) */
	LW_OP_CTX_DETACH = 2,   /* arg0 = lw_ctx_shared* */
	LW_OP_LIST_DEVICES = 3, /* buf/len: receives device records; actual = bytes needed */
	LW_OP_NEXT_HOTPLUG = 4, /* arg0 = lw_ctx_shared*; buf/len: one event record */
	LW_OP_OPEN = 5,         /* dev; arg0 = lw_handle_shared*; actual = handle id */
	LW_OP_CLOSE = 6,        /* handle */
	LW_OP_GET_CONFIGURATION = 7, /* dev; actual = bConfigurationValue (0 = unconfigured) */
	LW_OP_SET_CONFIGURATION = 8, /* handle; arg0 = value (int32, -1 = unconfigure) */
	LW_OP_CLAIM_INTERFACE = 9,   /* handle; arg0 = interface */
	LW_OP_RELEASE_INTERFACE = 10,/* handle; arg0 = interface */
	LW_OP_SET_ALTSETTING = 11,   /* handle; arg0 = interface, arg1 = altsetting */
	LW_OP_CLEAR_HALT = 12,       /* handle; arg0 = endpoint address */
	LW_OP_RESET_DEVICE = 13,     /* handle */
	LW_OP_KERNEL_DRIVER_ACTIVE = 14, /* handle; arg0 = interface; actual = 0/1 */
	LW_OP_DETACH_KERNEL_DRIVER = 15, /* handle; arg0 = interface */
	LW_OP_ATTACH_KERNEL_DRIVER = 16, /* handle; arg0 = interface */
	LW_OP_SUBMIT = 17,           /* asynchronous transfer, see struct lw_req */
	LW_OP_CANCEL = 18,           /* arg0 = lw_req* of the transfer, arg1 = its seq */
	LW_OP_GET_STRING = 19,       /* dev; arg0 = libusb_device_string_type; buf/len */
	LW_OP_OP_COUNT
};

/* lw_ctx_shared attach flags */
#define LW_CTX_NO_DISCOVERY 0x1u /* LIBUSB_OPTION_NO_DEVICE_DISCOVERY */

/* Transfer status values written by the host for LW_OP_SUBMIT. They are
 * libusb's enum libusb_transfer_status values. */

/* A request. Every field is 32 bits; pointers are wasm32 addresses. */
struct lw_req {
	uint32_t next;          /*  0: link in req_head / done_head stacks */
	uint32_t op;            /*  4: enum lw_op */
	int32_t status;         /*  8: result: libusb error (sync ops) or transfer status */
	_Atomic uint32_t done;  /* 12: futex word, set to 1 by the host for sync ops */
	uint32_t ctx;           /* 16: lw_ctx_shared* that receives transfer completions */
	uint32_t dev;           /* 20: device id (the libusb session id) */
	uint32_t handle;        /* 24: host handle id */
	uint32_t arg0;          /* 28: op specific; SUBMIT: endpoint address */
	uint32_t arg1;          /* 32: op specific; SUBMIT: libusb transfer type */
	uint32_t buf;           /* 36: data pointer (control: setup packet first) */
	uint32_t len;           /* 40: data length in bytes (control: including setup) */
	uint32_t actual;        /* 44: result: bytes transferred / value */
	uint32_t timeout;       /* 48: transfer timeout in ms, for information only */
	uint32_t iso;           /* 52: struct libusb_iso_packet_descriptor* */
	uint32_t num_iso;       /* 56: number of isochronous packets */
	uint32_t flags;         /* 60: libusb transfer flags */
	uint32_t seq;           /* 64: unique per submission, matches cancels to transfers */
};
#define LW_REQ_SIZE 68

/* Threads of one program that can sleep at once and still be woken at once
 * when the host goes; more than that wake at their next wait slice. */
#define LW_SLEEP_SLOTS 32

/*
 * The program-wide block the host attaches to (64-byte aligned).
 *
 * The two heartbeats tell a waiter whether spinning can pay: a side bumps
 * its beat while it runs on the other's behalf (spinning for it, serving
 * or posting requests). A waiter spins only while the other side's beat
 * moves; when it stops (the other side sleeps, or is not scheduled at all
 * on a busy machine) the waiter sleeps instead of taking the CPU the other
 * side needs. Each beat has its own cache line: they are written often.
 */
struct lw_shared {
	uint32_t magic;              /*  0 */
	uint32_t version;            /*  4 */
	_Atomic uint32_t req_head;   /*  8: stack of posted requests */
	_Atomic uint32_t doorbell;   /* 12: bumped on every post; the host waits on it */
	_Atomic uint32_t host_idle;  /* 16: 1 while the host sleeps on doorbell */
	uint32_t req_size;           /* 20: LW_REQ_SIZE, checked by the host */
	_Atomic uint32_t host_state; /* 24: LW_HOST_* (the host sets it, and wakes this futex word) */
	/* The program's limits (0 = none), written by the host at attach, and
	 * the transfers the host has finished with (completed, rejected or
	 * dropped), so the C side can refuse a submit past a limit at once with
	 * LIBUSB_ERROR_NO_MEM. The host enforces the limits itself as well. */
	_Atomic uint32_t limit_transfers;    /* 28 */
	_Atomic uint32_t limit_bytes;        /* 32 */
	_Atomic uint32_t finished_transfers; /* 36: monotonic, wraps */
	_Atomic uint32_t finished_bytes;     /* 40: monotonic, wraps */
	uint32_t pad0[5];
	_Atomic uint32_t host_beat;  /* 64: bumped by the host while it runs */
	uint32_t pad1[15];
	_Atomic uint32_t prog_beat;  /* 128: bumped by program threads while they spin or post */
	uint32_t pad2[15];
	/* 192: futex words program threads sleep on now (0 = a free slot) */
	_Atomic uint32_t sleeping_on[LW_SLEEP_SLOTS];
};
#define LW_SHARED_SIZE 320

#define LW_HOST_NONE     0u
#define LW_HOST_ATTACHED 1u
#define LW_HOST_GONE     2u /* the host shut down: every request fails */

/* One per libusb context. */
struct lw_ctx_shared {
	_Atomic uint32_t wake;            /*  0: futex word, bumped on any news */
	_Atomic uint32_t sleepers;        /*  4: threads sleeping on wake */
	_Atomic uint32_t done_head;       /*  8: stack of completed transfer requests */
	_Atomic uint32_t hotplug_pending; /* 12: events queued at the host */
};
#define LW_CTX_SHARED_SIZE 16

/* One per open device handle; written by the host. */
struct lw_handle_shared {
	_Atomic uint32_t ep_in_mask;  /* 0: bit n: IN endpoint n belongs to a claimed interface */
	_Atomic uint32_t ep_out_mask; /* 4: bit n: OUT endpoint n likewise */
	_Atomic uint32_t gone;        /* 8: the device was disconnected */
	_Atomic uint32_t flags;       /* 12: LW_HANDLE_* */
};
#define LW_HANDLE_SHARED_SIZE 16

/* lw_handle_shared.flags */
#define LW_HANDLE_NO_ISO 0x1u /* the transport cannot do isochronous transfers on this device */

/* One isochronous packet as the host reads and writes it: libusb's struct
 * libusb_iso_packet_descriptor (backend.c checks that the two agree). */
struct lw_iso_packet {
	uint32_t length;          /* 0: requested */
	uint32_t actual_length;   /* 4: transferred (written by the host) */
	int32_t status;           /* 8: libusb_transfer_status (written by the host) */
};
#define LW_ISO_PACKET_SIZE 12

/*
 * Records the host writes into a request's buffer: little-endian, byte
 * packed, read in order. A device record (LIST_DEVICES, arrival events):
 *
 *   struct lw_devrec_header
 *   u16 length, then the raw device descriptor (18 bytes)
 *   num_configs x { u16 length, raw configuration descriptor (wTotalLength bytes) }
 *   u16 length (0 = none), then the raw BOS descriptor
 *
 * LIST_DEVICES writes struct lw_devlist_header, then `count` device records.
 * NEXT_HOTPLUG writes struct lw_hotplug_header, and for an arrival a device
 * record.
 */
#define LW_MAX_PORTS 7
struct lw_devrec_header {
	uint32_t record_len;      /*  0: the whole record, this header included */
	uint32_t device_id;       /*  4: nonzero, never reused within a program */
	uint8_t bus_number;       /*  8 */
	uint8_t device_address;   /*  9 */
	uint8_t speed;            /* 10: enum libusb_speed */
	uint8_t num_ports;        /* 11: used entries of ports */
	uint8_t ports[LW_MAX_PORTS]; /* 12: port numbers from the root hub down */
	uint8_t num_configs;      /* 19: configuration descriptors that follow */
};
#define LW_DEVREC_HEADER_SIZE 20

struct lw_devlist_header {
	uint32_t count;           /* 0: device records that follow */
};

struct lw_hotplug_header {
	uint32_t kind;            /* 0: LW_HOTPLUG_* */
	uint32_t device_id;       /* 4 */
};
#define LW_HOTPLUG_ARRIVED 1u
#define LW_HOTPLUG_LEFT    2u

#ifdef __EMSCRIPTEN__
_Static_assert(sizeof(struct lw_req) == LW_REQ_SIZE, "lw_req layout");
_Static_assert(offsetof(struct lw_req, done) == 12, "lw_req.done");
_Static_assert(offsetof(struct lw_req, seq) == 64, "lw_req.seq");
_Static_assert(sizeof(struct lw_shared) == LW_SHARED_SIZE, "lw_shared layout");
_Static_assert(offsetof(struct lw_shared, host_beat) == 64, "lw_shared.host_beat");
_Static_assert(offsetof(struct lw_shared, finished_bytes) == 40, "lw_shared.finished_bytes");
_Static_assert(offsetof(struct lw_shared, prog_beat) == 128, "lw_shared.prog_beat");
_Static_assert(offsetof(struct lw_shared, sleeping_on) == 192, "lw_shared.sleeping_on");
_Static_assert(sizeof(struct lw_iso_packet) == LW_ISO_PACKET_SIZE, "lw_iso_packet layout");
_Static_assert(sizeof(struct lw_devrec_header) == LW_DEVREC_HEADER_SIZE, "lw_devrec_header layout");
_Static_assert(sizeof(struct lw_ctx_shared) == LW_CTX_SHARED_SIZE, "lw_ctx_shared layout");
_Static_assert(sizeof(struct lw_handle_shared) == LW_HANDLE_SHARED_SIZE, "lw_handle_shared layout");
#endif

#endif
