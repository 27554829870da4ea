/*
 * TCP sockets over the runner's network: in Node, each socket here is a
 * socket of Node's `net` on the main runtime thread (the machine's own
 * network stack); in browsers, and under a sandbox policy that does not
 * allow them, socket() fails with the errno the runner gives (ENOSYS,
 * EACCES) and one line on stderr saying why.
 *
 * The C side keeps what the calls look at (state, received bytes in a
 * ring, pending connections, errors) and blocks callers on the runtime's
 * wait; the runner's side tells it what happened through the exported
 * lw_socket_* functions. Only IPv4 and IPv6 stream sockets: other
 * families and types fail with EAFNOSUPPORT and EPROTONOSUPPORT.
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

#define RX_SIZE (64 * 1024)   /* a power of two */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

enum socket_state { STATE_NEW, STATE_CONNECTING, STATE_CONNECTED, STATE_LISTEN_PENDING, STATE_LISTENING, STATE_CLOSED };

struct lw_socket {
	int refs;                  /* one for its fds (the JS half counts those), one per call in progress */
	int family;
	enum socket_state state;
	int error;                 /* for SO_ERROR and the next call */
	int nonblocking;
	int bound;
	int rx_ended;              /* the peer has finished sending */
	int read_shut, write_shut;
	int write_blocked;         /* the runner holds unsent bytes: wait for lw_socket_set_writable */
	int pending_accepts;       /* connections waiting for accept() */
	int feeder_waiting;        /* the runner has bytes the ring had no room for */
	double receive_timeout, send_timeout;   /* ms; 0: none */
	int options[8];            /* SO_* values kept for getsockopt */
	struct sockaddr_storage local, peer;
	uint32_t rx_head, rx_tail;
	unsigned char rx[RX_SIZE];
};

/* setsockopt values kept for getsockopt, by slot */
enum { OPT_REUSEADDR, OPT_REUSEPORT, OPT_KEEPALIVE, OPT_RCVBUF, OPT_SNDBUF, OPT_NODELAY, OPT_LINGER_ON, OPT_LINGER_SECONDS };

void lw_socket_hold_locked(struct lw_socket *s)
{
	s->refs++;
}

static void release_locked(struct lw_socket *s)
{
	if (--s->refs == 0)
		free(s);
}

void lw_socket_put(struct lw_socket *s)
{
	pthread_mutex_lock(&lw_rt_lock);
	release_locked(s);
	pthread_mutex_unlock(&lw_rt_lock);
}

static struct lw_socket *new_socket(int family, int nonblocking)
{
	struct lw_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->family = family;
	s->nonblocking = nonblocking;
	s->options[OPT_RCVBUF] = s->options[OPT_SNDBUF] = RX_SIZE;
	s->local.ss_family = (sa_family_t)family;
	return s;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static socklen_t address_length(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
		: ((const struct sockaddr_in *)a)->sin_port);
}

/* The address as text (what the runner's side connects or listens to). */
static void address_text(const struct sockaddr_storage *a, char *text, size_t size)
{
	const void *bytes = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)a)->sin_addr;

	if (!inet_ntop(a->ss_family, bytes, text, size))
		text[0] = 0;
}

/* Check an address the program gives for this socket's family. */
static int take_address(struct lw_socket *s, const struct sockaddr *address, socklen_t length, struct sockaddr_storage *into)
{
	if (!address)
		return EFAULT;
	if (length < sizeof(sa_family_t) || address->sa_family != s->family)
		return EAFNOSUPPORT;
	if (length < address_length(s->family))
		return EINVAL;
	memset(into, 0, sizeof(*into));
	memcpy(into, address, address_length(s->family));
	return 0;
}

static void give_address(const struct sockaddr_storage *a, int family, struct sockaddr *address, socklen_t *length)
{
	socklen_t full = address_length(family);

	if (!address || !length)
		return;
	memcpy(address, a, MIN(*length, full));
	*length = full;
}

/* The socket's pending error, cleared (lock held), or `otherwise` when it has none. */
static int take_error(struct lw_socket *s, int otherwise)
{
	int err = s->error ? s->error : otherwise;

	s->error = 0;
	return err;
}

/* The deadline of a call with SO_RCVTIMEO/SO_SNDTIMEO (0: none). */
static double deadline_of(double timeout)
{
	return lw_rt_deadline(timeout > 0 ? timeout : -1);
}

