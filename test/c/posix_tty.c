/*
 * What a program learns about its standard streams (wasm/runtime/fds.c):
 * isatty() on fds 0, 1 and 2, the terminal's size (TIOCGWINSZ), its
 * settings (tcgetattr), all on stderr (stdout may be what is looked at).
 *   posix_tty [wait-resize]
 * With wait-resize it then waits for SIGWINCH and prints the new size.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <libusb.h>

static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

static void report_size(const char *what)
{
	struct winsize size;

	if (ioctl(1, TIOCGWINSZ, &size) == 0)
		fprintf(stderr, "%s %ux%u\n", what, size.ws_col, size.ws_row);
	else
		fprintf(stderr, "%s %s\n", what, strerror(errno));
}

int main(int argc, char **argv)
{
	struct termios settings;
	sigset_t winch, none;

	if (libusb_init_context(NULL, NULL, 0))
		return 99;
	fprintf(stderr, "isatty 0=%d 1=%d 2=%d\n", isatty(0), isatty(1), isatty(2));
	report_size("size");
	if (tcgetattr(0, &settings) == 0)
		fprintf(stderr, "stdin settings %s\n", settings.c_lflag & ICANON ? "canonical" : "raw");
	else
		fprintf(stderr, "stdin settings %s\n", strerror(errno));
	if (argc > 1 && strcmp(argv[1], "wait-resize") == 0) {
		signal(SIGWINCH, on_winch);
		sigemptyset(&winch);
		sigaddset(&winch, SIGWINCH);
		sigprocmask(SIG_BLOCK, &winch, NULL);
		fprintf(stderr, "waiting\n");
		sigemptyset(&none);
		while (!resized)
			sigsuspend(&none);
		report_size("resized");
	}
	return 0;
}
