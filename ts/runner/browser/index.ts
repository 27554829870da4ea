/**
 * Running a compiled libusb program from a web page. The program gets its
 * own dedicated worker (dist/browser-worker.js), so the page never blocks,
 * whatever the C program does; the transport host, with the webusb
 * transport, runs in another (dist/browser-host-worker.js, createHost()),
 * so killing a program never takes the devices with it. One host serves
 * any number of programs, each confined by its own policy. The page keeps
 * what needs a user gesture: requestDevice().
 *
 * Needs cross-origin isolation (SharedArrayBuffer): the page must be served
 * with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp` (see docs/browser.md).
 *
 * ```js
 * import { runProgram } from 'libusb-wasm/browser';
 * const p = runProgram({ program: '/programs/listdevs.js', stdout: (line) => console.log(line) }); // its .wasm next to it
 * console.log('exit status', await p.exited);
 * ```
 * @module libusb-wasm/browser
 */
import * as Comlink from 'comlink';
import type { AuditEvent } from '../../host/audit.js';
import { Policy, type PolicyOptions } from '../../host/policy.js';
import type { DeviceFilter } from '../../usb/filters.js';
import { RemoteHost, type ProgramHost } from '../common/remote-host.js';
import type { HostEvent, HostService } from '../common/host-service.js';
import type { SimControl } from '../../sim/control.js';
import type { BrowserHostInit, BrowserWorkerInit, BrowserWorkerMessage, WorkerLoaded } from './messages.js';
import { transportSpecOf, type TransportChoice, type TransportSpec } from '../common/transports.js';
import type { TerminalInfo } from '../common/posix/messages.js';
import { signalNumber, type SignalName } from '../common/posix/ops.js';
import { StdinPump, type StdinSource } from '../common/posix/stdin-pump.js';
import { ProgramOutput } from '../common/output.js';
import { captureSettings, type CaptureOptions } from '../common/capture.js';
import { programSources, type ProgramFiles } from './program-files.js';
import { bootProgramWorker, startWorker, workerFailure, type BootedProgramWorker } from './workers.js';
import { SpareWorker } from '../common/spare.js';
import { HOST_GONE_GRACE_MS, finalStatus } from '../common/exit-status.js';
import type { HostGoneMessage } from '../common/host-link.js';
import { libusbErrorName } from '../../usb/constants.js';

export type { SimControl, SimDeviceInfo } from '../../sim/control.js';
export type { ResultDelivery } from '../../sim/webusb/delivery.js';
export type {
  TransportChoice, TransportSpec, SimTransportSpec, WebUsbTransportSpec, UsbipTransportSpec,
} from '../common/transports.js';
export type { PolicyOptions } from '../../host/policy.js';
export type { TerminalInfo } from '../common/posix/messages.js';
export type { SignalName } from '../common/posix/ops.js';
export type { StdinSource } from '../common/posix/stdin-pump.js';
export type { DeviceFilter, DeviceFacts } from '../../usb/filters.js';
export type { ProgramHost, ProgramRef } from '../common/remote-host.js';
export type { AuditEvent, AuditAction, AuditDevice } from '../../host/audit.js';
export type { CaptureOptions } from '../common/capture.js';
export { PROTECTED_CLASSES } from '../../usb/filters.js';
export type { ProgramFiles } from './program-files.js';

/**
 * Which devices a host reaches (see {@link TransportChoice}; in browsers the
 * default is 'webusb', the devices the page was granted).
 */
export interface BrowserHostDevices extends TransportChoice {
  /** Transport host spin before sleeping, in microseconds. */
  spinMicros?: number;
  /** How long one call into the transport may take before it fails with LIBUSB_ERROR_TIMEOUT, in ms. Default 5000. */
  callTimeoutMs?: number;
  /** URL of browser-host-worker.js; it may be on another origin (see {@link BrowserRunOptions.workerUrl}). Default: next to this module. */
  hostWorkerUrl?: string | URL;
  /**
   * Record every transfer in pcapng (Wireshark reads it as USB), kept in
   * the host's worker: true, or { snapLength, maxBytes }. Take it with
   * host.capture() (or the program's `capture`) as a Blob the page can save.
   * See docs/capture.md. With a shared host, give it to createHost().
   */
  capture?: true | Omit<CaptureOptions, 'file'>;
}

/** Options for {@link createHost}. */
export interface BrowserHostOptions extends BrowserHostDevices {
  /** Diagnostics from the host. Default: console.error. */
  log?: (line: string) => void;
  /** Every audit event of every program on this host (see also ProgramHost.audit()). */
  onAudit?: (event: AuditEvent) => void;
}

