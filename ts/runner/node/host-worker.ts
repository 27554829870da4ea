/**
 * The transport host's worker in Node (a worker_thread): it builds the
 * transport (simulated devices live here too) with the shared factory
 * (../common/transports.ts) and serves every program connected to it (see
 * ../common/host-service.ts). Programs run in workers of their own, so
 * killing one never takes the host or the devices with it.
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { deferredService, startService, type HostEvent, type HostService } from '../common/host-service.js';
import { buildTransport } from '../common/transports.js';
import { memoryCapture, type CaptureSettings, type HostCapture } from '../common/capture.js';
import { fileCapture } from './capture-file.js';
import type { NodeHostWorkerData } from './messages.js';

const data = workerData as NodeHostWorkerData;
const events = data.events as MessagePort;
const log = (s: string) => events.postMessage({ t: 'log', s } satisfies HostEvent);

/** Exposed before the transport exists: calls wait for it, and a failure reaches every caller. */
const service: Promise<HostService> = startService(() => buildTransport(data.transport, {
  log,
  readFile: (file) => new Uint8Array(fs.readFileSync(path.resolve(data.cwd, file))),
  importModule: (file) => import(pathToFileURL(path.resolve(data.cwd, file)).href),
  nodeTransport: async (logTo) => (await import('../../transports/node/index.js')).createNodeTransport({ log: logTo }),
}), () => startCapture(data.capture), { spinMicros: data.spinMicros, callTimeoutMs: data.callTimeoutMs, events });
// a failure to start reaches the embedder as the answer to its first call (RemoteHost reports it)

/** The capture the embedder asked for: into its file, or in memory. */
function startCapture(settings: CaptureSettings | undefined): HostCapture | undefined {
  if (!settings) return undefined;
  return settings.file ? fileCapture({ ...settings, file: settings.file }, log) : memoryCapture(settings, log);
}

Comlink.expose(deferredService(service), nodeEndpoint(parentPort!));
