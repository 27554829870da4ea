/*
 * Signals as Linux gives them to a process: actions (signal, sigaction),
 * per-thread masks, pending signals, raise, sigsuspend, pause,
 * sigtimedwait (and libc's sigwait and sigwaitinfo on top of it), and the
 * delivery of signals from outside: the runner calls lw_signal_deliver()
 * on the main runtime thread (Ctrl-C, SIGTERM, runProgram().signal(), the
 * interval timer).
 *
 * A process-directed signal goes, as on Linux, to a thread waiting for it
 * in sigwait, else to the thread running main() unless it blocks it, else
 * to another thread that does not block it, else it stays pending. Its
 * handler runs on the main runtime thread (a thread of the process the
 * program never sees otherwise: POSIX lets any thread that does not block
 * the signal run it), then the chosen thread's interruptible call returns
 * EINTR (or restarts, for SA_RESTART handlers, where Linux restarts it). A
 * thread that is not in one of the runtime's calls may be waiting for
 * libusb events: those waits end with LIBUSB_ERROR_INTERRUPTED, as poll()
 * failing with EINTR makes them end on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <emscripten/emscripten.h>
#include <emscripten/threading.h>

#include "runtime.h"

/* In the backend (wasm/backend/events.c): ends libusb's waits for events in
 * progress. Weak: the runtime does not need libusb. */
void lw_interrupt_waits(void) __attribute__((weak));

/* The names Emscripten's libc gives these (sigaction.c, pthread_sigmask.c):
 * defined here too, its objects stay out of the link. */
struct sigaction __sig_actions[_NSIG];
sigset_t __sig_pending;           /* process-directed, blocked by every thread */

enum action { ACTION_IGNORE, ACTION_TERMINATE, ACTION_HANDLER };

static bool valid(int sig)
{
	return sig > 0 && sig < _NSIG;
}

/* What a signal does now. Stopping is not possible here: stop signals
 * are ignored, like SIGCONT. */
static enum action action_of(int sig)
{
	void (*handler)(int) = __sig_actions[sig].sa_handler;

	if (handler == SIG_IGN)
		return ACTION_IGNORE;
	if (handler != SIG_DFL)
		return ACTION_HANDLER;
	switch (sig) {
	case SIGCHLD: case SIGURG: case SIGWINCH: case SIGCONT:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return ACTION_IGNORE;
	default:
		return ACTION_TERMINATE;
	}
}

bool __sig_is_blocked(int sig)
{
	bool blocked;

	pthread_mutex_lock(&lw_rt_lock);
	blocked = sigismember(&lw_rt_self()->mask, sig);
	pthread_mutex_unlock(&lw_rt_lock);
	return blocked;
}

