/**
 * USB and libusb constants shared by every layer. Numeric values are
 * libusb's own (libusb.h), so they cross into C unchanged.
 * @module
 */

/** libusb error codes (`enum libusb_error`). */
export const ErrorCode = {
  /** Success (no error). */
  SUCCESS: 0,
  /** Input/output error. */
  IO: -1,
  /** Invalid parameter. */
  INVALID_PARAM: -2,
  /** Access denied (insufficient permissions). */
  ACCESS: -3,
  /** No such device (it may have been disconnected). */
  NO_DEVICE: -4,
  /** Entity not found. */
  NOT_FOUND: -5,
  /** Resource busy. */
  BUSY: -6,
  /** Operation timed out. */
  TIMEOUT: -7,
  /** Overflow (the device sent more than asked for). */
  OVERFLOW: -8,
  /** Pipe error (an endpoint stalled). */
  PIPE: -9,
  /** System call interrupted. */
  INTERRUPTED: -10,
  /** Insufficient memory. */
  NO_MEM: -11,
  /** Operation not supported or unimplemented on this platform. */
  NOT_SUPPORTED: -12,
  /** Other error. */
  OTHER: -99,
} as const;
/** One of the {@link ErrorCode} codes. */
export type LibusbErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Name of a libusb error code, as libusb_error_name() gives it. */
export function libusbErrorName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) {
    if (value === code) return code === 0 ? 'LIBUSB_SUCCESS' : `LIBUSB_ERROR_${name}`;
  }
  return `LIBUSB_ERROR_UNKNOWN(${code})`;
}

/** Transfer completion status (`enum libusb_transfer_status`). */
export const TransferStatus = {
  /** Completed without error (it may still be short). */
  COMPLETED: 0,
  /** Failed. */
  ERROR: 1,
  /** Timed out. */
  TIMED_OUT: 2,
  /** Cancelled. */
  CANCELLED: 3,
  /** The endpoint stalled (control: the request is not supported). */
  STALL: 4,
  /** The device was disconnected. */
  NO_DEVICE: 5,
  /** The device sent more data than requested. */
  OVERFLOW: 6,
} as const;
/** One of the {@link TransferStatus} values. */
export type TransferStatusCode = (typeof TransferStatus)[keyof typeof TransferStatus];

/** Transfer types (`enum libusb_transfer_type`), also endpoint bmAttributes & 3. */
export const TransferType = {
  /** Control transfers, on endpoint 0. */
  CONTROL: 0,
  /** Isochronous transfers. */
  ISOCHRONOUS: 1,
  /** Bulk transfers. */
  BULK: 2,
  /** Interrupt transfers. */
  INTERRUPT: 3,
} as const;
/** One of the {@link TransferType} values. */
export type TransferTypeCode = (typeof TransferType)[keyof typeof TransferType];

/** Device speeds (`enum libusb_speed`). */
export const Speed = {
  /** Not known. */
  UNKNOWN: 0,
  /** Low speed, 1.5 Mbit/s. */
  LOW: 1,
  /** Full speed, 12 Mbit/s. */
  FULL: 2,
  /** High speed, 480 Mbit/s. */
  HIGH: 3,
  /** SuperSpeed, 5 Gbit/s. */
  SUPER: 4,
  /** SuperSpeed+, 10 Gbit/s. */
  SUPER_PLUS: 5,
  /** SuperSpeed+ Gen 2x2, 20 Gbit/s. */
  SUPER_PLUS_X2: 6,
} as const;
/** One of the {@link Speed} values. */
export type SpeedCode = (typeof Speed)[keyof typeof Speed];

/** Descriptor types. */
export const DescriptorType = {
  DEVICE: 0x01,
  CONFIG: 0x02,
  STRING: 0x03,
  INTERFACE: 0x04,
  ENDPOINT: 0x05,
  INTERFACE_ASSOCIATION: 0x0b,
  BOS: 0x0f,
  DEVICE_CAPABILITY: 0x10,
  HID: 0x21,
  REPORT: 0x22,
  SS_ENDPOINT_COMPANION: 0x30,
} as const;

/** Standard request codes (bRequest). */
export const StandardRequest = {
  GET_STATUS: 0x00,
  CLEAR_FEATURE: 0x01,
  SET_FEATURE: 0x03,
  SET_ADDRESS: 0x05,
  GET_DESCRIPTOR: 0x06,
  SET_DESCRIPTOR: 0x07,
  GET_CONFIGURATION: 0x08,
  SET_CONFIGURATION: 0x09,
  GET_INTERFACE: 0x0a,
  SET_INTERFACE: 0x0b,
  SYNCH_FRAME: 0x0c,
} as const;

/** bmRequestType fields. */
export const RequestType = {
  DIR_IN: 0x80,
  TYPE_MASK: 0x60,
  TYPE_STANDARD: 0x00,
  TYPE_CLASS: 0x20,
  TYPE_VENDOR: 0x40,
  RECIPIENT_MASK: 0x1f,
  RECIPIENT_DEVICE: 0x00,
  RECIPIENT_INTERFACE: 0x01,
  RECIPIENT_ENDPOINT: 0x02,
  RECIPIENT_OTHER: 0x03,
} as const;

/** Feature selectors. */
export const Feature = {
  ENDPOINT_HALT: 0x00,
  DEVICE_REMOTE_WAKEUP: 0x01,
} as const;

/** libusb transfer flags. */
export const TransferFlag = {
  SHORT_NOT_OK: 1 << 0,
  FREE_BUFFER: 1 << 1,
  FREE_TRANSFER: 1 << 2,
  ADD_ZERO_PACKET: 1 << 3,
} as const;

/** Endpoint direction bit. */
export const ENDPOINT_IN = 0x80;
