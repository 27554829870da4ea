/*
 * Exercises what the runner forwards: arguments, environment, stdin, the
 * host's file system, stdout/stderr and the exit status.
 *   runner_io <exit-status> [file-to-write]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libusb.h>

int main(int argc, char **argv)
{
	char line[256];
	const char *greeting = getenv("GREETING");

	if (libusb_init_context(NULL, NULL, 0) != 0)
		return 99;
	printf("argc=%d", argc);
	for (int i = 1; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\nGREETING=%s\n", greeting ? greeting : "(unset)");
	while (fgets(line, sizeof(line), stdin))
		printf("stdin: %s", line);
	fprintf(stderr, "to stderr\n");
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");
		if (!f) {
			perror(argv[2]);
			return 98;
		}
		fputs("written by runner_io\n", f);
		fclose(f);
	}
	libusb_exit(NULL);
	return argc > 1 ? atoi(argv[1]) : 0;
}
