/*
 * The runtime's calls to the runner's side, the one source of their numbers:
 * scripts/gen-protocol.mjs writes ts/runner/common/posix/ops.gen.ts from it.
 */
#ifndef LW_RUNTIME_OPS_H
#define LW_RUNTIME_OPS_H

/* lw_js_posix_call(op, a, b, c, d): answered on the main runtime thread. */
enum lw_op {
	LW_OP_SOCKET_OPEN = 1,      /* a=socket, b=AF_INET or AF_INET6: its new fd, or -errno */
	LW_OP_SOCKET_BIND = 2,      /* a=socket, b=address string, c=port: 0 or -errno (the policy) */
	LW_OP_SOCKET_LISTEN = 3,    /* a=socket, b=address, c=port, d=backlog: 0 or -errno; then lw_socket_listening() */
	LW_OP_SOCKET_CONNECT = 4,   /* a=socket, b=address, c=port: 0 or -errno; then lw_socket_connected() */
	LW_OP_SOCKET_ACCEPT = 5,    /* a=listener, b=new socket: the new fd, or -errno */
	LW_OP_SOCKET_SEND = 6,      /* a=socket, b=data, c=length: bytes taken, or -errno */
	LW_OP_SOCKET_SHUTDOWN = 7,  /* a=socket, b=SHUT_RD/SHUT_WR/SHUT_RDWR */
	LW_OP_SOCKET_OPTION = 8,    /* a=socket, b=enum lw_sockopt, c=value */
	LW_OP_WRITE = 9,            /* a=LW_FD_STDOUT or LW_FD_STDERR, b=data, c=length: bytes written, or -errno */
};

/* The socket options the runner's side applies. */
enum lw_sockopt {
	LW_SOCKOPT_NODELAY = 1,     /* TCP_NODELAY */
	LW_SOCKOPT_KEEPALIVE = 2,   /* SO_KEEPALIVE */
};

/* lw_js_posix_notify(what, arg): nothing waits for these. */
enum lw_notify {
	LW_NOTIFY_TIMER = 1,        /* the interval timer changed: re-arm it */
	LW_NOTIFY_STDIN_DEMAND = 2, /* the program reads stdin: start streaming it */
	LW_NOTIFY_STDIN_SPACE = 3,  /* the program took bytes: the feeder may put more */
	LW_NOTIFY_SOCKET_SPACE = 4, /* arg=socket: the program took received bytes */
};

/* What an fd is (lw_fd_set_kind, from the JS half's file system hooks). */
enum lw_fd_kind {
	LW_FD_OTHER = 0,            /* Emscripten's file system answers */
	LW_FD_STDIN = 1,
	LW_FD_STDOUT = 2,
	LW_FD_STDERR = 3,
	LW_FD_SOCKET = 4,
};

/*
 * The runtime's functions the runner's side calls, on the main runtime
 * thread: each file hands its own over from a constructor
 * (lw_js_posix_register), so that they need no export (an -O3 build
 * minifies export names) and a part not linked has none. Entry X is the C
 * function lw_x.
 */
enum lw_entry {
	LW_ENTRY_SIGNAL_DELIVER = 1,   /* int (int sig): 0, or the exit status its default action ends the program with */
	LW_ENTRY_TIMER_REMAINING = 2,  /* double (void): ms until the interval timer expires, -1 when disarmed */
	LW_ENTRY_TIMER_FIRE = 3,       /* int (void): SIGALRM if it expired, answered as SIGNAL_DELIVER */
	LW_ENTRY_FD_SET_KIND = 4,      /* void (int fd, int kind, socket) */
	LW_ENTRY_TERMINAL_SET = 5,     /* void (int flags, int columns, int rows) */
	LW_ENTRY_STDIN_SPACE = 6,      /* uint32_t (void): room in the stdin ring where the next bytes go */
	LW_ENTRY_STDIN_WRITE_AT = 7,   /* void * (void): where the next bytes go */
	LW_ENTRY_STDIN_COMMIT = 8,     /* void (uint32_t count) */
	LW_ENTRY_STDIN_END = 9,        /* void (int error) */
	LW_ENTRY_SOCKET_CONNECTED = 10,   /* void (socket, int errno) */
	LW_ENTRY_SOCKET_LISTENING = 11,   /* void (socket, int errno) */
	LW_ENTRY_SOCKET_INCOMING = 12,    /* void (socket, int waiting) */
	LW_ENTRY_SOCKET_SET_ADDRESS = 13, /* void (socket, int peer, int port, uint32_t w0, w1, w2, w3) */
	LW_ENTRY_SOCKET_RX_AT = 14,       /* void * (socket) */
	LW_ENTRY_SOCKET_RX_SPACE = 15,    /* uint32_t (socket) */
	LW_ENTRY_SOCKET_RX_COMMIT = 16,   /* void (socket, uint32_t count) */
	LW_ENTRY_SOCKET_RX_END = 17,      /* void (socket, int errno) */
	LW_ENTRY_SOCKET_SET_WRITABLE = 18, /* void (socket, int writable) */
	LW_ENTRY_SOCKET_CLOSED = 19,      /* void (socket) */
};

/* lw_terminal_set(flags, columns, rows): which standard streams are terminals. */
enum lw_terminal {
	LW_TERMINAL_STDIN = 1,
	LW_TERMINAL_STDOUT = 2,
	LW_TERMINAL_STDERR = 4,
};

#endif
