/*
 * The file-descriptor calls the runtime answers itself, before Emscripten's
 * file system (which runs on the main runtime thread and cannot wait):
 * reads of stdin and sockets, writes to sockets, what isatty() and the
 * terminal ioctls say about the standard streams, O_NONBLOCK and FIONREAD.
 * Writes to stdout and stderr go to the runner as bytes (as written: a
 * prompt without newline shows at once, binary output stays binary).
 * Every other fd goes on to Emscripten as before.
 *
 * Which fd is what: the JS half hooks the file system's stream table and
 * calls lw_fd_set_kind() as streams open, close and are duplicated, so a
 * dup2() of stdin is still stdin and a socket's fd is a socket.
 *
 * These override libc's entry points into Emscripten's JS (WASI fd_read,
 * fd_write, fd_fdstat_get; the ioctl and fcntl syscalls); each calls the JS
 * one, imported under another C name, for the fds it leaves alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wasi/api.h>
#include <emscripten/emscripten.h>

#include "runtime.h"
#include "weak_sockets.h"

#define JS_IMPORT(module, name) __attribute__((__import_module__(module), __import_name__(name)))

__wasi_errno_t js_fd_read(__wasi_fd_t fd, const __wasi_iovec_t *iovs, size_t count, __wasi_size_t *done)
	JS_IMPORT("wasi_snapshot_preview1", "fd_read");
__wasi_errno_t js_fd_write(__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t count, __wasi_size_t *done)
	JS_IMPORT("wasi_snapshot_preview1", "fd_write");
__wasi_errno_t js_fd_fdstat_get(__wasi_fd_t fd, __wasi_fdstat_t *stat)
	JS_IMPORT("wasi_snapshot_preview1", "fd_fdstat_get");
/* the syscalls' varargs arrive as a pointer to them (wasm32's va_list) */
long js_syscall_ioctl(long fd, long request, void *varargs) JS_IMPORT("env", "__syscall_ioctl");
long js_syscall_fcntl64(long fd, long cmd, void *varargs) JS_IMPORT("env", "__syscall_fcntl64");

/* Emscripten's file system opens at most 4096 fds. */
#define MAX_FDS 4096

static _Atomic unsigned char kinds[MAX_FDS];
static struct lw_socket *sockets[MAX_FDS];

/* Which standard streams are terminals, and the terminal's size. */
static _Atomic int terminal_flags;
static _Atomic int terminal_columns = 80, terminal_rows = 24;
/* what tcsetattr() last set: kept, and read back, without effect */
static struct termios terminal_settings = {
	.c_iflag = ICRNL | IXON | IUTF8,
	.c_oflag = OPOST | ONLCR,
	.c_cflag = B38400 | CS8 | CREAD,
	.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN | ECHOCTL | ECHOKE,
	.c_cc = { [VINTR] = 3, [VQUIT] = 28, [VERASE] = 127, [VKILL] = 21, [VEOF] = 4, [VMIN] = 1,
		[VSTART] = 17, [VSTOP] = 19, [VSUSP] = 26 },
};


int lw_fd_kind(int fd)
{
	return fd >= 0 && fd < MAX_FDS ? atomic_load(&kinds[fd]) : LW_FD_OTHER;
}

/* The JS half, on the main runtime thread, as streams open and close. */
static void lw_fd_set_kind(int fd, int kind, struct lw_socket *socket)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	pthread_mutex_lock(&lw_rt_lock);
	sockets[fd] = kind == LW_FD_SOCKET ? socket : NULL;
	atomic_store(&kinds[fd], kind);
	pthread_mutex_unlock(&lw_rt_lock);
	lw_rt_changed();
}

static void lw_terminal_set(int flags, int columns, int rows)
{
	atomic_store(&terminal_flags, flags);
	if (columns > 0 && rows > 0) {
		atomic_store(&terminal_columns, columns);
		atomic_store(&terminal_rows, rows);
	}
}

/* hand the runner's side these, and have the JS half hook the file system, before main() runs */
__attribute__((constructor)) static void start(void)
{
	lw_js_posix_register(LW_ENTRY_FD_SET_KIND, (void *)lw_fd_set_kind);
	lw_js_posix_register(LW_ENTRY_TERMINAL_SET, (void *)lw_terminal_set);
	lw_js_posix_start();
}