/* A socket call's wait (lock held): 0 to look again, or the errno the call
 * ends with. With SO_RCVTIMEO/SO_SNDTIMEO (`timeout`) it ends with EAGAIN,
 * and is not restarted after an SA_RESTART handler, as on Linux. */
static int socket_wait(struct lw_thread *self, double deadline, double timeout)
{
	enum lw_wait_result r = lw_rt_wait(self, deadline);

	if (r == LW_WAIT_TIMEOUT)
		return EAGAIN;
	if (r == LW_WAIT_INTERRUPTED || (r == LW_WAIT_RESTART && timeout > 0))
		return EINTR;
	return 0;
}

int socket(int domain, int type, int protocol)
{
	int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), fd;
	struct lw_socket *s;

	if (domain != AF_INET && domain != AF_INET6)
		return fail(EAFNOSUPPORT);
	if (kind != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
		return fail(EPROTONOSUPPORT);
	s = new_socket(domain, (type & SOCK_NONBLOCK) != 0);
	if (!s)
		return fail(ENOMEM);
	fd = lw_js_posix_call(LW_OP_SOCKET_OPEN, (int)s, domain, 0, 0);
	if (fd < 0) {
		free(s);
		return fail(-fd);
	}
	return fd;
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
	return fail(domain == AF_UNIX ? EAFNOSUPPORT : EOPNOTSUPP);
}

int bind(int fd, const struct sockaddr *address, socklen_t length)
{
	struct lw_socket *s = lw_socket_get(fd);
	struct sockaddr_storage a;
	char text[INET6_ADDRSTRLEN];
	int err;

	if (!s)
		return -1;
	err = take_address(s, address, length, &a);
	if (!err && (s->bound || s->state != STATE_NEW))
		err = EINVAL;
	if (!err) {
		address_text(&a, text, sizeof(text));
		/* the policy's answer (EACCES); the address is taken by listen() */
		err = -lw_js_posix_call(LW_OP_SOCKET_BIND, (int)s, (int)text, port_of(&a), 0);
	}
	if (!err) {
		pthread_mutex_lock(&lw_rt_lock);
		s->local = a;
		s->bound = 1;
		pthread_mutex_unlock(&lw_rt_lock);
	}
	lw_socket_put(s);
	return err ? fail(err) : 0;
}

int listen(int fd, int backlog)
{
	struct lw_socket *s = lw_socket_get(fd);
	char text[INET6_ADDRSTRLEN];
	struct lw_thread *self;
	int err;

	if (!s)
		return -1;
	pthread_mutex_lock(&lw_rt_lock);
	if (s->state == STATE_LISTENING) {
		pthread_mutex_unlock(&lw_rt_lock);
		lw_socket_put(s);
		return 0;
	}
	if (s->state != STATE_NEW) {
		pthread_mutex_unlock(&lw_rt_lock);
		lw_socket_put(s);
		return fail(EINVAL);
	}
	s->state = STATE_LISTEN_PENDING;
	pthread_mutex_unlock(&lw_rt_lock);
	/* not bound: any address, a port the system picks (as Linux does) */
	address_text(&s->local, text, sizeof(text));
	err = -lw_js_posix_call(LW_OP_SOCKET_LISTEN, (int)s, (int)text, port_of(&s->local), backlog > 0 ? backlog : 1);
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	if (err)
		s->state = STATE_NEW;
	/* the runner answers at once; this wait is not one a signal ends */
	while (s->state == STATE_LISTEN_PENDING)
		lw_rt_wait(self, INFINITY);
	if (!err && s->state != STATE_LISTENING)
		err = take_error(s, EADDRINUSE);
	pthread_mutex_unlock(&lw_rt_lock);
	lw_socket_put(s);
	return err ? fail(err) : 0;
}

int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags)
{
	struct lw_socket *s = lw_socket_get(fd), *n;
	struct lw_thread *self;
	double deadline;
	int err = 0, new_fd = -1;

	if (!s)
		return -1;
	deadline = deadline_of(s->receive_timeout);
	for (;;) {
		pthread_mutex_lock(&lw_rt_lock);
		self = lw_rt_self();
		while (!err) {
			if (s->state != STATE_LISTENING)
				err = s->state == STATE_CLOSED ? EBADF : EINVAL;
			else if (s->pending_accepts > 0)
				break;
			else if (s->nonblocking)
				err = EAGAIN;
			else
				err = socket_wait(self, deadline, s->receive_timeout);
		}
		pthread_mutex_unlock(&lw_rt_lock);
		if (err)
			break;
		n = new_socket(s->family, (flags & SOCK_NONBLOCK) != 0);
		if (!n) {
			err = ENOMEM;
			break;
		}
		n->state = STATE_CONNECTED;
		new_fd = lw_js_posix_call(LW_OP_SOCKET_ACCEPT, (int)s, (int)n, 0, 0);
		if (new_fd >= 0) {
			give_address(&n->peer, n->family, address, length);
			break;
		}
		free(n);
		if (new_fd != -EAGAIN) {   /* EAGAIN: another thread took it */
			err = -new_fd;
			break;
		}
	}
	lw_socket_put(s);
	return err ? fail(err) : new_fd;
}

