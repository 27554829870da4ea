/**
 * The transport host's worker in Node (a worker_thread): it builds the
 * transport (simulated devices live here too) and serves every program
 * connected to it (see host-service.ts). Programs run in workers of their
 * own, so killing one never takes the host or the devices with it.
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { SimBus } from '../sim/bus.js';
import type { SimDevice } from '../sim/device.js';
import { createDevice, parseDeviceSpec, type DeviceSpec } from '../sim/models/index.js';
import { SimTransport } from '../transports/sim.js';
import { WebUsbTransport } from '../transports/webusb.js';
import type { USBLike } from '../transports/webusb-types.js';
import { SimUSB } from '../sim/webusb-shape.js';
import type { Transport } from '../transports/transport.js';
import { HostService, deferredService, type HostEvent } from './host-service.js';
import { SimControl } from './sim-control.js';
import type { NodeHostWorkerData } from './node-protocol.js';

const data = workerData as NodeHostWorkerData;
const events = data.events as MessagePort;
const log = (s: string) => events.postMessage({ t: 'log', s } satisfies HostEvent);

async function simDevices(specs: (DeviceSpec | string)[], deviceModule: string | undefined): Promise<SimDevice[]> {
  const devices = specs.map((s) => {
    const spec = typeof s === 'string' ? parseDeviceSpec(s) : s;
    const options = { ...spec.options };
    if (typeof options.image === 'string') options.image = new Uint8Array(fs.readFileSync(path.resolve(data.cwd, options.image)));
    return createDevice({ ...spec, options });
  });
  if (deviceModule) {
    const mod = await import(path.resolve(data.cwd, deviceModule));
    const make = mod.default ?? mod.devices;
    if (typeof make !== 'function') throw new Error(`${deviceModule} must export a default function returning SimDevice objects`);
    devices.push(...(await make()));
  }
  return devices;
}

async function createTransport(): Promise<{ transport: Transport; control?: SimControl }> {
  const spec = data.transport;
  if (spec.kind === 'sim') {
    const bus = new SimBus();
    const devices = await simDevices(spec.devices ?? [], spec.deviceModule);
    const transport = new SimTransport(bus, { devices });
    return { transport, control: new SimControl(bus, devices) };
  }
  if (spec.kind === 'node') {
    const { createNodeTransport } = await import('../transports/node/index.js');
    return { transport: await createNodeTransport({ log }) };
  }
  if (spec.kind === 'webusb') {
    if (spec.usbModule) return { transport: new WebUsbTransport(await loadUsbModule(spec.usbModule), { log }) };
    // the simulated devices behind navigator.usb's shape
    const bus = new SimBus();
    const devices = await simDevices(spec.devices ?? [], spec.deviceModule);
    for (const d of devices) bus.plug(d);
    const usb = new SimUSB(bus, { protectedClasses: spec.protectedClasses });
    return { transport: new WebUsbTransport(usb, { log }), control: new SimControl(bus, devices) };
  }
  throw new Error(`transport '${(spec as { kind: string }).kind}' is not available in this build`);
}

/** An object of navigator.usb's shape from a module: its default export, or what that function returns. */
async function loadUsbModule(file: string): Promise<USBLike> {
  const mod = await import(path.resolve(data.cwd, file));
  const made = typeof mod.default === 'function' ? await mod.default() : mod.default;
  if (!made || typeof made.getDevices !== 'function' || typeof made.addEventListener !== 'function') {
    throw new Error(`${file} must export (as default) an object of navigator.usb's shape, or a function returning one`);
  }
  return made as USBLike;
}

/** Exposed before the transport exists: calls wait for it, and a failure reaches every caller. */
const service: Promise<HostService> = createTransport().then(({ transport, control }) =>
  new HostService(transport, { sim: control, spinMicros: data.spinMicros, events }));
service.catch((e) => log(`libusb-wasm: the transport host could not start: ${e?.message ?? e}`));

Comlink.expose(deferredService(service), nodeEndpoint(parentPort!));
