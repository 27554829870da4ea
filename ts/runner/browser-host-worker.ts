/**
 * The transport host's dedicated Web Worker: it builds the webusb transport
 * (over this worker's own `navigator.usb`, which sees the devices the page
 * was granted with requestDevice(), or simulated devices behind its shape)
 * and serves every program the page connects (see host-service.ts). The
 * programs run in workers of their own, so killing one never takes the
 * host or the devices with it, and the page never blocks.
 *
 * Bundled as a classic script (dist/browser-host-worker.js).
 * @module
 */
import * as Comlink from 'comlink';
import { SimBus } from '../sim/bus.js';
import { createDevice } from '../sim/models/index.js';
import { SimUSB } from '../sim/webusb-shape.js';
import { WebUsbTransport } from '../transports/webusb.js';
import type { USBLike } from '../transports/webusb-types.js';
import { HostService, deferredService, type HostEvent } from './host-service.js';
import { SimControl } from './sim-control.js';
import type { BrowserHostInit } from './browser-protocol.js';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a Window). */
declare const self: {
  navigator: Navigator;
  onmessage: ((e: MessageEvent) => void) | null;
};

async function start(init: BrowserHostInit): Promise<HostService> {
  const log = (s: string) => init.events.postMessage({ t: 'log', s } satisfies HostEvent);
  let sim: SimControl | undefined;
  let transport: WebUsbTransport;
  if (init.transport.kind === 'sim') {
    const bus = new SimBus();
    const devices = init.transport.devices.map((d) => createDevice(d));
    for (const d of devices) bus.plug(d);
    sim = new SimControl(bus, devices);
    transport = new WebUsbTransport(new SimUSB(bus, { protectedClasses: init.transport.protectedClasses }), { log });
  } else {
    const usb = (self.navigator as Navigator & { usb?: USBLike }).usb;
    if (!usb) {
      throw new Error('navigator.usb is not available in this worker. WebUSB in dedicated workers needs Chrome or Edge 118 '
        + 'or newer, and a secure context (https, or http://localhost).');
    }
    transport = new WebUsbTransport(usb, { log });
  }
  return new HostService(transport, { sim, spinMicros: init.spinMicros, events: init.events });
}

self.onmessage = (e: MessageEvent) => {
  const init = e.data as BrowserHostInit;
  if (init?.t !== 'host') return;
  self.onmessage = null;
  const service = start(init);
  service.catch((err) => init.events.postMessage({ t: 'log', s: `libusb-wasm: the transport host could not start: ${err?.message ?? err}` } satisfies HostEvent));
  Comlink.expose(deferredService(service), init.control);
};
