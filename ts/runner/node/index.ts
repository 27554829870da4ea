/**
 * Running a compiled libusb program from Node: the program gets its own
 * worker_thread, so the caller's thread stays free, and the transport host
 * that reaches the devices runs in another (createHost()), so that killing
 * a program never takes the devices with it. One host serves any number of
 * programs, each confined by its own policy; a program started without a
 * host gets a private one.
 *
 * ```js
 * import { runProgram } from 'libusb-wasm/node';
 * const p = runProgram({ program: 'listdevs.js', devices: ['loopback'] }); // emcc's output; no devices: real ones
 * console.log('exit status', await p.exited);
 * ```
 * @module libusb-wasm/node
 */
import { Worker, MessageChannel } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { AuditEvent } from '../../host/audit.js';
import { Policy, type PolicyOptions } from '../../host/policy.js';
import type { DeviceFilter } from '../../usb/filters.js';
import { RemoteHost, type ProgramHost } from '../common/remote-host.js';
import type { HostEvent, HostService } from '../common/host-service.js';
import { checkLinked, wasmFileOf } from '../common/program.js';
import type { SimControl } from '../../sim/control.js';
import type { NodeHostWorkerData, NodeWorkerData, WorkerMessage, WorkerPlugin } from './messages.js';
import { programWorker, spareProgramWorkers, workerExecArgv } from './program-workers.js';
import { compiledProgram, keepCompiledProgram } from './compiled-cache.js';
import { transportSpecOf, type TransportChoice, type TransportSpec } from '../common/transports.js';
import type { TerminalInfo } from '../common/posix/messages.js';
import { signalNumber, type SignalName } from '../common/posix/ops.js';
import { SocketPolicy, type SocketAllowList } from '../common/posix/socket-policy.js';
import { StdinPump, type StdinSource } from '../common/posix/stdin-pump.js';
import { ProgramOutput } from '../common/output.js';
import { captureSettings, type CaptureChoice, type CaptureSettings } from '../common/capture.js';
import { HOST_GONE_GRACE_MS, finalStatus } from '../common/exit-status.js';
import type { HostGoneMessage } from '../common/host-link.js';
import { libusbErrorName } from '../../usb/constants.js';

export type { SimControl, SimDeviceInfo } from '../../sim/control.js';
export type { ResultDelivery } from '../../sim/webusb/delivery.js';
export type {
  TransportChoice, TransportSpec, SimTransportSpec, WebUsbTransportSpec, NodeTransportSpec, UsbipTransportSpec,
} from '../common/transports.js';
export type { ProgramHost, ProgramRef } from '../common/remote-host.js';
export type { CaptureChoice, CaptureOptions } from '../common/capture.js';
export type { AuditEvent, AuditAction, AuditDevice } from '../../host/audit.js';
export type { PolicyOptions } from '../../host/policy.js';
export type { TerminalInfo } from '../common/posix/messages.js';
export type { SignalName } from '../common/posix/ops.js';
export type { SocketAllowList } from '../common/posix/socket-policy.js';
export type { StdinSource } from '../common/posix/stdin-pump.js';
export type { DeviceFilter, DeviceFacts } from '../../usb/filters.js';
export { PROTECTED_CLASSES } from '../../usb/filters.js';

/** Which devices a host reaches (see {@link TransportChoice}; in Node the default is 'node', real devices). */
export interface HostDevicesOptions extends TransportChoice {
  /** Where relative paths (deviceModule, images) start. Default: process.cwd(). */
  cwd?: string;
  /** Transport host spin before sleeping, in microseconds. */
  spinMicros?: number;
  /**
   * Record every transfer in pcapng (Wireshark reads it as USB): a file
   * name, streamed to that file; true, kept in memory (host.capture(), or
   * the program's `capture`); or { file, snapLength, maxBytes }. See
   * docs/capture.md. With a shared host, give it to createHost().
   */
  capture?: CaptureChoice;
  /**
   * How long one call into the transport (open, claim, reset, listing
   * devices...) may take before it fails with LIBUSB_ERROR_TIMEOUT (a device
   * that never answers is skipped at enumeration), in ms. Default 5000.
   */
  callTimeoutMs?: number;
}

/** Options for {@link createHost}. */
export interface HostOptions extends HostDevicesOptions {
  /** Diagnostics from the host (forged requests, enumeration failures). Default: console.error. */
  log?: (line: string) => void;
  /** Every audit event of every program on this host (see also ProgramHost.audit()). */
  onAudit?: (event: AuditEvent) => void;
}

