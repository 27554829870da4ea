/**
 * What runProgram() and createHost() (caller's thread) hand the program's
 * worker and the transport host's worker in Node, and the messages they
 * send back. The host's worker is controlled with comlink; a program
 * reaches its host through the MessagePort `host`.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import type { CaptureSettings } from '../common/capture.js';
import type { TransportSpec } from '../common/transports.js';
import type { PosixFromProgram, TerminalInfo } from '../common/posix/messages.js';
import type { SocketAllowList } from '../common/posix/socket-policy.js';

export interface NodeWorkerData {
  program: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Which standard streams are terminals, and the terminal's size. */
  terminal: TerminalInfo;
  /** Where the program's sockets may go; undefined: anywhere (a trusted program). */
  sockets?: SocketAllowList;
  /** The program's link to the transport host (see ../common/host-service.ts). */
  host: MessagePort;
  /** A module loaded in the worker before the program starts (RunOptions.plugin). */
  plugin?: WorkerPlugin;
  /** The program's wasm compiled already (by an earlier run of the same file). */
  compiled?: WebAssembly.Module;
}

/** What a worker booted ahead of its program (../common/spare.ts) gets first: its program. */
export interface ProgramMessage {
  t: 'program';
  data: NodeWorkerData;
}

/** A module the program's worker loads before the program starts, and its port. */
export interface WorkerPlugin {
  /** Path of an ES module exporting `install(Module, endpoint)`. */
  module: string;
  /** Handed to `install` as a comlink endpoint. */
  port: MessagePort;
}

export interface NodeHostWorkerData {
  transport: TransportSpec;
  /** Where relative paths in the transport spec (device modules, images) start. */
  cwd: string;
  spinMicros?: number;
  /** Record the traffic (createHost/runProgram's `capture`, checked). */
  capture?: CaptureSettings;
  /** Deadline of one call into the transport (ms). */
  callTimeoutMs?: number;
  /** Log lines and audit events (HostEvent) go here. */
  events: MessagePort;
}

export type WorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  /** The program's wasm, compiled: runProgram() keeps it for the next run of the same file. */
  | { t: 'compiled'; module: WebAssembly.Module }
  /** `hostLost`: the program's worker saw its host go away under it (why). */
  | { t: 'exit'; code: number; hostLost?: string }
  /** what the program wrote to its stdout (1) or stderr (2) */
  | { t: 'write'; stream: 1 | 2; data: Uint8Array }
  | PosixFromProgram;
