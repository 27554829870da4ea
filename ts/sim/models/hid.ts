/**
 * HID devices. {@link HidDevice} is the class protocol of USB HID 1.11 on
 * top of the simulated-device framework: the HID descriptor among the
 * interface's class-specific bytes (libusb's `extra`), the report descriptor
 * from GET_DESCRIPTOR(REPORT) addressed to the interface, the class requests
 * GET_REPORT, SET_REPORT, GET_IDLE, SET_IDLE, GET_PROTOCOL and SET_PROTOCOL,
 * input reports on an interrupt IN endpoint and output reports on an
 * interrupt OUT endpoint (or SET_REPORT when there is none). Report sizes
 * come from the report descriptor, so a report of the wrong length is
 * refused as a real device would refuse it.
 *
 * {@link SimpleHidDemo} (model `hid`) speaks the protocol of Microchip's
 * "Simple HID Device Demo" firmware at 04d8:003f, which is what hidapi's
 * `hidtest` program opens and talks to:
 *   report 1 OUT [0x80]        toggle the LEDs
 *   report 1 OUT [0x81]        answer with input report 1 [0x81, button]
 *                              (button: 0x00 pressed, 0x01 released)
 *   report 1 OUT [0x37]        answer with input report 1 [0x37, pot lo, pot hi]
 *   feature report 2           16 bytes the host may set and read back
 * @module
 */
import { SimDevice, type ControlReply, type SimDeviceOptions } from '../device.js';
import type { DeviceSpec as DescriptorDeviceSpec } from '../descriptors.js';
import type { SetupPacket } from '../../transports/transport.js';
import { DescriptorType, RequestType, Speed, StandardRequest } from '../../usb/constants.js';
import type { ModelOptionDeclarations } from './model-options.js';

/** HID class requests (bRequest). */
export const HidRequest = {
  /** Read a report through endpoint 0. */
  GET_REPORT: 0x01,
  /** Read the idle rate of a report. */
  GET_IDLE: 0x02,
  /** Read the protocol (boot devices). */
  GET_PROTOCOL: 0x03,
  /** Send a report through endpoint 0. */
  SET_REPORT: 0x09,
  /** Set how often an unchanged report is repeated (4 ms units; 0: only on change). */
  SET_IDLE: 0x0a,
  /** Select the boot (0) or report (1) protocol (boot devices). */
  SET_PROTOCOL: 0x0b,
} as const;

/** Report types, the high byte of wValue in GET_REPORT/SET_REPORT. */
export const HidReportType = {
  /** Device to host, normally on the interrupt IN endpoint. */
  INPUT: 1,
  /** Host to device, on the interrupt OUT endpoint or SET_REPORT. */
  OUTPUT: 2,
  /** Either way, through endpoint 0 only. */
  FEATURE: 3,
} as const;
/** One of {@link HidReportType}. */
export type HidReportTypeCode = (typeof HidReportType)[keyof typeof HidReportType];

/** Report sizes declared by a report descriptor. */
export interface HidReportLayout {
  /** True when the descriptor declares report IDs (reports then start with their ID byte). */
  usesReportIds: boolean;
  /** Bytes of each report on the wire, including the report ID byte when IDs are used. Keyed by `${type}:${id}`. */
  sizes: Map<string, number>;
}

/**
 * Read the report sizes out of a HID report descriptor (HID 1.11, 6.2.2):
 * for every Input, Output and Feature main item, Report Size x Report Count
 * bits are added to the report selected by the current Report ID.
 */
export function parseReportDescriptor(descriptor: Uint8Array): HidReportLayout {
  const bits = new Map<string, number>();
  let usesReportIds = false;
  let reportId = 0;
  let reportSize = 0;
  let reportCount = 0;
  const stack: [number, number, number][] = [];
  for (let i = 0; i < descriptor.length;) {
    const prefix = descriptor[i];
    if (prefix === 0xfe) {
      // long item: bDataSize, bLongItemTag, data
      i += 3 + (descriptor[i + 1] ?? 0);
      continue;
    }
    const size = [0, 1, 2, 4][prefix & 3];
    let value = 0;
    for (let b = 0; b < size; b++) value |= (descriptor[i + 1 + b] ?? 0) << (8 * b);
    value >>>= 0;
    const type = (prefix >> 2) & 3;
    const tag = prefix >> 4;
    if (type === 0 && (tag === 0x8 || tag === 0x9 || tag === 0xb)) {
      const reportType = tag === 0x8 ? HidReportType.INPUT : tag === 0x9 ? HidReportType.OUTPUT : HidReportType.FEATURE;
      const key = `${reportType}:${reportId}`;
      bits.set(key, (bits.get(key) ?? 0) + reportSize * reportCount);
    } else if (type === 1) {
      if (tag === 0x7) reportSize = value;
      else if (tag === 0x9) reportCount = value;
      else if (tag === 0x8) {
        reportId = value & 0xff;
        usesReportIds = true;
      } else if (tag === 0xa) stack.push([reportId, reportSize, reportCount]);
      else if (tag === 0xb && stack.length) [reportId, reportSize, reportCount] = stack.pop()!;
    }
    i += 1 + size;
  }
  const sizes = new Map<string, number>();
  for (const [key, n] of bits) sizes.set(key, Math.ceil(n / 8) + (usesReportIds ? 1 : 0));
  return { usesReportIds, sizes };
}

