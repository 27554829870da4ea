/**
 * The runner's side of the POSIX runtime (wasm/runtime/), in the program's
 * worker on Emscripten's main runtime thread: it is Module.libusbWasmPosix,
 * called by the runtime's JS half (library_posix.js). It delivers signals
 * (from the caller and from the interval timer), feeds stdin, keeps the
 * terminal's size, and passes socket calls to a SocketBridge.
 * @module
 */
import type { PosixFromProgram, PosixToProgram, TerminalInfo } from './messages.js';
import { endsByDefault, LwEntry, LwFdKind, LwNotify, LwOp, LwTerminal, Signal } from './ops.js';
import type { SocketBridge, SocketEntries, SocketHost } from './socket-bridge.js';
import { StdinFeed, type StdinEntries } from './stdin-feed.js';

/**
 * The C side's functions this side calls, by their C names (entry X of
 * ops.h's lw_entry is lw_x); each is there only when its part of the
 * runtime was linked into the program.
 */
export interface RuntimeEntries extends Partial<StdinEntries>, Partial<SocketEntries> {
  lw_signal_deliver?(sig: number): number;
  lw_timer_remaining?(): number;
  lw_timer_fire?(): number;
  lw_fd_set_kind?(fd: number, kind: number, socket: number): void;
  lw_terminal_set?(flags: number, columns: number, rows: number): void;
}

/** What the JS half hands over before main() runs. */
export interface RuntimeStart {
  /** The program's memory (shared). */
  memory: WebAssembly.Memory;
  openSocket(socket: number): number;
  hostName(address: string): string;
}

/** lw_entry numbers to the C names of their functions. */
const ENTRY_NAMES = new Map(Object.entries(LwEntry).map(([key, value]) => [value as number, `lw_${key.toLowerCase()}`]));

export interface PosixRuntimeOptions {
  terminal?: TerminalInfo;
  sockets: SocketBridge;
  /** The program wrote to its stdout (1) or stderr (2): these bytes (a copy). */
  write(stream: 1 | 2, data: Uint8Array): void;
  /** Messages for the caller's thread (stdin flow control). */
  toCaller(message: PosixFromProgram): void;
  /** End the program now with this exit status (a signal's default action). */
  terminate(status: number): void;
  stderr(line: string): void;
}

/** What a program's worker posts to its caller for the runtime: output, stderr lines, flow control. */
export type PosixWorkerPost = (
  message: { t: 'write'; stream: 1 | 2; data: Uint8Array } | { t: 'err'; s: string } | PosixFromProgram,
  transfer?: ArrayBuffer[],
) => void;

/** The runtime of a program's worker (Node or browser): its output and messages go to `post`. */
export function workerPosixRuntime(terminal: TerminalInfo | undefined, sockets: SocketBridge, post: PosixWorkerPost,
  exit: (status: number) => void): PosixRuntime {
  return new PosixRuntime({
    terminal,
    sockets,
    write: (stream, bytes) => post({ t: 'write', stream, data: bytes }, [bytes.buffer as ArrayBuffer]),
    toCaller: (m) => post(m),
    terminate: exit,
    stderr: (s) => post({ t: 'err', s }),
  });
}

/** Emscripten ends a program (exit() in a handler) by throwing this out of wasm. */
function isProgramExit(e: unknown): boolean {
  return e === 'unwind' || (e as { name?: string } | null)?.name === 'ExitStatus';
}

export class PosixRuntime {
  private readonly entries: RuntimeEntries = {};
  private memory?: WebAssembly.Memory;
  private readonly stdin: StdinFeed;
  private terminal: TerminalInfo;
  private timer?: ReturnType<typeof setTimeout>;
  private ended = false;

  constructor(private readonly options: PosixRuntimeOptions) {
    this.terminal = { ...options.terminal };
    this.stdin = new StdinFeed({
      demand: () => options.toCaller({ t: 'stdin-demand' }),
      taken: (bytes) => options.toCaller({ t: 'stdin-taken', bytes }),
    });
  }

  private heap(): Uint8Array {
    return new Uint8Array(this.memory!.buffer);
  }

  /** Call into the program's wasm; a program that exits meanwhile is not an error here. */
  private guard<T>(what: string, fn: () => T): T | undefined {
    if (this.ended) return undefined;
    try {
      return fn();
    } catch (e) {
      if (!isProgramExit(e)) this.options.stderr(`libusb-wasm: ${what}: ${(e as Error)?.stack ?? e}`);
      return undefined;
    }
  }

  // --- called by the runtime's JS half -----------------------------------

  /** One of the C side's functions (a part of the runtime starting up). */
  register(entry: number, fn: (...args: number[]) => number): void {
    const name = ENTRY_NAMES.get(entry);
    if (name) (this.entries as Record<string, unknown>)[name] = fn;
    else this.options.stderr(`libusb-wasm: the POSIX runtime handed over unknown entry ${entry}`);
  }

