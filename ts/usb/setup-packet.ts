/**
 * The SETUP packet of a control transfer as its 8 bytes on the bus
 * (little-endian fields), and back: what USB/IP carries in its headers and
 * what the typed API hands libusb.
 * @module
 */

/** The fields of a SETUP packet. */
export interface SetupFields {
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

/** The 8 bytes of a SETUP packet. */
export function encodeSetupPacket(s: SetupFields): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = s.bmRequestType;
  b[1] = s.bRequest;
  v.setUint16(2, s.wValue, true);
  v.setUint16(4, s.wIndex, true);
  v.setUint16(6, s.wLength, true);
  return b;
}

/** The fields of the SETUP packet in the first 8 bytes of `b`. */
export function decodeSetupPacket(b: Uint8Array): SetupFields {
  const v = new DataView(b.buffer, b.byteOffset, 8);
  return { bmRequestType: b[0], bRequest: b[1], wValue: v.getUint16(2, true), wIndex: v.getUint16(4, true), wLength: v.getUint16(6, true) };
}
