/* libusb build configuration for Emscripten (what configure would find).
 * Used for the libusb core and for upstream's tests, which include it. */
#ifndef LIBUSB_WASM_CONFIG_H
#define LIBUSB_WASM_CONFIG_H

#define _GNU_SOURCE 1
#define DEFAULT_VISIBILITY __attribute__ ((visibility ("default")))
#define PRINTF_FORMAT(a, b) __attribute__ ((__format__ (__printf__, a, b)))
#define PLATFORM_POSIX 1
#define HAVE_CLOCK_GETTIME 1
#define HAVE_PTHREAD_CONDATTR_SETCLOCK 1
#define HAVE_SYS_TIME_H 1
#define HAVE_NFDS_T 1
#define HAVE_STRUCT_TIMESPEC 1
#define ENABLE_LOGGING 1
/* No eventfd, no timerfd: wasm/backend/events.c provides the event
 * abstraction and libusb's core computes timeouts itself. */

#endif
