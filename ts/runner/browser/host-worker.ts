/**
 * The transport host's dedicated Web Worker: it builds the transport with
 * the shared factory (../common/transports.ts) — WebUSB over this worker's
 * own `navigator.usb`, which sees the devices the page was granted with
 * requestDevice(), or simulated devices — and serves every program the page
 * connects (see ../common/host-service.ts). The programs run in workers of
 * their own, so killing one never takes the host or the devices with it,
 * and the page never blocks.
 *
 * Bundled as a classic script (dist/browser-host-worker.js).
 * @module
 */
import * as Comlink from 'comlink';
import type { USBLike } from '../../transports/webusb/types.js';
import { deferredService, startService, type HostEvent } from '../common/host-service.js';
import { memoryCapture } from '../common/capture.js';
import { buildTransport } from '../common/transports.js';
import type { BrowserHostInit, WorkerLoaded } from './messages.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator & { usb?: USBLike };
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

self.postMessage({ t: 'loaded' } satisfies WorkerLoaded);

self.onmessage = (e: MessageEvent) => {
  const init = e.data as BrowserHostInit;
  if (init?.t !== 'host') return;
  self.onmessage = null;
  const log = (s: string) => init.events.postMessage({ t: 'log', s } satisfies HostEvent);
  const service = startService(() => buildTransport(init.transport, { log, navigatorUsb: self.navigator.usb }),
    () => (init.capture ? memoryCapture(init.capture, log) : undefined),
    { spinMicros: init.spinMicros, callTimeoutMs: init.callTimeoutMs, events: init.events });
  // a failure to start reaches the page as the answer to its first call (RemoteHost reports it)
  Comlink.expose(deferredService(service), init.control);
};
