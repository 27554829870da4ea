/*
 * Standard input, streamed: the runner puts the bytes of its stdin (a
 * pipe, a file, a terminal's lines, a stream given to runProgram) into
 * this ring as they arrive, and reads of fd 0 block on the calling thread
 * until bytes or the end come. The runner starts streaming when the
 * program first reads (LW_NOTIFY_STDIN_DEMAND), so a program that never
 * reads leaves the runner's stdin alone; it puts no more than the ring
 * holds, and more when the program has taken some (LW_NOTIFY_STDIN_SPACE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <emscripten/emscripten.h>

#include "runtime.h"

#define RING_SIZE (64 * 1024)   /* a power of two */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static unsigned char ring[RING_SIZE];
static uint32_t head, tail;     /* read and write counts; they wrap */
static int ended, failed, demanded, feeder_waiting, nonblocking;

int lw_stdin_available_locked(void)
{
	return (int)(tail - head);
}

void lw_stdin_set_nonblocking(int on)
{
	pthread_mutex_lock(&lw_rt_lock);
	nonblocking = on;
	pthread_mutex_unlock(&lw_rt_lock);
}

int lw_stdin_nonblocking(void)
{
	return nonblocking;
}

/* Ask the runner for bytes, once (lock held). */
static void demand_locked(void)
{
	if (demanded)
		return;
	demanded = 1;
	lw_js_posix_notify(LW_NOTIFY_STDIN_DEMAND, 0);
}

int lw_stdin_poll_locked(int events)
{
	demand_locked();
	if (!(events & (POLLIN | POLLRDNORM)))
		return 0;
	if (tail != head || ended)
		return events & (POLLIN | POLLRDNORM);
	return failed ? POLLERR : 0;
}

/* Copy up to what the iovecs hold out of the ring (lock held). */
static size_t take_locked(const struct iovec *iov, int count)
{
	size_t done = 0;

	for (int i = 0; i < count && tail != head; i++) {
		size_t want = iov[i].iov_len, got = 0;
		while (got < want && tail != head) {
			uint32_t at = head % RING_SIZE;
			size_t n = MIN(MIN(want - got, (size_t)(tail - head)), (size_t)(RING_SIZE - at));
			memcpy((char *)iov[i].iov_base + got, ring + at, n);
			head += n;
			got += n;
		}
		done += got;
	}
	return done;
}

/* fd 0's reads. Returns 0 or an errno value. */
int lw_stdin_readv(const struct iovec *iov, int count, size_t *done)
{
	struct lw_thread *self;
	size_t wanted = 0;
	int err = 0;

	for (int i = 0; i < count; i++)
		wanted += iov[i].iov_len;
	*done = 0;
	if (!wanted)
		return 0;
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	for (;;) {
		enum lw_wait_result r;

		if (tail != head) {
			*done = take_locked(iov, count);
			if (feeder_waiting) {
				feeder_waiting = 0;
				lw_js_posix_notify(LW_NOTIFY_STDIN_SPACE, 0);
			}
			break;
		}
		if (ended)
			break;
		if (failed) {
			err = EIO;
			break;
		}
		demand_locked();
		if (nonblocking) {
			err = EAGAIN;
			break;
		}
		r = lw_rt_wait(self, INFINITY);
		if (r == LW_WAIT_INTERRUPTED) {
			err = EINTR;
			break;
		}
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return err;
}

/* The runner's side, on the main runtime thread: where the next bytes go
 * and how many fit there (0: full, it hears LW_NOTIFY_STDIN_SPACE). */
static void *lw_stdin_write_at(void)
{
	return ring + tail % RING_SIZE;
}

static uint32_t lw_stdin_space(void)
{
	uint32_t space;

	pthread_mutex_lock(&lw_rt_lock);
	space = MIN(RING_SIZE - (tail - head), RING_SIZE - tail % RING_SIZE);
	feeder_waiting = space == 0;
	pthread_mutex_unlock(&lw_rt_lock);
	return space;
}

static void lw_stdin_commit(uint32_t count)
{
	pthread_mutex_lock(&lw_rt_lock);
	tail += count;
	pthread_mutex_unlock(&lw_rt_lock);
	lw_rt_changed();
}

/* The end of the runner's stdin (error: it failed, reads give EIO). */
static void lw_stdin_end(int error)
{
	pthread_mutex_lock(&lw_rt_lock);
	ended = !error;
	failed = error;
	pthread_mutex_unlock(&lw_rt_lock);
	lw_rt_changed();
}

__attribute__((constructor)) static void register_entries(void)
{
	lw_js_posix_register(LW_ENTRY_STDIN_SPACE, (void *)lw_stdin_space);
	lw_js_posix_register(LW_ENTRY_STDIN_WRITE_AT, (void *)lw_stdin_write_at);
	lw_js_posix_register(LW_ENTRY_STDIN_COMMIT, (void *)lw_stdin_commit);
	lw_js_posix_register(LW_ENTRY_STDIN_END, (void *)lw_stdin_end);
}