/** What to run, with which devices, and where its output goes. */
export interface RunOptions extends HostDevicesOptions {
  /** The program's JS file (emcc output: `prog.js`, or `prog` without extension); its .wasm sits next to it. */
  program: string;
  /** The program's arguments (argv[1...]). */
  args?: string[];
  /** Environment variables the program sees (getenv). */
  env?: Record<string, string>;
  /** Working directory inside the program (default: process.cwd()). */
  cwd?: string;
  /**
   * The program's stdin: bytes, or a stream it reads as the bytes arrive
   * (a Node Readable such as process.stdin, any async iterable, a web
   * ReadableStream), read only when the program reads; its end is end of
   * file. Default: empty.
   */
  stdin?: StdinSource;
  /**
   * What isatty() says about the program's fds 0, 1 and 2, and the terminal
   * size it reads (TIOCGWINSZ). Default: the truth about where they go, so
   * stdout is a terminal only when it goes to this process's stdout and that
   * is one (output to a callback is not: C's stdio then buffers it fully, as
   * for a pipe, until the program flushes).
   */
  terminal?: TerminalInfo;
  /**
   * Where the program's TCP sockets may listen and connect. A trusted
   * program (no `policy`) may use any; a program with a `policy` gets none
   * unless this lists them (docs/posix.md).
   */
  sockets?: SocketAllowList;
  /**
   * The transport host to run on (createHost()). Default: a private host,
   * built from `transport`/`devices`/`deviceModule`, ended with the program.
   */
  host?: ProgramHost;
  /**
   * Confine the program: which devices it sees, which interface classes it
   * may not claim (default: WebUSB's protected classes), limits, a question
   * before each open. Without a policy the program is trusted: it sees what
   * the transport sees, as a native libusb program does.
   */
  policy?: PolicyOptions;
  /** This program's audit events. */
  onAudit?: (event: AuditEvent) => void;
  /** Each line the program prints (without its newline). Default: the bytes as written, to this process's stdout. */
  stdout?: (line: string) => void;
  /** Each line the program writes to stderr. Default: the bytes as written, to this process's stderr. */
  stderr?: (line: string) => void;
  /**
   * @internal A module the program's worker loads before the program
   * starts (an ES module exporting `install(Module, endpoint)`), and the
   * port it gets as a comlink endpoint. The typed JS API uses it to put its
   * server next to the API shim.
   */
  plugin?: WorkerPlugin;
}

/** A program started by runProgram(). */
export interface RunningProgram {
  /** The program's id on its host (in audit events, grant(), revoke()). */
  readonly id: string;
  /** The host it runs on. */
  readonly host: ProgramHost;
  /** Resolves with the exit status (main's return value or exit()). */
  readonly exited: Promise<number>;
  /** Resolves when the program's JS has been loaded and main() started. */
  readonly started: Promise<void>;
  /** Snapshots (SimDevice.inspect) of every simulated device when the program exited. */
  readonly devicesAtExit: Promise<unknown[]>;
  /** Remote control of the simulated devices (sim transport only). */
  readonly sim: Comlink.Remote<SimControl>;
  /**
   * An in-memory capture of the program's traffic (`capture: true`), as a
   * pcapng Blob, once the program has ended; undefined without one (a
   * capture to a file is complete when `exited` resolves).
   */
  readonly capture: Promise<Blob | undefined>;
  /** Let the program see more devices (they arrive as hotplug events). Needs a policy with grants. */
  grant(filter: DeviceFilter): Promise<void>;
  /** Take a grant back: its devices leave the program (transfers end with NO_DEVICE, claims are released). */
  revoke(filter: DeviceFilter): Promise<void>;
  /**
   * Send the program a signal, as kill(1) would: its handler runs (installed
   * with signal() or sigaction()), or its default action (SIGINT, SIGTERM:
   * the program ends with 128 + the signal's number). SIGKILL is kill().
   */
  signal(signal: SignalName | number): void;
  /** The terminal was resized: the program reads the new size, and gets SIGWINCH. */
  resizeTerminal(columns: number, rows: number): void;
  /**
   * Stop the program now, even while it spins or has transfers in flight:
   * the host releases its interfaces and closes its devices first (resolves
   * after that), then its worker is terminated. `exited` resolves with 137.
   */
  kill(): Promise<void>;
  /** Let the process end while the program runs (its worker, and its private host's, no longer hold it open). */
  unref(): void;
  /** Hold the process open while the program runs (the default); undoes {@link unref}. */
  ref(): void;
}

/** The worker scripts, next to this module in dist/. */
const HOST_WORKER = fileURLToPath(new URL('./node-host-worker.js', import.meta.url));

/**
 * Start a transport host in a worker of its own: it reaches the devices and
 * serves every program started with `runProgram({ host })`. Close it when
 * done.
 */
export function createHost(options: HostOptions = {}): ProgramHost {
  // programs on a host made once come one after another: keep a worker booted for the next
  spareProgramWorkers.hold();
  return startHost(options, () => spareProgramWorkers.release());
}

