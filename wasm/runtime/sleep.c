/*
 * Sleeping that a signal interrupts, as on Linux: nanosleep and
 * clock_nanosleep end early with EINTR (and the time left) when a signal
 * handler runs for the thread, whatever its SA_RESTART; usleep returns -1
 * with EINTR; sleep returns the whole seconds left. Emscripten's own
 * versions sleep through signals.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

static double ms_of(const struct timespec *t)
{
	return t->tv_sec * 1000.0 + t->tv_nsec / 1e6;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain)
{
	struct lw_thread *self;
	double deadline;

	if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)
		return clock == CLOCK_THREAD_CPUTIME_ID ? EINVAL : ENOTSUP;
	if (!request || request->tv_nsec < 0 || request->tv_nsec >= 1000000000L || request->tv_sec < 0)
		return EINVAL;
	if (flags & TIMER_ABSTIME) {
		struct timespec now;
		clock_gettime(clock, &now);
		deadline = lw_rt_now() + (ms_of(request) - ms_of(&now));
	} else {
		deadline = lw_rt_now() + ms_of(request);
	}
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	for (;;) {
		enum lw_wait_result r = lw_rt_wait(self, deadline);
		if (r == LW_WAIT_TIMEOUT)
			break;
		if (r == LW_WAIT_INTERRUPTED || r == LW_WAIT_RESTART) {
			pthread_mutex_unlock(&lw_rt_lock);
			if (remain && !(flags & TIMER_ABSTIME)) {
				double left = fmax(0, deadline - lw_rt_now());
				remain->tv_sec = (time_t)(left / 1000);
				remain->tv_nsec = (long)fmod(left * 1e6, 1e9);
			}
			return EINTR;
		}
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

int nanosleep(const struct timespec *request, struct timespec *remain)
{
	int r = clock_nanosleep(CLOCK_REALTIME, 0, request, remain);

	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

int usleep(unsigned microseconds)
{
	struct timespec t = { microseconds / 1000000, (long)(microseconds % 1000000) * 1000 };

	return nanosleep(&t, NULL);
}

unsigned sleep(unsigned seconds)
{
	struct timespec t = { seconds, 0 };

	/* the seconds left, rounded as glibc rounds them */
	if (nanosleep(&t, &t))
		return (unsigned)t.tv_sec + (t.tv_nsec >= 500000000L);
	return 0;
}
