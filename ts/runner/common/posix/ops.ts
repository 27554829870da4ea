/**
 * The numbers the POSIX runtime's C side and the runner's side share. The
 * runtime's own calls come from its header (ops.gen.ts, generated from
 * wasm/runtime/ops.h); the errno and signal numbers are Emscripten's libc's
 * (errno values are WASI's, not Linux's), those this side answers with:
 * test/posix-constants.test.ts checks them against the C compiler's.
 * @module
 */
export { LwOp, LwSockopt, LwNotify, LwEntry, LwFdKind, LwTerminal } from './ops.gen.js';

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
