/*
 * A TCP socket's bytes in and out (sockets.c has the rest of it): the
 * reads and writes of fds.c's read/write, recv/send and their relatives,
 * poll's view of a socket, FIONREAD and O_NONBLOCK.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <emscripten/emscripten.h>

#include "runtime.h"

#include "tcp_socket.h"

/* Copy received bytes out (lock held); peek leaves them in the ring. */
static size_t take_locked(struct lw_socket *s, const struct iovec *iov, int count, size_t from, int peek)
{
	uint32_t head = s->rx_head;
	size_t done = 0;

	for (int i = 0; i < count && head != s->rx_tail; i++) {
		size_t want = iov[i].iov_len, got = i == 0 ? from : 0;
		while (got < want && head != s->rx_tail) {
			uint32_t at = head % RX_SIZE;
			size_t n = MIN(MIN(want - got, (size_t)(s->rx_tail - head)), (size_t)(RX_SIZE - at));
			memcpy((char *)iov[i].iov_base + got, s->rx + at, n);
			head += n;
			got += n;
			done += n;
		}
		from = 0;
	}
	if (!peek) {
		s->rx_head = head;
		if (done && s->feeder_waiting) {
			s->feeder_waiting = 0;
			lw_js_posix_notify(LW_NOTIFY_SOCKET_SPACE, (int)s);
		}
	}
	return done;
}

