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
#include <stdio.h>
#include <stdlib.h>
#include <emscripten.h>
#include <emscripten/threading.h>

#include "host_channel.h"
#include "libusb.h"

/* Provided by wasm/js/library_libusb_wasm.js; runs on the main runtime
 * thread, which hands the shared block to the transport host (in a worker
 * of its own) and returns 0, or a libusb error if there is no host. The
 * host then marks the block ATTACHED (or GONE) and wakes host_state. */
extern int lw_js_host_attach(struct lw_shared *shared);

/* How long libusb_init waits for the transport host to answer. */
#define LW_ATTACH_TIMEOUT_MS 10000.0

static struct lw_shared lw_shared_block __attribute__((aligned(64)));
static pthread_once_t lw_open_once = PTHREAD_ONCE_INIT;
static int lw_open_result;

/*
 * Spinning before sleeping. Waking a sleeping thread costs the waker about
 * 10 us and the sleeper tens of microseconds more (in a VM, more again); an
 * answer that arrives while the waiter spins costs neither. But a spin only
 * pays while the host is running on our behalf: when it sleeps, or is not
 * scheduled at all on a busy machine, spinning takes the CPU it needs. So a
 * waiter spins only while the host's heartbeat (lw_shared.host_beat) moves:
 * it stops after LW_SPIN_QUIET_MS without a beat, and after LW_SPIN_MAX_MS
 * in any case. Each spin that ends without the answer halves how long the
 * next one waits for a first beat (after three, it does not): when the two
 * threads cannot run at the same time (a busy machine, or a VM whose CPUs
 * are not scheduled together) spinning only delays the other side. Every
 * LW_SPIN_PROBE-th wait gives a host that is asleep LW_SPIN_GRACE_MS to wake
 * up and beat, so that two sides that keep missing each other find their
 * way back to spinning once it can pay. The host follows the same rules with
 * the program's beat (ts/host/program/serve-loop.ts, which says why its
 * first-beat patience is longer).
 * LIBUSB_WASM_SPIN_US=n makes every wait spin n microseconds instead,
 * heartbeat or not (0: never spin). Measured in bench/ (bench/RESULTS.md).
 */
#define LW_SPIN_QUIET_MS 0.01
#define LW_SPIN_GRACE_MS 0.06
#define LW_SPIN_MAX_MS 0.2
#define LW_SPIN_PROBE 16
#define LW_WAIT_SLICE_MS 100.0
static double lw_fixed_spin_ms = -1;       /* from LIBUSB_WASM_SPIN_US */
static struct lw_spin lw_call_spin;

/* Spin until *addr != expected (returns 1) or spinning stops paying (0). */
static int spin_wait(_Atomic uint32_t *addr, uint32_t expected, double start, double deadline,
	struct lw_spin *spin)
{
	double patience = spin->misses < 3 ? LW_SPIN_QUIET_MS / (1 << spin->misses) : 0;
	double quiet_ms = ++spin->waits % LW_SPIN_PROBE ? patience : LW_SPIN_GRACE_MS;
	double last_beat = start, limit = start + LW_SPIN_MAX_MS;
	uint32_t beat = atomic_load(&lw_shared_block.host_beat);

	if (lw_fixed_spin_ms >= 0) {
		quiet_ms = INFINITY;
		limit = start + lw_fixed_spin_ms;
	}
	if (deadline >= 0 && deadline < limit)
		limit = deadline;
	for (unsigned int i = 1;; i++) {
		if (atomic_load(addr) != expected) {
			spin->misses = 0;
			return 1;
		}
		if ((i & 15) == 0) {
			double now = lw_now_ms();
			uint32_t b = atomic_load_explicit(&lw_shared_block.host_beat, memory_order_relaxed);

			atomic_fetch_add_explicit(&lw_shared_block.prog_beat, 1, memory_order_relaxed);
			if (b != beat) { /* the host runs: full patience from now on */
				beat = b;
				last_beat = now;
				quiet_ms = LW_SPIN_QUIET_MS;
			}
			if (now - last_beat >= quiet_ms || now >= limit) {
				spin->misses++;
				return 0;
			}
		}
	}
}

