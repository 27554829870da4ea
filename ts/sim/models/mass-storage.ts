/**
 * A USB mass-storage device (Bulk-Only Transport, SCSI transparent command
 * set) with a RAM disk: what libusb's `xusb` mass-storage test talks to.
 *
 * SCSI commands: INQUIRY, TEST UNIT READY, READ CAPACITY(10), REQUEST SENSE,
 * READ(10), WRITE(10), MODE SENSE(6), PREVENT ALLOW MEDIUM REMOVAL,
 * START STOP UNIT. Others fail with ILLEGAL REQUEST sense data, as a real
 * drive answers. Class requests: GET MAX LUN, Bulk-Only Mass Storage Reset.
 * An invalid CBW stalls both bulk endpoints until reset recovery (BOT 6.6.1).
 * @module
 */
import { SimDevice, type ControlReply, type SimDeviceOptions } from '../device.js';
import type { SetupPacket } from '../../transports/transport.js';
import type { ModelOptionDeclarations } from './model-options.js';

/** Vendor ID of the mass-storage model (pid.codes test VID). */
export const MSC_VENDOR_ID = 0x1209;
/** Its product ID. */
export const MSC_PRODUCT_ID = 0x0002;

const EP_IN = 0x81;
const EP_OUT = 0x02;

/** Options of the mass-storage model. */
export interface MassStorageOptions extends SimDeviceOptions {
  /** Disk size in blocks (default 2048, i.e. 1 MiB at 512-byte blocks). */
  blocks?: number;
  /** Block size in bytes (default 512). */
  blockSize?: number;
  /** Initial disk contents (padded or truncated to the disk size). */
  image?: Uint8Array;
  /** INQUIRY strings: 8, 16 and 4 characters (padded with spaces). */
  vendor?: string;
  /** INQUIRY product identification (16 characters). */
  product?: string;
  /** INQUIRY product revision (4 characters). */
  revision?: string;
  /** USB serial number string. */
  serialNumber?: string;
}

/** The options a `mass-storage` spec may give (`msc:blocks=4096,image=disk.img`). */
export const MASS_STORAGE_OPTIONS: ModelOptionDeclarations = {
  blocks: { type: 'integer', description: 'disk size in blocks (default 2048)', min: 1 },
  blockSize: { type: 'integer', description: 'block size in bytes (default 512)', min: 512, max: 65536, powerOfTwo: true },
  image: { type: 'file', description: 'initial disk contents (padded or cut to the disk size)' },
  vendor: { type: 'string', description: 'INQUIRY vendor identification', maxLength: 8 },
  product: { type: 'string', description: 'INQUIRY product identification', maxLength: 16 },
  revision: { type: 'string', description: 'INQUIRY product revision', maxLength: 4 },
  serialNumber: { type: 'string', description: 'USB serial number string' },
};

/** The largest disk the model keeps in memory. */
const MAX_DISK_BYTES = 1 << 30;

interface Sense { key: number; asc: number; ascq: number }
const NO_SENSE: Sense = { key: 0, asc: 0, ascq: 0 };

/** The `mass-storage` (`msc`) model (see the module's description). */
export class MassStorageDevice extends SimDevice {
  /** Block size in bytes. */
  readonly blockSize: number;
  /** Disk size in blocks. */
  readonly blocks: number;
  /** The disk. Tests read and write it directly. */
  readonly disk: Uint8Array;
  /** INQUIRY vendor identification. */
  readonly inquiryVendor: string;
  /** INQUIRY product identification. */
  readonly inquiryProduct: string;
  /** INQUIRY product revision. */
  readonly inquiryRevision: string;
  private sense: Sense = NO_SENSE;
  /** a WRITE(10) waiting for its data phase */
  private writing: { tag: number; offset: number; remaining: number; expected: number } | undefined;
  private commands = 0;

  constructor(options: MassStorageOptions = {}) {
    super({
      bcdUSB: 0x0200,
      vendorId: MSC_VENDOR_ID,
      productId: MSC_PRODUCT_ID,
      bcdDevice: 0x0100,
      manufacturer: 'libusb-wasm',
      product: 'Simulated Disk',
      serialNumber: options.serialNumber ?? '0123456789AB',
      configurations: [{
        value: 1,
        maxPower: 100,
        interfaces: [{
          number: 0, class: 0x08, subclass: 0x06, protocol: 0x50,
          endpoints: [
            { address: EP_IN, type: 'bulk', maxPacketSize: 512 },
            { address: EP_OUT, type: 'bulk', maxPacketSize: 512 },
          ],
        }],
      }],
    }, options);
    this.blockSize = options.blockSize ?? 512;
    this.blocks = options.blocks ?? 2048;
    if (this.blocks * this.blockSize > MAX_DISK_BYTES) {
      throw new RangeError(`mass-storage: a disk of ${this.blocks} blocks of ${this.blockSize} bytes does not fit in 1 GiB of memory`);
    }
    this.disk = new Uint8Array(this.blocks * this.blockSize);
    if (options.image) this.disk.set(options.image.subarray(0, this.disk.length));
    this.inquiryVendor = options.vendor ?? 'LIBUSBW';
    this.inquiryProduct = options.product ?? 'SIM DISK';
    this.inquiryRevision = options.revision ?? '1.00';
  }

  protected override onConfigure(value: number): void {
    if (value === 1) this.endpoint(EP_OUT).onReceive = (data) => this.onBulkOut(data);
  }

  protected override onControl(setup: SetupPacket): ControlReply {
    if ((setup.bmRequestType & 0x7f) !== 0x21 || (setup.wIndex & 0xff) !== 0) return undefined;
    if (setup.bRequest === 0xfe && setup.bmRequestType & 0x80) return new Uint8Array([0]); // GET MAX LUN
    if (setup.bRequest === 0xff && !(setup.bmRequestType & 0x80)) { // Bulk-Only Mass Storage Reset
      this.writing = undefined;
      this.endpoint(EP_IN).flush();
      return true;
    }
    return undefined;
  }

