/**
 * What the caller's thread and a program's worker say to each other for
 * the POSIX runtime (the same in Node and browsers): signals and the
 * terminal's size go in, stdin streams in with flow control (the worker
 * asks for it when the program first reads, and says how many bytes the
 * program took so that no more than a window is ever in flight).
 * @module
 */

/** Which of the program's standard streams are terminals, and the terminal's size. */
export interface TerminalInfo {
  /** Is fd 0 a terminal? */
  stdin?: boolean;
  /** Is fd 1 a terminal? */
  stdout?: boolean;
  /** Is fd 2 a terminal? */
  stderr?: boolean;
  /** The terminal's columns (TIOCGWINSZ); default 80. */
  columns?: number;
  /** The terminal's rows; default 24. */
  rows?: number;
}

/** Caller -> program worker. */
export type PosixToProgram =
  | { t: 'signal'; signo: number }
  | { t: 'stdin'; data: Uint8Array }
  | { t: 'stdin-end'; error?: string }
  | { t: 'terminal-size'; columns: number; rows: number };

/** Program worker -> caller. */
export type PosixFromProgram =
  | { t: 'stdin-demand' }
  | { t: 'stdin-taken'; bytes: number };

export function isPosixToProgram(m: unknown): m is PosixToProgram {
  const t = (m as { t?: unknown } | null)?.t;
  return t === 'signal' || t === 'stdin' || t === 'stdin-end' || t === 'terminal-size';
}