int accept(int fd, struct sockaddr *address, socklen_t *length)
{
	return accept4(fd, address, length, 0);
}

int connect(int fd, const struct sockaddr *address, socklen_t length)
{
	struct lw_socket *s = lw_socket_get(fd);
	struct sockaddr_storage a;
	char text[INET6_ADDRSTRLEN];
	struct lw_thread *self;
	int err, answer;

	if (!s)
		return -1;
	err = take_address(s, address, length, &a);
	pthread_mutex_lock(&lw_rt_lock);
	if (!err && s->state == STATE_CONNECTED)
		err = EISCONN;
	else if (!err && s->state == STATE_CONNECTING)
		err = EALREADY;
	else if (!err && s->state != STATE_NEW)
		err = EINVAL;
	if (!err) {
		s->peer = a;
		s->state = STATE_CONNECTING;
		s->error = 0;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	if (err) {
		lw_socket_put(s);
		return fail(err);
	}
	address_text(&a, text, sizeof(text));
	answer = lw_js_posix_call(LW_OP_SOCKET_CONNECT, (int)s, (int)text, port_of(&a), 0);
	pthread_mutex_lock(&lw_rt_lock);
	self = lw_rt_self();
	if (answer < 0) {
		err = -answer;
		s->state = STATE_NEW;
	} else if (s->nonblocking) {
		/* even when Node was done already: Linux says so for TCP too */
		err = EINPROGRESS;
	} else {
		while (!err && s->state == STATE_CONNECTING) {
			/* interrupted, the connection carries on, as on Linux */
			enum lw_wait_result r = lw_rt_wait(self, INFINITY);
			if (r == LW_WAIT_INTERRUPTED || r == LW_WAIT_RESTART)
				err = EINTR;
		}
		if (!err && s->state != STATE_CONNECTED)
			err = take_error(s, ECONNREFUSED);
	}
	pthread_mutex_unlock(&lw_rt_lock);
	lw_socket_put(s);
	return err ? fail(err) : 0;
}

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

int shutdown(int fd, int how)
{
	struct lw_socket *s = lw_socket_get(fd);
	int err = 0;

	if (!s)
		return -1;
	pthread_mutex_lock(&lw_rt_lock);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		err = EINVAL;
	else if (s->state != STATE_CONNECTED)
		err = ENOTCONN;
	else {
		s->read_shut |= how != SHUT_WR;
		s->write_shut |= how != SHUT_RD;
	}
	pthread_mutex_unlock(&lw_rt_lock);
	if (!err) {
		lw_js_posix_call(LW_OP_SOCKET_SHUTDOWN, (int)s, how, 0, 0);
		lw_rt_changed();
	}
	lw_socket_put(s);
	return err ? fail(err) : 0;
}

int getsockname(int fd, struct sockaddr *restrict address, socklen_t *restrict length)
{
	struct lw_socket *s = lw_socket_get(fd);

	if (!s)
		return -1;
	pthread_mutex_lock(&lw_rt_lock);
	give_address(&s->local, s->family, address, length);
	pthread_mutex_unlock(&lw_rt_lock);
	lw_socket_put(s);
	return 0;
}

int getpeername(int fd, struct sockaddr *restrict address, socklen_t *restrict length)
{
	struct lw_socket *s = lw_socket_get(fd);
	int connected;

	if (!s)
		return -1;
	pthread_mutex_lock(&lw_rt_lock);
	connected = s->state == STATE_CONNECTED;
	if (connected)
		give_address(&s->peer, s->family, address, length);
	pthread_mutex_unlock(&lw_rt_lock);
	lw_socket_put(s);
	return connected ? 0 : fail(ENOTCONN);
}

static double timeval_ms(const void *value, socklen_t length)
{
	const struct timeval *t = value;

	return length >= sizeof(*t) ? t->tv_sec * 1000.0 + t->tv_usec / 1000.0 : -1;
}

static int set_option(struct lw_socket *s, int level, int name, const void *value, socklen_t length)
{
	int number = length >= sizeof(int) ? *(const int *)value : 0;

	if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		s->options[OPT_NODELAY] = number != 0;
		lw_js_posix_call(LW_OP_SOCKET_OPTION, (int)s, LW_SOCKOPT_NODELAY, number != 0, 0);
		return 0;
	}
	if (level != SOL_SOCKET)
		return ENOPROTOOPT;
	switch (name) {
	case SO_REUSEADDR: s->options[OPT_REUSEADDR] = number != 0; return 0;
	case SO_REUSEPORT: s->options[OPT_REUSEPORT] = number != 0; return 0;
	case SO_RCVBUF: s->options[OPT_RCVBUF] = number; return 0;
	case SO_SNDBUF: s->options[OPT_SNDBUF] = number; return 0;
	case SO_KEEPALIVE:
		s->options[OPT_KEEPALIVE] = number != 0;
		lw_js_posix_call(LW_OP_SOCKET_OPTION, (int)s, LW_SOCKOPT_KEEPALIVE, number != 0, 0);
		return 0;
	case SO_LINGER:
		if (length < sizeof(struct linger))
			return EINVAL;
		s->options[OPT_LINGER_ON] = ((const struct linger *)value)->l_onoff;
		s->options[OPT_LINGER_SECONDS] = ((const struct linger *)value)->l_linger;
		return 0;
	case SO_RCVTIMEO:
	case SO_SNDTIMEO: {
		double ms = timeval_ms(value, length);
		if (ms < 0)
			return EINVAL;
		*(name == SO_RCVTIMEO ? &s->receive_timeout : &s->send_timeout) = ms;
		return 0;
	}
	default:
		return ENOPROTOOPT;
	}
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t length)
{
	struct lw_socket *s = lw_socket_get(fd);
	int err;

	if (!s)
		return -1;
	err = value ? set_option(s, level, name, value, length) : EFAULT;
	lw_socket_put(s);
	return err ? fail(err) : 0;
}

