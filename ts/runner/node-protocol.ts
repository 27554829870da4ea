/**
 * Messages between runProgram() (caller's thread) and the program's worker
 * in Node. Control of simulated devices goes through comlink on `control`.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import type { DeviceSpec } from '../sim/models/index.js';

/** Which transport the program's worker builds. */
export type TransportSpec =
  | { kind: 'sim'; devices?: (DeviceSpec | string)[]; deviceModule?: string }
  | { kind: 'node' };

export interface NodeWorkerData {
  program: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdin?: Uint8Array;
  transport: TransportSpec;
  control: MessagePort;
  /** Set when the program is the API shim: the typed JS API's server is exposed here. */
  api?: MessagePort;
  spinMicros?: number;
}

export type WorkerMessage =
  | { t: 'out'; s: string }
  | { t: 'err'; s: string }
  | { t: 'started' }
  | { t: 'exit'; code: number; devices?: unknown[] };
