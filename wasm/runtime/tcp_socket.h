/*
 * A TCP socket as the runtime keeps it, shared by its three parts:
 * sockets.c (its life, addresses and connection, and what the runner tells
 * about it), socket_data.c (bytes in and out, poll) and socket_options.c
 * (setsockopt, getsockopt).
 */
#ifndef LW_TCP_SOCKET_H
#define LW_TCP_SOCKET_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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

static inline int fail(int err)
{
	errno = err;
	return -1;
}

static inline socklen_t address_length(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static inline void give_address(const struct sockaddr_storage *a, int family, struct sockaddr *address, socklen_t *length)
{
	socklen_t full = address_length(family);

	if (!address || !length)
		return;
	memcpy(address, a, MIN(*length, full));
	*length = full;
}

/* The socket's pending error, cleared (lock held), or `otherwise` when it has none. */
static inline int take_error(struct lw_socket *s, int otherwise)
{
	int err = s->error ? s->error : otherwise;

	s->error = 0;
	return err;
}

/* The deadline of a call with SO_RCVTIMEO/SO_SNDTIMEO (0: none). */
static inline double deadline_of(double timeout)
{
	return lw_rt_deadline(timeout > 0 ? timeout : -1);
}

/* A socket call's wait (lock held): 0 to look again, or the errno the call
 * ends with. With SO_RCVTIMEO/SO_SNDTIMEO (`timeout`) it ends with EAGAIN,
 * and is not restarted after an SA_RESTART handler, as on Linux. */
static inline int socket_wait(struct lw_thread *self, double deadline, double timeout)
{
	enum lw_wait_result r = lw_rt_wait(self, deadline);

	if (r == LW_WAIT_TIMEOUT)
		return EAGAIN;
	if (r == LW_WAIT_INTERRUPTED || (r == LW_WAIT_RESTART && timeout > 0))
		return EINTR;
	return 0;
}

#endif
