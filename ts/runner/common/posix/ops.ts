/**
 * The numbers the POSIX runtime's C side (wasm/runtime/ops.h) and the
 * runner's side share, and the errno and signal numbers of Emscripten's
 * libc (errno values are WASI's, not Linux's). test/posix-ops.test.ts
 * checks them against the C compiler's.
 * @module
 */

/** lw_js_posix_call(op, a, b, c, d): answered with a number (>= 0) or -errno. */
export const Op = {
  SOCKET_OPEN: 1,
  SOCKET_BIND: 2,
  SOCKET_LISTEN: 3,
  SOCKET_CONNECT: 4,
  SOCKET_ACCEPT: 5,
  SOCKET_SEND: 6,
  SOCKET_SHUTDOWN: 7,
  SOCKET_OPTION: 8,
  /** a=FdKind.STDOUT or STDERR, b=data, c=length */
  WRITE: 9,
} as const;

export const SocketOption = { NODELAY: 1, KEEPALIVE: 2 } as const;

/** lw_js_posix_notify(what, arg): nothing waits for an answer. */
export const Notify = {
  TIMER: 1,
  STDIN_DEMAND: 2,
  STDIN_SPACE: 3,
  SOCKET_SPACE: 4,
} as const;

/** What an fd is, for the C side (lw_fd_set_kind). */
export const FdKind = { OTHER: 0, STDIN: 1, STDOUT: 2, STDERR: 3, SOCKET: 4 } as const;

/** lw_terminal_set's flags. */
export const TerminalFlag = { STDIN: 1, STDOUT: 2, STDERR: 4 } as const;

/** Emscripten's errno values (WASI's numbering), those the runner's side answers with. */
export const Errno = {
  EACCES: 2,
  EADDRINUSE: 3,
  EADDRNOTAVAIL: 4,
  EAGAIN: 6,
  EBADF: 8,
  ECONNABORTED: 13,
  ECONNREFUSED: 14,
  ECONNRESET: 15,
  EHOSTUNREACH: 23,
  EINVAL: 28,
  EIO: 29,
  ENETDOWN: 38,
  ENETUNREACH: 40,
  ENOSYS: 52,
  ENOTCONN: 53,
  EPIPE: 64,
  ETIMEDOUT: 73,
} as const;

/** A signal by name: those programs handle, and those that stop or are ignored. */
export type SignalName =
  | 'SIGHUP' | 'SIGINT' | 'SIGQUIT' | 'SIGKILL' | 'SIGUSR1' | 'SIGUSR2' | 'SIGPIPE' | 'SIGALRM' | 'SIGTERM'
  | 'SIGCHLD' | 'SIGCONT' | 'SIGSTOP' | 'SIGTSTP' | 'SIGTTIN' | 'SIGTTOU' | 'SIGURG' | 'SIGWINCH';

/** Their numbers (Linux's, as musl has them). */
export const Signal: Readonly<Record<SignalName, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGWINCH: 28,
};

/** The signal number of a name or number; throws for anything else. */
export function signalNumber(signal: SignalName | number): number {
  const n = typeof signal === 'number' ? signal : Signal[signal];
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`not a signal: ${String(signal)} (a name like 'SIGINT', or a number from 1 to 64)`);
  }
  return n;
}

/** Does sig's default action end the program (else it is ignored: stopping is not possible here)? */
export function endsByDefault(sig: number): boolean {
  const ignored = [Signal.SIGCHLD, Signal.SIGURG, Signal.SIGWINCH, Signal.SIGCONT,
    Signal.SIGSTOP, Signal.SIGTSTP, Signal.SIGTTIN, Signal.SIGTTOU];
  return !ignored.includes(sig);
}