/** The 9-byte HID descriptor (HID 1.11, 6.2.1) for one report descriptor. */
export function hidDescriptor(reportDescriptorLength: number, countryCode = 0): Uint8Array {
  return new Uint8Array([9, DescriptorType.HID, 0x11, 0x01, countryCode, 1, DescriptorType.REPORT,
    reportDescriptorLength & 0xff, reportDescriptorLength >> 8]);
}

/** What a {@link HidDevice} is made of. */
export interface HidDeviceSpec
  extends Pick<DescriptorDeviceSpec, 'vendorId' | 'productId' | 'bcdDevice' | 'manufacturer' | 'product' | 'serialNumber'> {
  /** The report descriptor; report sizes are read from it. */
  reportDescriptor: Uint8Array;
  /** bInterfaceSubClass: 1 for boot devices (keyboards, mice), else 0. */
  subclass?: number;
  /** bInterfaceProtocol: 1 keyboard, 2 mouse (boot devices), else 0. */
  protocol?: number;
  /** wMaxPacketSize of the interrupt endpoints (default 64). */
  maxPacketSize?: number;
  /** bInterval of the interrupt endpoints in ms (default 1). */
  interval?: number;
  /** Give the interface an interrupt OUT endpoint (default true); without one, output reports use SET_REPORT. */
  outEndpoint?: boolean;
}

/** Options shared by the HID models. */
export interface HidDeviceOptions extends SimDeviceOptions {
  /**
   * Bind the `usbhid` kernel driver to the interface while plugged, as Linux
   * does (default true): programs detach it to claim the interface.
   */
  kernelDriver?: boolean;
}

const IN_EP = 0x81;
const OUT_EP = 0x01;

/** A USB HID device with one HID interface (number 0). Subclass it and override the `on...` hooks. */
export class HidDevice extends SimDevice {
  /** The report descriptor GET_DESCRIPTOR(REPORT) returns. */
  readonly reportDescriptor: Uint8Array;
  /** Report sizes, from the report descriptor. */
  readonly layout: HidReportLayout;
  /** The HID protocol: 1 report protocol (default), 0 boot protocol (boot devices only). */
  hidProtocol = 1;
  private readonly hidSubclass: number;
  private readonly hasOutEndpoint: boolean;
  private readonly idleRates = new Map<number, number>();
  private readonly idleTimers = new Map<number, ReturnType<typeof setInterval>>();
  private readonly lastInput = new Map<number, Uint8Array>();

  constructor(spec: HidDeviceSpec, options: HidDeviceOptions = {}) {
    const mps = spec.maxPacketSize ?? 64;
    const interval = spec.interval ?? 1;
    const device: DescriptorDeviceSpec = {
      bcdUSB: 0x0200,
      vendorId: spec.vendorId,
      productId: spec.productId,
      bcdDevice: spec.bcdDevice ?? 0x0100,
      maxPacketSize0: 8,
      manufacturer: spec.manufacturer,
      product: spec.product,
      serialNumber: spec.serialNumber,
      configurations: [{
        value: 1,
        attributes: 0x00,
        maxPower: 50,
        interfaces: [{
          number: 0, class: 0x03, subclass: spec.subclass ?? 0, protocol: spec.protocol ?? 0,
          extra: hidDescriptor(spec.reportDescriptor.length),
          endpoints: [
            { address: IN_EP, type: 'interrupt', maxPacketSize: mps, interval },
            ...(spec.outEndpoint === false ? [] : [{ address: OUT_EP, type: 'interrupt' as const, maxPacketSize: mps, interval }]),
          ],
        }],
      }],
    };
    const kernelDrivers = options.kernelDrivers ?? (options.kernelDriver === false ? undefined : { 0: 'usbhid' });
    super(device, { speed: Speed.FULL, ...options, kernelDrivers });
    this.reportDescriptor = spec.reportDescriptor;
    this.layout = parseReportDescriptor(spec.reportDescriptor);
    this.hidSubclass = spec.subclass ?? 0;
    this.hasOutEndpoint = spec.outEndpoint !== false;
  }

