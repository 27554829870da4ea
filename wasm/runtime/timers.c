/*
 * The real-time interval timer (setitimer/getitimer ITIMER_REAL, alarm):
 * SIGALRM when it expires, delivered like any signal from outside. The
 * runner arms a JS timer on the main runtime thread for the next expiry
 * (LW_NOTIFY_TIMER) and calls lw_timer_fire() when it goes off. There is
 * no CPU-time clock to count ITIMER_VIRTUAL and ITIMER_PROF: ENOTSUP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sys/time.h>
#include <emscripten/emscripten.h>

#include "runtime.h"

static double expiry;      /* lw_rt_now() terms; 0 when disarmed */
static double interval;    /* ms; 0 for a one-shot timer */
/* how long the current period is: the time left never reads more (in
 * browsers each thread's clock may be off the others' by a fraction of a ms) */
static double period;

static double ms_of(const struct timeval *t)
{
	return t->tv_sec * 1000.0 + t->tv_usec / 1000.0;
}

static void set_timeval(struct timeval *t, double ms)
{
	/* a timer about to expire still reads as armed */
	double us = ms > 0 ? fmax(1, ceil(ms * 1000)) : 0;

	t->tv_sec = (time_t)(us / 1e6);
	t->tv_usec = (suseconds_t)fmod(us, 1e6);
}

static void read_timer_locked(struct itimerval *value)
{
	set_timeval(&value->it_value, expiry ? fmin(expiry - lw_rt_now(), period) : 0);
	set_timeval(&value->it_interval, interval);
}

static int check_which(int which)
{
	if (which == ITIMER_REAL)
		return 0;
	errno = which == ITIMER_VIRTUAL || which == ITIMER_PROF ? ENOTSUP : EINVAL;
	return -1;
}

int getitimer(int which, struct itimerval *value)
{
	if (check_which(which))
		return -1;
	pthread_mutex_lock(&lw_rt_lock);
	read_timer_locked(value);
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

int setitimer(int which, const struct itimerval *restrict value, struct itimerval *restrict old)
{
	if (check_which(which))
		return -1;
	if (value->it_value.tv_sec < 0 || value->it_value.tv_usec < 0 || value->it_value.tv_usec >= 1000000 ||
	    value->it_interval.tv_sec < 0 || value->it_interval.tv_usec < 0 || value->it_interval.tv_usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lw_rt_lock);
	if (old)
		read_timer_locked(old);
	if (value->it_value.tv_sec || value->it_value.tv_usec) {
		period = ms_of(&value->it_value);
		expiry = lw_rt_now() + period;
		interval = ms_of(&value->it_interval);
	} else {
		expiry = 0;
		interval = 0;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	lw_js_posix_notify(LW_NOTIFY_TIMER, 0);
	return 0;
}

unsigned alarm(unsigned seconds)
{
	struct itimerval value = { .it_value.tv_sec = seconds }, old;

	setitimer(ITIMER_REAL, &value, &old);
	return (unsigned)old.it_value.tv_sec + !!old.it_value.tv_usec;
}

/* Milliseconds until the timer expires (0: now), or -1 when it is disarmed. */
static double lw_timer_remaining(void)
{
	double left;

	pthread_mutex_lock(&lw_rt_lock);
	left = expiry ? fmax(0, expiry - lw_rt_now()) : -1;
	pthread_mutex_unlock(&lw_rt_lock);
	return left;
}

/*
 * The runner's JS timer went off: when the timer has expired, re-arm an
 * interval timer for its next period after now (missed periods are
 * skipped, as on Linux) and deliver SIGALRM. Returns lw_signal_deliver's
 * answer (an exit status when SIGALRM ends the program), else 0.
 */
static int lw_timer_fire(void)
{
	double now;

	pthread_mutex_lock(&lw_rt_lock);
	now = lw_rt_now();
	if (!expiry || now < expiry) {
		pthread_mutex_unlock(&lw_rt_lock);
		return 0;
	}
	if (interval > 0) {
		expiry += interval * (floor((now - expiry) / interval) + 1);
		period = interval;
	} else {
		expiry = 0;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return lw_signal_deliver(SIGALRM);
}

__attribute__((constructor)) static void register_entries(void)
{
	lw_js_posix_register(LW_ENTRY_TIMER_REMAINING, (void *)lw_timer_remaining);
	lw_js_posix_register(LW_ENTRY_TIMER_FIRE, (void *)lw_timer_fire);
}
