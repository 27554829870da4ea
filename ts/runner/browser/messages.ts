/**
 * Messages between a web page and the dedicated workers it starts: the
 * transport host's (host-worker.ts, controlled with comlink on
 * `control`) and each program's (program-worker.ts, linked to the host by
 * the MessagePort `host`). The data plane never crosses here.
 * @module
 */
import type { CaptureSettings } from '../common/capture.js';
import type { TransportSpec } from '../common/transports.js';
import type { PosixFromProgram, TerminalInfo } from '../common/posix/messages.js';

/** Where one of a program's files comes from: an absolute URL (fetched with CORS) or its bytes. */
export type ProgramFileSource = string | Blob;

export interface BrowserWorkerInit {
  t: 'init';
  /** The program's file name (`prog.js`): argv[0] without its extension, and the name in messages. */
  fileName: string;
  /** The program's .js (emcc output). */
  js: ProgramFileSource;
  /** Its .wasm. */
  wasm: ProgramFileSource;
  /** Its .worker.js, for programs whose threads start from one; default: next to `js` when that is a URL. */
  workerJs?: ProgramFileSource;
  args: string[];
  env: Record<string, string>;
  files: Record<string, Uint8Array>;
  cwd?: string;
  /** Which standard streams are terminals (the page decides: none by default). */
  terminal: TerminalInfo;
  /** The program's link to the transport host (see ../common/host-service.ts). */
  host: MessagePort;
  /** A classic script loaded before the program starts (BrowserRunOptions.plugin), and its port. */
  plugin?: { url: string; port: MessagePort };
}

export interface BrowserHostInit {
  t: 'host';
  transport: TransportSpec;
  spinMicros?: number;
  /** Record the traffic in memory (createHost/runProgram's `capture`, checked). */
  capture?: CaptureSettings;
  /** Deadline of one call into the transport (ms). */
  callTimeoutMs?: number;
  /** The host's comlink endpoint (HostService). */
  control: MessagePort;
  /** Log lines and audit events (HostEvent). */
  events: MessagePort;
}

/**
 * What both workers post first, from their script's top level: the script
 * loaded and runs. An error before it means the worker never started.
 */
export interface WorkerLoaded {
  t: 'loaded';
}

export type BrowserWorkerMessage =
  | WorkerLoaded
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number }
  /** what the program wrote to its stdout (1) or stderr (2) */
  | { t: 'write'; stream: 1 | 2; data: Uint8Array }
  | PosixFromProgram;