  /** Bytes of a report on the wire (with its ID byte when IDs are used); undefined if the descriptor has no such report. */
  reportSize(type: HidReportTypeCode, id: number): number | undefined {
    return this.layout.sizes.get(`${type}:${id}`);
  }

  /**
   * Send an input report on the interrupt IN endpoint. `data` excludes the
   * report ID; it is padded or cut to the declared report size.
   */
  sendInputReport(id: number, data: ArrayLike<number>): void {
    const report = this.frame(HidReportType.INPUT, id, data);
    this.lastInput.set(id, report);
    if (this.configuration) this.endpoint(IN_EP).send(report);
  }

  // ---- hooks for models ----------------------------------------------------

  /** An output report arrived (interrupt OUT or SET_REPORT). `data` excludes the report ID. */
  protected onOutputReport(id: number, data: Uint8Array): void {
    void id;
    void data;
  }

  /** SET_REPORT(FEATURE). Return false to refuse it (STALL). `data` excludes the report ID. */
  protected onSetFeature(id: number, data: Uint8Array): boolean {
    void id;
    void data;
    return false;
  }

  /** GET_REPORT(FEATURE): the report's data without its ID, or undefined to STALL. */
  protected onGetFeature(id: number): ArrayLike<number> | undefined {
    void id;
    return undefined;
  }

  /** GET_REPORT(INPUT): by default the last input report sent (zeros before any). */
  protected onGetInput(id: number): ArrayLike<number> | undefined {
    const last = this.lastInput.get(id);
    return last ? last.subarray(this.layout.usesReportIds ? 1 : 0) : [];
  }

  // ---- the HID class protocol ----------------------------------------------

  protected override onConfigure(value: number): void {
    this.stopIdleTimers();
    if (value === 0) return;
    if (this.hasOutEndpoint) this.endpoint(OUT_EP).onReceive = (data) => this.receiveOutput(data);
  }

  protected override onReset(): 'same' {
    this.stopIdleTimers();
    this.hidProtocol = 1;
    return 'same';
  }

  protected override onControl(setup: SetupPacket, data: Uint8Array | undefined): ControlReply {
    const type = setup.bmRequestType & RequestType.TYPE_MASK;
    const recipient = setup.bmRequestType & RequestType.RECIPIENT_MASK;
    const dirIn = (setup.bmRequestType & RequestType.DIR_IN) !== 0;
    if (recipient !== RequestType.RECIPIENT_INTERFACE || (setup.wIndex & 0xff) !== 0 || !this.configuration) return 'stall';

    if (type === RequestType.TYPE_STANDARD && setup.bRequest === StandardRequest.GET_DESCRIPTOR && dirIn) {
      const descriptorType = setup.wValue >> 8;
      if (descriptorType === DescriptorType.REPORT) return this.reportDescriptor;
      if (descriptorType === DescriptorType.HID) return hidDescriptor(this.reportDescriptor.length);
      return 'stall';
    }
    if (type !== RequestType.TYPE_CLASS) return 'stall';

    const reportType = (setup.wValue >> 8) as HidReportTypeCode;
    const reportId = setup.wValue & 0xff;
    switch (setup.bRequest) {
      case HidRequest.GET_REPORT: {
        if (!dirIn) return 'stall';
        const size = this.reportSize(reportType, reportId);
        if (size === undefined) return 'stall';
        const body = reportType === HidReportType.FEATURE ? this.onGetFeature(reportId)
          : reportType === HidReportType.INPUT ? this.onGetInput(reportId) : undefined;
        return body === undefined ? 'stall' : this.frame(reportType, reportId, body);
      }
      case HidRequest.SET_REPORT: {
        if (dirIn || !data) return 'stall';
        const body = this.unframe(reportType, reportId, data);
        if (!body) return 'stall';
        if (reportType === HidReportType.OUTPUT) {
          this.onOutputReport(reportId, body);
          return true;
        }
        if (reportType === HidReportType.FEATURE) return this.onSetFeature(reportId, body) ? true : 'stall';
        return 'stall';
      }
      case HidRequest.GET_IDLE:
        return dirIn ? new Uint8Array([this.idleRates.get(setup.wValue & 0xff) ?? 0]) : 'stall';
      case HidRequest.SET_IDLE:
        if (dirIn) return 'stall';
        this.setIdle(setup.wValue & 0xff, setup.wValue >> 8);
        return true;
      case HidRequest.GET_PROTOCOL:
        if (!dirIn || this.hidSubclass !== 1) return 'stall';
        return new Uint8Array([this.hidProtocol]);
      case HidRequest.SET_PROTOCOL:
        if (dirIn || this.hidSubclass !== 1 || setup.wValue > 1) return 'stall';
        this.hidProtocol = setup.wValue;
        return true;
      default:
        return 'stall';
    }
  }