static int get_option(struct lw_socket *s, int level, int name, void *value, socklen_t *length)
{
	int number;

	if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		number = s->options[OPT_NODELAY];
	} else if (level != SOL_SOCKET) {
		return ENOPROTOOPT;
	} else if (name == SO_RCVTIMEO || name == SO_SNDTIMEO) {
		double ms = name == SO_RCVTIMEO ? s->receive_timeout : s->send_timeout;
		struct timeval t = { (time_t)(ms / 1000), (suseconds_t)((ms - (time_t)(ms / 1000) * 1000.0) * 1000) };
		memcpy(value, &t, MIN(*length, sizeof(t)));
		*length = sizeof(t);
		return 0;
	} else if (name == SO_LINGER) {
		struct linger l = { s->options[OPT_LINGER_ON], s->options[OPT_LINGER_SECONDS] };
		memcpy(value, &l, MIN(*length, sizeof(l)));
		*length = sizeof(l);
		return 0;
	} else {
		switch (name) {
		case SO_ERROR:
			pthread_mutex_lock(&lw_rt_lock);
			number = take_error(s, 0);
			pthread_mutex_unlock(&lw_rt_lock);
			break;
		case SO_TYPE: number = SOCK_STREAM; break;
		case SO_DOMAIN: number = s->family; break;
		case SO_PROTOCOL: number = IPPROTO_TCP; break;
		case SO_ACCEPTCONN: number = s->state == STATE_LISTENING; break;
		case SO_REUSEADDR: number = s->options[OPT_REUSEADDR]; break;
		case SO_REUSEPORT: number = s->options[OPT_REUSEPORT]; break;
		case SO_KEEPALIVE: number = s->options[OPT_KEEPALIVE]; break;
		case SO_RCVBUF: number = s->options[OPT_RCVBUF]; break;
		case SO_SNDBUF: number = s->options[OPT_SNDBUF]; break;
		default: return ENOPROTOOPT;
		}
	}
	memcpy(value, &number, MIN(*length, sizeof(number)));
	*length = sizeof(number);
	return 0;
}

