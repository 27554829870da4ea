/* The project's libusb program: its other files are flag.c and plain.c
 * (test/build-flags.test.ts builds it file by file, as build systems do). */
#include <stdio.h>
#include <libusb.h>

int take_flag(void);
int twice(int x);

int main(void)
{
	int first, second;

	if (libusb_init_context(NULL, NULL, 0))
		return 99;
	first = take_flag();
	second = take_flag();
	printf("first %d second %d twice %d\n", first, second, twice(21));
	libusb_exit(NULL);
	return 0;
}
