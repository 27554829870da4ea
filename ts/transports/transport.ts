/**
 * The Transport interface: how the transport host reaches USB devices.
 *
 * It plays the part of libusb's `struct usbi_os_backend` for the JS side: a
 * small table of operations, and the host never knows which platform is
 * behind it. Implementations: `sim` (virtual devices, ./sim.ts), `webusb`
 * (navigator.usb or anything of its shape) and `node` (the npm `usb`
 * package).
 *
 * Conventions:
 * - Control-plane operations return promises and fail by throwing a
 *   {@link TransportError} carrying a libusb error code.
 * - `transfer()` never throws for USB-level outcomes: a stall, a babble or a
 *   disconnect are {@link TransferCompletion} statuses. It may answer
 *   synchronously (a plain object) when the result is already known; the
 *   host avoids a promise per transfer that way.
 * @module
 */
import type { LibusbErrorCode, SpeedCode, TransferStatusCode, TransferTypeCode } from '../usb/constants.js';
import { ErrorCode, libusbErrorName } from '../usb/constants.js';

/** Where a device sits: what libusb reports for it. */
export interface DeviceLocation {
  /** libusb bus number (1-based). */
  busNumber: number;
  /** Port numbers from the root hub down; empty for a root hub itself. */
  portNumbers: number[];
  /** Device address on the bus (1..127). */
  deviceAddress: number;
  /** One of {@link Speed}. */
  speed: SpeedCode;
}

/** Raw descriptors, exactly as the device returns them to GET_DESCRIPTOR. */
export interface RawDescriptors {
  /** The device descriptor. */
  device: Uint8Array;
  /** Every configuration, by index, each `wTotalLength` bytes. */
  configurations: Uint8Array[];
  /** The BOS descriptor set, when the device has one. */
  bos?: Uint8Array;
}

/** The 8-byte SETUP packet of a control transfer. */
export interface SetupPacket {
  /** Direction, type and recipient. */
  bmRequestType: number;
  /** The request. */
  bRequest: number;
  /** Request-specific value. */
  wValue: number;
  /** Request-specific index (interface or endpoint). */
  wIndex: number;
  /** Bytes of the data stage. */
  wLength: number;
}

/** One transfer handed to a transport. */
export interface TransferRequest {
  /** One of {@link TransferType}. */
  readonly type: TransferTypeCode;
  /** Endpoint address, direction bit included (0x00/0x80 for control). */
  readonly endpoint: number;
  /** Control transfers only. */
  readonly setup?: SetupPacket;
  /**
   * OUT data. It is a view of the program's buffer in wasm memory and stays
   * valid until the transfer completes or `cancel()` is called for it; a
   * transport that may still read it after that must copy it first.
   */
  readonly data?: Uint8Array;
  /** Bytes requested for IN, bytes sent for OUT (control: wLength). */
  readonly length: number;
  /**
   * IN transfers: the program's buffer (`length` bytes of wasm memory),
   * offered so the data need not be copied twice. A transport may write
   * the data straight into it and answer with `data: into.subarray(0, n)`;
   * the host then skips its copy. It may write only while the transfer is
   * pending: never after it settled or cancel() was called for it.
   */
  readonly into?: Uint8Array;
  /** Isochronous transfers: the length of each packet. */
  readonly isoPacketLengths?: ArrayLike<number>;
  /** Send a zero-length packet after an OUT transfer that fills its last packet. */
  readonly zeroLengthPacket: boolean;
  /** The program's timeout in ms (0 = none). libusb enforces it; transports may use it. */
  readonly timeout: number;
}

/** Per-packet outcome of an isochronous transfer. */
export interface IsoPacketCompletion {
  /** The packet's status (one of TransferStatus). */
  status: TransferStatusCode;
  /** IN: the packet's data. */
  data?: Uint8Array;
  /** OUT: bytes sent. */
  length?: number;
}

/** The outcome of a transfer. */
export interface TransferCompletion {
  /** One of {@link TransferStatus}. */
  status: TransferStatusCode;
  /** IN data (at most `length` bytes). */
  data?: Uint8Array;
  /** OUT: bytes the device accepted. */
  bytesWritten?: number;
  /** Isochronous transfers: one entry per packet. */
  isoPackets?: IsoPacketCompletion[];
}

/** What a reset did to the device. */
export type ResetOutcome = 'same' | 'reenumerated';

