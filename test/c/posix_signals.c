/*
 * Signals from outside the program (runProgram().signal(), a real signal
 * to `libusb-wasm run`), as on Linux: handlers installed with signal() or
 * sigaction() run, default actions end the program with 128 + the signal,
 * masks hold signals pending, sigwait takes them, interrupted calls return
 * EINTR or restart (SA_RESTART).
 *   posix_signals [--usb] <case>
 * Each case prints "ready" (flushed) when the test may send its signal; it
 * blocks the signal until it waits for it with sigsuspend, so that one sent
 * early is not lost (the race every program that pause()s has).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>
#include "posix_test.h"

static atomic_int caught[_NSIG];
static atomic_int last_info_signo;
static volatile sig_atomic_t do_exit;

static void on_signal(int sig)
{
	atomic_fetch_add(&caught[sig], 1);
	do_exit = 1;
}

static void on_signal_with_info(int sig, siginfo_t *info, void *context)
{
	(void)context;
	atomic_store(&last_info_signo, info ? info->si_signo : -1);
	atomic_fetch_add(&caught[sig], 1);
}

/* A handler that says it ran, with write(2) as handlers should. */
static void on_signal_say(int sig)
{
	static const char line[] = "handled\n";
	atomic_fetch_add(&caught[sig], 1);
	write(1, line, sizeof(line) - 1);
}

static void ready(const char *what)
{
	printf("%s\n", what);
	fflush(stdout);
}

/* Wait with every signal let through until sig's handler has run. */
static int suspend_until(int sig)
{
	sigset_t none;

	sigemptyset(&none);
	while (!atomic_load(&caught[sig]))
		if (sigsuspend(&none) != -1 || errno != EINTR)
			return 0;
	return 1;
}

static int test_handler(void)
{
	signal(SIGUSR1, on_signal);
	set_mask(SIG_BLOCK, SIGUSR1);
	ready("ready");
	CHECK(suspend_until(SIGUSR1), "sigsuspend");
	CHECK(atomic_load(&caught[SIGUSR1]) == 1, "SIGUSR1's handler ran %d times", atomic_load(&caught[SIGUSR1]));
	return 0;
}

static int test_siginfo(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal_with_info;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
	set_mask(SIG_BLOCK, SIGUSR2);
	ready("ready");
	CHECK(suspend_until(SIGUSR2), "sigsuspend");
	CHECK(atomic_load(&last_info_signo) == SIGUSR2, "si_signo %d", atomic_load(&last_info_signo));
	return 0;
}

/* No handler: the default action ends the program (SIGTERM: 143). */
static int test_default(void)
{
	ready("ready");
	for (;;)
		pause();
}

static int test_ignore(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, on_signal);
	set_mask(SIG_BLOCK, SIGUSR1);
	ready("ready");
	CHECK(suspend_until(SIGUSR1), "sigsuspend");
	return 0;
}

/* The streaming tools' loop: the handler sets a flag, the wait for events
 * ends. (The test sends the signal once the wait has begun.) */
static int test_events(void)
{
	int interrupted = 0, r;

	CHECK(libusb_init_context(NULL, NULL, 0) == 0, "libusb_init_context");
	signal(SIGINT, on_signal);
	ready("ready");
	while (!do_exit) {
		r = libusb_handle_events(NULL);
		if (r == LIBUSB_ERROR_INTERRUPTED)
			interrupted++;
		else
			CHECK(r == 0, "libusb_handle_events: %s", libusb_error_name(r));
	}
	CHECK(interrupted == 1, "the wait for events was interrupted %d times", interrupted);
	libusb_exit(NULL);
	return 0;
}

static int test_mask(void)
{
	sigset_t set, pending;
	double t0;

	signal(SIGUSR1, on_signal);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	ready("ready");
	t0 = now_ms();
	do {
		usleep(10000);
		sigpending(&pending);
	} while (!sigismember(&pending, SIGUSR1) && now_ms() - t0 < 20000);
	CHECK(sigismember(&pending, SIGUSR1), "SIGUSR1 never became pending");
	CHECK(atomic_load(&caught[SIGUSR1]) == 0, "a blocked signal ran its handler");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	CHECK(atomic_load(&caught[SIGUSR1]) == 1, "unblocking did not deliver the pending signal");
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGUSR1), "still pending after delivery");
	return 0;
}

static int test_raise(void)
{
	signal(SIGUSR1, on_signal);
	CHECK(raise(SIGUSR1) == 0 && atomic_load(&caught[SIGUSR1]) == 1, "raise did not run the handler");
	CHECK(kill(getpid(), SIGUSR1) == 0 && atomic_load(&caught[SIGUSR1]) == 2, "kill(getpid()) did not run the handler");
	signal(SIGUSR1, SIG_IGN);
	CHECK(raise(SIGUSR1) == 0 && atomic_load(&caught[SIGUSR1]) == 2, "an ignored signal ran the handler");
	return 0;
}

/* raise() of a signal without handler: the program ends (SIGUSR2: 140). */
static int test_raise_default(void)
{
	raise(SIGUSR2);
	CHECK(0, "still running after raise(SIGUSR2)");
}

/* A read of stdin restarts after SA_RESTART handlers (an interval timer's
 * SIGALRM, each handler run saying "handled"), and fails with EINTR after
 * one without. */
static int test_restart(void)
{
	struct itimerval every = { { 0, 50000 }, { 0, 50000 } }, off;
	char buffer[16];
	ssize_t n;

	memset(&off, 0, sizeof(off));
	catch_signal(SIGALRM, on_signal_say, SA_RESTART);
	setitimer(ITIMER_REAL, &every, NULL);
	ready("ready restart");
	n = read(0, buffer, sizeof(buffer));
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK(atomic_load(&caught[SIGALRM]) >= 2, "the handler ran %d times", atomic_load(&caught[SIGALRM]));
	CHECK(n == 4 && memcmp(buffer, "abc\n", 4) == 0, "read gave %zd", n);
	catch_signal(SIGALRM, on_signal_say, 0);
	setitimer(ITIMER_REAL, &every, NULL);
	errno = 0;
	n = read(0, buffer, sizeof(buffer));
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK(n == -1 && errno == EINTR, "read gave %zd (%s), not EINTR", n, strerror(errno));
	return 0;
}

static void *wait_for_term(void *arg)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	*(int *)arg = sigwait(&set, &sig) == 0 ? sig : -1;
	return NULL;
}

/* The daemon pattern: every thread blocks SIGTERM, one waits for it. */
static int test_sigwait_thread(void)
{
	sigset_t set;
	pthread_t t;
	int got = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	CHECK(pthread_create(&t, NULL, wait_for_term, &got) == 0, "pthread_create");
	ready("ready");
	pthread_join(t, NULL);
	CHECK(got == SIGTERM, "sigwait gave %d", got);
	return 0;
}

static const struct test_case tests[] = {
	{ "handler", test_handler },
	{ "siginfo", test_siginfo },
	{ "default", test_default },
	{ "ignore", test_ignore },
	{ "events", test_events },
	{ "mask", test_mask },
	{ "raise", test_raise },
	{ "raise-default", test_raise_default },
	{ "restart", test_restart },
	{ "sigwait-thread", test_sigwait_thread },
};

int main(int argc, char **argv)
{
	return run_cases_with_usb(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