  /** The program's runtime is up, before main(). */
  start(program: RuntimeStart): void {
    this.memory = program.memory;
    this.stdin.attach(this.entries, () => this.heap());
    this.applyTerminal();
    const host: SocketHost = {
      entries: this.entries as SocketEntries,
      heap: () => this.heap(),
      openFd: (socket) => program.openSocket(socket),
      hostName: (address) => program.hostName(address),
      stderr: this.options.stderr,
    };
    this.options.sockets.attach(host);
  }

  setFdKind(fd: number, kind: number, socket: number): void {
    this.entries.lw_fd_set_kind?.(fd, kind, kind === LwFdKind.SOCKET ? socket : 0);
  }

  socketClosed(socket: number): void {
    this.options.sockets.closed(socket);
  }

  /** The C side's calls (lw_js_posix_call): a number, or -errno. */
  call(op: number, a: number, b: number, c: number, d: number): number {
    const sockets = this.options.sockets;
    const text = (address: number) => this.cString(address);
    switch (op) {
      case LwOp.SOCKET_OPEN: return sockets.open(a, b);
      case LwOp.SOCKET_BIND: return sockets.bind(a, text(b), c);
      case LwOp.SOCKET_LISTEN: return sockets.listen(a, text(b), c, d);
      case LwOp.SOCKET_CONNECT: return sockets.connect(a, text(b), c);
      case LwOp.SOCKET_ACCEPT: return sockets.accept(a, b);
      case LwOp.SOCKET_SEND: return sockets.send(a, this.heap().slice(b, b + c));
      case LwOp.SOCKET_SHUTDOWN: sockets.shutdown(a, b); return 0;
      case LwOp.SOCKET_OPTION: sockets.option(a, b, c); return 0;
      case LwOp.WRITE:
        this.options.write(a === LwFdKind.STDOUT ? 1 : 2, this.heap().slice(b, b + c));
        return c;
      default:
        this.options.stderr(`libusb-wasm: the POSIX runtime asked for unknown operation ${op}`);
        return -52; // ENOSYS
    }
  }

  /** The C side's notices (lw_js_posix_notify). */
  notify(what: number, arg: number): void {
    if (what === LwNotify.TIMER) this.armTimer();
    else if (what === LwNotify.STDIN_DEMAND) this.stdin.demanded();
    else if (what === LwNotify.STDIN_SPACE) this.stdin.pump();
    else if (what === LwNotify.SOCKET_SPACE) this.options.sockets.space(arg);
  }

  // --- called by the program's worker, for the caller ---------------------

  receive(message: PosixToProgram): void {
    switch (message.t) {
      case 'signal': this.deliverSignal(message.signo); break;
      case 'stdin': this.stdin.push(message.data); break;
      case 'stdin-end': this.stdin.end(message.error); break;
      case 'terminal-size':
        this.terminal = { ...this.terminal, columns: message.columns, rows: message.rows };
        this.applyTerminal();
        this.deliverSignal(Signal.SIGWINCH);
        break;
    }
  }

  /** The program ended: stop timers and sockets. */
  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.options.sockets.close();
  }

  /**
   * A signal from outside. The C side runs the program's handler (or hands
   * the signal to sigwait, or leaves it pending); its default action that
   * ends a program ends it here, also when the program has no handlers at
   * all (it then has no signal code linked).
   */
  deliverSignal(sig: number): void {
    if (this.ended) return;
    const deliver = this.entries.lw_signal_deliver;
    const status = deliver ? this.guard('delivering a signal', () => deliver(sig)) : (endsByDefault(sig) ? 128 + sig : 0);
    if (status) this.terminate(status);
  }

  private terminate(status: number): void {
    this.end();
    this.options.terminate(status);
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    const remaining = this.guard('reading the interval timer', () => this.entries.lw_timer_remaining?.()) ?? -1;
    if (remaining < 0 || this.ended) return;
    this.timer = setTimeout(() => {
      const status = this.guard('firing the interval timer', () => this.entries.lw_timer_fire?.());
      if (status) this.terminate(status);
      else this.armTimer();
    }, Math.ceil(remaining));
  }

  private applyTerminal(): void {
    const t = this.terminal;
    const flags = (t.stdin ? LwTerminal.STDIN : 0) | (t.stdout ? LwTerminal.STDOUT : 0) | (t.stderr ? LwTerminal.STDERR : 0);
    this.guard('setting the terminal', () => this.entries.lw_terminal_set?.(flags, t.columns ?? 0, t.rows ?? 0));
  }

  private cString(address: number): string {
    const heap = this.heap();
    let end = address;
    while (heap[end]) end++;
    return new TextDecoder().decode(heap.slice(address, end));
  }
}
