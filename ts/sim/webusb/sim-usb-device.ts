/**
 * WebUSB's `USBDevice` over one simulated device (see sim-usb.ts for what
 * the simulated navigator.usb is): the calls, their state rules
 * (device-state.ts) and their results, as Chrome has them.
 * @module
 */
import { StandardRequest, TransferStatus, TransferType, type TransferStatusCode } from '../../usb/constants.js';
import type { TransferRequest, TransferCompletion } from '../../transports/transport.js';
import type { USBControlTransferParameters, USBDirection } from '../../transports/webusb/types.js';
import type { SimAttachment } from '../bus.js';
import type { SimDevice } from '../device.js';
import {
  DeviceState, DISCONNECTED, notAllowed, standardRequestAllowed, INTERFACE_CHANGE, INTERFACE_NOT_FOUND, OPEN_REQUIRED, buildConfiguration,
  checkDirection, claimsOf,
  copyBufferSource, invalidState, resultView, nextTask, throwIfFatal, tooBig, transferError, webStatus, type EndpointInfo,
} from './device-state.js';
import {
  MAX_TRANSFER_LENGTH, USBConfiguration, USBInTransferResult, USBIsochronousInTransferPacket, USBIsochronousInTransferResult,
  USBIsochronousOutTransferPacket, USBIsochronousOutTransferResult, USBOutTransferResult,
} from './objects.js';
import type { TaskScheduler } from './delivery.js';
import { DeviceCalls, type InFlightTransfer, type ResultOf } from './calls.js';
import { giveAway } from '../buffers.js';

/** What a USBDevice needs of the navigator.usb that made it (SimUSB). */
export interface SimUsbContext {
  readonly options: { readonly protectedClasses: readonly number[] };
  /** Runs each answer in a task of its own, when results are delivered as tasks. */
  readonly scheduleResult?: TaskScheduler;
  /** USBDevice.forget(): the permission goes. */
  forget(device: SimUSBDevice): void;
  /** USBDevice.reset() of a device that re-enumerates. */
  replug(device: SimUSBDevice): void;
}

/** WebUSB's `USBDevice` over one simulated device: its state rules, DOMExceptions and results are Chrome's. */
export class SimUSBDevice {
  /** WebUSB: from bcdUSB. */
  readonly usbVersionMajor: number;
  /** WebUSB: from bcdUSB. */
  readonly usbVersionMinor: number;
  /** WebUSB: from bcdUSB. */
  readonly usbVersionSubminor: number;
  /** WebUSB: bDeviceClass. */
  readonly deviceClass: number;
  /** WebUSB: bDeviceSubClass. */
  readonly deviceSubclass: number;
  /** WebUSB: bDeviceProtocol. */
  readonly deviceProtocol: number;
  /** WebUSB: idVendor. */
  readonly vendorId: number;
  /** WebUSB: idProduct. */
  readonly productId: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionMajor: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionMinor: number;
  /** WebUSB: from bcdDevice. */
  readonly deviceVersionSubminor: number;
  /** WebUSB: the manufacturer string, or null. */
  readonly manufacturerName: string | null;
  /** WebUSB: the product string, or null. */
  readonly productName: string | null;
  /** WebUSB: the serial number string, or null. */
  readonly serialNumber: string | null;
  /** WebUSB: every configuration. */
  readonly configurations: readonly USBConfiguration[];
  /** @internal */
  readonly state: DeviceState;
  /** @internal */
  readonly attachment: SimAttachment;

  private readonly usb: SimUsbContext;
  private readonly sim: SimDevice;
  private readonly calls: DeviceCalls;

  constructor(usb: SimUsbContext, attachment: SimAttachment) {
    this.usb = usb;
    this.attachment = attachment;
    this.sim = attachment.device;
    this.calls = new DeviceCalls(() => usb.scheduleResult);
    const d = this.sim.descriptors;
    const dev = d.device;
    const bcd = (lo: number) => [dev[lo + 1], dev[lo] >> 4, dev[lo] & 0x0f];
    [this.usbVersionMajor, this.usbVersionMinor, this.usbVersionSubminor] = bcd(2);
    [this.deviceVersionMajor, this.deviceVersionMinor, this.deviceVersionSubminor] = bcd(12);
    this.deviceClass = dev[4];
    this.deviceSubclass = dev[5];
    this.deviceProtocol = dev[6];
    this.vendorId = dev[8] | (dev[9] << 8);
    this.productId = dev[10] | (dev[11] << 8);
    const str = (i: number) => (i ? d.strings.get(i) ?? null : null);
    this.manufacturerName = str(dev[14]);
    this.productName = str(dev[15]);
    this.serialNumber = str(dev[16]);
    this.state = new DeviceState(this.sim);
    this.configurations = Object.freeze(d.configurations.map((raw, ci) => buildConfiguration(this.state, raw, ci)));
    this.state.configurations = this.configurations;
    const active = this.configurations.findIndex((c) => c.configurationValue === this.sim.configuration);
    if (active >= 0) this.state.configurationSelected(active);
  }

