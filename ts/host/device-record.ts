/**
 * Encoding of the device records the C backend reads (layout documented in
 * wasm/backend/protocol.h).
 * @module
 */
import type { DeviceLocation, RawDescriptors } from '../transports/transport.js';
import { LW_DEVREC_HEADER_SIZE, LW_MAX_PORTS } from './protocol.js';

/** One device record: identity, location and raw descriptors. */
export function encodeDeviceRecord(id: number, location: DeviceLocation, d: RawDescriptors): Uint8Array {
  const configs = d.configurations;
  let len = LW_DEVREC_HEADER_SIZE + 2 + d.device.length + 2 + (d.bos?.length ?? 0);
  for (const c of configs) len += 2 + c.length;
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  let off = 0;
  view.setUint32(off, len, true); off += 4;
  view.setUint32(off, id, true); off += 4;
  out[off++] = location.busNumber;
  out[off++] = location.deviceAddress;
  out[off++] = location.speed;
  const ports = location.portNumbers.slice(0, LW_MAX_PORTS);
  out[off++] = ports.length;
  out.set(ports, off); off += LW_MAX_PORTS;
  out[off++] = configs.length;
  const put = (bytes: Uint8Array) => {
    view.setUint16(off, bytes.length, true); off += 2;
    out.set(bytes, off); off += bytes.length;
  };
  put(d.device);
  for (const c of configs) put(c);
  put(d.bos ?? new Uint8Array(0));
  return out;
}