/** The worker of each host started here (a private host is held open or let go with its program). */
const hostWorkers = new WeakMap<RemoteHost, Worker>();

/** `onEnd`: called once when the host's worker has ended. */
function startHost(options: HostOptions, onEnd?: () => void): RemoteHost {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const transport = transportSpec(options);
  const capture = options.capture === undefined ? undefined : nodeCapture(options.capture, cwd);
  const { port1, port2 } = new MessageChannel();
  const data: NodeHostWorkerData = { transport, cwd, spinMicros: options.spinMicros, callTimeoutMs: options.callTimeoutMs, capture, events: port2 };
  const worker = new Worker(HOST_WORKER, { workerData: data, transferList: [port2], execArgv: workerExecArgv() });
  const remote = Comlink.wrap<HostService>(nodeEndpoint(worker));
  const handle = new RemoteHost(remote, async () => {
    port1.close();
    await worker.terminate();
  }, { log: options.log, onAudit: options.onAudit });
  hostWorkers.set(handle, worker);
  port1.on('message', (m: HostEvent) => handle.onEvent(m));
  let crash: string | undefined;
  worker.on('error', (e) => {
    crash = `it crashed: ${e?.message ?? e}`;
    (options.log ?? console.error)(`libusb-wasm: the transport host crashed: ${e?.stack ?? e}`);
  });
  if (onEnd) worker.once('exit', onEnd);
  worker.on('exit', (code) => handle.workerEnded(crash ?? (handle.closing ? 'it was closed' : `its worker exited with status ${code}`)));
  port1.unref();
  return handle;
}

let programCount = 0;

/** A `capture` option, checked: a file's directory must exist and be writable now, not after the program ran. */
function nodeCapture(choice: CaptureChoice, cwd: string): CaptureSettings {
  const settings = captureSettings(choice, (file) => path.resolve(cwd, file));
  if (settings.file) {
    const dir = path.dirname(settings.file);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      throw new Error(`capture: cannot write ${settings.file}: its directory ${dir} does not exist or is not writable`);
    }
  }
  return settings;
}

/** The transport a host gets: node unless simulated devices are asked for. */
function transportSpec(options: HostDevicesOptions): TransportSpec {
  return transportSpecOf(options, 'node');
}

/** The truth about where a program's standard streams go (RunOptions.terminal's default). */
function terminalOf(options: RunOptions): TerminalInfo {
  const tty = (stream: NodeJS.ReadStream | NodeJS.WriteStream) => stream.isTTY === true;
  const size = process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : undefined;
  return {
    stdin: options.stdin === process.stdin && tty(process.stdin),
    stdout: !options.stdout && tty(process.stdout),
    stderr: !options.stderr && tty(process.stderr),
    columns: size?.columns,
    rows: size?.rows,
  };
}

