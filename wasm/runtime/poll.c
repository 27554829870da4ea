/*
 * poll, ppoll, select and pselect across sockets, stdin and every other fd,
 * blocking for real until one is ready, the timeout passes, or a signal
 * handler runs for the thread (EINTR, whatever SA_RESTART says, as on
 * Linux). Sockets and stdin are the runtime's; for other fds Emscripten's
 * own poll answers (files are always ready; a pipe becomes ready when a
 * write to it wakes the runtime's waiters, see fds.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "runtime.h"
#include "weak_sockets.h"

long js_syscall_poll(struct pollfd *fds, long count, long timeout)
	__attribute__((__import_module__("env"), __import_name__("__syscall_poll")));

/* Fill in revents (lock held); returns how many fds are ready. Fds
 * Emscripten answers for are asked without the lock. */
static int check_locked(struct pollfd *fds, nfds_t count)
{
	int ready = 0, others = 0;

	for (nfds_t i = 0; i < count; i++) {
		struct pollfd *p = &fds[i];
		int kind = lw_fd_kind(p->fd);
		p->revents = 0;
		if (p->fd < 0)
			continue;
		if (kind == LW_FD_STDIN) {
			p->revents = (short)lw_stdin_poll_locked(p->events);
		} else if (kind == LW_FD_SOCKET) {
			struct lw_socket *s = lw_fd_socket_locked(p->fd);
			p->revents = s ? (short)lw_socket_poll_locked(s, p->events) : POLLNVAL;
		} else if (kind == LW_FD_STDOUT || kind == LW_FD_STDERR) {
			p->revents = p->events & (POLLOUT | POLLWRNORM);
		} else {
			others++;
		}
	}
	if (others) {
		struct pollfd *asked = malloc(others * sizeof(*asked));
		int n = 0;
		if (!asked)
			abort();
		for (nfds_t i = 0; i < count; i++)
			if (fds[i].fd >= 0 && lw_fd_kind(fds[i].fd) == LW_FD_OTHER)
				asked[n++] = fds[i];
		pthread_mutex_unlock(&lw_rt_lock);
		js_syscall_poll(asked, n, 0);
		pthread_mutex_lock(&lw_rt_lock);
		n = 0;
		for (nfds_t i = 0; i < count; i++)
			if (fds[i].fd >= 0 && lw_fd_kind(fds[i].fd) == LW_FD_OTHER)
				fds[i].revents = asked[n++].revents;
		free(asked);
	}
	for (nfds_t i = 0; i < count; i++)
		ready += fds[i].revents != 0;
	return ready;
}

/* The common part: wait up to timeout_ms (< 0: no limit) with `mask` as
 * the thread's signal mask meanwhile (NULL: unchanged). */
static int poll_with(struct pollfd *fds, nfds_t count, double timeout_ms, const sigset_t *mask)
{
	double deadline = lw_rt_deadline(timeout_ms);
	struct lw_thread *self;
	sigset_t saved;
	int ready, interrupted = 0;

	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	saved = self->mask;
	if (mask)
		self->mask = *mask;
	for (;;) {
		enum lw_wait_result r;

		if (mask && lw_signals_deliver_unblocked(self)) {
			interrupted = 1;
			break;
		}
		ready = check_locked(fds, count);
		if (ready || timeout_ms == 0)
			break;
		r = lw_rt_wait(self, deadline);
		if (r == LW_WAIT_INTERRUPTED || r == LW_WAIT_RESTART) {
			interrupted = 1;
			break;
		}
		if (r == LW_WAIT_TIMEOUT) {
			ready = check_locked(fds, count);
			break;
		}
	}
	self->mask = saved;
	pthread_mutex_unlock(&lw_rt_lock);
	if (interrupted) {
		errno = EINTR;
		return -1;
	}
	return ready;
}

int poll(struct pollfd *fds, nfds_t count, int timeout)
{
	return poll_with(fds, count, timeout, NULL);
}

int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask)
{
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L)) {
		errno = EINVAL;
		return -1;
	}
	return poll_with(fds, count, timeout ? timeout->tv_sec * 1000.0 + timeout->tv_nsec / 1e6 : -1, mask);
}

/* select's sets as poll's array, and back. */
static int select_with(int nfds, fd_set *readable, fd_set *writable, fd_set *failed, double timeout_ms, const sigset_t *mask)
{
	struct pollfd *fds;
	int count = 0, ready;

	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	fds = calloc(nfds ? nfds : 1, sizeof(*fds));
	if (!fds) {
		errno = ENOMEM;
		return -1;
	}
	for (int fd = 0; fd < nfds; fd++) {
		short events = (readable && FD_ISSET(fd, readable) ? POLLIN : 0) |
			(writable && FD_ISSET(fd, writable) ? POLLOUT : 0) |
			(failed && FD_ISSET(fd, failed) ? POLLPRI : 0);
		if (events)
			fds[count++] = (struct pollfd){ .fd = fd, .events = events };
	}
	ready = poll_with(fds, count, timeout_ms, mask);
	if (ready < 0) {
		free(fds);
		return -1;
	}
	for (int i = 0; i < count; i++)
		if (fds[i].revents & POLLNVAL) {
			free(fds);
			errno = EBADF;
			return -1;
		}
	if (readable)
		FD_ZERO(readable);
	if (writable)
		FD_ZERO(writable);
	if (failed)
		FD_ZERO(failed);
	ready = 0;
	for (int i = 0; i < count; i++) {
		short r = fds[i].revents;
		/* as Linux counts: each fd in each set that is ready */
		if (readable && (fds[i].events & POLLIN) && (r & (POLLIN | POLLHUP | POLLERR)))
			FD_SET(fds[i].fd, readable), ready++;
		if (writable && (fds[i].events & POLLOUT) && (r & (POLLOUT | POLLERR)))
			FD_SET(fds[i].fd, writable), ready++;
		if (failed && (fds[i].events & POLLPRI) && (r & POLLPRI))
			FD_SET(fds[i].fd, failed), ready++;
	}
	free(fds);
	return ready;
}

int select(int nfds, fd_set *restrict readable, fd_set *restrict writable, fd_set *restrict failed, struct timeval *restrict timeout)
{
	double ms = -1, deadline;
	int ready;

	if (timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_usec < 0) {
			errno = EINVAL;
			return -1;
		}
		ms = timeout->tv_sec * 1000.0 + timeout->tv_usec / 1000.0;
	}
	deadline = lw_rt_deadline(ms);
	ready = select_with(nfds, readable, writable, failed, ms, NULL);
	if (timeout) {
		/* Linux leaves the time not slept in the timeout */
		double left = fmax(0, deadline - lw_rt_now());
		timeout->tv_sec = (time_t)(left / 1000);
		timeout->tv_usec = (suseconds_t)fmod(left * 1000, 1e6);
	}
	return ready;
}

int pselect(int nfds, fd_set *restrict readable, fd_set *restrict writable, fd_set *restrict failed,
	const struct timespec *restrict timeout, const sigset_t *restrict mask)
{
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L)) {
		errno = EINVAL;
		return -1;
	}
	return select_with(nfds, readable, writable, failed,
		timeout ? timeout->tv_sec * 1000.0 + timeout->tv_nsec / 1e6 : -1, mask);
}
