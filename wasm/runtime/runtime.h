/*
 * The POSIX runtime libusb-wasm links into every program (it is part of
 * libusb-1.0.a): signals, interval timers, sleeps, stdin, terminals, TCP
 * sockets and poll/select, where Emscripten's libc has stubs or nothing.
 * docs/posix.md says what programs get.
 *
 * Blocking calls block for real, on the calling pthread: every wait here is
 * a futex wait on one word (lw_rt_seq), bumped whenever something a waiter
 * checks changes. The runner's side runs on the program worker's own JS
 * thread (Emscripten's "main runtime thread", idle while main() runs on a
 * pthread): it feeds stdin, runs sockets, fires timers and delivers
 * signals there, calling the functions each file of the runtime hands it
 * from a constructor (enum lw_entry in ops.h).
 *
 * Overriding libc in a static link: each file defines every public name of
 * the libc objects it replaces, so those objects are never pulled into the
 * link (a second definition would fail it). Names checked against
 * Emscripten 3.1.6 and newer releases' libc.
 */
#ifndef LW_RUNTIME_H
#define LW_RUNTIME_H

#include <math.h>      /* INFINITY: a wait without deadline */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "ops.h"

/* The runtime's lock: guards the thread list, signal state, stdin, sockets. */
extern pthread_mutex_t lw_rt_lock;

/* Something a waiter checks has changed: wake every waiter to look again. */
void lw_rt_changed(void);

/* One thread of the program, as the runtime knows it (registered on its
 * first call into the runtime). */
struct lw_thread {
	struct lw_thread *next;
	pid_t tid;
	sigset_t mask;            /* blocked signals */
	sigset_t pending;         /* raised by the thread while blocked */
	int waiting;              /* asleep in lw_rt_wait */
	int interrupted;          /* LW_WAIT_INTERRUPTED or LW_WAIT_RESTART, set by a handler's delivery */
	int in_sigwait;           /* in sigtimedwait: a signal in sigwait_set is handed over */
	sigset_t sigwait_set;
	int sigwait_got;
};

/* What ended a wait. */
enum lw_wait_result {
	LW_WAIT_WOKEN = 0,        /* something changed: look again */
	LW_WAIT_TIMEOUT = 1,      /* the deadline passed */
	LW_WAIT_INTERRUPTED = 2,  /* a signal handler ran for this thread: EINTR */
	LW_WAIT_RESTART = 3,      /* the same, from a handler installed with SA_RESTART */
};

/* The calling thread's record (lock held). */
struct lw_thread *lw_rt_self(void);

/* threads.c: every thread's record, linked by `next` (lock held). */
struct lw_thread *lw_rt_threads(void);

/*
 * Sleep (lock held; released while asleep) until lw_rt_changed(), the
 * deadline (lw_rt_now() terms; INFINITY for none), or a signal handler run
 * for this thread.
 */
enum lw_wait_result lw_rt_wait(struct lw_thread *self, double deadline);

/* Monotonic milliseconds, the same clock on every thread. */
double lw_rt_now(void);

/* Deadline for a relative timeout in milliseconds (< 0: none). */
double lw_rt_deadline(double timeout_ms);

/* signals.c: run the handlers of signals pending for `self` that its mask
 * now lets through (lock held; released while they run). Returns how many
 * handlers ran. */
int lw_signals_deliver_unblocked(struct lw_thread *self);

/* signals.c: a signal for the calling thread (raise, SIGPIPE from a socket). */
int lw_signal_raise(int sig);

/* signals.c: a signal from outside (the runner, the interval timer), to a
 * thread that does not block it. */
int lw_signal_deliver(int sig);

/* fds.c: what an fd is, for the calls the runtime answers itself. */
int lw_fd_kind(int fd);
struct lw_socket;
/* The socket behind fd, with a reference the caller drops with
 * lw_socket_put(); NULL (errno set: EBADF, ENOTSOCK) when it is none. */
struct lw_socket *lw_socket_get(int fd);
/* The same with the lock held, without a reference (valid while it is held). */
struct lw_socket *lw_fd_socket_locked(int fd);

/* stdin.c */
int lw_stdin_readv(const struct iovec *iov, int count, size_t *done);
int lw_stdin_poll_locked(int events);
int lw_stdin_available_locked(void);
void lw_stdin_set_nonblocking(int on);
int lw_stdin_nonblocking(void);

/* The sockets' part (sockets.c, socket_data.c): fds.c and poll.c call these
 * through weak_sockets.h, so that only programs that make sockets link it
 * (an fd is a socket only after socket() or accept() made it one). */
int lw_socket_readv(struct lw_socket *s, const struct iovec *iov, int count, int flags, size_t *done);
int lw_socket_writev(struct lw_socket *s, const struct iovec *iov, int count, int flags, size_t *done);
int lw_socket_poll_locked(struct lw_socket *s, int events);
int lw_socket_ioctl(struct lw_socket *s, int request, void *arg);
void lw_socket_set_nonblocking(struct lw_socket *s, int on);
int lw_socket_nonblocking(struct lw_socket *s);
void lw_socket_hold_locked(struct lw_socket *s);
void lw_socket_put(struct lw_socket *s);

/* The JS half (library_libusb_wasm_posix.js), run on the main runtime thread. */
int lw_js_posix_call(int op, int a, int b, int c, int d);   /* waits for the answer */
void lw_js_posix_notify(int what, int arg);                 /* does not wait */
void lw_js_posix_start(void);
void lw_js_posix_register(int entry, void *function);
void lw_js_call_handler(void *handler, int sig, void *info, void *context);

#endif
