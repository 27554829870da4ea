/**
 * A minimal reader of raw configuration descriptors: which interfaces,
 * alternate settings and endpoints a configuration has. The transport host
 * uses it to validate claims and to know which endpoints a handle may use.
 * (Programs get libusb's own parser; this is not a second one for them.)
 * @module
 */
import { DescriptorType } from './constants.js';

export interface ParsedEndpoint {
  address: number;
  /** bmAttributes & 3 */
  type: number;
  maxPacketSize: number;
  /** bInterval (polling interval, encoded as the speed and type say). */
  interval: number;
}

export interface ParsedAlternate {
  interfaceNumber: number;
  alternate: number;
  interfaceClass: number;
  interfaceSubclass: number;
  interfaceProtocol: number;
  endpoints: ParsedEndpoint[];
}

export interface ParsedConfiguration {
  value: number;
  alternates: ParsedAlternate[];
}

/** Parse a configuration descriptor set; tolerant of trailing junk, strict about lengths. */
export function parseConfiguration(raw: Uint8Array): ParsedConfiguration {
  if (raw.length < 9 || raw[1] !== DescriptorType.CONFIG) throw new Error('not a configuration descriptor');
  const total = Math.min(raw[2] | (raw[3] << 8), raw.length);
  const config: ParsedConfiguration = { value: raw[5], alternates: [] };
  let current: ParsedAlternate | undefined;
  for (let off = raw[0]; off + 2 <= total;) {
    const len = raw[off];
    const type = raw[off + 1];
    if (len < 2 || off + len > total) break;
    if (type === DescriptorType.INTERFACE && len >= 9) {
      current = {
        interfaceNumber: raw[off + 2],
        alternate: raw[off + 3],
        interfaceClass: raw[off + 5],
        interfaceSubclass: raw[off + 6],
        interfaceProtocol: raw[off + 7],
        endpoints: [],
      };
      config.alternates.push(current);
    } else if (type === DescriptorType.ENDPOINT && len >= 7 && current) {
      current.endpoints.push({
        address: raw[off + 2],
        type: raw[off + 3] & 3,
        maxPacketSize: raw[off + 4] | (raw[off + 5] << 8),
        interval: raw[off + 6],
      });
    }
    off += len;
  }
  return config;
}
