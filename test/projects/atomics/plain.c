/* A file of the project with neither libusb nor atomics. */
int twice(int x)
{
	return 2 * x;
}
