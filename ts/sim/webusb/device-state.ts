/**
 * What Chrome keeps per USBDevice object (blink's USBDevice members), and
 * Chrome's checks on it: which call is refused in which state, with which
 * DOMException. SimUSBDevice (sim-usb-device.ts) asks these before it acts.
 * @module
 */
import { RequestType, StandardRequest, TransferStatus, TransferType, type TransferStatusCode } from '../../usb/constants.js';
import { parseConfiguration } from '../../usb/config-parse.js';
import type { SetupPacket } from '../../transports/transport.js';
import type { USBControlTransferParameters, USBDirection, USBEndpointType, USBTransferStatus } from '../../transports/webusb/types.js';
import type { SimDevice } from '../device.js';
import { takeGiven } from '../buffers.js';
import { MAX_TRANSFER_LENGTH, USBAlternateInterface, USBConfiguration, USBEndpoint, USBInterface } from './objects.js';

/** Claims across every context (tab, worker) on the same simulated device. */
const claimsByDevice = new WeakMap<SimDevice, Map<number, DeviceState>>();

export const DISCONNECTED = 'The device was disconnected.';
export const OPEN_REQUIRED = 'The device must be opened first.';
export const INTERFACE_NOT_FOUND = 'The interface number provided is not supported by the device in its current configuration.';
export const INTERFACE_CHANGE = 'An operation that changes interface state is in progress.';

/** An endpoint of the selected alternate settings. */
export interface EndpointInfo {
  type: USBEndpointType;
  kind: typeof TransferType.BULK | typeof TransferType.INTERRUPT | typeof TransferType.ISOCHRONOUS;
  interfaceIndex: number;
}

/** What Chrome keeps per USBDevice object (blink's USBDevice members). */
export class DeviceState {
  connected = true;
  opened = false;
  deviceChange = false;
  configIndex = -1;
  claimed: boolean[] = [];
  interfaceChange: boolean[] = [];
  selectedAlternate: number[] = [];
  /** Available endpoints by number, per direction (what a transfer checks and needs, found once per state change). */
  readonly inEndpoints = new Map<number, EndpointInfo>();
  readonly outEndpoints = new Map<number, EndpointInfo>();
  /** The device's configurations (set once they are built). */
  configurations: readonly USBConfiguration[] = [];

  constructor(private readonly sim: SimDevice) {}

  /** The active configuration, or null when unconfigured. */
  get configuration(): USBConfiguration | null {
    return this.configIndex >= 0 ? this.configurations[this.configIndex] : null;
  }

  isClaimed(configIndex: number, index: number): boolean {
    return this.configIndex >= 0 && this.configIndex === configIndex && !!this.claimed[index];
  }

  configurationSelected(index: number): void {
    const count = this.configurations[index].interfaces.length;
    this.configIndex = index;
    this.claimed = new Array(count).fill(false);
    this.interfaceChange = new Array(count).fill(false);
    this.selectedAlternate = new Array(count).fill(0);
    this.inEndpoints.clear();
    this.outEndpoints.clear();
  }

  releaseAllClaims(): void {
    const claims = claimsOf(this.sim);
    for (const [k, v] of claims) if (v === this) claims.delete(k);
  }

  interfaceClaimedOrReleased(claimed: boolean, index: number): void {
    this.claimed[index] = claimed;
    if (!claimed) this.selectedAlternate[index] = 0;
    this.setEndpoints(index, claimed);
    this.interfaceChange[index] = false;
  }

  setEndpoints(index: number, available: boolean): void {
    const iface = this.configuration?.interfaces[index];
    const alt = iface?.alternates[this.selectedAlternate[index] ?? 0];
    for (const e of alt?.endpoints ?? []) {
      if (e.endpointNumber === 0 || e.endpointNumber >= 16) continue;
      const map = e.direction === 'in' ? this.inEndpoints : this.outEndpoints;
      if (!available) {
        map.delete(e.endpointNumber);
        continue;
      }
      const kind = e.type === 'interrupt' ? TransferType.INTERRUPT : e.type === 'bulk' ? TransferType.BULK : TransferType.ISOCHRONOUS;
      map.set(e.endpointNumber, { type: e.type, kind, interfaceIndex: index });
    }
  }

  interfaceIndex(number: number): number {
    return this.configuration?.interfaces.findIndex((i) => i.interfaceNumber === number) ?? -1;
  }

  // ---- Chrome's checks -----------------------------------------------------

  checkNoDeviceChange(): DOMException | undefined {
    if (!this.connected) return new DOMException(DISCONNECTED, 'NotFoundError');
    if (this.deviceChange) return invalidState('An operation that changes the device state is in progress.');
    return undefined;
  }

