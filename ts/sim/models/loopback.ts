/**
 * A vendor-class loopback device, the workhorse of the tests and benchmarks.
 *
 * Interface 0 (bulk and interrupt):
 *   EP 0x01 bulk OUT  -> echoed on EP 0x81 bulk IN
 *   EP 0x02 int  OUT  -> echoed on EP 0x82 int IN
 * Interface 1 (isochronous), alternate 1 only (alternate 0 has no bandwidth):
 *   EP 0x03 iso OUT   -> packets kept and returned on EP 0x83 iso IN
 *
 * Vendor requests (bmRequestType 0x40 OUT / 0xC0 IN, recipient device):
 *   0x01 OUT  WRITE_BUFFER   data kept in a 4 KiB control buffer
 *   0x02 IN   READ_BUFFER    returns the control buffer
 *   0x03 OUT  HALT           wIndex = endpoint: the device stalls it
 *   0x04 OUT  QUEUE_IN       data queued on IN endpoint wIndex as one message;
 *                            wValue bit 0 ends it with a zero-length packet
 *   0x05 OUT  ISO_FAULTS     wValue = packets of each iso IN transfer that fail
 *                            (bit n = packet n, status ERROR), wIndex = packets
 *                            that come back half length
 *   0x06 OUT  UNPLUG_AFTER   the device disconnects itself after wValue ms
 *   0x07 IN   COUNTERS       u32 LE: bytes received on EP 0x01, bytes queued on 0x81
 *   0x08 OUT  IN_SOURCE      wIndex = IN endpoint (0x81 or 0x82); wValue 1: once its
 *                            queue is empty the endpoint streams without end (every
 *                            IN transfer is filled at once with bytes i & 0xff, as a
 *                            device that always has data: a sensor, an SDR); wValue 0:
 *                            back to echo only. Reset by SET_CONFIGURATION.
 *   anything else stalls.
 * @module
 */
import { Capability } from '../descriptors.js';
import { SimDevice, type ControlReply, type SimDeviceOptions } from '../device.js';
import { copyBytes } from '../endpoint.js';
import type { SetupPacket } from '../../transports/transport.js';
import { TransferStatus } from '../../usb/constants.js';
import type { ModelOptionDeclarations } from './model-options.js';

/** Vendor ID of the loopback model (pid.codes test VID). */
export const LOOPBACK_VENDOR_ID = 0x1209;
/** Its product ID. */
export const LOOPBACK_PRODUCT_ID = 0x0001;

/** The loopback model's vendor requests (see the module's description). */
export const LoopbackRequest = {
  /** OUT: keep the data in the 4 KiB control buffer. */
  WRITE_BUFFER: 0x01,
  /** IN: return the control buffer. */
  READ_BUFFER: 0x02,
  /** OUT: halt endpoint wIndex. */
  HALT: 0x03,
  /** OUT: queue the data on IN endpoint wIndex as one message (wValue bit 0: end with a zero-length packet). */
  QUEUE_IN: 0x04,
  /** OUT: packets of each isochronous IN transfer to fail (wValue bits) or halve (wIndex bits). */
  ISO_FAULTS: 0x05,
  /** OUT: disconnect after wValue ms. */
  UNPLUG_AFTER: 0x06,
  /** IN: u32 bytes received on 0x01, u32 bytes queued on 0x81. */
  COUNTERS: 0x07,
  /** OUT: IN endpoint wIndex streams without end once its queue is empty (wValue 1), or echoes only (wValue 0). */
  IN_SOURCE: 0x08,
} as const;

/** Options of the loopback model. */
export interface LoopbackOptions extends SimDeviceOptions {
  /** Serial number string (default LB0001). */
  serialNumber?: string;
}

/** The options a `loopback` spec may give (`loopback:serialNumber=X`). */
export const LOOPBACK_OPTIONS: ModelOptionDeclarations = {
  serialNumber: { type: 'string', description: 'the serial number string (default LB0001)' },
};

/** The `loopback` model (see the module's description). */
export class LoopbackDevice extends SimDevice {
  private controlBuffer = new Uint8Array(0);
  private isoPackets: Uint8Array[] = [];
  private isoFailMask = 0;
  private isoShortMask = 0;
  private bulkReceived = 0;
  private bulkQueued = 0;

