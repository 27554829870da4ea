/**
 * The records the host writes for the C backend (their layout is in
 * wasm/backend/protocol.h: struct lw_devrec_header, lw_devlist_header,
 * lw_hotplug_header and the length-prefixed descriptors after them).
 * @module
 */
import type { DeviceLocation, RawDescriptors } from '../transports/transport.js';
import { LW_MAX_PORTS, LwDevlistHeader, LwDevrecHeader, LwHotplugHeader } from './protocol.gen.js';

/** One device record: identity, location and raw descriptors. */
export function encodeDeviceRecord(id: number, location: DeviceLocation, d: RawDescriptors): Uint8Array {
  const configs = d.configurations;
  let len = LwDevrecHeader.SIZE + 2 + d.device.length + 2 + (d.bos?.length ?? 0);
  for (const c of configs) len += 2 + c.length;
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  const ports = location.portNumbers.slice(0, LW_MAX_PORTS);
  view.setUint32(LwDevrecHeader.record_len, len, true);
  view.setUint32(LwDevrecHeader.device_id, id, true);
  out[LwDevrecHeader.bus_number] = location.busNumber;
  out[LwDevrecHeader.device_address] = location.deviceAddress;
  out[LwDevrecHeader.speed] = location.speed;
  out[LwDevrecHeader.num_ports] = ports.length;
  out.set(ports, LwDevrecHeader.ports);
  out[LwDevrecHeader.num_configs] = configs.length;
  let off = LwDevrecHeader.SIZE;
  const put = (bytes: Uint8Array) => {
    view.setUint16(off, bytes.length, true);
    off += 2;
    out.set(bytes, off);
    off += bytes.length;
  };
  put(d.device);
  for (const c of configs) put(c);
  put(d.bos ?? new Uint8Array(0));
  return out;
}

/** The size of a device list of these records. */
export function deviceListSize(records: Uint8Array[]): number {
  return LwDevlistHeader.SIZE + records.reduce((n, r) => n + r.length, 0);
}

/** Write a device list (the header, then the records) at `at`. */
export function writeDeviceList(into: Uint8Array, at: number, records: Uint8Array[]): void {
  new DataView(into.buffer, into.byteOffset).setUint32(at + LwDevlistHeader.count, records.length, true);
  let off = at + LwDevlistHeader.SIZE;
  for (const r of records) {
    into.set(r, off);
    off += r.length;
  }
}

/** The size of a hotplug event with its record (arrivals). */
export function hotplugEventSize(record?: Uint8Array): number {
  return LwHotplugHeader.SIZE + (record?.length ?? 0);
}

/** Write a hotplug event at `at`. */
export function writeHotplugEvent(into: Uint8Array, at: number, kind: number, deviceId: number, record?: Uint8Array): void {
  const view = new DataView(into.buffer, into.byteOffset);
  view.setUint32(at + LwHotplugHeader.kind, kind, true);
  view.setUint32(at + LwHotplugHeader.device_id, deviceId, true);
  if (record) into.set(record, at + LwHotplugHeader.SIZE);
}
