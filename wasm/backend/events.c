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

int usbi_wait_for_events(struct libusb_context *ctx,
	struct usbi_reported_events *reported_events, int timeout_ms)
{
	struct lw_ctx_priv *cp = lw_ctx_priv(ctx);
	double deadline = lw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		uint32_t seen = atomic_load(&cp->shared.wake);
		int event_triggered, transfers_done;
		double remaining;

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

		remaining = deadline - lw_now_ms();
		if (remaining <= 0)
			return LIBUSB_ERROR_TIMEOUT;

		lw_futex_wait(&cp->shared.wake, seen, remaining, &cp->shared.sleepers, &cp->spin);
	}
}
