/*
 * The C end of the shared-memory channel to the transport host: posting
 * requests, waiting for synchronous answers, and futex helpers.
 */
#ifndef LIBUSB_WASM_HOST_CHANNEL_H
#define LIBUSB_WASM_HOST_CHANNEL_H

#include "protocol.h"

/* Attach to the transport host once per program. Returns 0 or a libusb error. */
int lw_channel_open(void);

/* Whether the host is gone (it let this program go, or died): every
 * request fails with LIBUSB_ERROR_NO_DEVICE, and transfers in flight end
 * with LIBUSB_TRANSFER_NO_DEVICE (events.c). */
int lw_host_gone(void);

/* Post a request to the host. It now belongs to the host until completed. */
void lw_post(struct lw_req *req);

/* Post a synchronous request and block until the host answers; returns
 * req->status. */
int lw_call(struct lw_req *req);

/* A waiter's spin state (see host_channel.c). One per place that waits;
 * zero-initialised is fine. */
struct lw_spin {
	unsigned int waits;
	unsigned int misses;  /* spins in a row that ended without the answer */
};

/* Count a transfer of `bytes` against the program's limits (set by its
 * sandbox policy, if any) before posting it: LIBUSB_ERROR_NO_MEM when it
 * would go past one, as Linux does past usbfs's memory limit. */
int lw_budget_take(uint32_t bytes);

/* Block on a futex word while it equals `expected`, for at most timeout_ms
 * (negative = no limit), spinning first while the host is busy for us.
 * `sleepers` (optional) is counted up while the thread really sleeps, so
 * wakers can skip the notify otherwise. Returns 0 when woken or the value
 * differs, 1 on timeout. */
int lw_futex_wait(_Atomic uint32_t *addr, uint32_t expected, double timeout_ms,
	_Atomic uint32_t *sleepers, struct lw_spin *spin);
void lw_futex_wake_all(_Atomic uint32_t *addr);

/* Monotonic milliseconds. */
double lw_now_ms(void);

#endif