  /** WebUSB: whether the device is open. */
  get opened(): boolean {
    return this.state.opened;
  }

  /** WebUSB: the active configuration, or null when unconfigured. */
  get configuration(): USBConfiguration | null {
    return this.state.configuration;
  }

  // ---- state changes ---------------------------------------------------------

  /** WebUSB: `USBDevice.open()`. */
  open(): Promise<void> {
    const e = this.state.checkNoDeviceOrInterfaceChange();
    if (e) return Promise.reject(e);
    if (this.state.opened) return Promise.resolve();
    this.state.deviceChange = true;
    return this.calls.track(async () => {
      await nextTask();
      this.state.deviceChange = false;
      this.state.opened = true;
    });
  }

  /** WebUSB: `USBDevice.close()`. */
  close(): Promise<void> {
    const e = this.state.checkNoDeviceOrInterfaceChange();
    if (e) return Promise.reject(e);
    if (!this.state.opened) return Promise.resolve();
    this.state.deviceChange = true;
    return this.calls.track(async () => {
      this.abortTransfers(() => true, TransferStatus.CANCELLED);
      await nextTask();
      this.state.releaseAllClaims();
      this.state.opened = false;
      this.state.claimed.fill(false);
      this.state.selectedAlternate.fill(0);
      this.state.inEndpoints.clear();
      this.state.outEndpoints.clear();
      this.state.deviceChange = false;
    });
  }

  /** WebUSB: `USBDevice.forget()`. */
  async forget(): Promise<void> {
    if (this.state.opened && this.state.connected && !this.state.deviceChange) await this.close().catch(() => {});
    this.usb.forget(this);
  }