struct lw_socket *lw_fd_socket_locked(int fd)
{
	return fd >= 0 && fd < MAX_FDS && atomic_load(&kinds[fd]) == LW_FD_SOCKET ? sockets[fd] : NULL;
}

struct lw_socket *lw_socket_get(int fd)
{
	struct lw_socket *s;

	if (fd < 0 || fd >= MAX_FDS) {
		errno = EBADF;
		return NULL;
	}
	pthread_mutex_lock(&lw_rt_lock);
	s = lw_fd_socket_locked(fd);
	if (s)   /* sockets.c keeps the count: this part only finds the socket */
		lw_socket_hold_locked(s);
	pthread_mutex_unlock(&lw_rt_lock);
	if (!s)
		errno = ENOTSOCK;
	return s;
}

/* Is this standard stream a terminal (LW_FD_STD*), by the runner's word? */
static int is_terminal(int kind)
{
	int flags = atomic_load(&terminal_flags);

	return (kind == LW_FD_STDIN && (flags & LW_TERMINAL_STDIN)) ||
		(kind == LW_FD_STDOUT && (flags & LW_TERMINAL_STDOUT)) ||
		(kind == LW_FD_STDERR && (flags & LW_TERMINAL_STDERR));
}

__wasi_errno_t __wasi_fd_read(__wasi_fd_t fd, const __wasi_iovec_t *iovs, size_t count, __wasi_size_t *done)
{
	int kind = lw_fd_kind(fd), err;
	size_t got = 0;

	if (kind == LW_FD_STDIN) {
		err = lw_stdin_readv((const struct iovec *)iovs, (int)count, &got);
	} else if (kind == LW_FD_SOCKET) {
		struct lw_socket *s = lw_socket_get(fd);
		if (!s)
			return __WASI_ERRNO_BADF;
		err = lw_socket_readv(s, (const struct iovec *)iovs, (int)count, 0, &got);
		lw_socket_put(s);
	} else {
		return js_fd_read(fd, iovs, count, done);
	}
	*done = got;
	return err;   /* musl's errno values are WASI's */
}

__wasi_errno_t __wasi_fd_write(__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t count, __wasi_size_t *done)
{
	int kind = lw_fd_kind(fd), err;

	if (kind == LW_FD_SOCKET) {
		size_t sent = 0;
		struct lw_socket *s = lw_socket_get(fd);
		if (!s)
			return __WASI_ERRNO_BADF;
		err = lw_socket_writev(s, (const struct iovec *)iovs, (int)count, 0, &sent);
		lw_socket_put(s);
		*done = sent;
		return err;
	}
	if (kind == LW_FD_STDOUT || kind == LW_FD_STDERR) {
		/* (fds have these kinds only in programs the runner started) */
		size_t written = 0;
		int n = 0;
		for (size_t i = 0; i < count && n >= 0; i++) {
			if (!iovs[i].buf_len)
				continue;
			n = lw_js_posix_call(LW_OP_WRITE, kind, (int)iovs[i].buf, (int)iovs[i].buf_len, 0);
			if (n > 0)
				written += n;
		}
		*done = written;
		return written || n >= 0 ? 0 : -n;
	}
	err = js_fd_write(fd, iovs, count, done);
	/* a pipe another thread polls may now be readable */
	if (kind == LW_FD_OTHER)
		lw_rt_changed();
	return err;
}

__wasi_errno_t __wasi_fd_fdstat_get(__wasi_fd_t fd, __wasi_fdstat_t *stat)
{
	int kind = lw_fd_kind(fd);
	__wasi_errno_t err = js_fd_fdstat_get(fd, stat);

	if (err)
		return err;
	/* isatty() asks this: a character device is a terminal to musl */
	if (kind == LW_FD_SOCKET)
		stat->fs_filetype = __WASI_FILETYPE_SOCKET_STREAM;
	else if (kind != LW_FD_OTHER)
		stat->fs_filetype = is_terminal(kind) ? __WASI_FILETYPE_CHARACTER_DEVICE : __WASI_FILETYPE_UNKNOWN;
	return 0;
}

