/**
 * The API server: the worker-side half of the typed JS API. It lives in the
 * worker that runs the API shim (wasm/api/shim.c), next to the transport
 * host, and is reached from the caller's thread through comlink. Each
 * method turns into one command or transfer for the shim, whose threads do
 * the work with the real libusb; nothing here reimplements libusb.
 *
 * Methods report libusb failures by throwing a {@link WireError} (a plain
 * object: comlink keeps only the message of a thrown Error); the client
 * turns it back into a LibusbError.
 * @module
 * @internal
 */
import * as Comlink from 'comlink';
import { ShimChannel, type WasmAllocator } from './channel.js';
import type { WireError } from './errors.js';
import { LWA_EVT_HOTPLUG, LWA_EVT_LOG, LWA_HOTPLUG_ARRIVED, LWA_INIT_NO_DEVICE_DISCOVERY, LwaOp } from './api-protocol.gen.js';
import { readBos, readDevice, readDeviceList } from './records.js';
import type { BosDescriptor, DeviceInfo, LogLevel } from './types.js';

export const LOG_LEVELS: LogLevel[] = ['none', 'error', 'warning', 'info', 'debug'];

/** What reaches the caller's event listener. */
export type ServerEvent =
  | { type: 'connect'; device: DeviceInfo }
  | { type: 'disconnect'; id: number }
  | { type: 'log'; level: LogLevel; message: string };

/** A transfer as the client sends it. */
export interface WireTransfer {
  handle: number;
  /** libusb transfer type */
  type: number;
  endpoint: number;
  timeout: number;
  flags: number;
  /** Control transfers: the 8-byte setup packet. */
  setup?: Uint8Array;
  /** OUT data. */
  data?: Uint8Array;
  /** IN: bytes wanted (control: wLength). */
  length?: number;
  isoPacketLengths?: number[];
}

/** How a transfer ended, as the client receives it. */
export interface WireTransferResult {
  status: number;
  actualLength: number;
  data?: Uint8Array;
  iso?: { status: number; actualLength: number; data?: Uint8Array }[];
}

function fail(code: number, message: string): never {
  const e: WireError = { libusbError: code, message };
  throw e;
}

export class ApiServer {
  private readonly channel = new ShimChannel();
  private events?: { postMessage(event: ServerEvent): void };
  /** Transfers in flight by the client's id: the shim's handle for cancel. */
  private readonly inflight = new Map<number, number>();

  constructor() {
    this.channel.onEvent = (e) => {
      if (!this.events) return;
      if (e.kind === LWA_EVT_HOTPLUG) {
        if (e.args[0] === LWA_HOTPLUG_ARRIVED && e.data) this.events.postMessage({ type: 'connect', device: readDevice(e.data) });
        else this.events.postMessage({ type: 'disconnect', id: e.args[1] });
      } else if (e.kind === LWA_EVT_LOG) {
        this.events.postMessage({ type: 'log', level: LOG_LEVELS[e.args[0]] ?? 'debug', message: new TextDecoder().decode(e.data).replace(/\n$/, '') });
      }
    };
  }

  /** Resolves when the shim has attached (its main() runs). */
  get ready(): Promise<void> {
    return this.channel.ready;
  }

  /** Called by the shim's JS library on the worker's thread; not over comlink. */
  attach(memory: WebAssembly.Memory, block: number, alloc: WasmAllocator): void {
    this.channel.attach(memory, block, alloc);
  }

  /** The shim's program ended. */
  detach(): void {
    this.channel.close();
  }

  /** Answers at once: what a bare comlink round trip costs (bench/api.mjs). */
  ping(): number {
    return 0;
  }

  /** Where hotplug and log events go: a MessagePort the caller listens on. */
  subscribe(port: { postMessage(event: ServerEvent): void }): void {
    this.events = port;
  }

  /** libusb_init_context with the log callback, the log level and optional no-discovery; starts event handling. */
  async init(options: { logLevel: LogLevel; noDeviceDiscovery?: boolean }): Promise<{ hotplug: boolean }> {
    const level = LOG_LEVELS.indexOf(options.logLevel);
    const r = await this.run(LwaOp.INIT, [level < 0 ? 0 : level, options.noDeviceDiscovery ? LWA_INIT_NO_DEVICE_DISCOVERY : 0], 'libusb_init_context');
    return { hotplug: r.args[2] === 1 };
  }

  /** Closes every handle (cancelling their transfers), libusb_exit, and ends the shim. */
  async exit(): Promise<void> {
    await this.run(LwaOp.EXIT, [], 'libusb_exit');
  }

  async setLogLevel(level: LogLevel): Promise<void> {
    await this.run(LwaOp.SET_LOG_LEVEL, [Math.max(0, LOG_LEVELS.indexOf(level))], 'libusb_set_option(LOG_LEVEL)');
  }

  async getDeviceList(): Promise<DeviceInfo[]> {
    const r = await this.run(LwaOp.GET_DEVICE_LIST, [], 'libusb_get_device_list');
    return r.data ? readDeviceList(r.data) : [];
  }

  /** libusb_open; returns the handle id. */
  async open(deviceId: number): Promise<number> {
    return (await this.run(LwaOp.OPEN, [deviceId], 'libusb_open')).args[1];
  }