/** What to run, with which devices, and where its output goes. */
export interface BrowserRunOptions extends BrowserHostDevices {
  /**
   * The program: the URL of its .js (emcc output), relative to the page,
   * with its .wasm and .worker.js next to it (another origin is fine if it
   * answers with CORS and CORP headers); or its files themselves
   * ({@link ProgramFiles}, e.g. picked from disk).
   */
  program: string | URL | ProgramFiles;
  /** The program's arguments (argv[1...]). */
  args?: string[];
  /** Environment variables the program sees (getenv). */
  env?: Record<string, string>;
  /** Files the program can open, by absolute path: `{ '/fw/app.hex': bytes }`. */
  files?: Record<string, Uint8Array | string>;
  /** Working directory inside the program (created when missing). */
  cwd?: string;
  /**
   * The program's stdin: bytes, or a stream it reads as the bytes arrive (a
   * ReadableStream, any async iterable), read only when the program reads;
   * its end is end of file. Default: empty.
   */
  stdin?: StdinSource;
  /** What isatty() says about fds 0, 1 and 2, and the terminal size. Default: no terminals. */
  terminal?: TerminalInfo;
  /**
   * The transport host to run on (createHost()). Default: a private host,
   * built from `transport`/`devices`, ended with the program.
   */
  host?: ProgramHost;
  /**
   * Confine the program: which devices it sees, which interface classes it
   * may not claim (default: WebUSB's protected classes), limits, a question
   * before each open. Without a policy the program is trusted: it sees every
   * device the page was granted.
   */
  policy?: PolicyOptions;
  /** This program's audit events. */
  onAudit?: (event: AuditEvent) => void;
  /** Each line the program prints (without its newline). Default: console.log / console.error. */
  stdout?: (line: string) => void;
  /** Each line the program writes to stderr. Default: console.error. */
  stderr?: (line: string) => void;
  /**
   * URL of browser-worker.js. Default: next to this module. It may be on
   * another origin (a CDN): the worker then starts from a same-origin blob
   * that loads it, and that origin must answer with
   * `Cross-Origin-Resource-Policy: cross-origin` and `Access-Control-Allow-Origin`.
   */
  workerUrl?: string | URL;
  /**
   * @internal A classic script the program's worker loads with
   * importScripts before the program starts; it sets
   * `self.libusbWasmPlugin = { install(Module, port) }`. The typed JS API
   * uses it to put its server next to the API shim.
   */
  plugin?: { url: string | URL; port: MessagePort };
}

/** A program started by runProgram(). */
export interface BrowserRunningProgram {
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
  /** Remote control of the simulated devices (transport 'sim'): plug, unplug, inspect, list. */
  readonly sim: Comlink.Remote<SimControl>;
  /** The program's capture (`capture` option) as a pcapng Blob, once it has ended; undefined without one. */
  readonly capture: Promise<Blob | undefined>;
  /** Libusb contexts with a thread blocked waiting for events (0 before libusb_init). */
  waitingContexts(): Promise<number>;
  /**
   * Tell the program about devices granted or forgotten since it started
   * (call it after requestDevice() on the page); they reach libusb as
   * hotplug events.
   */
  rescan(): Promise<void>;
  /** Let the program see more devices (they arrive as hotplug events). Needs a policy with grants. */
  grant(filter: DeviceFilter): Promise<void>;
  /** Take a grant back: its devices leave the program (transfers end with NO_DEVICE, claims are released). */
  revoke(filter: DeviceFilter): Promise<void>;
  /**
   * Send the program a signal: its handler runs (signal(), sigaction()), or
   * its default action (SIGINT, SIGTERM: it ends with 128 + the signal's
   * number). SIGKILL is kill().
   */
  signal(signal: SignalName | number): void;
  /** The terminal was resized: the program reads the new size, and gets SIGWINCH. */
  resizeTerminal(columns: number, rows: number): void;
  /**
   * Stop the program now, even while it spins or has transfers in flight:
   * the host releases its interfaces and closes its devices (resolves after
   * that) and its worker is terminated. `exited` resolves with 137 if it
   * was running.
   */
  kill(): Promise<void>;
}

/**
 * Start a transport host in a dedicated worker of its own: it reaches the
 * devices and serves every program started with `runProgram({ host })`.
 */
export function createHost(options: BrowserHostOptions = {}): ProgramHost {
  // programs on a host made once come one after another: keep a worker booted for the next
  sparePrograms.hold();
  return startHost(options, () => sparePrograms.release());
}

/** The program worker's script, next to this module. */
const programWorkerUrl = () => new URL('./browser-worker.js', import.meta.url);

/** A program worker booted ahead, while hosts made with createHost() are open. */
const sparePrograms: SpareWorker<BootedProgramWorker> = new SpareWorker(
  () => bootProgramWorker(programWorkerUrl(), (b) => sparePrograms.lost(b)),
  (b) => b.worker.terminate(),
);