  checkNoDeviceOrInterfaceChange(): DOMException | undefined {
    return this.checkNoDeviceChange()
      ?? (this.interfaceChange.some(Boolean) ? invalidState(INTERFACE_CHANGE) : undefined);
  }

  checkConfigured(): DOMException | undefined {
    return this.checkNoDeviceChange()
      ?? (!this.opened ? invalidState(OPEN_REQUIRED) : undefined)
      ?? (this.configIndex < 0 ? invalidState('The device must have a configuration selected.') : undefined);
  }

  checkInterfaceClaimed(number: number): DOMException | undefined {
    const e = this.checkConfigured();
    if (e) return e;
    const index = this.interfaceIndex(number);
    if (index < 0) return new DOMException(INTERFACE_NOT_FOUND, 'NotFoundError');
    if (this.interfaceChange[index]) return invalidState(INTERFACE_CHANGE);
    if (!this.claimed[index]) return invalidState('The specified interface has not been claimed.');
    return undefined;
  }

  checkEndpoint(isIn: boolean, n: number): DOMException | undefined {
    const e = this.availableEndpoint(isIn, n);
    return e instanceof DOMException ? e : undefined;
  }

  /** An endpoint a transfer may use now, or the exception Chrome gives. */
  availableEndpoint(isIn: boolean, n: number): EndpointInfo | DOMException {
    const e = this.checkConfigured();
    if (e) return e;
    if (n === 0 || n >= 16) return new DOMException('The specified endpoint number is out of range.', 'IndexSizeError');
    return (isIn ? this.inEndpoints : this.outEndpoints).get(n)
      ?? new DOMException('The specified endpoint is not part of a claimed and selected alternate interface.', 'NotFoundError');
  }

  /**
   * Chrome's checks of a control transfer's parameters, and the setup
   * packet they make (`dirIn` sets the direction bit; `length` is wLength).
   */
  checkControl(setup: USBControlTransferParameters, method: string, dirIn: boolean, length: number): SetupPacket | Error {
    const e = this.checkNoDeviceOrInterfaceChange() ?? (!this.opened ? invalidState(OPEN_REQUIRED) : undefined);
    if (e) return e;
    if (!setup || typeof setup !== 'object') return new TypeError(`Failed to execute '${method}' on 'USBDevice': parameter 1 is not an object.`);
    const type = REQUEST_TYPES.indexOf(setup.requestType);
    const recipient = RECIPIENTS.indexOf(setup.recipient);
    for (const key of SETUP_MEMBERS) {
      if (setup[key] === undefined) return new TypeError(`Failed to execute '${method}' on 'USBDevice': required member ${key} is undefined.`);
    }
    if (type < 0) return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${setup.requestType}' is not a valid enum value of type USBRequestType.`);
    if (recipient < 0) return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${setup.recipient}' is not a valid enum value of type USBRecipient.`);
    const index = Number(setup.index) & 0xffff;
    if (recipient === 1) {
      const c = this.checkInterfaceClaimed(index & 0xff);
      if (c) return c;
    } else if (recipient === 2) {
      const c = this.checkEndpoint((index & 0x80) !== 0, index & 0x0f);
      if (c) return c;
    }
    return {
      bmRequestType: (dirIn ? 0x80 : 0) | (type << 5) | recipient,
      bRequest: Number(setup.request) & 0xff,
      wValue: Number(setup.value) & 0xffff,
      wIndex: index,
      wLength: length & 0xffff,
    };
  }
}

const REQUEST_TYPES: readonly string[] = ['standard', 'class', 'vendor'];
const RECIPIENTS: readonly string[] = ['device', 'interface', 'endpoint', 'other'];
const SETUP_MEMBERS = ['request', 'value', 'index'] as const;

/** Claims of every context on one simulated device, by interface index. */
export function claimsOf(device: SimDevice): Map<number, DeviceState> {
  let m = claimsByDevice.get(device);
  if (!m) {
    m = new Map();
    claimsByDevice.set(device, m);
  }
  return m;
}

/**
 * The WebUSB object model of one raw configuration descriptor.
 * Configuration and interface names are null: Chrome on Linux reads only
 * the device's three strings (measured with Chromium 156 on a real gadget).
 */
export function buildConfiguration(state: DeviceState, raw: Uint8Array, configIndex: number): USBConfiguration {
  const parsed = parseConfiguration(raw);
  const config = new USBConfiguration(parsed.value, null);
  const numbers: number[] = [];
  for (const a of parsed.alternates) if (!numbers.includes(a.interfaceNumber)) numbers.push(a.interfaceNumber);
  config.interfaces = Object.freeze(numbers.map((number, index) => new USBInterface(state, configIndex, index, number,
    parsed.alternates.filter((a) => a.interfaceNumber === number).map((a) => new USBAlternateInterface(
      a.alternate, a.interfaceClass, a.interfaceSubclass, a.interfaceProtocol, null,
      a.endpoints.map((e) => new USBEndpoint(e)))))));
  return config;
}