int lw_socket_readv(struct lw_socket *s, const struct iovec *iov, int count, int flags, size_t *done)
{
	struct lw_thread *self;
	double deadline = deadline_of(s->receive_timeout);
	size_t wanted = 0;
	int err = 0;

	for (int i = 0; i < count; i++)
		wanted += iov[i].iov_len;
	*done = 0;
	if (flags & MSG_OOB)
		return EOPNOTSUPP;
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	for (;;) {
		if (s->rx_head != s->rx_tail) {
			/* MSG_WAITALL: a short count only at the end, an error or a signal */
			*done += take_locked(s, iov, count, *done, flags & MSG_PEEK);
			if (!(flags & MSG_WAITALL) || *done >= wanted || (flags & MSG_PEEK))
				break;
			continue;
		}
		if (!wanted || s->rx_ended || s->read_shut)
			break;
		if (s->error) {
			err = take_error(s, 0);
			break;
		}
		if (s->state == STATE_CLOSED) {
			err = EBADF;
			break;
		}
		if (s->state != STATE_CONNECTED) {
			err = s->state == STATE_CONNECTING && (s->nonblocking || (flags & MSG_DONTWAIT)) ? EAGAIN : ENOTCONN;
			if (s->state != STATE_CONNECTING || err == EAGAIN)
				break;
		} else if (s->nonblocking || (flags & MSG_DONTWAIT)) {
			err = EAGAIN;
			break;
		}
		err = socket_wait(self, deadline, s->receive_timeout);
		if (err)
			break;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	return *done ? 0 : err;
}

int lw_socket_writev(struct lw_socket *s, const struct iovec *iov, int count, int flags, size_t *done)
{
	struct lw_thread *self;
	double deadline = deadline_of(s->send_timeout);
	int err = 0;

	*done = 0;
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	for (;;) {
		if (s->state == STATE_CLOSED)
			err = EBADF;
		else if (s->error && s->state == STATE_CONNECTED)
			err = take_error(s, 0);
		else if (s->write_shut)
			err = EPIPE;
		else if (s->state != STATE_CONNECTED && !(s->state == STATE_CONNECTING && !s->nonblocking && !(flags & MSG_DONTWAIT)))
			err = s->state == STATE_CONNECTING ? EAGAIN : ENOTCONN;
		else if (s->state == STATE_CONNECTED && !s->write_blocked)
			break;
		else if (s->nonblocking || (flags & MSG_DONTWAIT))
			err = EAGAIN;
		if (err || (err = socket_wait(self, deadline, s->send_timeout)))
			break;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	for (int i = 0; !err && i < count; i++) {
		int sent;
		if (!iov[i].iov_len)
			continue;
		sent = lw_js_posix_call(LW_OP_SOCKET_SEND, (int)s, (int)iov[i].iov_base, (int)iov[i].iov_len, 0);
		if (sent < 0)
			err = -sent;
		else
			*done += sent;
	}
	if (*done)
		return 0;
	if (err == EPIPE && !(flags & MSG_NOSIGNAL))
		lw_signal_raise(SIGPIPE);
	return err;
}

/* The data calls: one list of buffers in or out; a receive gives the peer's address. */
static ssize_t transfer(int fd, const struct iovec *iov, int count, int flags, int sending,
	struct sockaddr *peer, socklen_t *peer_length)
{
	struct lw_socket *s = lw_socket_get(fd);
	size_t done;
	int err;

	if (!s)
		return -1;
	err = sending ? lw_socket_writev(s, iov, count, flags, &done) : lw_socket_readv(s, iov, count, flags, &done);
	if (!err && peer)
		give_address(&s->peer, s->family, peer, peer_length);
	lw_socket_put(s);
	return err ? fail(err) : (ssize_t)done;
}

ssize_t recvfrom(int fd, void *buffer, size_t length, int flags, struct sockaddr *address, socklen_t *address_length)
{
	struct iovec iov = { buffer, length };

	return transfer(fd, &iov, 1, flags, 0, address, address_length);
}

ssize_t recv(int fd, void *buffer, size_t length, int flags)
{
	return recvfrom(fd, buffer, length, flags, NULL, NULL);
}

ssize_t recvmsg(int fd, struct msghdr *message, int flags)
{
	ssize_t done = transfer(fd, message->msg_iov, (int)message->msg_iovlen, flags, 0, message->msg_name, &message->msg_namelen);

	if (done >= 0) {
		message->msg_controllen = 0;
		message->msg_flags = 0;
	}
	return done;
}

/* a connected stream socket ignores sendto's address, as Linux does */
ssize_t sendto(int fd, const void *buffer, size_t length, int flags, const struct sockaddr *address, socklen_t address_length)
{
	struct iovec iov = { (void *)buffer, length };

	return transfer(fd, &iov, 1, flags, 1, NULL, NULL);
}

ssize_t send(int fd, const void *buffer, size_t length, int flags)
{
	return sendto(fd, buffer, length, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags)
{
	return transfer(fd, message->msg_iov, (int)message->msg_iovlen, flags, 1, NULL, NULL);
}


int lw_socket_poll_locked(struct lw_socket *s, int events)
{
	int ready = 0;

	switch (s->state) {
	case STATE_LISTENING:
		if (s->pending_accepts > 0)
			ready |= POLLIN | POLLRDNORM;
		break;
	case STATE_CONNECTED:
		if (s->rx_head != s->rx_tail || s->rx_ended || s->read_shut)
			ready |= POLLIN | POLLRDNORM;
		if (s->rx_ended)
			ready |= POLLRDHUP;
		if (!s->write_blocked && !s->write_shut)
			ready |= POLLOUT | POLLWRNORM;
		if (s->rx_ended && s->write_shut)
			ready |= POLLHUP;
		break;
	case STATE_NEW:
		/* a connect that failed: writable with the error, as on Linux */
		ready |= s->error ? POLLOUT | POLLWRNORM | POLLHUP : POLLHUP;
		break;
	case STATE_CLOSED:
		ready |= POLLNVAL;
		break;
	default:
		break;
	}
	if (s->error)
		ready |= POLLERR | POLLIN;
	return ready & (events | POLLERR | POLLHUP | POLLNVAL);
}

int lw_socket_ioctl(struct lw_socket *s, int request, void *arg)
{
	switch (request) {
	case FIONREAD:
		pthread_mutex_lock(&lw_rt_lock);
		*(int *)arg = (int)(s->rx_tail - s->rx_head);
		pthread_mutex_unlock(&lw_rt_lock);
		return 0;
	case FIONBIO:
		lw_socket_set_nonblocking(s, *(int *)arg != 0);
		return 0;
	default:
		return -ENOTTY;
	}
}

void lw_socket_set_nonblocking(struct lw_socket *s, int on)
{
	pthread_mutex_lock(&lw_rt_lock);
	s->nonblocking = on;
	pthread_mutex_unlock(&lw_rt_lock);
}

int lw_socket_nonblocking(struct lw_socket *s)
{
	return s->nonblocking;
}

