/*
 * libusb's event abstraction (usbi_create_event, usbi_wait_for_events, ...)
 * for wasm. It replaces upstream's os/events_posix.c: there are no file
 * descriptors to poll here. Each context has one futex word (`wake` in its
 * lw_ctx_shared) that everything bumps when there is news for the context:
 * libusb's internal event, a transfer completion from the host, a hotplug
 * event from the host. A thread in libusb_handle_events sleeps on that word
 * with Atomics.wait (emscripten_futex_wait) until one of them happens or its
 * timeout expires.
 */
#include <math.h>
#include <emscripten/emscripten.h>

#include "backend.h"
#include "host_channel.h"

/* The core only ever creates the context's own event (ctx->event), so the
 * context can be recovered from the event's address. */
static struct libusb_context *event_ctx(usbi_event_t *event)
{
	return (struct libusb_context *)((char *)event - offsetof(struct libusb_context, event));
}

static void wake_ctx(struct lw_ctx_priv *cp)
{
	atomic_fetch_add(&cp->shared.wake, 1);
	if (atomic_load(&cp->shared.sleepers))
		lw_futex_wake_all(&cp->shared.wake);
}

int usbi_create_event(usbi_event_t *event)
{
	/* No descriptors: libusb_get_pollfds() reports fd -1, see README. */
	event->pipefd[0] = -1;
	event->pipefd[1] = -1;
	atomic_store(&event->has_event, 0);
	return 0;
}

void usbi_destroy_event(usbi_event_t *event)
{
	UNUSED(event);
}

void usbi_signal_event(usbi_event_t *event)
{
	atomic_store(&event->has_event, 1);
	wake_ctx(lw_ctx_priv(event_ctx(event)));
}

void usbi_clear_event(usbi_event_t *event)
{
	atomic_store(&event->has_event, 0);
}

int usbi_alloc_event_data(struct libusb_context *ctx)
{
	/* Nothing to poll, so nothing to allocate; the core frees event_data. */
	free(ctx->event_data);
	ctx->event_data = NULL;
	ctx->event_data_cnt = 0;
	return 0;
}

/*
 * The earliest transfer timeout libusb has yet to handle, in lw_now_ms()
 * terms, or INFINITY. Without an OS timer, libusb works out how long to
 * wait once, when it starts waiting; a transfer another thread submits
 * meanwhile would time out only when the waiter wakes for some other
 * reason. So the waiter recomputes its deadline from the flying transfers
 * each time it wakes, and lw_transfer_timeout_added() wakes it when a new
 * timeout comes first. (This is what libusb_get_next_timeout() computes,
 * without its logging.)
 */
static double next_transfer_deadline(struct libusb_context *ctx)
{
	struct usbi_transfer *itransfer;
	struct timespec now;
	double deadline = INFINITY;

	usbi_get_monotonic_time(&now);
	usbi_mutex_lock(&ctx->flying_transfers_lock);
	for_each_transfer(ctx, itransfer) {
		if (itransfer->timeout_flags & (USBI_TRANSFER_TIMEOUT_HANDLED | USBI_TRANSFER_OS_HANDLES_TIMEOUT))
			continue;
		if (!TIMESPEC_IS_SET(&itransfer->timeout))
			break; /* the rest have no timeout */
		deadline = lw_now_ms() + (double)(itransfer->timeout.tv_sec - now.tv_sec) * 1000.0
			+ (double)(itransfer->timeout.tv_nsec - now.tv_nsec) / 1e6;
		break;
	}
	usbi_mutex_unlock(&ctx->flying_transfers_lock);
	return deadline;
}

void lw_transfer_timeout_added(struct libusb_context *ctx, unsigned int timeout_ms)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	uint32_t until = atomic_load(&cp->wait_until_ms);

	if (until != UINT32_MAX && lw_now_ms() + timeout_ms < (double)until)
		wake_ctx(cp);
}

EMSCRIPTEN_KEEPALIVE void lw_interrupt_waits(void)
{
	struct lw_ctx_priv *cp;

	usbi_mutex_static_lock(&lw_contexts_lock);
	list_for_each_entry(cp, &lw_contexts, list, struct lw_ctx_priv) {
		/* only a wait in progress is interrupted, as only a poll() in
		 * progress is on Linux */
		if (atomic_load(&cp->wait_until_ms) == UINT32_MAX)
			continue;
		atomic_store(&cp->interrupted, 1);
		wake_ctx(cp);
	}
	usbi_mutex_static_unlock(&lw_contexts_lock);
}

int usbi_wait_for_events(struct libusb_context *ctx,
	struct usbi_reported_events *reported_events, int timeout_ms)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	double deadline = lw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		uint32_t seen = atomic_load(&cp->shared.wake);
		int event_triggered, transfers_done;
		double remaining, until;

		if (atomic_exchange(&cp->interrupted, 0))
			return LIBUSB_ERROR_INTERRUPTED;
		if (lw_host_gone()) {
			lw_fail_transfers(ctx);
			lw_drop_devices(ctx);
		}
		lw_apply_hotplug(ctx);

		event_triggered = atomic_load(&ctx->event.has_event) != 0;
		transfers_done = atomic_load(&cp->shared.done_head) != 0;
		if (event_triggered || transfers_done) {
			reported_events->event_triggered = event_triggered;
			reported_events->event_data = NULL;
			reported_events->event_data_count = 0;
			reported_events->num_ready = transfers_done;
			return LIBUSB_SUCCESS;
		}

		/* a transfer timeout that comes first ends the wait early: libusb
		 * handles expired timeouts when this returns LIBUSB_ERROR_TIMEOUT */
		until = fmin(deadline, next_transfer_deadline(ctx));
		remaining = until - lw_now_ms();
		if (remaining <= 0)
			return LIBUSB_ERROR_TIMEOUT;

		atomic_store(&cp->wait_until_ms, (uint32_t)fmin(until, (double)(UINT32_MAX - 1)));
		lw_futex_wait(&cp->shared.wake, seen, remaining, &cp->shared.sleepers, &cp->spin);
		atomic_store(&cp->wait_until_ms, UINT32_MAX);
	}
}