  override inspect(): unknown {
    return { ...(super.inspect() as object), kernelDrivers: Object.fromEntries(this.kernelDrivers),
      idleRates: Object.fromEntries(this.idleRates), protocol: this.hidProtocol };
  }

  /** A report as it travels: its ID byte first when IDs are used, padded or cut to the declared size. */
  private frame(type: HidReportTypeCode, id: number, body: ArrayLike<number>): Uint8Array {
    const size = this.reportSize(type, id);
    if (size === undefined) throw new Error(`${this.label}: the report descriptor has no ${reportTypeName(type)} report ${id}`);
    const out = new Uint8Array(size);
    const offset = this.layout.usesReportIds ? 1 : 0;
    if (offset) out[0] = id;
    out.set(Array.from(body).slice(0, size - offset), offset);
    return out;
  }

  /** The data of a report the host sent, or undefined when its ID or length is wrong. */
  private unframe(type: HidReportTypeCode, id: number, data: Uint8Array): Uint8Array | undefined {
    const size = this.reportSize(type, id);
    if (size === undefined || data.length !== size) return undefined;
    if (!this.layout.usesReportIds) return data.slice();
    return data[0] === id ? data.slice(1) : undefined;
  }

  private receiveOutput(data: Uint8Array): void {
    const id = this.layout.usesReportIds ? data[0] : 0;
    // a real device accepts the packet either way; it only acts on reports it knows
    const body = this.unframe(HidReportType.OUTPUT, id, data);
    if (body) this.onOutputReport(id, body);
  }

  /**
   * SET_IDLE: with a duration (4 ms units) the device repeats the report's
   * last state that often, as long as the host has read the previous one.
   */
  private setIdle(id: number, duration: number): void {
    const ids = id === 0 ? [...new Set([0, ...this.lastInput.keys()])] : [id];
    for (const i of ids) {
      this.idleRates.set(i, duration);
      clearInterval(this.idleTimers.get(i));
      this.idleTimers.delete(i);
      if (!duration) continue;
      const timer = setInterval(() => {
        const report = this.lastInput.get(i);
        if (!this.plugged || !this.configuration) return this.stopIdleTimers();
        if (report && this.endpoint(IN_EP).queuedBytes === 0) this.endpoint(IN_EP).send(report);
      }, duration * 4);
      (timer as { unref?: () => void }).unref?.();
      this.idleTimers.set(i, timer);
    }
  }

  private stopIdleTimers(): void {
    for (const t of this.idleTimers.values()) clearInterval(t);
    this.idleTimers.clear();
  }
}

function reportTypeName(type: number): string {
  return type === 1 ? 'input' : type === 2 ? 'output' : type === 3 ? 'feature' : `type-${type}`;
}

/** Vendor ID of Microchip's Simple HID Device Demo, which hidtest opens. */
export const HID_DEMO_VENDOR_ID = 0x04d8;
/** Its product ID. */
export const HID_DEMO_PRODUCT_ID = 0x003f;

/** Commands of the demo protocol (first byte of output report 1). */
export const HidDemoCommand = {
  /** Toggle the LEDs; no answer. */
  TOGGLE_LEDS: 0x80,
  /** Answer with [0x81, button] (0x00 pressed, 0x01 released). */
  GET_BUTTON: 0x81,
  /** Answer with [0x37, low byte, high byte] of the 10-bit reading. */
  READ_POTENTIOMETER: 0x37,
} as const;

/**
 * Vendor-defined usage page 0xFF00, usage 1: report 1 is 16 bytes in and
 * 16 bytes out, report 2 is a 16-byte feature report.
 */