static void lw_do_open(void)
{
	lw_shared_block.magic = LW_MAGIC;
	lw_shared_block.version = LW_PROTOCOL_VERSION;
	lw_shared_block.req_size = LW_REQ_SIZE;
	atomic_store(&lw_shared_block.req_head, 0);
	atomic_store(&lw_shared_block.doorbell, 0);
	atomic_store(&lw_shared_block.host_idle, 0);
	atomic_store(&lw_shared_block.host_state, LW_HOST_NONE);
	for (int i = 0; i < LW_SLEEP_SLOTS; i++)
		atomic_store(&lw_shared_block.sleeping_on[i], 0);
	/* microseconds, digits only (no strtod: it would double libusb's size) */
	const char *spin = getenv("LIBUSB_WASM_SPIN_US");
	if (spin && *spin >= '0' && *spin <= '9') {
		unsigned long us = 0;
		for (; *spin >= '0' && *spin <= '9' && us < 10000000; spin++)
			us = us * 10 + (unsigned long)(*spin - '0');
		lw_fixed_spin_ms = us / 1000.0;
	}
	lw_open_result = lw_js_host_attach(&lw_shared_block);
	if (lw_open_result)
		return;
	double deadline = lw_now_ms() + LW_ATTACH_TIMEOUT_MS;
	while (atomic_load(&lw_shared_block.host_state) == LW_HOST_NONE) {
		double left = deadline - lw_now_ms();
		if (left <= 0) {
			fprintf(stderr, "libusb-wasm: the transport host never answered (waited %.0f s). "
				"Is its worker running? Start programs with the libusb-wasm runner "
				"(npx libusb-wasm run, or runProgram() from JS).\n", LW_ATTACH_TIMEOUT_MS / 1000);
			lw_open_result = LIBUSB_ERROR_OTHER;
			return;
		}
		emscripten_futex_wait((volatile void *)&lw_shared_block.host_state, LW_HOST_NONE,
			left < LW_WAIT_SLICE_MS ? left : LW_WAIT_SLICE_MS);
	}
	if (atomic_load(&lw_shared_block.host_state) != LW_HOST_ATTACHED) {
		fprintf(stderr, "libusb-wasm: the transport host refused this program (see its messages above)\n");
		lw_open_result = LIBUSB_ERROR_OTHER;
	}
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

	/* Only the poster that finds the host asleep wakes it (waking a host
	 * that waits in Atomics.waitAsync is expensive); the host clears the
	 * flag itself when it wakes for any other reason. It wakes every
	 * waiter, not one: a waitAsync left behind by a worker that ended (an
	 * earlier program in the same process, whose memory sat at the same
	 * address) stays queued first, and a wake for one waiter went to it
	 * and was lost (bench/ hit that: a program hung with requests posted). */
	atomic_fetch_add(&lw_shared_block.doorbell, 1);
	atomic_fetch_add_explicit(&lw_shared_block.prog_beat, 1, memory_order_relaxed);
	if (atomic_load(&lw_shared_block.host_idle) && atomic_exchange(&lw_shared_block.host_idle, 0))
		emscripten_futex_wake(&lw_shared_block.doorbell, INT32_MAX);
}

/* Note the word this thread is about to sleep on in a free slot of
 * lw_shared.sleeping_on, so that marking the host GONE wakes it at once
 * (see protocol.h). Returns the slot, or -1 when all are taken (the thread
 * then wakes at its next slice). */
static int sleep_slot_take(_Atomic uint32_t *addr)
{
	static _Thread_local unsigned int hint;
	uint32_t word = (uint32_t)(uintptr_t)addr;

	if (!hint)
		hint = (unsigned int)(uintptr_t)pthread_self() / 64 + 1;
	for (unsigned int i = 0; i < LW_SLEEP_SLOTS; i++) {
		unsigned int slot = (hint + i) % LW_SLEEP_SLOTS;
		uint32_t free_slot = 0;

		if (atomic_compare_exchange_strong(&lw_shared_block.sleeping_on[slot], &free_slot, word)) {
			hint = slot;
			return (int)slot;
		}
	}
	return -1;
}

