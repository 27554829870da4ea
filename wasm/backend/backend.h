/*
 * Private state of the wasm backend, shared between backend.c (the
 * usbi_os_backend table) and events.c (libusb's event abstraction).
 */
#ifndef LIBUSB_WASM_BACKEND_H
#define LIBUSB_WASM_BACKEND_H

#include "libusbi.h"
#include "protocol.h"
#include "host_channel.h"

struct lw_ctx_priv {
	struct lw_ctx_shared shared;  /* registered with the host; must stay first */
	usbi_mutex_t hotplug_lock;    /* one thread applies host hotplug events at a time */
	struct list_head list;        /* in lw_contexts, for hotplug_poll() */
	int no_discovery;             /* LIBUSB_OPTION_NO_DEVICE_DISCOVERY */
	int attached;
	/* When the thread waiting for events (there is at most one: the event
	 * handler) will wake up by itself, in whole lw_now_ms(); UINT32_MAX
	 * when nobody waits. See lw_transfer_timeout_added(). */
	_Atomic uint32_t wait_until_ms;
	struct lw_spin spin;          /* event waits' adaptive spin (host_channel.c) */
	/* Set by lw_interrupt_waits(): the next wait for events returns
	 * LIBUSB_ERROR_INTERRUPTED, as poll() failing with EINTR does on Linux. */
	_Atomic uint32_t interrupted;
	_Atomic uint32_t devices_dropped; /* lw_drop_devices() ran */
};

struct lw_ctx_priv *lw_ctx_priv(struct libusb_context *ctx);

/* Apply hotplug events the host queued for this context (arrivals create
 * devices, departures disconnect them). Safe to call from any thread. */
void lw_apply_hotplug(struct libusb_context *ctx);

/* A transfer with a timeout was submitted: wake the thread waiting for
 * events if the timeout expires before it would wake up, so that the
 * timeout fires on time (events.c). libusb has no OS timer here. */
void lw_transfer_timeout_added(struct libusb_context *ctx, unsigned int timeout_ms);

/* A signal was delivered to the program (its handler has run): every wait
 * for events ends with LIBUSB_ERROR_INTERRUPTED, as a signal interrupts
 * poll() on Linux, so that a loop around libusb_handle_events() looks at
 * what the handler set. Callable from any thread, the runner's included
 * (exported to JS). */
void lw_interrupt_waits(void);

/* The host is gone: every device of the context leaves it (libusb's hotplug
 * callbacks hear of it, as when a USB controller goes away); once. */
void lw_drop_devices(struct libusb_context *ctx);

/* The host is gone: end every transfer of the context it still had with
 * LIBUSB_TRANSFER_NO_DEVICE (those it completed first keep their outcome). */
void lw_fail_transfers(struct libusb_context *ctx);

/* The contexts of this program, for hotplug_poll() and lw_interrupt_waits(). */
extern usbi_mutex_static_t lw_contexts_lock;
extern struct list_head lw_contexts;

#endif
