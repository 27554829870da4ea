/*
 * TCP sockets on the runner's network (wasm/runtime/sockets.c, poll.c).
 *   posix_sockets server           listens on 127.0.0.1 (the system picks
 *       the port: "listening PORT"), serves one client: what it sends comes
 *       back upper-cased; at its end, this end too
 *   posix_sockets client PORT      connects to 127.0.0.1:PORT, sends
 *       "hello from C\n", prints what comes back until the server closes
 *   posix_sockets poll-usb         listens ("listening PORT") and serves
 *       clients from poll() between USB round trips on the loopback device:
 *       "count\n" gets "usb N\n" (round trips so far), "quit\n" ends it
 *   posix_sockets nonblocking PORT connects without blocking (EINPROGRESS,
 *       poll for POLLOUT, SO_ERROR), waits for the reply with select()
 *   posix_sockets refused PORT     connects where nobody listens
 *   posix_sockets kinds            sockets it cannot have
 *   posix_sockets denied PORT      what socket() and connect() say (a sandbox)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <libusb.h>

static int fail(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A listening socket on 127.0.0.1; says its port. */
static int listen_here(void)
{
	struct sockaddr_in a = loopback(0);
	socklen_t length = sizeof(a);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return fail("socket"), -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4))
		return fail("bind/listen"), -1;
	if (getsockname(s, (struct sockaddr *)&a, &length))
		return fail("getsockname"), -1;
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	return s;
}