static void sleep_slot_give(int slot)
{
	if (slot >= 0)
		atomic_store(&lw_shared_block.sleeping_on[slot], 0);
}

int lw_host_gone(void)
{
	return atomic_load(&lw_shared_block.host_state) == LW_HOST_GONE;
}

int lw_futex_wait(_Atomic uint32_t *addr, uint32_t expected, double timeout_ms,
	_Atomic uint32_t *sleepers, struct lw_spin *spin)
{
	double start, deadline;
	int gone_before = lw_host_gone();

	if (atomic_load(addr) != expected)
		return 0;
	start = lw_now_ms();
	deadline = timeout_ms < 0 ? -1 : start + timeout_ms;
	if (spin_wait(addr, expected, start, deadline, spin))
		return 0;

	for (;;) {
		double wait_ms;

		if (atomic_load(addr) != expected)
			return 0;
		/* No wait is unbounded: a wake-up that went astray costs at most
		 * LW_WAIT_SLICE_MS, then the word is checked again. */
		if (deadline < 0) {
			wait_ms = LW_WAIT_SLICE_MS;
		} else {
			wait_ms = deadline - lw_now_ms();
			if (wait_ms <= 0)
				return 1;
			if (wait_ms > LW_WAIT_SLICE_MS)
				wait_ms = LW_WAIT_SLICE_MS;
		}
		/* Counted only while really asleep: a waker skips the notify
		 * while we spin. The futex re-checks *addr, so a wake between
		 * the count and the sleep is not lost. */
		if (sleepers)
			atomic_fetch_add(sleepers, 1);
		int slot = sleep_slot_take(addr);
		/* the host went while this thread was about to sleep: the waker
		 * may have looked at the slots before this one was taken */
		int r = !gone_before && lw_host_gone() ? 0 : emscripten_futex_wait((volatile void *)addr, expected, wait_ms);
		sleep_slot_give(slot);
		if (sleepers)
			atomic_fetch_sub(sleepers, 1);
		if (r == 0 || r == -EWOULDBLOCK)
			return 0;
		if (r == -ETIMEDOUT && deadline >= 0 && lw_now_ms() >= deadline)
			return 1;
		/* a slice ended, a spurious timeout or EINTR: loop and re-check */
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
	while (atomic_load(&req->done) == 0) {
		/* a host that let this program go (a kill, a revoked sandbox)
		 * answers nothing more */
		if (atomic_load(&lw_shared_block.host_state) != LW_HOST_ATTACHED)
			return LIBUSB_ERROR_NO_DEVICE;
		lw_futex_wait(&req->done, 0, LW_WAIT_SLICE_MS, NULL, &lw_call_spin);
	}
	return req->status;
}

/* Transfers this program posted (its count and bytes), against what the
 * host reports finished: what is in flight at the host, or on its way. */
static _Atomic uint32_t lw_posted_transfers, lw_posted_bytes;

int lw_budget_take(uint32_t bytes)
{
	uint32_t max_n = atomic_load(&lw_shared_block.limit_transfers);
	uint32_t max_bytes = atomic_load(&lw_shared_block.limit_bytes);

	if (max_n || max_bytes) {
		/* signed differences: a program that forged completions can
		 * only make its own count look lower */
		int32_t n = (int32_t)(atomic_load(&lw_posted_transfers) -
			atomic_load(&lw_shared_block.finished_transfers));
		int32_t b = (int32_t)(atomic_load(&lw_posted_bytes) -
			atomic_load(&lw_shared_block.finished_bytes));
		if (n < 0)
			n = 0;
		if (b < 0)
			b = 0;
		if ((max_n && (uint32_t)n >= max_n) || (max_bytes && (uint64_t)(uint32_t)b + bytes > max_bytes))
			return LIBUSB_ERROR_NO_MEM;
	}
	atomic_fetch_add(&lw_posted_transfers, 1);
	atomic_fetch_add(&lw_posted_bytes, bytes);
	return 0;
}