  constructor(options: LoopbackOptions = {}) {
    super({
      bcdUSB: 0x0201,
      vendorId: LOOPBACK_VENDOR_ID,
      productId: LOOPBACK_PRODUCT_ID,
      bcdDevice: 0x0100,
      manufacturer: 'libusb-wasm',
      product: 'Loopback',
      serialNumber: options.serialNumber ?? 'LB0001',
      configurations: [{
        value: 1,
        name: 'Loopback',
        maxPower: 50,
        interfaces: [
          {
            number: 0, class: 0xff, subclass: 0x00, protocol: 0x00, name: 'Bulk and interrupt loopback',
            // a class-specific descriptor, so programs can see `extra` bytes
            extra: new Uint8Array([5, 0x24, 0x01, 0x10, 0x01]),
            endpoints: [
              { address: 0x01, type: 'bulk', maxPacketSize: 512 },
              { address: 0x81, type: 'bulk', maxPacketSize: 512 },
              { address: 0x02, type: 'interrupt', maxPacketSize: 64, interval: 1 },
              { address: 0x82, type: 'interrupt', maxPacketSize: 64, interval: 1 },
            ],
          },
          { number: 1, alternate: 0, class: 0xff, name: 'Isochronous loopback (idle)' },
          {
            number: 1, alternate: 1, class: 0xff, name: 'Isochronous loopback',
            endpoints: [
              { address: 0x03, type: 'isochronous', maxPacketSize: 1024, interval: 1, isoAttributes: 0x04 },
              { address: 0x83, type: 'isochronous', maxPacketSize: 1024, interval: 1, isoAttributes: 0x04 },
            ],
          },
        ],
      }],
      capabilities: [
        Capability.usb20Extension(0x02),
        Capability.containerId(new Uint8Array([0x6c, 0x69, 0x62, 0x75, 0x73, 0x62, 0x2d, 0x77, 0x61, 0x73, 0x6d, 0, 0, 0, 0, 1])),
        Capability.webusb(0x01, 0),
      ],
    }, options);
  }

  protected override onConfigure(value: number): void {
    if (value !== 1) return;
    const bulkIn = this.endpoint(0x81);
    const interruptIn = this.endpoint(0x82);
    this.endpoint(0x01).onReceive = (data) => {
      this.bulkReceived += data.length;
      this.bulkQueued += data.length;
      bulkIn.send(data);
    };
    this.endpoint(0x02).onReceive = (data) => interruptIn.send(data);
    this.endpoint(0x03).onIsoOut = (packets) => {
      for (const p of packets) this.isoPackets.push(copyBytes(p));
      while (this.isoPackets.length > 1024) this.isoPackets.shift();
      return packets.map((p) => ({ status: TransferStatus.COMPLETED, length: p.length }));
    };
    this.endpoint(0x83).onIsoIn = (lengths) => Array.from(lengths, (want, i) => {
      if (this.isoFailMask & (1 << i)) return { status: TransferStatus.ERROR, data: new Uint8Array(0) };
      let data = this.isoPackets.shift() ?? pattern(want, i);
      if (this.isoShortMask & (1 << i)) data = data.subarray(0, want >> 1);
      return { status: TransferStatus.COMPLETED, data };
    });
  }

  protected override onControl(setup: SetupPacket, data: Uint8Array | undefined): ControlReply {
    const vendor = (setup.bmRequestType & 0x60) === 0x40 && (setup.bmRequestType & 0x1f) === 0;
    if (!vendor) return undefined;
    const dirIn = (setup.bmRequestType & 0x80) !== 0;
    switch (setup.bRequest) {
      case LoopbackRequest.WRITE_BUFFER:
        if (dirIn || !data || data.length > 4096) return 'stall';
        this.controlBuffer = copyBytes(data);
        return true;
      case LoopbackRequest.READ_BUFFER:
        return dirIn ? this.controlBuffer : 'stall';
      case LoopbackRequest.HALT:
        if (dirIn) return 'stall';
        try {
          this.endpoint(setup.wIndex & 0xff).halt();
        } catch {
          return 'stall';
        }
        return true;
      case LoopbackRequest.QUEUE_IN: {
        if (dirIn || !(setup.wIndex & 0x80)) return 'stall';
        try {
          this.endpoint(setup.wIndex & 0xff).send(data ?? new Uint8Array(0), { zlp: (setup.wValue & 1) !== 0 });
        } catch {
          return 'stall';
        }
        return true;
      }
      case LoopbackRequest.ISO_FAULTS:
        if (dirIn) return 'stall';
        this.isoFailMask = setup.wValue;
        this.isoShortMask = setup.wIndex;
        return true;
      case LoopbackRequest.UNPLUG_AFTER:
        if (dirIn) return 'stall';
        setTimeout(() => this.unplugSelf(), setup.wValue);
        return true;
      case LoopbackRequest.COUNTERS: {
        if (!dirIn) return 'stall';
        const out = new Uint8Array(8);
        const v = new DataView(out.buffer);
        v.setUint32(0, this.bulkReceived >>> 0, true);
        v.setUint32(4, this.bulkQueued >>> 0, true);
        return out;
      }
      case LoopbackRequest.IN_SOURCE: {
        const ep = setup.wIndex & 0xff;
        if (dirIn || (ep !== 0x81 && ep !== 0x82) || setup.wValue > 1) return 'stall';
        this.endpoint(ep).source = setup.wValue ? (room) => streamPattern(room) : undefined;
        return true;
      }
      default:
        return undefined;
    }
  }

  override inspect(): unknown {
    return { ...(super.inspect() as object), bulkReceived: this.bulkReceived, isoQueued: this.isoPackets.length };
  }
}

/** Bytes i & 0xff, from one shared read-only buffer (the endpoint keeps it without copying). */
let streamBuffer = new Uint8Array(0);
function streamPattern(length: number): Uint8Array {
  if (streamBuffer.length < length) streamBuffer = pattern(Math.max(length, 2 * streamBuffer.length, 4096), 0);
  return streamBuffer.subarray(0, length);
}

function pattern(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i) & 0xff;
  return out;
}