/**
 * The standard requests Chrome lets a page send itself: these IN requests
 * only. Every other standard request (SET_FEATURE, SET_CONFIGURATION,
 * SET_INTERFACE, CLEAR_FEATURE... and unknown ones) is refused with
 * SecurityError: state changes go through USBDevice's own methods (measured
 * with Chromium 156 on a real gadget).
 */
const ALLOWED_STANDARD_REQUESTS: ReadonlySet<number> = new Set([StandardRequest.GET_STATUS, StandardRequest.GET_DESCRIPTOR,
  StandardRequest.GET_CONFIGURATION, StandardRequest.GET_INTERFACE, StandardRequest.SYNCH_FRAME]);

export function standardRequestAllowed(setup: SetupPacket): boolean {
  if ((setup.bmRequestType & RequestType.TYPE_MASK) !== RequestType.TYPE_STANDARD) return true;
  return (setup.bmRequestType & RequestType.DIR_IN) !== 0 && ALLOWED_STANDARD_REQUESTS.has(setup.bRequest);
}

export function notAllowed(): DOMException {
  return new DOMException('The transfer was not allowed.', 'SecurityError');
}

export function invalidState(message: string): DOMException {
  return new DOMException(message, 'InvalidStateError');
}

export function transferError(): DOMException {
  return new DOMException('A transfer error has occurred.', 'NetworkError');
}

export function tooBig(): DOMException {
  return new DOMException(`The data buffer exceeded supported maximum size of ${MAX_TRANSFER_LENGTH} bytes`, 'DataError');
}

export function checkDirection(direction: unknown, method: string): USBDirection | TypeError {
  if (direction === 'in' || direction === 'out') return direction;
  return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided value '${String(direction)}' is not a valid enum value of type USBDirection.`);
}

/** Chrome's fatal transfer statuses reject the promise (CheckFatalTransferStatus). */
export function throwIfFatal(status: TransferStatusCode | number): void {
  switch (status) {
    case TransferStatus.ERROR:
      throw transferError();
    case TransferStatus.TIMED_OUT:
      throw new DOMException('The transfer timed out.', 'TimeoutError');
    case TransferStatus.CANCELLED:
      throw new DOMException('The transfer was cancelled.', 'AbortError');
    case TransferStatus.NO_DEVICE: // the kernel fails the URB; Chrome on Linux reports a transfer error
      throw transferError();
    default:
  }
}

export function webStatus(status: number): USBTransferStatus {
  return status === TransferStatus.STALL ? 'stall' : status === TransferStatus.OVERFLOW ? 'babble' : 'ok';
}

/**
 * Result data in an ArrayBuffer of its own, as the platform hands it over:
 * the device's buffer when the device gave it away whole (buffers.ts),
 * else a copy.
 */
export function resultView(data: Uint8Array | undefined): DataView {
  if (data && takeGiven(data)) return new DataView(data.buffer);
  const copy = data ? data.slice() : new Uint8Array(0);
  return new DataView(copy.buffer, 0, copy.length);
}

/**
 * WebIDL's BufferSource conversion plus Chrome's detached check: views of
 * a SharedArrayBuffer are a TypeError. Returns a copy: the platform takes
 * the bytes when the call is made.
 */
export function copyBufferSource(data: unknown, method: string, argument: number): Uint8Array | Error {
  let buffer: ArrayBufferLike;
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) {
    buffer = data.buffer;
    bytes = data;
  } else if (ArrayBuffer.isView(data)) {
    buffer = data.buffer;
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else if (data instanceof ArrayBuffer || isSharedArrayBuffer(data)) {
    buffer = data as ArrayBufferLike;
    bytes = new Uint8Array(data as ArrayBufferLike);
  } else {
    return new TypeError(`Failed to execute '${method}' on 'USBDevice': parameter ${argument} is not of type '(ArrayBuffer or ArrayBufferView)'.`);
  }
  if (isSharedArrayBuffer(buffer)) {
    return new TypeError(`Failed to execute '${method}' on 'USBDevice': The provided ${ArrayBuffer.isView(data) ? 'ArrayBufferView' : 'ArrayBuffer'} value must not be shared.`);
  }
  if ((buffer as ArrayBuffer & { detached?: boolean }).detached) {
    return invalidState('The data buffer has been detached.');
  }
  return bytes.slice();
}

function isSharedArrayBuffer(b: unknown): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer;
}

/** Let a task pass: state changes in Chrome take an IPC round trip. */
export function nextTask(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
