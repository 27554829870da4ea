/*
 * The runtime's threads and its one wait: every blocking call of the
 * runtime sleeps in lw_rt_wait() on the futex word lw_rt_seq, and whatever
 * a sleeper waits for (stdin bytes, a socket's state, a signal for it, a
 * deadline) bumps the word when it changes.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <emscripten/emscripten.h>
#include <emscripten/threading.h>

#include "runtime.h"

pthread_mutex_t lw_rt_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint32_t lw_rt_seq;
static _Atomic int sleepers;

/* Every thread that called into the runtime. The thread running main()
 * is always there (Emscripten starts it first, with the thread id after
 * the process id): a signal goes to it first, as on Linux. */
static struct lw_thread main_thread;
static struct lw_thread *threads;
static _Thread_local struct lw_thread *self_record;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

void lw_rt_changed(void)
{
	atomic_fetch_add(&lw_rt_seq, 1);
	if (atomic_load(&sleepers))
		emscripten_futex_wake(&lw_rt_seq, INT32_MAX);
}

double lw_rt_now(void)
{
	return emscripten_get_now();
}

double lw_rt_deadline(double timeout_ms)
{
	return timeout_ms < 0 ? INFINITY : lw_rt_now() + timeout_ms;
}

/* A thread that ends leaves the list (lock not held when pthreads call it). */
static void thread_exited(void *record)
{
	struct lw_thread **p;

	pthread_mutex_lock(&lw_rt_lock);
	for (p = &threads; *p; p = &(*p)->next) {
		if (*p == record) {
			*p = ((struct lw_thread *)record)->next;
			break;
		}
	}
	pthread_mutex_unlock(&lw_rt_lock);
	if (record != &main_thread)
		free(record);
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exited);
}

static void add_main_thread(void)
{
	if (main_thread.tid)
		return;
	main_thread.tid = getpid() + 1;
	main_thread.next = threads;
	threads = &main_thread;
}

struct lw_thread *lw_rt_self(void)
{
	struct lw_thread *t;
	pid_t tid = gettid();

	if (self_record)
		return self_record;
	add_main_thread();
	if (tid == main_thread.tid) {
		t = &main_thread;
	} else {
		t = calloc(1, sizeof(*t));
		if (!t)
			abort();
		t->tid = tid;
		/* A new thread starts with its creator's mask on Linux; the
		 * runtime does not see pthread_create, so it takes main()'s
		 * (programs set masks in main before starting threads). */
		if (!emscripten_is_main_runtime_thread())
			t->mask = main_thread.mask;
		t->next = threads;
		threads = t;
	}
	pthread_once(&exit_key_once, make_exit_key);
	pthread_setspecific(exit_key, t);
	self_record = t;
	return t;
}

/* For signals.c: the registered threads (lock held). */
struct lw_thread *lw_rt_threads(void)
{
	add_main_thread();
	return threads;
}

enum lw_wait_result lw_rt_wait(struct lw_thread *self, double deadline)
{
	uint32_t seen = atomic_load(&lw_rt_seq);
	double timeout;
	int why;

	if (self->interrupted) {
		why = self->interrupted;
		self->interrupted = 0;
		return why;
	}
	timeout = deadline - lw_rt_now();
	if (timeout <= 0)
		return LW_WAIT_TIMEOUT;
	self->waiting = 1;
	atomic_fetch_add(&sleepers, 1);
	pthread_mutex_unlock(&lw_rt_lock);
	emscripten_futex_wait(&lw_rt_seq, seen, timeout);
	pthread_mutex_lock(&lw_rt_lock);
	atomic_fetch_sub(&sleepers, 1);
	self->waiting = 0;
	if (self->interrupted) {
		why = self->interrupted;
		self->interrupted = 0;
		return why;
	}
	return lw_rt_now() >= deadline ? LW_WAIT_TIMEOUT : LW_WAIT_WOKEN;
}
