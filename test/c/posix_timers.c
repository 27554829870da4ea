/*
 * Timers and waiting, as on Linux (the POSIX runtime, wasm/runtime/):
 * setitimer/getitimer, alarm, pause, sigsuspend, sigwait, sigtimedwait,
 * nanosleep/usleep interrupted with EINTR, sleep returning the time left.
 *   posix_timers [--usb] <case>...
 * With --usb, another thread is blocked in libusb_handle_events with a
 * transfer pending the whole time (posix_test.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "posix_test.h"

static atomic_int alarms;

static void on_alarm(int sig)
{
	if (sig == SIGALRM)
		atomic_fetch_add(&alarms, 1);
}

/* SIGALRM's handler, with or without SA_RESTART; the count reset. */
static void catch_alarm(int flags)
{
	catch_signal(SIGALRM, on_alarm, flags);
	atomic_store(&alarms, 0);
}

static int one_shot(long ms)
{
	struct itimerval t = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };

	return setitimer(ITIMER_REAL, &t, NULL);
}

static int test_setitimer(void)
{
	struct itimerval t = { { 0, 50000 }, { 0, 50000 } }, now;
	double t0 = now_ms();

	catch_alarm(0);
	CHECK(setitimer(ITIMER_REAL, &t, NULL) == 0, "setitimer: %s", strerror(errno));
	/* the streaming tools' pattern: wait in pause() for each tick */
	for (int i = 1; i <= 3; i++) {
		CHECK(pause() == -1 && errno == EINTR, "pause did not end with EINTR");
		CHECK(atomic_load(&alarms) >= i, "pause returned before tick %d", i);
	}
	CHECK(now_ms() - t0 >= 140, "3 ticks of 50 ms took %.0f ms", now_ms() - t0);
	CHECK(getitimer(ITIMER_REAL, &now) == 0, "getitimer");
	CHECK(now.it_interval.tv_sec == 0 && now.it_interval.tv_usec == 50000, "interval reads %ld.%06ld",
		(long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec);
	CHECK(now.it_value.tv_sec == 0 && now.it_value.tv_usec > 0 && now.it_value.tv_usec <= 50000,
		"an armed interval timer reads %ld.%06ld", (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
	memset(&t, 0, sizeof(t));
	CHECK(setitimer(ITIMER_REAL, &t, NULL) == 0, "disarming");
	CHECK(getitimer(ITIMER_REAL, &now) == 0 && !now.it_value.tv_sec && !now.it_value.tv_usec, "still armed");
	{
		int before = atomic_load(&alarms);
		usleep(150000);
		CHECK(atomic_load(&alarms) == before, "SIGALRM after the timer was disarmed");
	}
	errno = 0;
	CHECK(setitimer(ITIMER_VIRTUAL, &t, NULL) == -1 && errno == ENOTSUP, "ITIMER_VIRTUAL: not ENOTSUP");
	t.it_value.tv_usec = 1000000;
	CHECK(setitimer(ITIMER_REAL, &t, NULL) == -1 && errno == EINVAL, "tv_usec 1000000 accepted");
	return 0;
}

static int test_getitimer(void)
{
	struct itimerval t = { { 0, 0 }, { 10, 0 } }, now, old;

	CHECK(setitimer(ITIMER_REAL, &t, NULL) == 0, "setitimer");
	CHECK(getitimer(ITIMER_REAL, &now) == 0, "getitimer");
	CHECK(now.it_value.tv_sec == 9 || (now.it_value.tv_sec == 10 && now.it_value.tv_usec == 0),
		"10 s timer reads %ld.%06ld", (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
	CHECK(!now.it_interval.tv_sec && !now.it_interval.tv_usec, "a one-shot timer has an interval");
	memset(&t, 0, sizeof(t));
	CHECK(setitimer(ITIMER_REAL, &t, &old) == 0, "disarm");
	CHECK(old.it_value.tv_sec >= 9, "old value %ld", (long)old.it_value.tv_sec);
	return 0;
}

static int test_alarm(void)
{
	catch_alarm(0);
	CHECK(alarm(5) == 0, "a first alarm() said one was set");
	CHECK(alarm(1) == 5, "alarm() did not return the seconds left of the last one");
	CHECK(pause() == -1 && errno == EINTR, "pause");
	CHECK(atomic_load(&alarms) == 1, "SIGALRM's handler ran %d times", atomic_load(&alarms));
	CHECK(alarm(0) == 0, "the alarm was still set after it went off");
	return 0;
}

static int test_pause(void)
{
	double t0 = now_ms();

	catch_alarm(SA_RESTART);   /* pause is never restarted */
	CHECK(one_shot(100) == 0, "setitimer");
	CHECK(pause() == -1 && errno == EINTR, "pause");
	CHECK(atomic_load(&alarms) == 1, "the handler had not run when pause returned");
	CHECK(now_ms() - t0 >= 90, "pause returned after %.0f ms", now_ms() - t0);
	return 0;
}

static int test_sigsuspend(void)
{
	sigset_t pending, mask, empty;

	catch_alarm(0);
	set_mask(SIG_BLOCK, SIGALRM);
	CHECK(one_shot(50) == 0, "setitimer");
	usleep(200000);   /* blocked: it stays pending, the sleep goes on */
	CHECK(atomic_load(&alarms) == 0, "a blocked SIGALRM ran its handler");
	sigpending(&pending);
	CHECK(sigismember(&pending, SIGALRM), "SIGALRM is not pending");
	sigemptyset(&empty);
	CHECK(sigsuspend(&empty) == -1 && errno == EINTR, "sigsuspend");
	CHECK(atomic_load(&alarms) == 1, "the handler had not run when sigsuspend returned");
	sigprocmask(SIG_BLOCK, NULL, &mask);
	CHECK(sigismember(&mask, SIGALRM), "sigsuspend did not put the mask back");
	/* and waiting for one that comes later */
	CHECK(one_shot(50) == 0, "setitimer");
	CHECK(sigsuspend(&empty) == -1 && errno == EINTR, "sigsuspend (later signal)");
	CHECK(atomic_load(&alarms) == 2, "the second handler run is missing");
	set_mask(SIG_UNBLOCK, SIGALRM);
	return 0;
}

static int test_sigwait(void)
{
	sigset_t set;
	int sig = 0;

	catch_alarm(0);
	set_mask(SIG_BLOCK, SIGALRM);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	CHECK(one_shot(50) == 0, "setitimer");
	CHECK(sigwait(&set, &sig) == 0 && sig == SIGALRM, "sigwait gave %d", sig);
	CHECK(atomic_load(&alarms) == 0, "sigwait's signal also ran the handler");
	set_mask(SIG_UNBLOCK, SIGALRM);
	return 0;
}

static int test_sigtimedwait(void)
{
	sigset_t set;
	siginfo_t info;
	struct timespec timeout = { 0, 100000000 };
	double t0 = now_ms();

	set_mask(SIG_BLOCK, SIGUSR2);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(sigtimedwait(&set, &info, &timeout) == -1 && errno == EAGAIN, "no signal came, but no EAGAIN");
	CHECK(now_ms() - t0 >= 90, "timed out after %.0f ms", now_ms() - t0);
	set_mask(SIG_BLOCK, SIGALRM);
	sigaddset(&set, SIGALRM);
	CHECK(one_shot(50) == 0, "setitimer");
	timeout.tv_sec = 10;
	CHECK(sigtimedwait(&set, &info, &timeout) == SIGALRM && info.si_signo == SIGALRM, "sigtimedwait missed SIGALRM");
	set_mask(SIG_UNBLOCK, SIGALRM);
	set_mask(SIG_UNBLOCK, SIGUSR2);
	return 0;
}

static int test_nanosleep(void)
{
	struct timespec request = { 5, 0 }, left = { 0, 0 };
	double t0 = now_ms(), took;

	catch_alarm(SA_RESTART);   /* nanosleep is never restarted either */
	CHECK(one_shot(100) == 0, "setitimer");
	CHECK(nanosleep(&request, &left) == -1 && errno == EINTR, "nanosleep was not interrupted");
	took = now_ms() - t0;
	CHECK(atomic_load(&alarms) == 1, "the handler had not run");
	CHECK(took >= 90 && took < 4000, "interrupted after %.0f ms", took);
	CHECK(left.tv_sec * 1000.0 + left.tv_nsec / 1e6 > 5000 - took - 50 && left.tv_sec < 5,
		"time left %ld.%09ld after %.0f ms", (long)left.tv_sec, left.tv_nsec, took);
	/* an uninterrupted sleep sleeps its time */
	request.tv_sec = 0;
	request.tv_nsec = 50000000;
	t0 = now_ms();
	CHECK(nanosleep(&request, NULL) == 0, "nanosleep(50 ms)");
	CHECK(now_ms() - t0 >= 49, "slept %.1f ms of 50", now_ms() - t0);
	request.tv_nsec = 1000000000;
	CHECK(nanosleep(&request, NULL) == -1 && errno == EINVAL, "tv_nsec 1e9 accepted");
	return 0;
}

static int test_usleep(void)
{
	double t0 = now_ms();

	catch_alarm(0);
	CHECK(one_shot(100) == 0, "setitimer");
	CHECK(usleep(3000000) == -1 && errno == EINTR, "usleep was not interrupted");
	CHECK(now_ms() - t0 < 2500, "usleep returned after %.0f ms", now_ms() - t0);
	return 0;
}

static int test_sleep(void)
{
	unsigned left;

	catch_alarm(0);
	alarm(1);
	left = sleep(5);
	CHECK(atomic_load(&alarms) == 1, "the handler had not run");
	CHECK(left >= 3 && left <= 4, "sleep(5) cut short after about 1 s returned %u", left);
	CHECK(sleep(0) == 0, "sleep(0)");
	return 0;
}

/* No handler: SIGALRM's default action ends the program (status 128 + 14). */
static int test_alarm_default(void)
{
	signal(SIGALRM, SIG_DFL);
	alarm(1);
	pause();
	CHECK(0, "still running after SIGALRM");
}

static const struct test_case tests[] = {
	{ "setitimer", test_setitimer },
	{ "getitimer", test_getitimer },
	{ "alarm", test_alarm },
	{ "pause", test_pause },
	{ "sigsuspend", test_sigsuspend },
	{ "sigwait", test_sigwait },
	{ "sigtimedwait", test_sigtimedwait },
	{ "nanosleep", test_nanosleep },
	{ "usleep", test_usleep },
	{ "sleep", test_sleep },
	{ "alarm-default", test_alarm_default },
};

int main(int argc, char **argv)
{
	return run_cases_with_usb(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