int getsockopt(int fd, int level, int name, void *restrict value, socklen_t *restrict length)
{
	struct lw_socket *s = lw_socket_get(fd);
	int err;

	if (!s)
		return -1;
	err = value && length ? get_option(s, level, name, value, length) : EFAULT;
	lw_socket_put(s);
	return err ? fail(err) : 0;
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

/*
 * What happened to a socket, from the runner's side (main runtime thread).
 * Each changes the state under the lock and wakes the waiters.
 */
#define EVENT(body) do { pthread_mutex_lock(&lw_rt_lock); body; pthread_mutex_unlock(&lw_rt_lock); lw_rt_changed(); } while (0)

static void lw_socket_connected(struct lw_socket *s, int err)
{
	EVENT(if (s->state == STATE_CONNECTING) { s->state = err ? STATE_NEW : STATE_CONNECTED; s->error = err; });
}

static void lw_socket_listening(struct lw_socket *s, int err)
{
	EVENT(if (s->state == STATE_LISTEN_PENDING) { s->state = err ? STATE_NEW : STATE_LISTENING; s->error = err; });
}

static void lw_socket_incoming(struct lw_socket *s, int waiting)
{
	EVENT(s->pending_accepts = waiting);
}

/* An address of the socket: `peer` or its own; IPv6 bytes as four words. */
static void lw_socket_set_address(struct lw_socket *s, int peer, int port, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3)
{
	pthread_mutex_lock(&lw_rt_lock);
	struct sockaddr_storage *a = peer ? &s->peer : &s->local;
	memset(a, 0, sizeof(*a));
	a->ss_family = (sa_family_t)s->family;
	if (s->family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)a;
		uint32_t words[4] = { htonl(w0), htonl(w1), htonl(w2), htonl(w3) };
		a6->sin6_port = htons((uint16_t)port);
		memcpy(&a6->sin6_addr, words, 16);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)a;
		a4->sin_port = htons((uint16_t)port);
		a4->sin_addr.s_addr = htonl(w0);
	}
	pthread_mutex_unlock(&lw_rt_lock);
}

/* Where received bytes go and how many fit there (0: full, the runner
 * hears LW_NOTIFY_SOCKET_SPACE when the program takes some). */
static void *lw_socket_rx_at(struct lw_socket *s)
{
	return s->rx + s->rx_tail % RX_SIZE;
}

static uint32_t lw_socket_rx_space(struct lw_socket *s)
{
	uint32_t space;

	pthread_mutex_lock(&lw_rt_lock);
	space = MIN(RX_SIZE - (s->rx_tail - s->rx_head), RX_SIZE - s->rx_tail % RX_SIZE);
	s->feeder_waiting = space == 0;
	pthread_mutex_unlock(&lw_rt_lock);
	return space;
}

static void lw_socket_rx_commit(struct lw_socket *s, uint32_t count)
{
	EVENT(s->rx_tail += count);
}

/* The peer finished sending (err 0), or the connection failed. */
static void lw_socket_rx_end(struct lw_socket *s, int err)
{
	EVENT(if (err) s->error = err; else s->rx_ended = 1);
}

static void lw_socket_set_writable(struct lw_socket *s, int writable)
{
	EVENT(s->write_blocked = !writable);
}

/* Its last fd was closed: calls in progress fail, the memory goes with the last of them. */
static void lw_socket_closed(struct lw_socket *s)
{
	EVENT(s->state = STATE_CLOSED; release_locked(s));
}

__attribute__((constructor)) static void register_entries(void)
{
	lw_js_posix_register(LW_ENTRY_SOCKET_CONNECTED, (void *)lw_socket_connected);
	lw_js_posix_register(LW_ENTRY_SOCKET_LISTENING, (void *)lw_socket_listening);
	lw_js_posix_register(LW_ENTRY_SOCKET_INCOMING, (void *)lw_socket_incoming);
	lw_js_posix_register(LW_ENTRY_SOCKET_SET_ADDRESS, (void *)lw_socket_set_address);
	lw_js_posix_register(LW_ENTRY_SOCKET_RX_AT, (void *)lw_socket_rx_at);
	lw_js_posix_register(LW_ENTRY_SOCKET_RX_SPACE, (void *)lw_socket_rx_space);
	lw_js_posix_register(LW_ENTRY_SOCKET_RX_COMMIT, (void *)lw_socket_rx_commit);
	lw_js_posix_register(LW_ENTRY_SOCKET_RX_END, (void *)lw_socket_rx_end);
	lw_js_posix_register(LW_ENTRY_SOCKET_SET_WRITABLE, (void *)lw_socket_set_writable);
	lw_js_posix_register(LW_ENTRY_SOCKET_CLOSED, (void *)lw_socket_closed);
}