static int server(void)
{
	char buffer[4096];
	struct sockaddr_in peer;
	socklen_t length = sizeof(peer);
	long long total = 0;
	ssize_t n;
	int s = listen_here(), c;

	if (s < 0)
		return 1;
	c = accept(s, (struct sockaddr *)&peer, &length);
	if (c < 0)
		return fail("accept");
	printf("peer %s:%d\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
	fflush(stdout);
	while ((n = recv(c, buffer, sizeof(buffer), 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buffer[i] >= 'a' && buffer[i] <= 'z')
				buffer[i] -= 'a' - 'A';
		for (ssize_t sent = 0, m; sent < n; sent += m)
			if ((m = send(c, buffer + sent, n - sent, 0)) < 0)
				return fail("send");
		total += n;
	}
	if (n < 0)
		return fail("recv");
	if (shutdown(c, SHUT_WR))
		return fail("shutdown");
	close(c);
	close(s);
	printf("served %lld bytes\n", total);
	return 0;
}

static int client(int port)
{
	struct sockaddr_in a = loopback(port);
	static const char hello[] = "hello from C\n";
	char buffer[256];
	size_t got = 0;
	ssize_t n;
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return fail("socket");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return fail("connect");
	/* write(2) on a socket is send() */
	if (write(s, hello, sizeof(hello) - 1) != sizeof(hello) - 1)
		return fail("write");
	while (got < sizeof(buffer) - 1 && (n = read(s, buffer + got, sizeof(buffer) - 1 - got)) > 0)
		got += n;
	if (n < 0)
		return fail("read");
	buffer[got] = 0;
	printf("got: %s", buffer);
	close(s);
	return 0;
}

/* One round trip on the loopback device: 0 when the bytes came back. */
static int usb_round_trip(libusb_device_handle *h, int round)
{
	unsigned char out[64], in[64];
	int done = 0;

	memset(out, round & 0xff, sizeof(out));
	if (libusb_bulk_transfer(h, 0x01, out, sizeof(out), &done, 1000) || done != sizeof(out))
		return -1;
	if (libusb_bulk_transfer(h, 0x81, in, sizeof(in), &done, 1000) || done != sizeof(in))
		return -1;
	return memcmp(in, out, sizeof(in)) ? -1 : 0;
}

static int poll_usb(void)
{
	struct pollfd fds[8];
	int count = 1, rounds = 0, s;
	libusb_device_handle *h = libusb_open_device_with_vid_pid(NULL, 0x1209, 0x0001);

	if (!h || libusb_claim_interface(h, 0))
		return printf("FAIL no loopback device\n"), 1;
	if ((s = listen_here()) < 0)
		return 1;
	fds[0] = (struct pollfd){ s, POLLIN, 0 };
	for (;;) {
		int ready = poll(fds, count, 20);
		if (ready < 0)
			return fail("poll");
		if (usb_round_trip(h, rounds) == 0)
			rounds++;
		else
			return printf("FAIL USB round trip %d\n", rounds), 1;
		if (ready == 0)
			continue;
		if ((fds[0].revents & POLLIN) && count < 8) {
			int c = accept(s, NULL, NULL);
			if (c < 0)
				return fail("accept");
			fds[count++] = (struct pollfd){ c, POLLIN, 0 };
		}
		for (int i = 1; i < count; i++) {
			char line[64];
			ssize_t n;
			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			n = recv(fds[i].fd, line, sizeof(line) - 1, 0);
			if (n <= 0) {
				close(fds[i].fd);
				fds[i--] = fds[--count];
				continue;
			}
			line[n] = 0;
			if (strncmp(line, "quit", 4) == 0) {
				printf("quit after %d USB round trips\n", rounds);
				libusb_release_interface(h, 0);
				libusb_close(h);
				return 0;
			}
			n = snprintf(line, sizeof(line), "usb %d\n", rounds);
			send(fds[i].fd, line, n, 0);
		}
	}
}

static int nonblocking(int port)
{
	struct sockaddr_in a = loopback(port);
	struct pollfd p;
	char buffer[64];
	int error = -1, s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	socklen_t length = sizeof(error);
	fd_set readable;
	struct timeval timeout = { 20, 0 };
	ssize_t n;

	if (s < 0)
		return fail("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != -1 || errno != EINPROGRESS)
		return fail("connect did not say EINPROGRESS");
	p = (struct pollfd){ s, POLLOUT, 0 };
	if (poll(&p, 1, 20000) != 1 || !(p.revents & POLLOUT))
		return fail("poll for POLLOUT");
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &length) || error)
		return printf("FAIL SO_ERROR %d\n", error), 1;
	n = recv(s, buffer, sizeof(buffer), 0);
	if (n != -1 || errno != EAGAIN)
		return fail("recv before the reply did not say EAGAIN");
	if (send(s, "ping\n", 5, 0) != 5)
		return fail("send");
	FD_ZERO(&readable);
	FD_SET(s, &readable);
	if (select(s + 1, &readable, NULL, NULL, &timeout) != 1 || !FD_ISSET(s, &readable))
		return fail("select");
	n = recv(s, buffer, sizeof(buffer) - 1, 0);
	if (n <= 0)
		return fail("recv");
	buffer[n] = 0;
	printf("reply: %s", buffer);
	close(s);
	return 0;
}

static int refused(int port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return fail("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != -1)
		return printf("FAIL connected where nobody listens\n"), 1;
	printf("connect: %s\n", strerror(errno));
	close(s);
	return 0;
}

static int kinds(void)
{
	errno = 0;
	printf("AF_UNIX: %s\n", socket(AF_UNIX, SOCK_STREAM, 0) < 0 ? strerror(errno) : "a socket");
	errno = 0;
	printf("SOCK_DGRAM: %s\n", socket(AF_INET, SOCK_DGRAM, 0) < 0 ? strerror(errno) : "a socket");
	errno = 0;
	printf("recv on a file: %s\n", recv(1, NULL, 0, 0) < 0 ? strerror(errno) : "worked");
	return 0;
}

static int denied(int port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0) {
		printf("socket: %s\n", strerror(errno));
		return 0;
	}
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		printf("bind: %s\n", strerror(errno));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		printf("connect: %s\n", strerror(errno));
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int port = argc > 2 ? atoi(argv[2]) : 0;

	/* a libusb program like any other */
	if (libusb_init_context(NULL, NULL, 0))
		return 99;
	if (!strcmp(mode, "server"))
		return server();
	if (!strcmp(mode, "client"))
		return client(port);
	if (!strcmp(mode, "poll-usb"))
		return poll_usb();
	if (!strcmp(mode, "nonblocking"))
		return nonblocking(port);
	if (!strcmp(mode, "refused"))
		return refused(port);
	if (!strcmp(mode, "kinds"))
		return kinds();
	if (!strcmp(mode, "denied"))
		return denied(port);
	fprintf(stderr, "usage: posix_sockets server | client PORT | poll-usb | nonblocking PORT | refused PORT | kinds | denied PORT\n");
	return 2;
}
