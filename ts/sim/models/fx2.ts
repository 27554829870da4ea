/**
 * A Cypress EZ-USB FX2LP before its firmware is loaded: what libusb's
 * `fxload -t fx2lp` talks to. Vendor request 0xA0 ("firmware load", done by
 * the chip's boot ROM) reads and writes the 8051's memory; writing 1 to the
 * CPUCS register at 0xE600 holds the CPU in reset, writing 0 starts it.
 *
 * The model records every byte written, so a test can check the image
 * arrived byte for byte ({@link Fx2Device.writtenSegments}).
 * @module
 */
import { SimDevice, type ControlReply, type SimDeviceOptions } from '../device.js';
import type { SetupPacket } from '../../transports/transport.js';

/** Cypress's vendor ID. */
export const FX2_VENDOR_ID = 0x04b4;
/** The FX2LP boot ROM's product ID. */
export const FX2_PRODUCT_ID = 0x8613;
/** Address of the CPUCS register (bit 0 holds the 8051 in reset). */
export const FX2_CPUCS = 0xe600;
/** On-chip RAM the boot ROM's 0xA0 request can reach on an FX2LP. */
const INTERNAL_RAM = [[0x0000, 0x4000], [0xe000, 0xe200], [FX2_CPUCS, FX2_CPUCS + 1]] as const;

export class Fx2Device extends SimDevice {
  /** The 64 KiB address space of the 8051. */
  readonly memory = new Uint8Array(0x10000);
  private readonly written = new Uint8Array(0x10000);
  /** True while the CPU runs (CPUCS bit 0 clear). */
  cpuRunning = false;
  /** How many times the CPU was started. */
  starts = 0;

  constructor(options: SimDeviceOptions = {}) {
    super({
      bcdUSB: 0x0200,
      deviceClass: 0xff, deviceSubclass: 0xff, deviceProtocol: 0xff,
      vendorId: FX2_VENDOR_ID,
      productId: FX2_PRODUCT_ID,
      bcdDevice: 0xa001,
      configurations: [{
        value: 1,
        interfaces: [{
          number: 0, class: 0xff, subclass: 0xff, protocol: 0xff,
          endpoints: [
            { address: 0x01, type: 'bulk', maxPacketSize: 512 },
            { address: 0x81, type: 'bulk', maxPacketSize: 512 },
          ],
        }],
      }],
    }, options);
    this.memory[FX2_CPUCS] = 1; // the boot ROM holds the CPU in reset
  }

  protected override onControl(setup: SetupPacket, data: Uint8Array | undefined): ControlReply {
    if ((setup.bmRequestType & 0x7f) !== 0x40 || setup.bRequest !== 0xa0) return undefined;
    const address = setup.wValue;
    if (setup.wIndex !== 0) return 'stall'; // no external memory without a second-stage loader
    const length = setup.bmRequestType & 0x80 ? setup.wLength : (data?.length ?? 0);
    if (!inInternalRam(address, length)) return 'stall';
    if (setup.bmRequestType & 0x80) return this.memory.slice(address, address + length);
    if (!data) return true;
    this.memory.set(data, address);
    this.written.fill(1, address, address + data.length);
    if (address <= FX2_CPUCS && address + data.length > FX2_CPUCS) {
      const run = (this.memory[FX2_CPUCS] & 1) === 0;
      if (run && !this.cpuRunning) this.starts++;
      this.cpuRunning = run;
    }
    return true;
  }

  /** Contiguous runs of written memory (CPUCS excluded), for comparison with an image. */
  writtenSegments(): {
    /** Where the run starts. */
    address: number;
    /** The bytes written there. */
    data: Uint8Array;
  }[] {
    const out: { address: number; data: Uint8Array }[] = [];
    for (let a = 0; a < 0x10000;) {
      if (!this.written[a] || a === FX2_CPUCS) {
        a++;
        continue;
      }
      const start = a;
      while (a < 0x10000 && this.written[a] && a !== FX2_CPUCS) a++;
      out.push({ address: start, data: this.memory.slice(start, a) });
    }
    return out;
  }

  override inspect(): unknown {
    return {
      ...(super.inspect() as object),
      cpuRunning: this.cpuRunning,
      starts: this.starts,
      segments: this.writtenSegments().map((s) => ({ address: s.address, data: Array.from(s.data) })),
    };
  }
}

function inInternalRam(address: number, length: number): boolean {
  return INTERNAL_RAM.some(([lo, hi]) => address >= lo && address + length <= hi);
}