  async close(handle: number): Promise<void> {
    await this.run(LwaOp.CLOSE, [handle], 'libusb_close');
  }

  async getConfiguration(handle: number): Promise<number> {
    return (await this.run(LwaOp.GET_CONFIGURATION, [handle], 'libusb_get_configuration')).args[1];
  }

  async setConfiguration(handle: number, value: number): Promise<void> {
    await this.run(LwaOp.SET_CONFIGURATION, [handle, value], 'libusb_set_configuration');
  }

  async claimInterface(handle: number, iface: number): Promise<void> {
    await this.run(LwaOp.CLAIM_INTERFACE, [handle, iface], 'libusb_claim_interface');
  }

  async releaseInterface(handle: number, iface: number): Promise<void> {
    await this.run(LwaOp.RELEASE_INTERFACE, [handle, iface], 'libusb_release_interface');
  }

  async setInterfaceAltSetting(handle: number, iface: number, alternate: number): Promise<void> {
    await this.run(LwaOp.SET_ALTSETTING, [handle, iface, alternate], 'libusb_set_interface_alt_setting');
  }

  async clearHalt(handle: number, endpoint: number): Promise<void> {
    await this.run(LwaOp.CLEAR_HALT, [handle, endpoint], 'libusb_clear_halt');
  }

  async resetDevice(handle: number): Promise<void> {
    await this.run(LwaOp.RESET_DEVICE, [handle], 'libusb_reset_device');
  }

  async kernelDriverActive(handle: number, iface: number): Promise<boolean> {
    return (await this.run(LwaOp.KERNEL_DRIVER_ACTIVE, [handle, iface], 'libusb_kernel_driver_active')).args[2] === 1;
  }

  async detachKernelDriver(handle: number, iface: number): Promise<void> {
    await this.run(LwaOp.DETACH_KERNEL_DRIVER, [handle, iface], 'libusb_detach_kernel_driver');
  }

  async attachKernelDriver(handle: number, iface: number): Promise<void> {
    await this.run(LwaOp.ATTACH_KERNEL_DRIVER, [handle, iface], 'libusb_attach_kernel_driver');
  }

  async setAutoDetachKernelDriver(handle: number, enable: boolean): Promise<void> {
    await this.run(LwaOp.SET_AUTO_DETACH, [handle, enable ? 1 : 0], 'libusb_set_auto_detach_kernel_driver');
  }

  /** libusb_get_string_descriptor: the text and the language it was read in. */
  async getStringDescriptor(handle: number, index: number, langid: number): Promise<{ text: string; langid: number }> {
    const r = await this.run(LwaOp.GET_STRING_DESCRIPTOR, [handle, index, langid], 'libusb_get_string_descriptor');
    return { text: new TextDecoder('utf-16le').decode(r.data ?? new Uint8Array(0)), langid: r.args[3] };
  }

  async getBosDescriptor(handle: number): Promise<BosDescriptor> {
    const r = await this.run(LwaOp.GET_BOS, [handle], 'libusb_get_bos_descriptor');
    return readBos(r.data!);
  }

  /**
   * Submit a transfer and resolve when libusb completes it. `id` is the
   * client's name for it, for {@link cancel}.
   */
  async transfer(id: number, t: WireTransfer): Promise<WireTransferResult> {
    const control = t.type === 0;
    const outLength = t.data?.length ?? 0;
    const length = (control ? 8 : 0) + (t.data ? outLength : (t.length ?? 0));
    let out = t.data;
    if (control) {
      out = new Uint8Array(8 + outLength);
      out.set(t.setup!.subarray(0, 8));
      if (t.data) out.set(t.data, 8);
    }
    const reply = await this.channel.transfer({
      handle: t.handle, endpoint: t.endpoint, type: t.type, timeout: t.timeout, flags: t.flags, length, out,
      isoPacketLengths: t.isoPacketLengths,
    }, (shimHandle) => this.inflight.set(id, shimHandle), control ? 8 : 0).finally(() => this.inflight.delete(id));
    if (reply.status < 0) fail(reply.status, 'libusb_submit_transfer');
    const result: WireTransferResult = { status: reply.status, actualLength: reply.actualLength, iso: reply.iso };
    // OUT transfers have no data to return
    const isIn = control ? (t.setup![0] & 0x80) !== 0 : (t.endpoint & 0x80) !== 0;
    if (isIn && reply.data) result.data = reply.data;
    if (!isIn && reply.iso) for (const p of reply.iso) delete p.data;
    const buffers = [result.data?.buffer, ...(result.iso ?? []).map((p) => p.data?.buffer)].filter((b): b is ArrayBuffer => !!b);
    return Comlink.transfer(result, buffers);
  }

  /** Cancel a transfer by the client's id (libusb_cancel_transfer); false if it already completed. */
  async cancel(id: number): Promise<boolean> {
    // Messages arrive in order, and a transfer is in `inflight` from its
    // first turn on: an unknown id has completed already.
    const shimHandle = this.inflight.get(id);
    if (shimHandle === undefined) return false;
    return (await this.channel.cancel(shimHandle)) === 0;
  }

  private async run(op: number, args: number[], what: string) {
    const r = await this.channel.command(op, args);
    if (r.result < 0) fail(r.result, what);
    return r;
  }
}