/* The terminal ioctls on a standard stream (the runner says whether it
 * is a terminal); -1 when the request is not one of them. */
static long terminal_ioctl(int kind, int request, void *arg)
{
	switch (request) {
	case TIOCGWINSZ:
		if (!is_terminal(kind))
			return -ENOTTY;
		*(struct winsize *)arg = (struct winsize){
			.ws_row = (unsigned short)atomic_load(&terminal_rows),
			.ws_col = (unsigned short)atomic_load(&terminal_columns),
		};
		return 0;
	case TIOCSWINSZ:
		return is_terminal(kind) ? 0 : -ENOTTY;
	case TCGETS:
		if (!is_terminal(kind))
			return -ENOTTY;
		pthread_mutex_lock(&lw_rt_lock);
		*(struct termios *)arg = terminal_settings;
		pthread_mutex_unlock(&lw_rt_lock);
		return 0;
	case TCSETS: case TCSETSW: case TCSETSF:
		if (!is_terminal(kind))
			return -ENOTTY;
		pthread_mutex_lock(&lw_rt_lock);
		terminal_settings = *(const struct termios *)arg;
		pthread_mutex_unlock(&lw_rt_lock);
		return 0;
	case TIOCGPGRP:
		if (!is_terminal(kind))
			return -ENOTTY;
		*(pid_t *)arg = getpgrp();
		return 0;
	default:
		return -1;
	}
}

long __syscall_ioctl(long fd, long request, ...)
{
	va_list ap;
	void *arg, *varargs;
	int kind = lw_fd_kind((int)fd);
	long r;

	va_start(ap, request);
	varargs = (void *)ap;       /* wasm32: va_list points at the arguments */
	arg = va_arg(ap, void *);
	va_end(ap);
	switch (kind) {
	case LW_FD_SOCKET: {
		struct lw_socket *s = lw_socket_get((int)fd);
		if (!s)
			return -EBADF;
		r = lw_socket_ioctl(s, (int)request, arg);
		lw_socket_put(s);
		return r;
	}
	case LW_FD_STDIN:
		if (request == FIONREAD) {
			pthread_mutex_lock(&lw_rt_lock);
			*(int *)arg = lw_stdin_available_locked();
			pthread_mutex_unlock(&lw_rt_lock);
			return 0;
		}
		if (request == FIONBIO) {
			lw_stdin_set_nonblocking(*(int *)arg != 0);
			return 0;
		}
		/* fall through */
	case LW_FD_STDOUT:
	case LW_FD_STDERR:
		r = terminal_ioctl(kind, (int)request, arg);
		if (r != -1)
			return r;
		/* fall through */
	default:
		return js_syscall_ioctl(fd, request, varargs);
	}
}

long __syscall_fcntl64(long fd, long cmd, ...)
{
	va_list ap;
	void *varargs;
	long arg, r;
	int kind = lw_fd_kind((int)fd);

	va_start(ap, cmd);
	varargs = (void *)ap;
	arg = va_arg(ap, long);
	va_end(ap);
	r = js_syscall_fcntl64(fd, cmd, varargs);
	if (r < 0 || (kind != LW_FD_STDIN && kind != LW_FD_SOCKET))
		return r;
	/* O_NONBLOCK is what the runtime's reads and writes go by */
	if (cmd == F_SETFL) {
		if (kind == LW_FD_STDIN) {
			lw_stdin_set_nonblocking((arg & O_NONBLOCK) != 0);
		} else {
			struct lw_socket *s = lw_socket_get((int)fd);
			if (s) {
				lw_socket_set_nonblocking(s, (arg & O_NONBLOCK) != 0);
				lw_socket_put(s);
			}
		}
	} else if (cmd == F_GETFL) {
		int on;
		if (kind == LW_FD_STDIN) {
			on = lw_stdin_nonblocking();
		} else {
			struct lw_socket *s = lw_socket_get((int)fd);
			on = s && lw_socket_nonblocking(s);
			if (s)
				lw_socket_put(s);
		}
		r = on ? (r | O_NONBLOCK) : (r & ~O_NONBLOCK);
	}
	return r;
}