function transportSpec(options: BrowserHostDevices): TransportSpec {
  try {
    return transportSpecOf(options, 'webusb');
  } catch (e) {
    throw new Error(`libusb-wasm: ${(e as Error).message}`);
  }
}

/** `onEnd`: called once when the host is closed or its worker failed. */
function startHost(options: BrowserHostOptions, onEnd?: () => void): RemoteHost {
  const problem = crossOriginIsolationProblem();
  if (problem) throw new Error(`libusb-wasm: ${problem}`);
  const transport = transportSpec(options);
  const capture = options.capture === undefined ? undefined : captureSettings(options.capture);
  const script = options.hostWorkerUrl ?? new URL('./browser-host-worker.js', import.meta.url);
  const worker = startWorker(script, 'libusb-wasm host');
  const control = new MessageChannel();
  const events = new MessageChannel();
  let ended = false;
  const endOnce = () => {
    if (!ended) onEnd?.();
    ended = true;
  };
  const handle = new RemoteHost(Comlink.wrap<HostService>(control.port1), () => {
    worker.terminate();
    control.port1.close();
    events.port1.close();
    endOnce();
  }, { log: options.log, onAudit: options.onAudit });
  events.port1.onmessage = (e: MessageEvent<HostEvent>) => handle.onEvent(e.data);
  let loaded = false;
  worker.onmessage = (e: MessageEvent<WorkerLoaded>) => {
    if (e.data?.t === 'loaded') loaded = true;
  };
  worker.onerror = (e) => {
    e.preventDefault();
    const why = workerFailure(e, script, loaded);
    (options.log ?? console.error)(`libusb-wasm: the transport host's worker failed: ${why}`);
    // an error out of a worker's top level ends its serving: the programs hear of it now
    worker.terminate();
    endOnce();
    handle.workerEnded(`its worker failed: ${why}`);
  };
  const init: BrowserHostInit = {
    t: 'host', transport, spinMicros: options.spinMicros, callTimeoutMs: options.callTimeoutMs, capture, control: control.port2, events: events.port2,
  };
  worker.postMessage(init, [control.port2, events.port2]);
  return handle;
}

let programCount = 0;

/** Why this page cannot run programs, or undefined when it can. */
export function crossOriginIsolationProblem(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined' || !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    return 'this page is not cross-origin isolated, so SharedArrayBuffer is unavailable. Serve it with the headers '
      + '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" '
      + '(the worker scripts too), from https or http://localhost.';
  }
  return undefined;
}

/**
 * Ask the user for a device (call it from a click handler: WebUSB needs a
 * user gesture). Running programs see it after `rescan()`; programs started
 * later see it at once.
 */
export async function requestDevice(filters: DeviceFilter[] = []): Promise<unknown> {
  const usb = (navigator as Navigator & { usb?: { requestDevice(o: { filters: DeviceFilter[] }): Promise<unknown> } }).usb;
  if (!usb) throw new Error('WebUSB is not available in this browser (it needs Chrome or Edge, over https or http://localhost)');
  return usb.requestDevice({ filters });
}