export const HID_DEMO_REPORT_DESCRIPTOR = new Uint8Array([
  0x06, 0x00, 0xff, //  Usage Page (Vendor Defined 0xFF00)
  0x09, 0x01, //        Usage (0x01)
  0xa1, 0x01, //        Collection (Application)
  0x15, 0x00, //          Logical Minimum (0)
  0x26, 0xff, 0x00, //    Logical Maximum (255)
  0x75, 0x08, //          Report Size (8)
  0x95, 0x10, //          Report Count (16)
  0x85, 0x01, //          Report ID (1)
  0x09, 0x02, //          Usage (0x02)
  0x81, 0x02, //          Input (Data, Variable, Absolute)
  0x09, 0x03, //          Usage (0x03)
  0x91, 0x02, //          Output (Data, Variable, Absolute)
  0x85, 0x02, //          Report ID (2)
  0x09, 0x04, //          Usage (0x04)
  0xb1, 0x02, //          Feature (Data, Variable, Absolute)
  0xc0, //              End Collection
]);

/** Options of the `hid` model. */
export interface SimpleHidDemoOptions extends HidDeviceOptions {
  /** idVendor (default 0x04d8). */
  vendorId?: number;
  /** idProduct (default 0x003f). */
  productId?: number;
  /** Manufacturer string (default "libusb-wasm"). */
  manufacturer?: string;
  /** Product string (default "Simple HID Device Demo"). */
  product?: string;
  /** Serial number (default "12345"). */
  serialNumber?: string;
  /** Start with the push button held down. */
  buttonPressed?: boolean;
}

/** The options a `hid` spec may give (`hid:vendorId=1209,productId=0003`: IDs in hex). */
export const SIMPLE_HID_DEMO_OPTIONS: ModelOptionDeclarations = {
  vendorId: { type: 'id16', description: 'idVendor (default 04d8)' },
  productId: { type: 'id16', description: 'idProduct (default 003f)' },
  manufacturer: { type: 'string', description: 'manufacturer string' },
  product: { type: 'string', description: 'product string' },
  serialNumber: { type: 'string', description: 'serial number string' },
  buttonPressed: { type: 'boolean', description: 'start with the push button held down' },
  kernelDriver: { type: 'boolean', description: 'bind usbhid to the interface, as Linux does (default true)' },
};

/** The `hid` model: Microchip's Simple HID Device Demo protocol, as hidapi's hidtest expects it. */
export class SimpleHidDemo extends HidDevice {
  /** LED state, toggled by command 0x80. */
  ledsOn = false;
  /** The push button (command 0x81 reports it). */
  buttonPressed = false;
  /** 10-bit potentiometer reading (command 0x37 reports it). */
  potentiometer = 0x0155;
  private feature = new Uint8Array(16);
  private readonly outputs: number[][] = [];

  constructor(options: SimpleHidDemoOptions = {}) {
    super({
      vendorId: options.vendorId ?? HID_DEMO_VENDOR_ID,
      productId: options.productId ?? HID_DEMO_PRODUCT_ID,
      bcdDevice: 0x0002,
      manufacturer: options.manufacturer ?? 'libusb-wasm',
      product: options.product ?? 'Simple HID Device Demo',
      serialNumber: options.serialNumber ?? '12345',
      reportDescriptor: HID_DEMO_REPORT_DESCRIPTOR,
    }, options);
    this.buttonPressed = options.buttonPressed ?? false;
  }

  protected override onOutputReport(id: number, data: Uint8Array): void {
    if (id !== 1) return;
    this.outputs.push(Array.from(data));
    if (this.outputs.length > 64) this.outputs.shift();
    switch (data[0]) {
      case HidDemoCommand.TOGGLE_LEDS:
        this.ledsOn = !this.ledsOn;
        break;
      case HidDemoCommand.GET_BUTTON:
        this.sendInputReport(1, [HidDemoCommand.GET_BUTTON, this.buttonPressed ? 0x00 : 0x01]);
        break;
      case HidDemoCommand.READ_POTENTIOMETER:
        this.sendInputReport(1, [HidDemoCommand.READ_POTENTIOMETER, this.potentiometer & 0xff, (this.potentiometer >> 8) & 0x03]);
        break;
      default:
        break; // the firmware ignores commands it does not know
    }
  }

  protected override onSetFeature(id: number, data: Uint8Array): boolean {
    if (id !== 2) return false;
    this.feature = data.slice();
    return true;
  }

  protected override onGetFeature(id: number): ArrayLike<number> | undefined {
    return id === 2 ? this.feature : undefined;
  }

  override inspect(): unknown {
    return { ...(super.inspect() as object), ledsOn: this.ledsOn, feature: Array.from(this.feature), outputs: this.outputs.slice() };
  }
}
