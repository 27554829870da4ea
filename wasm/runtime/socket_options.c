/*
 * setsockopt and getsockopt on the runtime's TCP sockets: what Node can do
 * (TCP_NODELAY, SO_KEEPALIVE) is passed on; timeouts are the runtime's own;
 * the rest is kept and read back.
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