int __sigaction(int sig, const struct sigaction *restrict sa, struct sigaction *restrict old)
{
	if (!valid(sig) || (sa && (sig == SIGKILL || sig == SIGSTOP))) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lw_rt_lock);
	if (old)
		*old = __sig_actions[sig];
	if (sa) {
		__sig_actions[sig] = *sa;
		/* setting an action that ignores a signal discards it if pending */
		if (action_of(sig) == ACTION_IGNORE) {
			sigdelset(&__sig_pending, sig);
			for (struct lw_thread *t = lw_rt_threads(); t; t = t->next)
				sigdelset(&t->pending, sig);
		}
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

int sigaction(int sig, const struct sigaction *restrict sa, struct sigaction *restrict old)
{
	return __sigaction(sig, sa, old);
}

/*
 * Run sig's action on the calling thread (lock held; released while a
 * handler runs). Returns true when a handler ran. The default action that
 * ends the process ends it from here.
 */
static bool act_here(struct lw_thread *self, int sig)
{
	struct sigaction sa = __sig_actions[sig];
	sigset_t saved = self->mask;
	siginfo_t info;

	switch (action_of(sig)) {
	case ACTION_IGNORE:
		return false;
	case ACTION_TERMINATE:
		pthread_mutex_unlock(&lw_rt_lock);
		_exit(128 + sig);
	case ACTION_HANDLER:
		break;
	}
	if (sa.sa_flags & SA_RESETHAND)
		__sig_actions[sig].sa_handler = SIG_DFL;
	/* while it runs, the handler's sa_mask and the signal itself are blocked */
	sigorset(&self->mask, &self->mask, &sa.sa_mask);
	if (!(sa.sa_flags & SA_NODEFER))
		sigaddset(&self->mask, sig);
	pthread_mutex_unlock(&lw_rt_lock);
	memset(&info, 0, sizeof(info));
	info.si_signo = sig;
	info.si_code = SI_USER;
	info.si_pid = getpid();
	/* through JS, as Emscripten's raise() does: a handler declared without
	 * parameters still runs */
	if (sa.sa_flags & SA_SIGINFO)
		lw_js_call_handler((void *)sa.sa_sigaction, sig, &info, NULL);
	else
		lw_js_call_handler((void *)sa.sa_handler, sig, NULL, NULL);
	pthread_mutex_lock(&lw_rt_lock);
	self->mask = saved;
	return true;
}

int lw_signals_deliver_unblocked(struct lw_thread *self)
{
	int ran = 0;

	for (int sig = 1; sig < _NSIG; sig++) {
		if (sigismember(&self->mask, sig))
			continue;
		if (sigismember(&self->pending, sig))
			sigdelset(&self->pending, sig);
		else if (sigismember(&__sig_pending, sig))
			sigdelset(&__sig_pending, sig);
		else
			continue;
		ran += act_here(self, sig);
	}
	return ran;
}

int lw_signal_raise(int sig)
{
	struct lw_thread *self;

	if (sig == 0)
		return 0;
	if (!valid(sig)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	if (sigismember(&self->mask, sig))
		sigaddset(&self->pending, sig);
	else
		act_here(self, sig);
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

int raise(int sig)
{
	return lw_signal_raise(sig);
}

int pthread_sigmask(int how, const sigset_t *restrict set, sigset_t *restrict old)
{
	struct lw_thread *self;

	if (set && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)
		return EINVAL;
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	if (old)
		*old = self->mask;
	if (set) {
		if (how == SIG_BLOCK) {
			sigorset(&self->mask, &self->mask, set);
		} else if (how == SIG_SETMASK) {
			self->mask = *set;
		} else {
			for (int sig = 1; sig < _NSIG; sig++)
				if (sigismember(set, sig))
					sigdelset(&self->mask, sig);
		}
		sigdelset(&self->mask, SIGKILL);
		sigdelset(&self->mask, SIGSTOP);
		/* pending signals now unblocked are delivered before it returns */
		lw_signals_deliver_unblocked(self);
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

int sigpending(sigset_t *set)
{
	pthread_mutex_lock(&lw_rt_lock);
	sigorset(set, &lw_rt_self()->pending, &__sig_pending);
	pthread_mutex_unlock(&lw_rt_lock);
	return 0;
}

/* Wait with `mask` as the thread's mask until a handler has run. */
static int suspend_with(const sigset_t *mask)
{
	struct lw_thread *self;
	sigset_t saved;

	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	saved = self->mask;
	if (mask) {
		self->mask = *mask;
		sigdelset(&self->mask, SIGKILL);
		sigdelset(&self->mask, SIGSTOP);
	}
	while (!lw_signals_deliver_unblocked(self)) {
		enum lw_wait_result r = lw_rt_wait(self, INFINITY);
		if (r == LW_WAIT_INTERRUPTED || r == LW_WAIT_RESTART)
			break;
	}
	self->mask = saved;
	pthread_mutex_unlock(&lw_rt_lock);
	errno = EINTR;
	return -1;
}

int sigsuspend(const sigset_t *mask)
{
	return suspend_with(mask);
}

int pause(void)
{
	return suspend_with(NULL);
}

int sigtimedwait(const sigset_t *restrict set, siginfo_t *restrict info, const struct timespec *restrict timeout)
{
	struct lw_thread *self;
	double deadline = INFINITY;
	int sig = 0;

	if (timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
			errno = EINVAL;
			return -1;
		}
		deadline = lw_rt_now() + timeout->tv_sec * 1000.0 + timeout->tv_nsec / 1e6;
	}
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	for (;;) {
		enum lw_wait_result r;

		for (int s = 1; s < _NSIG && !sig; s++) {
			if (!sigismember(set, s))
				continue;
			if (sigismember(&self->pending, s)) {
				sigdelset(&self->pending, s);
				sig = s;
			} else if (sigismember(&__sig_pending, s)) {
				sigdelset(&__sig_pending, s);
				sig = s;
			}
		}
		if (sig)
			break;
		self->in_sigwait = 1;
		self->sigwait_set = *set;
		self->sigwait_got = 0;
		r = lw_rt_wait(self, deadline);
		self->in_sigwait = 0;
		if (self->sigwait_got) {
			sig = self->sigwait_got;
			break;
		}
		if (r == LW_WAIT_TIMEOUT || r == LW_WAIT_INTERRUPTED || r == LW_WAIT_RESTART) {
			pthread_mutex_unlock(&lw_rt_lock);
			errno = r == LW_WAIT_TIMEOUT ? EAGAIN : EINTR;   /* never restarted */
			return -1;
		}
	}
	pthread_mutex_unlock(&lw_rt_lock);
	if (info) {
		memset(info, 0, sizeof(*info));
		info->si_signo = sig;
		info->si_code = SI_USER;
	}
	return sig;
}

/* Where Linux sends a process-directed signal (lock held), or NULL when
 * every thread blocks it. The main runtime thread is not the program's. */
static struct lw_thread *target_for(int sig)
{
	struct lw_thread *t, *main = NULL;
	pid_t runtime = getpid();

	for (t = lw_rt_threads(); t; t = t->next)
		if (t->tid == runtime + 1)
			main = t;
	if (main && !sigismember(&main->mask, sig))
		return main;
	for (t = lw_rt_threads(); t; t = t->next)
		if (t->tid != runtime && !sigismember(&t->mask, sig))
			return t;
	return NULL;
}

static struct lw_thread *thread_by_id(pid_t tid)
{
	for (struct lw_thread *t = lw_rt_threads(); t; t = t->next)
		if (t->tid == tid)
			return t;
	return NULL;
}

/*
 * A signal from outside the program (the runner, on the main runtime
 * thread). Returns 0 when it was handled, ignored, handed to sigwait or
 * left pending, or the exit status (128 + sig) when its default action
 * ends the program: the runner ends it.
 */
int lw_signal_deliver(int sig)
{
	struct lw_thread *self, *target;
	pid_t target_id;
	bool ran, restart;

	if (!valid(sig))
		return 0;
	pthread_mutex_lock(&lw_rt_lock);
	for (struct lw_thread *t = lw_rt_threads(); t; t = t->next) {
		if (t->in_sigwait && sigismember(&t->sigwait_set, sig)) {
			t->sigwait_got = sig;
			t->in_sigwait = 0;
			pthread_mutex_unlock(&lw_rt_lock);
			lw_rt_changed();
			return 0;
		}
	}
	target = target_for(sig);
	if (!target) {
		if (action_of(sig) != ACTION_IGNORE)
			sigaddset(&__sig_pending, sig);
		pthread_mutex_unlock(&lw_rt_lock);
		return 0;
	}
	if (action_of(sig) == ACTION_TERMINATE) {
		pthread_mutex_unlock(&lw_rt_lock);
		return 128 + sig;
	}
	target_id = target->tid;
	restart = (__sig_actions[sig].sa_flags & SA_RESTART) != 0;
	self = lw_rt_self();
	ran = act_here(self, sig);
	target = thread_by_id(target_id);
	if (ran && target && target->waiting) {
		target->interrupted = restart ? LW_WAIT_RESTART : LW_WAIT_INTERRUPTED;
		pthread_mutex_unlock(&lw_rt_lock);
		lw_rt_changed();
		return 0;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	if (ran && lw_interrupt_waits)
		lw_interrupt_waits();
	return 0;
}

__attribute__((constructor)) static void register_entries(void)
{
	lw_js_posix_register(LW_ENTRY_SIGNAL_DELIVER, (void *)lw_signal_deliver);
}
