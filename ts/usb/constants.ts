/**
 * USB and libusb constants shared by every layer. Numeric values are
 * libusb's own (libusb.h), so they cross into C unchanged.
 * @module
 */

/** libusb error codes (`enum libusb_error`). */
export const LibusbError = {
  SUCCESS: 0,
  IO: -1,
  INVALID_PARAM: -2,
  ACCESS: -3,
  NO_DEVICE: -4,
  NOT_FOUND: -5,
  BUSY: -6,
  TIMEOUT: -7,
  OVERFLOW: -8,
  PIPE: -9,
  INTERRUPTED: -10,
  NO_MEM: -11,
  NOT_SUPPORTED: -12,
  OTHER: -99,
} as const;
export type LibusbErrorCode = (typeof LibusbError)[keyof typeof LibusbError];

/** Name of a libusb error code, as libusb_error_name() gives it. */
export function libusbErrorName(code: number): string {
  for (const [name, value] of Object.entries(LibusbError)) {
    if (value === code) return code === 0 ? 'LIBUSB_SUCCESS' : `LIBUSB_ERROR_${name}`;
  }
  return `LIBUSB_ERROR_UNKNOWN(${code})`;
}

/** Transfer completion status (`enum libusb_transfer_status`). */
export const TransferStatus = {
  COMPLETED: 0,
  ERROR: 1,
  TIMED_OUT: 2,
  CANCELLED: 3,
  STALL: 4,
  NO_DEVICE: 5,
  OVERFLOW: 6,
} as const;
export type TransferStatusCode = (typeof TransferStatus)[keyof typeof TransferStatus];

/** Transfer types (`enum libusb_transfer_type`), also endpoint bmAttributes & 3. */
export const TransferType = {
  CONTROL: 0,
  ISOCHRONOUS: 1,
  BULK: 2,
  INTERRUPT: 3,
} as const;
export type TransferTypeCode = (typeof TransferType)[keyof typeof TransferType];

/** Device speeds (`enum libusb_speed`). */
export const Speed = {
  UNKNOWN: 0,
  LOW: 1,
  FULL: 2,
  HIGH: 3,
  SUPER: 4,
  SUPER_PLUS: 5,
  SUPER_PLUS_X2: 6,
} as const;
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
