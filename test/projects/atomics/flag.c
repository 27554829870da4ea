/* A file of the project that never includes libusb.h but uses atomic
 * builtins, as a lock-free flag or counter does. */
static int flag;

int take_flag(void)
{
	return __atomic_exchange_n(&flag, 1, __ATOMIC_SEQ_CST);
}