/** Strings the platform already knows (WebUSB's productName, ...). */
export interface DeviceStrings {
  /** The manufacturer string. */
  manufacturer?: string;
  /** The product string. */
  product?: string;
  /** The serial number string. */
  serialNumber?: string;
}

/** A device as a transport sees it. */
export interface TransportDevice {
  /** Where the device sits. */
  readonly location: DeviceLocation;
  /** Strings known without I/O; when absent the host reads string descriptors. */
  readonly strings?: DeviceStrings;
  /**
   * Raw descriptors, when the platform has them without I/O. When absent the
   * host opens the device and reads them with GET_DESCRIPTOR.
   */
  readDescriptors?(): Promise<RawDescriptors>;

  /** Open the device (the host opens it once however many libusb handles there are). */
  open(): Promise<void>;
  /** Close it. */
  close(): Promise<void>;
  /** Active bConfigurationValue, 0 when unconfigured. No I/O. */
  getConfiguration(): number;
  /** SET_CONFIGURATION (0: unconfigured). */
  setConfiguration(value: number): Promise<void>;
  /** Claim an interface. */
  claimInterface(iface: number): Promise<void>;
  /** Release an interface. */
  releaseInterface(iface: number): Promise<void>;
  /** SET_INTERFACE. */
  setAlternateSetting(iface: number, alternate: number): Promise<void>;
  /** CLEAR_FEATURE(ENDPOINT_HALT). */
  clearHalt(endpoint: number): Promise<void>;
  /** A bus reset; says whether the device came back as the same device. */
  reset(): Promise<ResetOutcome>;

  /** Kernel drivers (node transport). Absent: there are none. */
  kernelDriverActive?(iface: number): Promise<boolean>;
  /** Detach the kernel driver from an interface. */
  detachKernelDriver?(iface: number): Promise<void>;
  /** Attach it again. */
  attachKernelDriver?(iface: number): Promise<void>;

  /**
   * False when the platform cannot do isochronous transfers on this device:
   * libusb_submit_transfer then answers LIBUSB_ERROR_NOT_SUPPORTED.
   */
  readonly supportsIsochronous?: boolean;

  /** Carry out a transfer (see the module notes: USB-level outcomes are statuses, never throws). */
  transfer(request: TransferRequest): TransferCompletion | Promise<TransferCompletion>;
  /**
   * Stop a transfer early, when the platform can. Return true if the
   * transfer's promise will now settle promptly (as CANCELLED, with any IN
   * data already received, or as whatever it completed with first).
   * Return false, or omit the method (WebUSB cannot cancel), and the host
   * completes the transfer for libusb as CANCELLED at once and discards
   * whatever arrives later.
   */
  cancel?(request: TransferRequest): boolean;
}

/** A device arrived or left. */
export interface TransportHotplugEvent {
  /** Arrival or departure. */
  type: 'connect' | 'disconnect';
  /** The device. */
  device: TransportDevice;
}

/** A way of reaching devices. */
export interface Transport {
  /** Short name: "sim", "webusb", "node". */
  readonly name: string;
  /** The devices present now. */
  getDevices(): Promise<TransportDevice[]>;
  /** Subscribe to arrivals and departures; returns the unsubscribe function. */
  watch(listener: (event: TransportHotplugEvent) => void): () => void;
  /** Release what the transport holds (the host is shutting down). */
  close?(): Promise<void>;
}

/** A control-plane failure with its libusb error code. */
export class TransportError extends Error {
  readonly code: LibusbErrorCode;
  constructor(code: LibusbErrorCode, message?: string) {
    super(message ?? libusbErrorName(code));
    this.name = 'TransportError';
    this.code = code;
  }
}

/** The libusb error code for anything a transport threw. */
export function errorCode(error: unknown): LibusbErrorCode {
  if (error instanceof TransportError) return error.code;
  return ErrorCode.IO;
}

/** A printable account of anything thrown or rejected (never throws itself). */
export function describeError(e: unknown): string {
  try {
    if (e instanceof Error) return `${e.name}: ${e.message}`;
    if (e === null || e === undefined) return String(e);
    if (typeof e === 'object') {
      const o = e as { name?: unknown; message?: unknown };
      if (typeof o.message === 'string') return typeof o.name === 'string' ? `${o.name}: ${o.message}` : o.message;
      return Object.prototype.toString.call(e);
    }
    return String(e);
  } catch {
    return 'an unprintable value';
  }
}