/** Start a program in a new dedicated worker. Throws at once when the page cannot run it. */
export function runProgram(options: BrowserRunOptions): BrowserRunningProgram {
  const problem = crossOriginIsolationProblem();
  if (problem) throw new Error(`libusb-wasm: ${problem}`);
  const sources = programSources(options.program);
  if (options.policy) new Policy(options.policy); // a bad filter fails now
  if (options.host && (options.transport || options.server || options.devices?.length)) {
    throw new Error('libusb-wasm: the devices belong to the host; pass transport/server/devices to createHost(), not with host');
  }
  if (options.host && options.capture !== undefined) {
    throw new Error('libusb-wasm: a shared host records everything it serves; pass capture to createHost(), not with host');
  }
  const encoder = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  for (const [path, content] of Object.entries(options.files ?? {})) {
    if (!path.startsWith('/')) throw new Error(`libusb-wasm: file paths must be absolute, got '${path}'`);
    files[path] = typeof content === 'string' ? encoder.encode(content) : content;
  }
  const stdout = new ProgramOutput({ line: options.stdout ?? ((s: string) => console.log(s)) });
  const errors = new ProgramOutput({ line: options.stderr ?? ((s: string) => console.error(s)) });
  const stderr = (line: string) => errors.writeLine(line);
  const owned = !options.host;
  const name = sources.fileName;
  const id = `${name}#${++programCount}`;
  const host = (options.host as RemoteHost | undefined) ?? startHost({ ...options, onAudit: undefined, log: stderr });

  const script = options.workerUrl ?? programWorkerUrl();
  const booted = options.workerUrl ? undefined : sparePrograms.take();
  const worker = booted?.worker ?? startWorker(script, name);
  const stdin = new StdinPump(options.stdin ?? '', (m, transfer) => worker.postMessage(m, transfer),
    (e) => stderr(`libusb-wasm: reading the program's stdin failed: ${e.message}`));
  const link = new MessageChannel();
  /** Why the program cannot have succeeded whatever it says (the host refused it, or went away). */
  let hostProblem: string | undefined;
  let wasStarted = false;
  const connected = host.connect(link.port1, id, options.policy, {
    log: stderr,
    audit: options.onAudit,
    refused: (status) => (hostProblem ??= `the transport host refused it (${libusbErrorName(status)})`),
    ended: (why) => {
      hostProblem ??= `its transport host ended while it ran (${why})`;
      worker.postMessage({ t: 'host-gone', why } satisfies HostGoneMessage);
      // every USB call now fails at once; a program that still waits is ended after a grace period
      setTimeout(() => {
        if (done) return;
        stderr(`libusb-wasm: ${name} did not end within ${HOST_GONE_GRACE_MS / 1000} s of losing its transport host; ending it`);
        void end(1);
      }, HOST_GONE_GRACE_MS);
    },
  });

  let finish!: (r: { code: number; devices: unknown[]; capture?: Blob }) => void;
  let markStarted!: () => void;
  let failStart!: (e: Error) => void;
  let done = false;
  const ended = new Promise<{ code: number; devices: unknown[]; capture?: Blob }>((resolve) => (finish = resolve));
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  started.catch(() => {});
  /** End the program: its worker goes, then the host lets go of what it held. */
  const end = async (status: number) => {
    if (done) return;
    done = true;
    stdin.stop();
    stdout.end();
    errors.end();
    const code = status === 137 ? status : finalStatus(name, status, hostProblem ?? (wasStarted ? undefined : 'it never started'), stderr);
    failStart(new Error(`${name} exited before it started`));
    await host.detach(id).catch(() => false); // first: a kill must not wait for anything else
    worker.terminate();
    const devices = await host.snapshot().catch(() => []);
    const capture = owned && options.capture !== undefined ? await host.capture().catch(() => undefined) : undefined;
    host.forget(id);
    if (owned) await host.close();
    finish({ code, devices, capture });
  };
  connected.catch((e) => {
    hostProblem ??= `the transport host did not take it: ${e?.message ?? e}`;
    if (!host.startFailure) stderr(`libusb-wasm: ${name}: ${hostProblem}`); // else said once already, with its cause
    void end(1);
  });

  let loaded = booted?.loaded() ?? false;
  worker.onmessage = (e: MessageEvent<BrowserWorkerMessage>) => {
    const m = e.data;
    if (m.t === 'loaded') loaded = true;
    else if (m.t === 'write') (m.stream === 1 ? stdout : errors).write(m.data);
    else if (m.t === 'out') stdout.writeLine(m.s);
    else if (m.t === 'err') errors.writeLine(m.s);
    else if (m.t === 'started') {
      wasStarted = true;
      markStarted();
      sparePrograms.refill();
    } else if (m.t === 'exit') void end(m.code);
    else if (m.t === 'stdin-demand') stdin.demand();
    else if (m.t === 'stdin-taken') stdin.taken(m.bytes);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    if (done) return;
    stderr(`libusb-wasm: the program's worker failed: ${workerFailure(e, script, loaded)}`);
    void end(1);
  };

  const init: BrowserWorkerInit = {
    t: 'init', ...sources, args: options.args ?? [], env: options.env ?? {}, files, cwd: options.cwd,
    terminal: options.terminal ?? {},
    host: link.port2,
    plugin: options.plugin ? { url: new URL(options.plugin.url, location.href).href, port: options.plugin.port } : undefined,
  };
  worker.postMessage(init, options.plugin ? [link.port2, options.plugin.port] : [link.port2]);

  return {
    id,
    host,
    exited: ended.then((r) => r.code),
    started,
    devicesAtExit: ended.then((r) => r.devices),
    capture: ended.then((r) => r.capture),
    sim: host.sim,
    waitingContexts: () => host.waitingContexts(),
    rescan: () => host.rescan(),
    grant: (filter) => host.grant(id, filter),
    revoke: (filter) => host.revoke(id, filter),
    signal: (signal) => {
      const n = signalNumber(signal);
      if (n === 9) void end(137);
      else if (!done) worker.postMessage({ t: 'signal', signo: n });
    },
    resizeTerminal: (columns, rows) => {
      if (!done) worker.postMessage({ t: 'terminal-size', columns, rows });
    },
    kill: () => end(137),
  };
}
