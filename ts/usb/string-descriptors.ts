/**
 * String descriptors as a device returns them to GET_DESCRIPTOR(STRING):
 * bLength, bDescriptorType, then UTF-16LE. Shared by the simulated devices
 * and the capture recorder (which writes the strings the host read).
 * @module
 */
import { DescriptorType } from './constants.js';

/** A string descriptor (bLength, bDescriptorType, UTF-16LE; at most 126 characters). */
export function stringDescriptor(text: string): Uint8Array {
  const n = Math.min(text.length, 126);
  const out = new Uint8Array(2 + n * 2);
  out[0] = out.length;
  out[1] = DescriptorType.STRING;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    out[2 + i * 2] = c & 0xff;
    out[3 + i * 2] = c >> 8;
  }
  return out;
}

/** String descriptor 0: the supported language IDs. */
export function languageDescriptor(languages: number[]): Uint8Array {
  const out = new Uint8Array(2 + languages.length * 2);
  out[0] = out.length;
  out[1] = DescriptorType.STRING;
  languages.forEach((l, i) => {
    out[2 + i * 2] = l & 0xff;
    out[3 + i * 2] = l >> 8;
  });
  return out;
}

/** A string descriptor's text (UTF-16LE after the 2-byte header, bLength bytes at most). */
export function decodeStringDescriptor(d: Uint8Array): string {
  const n = Math.min(d[0] ?? 0, d.length);
  let s = '';
  for (let i = 2; i + 1 < n; i += 2) s += String.fromCharCode(d[i] | (d[i + 1] << 8));
  return s;
}
