/*
 * TCP sockets over the runner's network: in Node, each socket here is a
 * socket of Node's `net` on the main runtime thread (the machine's own
 * network stack); in browsers, and under a sandbox policy that does not
 * allow them, socket() fails with the errno the runner gives (ENOSYS,
 * EACCES) and one line on stderr saying why.
 *
 * The C side keeps what the calls look at (state, received bytes in a
 * ring, pending connections, errors) and blocks callers on the runtime's
 * wait; the runner's side tells it what happened through the functions at
 * the end of this file. Only IPv4 and IPv6 stream sockets: other families
 * and types fail with EAFNOSUPPORT and EPROTONOSUPPORT. This file: a
 * socket's life, addresses and connection (socket_data.c moves the bytes).
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

int socket(int domain, int type, int protocol)
{
	int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), fd;
	struct lw_socket *s;

	if (domain != AF_INET && domain != AF_INET6)
		return fail(EAFNOSUPPORT);
	if (kind != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
		return fail(EPROTONOSUPPORT);
	s = new_socket(domain, 0);
	if (!s)
		return fail(ENOMEM);
	/* (socket_data.c's: this call also links it in with sockets) */
	lw_socket_set_nonblocking(s, (type & SOCK_NONBLOCK) != 0);
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

