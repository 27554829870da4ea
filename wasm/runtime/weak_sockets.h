/*
 * The sockets' functions as fds.c and poll.c call them: weak references,
 * which do not pull sockets.c and socket_data.c into a program's link (an
 * fd is a socket only in programs that called socket(), which links them).
 */
#ifndef LW_WEAK_SOCKETS_H
#define LW_WEAK_SOCKETS_H

#include "runtime.h"

#pragma weak lw_socket_readv
#pragma weak lw_socket_writev
#pragma weak lw_socket_poll_locked
#pragma weak lw_socket_ioctl
#pragma weak lw_socket_set_nonblocking
#pragma weak lw_socket_nonblocking
#pragma weak lw_socket_hold_locked
#pragma weak lw_socket_put

#endif
