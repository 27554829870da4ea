/* Prints the errno and signal numbers of Emscripten's libc as the C
 * compiler sees them, for test/posix-constants.test.ts to compare with
 * ts/runner/common/posix/ops.ts (Errno, Signal). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <libusb.h>

#define P(name) printf("%s %d\n", #name, name)

int main(void)
{
	/* a libusb program like any other */
	if (libusb_init_context(NULL, NULL, 0))
		return 1;
	libusb_exit(NULL);
	P(EACCES); P(EADDRINUSE); P(EADDRNOTAVAIL); P(EAGAIN); P(EBADF); P(ECONNABORTED); P(ECONNREFUSED);
	P(ECONNRESET); P(EHOSTUNREACH); P(EINVAL); P(EIO); P(ENETDOWN); P(ENETUNREACH); P(ENOSYS); P(ENOTCONN);
	P(EPIPE); P(ETIMEDOUT);
	P(SIGHUP); P(SIGINT); P(SIGQUIT); P(SIGKILL); P(SIGUSR1); P(SIGUSR2); P(SIGPIPE); P(SIGALRM); P(SIGTERM);
	P(SIGCHLD); P(SIGCONT); P(SIGSTOP); P(SIGTSTP); P(SIGTTIN); P(SIGTTOU); P(SIGURG); P(SIGWINCH);
	return 0;
}