/** Start a program in a new worker thread. Throws at once for a missing or wrong file. */
export function runProgram(options: RunOptions): RunningProgram {
  const program = path.resolve(options.program);
  if (!fs.existsSync(program)) throw new Error(`program not found: ${program}`);
  const wasm = wasmFileOf(program);
  if (!fs.existsSync(wasm)) throw new Error(`${path.basename(program)}: its WebAssembly file ${wasm} is missing`);
  checkLinked(fs.readFileSync(program, 'utf8'), path.basename(program));

  if (options.policy) new Policy(options.policy); // a bad filter fails now
  const owned = !options.host;
  if (options.host && (options.transport || options.server || options.devices || options.deviceModule)) {
    throw new Error('runProgram: the devices belong to the host; pass transport/server/devices/deviceModule to createHost(), not with host');
  }
  if (options.host && options.capture !== undefined) {
    throw new Error('runProgram: a shared host records everything it serves; pass capture to createHost(), not with host');
  }
  // a trusted program reaches any address; a sandboxed one only what is listed
  const sockets = options.sockets ?? (options.policy ? {} : undefined);
  new SocketPolicy(sockets); // a bad address fails now
  const stdout = new ProgramOutput(options.stdout ? { line: options.stdout } : { bytes: (b) => process.stdout.write(b) });
  const errors = new ProgramOutput(options.stderr ? { line: options.stderr } : { bytes: (b) => process.stderr.write(b) });
  const stderr = (line: string) => errors.writeLine(line);
  const id = `${path.basename(program)}#${++programCount}`;
  const host = (options.host as RemoteHost | undefined) ?? startHost({ ...options, onAudit: undefined, log: stderr });

  // the program's link to its host: the worker posts its memory on port2
  const { port1, port2 } = new MessageChannel();
  /** Why the program cannot have succeeded whatever it says (the host refused it, or went away). */
  let hostProblem: string | undefined;
  const connected = host.connect(port1, id, options.policy, {
    log: stderr,
    audit: options.onAudit,
    refused: (status) => (hostProblem ??= `the transport host refused it (${libusbErrorName(status)})`),
    ended: (why) => {
      hostProblem ??= `its transport host ended while it ran (${why})`;
      worker.postMessage({ t: 'host-gone', why } satisfies HostGoneMessage);
      // every USB call now fails at once; a program that still waits (for a
      // device that can no longer arrive) is ended after a grace period
      setTimeout(() => {
        if (gone) return;
        stderr(`libusb-wasm: ${path.basename(program)} did not end within ${HOST_GONE_GRACE_MS / 1000} s of losing its transport host; ending it`);
        void worker.terminate();
      }, HOST_GONE_GRACE_MS).unref();
    },
  });
  const data: NodeWorkerData = {
    program, args: options.args ?? [], env: options.env ?? {}, cwd: path.resolve(options.cwd ?? process.cwd()),
    terminal: options.terminal ?? terminalOf(options), sockets, host: port2, plugin: options.plugin, compiled: compiledProgram(wasm),
  };
  const worker = programWorker(data, options.plugin ? [port2, options.plugin.port] : [port2]);
  const stdin = new StdinPump(options.stdin ?? '', (m, transfer) => worker.postMessage(m, transfer),
    (e) => stderr(`libusb-wasm: ${path.basename(program)}: reading its stdin failed: ${e.message}`));

  let exitCode: number | undefined;
  let wasStarted = false;
  let killed = false;
  let gone = false;
  let markStarted!: () => void;
  let failStart!: (e: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  started.catch(() => {});
  connected.catch((e) => {
    hostProblem ??= `the transport host did not take it: ${e?.message ?? e}`;
    if (!host.startFailure) stderr(`libusb-wasm: ${path.basename(program)}: ${hostProblem}`); // else said once already, with its cause
    void worker.terminate();
  });
  worker.on('message', (m: WorkerMessage) => {
    if (m.t === 'write') (m.stream === 1 ? stdout : errors).write(m.data);
    else if (m.t === 'out') stdout.writeLine(m.s);
    else if (m.t === 'err') errors.writeLine(m.s);
    else if (m.t === 'exit') {
      exitCode = m.code;
      if (m.hostLost) hostProblem ??= `its transport host ended while it ran (${m.hostLost})`;
    }
    else if (m.t === 'compiled') keepCompiledProgram(wasm, m.module);
    else if (m.t === 'started') {
      wasStarted = true;
      markStarted();
      spareProgramWorkers.refill();
    } else if (m.t === 'stdin-demand') stdin.demand();
    else if (m.t === 'stdin-taken') stdin.taken(m.bytes);
  });
  worker.on('error', (e) => stderr(`libusb-wasm: ${path.basename(program)} crashed: ${e?.stack ?? e}`));
  const workerGone = new Promise<number>((resolve) => {
    worker.on('exit', (code) => {
      gone = true;
      stdin.stop();
      stdout.end();
      errors.end();
      failStart(new Error(`${path.basename(program)} exited before it started`));
      resolve(killed ? 137 : finalStatus(path.basename(program), exitCode ?? (code === 0 ? 0 : code || 1),
        hostProblem ?? (wasStarted ? undefined : 'it never started'), stderr));
    });
  });
  // when the worker is gone, whatever ended it: release what the program held
  const ended = workerGone.then(async (code) => {
    const devices = await host.snapshot().catch(() => []);
    await host.detach(id).catch(() => false);
    const capture = owned && options.capture !== undefined ? await host.capture().catch(() => undefined) : undefined;
    host.forget(id);
    if (owned) await host.close();
    return { code, devices, capture };
  });
  async function kill(): Promise<void> {
    if (gone) return;
    killed = exitCode === undefined;
    await host.detach(id);
    await worker.terminate();
  }
  return {
    id,
    host,
    exited: ended.then((e) => e.code),
    devicesAtExit: ended.then((e) => e.devices),
    capture: ended.then((e) => e.capture),
    started,
    sim: host.sim,
    grant: (filter) => host.grant(id, filter),
    revoke: (filter) => host.revoke(id, filter),
    signal(signal) {
      const n = signalNumber(signal);
      if (n === 9) void kill();
      else if (!gone) worker.postMessage({ t: 'signal', signo: n });
    },
    resizeTerminal(columns, rows) {
      if (!gone) worker.postMessage({ t: 'terminal-size', columns, rows });
    },
    kill,
    unref() {
      worker.unref();
      if (owned) hostWorkers.get(host)?.unref();
    },
    ref() {
      worker.ref();
      if (owned) hostWorkers.get(host)?.ref();
    },
  };
}