  /** WebUSB: `USBDevice.selectConfiguration()`. */
  selectConfiguration(configurationValue: number): Promise<void> {
    const e = this.state.checkNoDeviceOrInterfaceChange()
      ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return Promise.reject(e);
    const value = configurationValue & 0xff;
    const index = this.configurations.findIndex((c) => c.configurationValue === value);
    if (index < 0) return Promise.reject(new DOMException('The configuration value provided is not supported by the device.', 'NotFoundError'));
    if (index === this.state.configIndex) return Promise.resolve();
    this.state.deviceChange = true;
    return this.calls.track(async () => {
      await nextTask();
      // Linux refuses to change the configuration under claimed interfaces (usbfs: EBUSY); nothing changes
      const ok = !this.state.claimed.some(Boolean) && await this.standard(0x00, StandardRequest.SET_CONFIGURATION, value, 0);
      if (ok) {
        this.state.releaseAllClaims();
        this.state.configurationSelected(index);
      }
      this.state.deviceChange = false;
      if (!ok) throw new DOMException('Unable to set device configuration.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.claimInterface()` (protected classes fail with SecurityError). */
  claimInterface(interfaceNumber: number): Promise<void> {
    const e = this.state.checkConfigured();
    if (e) return Promise.reject(e);
    const index = this.state.interfaceIndex(interfaceNumber & 0xff);
    if (index < 0) return Promise.reject(new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError'));
    if (this.state.interfaceChange[index]) return Promise.reject(invalidState(INTERFACE_CHANGE));
    if (this.state.claimed[index]) return Promise.resolve();
    this.state.interfaceChange[index] = true;
    return this.calls.track(async () => {
      await nextTask();
      const iface = this.configuration!.interfaces[index];
      const claims = claimsOf(this.sim);
      let error: DOMException | undefined;
      if (iface.alternates.some((a) => this.usb.options.protectedClasses.includes(a.interfaceClass))) {
        error = new DOMException('The requested interface implements a protected class.', 'SecurityError');
      } else if (claims.get(iface.interfaceNumber) && claims.get(iface.interfaceNumber) !== this.state) {
        // another context (tab, worker, program) has it
        error = new DOMException('Unable to claim interface.', 'NetworkError');
      } else {
        claims.set(iface.interfaceNumber, this.state);
      }
      this.state.interfaceClaimedOrReleased(!error, index);
      if (error) throw error;
    });
  }

  /** WebUSB: `USBDevice.releaseInterface()`. */
  releaseInterface(interfaceNumber: number): Promise<void> {
    const e = this.state.checkConfigured();
    if (e) return Promise.reject(e);
    const index = this.state.interfaceIndex(interfaceNumber & 0xff);
    if (index < 0) return Promise.reject(new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError'));
    if (this.state.interfaceChange[index]) return Promise.reject(invalidState(INTERFACE_CHANGE));
    if (!this.state.claimed[index]) return Promise.resolve();
    this.state.setEndpoints(index, false);
    this.state.interfaceChange[index] = true;
    return this.calls.track(async () => {
      // releasing an interface kills its transfers (Linux usbfs does)
      this.abortTransfers((t) => t.interfaceIndex === index);
      await nextTask();
      const number = this.configuration!.interfaces[index].interfaceNumber;
      const claims = claimsOf(this.sim);
      if (claims.get(number) === this.state) claims.delete(number);
      this.state.interfaceClaimedOrReleased(false, index);
    });
  }

  /** WebUSB: `USBDevice.selectAlternateInterface()`. */
  selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    const e = this.state.checkInterfaceClaimed(interfaceNumber & 0xff);
    if (e) return Promise.reject(e);
    const index = this.state.interfaceIndex(interfaceNumber & 0xff);
    const iface = this.configuration!.interfaces[index];
    const alt = iface.alternates.findIndex((a) => a.alternateSetting === (alternateSetting & 0xff));
    if (alt < 0) {
      return Promise.reject(new DOMException('The alternate setting provided is not supported by the device in its current configuration.', 'NotFoundError'));
    }
    this.state.setEndpoints(index, false);
    this.state.interfaceChange[index] = true;
    return this.calls.track(async () => {
      this.abortTransfers((t) => t.interfaceIndex === index);
      await nextTask();
      const ok = await this.standard(0x01, StandardRequest.SET_INTERFACE, alternateSetting & 0xff, iface.interfaceNumber);
      if (ok) this.state.selectedAlternate[index] = alt;
      // as Chrome: after a failure the interface's endpoints stay unavailable
      this.state.setEndpoints(index, ok);
      this.state.interfaceChange[index] = false;
      if (!ok) throw new DOMException('Unable to set device interface.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.clearHalt()`. */
  clearHalt(direction: USBDirection, endpointNumber: number): Promise<void> {
    const dir = checkDirection(direction, 'clearHalt');
    if (dir instanceof TypeError) return Promise.reject(dir);
    const n = endpointNumber & 0xff;
    const e = this.state.checkEndpoint(dir === 'in', n);
    if (e) return Promise.reject(e);
    return this.calls.track(async () => {
      const ok = await this.standard(0x02, StandardRequest.CLEAR_FEATURE, 0, n | (dir === 'in' ? 0x80 : 0));
      if (!ok) throw new DOMException('Unable to clear endpoint.', 'NetworkError');
    });
  }

  /** WebUSB: `USBDevice.reset()`. */
  reset(): Promise<void> {
    const e = this.state.checkNoDeviceOrInterfaceChange()
      ?? (!this.state.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return Promise.reject(e);
    return this.calls.track(async () => {
      this.abortTransfers(() => true);
      await nextTask();
      if (this.sim.busReset() === 'reenumerated') {
        // the device comes back as a new USBDevice; this one is disconnected
        this.usb.replug(this);
        throw new DOMException(DISCONNECTED, 'NotFoundError');
      }
    });
  }

  // ---- transfers -------------------------------------------------------------

  /** WebUSB: `USBDevice.controlTransferIn()`. */
  controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResult> {
    const packet = this.state.checkControl(setup, 'controlTransferIn', true, length);
    if (packet instanceof Error) return Promise.reject(packet);
    if (!standardRequestAllowed(packet)) return Promise.reject(notAllowed());
    return this.calls.answer(ask(() => this.sim.control(packet)), inResult, 0);
  }

  /** WebUSB: `USBDevice.controlTransferOut()`. */
  controlTransferOut(setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResult> {
    const bytes = data === undefined ? new Uint8Array(0) : copyBufferSource(data, 'controlTransferOut', 2);
    const packet = this.state.checkControl(setup, 'controlTransferOut', false, bytes instanceof Error ? 0 : bytes.length);
    if (packet instanceof Error) return Promise.reject(packet);
    if (bytes instanceof Error) return Promise.reject(bytes);
    if (!standardRequestAllowed(packet)) return Promise.reject(notAllowed());
    return this.calls.answer(ask(() => this.sim.control(packet, bytes.length ? bytes : undefined)), outResult, bytes.length);
  }

  /** WebUSB: `USBDevice.transferIn()`. */
  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResult> {
    const n = endpointNumber & 0xff;
    const len = length >>> 0;
    if (len > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    const ep = this.state.availableEndpoint(true, n);
    if (ep instanceof DOMException) return Promise.reject(ep);
    if (ep.type === 'isochronous') return this.calls.fail(transferError());
    return this.submit(ep, { type: ep.kind, endpoint: 0x80 | n, length: len, zeroLengthPacket: false, timeout: 0 }, inResult);
  }

  /** WebUSB: `USBDevice.transferOut()`. */
  transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResult> {
    const bytes = copyBufferSource(data, 'transferOut', 2);
    if (bytes instanceof Error) return Promise.reject(bytes);
    const n = endpointNumber & 0xff;
    const ep = this.state.availableEndpoint(false, n);
    if (ep instanceof DOMException) return Promise.reject(ep);
    if (bytes.length > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    if (ep.type === 'isochronous') return this.calls.fail(transferError());
    // the copy is ours alone: the device model may keep it rather than copy it again
    // (not worth it for the smallest, which V8 keeps inside its heap: see buffers.ts)
    if (bytes.length > 64) giveAway(bytes);
    return this.submit(ep, { type: ep.kind, endpoint: n, data: bytes, length: bytes.length, zeroLengthPacket: false, timeout: 0 }, outResult);
  }

  /** WebUSB: `USBDevice.isochronousTransferIn()`. */
  isochronousTransferIn(endpointNumber: number, packetLengths: number[]): Promise<USBIsochronousInTransferResult> {
    const n = endpointNumber & 0xff;
    const ep = this.state.availableEndpoint(true, n);
    if (ep instanceof DOMException) return Promise.reject(ep);
    const lengths = Array.from(packetLengths, (l) => l >>> 0);
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > 0xffffffff) return Promise.reject(new DOMException('The total packet length exceeded the maximum size.', 'DataError'));
    if (total > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    if (ep.type !== 'isochronous') return this.calls.fail(transferError());
    const request: TransferRequest = {
      type: TransferType.ISOCHRONOUS, endpoint: 0x80 | n, length: total, isoPacketLengths: lengths, zeroLengthPacket: false, timeout: 0,
    };
    return this.submit(ep, request, (r) => {
      throwIfFatal(r.status);
      const buffer = new ArrayBuffer(total);
      const bytes = new Uint8Array(buffer);
      const packets: USBIsochronousInTransferPacket[] = [];
      let offset = 0;
      for (let i = 0; i < lengths.length; i++) {
        const p = r.isoPackets?.[i] ?? { status: r.status === TransferStatus.COMPLETED ? TransferStatus.ERROR : r.status };
        // as Chrome: one failed packet fails the whole transfer
        throwIfFatal(p.status);
        const data = p.data ?? new Uint8Array(0);
        const n = Math.min(data.length, lengths[i]);
        bytes.set(data.subarray(0, n), offset);
        const status = data.length > lengths[i] ? 'babble' : webStatus(p.status);
        packets.push(new USBIsochronousInTransferPacket(status, new DataView(buffer, offset, n)));
        offset += lengths[i];
      }
      return new USBIsochronousInTransferResult(packets, new DataView(buffer));
    });
  }

  /** WebUSB: `USBDevice.isochronousTransferOut()`. */
  isochronousTransferOut(endpointNumber: number, data: BufferSource, packetLengths: number[]): Promise<USBIsochronousOutTransferResult> {
    const bytes = copyBufferSource(data, 'isochronousTransferOut', 2);
    if (bytes instanceof Error) return Promise.reject(bytes);
    const n = endpointNumber & 0xff;
    const ep = this.state.availableEndpoint(false, n);
    if (ep instanceof DOMException) return Promise.reject(ep);
    const lengths = Array.from(packetLengths, (l) => l >>> 0);
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > 0xffffffff) return Promise.reject(new DOMException('The total packet length exceeded the maximum size.', 'DataError'));
    if (total > MAX_TRANSFER_LENGTH) return Promise.reject(tooBig());
    if (total !== bytes.length) return Promise.reject(new DOMException('The data buffer size must match the total packet length.', 'DataError'));
    if (ep.type !== 'isochronous') return this.calls.fail(transferError());
    const request: TransferRequest = {
      type: TransferType.ISOCHRONOUS, endpoint: n, data: bytes, length: total, isoPacketLengths: lengths, zeroLengthPacket: false, timeout: 0,
    };
    return this.submit(ep, request, (r) => {
      throwIfFatal(r.status);
      const packets = lengths.map((len, i) => {
        const p = r.isoPackets?.[i] ?? { status: r.status === TransferStatus.COMPLETED ? TransferStatus.ERROR : r.status, length: 0 };
        throwIfFatal(p.status);
        return new USBIsochronousOutTransferPacket(webStatus(p.status), Math.min(p.length ?? len, len));
      });
      return new USBIsochronousOutTransferResult(packets);
    });
  }

  // ---- for SimUSB ------------------------------------------------------------

  /** @internal The device left the bus (or was forgotten): every pending call fails. */
  disconnected(): void {
    if (!this.state.connected) return;
    this.state.connected = false;
    this.state.opened = false;
    const claims = claimsOf(this.sim);
    for (const [k, v] of claims) if (v === this.state) claims.delete(k);
    // transfers in flight end now, as failed URBs: NetworkError, before the disconnect event
    this.abortTransfers(() => true, TransferStatus.ERROR, false);
    this.calls.rejectAll(() => new DOMException(DISCONNECTED, 'NotFoundError'));
  }

  // ---- internals -------------------------------------------------------------

  /** A bulk, interrupt or isochronous transfer on the device model; state changes abort it while it waits. */
  private submit<T>(ep: EndpointInfo, request: TransferRequest, result: ResultOf<T>): Promise<T> {
    // (no closure for ask(): the exception the device model throws becomes a rejection all the same)
    let r: TransferCompletion | Promise<TransferCompletion>;
    try {
      r = this.sim.transfer(request);
    } catch (e) {
      r = Promise.reject(e);
    }
    return this.calls.answer(r, result, request.length, request, ep.interfaceIndex);
  }

  /**
   * End transfers under a state change. close() cancels them (AbortError,
   * before it resolves); releaseInterface(), selectAlternateInterface() and
   * reset() make Linux kill their URBs, which Chrome reports as a transfer
   * error (NetworkError, after the call resolves).
   */
  private abortTransfers(which: (t: InFlightTransfer) => boolean, status?: TransferStatusCode, later?: boolean): void {
    for (const request of this.calls.kill(which, status, later)) this.sim.cancel(request);
  }

  /** A standard OUT request without data; true if the device accepted it. */
  private async standard(bmRequestType: number, bRequest: number, wValue: number, wIndex: number): Promise<boolean> {
    const r = await this.sim.control({ bmRequestType, bRequest, wValue, wIndex, wLength: 0 });
    if (r.status === TransferStatus.NO_DEVICE) throw new DOMException(DISCONNECTED, 'NotFoundError');
    return r.status === TransferStatus.COMPLETED;
  }
}

/** What the device model answers, or the exception it threw as a rejection. */
function ask(query: () => TransferCompletion | Promise<TransferCompletion>): TransferCompletion | Promise<TransferCompletion> {
  try {
    return query();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** An IN transfer's result: data in a buffer of its own. */
function inResult(r: TransferCompletion): USBInTransferResult {
  throwIfFatal(r.status);
  return new USBInTransferResult(webStatus(r.status), resultView(r.data));
}

/** An OUT transfer's result: Chrome reports the whole buffer (`length`) as written whatever the status. */
function outResult(r: TransferCompletion, length: number): USBOutTransferResult {
  throwIfFatal(r.status);
  return new USBOutTransferResult(webStatus(r.status), length);
}

/**
 * Chrome's bindings name the call in every exception a USBDevice method
 * rejects with: "Failed to execute 'claimInterface' on 'USBDevice': The
 * device must be opened first." The checks make the bare message; each
 * method's promise gets the prefix here, once.
 */
const USB_DEVICE_METHODS = ['open', 'close', 'selectConfiguration', 'claimInterface', 'releaseInterface',
  'selectAlternateInterface', 'clearHalt', 'reset', 'controlTransferIn', 'controlTransferOut', 'transferIn', 'transferOut',
  'isochronousTransferIn', 'isochronousTransferOut'] as const;
for (const method of USB_DEVICE_METHODS) {
  const call = SimUSBDevice.prototype[method] as (this: SimUSBDevice, ...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(SimUSBDevice.prototype, method, {
    configurable: true, writable: true,
    value(this: SimUSBDevice, ...args: unknown[]) {
      return call.apply(this, args).catch((e: unknown) => {
        throw e instanceof DOMException && !e.message.startsWith('Failed to execute')
          ? new DOMException(`Failed to execute '${method}' on 'USBDevice': ${e.message}`, e.name) : e;
      });
    },
  });
}