  private onBulkOut(data: Uint8Array): void | 'stall' {
    if (this.writing) return this.dataOut(data);
    if (data.length !== 31 || data[0] !== 0x55 || data[1] !== 0x53 || data[2] !== 0x42 || data[3] !== 0x43) {
      // not a valid CBW: stall both pipes until reset recovery
      this.endpoint(EP_IN).halt();
      return 'stall';
    }
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const tag = v.getUint32(4, true);
    const expected = v.getUint32(8, true);
    const toHost = (data[12] & 0x80) !== 0;
    const cdb = data.subarray(15, 15 + Math.min(data[14] & 0x1f, 16));
    this.commands++;
    this.execute(tag, expected, toHost, cdb);
  }

  private execute(tag: number, expected: number, toHost: boolean, cdb: Uint8Array): void {
    const be32 = (o: number) => ((cdb[o] << 24) | (cdb[o + 1] << 16) | (cdb[o + 2] << 8) | cdb[o + 3]) >>> 0;
    const be16 = (o: number) => (cdb[o] << 8) | cdb[o + 1];
    switch (cdb[0]) {
      case 0x00: // TEST UNIT READY
      case 0x1b: // START STOP UNIT
      case 0x1e: // PREVENT ALLOW MEDIUM REMOVAL
        return this.reply(tag, expected, undefined, 0);
      case 0x12: { // INQUIRY
        const d = new Uint8Array(36);
        d[1] = 0x80; // removable
        d[2] = 0x04; // SPC-2
        d[3] = 0x02; // response data format
        d[4] = 31;
        d.set(ascii(this.inquiryVendor, 8), 8);
        d.set(ascii(this.inquiryProduct, 16), 16);
        d.set(ascii(this.inquiryRevision, 4), 32);
        return this.reply(tag, expected, d.subarray(0, Math.min(36, cdb[4] || 36)), 0);
      }
      case 0x03: { // REQUEST SENSE
        const d = new Uint8Array(18);
        d[0] = 0x70;
        d[2] = this.sense.key;
        d[7] = 10;
        d[12] = this.sense.asc;
        d[13] = this.sense.ascq;
        this.sense = NO_SENSE;
        return this.reply(tag, expected, d.subarray(0, Math.min(18, cdb[4] || 18)), 0);
      }
      case 0x25: { // READ CAPACITY(10)
        const d = new Uint8Array(8);
        const v = new DataView(d.buffer);
        v.setUint32(0, this.blocks - 1);
        v.setUint32(4, this.blockSize);
        return this.reply(tag, expected, d, 0);
      }
      case 0x1a: // MODE SENSE(6): no pages, not write protected
        return this.reply(tag, expected, new Uint8Array([3, 0, 0, 0]), 0);
      case 0x28: { // READ(10)
        const lba = be32(2);
        const count = be16(7);
        if (!toHost || lba + count > this.blocks) return this.fail(tag, expected, { key: 0x05, asc: 0x21, ascq: 0 });
        const start = lba * this.blockSize;
        return this.reply(tag, expected, this.disk.subarray(start, start + count * this.blockSize), 0);
      }
      case 0x2a: { // WRITE(10)
        const lba = be32(2);
        const count = be16(7);
        if (toHost || lba + count > this.blocks) return this.fail(tag, expected, { key: 0x05, asc: 0x21, ascq: 0 });
        const bytes = Math.min(count * this.blockSize, expected);
        if (bytes === 0) return this.reply(tag, expected, undefined, 0);
        this.writing = { tag, offset: lba * this.blockSize, remaining: bytes, expected };
        return;
      }
      default:
        return this.fail(tag, expected, { key: 0x05, asc: 0x20, ascq: 0 }); // invalid command
    }
  }

  private dataOut(data: Uint8Array): void {
    const w = this.writing!;
    const n = Math.min(data.length, w.remaining);
    this.disk.set(data.subarray(0, n), w.offset);
    w.offset += n;
    w.remaining -= n;
    if (w.remaining === 0) {
      this.writing = undefined;
      this.csw(w.tag, 0, 0);
    }
  }

  /** Data phase (device to host) and status. */
  private reply(tag: number, expected: number, data: Uint8Array | undefined, status: number): void {
    let sent = 0;
    if (data && expected > 0) {
      const d = data.length > expected ? data.subarray(0, expected) : data;
      // a data phase shorter than the host asked for must end visibly
      this.endpoint(EP_IN).send(d, { zlp: d.length < expected });
      sent = d.length;
    }
    this.csw(tag, expected - sent, status);
  }

  private fail(tag: number, expected: number, sense: Sense): void {
    this.sense = sense;
    if (expected > 0) this.endpoint(EP_IN).send(new Uint8Array(0)); // end the data phase
    this.csw(tag, expected, 1);
  }

  private csw(tag: number, residue: number, status: number): void {
    const d = new Uint8Array(13);
    const v = new DataView(d.buffer);
    v.setUint32(0, 0x53425355, true); // "USBS"
    v.setUint32(4, tag, true);
    v.setUint32(8, residue, true);
    d[12] = status;
    this.endpoint(EP_IN).send(d);
  }

  override inspect(): unknown {
    return { ...(super.inspect() as object), blocks: this.blocks, blockSize: this.blockSize, commands: this.commands };
  }
}

function ascii(s: string, n: number): Uint8Array {
  const out = new Uint8Array(n).fill(0x20);
  for (let i = 0; i < Math.min(s.length, n); i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}
