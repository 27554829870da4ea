/*
 * The C end of the shared-memory channel to the transport host.
 *
 * Requests are pushed onto a lock-free stack (lw_shared.req_head). The host
 * takes the whole stack in one atomic exchange and reverses it, so requests
 * from one thread keep their order. A push bumps the doorbell futex; it is
 * only notified when the host said it is going to sleep (host_idle), which
 * keeps the hot path free of syscalls while the host is busy or spinning.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <emscripten.h>
#include <emscripten/threading.h>

#include "host_channel.h"
#include "libusb.h"

/* Provided by wasm/js/library_libusb_wasm.js; runs on the main runtime
 * thread, where the transport host lives. Returns 0 or a libusb error. */
extern int lw_js_host_attach(struct lw_shared *shared);

static struct lw_shared lw_shared_block;
static pthread_once_t lw_open_once = PTHREAD_ONCE_INIT;
static int lw_open_result;

/* How long a waiter spins before sleeping in the futex. A completion that
 * arrives within this window costs no wake-up at all. Measured in bench/. */
#define LW_SPIN_MS 0.02

static void lw_do_open(void)
{
	lw_shared_block.magic = LW_MAGIC;
	lw_shared_block.version = LW_PROTOCOL_VERSION;
	lw_shared_block.req_size = LW_REQ_SIZE;
	atomic_store(&lw_shared_block.req_head, 0);
	atomic_store(&lw_shared_block.doorbell, 0);
	atomic_store(&lw_shared_block.host_idle, 0);
	atomic_store(&lw_shared_block.host_state, LW_HOST_NONE);
	lw_open_result = lw_js_host_attach(&lw_shared_block);
}

int lw_channel_open(void)
{
	pthread_once(&lw_open_once, lw_do_open);
	if (lw_open_result)
		return lw_open_result;
	if (atomic_load(&lw_shared_block.host_state) != LW_HOST_ATTACHED)
		return LIBUSB_ERROR_OTHER;
	return 0;
}

double lw_now_ms(void)
{
	return emscripten_get_now();
}

void lw_post(struct lw_req *req)
{
	uint32_t self = (uint32_t)(uintptr_t)req;
	uint32_t head = atomic_load(&lw_shared_block.req_head);

	do {
		req->next = head;
	} while (!atomic_compare_exchange_weak(&lw_shared_block.req_head, &head, self));

	atomic_fetch_add(&lw_shared_block.doorbell, 1);
	if (atomic_load(&lw_shared_block.host_idle))
		emscripten_futex_wake(&lw_shared_block.doorbell, 1);
}

int lw_futex_wait(_Atomic uint32_t *addr, uint32_t expected, double timeout_ms)
{
	double start = lw_now_ms();
	double deadline = timeout_ms < 0 ? -1 : start + timeout_ms;
	double spin_until = start + LW_SPIN_MS;
	unsigned int i = 0;

	for (;;) {
		if (atomic_load(addr) != expected)
			return 0;
		if ((++i & 63) == 0) {
			double now = lw_now_ms();
			if (now >= spin_until)
				break;
		}
	}

	for (;;) {
		double wait_ms;

		if (atomic_load(addr) != expected)
			return 0;
		if (deadline < 0) {
			wait_ms = INFINITY;
		} else {
			wait_ms = deadline - lw_now_ms();
			if (wait_ms <= 0)
				return 1;
		}
		int r = emscripten_futex_wait((volatile void *)addr, expected, wait_ms);
		if (r == 0 || r == -EWOULDBLOCK)
			return 0;
		if (r == -ETIMEDOUT && deadline >= 0 && lw_now_ms() >= deadline)
			return 1;
		/* spurious timeout or EINTR: loop and re-check */
	}
}

void lw_futex_wake_all(_Atomic uint32_t *addr)
{
	emscripten_futex_wake((volatile void *)addr, INT32_MAX);
}

int lw_call(struct lw_req *req)
{
	atomic_store(&req->done, 0);
	if (atomic_load(&lw_shared_block.host_state) != LW_HOST_ATTACHED)
		return LIBUSB_ERROR_NO_DEVICE; /* the host is gone */
	lw_post(req);
	while (atomic_load(&req->done) == 0)
		lw_futex_wait(&req->done, 0, -1);
	return req->status;
}
