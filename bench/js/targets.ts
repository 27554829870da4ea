/**
 * How the JS baseline (loops.ts) reaches the loopback device, one entry per
 * platform object the wasm path is measured on:
 * - `sim`: the sim transport's device object, the one the transport host
 *   calls;
 * - `webusb`: the same device behind navigator.usb's shape (SimUSB), what a
 *   web page's JS calls;
 * - `lean`: the leanest navigator.usb-shaped loopback (lean-usb.ts), the
 *   reference SimUSB is held to.
 * The webusb and lean objects deliver their results as the run's mode says
 * (microtasks, or one task per completion as Chrome does).
 * @module
 */
import { LoopbackDevice } from '../../ts/sim/models/index.js';
import { SimTransport } from '../../ts/sim/transport.js';
import { SimBus } from '../../ts/sim/bus.js';
import { SimUSB } from '../../ts/sim/webusb/sim-usb.js';
import type { ResultDelivery } from '../../ts/sim/webusb/delivery.js';
import { TransferStatus, TransferType, type TransferStatusCode } from '../../ts/usb/constants.js';
import type { SetupPacket, TransferCompletion } from '../../ts/transports/transport.js';
import type { USBControlTransferParameters, USBInTransferResultLike, USBOutTransferResultLike } from '../../ts/transports/webusb/types.js';
import { LeanUSB } from './lean-usb.js';
import type { Target } from './loops.js';

/** The platform objects the baseline can run on. */
export type TargetName = 'sim' | 'webusb' | 'lean' | 'usbip';

/** The device the loops run on. */
export async function makeTarget(name: TargetName, delivery: ResultDelivery, server?: string): Promise<Target> {
  switch (name) {
    case 'sim':
      return simTarget();
    case 'webusb': {
      const bus = new SimBus();
      bus.plug(new LoopbackDevice());
      return webusbTarget(new SimUSB(bus, { protectedClasses: [], resultDelivery: delivery }));
    }
    case 'lean':
      return webusbTarget(new LeanUSB({ delivery }));
    case 'usbip':
      if (!server) throw new Error('the usbip baseline needs the usbip-serve to reach (server: host:port)');
      // Node only (TCP): kept out of the browser's bundle (bench/chromium.mjs)
      return (await import('./usbip-target.js')).usbipTarget(server);
    default:
      throw new Error(`no JS baseline for '${String(name)}' (sim, webusb, lean, usbip)`);
  }
}

async function simTarget(): Promise<Target> {
  const transport = new SimTransport(new SimBus(), { devices: [new LoopbackDevice()] });
  const [device] = await transport.getDevices();
  await device.open();
  await device.claimInterface(0);
  const { CONTROL, BULK } = TransferType;
  return {
    controlIn: (setup, into) => device.transfer({ type: CONTROL, endpoint: 0x80, setup, length: setup.wLength, into, zeroLengthPacket: false, timeout: 5000 }),
    controlOut: (setup) => device.transfer({ type: CONTROL, endpoint: 0x00, setup, length: 0, zeroLengthPacket: false, timeout: 5000 }),
    bulkOut: (endpoint, data) => device.transfer({ type: BULK, endpoint, data, length: data.length, zeroLengthPacket: false, timeout: 5000 }),
    bulkIn: (endpoint, length, into) => device.transfer({ type: BULK, endpoint, length, into, zeroLengthPacket: false, timeout: 5000 }),
  };
}

/** What the loops call on a navigator.usb-shaped device. */
interface WebUsbCalls {
  open(): Promise<void>;
  claimInterface(n: number): Promise<void>;
  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResultLike>;
  controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResultLike>;
  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResultLike>;
  transferOut(endpointNumber: number, data: Uint8Array<ArrayBuffer>): Promise<USBOutTransferResultLike>;
}

async function webusbTarget(usb: { getDevices(): Promise<unknown[]> }): Promise<Target> {
  const [d] = (await usb.getDevices()) as WebUsbCalls[];
  await d.open();
  await d.claimInterface(0);
  const status = (s: string): TransferStatusCode => (s === 'ok' ? TransferStatus.COMPLETED : s === 'stall' ? TransferStatus.STALL : TransferStatus.OVERFLOW);
  const inResult = (r: USBInTransferResultLike): TransferCompletion => ({
    status: status(r.status), data: r.data ? new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) : undefined,
  });
  const params = (s: SetupPacket): USBControlTransferParameters => ({
    requestType: (['standard', 'class', 'vendor'] as const)[(s.bmRequestType >> 5) & 3],
    recipient: (['device', 'interface', 'endpoint', 'other'] as const)[s.bmRequestType & 3],
    request: s.bRequest, value: s.wValue, index: s.wIndex,
  });
  return {
    controlIn: async (setup) => inResult(await d.controlTransferIn(params(setup), setup.wLength)),
    controlOut: async (setup) => {
      const r = await d.controlTransferOut(params(setup));
      return { status: status(r.status), bytesWritten: r.bytesWritten };
    },
    bulkOut: async (endpoint, data) => {
      const r = await d.transferOut(endpoint & 0x0f, data as Uint8Array<ArrayBuffer>);
      return { status: status(r.status), bytesWritten: r.bytesWritten };
    },
    bulkIn: async (endpoint, length) => inResult(await d.transferIn(endpoint & 0x0f, length)),
  };
}
