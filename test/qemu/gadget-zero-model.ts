/**
 * The simulated twin of the real-kernel tests' Gadget Zero (GADGET_ZERO in
 * guest/gadget.mjs: Linux's configfs SourceSink and Loopback functions on
 * dummy_hcd), written with the public sim framework. The WebUSB comparison
 * (chrome.test.ts) runs the same plain WebUSB script against Chromium with
 * the real gadget and against SimUSB with this model, so every behaviour the
 * script touches follows what the kernel's functions do:
 *
 * - configuration 1, SourceSink: bulk IN 0x81 always has data, bytes
 *   (i % 512) % 63 in requests of 4096; bulk OUT 0x02 takes data in requests
 *   of 4096 bytes (a short packet ends one) and, when a finished request held
 *   a byte other than that pattern, halts (after taking it, as the kernel's
 *   f_sourcesink does); vendor request 0x5b (OUT, wValue = wIndex = 0, at
 *   most 4096 bytes) fills the control buffer, 0x5c (IN) reads it back.
 * - configuration 2, Loopback: what comes in on bulk OUT 0x02 goes back out
 *   on bulk IN 0x81, packet for packet (its requests are 512 bytes).
 * - other requests stall, as a composite gadget's do.
 * @module
 */
import { SimDevice, type SetupPacket } from '../../dist/sim.js';

/** SourceSink's control buffer (the gadget's ep0 request buffer). */
const EP0_BUFFER = 4096;
/** SourceSink's bulk request length (its bulk_buflen). */
const SOURCE_REQUEST = 4096;
const PACKET = 512;

const sourceByte = (i: number) => (i % PACKET) % 63;
const SOURCE_DATA = Uint8Array.from({ length: SOURCE_REQUEST }, (_, i) => sourceByte(i));

export class GadgetZero extends SimDevice {
  private controlBuffer = new Uint8Array(EP0_BUFFER);
  /** The sink's request being filled: bytes so far, and whether one was wrong. */
  private sinkFill = 0;
  private sinkBad = false;

  constructor() {
    super({
      vendorId: 0x1209, productId: 0x000a, bcdDevice: 0x0100, bcdUSB: 0x0200,
      manufacturer: 'libusb-wasm', product: 'Gadget Zero', serialNumber: 'GZ0001',
      configurations: [
        {
          value: 1, name: 'source/sink', maxPower: 50,
          interfaces: [{ number: 0, class: 0xff, endpoints: bulkPair() }],
        },
        {
          value: 2, name: 'loopback', maxPower: 50,
          interfaces: [{ number: 0, class: 0xff, name: 'loop input to output', endpoints: bulkPair() }],
        },
      ],
    });
  }

  protected override onConfigure(value: number): void {
    this.sinkFill = 0;
    this.sinkBad = false;
    if (value === 1) {
      this.endpoint(0x81).source = () => SOURCE_DATA;
      this.endpoint(0x02).onReceive = (data, ep) => this.sink(data, () => ep.halt());
    } else if (value === 2) {
      const back = this.endpoint(0x81);
      this.endpoint(0x02).onReceive = (data) => back.send(data);
    }
  }

  protected override onControl(setup: SetupPacket, data: Uint8Array | undefined) {
    if (this.configuration !== 1 || setup.wValue !== 0 || setup.wIndex !== 0 || setup.wLength > EP0_BUFFER) return undefined;
    if (setup.bmRequestType === 0x40 && setup.bRequest === 0x5b) {
      this.controlBuffer.set(data ?? new Uint8Array(0));
      return true;
    }
    if (setup.bmRequestType === 0xc0 && setup.bRequest === 0x5c) return this.controlBuffer.slice(0, setup.wLength);
    return undefined;
  }

  /**
   * One OUT transfer into the sink: it fills requests of 4096 bytes; a
   * request ends when full or at a short packet, and one that held a wrong
   * byte halts the endpoint once the transfer has been taken.
   */
  private sink(data: Uint8Array, halt: () => void): void {
    let halted = false;
    for (let off = 0; off < data.length || (off === 0 && data.length === 0); off += PACKET) {
      const packet = data.subarray(off, off + PACKET);
      for (let i = 0; i < packet.length; i++) if (packet[i] !== sourceByte(i)) this.sinkBad = true;
      this.sinkFill += packet.length;
      if (packet.length < PACKET || this.sinkFill >= SOURCE_REQUEST) {
        halted ||= this.sinkBad;
        this.sinkFill = 0;
        this.sinkBad = false;
      }
      if (data.length === 0) break;
    }
    if (halted) queueMicrotask(halt);
  }
}

function bulkPair() {
  return [
    { address: 0x81, type: 'bulk' as const, maxPacketSize: PACKET },
    { address: 0x02, type: 'bulk' as const, maxPacketSize: PACKET },
  ];
}
